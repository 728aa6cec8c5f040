"""The outcome of a raw verdict, the cells a run lacks, and which outcomes ran or matched."""

from __future__ import annotations

from collections.abc import Sequence

from matrix.records import CaseInfo, Observation, Outcome, Result, Verdict, VerdictStatus

#: The outcome of each raw verdict, without and with a limitation covering the cell.
_OUTCOMES: dict[str, tuple[Outcome, Outcome]] = {
    "matched": (Outcome.PASSED, Outcome.XPASSED),
    "mismatched": (Outcome.FAILED, Outcome.XFAILED),
    "harness_error": (Outcome.ERROR, Outcome.ERROR),
    "crashed": (Outcome.CRASHED, Outcome.CRASHED),
    "timeout": (Outcome.TIMEOUT, Outcome.TIMEOUT),
    "not_run": (Outcome.NOT_RUN, Outcome.NOT_RUN),
    "not_applicable": (Outcome.SKIPPED, Outcome.SKIPPED),
    # Judged at merge by agreement (`matrix.oracle.agreement`); a run file alone cannot tell.
    "no_reference": (Outcome.UNJUDGED, Outcome.UNJUDGED),
}
#: Verdicts a limitation can explain: the backend ran the case and answered.
TRIAGED = frozenset({"matched", "mismatched"})


def outcome_of(verdict: Verdict, limited: bool) -> Outcome:
    """The outcome of a raw verdict; `limited` when a limitation covers the cell."""
    return _OUTCOMES[verdict.status][1 if limited and verdict.status in TRIAGED else 0]


def missing_results(results: Sequence[Result], cases: Sequence[CaseInfo], environment: str,
                    status: VerdictStatus, reason: str) -> list[Result]:
    """Results for the cases that have none, so every case has a cell.

    Args:
        status: `not_run` (the environment did not run the case) or `harness_error` (the
            run recorded nothing for it).
    """
    have = {r.case for r in results}
    verdict = Verdict(status=status, detail=reason)
    return [
        Result(case=c.id, environment=environment, outcome=outcome_of(verdict, False),
               observed=Observation(kind="not_run", message=reason), verdict=verdict)
        for c in cases if c.id not in have
    ]


#: Outcomes of a cell whose backend answered as the reference did.
MATCHED = frozenset({Outcome.PASSED, Outcome.XPASSED})
#: Outcomes of a cell that ran (it answered, crashed or timed out).
RAN = frozenset({Outcome.PASSED, Outcome.FAILED, Outcome.XFAILED, Outcome.XPASSED,
                 Outcome.CRASHED, Outcome.TIMEOUT})

