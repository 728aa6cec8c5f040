"""Environments: one Keras backend on one device, read from `matrix/axes.toml`.

This module owns the list of environments and how each is set up (requirements and
environment variables). It imports only the standard library, because the noxfile imports it
to parametrize its sessions and must never import Keras.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast

from matrix import variables as kcm

Backend = Literal["tensorflow", "jax", "torch", "numpy", "openvino"]
Device = Literal["cpu", "gpu"]

AXES_PATH = Path(__file__).with_name("axes.toml")
PINS_DIR = Path(__file__).with_name("pins")
LATEST = "latest"

#: How a run calls pytest on `matrix/run/test_cases.py` (the `run` session, `matrix.run.device_run`
#: and the benchmark), less the per-run paths and timeout: the harness's three pytest plugins
#: (`matrix/run/crash.py`, `selection.py`, `progress.py`), one xdist worker restarted after
#: a crash, pytest-timeout's thread method, no capture (a crashed worker's output goes to
#: its log), no per-test logging or warnings capture (a case's warnings are not data; the
#: two plugins cost about 1 ms a case, measured in benchmarks/bench_matrix.py).
RUN_PYTEST_ARGS: tuple[str, ...] = (
    "-p", "matrix.run.crash", "-p", "matrix.run.selection", "-p", "matrix.run.progress",
    "-p", "no:cacheprovider", "-p", "no:logging", "-p", "no:warnings",
    # worksteal: a worker whose queue runs dry takes half of another's (xdist's default
    # `load` left one of two workers idle for the last ~900 cases of a torch `--full` run)
    "-n", "1", "--dist", "worksteal", "--max-worker-restart=1000", "--timeout-method=thread",
    "-q", "-s", "-rN", "--tb=no", "--no-header",
)
#: The five backends of Keras 3, as `keras.backend.backend()` names them.
BACKENDS: tuple[Backend, ...] = ("tensorflow", "jax", "torch", "numpy", "openvino")


def run_pytest_args(jobs: int = 1) -> tuple[str, ...]:
    """`RUN_PYTEST_ARGS` with `jobs` xdist workers (`--jobs`); each is isolated as one is:
    a worker that crashes or times out costs its case's cell, and xdist starts another."""
    args = list(RUN_PYTEST_ARGS)
    args[args.index("-n") + 1] = str(jobs)
    return tuple(args)


DEVICES: tuple[Device, ...] = ("cpu", "gpu")


class AxesError(ValueError):
    """`axes.toml` is malformed; the message names the file and the field."""


@dataclass(frozen=True, kw_only=True)
class Environment:
    """One column of the matrix.

    Attributes:
        backend: exactly what `keras.backend.backend()` returns in it.
        device: `cpu` or `gpu`.
        requirements: pip requirement strings, Keras included.
        env: environment variables set for the run (e.g. `CUDA_VISIBLE_DEVICES=""` on CPU).
        default: whether bare `nox` runs it.
        channel: the version channel: `latest` (the known-good pins), `nightly` or
            `minimum` (axes.toml, `[channels]`).
        pre: whether pip may install pre-releases (`--pre`), for the nightly channel.
        inference_only: the backend cannot train (`fit` raises in Keras): NumPy and
            OpenVINO (axes.toml, `inference_only`); the report says so beside the column.
    """

    backend: Backend
    device: Device
    requirements: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    default: bool
    channel: str = LATEST
    pre: bool = False
    inference_only: bool = False

    @property
    def id(self) -> str:
        """The environment id: `<backend>-<device>`, plus `-<channel>` off `latest`."""
        base = f"{self.backend}-{self.device}"
        return base if self.channel == LATEST else f"{base}-{self.channel}"

    @property
    def pins(self) -> Path:
        """The file `nox -s pins` writes: every package of the environment, pinned."""
        return PINS_DIR / f"{self.id}.txt"

    def variables(self) -> dict[str, str]:
        """Environment variables for the run, `KERAS_BACKEND` and `KCM_DEVICE` included."""
        return {**dict(self.env), "KERAS_BACKEND": self.backend, kcm.DEVICE.name: self.device}

    def run_variables(self, *, workdir: Path, artifacts_root: Path, commit: str
                      ) -> dict[str, str]:
        """`variables()` plus what one run of the catalog reads (`matrix/run/`).

        Args:
            workdir: the run's bookkeeping folder (worker output, heartbeat, report log).
            artifacts_root: where saved `.keras` files live; each channel off `latest` keeps
                its own subfolder, so a Keras 3.6 file never replaces the latest one.
            commit: the git commit the run is recorded against.
        """
        artifacts = artifacts_root if self.channel == LATEST else artifacts_root / self.channel
        return {**self.variables(), kcm.ENVIRONMENT.name: self.id, kcm.RUN_DIR.name: str(workdir),
                kcm.ARTIFACTS.name: str(artifacts), kcm.GIT_COMMIT.name: commit}


def _field(table: dict[str, object], key: str, where: str, kind: type) -> object:
    if key not in table:
        raise AxesError(f"{AXES_PATH.name}: missing field `{where}.{key}`.")
    value = table[key]
    if not isinstance(value, kind):
        raise AxesError(
            f"{AXES_PATH.name}: field `{where}.{key}` must be a {kind.__name__}. "
            f"Received: {key}={value!r}"
        )
    return value


def _strings(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise AxesError(
            f"{AXES_PATH.name}: field `{where}` must be a list of strings. Received: {value!r}"
        )
    return tuple(cast(list[str], value))


def load_environments(path: Path = AXES_PATH) -> list[Environment]:
    """Reads the environments from `axes.toml`, backends outer, devices inner.

    Args:
        path: the axes file.

    Returns:
        Every backend × device environment of the `latest` channel, in file order, then
        those of the other channels.

    Raises:
        AxesError: a field is missing or of the wrong type; the message names it.
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise AxesError(f"{path}: not valid TOML: {exc}") from exc
    common = _strings(
        _field(cast(dict[str, object], _field(data, "common", "", dict)), "requirements",
               "common", list),
        "common.requirements",
    )
    backends = cast(dict[str, object], _field(data, "backends", "", dict))
    devices = cast(dict[str, object], _field(data, "devices", "", dict))
    channels = cast(dict[str, object], data.get("channels", {LATEST: {}}))
    environments = []
    for backend, spec in backends.items():
        if backend not in BACKENDS:
            raise AxesError(
                f"{path.name}: unknown backend `backends.{backend}`; Keras 3 backends are "
                f"{', '.join(BACKENDS)}. Received: backend={backend!r}"
            )
        spec = cast(dict[str, object], spec)
        only = _strings(spec.get("devices", list(devices)), f"backends.{backend}.devices")
        for device, dspec in devices.items():
            if device not in DEVICES:
                raise AxesError(
                    f"{path.name}: unknown device `devices.{device}`. Received: device={device!r}"
                )
            if device not in only:
                continue
            dspec = cast(dict[str, object], dspec)
            reqs = _strings(_field(spec, device, f"backends.{backend}", list),
                            f"backends.{backend}.{device}")
            env = cast(dict[str, object], dspec.get("env", {}))
            environments.append(
                Environment(
                    backend=backend,
                    device=device,
                    requirements=common + reqs,
                    env=tuple((str(k), str(v)) for k, v in env.items()),
                    default=bool(dspec.get("default", False)),
                    inference_only=bool(spec.get("inference_only", False)),
                )
            )
    for channel, cspec in channels.items():
        if channel == LATEST:
            continue
        cspec = cast(dict[str, object], cspec)
        where = f"channels.{channel}"
        cdevices = _strings(cspec.get("devices", list(devices)), f"{where}.devices")
        ccommon = _strings(_field(cspec, "common", where, list), f"{where}.common")
        # A channel covers the backends it names (at least one); the others stay `latest`.
        named = [b for b in backends if b in cspec]
        if not named:
            raise AxesError(f"{path.name}: channel `{where}` names no backend; name at least "
                            f"one of {', '.join(backends)}. Received: {sorted(cspec)}")
        for backend in named:
            reqs = _strings(_field(cspec, backend, where, list), f"{where}.{backend}")
            bspec = cast(dict[str, object], backends[backend])
            only = _strings(bspec.get("devices", list(devices)), f"backends.{backend}.devices")
            for device in (d for d in cdevices if d in only):
                dspec = cast(dict[str, object], devices.get(device, {}))
                env = cast(dict[str, object], dspec.get("env", {}))
                environments.append(Environment(
                    backend=cast(Backend, backend), device=cast(Device, device),
                    requirements=ccommon + reqs,
                    env=tuple((str(k), str(v)) for k, v in env.items()),
                    default=False, channel=channel, pre=bool(cspec.get("pre", False)),
                    inference_only=bool(bspec.get("inference_only", False)),
                ))
    return environments


def get_environment(environment_id: str) -> Environment:
    """Looks an environment up by id.

    Raises:
        KeyError: no such environment; the message lists the known ids.
    """
    environments = load_environments()
    for environment in environments:
        if environment.id == environment_id:
            return environment
    known = ", ".join(e.id for e in environments)
    raise KeyError(f"Unknown environment. Expected one of: {known}. Received: {environment_id!r}")


def gpu_visible() -> tuple[bool, str]:
    """Tells whether an NVIDIA GPU is visible to this machine, without importing a framework.

    Returns:
        (visible, detail): detail is the device list from `nvidia-smi -L`, or why none is seen.
    """
    if os.environ.get("CUDA_VISIBLE_DEVICES") == "":
        return False, "CUDA_VISIBLE_DEVICES is empty, so every GPU is hidden"
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return False, "no GPU visible: nvidia-smi is not on PATH (no NVIDIA driver)"
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"no GPU visible: nvidia-smi failed: {exc}"
    lines = [line for line in out.stdout.splitlines() if line.startswith("GPU ")]
    if out.returncode != 0 or not lines:
        return False, f"no GPU visible: nvidia-smi -L listed none (exit {out.returncode})"
    return True, "; ".join(lines)


def inference_only_backends(path: Path = AXES_PATH) -> tuple[str, ...]:
    """The backends axes.toml marks `inference_only` (Keras cannot `fit` on them)."""
    return tuple(dict.fromkeys(e.backend for e in load_environments(path) if e.inference_only))
