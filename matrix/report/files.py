"""The report's files: the published JSON (`compatibility.json` and `results/<environment>.json`,
schema_version 3, `matrix.results.compact`) and `compatibility.{md,html}`, written all
together or not at all."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from matrix import atomic
from matrix.report.dtypes import DTYPES_PAGE, dtype_view, render_dtypes
from matrix.report.html import DATA_DIR, render_html_files
from matrix.report.markdown import render_markdown
from matrix.report.views import GENERATOR
from matrix.results import Matrix
from matrix.results.compact import RESULTS_DIR, encode


def render_json(matrix: Matrix) -> dict[str, str]:
    """The published JSON of `matrix` (schema_version 3, `matrix.results.compact.encode`).

    `compatibility.json` is the index (environments, limitations, problems, the cases with
    each repro's shared preamble stored once, the list of results files);
    `results/<environment id>.json` holds one environment's results, one row a line, each
    distinct string once. A non-finite `max_abs_error` (inf: exactly one side held NaN) is
    the string `"Infinity"` (`"-Infinity"`, `"NaN"`). `docs/compatibility.schema.json`
    describes both; `matrix.results.compact.load_matrix` reads them back as `matrix`.

    Args:
        matrix: the merged matrix.

    Returns:
        Path relative to the report folder -> JSON text ending in a newline,
        `compatibility.json` first.
    """
    return encode(matrix, GENERATOR)


def write_reports(matrix: Matrix, out_dir: Path,
                  changes: Mapping[str, Sequence[str]] | None = None) -> list[Path]:
    """Writes `compatibility.md`, `.html` with its family data files (`compatibility-data/`),
    the dtype view (`compatibility-dtypes.html`, when the matrix has `keras.ops` dtype
    cases: `matrix.report.dtypes`) and the published JSON all together
    (`replace_together`); a `results/*.json` of an environment, a family data file or a
    dtype view no longer in the matrix is removed afterwards.

    Args:
        matrix: the merged matrix.
        out_dir: the folder, created if missing.
        changes: the bisect lines per case, for the HTML detail (`render_html`).

    Returns:
        The paths written: md, html, `compatibility.json`, the results files, then the
        family data files.
    """
    html = render_html_files(matrix, changes)
    texts = {"compatibility.md": render_markdown(matrix), "compatibility.html": html.page,
             **render_json(matrix), **html.data}
    view = dtype_view(matrix)
    if view is not None:
        texts[DTYPES_PAGE] = render_dtypes(view, matrix.generated_at)
    written = replace_together(out_dir, texts,
                               prune={RESULTS_DIR: "*.json", DATA_DIR: "*.js"})
    if view is None and (out_dir / DTYPES_PAGE).is_file():  # an earlier report's view
        (out_dir / DTYPES_PAGE).unlink()
    return written


def replace_together(out_dir: Path, texts: Mapping[str, str],
                     prune: Mapping[str, str] | None = None) -> list[Path]:
    """Replaces the files `texts` names (relative paths) in `out_dir` all together, or none.

    Every text is written to a temporary file first (a full disk fails here, before any
    report changed); only then is each renamed over its file, a step that needs no space.
    On any failure the temporary files are removed and the exception goes on. Once all are
    in place, each file matching a pattern of `prune` (folder relative to `out_dir` ->
    glob, `{"results": "*.json"}`) that `texts` does not name is removed: a stale file of an
    environment or a family no longer in the matrix. Other files there are left alone.

    Returns:
        The paths written, in the order of `texts`.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    written = atomic.write_many({out_dir / name: text.encode("utf-8")
                                 for name, text in texts.items()})
    for folder, pattern in (prune or {}).items():
        if not (out_dir / folder).is_dir():
            continue
        for stale in sorted((out_dir / folder).glob(pattern)):
            if stale not in written and stale.is_file():
                stale.unlink()
    return written
