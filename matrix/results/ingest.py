"""The fold's first half: a pytest report log's events turned into results.

The fold reads the event stream that pytest-reportlog writes for one environment's run and
turns every test report into a `Result`: the observation the case recorded as a user property,
and the outcome pytest gave it (xfail marks come from `cases/limitations/`). A worker that
died is `crashed`, or `timeout` when pytest-timeout ended it (the heartbeat in
`matrix/run/crash.py` tells which).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from matrix.records import Attempt, Observation, ObservationKind, Result, Verdict
from matrix.results.outcomes import outcome_of
from matrix.run.messages import clean_message
from matrix.run.protocol import (
    CRASH_MARK,
    ENVIRONMENT_TEST,
    NOT_RUN_PROPERTY,
    REPLACED_MARK,
    TIMEOUT_MARK,
    case_of_nodeid,
)


def _props(report: Mapping[str, Any]) -> dict[str, Any]:
    return {str(k): v for k, v in report.get("user_properties") or []}


def _longrepr_text(report: Mapping[str, Any]) -> str:
    longrepr = report.get("longrepr")
    if longrepr is None:
        return ""
    if isinstance(longrepr, str):
        return longrepr
    if isinstance(longrepr, list | tuple):  # skip reports: (path, lineno, message)
        return str(longrepr[-1])
    crash = (longrepr.get("reprcrash") or {}) if isinstance(longrepr, dict) else {}
    return str(crash.get("message") or "")


def _verdict(report: Mapping[str, Any], text: str, props: Mapping[str, Any]) -> Verdict:
    """The raw verdict of a test report: recorded by the case, or what pytest saw."""
    if CRASH_MARK in text:
        timed_out = props.get("ended_by") == TIMEOUT_MARK
        return Verdict(status="timeout" if timed_out else "crashed",
                       detail=clean_message(str(props.get("printed") or text)))
    raw = props.get("verdict")
    if isinstance(raw, dict):
        return TypeAdapter(Verdict).validate_python(raw)
    if report.get("outcome") == "skipped":
        reason = props.get(NOT_RUN_PROPERTY)
        if reason is not None:
            return Verdict(status="not_run", detail=clean_message(str(reason)))
        return Verdict(status="not_applicable",
                       detail=clean_message(text.removeprefix("Skipped: ")) or "skipped")
    return Verdict(status="harness_error",
                   detail=clean_message(text) or "the case recorded no verdict")


def _observation_for(verdict: Verdict, props: Mapping[str, Any]) -> Observation:
    if verdict.status in ("crashed", "timeout"):
        kind: ObservationKind = "crash" if verdict.status == "crashed" else "timeout"
        return Observation(kind=kind, message=verdict.detail)
    if verdict.status in ("not_run", "not_applicable"):
        raw = props.get("observation")
        if isinstance(raw, dict) and raw.get("kind") == "not_run":  # as the program printed it
            return TypeAdapter(Observation).validate_python(raw)
        return Observation(kind="not_run", message=verdict.detail)
    raw = props.get("observation")
    if isinstance(raw, dict):
        return TypeAdapter(Observation).validate_python(raw)
    return Observation(kind="error", error_type="HarnessError",
                       message=verdict.detail or "no observation was recorded")


def _device_unknown(verdict: Verdict, observed: Observation) -> Verdict:
    """A GPU cell failed for its device when the harness could not tell the device at all.

    A matched value on a GPU run is failed when its output (or, for `predict`, the model's
    first weight) did not live on the GPU (`matrix/run/test_cases.py`). Where the program could
    name no device (a model with no weights, before `device_of` of `matrix.run.prelude` fell back to
    Keras's default device), the backend is not at fault and nothing says it ran elsewhere:
    the cell is the harness's error, not a backend's failure nor a pass.
    """
    if verdict.status == "mismatched" and verdict.cause == "device" and observed.device is None:
        return Verdict(status="harness_error",
                       detail="the value matched the reference, but the harness could not tell "
                              "which device held it (a model with no weights returns NumPy "
                              "from predict), so the cell cannot say it ran on the GPU")
    return verdict


def fold_reports(reports: Iterable[Mapping[str, Any]], environment: str
                 ) -> tuple[list[Result], dict[str, Any]]:
    """Turns report-log events into results with their raw verdicts.

    Args:
        reports: decoded lines of a pytest-reportlog file.
        environment: the environment id the results belong to.

    Returns:
        (results by case in log order, the environment's recorded properties from
        `test_environment`, empty if that test did not report).
    """
    by_case: dict[str, Result] = {}
    env_props: dict[str, Any] = {}
    for report in reports:
        if report.get("$report_type") != "TestReport":
            continue
        nodeid = str(report.get("nodeid", ""))
        if nodeid.endswith(f"::{ENVIRONMENT_TEST}") and report.get("when") == "call":
            env_props = _props(report)
            env_props["check_outcome"] = report.get("outcome")
            env_props["check_message"] = clean_message(_longrepr_text(report))
            continue
        case = case_of_nodeid(nodeid)
        when = report.get("when")
        if case is None:
            continue
        if when != "call" and report.get("outcome") == "passed":
            continue  # a passing setup or teardown says nothing new
        if when == "teardown" and case in by_case:
            continue  # the call already decided this cell
        text = _longrepr_text(report)
        props = _props(report)
        if when == "???" and props.get("ended_by") == REPLACED_MARK and case in by_case:
            continue  # its worker was ended after it (a poisoned CUDA context): the call decided
        try:
            verdict = _verdict(report, text, props)
            observed = _observation_for(verdict, props)
        except ValidationError as exc:  # a recorded property the run file cannot hold
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            detail = clean_message(f"the case recorded an invalid observation or verdict: "
                                   f"field `{where}`: {first['msg']}")
            verdict = Verdict(status="harness_error", detail=detail)
            observed = Observation(kind="error", error_type="HarnessError", message=detail)
        verdict = _device_unknown(verdict, observed)
        duration = report.get("duration")
        by_case[case] = Result(
            case=case, environment=environment, outcome=outcome_of(verdict, False),
            observed=observed, verdict=verdict,
            duration_s=round(float(duration), 4) if isinstance(duration, int | float)
            and math.isfinite(duration) else 0.0,
        )
    return list(by_case.values()), env_props


def read_report_log(path: Path) -> list[dict[str, Any]]:
    """Reads a pytest-reportlog file, skipping a last line cut short by a killed run.

    Raises:
        ValueError: a line other than the last is not JSON; names the file and line.
    """
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    events = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError as exc:
            if number == len(lines):
                break
            raise ValueError(f"{path}:{number}: not a JSON report-log line: {exc}") from exc
    return events


def with_retries(first: Sequence[Result], retried: Sequence[Result]) -> list[Result]:
    """The cells of a run after its timed-out cells were retried alone.

    A retried cell takes its retry's verdict; both attempts are kept (`attempts`), and it is
    `flaky` when the two verdicts differ.
    """
    again = {r.case: r for r in retried}
    merged = []
    for result in first:
        second = again.get(result.case)
        if second is None:
            merged.append(result)
            continue
        attempts = [Attempt(verdict=r.verdict, observed=r.observed, duration_s=r.duration_s)
                    for r in (result, second)]
        merged.append(replace(second, flaky=second.verdict.status != result.verdict.status,
                              attempts=attempts))
    return merged

