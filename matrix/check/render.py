"""The check's reports: the summary line, the Markdown (for the terminal and the `.md`) and
the HTML, rendered from `matrix/templates/check.html.j2` with autoescape on."""

from __future__ import annotations

from collections.abc import Sequence

from matrix.check.compare import LayerCheck, clean_row, loads_nowhere
from matrix.check.inputs import plain


def summary(rows: Sequence[LayerCheck]) -> str:
    """One line: the backends agree, the first disagreement, or the model loads nowhere."""
    if loads_nowhere(rows):
        return rows[0].disagreements[0].removeprefix("load: ") + " (nothing to compare)"
    first = next((r for r in rows if r.disagreements), None)
    if first is None:
        return f"the backends agree on every layer ({len(rows)} layers)"
    return f"first disagreement: layer {first.name!r} ({first.class_name}): " + \
        "; ".join(first.disagreements)


#: Markdown's active characters in a table cell, escaped: `|` would end the cell, a backtick
#: open code, `*`, `[` and `]` emphasis and links, `<` and `>` HTML (`<img onerror=...>`), `&`
#: an entity. GitHub's tables honour `\|` (https://github.github.com/gfm/#tables-extension-).
_MD_ESCAPES = str.maketrans({**{c: "\\" + c for c in "\\|`*[]"},
                             "<": "&lt;", ">": "&gt;", "&": "&amp;"})


def markdown_text(text: object) -> str:
    """Text from a model file made safe for a Markdown table cell: one clean line (`plain`)
    with every active character escaped."""
    return plain(text).translate(_MD_ESCAPES)


def terminal_text(text: object) -> str:
    """Text from a model file made safe for the terminal's table: one clean line (`plain`)
    with `|` shown as `/`, so a name cannot add a column."""
    return plain(text).replace("|", "/")


def render_markdown(model: str, rows: Sequence[LayerCheck], envs: Sequence[str],
                    explain: Sequence[str], terminal: bool = False) -> str:
    """The Markdown report, every string from the model or a backend cleaned and escaped.

    Args:
        terminal: as printed: control characters and ANSI escapes removed, `|` as `/`, and
            nothing else escaped (`<` stays `<`); else for a `.md` file (`markdown_text`).
    """
    from tabulate import tabulate

    cell = terminal_text if terminal else markdown_text
    table = tabulate([[cell(r.name), cell(r.class_name),
                       *[cell(r.observed.get(e, "")) for e in envs],
                       cell("; ".join(r.disagreements)) or "agree"] for r in rows],
                     headers=["layer", "class", *envs, "backends"], tablefmt="github",
                     disable_numparse=True)
    lines = [f"# Check of {cell(model)} across backends", "", cell(summary(rows)), "",
             table, ""]
    if explain:
        lines += ["## Rows of the compatibility table that may explain it", "",
                  *[f"- {cell(line)}" for line in explain], ""]
    return "\n".join(lines)


def render_html(model: str, rows: Sequence[LayerCheck], envs: Sequence[str],
                explain: Sequence[str]) -> str:
    """The HTML report: the Markdown's content, escaped by Jinja2's autoescape."""
    from jinja2 import Environment as Jinja
    from jinja2 import PackageLoader

    # Autoescape makes the model's strings text, never markup; `clean_row` and `plain` take
    # out what autoescape leaves (ANSI escapes, control characters) from rows built elsewhere.
    template = Jinja(loader=PackageLoader("matrix", "templates"),
                     autoescape=True).get_template("check.html.j2")
    return template.render(model=plain(model), rows=[clean_row(r) for r in rows], envs=envs,
                           explain=[plain(line) for line in explain],
                           headline=plain(summary(rows)))
