"""Tests of `matrix.run.supervise`: the run's pytest has its own process group, and killing nox
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

import pytest

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
    return [sys.executable, "-m", "matrix.run.supervise", "--", sys.executable, "-c", CHILD,
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
    done = subprocess.run([sys.executable, "-m", "matrix.run.supervise", "--", sys.executable,
                           "-c", "raise SystemExit(5)"], cwd=ROOT, check=False, timeout=60)
    assert done.returncode == 5


# --- issue 23: nox killed while the supervisor starts (before it could ask for its parent) ---

#: The stand-in for nox: starts the supervisor as the noxfile does (`--parent` its own pid),
#: prints the supervisor's pid and dies at once, long before the supervisor's Python is up.
NOX_DIES_AT_ONCE = """
import os, subprocess, sys
supervisor = subprocess.Popen([sys.executable, "-m", "matrix.run.supervise", "--parent",
                               str(os.getpid()), "--", *sys.argv[2:]],
                              stderr=open(sys.argv[1], "w"))
print(supervisor.pid, flush=True)
os._exit(0)
"""


def test_nox_killed_before_the_supervisor_is_up_leaves_no_pytest(tmp_path: Path) -> None:
    pids, err = tmp_path / "pids", tmp_path / "supervisor.err"
    nox = subprocess.run([sys.executable, "-c", NOX_DIES_AT_ONCE, str(err), sys.executable,
                          "-c", CHILD, str(pids)], cwd=ROOT, capture_output=True, text=True,
                         timeout=60, check=True)
    supervisor = int(nox.stdout)
    try:
        assert _gone([supervisor], within_s=30), "the supervisor outlived nox"
        time.sleep(1)  # what it would have started has had the time to write its pids
        assert not pids.exists(), "the supervisor started pytest for a nox that was gone"
        text = err.read_text(encoding="utf-8")
        assert "the parent process" in text
        assert "not starting it" in text
    finally:
        for pid in [supervisor, *_read_pids(pids)]:
            _kill(pid)


def test_a_parent_pid_that_is_not_the_parent_starts_nothing(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    done = subprocess.run([sys.executable, "-m", "matrix.run.supervise", "--parent", "1", "--",
                           sys.executable, "-c", CHILD, str(pids)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 3
    assert "the parent process 1 ended" in done.stderr
    assert not pids.exists()


def test_a_parent_that_dies_after_the_check_still_ends_the_group(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    # nox passes its pid, then is killed while pytest runs: the named parent is watched.
    nox = subprocess.Popen(
        [sys.executable, "-c", "import os, subprocess, sys; subprocess.run([sys.argv[1], "
         "'-m', 'matrix.run.supervise', '--parent', str(os.getpid()), *sys.argv[2:]])",
         sys.executable, "--", sys.executable, "-c", CHILD, str(pids)],
        cwd=ROOT, start_new_session=True)
    try:
        pytest_pid, worker_pid, _ = _wait_for(pids)
        nox.kill()
        nox.wait()
        assert _gone([pytest_pid, worker_pid]), "pytest or its worker outlived nox"
    finally:
        for pid in _read_pids(pids):
            _kill(pid)


@pytest.mark.parametrize("args", [["--parent"], ["--parent", "x", "--", "true"],
                                  ["--parent", "0", "--", "true"], ["--parent", "7"]])
def test_a_bad_parent_argument_is_refused(args: list[str]) -> None:
    done = subprocess.run([sys.executable, "-m", "matrix.run.supervise", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "usage: python -m matrix.run.supervise" in done.stderr


def test_the_run_session_names_nox_as_the_parent_of_every_supervisor() -> None:
    source = (ROOT / "matrix" / "run" / "session.py").read_text(encoding="utf-8")
    calls = source.count('"python", "-m", "matrix.run.supervise",')
    assert calls == 2
    assert source.count('"python", "-m", "matrix.run.supervise", *supervised(),') == calls
    from matrix.run import session as logic

    assert logic.supervised() == ("--parent", str(os.getpid()), "--")


def _read_pids(path: Path) -> list[int]:
    return [int(p) for p in path.read_text().split()[:2]] if path.exists() else []


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
