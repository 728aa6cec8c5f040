"""What a merged matrix says across its columns: divergent cases and silent divergences."""

from __future__ import annotations

from matrix.records import Matrix, Outcome, Result
from matrix.results.outcomes import MATCHED, RAN


def cell_signature(result: Result) -> tuple[str, bool, bool]:
    """What a cell did, coarsely: (observation kind, matched the reference, held NaN).

    Two environments that ran a case disagree when their signatures differ.
    """
    return (result.observed.kind, result.outcome in MATCHED, bool(result.observed.nan_count))


def divergent_cases(matrix: Matrix) -> list[str]:
    """Case ids on which environments of one channel that ran disagree, in catalog order
    (a case with no reference whose backends answered differently, `disagreed`, included).

    Environments are compared within a version channel (`latest`, `nightly`, `minimum`), so a
    difference between backends counts, and one between Keras versions alone does not.
    """
    channel = {e.id: e.channel for e in matrix.environments}
    seen: dict[tuple[str, str], set[tuple[str, bool, bool]]] = {}
    for result in matrix.results:
        if result.outcome in RAN:
            key = (result.case, channel.get(result.environment, "latest"))
            seen.setdefault(key, set()).add(cell_signature(result))
    divergent = {case for (case, _), signatures in seen.items() if len(signatures) > 1}
    divergent |= {r.case for r in matrix.results if r.outcome is Outcome.DISAGREED}
    return [c.id for c in matrix.cases if c.id in divergent]


def silent_divergences(matrix: Matrix) -> list[Result]:
    """Cells that returned values without error but disagree with the reference.

    Values where the reference expects an error, values that differ from it, or NaN where
    it expects none: the most important thing this matrix finds.
    """
    return [r for r in matrix.results
            if r.observed.kind == "value" and r.outcome in (Outcome.FAILED, Outcome.XFAILED)]

