"""Error clusters (the cells that did not match, grouped by one normalised cause) and pivots
(the share of cases that matched, per value of one axis and environment)."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from matrix.records import ExpectedAnswer
from matrix.report.views import PROBLEM, short_observation
from matrix.results import MATCHED, RAN, Matrix, Outcome, Result

# Normalising a message: the same cause reads the same whatever the ids, names and shapes.
_NORMALISE = (
    (re.compile(r"0x[0-9a-fA-F]+"), "<addr>"),
    # A quoted name starts and ends at a word boundary, so "it's" or "doesn't" stay whole.
    (re.compile(r"(?<!\w)'[^'\s][^']*'(?!\w)|\"[^\"]*\""), "<name>"),
    (re.compile(r"[(\[]\s*-?\d+(?:\s*,\s*-?\d+)*\s*,?\s*[)\]]"), "<shape>"),
    (re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?:e[-+]?\d+)?(?![\w])"), "<n>"),
)


def normalise_message(message: str) -> str:
    """`message` with addresses, quoted names, shapes and numbers made placeholders."""
    text = " ".join(message.split())
    for pattern, placeholder in _NORMALISE:
        text = pattern.sub(placeholder, text)
    return text


def error_signature(result: Result, expects_error: bool) -> str | None:
    """The normalised cause of a cell that did not match the reference; None if it matched.

    Errors read `<error type>: <normalised message>`; crashes and timeouts have their own
    signatures; silent divergences read `values where an error was expected` (with NaN
    rows, where there were), `NaN where values were expected` or `values differ from the
    reference`.
    """
    if result.outcome not in PROBLEM:
        return None
    obs = result.observed
    if obs.kind == "crash":
        return "crashed: " + normalise_message(obs.message or "the process died")
    if obs.kind == "timeout":
        return "timed out"
    if obs.kind == "not_run":
        return "no result: " + normalise_message(obs.message or "")
    if obs.kind == "error":
        return f"{obs.error_type or 'error'}: {normalise_message(obs.message or '')}"
    if expects_error:
        return "values where an error was expected" + (", NaN rows" if obs.nan_count else "")
    if obs.nan_count:
        return "NaN where values were expected"
    return "values differ from the reference"


@dataclass(frozen=True, kw_only=True)
class Cluster:
    """Cells that did not match the reference, grouped by one normalised signature."""

    signature: str
    results: list[Result]
    example: str  # one raw message (or observation) of the cluster

    @property
    def environments(self) -> Counter[str]:
        """Cells per environment."""
        return Counter(r.environment for r in self.results)

    @property
    def outcomes(self) -> Counter[Outcome]:
        """Cells per outcome."""
        return Counter(r.outcome for r in self.results)


def error_clusters(matrix: Matrix) -> list[Cluster]:
    """Every cell that did not match (`failed`, `xfailed`, `error`, `crashed`, `timeout`),
    grouped by `error_signature`, largest cluster first."""
    expects = {c.id: ExpectedAnswer.parse(c.expected).kind == "error" for c in matrix.cases}
    groups: dict[str, list[Result]] = {}
    for result in matrix.results:
        signature = error_signature(result, expects.get(result.case, False))
        if signature is not None:
            groups.setdefault(signature, []).append(result)
    clusters = [Cluster(signature=sig, results=cells,
                        example=cells[0].observed.message or short_observation(cells[0]))
                for sig, cells in groups.items()]
    return sorted(clusters, key=lambda c: -len(c.results))


@dataclass(frozen=True, kw_only=True)
class Pivot:
    """Share of cases that matched, per value of one axis × environment."""

    axis: str
    values: list[str | int]
    # (value, environment id) -> (matched, ran)
    counts: dict[tuple[str | int, str], tuple[int, int]]


PIVOT_MAX_VALUES = 40


def pivots(matrix: Matrix) -> list[Pivot]:
    """One pivot per case axis taking 2 to 40 values (group included), in catalog order."""
    values: dict[str, dict[str | int, None]] = {"group": {}}
    for case in matrix.cases:
        values["group"][case.group] = None
        for key, value in case.axes.items():
            values.setdefault(key, {})[value] = None
    axis_of = {c.id: c for c in matrix.cases}
    tally: dict[str, dict[tuple[str | int, str], list[int]]] = {k: {} for k in values}
    for result in matrix.results:
        info = axis_of.get(result.case)
        if info is None or result.outcome not in RAN:
            continue
        matched = result.outcome in MATCHED
        for key, value in (("group", info.group), *info.axes.items()):
            slot = tally[key].setdefault((value, result.environment), [0, 0])
            slot[0] += matched
            slot[1] += 1
    return [Pivot(axis=key, values=list(vals),
                  counts={k: (v[0], v[1]) for k, v in tally[key].items()})
            for key, vals in values.items() if 2 <= len(vals) <= PIVOT_MAX_VALUES]


def share(matched: int, ran: int) -> str:
    """`matched/ran (percent)`, `—` when nothing ran."""
    return f"{matched}/{ran} ({100 * matched / ran:.0f}%)" if ran else "—"
