"""Tests of `matrix.supervise`: the run's pytest has its own process group, and killing nox
(even with SIGKILL) ends it: no orphan pytest or worker is left.

No framework is imported: a sleeping Python process stands in for pytest.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: The stand-in for pytest: it starts a worker in its group, writes both pids, and sleeps.
CHILD = """
import os, subprocess, sys, time
worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
open(sys.argv[1], "w").write(f"{os.getpid()} {worker.pid} {os.getpgrp()}")
time.sleep(120)
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"  # a zombie has ended; only its parent has not reaped it yet


def _wait_for(path: Path) -> list[int]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if path.exists() and len(path.read_text().split()) == 3:
            return [int(p) for p in path.read_text().split()]
        time.sleep(0.1)
    raise AssertionError("the stand-in for pytest did not start")


def _gone(pids: list[int], within_s: float = 20) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if not any(map(_alive, pids)):
            return True
        time.sleep(0.1)
    return False


def _supervise(pids: Path) -> list[str]:
    return [sys.executable, "-m", "matrix.supervise", "--", sys.executable, "-c", CHILD,
            str(pids)]


def test_killing_nox_with_sigkill_ends_pytest_and_its_worker(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    # The parent stands in for nox: it runs the supervisor and waits, as session.run does.
    nox = subprocess.Popen(
        [sys.executable, "-c", "import subprocess, sys; subprocess.run(sys.argv[1:])",
         *_supervise(pids)], cwd=ROOT, start_new_session=True)
    try:
        pytest_pid, worker_pid, group = _wait_for(pids)
        assert group == pytest_pid  # pytest leads its own process group
        assert group != os.getpgid(nox.pid)
        nox.kill()  # SIGKILL: nox can run no handler
        nox.wait()
        assert _gone([pytest_pid, worker_pid]), "pytest or its worker outlived nox"
    finally:
        for pid in _read_pids(pids):
            _kill(pid)


def test_sigterm_to_the_supervisor_ends_the_group_and_reports_it(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    supervisor = subprocess.Popen(_supervise(pids), cwd=ROOT)
    try:
        pytest_pid, worker_pid, _ = _wait_for(pids)
        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(timeout=30) == 128 + signal.SIGTERM
        assert _gone([pytest_pid, worker_pid])
    finally:
        for pid in _read_pids(pids):
            _kill(pid)


def test_the_command_exit_status_is_passed_on() -> None:
    done = subprocess.run([sys.executable, "-m", "matrix.supervise", "--", sys.executable,
                           "-c", "raise SystemExit(5)"], cwd=ROOT, check=False, timeout=60)
    assert done.returncode == 5


def _read_pids(path: Path) -> list[int]:
    return [int(p) for p in path.read_text().split()[:2]] if path.exists() else []


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
