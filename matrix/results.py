"""The results data model, and the fold of a pytest report log into a run file.

Types (frozen, keyword-only dataclasses; pydantic validates them only at the JSON boundary):
`Outcome` (pytest's words plus `crashed`, `timeout`, `not_run`), `Observation` (what really
happened), `Result` (one cell), `CaseInfo`, `EnvironmentInfo`, `Run` (one environment's results
and provenance) and `Matrix` (all runs merged; every report format renders from it).

The fold reads the event stream that pytest-reportlog writes for one environment's run and
turns every test report into a `Result`: the observation the case recorded as a user property,
and the outcome pytest gave it (xfail marks come from `cases/limitations.py`). A worker that
died is `crashed`, or `timeout` when pytest-timeout ended it (the heartbeat in
`cases/conftest.py` tells which).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from pydantic import TypeAdapter, ValidationError
from pydantic_core import to_json

from matrix import atomic
from matrix.records import (  # the run-file records, re-exported for their readers
    MESSAGE_LIMIT as MESSAGE_LIMIT,
)
from matrix.records import (
    SCHEMA_VERSION as SCHEMA_VERSION,
)
from matrix.records import (
    Attempt as Attempt,
)
from matrix.records import (
    CaseInfo as CaseInfo,
)
from matrix.records import (
    EnvironmentInfo as EnvironmentInfo,
)
from matrix.records import (
    LimitationInfo as LimitationInfo,
)
from matrix.records import (
    Matrix as Matrix,
)
from matrix.records import (
    MismatchCause as MismatchCause,
)
from matrix.records import (
    Observation as Observation,
)
from matrix.records import (
    ObservationKind as ObservationKind,
)
from matrix.records import (
    Outcome as Outcome,
)
from matrix.records import (
    Result as Result,
)
from matrix.records import (
    Run as Run,
)
from matrix.records import Shard
from matrix.records import (
    Stage as Stage,
)
from matrix.records import (
    Verdict as Verdict,
)
from matrix.records import (
    VerdictStatus as VerdictStatus,
)
from matrix.runfiles import RefusedFile, read_regular_file

T = TypeVar("T")
RUN_ADAPTER: TypeAdapter[Run] = TypeAdapter(Run)
RESULT_ADAPTER: TypeAdapter[Result] = TypeAdapter(Result)
MATRIX_ADAPTER: TypeAdapter[Matrix] = TypeAdapter(Matrix)

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")
# Lines that frame an error rather than state it: Keras's layer wrapper, TensorFlow's graph
# execution banner and the traceback it appends, xdist's node markers.
_NOISE = re.compile(
    r"^(Exception encountered when calling|Arguments received by|Graph execution error"
    r"|Detected at node|File \"|Traceback \(most recent|\[\[|•)"
)
_TF_NODE = re.compile(r"^\{\{function_node [^}]*\}\}\s*")
_TF_OP = re.compile(r"\s*\[Op:[^\]]*\]$")


#: An error a compile cache's damaged file gives: Inductor loads a kernel (`.so`) from its
#: on-disk cache (`/tmp/torchinductor_<user>` by default) that an interrupted compile left
#: empty or cut. Seen here: a run killed while compiling left a 0-byte `.so`, and eight
#: later LSTM `jit_compile` cells raised `InductorError: ImportError: <it>: file too short`.
_DAMAGED_ARTIFACT = re.compile(
    r"(/\S*torchinductor\S*?\.so): (file too short|invalid ELF header|"
    r"cannot read file data|ELF load command)")


def damaged_compile_artifact(message: str | None) -> Path | None:
    """The compile-cache file an error blames for being damaged, or None.

    Such an error is the machine's (a file an interrupted compile left behind), not the
    backend's answer: the runner records a harness error and removes the file, so the next
    run compiles the kernel again.
    """
    found = _DAMAGED_ARTIFACT.search(message or "")
    return Path(found.group(1)) if found else None


def clean_message(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """The first meaningful line of an error message, ANSI escapes stripped, cut to `limit`.

    Keras wraps a layer's error as "Exception encountered when calling Embedding.call()."
    followed by the original message, and TensorFlow prefixes graph errors with a banner and a
    traceback; those lines are skipped, and TensorFlow's `{{function_node ...}}` prefix and
    `[Op:...]` suffix are cut, so the cell shows the cause, e.g.
    "indices[0,1] = 10 is not in [0, 10)". Control characters other than tab are removed.
    """
    text = _ANSI.sub("", text)
    lines = [line.strip() for line in text.splitlines()]
    useful = [_TF_OP.sub("", _TF_NODE.sub("", line)) for line in lines
              if line and not _NOISE.match(line)]
    useful = [line for line in useful if line]
    first = useful[0] if useful else (lines[0] if lines else "")
    first = "".join(ch for ch in first if ch == "\t" or ch.isprintable())
    return first if len(first) <= limit else first[: limit - 1] + "…"


SHORT_LIMIT = 200
LIMITATION_LIMIT = 2000
#: Provenance fields that reports show as text.
_SHOWN = ("device_name", "date", "git_commit", "platform", "python")


def _clean(text: str | None, limit: int = MESSAGE_LIMIT) -> str | None:
    return None if text is None else clean_message(text, limit)


def sanitize_observation(obs: Observation) -> Observation:
    """An observation whose free text is one clean line (a run file may be hand-edited)."""
    return replace(obs, message=_clean(obs.message),
                   error_type=_clean(obs.error_type, SHORT_LIMIT),
                   device=_clean(obs.device, SHORT_LIMIT),
                   warnings=[clean_message(w, SHORT_LIMIT) for w in obs.warnings[:10]])


def sanitize_result(result: Result) -> Result:
    """A result whose observation, verdict and limitation text are clean and bounded."""
    verdict = replace(result.verdict, detail=_clean(result.verdict.detail))
    return replace(result, observed=sanitize_observation(result.observed), verdict=verdict,
                   limitation=_clean(result.limitation, LIMITATION_LIMIT))


def sanitize_environment(env: EnvironmentInfo) -> EnvironmentInfo:
    """An environment whose reason, versions and shown provenance are clean and bounded."""
    provenance = {k: _clean(v, SHORT_LIMIT) if isinstance(v, str) and k in _SHOWN else v
                  for k, v in env.provenance.items()}
    return replace(env, reason=_clean(env.reason), provenance=provenance,
                   versions={k: clean_message(v, SHORT_LIMIT) for k, v in env.versions.items()})


def sanitize_run(run: Run) -> Run:
    """A run whose untrusted strings are stripped of ANSI and control characters and cut."""
    return replace(run, environment=sanitize_environment(run.environment),
                   results=[sanitize_result(r) for r in run.results])


def error_observation(exc: BaseException) -> Observation:
    """The observation of an exception raised by Keras or the backend."""
    return Observation(kind="error", error_type=type(exc).__name__,
                       message=clean_message(str(exc)) or type(exc).__name__)


#: The outcome of each raw verdict, without and with a limitation covering the cell.
_OUTCOMES: dict[str, tuple[Outcome, Outcome]] = {
    "matched": (Outcome.PASSED, Outcome.XPASSED),
    "mismatched": (Outcome.FAILED, Outcome.XFAILED),
    "harness_error": (Outcome.ERROR, Outcome.ERROR),
    "crashed": (Outcome.CRASHED, Outcome.CRASHED),
    "timeout": (Outcome.TIMEOUT, Outcome.TIMEOUT),
    "not_run": (Outcome.NOT_RUN, Outcome.NOT_RUN),
    "not_applicable": (Outcome.SKIPPED, Outcome.SKIPPED),
    # Judged at merge by agreement (`matrix.agreement`); a run file alone cannot tell.
    "no_reference": (Outcome.UNJUDGED, Outcome.UNJUDGED),
}
#: Verdicts a limitation can explain: the backend ran the case and answered.
TRIAGED = frozenset({"matched", "mismatched"})


def outcome_of(verdict: Verdict, limited: bool) -> Outcome:
    """The outcome of a raw verdict; `limited` when a limitation covers the cell."""
    return _OUTCOMES[verdict.status][1 if limited and verdict.status in TRIAGED else 0]


# --- the fold -------------------------------------------------------------------------------

CRASH_MARK = "crashed while running"
#: The user property (`item.user_properties`) of a case skipped because it cannot run here
#: or was left out (a cut mode, the sample), with the reason as its value: the fold's verdict
#: `not_run` (any other skip is `not_applicable`).
NOT_RUN_PROPERTY = "not_run"
TIMEOUT_MARK = "timeout"
#: `ended_by` of a worker ended on purpose after a case poisoned its CUDA context
#: (`cases/conftest.py`): the case's own reports decide its cell, not xdist's crash report.
REPLACED_MARK = "replaced"


def _case_id(nodeid: str) -> str | None:
    match = re.search(r"::test_case\[(.*)\]$", nodeid)
    return match.group(1) if match else None


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
    name no device (a model with no weights, before `matrix.program.device_of` fell back to
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
        if nodeid.endswith("::test_environment") and report.get("when") == "call":
            env_props = _props(report)
            env_props["check_outcome"] = report.get("outcome")
            env_props["check_message"] = clean_message(_longrepr_text(report))
            continue
        case = _case_id(nodeid)
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


# --- run files ------------------------------------------------------------------------------

class RunFileError(ValueError):
    """A run file cannot be used; the message names the file and the field."""


def dump_run(run: Run, path: Path) -> None:
    """Writes a run file atomically (write a temporary file, then rename)."""
    # inf (a NaN where values were expected) is kept as the string "Infinity", not null.
    atomic.write_bytes(path, to_json(run, indent=1, inf_nan_mode="strings"))


#: The deepest nesting a run file or compatibility.json needs is far below this.
MAX_DEPTH = 64


def _unsound_value(raw: object) -> tuple[str, str] | None:
    """The first value JSON does not allow or this harness never writes, and why.

    `json.loads` accepts `NaN`, `Infinity` and `1e999` (which overflows to inf): the harness
    writes a non-finite number as the string `"Infinity"`, never as such a literal. Walked
    without recursion, so a deep document cannot crash the walk itself.

    Returns:
        (the field's dotted path, what is wrong), or None when every value is sound.
    """
    stack: list[tuple[str, object, int]] = [("", raw, 0)]
    while stack:
        where, value, depth = stack.pop()
        if depth > MAX_DEPTH:
            return where, f"nested deeper than {MAX_DEPTH} levels"
        if isinstance(value, float) and not math.isfinite(value):
            return where, (f"{value!r} is not a JSON number (NaN, Infinity or one too large "
                           "such as 1e999)")
        if isinstance(value, dict):
            stack.extend((f"{where}.{k}" if where else str(k), v, depth + 1)
                         for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((f"{where}.{i}", v, depth + 1) for i, v in enumerate(value))
    return None


def read_document(path: Path, adapter: TypeAdapter[T], error: type[ValueError]) -> T:
    """Reads a JSON document of this schema version (a run file, a compatibility.json).

    Args:
        path: the file.
        adapter: validates the decoded JSON into its type.
        error: the exception class to raise.

    Only a regular file of at most `matrix.runfiles.MAX_READ_BYTES` is read
    (`read_regular_file`): a FIFO or a link to `/dev/zero` named `*.json` is refused by name
    instead of blocking the reader.

    Raises:
        error: not a regular file, too large, unreadable, truncated, of another schema
            version, or a field is invalid; the message names the file and the field.
    """
    try:
        raw = json.loads(read_regular_file(path).decode("utf-8"))
    except RefusedFile as exc:
        raise error(f"{exc}.") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{path}: cannot be read: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise error(f"{path}: not valid JSON (truncated?): {exc}") from exc
    except RecursionError as exc:  # e.g. `[` 200,000 times: the decoder gives up
        raise error(f"{path}: nested too deep to read (more than Python's recursion "
                    "limit); not a file this harness wrote.") from exc
    if not isinstance(raw, dict):
        raise error(f"{path}: expected a JSON object at the top level.")
    bad = _unsound_value(raw)
    if bad is not None:
        raise error(f"{path}: field `{bad[0]}`: {bad[1]}")
    version = raw.get("schema_version")
    if version != SCHEMA_VERSION:
        older = isinstance(version, int) and not isinstance(version, bool) \
            and version < SCHEMA_VERSION
        advice = (" It was written before the v2 catalog (cases as programs, raw verdicts): "
                  "rerun its environment, e.g. `nox -s \"run(jax-cpu)\"`, to write a "
                  "current one." if older else "")
        raise error(f"{path}: field `schema_version` is {version!r}; this harness "
                    f"reads schema_version {SCHEMA_VERSION}.{advice}")
    try:
        return adapter.validate_python(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise error(f"{path}: field `{where}`: {first['msg']} "
                    f"({exc.error_count()} problem(s) in all)") from exc


def load_run(path: Path) -> Run:
    """Reads and validates a run file; its free text is cleaned (`sanitize_run`).

    Raises:
        RunFileError: unreadable, truncated, of another schema version, a field is invalid,
            or a result belongs to another environment; the message names the file and field.
    """
    run = read_document(path, RUN_ADAPTER, RunFileError)
    problem = run_problem(run)
    if problem is not None:
        raise RunFileError(f"{path}: {problem}")
    env_id = run.environment.id
    stray = {r.environment for r in run.results} - {env_id}
    if stray:
        raise RunFileError(f"{path}: field `results[].environment` holds {sorted(stray)}, "
                           f"but the file is for {env_id!r}.")
    declared = declared_channel(env_id)
    if declared is not None and run.environment.channel != declared:
        if run.environment.channel != "latest":
            raise RunFileError(f"{path}: field `environment.channel` is "
                               f"{run.environment.channel!r}, but matrix/axes.toml declares "
                               f"{env_id!r} in the {declared!r} channel.")
        # Written before the field (it reads as the default): the declared channel.
        run = replace(run, environment=replace(run.environment, channel=declared))
    return sanitize_run(run)


def declared_channel(environment_id: str) -> str | None:
    """The version channel `matrix/axes.toml` declares for an environment; None when it
    declares no such environment."""
    from matrix.environments import get_environment

    try:
        return get_environment(environment_id).channel
    except KeyError:
        return None


#: An environment id as `matrix/axes.toml` builds them (`jax-cpu`, `torch-gpu-nightly`):
#: nothing a terminal, Markdown or rich would read as markup.
ENVIRONMENT_ID = re.compile(r"^[a-z0-9][a-z0-9._+-]{0,63}$")
#: The provenance fields the harness reads back, with their types; others are free.
_PROVENANCE_FIELDS: dict[str, TypeAdapter[Any]] = {
    **{key: TypeAdapter(str | None) for key in (
        "python", "platform", "machine", "device_name", "date", "git_commit", "artifacts")},
    "pytest_exitstatus": TypeAdapter(int | None),
    "backend_facts": TypeAdapter(dict[str, Any] | None),
    "checks": TypeAdapter(dict[str, dict[str, Any]] | None),
    "environment_check": TypeAdapter(dict[str, Any] | None),
    "catalog": TypeAdapter(dict[str, int | str] | None),
    "shard": TypeAdapter(str | None),
    "shards": TypeAdapter(list[str] | None),
    "selection": TypeAdapter(dict[str, Any] | None),
    "partials": TypeAdapter(list[dict[str, Any]] | None),
    "cache": TypeAdapter(dict[str, Any] | None),
    "user_catalogs": TypeAdapter(list[dict[str, str]] | None),
    "host": TypeAdapter(dict[str, Any] | None),
}


def run_problem(run: Run) -> str | None:
    """What makes a validated run unusable, naming the field; None when it is sound.

    Checks what the dataclasses cannot say: the environment id is plain (no markup), the
    provenance fields the harness reads have their types, a shard is `I/N` with I <= N,
    each case and each cell appears once, and durations are finite.
    """
    env = run.environment
    if not ENVIRONMENT_ID.match(env.id):
        return (f"field `environment.id` is {clean_message(env.id, 80)!r}: an environment id "
                "is lower-case letters, digits and `-._+` (as matrix/axes.toml builds them).")
    for key, adapter in _PROVENANCE_FIELDS.items():
        try:
            adapter.validate_python(env.provenance.get(key), strict=True)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in ("environment.provenance", key, *first["loc"]))
            return f"field `{where}`: {first['msg']}"
    shard = env.provenance.get("shard")
    if shard:
        try:
            Shard.parse(shard)
        except ValueError:
            return f"field `environment.provenance.shard` is {shard!r}; expected I/N with I <= N."
    seen: set[str] = set()
    for i, case in enumerate(run.cases):
        if case.id in seen:
            return f"field `cases.{i}.id`: case {case.id!r} is listed twice."
        seen.add(case.id)
    cells: set[str] = set()
    for i, result in enumerate(run.results):
        if result.case in cells:
            return (f"field `results.{i}.case`: a second result for case {result.case!r} in "
                    f"{env.id!r}; a cell has one result.")
        cells.add(result.case)
        if not math.isfinite(result.duration_s) or result.duration_s < 0:
            return f"field `results.{i}.duration_s` is {result.duration_s!r}."
        error = result.observed.max_abs_error
        if error is not None and (math.isnan(error) or error < 0):
            return f"field `results.{i}.observed.max_abs_error` is {error!r}."
    return None


def shard_of(env: EnvironmentInfo) -> Shard:
    """The shard a run file holds (`environment.provenance.shard`; 1/1 when not sharded).
    Call on a validated run (`run_problem` refuses a malformed shard)."""
    text = env.provenance.get("shard")
    return Shard.parse(str(text)) if text else Shard(1, 1)


def combine_shards(shards: Sequence[tuple[Path, Run]]) -> Run:
    """Combines the shard run files of one environment into one run.

    Args:
        shards: (path, run) of each shard file, e.g. `jax-cpu.shard-1-of-3.json`.

    Returns:
        One run holding every shard's cases and results, with `provenance["shards"]` listing
        the shards combined.

    Raises:
        RunFileError: the shards are of different environments, catalogs, shard counts or
            package versions, or two of them hold the same case; the message names the files.
    """
    (first_path, first), *rest = shards
    env = first.environment
    count = shard_of(env).count
    seen: dict[str, Path] = {c.id: first_path for c in first.cases}
    for path, run in rest:
        other = run.environment
        names = f"{first_path.name} and {path.name}"
        if other.id != env.id:
            raise RunFileError(f"{names}: shards of different environments "
                               f"({env.id!r}, {other.id!r}).")
        if shard_of(other).count != count:
            raise RunFileError(f"{names}: field `environment.provenance.shard` differs in "
                               f"shard count ({env.provenance.get('shard')!r}, "
                               f"{other.provenance.get('shard')!r}).")
        for key in ("catalog",):
            if other.provenance.get(key) != env.provenance.get(key):
                raise RunFileError(f"{names}: field `environment.provenance.{key}` differs: "
                                   "the shards ran different catalogs.")
        if other.versions != env.versions:
            raise RunFileError(f"{names}: field `environment.versions` differs: the shards "
                               "ran different package versions.")
        for case in run.cases:
            if case.id in seen:
                raise RunFileError(f"{seen[case.id].name} and {path.name}: both hold case "
                                   f"{case.id!r}; shards must not overlap.")
            seen[case.id] = path
    cases = [c for _, run in shards for c in run.cases]
    results = [r for _, run in shards for r in run.results]
    provenance = {**env.provenance, "shard": None,
                  "shards": sorted(str(run.environment.provenance.get("shard"))
                                   for _, run in shards)}
    ran = all(run.environment.ran for _, run in shards)
    reasons = [run.environment.reason for _, run in shards if run.environment.reason]
    merged_env = replace(env, ran=ran, reason="; ".join(reasons) or None,
                         provenance=provenance)
    return Run(schema_version=SCHEMA_VERSION, environment=merged_env, cases=cases,
               results=results)


# --- the matrix -----------------------------------------------------------------------------

MATCHED = frozenset({Outcome.PASSED, Outcome.XPASSED})
RAN = frozenset({Outcome.PASSED, Outcome.FAILED, Outcome.XFAILED, Outcome.XPASSED,
                 Outcome.CRASHED, Outcome.TIMEOUT})


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


def merge_runs(runs: Sequence[Run], environments: Sequence[EnvironmentInfo],
               generated_at: str, problems: Sequence[str] = ()) -> Matrix:
    """Merges run files into the matrix.

    Args:
        runs: validated runs, at most one per environment.
        environments: every declared environment, in column order; one with no run is
            `not_run` ("no run file"), never a 0% column.
        generated_at: ISO 8601 time stamp.
        problems: messages about run files that could not be used; shown in every format.

    Returns:
        The matrix: every case of every run, and exactly one result per case × environment;
        the cells of a case with no reference judged by agreement (`matrix.agreement`).

    Raises:
        ValueError: two runs for one environment.
    """
    by_env: dict[str, Run] = {}
    for run in runs:
        env_id = run.environment.id
        if env_id in by_env:
            raise ValueError(f"two run files for environment {env_id!r}; keep one.")
        by_env[env_id] = run
    cases: dict[str, CaseInfo] = {}
    for run in runs:
        for case in run.cases:
            cases.setdefault(case.id, case)
    case_list = list(cases.values())
    envs: list[EnvironmentInfo] = []
    results: list[Result] = []
    declared = {e.id for e in environments}
    extra = [r.environment for r in runs if r.environment.id not in declared]
    for env in [*environments, *extra]:
        found = by_env.get(env.id)
        if found is None:
            reason = env.reason or "no run file: this environment has not been run here"
            envs.append(replace(env, ran=False, reason=reason))
            results += missing_results([], case_list, env.id, "not_run", reason)
            continue
        envs.append(found.environment)
        own = [r for r in found.results if r.case in cases]
        results += own
        if found.environment.ran:
            selection = found.environment.provenance.get("selection")
            why = ("this environment ran a slice of the catalog without this case "
                   f"({_selection_text(selection)})" if selection else
                   "this case was not in the catalog when this environment ran")
            results += missing_results(own, case_list, env.id, "not_run", why)
        else:
            results += missing_results(own, case_list, env.id, "not_run",
                                       found.environment.reason or "not run")
    order = {c.id: i for i, c in enumerate(case_list)}
    col = {e.id: i for i, e in enumerate(envs)}
    results.sort(key=lambda r: (order[r.case], col[r.environment]))
    from matrix.agreement import judge_by_agreement  # it reads this module's types

    results = judge_by_agreement(results, envs)
    return Matrix(schema_version=SCHEMA_VERSION, generated_at=generated_at, environments=envs,
                  cases=case_list, results=results, problems=list(problems))


# --- command line: fold a log, or record an environment that did not run --------------------

def catalog_infos(extra: Sequence[str]) -> list[CaseInfo]:
    """The `CaseInfo` of every case of the catalog (built-in plus `extra` modules)."""
    from cases import load_catalog
    from cases.expect import describe, expected, is_open
    from cases.facts import program_facts
    from cases.model import KERAS_RUNNER
    from matrix.program import render

    infos = []
    catalog = load_catalog(extra).cases
    opened = [case for case in catalog if is_open(case)]
    if opened and importlib.util.find_spec("keras") is not None:
        # in a backend's virtualenv: every open step must name a callable of its Keras (the
        # report's virtualenv has none: the run it reads checked it)
        from cases.load import resolve_open_names

        resolve_open_names(opened)
    for case in catalog:
        want, repro = "values", None
        if case.runner == KERAS_RUNNER:
            want = describe(expected(case))
            repro = render(case)
        facts = {k: list(v) for k, v in program_facts(case).items()}
        infos.append(CaseInfo(id=case.id, group=case.group, subject=case.subject,
                              description=case.description, axes=dict(case.axes),
                              expected=want, repro=repro, source=case.source, facts=facts))
    return infos


def _environment_info(environment: str, ran: bool, reason: str | None,
                      props: Mapping[str, Any]) -> EnvironmentInfo:
    from matrix.environments import get_environment

    env = get_environment(environment)
    return EnvironmentInfo(id=env.id, backend=env.backend, device=env.device, ran=ran,
                           channel=env.channel,
                           reason=reason, versions=dict(props.get("versions") or {}),
                           provenance=dict(props.get("provenance") or {}))


def catalog_fingerprint(infos: Sequence[CaseInfo]) -> dict[str, Any]:
    """Identifies a catalog version: its size and a hash of its case ids and expectations."""
    digest = hashlib.sha256()
    for info in infos:
        digest.update(f"{info.id}\0{info.expected}\n".encode())
    return {"cases": len(infos), "fingerprint": digest.hexdigest()[:16]}


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


def _cached_results(work: Path, environment: str) -> tuple[dict[str, Result], set[str]]:
    """The results the worker took from the cache (`matrix/cache.py`), by case, and every
    case it says it took (`cache-used.json`): a case whose result does not read back is
    still the run's, and gets a cell saying so (`fold_run`)."""
    from matrix import cache

    plan = cache.read_json(work / cache.PLAN)
    used = cache.read_json(work / cache.USED)
    hits = plan.get("hits") if isinstance(plan, dict) else None
    if not isinstance(used, list):
        return {}, set()
    listed = set(map(str, used))
    if not isinstance(hits, dict):
        return {}, listed
    found = {}
    for case in sorted(listed):
        try:
            result = RESULT_ADAPTER.validate_python(hits.get(case))
        except ValidationError:
            continue  # cannot happen for a plan the controller checked; the cell says so
        if result.case == case:
            found[case] = replace(result, environment=environment)
    return found, listed


def _store(cache_dir: Path, environment: str, work: Path, results: Sequence[Result],
           infos: Sequence[CaseInfo], served: Iterable[str]) -> dict[str, Any] | None:
    """Stores the run's fresh results in the cache and renews the entries it served.

    Returns:
        `{"stored": N}` (and `"error"` when the store could not be written: the run file is
        written all the same), or None when the run had no cache plan.
    """
    from matrix import cache

    plan = cache.read_json(work / cache.PLAN)
    keys = plan.get("keys") if isinstance(plan, dict) else None
    if not isinstance(keys, dict):
        return None
    modes = {c.id: c.axes.get("mode") for c in infos}
    dumped = [RESULT_ADAPTER.dump_python(r, mode="json") for r in results]
    done = cache.update_store(cache_dir, environment, keys, dumped, modes, served)
    report: dict[str, Any] = {"stored": done.stored}
    if done.error is not None:
        report["error"] = done.error
    return report


def user_catalogs(extra: Sequence[str | Path]) -> list[dict[str, str]]:
    """The user catalogs a run loaded: `[{"path": ..., "sha256": ...}]`, in load order."""
    from matrix.cache_key import file_digest

    return [{"path": str(path), "sha256": file_digest(Path(path)) or "unreadable"}
            for path in extra]


def _host() -> dict[str, Any]:
    """The host CPU of the run (`matrix.cache.host_facts`): its model and the ISA flags that
    change an answer (`ANSWER_CPU_FLAGS`); all flags are in the cache key."""
    from matrix.cache_key import host_facts

    facts = host_facts()
    return {"cpu": facts["cpu"],
            "flags": [f for f in facts["flags"] if f in ANSWER_CPU_FLAGS]}


#: CPU features known to change what a backend computes, recorded per run: OpenVINO's CPU
#: plugin infers in bfloat16 where the CPU has AVX-512 BF16 or AMX
#: (https://docs.openvino.ai/2024/openvino-workflow/running-inference/inference-devices-and-modes/cpu-device.html).
ANSWER_CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_fp16", "amx_bf16", "amx_tile",
                    "amx_int8", "fma", "f16c")


def fold_run(environment: str, log: Path, extra: Sequence[str], shard: str | None = None,
             *, retry_log: Path | None = None, cache_dir: Path | None = None,
             stopped: str | None = None) -> Run:
    """Folds one environment's report log into its `Run`.

    Every case of the catalog gets a cell: a case with no report (the run was interrupted
    before it) is `error` with that reason, so nothing is silently missing.

    Args:
        retry_log: the report log of the timed-out cases run again alone (`with_retries`).
        cache_dir: the result cache's folder: the cells the worker took from it
            (`cache-used.json` beside the log) are added, `provenance["cache"]` counts them,
            and the fresh results are stored. None: no cache.
        stopped: why the runner itself stopped an unfinished run (a time box): its cases
            with no report are then `not_run` with this reason, not `error`. Ignored when
            the run finished.
    """
    events = read_report_log(log) if log.exists() else []
    results, props = fold_reports(events, environment)
    if retry_log is not None and retry_log.exists():
        results = with_retries(results, fold_reports(read_report_log(retry_log),
                                                     environment)[0])
    executed = {r.case for r in results}
    found, used = _cached_results(log.parent, environment) if cache_dir is not None \
        else ({}, set())
    cached = {case: r for case, r in found.items() if case not in executed}
    results += list(cached.values())
    finish = [e for e in events if e.get("$report_type") == "SessionFinish"]
    infos = catalog_infos(extra)
    catalog = catalog_fingerprint(infos)
    collected_file = log.parent / "collected.json"
    if collected_file.exists():  # a `-k` slice: keep only the cases pytest selected
        selected = {_case_id(n) for n in json.loads(collected_file.read_text(encoding="utf-8"))}
        # A case the cache served was deselected, so pytest did not collect it: it is
        # still one of the run's cells (with a harness error if its result is unreadable).
        infos = [c for c in infos if c.id in selected or c.id in used]
    known = {c.id for c in infos}
    results = [r for r in results if r.case in known]
    status = finish[-1].get("exitstatus") if finish else None
    reason = None if status is not None else "the pytest run did not finish (interrupted?)"
    if status is None and stopped:  # stopped on purpose: what it did not reach did not run
        reason = f"the run was stopped before it finished: {stopped}"
        results += missing_results(results, infos, environment, "not_run",
                                   f"not run: {stopped}")
    results += missing_results(results, infos, environment, "harness_error",
                               "the run recorded no result for this case")
    order = {c.id: i for i, c in enumerate(infos)}
    results.sort(key=lambda r: order[r.case])
    props = dict(props)
    provenance = dict(props.get("provenance") or {})
    provenance["pytest_exitstatus"] = status
    provenance["catalog"] = catalog
    # Every cell of this run, built-in ones too, was judged in a process that ran these
    # modules' code at import (`matrix.cache`: they are in every key of such a run).
    provenance["user_catalogs"] = user_catalogs(extra)
    provenance["host"] = _host()
    provenance["shard"] = shard
    provenance["environment_check"] = {"outcome": props.get("check_outcome"),
                                       "message": props.get("check_message")}
    if cache_dir is not None:
        fresh = [r for r in results if r.case not in cached]
        store = _store(cache_dir, environment, log.parent, fresh, infos, cached)
        # A cell the harness left out (cut by the sample, a mode not run: verdict `not_run`)
        # did not execute; one whose program said it does not apply (`not_applicable`) did.
        skipped = {r.case for r in results
                   if r.case not in cached and r.verdict.status == "not_run"}
        provenance["cache"] = {"reused": len(cached),
                               "executed": len(known - set(cached) - skipped),
                               "stored": None if store is None else store["stored"]}
        if skipped:
            provenance["cache"]["not_run"] = len(skipped)
        if store is not None and "error" in store:
            provenance["cache"]["store_error"] = store["error"]
    props["provenance"] = provenance
    env = _environment_info(environment, ran=bool(events), reason=reason, props=props)
    return Run(schema_version=SCHEMA_VERSION, environment=env, cases=infos, results=results)


def _selection_text(selection: Any) -> str:
    """`-k EXPR`, the catalogs and shard of a slice, in one line."""
    if not isinstance(selection, Mapping):
        return "a slice"
    parts = [" ".join(str(a) for a in selection.get("pytest_args") or [])]
    parts += [f"--catalog {c}" for c in selection.get("catalogs") or []]
    return "; ".join(p for p in parts if p)[:300] or "a slice"


def with_selection(run: Run, selection: Mapping[str, Any]) -> Run:
    """Marks a run as a slice of the catalog: `provenance["selection"]` says which.

    A run with `-k`, other pytest arguments or `--catalog` records what selected its cases,
    so that the report and the noxfile tell it from a full run (`matrix.runfiles`).
    """
    env = run.environment
    provenance = {**env.provenance, "selection": dict(selection)}
    return replace(run, environment=replace(env, provenance=provenance))


def not_run(environment: str, reason: str, extra: Sequence[str]) -> Run:
    """The run file of an environment that did not run here, every cell `not_run`."""
    infos = catalog_infos(extra)
    results = missing_results([], infos, environment, "not_run", reason)
    env = _environment_info(environment, ran=False, reason=reason, props={})
    return Run(schema_version=SCHEMA_VERSION, environment=env, cases=infos, results=results)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m matrix.results {fold,not-run} --environment ID --output PATH ...`.

    Returns:
        0 when the run file was written; 2 with one line on stderr naming the catalog when
        a `--catalog` module cannot be loaded (the run file is then left as it was).
    """
    import argparse

    parser = argparse.ArgumentParser(prog="python -m matrix.results", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("fold", "not-run"):
        cmd = sub.add_parser(name)
        cmd.add_argument("--environment", required=True)
        cmd.add_argument("--output", required=True, type=Path)
        cmd.add_argument("--catalog", action="append", default=[])
        if name == "fold":
            cmd.add_argument("--log", required=True, type=Path)
            cmd.add_argument("--retry-log", default=None, type=Path,
                             help="the report log of the timed-out cases run again alone")
            cmd.add_argument("--cache", default=None, type=Path,
                             help="the result cache's folder (matrix/cache.py)")
            cmd.add_argument("--shard", default=None)
            cmd.add_argument("--selection", default=None, type=json.loads,
                             help="JSON: the slice this run ran (pytest args, catalogs)")
            cmd.add_argument("--stopped", default=None, metavar="REASON",
                             help="the runner stopped this run on purpose (a time box): "
                                  "cases with no result are not_run with this reason")
        else:
            cmd.add_argument("--reason", required=True)
    args = parser.parse_args(argv)
    from cases import CatalogError

    try:
        if args.command == "fold":
            run = fold_run(args.environment, args.log, args.catalog, args.shard,
                           retry_log=args.retry_log, cache_dir=args.cache,
                           stopped=args.stopped)
            if args.selection:
                run = with_selection(run, args.selection)
        else:
            run = not_run(args.environment, args.reason, args.catalog)
    except CatalogError as exc:  # e.g. a catalog that calls os._exit at import
        print(f"error: {exc} {args.output} was not written; what it held is unchanged.",
              file=sys.stderr)
        return 2
    dump_run(run, args.output)
    counts: dict[str, int] = {}
    for result in run.results:
        counts[result.outcome.value] = counts.get(result.outcome.value, 0) + 1
    summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    print(f"{args.output}: {len(run.results)} cells for {args.environment} ({summary})")
    cached = run.environment.provenance.get("cache")
    if isinstance(cached, dict):
        hint = " (`--no-cache` runs every case)" if cached.get("reused") else ""
        left = f", {cached['not_run']} not run" if cached.get("not_run") else ""
        print(f"{args.environment}: {cached.get('reused', 0)} cells reused from the cache, "
              f"{cached.get('executed', 0)} executed{left}{hint}")
        if cached.get("store_error"):
            print(f"{args.environment}: warning: the result cache could not be written "
                  f"({cached['store_error']}); the run file is whole, the next run executes "
                  "these cells again", file=sys.stderr)
    flaky = [r.case for r in run.results if r.flaky]
    if flaky:
        print(f"{args.environment}: {len(flaky)} flaky cells (timed out, then another verdict "
              f"alone): {', '.join(flaky[:5])}{' ...' if len(flaky) > 5 else ''}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
