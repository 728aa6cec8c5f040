"""The README's measured timings are the figures the benchmarks recorded, and meet its goals.

`benchmarks/bench_cold.py` writes `benchmarks/results/cold_run.json` (the README's main
command on a fresh clone, then no-change reruns), `benchmarks/bench_matrix.py`
`main_job.json` (`--main-job`); the README's first lines and its "Timing, measured" table
quote them. A rerun
of a benchmark that changes a figure without the README (or the other way round), or a
recorded figure over a goal the README says is met, fails here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


def _timing_section() -> str:
    text = (ROOT / "docs" / "reruns-and-cache.md").read_text(encoding="utf-8")
    start = text.index("**Timing, measured**")
    end = text.find("\n## ", start)
    return text[start:end if end >= 0 else None]


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


def _min_s(seconds: float) -> str:
    """`9 min 7 s`, `31 s`: how the README writes a wall time."""
    whole = round(seconds)
    return f"{whole // 60} min {whole % 60} s" if whole >= 60 else f"{whole} s"


def test_the_no_change_reruns_are_the_recorded_ones_and_a_missed_goal_is_said() -> None:
    """Every rerun with all five columns up to date stays within 30 s, in every recorded run;
    the first rerun (OpenVINO's crashing cells run again until each crashed twice) is quoted
    as it was, with its spread."""
    cold = _load("cold_run.json")
    walls = [float(r["wall_s"]) for r in cold["reruns"]]
    assert len(walls) >= 2
    assert all(r["rc"] == 0 for r in cold["reruns"])
    assert cold["rerun_goal_s"] == 30.0
    bench = " ".join((ROOT / "benchmarks" / "README.md").read_text(encoding="utf-8").split())
    for run in cold["earlier"]:  # an earlier run over the goal is named over it, with why
        if run["reruns_s"][-1] > cold["rerun_goal_s"]:
            assert f"{run['reruns_s'][-1]} s, **over the 30-s goal**" in bench, run
    head = _front()
    if walls[-1] <= cold["rerun_goal_s"]:
        # the last rerun: every column (no pytest) and the report (`--if-changed`) up to date
        assert cold["reruns"][-1]["up_to_date"] == 6
        assert cold["reruns"][-1]["ran_the_catalog"] == 0
    else:  # a goal missed is said, never hidden: the README names it
        assert "**over the 30-s goal**" in head
    rows = _rows(_timing_section())
    first = _row(rows, "bare `nox` again, the first time")
    assert first.startswith(f"{walls[0]:.1f} s"), (first, walls)
    later = _row(rows, "bare `nox` again, nothing changed")
    assert later.startswith(", ".join(f"{w:.1f} s" for w in walls[1:])), (later, walls)
    assert f"**{walls[0]:.0f} s**, then **{walls[1]:.0f} s**" in head, walls
    firsts = sorted(r["reruns_s"][0] for r in cold["earlier"])
    lasts = sorted(r["reruns_s"][-1] for r in cold["earlier"])
    assert (f"({firsts[0]:.0f} to {firsts[-1]:.0f} s and {lasts[0]:.0f} to {lasts[-1]:.0f} s "
            "before;") in head


def _front() -> str:
    """The README up to its first section: what a new user reads first."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return " ".join(text[:text.index("\n## ")].split())


def test_the_cold_main_job_is_the_recorded_one_and_says_how_often_it_met_its_goal() -> None:
    """Issue 25's goals, from the recorded runs of `benchmarks/bench_cold.py` on 2 cores: the
    README's main command on a fresh clone within 20 min with the keras.ops family (10 min
    for the runs before it; in how many runs the README says),
    the PyTorch column within twice the TensorFlow column, `git status` clean after; the
    README quotes those figures."""
    cold = _load("cold_run.json")
    assert cold["rc"] == 0
    assert cold["git_status_clean"] is True
    assert cold["machine"]["cpus"] == 2
    assert cold["torchinductor_cache"] == "empty"
    assert cold["keras_json_before"] is False
    assert cold["goal_min"] == 20.0  # with the keras.ops family (10 min for the runs before)
    assert cold["within_goal"] is (cold["wall_s"] <= cold["goal_min"] * 60)
    # The goal is stated as it held: in how many of the recorded runs (a shared machine).
    runs = [cold, *cold["earlier"]]
    met = sum(1 for r in runs if r["within_goal"])
    assert met >= 1
    assert all(r["rc"] == 0 for r in runs)
    sessions = cold["sessions"]
    assert sessions["run(torch-cpu)"] <= 2 * sessions["run(tensorflow-cpu)"]
    head = _front()
    assert cold["command"] in (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"took **{_min_s(cold['wall_s'])}** on a fresh clone" in head, _min_s(cold["wall_s"])
    before = sorted(r["wall_s"] for r in cold["earlier"])
    assert (f"{_min_s(before[0])} to {_min_s(before[-1])} in the {len(before)} runs before it"
            in head)
    assert f"within its goal in {met} of {len(runs)} runs" in head
    names = {"TensorFlow": "tensorflow", "JAX": "jax", "PyTorch": "torch", "NumPy": "numpy",
             "OpenVINO": "openvino"}
    for name, backend in names.items():
        assert f"{name} {_min_s(sessions[f'run({backend}-cpu)'])}" in head, name
    assert f"report {_min_s(sessions['report'])}" in head
    row = _row(_rows(_timing_section()), "the README's main command on a fresh checkout")
    assert row == _min_s(cold["wall_s"]), row
    # The larger machine's figure is an estimate from this run, and says so: the time
    # outside pytest as measured, the time in pytest halved (4 workers instead of 2) at best,
    # or scaled as one worker to two scaled on this machine (main_job.json).
    inside = sum(cold["catalog_s"].values())
    outside = cold["wall_s"] - inside
    ratio = _load("main_job.json")["parallel_ratio"]
    low, high = round((outside + inside / 2) / 60), round((outside + inside * ratio) / 60)
    said = f"about **{low} min**" if low == high else f"about **{low} to {high} min**"
    assert f"expect {said}: an estimate, not measured" in head, said
    # benchmarks/README.md quotes the same run
    bench = " ".join((ROOT / "benchmarks" / "README.md").read_text(encoding="utf-8").split())
    assert f"**{cold['wall_s']} s** ({_min_s(cold['wall_s'])})" in bench
    assert f"pytest and the folds {inside:.1f} s of it" in bench
    for backend in ("tensorflow", "jax", "torch", "numpy", "openvino"):
        assert f" {sessions[f'run({backend}-cpu)']} s" in bench, backend


def test_the_sample_the_readme_states_is_the_one_a_default_torch_run_takes() -> None:
    from matrix.oracle.catalog import load_catalog
    from matrix.run import costs

    catalog = load_catalog(())
    jit = [c for c in catalog.cases if c.axes.get("mode") == "jit_compile"]
    cut = costs.cut(catalog.cases, "torch-cpu", "torch", {costs.SAMPLE_VARIABLE: "1"})
    seconds = costs.measured("torch-cpu")
    total = sum(seconds.get(c.id, 0.0) for c in jit)
    kept = [c for c in jit if c.id not in cut]
    kept_s = sum(seconds.get(c.id, 0.0) for c in kept)
    never = [c for c in kept if c.id not in seconds]
    head = _front()
    assert (f"{len(kept)} of {len(jit)} (a `torch.compile` each; {kept_s:.0f} of their "
            f"{total:,.0f} s of cell time in the published torch run), "
            f"{len(kept) - len(never)} chosen to cover") in head
    assert f"and {len(never)} never measured; the other {len(cut)} cells say `not run`" in head
    left = total - kept_s
    assert (f"({left:,.0f} s of cell time, about {round(left / 2 / 60)} min more on two "
            "workers)") in head
    # the timed cold run ran this sample, and the timing table says so
    cold = _load("cold_run.json")
    assert cold["left_out_by_the_sample"] == {"run(torch-cpu)": len(cut)}
    row = [line for line in _timing_section().splitlines()
           if line.startswith("| the README's main command on a fresh checkout")]
    assert f"({len(kept)} of its {len(jit)} `jit_compile` cases: the sample)" in row[0]


def test_the_parallel_ratio_is_the_recorded_one_and_within_0_75() -> None:
    main_job = _load("main_job.json")
    serial, parallel = main_job["serial"]["wall_s"], main_job["parallel"]["wall_s"]
    assert main_job["serial"]["rc"] == main_job["parallel"]["rc"] == 0
    assert round(parallel / serial, 3) == main_job["parallel_ratio"]
    assert main_job["parallel_ratio"] <= 0.75
    wall = _row(_rows(_timing_section()), "TensorFlow and JAX columns, cache off")
    assert wall == (f"{serial:.0f} s against {parallel:.0f} s "
                    f"({main_job['parallel_ratio']:.2f}×)"), wall


def test_the_first_rerun_is_at_most_a_tenth_of_the_cold_run() -> None:
    cold = _load("cold_run.json")
    ratio = cold["reruns"][0]["wall_s"] / cold["wall_s"]
    # the goal: a no-change rerun at most 0.1 x a full run; a miss is said
    assert ratio <= 0.1 or "over the goal of 0.1×" in _timing_section(), ratio
    assert f"({ratio:.3f}× the cold run)" in _timing_section(), ratio


def test_the_page_figures_are_the_benchmarks_and_meet_the_budget() -> None:
    """docs/report.md quotes `benchmarks/results/page.json` (`bench_page.py`); both pages ship
    a first load under 1 MB with DOMContentLoaded under 1 s (issue 27)."""
    figures = _load("page.json")
    text = (ROOT / "docs" / "report.md").read_text(encoding="utf-8")
    section = text[text.index("**Page, measured**"):]
    rows = _rows(section)
    for name in ("today", "synthetic"):
        page = figures[name]
        assert page["within_budget"]
        assert page["first_load_bytes"] < figures["budget"]["first_load_bytes"]
        assert page["dom_content_loaded_ms"] < figures["budget"]["dom_content_loaded_ms"]
        assert page["search_rows"] > 0
        assert rows[name] == f"{page['cases']} × {page['environments']}"
        line = next(line for line in section.splitlines() if line.startswith(f"| {name} |"))
        assert f"| {page['first_load_bytes']} bytes |" in line
        assert f"| {page['data_files']}, {page['data_bytes']} bytes |" in line
        assert f"| {page['dom_content_loaded_ms']} ms | {page['search_to_rows_ms']} ms |" in line
    assert figures["synthetic"]["cases"] >= 10_000
    assert figures["synthetic"]["environments"] >= 14
