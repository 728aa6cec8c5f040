"""Tests of `matrix.partial`: a slice's run file is merged over the full run in the report.

No framework is imported: run files are built by hand and read back by `matrix.report`.
"""

from __future__ import annotations

from pathlib import Path

from cells import verdict_for

from matrix.report import collect
from matrix.results import (
    SCHEMA_VERSION,
    CaseInfo,
    EnvironmentInfo,
    Observation,
    Outcome,
    Result,
    Run,
    dump_run,
    with_selection,
)

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
