"""The results data model, and the fold of a pytest report log into a run file.

Types (frozen, keyword-only dataclasses; pydantic validates them only at the JSON boundary):
`Outcome` (pytest's words plus `crashed`, `timeout`, `not_run`), `Observation` (what really
happened), `Result` (one cell), `CaseInfo`, `EnvironmentInfo`, `Run` (one environment's results
and provenance) and `Matrix` (all runs merged; every report format renders from it).

The fold reads the event stream that pytest-reportlog writes for one environment's run and
turns every test report into a `Result`: the observation the case recorded as a user property,
and the outcome pytest gave it (xfail marks come from `cases/limitations/`). A worker that
died is `crashed`, or `timeout` when pytest-timeout ended it (the heartbeat in
`matrix/run/crash.py` tells which).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

from matrix.results.fold import CaseFactsError, fold_run, not_run, with_selection
from matrix.results.io import dump_run


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m matrix.results {fold,not-run} --environment ID --output PATH ...`.

    Returns:
        0 when the run file was written; 2 with one line on stderr naming the catalog when
        a `--catalog` module cannot be loaded, or naming the run's `case-facts.json` when
        it is missing or damaged (the run file is then left as it was).
    """
    import argparse

    parser = argparse.ArgumentParser(prog="python -m matrix.results", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("fold", "not-run"):
        cmd = sub.add_parser(name)
        cmd.add_argument("--environment", required=True)
        cmd.add_argument("--output", required=True, type=Path)
        cmd.add_argument("--catalog", action="append", default=[])
        if name == "fold":
            cmd.add_argument("--log", required=True, type=Path)
            cmd.add_argument("--retry-log", default=None, type=Path,
                             help="the report log of the timed-out cases run again alone")
            cmd.add_argument("--cache", default=None, type=Path,
                             help="the result cache's folder (matrix/run/cache.py)")
            cmd.add_argument("--shard", default=None)
            cmd.add_argument("--selection", default=None, type=json.loads,
                             help="JSON: the slice this run ran (pytest args, catalogs)")
            cmd.add_argument("--stopped", default=None, metavar="REASON",
                             help="the runner stopped this run on purpose (a time box): "
                                  "cases with no result are not_run with this reason")
        else:
            cmd.add_argument("--reason", required=True)
    args = parser.parse_args(argv)
    from cases import CatalogError

    try:
        if args.command == "fold":
            run = fold_run(args.environment, args.log, args.catalog, args.shard,
                           retry_log=args.retry_log, cache_dir=args.cache,
                           stopped=args.stopped)
            if args.selection:
                run = with_selection(run, args.selection)
        else:
            run = not_run(args.environment, args.reason, args.catalog)
    except (CatalogError, CaseFactsError) as exc:  # e.g. a catalog that calls os._exit at
        # import; a work folder written before the run recorded its case facts
        print(f"error: {exc} {args.output} was not written; what it held is unchanged.",
              file=sys.stderr)
        return 2
    dump_run(run, args.output)
    counts: dict[str, int] = {}
    for result in run.results:
        counts[result.outcome.value] = counts.get(result.outcome.value, 0) + 1
    summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    print(f"{args.output}: {len(run.results)} cells for {args.environment} ({summary})")
    cached = run.environment.provenance.get("cache")
    if isinstance(cached, dict):
        hint = " (`--no-cache` runs every case)" if cached.get("reused") else ""
        left = f", {cached['not_run']} not run" if cached.get("not_run") else ""
        print(f"{args.environment}: {cached.get('reused', 0)} cells reused from the cache, "
              f"{cached.get('executed', 0)} executed{left}{hint}")
        if cached.get("store_error"):
            print(f"{args.environment}: warning: the result cache could not be written "
                  f"({cached['store_error']}); the run file is whole, the next run executes "
                  "these cells again", file=sys.stderr)
    flaky = [r.case for r in run.results if r.flaky]
    if flaky:
        print(f"{args.environment}: {len(flaky)} flaky cells (timed out, then another verdict "
              f"alone): {', '.join(flaky[:5])}{' ...' if len(flaky) > 5 else ''}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
