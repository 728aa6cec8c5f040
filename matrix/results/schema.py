"""The JSON Schema of the published form (`docs/compatibility.schema.json`), built from code.

The records' fields come from pydantic's schemas of the dataclasses (`matrix.records`), the
rows from `matrix.results.compact.COLUMNS`, so the schema cannot drift from what `encode`
writes: `tests/test_compact_schema.py` checks the committed file is this one, and validates
the published files with it. `python -m matrix.results.schema` prints it.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from pydantic import TypeAdapter

from matrix.records import CaseInfo, EnvironmentInfo, LimitationInfo
from matrix.results.compact import (
    BY_CASE,
    COLUMNS,
    COMPACT_VERSION,
    RECORDS,
    RESULT_FILE_PATTERN,
)

DIALECT = "https://json-schema.org/draft/2020-12/schema"
#: How a non-finite float is written (pydantic's `inf_nan_mode="strings"`).
NON_FINITE = ["Infinity", "-Infinity", "NaN"]
_REF = "#/$defs/{model}"
_ROW_NAMES = {"result": "ResultRow", "observed": "ObservedRow", "verdict": "VerdictRow",
              "attempt": "AttemptRow"}
_INDEX = {"type": "integer", "minimum": 0}


def _numbers_may_be_non_finite(node: Any) -> Any:
    """`node` with each `{"type": "number"}` also allowing `"Infinity"`, `"-Infinity"` and
    `"NaN"`, as the files write a non-finite float."""
    if isinstance(node, list):
        return [_numbers_may_be_non_finite(n) for n in node]
    if not isinstance(node, dict):
        return node
    node = {k: _numbers_may_be_non_finite(v) for k, v in node.items()}
    if node.get("type") == "number":
        number = {k: v for k, v in node.items() if k not in ("title", "description", "default")}
        rest = {k: v for k, v in node.items() if k not in number}
        return {**rest, "anyOf": [number, {"enum": NON_FINITE}]}
    return node


def _record_schemas() -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The pydantic schema of every record the files hold: (definitions, record name ->
    its field schemas)."""
    defs: dict[str, Any] = {}
    fields: dict[str, dict[str, Any]] = {}
    for record in (*RECORDS.values(), CaseInfo, EnvironmentInfo, LimitationInfo):
        schema = TypeAdapter(record).json_schema(ref_template=_REF, mode="serialization")
        defs.update(schema.pop("$defs", {}))
        defs[record.__name__] = schema
        fields[record.__name__] = schema["properties"]
    return defs, fields


def _column(name: str, codec: str, field: dict[str, Any]) -> dict[str, Any]:
    """The schema of one column of a row."""
    if codec == "c":
        return {"description": f"`{name}`: the case's index in the index document's `cases` "
                               "(a string: the id of a case the index does not list)",
                "anyOf": [_INDEX, {"type": "string"}]}
    if codec == "s":
        return {"description": f"`{name}`: an index into `strings`, or null",
                "anyOf": [_INDEX, {"type": "null"}]}
    if codec == "S":
        return {"description": f"`{name}`: indices into `strings`", "type": "array",
                "items": _INDEX}
    if codec == "A":
        return {"description": f"`{name}`: one row per attempt", "type": "array",
                "items": {"$ref": "#/$defs/AttemptRow"}}
    if codec in ("O", "V"):
        row = _ROW_NAMES["observed" if codec == "O" else "verdict"]
        return {"description": f"`{name}`: a row", "$ref": f"#/$defs/{row}"}
    return {**field, "description": f"`{name}`: the value as is"}


def _rows(fields: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A definition per row kind: a list with one item per column, in order."""
    rows = {}
    for kind, columns in COLUMNS.items():
        record = RECORDS[kind].__name__
        rows[_ROW_NAMES[kind]] = {
            "description": f"A `{record}` as a row: {', '.join(n for n, _ in columns)}.",
            "type": "array", "minItems": len(columns), "maxItems": len(columns),
            "prefixItems": [_column(name, codec, fields[record].get(name, {}))
                            for name, codec in columns]}
    return rows


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of both files of the published form: the index
    (`#/$defs/Index`, `compatibility.json`) and a results file (`#/$defs/ResultsFile`,
    `results/<environment id>.json`)."""
    defs, fields = _record_schemas()
    case = {**defs["CaseInfo"], "properties": {**defs["CaseInfo"]["properties"], "repro": {
        "description": "the program that ran: its text, null, or [docstring, index into "
                       "`preludes`, the rest], joined in that order",
        "anyOf": [{"type": "string"}, {"type": "null"}, {
            "type": "array", "minItems": 3, "maxItems": 3,
            "prefixItems": [{"type": "string"}, _INDEX, {"type": "string"}]}]}}}
    index = {
        "description": "compatibility.json: what is small, and the list of results files.",
        "type": "object",
        "required": ["schema_version", "generator", "generated_at", "record_schema_version",
                     "result_files", "result_order", "environments", "limitations",
                     "problems", "preludes", "cases"],
        "additionalProperties": False,
        "properties": {
            "schema_version": {"const": COMPACT_VERSION},
            "generator": {"type": "string", "description": "how the files were made"},
            "generated_at": {"type": "string", "description": "ISO 8601 time of the merge"},
            "record_schema_version": {"type": "integer", "description": (
                "the schema_version of the run files' records (`matrix.records`)")},
            "result_files": {"type": "array", "items": {
                "type": "object", "required": ["environment", "path", "results"],
                "additionalProperties": False, "properties": {
                    "environment": {"type": "string"},
                    "path": {"type": "string", "pattern": f"^{RESULT_FILE_PATTERN}$",
                             "description": "relative to compatibility.json"},
                    "results": {**_INDEX, "description": "how many rows the file holds"}}}},
            "result_order": {"description": (
                f"how the results of all files interleave: {BY_CASE!r} (case by case in the "
                "order of `cases`, within a case file by file), or runs of [index into "
                "`result_files`, how many of its results come next]"),
                "anyOf": [{"const": BY_CASE}, {"type": "array", "items": {
                    "type": "array", "minItems": 2, "maxItems": 2,
                    "prefixItems": [_INDEX, {"type": "integer", "minimum": 1}]}}]},
            "environments": {"type": "array", "items": {"$ref": "#/$defs/EnvironmentInfo"}},
            "limitations": {"type": "array", "items": {"$ref": "#/$defs/LimitationInfo"}},
            "problems": {"type": "array", "items": {"type": "string"}},
            "preludes": {"type": "array", "items": {"type": "string"}, "description": (
                "each distinct repro preamble (the imports and helpers before "
                "`def program():`), once")},
            "cases": {"type": "array", "items": {"$ref": "#/$defs/Case"}}}}
    results = {
        "description": "results/<environment id>.json: one environment's results, one row a "
                       "line, each distinct string once in `strings`.",
        "type": "object",
        "required": ["schema_version", "environment", "columns", "strings", "results"],
        "additionalProperties": False,
        "properties": {
            "schema_version": {"const": COMPACT_VERSION},
            "environment": {"type": "string"},
            "columns": {"const": {kind: [n for n, _ in cols] for kind, cols in COLUMNS.items()}},
            "strings": {"type": "array", "items": {"type": "string"}},
            "results": {"type": "array", "items": {"$ref": "#/$defs/ResultRow"}}}}
    all_defs = {**defs, "Case": case, "Index": index, "ResultsFile": results, **_rows(fields)}
    schema: dict[str, Any] = _numbers_may_be_non_finite({
        "$schema": DIALECT,
        "title": f"keras-compat-matrix published report, schema_version {COMPACT_VERSION}",
        "description": ("compatibility.json (#/$defs/Index) and each results/<environment "
                        "id>.json (#/$defs/ResultsFile). Read both with "
                        "matrix.results.compact.load_matrix; see docs/report.md."),
        "anyOf": [{"$ref": "#/$defs/Index"}, {"$ref": "#/$defs/ResultsFile"}],
        "$defs": dict(sorted(all_defs.items()))})
    return schema


def render() -> str:
    """The schema as the committed file holds it: indented JSON ending in a newline."""
    return json.dumps(json_schema(), indent=1, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
