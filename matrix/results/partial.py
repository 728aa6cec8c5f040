"""Partial runs (a `-k` slice, a `--catalog` run) merged over an environment's full run.

A slice never replaces a full run file: it writes `<environment>.partial-<key>.json`
(`matrix.run.runfiles.run_file_for`), and its provenance says what selected its cases
(`provenance["selection"]`). Before the report merges environments, `fold_partials` turns
each environment's files into one run:

- a full run with partial runs: each partial run's cells replace the full run's cells of the
  same cases where the partial run is newer (its `provenance.date`); cases only in a partial
  run are added. The full run's provenance stays, with `partials` listing each partial run
  merged (file, date, commit, selection, cells taken);
- only partial runs: the newest is the environment's run, the others merged in the same way,
  and the report lists a note that the environment holds a slice only;
- shard files with partial runs: the partial runs are left out, with a note.

Every merge is listed as a note in the report's problems, so a cell taken from a slice is
never mistaken for one of the full run.

Newest wins, so a date in the future would win every merge for ever (a clock set wrong, an
edited file): the report refuses, by name, a run file dated more than `CLOCK_SKEW_S` after
its own clock (`future_date`), before anything is merged. Dates are compared as times, not
as text, so `+02:00` and `Z` order right.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from matrix.records import Run
from matrix.run.runfiles import PARTIAL

RunFile = tuple[Path, Run]


def is_partial(path: Path, run: Run) -> bool:
    """Whether a run file is a slice: its name or its provenance says so."""
    return PARTIAL in path.name or bool(run.environment.provenance.get("selection"))


#: How far after the reading machine's clock a run file's date may be: clocks of two
#: machines disagree by seconds, not minutes; a file dated later is refused (`future_date`).
CLOCK_SKEW_S = 300.0
#: Where a run has no date that parses: older than any dated run.
_UNDATED = datetime.min.replace(tzinfo=UTC)


def _date(run: Run) -> str:
    return str(run.environment.provenance.get("date") or "")


def run_date(run: Run) -> datetime | None:
    """The run's `provenance.date` as a time in UTC (UTC too if it names no zone); None when
    it has none that parses, or one that cannot be put in UTC (year 1 at `+01:00`)."""
    try:
        date = datetime.fromisoformat(_date(run))
        return date.replace(tzinfo=date.tzinfo or UTC).astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def _when(run: Run) -> datetime:
    return run_date(run) or _UNDATED


def future_date(path: Path, run: Run, now: datetime) -> str | None:
    """Why `path` cannot be used because it is dated after `now` (+ `CLOCK_SKEW_S`); None if
    it is not.

    The newest file of an environment wins its merges (`fold_partials`): a file dated in
    2099 would win them for ever, over every later run.
    """
    date = run_date(run)
    if date is None or date <= now + timedelta(seconds=CLOCK_SKEW_S):
        return None
    return (f"{path}: field `environment.provenance.date` is {ascii(_date(run))[:60]}, "
            f"{_ahead(date - now)} after this machine's clock ({now:%Y-%m-%dT%H:%M:%SZ}); "
            "a run file from the future would win every merge of its environment's files. "
            "Set the clock of the machine that wrote it right and rerun the environment.")


def _ahead(delta: timedelta) -> str:
    if delta.days >= 2:
        return f"{delta.days} days"
    return f"{int(delta.total_seconds() // 60)} minutes"


def overlay(base: RunFile, partial: RunFile) -> tuple[Run, int]:
    """`base`'s run with `partial`'s cells over it where `partial` is newer.

    Returns:
        The merged run and the number of cells taken from `partial`.
    """
    (_, full), (path, part) = base, partial
    newer = _when(part) >= _when(full)
    cells = {r.case: r for r in full.results}
    known = {c.id for c in full.cases}
    taken = 0
    for result in part.results:
        if result.case not in cells or newer:
            cells[result.case] = result
            taken += 1
    cases = [*full.cases, *(c for c in part.cases if c.id not in known)]
    order = {c.id: i for i, c in enumerate(cases)}
    results = sorted(cells.values(), key=lambda r: order.get(r.case, len(order)))
    env = full.environment
    note = {"file": path.name, "date": _date(part),
            "commit": part.environment.provenance.get("commit"),
            "selection": part.environment.provenance.get("selection"), "cells": taken,
            "user_catalogs": part.environment.provenance.get("user_catalogs") or []}
    provenance = {**env.provenance,
                  "partials": [*env.provenance.get("partials", []), note]}
    merged_env = replace(env, ran=env.ran or part.environment.ran, provenance=provenance)
    return replace(full, environment=merged_env, cases=cases, results=results), taken


def fold_partials(env_id: str, files: Sequence[RunFile]
                  ) -> tuple[list[RunFile], list[str]]:
    """One environment's run files with its partial runs merged in (see the module docstring).

    Returns:
        The files to merge as before (full runs or shards), and one note per partial run.
    """
    partials = sorted((f for f in files if is_partial(*f)), key=lambda f: _when(f[1]))
    fulls = [f for f in files if not is_partial(*f)]
    if not partials:
        return list(files), []
    notes = []
    if len(fulls) > 1:
        names = ", ".join(p.name for p, _ in partials)
        return fulls, [f"{env_id}: the partial runs {names} were not merged over its shard "
                       "files; render them alone with `nox -s report -- --runs DIR`."]
    if fulls:
        base: RunFile = fulls[0]
        rest = partials
    else:
        base, rest = partials[-1], partials[:-1]
        notes.append(f"{env_id}: {base[0].name} is a partial run (a slice of the catalog); "
                     "there is no full run file, so cases outside the slice show as not_run.")
    for partial in rest:
        run, taken = overlay(base, partial)
        notes.append(f"{env_id}: merged the partial run {partial[0].name} over "
                     f"{base[0].name} ({taken} cells taken, newest cell wins).")
        base = (base[0], run)
    return [base], notes
