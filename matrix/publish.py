"""The published site: the latest report, the history of earlier runs, and the diff between them.

This module owns the fan-in's last step. From a folder of run files (every environment's, some
sharded, some missing) and the previously published site, `build_site` writes a static site
that works offline:

- `index.html` (the latest `compatibility.html` with a link bar), `compatibility.{md,html,json}`
  and `results/<environment>.json` (the published JSON, `matrix.results.compact`);
- `diff.md`: the latest run against the previously published `compatibility.json`, written by
  `python -m matrix.diff` (its exit status tells whether anything regressed);
- `history/<date>-<commit>/compatibility.json` with its `results/` (and `diff.md`) for the
  most recent runs, older
  folders pruned to keep the site small, and `history/index.json`, one row per run ever
  published, with every environment's pass count;
- `history.html`: those rows as a table, and per environment a line chart of its pass count
  over time (inline SVG; a run in which the environment did not run is a gap, never a 0);
- `latest.json` (what the workflow reads: the entry, whether anything regressed) and
  `summary.md` (a short Markdown summary for the job page), `.nojekyll`.

An environment with no run file shows as `not_run` with a reason: by default "no run file",
or one given with `--reason PATTERN=TEXT` (e.g. why its CI job produced none).

    python -m matrix.publish --runs runs --site site --previous previous-site \\
        --commit "$GITHUB_SHA" --run-url "$RUN_URL" --reason "*-gpu=no GPU runner"
"""

from __future__ import annotations

import argparse
import fnmatch
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from matrix.report import (
    behaviour_counts,
    declared_environments,
    write_reports,
)
from matrix.results import MATCHED, RAN, EnvironmentInfo, Matrix, Outcome
from matrix.results.compact import published_files

GENERATOR = "python -m matrix.publish (regenerate with `nox -s publish -- --runs DIR --site DIR`)"
HISTORY_DIR = "history"
INDEX_NAME = "index.json"
#: How many runs keep their published JSON (about 8.6 MB each) in `history/`; every run
#: keeps its row, with pass counts, in `history/index.json` forever.
DEFAULT_KEEP = 30
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True, kw_only=True)
class Published:
    """What `build_site` did.

    Attributes:
        entry: the history entry id of this run, `<YYYY-MM-DD>-<short commit>`.
        regressions: True when `matrix.diff` found regressions against the previous run,
            False when it found none, None when there was nothing to compare or it could not.
        diff_note: one line on the diff: compared, no previous run, or why not.
        runs_in_history: rows in `history/index.json`.
    """

    entry: str
    regressions: bool | None
    diff_note: str
    runs_in_history: int


# --- history rows -----------------------------------------------------------------------------

def environment_counts(matrix: Matrix) -> dict[str, dict[str, Any]]:
    """Per environment: `passed`, `ran`, `total`, and whether and why it did not run.

    `passed` counts `passed` and `xpassed`, `ran` the cells that ran, `total` every
    cell. An environment that did not run has `ran_env` False, so a
    chart shows a gap rather than a 0.
    """
    counts: dict[str, dict[str, Any]] = {}
    for env in matrix.environments:
        counts[env.id] = {"passed": 0, "ran": 0, "total": 0, "ran_env": env.ran,
                          "reason": None if env.ran else (env.reason or "not run")}
    for result in matrix.results:
        row = counts.setdefault(result.environment, {"passed": 0, "ran": 0, "total": 0,
                                                     "ran_env": True, "reason": None})
        row["total"] += 1
        row["ran"] += result.outcome in RAN
        row["passed"] += result.outcome in MATCHED
    return counts


def entry_id(date: str, commit: str) -> str:
    """`<YYYY-MM-DD>-<first 7 of the commit>`, safe as a folder and URL segment."""
    day = date[:10] if re.fullmatch(r"\d{4}-\d{2}-\d{2}", date[:10]) else "undated"
    short = re.sub(r"[^0-9A-Za-z]+", "", commit.partition("-dirty")[0])[:7] or "unknown"
    return f"{day}-{short}"


def read_index(path: Path) -> list[dict[str, Any]]:
    """The rows of a `history/index.json`; an absent or unreadable one gives `[]`.

    A damaged index must not stop a publish: it restarts the history (and says so on
    stderr) rather than failing the daily run.
    """
    if not path.is_file():
        return []
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"warning: {path} is unreadable ({exc}); the history restarts here.",
              file=sys.stderr)
        return []
    if not isinstance(rows, list):
        print(f"warning: {path} is not a JSON list; the history restarts here.",
              file=sys.stderr)
        return []
    return [r for r in rows if isinstance(r, dict) and isinstance(r.get("id"), str)]


# --- diff -------------------------------------------------------------------------------------

def run_diff(old: Path, new: Path, output: Path, *, old_name: str = "previous",
             new_name: str = "latest") -> tuple[bool | None, str]:
    """Compares two `compatibility.json` with `python -m matrix.diff`, writing `output`.

    The files are compared as `history/<old_name>/compatibility.json` and
    `history/<new_name>/compatibility.json` (copies in a temporary folder), so the Markdown
    names the paths they have on the site rather than a runner's folders.

    Args:
        old: the previously published `compatibility.json`.
        new: this run's.
        output: where the Markdown goes.
        old_name: the previous run's history entry id.
        new_name: this run's history entry id.

    Returns:
        (regressions, note): regressions is True or False as `matrix.diff
        --fail-on-regression` exits 1 or 0, None when it could not compare (then `output`
        says why).
    """
    if importlib.util.find_spec("matrix.diff") is None:
        note = "matrix.diff is not available in this checkout, so no diff was made"
        output.write_text(f"# Diff against the previous run\n\n{note}.\n", encoding="utf-8")
        return None, note
    with tempfile.TemporaryDirectory() as tmp:
        names = []
        for source, name in ((old, old_name), (new, new_name if new_name != old_name
                                                    else f"{new_name}-new")):
            target = Path(tmp) / HISTORY_DIR / name / "compatibility.json"
            _copy_published(source, target.parent, shutil.copyfile)
            names.append(str(target.relative_to(tmp)))
        command = [sys.executable, "-m", "matrix.diff", *names, "--fail-on-regression",
                   "--output", str(output.resolve())]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}
        done = subprocess.run(command, cwd=tmp, env=env, capture_output=True, text=True,
                              check=False)
    if done.returncode in (0, 1) and output.is_file():
        return done.returncode == 1, ("regressions: see the diff" if done.returncode
                                      else "no regression")
    note = (f"matrix.diff could not compare the runs (exit {done.returncode}): "
            f"{(done.stderr or done.stdout).strip()[-500:]}")
    output.write_text(f"# Diff against the previous run\n\n{note}\n", encoding="utf-8")
    return None, note


# --- HTML -------------------------------------------------------------------------------------

CHART_W, CHART_H, PAD = 360, 90, 6


def _jinja() -> Environment:
    return Environment(loader=PackageLoader("matrix", "templates"),
                       autoescape=select_autoescape(["html", "j2"], default=True),
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                       keep_trailing_newline=True)


def _segments(points: Sequence[tuple[float, float] | None]) -> list[str]:
    """SVG path data for runs of consecutive points; None breaks the line."""
    paths: list[str] = []
    current: list[tuple[float, float]] = []
    for point in [*points, None]:
        if point is None:
            if current:
                paths.append("M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in current))
            current = []
        else:
            current.append(point)
    return paths


def chart(env_id: str, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One environment's chart: passed and ran over the runs (oldest first), in SVG units.

    Args:
        env_id: the environment id.
        rows: history rows, oldest first.

    Returns:
        `id`, `latest` (text), `top` (the y scale's top: most cases in a run),
        `passed_paths` and `ran_paths` (SVG path data), and `points` (`x`, `y`, `gap`,
        `title`).
    """
    cells = [row.get("environments", {}).get(env_id) for row in rows]
    top = max([c.get("total", 0) for c in cells if c] + [1])
    n = len(rows)
    width, height = CHART_W - 2 * PAD, CHART_H - 2 * PAD

    def xy(index: int, value: float) -> tuple[float, float]:
        x = PAD + (width * index / (n - 1) if n > 1 else width / 2)
        return x, PAD + height * (1 - value / top)

    passed: list[tuple[float, float] | None] = []
    ran: list[tuple[float, float] | None] = []
    points = []
    for index, (row, cell) in enumerate(zip(rows, cells, strict=True)):
        label = f"{row.get('date', '')[:16]} {str(row.get('commit', ''))[:7]}"
        if not cell or not cell.get("ran_env", True) or not cell.get("ran"):
            passed.append(None)
            ran.append(None)
            x, y = xy(index, 0)
            why = (cell or {}).get("reason") or "no run"
            points.append({"x": f"{x:.1f}", "y": f"{y:.1f}", "gap": True,
                           "title": f"{label}: not run ({why})"})
            continue
        passed.append(xy(index, cell["passed"]))
        ran.append(xy(index, cell["ran"]))
        x, y = xy(index, cell["passed"])
        points.append({"x": f"{x:.1f}", "y": f"{y:.1f}", "gap": False,
                       "title": f"{label}: {cell['passed']}/{cell['ran']} passed"})
    last = cells[-1] if cells else None
    latest = (f"{last['passed']}/{last['ran']} passed" if last and last.get("ran_env", True)
              and last.get("ran") else "not run")
    return {"id": env_id, "latest": latest, "top": top, "passed_paths": _segments(passed),
            "ran_paths": _segments(ran), "points": points}


def render_history(rows: Sequence[Mapping[str, Any]], repo_url: str | None = None) -> str:
    """`history.html`: the runs table (newest first) and one chart per environment.

    Args:
        rows: history rows, oldest first, as in `history/index.json`.
        repo_url: `https://github.com/<owner>/<repo>`, to link commits; None: no links.

    Returns:
        The HTML document.
    """
    environments: list[str] = []
    for row in rows:
        for env_id in row.get("environments", {}):
            if env_id not in environments:
                environments.append(env_id)
    view = []
    for row in reversed(rows):
        cells = []
        for env_id in environments:
            cell = row.get("environments", {}).get(env_id)
            ran = bool(cell and cell.get("ran_env", True) and cell.get("ran"))
            text = ""
            if ran and cell:
                percent = 100 * cell["passed"] / cell["ran"]
                text = f"{cell['passed']}/{cell['ran']} ({percent:.0f}%)"
            cells.append({"ran": ran, "text": text,
                          "reason": (cell or {}).get("reason") or "no run file"})
        commit = str(row.get("commit", ""))
        safe_commit = re.fullmatch(r"[0-9a-f]{7,40}", commit) is not None
        view.append({
            "date": str(row.get("date", ""))[:19].replace("T", " "),
            "short": commit[:12], "cells": cells,
            "commit_url": f"{repo_url}/commit/{commit}" if repo_url and safe_commit else None,
            "run_url": row.get("run_url") if _is_http(row.get("run_url")) else None,
            "regressions": row.get("regressions"),
            "path": row.get("path"), "has_diff": bool(row.get("has_diff")),
        })
    return _jinja().get_template("history.html.j2").render(
        generator=GENERATOR, rows=view, environments=environments,
        charts=[chart(e, rows) for e in environments],
        width=CHART_W, height=CHART_H, pad=PAD)


def _is_http(value: object) -> bool:
    return isinstance(value, str) and value.startswith(("https://", "http://"))


def _link_bar(html: str, entry: str) -> str:
    """`compatibility.html` with a bar linking the history and the diff, after `<body>`
    (`matrix/templates/link_bar.html.j2`, one line)."""
    bar = _jinja().get_template("link_bar.html.j2").render(entry=entry).rstrip("\n")
    match = re.search(r"<body[^>]*>", html)
    if match is None:
        return html
    return html[: match.end()] + "\n" + bar + html[match.end():]


# --- the site ---------------------------------------------------------------------------------

def _with_reasons(environments: Sequence[EnvironmentInfo],
                  reasons: Sequence[tuple[str, str]]) -> list[EnvironmentInfo]:
    out = []
    for env in environments:
        reason = next((text for pattern, text in reasons if fnmatch.fnmatchcase(env.id, pattern)),
                      None)
        out.append(replace(env, reason=reason) if reason else env)
    return out


def _summary(matrix: Matrix, entry: str, note: str, regressions: bool | None) -> str:
    counts: dict[str, Counter[Outcome]] = {e.id: Counter() for e in matrix.environments}
    for result in matrix.results:
        counts.setdefault(result.environment, Counter())[result.outcome] += 1
    lines = [f"## Keras compatibility matrix: {entry}", "",
             "| environment | cells |", "|---|---|"]
    for env in matrix.environments:
        lines.append(f"| `{env.id}` | {behaviour_counts(env, counts[env.id])} |")
    mark = "⚠️ " if regressions else ""
    lines += ["", f"Diff against the previous published run: {mark}{note} (`diff.md`).", ""]
    return "\n".join(lines)


def _copy_published(index: Path, folder: Path, copy: Callable[[Path, Path], object]) -> None:
    """Copies a published `compatibility.json` into `folder` under that name, with the
    `results/*.json` it lists (the compact form, `matrix.results.compact`); a missing
    results file is not copied, and the diff that reads the copy names it."""
    for name in published_files(index):
        source = index.parent / name
        if source.is_file():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            copy(source, folder / "compatibility.json" if name == index.name else folder / name)


def _copy_history(previous: Path | None, site: Path) -> list[dict[str, Any]]:
    history = site / HISTORY_DIR
    history.mkdir(parents=True, exist_ok=True)
    if previous is None or not (previous / HISTORY_DIR).is_dir():
        return []
    rows = read_index(previous / HISTORY_DIR / INDEX_NAME)
    for row in rows:
        folder = previous / HISTORY_DIR / row["id"]
        if re.fullmatch(r"[\w.-]+", row["id"]) and folder.is_dir():
            shutil.copytree(folder, history / row["id"], dirs_exist_ok=True)
    return rows


def _prune(rows: list[dict[str, Any]], site: Path, keep: int) -> None:
    """Keeps the folders of the `keep` newest rows; older rows stay in the index, pruned."""
    for index, row in enumerate(rows):
        if index < len(rows) - keep and row.get("path"):
            shutil.rmtree(site / HISTORY_DIR / row["id"], ignore_errors=True)
            row["path"] = None
            row["has_diff"] = False


def build_site(runs: Path, site: Path, *, previous: Path | None = None, commit: str = "unknown",
               date: str | None = None, run_url: str | None = None,
               repo_url: str | None = None, reasons: Sequence[tuple[str, str]] = (),
               keep: int = DEFAULT_KEEP) -> Published:
    """Builds the site from run files and the previously published site.

    Args:
        runs: the folder of run files (`<environment>.json`, `<environment>.shard-I-of-N.json`).
        site: the output folder; created, and files of an earlier build are replaced.
        previous: the previously published site (its `compatibility.json` and `history/`),
            or None for a first publish.
        commit: the git commit the runs were made from.
        date: ISO 8601 time stamp of this publish; by default now (UTC).
        run_url: the CI run's page, linked from the history.
        repo_url: `https://github.com/<owner>/<repo>`, to link commits.
        reasons: (glob over environment ids, reason) pairs: why an environment with no run
            file did not run; the first match wins.
        keep: how many runs keep their `compatibility.json` in `history/`.

    Returns:
        What was published, and whether anything regressed.
    """
    from matrix.report import collect

    date = date or datetime.now(UTC).isoformat(timespec="seconds")
    if previous is not None and previous.resolve() == site.resolve():
        raise ValueError(f"--previous must be another folder than --site. Received: {site}")
    site.mkdir(parents=True, exist_ok=True)
    rows = _copy_history(previous, site)
    environments = _with_reasons(declared_environments(), reasons)
    matrix = collect(runs, environments, now=date)
    write_reports(matrix, site)
    entry = entry_id(date, commit)
    html = (site / "compatibility.html").read_text(encoding="utf-8")
    (site / "index.html").write_text(_link_bar(html, entry), encoding="utf-8")

    old = previous / "compatibility.json" if previous is not None else None
    if old is not None and old.is_file():
        old_name = rows[-1]["id"] if rows else "previous"
        regressions, note = run_diff(old, site / "compatibility.json", site / "diff.md",
                                     old_name=old_name, new_name=entry)
    else:
        regressions, note = None, "no previous published run to compare with"
        (site / "diff.md").write_text(f"# Diff against the previous run\n\n{note.capitalize()}"
                                      ".\n", encoding="utf-8")
    folder = site / HISTORY_DIR / entry
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    _copy_published(site / "compatibility.json", folder, shutil.copy2)
    shutil.copy2(site / "diff.md", folder / "diff.md")
    row = {"id": entry, "date": date, "commit": commit, "run_url": run_url,
           "environments": environment_counts(matrix), "regressions": regressions,
           "path": f"{HISTORY_DIR}/{entry}/", "has_diff": old is not None and old.is_file()}
    rows = [r for r in rows if r["id"] != entry] + [row]  # a rerun of a commit replaces it
    rows.sort(key=_when)  # as times, zones applied: text would order +02:00 wrongly
    _prune(rows, site, keep)
    (site / HISTORY_DIR / INDEX_NAME).write_text(json.dumps(rows, indent=1) + "\n",
                                                 encoding="utf-8")
    (site / "history.html").write_text(render_history(rows, repo_url), encoding="utf-8")
    latest = {"entry": entry, "date": date, "commit": commit, "regressions": regressions,
              "diff": note, "problems": matrix.problems, "generator": GENERATOR}
    (site / "latest.json").write_text(json.dumps(latest, indent=1) + "\n", encoding="utf-8")
    (site / "summary.md").write_text(_summary(matrix, entry, note, regressions),
                                     encoding="utf-8")
    (site / ".nojekyll").write_text("", encoding="utf-8")
    return Published(entry=entry, regressions=regressions, diff_note=note,
                     runs_in_history=len(rows))


def _reason(text: str) -> tuple[str, str]:
    pattern, sep, reason = text.partition("=")
    if not sep or not pattern.strip() or not reason.strip():
        raise argparse.ArgumentTypeError(
            f"expected PATTERN=REASON, e.g. '*-gpu=no GPU runner'. Received: {text!r}")
    return pattern.strip(), reason.strip()


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m matrix.publish --runs DIR --site DIR [--previous DIR] ...`.

    Returns:
        0 when the site was built (regressions are reported, in `latest.json` and with
        `--github-output`, not by the exit status); 2 when the runs folder does not exist.
    """
    parser = argparse.ArgumentParser(prog="python -m matrix.publish", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=Path, required=True, help="folder of run files")
    parser.add_argument("--site", type=Path, required=True, help="folder to write the site to")
    parser.add_argument("--previous", type=Path,
                        help="the previously published site (a folder); absent: first run")
    parser.add_argument("--commit", default="unknown", help="git commit of the runs")
    parser.add_argument("--date", help="ISO 8601 time stamp (default: now, UTC)")
    parser.add_argument("--run-url", help="the CI run's page")
    parser.add_argument("--repo-url", help="https://github.com/OWNER/REPO, to link commits")
    parser.add_argument("--reason", type=_reason, action="append", default=[],
                        metavar="PATTERN=REASON",
                        help="why environments matching PATTERN have no run file (repeatable)")
    parser.add_argument("--keep", type=int, default=DEFAULT_KEEP,
                        help=f"runs that keep their JSON in history/ (default {DEFAULT_KEEP})")
    parser.add_argument("--github-output", type=Path,
                        help="append entry= and regressions= to this file (GITHUB_OUTPUT)")
    args = parser.parse_args(argv)
    if not args.runs.is_dir():
        print(f"error: the runs folder {args.runs} does not exist. Received: --runs={args.runs}",
              file=sys.stderr)
        return 2
    previous = args.previous if args.previous and args.previous.is_dir() else None
    published = build_site(args.runs, args.site, previous=previous, commit=args.commit,
                           date=args.date, run_url=args.run_url, repo_url=args.repo_url,
                           reasons=args.reason, keep=max(args.keep, 1))
    flag = {True: "true", False: "false", None: "unknown"}[published.regressions]
    print(f"published {published.entry} to {args.site} ({published.runs_in_history} runs in "
          f"history); diff: {published.diff_note}")
    if args.github_output:
        with args.github_output.open("a", encoding="utf-8") as out:
            out.write(f"entry={published.entry}\nregressions={flag}\n")
    return 0


def _when(row: dict[str, Any]) -> datetime:
    """A history row's date as a time (UTC when it names no zone; the oldest possible when
    it is not a date), so rows order by when they ran."""
    try:
        when = datetime.fromisoformat(str(row.get("date", "")))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


if __name__ == "__main__":
    raise SystemExit(main())

