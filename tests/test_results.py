"""Tests of the results model: the fold of a recorded pytest log, run files, the merge."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cells import verdict_for
from harness import write_case_facts

from cases.limitations import LIMITATIONS
from matrix.oracle.expect import Expected, ExpectedError
from matrix.oracle.judge import judge
from matrix.records import (
    SCHEMA_VERSION,
    CaseInfo,
    EnvironmentInfo,
    Observation,
    Outcome,
    Result,
    Run,
)
from matrix.results.analysis import divergent_cases, silent_divergences
from matrix.results.fold import fold_run
from matrix.results.ingest import fold_reports, read_report_log
from matrix.results.io import RUN_ADAPTER, RunFileError, dump_run, load_run
from matrix.results.merge import combine_shards, merge_runs
from matrix.results.triage import apply_limitations
from matrix.run.messages import clean_message

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).parent / "data"
HOSTILE_LOG = DATA / "logs" / "jax-cpu-hostile.jsonl"
HOSTILE_CATALOG = str(DATA / "hostile_catalog.py")


@pytest.fixture
def recorded(tmp_path: Path) -> Path:
    """The recorded jax-cpu log (a slice plus the hostile cases), laid out as a run leaves it."""
    shutil.copy(HOSTILE_LOG, tmp_path / "report-log.jsonl")
    shutil.copy(DATA / "logs" / "jax-cpu-hostile.collected.json", tmp_path / "collected.json")
    write_case_facts(tmp_path, [HOSTILE_CATALOG])
    return tmp_path / "report-log.jsonl"


def test_fold_reports_maps_every_outcome() -> None:
    results, props = fold_reports(read_report_log(HOSTILE_LOG), "jax-cpu")
    got = {r.case: r for r in results}
    assert got["hostile-abort-eager"].outcome is Outcome.CRASHED
    assert got["hostile-abort-eager"].verdict.status == "crashed"
    assert got["hostile-abort-eager"].observed.message == "Fatal Python error: Aborted"
    assert got["hostile-segfault-eager"].outcome is Outcome.CRASHED
    assert got["hostile-hang-eager"].outcome is Outcome.TIMEOUT
    assert got["hostile-hang-eager"].verdict.status == "timeout"
    assert got["hostile-hang-eager"].observed.kind == "timeout"
    assert got["hostile-after-eager"].outcome is Outcome.PASSED
    assert got["hostile-after-eager"].verdict.status == "matched"
    nan_rows = got["embedding-values-rank2-int32-out_of_range-10-none-eager"]
    # The run records the raw verdict only: no limitation is applied before the merge.
    assert nan_rows.verdict.status == "mismatched"
    assert nan_rows.verdict.cause == "values_where_refused"
    assert nan_rows.verdict.detail is not None
    assert nan_rows.verdict.detail.startswith("silent divergence")
    assert nan_rows.outcome is Outcome.FAILED
    assert nan_rows.limitation is None
    assert nan_rows.observed.kind == "value"
    assert nan_rows.observed.nan_count == 4
    assert nan_rows.observed.shape == [2, 3, 4]
    model = got["article-1-rank1-int64-in_range-none-predict"]
    assert model.outcome is Outcome.PASSED
    assert model.observed.error_type == "ValueError"
    assert props["versions"]["keras"] == "3.15.1"
    assert props["provenance"]["checks"]["backend"]["ok"] is True


def _report(outcome: str, when: str = "call", longrepr: object = None,
            **props: object) -> dict[str, object]:
    return {"$report_type": "TestReport", "nodeid": "matrix/run/test_cases.py::test_case[c]",
            "when": when, "outcome": outcome, "longrepr": longrepr,
            "user_properties": [[k, v] for k, v in props.items()]}


def test_fold_reads_the_recorded_verdict_and_tells_skips_and_harness_errors_apart() -> None:
    observation = {"kind": "value", "shape": [1], "max_abs_error": 0.5, "nan_count": 0,
                   "warnings": ["UserWarning: careful"]}
    verdict = {"status": "mismatched", "cause": "values_differ", "detail": "differ"}
    [cell], _ = fold_reports([_report("failed", observation=observation, verdict=verdict)],
                             "jax-cpu")
    assert cell.verdict.status == "mismatched"
    assert cell.verdict.cause == "values_differ"
    assert cell.outcome is Outcome.FAILED
    assert cell.observed.warnings == ["UserWarning: careful"]
    skip = ("matrix/run/test_cases.py", 1, "Skipped: not run: no .keras file saved by torch")
    [not_run], _ = fold_reports([_report("skipped", longrepr=skip,
                                         not_run="no .keras file saved by torch")], "jax-cpu")
    assert not_run.verdict.status == "not_run"
    assert not_run.outcome is Outcome.NOT_RUN
    assert not_run.observed.message == "no .keras file saved by torch"
    # The reason travels as the report's `not_run` property: a skip's words decide nothing.
    worded = ("matrix/run/test_cases.py", 1, "Skipped: not_run: a user's own skip")
    [skipped], _ = fold_reports([_report("skipped", longrepr=worded)], "jax-cpu")
    assert skipped.verdict.status == "not_applicable"
    other = ("matrix/run/test_cases.py", 1, "Skipped: not applicable: tf.RaggedTensor on jax")
    [skipped], _ = fold_reports([_report("skipped", longrepr=other)], "jax-cpu")
    assert skipped.verdict.status == "not_applicable"
    assert skipped.outcome is Outcome.SKIPPED
    # A failure with no recorded verdict (a fixture broke, the case raised) is the harness's.
    broken = {"reprcrash": {"message": "KeyError: 'ids'"}}
    [error], _ = fold_reports([_report("failed", when="setup", longrepr=broken)], "jax-cpu")
    assert error.verdict.status == "harness_error"
    assert error.outcome is Outcome.ERROR
    assert error.observed.error_type == "HarnessError"
    assert error.observed.message == "KeyError: 'ids'"


def test_triage_at_merge_xfails_the_covered_mismatch(recorded: Path) -> None:
    run = fold_run("jax-cpu", recorded, [HOSTILE_CATALOG])
    declared = [run.environment]
    matrix = apply_limitations(merge_runs([run], declared, "2026-01-01T00:00:00+00:00"))
    got = {r.case: r for r in matrix.results}
    nan_rows = got["embedding-values-rank2-int32-out_of_range-10-none-eager"]
    assert nan_rows.outcome is Outcome.XFAILED
    assert nan_rows.limitation == "jax-take-fills-nan-embedding"
    wraps = got["embedding-values-rank2-int32-negative-1-none-eager"]
    assert wraps.outcome is Outcome.XFAILED
    assert wraps.limitation == "take-wraps-negative-ids"
    assert got["hostile-after-eager"].outcome is Outcome.PASSED
    assert got["hostile-after-eager"].limitation is None
    assert got["hostile-abort-eager"].outcome is Outcome.CRASHED
    assert got["hostile-abort-eager"].limitation is None
    listed = {lim.id: lim for lim in matrix.limitations}
    assert [lim.id for lim in matrix.limitations] == [lim.id for lim in LIMITATIONS]
    assert listed["jax-take-fills-nan-embedding"].cells == 4
    assert not listed["jax-take-fills-nan-embedding"].stale
    assert listed["torch-no-uint64"].cells == 0


def test_fold_run_keeps_the_selected_slice_and_records_provenance(recorded: Path) -> None:
    run = fold_run("jax-cpu", recorded, [HOSTILE_CATALOG])
    assert run.environment.ran
    assert run.environment.versions["jax"] == "0.10.2"
    assert run.environment.provenance["pytest_exitstatus"] == 1
    assert len(run.cases) == len(run.results) == 16
    assert {c.id for c in run.cases} == {r.case for r in run.results}
    expected = {c.id: c.expected for c in run.cases}
    assert expected["embedding-values-rank2-int32-out_of_range-10-none-eager"].startswith(
        "error (IndexError or InvalidArgumentError or RuntimeError) at step 0 "
        "(layers.Embedding): IndexError: Embedding ids must be")
    subjects = {c.id: c.subject for c in run.cases}
    assert subjects["hostile-after-eager"] == "layers.Embedding"
    repros = {c.id: c.repro for c in run.cases}
    assert repros["hostile-abort-eager"] is None  # a test-only runner has no program
    assert repros["hostile-after-eager"]


@pytest.mark.parametrize("command", ["fold", "not-run"])
def test_a_catalog_ending_the_fold_at_import_fails_it_naming_the_file(
        recorded: Path, command: str) -> None:
    """Issue 23: `os._exit(0)` at import made the fold exit 0 without writing the run file.

    The fold loads the catalog only where pytest recorded nothing (it died before collecting:
    no `collected.json`, no `case-facts.json`); otherwise it reads the recorded cases."""
    for recorded_at_collection in ("collected.json", "case-facts.json"):
        (recorded.parent / recorded_at_collection).unlink()
    catalog = recorded.parent / "my_cases.py"
    catalog.write_text("import os\nos._exit(0)\n", encoding="utf-8")
    output = recorded.parent / "runs" / "jax-cpu.json"
    output.parent.mkdir()
    output.write_text("the previous run file", encoding="utf-8")
    args = ["--log", str(recorded)] if command == "fold" else ["--reason", "no GPU"]
    done = subprocess.run([sys.executable, "-m", "matrix.results", command, "--environment",
                           "jax-cpu", *args, "--output", str(output), "--catalog",
                           str(catalog)], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"error: --catalog {catalog}: importing it called os._exit(0)")
    assert f"{output} was not written" in line
    assert output.read_text(encoding="utf-8") == "the previous run file"


@pytest.mark.parametrize("damage", ["missing", "truncated", "other catalogs"])
def test_a_run_whose_case_facts_are_missing_or_damaged_is_not_folded(
        recorded: Path, damage: str) -> None:
    """Issue 22: the fold reads the cases the run recorded at collection; a work folder
    without them (written before they were recorded) or with a damaged file is refused,
    naming the file and saying to rerun, and the previous run file is left as it was."""
    facts = recorded.parent / "case-facts.json"
    catalogs = ["--catalog", HOSTILE_CATALOG]
    if damage == "missing":
        facts.unlink()
    elif damage == "truncated":
        facts.write_bytes(facts.read_bytes()[:1000])
    else:
        catalogs = []
    output = recorded.parent / "runs" / "jax-cpu.json"
    output.parent.mkdir()
    output.write_text("the previous run file", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "matrix.results", "fold", "--environment",
                           "jax-cpu", "--log", str(recorded), "--output", str(output),
                           *catalogs], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"error: {facts}: ")
    assert {"missing": "rerun the environment", "truncated": "not valid JSON (truncated?)",
            "other catalogs": "field `catalogs`"}[damage] in line
    assert f"{output} was not written" in line
    assert output.read_text(encoding="utf-8") == "the previous run file"


def test_the_cases_of_a_run_are_those_it_recorded_at_collection(recorded: Path) -> None:
    """Issue 22: the fold takes the cases' facts from `case-facts.json`, not from the
    catalog: a description changed since the run (here, in the recorded file) is the run's."""
    facts = recorded.parent / "case-facts.json"
    data = json.loads(facts.read_text(encoding="utf-8"))
    case = "embedding-values-rank2-int32-out_of_range-10-none-eager"  # one the run collected
    (entry,) = [c for c in data["cases"] if c["id"] == case]
    entry["description"] = "as the run recorded it"
    facts.write_text(json.dumps(data), encoding="utf-8")
    run = fold_run("jax-cpu", recorded, [HOSTILE_CATALOG])
    assert [c.id for c in run.cases if c.description == "as the run recorded it"] == [case]


def test_a_case_lost_by_an_interrupted_run_is_an_error_not_a_pass(recorded: Path) -> None:
    lines = recorded.read_text().splitlines()
    kept = [ln for ln in lines if "hostile-after-eager" not in ln
            and '"SessionFinish"' not in ln]
    recorded.write_text("\n".join(kept) + "\n{\"truncated")  # a half-written last line
    run = fold_run("jax-cpu", recorded, [HOSTILE_CATALOG])
    after = next(r for r in run.results if r.case == "hostile-after-eager")
    assert after.outcome is Outcome.ERROR
    assert after.verdict.status == "harness_error"
    assert after.observed.message == "the run recorded no result for this case"
    assert run.environment.reason == "the pytest run did not finish (interrupted?)"


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        ("Exception encountered when calling Embedding.call().\n\n\x1b[1m{{function_node "
         "__wrapped__GatherV2_device_/job:localhost/replica:0/task:0/device:CPU:0}} "
         "indices[0,1] = 10 is not in [0, 10) [Op:GatherV2]\x1b[0m\n\nArguments received by "
         "Embedding.call():\n  • inputs=tf.Tensor(shape=(1, 3), dtype=int32)",
         "indices[0,1] = 10 is not in [0, 10)"),
        ("Graph execution error:\n\nDetected at node x defined at (most recent call last):\n"
         "  File \"a.py\", line 5, in <module>\n\nindices[0,1] = 10 is not in [0, 10)\n"
         "\t [[{{node GatherV2}}]] [Op:__inference_one_step_on_data_123]",
         "indices[0,1] = 10 is not in [0, 10)"),
        ("Unsupported dtype for PyTorch: uint64", "Unsupported dtype for PyTorch: uint64"),
        ("\x1b[31mred\x1b[0m\x00 text", "red text"),
    ],
)
def test_clean_message_keeps_the_cause(raw: str, want: str) -> None:
    assert clean_message(raw) == want


def test_clean_message_cuts_megabytes() -> None:
    assert len(clean_message("x" * 5_000_000)) == 500


def test_judge() -> None:
    values = Observation(kind="value", shape=[2], dtype="float32", max_abs_error=0.0,
                         nan_count=0)
    error = Observation(kind="error", error_type="IndexError", message="out of range")
    want_values = Expected(values=np.zeros(2), error=None, kind="lookup", tolerance=0.0,
                           dtype="float32")
    refusal = ExpectedError(reason="IndexError: no", types=("IndexError",
                                                             "InvalidArgumentError"))
    want_error = Expected(values=None, error=refusal, kind="lookup", tolerance=0.0)
    assert judge(want_values, values).status == "matched"
    assert judge(want_error, error).status == "matched"
    tf_error = replace(error, error_type="InvalidArgumentError")
    assert judge(want_error, tf_error).status == "matched"
    other = judge(want_error, replace(error, error_type="TypeError"))
    assert (other.status, other.cause) == ("mismatched", "refused_other_reason")
    pattern = Expected(values=None, kind="lookup", tolerance=0.0,
                       error=replace(refusal, pattern=r"range"))
    assert judge(pattern, error).status == "matched"
    assert judge(pattern, replace(error, message="bad")).cause == "refused_other_reason"
    silent = judge(want_error, values)
    assert (silent.status, silent.cause) == ("mismatched", "values_where_refused")
    assert silent.detail is not None
    assert silent.detail.startswith("silent divergence")
    raised = judge(want_values, error)
    assert (raised.status, raised.cause) == ("mismatched", "error_where_values_expected")
    assert raised.detail is not None
    assert "raised IndexError" in raised.detail
    off = Observation(kind="value", shape=[2], dtype="float32", max_abs_error=1e-3,
                      nan_count=1)
    differ = judge(replace(want_values, tolerance=1e-5), off)
    assert (differ.status, differ.cause) == ("mismatched", "values_differ")
    assert differ.detail is not None
    assert "max abs error 0.001 > tolerance 1e-05, 1 NaN" in differ.detail
    assert judge(want_values, replace(values, shape=[3])).cause == "shape"
    assert judge(want_values, replace(values, dtype="float16")).cause == "dtype"
    harness = Observation(kind="error", error_type="HarnessError", message="broke")
    assert judge(want_error, harness).status == "harness_error"
    assert judge(want_values, replace(values, max_abs_error=None)).status == "harness_error"
    assert judge(want_values, Observation(kind="crash")).status == "crashed"


def _run(env: str, outcomes: dict[str, Outcome], ran: bool = True) -> Run:
    cases = [CaseInfo(id=c, group="g", description=c, axes={"mode": "eager"})
             for c in outcomes]
    results = [Result(case=c, environment=env, outcome=o,
                      observed=Observation(kind="value" if o is not Outcome.CRASHED
                                           else "crash", nan_count=0),
                      verdict=verdict_for(o))
               for c, o in outcomes.items()]
    backend, device = env.split("-")
    return Run(schema_version=SCHEMA_VERSION,
               environment=EnvironmentInfo(id=env, backend=backend, device=device, ran=ran),
               cases=cases, results=results)


def test_run_file_round_trips(tmp_path: Path) -> None:
    run = _run("jax-cpu", {"a": Outcome.PASSED, "b": Outcome.XFAILED})
    path = tmp_path / "jax-cpu.json"
    dump_run(run, path)
    assert load_run(path) == run
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"schema_version": 1, "environment": {"id": "jax-cpu"', r"not valid JSON \(truncated"),
        ('{"schema_version": 1}', r"field `schema_version` is 1; this harness reads "
                                  r"schema_version 2\. It was written before the v2 catalog.*"
                                  r"rerun its environment"),
        ('{"schema_version": 3}', r"field `schema_version` is 3; this harness reads "
                                  r"schema_version 2\.$"),
        ("[]", r"expected a JSON object"),
    ],
)
def test_bad_run_files_name_the_file_and_field(tmp_path: Path, content: str, message: str
                                               ) -> None:
    path = tmp_path / "jax-cpu.json"
    path.write_text(content)
    with pytest.raises(RunFileError, match=rf"jax-cpu.json: {message}"):
        load_run(path)


def test_hand_edited_run_file_names_the_field(tmp_path: Path) -> None:
    data = json.loads(RUN_ADAPTER.dump_json(_run("jax-cpu", {"a": Outcome.PASSED})))
    data["results"][0]["outcome"] = "great"
    path = tmp_path / "jax-cpu.json"
    path.write_text(json.dumps(data))
    with pytest.raises(RunFileError, match=r"field `results.0.outcome`"):
        load_run(path)
    data["results"][0]["outcome"] = "passed"
    data["results"][0]["environment"] = "torch-cpu"
    path.write_text(json.dumps(data))
    with pytest.raises(RunFileError, match=r"holds \['torch-cpu'\]"):
        load_run(path)


def test_merge_gives_every_cell_once_and_not_run_for_missing_environments() -> None:
    tf = _run("tensorflow-cpu", {"a": Outcome.PASSED, "b": Outcome.PASSED})
    jx = _run("jax-cpu", {"a": Outcome.PASSED, "b": Outcome.XFAILED})
    declared = [EnvironmentInfo(id=e, backend=e.split("-")[0], device=e.split("-")[1],
                                ran=False)
                for e in ("tensorflow-cpu", "jax-cpu", "torch-gpu")]
    matrix = merge_runs([tf, jx], declared, "2026-01-01T00:00:00+00:00")
    cells = {(r.case, r.environment): r for r in matrix.results}
    assert len(cells) == len(matrix.results) == 6
    gpu = cells[("a", "torch-gpu")]
    assert gpu.outcome is Outcome.NOT_RUN
    assert gpu.observed.message is not None
    assert "no run file" in gpu.observed.message
    assert [e.ran for e in matrix.environments] == [True, True, False]
    assert divergent_cases(matrix) == ["b"]
    assert [r.case for r in silent_divergences(matrix)] == ["b"]
    with pytest.raises(ValueError, match="two run files for environment 'jax-cpu'"):
        merge_runs([jx, jx], declared, "now")


def _shard(env: str, shard: str, outcomes: dict[str, Outcome]) -> tuple[Path, Run]:
    run = _run(env, outcomes)
    index, _, count = shard.partition("/")
    provenance = {"shard": shard, "catalog": {"cases": 3, "fingerprint": "abc"}}
    run = Run(schema_version=run.schema_version,
              environment=EnvironmentInfo(id=env, backend="jax", device="cpu", ran=True,
                                          versions={"keras": "3.15.1"},
                                          provenance=provenance),
              cases=run.cases, results=run.results)
    return Path(f"{env}.shard-{index}-of-{count}.json"), run


def test_shards_combine_into_one_environment() -> None:
    one = _shard("jax-cpu", "1/2", {"a": Outcome.PASSED, "c": Outcome.PASSED})
    two = _shard("jax-cpu", "2/2", {"b": Outcome.XFAILED})
    run = combine_shards([one, two])
    assert [c.id for c in run.cases] == ["a", "c", "b"]
    assert len(run.results) == 3
    assert run.environment.provenance["shards"] == ["1/2", "2/2"]


def test_overlapping_or_inconsistent_shards_are_refused() -> None:
    one = _shard("jax-cpu", "1/2", {"a": Outcome.PASSED})
    overlap = _shard("jax-cpu", "2/2", {"a": Outcome.PASSED})
    with pytest.raises(RunFileError, match=r"both hold case 'a'; shards must not overlap"):
        combine_shards([one, overlap])
    other_count = _shard("jax-cpu", "2/3", {"b": Outcome.PASSED})
    with pytest.raises(RunFileError, match=r"differs in shard count"):
        combine_shards([one, other_count])
    path, run = _shard("jax-cpu", "2/2", {"b": Outcome.PASSED})
    newer = replace(run, environment=replace(run.environment, versions={"keras": "3.16.0"}))
    with pytest.raises(RunFileError, match=r"jax-cpu.shard-1-of-2.json and jax-cpu.shard-2-of-2"
                                           r".json: field `environment.versions` differs"):
        combine_shards([one, (path, newer)])


def test_a_damaged_compile_cache_file_is_the_machines_not_the_backends() -> None:
    """A run killed while compiling left a 0-byte kernel in Inductor's cache; eight later
    LSTM `jit_compile` cells raised `InductorError: ImportError: <it>: file too short` and
    read as the backend's answer (seen here, this session)."""
    from matrix.run.messages import damaged_compile_artifact

    path = "/tmp/torchinductor_root/wt/cwtzoafnfoxsmrws6gqqtnunz7j7qixbsvtvrpd6g4nut5k.main.so"
    message = f"InductorError: ImportError: {path}: file too short"
    assert damaged_compile_artifact(message) == Path(path)
    assert damaged_compile_artifact(f"ImportError: {path}: invalid ELF header") == Path(path)
    # a kernel that raised for the input is the backend's answer
    assert damaged_compile_artifact(
        "RuntimeError: index 10 is out of bounds for dimension 0 with size 10") is None
    assert damaged_compile_artifact("ImportError: /usr/lib/libfoo.so: file too short") is None
    assert damaged_compile_artifact(None) is None


def test_a_long_graph_error_keeps_its_cause() -> None:
    """A TensorFlow graph error raised deep in the harness's stack holds a traceback of every
    frame before its cause; cut at its first 4000 characters it read "Graph execution
    error:" in 75 tensorflow-cpu cells (a fresh reviewer's repro check found it)."""
    from matrix.run.prelude import PRELUDE

    frames = "".join(f'  File "/x/frame{i}.py", line {i}, in f{i}\n' for i in range(200))
    message = (f"Graph execution error:\n\nDetected at node take defined at (most recent "
               f"call last):\n{frames}\nindices[1,1] = 10 is not in [0, 10)\n\t "
               "[[{{node take}}]] [Op:__inference_one_step_on_data_123]")
    namespace: dict[str, Any] = {"np": __import__("numpy"), "json": json,
                                 "warnings": __import__("warnings"), "keras": None}
    exec(PRELUDE, namespace)
    printed: list[str] = []
    namespace["print"] = printed.append

    def program() -> Any:
        raise ValueError(message)

    namespace["observe"](program)
    observed = json.loads(printed[-1])
    assert len(message) > 4000
    assert clean_message(observed["message"]) == "indices[1,1] = 10 is not in [0, 10)"


@pytest.mark.parametrize(("device", "want"), [
    (None, ("harness_error", Outcome.ERROR)),  # no device named: the harness's failure
    ("cpu:0", ("mismatched", Outcome.FAILED)),  # ran on the CPU in a GPU run: the cell fails
])
def test_a_gpu_cell_with_no_device_named_is_the_harness_error(
        device: str | None, want: tuple[str, Outcome]) -> None:
    observation = {"kind": "value", "shape": [1], "max_abs_error": 0.0, "nan_count": 0,
                   "device": device}
    verdict = {"status": "mismatched", "cause": "device",
               "detail": f"the output lived on {device!r}, not on a GPU"}
    [cell], _ = fold_reports([_report("failed", observation=observation, verdict=verdict)],
                             "jax-gpu")
    assert (cell.verdict.status, cell.outcome) == want
    assert cell.observed.device == device


def test_a_run_stopped_by_its_time_box_leaves_not_run_cells(recorded: Path) -> None:
    lines = recorded.read_text().splitlines()
    kept = [ln for ln in lines if "hostile-after-eager" not in ln
            and '"SessionFinish"' not in ln]
    recorded.write_text("\n".join(kept) + "\n")
    run = fold_run("jax-cpu", recorded, [HOSTILE_CATALOG], stopped="the time box ran out")
    after = next(r for r in run.results if r.case == "hostile-after-eager")
    assert after.outcome is Outcome.NOT_RUN
    assert after.observed.message == "not run: the time box ran out"
    assert run.environment.reason == ("the run was stopped before it finished: "
                                      "the time box ran out")
    # A finished run ignores the reason: nothing of it was cut.
    finished = fold_run("jax-cpu", DATA / "logs" / "jax-cpu-hostile.jsonl", [HOSTILE_CATALOG],
                        stopped="the time box ran out")
    assert finished.environment.reason is None


def test_a_run_file_carries_its_channel_and_an_older_one_reads_the_declared(
        tmp_path: Path) -> None:
    from matrix.environments import get_environment

    env = get_environment("jax-cpu-nightly")
    info = EnvironmentInfo(id=env.id, backend=env.backend, device=env.device, ran=False,
                           channel=env.channel)
    run = Run(schema_version=2, environment=info, cases=[], results=[])
    path = tmp_path / "jax-cpu-nightly.json"
    dump_run(run, path)
    assert json.loads(path.read_text(encoding="utf-8"))["environment"]["channel"] == "nightly"
    assert load_run(path).environment.channel == "nightly"
    # A file written before the field: the channel matrix/axes.toml declares.
    data = json.loads(path.read_text(encoding="utf-8"))
    del data["environment"]["channel"]
    path.write_text(json.dumps(data), encoding="utf-8")
    assert load_run(path).environment.channel == "nightly"
    # A file that says another channel than the declaration is refused, naming the field.
    dump_run(replace(run, environment=replace(info, channel="minimum")), path)
    with pytest.raises(RunFileError, match=r"field `environment.channel` is 'minimum'"):
        load_run(path)


def test_the_run_controller_writes_the_case_facts_before_the_workers_collect(
        tmp_path: Path) -> None:
    """Issue 22: `matrix.run.selection` writes `case-facts.json` on the controller (every
    case of the catalog loaded, as the fold reads it); a catalog that does not load leaves
    none, not a stale one from an earlier attempt."""
    from types import SimpleNamespace

    from matrix.results.fold import read_case_facts
    from matrix.run import selection
    from matrix.run.facts import catalog_infos

    def config(catalogs: list[str]) -> Any:
        return SimpleNamespace(getoption=lambda name, default=None: catalogs)

    selection._write_case_facts(config([HOSTILE_CATALOG]), tmp_path)
    facts = tmp_path / "case-facts.json"
    assert read_case_facts(facts, [HOSTILE_CATALOG]) == catalog_infos([HOSTILE_CATALOG])
    broken = tmp_path / "broken_cases.py"
    broken.write_text("raise RuntimeError('no')\n", encoding="utf-8")
    selection._write_case_facts(config([str(broken)]), tmp_path)
    assert not facts.exists()
