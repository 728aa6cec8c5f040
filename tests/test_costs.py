"""matrix.run.costs: measured costs, longest-first order, shards split by cost, the sample."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest

from matrix.run import costs


@dataclass(frozen=True)
class _Case:
    id: str
    axes: dict[str, Any] = field(default_factory=dict)


def _run_file(folder: Path, environment: str, results: list[Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{environment}.json").write_text(json.dumps({"results": results}),
                                                encoding="utf-8")


def test_measured_reads_the_durations_of_cells_that_ran(tmp_path: Path) -> None:
    _run_file(tmp_path, "torch-cpu", [
        {"case": "a", "outcome": "passed", "duration_s": 2.5},
        {"case": "b", "outcome": "failed", "duration_s": 0.5},
        {"case": "c", "outcome": "not_run", "duration_s": 0.0},
        {"case": "d", "outcome": "crashed", "duration_s": 30.0},
        {"case": "e", "outcome": "timeout", "duration_s": 360.0},
        {"case": "f", "outcome": "passed", "duration_s": None},
        "not a result",
    ])
    assert costs.measured("torch-cpu", tmp_path) == {"a": 2.5, "b": 0.5}
    assert costs.measured("jax-cpu", tmp_path) == {}


def test_a_bad_run_file_gives_no_costs_not_an_error(tmp_path: Path) -> None:
    (tmp_path / "torch-cpu.json").write_text("{truncated", encoding="utf-8")
    assert costs.measured("torch-cpu", tmp_path) == {}
    (tmp_path / "torch-cpu.json").write_text("[1, 2]", encoding="utf-8")
    assert costs.measured("torch-cpu", tmp_path) == {}


def test_the_published_torch_run_measures_its_jit_compile_cells_as_the_costly_ones() -> None:
    seconds = costs.measured("torch-cpu")
    compiled = [s for case, s in seconds.items() if case.endswith("-jit_compile")]
    eager = [s for case, s in seconds.items() if case.endswith("-eager")]
    assert len(compiled) > 500
    assert sum(compiled) > 20 * sum(eager)


def test_an_unmeasured_case_costs_the_median_of_its_mode() -> None:
    cases = [_Case("a", {"mode": "eager"}), _Case("b", {"mode": "eager"}),
             _Case("c", {"mode": "eager"}), _Case("d", {"mode": "eager"}),
             _Case("e", {"mode": "fit"})]
    estimated = costs.estimate(cases, {"a": 1.0, "b": 2.0, "c": 9.0})
    assert estimated == {"a": 1.0, "b": 2.0, "c": 9.0, "d": 2.0, "e": costs.DEFAULT_COST_S}


def test_longest_first_keeps_the_catalog_order_of_equal_costs() -> None:
    order = costs.longest_first(["a", "b", "c", "d"], {"a": 1.0, "b": 5.0, "c": 1.0, "d": 3.0})
    assert order == ["b", "d", "a", "c"]


def test_shards_split_by_cost_take_about_the_same_time() -> None:
    cost = {"big": 10.0, **{f"s{n}": 1.0 for n in range(10)}}
    ids = [*(f"s{n}" for n in range(10)), "big"]
    split = costs.balanced_shards(ids, cost, 2)
    assert sorted(split) == sorted(ids)
    loads = [sum(cost[c] for c, shard in split.items() if shard == n) for n in (1, 2)]
    assert loads == [10.0, 10.0]
    # Every N-th case would have put the big one beside five small ones: 15 against 5.
    assert split["big"] == 1
    assert all(split[f"s{n}"] == 2 for n in range(10))


def test_every_case_is_in_exactly_one_shard_and_the_split_is_repeatable() -> None:
    seconds = costs.measured("torch-cpu")
    ids = sorted(seconds)
    split = costs.balanced_shards(ids, seconds, 3)
    assert split == costs.balanced_shards(ids, seconds, 3)
    assert set(split.values()) == {1, 2, 3}
    loads = [sum(seconds[c] for c, s in split.items() if s == n) for n in (1, 2, 3)]
    assert max(loads) <= 4 / 3 * sum(seconds.values()) / 3 + max(seconds.values())
    with pytest.raises(ValueError, match="at least 1"):
        costs.balanced_shards(ids, seconds, 0)


def test_the_sample_covers_every_value_of_every_sampled_axis() -> None:
    cases = [
        _Case("lstm-int32", {"subject": "layers.LSTM", "input_dtype": "int32", "item": 1}),
        _Case("lstm-int64", {"subject": "layers.LSTM", "input_dtype": "int64", "item": 2}),
        _Case("gru-int32", {"subject": "layers.GRU", "input_dtype": "int32", "item": 3}),
        _Case("gru-int64", {"subject": "layers.GRU", "input_dtype": "int64", "item": 4}),
    ]
    cost = {"lstm-int32": 15.0, "lstm-int64": 25.0, "gru-int32": 9.0, "gru-int64": 8.0}
    chosen = costs.sample(cases, cost)
    # gru-int64 covers two values for 8 s; then LSTM and int32 together for 15 s
    # (2 values / 15 s beats gru-int32's 1 / 9 s).
    assert chosen == ["gru-int64", "lstm-int32"]
    covered = {(a, str(c.axes[a])) for c in cases if c.id in chosen
               for a in costs.SAMPLE_AXES if a in c.axes}
    assert covered == {(a, str(c.axes[a])) for c in cases for a in costs.SAMPLE_AXES
                       if a in c.axes}


def test_cut_leaves_out_only_measured_unsampled_uncached_cases(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    cases = [_Case(f"c{n}", {"subject": "layers.LSTM", "mode": "jit_compile"})
             for n in range(4)]
    cases += [_Case("new", {"subject": "layers.LSTM", "mode": "jit_compile"}),
              _Case("e0", {"subject": "layers.LSTM", "mode": "eager"})]
    _run_file(tmp_path, "torch-cpu", [
        {"case": f"c{n}", "outcome": "passed", "duration_s": 5.0 - n} for n in range(4)
    ] + [{"case": "e0", "outcome": "passed", "duration_s": 0.1}])
    monkeypatch.setenv(costs.MEASURED_VARIABLE, str(tmp_path))
    on = {costs.SAMPLE_VARIABLE: "1"}
    cut = costs.cut(cases, "torch-cpu", "torch", on, keep=["c1"])
    # c3 is the cheapest cover; "new" was never measured; c1 is served by the cache.
    assert sorted(cut) == ["c0", "c2"]
    assert all("not_run" not in r and '"run(torch-cpu)" -- --full' in r for r in cut.values())
    assert costs.cut(cases, "torch-cpu", "torch", {costs.SAMPLE_VARIABLE: "0"}) == {}
    assert costs.cut(cases, "jax-cpu", "jax", on) == {}


def _report(nodeid: str, outcome: Literal["passed", "failed", "skipped"] = "passed",
            when: Any = "call") -> pytest.TestReport:
    """A pytest report as xdist hands it to the controller (`when` `???`, outside pytest's
    type: xdist's report of a crashed worker)."""
    return pytest.TestReport(nodeid, ("matrix/run/test_cases.py", 0, "test_case"), {}, outcome,
                             None, when, user_properties=[])


def test_the_progress_line_counts_divergences_not_failures(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from matrix.run.progress import _Progress

    monkeypatch.setenv(costs.MEASURED_VARIABLE, str(tmp_path))  # nothing measured
    progress = _Progress("jax-cpu")
    ids = [f"matrix/run/test_cases.py::test_case[c{n}]" for n in range(5)]
    progress.total, progress.cost = 5, dict.fromkeys(ids, 1.0)
    assert progress.line(0.0) == "[jax-cpu] 0/5 cases, none diverged"
    progress.pytest_runtest_logreport(_report(ids[0]))
    progress.pytest_runtest_logreport(_report(ids[1], "failed"))
    progress.pytest_runtest_logreport(_report(ids[2], "failed"))
    progress.pytest_runtest_logreport(_report(ids[3], "skipped", when="setup"))
    progress.pytest_runtest_logreport(_report(ids[4], "failed", when="???"))
    line = progress.line(progress.started + 60)
    assert line == "[jax-cpu] 5/5 cases, 2 diverged, 1 crashed, 1 not run"
    assert "failed" not in line
    assert len(line) <= 80
