"""The selection plugin of a run (`-p matrix.run.selection`): which cases run, in what order.

The `--catalog` and `--shard` options; the environment check kept first in every run, even a
slice; the result cache (`matrix/run/cache.py`: the controller writes the plan, the worker
deselects the cached cases); the cases an interrupted run recorded (`--resume`); the larger
time limit of compiling modes (`KCM_COMPILE_TIMEOUT` marks `jit_compile` cases); the retry
of timed-out cases (`KCM_RETRY_IDS`: only those run); the modes a timed run cuts
(`KCM_NOT_RUN_MODES`) and the costly cases the default sample cuts, each `not_run` with its
reason; the rest longest first.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from cases import op_table
from matrix import variables as kcm
from matrix.records import Shard
from matrix.run import cache, costs, store
from matrix.run.facts import write_case_facts
from matrix.run.plugin_common import LIMITS, case_of, is_worker, run_dir
from matrix.run.protocol import CASE_FACTS, ENVIRONMENT_TEST, NOT_RUN_PROPERTY
from matrix.run.resume import deselect_done, done_for_worker

#: Modes whose first call compiles (XLA, torch.compile): they get `KCM_COMPILE_TIMEOUT`.
COMPILING_MODES = frozenset({"jit_compile"})


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--catalog", action="append", default=[], metavar="PATH",
        help="an extra case module (defines CASES); may be given more than once",
    )
    parser.addoption(
        "--shard", default=None, metavar="I/N",
        help="run only shard I of N (1-based) of the catalog split by measured cost",
    )


def parse_shard(text: str | None) -> Shard | None:
    """Parses `I/N` (1 <= I <= N; `Shard.parse`).

    Raises:
        pytest.UsageError: the text is not of that form; the message quotes it.
    """
    if text is None:
        return None
    try:
        return Shard.parse(text)
    except ValueError:
        raise pytest.UsageError(f"--shard must be I/N with 1 <= I <= N. Received: --shard={text}"
                                ) from None


#: Fewer cases than this left to run after the cache: one worker (another worker's start,
#: importing its framework, costs more than the cases it would take).
FEW_CASES = 50


def _one_worker_for_few(config: pytest.Config, to_run: int | None) -> None:
    """Starts one xdist worker, not `--jobs`, when the cache leaves only a few cases to run.

    xdist turns `-n N` into N `popen` specs before any `pytest_configure`, and starts them
    at session start, so trimming the specs here is enough.
    """
    specs = getattr(config.option, "tx", None)
    if to_run is not None and to_run < FEW_CASES and isinstance(specs, list) and len(specs) > 1:
        config.option.tx = specs[:1]
        config.option.numprocesses = 1


def _write_case_facts(config: pytest.Config, workdir: Path) -> None:
    """On the controller, before the workers collect: what the fold needs of every case of
    the catalog (`matrix.run.facts`, `case-facts.json`). A catalog that does not load writes
    none: the collection reports it, naming its file."""
    from cases import CatalogError

    (workdir / CASE_FACTS).unlink(missing_ok=True)
    try:
        write_case_facts(workdir, tuple(config.getoption("catalog") or ()))
    except CatalogError:
        return


def _write_cache_plan(config: pytest.Config, workdir: Path) -> int | None:
    """On the controller: every case's cache key, and the cached results found for them.

    Written only when the run session asks for the cache (`KCM_RUN_STORE`, the store's folder);
    `KCM_NO_CACHE=1` (`--no-cache`) writes the keys with no hits, so nothing is reused but
    the fold still stores the fresh results.

    Returns:
        How many cases of the catalog the cache cannot serve (before `-k`), or None when
        there is no cache.
    """
    (workdir / cache.PLAN).unlink(missing_ok=True)
    (workdir / cache.USED).unlink(missing_ok=True)
    store_dir = os.environ.get(kcm.RUN_STORE.name)
    if not store_dir:
        return None
    from cases import CatalogError

    try:
        planned, total = cache.compute_plan(
            tuple(config.getoption("catalog") or ()),
            os.environ.get(kcm.ENVIRONMENT.name, "unknown"), Path(store_dir),
            reuse=os.environ.get(kcm.NO_CACHE.name) != "1")
    except CatalogError:
        return None  # no plan: the collection reports the catalog, naming its file
    store.write_json(workdir / cache.PLAN, planned)
    if planned.get("cut"):
        environment = os.environ.get(kcm.ENVIRONMENT.name, "unknown")
        sys.stdout.write(
            f"[{environment}] the sample leaves out {len(planned['cut'])} of the catalog's "
            f"costly cases (matrix/run/costs.py); each this run selects is not_run with the "
            f"reason; `nox -s \"run({environment})\" -- --full` runs them\n")
    return cache.to_run(planned, total)


def _mark_compiling(items: list[pytest.Item]) -> None:
    """Gives the cases of compiling modes their own time limit (`KCM_COMPILE_TIMEOUT`)."""
    raw = os.environ.get(kcm.COMPILE_TIMEOUT.name)
    if not raw:
        return
    limit = float(raw)
    for item in items:
        case = case_of(item)
        if case is not None and case.axes.get("mode") in COMPILING_MODES:
            item.add_marker(pytest.mark.timeout(limit))
            LIMITS[item.nodeid] = limit


#: A JSON object {mode: reason}: the cases of these modes are not run, each cell `not_run`
#: with the reason (`python -m matrix.run.device_run` cuts what does not fit a timed GPU run).
NOT_RUN_MODES = kcm.NOT_RUN_MODES.name


def _mark_not_run(items: list[pytest.Item]) -> set[str]:
    """Skips the cases of the modes `KCM_NOT_RUN_MODES` names, as `not_run` with the reason;
    returns their ids."""
    raw = os.environ.get(NOT_RUN_MODES)
    if not raw:
        return set()
    modes = json.loads(raw)
    if not isinstance(modes, dict):
        raise pytest.UsageError(f"{NOT_RUN_MODES} must be a JSON object {{mode: reason}}. "
                                f"Received: {raw[:200]}")
    marked: set[str] = set()
    for item in items:
        case = case_of(item)
        mode = case.axes.get("mode") if case is not None else None
        if mode in modes:
            _not_run(item, modes[mode])
            marked.add(case.id)
    return marked


def _not_run(item: pytest.Item, reason: str) -> None:
    """Skips `item` as left out of this run: its cell is `not_run` with `reason` (the fold
    reads the reason from the report's `NOT_RUN_PROPERTY`, not from the skip's text)."""
    item.user_properties.append((NOT_RUN_PROPERTY, reason))
    item.add_marker(pytest.mark.skip(reason=f"not run: {reason}"))


def _cached_items(items: list[pytest.Item], workdir: Path | None) -> list[pytest.Item]:
    """The selected cases the cache plan holds a result for; listed in `cache-used.json`."""
    data = store.read_json(workdir / cache.PLAN) if workdir is not None else None
    hits = data.get("hits") if isinstance(data, dict) else None
    if not hits or workdir is None:
        return []
    cached = [i for i in items if i.name != ENVIRONMENT_TEST
              and getattr(case_of(i), "id", None) in hits]
    store.write_json(workdir / cache.USED, sorted(case_of(i).id for i in cached))
    return cached


def _mark_cut(items: list[pytest.Item], workdir: Path | None) -> set[str]:
    """Skips the cases the cache plan cuts from a default run (`matrix.run.costs.cut`), each
    `not_run` with its reason; returns their ids."""
    data = store.read_json(workdir / cache.PLAN) if workdir is not None else None
    cut = data.get("cut") if isinstance(data, dict) else None
    if not isinstance(cut, dict) or not cut:
        return set()
    marked: set[str] = set()
    for item in items:
        case_id = getattr(case_of(item), "id", None)
        if isinstance(case_id, str) and case_id in cut:
            _not_run(item, cut[case_id])
            marked.add(case_id)
    return marked


def _costs(items: list[pytest.Item]) -> dict[str, float]:
    """Case id -> its cost in this environment (`matrix.run.costs`: measured, else estimated)."""
    cases = [c for c in map(case_of, items) if c is not None]
    environment = os.environ.get(kcm.ENVIRONMENT.name, "unknown")
    return costs.estimate(cases, costs.measured(environment))


def _longest_first(items: list[pytest.Item], skipped: set[str],
                   cost: dict[str, float]) -> None:
    """Orders the cases: those that will be skipped first (they take no time and the
    progress line counts them at once), then the rest longest first, so the workers
    finish together. The order of equal costs is the catalog's."""
    def key(item: pytest.Item) -> tuple[int, float]:
        case_id = getattr(case_of(item), "id", None)
        if case_id is None:  # the environment check stays first
            return (-1, 0.0)
        return (0 if case_id in skipped else 1, -cost.get(case_id, costs.DEFAULT_COST_S))
    items.sort(key=key)


def _retry_only(items: list[pytest.Item]) -> list[pytest.Item]:
    """With `KCM_RETRY_IDS` (a JSON list of case ids): the cases not to run again."""
    raw = os.environ.get(kcm.RETRY_IDS.name)
    wanted = store.read_json(Path(raw)) if raw else None
    if not isinstance(wanted, list):
        return []
    keep = set(map(str, wanted))
    return [i for i in items if i.name != ENVIRONMENT_TEST
            and getattr(case_of(i), "id", None) not in keep]


def _drop(config: pytest.Config, items: list[pytest.Item], drop: list[pytest.Item]) -> None:
    if drop:
        config.hook.pytest_deselected(items=drop)
        dropped = set(map(id, drop))
        items[:] = [i for i in items if id(i) not in dropped]


def _record_saved(item: pytest.Item, workdir: Path | None) -> None:
    """After a `save_load` case saved its model: the file's SHA-256 under the case's key.

    The cache reuses that case's result only while the file is the one recorded
    (`matrix.run.cache.stale_savers`).
    """
    case, store_dir = case_of(item), os.environ.get(kcm.RUN_STORE.name)
    artifacts = os.environ.get(kcm.ARTIFACTS.name)
    if case is None or workdir is None or not store_dir or not artifacts or \
            not cache.saves(case, os.environ.get("KERAS_BACKEND")):
        return
    data = store.read_json(workdir / cache.PLAN)
    key = (data.get("keys") or {}).get(case.id) if isinstance(data, dict) else None
    if isinstance(key, str):
        from matrix.run.program import saved_model_path

        store.record_saved(Path(store_dir), key, saved_model_path(case, Path(artifacts)))


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    """Remembers the environment check and the full order before `-k` or `--shard` act."""
    session.stash[_ENV_ITEMS] = [i for i in items if i.name == ENVIRONMENT_TEST]
    session.stash[_ALL_ITEMS] = [i for i in items if i.name != ENVIRONMENT_TEST]


_ENV_ITEMS = pytest.StashKey[list[pytest.Item]]()


def _stashed(session: pytest.Session, key: pytest.StashKey[list[pytest.Item]]
             ) -> list[pytest.Item]:
    empty: list[pytest.Item] = []
    return session.stash.get(key, empty)


_ALL_ITEMS = pytest.StashKey[list[pytest.Item]]()


class _KeepEnvironmentCheck:
    """Puts `test_environment` back first: every run, even a slice, records its provenance."""

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, session: pytest.Session, config: pytest.Config,
                                      items: list[pytest.Item]) -> None:
        shard = parse_shard(config.getoption("shard"))
        every = _stashed(session, _ALL_ITEMS)
        cost = _costs(every)
        if shard is not None:
            index, count = shard.index, shard.count
            cases = [i for i in items if i.name != ENVIRONMENT_TEST]
            # Split over the full catalog by measured cost, so shards of one catalog never
            # overlap and take about the same time (`matrix.run.costs.balanced_shards`).
            split = costs.balanced_shards([i.nodeid for i in every],
                                          {i.nodeid: cost.get(getattr(case_of(i), "id", ""),
                                                              costs.DEFAULT_COST_S)
                                           for i in every}, count)
            drop = [i for i in cases if split.get(i.nodeid, 1) != index]
            if drop:
                config.hook.pytest_deselected(items=drop)
                dropped = set(map(id, drop))
                items[:] = [i for i in items if id(i) not in dropped]
        done = deselect_done(items, done_for_worker())
        if done:  # cases an interrupted run already recorded (`nox ... -- --resume`)
            config.hook.pytest_deselected(items=done)
        _drop(config, items, _retry_only(items))
        _drop(config, items, _cached_items(items, run_dir()))
        _mark_compiling(items)
        skipped = _mark_not_run(items) | _mark_cut(items, run_dir())
        _longest_first(items, skipped, cost)
        for item in reversed(_stashed(session, _ENV_ITEMS)):
            if item not in items:
                items.insert(0, item)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    # The references computed below (case facts, cache keys) and in the workers before a
    # case imports Keras hold the contract of the backend this run is for.
    op_table.assume_backend(os.environ.get("KERAS_BACKEND") or "tensorflow")
    config.pluginmanager.register(_KeepEnvironmentCheck(), "kcm-keep-environment-check")
    workdir = run_dir()
    if workdir is not None and not is_worker(config):
        _write_case_facts(config, workdir)
        to_run = _write_cache_plan(config, workdir)
        _one_worker_for_few(config, to_run)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    """After a case that saved a model: the file's hash recorded for the cache."""
    try:
        return (yield)
    finally:
        _record_saved(item, run_dir())
