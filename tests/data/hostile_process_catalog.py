"""A test-only catalog of cases that attack the run's process (issue 12, item 7).

Each case must cost only its own cell, with what it printed, and the run must go on to the
ordinary case at the end. Used by `tests/test_e2e.py` through
`nox -s "run(jax-cpu)" -- --catalog <this file> --timeout 20`.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from typing import Any

from cases.model import Case, Step, Tensor, chain

#: The per-case timeout the e2e test passes (`--timeout`); the late abort sleeps just under it.
TIMEOUT_S = 20.0


def _close_fds(case: Case) -> dict[str, Any]:
    print("closing fds 1 and 2", flush=True)
    sys.stderr.flush()
    os.close(1)
    os.close(2)
    return {"kind": "value"}


def _delete_work(case: Case) -> dict[str, Any]:
    print("deleting the work folder", flush=True)
    # ignore_errors: the controller may write a file into the folder while it goes, and
    # rmtree then fails with "Directory not empty"; the folder is still gone from under the run.
    shutil.rmtree(os.environ["KCM_RUN_DIR"], ignore_errors=True)
    return {"kind": "value"}


def _unknown_kind(case: Case) -> dict[str, Any]:
    return {"kind": "teapot", "shape": "not a shape"}


def _interrupt(case: Case) -> dict[str, Any]:
    print("raising KeyboardInterrupt", flush=True)
    raise KeyboardInterrupt


def _fork_linger(case: Case) -> dict[str, Any]:
    if os.fork() == 0:  # the child keeps the worker's pipes open for an hour
        time.sleep(3600)
        os._exit(0)
    return {"kind": "value"}


def _abort(case: Case) -> dict[str, Any]:
    print("aborting", flush=True)
    os.abort()


def _late_abort(case: Case) -> dict[str, Any]:
    time.sleep(TIMEOUT_S * 0.985)
    os.abort()


RUNNERS = {"close_fds": _close_fds, "delete_work": _delete_work,
           "unknown_kind": _unknown_kind, "interrupt": _interrupt,
           "fork_linger": _fork_linger, "abort": _abort, "late_abort": _late_abort}


def _embedding() -> tuple[Step, ...]:
    return chain(Step("layers.Embedding", args={"input_dim": 10, "output_dim": 4}))


def _probe(runner: str) -> Case:
    return Case(group="hostile-process", description=f"a case whose runner is {runner}",
                axes={"probe": runner, "mode": "eager"},
                inputs={"ids": Tensor(dtype="int32", values=[[1]])}, steps=_embedding(),
                mode="eager", runner=runner)


def _after(name: str) -> Case:
    return Case(group="hostile-process", description=f"Embedding(10, 4) after {name}",
                axes={"probe": f"after_{name}", "mode": "eager"},
                inputs={"ids": Tensor(dtype="int32", values=[[1, 2]])}, steps=_embedding(),
                mode="eager")


CASES = [
    _probe("close_fds"), _after("close_fds"),
    _probe("delete_work"), _after("delete_work"),
    _probe("unknown_kind"), _after("unknown_kind"),
    _probe("interrupt"), _after("interrupt"),
    _probe("fork_linger"), _probe("abort"), _after("abort"),
    _probe("late_abort"), _after("late_abort"),
]
