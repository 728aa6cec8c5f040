"""pytest plumbing for a run: the `--catalog` option, progress, and crash bookkeeping.

A run is `pytest cases/test_cases.py -n 1 --max-worker-restart ... --timeout ...` (see the
noxfile). One xdist worker runs every case; when a case kills it (abort, segfault) or
pytest-timeout ends it, xdist reports "worker 'gw0' crashed while running ..." and starts a
new worker for the rest. To tell a timeout from a crash and keep what the case printed, each
worker sends its stderr to `worker-stderr-<worker>.log` and writes a heartbeat
(`heartbeat-<worker>.json`: the case, when it started, its time limit and where its output
begins) before each case; on a crash the controller finds the heartbeat naming the case and
reads both. With `-n N` workers (`--jobs`) each has its own pair, so isolation is the same.
The pairs live in `$KCM_WORKER_FILES`, a folder beside the work folder (`<workdir>.workers`)
that the controller makes and removes: a case that deletes the work folder (`$KCM_RUN_DIR`)
while another worker's case crashes must not take that crash's output with it.

A case whose error poisons the CUDA context (a device-side assert: every later CUDA call of
the process fails, pytorch/pytorch#19120; `cases.gpu.poisons_context`) ends its worker once its
reports are sent; xdist reports the case as crashed and starts a new worker for the rest. The
heartbeat says the exit was deliberate, so the controller labels that report `replaced` and
the fold keeps the case's own observation (`matrix.results.fold_reports`).

Also here: the result cache (`matrix/cache.py`: the controller writes the plan, the worker
deselects the cached cases), the larger time limit of compiling modes (`KCM_COMPILE_TIMEOUT`
marks `jit_compile` cases), the retry of timed-out cases (`KCM_RETRY_IDS`: only those run),
and the modes a timed run cuts (`KCM_NOT_RUN_MODES`: their cells `not_run` with the reason).
"""

from __future__ import annotations

import contextlib
import faulthandler
import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from cases.gpu import POISONED_PROPERTY
from matrix import cache, costs
from matrix import variables as kcm
from matrix.records import Shard
from matrix.results import NOT_RUN_PROPERTY, REPLACED_MARK
from matrix.resume import deselect_done, done_for_worker

_STDERR_LOG = "worker-stderr.log"
#: Modes whose first call compiles (XLA, torch.compile): they get `KCM_COMPILE_TIMEOUT`.
COMPILING_MODES = frozenset({"jit_compile"})
#: Per node id, the time limit of the cases whose limit is not the run's (worker side).
_LIMITS: dict[str, float] = {}


def _worker_name() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "gw0")


def _stderr_log(files: Path) -> Path:
    """This worker's stderr log: one per worker, so `-n N` workers never interleave."""
    return files / f"worker-stderr-{_worker_name()}.log"


def _heartbeat(files: Path) -> Path:
    return files / f"heartbeat-{_worker_name()}.json"
_PRINTED_LIMIT = 4000
_READ_LIMIT = 1 << 20
#: The node ids collected for the run, written by the controller beside the report log.
COLLECTED = "collected.json"


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


def _workdir() -> Path | None:
    raw = os.environ.get(kcm.RUN_DIR.name)
    return Path(raw) if raw else None


#: Where the workers' stderr logs and heartbeats go (set by the controller for its workers).
WORKER_FILES = kcm.WORKER_FILES.name


def _worker_files() -> Path | None:
    """The folder of the workers' stderr logs and heartbeats: `$KCM_WORKER_FILES`, or the
    work folder when it is not set (a worker started by hand, the unit tests)."""
    raw = os.environ.get(WORKER_FILES)
    return Path(raw) if raw else _workdir()


def _worker_files_of(workdir: Path) -> Path:
    """The workers' folder of a work folder: `<workdir>.workers`, beside it."""
    return workdir.with_name(f"{workdir.name}.workers")


def _make_worker_files(workdir: Path) -> None:
    """On the controller, before xdist starts its workers: an empty `<workdir>.workers`
    folder, named in `$KCM_WORKER_FILES` for them (they inherit the environment)."""
    folder = _worker_files_of(workdir)
    shutil.rmtree(folder, ignore_errors=True)  # a killed earlier attempt's
    folder.mkdir(parents=True, exist_ok=True)
    os.environ[WORKER_FILES] = str(folder)


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


#: The worker's stderr log, kept open for its whole life (fds 1 and 2 are copies of it).
_WORKER_LOG: list[Any] = []


def _open_worker_log(files: Path) -> None:
    """Points fds 1 and 2 (and sys.stdout, sys.stderr) at `worker-stderr.log`.

    Both streams: pytest-timeout prints its banner on the terminal (stdout), and
    faulthandler prints "Fatal Python error" on stderr.
    """
    files.mkdir(parents=True, exist_ok=True)
    log = open(_stderr_log(files), "ab", buffering=0)  # noqa: SIM115 - lives with the worker
    for old in _WORKER_LOG:
        old.close()
    _WORKER_LOG[:] = [log]
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    # These wrap fds 1 and 2 for the worker's whole life; nothing closes them.
    sys.stdout = open(1, "w", buffering=1, closefd=False, encoding="utf-8", errors="replace")  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, closefd=False, encoding="utf-8", errors="replace")  # noqa: SIM115
    faulthandler.enable(file=sys.stderr, all_threads=True)


def _repair_worker(files: Path) -> None:
    """Undoes what a case did to the worker's plumbing, so it costs only its own cell.

    A case may close fds 1 and 2 (the next write would end the worker, and xdist with it)
    or delete the folder of the workers' files (the heartbeat and the printed output would
    be lost): both are put back. Output already printed to a deleted log is gone; what
    follows is kept.
    """
    log = _stderr_log(files)
    try:
        same = all(os.path.samestat(os.fstat(fd), os.stat(log)) for fd in (1, 2))
    except OSError:  # a closed fd, or the log (or its folder) deleted
        same = False
    if not same:
        _open_worker_log(files)


def _reap_forked_children() -> None:
    """Ends the worker's children that are forks of it (the same command line).

    A case that forks a child which lingers keeps the worker's pipes to xdist open: when a
    later case kills the worker, xdist never sees it end and the run hangs. Children with
    another command line (a backend's compile workers) are left alone.
    """
    me = os.getpid()
    try:
        mine = Path(f"/proc/{me}/cmdline").read_bytes()
        children = {int(pid) for task in Path(f"/proc/{me}/task").iterdir()
                    for pid in (task / "children").read_text().split()}
    except (OSError, ValueError):
        return  # no /proc: not Linux
    for pid in children:
        try:
            if Path(f"/proc/{pid}/cmdline").read_bytes() != mine:
                continue
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (OSError, ChildProcessError):
            continue


def _on_sigint(config: pytest.Config) -> Any:
    def handler(signum: int, frame: Any) -> None:
        config.kcm_sigint = True  # type: ignore[attr-defined]
        raise KeyboardInterrupt
    return handler


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(_KeepEnvironmentCheck(), "kcm-keep-environment-check")
    workdir = _workdir()
    if workdir is not None and not _is_worker(config):
        config.pluginmanager.register(_KeepReportLog(config), "kcm-keep-report-log")
        _make_worker_files(workdir)
        to_run = _write_cache_plan(config, workdir)
        _one_worker_for_few(config, to_run)
    files = _worker_files()
    if files is None or not _is_worker(config):
        return
    _open_worker_log(files)
    # A real Ctrl-C (SIGINT, forwarded by matrix.supervise) sets `config.kcm_sigint`; a
    # KeyboardInterrupt that a case raises itself does not (`cases/test_cases.py`).
    with contextlib.suppress(ValueError):  # not the main thread
        signal.signal(signal.SIGINT, _on_sigint(config))


def pytest_unconfigure(config: pytest.Config) -> None:
    """On the controller: the workers' folder goes once every crash has been read."""
    raw = os.environ.get(WORKER_FILES)
    workdir = _workdir()
    if raw and workdir is not None and not _is_worker(config) and \
            Path(raw) == _worker_files_of(workdir):
        shutil.rmtree(raw, ignore_errors=True)


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
    cache.write_json(workdir / cache.PLAN, planned)
    if planned.get("cut"):
        environment = os.environ.get(kcm.ENVIRONMENT.name, "unknown")
        sys.stdout.write(
            f"[{environment}] the sample leaves out {len(planned['cut'])} of the catalog's "
            f"costly cases (matrix/costs.py); each this run selects is not_run with the "
            f"reason; `nox -s \"run({environment})\" -- --full` runs them\n")
    return cache.to_run(planned, total)


def _case_of(item: pytest.Item) -> Any:
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("case") if callspec is not None else None


def _mark_compiling(items: list[pytest.Item]) -> None:
    """Gives the cases of compiling modes their own time limit (`KCM_COMPILE_TIMEOUT`)."""
    raw = os.environ.get(kcm.COMPILE_TIMEOUT.name)
    if not raw:
        return
    limit = float(raw)
    for item in items:
        case = _case_of(item)
        if case is not None and case.axes.get("mode") in COMPILING_MODES:
            item.add_marker(pytest.mark.timeout(limit))
            _LIMITS[item.nodeid] = limit


#: A JSON object {mode: reason}: the cases of these modes are not run, each cell `not_run`
#: with the reason (`python -m matrix.device_run` cuts what does not fit a timed GPU run).
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
        case = _case_of(item)
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
    data = cache.read_json(workdir / cache.PLAN) if workdir is not None else None
    hits = data.get("hits") if isinstance(data, dict) else None
    if not hits or workdir is None:
        return []
    cached = [i for i in items if i.name != _ENVIRONMENT_TEST
              and getattr(_case_of(i), "id", None) in hits]
    cache.write_json(workdir / cache.USED, sorted(_case_of(i).id for i in cached))
    return cached


def _mark_cut(items: list[pytest.Item], workdir: Path | None) -> set[str]:
    """Skips the cases the cache plan cuts from a default run (`matrix.costs.cut`), each
    `not_run` with its reason; returns their ids."""
    data = cache.read_json(workdir / cache.PLAN) if workdir is not None else None
    cut = data.get("cut") if isinstance(data, dict) else None
    if not isinstance(cut, dict) or not cut:
        return set()
    marked: set[str] = set()
    for item in items:
        case_id = getattr(_case_of(item), "id", None)
        if isinstance(case_id, str) and case_id in cut:
            _not_run(item, cut[case_id])
            marked.add(case_id)
    return marked


def _costs(items: list[pytest.Item]) -> dict[str, float]:
    """Case id -> its cost in this environment (`matrix.costs`: measured, else estimated)."""
    cases = [c for c in map(_case_of, items) if c is not None]
    environment = os.environ.get(kcm.ENVIRONMENT.name, "unknown")
    return costs.estimate(cases, costs.measured(environment))


def _longest_first(items: list[pytest.Item], skipped: set[str],
                   cost: dict[str, float]) -> None:
    """Orders the cases: those that will be skipped first (they take no time and the
    progress line counts them at once), then the rest longest first, so the workers
    finish together. The order of equal costs is the catalog's."""
    def key(item: pytest.Item) -> tuple[int, float]:
        case_id = getattr(_case_of(item), "id", None)
        if case_id is None:  # the environment check stays first
            return (-1, 0.0)
        return (0 if case_id in skipped else 1, -cost.get(case_id, costs.DEFAULT_COST_S))
    items.sort(key=key)


def _retry_only(items: list[pytest.Item]) -> list[pytest.Item]:
    """With `KCM_RETRY_IDS` (a JSON list of case ids): the cases not to run again."""
    raw = os.environ.get(kcm.RETRY_IDS.name)
    wanted = cache.read_json(Path(raw)) if raw else None
    if not isinstance(wanted, list):
        return []
    keep = set(map(str, wanted))
    return [i for i in items if i.name != _ENVIRONMENT_TEST
            and getattr(_case_of(i), "id", None) not in keep]


def _drop(config: pytest.Config, items: list[pytest.Item], drop: list[pytest.Item]) -> None:
    if drop:
        config.hook.pytest_deselected(items=drop)
        dropped = set(map(id, drop))
        items[:] = [i for i in items if id(i) not in dropped]


def pytest_runtest_logstart(nodeid: str, location: Any) -> None:
    files = _worker_files()
    if files is None or os.environ.get("PYTEST_XDIST_WORKER") is None:
        return
    _repair_worker(files)
    log = _stderr_log(files)
    beat = {"nodeid": nodeid, "started": time.time(), "log": log.name,
            "limit": _LIMITS.get(nodeid),
            "offset": log.stat().st_size if log.exists() else 0}
    _heartbeat(files).write_text(json.dumps(beat), encoding="utf-8")


#: The `ended_by` label of a worker this conftest ended after a poisoning case.
REPLACED = REPLACED_MARK


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    """On a worker: after a case that poisoned the CUDA context, the worker ends.

    Its reports (setup, call, teardown) are already sent to the controller (execnet writes
    each message before `send` returns), so the case keeps its own cell; the next case then
    runs in a new worker, never in this poisoned process.
    """
    result = yield
    reason = dict(item.user_properties).get(POISONED_PROPERTY)
    files = _worker_files()
    if reason is None or files is None or os.environ.get("PYTEST_XDIST_WORKER") is None:
        return result
    beat = _heartbeat(files)
    try:
        data = json.loads(beat.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = {"nodeid": item.nodeid, "started": time.time()}
    data[REPLACED] = str(reason)
    beat.write_text(json.dumps(data), encoding="utf-8")
    print(f"kcm: the CUDA context of this worker is poisoned ({reason}); ending the worker "
          "so that the next case runs in a new one", flush=True)
    sys.stderr.flush()
    # No cleanup in a poisoned context (freeing CUDA memory there can fail or hang).
    os._exit(0)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    """After each case: its forked children ended, fds 1 and 2 and the work folder back."""
    try:
        return (yield)
    finally:
        files = _worker_files()
        if files is not None and os.environ.get("PYTEST_XDIST_WORKER") is not None:
            _reap_forked_children()
            _repair_worker(files)
        _record_saved(item, _workdir())


def _record_saved(item: pytest.Item, workdir: Path | None) -> None:
    """After a `save_load` case saved its model: the file's SHA-256 under the case's key.

    The cache reuses that case's result only while the file is the one recorded
    (`matrix.cache.stale_savers`).
    """
    case, store_dir = _case_of(item), os.environ.get(kcm.RUN_STORE.name)
    artifacts = os.environ.get(kcm.ARTIFACTS.name)
    if case is None or workdir is None or not store_dir or not artifacts or \
            not cache.saves(case, os.environ.get("KERAS_BACKEND")):
        return
    data = cache.read_json(workdir / cache.PLAN)
    key = (data.get("keys") or {}).get(case.id) if isinstance(data, dict) else None
    if isinstance(key, str):
        from matrix.program import saved_model_path

        cache.record_saved(Path(store_dir), key, saved_model_path(case, Path(artifacts)))


class _KeepReportLog:
    """On the controller: rewrites the report log if a case deleted it (or its folder).

    pytest-reportlog keeps its file open; once the work folder is deleted, every line goes
    to a file with no name and the whole run is lost. After each report, a missing log is
    written again from the open file's content (Linux's `/proc/self/fd`), and the
    collection too.
    """

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        plugin = getattr(self.config, "_report_log_plugin", None)
        handle = getattr(plugin, "_file", None)
        path = getattr(plugin, "_log_path", None)
        if plugin is None or handle is None or path is None or Path(path).exists():
            return
        try:
            handle.flush()
            text = Path(f"/proc/self/fd/{handle.fileno()}").read_bytes()
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_bytes(text)
            plugin._file = open(path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115
            handle.close()
        except (OSError, ValueError):
            return
        collected = self.config.stash.get(_COLLECTED_IDS, None)
        workdir = _workdir()
        if collected is not None and workdir is not None:
            (workdir / COLLECTED).write_text(json.dumps(collected), encoding="utf-8")
        for name, data in self.config.stash.get(_CACHE_FILES, {}).items():
            if workdir is not None and not (workdir / name).exists():
                (workdir / name).write_bytes(data)  # the cache plan and the cases it served


def _beat_of(files: Path, nodeid: str) -> dict[str, Any] | None:
    """The heartbeat (of any worker) that names `nodeid`, or None."""
    for path in sorted(files.glob("heartbeat*.json")):
        try:
            beat = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(beat, dict) and beat.get("nodeid") == nodeid:
            return beat
    return None


def _printed_since(files: Path, nodeid: str) -> tuple[str, float | None, float | None]:
    """What the case printed, how long it ran and its own time limit (None: the run's)."""
    beat = _beat_of(files, nodeid)
    if beat is None:
        return "", None, None
    name = Path(str(beat.get("log") or _STDERR_LOG)).name
    try:
        with open(files / name, "rb") as log:
            log.seek(int(beat.get("offset", 0)))
            printed = log.read(_READ_LIMIT).decode("utf-8", errors="replace")
    except OSError:
        printed = ""
    limit = beat.get("limit")
    return (printed, time.time() - float(beat["started"]),
            float(limit) if isinstance(limit, int | float) else None)


@pytest.hookimpl(optionalhook=True)
def pytest_handlecrashitem(crashitem: str, report: pytest.TestReport, sched: Any) -> None:
    """On the controller: label a dead worker's case `timeout` or `crash`, with its output."""
    files = _worker_files()
    beat = _beat_of(files, crashitem) if files is not None else None
    if beat is not None and beat.get(REPLACED):  # ended on purpose (pytest_runtest_protocol)
        report.user_properties.append(("ended_by", REPLACED))
        report.user_properties.append(("printed", str(beat[REPLACED])))
        return
    printed, elapsed, own = ("", None, None) if files is None else \
        _printed_since(files, crashitem)
    limit = own if own is not None else \
        float(sched.config.getoption("timeout", None) or 0) if sched is not None else 0.0
    lines = [ln for ln in printed.splitlines() if ln.strip()]
    fatal = [ln for ln in lines if "Fatal Python error" in ln or "Segmentation" in ln]
    # pytest-timeout's banner says so; when the kill leaves no banner, the clock does, unless
    # the case printed its own fatal error (an abort just before the limit is a crash).
    timed_out = "Timeout +++" in printed or bool(
        not fatal and limit and elapsed and elapsed >= limit * 0.98)
    if timed_out:
        line = f"ended by pytest-timeout after {elapsed:.1f} s" if elapsed else \
            "ended by pytest-timeout"
    else:
        line = (fatal or lines or ["the worker process died without printing a reason"])[0]
    report.user_properties.append(("ended_by", "timeout" if timed_out else "crash"))
    report.user_properties.append(("printed", line))
    report.user_properties.append(("printed_tail", printed[-_PRINTED_LIMIT:]))


class _Progress:
    """Prints one line every few cases: environment, cases done of total, how many diverged
    from the reference, crashed or were not run so far, and an estimate of the time left.

    The estimate scales the measured cost of the cases not yet done (`matrix.costs`) by how
    long the done ones took here against their measured cost, so a slower machine or a
    loaded one is accounted for once a few cases ran; cases reported skipped (not run) cost
    nothing.
    """

    def __init__(self, environment: str) -> None:
        self.environment = environment
        self.total = 0
        self.done = 0
        self.bad: dict[str, int] = {}
        self.last = 0.0
        self.started = time.monotonic()
        self.cost: dict[str, float] = {}
        self.left = 0.0
        self.done_cost = 0.0
        self.measured = costs.measured(environment)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        self.total = sum("::test_case[" in i for i in ids)
        if not self.cost:  # every worker sends the same collection
            known = list(self.measured.values())
            median = sorted(known)[len(known) // 2] if known else costs.DEFAULT_COST_S
            self.cost = {i: self.measured.get(_case_id(i), median)
                         for i in ids if "::test_case[" in i}
            self.left = sum(self.cost.values())
            self.started = time.monotonic()
        workdir = _workdir()
        node.config.stash[_COLLECTED_IDS] = list(ids)
        if workdir is not None:  # the fold tells deselected cases from lost ones with this
            workdir.mkdir(parents=True, exist_ok=True)
            (workdir / COLLECTED).write_text(json.dumps(ids), encoding="utf-8")
            # Written by the worker before it sent its collection: kept, so that a case that
            # deletes the work folder cannot make the cached cells look lost.
            node.config.stash[_CACHE_FILES] = {
                name: (workdir / name).read_bytes() for name in (cache.PLAN, cache.USED)
                if (workdir / name).exists()}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if "::test_case[" not in report.nodeid:
            return
        when: str = report.when  # xdist's crash reports say "???"
        skipped = when == "setup" and report.skipped  # not run: no call report follows
        if when != "call" and not (when == "???" or report.failed or skipped):
            return
        if (when == "???") and dict(report.user_properties).get("ended_by") == REPLACED:
            return  # the case's own report was counted; its worker was replaced after it
        self.done += 1
        cost = self.cost.pop(report.nodeid, 0.0)
        self.left -= cost
        if not skipped:
            self.done_cost += cost
        if report.failed or skipped:
            key = "crashed" if when == "???" else "not run" if skipped else "diverged"
            self.bad[key] = self.bad.get(key, 0) + 1
        now = time.monotonic()
        if now - self.last > 5 or self.done == self.total:
            self.last = now
            sys.stdout.write(f"\n{self.line(now)}\n")
            sys.stdout.flush()

    def line(self, now: float) -> str:
        """`[jax-cpu] 803/2037 cases, 177 diverged, 2 crashed, about 27 s left`.

        `diverged`: cells whose observation differs from the reference (a raw verdict: the
        limitations joined at merge turn the known ones into `xfailed`), never `failed`.
        """
        counts = [f"{self.bad[k]} {k}" for k in ("diverged", "crashed", "not run")
                  if self.bad.get(k)]
        return (f"[{self.environment}] {self.done}/{self.total} cases, "
                f"{', '.join(counts) or 'none diverged'}{self._time_left(now)}")


    def _time_left(self, now: float) -> str:
        """`, about 3 min left`, once a few cases ran; empty before and at the end."""
        if self.done >= self.total or self.done_cost <= 0 or now - self.started < 10:
            return ""
        seconds = max(self.left, 0.0) * (now - self.started) / self.done_cost
        return (f", about {seconds / 60:.0f} min left" if seconds >= 90
                else f", about {seconds:.0f} s left")


def _case_id(nodeid: str) -> str:
    """The case id of a node id `cases/test_cases.py::test_case[<id>]`."""
    return nodeid.partition("::test_case[")[2][:-1]


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    if _is_worker(config) or config.pluginmanager.has_plugin("kcm-progress"):
        return
    environment = os.environ.get(kcm.ENVIRONMENT.name, os.environ.get("KERAS_BACKEND", "?"))
    config.pluginmanager.register(_Progress(environment), "kcm-progress")


_ENVIRONMENT_TEST = "test_environment"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    """Remembers the environment check and the full order before `-k` or `--shard` act."""
    session.stash[_ENV_ITEMS] = [i for i in items if i.name == _ENVIRONMENT_TEST]
    session.stash[_ALL_ITEMS] = [i for i in items if i.name != _ENVIRONMENT_TEST]


_ENV_ITEMS = pytest.StashKey[list[pytest.Item]]()
_COLLECTED_IDS = pytest.StashKey[list[str]]()
_CACHE_FILES = pytest.StashKey[dict[str, bytes]]()


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
            cases = [i for i in items if i.name != _ENVIRONMENT_TEST]
            # Split over the full catalog by measured cost, so shards of one catalog never
            # overlap and take about the same time (`matrix.costs.balanced_shards`).
            split = costs.balanced_shards([i.nodeid for i in every],
                                          {i.nodeid: cost.get(getattr(_case_of(i), "id", ""),
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
        _drop(config, items, _cached_items(items, _workdir()))
        _mark_compiling(items)
        skipped = _mark_not_run(items) | _mark_cut(items, _workdir())
        _longest_first(items, skipped, cost)
        for item in reversed(_stashed(session, _ENV_ITEMS)):
            if item not in items:
                items.insert(0, item)
