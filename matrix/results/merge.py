"""Run files merged: the shards of one environment into one run, the runs into the matrix."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from matrix.records import SCHEMA_VERSION, CaseInfo, EnvironmentInfo, Matrix, Result, Run, Shard
from matrix.results.io import RunFileError
from matrix.results.outcomes import missing_results


def shard_of(env: EnvironmentInfo) -> Shard:
    """The shard a run file holds (`environment.provenance.shard`; 1/1 when not sharded).
    Call on a validated run (`run_problem` refuses a malformed shard)."""
    text = env.provenance.get("shard")
    return Shard.parse(str(text)) if text else Shard(1, 1)


def combine_shards(shards: Sequence[tuple[Path, Run]]) -> Run:
    """Combines the shard run files of one environment into one run.

    Args:
        shards: (path, run) of each shard file, e.g. `jax-cpu.shard-1-of-3.json`.

    Returns:
        One run holding every shard's cases and results, with `provenance["shards"]` listing
        the shards combined.

    Raises:
        RunFileError: the shards are of different environments, catalogs, shard counts or
            package versions, or two of them hold the same case; the message names the files.
    """
    (first_path, first), *rest = shards
    env = first.environment
    count = shard_of(env).count
    seen: dict[str, Path] = {c.id: first_path for c in first.cases}
    for path, run in rest:
        other = run.environment
        names = f"{first_path.name} and {path.name}"
        if other.id != env.id:
            raise RunFileError(f"{names}: shards of different environments "
                               f"({env.id!r}, {other.id!r}).")
        if shard_of(other).count != count:
            raise RunFileError(f"{names}: field `environment.provenance.shard` differs in "
                               f"shard count ({env.provenance.get('shard')!r}, "
                               f"{other.provenance.get('shard')!r}).")
        for key in ("catalog",):
            if other.provenance.get(key) != env.provenance.get(key):
                raise RunFileError(f"{names}: field `environment.provenance.{key}` differs: "
                                   "the shards ran different catalogs.")
        if other.versions != env.versions:
            raise RunFileError(f"{names}: field `environment.versions` differs: the shards "
                               "ran different package versions.")
        for case in run.cases:
            if case.id in seen:
                raise RunFileError(f"{seen[case.id].name} and {path.name}: both hold case "
                                   f"{case.id!r}; shards must not overlap.")
            seen[case.id] = path
    cases = [c for _, run in shards for c in run.cases]
    results = [r for _, run in shards for r in run.results]
    provenance = {**env.provenance, "shard": None,
                  "shards": sorted(str(run.environment.provenance.get("shard"))
                                   for _, run in shards)}
    ran = all(run.environment.ran for _, run in shards)
    reasons = [run.environment.reason for _, run in shards if run.environment.reason]
    merged_env = replace(env, ran=ran, reason="; ".join(reasons) or None,
                         provenance=provenance)
    return Run(schema_version=SCHEMA_VERSION, environment=merged_env, cases=cases,
               results=results)


def merge_runs(runs: Sequence[Run], environments: Sequence[EnvironmentInfo],
               generated_at: str, problems: Sequence[str] = ()) -> Matrix:
    """Merges run files into the matrix.

    Args:
        runs: validated runs, at most one per environment.
        environments: every declared environment, in column order; one with no run is
            `not_run` ("no run file"), never a 0% column.
        generated_at: ISO 8601 time stamp.
        problems: messages about run files that could not be used; shown in every format.

    Returns:
        The matrix: every case of every run, and exactly one result per case × environment;
        the cells of a case with no reference judged by agreement (`matrix.oracle.agreement`).

    Raises:
        ValueError: two runs for one environment.
    """
    by_env: dict[str, Run] = {}
    for run in runs:
        env_id = run.environment.id
        if env_id in by_env:
            raise ValueError(f"two run files for environment {env_id!r}; keep one.")
        by_env[env_id] = run
    cases: dict[str, CaseInfo] = {}
    for run in runs:
        for case in run.cases:
            cases.setdefault(case.id, case)
    case_list = list(cases.values())
    envs: list[EnvironmentInfo] = []
    results: list[Result] = []
    declared = {e.id for e in environments}
    extra = [r.environment for r in runs if r.environment.id not in declared]
    for env in [*environments, *extra]:
        found = by_env.get(env.id)
        if found is None:
            reason = env.reason or "no run file: this environment has not been run here"
            envs.append(replace(env, ran=False, reason=reason))
            results += missing_results([], case_list, env.id, "not_run", reason)
            continue
        envs.append(found.environment)
        own = [r for r in found.results if r.case in cases]
        results += own
        if found.environment.ran:
            selection = found.environment.provenance.get("selection")
            why = ("this environment ran a slice of the catalog without this case "
                   f"({_selection_text(selection)})" if selection else
                   "this case was not in the catalog when this environment ran")
            results += missing_results(own, case_list, env.id, "not_run", why)
        else:
            results += missing_results(own, case_list, env.id, "not_run",
                                       found.environment.reason or "not run")
    order = {c.id: i for i, c in enumerate(case_list)}
    col = {e.id: i for i, e in enumerate(envs)}
    results.sort(key=lambda r: (order[r.case], col[r.environment]))
    from matrix.oracle.agreement import judge_by_agreement  # it reads the records only

    results = judge_by_agreement(results, envs)
    return Matrix(schema_version=SCHEMA_VERSION, generated_at=generated_at, environments=envs,
                  cases=case_list, results=results, problems=list(problems))


def _selection_text(selection: Any) -> str:
    """`-k EXPR`, the catalogs and shard of a slice, in one line."""
    if not isinstance(selection, Mapping):
        return "a slice"
    parts = [" ".join(str(a) for a in selection.get("pytest_args") or [])]
    parts += [f"--catalog {c}" for c in selection.get("catalogs") or []]
    return "; ".join(p for p in parts if p)[:300] or "a slice"


