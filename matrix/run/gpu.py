"""What a GPU changes in a run besides the code: numeric switches, recorded facts, a poisoned
CUDA context.

Imported by `matrix/run/test_cases.py` and `matrix/run/crash.py`; it imports a framework only
inside its functions, so the crash plugin (loaded by the controller too) stays framework-free.

- TF32: TensorFlow, JAX and PyTorch may compute float32 matmuls and convolutions with
  TensorFloat-32 (10 mantissa bits) on Ampere and later GPUs, which flips cells judged with
  float32 tolerances. A GPU run turns it off (`apply_settings`), unless `KCM_TF32=on`
  (`python -m matrix.run.device_run --tf32`); `matrix/axes.toml` also sets the variables the
  frameworks and NVIDIA's libraries read, so a case's repro run by hand gets the same.
- Facts (`device_facts`): GPU name, driver, CUDA and cuDNN versions, the TF32 state and the
  determinism switches, as the framework (or `nvidia-smi`) reports them. On a CPU run the GPU
  facts are None: nothing is guessed.
- A poisoned context (`poisons_context`): after a CUDA device-side assert, every later CUDA
  call of the process fails (pytorch/pytorch#19120), so the worker that saw one is replaced
  before the next case (`matrix/run/crash.py`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Any, Literal

from matrix import variables as kcm

#: `on` runs a GPU environment with TF32 allowed; anything else (the default) turns it off.
TF32_VARIABLE = kcm.TF32.name
Tf32 = Literal["on", "off"]
#: Error texts after which the CUDA context of the process is unusable. A sticky CUDA error
#: (device-side assert, illegal address, launch failure) stays set for the life of the
#: context: https://docs.nvidia.com/cuda/cuda-runtime-api/group__CUDART__TYPES.html
#: (cudaErrorAssert: "the context cannot be used anymore"). PyTorch says "CUDA error: ...",
#: XLA (JAX, TensorFlow) "CUDA_ERROR_..."; an out-of-memory error ("CUDA out of memory") is
#: not sticky and is not listed. Matching more than needed only costs a worker restart.
POISON_MARKS = ("device-side assert", "CUDA error", "CUDA_ERROR_", "illegal memory access")
#: The user property a case records when its worker must be replaced after it.
POISONED_PROPERTY = "context_poisoned"


def tf32_requested(environ: dict[str, str] | None = None) -> Tf32:
    """`on` when `KCM_TF32=on`, else `off` (the default of a GPU run)."""
    env = os.environ if environ is None else environ
    return "on" if env.get(TF32_VARIABLE, "").strip().lower() == "on" else "off"


def poisons_context(kind: str, error_type: str | None, message: str | None) -> str | None:
    """Why an observation leaves its process's CUDA context unusable; None when it does not.

    Args:
        kind: the observation's kind (`value`, `error`, ...): only an error can poison.
        error_type: the exception's type name, e.g. `AcceleratorError`.
        message: the exception's message.

    Returns:
        The first matching mark of `POISON_MARKS` with the error's first line, or None.
    """
    if kind != "error":
        return None
    text = f"{error_type or ''}: {message or ''}"
    for mark in POISON_MARKS:
        if mark in text:
            return f"{mark!r} in {text.splitlines()[0][:200]}"
    return None


def apply_settings(backend: str, device: str) -> None:
    """Sets the framework's TF32 switches as the run asks (`KCM_TF32`), on a GPU run only.

    On a CPU run nothing is set: TF32 is a GPU tensor-core format.
    """
    if device != "gpu":
        return
    on = tf32_requested() == "on"
    if backend == "tensorflow":
        import tensorflow as tf

        # https://www.tensorflow.org/api_docs/python/tf/config/experimental/enable_tensor_float_32_execution
        tf.config.experimental.enable_tensor_float_32_execution(on)
    elif backend == "jax":
        import jax

        # https://docs.jax.dev/en/latest/_autosummary/jax.default_matmul_precision.html:
        # "highest" is full float32; None is the platform's default (TF32 on NVIDIA GPUs).
        jax.config.update("jax_default_matmul_precision", None if on else "highest")
    elif backend == "torch":
        import torch

        # The legacy switches, not PyTorch 2.9+'s `fp32_precision`: setting only the new ones
        # leaves the legacy cuDNN flag on (its default), and every later read of
        # `torch.backends.cudnn.allow_tf32` (Inductor's conv kernels read it) then raises
        # "you have used a mix of the legacy and new APIs" (seen on torch 2.13.0+cpu). The
        # legacy setters set the new flags too, so both readings agree
        # (https://docs.pytorch.org/docs/2.9/notes/cuda.html#tensorfloat-32-tf32-on-ampere-and-later-devices).
        # cuDNN convolutions default to TF32, which Keras's own test conftest turns off.
        torch.backends.cuda.matmul.allow_tf32 = on
        torch.backends.cudnn.allow_tf32 = on


def _nvidia_driver() -> str | None:
    """The NVIDIA driver version `nvidia-smi` reports for the first GPU, or None."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return None
    try:
        done = subprocess.run([smi, "--query-gpu=driver_version", "--format=csv,noheader"],
                              capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = done.stdout.strip().splitlines()
    return lines[0].strip() if done.returncode == 0 and lines else None


def _determinism(backend: str) -> dict[str, Any]:
    """The determinism switches in force: the framework's own getters, else the variables."""
    found: dict[str, Any] = {name: os.environ.get(name) for name in (
        "TF_DETERMINISTIC_OPS", "TF_CUDNN_DETERMINISTIC", "CUBLAS_WORKSPACE_CONFIG")}
    if backend == "jax":
        found["xla_gpu_deterministic_ops"] = \
            "--xla_gpu_deterministic_ops=true" in os.environ.get("XLA_FLAGS", "")
    elif backend == "torch":
        import torch

        found["torch_deterministic_algorithms"] = torch.are_deterministic_algorithms_enabled()
        found["cudnn_deterministic"] = bool(torch.backends.cudnn.deterministic)
        found["cudnn_benchmark"] = bool(torch.backends.cudnn.benchmark)
    return found


def _gpu_facts(backend: str) -> dict[str, Any]:
    """GPU name, CUDA, cuDNN and TF32 as the framework reports them on a GPU run."""
    facts: dict[str, Any] = {"gpu_name": None, "cuda": None, "cudnn": None, "tf32": None}
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            facts["gpu_name"] = tf.config.experimental.get_device_details(gpus[0]).get(
                "device_name")
        build = tf.sysconfig.get_build_info()  # the versions TensorFlow was built against
        facts["cuda"] = build.get("cuda_version")
        facts["cudnn"] = build.get("cudnn_version")
        facts["tf32"] = bool(tf.config.experimental.tensor_float_32_execution_enabled())
    elif backend == "jax":
        import jax
        from jax._src.lib import cuda_versions  # None without the CUDA plugin

        gpus = [d for d in jax.devices() if d.platform == "gpu"]
        facts["gpu_name"] = gpus[0].device_kind if gpus else None
        if cuda_versions is not None:
            facts["cuda"] = str(cuda_versions.cuda_runtime_get_version())
            facts["cudnn"] = str(cuda_versions.cudnn_get_version())
        precision = jax.config.jax_default_matmul_precision
        facts["matmul_precision"] = precision
        facts["tf32"] = precision not in ("highest", "float32", "F32_F32_F32")
    elif backend == "torch":
        import torch

        if torch.cuda.is_available():
            facts["gpu_name"] = torch.cuda.get_device_name(0)
        facts["cuda"] = torch.version.cuda
        version = torch.backends.cudnn.version()
        facts["cudnn"] = None if version is None else str(version)
        try:  # both readings; a mix of the legacy and new APIs makes PyTorch raise here
            facts["allow_tf32"] = {"matmul": bool(torch.backends.cuda.matmul.allow_tf32),
                                   "cudnn": bool(torch.backends.cudnn.allow_tf32)}
            facts["tf32"] = any(facts["allow_tf32"].values())
        except RuntimeError as exc:
            facts["allow_tf32"] = f"unreadable: {str(exc).splitlines()[0][:200]}"
        if hasattr(torch.backends.cuda.matmul, "fp32_precision"):
            facts["fp32_precision"] = {
                "matmul": torch.backends.cuda.matmul.fp32_precision,
                "cudnn_conv": torch.backends.cudnn.conv.fp32_precision,
                "cudnn_rnn": torch.backends.cudnn.rnn.fp32_precision}
            if facts["tf32"] is None:
                facts["tf32"] = "tf32" in facts["fp32_precision"].values()
    return facts


def device_facts(backend: str, device: str) -> dict[str, Any]:
    """What the run file records about the device and the switches that change an answer.

    Args:
        backend: the Keras backend of this process.
        device: `cpu` or `gpu` (`KCM_DEVICE`).

    Returns:
        `gpu_name`, `driver`, `cuda`, `cudnn`, `tf32` (whether TF32 is allowed),
        `tf32_requested` and `determinism`. On a CPU run every GPU fact is None.
    """
    if device == "gpu":
        facts = _gpu_facts(backend)
        facts["driver"] = _nvidia_driver()
        facts["tf32_requested"] = tf32_requested()
    else:
        facts = {"gpu_name": None, "driver": None, "cuda": None, "cudnn": None,
                 "tf32": None, "tf32_requested": None}
    facts["determinism"] = _determinism(backend)
    return facts
