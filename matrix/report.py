"""The report: every run file folded into the matrix, rendered as Markdown, HTML and JSON.

This module owns the step after the runs: `collect` reads `reports/runs/*.json` (a file that
cannot be used becomes a problem shown at the top of every format, never a crash), and the
renderers turn the `Matrix` into

- `compatibility.json`: the contract (schema_version 1) plus a `generator` line;
- `compatibility.md`: environments, divergences and the grid as tables a code host renders;
- `compatibility.html`: one offline page (inline CSS and a little vanilla JS, no CDN) with
  filters and a detail panel that renders from JSON embedded in the page;
- a rich summary table for the terminal.

Every outcome is shown as a word, with colour or a symbol beside it, never colour alone.
Strings that come from the runs (error messages are written by backends) are untrusted:
Jinja2 autoescapes the HTML, the embedded JSON escapes `<`, `>` and `&`, and the detail panel
sets `textContent` only.

Run it as `python -m matrix.report [--runs reports/runs] [--out reports]`, or `nox -s report`.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from rich.console import Console
from rich.table import Table
from tabulate import tabulate

from matrix.results import (
    MATCHED,
    MATRIX_ADAPTER,
    RAN,
    CaseInfo,
    EnvironmentInfo,
    Matrix,
    Outcome,
    Result,
    Run,
    RunFileError,
    clean_message,
    divergent_cases,
    load_run,
    merge_runs,
    silent_divergences,
)

GENERATOR = "python -m matrix.report (regenerate with `nox -s report`)"
REGENERATE = "nox -s report"
REPORT_NAMES = ("compatibility.md", "compatibility.html", "compatibility.json")

# A symbol beside every word, so no outcome is told by colour alone.
SYMBOLS: dict[Outcome, str] = {
    Outcome.PASSED: "✅",
    Outcome.FAILED: "❌",
    Outcome.XFAILED: "⚠️",
    Outcome.XPASSED: "❗",
    Outcome.SKIPPED: "⏭",
    Outcome.ERROR: "🚧",
    Outcome.CRASHED: "💥",
    Outcome.TIMEOUT: "⏱",
    Outcome.NOT_RUN: "➖",  # noqa: RUF001 - a symbol, not a minus sign
}
MEANINGS: dict[Outcome, str] = {
    Outcome.PASSED: "ran and matched the NumPy reference",
    Outcome.FAILED: "ran and differed from the reference; no limitation covers it",
    Outcome.XFAILED: "differed, as a declared limitation says it does",
    Outcome.XPASSED: "a limitation says it differs, but it matched: the limitation is stale",
    Outcome.SKIPPED: "not applicable in this environment",
    Outcome.ERROR: "the harness broke (setup, teardown, or no result recorded)",
    Outcome.CRASHED: "the process died while running the case",
    Outcome.TIMEOUT: "the case ran past its time limit and was ended",
    Outcome.NOT_RUN: "the environment did not run (no GPU, no run file)",
}
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
}
# The distribution that carries each backend's version, first found wins.
BACKEND_DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "tensorflow": ("tensorflow", "tensorflow-cpu"),
    "jax": ("jax", "jaxlib"),
    "torch": ("torch",),
}
EXPECTED_WIDTH = 72  # the Markdown divergence table cuts `expected`; the HTML keeps it whole
PASS_NOTE = ("passed/ran counts `passed` and `xpassed` (both matched the reference) over the "
             "cases that ran; `skipped`, `error` and `not_run` are not counted as ran.")


# --- reading --------------------------------------------------------------------------------

def declared_environments() -> list[EnvironmentInfo]:
    """Every environment of `matrix/axes.toml`, as a column that has not run yet."""
    from matrix.environments import load_environments

    return [EnvironmentInfo(id=e.id, backend=e.backend, device=e.device, ran=False)
            for e in load_environments()]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def collect(runs_dir: Path, environments: Sequence[EnvironmentInfo] | None = None,
            now: str | None = None) -> Matrix:
    """Reads every run file of `runs_dir` and merges them into the matrix.

    A file that cannot be used (unreadable, truncated, invalid, or a second file for an
    environment) is skipped and becomes a message in `Matrix.problems` naming the file and
    the field; every other environment still renders, and the environment whose file was
    skipped shows as `not_run` with that reason.

    Args:
        runs_dir: the folder of run files, `reports/runs`.
        environments: the declared columns, in order; by default those of
            `matrix/axes.toml`. An environment with no usable run file is `not_run`.
        now: the `generated_at` time stamp; by default the current UTC time.

    Returns:
        The matrix, problems included.
    """
    problems: list[str] = []
    if environments is None:
        try:
            environments = declared_environments()
        except ValueError as exc:  # AxesError: still render whatever runs exist
            problems.append(f"matrix/axes.toml: {exc}")
            environments = []
    declared = {e.id: e for e in environments}
    runs: dict[str, tuple[Path, Run]] = {}
    for path in sorted(runs_dir.glob("*.json")):
        try:
            run = load_run(path)
        except RunFileError as exc:
            problems.append(f"{exc} This file was skipped.")
            if path.stem in declared and path.stem not in runs:
                declared[path.stem] = replace(
                    declared[path.stem],
                    reason=f"its run file {path.name} could not be used (see problems)")
            continue
        env_id = run.environment.id
        if env_id in runs:
            problems.append(
                f"{path}: field `environment.id` is {env_id!r}, which {runs[env_id][0].name} "
                f"already holds; one run file per environment. This file was skipped.")
            continue
        runs[env_id] = (path, run)
    columns = [declared[e.id] for e in environments]
    return merge_runs([run for _, run in runs.values()], columns, now or _now(), problems)


# --- shared views ---------------------------------------------------------------------------

def label(outcome: Outcome) -> str:
    """The outcome as a symbol and a word, e.g. `✅ passed`."""
    return f"{SYMBOLS[outcome]} {outcome.value}"


def short_observation(result: Result) -> str:
    """What a cell observed, in a few words: `values, 4 NaN`, `error: InvalidArgumentError`."""
    obs = result.observed
    if obs.kind == "value":
        parts = ["values"]
        if obs.nan_count:
            parts.append(f"{obs.nan_count} NaN")
        if result.outcome not in MATCHED and obs.max_abs_error is not None:
            parts.append(f"max abs error {obs.max_abs_error:.3g}")
        return ", ".join(parts)
    if obs.kind == "error":
        return f"error: {obs.error_type or 'unknown'}"
    return {"crash": "crashed", "timeout": "timed out"}.get(obs.kind, "not run")


def backend_version(env: EnvironmentInfo) -> str:
    """The backend's distribution and version, e.g. `tensorflow-cpu 2.21.0`; `—` if unknown."""
    for name in BACKEND_DISTRIBUTIONS.get(env.backend, (env.backend,)):
        if name in env.versions:
            return f"{name} {env.versions[name]}"
    return "—"


def _cells(matrix: Matrix) -> dict[tuple[str, str], Result]:
    return {(r.case, r.environment): r for r in matrix.results}


def _counts(matrix: Matrix) -> dict[str, Counter[Outcome]]:
    counts: dict[str, Counter[Outcome]] = {e.id: Counter() for e in matrix.environments}
    for result in matrix.results:
        counts.setdefault(result.environment, Counter())[result.outcome] += 1
    return counts


def _present_outcomes(matrix: Matrix) -> list[Outcome]:
    """Outcomes to give a count column: `passed` and `failed` always, others where seen."""
    seen = {r.outcome for r in matrix.results} | {Outcome.PASSED, Outcome.FAILED}
    return [o for o in Outcome if o in seen]


def pass_count(env: EnvironmentInfo, counts: Counter[Outcome]) -> str:
    """`passed/ran (percent)`, or why the environment did not run: never a 0% column."""
    ran = sum(n for o, n in counts.items() if o in RAN)
    if not env.ran or ran == 0:
        return "not run" if env.ran is False else "nothing ran"
    passed = sum(n for o, n in counts.items() if o in MATCHED)
    return f"{passed}/{ran} ({100 * passed / ran:.0f}%)"


def ran_text(env: EnvironmentInfo) -> str:
    """`yes`, or `no: <reason>`."""
    return "yes" if env.ran else f"no: {env.reason or 'not run'}"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _groups(cases: Iterable[CaseInfo]) -> dict[str, list[CaseInfo]]:
    groups: dict[str, list[CaseInfo]] = {}
    for case in cases:
        groups.setdefault(case.group, []).append(case)
    return groups


# --- JSON -----------------------------------------------------------------------------------

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
    data = json.loads(MATRIX_ADAPTER.dump_json(matrix))
    for index, result in enumerate(matrix.results):
        error = result.observed.max_abs_error
        if error is not None and not math.isfinite(error):
            data["results"][index]["observed"]["max_abs_error"] = _nonfinite(error)
    ordered = {"schema_version": data.pop("schema_version"), "generator": GENERATOR, **data}
    return json.dumps(ordered, indent=1, ensure_ascii=False, allow_nan=False) + "\n"


def _nonfinite(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


# --- Markdown -------------------------------------------------------------------------------

_MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\|<>`*[]"})


def _md(text: str) -> str:
    """Untrusted text made safe for a Markdown table cell (one line, no HTML, no pipes)."""
    return " ".join(text.split()).translate(_MD_SPECIAL)


def _code(text: str) -> str:
    """Text as a Markdown code span inside a table (pipes still need escaping there)."""
    return "`" + " ".join(text.split()).replace("`", "'").replace("|", "\\|") + "`"


def _table(rows: Sequence[Sequence[str]], headers: Sequence[str]) -> str:
    return tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)


def render_markdown(matrix: Matrix) -> str:
    """`compatibility.md`: problems, environments, divergences, legend, then the full grid.

    Args:
        matrix: the merged matrix.

    Returns:
        GitHub-flavoured Markdown ending in a newline; tables are aligned in the raw text.
    """
    cells = _cells(matrix)
    counts = _counts(matrix)
    divergent = divergent_cases(matrix)
    silent = silent_divergences(matrix)
    envs = matrix.environments
    out = [
        "# Keras 3 compatibility matrix",
        "",
        f"> Generated file, do not edit: written by `python -m matrix.report` at "
        f"{matrix.generated_at}. Regenerate with `{REGENERATE}`.",
        "",
        f"{_plural(len(matrix.cases), 'case')} × "
        f"{_plural(len(envs), 'environment')}; "
        f"{_plural(len(divergent), 'divergent case')}; "
        f"{_plural(len(silent), 'silent divergence')}.",
        "",
    ]
    if matrix.problems:
        out += ["## Problems", "", "These run files could not be used and were skipped:", ""]
        out += [f"- ⛔ {_md(p)}" for p in matrix.problems]
        out.append("")
    outcomes = _present_outcomes(matrix)
    rows = [[f"`{e.id}`", e.backend, e.device, _md(ran_text(e)),
             e.versions.get("keras", "—"), backend_version(e),
             *[str(counts[e.id][o]) for o in outcomes], pass_count(e, counts[e.id])]
            for e in envs]
    headers = ["environment", "backend", "device", "ran", "keras", "backend version",
               *[label(o) for o in outcomes], "passed/ran"]
    out += ["## Environments", "", _table(rows, headers), "", PASS_NOTE, ""]
    out += _md_divergences(matrix, divergent, silent, cells)
    legend = [[SYMBOLS[o], o.value, MEANINGS[o]] for o in Outcome]
    out += ["## Legend", "", _table(legend, ["symbol", "outcome", "meaning"]), ""]
    out += ["## Results", ""]
    for group, cases in _groups(matrix.cases).items():
        grid = [[_code(c.id), *[_md_cell(cells.get((c.id, e.id))) for e in envs]]
                for c in cases]
        out += [f"### {_md(group)} ({_plural(len(cases), 'case')})", "",
                _table(grid, ["case", *[e.id for e in envs]]), ""]
    return "\n".join(out).rstrip("\n") + "\n"


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _md_cell(result: Result | None) -> str:
    return "no result" if result is None else label(result.outcome)


def _md_divergences(matrix: Matrix, divergent: Sequence[str], silent: Sequence[Result],
                    cells: Mapping[tuple[str, str], Result]) -> list[str]:
    out = ["## Divergences", ""]
    ran = [e for e in matrix.environments if e.ran]
    if not divergent:
        out += ["No case divides the environments that ran.", ""]
    else:
        out += ["Cases on which the environments that ran disagree (kind of result, match "
                "with the reference, or NaN):", ""]
        cases = {c.id: c for c in matrix.cases}
        rows = []
        for case_id in divergent:
            row = [_code(case_id), _md(_cut(cases[case_id].expected, EXPECTED_WIDTH))]
            for env in ran:
                result = cells.get((case_id, env.id))
                row.append("no result" if result is None else
                           f"{label(result.outcome)}: {_md(short_observation(result))}")
            rows.append(row)
        out += [_table(rows, ["case", "expected", *[e.id for e in ran]]), ""]
    if silent:
        out += ["### Silent divergences", "",
                "Cells that returned values without an error, where the reference disagrees:",
                ""]
        rows = [[_code(r.case), f"`{r.environment}`", label(r.outcome),
                 _md(short_observation(r)), _md(r.limitation or "—")] for r in silent]
        out += [_table(rows, ["case", "environment", "outcome", "observed", "limitation"]),
                ""]
    return out


# --- HTML -----------------------------------------------------------------------------------

def _jinja() -> Environment:
    return Environment(loader=PackageLoader("matrix", "templates"),
                       autoescape=select_autoescape(["html", "j2"], default=True),
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                       keep_trailing_newline=True)


def script_json(value: Any) -> Markup:
    """JSON safe to place inside `<script type="application/json">`.

    `<`, `>` and `&` become `\\u003c`, `\\u003e` and `\\u0026`, so a message holding
    `</script>` or `<!--` cannot end the element; JSON.parse reads them back unchanged.
    """
    text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return Markup(text)  # escaped above for this context


def _cell_data(result: Result | None) -> dict[str, Any] | None:
    if result is None:
        return None
    obs = result.observed
    raw: dict[str, Any] = {
        "outcome": result.outcome.value, "kind": obs.kind, "error_type": obs.error_type,
        "message": clean_message(obs.message) if obs.message else None,
        "shape": obs.shape, "dtype": obs.dtype, "max_abs_error": obs.max_abs_error,
        "nan_count": obs.nan_count, "device": obs.device, "duration_s": result.duration_s,
        "limitation": result.limitation, "short": short_observation(result),
    }
    error = obs.max_abs_error
    if error is not None and not math.isfinite(error):
        raw["max_abs_error"] = _nonfinite(error)
    return {k: v for k, v in raw.items() if v is not None}


def _short_commit(commit: str) -> str:
    """`0123456789ab` for a full hash, keeping a `-dirty` suffix."""
    head, dirty, _ = commit.partition("-dirty")
    if re.fullmatch(r"[0-9a-f]{13,40}", head):
        return head[:12] + dirty
    return commit


def _env_view(env: EnvironmentInfo, counts: Counter[Outcome]) -> dict[str, Any]:
    prov = env.provenance
    commit = str(prov.get("git_commit") or "—")
    return {
        "id": env.id, "backend": env.backend, "device": env.device, "ran": env.ran,
        "ran_text": ran_text(env), "reason": env.reason or "not run",
        "keras": env.versions.get("keras", "—"),
        "backend_version": backend_version(env), "python": env.versions.get("python", "—"),
        "device_name": str(prov.get("device_name") or "—"),
        "date": str(prov.get("date") or "—"),
        "commit": _short_commit(commit), "commit_full": commit,
        "provenance": json.dumps({"versions": env.versions, **prov}, indent=1,
                                 ensure_ascii=False, default=str),
        "counts": counts, "pass_count": pass_count(env, counts),
    }


def render_html(matrix: Matrix) -> str:
    """`compatibility.html`: one static page that works offline.

    The grid is server-rendered (one word per cell); the details of a cell, its case and
    its limitation are rendered on click from JSON embedded in the page, so the page stays
    light at thousands of cells.

    Args:
        matrix: the merged matrix.

    Returns:
        The HTML document.
    """
    cells = _cells(matrix)
    counts = _counts(matrix)
    divergent = divergent_cases(matrix)
    divergent_set = set(divergent)
    envs = matrix.environments
    index = {c.id: i for i, c in enumerate(matrix.cases)}
    data = {
        "environments": [{"id": e.id, "ran": e.ran, "reason": e.reason} for e in envs],
        "cases": [{"id": c.id, "group": c.group, "description": c.description,
                   "axes": c.axes, "expected": c.expected,
                   "divergent": c.id in divergent_set} for c in matrix.cases],
        "cells": [[_cell_data(cells.get((c.id, e.id))) for e in envs] for c in matrix.cases],
    }
    groups = [
        {"name": name,
         "rows": [{"index": index[c.id], "id": c.id, "divergent": c.id in divergent_set,
                   "cells": [cells.get((c.id, e.id)) for e in envs]} for c in cases]}
        for name, cases in _groups(matrix.cases).items()
    ]
    ran = [(i, e) for i, e in enumerate(envs) if e.ran]
    divergences = [
        {"index": index[case_id], "id": case_id,
         "expected": matrix.cases[index[case_id]].expected,
         "cells": [(i, cells.get((case_id, e.id))) for i, e in ran]}
        for case_id in divergent
    ]
    template = _jinja().get_template("compatibility.html.j2")
    return template.render(
        matrix=matrix, generator=GENERATOR, regenerate=REGENERATE,
        envs=[_env_view(e, counts[e.id]) for e in envs],
        outcomes=list(Outcome), present=_present_outcomes(matrix),
        symbols=SYMBOLS, meanings=MEANINGS, pass_note=PASS_NOTE,
        groups=groups, divergences=divergences, ran=[e for _, e in ran],
        silent=len(silent_divergences(matrix)), short=short_observation, plural=_plural,
        data=script_json(data),
    )


# --- terminal -------------------------------------------------------------------------------

def print_summary(matrix: Matrix, console: Console | None = None) -> None:
    """Prints per environment the counts per outcome, in colour, and the divergences.

    Args:
        matrix: the merged matrix.
        console: where to print; by default a console on stdout.
    """
    console = console or Console()
    for problem in matrix.problems:
        console.print(f"problem: {problem}", style="bold red", markup=False, highlight=False)
    counts = _counts(matrix)
    outcomes = _present_outcomes(matrix)
    table = Table(title=f"Keras compatibility matrix, {len(matrix.cases)} cases")
    table.add_column("environment", style="bold")
    table.add_column("ran")
    for outcome in outcomes:
        table.add_column(outcome.value, justify="right", style=STYLES[outcome])
    table.add_column("passed/ran", justify="right")
    why_not: dict[str, list[str]] = {}
    for env in matrix.environments:
        table.add_row(env.id, "yes" if env.ran else "no",
                      *[str(counts[env.id][o] or "") for o in outcomes],
                      pass_count(env, counts[env.id]))
        if not env.ran:
            why_not.setdefault(env.reason or "not run", []).append(env.id)
    console.print(table)
    for reason, ids in why_not.items():
        console.print(f"not run: {', '.join(ids)}: {reason}", style="dim", markup=False,
                      highlight=False)
    divergent = len(divergent_cases(matrix))
    silent = len(silent_divergences(matrix))
    style = "bold yellow" if divergent or silent else "green"
    console.print(f"{_plural(divergent, 'divergent case')}, "
                  f"{_plural(silent, 'silent divergence')}", style=style)


# --- files and command line -----------------------------------------------------------------

def write_reports(matrix: Matrix, out_dir: Path) -> list[Path]:
    """Writes `compatibility.md`, `.html` and `.json` atomically (temporary file, rename).

    Args:
        matrix: the merged matrix.
        out_dir: the folder, created if missing.

    Returns:
        The paths written, in the order md, html, json.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    texts = (render_markdown(matrix), render_html(matrix), render_json(matrix))
    paths = []
    for name, text in zip(REPORT_NAMES, texts, strict=True):
        path = out_dir / name
        tmp = out_dir / f".{name}.tmp"
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
        paths.append(path)
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m matrix.report [--runs reports/runs] [--out reports]`.

    Returns:
        0 when the reports were written (problems with run files are printed, in red);
        2 when the runs folder does not exist.
    """
    parser = argparse.ArgumentParser(
        prog="python -m matrix.report",
        description="Fold reports/runs/*.json into reports/compatibility.{md,html,json}.")
    parser.add_argument("--runs", type=Path, default=Path("reports/runs"),
                        help="folder of run files (default: reports/runs)")
    parser.add_argument("--out", type=Path, default=Path("reports"),
                        help="folder to write the reports to (default: reports)")
    args = parser.parse_args(argv)
    if not args.runs.is_dir():
        print(f"error: the runs folder {args.runs} does not exist; run an environment "
              f"first (bare `nox` runs every CPU environment), or pass --runs. "
              f"Received: --runs={args.runs}", file=sys.stderr)
        return 2
    matrix = collect(args.runs)
    paths = write_reports(matrix, args.out)
    console = Console()
    print_summary(matrix, console)
    for path in paths:
        console.print(f"wrote {path}", markup=False, highlight=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
