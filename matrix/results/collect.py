"""Reading the run files the report folds: `collect` reads `reports/runs/*.json` into the
`Matrix`. A file that cannot be used (unreadable, truncated, invalid, dated in the future,
a second file for an environment, an unsafe name) becomes a problem shown at the top of
every format, never a crash."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cases.limitations import Limitation
from cases.model import check_case_id
from matrix.results import (
    EnvironmentInfo,
    Matrix,
    Run,
    RunFileError,
    combine_shards,
    load_run,
    merge_runs,
    shard_of,
)
from matrix.results.partial import fold_partials, future_date
from matrix.results.triage import apply_limitations, catalog_limitations, recorded_catalogs


def declared_environments() -> list[EnvironmentInfo]:
    """Every environment of `matrix/axes.toml`, as a column that has not run yet."""
    from matrix.environments import load_environments

    return [EnvironmentInfo(id=e.id, backend=e.backend, device=e.device, ran=False,
                            channel=e.channel) for e in load_environments()]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _skip(path: Path, problem: str, why: str, problems: list[str],
          declared: dict[str, EnvironmentInfo], groups: Mapping[str, object]) -> None:
    """Lists a run file that is skipped; its environment, if no other file of it was read,
    says why it has no column ("its run file X <why> (see problems)")."""
    problems.append(problem)
    stem = path.name.split(".")[0]
    if stem in declared and stem not in groups:
        declared[stem] = replace(declared[stem],
                                 reason=f"its run file {path.name} {why} (see problems)")


def judged_beside_catalogs(env_id: str, run: Run) -> list[str]:
    """A note per run (or merged partial run) whose cells were judged in a process that
    loaded user catalogs (`provenance.user_catalogs`): a catalog's import runs code beside
    the built-in cases it was run with (`matrix/run/cache.py` keys such cells apart)."""
    provenance = run.environment.provenance
    partials = provenance.get("partials")
    sources: list[tuple[Any, object]] = [(provenance.get("user_catalogs"), len(run.results))]
    sources += [(p.get("user_catalogs"), p.get("cells")) for p in
                (partials if isinstance(partials, list) else []) if isinstance(p, dict)]
    notes = []
    for catalogs, cells in sources:
        paths = [str(c.get("path")) for c in catalogs if isinstance(c, dict)] \
            if isinstance(catalogs, list) else []
        if paths:
            notes.append(f"{env_id}: {cells} cells were judged in a process that loaded the "
                         f"user catalog(s) {', '.join(paths)}; their import ran code beside "
                         "the built-in cases of that run")
    return notes


def collect(runs_dir: Path, environments: Sequence[EnvironmentInfo] | None = None,
            now: str | None = None, limitations: Sequence[Limitation] | None = None,
            user_catalogs: Sequence[str | Path] = (), *,
            clock: datetime | None = None) -> Matrix:
    """Reads every run file of `runs_dir` and merges them into the matrix.

    A file that cannot be used (unreadable, truncated, invalid, dated in the future, or a
    second file for an environment) is skipped and becomes a message in `Matrix.problems`
    naming the file and the field; every other environment still renders, and the
    environment whose file was skipped shows as `not_run` with that reason.

    Args:
        runs_dir: the folder of run files, `reports/runs`.
        environments: the declared columns, in order; by default those of
            `matrix/axes.toml`. An environment with no usable run file is `not_run`.
        now: the `generated_at` time stamp; by default the current UTC time.
        limitations: joined to the raw verdicts (`matrix.results.triage`), exactly these; by
            default those of `cases/limitations/`, then those of the user catalogs:
            `user_catalogs` and each the run files recorded that still exists
            (`matrix.results.triage.catalog_limitations`; one that does not is a problem).
        user_catalogs: user case modules (`--catalog`) whose `LIMITATIONS` are joined too.
        clock: the current time, which no run file's date may pass by more than
            `matrix.results.partial.CLOCK_SKEW_S` (`future_date`); by default this machine's clock.

    Returns:
        The matrix, problems included.
    """
    clock = clock or datetime.now(UTC)
    problems: list[str] = []
    if environments is None:
        try:
            environments = declared_environments()
        except ValueError as exc:  # AxesError: still render whatever runs exist
            problems.append(f"matrix/axes.toml: {exc}")
            environments = []
    declared = {e.id: e for e in environments}
    groups: dict[str, list[tuple[Path, Run]]] = {}
    for path in sorted(runs_dir.glob("*.json")):
        try:
            run = load_run(path)
        except RunFileError as exc:
            _skip(path, f"{exc} This file was skipped.", "could not be used", problems,
                  declared, groups)
            continue
        unsafe = unsafe_name(run)
        if unsafe is not None:
            problems.append(f"{path}: {unsafe}; such a name could split a table or reach a "
                            "repro snippet's code. This file was skipped.")
            continue
        future = future_date(path, run, clock)
        if future is not None:  # it would win every merge (newest wins) for ever
            _skip(path, f"{future} This file was skipped.", "is dated in the future",
                  problems, declared, groups)
            continue
        claimed = _named_for_another(path, run, declared)
        if claimed is not None:
            problems.append(claimed)
            declared[path.name.split(".")[0]] = replace(
                declared[path.name.split(".")[0]],
                reason=f"its run file {path.name} holds another environment (see problems)")
            continue
        groups.setdefault(run.environment.id, []).append((path, run))
    runs: dict[str, tuple[Path, Run]] = {}
    for env_id, files in groups.items():
        files, notes = fold_partials(env_id, files)  # issue 12: slices beside full runs
        problems.extend(notes)
        shards = [f for f in files if f[1].environment.provenance.get("shard")]
        if shards:
            problems.extend(missing_shards(env_id, shards))
        if len(files) > 1 and len(shards) == len(files):
            try:
                runs[env_id] = (files[0][0], combine_shards(files))
            except RunFileError as exc:
                problems.append(f"{exc} These shards were skipped.")
                if env_id in declared:
                    declared[env_id] = replace(
                        declared[env_id], reason="its shard files are inconsistent (see problems)")
            continue
        runs[env_id] = files[0]
        for path, _ in files[1:]:
            problems.append(
                f"{path}: field `environment.id` is {env_id!r}, which {files[0][0].name} "
                f"already holds; one run file per environment. This file was skipped.")
    for env_id, (_, run) in runs.items():
        problems.extend(judged_beside_catalogs(env_id, run))
    catalogs = {str(run.environment.provenance.get("catalog", {}).get("fingerprint"))
                for _, run in runs.values() if run.environment.provenance.get("catalog")}
    if len(catalogs) > 1:
        problems.append(
            "the run files were made from different catalog versions (fingerprints "
            f"{', '.join(sorted(catalogs))}); a case missing from a run shows as not_run there. "
            "Rerun the older environments to compare like with like.")
    if limitations is None:
        limitations, notes = catalog_limitations(
            [*user_catalogs, *recorded_catalogs(run for _, run in runs.values())])
        problems.extend(notes)
    columns = [declared[e.id] for e in environments]
    merged = merge_runs([run for _, run in runs.values()], columns, now or _now(), problems)
    return apply_limitations(merged, limitations)


def _named_for_another(path: Path, run: Run, declared: Mapping[str, EnvironmentInfo]
                       ) -> str | None:
    """A problem when a file named for a declared environment holds another one's run.

    `torch-cpu.json` holding `jax-cpu` would otherwise take over the jax-cpu column.
    """
    stem = path.name.split(".")[0]
    if stem in declared and stem != run.environment.id:
        return (f"{path}: field `environment.id` is {run.environment.id!r}, but the file is "
                f"named for {stem!r}. This file was skipped.")
    return None


def missing_shards(env_id: str, shards: Sequence[tuple[Path, Run]]) -> list[str]:
    """A problem when an environment's shard files do not cover every shard of its count.

    A lone `1-of-3` file would otherwise show as a complete run.
    """
    counts = {shard_of(run.environment).count for _, run in shards}
    if len(counts) != 1:
        return []  # combine_shards names the differing counts
    count = counts.pop()
    have = {shard_of(run.environment).index for _, run in shards}
    missing = [f"{i}/{count}" for i in range(1, count + 1) if i not in have]
    if not missing:
        return []
    names = ", ".join(p.name for p, _ in shards)
    return [f"{env_id}: field `environment.provenance.shard`: the shard files ({names}) "
            f"cover {len(have)} of {count} shards; {', '.join(missing)} missing, so this "
            "column is incomplete: their cases show as not_run."]


# Names from a run file that reach code (repro snippets), URLs and table cells: refused on
# read unless they match these, never escaped after the fact. A case id follows the one rule
# the catalog is loaded with (`cases.model.check_case_id`), so no id collection accepts is
# refused here.
SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+=-]{0,199}$")
SAFE_WORD = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def unsafe_name(run: Run) -> str | None:
    """Why a run file's environment id, backend, device or a case id is refused, or None."""
    env = run.environment
    checks = [("environment.id", env.id, SAFE_ID), ("environment.backend", env.backend,
                                                     SAFE_WORD),
              ("environment.device", env.device, SAFE_WORD)]
    for field_name, value, pattern in checks:
        if not pattern.match(value):
            return (f"field `{field_name}` is {ascii(value)[:80]}, which is not a safe name "
                    f"(expected to match {pattern.pattern})")
    ids = [(f"cases.{i}.id", case.id) for i, case in enumerate(run.cases)]
    ids += [(f"results.{i}.case", result.case) for i, result in enumerate(run.results)]
    for field_name, case_id in ids:
        try:
            check_case_id(case_id)
        except ValueError as exc:
            return f"field `{field_name}`: {exc}"
    return None
