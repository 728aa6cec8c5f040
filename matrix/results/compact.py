"""The published matrix in its compact form (schema_version 3), and the one loader of both forms.

`encode` turns a `Matrix` into an index document, `compatibility.json`, and one results file
per environment, `results/<environment id>.json`; `decode` and `load_matrix` give the very
same `Matrix` back (`decode(encode(m)) == m`, non-finite floats included).

- The index holds what is small: `generated_at`, the environments, limitations and problems
  as in the record, the cases one per line with each repro's shared preamble (the imports and
  helpers before `def program():`, about 3.7 KB, the same for most cases) stored once in
  `preludes` and named by its index, the list of results files (`result_files`) and the
  order of the results across them (`result_order`).
- A results file holds one environment's results as rows, one per line: a row is a list in
  the order of `columns`, and every string (case ids, messages, warnings, error types,
  verdict details, outcomes) is an index into the file's `strings` table, which stores each
  distinct string once.

`docs/compatibility.schema.json` describes both files; `docs/report.md` shows how to read a
cell. `load_matrix` reads this form and the older single file (schema_version 2, the
`Matrix` record as pydantic dumps it), which a previously published site may hold.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from itertools import pairwise
from pathlib import Path
from typing import Any

import pydantic_core
from pydantic import TypeAdapter, ValidationError

from matrix.records import SCHEMA_VERSION, Attempt, Matrix, Observation, Result, Verdict
from matrix.results.io import (
    ENVIRONMENT_ID,
    MATRIX_ADAPTER,
    read_json_object,
    split_repro,
)

#: The version of the published form written by `encode`.
COMPACT_VERSION = 3
#: The index document's name; the results files live in `RESULTS_DIR` beside it.
INDEX_NAME = "compatibility.json"
RESULTS_DIR = "results"
#: `result_order` when the results run case by case (in the order of `cases`), and within
#: a case file by file (in the order of `result_files`): the order `merge_runs` writes.
BY_CASE = "by_case"

#: The columns of a row, by record: (field, codec). Codecs: `c` a case id as its index in
#: the index document's `cases` (a string: an id the index does not list); `s` a string (or
#: null) as an index into `strings`; `S` a list of such indices; `v` the JSON value as is;
#: `O`, `V` an observation's, a verdict's row; `A` a list of attempt rows.
COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "result": (("case", "c"), ("outcome", "s"), ("observed", "O"), ("verdict", "V"),
               ("duration_s", "v"), ("limitation", "s"), ("flaky", "v"), ("attempts", "A"),
               ("unexplained", "s")),
    "observed": (("kind", "s"), ("error_type", "s"), ("message", "s"), ("shape", "v"),
                 ("dtype", "s"), ("max_abs_error", "v"), ("nan_count", "v"), ("device", "s"),
                 ("weights_dtype", "s"), ("warnings", "S"), ("timings", "v"), ("stage", "s"),
                 ("step", "v"), ("step_name", "s"), ("fingerprint", "v"),
                 ("alternatives", "v")),
    "verdict": (("status", "s"), ("cause", "s"), ("detail", "s")),
    "attempt": (("verdict", "V"), ("observed", "O"), ("duration_s", "v")),
}
#: The record each row kind stands for: its fields are exactly the columns (a test checks).
RECORDS = {"result": Result, "observed": Observation, "verdict": Verdict, "attempt": Attempt}
_NESTED = {"O": "observed", "V": "verdict"}
#: Columns added at the end of a row after compact version 3: a row without them (written
#: by an older harness) reads them as null.
_ADDED: dict[str, tuple[str, ...]] = {"observed": ("alternatives",)}
#: A results file's path as `result_path` makes it: one folder down, no `..`.
RESULT_FILE_PATTERN = rf"{RESULTS_DIR}/(?:[a-z0-9][a-z0-9._+-]{{0,63}}|_[0-9]+)\.json"
_RESULT_FILE = re.compile(RESULT_FILE_PATTERN)
_RESULTS_ADAPTER: TypeAdapter[list[Result]] = TypeAdapter(list[Result])


class MatrixFileError(ValueError):
    """A compatibility.json (or one of its results files) cannot be used; the message names
    the file and the field."""


def _json(value: Any) -> str:
    """One value as compact JSON; a non-finite float as the string `"Infinity"` (`"NaN"`)."""
    return pydantic_core.to_json(value, inf_nan_mode="strings").decode("utf-8")


def _document(head: Mapping[str, Any], tables: Mapping[str, Sequence[Any]]) -> str:
    """A JSON object: the `head` fields on the first line, then each table one item a line,
    so a changed cell changes one line of a diff and gzip sees the repeats line by line."""
    parts = [f"{_json(key)}:{_json(value)}" for key, value in head.items()]
    for key, items in tables.items():
        body = ",\n".join(_json(item) for item in items)
        parts.append(f"{_json(key)}:[\n{body}\n]" if items else f"{_json(key)}:[]")
    return "{" + ",\n".join(parts) + "}\n"


def _encode_row(record: Mapping[str, Any], kind: str, strings: dict[str, int],
                cases: Mapping[str, int]) -> list[Any]:
    """A dumped record as its row of `COLUMNS[kind]`, adding new strings to `strings`;
    `cases` is case id -> its index in the index document."""
    row: list[Any] = []
    for name, codec in COLUMNS[kind]:
        value = record[name]
        if codec == "c":
            row.append(cases.get(value, value))
        elif codec == "s":
            row.append(None if value is None else strings.setdefault(str(value), len(strings)))
        elif codec == "S":
            row.append([strings.setdefault(str(v), len(strings)) for v in value])
        elif codec in _NESTED:
            row.append(_encode_row(value, _NESTED[codec], strings, cases))
        elif codec == "A":
            row.append([_encode_row(a, "attempt", strings, cases) for a in value])
        else:
            row.append(value)
    return row


def result_path(environment: str, index: int) -> str:
    """The results file of an environment, relative to the index: `results/<id>.json` for
    an id as `matrix/axes.toml` builds them, else `results/_<index>.json` (an id with other
    characters never names a file)."""
    stem = environment if ENVIRONMENT_ID.match(environment) else f"_{index}"
    return f"{RESULTS_DIR}/{stem}.json"


def encode(matrix: Matrix, generator: str = "") -> dict[str, str]:
    """The compact published form of `matrix` (schema_version 3).

    Args:
        matrix: the merged matrix.
        generator: the line saying how the files were made, kept in the index.

    Returns:
        Relative path -> JSON text ending in a newline: `compatibility.json` first, then
        one `results/<environment id>.json` per environment that has results, in the order
        the environments first appear in `matrix.results`.
    """
    data = MATRIX_ADAPTER.dump_python(matrix)  # floats stay floats, inf included
    preludes: dict[str, int] = {}
    cases = [{**case, "repro": split_repro(case["repro"], preludes)} for case in data["cases"]]
    case_index: dict[str, int] = {}
    for i, case in enumerate(data["cases"]):
        case_index.setdefault(case["id"], i)
    position: dict[str, int] = {}
    groups: list[list[dict[str, Any]]] = []
    runs: list[list[int]] = []  # runs of [file index, how many results]
    keys = []
    for result in data["results"]:
        index = position.setdefault(result["environment"], len(position))
        if index == len(groups):
            groups.append([])
        groups[index].append(result)
        keys.append((case_index.get(result["case"], -1), index))
        if runs and runs[-1][0] == index:
            runs[-1][1] += 1
        else:
            runs.append([index, 1])
    by_case = all(k[0] >= 0 for k in keys) and all(a <= b for a, b in pairwise(keys))
    order: str | list[list[int]] = BY_CASE if by_case else runs
    files: dict[str, str] = {}
    listed = []
    for (environment, index), results in zip(position.items(), groups, strict=True):
        strings: dict[str, int] = {}
        rows = [_encode_row(r, "result", strings, case_index) for r in results]
        path = result_path(environment, index)
        listed.append({"environment": environment, "path": path, "results": len(rows)})
        head = {"schema_version": COMPACT_VERSION, "environment": environment,
                "columns": {kind: [name for name, _ in cols] for kind, cols in COLUMNS.items()}}
        files[path] = _document(head, {"strings": list(strings), "results": rows})
    head = {"schema_version": COMPACT_VERSION, "generator": generator,
            "generated_at": data["generated_at"], "record_schema_version": data["schema_version"],
            "result_files": listed, "result_order": order,
            "environments": data["environments"], "limitations": data["limitations"],
            "problems": data["problems"]}
    index_text = _document(head, {"preludes": list(preludes), "cases": cases})
    return {INDEX_NAME: index_text, **files}


def _invalid(error: type[ValueError], where: str, exc: ValidationError, prefix: str = "") -> \
        ValueError:
    """The first problem pydantic found, as `error` naming the file and the field."""
    first = exc.errors()[0]
    field = ".".join(str(p) for p in (prefix, *first["loc"]) if p != "")
    return error(f"{where}: field `{field}`: {first['msg']} "
                 f"({exc.error_count()} problem(s) in all)")


class _RowError(Exception):
    """A row that does not fit its columns: `field` (dotted path) and what is wrong."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field, self.problem = field, problem


def _string(value: Any, strings: Sequence[str], where: str) -> str | None:
    """The string an index names (None for null).

    Raises:
        _RowError: anything but null or an index into `strings`.
    """
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(strings):
        return strings[value]
    raise _RowError(where, f"{value!r} is not an index into `strings` "
                           f"(0 to {len(strings) - 1}) or null")


def _decode_row(row: Any, kind: str, strings: Sequence[str], cases: Sequence[str],
                where: str) -> dict[str, Any]:
    """A row of `COLUMNS[kind]` back as the record's fields (validated later by pydantic).

    Raises:
        _RowError: the row is not a list of the columns' length, or a string column holds
            no index into `strings`.
    """
    columns = COLUMNS[kind]
    added = _ADDED.get(kind, ())
    if isinstance(row, list) and added and len(row) == len(columns) - len(added):
        row = [*row, *[None] * len(added)]
    if not isinstance(row, list) or len(row) != len(columns):
        raise _RowError(where, f"expected a row of {len(columns)} columns "
                               f"({', '.join(name for name, _ in columns)})")
    record: dict[str, Any] = {}
    for (name, codec), value in zip(columns, row, strict=True):
        at = f"{where}.{name}"
        if codec == "c":
            if isinstance(value, int) and not isinstance(value, bool) \
                    and 0 <= value < len(cases):
                record[name] = cases[value]
            elif isinstance(value, str):
                record[name] = value
            else:
                raise _RowError(at, f"{value!r} is neither an index into the index's `cases` "
                                    f"(0 to {len(cases) - 1}) nor a case id")
        elif codec == "s":
            record[name] = _string(value, strings, at)
        elif codec in ("S", "A") and not isinstance(value, list):
            raise _RowError(at, "expected a list")
        elif codec == "S":
            record[name] = [_string(v, strings, f"{at}.{i}") for i, v in enumerate(value)]
        elif codec == "A":
            record[name] = [_decode_row(a, "attempt", strings, cases, f"{at}.{i}")
                            for i, a in enumerate(value)]
        elif codec in _NESTED:
            record[name] = _decode_row(value, _NESTED[codec], strings, cases, at)
        else:
            record[name] = value
    return record


def _field(doc: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str,
           error: type[ValueError]) -> Any:
    """`doc[key]`, checked to be of `kind`; else `error` naming the file and the field."""
    value = doc.get(key)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise error(f"{where}: field `{key}` is {type(value).__name__}; expected "
                    f"{getattr(kind, '__name__', 'a list or a string')}.")
    return value


def _read_results(doc: Mapping[str, Any], environment: str, count: int, cases: Sequence[str],
                  where: str, error: type[ValueError]) -> list[Result]:
    """One environment's results file as its results, validated."""
    if doc.get("schema_version") != COMPACT_VERSION:
        raise error(f"{where}: field `schema_version` is {doc.get('schema_version')!r}; a "
                    f"results file of the published form has {COMPACT_VERSION}.")
    if doc.get("environment") != environment:
        raise error(f"{where}: field `environment` is {doc.get('environment')!r}; the index "
                    f"lists this file for {environment!r}.")
    strings = _field(doc, "strings", list, where, error)
    if not all(isinstance(s, str) for s in strings):
        raise error(f"{where}: field `strings` holds a value that is not a string.")
    rows = _field(doc, "results", list, where, error)
    if len(rows) != count:
        raise error(f"{where}: field `results` holds {len(rows)} rows; the index says "
                    f"{count}.")
    try:
        records = [{**_decode_row(row, "result", strings, cases, f"results.{i}"),
                    "environment": environment} for i, row in enumerate(rows)]
    except _RowError as exc:
        raise error(f"{where}: field `{exc.field}`: {exc.problem}.") from exc
    try:
        return _RESULTS_ADAPTER.validate_python(records)
    except ValidationError as exc:
        raise _invalid(error, where, exc, "results") from exc


def _join_repro(repro: Any, preludes: Sequence[Any], where: str) -> Any:
    """A case's repro back as text: `[docstring, prelude index, rest]` joined; else as is."""
    if not isinstance(repro, list):
        return repro
    if (len(repro) != 3 or not isinstance(repro[0], str) or not isinstance(repro[2], str)
            or isinstance(repro[1], bool) or not isinstance(repro[1], int)
            or not 0 <= repro[1] < len(preludes) or not isinstance(preludes[repro[1]], str)):
        raise _RowError(where, "expected [docstring, index into `preludes`, rest]")
    return repro[0] + preludes[repro[1]] + repro[2]


def _decode(index: Mapping[str, Any], read: Any, where: str,
            error: type[ValueError]) -> Matrix:
    """The matrix of an index document; `read(relative path)` gives a results file as
    (its document, the name to print)."""
    listed = _field(index, "result_files", list, where, error)
    order = _field(index, "result_order", (list, str), where, error)
    preludes = _field(index, "preludes", list, where, error)
    cases = _field(index, "cases", list, where, error)
    try:
        cases = [{**case, "repro": _join_repro(case.get("repro"), preludes, f"cases.{i}.repro")}
                 if isinstance(case, dict) else case for i, case in enumerate(cases)]
    except _RowError as exc:
        raise error(f"{where}: field `{exc.field}`: {exc.problem}.") from exc
    record = {"schema_version": index.get("record_schema_version"),
              "generated_at": index.get("generated_at"), "environments": index.get("environments"),
              "cases": cases, "results": [], "limitations": index.get("limitations", []),
              "problems": index.get("problems", [])}
    try:
        matrix = MATRIX_ADAPTER.validate_python(record)
    except ValidationError as exc:
        loc = exc.errors()[0]["loc"]
        if loc and loc[0] == "schema_version":  # the index stores it as record_schema_version
            raise error(f"{where}: field `record_schema_version`: {exc.errors()[0]['msg']}") \
                from exc
        raise _invalid(error, where, exc) from exc
    case_ids = [case.id for case in matrix.cases]
    per_file: list[list[Result]] = []
    seen: set[str] = set()
    for i, entry in enumerate(listed):
        if not isinstance(entry, dict) or not isinstance(entry.get("environment"), str) \
                or entry.get("path") != result_path(entry["environment"], i) \
                or isinstance(entry.get("results"), bool) \
                or not isinstance(entry.get("results"), int):
            raise error(f"{where}: field `result_files.{i}`: expected {{environment, path, "
                        "results}} with path `results/<environment id>.json` as `encode` "
                        "writes it.")
        if entry["environment"] in seen:
            raise error(f"{where}: field `result_files.{i}.environment`: "
                        f"{entry['environment']!r} is listed twice.")
        seen.add(entry["environment"])
        doc, name = read(entry["path"])
        per_file.append(_read_results(doc, entry["environment"], entry["results"], case_ids,
                                      name, error))
    return replace(matrix, results=_ordered(order, per_file, case_ids, where, error))


def _ordered(order: str | list[Any], per_file: Sequence[Sequence[Result]],
             case_ids: Sequence[str], where: str, error: type[ValueError]) -> list[Result]:
    """The results of every file in the order `result_order` gives (`BY_CASE`, or runs of
    [file index, count])."""
    if isinstance(order, str):
        if order != BY_CASE:
            raise error(f"{where}: field `result_order` is {order!r}; expected {BY_CASE!r} or "
                        "a list of [file index, count].")
        position: dict[str, int] = {}
        for i, case in enumerate(case_ids):
            position.setdefault(case, i)
        tagged = [(f, r) for f, rows in enumerate(per_file) for r in rows]
        stray = next((r.case for _, r in tagged if r.case not in position), None)
        if stray is not None:
            raise error(f"{where}: field `result_order` is {BY_CASE!r}, but case {stray!r} "
                        "of a results file is not in `cases`.")
        tagged.sort(key=lambda fr: (position[fr[1].case], fr[0]))  # stable: file order kept
        return [r for _, r in tagged]
    results: list[Result] = []
    taken = [0] * len(per_file)
    for i, run in enumerate(order):
        if not (isinstance(run, list) and len(run) == 2
                and all(isinstance(n, int) and not isinstance(n, bool) for n in run)
                and 0 <= run[0] < len(per_file) and run[1] > 0
                and taken[run[0]] + run[1] <= len(per_file[run[0]])):
            raise error(f"{where}: field `result_order.{i}`: expected [index into "
                        "`result_files`, a count of that file's results not yet placed].")
        results += per_file[run[0]][taken[run[0]]:taken[run[0]] + run[1]]
        taken[run[0]] += run[1]
    if taken != [len(rows) for rows in per_file]:
        raise error(f"{where}: field `result_order` places {sum(taken)} results; the results "
                    f"files hold {sum(len(rows) for rows in per_file)}.")
    return results


def decode(texts: Mapping[str, str], error: type[ValueError] = MatrixFileError) -> Matrix:
    """The matrix of the files `encode` returned (relative path -> text).

    Raises:
        error: a file is missing, not JSON, or a field is invalid; the message names the
            file and the field.
    """
    def parse(name: str) -> tuple[dict[str, Any], str]:
        if name not in texts:
            raise error(f"{name}: missing (the index lists it).")
        try:
            doc = json.loads(texts[name], parse_constant=_refuse_constant)
        except (json.JSONDecodeError, ValueError) as exc:
            raise error(f"{name}: not valid JSON: {exc}") from exc
        if not isinstance(doc, dict):
            raise error(f"{name}: expected a JSON object at the top level.")
        return doc, name

    index, _ = parse(INDEX_NAME)
    _check_version(index, INDEX_NAME, error, (COMPACT_VERSION,))
    return _decode(index, parse, INDEX_NAME, error)


def _refuse_constant(name: str) -> None:
    """For `json.loads`: `NaN`, `Infinity` and `-Infinity` literals are refused."""
    raise ValueError(f"{name} is not a JSON number; the harness writes the string \"{name}\"")


def _check_version(doc: Mapping[str, Any], where: str, error: type[ValueError],
                   known: tuple[int, ...]) -> int:
    """The document's `schema_version`, one of `known`; else `error` naming the file."""
    version = doc.get("schema_version")
    if version not in known or isinstance(version, bool):
        older = isinstance(version, int) and not isinstance(version, bool) \
            and version < SCHEMA_VERSION
        advice = (" It was written before the v2 catalog (cases as programs, raw verdicts): "
                  "rerun its environments and the report (`nox -s report`) to write a current "
                  "one." if older else "")
        raise error(f"{where}: field `schema_version` is {version!r}; this harness reads a "
                    f"compatibility.json of schema_version {' or '.join(map(str, known))}."
                    f"{advice}")
    return int(version)


def load_matrix(path: Path, error: type[ValueError] = MatrixFileError) -> Matrix:
    """Reads a published `compatibility.json`: the compact form (schema_version 3, with its
    `results/*.json` beside it) or the older single file (schema_version 2).

    Args:
        path: the index document, `.../compatibility.json`.
        error: the exception class to raise.

    Returns:
        The matrix, exactly as it was encoded.

    Raises:
        error: a file is missing, not a regular file, too large, not JSON, of another
            schema version, or a field is invalid; the message names the file and the field.
    """
    index = read_json_object(path, error)
    if _check_version(index, str(path), error, (COMPACT_VERSION, SCHEMA_VERSION)) \
            == SCHEMA_VERSION:
        try:
            return MATRIX_ADAPTER.validate_python(index)
        except ValidationError as exc:
            raise _invalid(error, str(path), exc) from exc

    def read(name: str) -> tuple[dict[str, Any], str]:
        return read_json_object(path.parent / name, error), str(path.parent / name)

    return _decode(index, read, str(path), error)


def published_files(index: Path) -> list[str]:
    """The files of a published matrix, relative to the index's folder: `compatibility.json`
    and, in the compact form, the results files it lists (those a copy must take along).

    An index that cannot be read, or a listed path that is not `results/<name>.json`, is
    left to `load_matrix` to report: only the names that can be files of the form are given.
    """
    try:
        listed = read_json_object(index, MatrixFileError).get("result_files")
    except MatrixFileError:
        return [index.name]
    paths = [entry.get("path") for entry in listed or () if isinstance(entry, dict)] \
        if isinstance(listed, list) else []
    return [index.name, *(p for p in paths if isinstance(p, str) and _RESULT_FILE.fullmatch(p))]
