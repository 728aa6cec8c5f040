"""The result cache (`matrix/cache.py`), its fold, the retry of timed-out cells, the options.

No framework is imported: keys come from the catalog (NumPy), folds from recorded events.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from cases import builtin_cases
from matrix import cache
from matrix.environments import RUN_PYTEST_ARGS, run_pytest_args
from matrix.results import (
    RESULT_ADAPTER,
    Observation,
    Outcome,
    Result,
    Verdict,
    fold_run,
    with_retries,
)
from matrix.resume import timed_out_cases
from matrix.runfiles import OptionError, default_jobs, parse_run_options


def _cases(n: int = 3) -> list[Any]:
    return [c for c in builtin_cases() if c.mode == "eager"][:n]


def test_keys_change_with_the_case_the_environment_and_the_harness() -> None:
    cases = _cases()
    keys = cache.case_keys(cases, "env-a", "harness-1")
    assert set(keys) == {c.id for c in cases}
    assert keys == cache.case_keys(cases, "env-a", "harness-1")  # stable
    other_env = cache.case_keys(cases, "env-b", "harness-1")
    assert not set(keys.values()) & set(other_env.values())
    assert not set(keys.values()) & set(cache.case_keys(cases, "env-a", "harness-2").values())
    first = cases[0]
    name = next(iter(first.inputs))
    tensor = first.inputs[name]
    assert tensor.values == 3  # embedding-dtype-rank0-int8: a rank-0 id
    edited = dataclasses.replace(first, inputs={
        **first.inputs, name: dataclasses.replace(tensor, values=4)})
    assert edited.id == first.id
    changed = cache.case_keys([edited, *cases[1:]], "env-a", "harness-1")
    assert [c for c in keys if keys[c] != changed.get(c)] == [first.id]


def _save_load(model: str = "embedding") -> list[Any]:
    """The three `save_load` cases of one model (saved under tensorflow, jax, torch)."""
    found = [c for c in builtin_cases() if c.mode == "save_load"
             and c.group == "save-load" and c.axes.get("model") == model
             and c.axes.get("dtype_policy", "float32") == "float32"]
    assert sorted(str(c.saved_on) for c in found) == ["jax", "tensorflow", "torch"], found
    return found


def test_save_load_cases_need_the_backend_and_the_artifacts_to_be_keyed(tmp_path: Path) -> None:
    saved = _save_load()
    assert cache.case_keys(saved, "env", "h") == {}
    assert cache.case_keys(saved, "env", "h", backend="jax") == {}
    assert set(cache.case_keys(saved, "env", "h", backend="jax", artifacts=tmp_path)) == \
        {c.id for c in saved}


def test_a_loading_cell_keys_on_the_file_it_loads(tmp_path: Path) -> None:
    from matrix.program import saved_model_path

    saved = _save_load()
    by_saver = {c.saved_on: c for c in saved}
    loaded = saved_model_path(by_saver["tensorflow"], tmp_path)
    assert loaded == tmp_path / "tensorflow" / "save-load-embedding.keras"
    before = cache.case_keys(saved, "env", "h", backend="jax", artifacts=tmp_path)
    loaded.parent.mkdir()
    loaded.write_bytes(b"model one")
    one = cache.case_keys(saved, "env", "h", backend="jax", artifacts=tmp_path)
    loaded.write_bytes(b"model two")
    two = cache.case_keys(saved, "env", "h", backend="jax", artifacts=tmp_path)
    tf_case, jax_case = by_saver["tensorflow"].id, by_saver["jax"].id
    assert len({before[tf_case], one[tf_case], two[tf_case]}) == 3  # missing, one, two
    # the saving cell (jax under jax) and the cell loading torch's missing file keep theirs
    assert before[jax_case] == one[jax_case] == two[jax_case]
    torch_case = by_saver["torch"].id
    assert before[torch_case] == two[torch_case]


def test_a_saving_cell_serves_only_while_its_file_is_the_one_it_wrote(tmp_path: Path) -> None:
    from matrix.program import saved_model_path

    saver = next(c for c in _save_load() if c.saved_on == "jax")
    artifacts, store_dir = tmp_path / "artifacts", tmp_path / "cache"
    keys = cache.case_keys([saver], "env", "h", backend="jax", artifacts=artifacts)
    store = {keys[saver.id]: {"case": saver.id, "verdict": {"status": "matched"}}}

    def hits() -> set[str]:
        stale = cache.stale_savers([saver], keys, "jax", artifacts, store_dir)
        return set(cache.plan(keys, store, stale)["hits"])

    path = saved_model_path(saver, artifacts)
    assert hits() == set()  # no file, no record
    path.parent.mkdir(parents=True)
    path.write_bytes(b"saved by the run")
    assert hits() == set()  # a file nobody recorded (e.g. seeded from the published ones)
    assert cache.record_saved(store_dir, keys[saver.id], path) is not None
    assert hits() == {saver.id}
    path.write_bytes(b"saved again elsewhere")
    assert hits() == set()
    path.unlink()
    assert cache.record_saved(store_dir, keys[saver.id], path) is None
    assert not cache.saved_record(store_dir, keys[saver.id]).exists()
    assert hits() == set()


def _keras_zip(path: Path, *, date: str, ids: tuple[int, int], weights: bytes,
               stamp: tuple[int, int, int, int, int, int] = (2026, 1, 1, 0, 0, 0)) -> Path:
    """A `.keras`-shaped zip: what `model.save` writes (keras/src/saving/saving_lib.py)."""
    import zipfile

    config = {"class_name": "Functional", "config": {"layers": [
        {"config": {"dtype": {"shared_object_id": ids[0]}}},
        {"config": {"kernel_initializer": {"shared_object_id": ids[1]},
                    "bias_initializer": {"shared_object_id": ids[1]}}}]}}
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(zipfile.ZipInfo("metadata.json", stamp), json.dumps(
            {"keras_version": "3.15.1", "date_saved": date}))
        archive.writestr(zipfile.ZipInfo("config.json", stamp), json.dumps(config))
        archive.writestr(zipfile.ZipInfo("model.weights.h5", stamp), weights)
    return path


def test_the_same_model_saved_again_has_the_same_digest(tmp_path: Path) -> None:
    """Measured on Keras 3.15.1: a save in another process changes the date, the zip
    timestamps and the `shared_object_id`s (Python ids), never the weights' bytes."""
    first = _keras_zip(tmp_path / "a.keras", date="2026-12-01@09:24:42", ids=(1396, 1397),
                       weights=b"weights")
    again = _keras_zip(tmp_path / "b.keras", date="2026-12-01@12:48:48", ids=(1407, 1408),
                       weights=b"weights", stamp=(2026, 12, 1, 12, 48, 48))
    assert cache.file_digest(first) != cache.file_digest(again)
    assert cache.saved_model_digest(first) == cache.saved_model_digest(again)
    # what the model is still counts: its weights, its version, which objects it shares
    other = {
        "weights": _keras_zip(tmp_path / "w.keras", date="x", ids=(1, 2), weights=b"other"),
        "sharing": _keras_zip(tmp_path / "s.keras", date="x", ids=(1, 1), weights=b"weights"),
    }
    for name, path in other.items():
        assert cache.saved_model_digest(path) != cache.saved_model_digest(first), name
    not_a_zip = tmp_path / "c.keras"
    not_a_zip.write_bytes(b"model one")
    assert cache.saved_model_digest(not_a_zip) == cache.file_digest(not_a_zip)
    truncated = tmp_path / "t.keras"
    truncated.write_bytes(first.read_bytes()[:-40])  # its central directory cut
    assert cache.saved_model_digest(truncated) == cache.file_digest(truncated)
    bad_member = tmp_path / "m.keras"  # a member whose bytes no longer match its CRC
    raw = bytearray(first.read_bytes())
    raw[raw.index(b"model.weights.h5weights") + len("model.weights.h5")] ^= 0xFF  # the data
    bad_member.write_bytes(bytes(raw))
    assert cache.saved_model_digest(bad_member) == cache.file_digest(bad_member)
    assert cache.saved_model_digest(tmp_path / "missing.keras") is None


def test_a_loading_cell_keeps_its_key_when_the_model_is_saved_again(tmp_path: Path) -> None:
    from matrix.program import saved_model_path

    saved = _save_load()
    tf_loaded = next(c for c in saved if c.saved_on == "tensorflow")
    path = saved_model_path(tf_loaded, tmp_path)
    path.parent.mkdir()
    _keras_zip(path, date="2026-12-01@09:24:42", ids=(7, 8), weights=b"w")
    one = cache.case_keys(saved, "env", "h", backend="jax", artifacts=tmp_path)
    _keras_zip(path, date="2026-12-02@10:00:00", ids=(9, 10), weights=b"w")
    assert cache.case_keys(saved, "env", "h", backend="jax", artifacts=tmp_path) == one
    _keras_zip(path, date="2026-12-02@10:00:00", ids=(9, 10), weights=b"trained")
    assert cache.case_keys(saved, "env", "h", backend="jax",
                           artifacts=tmp_path)[tf_loaded.id] != one[tf_loaded.id]


def test_the_plan_command_counts_what_a_run_would_execute(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KCM_CACHE", str(tmp_path))
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    monkeypatch.setenv("KCM_ARTIFACTS", str(tmp_path / "artifacts"))
    total = len(builtin_cases())
    assert cache.main(["plan", "--environment", "jax-cpu"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["cases"] == total
    assert first["to_run"] == total
    planned, _ = cache.compute_plan([], "jax-cpu", tmp_path)
    case = next(c for c in builtin_cases() if c.mode == "eager")
    key = planned["keys"][case.id]
    cache.write_json(cache.store_path(tmp_path, "jax-cpu"),
                     {"cells": {key: {"case": case.id, "verdict": {"status": "matched"}}}})
    assert cache.main(["plan", "--environment", "jax-cpu"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["to_run"] == total - 1
    assert second["digest"] != first["digest"]
    assert cache.main(["plan", "--environment", "jax-cpu", "--no-cache"]) == 0
    assert json.loads(capsys.readouterr().out)["to_run"] == total
    bad = tmp_path / "bad_cases.py"
    bad.write_text("CASES = 3\n")
    assert cache.main(["plan", "--environment", "jax-cpu", "--catalog", str(bad)]) == 2
    assert "bad_cases.py" in capsys.readouterr().err


def test_the_environment_key_follows_the_variables() -> None:
    base = {"KERAS_BACKEND": "jax", "KCM_DEVICE": "cpu"}
    assert cache.environment_key(base) == cache.environment_key(dict(base))
    assert cache.environment_key(base) != cache.environment_key({**base, "KCM_DEVICE": "gpu"})
    assert cache.environment_key(base) != cache.environment_key(
        {**base, "XLA_FLAGS": "--xla_cpu_enable_fast_math=true"})
    assert cache.environment_key(base) == cache.environment_key({**base, "KCM_TIMEOUT": "9"})


def _result(case: str, status: str = "matched", **kw: Any) -> Result:
    verdict = Verdict(status=status)  # type: ignore[arg-type]
    return Result(case=case, environment="jax-cpu", outcome=Outcome.PASSED,
                  observed=Observation(kind="value", shape=[1]), verdict=verdict, **kw)


def _dump(result: Result) -> dict[str, Any]:
    dumped: dict[str, Any] = RESULT_ADAPTER.dump_python(result, mode="json")
    return dumped


def test_the_store_keeps_answers_that_depend_only_on_the_key(tmp_path: Path) -> None:
    path = tmp_path / "jax-cpu.json"
    keys = {"a": "ka", "b": "kb", "c": "kc", "d": "kd"}
    results = [_dump(_result("a")), _dump(_result("b", "timeout")),
               _dump(_result("c", flaky=True)), _dump(_result("d", "mismatched"))]
    assert cache.update_store(path, keys, results, {"d": "eager"}) == 2
    store = cache.read_store(path)
    assert set(store) == {"ka", "kd"}
    assert cache.plan(keys, store)["hits"].keys() == {"a", "d"}
    # an edited case has a new key: its old entry is dropped, the others kept
    assert cache.update_store(path, {**keys, "a": "ka2"}, [], {}) == 1
    assert cache.read_store(tmp_path / "missing.json") == {}
    (tmp_path / "bad.json").write_text("{not json")
    assert cache.read_store(tmp_path / "bad.json") == {}


def test_the_fold_adds_cached_cells_counts_them_and_stores_fresh_ones(tmp_path: Path) -> None:
    cases = _cases(2)
    work = tmp_path / "work"
    work.mkdir()
    ran, kept = cases[0].id, cases[1].id
    cached = _result(kept)
    cache.write_json(work / cache.PLAN, {"keys": {ran: "k-ran", kept: "k-kept"},
                                         "hits": {kept: _dump(cached)}})
    cache.write_json(work / cache.USED, [kept])
    log = work / "report-log.jsonl"
    nodeid = f"cases/test_cases.py::test_case[{ran}]"
    props = [["observation", {"kind": "value", "shape": [1]}],
             ["verdict", {"status": "matched"}]]
    events = [{"$report_type": "TestReport", "nodeid": nodeid, "when": "call",
               "outcome": "passed", "duration": 0.5, "user_properties": props},
              {"$report_type": "SessionFinish", "exitstatus": 0}]
    log.write_text("\n".join(json.dumps(e) for e in events) + "\n")
    (work / "collected.json").write_text(json.dumps([nodeid]))
    run = fold_run("jax-cpu", log, [], cache_dir=tmp_path / "cache")
    assert [r.case for r in run.results] == [ran, kept]
    assert {c.id for c in run.cases} == {ran, kept}
    assert run.environment.provenance["cache"] == {"reused": 1, "executed": 1, "stored": 1}
    assert set(cache.read_store(tmp_path / "cache" / "jax-cpu.json")) == {"k-ran"}
    no_cache = fold_run("jax-cpu", log, [])
    assert [r.case for r in no_cache.results] == [ran]
    assert "cache" not in no_cache.environment.provenance


def test_a_retry_that_changes_the_verdict_is_flaky_with_both_attempts() -> None:
    first = [_result("a", "timeout"), _result("b", "timeout"), _result("c")]
    retried = [_result("a", "matched"), _result("b", "timeout")]
    got = {r.case: r for r in with_retries(first, retried)}
    assert got["a"].flaky is True
    assert got["a"].verdict.status == "matched"
    assert [a.verdict.status for a in got["a"].attempts] == ["timeout", "matched"]
    assert got["b"].flaky is False
    assert len(got["b"].attempts) == 2
    assert got["c"].flaky is None
    assert got["c"].attempts == []


def test_timed_out_cases_are_read_from_the_log(tmp_path: Path) -> None:
    def event(case: str, ended_by: str) -> dict[str, Any]:
        return {"$report_type": "TestReport", "when": "???", "outcome": "failed",
                "nodeid": f"cases/test_cases.py::test_case[{case}]",
                "user_properties": [["ended_by", ended_by]]}

    log = tmp_path / "log.jsonl"
    log.write_text("\n".join(json.dumps(e) for e in (
        event("slow", "timeout"), event("dead", "crash"), event("slow", "timeout"))))
    assert timed_out_cases(log) == ["slow"]


def test_jobs_compile_timeout_and_no_cache_options(tmp_path: Path) -> None:
    options = parse_run_options(["--jobs", "3", "--no-cache", "--timeout=10", "-k", "x"],
                                root=tmp_path)
    assert (options.jobs, options.cache, options.compile_timeout) == (3, False, "30")
    assert options.pytest_args == ("-k", "x")
    assert options.selection == {"pytest_args": ["-k", "x"], "catalogs": []}
    defaults = parse_run_options([], root=tmp_path)
    assert defaults.cache
    assert defaults.jobs == default_jobs()
    assert parse_run_options(["--compile-timeout", "900"], root=tmp_path).compile_timeout \
        == "900"
    for bad in (["--jobs", "0"], ["--jobs", "two"], ["--compile-timeout", "-1"]):
        with pytest.raises(OptionError, match=bad[0]):
            parse_run_options(bad, root=tmp_path)
    assert default_jobs(1) == 1
    assert default_jobs(2) == 2
    assert default_jobs(64) == 4


def test_workers_replace_the_one_worker_and_nothing_else() -> None:
    args = run_pytest_args(3)
    assert args[args.index("-n") + 1] == "3"
    assert [a for a in args if a != "3"] == [a for a in RUN_PYTEST_ARGS if a != "1"]
    assert run_pytest_args(1) == RUN_PYTEST_ARGS


def test_a_crash_is_stored_once_it_repeats_and_forgotten_when_the_answer_changes(
        tmp_path: Path) -> None:
    path = tmp_path / "openvino-cpu.json"
    keys = {"a": "ka", "b": "kb"}
    crash = _dump(_result("a", "crashed"))
    assert cache.update_store(path, keys, [crash, _dump(_result("b", "crashed"))], {}) == 0
    assert cache.plan(keys, cache.read_store(path))["hits"] == {}
    # a second crash in a row of `a` stores it; `b` answered this time: its count is gone
    assert cache.update_store(path, keys, [crash, _dump(_result("b"))], {}) == 2
    assert cache.plan(keys, cache.read_store(path))["hits"]["a"]["verdict"]["status"] == \
        "crashed"
    assert json.loads(path.read_text())["crashes"] == {"ka": 2}
    # one crash of `b`, then the case is edited (new key): the old count is dropped
    cache.update_store(path, keys, [_dump(_result("b", "crashed"))], {})
    cache.update_store(path, {"a": "ka", "b": "kb2"}, [_dump(_result("b", "crashed"))], {})
    assert json.loads(path.read_text())["crashes"] == {"ka": 2, "kb2": 1}
    assert "b" not in cache.plan({"a": "ka", "b": "kb2"}, cache.read_store(path))["hits"]
    # a flaky crash never counts
    flaky = _dump(_result("b", "crashed", flaky=True))
    cache.update_store(path, {"a": "ka", "b": "kb2"}, [flaky], {})
    assert json.loads(path.read_text())["crashes"] == {"ka": 2}
