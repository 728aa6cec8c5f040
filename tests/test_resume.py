"""Tests of `matrix.run.resume` (an interrupted run resumes) and `matrix.run.failures` (a failed
install is recorded), on the recorded jax-cpu log of `tests/data/logs/`.

No framework is imported. An interrupted run is simulated by cutting the recorded log at
a case: what a kill leaves (every line before it, the last one maybe half-written).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from harness import write_case_facts

from matrix import variables as kcm
from matrix.records import SCHEMA_VERSION, EnvironmentInfo, Outcome, Verdict
from matrix.report import collect, render_markdown
from matrix.results.fold import fold_run
from matrix.results.ingest import fold_reports, read_report_log
from matrix.results.io import dump_run, load_run
from matrix.run import protocol, resume
from matrix.run.failures import (
    INSTALL_ERROR,
    install_failed_run,
    installer_summary,
    installer_tail,
    minimal_install_failed_file,
)
from matrix.run.protocol import CASE_FACTS, case_of_nodeid

DATA = Path(__file__).parent / "data"
LOG = DATA / "logs" / "jax-cpu-hostile.jsonl"
COLLECTED = DATA / "logs" / "jax-cpu-hostile.collected.json"
HOSTILE_CATALOG = str(DATA / "hostile_catalog.py")
ROOT = Path(__file__).resolve().parents[1]
CUT_AT = "hostile-hang-eager"  # the run is killed while this case runs


def _lines() -> list[str]:
    return LOG.read_text(encoding="utf-8").splitlines()


def _interrupted_work(tmp_path: Path) -> Path:
    """A work folder as a killed run leaves it: the log up to CUT_AT's setup, a torn line."""
    work = tmp_path / "jax-cpu"
    work.mkdir(parents=True)
    lines = _lines()
    cut = next(i for i, ln in enumerate(lines) if CUT_AT in ln and '"setup"' in ln)
    (work / resume.LOG).write_text("\n".join(lines[: cut + 1]) + '\n{"nodeid": "cases/te')
    shutil.copy(COLLECTED, work / protocol.COLLECTED)
    write_case_facts(work, [HOSTILE_CATALOG])  # written at collection, before the kill
    (work / "heartbeat.json").write_text("{}")
    return work


def _rest_of_run(work: Path) -> None:
    """What the resumed pytest run writes: its own session, the check, the remaining cases."""
    events = [json.loads(ln) for ln in _lines()]
    done = json.loads((work / resume.DONE).read_text())
    new = [e for e in events if case_of_nodeid(str(e.get("nodeid", ""))) not in done]
    (work / resume.LOG).write_text("".join(json.dumps(e) + "\n" for e in new))
    ids = json.loads(COLLECTED.read_text())
    (work / protocol.COLLECTED).write_text(json.dumps(
        [i for i in ids if case_of_nodeid(i) not in done]))
    write_case_facts(work, [HOSTILE_CATALOG])


def test_previous_results_are_the_decided_cases() -> None:
    done = resume.previous_results(LOG)
    assert "hostile-abort-eager" in done  # a crash is a result
    assert "hostile-hang-eager" in done  # so is a timeout
    assert "article-1-rank1-int64-in_range-none-eager" in done
    assert "test_environment" not in " ".join(done)
    assert done == {r.case for r in fold_reports(read_report_log(LOG), "jax-cpu")[0]}


def test_a_cut_log_keeps_everything_before_the_cut(tmp_path: Path) -> None:
    work = _interrupted_work(tmp_path)
    done = resume.previous_results(work / resume.LOG)
    assert CUT_AT not in done  # only its setup was written: it runs again
    assert "hostile-abort-eager" in done
    assert not resume.finished(work / resume.LOG)


def test_a_worker_killed_by_ctrl_c_is_run_again() -> None:
    node = "matrix/run/test_cases.py::test_case[a]"
    event = {"$report_type": "TestReport", "nodeid": node, "when": "???", "outcome": "failed",
             "user_properties": [["printed", "KeyboardInterrupt"]]}
    assert resume.done_cases([event]) == set()
    event["user_properties"] = [["printed", "Fatal Python error: Aborted"]]
    assert resume.done_cases([event]) == {"a"}


def test_deselect_done_keeps_the_environment_check() -> None:
    items = [SimpleNamespace(nodeid="matrix/run/test_cases.py::test_environment"),
             SimpleNamespace(nodeid="matrix/run/test_cases.py::test_case[a]"),
             SimpleNamespace(nodeid="matrix/run/test_cases.py::test_case[b]")]
    dropped = resume.deselect_done(items, {"a", "zzz"})
    assert [i.nodeid for i in dropped] == ["matrix/run/test_cases.py::test_case[a]"]
    assert [i.nodeid for i in items] == ["matrix/run/test_cases.py::test_environment",
                                         "matrix/run/test_cases.py::test_case[b]"]


def test_resume_then_finish_folds_into_the_same_run(tmp_path: Path) -> None:
    whole = tmp_path / "whole"
    whole.mkdir()
    shutil.copy(LOG, whole / resume.LOG)
    shutil.copy(COLLECTED, whole / protocol.COLLECTED)
    write_case_facts(whole, [HOSTILE_CATALOG])
    expected = fold_run("jax-cpu", whole / resume.LOG, [HOSTILE_CATALOG])

    work = _interrupted_work(tmp_path)
    done = resume.prepare(work, "auto")
    assert done
    assert CUT_AT not in done
    assert json.loads((work / resume.DONE).read_text()) == sorted(done)
    assert not (work / resume.LOG).exists()
    assert not (work / "heartbeat.json").exists()
    _rest_of_run(work)
    kept = resume.finish(work)
    assert kept > 0
    assert sorted(p.name for p in work.iterdir()) == sorted([CASE_FACTS, protocol.COLLECTED,
                                                             resume.LOG, resume.STATE])
    resumed = fold_run("jax-cpu", work / resume.LOG, [HOSTILE_CATALOG])
    assert [(r.case, r.outcome, r.observed) for r in resumed.results] == \
        [(r.case, r.outcome, r.observed) for r in expected.results]
    assert resumed.environment.ran
    assert resumed.environment.reason is None  # the resumed run finished
    assert resumed.environment.versions == expected.environment.versions


def test_an_interrupted_resume_loses_nothing_either(tmp_path: Path) -> None:
    work = _interrupted_work(tmp_path)
    first = resume.prepare(work, "auto")
    # The resumed run is killed too, after one more case.
    node = f"cases/test_cases.py::test_case[{CUT_AT}]"  # the recorded log predates matrix/run/
    crash = next(json.loads(ln) for ln in _lines() if node in ln and '"???"' in ln)
    (work / resume.LOG).write_text(json.dumps(crash) + "\n")
    second = resume.prepare(work, "auto")
    assert second == first | {CUT_AT}


def test_fresh_clears_and_auto_after_a_finished_run_starts_clean(tmp_path: Path) -> None:
    work = _interrupted_work(tmp_path)
    assert resume.prepare(work, "fresh") == set()
    assert [p.name for p in work.iterdir()] == [resume.STATE]
    shutil.copy(LOG, work / resume.LOG)  # a run that finished
    assert resume.prepare(work, "auto") == set()
    assert [p.name for p in work.iterdir()] == [resume.STATE]
    shutil.copy(LOG, work / resume.LOG)
    assert resume.prepare(work, "resume") == resume.previous_results(LOG)
    assert resume.finish(work) > 0


def test_auto_starts_clean_when_the_catalog_changed(tmp_path: Path) -> None:
    catalog = tmp_path / "my_cases.py"
    catalog.write_text("CASES = []\n")
    before = resume.source_fingerprint([catalog], ["jax==0.10.2"])
    work = tmp_path / "w"
    assert resume.prepare(work, "auto", before) == set()
    shutil.copy(_interrupted_work(tmp_path) / resume.LOG, work / resume.LOG)
    catalog.write_text("CASES = []  # edited\n")
    after = resume.source_fingerprint([catalog], ["jax==0.10.2"])
    assert after != before
    assert after != resume.source_fingerprint([catalog], ["jax==0.10.3"])
    assert resume.prepare(work, "auto", after) == set()  # changed: fresh
    shutil.copy(_interrupted_work(tmp_path / "again") / resume.LOG, work / resume.LOG)
    assert resume.prepare(work, "auto", after)  # unchanged: resumed
    assert resume.prepare(work, "resume", before)  # asked for: resumed anyway


def _finished_work(tmp_path: Path, fingerprint: str) -> Path:
    """A work folder as a kill after pytest finished, before the fold, leaves it."""
    work = tmp_path / "jax-cpu"
    work.mkdir(parents=True)
    (work / resume.STATE).write_text(json.dumps({"fingerprint": fingerprint}))
    shutil.copy(LOG, work / resume.LOG)
    shutil.copy(COLLECTED, work / protocol.COLLECTED)
    write_case_facts(work, [HOSTILE_CATALOG])
    return work


def test_a_finished_but_unfolded_log_is_folded_again_not_rerun(tmp_path: Path) -> None:
    """Issue 12, item 5: the log stays until the run file is written; the next run folds it."""
    expected = fold_run("jax-cpu", _finished_work(tmp_path / "whole", "fp") / resume.LOG,
                        [HOSTILE_CATALOG])
    work = _finished_work(tmp_path, "fp")
    assert resume.unfolded(work, "auto", "fp")
    assert resume.unfolded(work, "resume", "fp")
    assert not resume.unfolded(work, "fresh", "fp")
    assert not resume.unfolded(work, "auto", "other sources")
    # What the run session does then: no pytest, finish, fold, mark.
    assert resume.finish(work) == 0
    folded = fold_run("jax-cpu", work / resume.LOG, [HOSTILE_CATALOG])
    assert [(r.case, r.outcome, r.observed) for r in folded.results] == \
        [(r.case, r.outcome, r.observed) for r in expected.results]
    assert (work / resume.LOG).exists()  # kept until the run file is written
    resume.mark_folded(work)
    assert not resume.unfolded(work, "auto", "fp")
    assert resume.prepare(work, "auto", "fp") == set()  # folded: the next run starts clean
    assert not (work / resume.LOG).exists()


def test_a_resumed_run_killed_before_finish_is_folded_whole(tmp_path: Path) -> None:
    whole = fold_run("jax-cpu", _finished_work(tmp_path / "whole", "fp") / resume.LOG,
                     [HOSTILE_CATALOG])
    work = _interrupted_work(tmp_path)
    (work / resume.STATE).write_text(json.dumps({"fingerprint": "fp"}))
    resume.prepare(work, "auto", "fp")
    _rest_of_run(work)  # the resumed pytest finished; then the kill, before finish()
    assert resume.unfolded(work, "auto", "fp")
    assert resume.finish(work) > 0
    folded = fold_run("jax-cpu", work / resume.LOG, [HOSTILE_CATALOG])
    assert [(r.case, r.outcome) for r in folded.results] == \
        [(r.case, r.outcome) for r in whole.results]


def test_a_resume_forgets_an_earlier_fold(tmp_path: Path) -> None:
    work = _finished_work(tmp_path, "fp")
    resume.mark_folded(work)
    resume.prepare(work, "resume", "fp")
    _rest_of_run(work)
    assert resume.unfolded(work, "auto", "fp")  # this attempt's fold has not happened yet


def test_finish_after_a_fresh_run_is_a_no_op(tmp_path: Path) -> None:
    work = tmp_path / "w"
    assert resume.prepare(work, "auto") == set()
    shutil.copy(LOG, work / resume.LOG)
    before = (work / resume.LOG).read_bytes()
    assert resume.finish(work) == 0
    assert (work / resume.LOG).read_bytes() == before


def test_done_for_worker_reads_the_work_folder(tmp_path: Path) -> None:
    assert resume.done_for_worker({}) == frozenset()
    assert resume.done_for_worker({kcm.RUN_DIR.name: str(tmp_path)}) == frozenset()
    (tmp_path / resume.DONE).write_text('["a", "b"]')
    assert resume.done_for_worker({kcm.RUN_DIR.name: str(tmp_path)}) == {"a", "b"}


def test_merge_collected_keeps_order_and_each_id_once() -> None:
    assert resume.merge_collected(["e", "a", "b"], ["e", "c", "a"]) == ["e", "a", "b", "c"]


def test_resume_imports_only_the_standard_library() -> None:
    code = ("import sys, matrix.run.resume, matrix.run.failures; "
            "print(sorted(m for m in ('pydantic', 'numpy', 'pytest', 'keras') "
            "if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, check=True)
    assert done.stdout.strip() == "[]"


# --- an environment whose install failed -----------------------------------------------------

PIP_OUTPUT = (
    "Collecting keras==3.15.1\n  Using cached keras-3.15.1-py3-none-any.whl\n"
    "\x1b[31mERROR: Could not find a version that satisfies the requirement jax==9.9 "
    "(from versions: 0.4.1, 0.10.2)\x1b[0m\n"
    "ERROR: No matching distribution found for jax==9.9\n\n"
)


def test_installer_summary_is_pips_last_error_line() -> None:
    assert installer_summary(PIP_OUTPUT) == "ERROR: No matching distribution found for jax==9.9"
    assert installer_summary("") == "the installer failed without printing a reason"
    assert len(installer_summary("x" * 100_000)) == 300
    tail = installer_tail(PIP_OUTPUT)
    assert "\x1b" not in tail
    assert tail.splitlines()[0] == "Collecting keras==3.15.1"
    assert len(installer_tail("y\n" * 100_000)) <= 4000


def test_install_failure_is_the_environments_error_and_the_rest_renders(tmp_path: Path
                                                                       ) -> None:
    run = install_failed_run("jax-cpu", PIP_OUTPUT, [HOSTILE_CATALOG])
    assert not run.environment.ran
    assert run.environment.reason == ("the install failed: ERROR: No matching distribution "
                                      "found for jax==9.9")
    assert run.environment.provenance["install"]["failed"] is True
    assert {r.outcome for r in run.results} == {Outcome.ERROR}
    assert {r.verdict.status for r in run.results} == {"harness_error"}
    assert {r.observed.error_type for r in run.results} == {INSTALL_ERROR}
    assert {c.id for c in run.cases} == {r.case for r in run.results}
    assert "hostile-after-eager" in {c.id for c in run.cases}
    runs = tmp_path / "runs"
    dump_run(run, runs / "jax-cpu.json")
    assert load_run(runs / "jax-cpu.json") == run
    other = load_run(runs / "jax-cpu.json")
    other_env = EnvironmentInfo(id="torch-cpu", backend="torch", device="cpu", ran=True)
    ok = type(other)(schema_version=SCHEMA_VERSION, environment=other_env,
                     cases=other.cases[:2],
                     results=[type(r)(case=r.case, environment="torch-cpu",
                                      outcome=Outcome.PASSED, observed=r.observed,
                                      verdict=Verdict(status="matched"))
                              for r in other.results[:2]])
    dump_run(ok, runs / "torch-cpu.json")
    declared = [EnvironmentInfo(id=e, backend=e.split("-")[0], device="cpu", ran=False)
                for e in ("jax-cpu", "torch-cpu")]
    matrix = collect(runs, declared, "2025-01-01T00:00:00+00:00")
    assert not matrix.problems
    assert [e.ran for e in matrix.environments] == [False, True]
    assert "not run (the install failed: ERROR: No matching distribution" in \
        render_markdown(matrix)


def test_minimal_install_failure_file_is_a_valid_run_file(tmp_path: Path) -> None:
    path = tmp_path / "jax-cpu.json"
    minimal_install_failed_file("jax-cpu", "jax", "cpu", PIP_OUTPUT, path)
    run = load_run(path)
    assert not run.environment.ran
    assert run.environment.reason is not None
    assert "No matching distribution" in run.environment.reason
    assert run.results == []


def test_install_failed_command_line(tmp_path: Path) -> None:
    log = tmp_path / "install.log"
    log.write_text(PIP_OUTPUT)
    out = tmp_path / "jax-cpu.json"
    done = subprocess.run([sys.executable, "-m", "matrix.run.failures", "install-failed",
                           "--environment", "jax-cpu", "--log", str(log), "--output",
                           str(out)], cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "cells recorded as error" in done.stdout
    assert load_run(out).environment.reason is not None


@pytest.mark.parametrize("mode", ["auto", "resume", "fresh"])
def test_prepare_on_an_empty_folder_starts_clean(tmp_path: Path, mode: resume.ResumeMode
                                                 ) -> None:
    assert resume.prepare(tmp_path / "new", mode) == set()
    assert resume.finish(tmp_path / "new") == 0


def test_resume_key_covers_the_pins_file_and_the_whole_catalog(tmp_path: Path) -> None:
    # Issue 12, item 6: results must not be kept after what is installed, or a case, changed.
    root = tmp_path
    (root / "cases" / "family").mkdir(parents=True)
    (root / "matrix" / "pins").mkdir(parents=True)
    (root / "cases" / "embedding.py").write_text("CASES = []\n")
    (root / "cases" / "family" / "records.py").write_text("RECORDS = []\n")
    (root / "matrix" / "axes.toml").write_text("[common]\n")
    pins = root / "matrix" / "pins" / "jax-cpu.txt"
    catalog = tmp_path / "mine.py"
    catalog.write_text("CASES = []\n")

    def key() -> str:
        return resume.source_fingerprint(resume.run_sources(root, pins, [str(catalog)]),
                                         ["keras==3.15.1"])

    before = key()
    pins.write_text("jax==0.10.2\n")  # `nox -s pins` wrote a resolved set
    with_pins = key()
    assert with_pins != before
    pins.write_text("jax==0.10.3\n")  # re-resolved: another version installed
    assert key() != with_pins
    changed = key()
    (root / "cases" / "family" / "records.py").write_text("RECORDS = [1]\n")
    assert key() != changed  # a catalog module in a subpackage
    changed = key()
    catalog.write_text("CASES = [1]\n")
    assert key() != changed
    changed = key()
    (root / "matrix" / "axes.toml").write_text("[common]\nenv = 1\n")
    assert key() != changed
    changed = key()
    (root / "matrix" / "oracle").mkdir()
    (root / "matrix" / "oracle" / "tolerance.py").write_text("TOLERANCES = {}\n")
    assert key() != changed  # the NumPy oracle
    assert key() == key()

