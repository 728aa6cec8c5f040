"""Tests of `matrix.results.partial`: a slice's run file is merged over the full run in the report.

No framework is imported: run files are built by hand and read back by `matrix.report`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from cells import verdict_for

from matrix.records import (
    SCHEMA_VERSION,
    CaseInfo,
    EnvironmentInfo,
    Observation,
    Outcome,
    Result,
    Run,
)
from matrix.report import collect
from matrix.results.fold import with_selection
from matrix.results.io import dump_run

ENV = EnvironmentInfo(id="jax-cpu", backend="jax", device="cpu", ran=False)
CASES = [CaseInfo(id=f"case-{i}", group="g", description=f"case {i}", axes={"rank": i})
         for i in range(4)]


def _run(cases: list[CaseInfo], outcome: Outcome, date: str) -> Run:
    env = EnvironmentInfo(id="jax-cpu", backend="jax", device="cpu", ran=True,
                          provenance={"date": date, "commit": "abc"})
    results = [Result(case=c.id, environment="jax-cpu", outcome=outcome,
                      observed=Observation(kind="value"), verdict=verdict_for(outcome))
               for c in cases]
    return Run(schema_version=SCHEMA_VERSION, environment=env, cases=cases, results=results)


def _cells(runs: Path) -> tuple[dict[str, Outcome], list[str], dict[str, object]]:
    matrix = collect(runs, [ENV], now="2025-01-03T00:00:00+00:00")
    cells = {r.case: r.outcome for r in matrix.results if r.environment == "jax-cpu"}
    env = next(e for e in matrix.environments if e.id == "jax-cpu")
    return cells, matrix.problems, env.provenance


def test_a_newer_slice_is_merged_over_the_full_run(tmp_path: Path) -> None:
    dump_run(_run(CASES[:3], Outcome.PASSED, "2025-01-01T00:00:00+00:00"),
             tmp_path / "jax-cpu.json")
    extra = CaseInfo(id="mine", group="user", description="mine", axes={})
    sliced = _run([CASES[1], extra], Outcome.FAILED, "2025-01-02T00:00:00+00:00")
    dump_run(with_selection(sliced, {"pytest_args": ["-k", "case-1"], "catalogs": ["m.py"]}),
             tmp_path / "jax-cpu.partial-0123abcd.json")
    cells, problems, provenance = _cells(tmp_path)
    assert cells == {"case-0": Outcome.PASSED, "case-1": Outcome.FAILED,
                     "case-2": Outcome.PASSED, "mine": Outcome.FAILED}
    assert any("merged the partial run jax-cpu.partial-0123abcd.json" in p for p in problems)
    assert not any("one run file per environment" in p for p in problems)
    partials: list[dict[str, object]] = provenance["partials"]  # type: ignore[assignment]
    (partial,) = partials
    assert partial["file"] == "jax-cpu.partial-0123abcd.json"
    assert partial["cells"] == 2


def test_an_older_slice_only_adds_cases_the_full_run_lacks(tmp_path: Path) -> None:
    dump_run(_run(CASES[:3], Outcome.PASSED, "2025-01-05T00:00:00+00:00"),
             tmp_path / "jax-cpu.json")
    dump_run(_run(CASES[2:], Outcome.FAILED, "2025-01-01T00:00:00+00:00"),
             tmp_path / "jax-cpu.partial-0123abcd.json")
    cells, _, _ = _cells(tmp_path)
    assert cells == {"case-0": Outcome.PASSED, "case-1": Outcome.PASSED,
                     "case-2": Outcome.PASSED, "case-3": Outcome.FAILED}


def test_a_lone_slice_is_shown_and_flagged(tmp_path: Path) -> None:
    sliced = with_selection(_run(CASES[:1], Outcome.PASSED, "2025-01-01T00:00:00+00:00"),
                            {"pytest_args": ["-k", "case-0"], "catalogs": []})
    dump_run(sliced, tmp_path / "jax-cpu.json")  # a slice into an empty folder (CI, e2e)
    cells, problems, _ = _cells(tmp_path)
    assert cells == {"case-0": Outcome.PASSED}
    assert any("jax-cpu.json is a partial run" in p for p in problems)


def test_slices_beside_shards_are_left_out_with_a_note(tmp_path: Path) -> None:
    for index, cases in ((1, CASES[:2]), (2, CASES[2:])):
        run = _run(cases, Outcome.PASSED, "2025-01-01T00:00:00+00:00")
        env = run.environment
        run = Run(schema_version=SCHEMA_VERSION, cases=cases, results=run.results,
                  environment=EnvironmentInfo(
                      id=env.id, backend=env.backend, device=env.device, ran=True,
                      provenance={**env.provenance, "shard": f"{index}/2"}))
        dump_run(run, tmp_path / f"jax-cpu.shard-{index}-of-2.json")
    dump_run(_run(CASES[:1], Outcome.FAILED, "2025-01-02T00:00:00+00:00"),
             tmp_path / "jax-cpu.partial-0123abcd.json")
    cells, problems, _ = _cells(tmp_path)
    assert set(cells.values()) == {Outcome.PASSED}
    assert len(cells) == 4
    assert any("were not merged over its shard files" in p for p in problems)


# --- issue 23: a run file dated in the future would win every merge for ever ----------------

CLOCK = datetime(2025, 1, 3, tzinfo=UTC)


def _collect(runs: Path) -> tuple[dict[str, Outcome], list[str], EnvironmentInfo]:
    matrix = collect(runs, [ENV], now="2025-01-03T00:00:00+00:00", clock=CLOCK)
    cells = {r.case: r.outcome for r in matrix.results if r.environment == "jax-cpu"}
    return cells, matrix.problems, next(e for e in matrix.environments if e.id == "jax-cpu")


def test_a_slice_dated_in_the_future_is_refused_by_name_not_merged(tmp_path: Path) -> None:
    dump_run(_run(CASES[:3], Outcome.PASSED, "2025-01-02T00:00:00+00:00"),
             tmp_path / "jax-cpu.json")
    dump_run(_run(CASES[:2], Outcome.FAILED, "2099-01-01T00:00:00+00:00"),
             tmp_path / "jax-cpu.partial-0123abcd.json")
    cells, problems, env = _collect(tmp_path)
    assert cells == {"case-0": Outcome.PASSED, "case-1": Outcome.PASSED,
                     "case-2": Outcome.PASSED}
    (problem,) = [p for p in problems if "jax-cpu.partial-0123abcd.json" in p]
    assert "field `environment.provenance.date` is '2099-01-01T00:00:00+00:00'" in problem
    assert "after this machine's clock (2025-01-03T00:00:00Z)" in problem
    assert problem.endswith("This file was skipped.")
    assert "partials" not in env.provenance


def test_a_full_run_dated_in_the_future_does_not_outrank_a_newer_slice(tmp_path: Path
                                                                       ) -> None:
    dump_run(_run(CASES[:3], Outcome.PASSED, "2099-12-31T00:00:00+00:00"),
             tmp_path / "jax-cpu.json")
    sliced = _run(CASES[:1], Outcome.FAILED, "2025-01-02T00:00:00+00:00")
    dump_run(with_selection(sliced, {"pytest_args": ["-k", "case-0"], "catalogs": []}),
             tmp_path / "jax-cpu.partial-0123abcd.json")
    cells, problems, _ = _collect(tmp_path)
    assert cells["case-0"] == Outcome.FAILED  # the slice of 2025 is the newest real run
    assert any(p.startswith(f"{tmp_path / 'jax-cpu.json'}: field `environment.provenance"
                            ".date`") for p in problems)


def test_a_lone_run_file_dated_in_the_future_leaves_its_column_not_run(tmp_path: Path
                                                                       ) -> None:
    dump_run(_run(CASES[:3], Outcome.PASSED, "2099-01-01T00:00:00"), tmp_path / "jax-cpu.json")
    cells, _, env = _collect(tmp_path)
    assert Outcome.PASSED not in cells.values()
    assert not env.ran
    assert env.reason == "its run file jax-cpu.json is dated in the future (see problems)"


def test_a_date_within_the_clock_skew_is_kept_and_dates_compare_as_times(tmp_path: Path
                                                                         ) -> None:
    from matrix.results.partial import CLOCK_SKEW_S

    soon = CLOCK + timedelta(seconds=CLOCK_SKEW_S - 60)
    dump_run(_run(CASES[:3], Outcome.PASSED, soon.isoformat()), tmp_path / "jax-cpu.json")
    # 01:00+02:00 is 23:00 the day before in UTC: older than the full run, though its text
    # sorts after it; so it only adds the case the full run lacks.
    dump_run(_run(CASES[2:], Outcome.FAILED, "2025-01-03T01:00:00+02:00"),
             tmp_path / "jax-cpu.partial-0123abcd.json")
    cells, problems, env = _collect(tmp_path)
    assert env.ran
    assert not any("provenance.date" in p for p in problems)
    assert cells == {"case-0": Outcome.PASSED, "case-1": Outcome.PASSED,
                     "case-2": Outcome.PASSED, "case-3": Outcome.FAILED}


def test_future_date_reads_odd_dates_without_raising() -> None:
    from matrix.results.partial import future_date

    for date in ("", "yesterday", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-23:59"):
        run = _run(CASES[:1], Outcome.PASSED, date)
        assert future_date(Path("x.json"), run, CLOCK) is None or date.startswith("9999")
