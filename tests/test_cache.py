"""The result cache (`matrix/run/cache.py`), its fold, the retry of timed-out cells, the options.

No framework is imported: keys come from the catalog (NumPy), folds from recorded events.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import write_case_facts

from cases import builtin_cases
from matrix import variables as kcm
from matrix.environments import RUN_PYTEST_ARGS, run_pytest_args
from matrix.records import Observation, Outcome, Result, Verdict
from matrix.results.fold import fold_run
from matrix.results.ingest import with_retries
from matrix.results.io import RESULT_ADAPTER
from matrix.run import cache, cache_key, store
from matrix.run.resume import timed_out_cases
from matrix.run.runfiles import OptionError, default_jobs, parse_run_options


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
    from matrix.run.program import saved_model_path

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
    from matrix.run.program import saved_model_path

    saver = next(c for c in _save_load() if c.saved_on == "jax")
    artifacts, store_dir = tmp_path / "artifacts", tmp_path / "cache"
    keys = cache.case_keys([saver], "env", "h", backend="jax", artifacts=artifacts)
    store.update_store(store_dir, "jax-cpu", keys, [_dump(_result(saver.id))], {})

    def hits() -> set[str]:
        stale = cache.stale_savers([saver], keys, "jax", artifacts, store_dir)
        return set(cache.plan(keys, store_dir, "jax-cpu", stale)["hits"])

    path = saved_model_path(saver, artifacts)
    assert hits() == set()  # no file, no record
    path.parent.mkdir(parents=True)
    path.write_bytes(b"saved by the run")
    assert hits() == set()  # a file nobody recorded (e.g. seeded from the published ones)
    assert store.record_saved(store_dir, keys[saver.id], path) is not None
    assert hits() == {saver.id}
    path.write_bytes(b"saved again elsewhere")
    assert hits() == set()
    path.unlink()
    assert store.record_saved(store_dir, keys[saver.id], path) is None
    assert not store.saved_record(store_dir, keys[saver.id]).exists()
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
    assert cache_key.file_digest(first) != cache_key.file_digest(again)
    assert store.saved_model_digest(first) == store.saved_model_digest(again)
    # what the model is still counts: its weights, its version, which objects it shares
    other = {
        "weights": _keras_zip(tmp_path / "w.keras", date="x", ids=(1, 2), weights=b"other"),
        "sharing": _keras_zip(tmp_path / "s.keras", date="x", ids=(1, 1), weights=b"weights"),
    }
    for name, path in other.items():
        assert store.saved_model_digest(path) != store.saved_model_digest(first), name
    not_a_zip = tmp_path / "c.keras"
    not_a_zip.write_bytes(b"model one")
    assert store.saved_model_digest(not_a_zip) == cache_key.file_digest(not_a_zip)
    truncated = tmp_path / "t.keras"
    truncated.write_bytes(first.read_bytes()[:-40])  # its central directory cut
    assert store.saved_model_digest(truncated) == cache_key.file_digest(truncated)
    bad_member = tmp_path / "m.keras"  # a member whose bytes no longer match its CRC
    raw = bytearray(first.read_bytes())
    raw[raw.index(b"model.weights.h5weights") + len("model.weights.h5")] ^= 0xFF  # the data
    bad_member.write_bytes(bytes(raw))
    assert store.saved_model_digest(bad_member) == cache_key.file_digest(bad_member)
    assert store.saved_model_digest(tmp_path / "missing.keras") is None


def test_a_loading_cell_keeps_its_key_when_the_model_is_saved_again(tmp_path: Path) -> None:
    from matrix.run.program import saved_model_path

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
    monkeypatch.setenv(kcm.RUN_STORE.name, str(tmp_path))
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    monkeypatch.setenv(kcm.ARTIFACTS.name, str(tmp_path / "artifacts"))
    total = len(builtin_cases())
    assert cache.main(["plan", "--environment", "jax-cpu"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["cases"] == total
    assert first["to_run"] == total
    planned, _ = cache.compute_plan([], "jax-cpu", tmp_path)
    case = next(c for c in builtin_cases() if c.mode == "eager")
    key = planned["keys"][case.id]
    store.update_store(tmp_path, "jax-cpu", {case.id: key}, [_dump(_result(case.id))], {})
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


def test_the_environment_key_follows_the_variables(tmp_path: Path) -> None:
    base = {"KERAS_BACKEND": "jax", kcm.DEVICE.name: "cpu", "KERAS_HOME": str(tmp_path)}
    key = cache_key.environment_key
    assert key(base) == key(dict(base))
    assert key(base) != key({**base, kcm.DEVICE.name: "gpu"})
    # Issue 23: each of these changed an answer and was served from another key's run.
    for name, value in (("XLA_FLAGS", "--xla_cpu_enable_fast_math=true"),
                        ("JAX_DEBUG_NANS", "1"), ("JAX_NUMPY_RANK_PROMOTION", "raise"),
                        ("TORCHDYNAMO_DISABLE", "1"), ("TF_ENABLE_ONEDNN_OPTS", "0"),
                        ("JAX_ENABLE_X64", "1"), ("OMP_NUM_THREADS", "1"),
                        ("NVIDIA_TF32_OVERRIDE", "0"), ("CUDA_VISIBLE_DEVICES", "")):
        assert key(base) != key({**base, name: value}), name
    # run bookkeeping is not an answer
    for name in (kcm.COMPILE_TIMEOUT.name, kcm.RUN_DIR.name, "PYTEST_XDIST_WORKER", "HOME"):
        assert key(base) == key({**base, name: "9"}), name
    # ~/.keras/keras.json (here $KERAS_HOME/keras.json): floatx and backend change answers
    plain = cache_key.environment_key(base)
    (tmp_path / "keras.json").write_text('{"floatx": "float64"}')
    with_file = cache_key.environment_key(base)
    assert with_file != plain
    (tmp_path / "keras.json").write_text('{"floatx": "float16"}')
    assert cache_key.environment_key(base) not in (plain, with_file)


def test_a_missing_keras_json_keys_as_the_file_keras_writes_in_its_place(tmp_path: Path
                                                                         ) -> None:
    path = tmp_path / "keras.json"
    missing = cache_key.keras_config_digest(path)
    # keras/src/backend/config.py (3.15.1) writes json.dumps(defaults, indent=4) there
    path.write_text(json.dumps({"floatx": "float32", "epsilon": 1e-07, "backend": "tensorflow",
                                "image_data_format": "channels_last"}, indent=4))
    assert cache_key.keras_config_digest(path) == missing
    path.write_text('{"backend": "tensorflow", "image_data_format": "channels_last", '
                    '"epsilon": 1e-07, "floatx": "float32"}')  # layout and order do not count
    assert cache_key.keras_config_digest(path) == missing
    for changed in ('{"floatx": "float32"}', '{"floatx": "float64", "epsilon": 1e-07, '
                    '"backend": "tensorflow", "image_data_format": "channels_last"}',
                    "not json", "[1, 2]", ""):
        path.write_text(changed)
        assert cache_key.keras_config_digest(path) != missing, changed


def test_the_key_holds_the_host_cpu_and_the_keras_config_path() -> None:
    facts = cache_key.host_facts()
    assert facts["cpu"]
    assert isinstance(facts["flags"], list)
    assert cache_key.keras_config_path({"KERAS_HOME": "/x/y"}) == Path("/x/y/keras.json")
    assert cache_key.keras_config_path({}).name == "keras.json"


def _result(case: str, status: str = "matched", **kw: Any) -> Result:
    verdict = Verdict(status=status)  # type: ignore[arg-type]
    return Result(case=case, environment="jax-cpu", outcome=Outcome.PASSED,
                  observed=Observation(kind="value", shape=[1]), verdict=verdict, **kw)


def _dump(result: Result) -> dict[str, Any]:
    dumped: dict[str, Any] = RESULT_ADAPTER.dump_python(result, mode="json")
    return dumped


def _hits(keys: dict[str, str], store: Path, environment: str = "jax-cpu") -> set[str]:
    return set(cache.plan(keys, store, environment)["hits"])


def test_the_store_keeps_answers_that_depend_only_on_the_key(tmp_path: Path) -> None:
    keys = {"a": "ka", "b": "kb", "c": "kc", "d": "kd"}
    results = [_dump(_result("a")), _dump(_result("b", "timeout")),
               _dump(_result("c", flaky=True)), _dump(_result("d", "mismatched"))]
    report = store.update_store(tmp_path, "jax-cpu", keys, results, {"d": "eager"})
    assert (report.stored, report.error) == (2, None)
    assert _hits(keys, tmp_path) == {"a", "d"}
    # an edited case has a new key: nothing serves it; the old entry stays until evicted
    assert _hits({**keys, "a": "ka2"}, tmp_path) == {"d"}
    assert _hits(keys, tmp_path, "torch-cpu") == set()  # another environment's store


def test_a_damaged_or_edited_entry_runs_its_case_again(tmp_path: Path) -> None:
    """Issue 23: a damaged entry dropped its cell, an edited one was served as a result."""
    keys = {"a": "ka", "b": "kb", "c": "kc", "d": "kd", "e": "ke"}
    store.update_store(tmp_path, "jax-cpu", keys,
                       [_dump(_result(c, "mismatched")) for c in keys], {})
    assert _hits(keys, tmp_path) == set(keys)
    path = {case: store.entry_path(tmp_path, "jax-cpu", key) for case, key in keys.items()}
    path["a"].write_bytes(path["a"].read_bytes()[:-20])  # truncated
    edited = json.loads(path["b"].read_text())  # a verdict changed by hand
    edited["result"]["verdict"]["status"] = "matched"
    path["b"].write_text(json.dumps(edited))
    swapped = json.loads(path["c"].read_text())  # another case's entry under c's key
    swapped["case"] = "d"
    path["c"].write_text(json.dumps(swapped))
    bad = json.loads(path["d"].read_text())  # checksum recomputed, result not a Result
    bad["result"] = {"case": "d", "verdict": "yes"}
    bad["sha256"] = store._entry_checksum("kd", "d", 0, bad["result"])
    path["d"].write_text(json.dumps(bad))
    assert _hits(keys, tmp_path) == {"e"}
    # the fold of a run that took an unreadable result still has the cell
    work = tmp_path / "work"
    work.mkdir()
    case = _cases(1)[0].id
    store.write_json(work / cache.PLAN, {"keys": {case: "k"}, "hits": {case: {"no": 1}}})
    store.write_json(work / cache.USED, [case])
    log = work / "report-log.jsonl"
    log.write_text(json.dumps({"$report_type": "SessionFinish", "exitstatus": 0}) + "\n")
    (work / "collected.json").write_text("[]")
    write_case_facts(work)
    run = fold_run("jax-cpu", log, [], cache_dir=tmp_path / "store")
    assert [c.id for c in run.cases] == [case]
    assert [(r.case, r.verdict.status) for r in run.results] == [(case, "harness_error")]


def test_other_keys_stay_and_the_oldest_go_past_the_size_cap(tmp_path: Path) -> None:
    """Issue 23: a 12-case run with other XLA_FLAGS emptied the store of every other key."""
    full = {f"c{i}": f"full{i}" for i in range(6)}
    store.update_store(tmp_path, "jax-cpu", full, [_dump(_result(c)) for c in full], {})
    other = {"c0": "xla0", "c1": "xla1"}  # a slice under other variables: other keys
    store.update_store(tmp_path, "jax-cpu", other, [_dump(_result(c)) for c in other], {})
    assert _hits(full, tmp_path) == set(full)
    assert _hits(other, tmp_path) == set(other)
    # past the cap, the entries used longest ago go first; a served entry is renewed
    import os

    for age, key in enumerate(["full0", "full1", "full2", "full3", "full4", "full5"]):
        entry = store.entry_path(tmp_path, "jax-cpu", key)
        os.utime(entry, (1_000_000 + age, 1_000_000 + age))
    store.update_store(tmp_path, "jax-cpu", full, [], {}, served=["c0"])
    size = store.entry_path(tmp_path, "jax-cpu", "full5").stat().st_size
    report = store.update_store(tmp_path, "jax-cpu", {}, [], {}, max_bytes=int(size * 4.5))
    assert report.evicted == 4
    assert _hits(full, tmp_path) == {"c0", "c5"}
    assert _hits(other, tmp_path) == set(other)


def test_a_cache_that_cannot_be_written_costs_the_speed_up_not_the_run(tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the store's folder should be")
    report = store.update_store(blocked, "jax-cpu", {"a": "ka"}, [_dump(_result("a"))], {})
    assert report.error is not None
    assert "NotADirectoryError" in report.error
    assert not list(tmp_path.rglob("*.tmp"))


def _one_matched_case_log(work: Path, case: str) -> Path:
    """A report log in `work` where `case` ran and matched, and the collection holding it."""
    log = work / "report-log.jsonl"
    nodeid = f"matrix/run/test_cases.py::test_case[{case}]"
    props = [["observation", {"kind": "value", "shape": [1]}],
             ["verdict", {"status": "matched"}]]
    events = [{"$report_type": "TestReport", "nodeid": nodeid, "when": "call",
               "outcome": "passed", "duration": 0.5, "user_properties": props},
              {"$report_type": "SessionFinish", "exitstatus": 0}]
    log.write_text("\n".join(json.dumps(e) for e in events) + "\n")
    (work / "collected.json").write_text(json.dumps([nodeid]))
    write_case_facts(work)
    return log


def test_the_fold_adds_cached_cells_counts_them_and_stores_fresh_ones(tmp_path: Path) -> None:
    cases = _cases(2)
    work = tmp_path / "work"
    work.mkdir()
    ran, kept = cases[0].id, cases[1].id
    cached = _result(kept)
    store.write_json(work / cache.PLAN, {"keys": {ran: "k-ran", kept: "k-kept"},
                                         "hits": {kept: _dump(cached)}})
    store.write_json(work / cache.USED, [kept])
    log = _one_matched_case_log(work, ran)
    run = fold_run("jax-cpu", log, [], cache_dir=tmp_path / "cache")
    assert [r.case for r in run.results] == [ran, kept]
    assert {c.id for c in run.cases} == {ran, kept}
    assert run.environment.provenance["cache"] == {"reused": 1, "executed": 1, "stored": 1}
    assert store.entry_path(tmp_path / "cache", "jax-cpu", "k-ran").is_file()
    assert not store.entry_path(tmp_path / "cache", "jax-cpu", "k-kept").exists()
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
                "nodeid": f"matrix/run/test_cases.py::test_case[{case}]",
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
    keys = {"a": "ka", "b": "kb"}
    crash = _dump(_result("a", "crashed"))

    def crashes(key: str) -> int:
        entry = store.read_entry(store.entry_path(tmp_path, "openvino-cpu", key), key,
                                 {"ka": "a", "kb": "b", "kb2": "b"}[key])
        return entry["crashes"] if entry else 0

    def update(keys: dict[str, str], results: list[dict[str, Any]]) -> None:
        store.update_store(tmp_path, "openvino-cpu", keys, results, {})

    update(keys, [crash, _dump(_result("b", "crashed"))])
    assert _hits(keys, tmp_path, "openvino-cpu") == set()
    # a second crash in a row of `a` serves it; `b` answered this time: its count is gone
    update(keys, [crash, _dump(_result("b"))])
    planned = cache.plan(keys, tmp_path, "openvino-cpu")
    assert planned["hits"]["a"]["verdict"]["status"] == "crashed"
    assert (crashes("ka"), crashes("kb")) == (2, 0)
    # one crash of `b`, then the case is edited (new key): counted from one again
    update(keys, [_dump(_result("b", "crashed"))])
    update({"a": "ka", "b": "kb2"}, [_dump(_result("b", "crashed"))])
    assert (crashes("ka"), crashes("kb2")) == (2, 1)
    assert "b" not in _hits({"a": "ka", "b": "kb2"}, tmp_path, "openvino-cpu")
    # a flaky crash never counts: the entry goes
    update({"a": "ka", "b": "kb2"}, [_dump(_result("b", "crashed", flaky=True))])
    assert (crashes("ka"), crashes("kb2")) == (2, 0)


def _harness_tree(tmp_path: Path) -> Path:
    """A copy of this repository's `cases/` and `matrix/` sources, to edit."""
    import shutil

    root = tmp_path / "repo"
    for package in cache_key.PACKAGES:
        shutil.copytree(cache_key.ROOT / package, root / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    return root


def test_the_harness_is_every_module_the_run_imports_found_from_the_graph(
        tmp_path: Path) -> None:
    """Issue 23: the NumPy reference (then `matrix/reference.py`) was not hashed, so a fix
    to `compare()` reran nothing."""
    modules = {p.as_posix() for p in cache_key.harness_modules()}
    for name in ("matrix/oracle/tolerance.py", "matrix/run/protocol.py",
                 "matrix/run/messages.py", "matrix/run/program.py",
                 "matrix/run/runner.py", "matrix/oracle/expect.py", "matrix/run/crash.py",
                 "matrix/run/selection.py", "matrix/run/progress.py", "matrix/run/test_cases.py",
                 "matrix/oracle/judge.py", "matrix/oracle/registry.py",
                 "cases/subjects/__init__.py", "cases/subjects/layers.py",
                 "matrix/run/cache.py", "matrix/run/cache_key.py"):
        assert name in modules, name
    # joined at merge or keyed per case: never hashed as harness
    for name in ("cases/limitations/__init__.py", "cases/limitations/base.py",
                 "cases/limitations/torch.py", "cases/embedding.py", "matrix/report/html.py",
                 "matrix/check/cli.py", "matrix/results/fold.py"):
        assert name not in modules, name
    root = _harness_tree(tmp_path)
    before = cache_key.harness_digest(root)
    reference = root / "matrix" / "oracle" / "tolerance.py"
    text = reference.read_text()
    reference.write_text(text + "\n# a comment changes nothing a cell records\n")
    assert cache_key.harness_digest(root) == before
    reference.write_text(text + "\nTOLERANCE_SCALE = 2.0\n")
    assert cache_key.harness_digest(root) != before
    reference.write_text(text)
    # a new module that the runner imports is hashed without any list being edited
    (root / "matrix" / "new_helper.py").write_text("SCALE = 1\n")
    runner = root / "matrix" / "run" / "runner.py"
    runner.write_text(runner.read_text() + "\nfrom matrix import new_helper  # noqa\n")
    with_helper = cache_key.harness_digest(root)
    assert "matrix/new_helper.py" in {p.as_posix() for p in cache_key.harness_modules(root)}
    (root / "matrix" / "new_helper.py").write_text("SCALE = 3\n")
    assert cache_key.harness_digest(root) != with_helper


def test_a_user_catalog_gives_every_cell_of_its_process_another_key(tmp_path: Path) -> None:
    """Issue 23: a catalog calling `np.seterr(all="raise")` (or replacing the judge) at import
    changed built-in cells, and later plain runs reused them."""
    variables = {"KERAS_BACKEND": "jax"}
    catalog = tmp_path / "my_cases.py"
    catalog.write_text("import numpy as np\nnp.seterr(all='raise')\nCASES = []\n")
    plain, _ = cache.compute_plan([], "jax-cpu", None, variables=variables)
    with_catalog, _ = cache.compute_plan([str(catalog)], "jax-cpu", None,
                                         variables=variables)
    import numpy as np

    np.seterr(all="warn")  # the catalog's import changed this process's NumPy state
    assert set(plain["keys"]) == set(with_catalog["keys"])
    assert not set(plain["keys"].values()) & set(with_catalog["keys"].values())
    catalog.write_text("CASES = []\n")
    edited, _ = cache.compute_plan([str(catalog)], "jax-cpu", None, variables=variables)
    assert not set(edited["keys"].values()) & set(with_catalog["keys"].values())
    from matrix.results.fold import user_catalogs

    assert user_catalogs([str(catalog)]) == [
        {"path": str(catalog), "sha256": cache_key.file_digest(catalog)}]


def test_the_readme_states_what_the_key_holds_from_the_declaration() -> None:
    readme = (cache_key.ROOT / "docs" / "reruns-and-cache.md").read_text(encoding="utf-8")
    start, end = "<!-- cache-key: python -m matrix.run.cache key -->", "<!-- /cache-key -->"
    assert start in readme
    assert end in readme
    block = readme.split(start, 1)[1].split(end, 1)[0].strip()
    assert block == cache_key.key_contents()


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs, filled: every write under it fails with ENOSPC (root only)."""
    import subprocess

    mount = tmp_path / "full"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"a small tmpfs cannot be mounted here: {done.stderr.strip()}")
    try:
        with (mount / "filler").open("wb") as handle, contextlib.suppress(OSError):
            handle.write(b"\0" * (1 << 20))
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_under_the_cache_costs_the_speed_up_not_the_run_file(
        tmp_path: Path, full_disk: Path) -> None:
    """Issue 23: a full disk under the cache stopped the run file with a traceback and left
    a temporary file behind."""
    case = _cases(1)[0].id
    work = tmp_path / "work"
    work.mkdir()
    store.write_json(work / cache.PLAN, {"keys": {case: "k-case"}, "hits": {}})
    log = _one_matched_case_log(work, case)
    store_dir = full_disk / "cache"
    run = fold_run("jax-cpu", log, [], cache_dir=store_dir)
    assert [r.case for r in run.results] == [case]
    provenance = run.environment.provenance["cache"]
    assert provenance["stored"] == 0
    assert "No space left on device" in provenance["store_error"]
    assert [p.name for p in full_disk.rglob("*") if p.is_file()] == ["filler"]
    assert store.record_saved(store_dir, "k", Path(__file__)) is None  # no traceback either


# --- the attacks of a hostile tester on the first version of this cache -----------------------

def test_an_entry_that_is_a_fifo_or_dev_zero_is_not_read(tmp_path: Path) -> None:
    import os

    keys = {"a": "ka", "b": "kb", "c": "kc"}
    store.update_store(tmp_path, "jax-cpu", keys, [_dump(_result(c)) for c in keys], {})
    fifo = store.entry_path(tmp_path, "jax-cpu", "ka")
    fifo.unlink()
    os.mkfifo(fifo)  # opening it to read would wait for a writer for ever
    zero = store.entry_path(tmp_path, "jax-cpu", "kb")
    zero.unlink()
    zero.symlink_to("/dev/zero")  # reading it would never end
    assert _hits(keys, tmp_path) == {"c"}


def test_a_folder_where_an_entry_belongs_costs_that_entry_only(tmp_path: Path) -> None:
    import os
    import time

    keys = {"a": "ka", "b": "kb"}
    folder = store.entry_path(tmp_path, "jax-cpu", "ka")
    (folder / "inside").mkdir(parents=True)
    report = store.update_store(tmp_path, "jax-cpu", keys,
                                [_dump(_result("a", "timeout")), _dump(_result("b"))], {})
    assert report.stored == 1
    assert report.error is not None
    assert "IsADirectoryError" in report.error
    assert _hits(keys, tmp_path) == {"b"}
    # a temporary file a killed writer left is removed once it is old
    left = store.entry_path(tmp_path, "jax-cpu", "kb").with_name(".kb.json.123.tmp")
    left.write_text("{")
    os.utime(left, (time.time() - 2 * store.STALE_TMP_S,) * 2)
    store.evict(tmp_path)
    assert not left.exists()


def test_keras_json_is_found_where_keras_finds_it(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """`KERAS_HOME='~/kh'` (not expanded by a shell) and an empty `KERAS_HOME` (the working
    folder) were read by Keras but not keyed."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert cache_key.keras_config_path({"KERAS_HOME": "~/kh"}) == tmp_path / "kh" / "keras.json"
    assert cache_key.keras_config_path({"KERAS_HOME": ""}) == tmp_path / "keras.json"
    (tmp_path / "kh").mkdir()
    before = cache_key.environment_key({"KERAS_HOME": "~/kh"})
    (tmp_path / "kh" / "keras.json").write_text('{"epsilon": 0.45}')
    assert cache_key.environment_key({"KERAS_HOME": "~/kh"}) != before
    here = cache_key.environment_key({"KERAS_HOME": ""})
    (tmp_path / "keras.json").write_text('{"floatx": "float16"}')
    assert cache_key.environment_key({"KERAS_HOME": ""}) != here


def test_code_on_pythonpath_is_in_the_key(tmp_path: Path) -> None:
    """A `sitecustomize.py` on `PYTHONPATH` that turned on `jax_debug_nans` was not keyed."""
    injected = tmp_path / "inject"
    injected.mkdir()
    variables = {"PYTHONPATH": str(injected)}
    before = cache_key.environment_key(variables)
    site = injected / "sitecustomize.py"
    site.write_text("import os\n")
    with_file = cache_key.environment_key(variables)
    assert with_file != before
    site.write_text("import jax\njax.config.update('jax_debug_nans', True)\n")
    import os

    os.utime(site, ns=(1, 1))  # an edit: another size and time
    assert cache_key.environment_key(variables) != with_file
    assert "PYTHONPATH" in {v.split("=")[0] for v in cache_key.answer_variables(variables)}


def test_what_a_family_runs_at_import_is_harness_and_its_cases_are_not(
        tmp_path: Path) -> None:
    root = _harness_tree(tmp_path)
    before = cache_key.harness_digest(root)
    family = root / "cases" / "embedding.py"
    text = family.read_text()
    # inside a function: what it builds is keyed per case
    family.write_text(text.replace("def cases() -> list[Case]:",
                                   "def cases() -> list[Case]:\n    _ = 1", 1))
    assert "_ = 1" in family.read_text()
    assert cache_key.harness_digest(root) == before
    family.write_text(text + "\nimport numpy\nnumpy.seterr(all='raise')\n")  # at import
    assert cache_key.harness_digest(root) != before
    family.write_text(text)
    assert cache_key.harness_digest(root) == before
    # a conftest.py at the top, which pytest loads for cases/, and pytest's configuration
    (root / "conftest.py").write_text("import os\n")
    with_conftest = cache_key.harness_digest(root)
    assert with_conftest != before
    (root / "pyproject.toml").write_text("[tool.pytest.ini_options]\naddopts = ['-p', 'x']\n")
    assert cache_key.harness_digest(root) != with_conftest


def test_a_module_a_catalog_imports_from_beside_it_is_in_the_key(tmp_path: Path) -> None:
    """A catalog that imports a helper of its own: an edited helper was served old cells."""
    import sys

    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "kcm_helper_x.py").write_text("X = 1\n")
    catalog = folder / "helper_cat.py"
    catalog.write_text("import sys, pathlib\nsys.path.insert(0, str(pathlib.Path(__file__)"
                       ".parent))\nimport kcm_helper_x\nCASES = []\n")
    variables = {"KERAS_BACKEND": "jax"}
    try:
        first, _ = cache.compute_plan([str(catalog)], "jax-cpu", None, variables=variables)
        (folder / "kcm_helper_x.py").write_text("X = 2\n")
        sys.modules.pop("kcm_helper_x", None)
        second, _ = cache.compute_plan([str(catalog)], "jax-cpu", None, variables=variables)
    finally:
        sys.modules.pop("kcm_helper_x", None)
        while str(folder) in sys.path:
            sys.path.remove(str(folder))
    assert not set(first["keys"].values()) & set(second["keys"].values())


def test_a_cell_judged_by_agreement_is_stored_and_a_harness_error_is_not() -> None:
    # The keras.ops family's cells without a reference (470 an environment) ran again on
    # every no-change rerun, so no column was ever up to date.
    from matrix.run.store import cacheable

    def result(status: str, flaky: bool = False) -> dict[str, object]:
        return {"verdict": {"status": status}, "flaky": flaky}

    assert cacheable(result("no_reference"), "eager")
    assert cacheable(result("matched"), "eager")
    assert not cacheable(result("no_reference", flaky=True), "eager")
    assert not cacheable(result("harness_error"), "eager")
    assert not cacheable(result("timeout"), "eager")
    assert not cacheable(result("not_run"), "eager")
