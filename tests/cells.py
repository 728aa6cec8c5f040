"""Helpers for tests that build cells by hand: the raw verdict behind an outcome."""

from __future__ import annotations

from matrix.records import MismatchCause, Outcome, Verdict, VerdictStatus

#: The raw verdict a run records for each outcome (`matrix.results.outcomes.outcome_of`
#: inverted; the x-outcomes are what triage makes of a verdict a limitation covers).
VERDICT_STATUS: dict[Outcome, VerdictStatus] = {
    Outcome.PASSED: "matched",
    Outcome.XPASSED: "matched",
    Outcome.FAILED: "mismatched",
    Outcome.XFAILED: "mismatched",
    Outcome.ERROR: "harness_error",
    Outcome.CRASHED: "crashed",
    Outcome.TIMEOUT: "timeout",
    Outcome.NOT_RUN: "not_run",
    Outcome.SKIPPED: "not_applicable",
}


def verdict_for(outcome: Outcome, detail: str | None = None) -> Verdict:
    """The raw verdict behind `outcome` (a mismatch is `values_differ`)."""
    status = VERDICT_STATUS[outcome]
    cause: MismatchCause | None = "values_differ" if status == "mismatched" else None
    return Verdict(status=status, cause=cause, detail=detail)
