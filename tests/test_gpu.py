"""What a GPU changes in a run: the TF32 request and the errors that poison a CUDA context."""

from __future__ import annotations

import pytest

from cases.gpu import poisons_context, tf32_requested


@pytest.mark.parametrize(("error_type", "message"), [
    ("AcceleratorError", "CUDA error: device-side assert triggered\nCUDA kernel errors ..."),
    ("RuntimeError", "CUDA error: an illegal memory access was encountered"),
    ("XlaRuntimeError", "INTERNAL: CUDA_ERROR_ILLEGAL_ADDRESS: an illegal memory access"),
])
def test_sticky_cuda_errors_poison_the_context(error_type: str, message: str) -> None:
    reason = poisons_context("error", error_type, message)
    assert reason is not None
    assert "\n" not in reason


@pytest.mark.parametrize(("kind", "error_type", "message"), [
    ("error", "OutOfMemoryError", "CUDA out of memory. Tried to allocate 2.00 GiB"),
    ("error", "InvalidArgumentError", "indices[0,0] = 10 is not in [0, 10)"),
    ("value", None, "CUDA error: device-side assert triggered"),
])
def test_other_observations_do_not(kind: str, error_type: str | None, message: str) -> None:
    assert poisons_context(kind, error_type, message) is None


def test_tf32_is_off_unless_asked() -> None:
    assert tf32_requested({}) == "off"
    assert tf32_requested({"KCM_TF32": "off"}) == "off"
    assert tf32_requested({"KCM_TF32": "yes"}) == "off"
    assert tf32_requested({"KCM_TF32": " ON "}) == "on"
