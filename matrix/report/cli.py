"""`python -m matrix.report [--runs reports/runs] [--out reports]`: fold the run files,
write `compatibility.{md,html,json}` and print the summary."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from matrix.report.files import write_reports
from matrix.report.terminal import print_summary
from matrix.report.views import _plural
from matrix.results.collect import collect


def _git_commit() -> str | None:
    import subprocess

    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m matrix.report [--runs reports/runs] [--out reports]`.

    Returns:
        0 when the reports were written (problems with run files are printed, in red);
        1 when they could not be written (the previous ones are kept, all three);
        2 when the runs folder does not exist.
    """
    parser = argparse.ArgumentParser(
        prog="python -m matrix.report",
        description="Fold reports/runs/*.json into reports/compatibility.{md,html,json}.")
    parser.add_argument("--runs", type=Path, default=Path("reports/runs"),
                        help="folder of run files (default: reports/runs)")
    parser.add_argument("--out", type=Path, default=Path("reports"),
                        help="folder to write the reports to (default: reports)")
    parser.add_argument("--since", type=datetime.fromisoformat, default=None,
                        metavar="ISO-TIME",
                        help="when this invocation started: older run files are marked as such "
                             "in the summary (default: older than one hour)")
    parser.add_argument("--catalog", action="append", default=[], metavar="PATH",
                        help="a user case module whose LIMITATIONS are joined too (repeatable)")
    parser.add_argument("--bisect", type=Path, default=None, metavar="DIR",
                        help="bisect files shown in the HTML detail (default: the folder "
                             "`bisect` beside --runs)")
    parser.add_argument("--if-changed", action="store_true",
                        help="render nothing when the run files, the report's code and every "
                             "file the last rendering into --out wrote are unchanged "
                             "(matrix/report/stamp.py); its summary is printed again")
    parser.add_argument("--draft-limitations", type=Path, default=None, metavar="FILE",
                        help="also write a draft Limitation per cluster of failed cells no "
                             "limitation explains, for a person to complete")
    args = parser.parse_args(argv)
    if not args.runs.is_dir():
        print(f"error: the runs folder {args.runs} does not exist; run an environment "
              f"first (bare `nox` runs every CPU environment), or pass --runs. "
              f"Received: --runs={args.runs}", file=sys.stderr)
        return 2
    if args.catalog:
        from cases import CatalogError
        from matrix.oracle.catalog import load_catalog

        try:  # a bad --catalog is refused here; one a run file names is a problem listed
            load_catalog(args.catalog)
        except CatalogError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    from matrix.report import stamp

    bisect_dir = args.bisect or args.runs.parent / "bisect"
    shortcut = args.if_changed and args.draft_limitations is None
    digest = stamp.inputs_digest(args.runs, bisect_dir, args.catalog) if shortcut else ""
    last = stamp.unchanged(args.out, digest) if shortcut else None
    if last is not None:
        print(f"{args.out}: up to date: the run files, the report's code and the files it "
              f"wrote are those of its rendering at {last.get('written', '?')}; nothing was "
              "rendered (`nox -s report` without `--if-changed` renders again). Its summary:")
        print(str(last.get("summary", "")), end="")
        return 0
    matrix = collect(args.runs, user_catalogs=args.catalog)
    from matrix.bisections import changes_in  # beside the runs: local with local, published too

    changes, bisect_problems = changes_in(bisect_dir)
    for problem in bisect_problems:
        print(f"warning: {problem}; this bisect file was skipped.", file=sys.stderr)
    try:
        paths = write_reports(matrix, args.out, changes)
    except OSError as exc:  # e.g. a full disk: the old reports stay, all three
        print(f"error: could not write the reports to {args.out}: {exc}; the previous "
              "reports there are unchanged.", file=sys.stderr)
        return 1
    console = Console(record=shortcut)
    if args.draft_limitations is not None:
        from matrix.results.triage import draft_limitations

        drafts, count = draft_limitations(matrix)
        try:
            args.draft_limitations.write_text(drafts, encoding="utf-8")
        except OSError as exc:
            print(f"error: could not write --draft-limitations {args.draft_limitations}: "
                  f"{exc}", file=sys.stderr)
            return 1
        console.print(f"wrote {args.draft_limitations}: {count} draft limitation(s)",
                      markup=False, highlight=False)
    since = args.since.replace(tzinfo=args.since.tzinfo or UTC) if args.since else None
    print_summary(matrix, console, since=since, commit=_git_commit())
    # The top-level files by name; the folders of per-environment and per-family files, each
    # as one line with its count.
    folders: dict[Path, int] = {}
    for path in paths:
        if path.parent == args.out:
            console.print(f"wrote {path}", markup=False, highlight=False)
        else:
            folders[path.parent] = folders.get(path.parent, 0) + 1
    for folder, count in folders.items():
        console.print(f"wrote {folder}/ ({_plural(count, 'file')})", markup=False,
                      highlight=False)
    if shortcut:
        stamp.record(args.out, digest, paths, console.export_text(),
                     datetime.now(UTC).strftime("%Y-%m-%dT%H:%MZ"))
    return 0
