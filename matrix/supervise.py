"""Run a command in its own process group, and end that group when nox ends.

`python -m matrix.supervise -- COMMAND...` starts COMMAND (the run's pytest) as the leader of
a new process group, so its xdist workers share that group, and then:

- forwards SIGINT, SIGTERM and SIGHUP to the whole group (Ctrl-C reaches pytest, which
  writes its last reports; a `kill` of this process ends pytest and its workers);
- watches its parent (the nox process): when the parent dies, even of SIGKILL, the group
  gets SIGTERM, then SIGKILL after a grace period, so no pytest or worker is left orphaned;
- exits with COMMAND's exit status (128 + the signal number when a signal ended it).

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


def supervise(command: Sequence[str], grace_s: float = GRACE_S) -> int:
    """Runs `command` in a new process group until it ends or this process's parent dies.

    Returns:
        The command's exit status; 128 + N when signal N ended it.
    """
    parent = os.getppid()
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
            print(f"matrix.supervise: the parent process {parent} ended; ending the run "
                  f"(process group {process.pid})", file=sys.stderr, flush=True)
            status = end_group(process, grace_s)
            break
    # Workers may outlive a leader that exited on its own: end the group's stragglers.
    _signal_group(process.pid, signal.SIGKILL)
    return 128 - status if status < 0 else status


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m matrix.supervise -- COMMAND...`."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--"]:
        args = args[1:]
    if not args:
        print("usage: python -m matrix.supervise -- COMMAND...", file=sys.stderr)
        return 2
    return supervise(args)


if __name__ == "__main__":
    raise SystemExit(main())
