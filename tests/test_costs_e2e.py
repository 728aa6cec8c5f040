"""End-to-end: a default torch run keeps its `jit_compile` cases to the sample, on the real
`run(torch-cpu)` session (`matrix/run/costs.py`, `matrix/run/selection.py`).

A slice of `index-ops-segment_max-rank1` (cheap cases: most refuse before compiling) run with
`--sample`, as bare `nox` runs the whole catalog: the cells of the cases the sample leaves
out are `not_run` with the reason and the command that runs them; every other case of the
slice ran. The same slice without `--sample` runs every case it names.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from harness import harness_env

from matrix.oracle.catalog import load_catalog
from matrix.records import Run
from matrix.results.io import load_run
from matrix.run import costs

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[1]
SLICE = "index-ops-segment_max-rank1 and jit_compile"


def _run(root: Path, name: str, *extra: str) -> Run:
    out = root / name
    done = subprocess.run(
        [sys.executable, "-m", "nox", "--noxfile", str(ROOT / "noxfile.py"), "-s",
         "run(torch-cpu)", "--", "--output", str(out), "--jobs", "1", "--no-cache", *extra,
         "-k", SLICE],
        cwd=ROOT, env=harness_env(root), capture_output=True, text=True, timeout=900,
        check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return load_run(next(out.glob("torch-cpu*.json")))


def test_a_default_run_keeps_the_costly_mode_to_its_sample(tmp_path: Path) -> None:
    catalog = load_catalog(())
    names = {c.id for c in catalog.cases
             if c.id.startswith("index-ops-segment_max-rank1-") and c.id.endswith("-jit_compile")}
    cut = costs.cut(catalog.cases, "torch-cpu", "torch", {costs.SAMPLE_VARIABLE: "1"})
    left_out = names & set(cut)
    assert left_out
    assert names - left_out

    sampled = _run(tmp_path, "sampled", "--sample")
    cells = {r.case: r for r in sampled.results}
    assert set(cells) == names
    not_run = {case for case, r in cells.items() if r.observed.kind == "not_run"}
    assert not_run == left_out
    cache = sampled.environment.provenance["cache"]
    assert cache["executed"] == len(names - left_out)  # a cut cell did not execute
    assert cache["not_run"] == len(left_out)
    for case in left_out:
        message = cells[case].observed.message or ""
        assert '"run(torch-cpu)" -- --full' in message, (case, message)

    named = _run(tmp_path, "named")  # a slice without --sample runs what it names
    assert {r.case for r in named.results if r.observed.kind != "not_run"} == names
