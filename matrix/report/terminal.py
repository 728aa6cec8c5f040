"""The summary printed in the terminal (rich): per environment the counts per outcome, in
colour beside the word, the run files not made by this invocation, and the divergences."""

from __future__ import annotations

from datetime import UTC, datetime

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from matrix.report.table import compatibility_table
from matrix.report.views import _counts, _plural, _present_outcomes, flaky_cells
from matrix.results import (
    EnvironmentInfo,
    Matrix,
    Outcome,
    divergent_cases,
    silent_divergences,
)

# Terminal colours (rich styles); the HTML colours live in the template's CSS.
STYLES: dict[Outcome, str] = {
    Outcome.PASSED: "green",
    Outcome.FAILED: "bold red",
    Outcome.XFAILED: "yellow",
    Outcome.XPASSED: "magenta",
    Outcome.SKIPPED: "dim",
    Outcome.ERROR: "dark_orange",
    Outcome.CRASHED: "bold white on red",
    Outcome.TIMEOUT: "orange3",
    Outcome.NOT_RUN: "dim",
    Outcome.AGREED: "cyan",
    Outcome.DISAGREED: "bold blue",
    Outcome.UNJUDGED: "dim cyan",
}


def _printable(text: str) -> str:
    """A name for the terminal: control and escape characters removed."""
    return "".join(ch for ch in text if ch.isprintable())


def _age(seconds: float) -> str:
    if seconds < 3600:
        return f"{max(0, int(seconds // 60))} min"
    if seconds < 2 * 86400:
        return f"{int(seconds // 3600)} h"
    return f"{int(seconds // 86400)} d"


STALE_AFTER_S = 3600.0  # without --since, a run file older than this is "not from this run"


def recorded(env: EnvironmentInfo, now: datetime, since: datetime | None = None,
             commit: str | None = None) -> str | None:
    """Why `env`'s run file was not produced by this invocation, with its age; None if it was.

    A file is older when its date is before `since` (the start of this invocation; by
    default `STALE_AFTER_S` before `now`) or when it was made at another git commit than
    `commit` (the checkout's HEAD, `-dirty` ignored).
    """
    if not env.ran:
        return None
    date_text = str(env.provenance.get("date") or "")
    try:
        date = datetime.fromisoformat(date_text)
    except ValueError:
        return "older run file: no date"
    if date.tzinfo is None:
        date = date.replace(tzinfo=UTC)
    age = (now - date).total_seconds()
    limit = since if since is not None else None
    old = age > STALE_AFTER_S if limit is None else date < limit
    theirs = str(env.provenance.get("git_commit") or "").partition("-dirty")[0]
    other = bool(commit and theirs and not commit.startswith(theirs[:12])
                 and not theirs.startswith(commit[:12]))
    if not old and not other:
        return None
    words = f"older: {_age(age)}"
    if other:
        words += f", commit {theirs[:8]}"
    return words


def print_summary(matrix: Matrix, console: Console | None = None, *,
                  now: datetime | None = None, since: datetime | None = None,
                  commit: str | None = None) -> None:
    """Prints per environment the counts per outcome, in colour, and the divergences.

    Environment names are printed whole (never folded or cut), stripped of control
    characters; a run file not produced by this invocation (see `recorded`) says so, with
    its age, so committed runs never look like a failure of the run just made.

    Args:
        matrix: the merged matrix.
        console: where to print; by default a console on stdout.
        now: the current time; by default now, in UTC.
        since: when this invocation started; run files older than it are marked.
        commit: the checkout's git commit; run files from another commit are marked.
    """
    console = console or Console()
    now = now or datetime.now(UTC)
    for problem in matrix.problems:
        console.print(f"problem: {_printable(problem)}", style="bold red", markup=False,
                      highlight=False)
    counts = _counts(matrix)
    ran = [e for e in matrix.environments if e.ran]
    # `not_run` counts only where an environment that ran left cells out (a sample).
    outcomes = [o for o in _present_outcomes(matrix)
                if o is not Outcome.NOT_RUN or any(counts[e.id][o] for e in ran)]
    why_not: dict[str, list[str]] = {}
    for env in matrix.environments:
        if not env.ran:
            why_not.setdefault(env.reason or "not run", []).append(_printable(env.id))
    title = f"Keras compatibility matrix, {len(matrix.cases)} cases"
    headers = [o.value.replace("_", " ") for o in outcomes]
    width = max([len(_printable(e.id)) for e in ran] + [len("environment")])
    numbers = [max([len(h)] + [len(str(counts[e.id][o])) for e in ran])
               for h, o in zip(headers, outcomes, strict=True)]
    if width + sum(n + 3 for n in numbers) <= console.width:  # padding and a separator
        # Every header whole: a log or CI is 80 columns wide, and a cut header ("fa…")
        # says nothing. No percentages: a count says what the cells did.
        table = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        table.add_column("environment", style="bold", no_wrap=True, min_width=width)
        for header, outcome, n in zip(headers, outcomes, numbers, strict=True):
            table.add_column(header, justify="right", style=STYLES[outcome], no_wrap=True,
                             min_width=n)
        for env in ran:
            table.add_row(Text(_printable(env.id)),
                          *[str(counts[env.id][o] or "") for o in outcomes])
        console.print(table)
    else:  # too narrow for a table: one line per environment, nothing cut
        console.print(title, style="bold", markup=False, highlight=False)
        for env in ran:
            said = ", ".join(f"{counts[env.id][o]} {h}"
                             for h, o in zip(headers, outcomes, strict=True)
                             if counts[env.id][o])
            console.print(f"{_printable(env.id)}: {said or 'no cells'}", markup=False,
                          highlight=False)
    older: dict[str, list[str]] = {}
    for env in ran:
        when = recorded(env, now, since, commit)
        if when:
            older.setdefault(when, []).append(_printable(env.id))
    for when, ids in older.items():
        console.print(f"run files not from this run ({when}): {', '.join(ids)}",
                      style="yellow", markup=False, highlight=False)
    for reason, ids in why_not.items():
        console.print(f"not run: {', '.join(ids)}: {_printable(reason)}", style="dim",
                      markup=False, highlight=False)
    divergent = len(divergent_cases(matrix))
    silent = len(silent_divergences(matrix))
    rows = compatibility_table(matrix).rows
    style = "bold yellow" if divergent or silent else "green"
    console.print(f"{_plural(divergent, 'divergent case')}, "
                  f"{_plural(silent, 'silent divergence')}", style=style)
    console.print(f"{_plural(len(rows), 'behaviour')} differing from the reference "
                  "(the compatibility table)", style=style)
    flaky = flaky_cells(matrix)
    if flaky:
        console.print(f"{_plural(len(flaky), 'flaky cell')} (timed out, then another verdict "
                      "alone): " + ", ".join(_printable(f"{r.case} on {r.environment}")
                                             for r in flaky[:5]),
                      style="bold yellow", markup=False, highlight=False)
    reused = []
    for env in ran:
        cache = env.provenance.get("cache")
        if isinstance(cache, dict) and cache.get("reused"):
            reused.append(f"{_printable(env.id)} {cache.get('reused')} reused, "
                          f"{cache.get('executed', 0)} executed")
    if reused:
        console.print("result cache: " + "; ".join(reused), style="dim", markup=False,
                      highlight=False)
