"""`python -m matrix.bisect CASE_ID [...]` (`nox -s bisect -- ...`): every input checked
before anything is installed, the search, the table printed and the bisect file written."""

from __future__ import annotations

import argparse
import datetime
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from packaging.version import Version

from matrix.bisect.releases import (
    ROOT,
    BisectError,
    harness_requirements,
    index_releases,
    parse_bounds,
    pinned_requirements,
    releases_in,
)
from matrix.bisect.search import search
from matrix.bisect.trials import ensure_virtualenv, real_trial
from matrix.bisections import (
    Bisection,
    Trial,
    bisect_file_name,
    change_line,
    describe,
    dump_bisection,
    not_run_between,
)
from matrix.environments import Environment, get_environment
from matrix.results import SCHEMA_VERSION

#: Where a local bisect writes (ignored by git), and where `publish-local` copies it.
LOCAL_BISECT_DIR = ROOT / "reports" / "local" / "bisect"


def verdict_text(trial: Trial) -> str:
    if trial.verdict is None:
        return "not_run"
    cause = f" ({trial.verdict.cause})" if trial.verdict.cause else ""
    return trial.verdict.status + cause


def same_ends_line(bisection: Bisection) -> str | None:
    """Where both ends ran with the same signature: `same observation at both ends (3.0.0 and
    3.11.0): raises ValueError; a change that reverted inside the range is not searched for`."""
    ran = [t for t in bisection.trials if t.status == "ran"]
    if bisection.first_changed is not None or not ran:
        return None
    return (f"same observation at both ends ({ran[0].keras} and {ran[-1].keras}): "
            f"{describe(ran[0])}; a change that reverted inside the range is not searched for")


def table_text(bisection: Bisection) -> str:
    """The terminal table: release, observation, verdict (every release in the range)."""
    from tabulate import tabulate

    by_release = {t.keras: t for t in bisection.trials}
    rows = []
    for release in bisection.releases:
        trial = by_release.get(release)
        mark = "◀ first changed" if release == bisection.first_changed else ""
        rows.append([release, describe(trial) if trial else "(not tried)",
                     verdict_text(trial) if trial else "", mark])
    return str(tabulate(rows, headers=["keras", "observation", "verdict", ""], tablefmt="github"))


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="nox -s bisect --",
        description="Find the first Keras release in which a case's cell changed.")
    parser.add_argument("case", help="the case id (as in compatibility.json)")
    parser.add_argument("--environment", default="jax-cpu",
                        help="the environment whose backend stays pinned (default jax-cpu)")
    parser.add_argument("--from", dest="start", default=None, metavar="RELEASE",
                        help="the oldest release of the range (default 3.0.0)")
    parser.add_argument("--to", dest="end", default=None, metavar="RELEASE",
                        help="the newest release of the range (default the newest on the index)")
    parser.add_argument("--catalog", action="append", default=[], metavar="PATH",
                        help="a user case module (repeatable), as for `run`")
    parser.add_argument("--output", type=Path, default=LOCAL_BISECT_DIR, metavar="DIR",
                        help="where <case>.<environment>.json goes (default the ignored "
                             "reports/local/bisect)")
    parser.add_argument("--venv-root", type=Path, default=ROOT / ".nox", metavar="DIR",
                        help="where the cached virtualenv bisect-<environment> lives")
    return parser.parse_args(argv)


def check_output(output: Path) -> None:
    """Refuses an `--output` that cannot be a writable directory, creating nothing.

    Raises:
        BisectError: it, or its nearest existing parent, is not a directory, or cannot be
            written.
    """
    existing = output
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise BisectError(f"--output must be a directory (or one that can be created), but "
                          f"{existing} is a file. Received: --output={output}")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise BisectError(f"--output: {existing} cannot be written; choose another directory. "
                          f"Received: --output={output}")


def plan(args: argparse.Namespace, list_releases: Callable[[], Sequence[Version]]
         ) -> tuple[Environment, list[str]]:
    """Checks every input before anything is installed or written.

    Returns:
        (the environment, the releases of the range, oldest first).

    Raises:
        BisectError: an unknown or GPU environment, an `--output` that cannot be a
            directory, an unknown case id, a bad range, an unreadable index.
    """
    try:
        environment = get_environment(args.environment)
    except KeyError as exc:
        raise BisectError(f"--environment: {exc.args[0]}") from None
    if environment.device != "cpu":
        raise BisectError(f"--environment must be a CPU environment (bisect does not check "
                          f"that a GPU is visible, so a GPU run could silently fall back to "
                          f"the CPU). Received: --environment={environment.id}")
    check_output(args.output)
    parse_bounds(args.start, args.end)
    from cases import CatalogError
    from cases.model import check_case_id
    from matrix.oracle.catalog import load_catalog

    try:  # the id names a file (`<case>.json`): the catalog's own rule keeps path parts out
        check_case_id(args.case)
    except ValueError as exc:
        raise BisectError(str(exc)) from None

    try:
        catalog = load_catalog(args.catalog)
    except CatalogError as exc:
        raise BisectError(str(exc)) from None
    if args.case not in {c.id for c in catalog.cases}:
        near = [c.id for c in catalog.cases if args.case in c.id or c.id in args.case][:3]
        hint = f" (close: {', '.join(near)})" if near else ""
        raise BisectError(f"no case {args.case!r} in the catalog{hint}; take an id from "
                          "compatibility.json, or pass the --catalog that defines it")
    return environment, releases_in(list_releases(), args.start, args.end)


def main(argv: Sequence[str] | None = None,
         list_releases: Callable[[], Sequence[Version]] | None = None,
         trial_factory: Callable[[Path, Environment, str, Sequence[str]],
                                 Callable[[str], Trial]] | None = None) -> int:
    """`python -m matrix.bisect CASE_ID [...]`; returns the exit status (2: bad input)."""
    args = _arguments(argv)
    try:
        environment, releases = plan(args, list_releases or index_releases)
        venv = args.venv_root / f"bisect-{environment.id}"
        factory = trial_factory or real_trial
        if trial_factory is None:
            ensure_virtualenv(venv, [*harness_requirements(), *pinned_requirements(environment)],
                              pre=environment.pre)
    except BisectError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"bisect: {args.case} on {environment.id}, {len(releases)} releases "
          f"({releases[0]} to {releases[-1]})", file=sys.stderr, flush=True)
    first, last, trials = search(releases, factory(venv, environment, args.case, args.catalog))
    bisection = Bisection(
        schema_version=SCHEMA_VERSION, case=args.case, environment=environment.id,
        pinned=pinned_requirements(environment), releases=releases, trials=trials,
        first_changed=first, last_unchanged=last, catalogs=[str(c) for c in args.catalog],
        not_run_between=not_run_between(trials, last, first),
        generated_at=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"))
    print(table_text(bisection))
    ran = [t for t in trials if t.status == "ran"]
    if not ran:
        print(f"no release of the range ran ({len(trials)} tried): nothing to compare")
    else:
        print(change_line(bisection) or same_ends_line(bisection))
    path = args.output / bisect_file_name(args.case, environment.id)
    dump_bisection(bisection, path)
    print(f"wrote {path}")
    return 0
