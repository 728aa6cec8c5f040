"""The README's measured timings are the figures the benchmarks recorded, and meet its goals.

`benchmarks/bench_matrix.py` writes `benchmarks/results/rerun.json` (`--rerun N`) and
`main_job.json` (`--main-job`); the README's "Timing, measured" table quotes them. A rerun
of a benchmark that changes a figure without the README (or the other way round), or a
recorded figure over a goal the README says is met, fails here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


def _timing_section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("**Timing, measured**")
    return text[start:text.index("\n## ", start)]


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((RESULTS / name).read_text(encoding="utf-8"))
    return data


def _rows(section: str) -> dict[str, str]:
    """Table rows of the section by their first cell's opening words."""
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) >= 3 and not set(cells[0]) <= {"-"}:
            rows[cells[0]] = cells[1]
    return rows


def _row(rows: dict[str, str], start: str) -> str:
    found = [wall for first, wall in rows.items() if first.startswith(start)]
    assert len(found) == 1, (start, list(rows))
    return found[0]


def test_the_no_change_reruns_are_the_recorded_ones_and_within_30_s() -> None:
    rerun = _load("rerun.json")
    walls = [float(r["wall_s"]) for r in rerun["runs"]]
    assert len(walls) >= 2
    assert all(r["rc"] == 0 for r in rerun["runs"])
    assert rerun["goal_s"] == 30.0
    assert rerun["within_goal"] is True
    assert max(walls) <= rerun["goal_s"]  # every rerun, the first included
    rows = _rows(_timing_section())
    first = _row(rows, "bare `nox` again, the first time")
    assert first.startswith(f"{walls[0]:.1f} s"), (first, walls)
    later = _row(rows, "bare `nox` again, nothing changed")
    assert later.startswith(", ".join(f"{w:.1f} s" for w in walls[1:])), (later, walls)


def test_the_parallel_ratio_is_the_recorded_one_and_within_0_75() -> None:
    main_job = _load("main_job.json")
    serial, parallel = main_job["serial"]["wall_s"], main_job["parallel"]["wall_s"]
    assert main_job["serial"]["rc"] == main_job["parallel"]["rc"] == 0
    assert round(parallel / serial, 3) == main_job["parallel_ratio"]
    assert main_job["parallel_ratio"] <= 0.75
    wall = _row(_rows(_timing_section()), "TensorFlow and JAX columns, cache off")
    assert wall == (f"{serial:.0f} s against {parallel:.0f} s "
                    f"({main_job['parallel_ratio']:.2f}×)"), wall


def test_the_cold_run_the_ratio_is_taken_against_is_the_tables_first_row() -> None:
    section = _timing_section()
    cold = _row(_rows(section), "the README's main command on a fresh checkout")
    match = re.fullmatch(r"(\d+) min (\d+) s", cold)
    assert match is not None, cold
    minutes, seconds = map(int, match.groups())
    walls = [float(r["wall_s"]) for r in _load("rerun.json")["runs"]]
    ratio = walls[0] / (minutes * 60 + seconds)
    assert ratio <= 0.1  # the goal: a no-change rerun at most 0.1 x a full run
    assert f"({ratio:.3f}× the cold run)" in section, ratio
