"""A test-only catalog: cases that kill or hang their worker, then an ordinary case.

Used by `tests/test_e2e.py` through `nox -s "run(jax-cpu)" -- --catalog <this file>` to prove
that a crash or a hang costs exactly one cell and the run goes on.
"""

from __future__ import annotations

import ctypes
import os
import time
from typing import Any

from cases.model import Case, Step, Tensor, chain


def _abort(case: Case) -> dict[str, Any]:
    os.abort()


def _segfault(case: Case) -> dict[str, Any]:
    ctypes.string_at(0)  # reads address 0: SIGSEGV
    return {"kind": "value"}


def _hang(case: Case) -> dict[str, Any]:
    time.sleep(3600)
    return {"kind": "value"}


RUNNERS = {"abort": _abort, "segfault": _segfault, "hang": _hang}


def _embedding() -> tuple[Step, ...]:
    return chain(Step("layers.Embedding", args={"input_dim": 10, "output_dim": 4}))


def _probe(name: str, runner: str) -> Case:
    return Case(group="hostile", description=f"a case whose runner calls {name}",
                axes={"probe": runner, "mode": "eager"},
                inputs={"ids": Tensor(dtype="int32", values=[[1]])}, steps=_embedding(),
                mode="eager", runner=runner)


CASES = [
    _probe("os.abort()", "abort"),
    _probe("ctypes.string_at(0)", "segfault"),
    _probe("time.sleep(3600)", "hang"),
    Case(group="hostile", description="Embedding(10, 4)(np.array([[1, 2]], dtype='int32')) "
         "after the crashes", axes={"probe": "after", "mode": "eager"},
         inputs={"ids": Tensor(dtype="int32", values=[[1, 2]])}, steps=_embedding(),
         mode="eager"),
]
