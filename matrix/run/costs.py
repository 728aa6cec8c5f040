"""What a case costs to run, measured, and the three uses of it: order, shards, the sample.

The measured cost of a case in an environment is its `duration_s` (setup, call and teardown,
in seconds) in the published run file of that environment, `reports/runs/<environment>.json`
(`KCM_MEASURED_RUNS` names another folder), for cells that ran: a cell that was `not_run` or
`skipped`, that crashed or timed out measures nothing (a cell reused from the cache keeps the
duration of the run that computed it). A case with no measured cost
(new in the catalog, a user's case, an environment never published) is given the median of
its mode's measured costs, or 1 s where there is none.

1. **Order** (`longest_first`): a run sends its cases longest first, so that its xdist workers
   finish together instead of one waiting on the last slow compile.
2. **Shards** (`balanced_shards`): `--shard I/N` takes the cases the longest-processing-time
   rule gives shard I (each case, longest first, to the shard with the least cost so far), so
   CI jobs of one environment take about the same time; every shard computes the same split
   from the same catalog and the same run file.
3. **The sample** (`sample`, `cut`): by default (bare `nox`, a `run` session with no pytest
   arguments, or a `-k` slice given `--sample`) a `run` session of a backend in `SAMPLED` runs
   only a sample of the cases of the modes named there, and records every other cell of those
   modes `not_run` with the reason (`--full` runs them all, and so does a `-k` slice without
   `--sample`; a cell the result cache holds is reused, never cut). PyTorch's `jit_compile`
   cells are 593 of its 2,037 cases but 2,372 of its 2,392 s of cell time on 2 cores
   (`reports/runs/torch-cpu.json`, run 2026-12-01): Keras wraps the predict step in
   `torch.compile` (Inductor), and Dynamo and AOT autograd trace Keras's Python again for every
   new model, about 4 s a case, 25 s for an LSTM; warm Inductor caches save a third of it and
   nothing else keeps the observations identical (`benchmarks/bench_compile.py`,
   `benchmarks/README.md`). The sample is the cases a greedy cover picks, cheapest per newly
   covered value first, until every value of every axis in `SAMPLE_AXES` that the mode's cases
   take appears in at least one sampled case: every subject, layer, input dtype, rank, value
   class, mask, dtype policy... is compiled at least once.

Only the standard library is imported (the noxfile, `matrix.run.cache` and the pytest plugin use
it). A sample and an order change which cells run and when, never a cell's answer: nothing
here is part of a cell's cache key (the module's source is, as every harness module's).
"""

from __future__ import annotations

import json
import os
import statistics
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from matrix import variables as kcm

ROOT = Path(__file__).resolve().parents[2]
#: The folder of the published run files whose `duration_s` are the measured costs.
MEASURED_DIR = ROOT / "reports" / "runs"
#: Names another folder of run files to read costs from (tests, a fork's own figures).
MEASURED_VARIABLE = kcm.MEASURED_RUNS.name
#: Set to `1` by the `run` session (unless `--full` or a `-k` slice): cut to the sample.
SAMPLE_VARIABLE = kcm.SAMPLE.name
#: The cost of a case when nothing of its mode was ever measured (seconds).
DEFAULT_COST_S = 1.0
#: Outcomes whose `duration_s` is not the cost of running the case.
_UNMEASURED = frozenset({"not_run", "skipped", "crashed", "timeout"})

#: Backend -> {mode: why its cases are sampled}: the modes a default run samples.
SAMPLED: Mapping[str, Mapping[str, str]] = {
    "torch": {
        "jit_compile": (
            "cut from the default run: torch.compile traces and compiles every case afresh, "
            "about 4 s a case on 2 cores, so the default run compiles a sample that covers "
            "every subject, layer, dtype, rank, value class, mask and policy once; "
            "`nox -s \"run({environment})\" -- --full` runs this cell"),
    },
}
#: The axes whose values the sample covers: those most cases share (a family's own axes,
#: such as `item` or `variant`, name one case each and would take the whole mode).
SAMPLE_AXES: tuple[str, ...] = (
    "subject", "layer", "consumer", "op", "input_dtype", "rank", "values", "mask",
    "dtype_policy", "output_mode", "padding", "unroll", "return_sequences", "go_backwards",
)


class CaseLike(Protocol):
    """What this module reads of a case (`cases.Case`)."""

    @property
    def id(self) -> str: ...

    @property
    def axes(self) -> Mapping[str, Any]: ...


def measured(environment_id: str, folder: Path | None = None) -> dict[str, float]:
    """Case id -> measured seconds in the published run file of `environment_id`.

    Empty when the file is missing, unreadable or not a run file: costs are a schedule,
    never an answer, so a bad file only makes them estimates.
    """
    if folder is None:
        raw = os.environ.get(MEASURED_VARIABLE)
        folder = Path(raw) if raw else MEASURED_DIR
    path = folder / f"{environment_id}.json"
    try:
        if not path.is_file() or path.stat().st_size > 512 * 2**20:
            return {}
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    results = data.get("results") if isinstance(data, dict) else None
    out: dict[str, float] = {}
    for result in results if isinstance(results, list) else ():
        if not isinstance(result, dict) or result.get("outcome") in _UNMEASURED:
            continue
        case, seconds = result.get("case"), result.get("duration_s")
        if isinstance(case, str) and isinstance(seconds, (int, float)) and seconds >= 0:
            out[case] = float(seconds)
    return out


def estimate(cases: Sequence[CaseLike], seconds: Mapping[str, float]) -> dict[str, float]:
    """Case id -> cost: measured where it was, else the median of its mode's measured costs,
    else `DEFAULT_COST_S`."""
    by_mode: dict[str, list[float]] = {}
    for case in cases:
        if case.id in seconds:
            by_mode.setdefault(str(case.axes.get("mode")), []).append(seconds[case.id])
    medians = {mode: statistics.median(values) for mode, values in by_mode.items()}
    return {case.id: seconds.get(case.id, medians.get(str(case.axes.get("mode")),
                                                      DEFAULT_COST_S))
            for case in cases}


def longest_first(ids: Sequence[str], costs: Mapping[str, float]) -> list[str]:
    """`ids` by cost, longest first; equal costs keep their order (the catalog's)."""
    return sorted(ids, key=lambda case: -costs.get(case, DEFAULT_COST_S))


def balanced_shards(ids: Sequence[str], costs: Mapping[str, float], count: int
                    ) -> dict[str, int]:
    """Case id -> shard (1 to `count`) by the longest-processing-time rule.

    Each case, longest first, goes to the shard whose cases cost least so far (the lower
    shard on a tie), so no shard costs more than 4/3 of the best split (Graham, 1969).

    Raises:
        ValueError: `count` < 1.
    """
    if count < 1:
        raise ValueError(f"a shard count is at least 1. Received: {count}")
    loads = [0.0] * count
    out: dict[str, int] = {}
    for case in longest_first(ids, costs):
        shard = min(range(count), key=lambda n: (loads[n], n))
        loads[shard] += costs.get(case, DEFAULT_COST_S)
        out[case] = shard + 1
    return out


def _values(case: CaseLike) -> set[tuple[str, str]]:
    return {(axis, str(case.axes[axis])) for axis in SAMPLE_AXES if axis in case.axes}


def sample(cases: Sequence[CaseLike], costs: Mapping[str, float]) -> list[str]:
    """The ids of a greedy cover of `cases`: every (axis, value) of `SAMPLE_AXES` that some
    case has is had by a sampled one. Picks, again and again, the case that covers the most
    new values per second of cost (ties: the lower id), so the result depends only on the
    cases and their costs.
    """
    left = {case.id: _values(case) for case in cases}
    wanted = set().union(*left.values()) if left else set()
    chosen: list[str] = []
    while wanted:
        best = max(sorted(left), key=lambda case: (
            len(left[case] & wanted) / max(costs.get(case, DEFAULT_COST_S), 0.05)))
        chosen.append(best)
        wanted -= left.pop(best)
    return chosen


def cut(cases: Sequence[CaseLike], environment_id: str, backend: str | None,
        variables: Mapping[str, str] | None = None, *, keep: Iterable[str] = ()
        ) -> dict[str, str]:
    """Case id -> the `not_run` reason, for the cases a default run leaves out.

    Nothing when `variables` (default `os.environ`) does not set `SAMPLE_VARIABLE` to `1`
    or `backend` samples no mode. A case with no measured cost is never cut (it has not been
    seen to be costly), nor one in `keep` (the cells the result cache serves).
    """
    variables = os.environ if variables is None else variables
    modes = SAMPLED.get(backend or "", {})
    if variables.get(SAMPLE_VARIABLE) != "1" or not modes:
        return {}
    seconds = measured(environment_id)
    costs = estimate(cases, seconds)
    kept = set(keep)
    out: dict[str, str] = {}
    for mode, reason in modes.items():
        of_mode = [case for case in cases if case.axes.get("mode") == mode]
        chosen = set(sample(of_mode, costs))
        text = reason.replace("{environment}", environment_id)
        out.update({case.id: text for case in of_mode
                    if case.id not in chosen and case.id in seconds and case.id not in kept})
    return out
