"""Tests of the results model: the fold of a recorded pytest log, run files, the merge."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from matrix.results import (
    RUN_ADAPTER,
    SCHEMA_VERSION,
    CaseInfo,
    EnvironmentInfo,
    Observation,
    Outcome,
    Result,
    Run,
    RunFileError,
    clean_message,
    combine_shards,
    divergent_cases,
    dump_run,
    fold_reports,
    fold_run,
    judge,
    load_run,
    merge_runs,
    read_report_log,
    silent_divergences,
)

DATA = Path(__file__).parent / "data"
HOSTILE_LOG = DATA / "logs" / "jax-cpu-hostile.jsonl"
HOSTILE_CATALOG = str(DATA / "hostile_catalog.py")


@pytest.fixture
def recorded(tmp_path: Path) -> Path:
    """The recorded jax-cpu log (a slice plus the hostile cases), laid out as a run leaves it."""
    shutil.copy(HOSTILE_LOG, tmp_path / "report-log.jsonl")
    shutil.copy(DATA / "logs" / "jax-cpu-hostile.collected.json", tmp_path / "collected.json")
    return tmp_path / "report-log.jsonl"


def test_fold_reports_maps_every_outcome() -> None:
    results, props = fold_reports(read_report_log(HOSTILE_LOG), "jax-cpu")
    got = {r.case: r for r in results}
    assert got["hostile-abort-eager"].outcome is Outcome.CRASHED
    assert got["hostile-abort-eager"].observed.message == "Fatal Python error: Aborted"
    assert got["hostile-segfault-eager"].outcome is Outcome.CRASHED
    assert got["hostile-hang-eager"].outcome is Outcome.TIMEOUT
    assert got["hostile-hang-eager"].observed.kind == "timeout"
    assert got["hostile-after-eager"].outcome is Outcome.PASSED
    nan_rows = got["embedding-values-rank2-int32-out_of_range-10-none-eager"]
    assert nan_rows.outcome is Outcome.XFAILED
    assert nan_rows.observed.kind == "value"
    assert nan_rows.observed.nan_count == 4
    assert nan_rows.observed.shape == [2, 3, 4]
    assert nan_rows.limitation is not None
    assert "NaN" in nan_rows.limitation
    model = got["article-1-rank1-int64-in_range-none-predict"]
    assert model.outcome is Outcome.PASSED
    assert model.observed.error_type == "ValueError"
    assert props["versions"]["keras"] == "3.15.1"
    assert props["provenance"]["checks"]["backend"]["ok"] is True


def test_fold_run_keeps_the_selected_slice_and_records_provenance(recorded: Path) -> None:
    run = fold_run("jax-cpu", recorded, [HOSTILE_CATALOG])
    assert run.environment.ran
    assert run.environment.versions["jax"] == "0.10.2"
    assert run.environment.provenance["pytest_exitstatus"] == 1
    assert len(run.cases) == len(run.results) == 16
    assert {c.id for c in run.cases} == {r.case for r in run.results}
    expected = {c.id: c.expected for c in run.cases}
    assert expected["embedding-values-rank2-int32-out_of_range-10-none-eager"].startswith(
        "error: IndexError")


def test_a_case_lost_by_an_interrupted_run_is_an_error_not_a_pass(recorded: Path) -> None:
    lines = recorded.read_text().splitlines()
    kept = [ln for ln in lines if "hostile-after-eager" not in ln
            and '"SessionFinish"' not in ln]
    recorded.write_text("\n".join(kept) + "\n{\"truncated")  # a half-written last line
    run = fold_run("jax-cpu", recorded, [HOSTILE_CATALOG])
    after = next(r for r in run.results if r.case == "hostile-after-eager")
    assert after.outcome is Outcome.ERROR
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
    assert judge(None, 0.0, values) is None
    assert judge("IndexError: no", 0.0, error) is None
    silent = judge("IndexError: no", 0.0, values)
    assert silent is not None
    assert silent.startswith("silent divergence")
    raised = judge(None, 0.0, error)
    assert raised is not None
    assert "raised IndexError" in raised
    off = Observation(kind="value", shape=[2], max_abs_error=1e-3, nan_count=1)
    differ = judge(None, 1e-5, off)
    assert differ is not None
    assert "max abs error 0.001 > tolerance 1e-05, 1 NaN" in differ


def _run(env: str, outcomes: dict[str, Outcome], ran: bool = True) -> Run:
    cases = [CaseInfo(id=c, group="g", description=c, axes={"mode": "eager"})
             for c in outcomes]
    results = [Result(case=c, environment=env, outcome=o,
                      observed=Observation(kind="value" if o is not Outcome.CRASHED
                                           else "crash", nan_count=0))
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
        ('{"schema_version": 2}', r"field `schema_version` is 2"),
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
