"""What a GPU changes in a run: the TF32 request and the errors that poison a CUDA context."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from harness import ROOT, backend_python

from matrix import variables as kcm
from matrix.run.gpu import poisons_context, tf32_requested


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
    assert tf32_requested({kcm.TF32.name: "off"}) == "off"
    assert tf32_requested({kcm.TF32.name: "yes"}) == "off"
    assert tf32_requested({kcm.TF32.name: " ON "}) == "on"


@pytest.mark.e2e
@pytest.mark.parametrize("tf32", ["off", "on"])
def test_torch_switches_read_back_without_a_mix_error(tf32: str, tmp_path: Path) -> None:
    """PyTorch 2.9+ raises on reading `torch.backends.cudnn.allow_tf32` once the new
    `fp32_precision` API set the cuDNN flags apart from the legacy one; the GPU settings must
    leave both readings agreeing (the switches need no GPU; they are set on a CPU build). The
    torch virtualenv is installed by its nox session where missing (a fresh clone)."""
    python = backend_python("torch", tmp_path)
    script = ("import json, torch\nfrom matrix.run.gpu import apply_settings, device_facts\n"
              "apply_settings('torch', 'gpu')\n"
              "print(json.dumps([torch.backends.cuda.matmul.allow_tf32, "
              "torch.backends.cudnn.allow_tf32, device_facts('torch', 'gpu')['tf32']]))\n")
    done = subprocess.run([str(python), "-W", "error", "-c", script], cwd=ROOT,
                          capture_output=True, text=True,
                          env={**os.environ, kcm.TF32.name: tf32}, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    want = tf32 == "on"
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [want, want, want]
