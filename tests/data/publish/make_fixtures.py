"""Writes the publish fixtures beside this file: small hand-made run files and a previous site.

`runs/`: `jax-cpu` (ran: 2 matched, 2 mismatched; `c4` has `values: out_of_range`, which the
limitation `jax-take-fills-nan` covers on jax, so it is xfailed at merge, and `c3` failed),
`torch-cpu` in two shards (all passed), no file for `tensorflow-cpu` nor the GPU
environments. `previous/`: the site as published the day before (jax-cpu's `c3` passed then,
so today it regressed), with one run in its history. Regenerate with
`python tests/data/publish/make_fixtures.py`. The previous site is in the form published
before issue 27 (one `compatibility.json` of schema_version 2), so that reading it stays
tested.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

import pydantic_core  # noqa: E402

from matrix.records import (  # noqa: E402
    SCHEMA_VERSION,
    CaseInfo,
    EnvironmentInfo,
    Matrix,
    Observation,
    Outcome,
    Result,
    Run,
    Verdict,
)
from matrix.report import declared_environments  # noqa: E402
from matrix.report.views import GENERATOR  # noqa: E402
from matrix.results.io import MATRIX_ADAPTER, dump_run  # noqa: E402
from matrix.results.merge import merge_runs  # noqa: E402
from matrix.results.outcomes import outcome_of  # noqa: E402
from matrix.results.triage import apply_limitations  # noqa: E402

CASES = [CaseInfo(id=f"c{i}", group="fixture", description=f"case {i}",
                  axes={"subject": "layers.Embedding", "layer": "Embedding", "rank": i,
                        **({"values": "out_of_range"} if i == 4 else {})},
                  subject="layers.Embedding") for i in range(1, 5)]
VALUE = Observation(kind="value", shape=[2, 4], dtype="float32", max_abs_error=0.0,
                    nan_count=0, device="cpu:0")


def _run(env_id: str, backend: str, matched: dict[str, bool], date: str,
         shard: str | None = None) -> Run:
    """A run file: raw verdicts, and the outcome with no limitation applied."""
    cases = [c for c in CASES if c.id in matched]
    results = []
    for c in cases:
        # c4 (an id past the table) differs as JAX does: NaN rows where the reference
        # refuses, what `jax-take-fills-nan-embedding` explains; c3 differs in its values.
        refused = c.id == "c4"
        verdict = Verdict(status="matched") if matched[c.id] else Verdict(
            status="mismatched", cause="values_where_refused",
            detail="silent divergence: the reference refuses this input but the backend "
                   "returned values of shape [2, 4], 4 NaN") if refused else Verdict(
            status="mismatched", cause="values_differ",
            detail="values differ from the reference: max abs error 1 > tolerance 0, 0 NaN")
        results.append(Result(case=c.id, environment=env_id,
                              outcome=outcome_of(verdict, False), verdict=verdict,
                              observed=VALUE if matched[c.id] else
                              Observation(kind="value", shape=[2, 4], dtype="float32",
                                          max_abs_error=None if refused else 1.0,
                                          nan_count=4 if refused else 0, device="cpu:0"),
                              duration_s=0.01))
    env = EnvironmentInfo(id=env_id, backend=backend, device="cpu", ran=True,
                          versions={"keras": "3.15.1", backend: "1.0"},
                          provenance={"date": date, "git_commit": "f" * 40, "shard": shard})
    return Run(schema_version=SCHEMA_VERSION, environment=env, cases=cases, results=results)


def main() -> None:
    """Rewrites `runs/` and `previous/`."""
    for name in ("runs", "previous"):
        shutil.rmtree(HERE / name, ignore_errors=True)
    today, yesterday = "2026-11-29T03:00:00+00:00", "2026-11-28T03:00:00+00:00"
    p, f = True, False
    dump_run(_run("jax-cpu", "jax", {"c1": p, "c2": p, "c3": f, "c4": f}, today),
             HERE / "runs" / "jax-cpu.json")
    dump_run(_run("torch-cpu", "torch", {"c1": p, "c3": p}, today, "1/2"),
             HERE / "runs" / "torch-cpu.shard-1-of-2.json")
    dump_run(_run("torch-cpu", "torch", {"c2": p, "c4": p}, today, "2/2"),
             HERE / "runs" / "torch-cpu.shard-2-of-2.json")

    before = [_run("jax-cpu", "jax", {"c1": p, "c2": p, "c3": p, "c4": f}, yesterday),
              _run("torch-cpu", "torch", {"c1": p, "c2": p, "c3": p, "c4": p}, yesterday)]
    matrix = apply_limitations(merge_runs(before, declared_environments(), yesterday))
    assert {(r.case, r.environment): r.outcome for r in matrix.results}[("c4", "jax-cpu")] \
        is Outcome.XFAILED
    previous = HERE / "previous"
    entry = previous / "history" / "2026-11-28-aaaaaaa"
    entry.mkdir(parents=True)
    (previous / "compatibility.json").write_text(_single_file(matrix), encoding="utf-8")
    shutil.copy2(previous / "compatibility.json", entry / "compatibility.json")
    counts = {e.id: {"passed": 0, "ran": 0, "total": 4, "ran_env": False,
                     "reason": "no run file"} for e in matrix.environments}
    counts["jax-cpu"] = {"passed": 3, "ran": 4, "total": 4, "ran_env": True, "reason": None}
    counts["torch-cpu"] = {"passed": 4, "ran": 4, "total": 4, "ran_env": True, "reason": None}
    rows = [{"id": entry.name, "date": yesterday, "commit": "a" * 40, "run_url": None,
             "environments": counts, "regressions": None, "path": f"history/{entry.name}/",
             "has_diff": False}]
    (previous / "history" / "index.json").write_text(json.dumps(rows, indent=1) + "\n",
                                                      encoding="utf-8")


def _single_file(matrix: Matrix) -> str:
    """The matrix as published before issue 27: one file of schema_version 2 (the record as
    pydantic dumps it, `generator` second, indented), which a publish still diffs against."""
    data = MATRIX_ADAPTER.dump_python(matrix)
    ordered = {"schema_version": data.pop("schema_version"), "generator": GENERATOR, **data}
    return pydantic_core.to_json(ordered, indent=1, inf_nan_mode="strings").decode() + "\n"


if __name__ == "__main__":
    main()
