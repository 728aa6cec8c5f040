"""`python -m matrix.report --if-changed` (the `report` session of bare `nox`): nothing is
rendered when the run files, the report's code and the files the last rendering wrote are
unchanged; any of them changed, it renders again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cells import verdict_for

from matrix import variables as kcm
from matrix.records import (
    SCHEMA_VERSION,
    CaseInfo,
    EnvironmentInfo,
    Observation,
    Outcome,
    Result,
    Run,
)
from matrix.report import stamp
from matrix.report.cli import main
from matrix.results.io import dump_run

NOW = "2025-01-01T00:00:00+00:00"


def _write_run(runs: Path, outcome: Outcome = Outcome.PASSED) -> None:
    env = EnvironmentInfo(id="jax-cpu", backend="jax", device="cpu", ran=True,
                          versions={"keras": "3.15.1"},
                          provenance={"date": NOW, "git_commit": "0" * 40,
                                      "catalog": {"cases": 1, "fingerprint": "f" * 16}})
    case = CaseInfo(id="c0", group="g", description="case 0", axes={"mode": "eager"})
    result = Result(case="c0", environment="jax-cpu", outcome=outcome,
                    observed=Observation(kind="value", max_abs_error=0.0),
                    verdict=verdict_for(outcome), duration_s=0.5)
    runs.mkdir(parents=True, exist_ok=True)
    dump_run(Run(schema_version=SCHEMA_VERSION, environment=env, cases=[case],
                 results=[result]), runs / "jax-cpu.json")


def _report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "out"),
                 "--if-changed"]) == 0
    return capsys.readouterr().out


def test_an_unchanged_report_is_not_rendered_again(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    _write_run(tmp_path / "runs")
    first = _report(tmp_path, capsys)
    assert "up to date" not in first
    page = tmp_path / "out" / "compatibility.md"
    written = page.stat().st_mtime_ns
    saved = json.loads((tmp_path / "out" / stamp.STAMP_NAME).read_text(encoding="utf-8"))
    assert "compatibility.md" in saved["outputs"]

    again = _report(tmp_path, capsys)
    assert "up to date" in again
    assert "nothing was rendered" in again
    assert "jax-cpu" in again  # the summary of the last rendering, printed again
    assert page.stat().st_mtime_ns == written

    # a report file edited by hand: rendered again
    page.write_text("edited\n", encoding="utf-8")
    assert "up to date" not in _report(tmp_path, capsys)
    assert page.read_text(encoding="utf-8") != "edited\n"
    assert "up to date" in _report(tmp_path, capsys)

    # a run file that changed: rendered again, with its new outcome
    passed = page.read_text(encoding="utf-8")
    _write_run(tmp_path / "runs", Outcome.FAILED)
    assert "up to date" not in _report(tmp_path, capsys)
    assert page.read_text(encoding="utf-8") != passed


def test_the_report_code_is_part_of_what_decides(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    runs = tmp_path / "runs"
    _write_run(runs)
    before = stamp.inputs_digest(runs, tmp_path / "bisect", [])
    source = tmp_path / "src"
    (source / "matrix").mkdir(parents=True)
    (source / "matrix" / "a.py").write_text("x = 1\n", encoding="utf-8")
    monkeypatch.setattr(stamp, "ROOT", source)
    with_a = stamp.inputs_digest(runs, tmp_path / "bisect", [])
    assert with_a != before
    (source / "matrix" / "a.py").write_text("x = 2\n", encoding="utf-8")
    assert stamp.inputs_digest(runs, tmp_path / "bisect", []) != with_a
    monkeypatch.setenv(kcm.MEASURED_RUNS.name, str(tmp_path))
    assert stamp.inputs_digest(runs, tmp_path / "bisect", []) != with_a
