"""Run a command in its own process group, and end that group when nox ends.

`python -m matrix.run.supervise --parent PID -- COMMAND...` starts COMMAND (the run's pytest) as
the leader of a new process group, so its xdist workers share that group, and then:

- forwards SIGINT, SIGTERM and SIGHUP to the whole group (Ctrl-C reaches pytest, which
  writes its last reports; a `kill` of this process ends pytest and its workers);
- watches its parent (the nox process): when the parent dies, even of SIGKILL, the group
  gets SIGTERM, then SIGKILL after a grace period, so no pytest or worker is left orphaned;
- exits with COMMAND's exit status (128 + the signal number when a signal ended it).

`--parent PID` is the pid of the process that starts this one (the noxfile passes
`os.getpid()`, nox's own). Python takes a few hundred milliseconds to reach `main`: a nox
killed in that time is already gone when this process would first ask for its parent, and
`os.getppid()` would name the process that adopted it (init) as if it were nox. With
`--parent`, this process knows whom to watch before it starts: if that process is not (or no
longer) its parent, COMMAND is never started, or is ended at once (`PARENT_GONE`). Without
`--parent` the parent found at start is watched, as before.

Only the standard library is imported; it runs with the environment's Python.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from types import FrameType

#: Seconds the group has to end after SIGTERM before it gets SIGKILL.
GRACE_S = 10.0
POLL_S = 0.2
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
#: The exit status when the parent named by `--parent` was gone before COMMAND could start
#: (nobody waits for it: it only shows in a test or a shell).
PARENT_GONE = 3
USAGE = "usage: python -m matrix.run.supervise [--parent PID] -- COMMAND..."


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def end_group(process: subprocess.Popen[bytes], grace_s: float = GRACE_S) -> int:
    """SIGTERM to the process's group, then SIGKILL to what is left after `grace_s`."""
    _signal_group(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace_s)
    _signal_group(process.pid, signal.SIGKILL)  # the workers too, even if the leader ended
    return process.wait()


def _parent_gone(parent: int) -> str:
    return (f"matrix.run.supervise: the parent process {parent} ended (this process's parent is "
            f"now {os.getppid()})")


def supervise(command: Sequence[str], grace_s: float = GRACE_S,
              parent: int | None = None) -> int:
    """Runs `command` in a new process group until it ends or this process's parent dies.

    Args:
        command: the command and its arguments.
        grace_s: how long the group has after SIGTERM before SIGKILL.
        parent: the pid that started this process (`--parent`); by default the parent at
            start. When it is not this process's parent, `command` is not started.

    Returns:
        The command's exit status; 128 + N when signal N ended it; `PARENT_GONE` when the
        parent was gone before it started.
    """
    if parent is None:
        parent = os.getppid()
    if os.getppid() != parent:  # nox died before this process got here: start nothing
        print(f"{_parent_gone(parent)} before the command started; not starting it",
              file=sys.stderr, flush=True)
        return PARENT_GONE
    process = subprocess.Popen(list(command), start_new_session=True)

    def forward(signum: int, frame: FrameType | None) -> None:
        _signal_group(process.pid, signum)

    for signum in FORWARDED:
        signal.signal(signum, forward)
    while True:
        try:
            status = process.wait(timeout=POLL_S)
            break
        except subprocess.TimeoutExpired:
            pass
        if os.getppid() != parent:  # nox is gone: do not leave pytest behind
            print(f"{_parent_gone(parent)}; ending the run (process group {process.pid})",
                  file=sys.stderr, flush=True)
            status = end_group(process, grace_s)
            break
    # Workers may outlive a leader that exited on its own: end the group's stragglers.
    _signal_group(process.pid, signal.SIGKILL)
    return 128 - status if status < 0 else status


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m matrix.run.supervise [--parent PID] -- COMMAND...`."""
    args = list(sys.argv[1:] if argv is None else argv)
    parent = None
    if args[:1] == ["--parent"]:
        if len(args) < 2 or not args[1].isdigit() or int(args[1]) < 1:
            received = args[1] if len(args) > 1 else "nothing"
            print(f"{USAGE}\n--parent must be a process id. Received: {received}",
                  file=sys.stderr)
            return 2
        parent, args = int(args[1]), args[2:]
    if args[:1] == ["--"]:
        args = args[1:]
    if not args:
        print(USAGE, file=sys.stderr)
        return 2
    return supervise(args, parent=parent)


if __name__ == "__main__":
    raise SystemExit(main())
