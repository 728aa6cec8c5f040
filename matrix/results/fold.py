"""The fold of one environment's report log into its run file (`fold_run`), and the run file
of an environment that did not run (`not_run`): every case of the catalog gets a cell.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from matrix.records import SCHEMA_VERSION, CaseFacts, CaseInfo, EnvironmentInfo, Result, Run
from matrix.results.ingest import fold_reports, read_report_log, with_retries
from matrix.results.io import RESULT_ADAPTER, read_document
from matrix.results.outcomes import missing_results
from matrix.run.facts import catalog_infos
from matrix.run.protocol import CASE_FACTS, COLLECTED, case_of_nodeid


class CaseFactsError(ValueError):
    """A run's case facts (`case-facts.json`) are missing, damaged or not those of the
    catalog the fold was given; the message names the file and says to rerun."""


CASE_FACTS_ADAPTER: TypeAdapter[CaseFacts] = TypeAdapter(CaseFacts)


def read_case_facts(path: Path, extra: Sequence[str]) -> list[CaseInfo]:
    """The cases a run's pytest process recorded at collection (`matrix.run.facts`).

    Args:
        path: the run's `case-facts.json`.
        extra: the user catalogs the fold was given: those the run loaded.

    Raises:
        CaseFactsError: the file is missing (a work folder written before the run recorded
            them), unreadable, truncated, of another schema version, a field is invalid, or
            it was written for other user catalogs; the message names the file and field.
    """
    rerun = ("rerun the environment from the start (`nox -s \"run(ENV)\" -- --fresh`) to "
             "write it")
    if not path.is_file():
        raise CaseFactsError(f"{path}: missing: a run's pytest process writes its case facts "
                             "at collection, beside collected.json; this work folder was "
                             f"written without them (before the harness recorded them, or "
                             f"the file was deleted): {rerun}")
    facts = read_document(path, CASE_FACTS_ADAPTER, CaseFactsError)
    if facts.catalogs != [str(c) for c in extra]:
        raise CaseFactsError(f"{path}: field `catalogs`: written for the user catalogs "
                             f"{facts.catalogs}, the fold was given {list(extra)}; {rerun}")
    return facts.cases


def _environment_info(environment: str, ran: bool, reason: str | None,
                      props: Mapping[str, Any]) -> EnvironmentInfo:
    from matrix.environments import get_environment

    env = get_environment(environment)
    return EnvironmentInfo(id=env.id, backend=env.backend, device=env.device, ran=ran,
                           channel=env.channel,
                           reason=reason, versions=dict(props.get("versions") or {}),
                           provenance=dict(props.get("provenance") or {}))


def catalog_fingerprint(infos: Sequence[CaseInfo]) -> dict[str, Any]:
    """Identifies a catalog version: its size and a hash of its case ids and expectations."""
    digest = hashlib.sha256()
    for info in infos:
        digest.update(f"{info.id}\0{info.expected}\n".encode())
    return {"cases": len(infos), "fingerprint": digest.hexdigest()[:16]}


def _cached_results(work: Path, environment: str) -> tuple[dict[str, Result], set[str]]:
    """The results the worker took from the cache (`matrix/run/cache.py`), by case, and every
    case it says it took (`cache-used.json`): a case whose result does not read back is
    still the run's, and gets a cell saying so (`fold_run`)."""
    from matrix.run import cache, store

    plan = store.read_json(work / cache.PLAN)
    used = store.read_json(work / cache.USED)
    hits = plan.get("hits") if isinstance(plan, dict) else None
    if not isinstance(used, list):
        return {}, set()
    listed = set(map(str, used))
    if not isinstance(hits, dict):
        return {}, listed
    found = {}
    for case in sorted(listed):
        try:
            result = RESULT_ADAPTER.validate_python(hits.get(case))
        except ValidationError:
            continue  # cannot happen for a plan the controller checked; the cell says so
        if result.case == case:
            found[case] = replace(result, environment=environment)
    return found, listed


def _store(cache_dir: Path, environment: str, work: Path, results: Sequence[Result],
           infos: Sequence[CaseInfo], served: Iterable[str]) -> dict[str, Any] | None:
    """Stores the run's fresh results in the cache and renews the entries it served.

    Returns:
        `{"stored": N}` (and `"error"` when the store could not be written: the run file is
        written all the same), or None when the run had no cache plan.
    """
    from matrix.run import cache, store

    plan = store.read_json(work / cache.PLAN)
    keys = plan.get("keys") if isinstance(plan, dict) else None
    if not isinstance(keys, dict):
        return None
    modes = {c.id: c.axes.get("mode") for c in infos}
    dumped = [RESULT_ADAPTER.dump_python(r, mode="json") for r in results]
    done = store.update_store(cache_dir, environment, keys, dumped, modes, served)
    report: dict[str, Any] = {"stored": done.stored}
    if done.error is not None:
        report["error"] = done.error
    return report


def user_catalogs(extra: Sequence[str | Path]) -> list[dict[str, str]]:
    """The user catalogs a run loaded: `[{"path": ..., "sha256": ...}]`, in load order."""
    from matrix.run.cache_key import file_digest

    return [{"path": str(path), "sha256": file_digest(Path(path)) or "unreadable"}
            for path in extra]


def _host() -> dict[str, Any]:
    """The host CPU of the run (`matrix.run.cache_key.host_facts`): its model and the ISA flags that
    change an answer (`ANSWER_CPU_FLAGS`); all flags are in the cache key."""
    from matrix.run.cache_key import host_facts

    facts = host_facts()
    return {"cpu": facts["cpu"],
            "flags": [f for f in facts["flags"] if f in ANSWER_CPU_FLAGS]}


#: CPU features known to change what a backend computes, recorded per run: OpenVINO's CPU
#: plugin infers in bfloat16 where the CPU has AVX-512 BF16 or AMX
#: (https://docs.openvino.ai/2024/openvino-workflow/running-inference/inference-devices-and-modes/cpu-device.html).
ANSWER_CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_fp16", "amx_bf16", "amx_tile",
                    "amx_int8", "fma", "f16c")


def fold_run(environment: str, log: Path, extra: Sequence[str], shard: str | None = None,
             *, retry_log: Path | None = None, cache_dir: Path | None = None,
             stopped: str | None = None) -> Run:
    """Folds one environment's report log into its `Run`.

    Every case of the catalog gets a cell: a case with no report (the run was interrupted
    before it) is `error` with that reason, so nothing is silently missing. The cases are
    those the run recorded at collection (`case-facts.json` beside the log,
    `read_case_facts`), kept to the node ids it collected (`collected.json`); only where
    pytest wrote neither (it died before collecting) is the catalog loaded here.

    Args:
        extra: the user catalogs the run loaded (`--catalog`).
        retry_log: the report log of the timed-out cases run again alone (`with_retries`).
        cache_dir: the result cache's folder: the cells the worker took from it
            (`cache-used.json` beside the log) are added, `provenance["cache"]` counts them,
            and the fresh results are stored. None: no cache.
        stopped: why the runner itself stopped an unfinished run (a time box): its cases
            with no report are then `not_run` with this reason, not `error`. Ignored when
            the run finished.

    Raises:
        CaseFactsError: the run collected but its `case-facts.json` is missing or damaged.
        CatalogError: pytest died before collection, or a worker's collection failed, and
            the catalog does not load here.
    """
    events = read_report_log(log) if log.exists() else []
    results, props = fold_reports(events, environment)
    if retry_log is not None and retry_log.exists():
        results = with_retries(results, fold_reports(read_report_log(retry_log),
                                                     environment)[0])
    executed = {r.case for r in results}
    found, used = _cached_results(log.parent, environment) if cache_dir is not None \
        else ({}, set())
    cached = {case: r for case, r in found.items() if case not in executed}
    results += list(cached.values())
    finish = [e for e in events if e.get("$report_type") == "SessionFinish"]
    collected_file, facts_file = log.parent / COLLECTED, log.parent / CASE_FACTS
    if any(e.get("$report_type") == "CollectReport" and e.get("outcome") == "failed"
           for e in events):
        # A worker's collection failed: the catalog loads on the controller (which wrote
        # the facts) but not where Keras is installed (an open step naming a callable this
        # Keras lacks, `cases.load.resolve_open_names`). Load it here, where Keras is too,
        # so that the fold refuses the run with the catalog's own error.
        catalog_infos(extra)
    if facts_file.exists():
        infos = read_case_facts(facts_file, extra)
    elif collected_file.exists():
        # The controller writes no facts when a catalog does not load, and its workers'
        # collection fails on it: load the catalogs here so that the fold says why (the
        # CatalogError names the file). If they load, the facts were lost: refused.
        catalog_infos(extra)
        infos = read_case_facts(facts_file, extra)
    else:  # pytest died before collection: no process recorded the cases, so each one's
        # cell (a harness error) is built from the catalog, loaded here
        infos = catalog_infos(extra)
    catalog = catalog_fingerprint(infos)
    if collected_file.exists():  # a `-k` slice: keep only the cases pytest selected
        collected = json.loads(collected_file.read_text(encoding="utf-8"))
        selected = {case_of_nodeid(n) for n in collected}
        # A case the cache served was deselected, so pytest did not collect it: it is
        # still one of the run's cells (with a harness error if its result is unreadable).
        infos = [c for c in infos if c.id in selected or c.id in used]
    known = {c.id for c in infos}
    results = [r for r in results if r.case in known]
    status = finish[-1].get("exitstatus") if finish else None
    reason = None if status is not None else "the pytest run did not finish (interrupted?)"
    if status is None and stopped:  # stopped on purpose: what it did not reach did not run
        reason = f"the run was stopped before it finished: {stopped}"
        results += missing_results(results, infos, environment, "not_run",
                                   f"not run: {stopped}")
    results += missing_results(results, infos, environment, "harness_error",
                               "the run recorded no result for this case")
    order = {c.id: i for i, c in enumerate(infos)}
    results.sort(key=lambda r: order[r.case])
    props = dict(props)
    provenance = dict(props.get("provenance") or {})
    provenance["pytest_exitstatus"] = status
    provenance["catalog"] = catalog
    # Every cell of this run, built-in ones too, was judged in a process that ran these
    # modules' code at import (`matrix.run.cache`: they are in every key of such a run).
    provenance["user_catalogs"] = user_catalogs(extra)
    provenance["host"] = _host()
    provenance["shard"] = shard
    provenance["environment_check"] = {"outcome": props.get("check_outcome"),
                                       "message": props.get("check_message")}
    if cache_dir is not None:
        fresh = [r for r in results if r.case not in cached]
        store = _store(cache_dir, environment, log.parent, fresh, infos, cached)
        # A cell the harness left out (cut by the sample, a mode not run: verdict `not_run`)
        # did not execute; one whose program said it does not apply (`not_applicable`) did.
        skipped = {r.case for r in results
                   if r.case not in cached and r.verdict.status == "not_run"}
        provenance["cache"] = {"reused": len(cached),
                               "executed": len(known - set(cached) - skipped),
                               "stored": None if store is None else store["stored"]}
        if skipped:
            provenance["cache"]["not_run"] = len(skipped)
        if store is not None and "error" in store:
            provenance["cache"]["store_error"] = store["error"]
    props["provenance"] = provenance
    env = _environment_info(environment, ran=bool(events), reason=reason, props=props)
    return Run(schema_version=SCHEMA_VERSION, environment=env, cases=infos, results=results)


def with_selection(run: Run, selection: Mapping[str, Any]) -> Run:
    """Marks a run as a slice of the catalog: `provenance["selection"]` says which.

    A run with `-k`, other pytest arguments or `--catalog` records what selected its cases,
    so that the report and the noxfile tell it from a full run (`matrix.run.runfiles`).
    """
    env = run.environment
    provenance = {**env.provenance, "selection": dict(selection)}
    return replace(run, environment=replace(env, provenance=provenance))


def not_run(environment: str, reason: str, extra: Sequence[str]) -> Run:
    """The run file of an environment that did not run here, every cell `not_run`."""
    infos = catalog_infos(extra)
    results = missing_results([], infos, environment, "not_run", reason)
    env = _environment_info(environment, ran=False, reason=reason, props={})
    return Run(schema_version=SCHEMA_VERSION, environment=env, cases=infos, results=results)


