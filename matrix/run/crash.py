"""The crash plugin of a run (`-p matrix.run.crash`): worker logs, heartbeats, crash labels.

A run is `pytest matrix/run/test_cases.py -n 1 --max-worker-restart ... --timeout ...`
(`matrix.environments.RUN_PYTEST_ARGS`). One xdist worker runs every case; when a case kills
it (abort, segfault) or pytest-timeout ends it, xdist reports "worker 'gw0' crashed while
running ..." and starts a new worker for the rest. To tell a timeout from a crash and keep
what the case printed, each worker sends its stderr to `worker-stderr-<worker>.log` and
writes a heartbeat (`heartbeat-<worker>.json`: the case, when it started, its time limit and
where its output begins) before each case; on a crash the controller finds the heartbeat
naming the case and reads both. With `-n N` workers (`--jobs`) each has its own pair, so
isolation is the same. The pairs live in `$KCM_WORKER_FILES`, a folder beside the work
folder (`<workdir>.workers`) that the controller makes and removes: a case that deletes the
work folder (`$KCM_RUN_DIR`) while another worker's case crashes must not take that crash's
output with it.

A case whose error poisons the CUDA context (a device-side assert: every later CUDA call of
the process fails, pytorch/pytorch#19120; `matrix.run.gpu.poisons_context`) ends its worker once
its reports are sent; xdist reports the case as crashed and starts a new worker for the
rest. The heartbeat says the exit was deliberate, so the controller labels that report
`replaced` and the fold keeps the case's own observation (`matrix.results.ingest.fold_reports`).

Also here: after each case, its forked children ended and fds 1 and 2 put back; on the
controller, the report log written again if a case deleted it. Which cases run is
`matrix.run.selection`; the progress line is `matrix.run.progress`.
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

from matrix import variables as kcm
from matrix.run.gpu import POISONED_PROPERTY
from matrix.run.plugin_common import (
    CACHE_FILES,
    COLLECTED_IDS,
    LIMITS,
    REPLACED,
    is_worker,
    run_dir,
)
from matrix.run.protocol import COLLECTED

_STDERR_LOG = "worker-stderr.log"


def _worker_name() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "gw0")


def _stderr_log(files: Path) -> Path:
    """This worker's stderr log: one per worker, so `-n N` workers never interleave."""
    return files / f"worker-stderr-{_worker_name()}.log"


def _heartbeat(files: Path) -> Path:
    return files / f"heartbeat-{_worker_name()}.json"


_PRINTED_LIMIT = 4000


_READ_LIMIT = 1 << 20


#: Where the workers' stderr logs and heartbeats go (set by the controller for its workers).
WORKER_FILES = kcm.WORKER_FILES.name


def _worker_files() -> Path | None:
    """The folder of the workers' stderr logs and heartbeats: `$KCM_WORKER_FILES`, or the
    work folder when it is not set (a worker started by hand, the unit tests)."""
    raw = os.environ.get(WORKER_FILES)
    return Path(raw) if raw else run_dir()


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
    workdir = run_dir()
    if workdir is not None and not is_worker(config):
        config.pluginmanager.register(_KeepReportLog(config), "kcm-keep-report-log")
        _make_worker_files(workdir)
    files = _worker_files()
    if files is None or not is_worker(config):
        return
    _open_worker_log(files)
    # A real Ctrl-C (SIGINT, forwarded by matrix.run.supervise) sets `config.kcm_sigint`; a
    # KeyboardInterrupt that a case raises itself does not (`matrix/run/test_cases.py`).
    with contextlib.suppress(ValueError):  # not the main thread
        signal.signal(signal.SIGINT, _on_sigint(config))


def pytest_unconfigure(config: pytest.Config) -> None:
    """On the controller: the workers' folder goes once every crash has been read."""
    raw = os.environ.get(WORKER_FILES)
    workdir = run_dir()
    if raw and workdir is not None and not is_worker(config) and \
            Path(raw) == _worker_files_of(workdir):
        shutil.rmtree(raw, ignore_errors=True)


def pytest_runtest_logstart(nodeid: str, location: Any) -> None:
    files = _worker_files()
    if files is None or os.environ.get("PYTEST_XDIST_WORKER") is None:
        return
    _repair_worker(files)
    log = _stderr_log(files)
    beat = {"nodeid": nodeid, "started": time.time(), "log": log.name,
            "limit": LIMITS.get(nodeid),
            "offset": log.stat().st_size if log.exists() else 0}
    _heartbeat(files).write_text(json.dumps(beat), encoding="utf-8")


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
        collected = self.config.stash.get(COLLECTED_IDS, None)
        workdir = run_dir()
        if collected is not None and workdir is not None:
            (workdir / COLLECTED).write_text(json.dumps(collected), encoding="utf-8")
        for name, data in self.config.stash.get(CACHE_FILES, {}).items():
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
