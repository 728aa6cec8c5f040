"""`compatibility.html`: one offline page (inline CSS and vanilla JS, no CDN, no server),
rendered by Jinja2 from `matrix/templates/compatibility.html.j2` with autoescape on: the grid
with filters, the divergences and silent-divergences views, pivots linked to the filtered
grid, and a detail panel per cell with the observation, the limitation and a repro snippet.
The JSON embedded in the page escapes `<`, `>` and `&`, and the detail panel sets
`textContent` only."""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from matrix.report.clusters import Cluster, Pivot, error_clusters, pivots, share
from matrix.report.dtypes import DTYPES_PAGE, dtype_view
from matrix.report.minimal import minimal_header, minimal_repro
from matrix.report.repro import _doc_link, _interned, _split_prelude, repro_body, repro_header
from matrix.report.table import (
    CompatibilityTable,
    compatibility_table,
    distinctions,
    short_expected,
)
from matrix.report.views import (
    GENERATOR,
    MEANINGS,
    PASS_NOTE,
    REGENERATE,
    _cells,
    _counts,
    _groups,
    _plural,
    _present_outcomes,
    _short_commit,
    attempts_text,
    backend_version,
    behaviour_counts,
    flaky_cells,
    harness_errors,
    host_text,
    inference_note,
    inference_only_ids,
    keras_version,
    limitation_link,
    ran_text,
    short_observation,
)
from matrix.results import (
    MATCHED,
    EnvironmentInfo,
    Matrix,
    Outcome,
    Result,
    clean_message,
    divergent_cases,
    silent_divergences,
)

HTML_ROWS = 300
#: Error clusters listed on the page; the rest are in the grid's cause filter.
CLUSTER_ROWS = 100


def _jinja() -> Environment:
    env = Environment(loader=PackageLoader("matrix", "templates"),
                      autoescape=select_autoescape(["html", "j2"], default=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                      keep_trailing_newline=True)
    env.filters["short_expected"] = short_expected
    return env


def script_json(value: Any) -> Markup:
    """JSON safe to place inside `<script type="application/json">`.

    `<`, `>` and `&` become `\\u003c`, `\\u003e` and `\\u0026`, so a message holding
    `</script>` or `<!--` cannot end the element; JSON.parse reads them back unchanged.
    """
    text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return Markup(text)  # escaped above for this context


def _observation_data(matrix: Matrix, result: Result) -> dict[str, Any]:
    obs = result.observed
    description, link = limitation_link(matrix, result.limitation)
    raw: dict[str, Any] = {
        "kind": obs.kind, "error_type": obs.error_type,
        "message": clean_message(obs.message) if obs.message else None,
        "shape": obs.shape, "dtype": obs.dtype, "max_abs_error": obs.max_abs_error,
        "nan_count": obs.nan_count, "device": obs.device,
        "limitation": description or None, "link": link,
        "unexplained": f"{result.unexplained} selects this cell but does not explain what "
                       "it did (see its `explains`)" if result.unexplained else None,
        "short": short_observation(result),
        "verdict": " ".join(filter(None, (result.verdict.status, result.verdict.cause))),
        "warnings": obs.warnings or None,
    }
    error = obs.max_abs_error
    if error is not None and not math.isfinite(error):
        raw["max_abs_error"] = _nonfinite(error)
    return {k: v for k, v in raw.items() if v is not None}


def _nonfinite(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def _env_view(env: EnvironmentInfo, counts: Counter[Outcome]) -> dict[str, Any]:
    prov = env.provenance
    commit = str(prov.get("git_commit") or "—")
    return {
        "id": env.id, "backend": env.backend, "device": env.device, "ran": env.ran,
        "ran_text": ran_text(env), "reason": env.reason or "not run",
        "keras": keras_version(env),
        "backend_version": backend_version(env), "python": env.versions.get("python", "—"),
        "device_name": str(prov.get("device_name") or "—"),
        "host": host_text(env),
        "date": str(prov.get("date") or "—"),
        "commit": _short_commit(commit), "commit_full": commit,
        "provenance": json.dumps({"versions": env.versions, **prov}, indent=1,
                                 ensure_ascii=False, default=str),
        "counts": counts, "behaviour_counts": behaviour_counts(env, counts),
    }


def _idle_envs(envs: Sequence[EnvironmentInfo]) -> list[dict[str, Any]]:
    """The environments that did not run, one entry per reason: `{"reason", "ids"}`."""
    idle: dict[str, list[str]] = {}
    for env in envs:
        if not env.ran:
            idle.setdefault(env.reason or "not run", []).append(env.id)
    return [{"reason": reason, "ids": ids} for reason, ids in idle.items()]


def _share_class(matched: int, ran: int) -> str:
    if not ran:
        return "p-none"
    if matched == ran:
        return "p-all"
    return "p-most" if matched * 2 >= ran else "p-few"


def _pivot_view(pivot: Pivot, envs: Sequence[EnvironmentInfo]) -> dict[str, Any]:
    key = "group" if pivot.axis == "group" else f"ax.{pivot.axis}"
    rows = []
    for value in pivot.values:
        row = []
        for env in envs:
            matched, ran = pivot.counts.get((value, env.id), (0, 0))
            row.append({"text": share(matched, ran) if env.ran else "not run",
                        "cls": _share_class(matched, ran) if env.ran else "p-none"})
        rows.append({"value": value, "cells": row,
                     "href": f"#f:{quote(key)}={quote(str(value))}"})
    return {"axis": pivot.axis, "rows": rows}


def grid_text(result: Result) -> str:
    """A grid cell in a few characters: `✓`, `NaN`, `≠`, the error type, `crash`, `timeout`."""
    obs, outcome = result.observed, result.outcome
    if outcome is Outcome.NOT_RUN:
        return "–"  # noqa: RUF001 - a dash, the cell did not run
    if outcome is Outcome.SKIPPED:
        return "n/a"
    if outcome is Outcome.ERROR:
        return "harness"
    if obs.kind == "crash" or outcome is Outcome.CRASHED:
        return "crash"
    if obs.kind == "timeout" or outcome is Outcome.TIMEOUT:
        return "timeout"
    if obs.kind == "error":
        return clean_message(obs.error_type or "error", 40)
    if obs.nan_count:
        return "NaN"
    return "✓" if outcome in MATCHED else "≠"


def _table_view(matrix: Matrix, table: CompatibilityTable) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    distinct = distinctions(table.rows)
    for index, row in enumerate(table.rows):
        why = []
        for lim in row.limitations:
            description, link = limitation_link(matrix, lim)
            why.append({"id": lim, "description": description, "link": link})
        rows.append({"index": index, "subject": row.subject,
                     "vals": "" if row.values == "—" else row.values,
                     "expected": row.expected, "cells": row.cells, "count": len(row.cases),
                     "spans": row.spans, "why": why, "silent": row.silent,
                     "unexplained": row.unexplained, "api_head": None,
                     "distinct": distinct[index]})
    # Grouped by Keras API, the APIs in the order of their first (most severe) row, so a user
    # looking for their API finds all of its behaviours together under one heading.
    first: dict[str, int] = {}
    for position, view in enumerate(rows):
        first.setdefault(view["subject"], position)
    rows.sort(key=lambda view: first[view["subject"]])
    for subject in first:
        of_api = [view for view in rows if view["subject"] == subject]
        of_api[0]["api_head"] = {"name": subject, "behaviours": len(of_api),
                                 "cases": sum(view["count"] for view in of_api)}
    return rows


#: The folder beside `compatibility.html` that holds its per-family data files.
DATA_DIR = "compatibility-data"


@dataclass(frozen=True)
class HtmlReport:
    """The HTML report as files: the page and its per-family data files.

    Attributes:
        page: `compatibility.html`: the first screen (compatibility table, environments,
            clusters, pivots, the grid's filters and family headings) with no case's data.
        data: relative path (`compatibility-data/<NN>-<family>.js`) -> text: one file per
            family (case group) holding its cases, cells, observations and repros, loaded by
            the page when the grid, a filter, the search or a permalink needs it.
    """

    page: str
    data: dict[str, str]


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40].strip("-")
    return slug or "family"


def _family_payloads(matrix: Matrix, group_names: Sequence[str], axis_keys: Sequence[str],
                     clusters: Sequence[Cluster],
                     divergent_set: set[str], silent_set: set[str],
                     preludes: dict[str, int]) -> list[dict[str, Any]]:
    """Per family (case group, in `group_names` order): its cases, cells and what they refer
    to, every table local to the family (the page offsets the indices when it loads one).

    A case row is `[case index, id, group index, description, axis values, expected, flags,
    docstring, prelude index, rest of the program, minimal repro line indices, doc link]`;
    a cell is 5 integers per environment: outcome index, observation index, duration (s),
    cluster index (-1 for none), grid text index; -1 throughout for a missing cell.
    """
    cells = _cells(matrix)
    envs = matrix.environments
    group_index = {g: i for i, g in enumerate(group_names)}
    outcome_index = {o: i for i, o in enumerate(Outcome)}
    cluster_of = {(r.case, r.environment): k for k, cl in enumerate(clusters)
                  for r in cl.results}
    families: list[dict[str, Any]] = [
        {"cases": [], "cells": [], "observations": [], "lines": [], "texts": [],
         "_obs": {}, "_lines": {}, "_texts": {}} for _ in group_names]
    for c_index, case in enumerate(matrix.cases):
        family = families[group_index[case.group]]
        observations: dict[tuple[Any, ...], int] = family["_obs"]
        texts: dict[str, int] = family["_texts"]
        flat: list[Any] = []
        for env in envs:
            result = cells.get((case.id, env.id))
            if result is None:
                flat += [-1, -1, 0, -1, -1]
                continue
            obs = result.observed
            key = (obs.kind, obs.error_type, obs.message, tuple(obs.shape or ()), obs.dtype,
                   obs.max_abs_error, obs.nan_count, obs.device, result.limitation,
                   result.outcome in MATCHED)
            slot = observations.get(key)
            if slot is None:
                slot = observations[key] = len(family["observations"])
                family["observations"].append(_observation_data(matrix, result))
            text = texts.setdefault(grid_text(result), len(texts))
            flat += [outcome_index[result.outcome], slot, result.duration_s,
                     cluster_of.get((case.id, env.id), -1), text]
        flags = (1 if case.id in divergent_set else 0) | (2 if case.id in silent_set else 0)
        family["cells"].append(flat)
        family["cases"].append(
            [c_index, case.id, group_index[case.group], case.description,
             [case.axes.get(k) for k in axis_keys], case.expected, flags,
             *_split_prelude(repro_body(case), preludes),
             _interned(minimal_repro(case.repro) if case.repro else None, family["_lines"]),
             _doc_link(case)])
    for family in families:
        family["lines"] = list(family.pop("_lines"))
        family["texts"] = list(family.pop("_texts"))
        del family["_obs"]
    return families


def render_html(matrix: Matrix, changes: Mapping[str, Sequence[str]] | None = None) -> str:
    """`compatibility.html` as one self-contained page: every family's data inline.

    The same page as `render_html_files` writes, with each family's data in a `<script>`
    element of the page instead of a file beside it: one file to mail or attach, heavier to
    load (the whole catalog's data is parsed at once).
    """
    return _render(matrix, changes, split=False).page


def render_html_files(matrix: Matrix,
                      changes: Mapping[str, Sequence[str]] | None = None) -> HtmlReport:
    """`compatibility.html` and its per-family data files (`compatibility-data/`).

    The page holds the first screen only; the grid's rows, a cell's detail, the search and
    the permalinks read the data files, loaded on demand with `<script>` elements (so the
    page works offline, from `file://`, with no server). Its size does not grow with the
    number of cases beyond the family headings and the behaviour list.
    """
    return _render(matrix, changes, split=True)


def _render(matrix: Matrix, changes: Mapping[str, Sequence[str]] | None,
            split: bool) -> HtmlReport:
    """The compatibility table (`matrix.report.table`) comes first; the grid below it is its
    drill-down, built in the browser a few characters per cell (`✓`, `NaN`, the error type)
    with the outcome as its colour and its title. Filters, views, links from the table and
    pivots, and the detail row (the case across every environment, then the repro) run from
    the JSON embedded in the page and the families' data. Observations are stored once per
    distinct value in each family.

    Args:
        matrix: the merged matrix.
        changes: case id -> lines "changed in Keras X.Y.Z (was: ...)" from the bisect files
            (`matrix.bisections.changes_in`), shown in the case's detail.
        split: the families' data in files beside the page (True) or inline (False).
    """
    counts = _counts(matrix)
    divergent = divergent_cases(matrix)
    silent = silent_divergences(matrix)
    clusters = error_clusters(matrix)
    divergent_set = set(divergent)
    silent_set = {r.case for r in silent}
    envs = matrix.environments
    axis_keys = list(dict.fromkeys(k for c in matrix.cases for k in c.axes))
    grouped = _groups(matrix.cases)
    group_names = list(grouped)
    table = compatibility_table(matrix, divergent)
    case_index = {c.id: i for i, c in enumerate(matrix.cases)}
    preludes: dict[str, int] = {}
    families = _family_payloads(matrix, group_names, axis_keys, clusters, divergent_set,
                                silent_set, preludes)
    token = hashlib.sha256(script_json([matrix.generated_at, families]).encode()).hexdigest()[:16]
    files = [f"{DATA_DIR}/{i:02d}-{_slug(name)}.js" for i, name in enumerate(group_names)]
    data = {
        "token": token,
        "outcomes": [o.value for o in Outcome],
        "environments": [{"id": e.id, "backend": e.backend, "device": e.device, "ran": e.ran,
                          "channel": e.channel, "reason": e.reason,
                          "head": repro_header(e), "mini": minimal_header(e.backend, e.device),
                          "versions": dict(e.versions)} for e in envs],
        "behaviours": [[case_index[c] for c in row.cases] for row in table.rows],
        "axes": axis_keys,
        "groups": [{"name": g, "count": len(grouped[g]), "file": f}
                   for g, f in zip(group_names, files, strict=True)],
        "total": len(matrix.cases),
        "preludes": list(preludes),
        "clusters": [cl.signature for cl in clusters],
        "changes": {case: list(lines) for case, lines in (changes or {}).items()},
        "limitations": {lim.id: limitation_link(matrix, lim.id)[0]
                        for lim in matrix.limitations},
        "inline": not split,
    }
    texts = [Markup(f"matrixFamily({i},{script_json(token)},{script_json(family)});")
             for i, family in enumerate(families)]
    axis_values = {k: list(dict.fromkeys(str(c.axes[k]) for c in matrix.cases if k in c.axes))
                   for k in axis_keys}
    ran = [e for e in envs if e.ran]
    cluster_views = [
        {"signature": cl.signature, "count": len(cl.results), "example": cl.example,
         "case": cl.results[0].case,
         "environments": ", ".join(f"{e} {n}" for e, n in cl.environments.items()),
         "outcomes": ", ".join(f"{o.value} {n}" for o, n in cl.outcomes.items())}
        for cl in clusters[:CLUSTER_ROWS]
    ]
    view = dtype_view(matrix)
    template = _jinja().get_template("compatibility.html.j2")
    page = template.render(
        dtypes=None if view is None else {"page": DTYPES_PAGE, "ops": len(view.summary),
                                          "differing": len(view.differing)},
        matrix=matrix, generator=GENERATOR, regenerate=REGENERATE,
        envs=[_env_view(e, counts[e.id]) for e in envs],
        idle=_idle_envs(envs), table=table, rows=_table_view(matrix, table)[:HTML_ROWS],
        more_rows=max(0, len(table.rows) - HTML_ROWS),
        divergent=len(divergent),
        backends=list(dict.fromkeys(e.backend for e in envs)),
        devices=list(dict.fromkeys(e.device for e in envs)),
        outcomes=list(Outcome), present=_present_outcomes(matrix),
        meanings=MEANINGS, pass_note=PASS_NOTE,
        groups=[{"name": g, "index": i, "count": len(grouped[g])}
                for i, g in enumerate(group_names)],
        axis_values=axis_values, ran=ran,
        silent=len(silent), silent_cases=len(silent_set), clusters=cluster_views,
        more_clusters=max(0, len(clusters) - CLUSTER_ROWS),
        cluster_options=[{"signature": cl.signature, "count": len(cl.results)}
                         for cl in clusters],
        failing=sum(len(cl.results) for cl in clusters),
        pivots=[_pivot_view(p, ran) for p in pivots(matrix)],
        short=short_observation, plural=_plural, data=script_json(data),
        inline=None if split else texts,
        harness_errors=harness_errors(matrix), flaky=flaky_cells(matrix),
        attempts_text=attempts_text,
        inference_note=inference_note(envs), inference_ids=inference_only_ids(envs),
    )
    return HtmlReport(page=page, data=dict(zip(files, (t + "\n" for t in texts), strict=True))
                      if split else {})
