"""Run files read and written: the pydantic adapters at the JSON boundary, the checks a
document passes before it is used (`read_document`, `run_problem`), `load_run` and `dump_run`.

A run file stores each distinct repro prelude (the imports and helpers a rendered program
holds before `def program():`, about 5 KB, the same for every case of a harness version)
once, in its top-level `preludes` list, and a case's `repro` as `[docstring, prelude index,
rest]` (docstring + prelude + rest is the program); `load_run` gives the programs back whole.
Without it a run file of the 7,713-case catalog held about 44 MB of repeated preludes.
A file written before this (plain `repro` strings, no `preludes`) reads as before.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from pydantic import TypeAdapter, ValidationError
from pydantic_core import to_json

from matrix import atomic
from matrix.records import SCHEMA_VERSION, Matrix, Result, Run, Shard
from matrix.results.clean import sanitize_run
from matrix.run.messages import clean_message
from matrix.run.runfiles import RefusedFile, read_regular_file

T = TypeVar("T")
RUN_ADAPTER: TypeAdapter[Run] = TypeAdapter(Run)
RESULT_ADAPTER: TypeAdapter[Result] = TypeAdapter(Result)
MATRIX_ADAPTER: TypeAdapter[Matrix] = TypeAdapter(Matrix)


class RunFileError(ValueError):
    """A run file cannot be used; the message names the file and the field."""


#: Where a rendered program's own code starts (`matrix.run.program.render`).
PROGRAM_START = "\ndef program():"


def split_repro(repro: str | None, preludes: dict[str, int]) -> str | list[Any] | None:
    """A repro as `[docstring, prelude index, rest]` when it has a docstring and a prelude
    before `def program():` (docstring + prelude + rest == repro), the prelude added to
    `preludes` (text -> index) if new; else the text as is."""
    if repro is None:
        return None
    at = repro.find(PROGRAM_START)
    doc_end = repro.find('"""\n', 3) + 4 if repro.startswith('"""') else 0
    if at <= 0 or not 0 < doc_end <= at:
        return repro
    return [repro[:doc_end], preludes.setdefault(repro[doc_end:at], len(preludes)),
            repro[at:]]


def dump_run(run: Run, path: Path) -> None:
    """Writes a run file atomically (write a temporary file, then rename), each distinct
    repro prelude once (`preludes`; the module's docstring)."""
    data = RUN_ADAPTER.dump_python(run)  # floats stay floats, inf included
    preludes: dict[str, int] = {}
    for case in data["cases"]:
        case["repro"] = split_repro(case["repro"], preludes)
    data["preludes"] = list(preludes)
    # inf (a NaN where values were expected) is kept as the string "Infinity", not null.
    atomic.write_bytes(path, to_json(data, indent=1, inf_nan_mode="strings"))


def join_preludes(raw: dict[str, Any], path: Path, error: type[ValueError]) -> dict[str, Any]:
    """A decoded run file with every `[docstring, prelude index, rest]` repro whole again and
    `preludes` dropped (`dump_run`); a file without `preludes` as it is.

    Raises:
        error: `preludes` is not a list of strings, or a repro names a prelude it lacks or
            is not of that form; the message names the file and the field.
    """
    if "preludes" not in raw:
        return raw
    preludes = raw["preludes"]
    if not isinstance(preludes, list) or not all(isinstance(p, str) for p in preludes):
        raise error(f"{path}: field `preludes` must be a list of strings")
    cases = raw.get("cases")
    joined = []
    for i, case in enumerate(cases if isinstance(cases, list) else ()):
        repro = case.get("repro") if isinstance(case, dict) else None
        if isinstance(repro, list):
            ok = (len(repro) == 3 and isinstance(repro[0], str) and isinstance(repro[2], str)
                  and isinstance(repro[1], int) and not isinstance(repro[1], bool)
                  and 0 <= repro[1] < len(preludes))
            if not ok:
                raise error(f"{path}: field `cases.{i}.repro` must be a string or [docstring, "
                            f"prelude index below {len(preludes)}, rest]")
            case = {**case, "repro": repro[0] + preludes[repro[1]] + repro[2]}
        joined.append(case)
    return {**{k: v for k, v in raw.items() if k != "preludes"},
            **({"cases": joined} if isinstance(cases, list) else {})}


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


def read_json_object(path: Path, error: type[ValueError]) -> dict[str, Any]:
    """Reads a JSON document this harness wrote, of any schema version, as a dict.

    Only a regular file of at most `matrix.run.runfiles.MAX_READ_BYTES` is read
    (`read_regular_file`): a FIFO or a link to `/dev/zero` named `*.json` is refused by name
    instead of blocking the reader. `NaN`, `Infinity` and overflowing literals, and nesting
    deeper than `MAX_DEPTH`, are refused (the harness writes a non-finite number as the
    string `"Infinity"`).

    Raises:
        error: not a regular file, too large, unreadable, truncated, not an object at the
            top level, or holding a value the harness never writes; the message names the
            file and the field.
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
    return raw


def read_document(path: Path, adapter: TypeAdapter[T], error: type[ValueError]) -> T:
    """Reads a JSON document of this schema version (a run file, a compatibility.json).

    Args:
        path: the file.
        adapter: validates the decoded JSON into its type.
        error: the exception class to raise.

    The file is read by `read_json_object` (a regular file only, no non-finite literal).

    Raises:
        error: not a regular file, too large, unreadable, truncated, of another schema
            version, or a field is invalid; the message names the file and the field.
    """
    raw = read_json_object(path, error)
    if adapter is RUN_ADAPTER:
        raw = join_preludes(raw, path, error)
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

