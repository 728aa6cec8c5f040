"""The report's files: the JSON contract `compatibility.json` (schema_version 1), and
`compatibility.{md,html,json}` written all together or not at all."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pydantic_core

from matrix import atomic
from matrix.report.html import DATA_DIR, render_html_files
from matrix.report.markdown import render_markdown
from matrix.report.views import GENERATOR
from matrix.results import MATRIX_ADAPTER, Matrix

REPORT_NAMES = ("compatibility.md", "compatibility.html", "compatibility.json")


def render_json(matrix: Matrix) -> str:
    """The contract file `compatibility.json` (schema_version 1).

    Top level: `schema_version`, `generator`, `generated_at`, `environments`, `cases`,
    `results` and `problems`. A non-finite `max_abs_error` (inf: exactly one side held NaN)
    is written as the string `"Infinity"` (`"-Infinity"`, `"NaN"`), pydantic's
    `ser_json_inf_nan="strings"` spelling, which `MATRIX_ADAPTER.validate_json` reads back
    as a float; plain JSON has no literal for it and `null` already means "not compared".

    Args:
        matrix: the merged matrix.

    Returns:
        Indented JSON text ending in a newline.
    """
    data = MATRIX_ADAPTER.dump_python(matrix)  # floats stay floats, inf included
    ordered = {"schema_version": data.pop("schema_version"), "generator": GENERATOR, **data}
    text = pydantic_core.to_json(ordered, indent=1, inf_nan_mode="strings").decode("utf-8")
    return text + "\n"


def write_reports(matrix: Matrix, out_dir: Path,
                  changes: Mapping[str, Sequence[str]] | None = None) -> list[Path]:
    """Writes `compatibility.md`, `.html` (with its `compatibility-data/` files) and `.json`
    all together (temporary files, then renames).

    Args:
        matrix: the merged matrix.
        out_dir: the folder, created if missing.
        changes: the bisect lines per case, for the HTML detail (`render_html`).

    Returns:
        The paths written, in the order md, html, json.
    """
    html = render_html_files(matrix, changes)
    texts = dict(zip(REPORT_NAMES, (render_markdown(matrix), html.page, render_json(matrix)),
                     strict=True))
    written = replace_together(out_dir, {**texts, **html.data})
    # A family data file of an earlier report that this one no longer has: removed once
    # the new files are in place (the page refers to its own files only).
    wanted = {out_dir / name for name in html.data}
    for stale in sorted((out_dir / DATA_DIR).glob("*.js")):
        if stale not in wanted:
            stale.unlink()
    return written[:len(REPORT_NAMES)]


def replace_together(out_dir: Path, texts: Mapping[str, str]) -> list[Path]:
    """Replaces the files `texts` names in `out_dir` all together, or none of them.

    Every text is written to a temporary file first (a full disk fails here, before any
    report changed); only then is each renamed over its file, a step that needs no space.
    On any failure the temporary files are removed and the exception goes on.

    Returns:
        The paths written, in the order of `texts`.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    return atomic.write_many({out_dir / name: text.encode("utf-8")
                              for name, text in texts.items()})
