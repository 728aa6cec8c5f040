"""A hostile case costs one cell (issue 12, item 7): the harness side, without a framework.

The end-to-end proof, a real jax-cpu run of `tests/data/hostile_process_catalog.py`, is
`tests/test_e2e.py::test_hostile_processes_cost_one_cell_each`. These tests check the pieces
one by one: the crash-or-timeout call of `matrix/run/crash.py`, the runner validation of
`matrix/run/test_cases.py` and the fold's guard in `matrix.results`.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from matrix import variables as kcm
from matrix.records import Outcome
from matrix.results.ingest import fold_reports
from matrix.run import crash, plugin_common, selection
from matrix.run.test_cases import _run

DATA = Path(__file__).parent / "data"
HOSTILE = DATA / "hostile_process_catalog.py"


def _crash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, printed: str,
           elapsed: float, limit: float = 20.0) -> dict[str, Any]:
    """What `pytest_handlecrashitem` records for a worker that died `elapsed` s into a case."""
    monkeypatch.setenv(kcm.RUN_DIR.name, str(tmp_path))
    nodeid = "matrix/run/test_cases.py::test_case[c]"
    (tmp_path / "worker-stderr.log").write_text("earlier output\n" + printed)
    (tmp_path / "heartbeat.json").write_text(json.dumps(
        {"nodeid": nodeid, "started": time.time() - elapsed, "offset": len("earlier output\n")}))
    report = SimpleNamespace(user_properties=[])
    sched = SimpleNamespace(config=SimpleNamespace(getoption=lambda name, default=None: limit))
    crash.pytest_handlecrashitem(nodeid, report, sched)  # type: ignore[arg-type]
    return dict(report.user_properties)


def test_an_abort_just_before_the_timeout_is_a_crash(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    got = _crash(tmp_path, monkeypatch, "Fatal Python error: Aborted\n\nThread 0x1 ...\n",
                 elapsed=19.8)
    assert got["ended_by"] == "crash"
    assert got["printed"] == "Fatal Python error: Aborted"


def test_a_silent_kill_at_the_limit_is_still_a_timeout(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    assert _crash(tmp_path, monkeypatch, "", elapsed=19.8)["ended_by"] == "timeout"
    banner = "+++++ Timeout +++++\nFatal Python error: Aborted\n"  # the banner wins
    assert _crash(tmp_path, monkeypatch, banner, elapsed=20.1)["ended_by"] == "timeout"


def _request() -> Any:
    return SimpleNamespace(config=SimpleNamespace(
        getoption=lambda name, default=None: [str(HOSTILE)] if name == "catalog" else default))


@pytest.mark.parametrize("raw", [{"kind": "teapot"}, {"kind": "value", "shape": "wide"},
                                 {"nonsense": 1}, ["not", "a", "dict"], None])
def test_a_runner_returning_no_observation_is_a_harness_error_of_its_cell(
        raw: object, monkeypatch: pytest.MonkeyPatch) -> None:
    from matrix.oracle.catalog import load_catalog

    catalog = load_catalog([str(HOSTILE)])
    case = next(c for c in catalog.cases if c.runner == "unknown_kind")
    monkeypatch.setitem(catalog.runners, "unknown_kind", lambda case: raw)
    monkeypatch.setattr("matrix.run.test_cases._catalog_of", lambda config: catalog)
    observation, verdict = _run(case, _request())
    assert verdict.status == "harness_error"
    assert observation.kind == "error"
    assert observation.error_type == "HarnessError"
    assert "the runner returned" in (observation.message or "")


def test_the_fold_keeps_an_unknown_observation_kind_in_its_cell() -> None:
    def report(case: str, observation: dict[str, Any]) -> dict[str, Any]:
        return {"$report_type": "TestReport", "when": "call", "outcome": "passed",
                "nodeid": f"matrix/run/test_cases.py::test_case[{case}]", "duration": 0.1,
                "user_properties": [["observation", observation],
                                    ["verdict", {"status": "matched"}]]}

    results, _ = fold_reports([report("bad", {"kind": "teapot"}),
                               report("good", {"kind": "value"})], "jax-cpu")
    cells = {r.case: r for r in results}
    assert cells["bad"].outcome is Outcome.ERROR
    assert cells["bad"].verdict.status == "harness_error"
    assert "field `kind`" in (cells["bad"].verdict.detail or "")
    assert cells["good"].outcome is Outcome.PASSED


def test_each_worker_has_its_heartbeat_and_a_compiling_case_its_own_limit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With `--jobs N`, the heartbeat naming the dead case is found among the workers', and
    its own time limit (a `jit_compile` case's) decides between timeout and crash."""
    monkeypatch.setenv(kcm.RUN_DIR.name, str(tmp_path))
    nodeid = "matrix/run/test_cases.py::test_case[compiling]"
    (tmp_path / "worker-stderr-gw0.log").write_text("another worker's output\n")
    (tmp_path / "heartbeat-gw0.json").write_text(json.dumps(
        {"nodeid": "matrix/run/test_cases.py::test_case[other]", "started": time.time(),
         "offset": 0, "log": "worker-stderr-gw0.log"}))
    (tmp_path / "worker-stderr-gw1.log").write_text("compiling...\n")

    def ended_by(elapsed: float) -> dict[str, Any]:
        (tmp_path / "heartbeat-gw1.json").write_text(json.dumps(
            {"nodeid": nodeid, "started": time.time() - elapsed, "offset": 0,
             "log": "worker-stderr-gw1.log", "limit": 360.0}))
        report = SimpleNamespace(user_properties=[])
        sched = SimpleNamespace(config=SimpleNamespace(getoption=lambda name, default=None: 120))
        crash.pytest_handlecrashitem(nodeid, report, sched)  # type: ignore[arg-type]
        return dict(report.user_properties)

    early = ended_by(200.0)  # past the run's 120 s, far from the case's own 360 s
    assert early["ended_by"] == "crash"
    assert early["printed"] == "compiling..."
    assert ended_by(355.0)["ended_by"] == "timeout"


def test_a_crash_keeps_its_output_when_another_case_deletes_the_work_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With two workers, one case may delete `$KCM_RUN_DIR` while the other's case aborts
    (CI saw "the worker process died without printing a reason" for the abort): the
    workers' logs and heartbeats live beside the work folder, so the crash keeps its text."""
    work = tmp_path / "jax-cpu.partial-0"
    work.mkdir()
    monkeypatch.setenv(kcm.RUN_DIR.name, str(work))
    monkeypatch.delenv(crash.WORKER_FILES, raising=False)  # restored after the test
    crash._make_worker_files(work)
    files = crash._worker_files()
    assert files == tmp_path / "jax-cpu.partial-0.workers"
    assert files.is_dir()
    nodeid = "matrix/run/test_cases.py::test_case[abort]"
    printed = "aborting\nFatal Python error: Aborted\n"
    (files / "worker-stderr-gw0.log").write_text("earlier\n" + printed)
    (files / "heartbeat-gw0.json").write_text(json.dumps(  # as the worker writes it
        {"nodeid": nodeid, "started": time.time(), "offset": len("earlier\n"),
         "log": "worker-stderr-gw0.log"}))
    shutil.rmtree(work)  # the other worker's case
    report = SimpleNamespace(user_properties=[])
    sched = SimpleNamespace(config=SimpleNamespace(getoption=lambda name, default=None: 20))
    crash.pytest_handlecrashitem(nodeid, report, sched)  # type: ignore[arg-type]
    got = dict(report.user_properties)
    assert got["ended_by"] == "crash"
    assert got["printed"] == "Fatal Python error: Aborted"
    assert got["printed_tail"] == printed


def test_compiling_cases_get_the_compile_time_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    class Item:
        def __init__(self, nodeid: str, mode: str) -> None:
            self.nodeid = nodeid
            self.callspec = SimpleNamespace(params={"case": SimpleNamespace(axes={"mode": mode})})
            self.markers: list[Any] = []

        def add_marker(self, marker: Any) -> None:
            self.markers.append(marker)

    jit, eager = Item("t[jit]", "jit_compile"), Item("t[eager]", "eager")
    monkeypatch.setenv(kcm.COMPILE_TIMEOUT.name, "360")
    selection._mark_compiling([jit, eager])  # type: ignore[list-item]
    assert [m.args for m in jit.markers] == [(360.0,)]
    assert [m.name for m in jit.markers] == ["timeout"]
    assert eager.markers == []
    assert plugin_common.LIMITS["t[jit]"] == 360.0
    assert "t[eager]" not in plugin_common.LIMITS


def test_one_worker_starts_when_the_cache_leaves_few_cases() -> None:
    def specs_after(to_run: int | None, jobs: int) -> list[str]:
        config = SimpleNamespace(option=SimpleNamespace(tx=["popen"] * jobs, numprocesses=jobs))
        selection._one_worker_for_few(config, to_run)  # type: ignore[arg-type]
        assert config.option.numprocesses == len(config.option.tx)
        return list(config.option.tx)

    assert specs_after(0, 4) == ["popen"]  # nothing changed: one worker for the check
    assert specs_after(selection.FEW_CASES - 1, 2) == ["popen"]
    assert len(specs_after(selection.FEW_CASES, 2)) == 2
    assert len(specs_after(None, 3)) == 3  # no cache (--no-cache still plans; None: none)
