"""The one pytest module that executes the catalog in a run.

Run by the `run` nox session inside an environment's virtualenv with `KERAS_BACKEND` set:
`test_environment` records the provenance and checks the environment is what was asked for;
`test_case` runs each case's program, records its observation and raw verdict as user
properties (pytest-reportlog writes them; `matrix.results` folds them) and fails when the
verdict is not `matched`. Limitations are not applied here: they are joined to the verdicts
when the matrix is merged (`matrix.results.triage`), so re-triage needs no rerun.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import importlib.metadata
import json
import os
import platform
import sys
from typing import Any

import pytest
from pydantic import TypeAdapter

from cases import Catalog
from cases.load import resolve_open_names
from cases.model import KERAS_RUNNER, Case
from matrix import variables as kcm
from matrix.oracle.catalog import load_catalog
from matrix.records import Observation, Verdict
from matrix.run.gpu import POISONED_PROPERTY, apply_settings, device_facts, poisons_context
from matrix.run.protocol import NOT_RUN_PROPERTY

OBSERVATION: TypeAdapter[Observation] = TypeAdapter(Observation)

BACKEND = os.environ.get("KERAS_BACKEND", "tensorflow")
DEVICE = os.environ.get(kcm.DEVICE.name, "cpu")
DISTRIBUTIONS = ("keras", "keras-nightly", "tensorflow", "tensorflow-cpu", "jax", "jaxlib",
                 "jax-cuda12-plugin", "torch", "openvino", "numpy", "scipy", "ml-dtypes", "h5py",
                 "pytest", "pytest-xdist", "pytest-timeout")


@functools.cache
def _catalog(extra: tuple[str, ...]) -> Catalog:
    return load_catalog(extra)


def _catalog_of(config: pytest.Config) -> Catalog:
    return _catalog(tuple(config.getoption("catalog") or ()))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "case" not in metafunc.fixturenames:
        return
    catalog = _catalog_of(metafunc.config)
    resolve_open_names(catalog.cases)  # a name the installed Keras lacks fails collection
    metafunc.parametrize("case", [pytest.param(case, id=case.id) for case in catalog.cases])


def _versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in DISTRIBUTIONS:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def _backend_facts(backend: str) -> dict[str, Any]:
    """What the framework itself says about devices, build and numeric flags."""
    import keras

    facts: dict[str, Any] = {"floatx": keras.config.floatx()}
    if backend == "tensorflow":
        import tensorflow as tf

        facts["devices"] = [d.name for d in tf.config.list_physical_devices()]
        facts["gpus"] = [d.name for d in tf.config.list_physical_devices("GPU")]
        facts["build_cuda"] = bool(tf.test.is_built_with_cuda())
    elif backend == "jax":
        import jax

        facts["devices"] = [str(d) for d in jax.devices()]
        facts["gpus"] = [str(d) for d in jax.devices() if d.platform == "gpu"]
        facts["device_kind"] = jax.devices()[0].device_kind
        facts["x64"] = bool(jax.config.jax_enable_x64)
    elif backend == "torch":
        import torch

        facts["build_cuda"] = torch.version.cuda  # None for a CPU build
        facts["torch_version"] = str(torch.__version__)  # a str subclass
        gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] \
            if torch.cuda.is_available() else []
        facts["gpus"] = gpus
        facts["devices"] = ["cpu", *gpus]
    elif backend == "openvino":
        import openvino

        # OpenVINO's own device names: CPU, and GPU.<n> / NPU for Intel accelerators.
        devices = [str(d) for d in openvino.Core().available_devices]
        facts["devices"] = devices
        facts["gpus"] = [d for d in devices if not d.startswith("CPU")]
        facts["openvino_version"] = openvino.get_version()
        # bf16 on CPUs with AMX or AVX512_BF16: it changes compiled results (cases/limitations/).
        facts["inference_precision"] = str(
            openvino.Core().get_property("CPU", "INFERENCE_PRECISION_HINT"))
    elif backend == "numpy":
        import numpy

        facts["devices"] = ["cpu"]  # NumPy runs on the host only
        facts["gpus"] = []
        facts["numpy_version"] = numpy.__version__
    return facts


@functools.cache
def _settings_applied() -> None:
    """Sets the GPU switches (TF32, `matrix.run.gpu.apply_settings`) once in each process."""
    apply_settings(BACKEND, DEVICE)


def _plain(value: Any) -> Any:
    """JSON-plain copy: xdist's channel refuses str subclasses such as torch's TorchVersion."""
    return json.loads(json.dumps(value, default=str))


def test_environment(record_property: Any) -> None:
    """Records provenance and checks this process is the environment that was asked for."""
    import keras

    _settings_applied()
    facts = _backend_facts(keras.backend.backend())
    checks = {
        "backend": (keras.backend.backend() == BACKEND,
                    f"KERAS_BACKEND={BACKEND!r}, keras.backend.backend()="
                    f"{keras.backend.backend()!r}"),
    }
    if DEVICE == "cpu":
        checks["no_gpu_visible"] = (not facts.get("gpus"),
                                    f"GPUs visible to {BACKEND}: {facts.get('gpus')}")
        if BACKEND == "torch":
            checks["torch_cpu_build"] = (facts.get("build_cuda") is None,
                                         f"torch {facts.get('torch_version')}, "
                                         f"torch.version.cuda={facts.get('build_cuda')!r}")
    else:
        checks["gpu_visible"] = (bool(facts.get("gpus")),
                                 f"GPUs visible to {BACKEND}: {facts.get('gpus')}")
    gpus = facts.get("gpus") or []
    record_property("versions", _plain(_versions()))
    record_property("provenance", _plain({
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "device_name": ", ".join(gpus) if gpus else (platform.processor() or "cpu"),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "git_commit": os.environ.get(kcm.GIT_COMMIT.name, "unknown"),
        "artifacts": os.environ.get(kcm.ARTIFACTS.name),
        "backend_facts": facts,
        # GPU name, driver, CUDA, cuDNN, TF32, determinism; the GPU ones None on a CPU.
        "device_facts": device_facts(BACKEND, DEVICE),
        "checks": {name: {"ok": ok, "detail": detail} for name, (ok, detail) in checks.items()},
    }))
    failed = [f"{name}: {detail}" for name, (ok, detail) in checks.items() if not ok]
    assert not failed, "environment check failed: " + "; ".join(failed)


def _run(case: Case, request: pytest.FixtureRequest) -> tuple[Observation, Verdict]:
    """Runs a case's program (or a test-only runner) and judges it."""
    _settings_applied()
    if case.runner != KERAS_RUNNER:
        raw = _catalog_of(request.config).runners[case.runner](case)
        try:  # validated, so a kind or field the run file cannot hold stays in this cell
            observation = OBSERVATION.validate_python(raw)
        except (TypeError, ValueError) as exc:  # no observation (pydantic's errors too)
            observation = Observation(kind="error", error_type="HarnessError",
                                      message=f"the runner returned {raw!r:.200}: "
                                              f"{str(exc).splitlines()[0]:.300}")
        if observation.kind == "error" and observation.error_type == "HarnessError":
            return observation, Verdict(status="harness_error", detail=observation.message)
        matched = observation.kind == "value"
        return observation, Verdict(status="matched" if matched else "mismatched",
                                    cause=None if matched else "error_where_values_expected")
    from matrix.oracle.judge import judge
    from matrix.run.runner import NotApplicable, NotRun, observe

    try:
        observation, want = observe(case)
    except (NotRun, NotApplicable) as reason:
        # The observation the program printed, kept with the skip (kind not_run).
        request.node.user_properties.append(("observation", _plain(dataclasses.asdict(
            Observation(kind="not_run", error_type=type(reason).__name__,
                        message=str(reason))))))
        if isinstance(reason, NotRun):
            request.node.user_properties.append((NOT_RUN_PROPERTY, str(reason)))
            pytest.skip(f"not run: {reason}")
        pytest.skip(f"not applicable: {reason}")
    verdict = judge(want, observation)
    if verdict.status in ("matched", "no_reference") and DEVICE == "gpu" \
            and observation.kind == "value" \
            and observation.device != "host (NumPy)":  # host utilities run on NumPy
        where = (observation.device or "").lower()
        if "gpu" not in where and "cuda" not in where:
            verdict = Verdict(status="mismatched", cause="device",
                              detail=f"the output lived on {observation.device!r}, not on a GPU")
    return observation, verdict


def test_case(case: Case, record_property: Any, request: pytest.FixtureRequest) -> None:
    """Runs one case, records its observation and raw verdict; fails unless matched."""
    try:
        observation, verdict = _run(case, request)
    except KeyboardInterrupt:
        if getattr(request.config, "kcm_sigint", False):
            raise  # a real Ctrl-C (SIGINT): stop the run, which resumes later
        # The case raised it itself: its own cell, not the end of the run (issue 12, item 7).
        message = "the case raised KeyboardInterrupt (no SIGINT was received)"
        observation = Observation(kind="error", error_type="KeyboardInterrupt",
                                  message=message)
        verdict = Verdict(status="harness_error", detail=message)
    record_property("observation", _plain(dataclasses.asdict(observation)))
    record_property("verdict", _plain(dataclasses.asdict(verdict)))
    poisoned = poisons_context(observation.kind, observation.error_type, observation.message)
    if poisoned is not None:  # the worker is replaced after this case (matrix/run/crash.py)
        record_property(POISONED_PROPERTY, poisoned)
    if verdict.status not in ("matched", "no_reference"):  # the latter is judged at merge
        pytest.fail(f"{verdict.status}: {verdict.detail}", pytrace=False)
