"""The report: every run file folded into the matrix, rendered as Markdown, HTML and JSON.

This package owns the step after the runs: `collect` (`runs`) reads `reports/runs/*.json` (a
file that cannot be used becomes a problem shown at the top of every format, never a crash),
and the renderers turn the `Matrix` into

- `compatibility.json` and `results/<environment>.json` (`files`): the published JSON
  (schema_version 3, `matrix.results.compact`), with a `generator` line;
- `compatibility.md` (`markdown`): environments, divergences, error clusters, pivots per axis
  and the grid, as tables a code host renders and that stay aligned in the raw text;
- `compatibility.html` (`html`): one offline page (inline CSS and vanilla JS, no CDN, no
  server): the grid with filters (environment, backend, device, group, every case axis,
  outcome, error cluster), the divergences and silent-divergences views, pivots linked to
  the filtered grid, and a detail panel per cell with the observation, the limitation and a
  repro snippet (`repro`);
- a rich summary table for the terminal (`terminal`).

What every format shows of an environment, an outcome or a limitation is in `views`; error
clusters and pivots in `clusters`. The report never imports the tools (`matrix.bisect`,
`matrix.check`, `matrix.diff`, `matrix.publish`, `matrix.ci`): the bisect files it shows are
read with `matrix.bisections`.

Every outcome is shown as a word, with colour or a symbol beside it, never colour alone.
Strings that come from the runs (error messages are written by backends) are untrusted:
Jinja2 autoescapes the HTML, the embedded JSON escapes `<`, `>` and `&`, and the detail panel
sets `textContent` only.

Run it as `python -m matrix.report [--runs reports/runs] [--out reports]` (`cli`), or
`nox -s report`.
"""

from __future__ import annotations

from matrix.report.cli import main
from matrix.report.clusters import error_clusters, error_signature, normalise_message, pivots
from matrix.report.files import render_json, write_reports
from matrix.report.html import HtmlReport, render_html, render_html_files, script_json
from matrix.report.markdown import render_markdown
from matrix.report.repro import repro_body, repro_header, repro_snippet
from matrix.report.table import short_expected
from matrix.report.terminal import print_summary, recorded
from matrix.report.views import behaviour_counts, limitation_link, short_observation
from matrix.results.collect import (
    collect,
    declared_environments,
    judged_beside_catalogs,
    unsafe_name,
)

__all__ = [
    "HtmlReport",
    "behaviour_counts",
    "collect",
    "declared_environments",
    "error_clusters",
    "error_signature",
    "judged_beside_catalogs",
    "limitation_link",
    "main",
    "normalise_message",
    "pivots",
    "print_summary",
    "recorded",
    "render_html",
    "render_html_files",
    "render_json",
    "render_markdown",
    "repro_body",
    "repro_header",
    "repro_snippet",
    "script_json",
    "short_expected",
    "short_observation",
    "unsafe_name",
    "write_reports",
]
