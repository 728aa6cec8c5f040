"""End-to-end: the attacks of issue 23 on the result cache, on the real `run` session.

Each attack ran once, then a plain run followed. Before issue 23 the plain run reused what
the attack had stored (a judge replaced by a user catalog, `JAX_DEBUG_NANS`'s errors) or lost
cells (a damaged entry), or reran everything (a slice under other `XLA_FLAGS` emptied the
store). Here, after each attack, the plain run's cells are those of a `--no-cache` run, cell
for cell, and a slice under other variables leaves the other entries in place.

JAX on the CPU, a slice of five cases: an id equal to `input_dim` (JAX returns NaN rows where
the reference refuses: `mismatched`), in-range and negative ids.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from harness import harness_env

from matrix.records import Run
from matrix.results.io import load_run

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[1]
NAN_CASE = "embedding-values-rank2-int32-out_of_range-10-none-eager"
SLICE = (f"{NAN_CASE} or embedding-dtype-rank2-int32-in_range-none-eager or "
         "embedding-values-rank2-int32-negative-1-none-eager or "
         "embedding-values-rank2-int32-negative-11-none-eager or "
         "embedding-dtype-rank2-int64-in_range-none-eager")
#: A user catalog that adds no case but makes every cell of its process `matched`.
JUDGE_REPLACED = '''\
import matrix.oracle.judge
from matrix.results import Verdict

matrix.oracle.judge.judge = lambda want, observation: Verdict(status="matched")
CASES = []
'''


def _run(root: Path, *args: str, env: dict[str, str] | None = None) -> Run:
    """`nox -s run(jax-cpu) -- --output <root>/runs -k SLICE ...` with the test's cache."""
    variables = {**harness_env(root), **(env or {})}
    command = [sys.executable, "-m", "nox", "--noxfile", str(ROOT / "noxfile.py"),
               "-s", "run(jax-cpu)", "--", "--output", str(root / "runs"), "--jobs", "1",
               *args]
    if "-k" not in args:
        command += ["-k", SLICE]
    done = subprocess.run(command, cwd=ROOT, env=variables, capture_output=True, text=True,
                          timeout=1200, check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return load_run(root / "runs" / "jax-cpu.json")


def _cells(run: Run) -> dict[str, Any]:
    """Each cell's verdict and what was observed, without timings."""
    return {r.case: (r.verdict.status, r.verdict.cause, r.observed.kind,
                     r.observed.error_type, r.observed.shape, r.observed.dtype,
                     r.observed.nan_count, r.observed.max_abs_error)
            for r in run.results}


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The slice with the cache off: what every plain run must show."""
    run = _run(tmp_path_factory.mktemp("baseline"), "--no-cache")
    cells = _cells(run)
    assert len(cells) == 5
    assert cells[NAN_CASE][:3] == ("mismatched", "values_where_refused", "value")
    assert cells[NAN_CASE][6] == 4  # four NaN values: JAX's row for an id past the table
    return cells


def test_a_catalog_that_replaces_the_judge_never_reaches_a_plain_run(
        tmp_path: Path, baseline: dict[str, Any]) -> None:
    catalog = tmp_path / "judge_replaced.py"
    catalog.write_text(JUDGE_REPLACED, encoding="utf-8")
    polluted = _run(tmp_path, "--catalog", str(catalog))
    assert _cells(polluted)[NAN_CASE][0] == "matched"  # the catalog did what it says
    plain = _run(tmp_path)
    assert _cells(plain) == baseline
    assert polluted.environment.provenance["user_catalogs"][0]["path"] == str(catalog)
    assert plain.environment.provenance["user_catalogs"] == []


def test_jax_debug_nans_never_reaches_a_plain_run(
        tmp_path: Path, baseline: dict[str, Any]) -> None:
    debug = _run(tmp_path, env={"JAX_DEBUG_NANS": "1"})
    assert _cells(debug)[NAN_CASE][2:4] == ("error", "FloatingPointError")
    assert _cells(_run(tmp_path)) == baseline


def test_damaged_and_edited_entries_run_again_and_no_cell_is_lost(
        tmp_path: Path, baseline: dict[str, Any]) -> None:
    first = _run(tmp_path)
    assert _cells(first) == baseline
    entries = sorted((tmp_path / "cache" / "jax-cpu").rglob("*.json"))
    assert len(entries) == 5
    by_case = {json.loads(p.read_text())["case"]: p for p in entries}
    damaged = by_case["embedding-dtype-rank2-int32-in_range-none-eager"]
    damaged.write_bytes(damaged.read_bytes()[:40])
    edited = json.loads(by_case[NAN_CASE].read_text())
    edited["result"]["verdict"] = {"status": "matched"}
    by_case[NAN_CASE].write_text(json.dumps(edited))
    again = _run(tmp_path)
    assert _cells(again) == baseline
    assert again.environment.provenance["cache"]["reused"] == 3
    assert again.environment.provenance["cache"]["executed"] == 2


def test_a_slice_under_other_xla_flags_leaves_the_other_entries(
        tmp_path: Path, baseline: dict[str, Any]) -> None:
    _run(tmp_path)
    _run(tmp_path, "-k", NAN_CASE, env={"XLA_FLAGS": "--xla_cpu_enable_fast_math=false"})
    plain = _run(tmp_path)
    assert plain.environment.provenance["cache"]["executed"] == 0
    assert _cells(plain) == baseline
