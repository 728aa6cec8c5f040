"""A test-only catalog whose first case poisons its process as a CUDA device-side assert would.

On a GPU, a device-side assert leaves the CUDA context of the process unusable: every later
CUDA call fails (pytorch/pytorch#19120). This CPU stand-in marks its process poisoned (an
environment variable of that process only: a new worker does not inherit it) and reports the
error PyTorch would; the `after` cases fail with an inherited error when they run in a poisoned
process, else pass and print their pid. Used by `tests/test_e2e.py` through
`nox -s "run(jax-cpu)" -- --catalog <this file> -k poisoned-context --jobs 1`.
"""

from __future__ import annotations

import os
from typing import Any

from cases.model import Case, Step, Tensor, chain

#: Set in the worker that ran the stand-in assert; never inherited by a new worker.
POISONED = "KCM_TEST_CONTEXT_POISONED"


def _device_side_assert(case: Case) -> dict[str, Any]:
    os.environ[POISONED] = "1"
    return {"kind": "error", "error_type": "AcceleratorError",
            "message": "CUDA error: device-side assert triggered (a CPU stand-in, "
                       f"pid {os.getpid()})"}


def _after(case: Case) -> dict[str, Any]:
    if os.environ.get(POISONED):
        return {"kind": "error", "error_type": "AcceleratorError",
                "message": "CUDA error: device-side assert triggered (inherited from an "
                           f"earlier case, pid {os.getpid()})"}
    return {"kind": "value", "message": f"pid {os.getpid()}"}


RUNNERS = {"device_side_assert": _device_side_assert, "after": _after}


def _embedding() -> tuple[Step, ...]:
    return chain(Step("layers.Embedding", args={"input_dim": 10, "output_dim": 4}))


def _case(probe: str, runner: str = "keras") -> Case:
    return Case(group="poisoned-context", description=f"{probe} (runner {runner})",
                axes={"probe": probe, "mode": "eager"},
                inputs={"ids": Tensor(dtype="int32", values=[[1, 2]])}, steps=_embedding(),
                mode="eager", runner=runner)


CASES = [_case("assert", "device_side_assert"), _case("after_1", "after"),
         _case("after_2", "after"), _case("after_3", "after"), _case("keras_after")]
