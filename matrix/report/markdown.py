"""`compatibility.md`: the compatibility table, environments, top divergences, limitations,
error clusters and pivots, as tables a code host renders and that stay aligned in the raw
text."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence

from matrix.report.clusters import Cluster, Pivot, error_clusters, pivots, share
from matrix.report.dtypes import DTYPES_PAGE, dtype_view
from matrix.report.table import (
    Behaviour,
    CompatibilityTable,
    Header,
    compatibility_table,
    distinctions,
)
from matrix.report.views import (
    MEANINGS,
    PASS_NOTE,
    REGENERATE,
    _cells,
    _counts,
    _cut,
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
    short_observation,
)
from matrix.results import Matrix, Outcome, clean_message, divergent_cases, silent_divergences

EXPECTED_WIDTH = 72  # the Markdown cluster table cuts messages; the HTML keeps them whole


_MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\|<>`*[]"})


def _md(text: str) -> str:
    """Untrusted text made safe for a Markdown table cell (one line, no HTML, no pipes)."""
    return " ".join(clean_message(text, 2000).split()).translate(_MD_SPECIAL) if text else ""


def _code(text: str) -> str:
    """Text as a Markdown code span inside a table (pipes still need escaping there)."""
    return "`" + " ".join(text.split()).replace("`", "'").replace("|", "\\|") + "`"


def _table(rows: Sequence[Sequence[str]], headers: Sequence[str]) -> str:
    """A GitHub-flavoured table, padded so it stays aligned in the raw text.

    Written here rather than with tabulate, whose per-cell type inference takes seconds at
    60,000 cells; every cell is text already.
    """
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            if len(cell) > widths[i]:
                widths[i] = len(cell)
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"
    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(headers), rule, *(line(row) for row in rows)])


def render_markdown(matrix: Matrix) -> str:
    """`compatibility.md`: the compatibility table first, then environments, the top
    divergences, limitations, error clusters and pivots; the grid stays in the HTML.

    Sized for a code host: nothing is repeated per case or per channel (each behaviour is
    one row), no line is longer than `MD_LINE_LIMIT` characters, and every case and
    environment is one link away in `compatibility.html` and `compatibility.json`. Tables
    hold words only (no emoji, whose width differs between fonts), so they stay aligned in
    the raw text as well as rendered.

    Args:
        matrix: the merged matrix.

    Returns:
        GitHub-flavoured Markdown ending in a newline.
    """
    counts = _counts(matrix)
    divergent = divergent_cases(matrix)
    silent = silent_divergences(matrix)
    clusters = error_clusters(matrix)
    table = compatibility_table(matrix, divergent)
    envs = matrix.environments
    silent_rows = sum(1 for b in table.rows if b.silent)
    out = [
        "# Keras 3 compatibility matrix",
        "",
        f"> Generated file, do not edit: written by `python -m matrix.report` at "
        f"{_md(matrix.generated_at)}. Regenerate with `{REGENERATE}`.",
        "",
        f"{_plural(len(matrix.cases), 'case')} × {_plural(len(envs), 'environment')} "
        f"({sum(1 for e in envs if e.ran)} ran): "
        f"{_plural(len(table.rows), 'behaviour')} differing from the reference "
        f"({silent_rows} silent); {_plural(len(divergent), 'divergent case')}; "
        f"{_plural(len(silent), 'silent cell')}.",
        "",
        "Every case in every environment, with filters, the observation and a runnable "
        "repro: [compatibility.html](compatibility.html); the data: "
        "[compatibility.json](compatibility.json).",
        "",
        "Contents: [compatibility table](#compatibility-table) · [environments](#environments) "
        "· [top divergences](#top-divergences) · [limitations](#limitations) · "
        "[error clusters](#error-clusters) · [pivots](#pivots) · [legend](#legend)",
        "",
    ]
    if matrix.problems:
        out += ["## Problems", "", "These run files could not be used and were skipped:", ""]
        out += [f"- {_md(_cut(p, MD_LINE_LIMIT - 10))}" for p in matrix.problems]
        out.append("")
    out += _md_compatibility(matrix, table)
    out += _md_environments(matrix, counts)
    out += _md_top_divergences(matrix, table)
    out += _md_limitations(matrix)
    out += _md_harness_errors(matrix)
    out += _md_flaky(matrix)
    out += _md_clusters(clusters)
    out += _md_pivots(matrix, pivots(matrix))
    out += _md_dtypes(matrix)
    legend = [[o.value, MEANINGS[o]] for o in Outcome]
    out += ["## Legend", "", _table(legend, ["outcome", "meaning"]), ""]
    return "\n".join(out).rstrip("\n") + "\n"


def _md_dtypes(matrix: Matrix, limit: int = 15) -> list[str]:
    """The dtype view in short (`matrix.report.dtypes`): the ops with the most dtype
    combinations that differ, per environment, and a link to the page; nothing when the
    matrix has no `keras.ops` dtype cases."""
    view = dtype_view(matrix)
    if view is None:
        return []
    ranked = sorted(view.summary.items(), key=lambda item: -max(item[1][1], default=0))
    shown = [[_code(op), str(total), *(str(n) for n in counts)]
             for op, (total, counts) in ranked[:limit] if max(counts, default=0) > 0]
    out = ["## keras.ops result dtypes", "",
           f"{_plural(len(view.summary), 'keras.ops function')}, "
           f"{_plural(len(view.rows), 'dtype combination')}: "
           f"{_plural(len(view.differing), 'row')} where a result dtype differs from the "
           f"one Keras states, or the environments differ; every row in "
           f"[{DTYPES_PAGE}]({DTYPES_PAGE}).", ""]
    if shown:
        out += [_table(shown, ["op", "combinations", *(_code(e) for e in view.environments)]),
                ""]
    return out


MD_LINE_LIMIT = 400
MD_TOP = 10  # behaviours detailed under "Top divergences"
MD_ROWS = 80  # rows of the compatibility table in Markdown; the HTML lists HTML_ROWS


MD_CLUSTERS = 25
MD_HARNESS_ERRORS = 50
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,199}$")


def _md_link_id(limitation: str) -> str:
    """A limitation id as a reference-style link (defined under the table), or plain text."""
    return f"[{limitation}]" if _SAFE_ID.match(limitation) else _md(limitation)


def _md_compatibility(matrix: Matrix, table: CompatibilityTable) -> list[str]:
    out = ["## Compatibility table", ""]
    if not table.rows:
        return [*out, f"Every case that ran matched the reference in every environment "
                      f"({_plural(table.agreeing, 'case')}).", ""]
    out += [f"One item per behaviour: cases that share a subject, a class of values and the "
            f"verdict in every column (channels folded when they agree). Silent divergences "
            f"(values where the reference disagrees) first. "
            f"{_plural(table.agreeing, 'other case')} matched the reference wherever "
            "they ran. Under each behaviour, the environments grouped by what they did; "
            "its cases link to the grid filtered to them.", ""]
    distinct = distinctions(table.rows)
    for index, row in enumerate(table.rows[:MD_ROWS]):
        out += _md_behaviour(index, row, table.headers, distinct[index])
    out.append("")
    if len(table.rows) > MD_ROWS:
        rest = table.rows[MD_ROWS:]
        out += [f"{_plural(len(rest), 'more behaviour')} "
                f"({_plural(sum(len(r.cases) for r in rest), 'case')}, none silent "
                "unless listed above): see [compatibility.html](compatibility.html)."
                if not any(r.silent for r in rest) else
                f"{_plural(len(rest), 'more behaviour')} "
                f"({_plural(sum(len(r.cases) for r in rest), 'case')}): see "
                "[compatibility.html](compatibility.html).", ""]
    links = []
    for lim in matrix.limitations:
        if _SAFE_ID.match(lim.id) and any(lim.id in r.limitations[:2]
                                          for r in table.rows[:MD_ROWS]):
            _, link = limitation_link(matrix, lim.id)
            links.append(f"[{lim.id}]: {link or '#limitations'}")
    if links:
        out += [*links, ""]
    return out


def _md_behaviour(index: int, row: Behaviour, headers: Sequence[Header],
                  distinct: str = "") -> list[str]:
    """One behaviour as a list item: its title, what the reference expects, its cases (a
    link to the grid filtered to them) and the limitations that explain it, then one line
    per answer with the environments that gave it. Nothing is cut: GitHub wraps list
    items, and a table of one column per environment had to cut every cell to about 20
    characters to stay readable."""
    why = [_md_link_id(lim) for lim in row.limitations[:2]]
    if len(row.limitations) > 2:
        why.append(f"+{len(row.limitations) - 2}")
    apart = f" ({_md(distinct)})" if distinct else ""  # what tells it from its look-alikes
    lines = [f"{index + 1}. **{_md(row.title)}**{apart} "
             f"([{_plural(len(row.cases), 'case')}](compatibility.html#f:b={index})): "
             f"the reference expects {_md(row.expected)}; why: "
             f"{', '.join(why) or 'unexplained'}"]
    answers: dict[str, list[str]] = {}
    idle: list[str] = []
    for header, cell in zip(headers, row.cells, strict=True):
        label = _code(header.label)
        if not header.ran or cell.text == "not run":
            idle.append(label)
        else:
            answers.setdefault(cell.text, []).append(
                label + (" (inference only)" if header.inference_only else ""))
    # What differs first, then the columns that match, then those that did not run.
    ordered = sorted(answers.items(), key=lambda item: item[0] == "= reference")
    for text, labels in ordered:
        lines.append(f"    - {', '.join(labels)}: {_md(text)}")
    if idle:
        lines.append(f"    - {', '.join(idle)}: not run")
    if row.spans:
        lines.append("    - spans " + "; ".join(f"{_md(k)}: {_md(v)}" for k, v in row.spans))
    return lines


def _md_environments(matrix: Matrix, counts: Mapping[str, Counter[Outcome]]) -> list[str]:
    """Environments that ran, one row each; those that did not, one line per reason."""
    outcomes = _present_outcomes(matrix)
    ran = [e for e in matrix.environments if e.ran]
    out = ["## Environments", ""]
    if ran:
        rows = [[_code(e.id), _md(keras_version(e)), _md(backend_version(e)),
                 _md(e.versions.get("python", "—")),
                 _md(str(e.provenance.get("date") or "—")), _md(host_text(e)),
                 _code(_short_commit(str(e.provenance.get("git_commit") or "—"))),
                 behaviour_counts(e, counts[e.id]),
                 *[str(counts[e.id][o]) for o in outcomes]]
                for e in ran]
        headers = ["environment", "keras", "backend", "python", "date", "host CPU", "git commit",
                   "cells", *[o.value for o in outcomes]]
        out += [_table(rows, headers), "", PASS_NOTE, ""]
    idle: dict[str, list[str]] = {}
    for env in matrix.environments:
        if not env.ran:
            idle.setdefault(env.reason or "not run", []).append(env.id)
    for reason, ids in idle.items():
        out.append(f"- not run ({_md(_cut(reason, 120))}): "
                   f"{', '.join(_code(i) for i in ids)}")
    if idle:
        out.append("")
    note = inference_note(matrix.environments)
    if note:
        only = ", ".join(_code(i) for i in inference_only_ids(matrix.environments))
        out += [f"Inference-only: {only}. {_md(note)}", ""]
    return out


def _md_top_divergences(matrix: Matrix, table: CompatibilityTable) -> list[str]:
    """For the first rows of the table: one example case and what each column saw."""
    if not table.rows:
        return []
    out = ["## Top divergences", "",
           f"The first {min(MD_TOP, len(table.rows))} rows of the table, each with one "
           "example case; its repro is in the HTML page (click a cell).", ""]
    cases = {c.id: c for c in matrix.cases}
    cells = _cells(matrix)
    ran = [e for e in matrix.environments if e.ran]
    for index, row in enumerate(table.rows[:MD_TOP]):
        case = cases[row.cases[0]]
        out += [f"### {index + 1}. {_md(row.title)}", "",
                f"- example: {_code(_cut(case.id, 160))} "
                f"([all {len(row.cases)}](compatibility.html#f:b={index}))",
                f"- call: {_code(_cut(case.description, 300))}",
                f"- reference: {_md(_cut(case.expected, 300))}"]
        for env in ran:
            result = cells.get((case.id, env.id))
            if result is None:
                continue
            seen = short_observation(result)
            if result.observed.message:
                seen += ": " + result.observed.message
            out.append(f"- {_code(env.id)}: {_md(_cut(seen, 300))}")
        for lim in row.limitations[:3]:
            description, link = limitation_link(matrix, lim)
            out.append(f"- why ({_code(lim)}): {_md(_cut(description, 250))}"
                       + (f" <{link}>" if link else ""))
        out.append("")
    return out


def _md_limitations(matrix: Matrix) -> list[str]:
    """The known divergences joined at merge, with the cells each covers and whether stale."""
    if not matrix.limitations:
        return []
    rows = [[_code(lim.id), _md(lim.description + (
                f" (only on a host CPU with {' or '.join(lim.cpu_flags)})"
                if lim.cpu_flags else "")),
             lim.link if lim.link.startswith(("https://", "http://")) else "—",
             str(lim.cells), "stale: every covered cell matched" if lim.stale else ""]
            for lim in matrix.limitations]
    return ["## Limitations", "",
            "Known divergences (`cases/limitations/`), joined to the raw verdicts when the "
            "run files were merged:", "",
            _table(rows, ["id", "description", "link", "cells", "stale"]), ""]


def _md_harness_errors(matrix: Matrix) -> list[str]:
    broken = harness_errors(matrix)
    if not broken:
        return []
    rows = [[_code(r.case), _code(r.environment), _md(_cut(r.verdict.detail or "", 160))]
            for r in broken[:MD_HARNESS_ERRORS]]
    return ["## Harness errors", "",
            f"{_plural(len(broken), 'cell')} where the harness failed, not the backend "
            "(nothing is known about these cells):", "",
            _table(rows, ["case", "environment", "what the harness hit"]), ""]


def _md_flaky(matrix: Matrix) -> list[str]:
    flaky = flaky_cells(matrix)
    if not flaky:
        return []
    rows = [[_code(r.case), _code(r.environment), _md(attempts_text(r))]
            for r in flaky[:MD_HARNESS_ERRORS]]
    return ["## Flaky cells", "",
            f"{_plural(len(flaky), 'cell')} timed out, then gave another verdict when run "
            "again alone (the cell shows the second; both attempts are in "
            "compatibility.json):", "",
            _table(rows, ["case", "environment", "attempts"]), ""]


def _md_clusters(clusters: Sequence[Cluster]) -> list[str]:
    out = ["## Error clusters", ""]
    if not clusters:
        return [*out, "Every cell that ran matched the reference.", ""]
    total = sum(len(c.results) for c in clusters)
    out += [f"{_plural(total, 'differing or broken cell')}, {_plural(len(clusters), 'cause')} "
            "(`failed`, `xfailed`, `error`, `crashed` and `timeout` cells, grouped by their "
            "error type and message with numbers, names and shapes as placeholders):", ""]
    rows = [[_md(_cut(c.signature, 120)), str(len(c.results)),
             _md(", ".join(f"{e} {n}" for e, n in c.environments.items())),
             _md(", ".join(f"{o.value} {n}" for o, n in c.outcomes.items())),
             _code(c.results[0].case), _md(_cut(c.example, EXPECTED_WIDTH))]
            for c in clusters[:MD_CLUSTERS]]
    out += [_table(rows, ["cause", "cells", "environments", "outcomes", "for example",
                          "message"]), ""]
    if len(clusters) > MD_CLUSTERS:
        out += [f"{_plural(len(clusters) - MD_CLUSTERS, 'smaller cause')}: see the HTML "
                "page.", ""]
    return out


def _md_pivots(matrix: Matrix, tables: Sequence[Pivot]) -> list[str]:
    envs = [e for e in matrix.environments if e.ran]
    if not envs:
        return []
    out = ["## Pivots", "",
           "Per axis value and environment that ran: cases that matched the reference over "
           "those that ran.", ""]
    for pivot in tables:
        rows = [[_md(_cut(str(v), 60)),
                 *[share(*pivot.counts.get((v, e.id), (0, 0))) for e in envs]]
                for v in pivot.values]
        out += [f"### {_md(pivot.axis)} × environment", "",
                _table(rows, [_md(pivot.axis), *[_md(e.id) for e in envs]]), ""]
    return out
