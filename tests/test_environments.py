"""Tests of the environment axes and of the sessions nox derives from them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from matrix import variables as kcm
from matrix.environments import (
    AxesError,
    get_environment,
    gpu_visible,
    inference_only_backends,
    load_environments,
)

ROOT = Path(__file__).resolve().parents[1]


def test_eight_latest_environments_with_contract_ids_then_the_channels() -> None:
    environments = load_environments()
    assert [e.id for e in environments if e.channel == "latest"] == [
        "tensorflow-cpu", "tensorflow-gpu", "jax-cpu", "jax-gpu", "torch-cpu", "torch-gpu",
        "numpy-cpu", "openvino-cpu"]
    assert [e.id for e in environments if e.channel != "latest"] == [
        "tensorflow-cpu-nightly", "jax-cpu-nightly", "torch-cpu-nightly",
        "tensorflow-cpu-minimum", "jax-cpu-minimum", "torch-cpu-minimum"]
    assert [e.id for e in environments if e.default] == [
        "tensorflow-cpu", "jax-cpu", "torch-cpu", "numpy-cpu", "openvino-cpu"]


def test_numpy_and_openvino_are_inference_only_cpu_columns() -> None:
    numpy_cpu, openvino_cpu = get_environment("numpy-cpu"), get_environment("openvino-cpu")
    assert (numpy_cpu.backend, openvino_cpu.backend) == ("numpy", "openvino")
    assert numpy_cpu.inference_only
    assert openvino_cpu.inference_only
    assert not any(e.inference_only for e in load_environments()
                   if e.backend in ("tensorflow", "jax", "torch"))
    assert inference_only_backends() == ("numpy", "openvino")
    # Keras's NumPy and OpenVINO backends import SciPy (and NumPy's, JAX) without declaring it.
    assert numpy_cpu.requirements == ("keras==3.15.1", "scipy==1.17.1", "jax[cpu]==0.10.2")
    assert openvino_cpu.requirements == ("keras==3.15.1", "openvino==2026.4.1",
                                         "scipy==1.17.1")
    assert numpy_cpu.variables()["KERAS_BACKEND"] == "numpy"
    assert numpy_cpu.pins.exists()
    assert openvino_cpu.pins.exists()


def test_a_backend_limited_to_some_devices_and_channels(tmp_path: Path) -> None:
    path = tmp_path / "axes.toml"
    path.write_text('[common]\nrequirements = ["keras"]\n'
                    '[backends.jax]\ncpu = ["jax"]\ngpu = ["jax[cuda12]"]\n'
                    '[backends.numpy]\ncpu = []\ndevices = ["cpu"]\ninference_only = true\n'
                    '[devices.cpu]\ndefault = true\n[devices.gpu]\n'
                    '[channels.latest]\n[channels.nightly]\ncommon = ["keras-nightly"]\n'
                    'jax = ["jax"]\n')
    assert [(e.id, e.inference_only) for e in load_environments(path)] == [
        ("jax-cpu", False), ("jax-gpu", False), ("numpy-cpu", True),
        ("jax-cpu-nightly", False), ("jax-gpu-nightly", False)]


def test_requirements_pin_keras_and_each_backend() -> None:
    tf, jax_cpu, torch_cpu = (get_environment(i) for i in ("tensorflow-cpu", "jax-cpu",
                                                            "torch-cpu"))
    assert tf.requirements == ("keras==3.15.1", "tensorflow-cpu==2.21.0")
    assert jax_cpu.requirements == ("keras==3.15.1", "jax[cpu]==0.10.2")
    assert torch_cpu.requirements == ("keras==3.15.1", "torch==2.13.0")
    assert "cuda" in " ".join(get_environment("jax-gpu").requirements)


def test_channels_replace_the_requirements() -> None:
    nightly = get_environment("tensorflow-cpu-nightly")
    assert nightly.requirements[0] == "keras-nightly"
    assert nightly.pre
    minimum = get_environment("jax-cpu-minimum")
    assert minimum.requirements == ("keras==3.6.0", "jax[cpu]==0.4.34")
    assert not minimum.pre
    assert minimum.variables()["CUDA_VISIBLE_DEVICES"] == ""
    assert minimum.pins.name == "jax-cpu-minimum.txt"


def test_cpu_environments_hide_every_gpu() -> None:
    variables = get_environment("torch-cpu").variables()
    assert variables["CUDA_VISIBLE_DEVICES"] == ""
    assert variables["JAX_PLATFORMS"] == "cpu"
    assert variables["KERAS_BACKEND"] == "torch"
    assert "CUDA_VISIBLE_DEVICES" not in get_environment("torch-gpu").variables()


def test_unknown_environment_lists_the_known_ones() -> None:
    with pytest.raises(KeyError, match=r"Expected one of: tensorflow-cpu.*Received: 'mxnet-cpu'"):
        get_environment("mxnet-cpu")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[backends]\n", r"missing field `.common`"),
        ('[common]\nrequirements = "keras"\n[backends]\n[devices]\n',
         r"field `common.requirements` must be a list"),
        ('[common]\nrequirements = []\n[backends.mxnet]\ncpu = []\n[devices.cpu]\n',
         r"unknown backend `backends.mxnet`"),
        ('[common]\nrequirements = []\n[backends.jax]\n[devices.cpu]\n',
         r"missing field `backends.jax.cpu`"),
        ("[common\n", r"not valid TOML"),
        ('[common]\nrequirements = []\n[backends.jax]\ncpu = []\n[devices.cpu]\n'
         '[channels.nightly]\ncommon = []\n', r"channel `channels.nightly` names no backend"),
    ],
)
def test_malformed_axes_name_the_field(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "axes.toml"
    path.write_text(text)
    with pytest.raises(AxesError, match=message):
        load_environments(path)


def test_gpu_is_not_visible_when_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    visible, detail = gpu_visible()
    assert not visible
    assert "hidden" in detail


def test_gpu_visible_without_nvidia_smi(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    visible, detail = gpu_visible()
    assert not visible
    assert "nvidia-smi is not on PATH" in detail


def test_nox_lists_one_run_session_per_environment_with_tags() -> None:
    def listed(*args: str) -> list[dict[str, object]]:
        done = subprocess.run([sys.executable, "-m", "nox", "--json", "-l", *args], cwd=ROOT,
                              capture_output=True, text=True, check=True)
        return list(json.loads(done.stdout))

    runs = {str(s["session"]): s for s in listed("-t", "run")}
    defaults = [s["session"] for s in listed()]
    assert defaults == ["run(tensorflow-cpu)", "run(jax-cpu)", "run(torch-cpu)",
                        "run(numpy-cpu)", "run(openvino-cpu)", "report"]
    assert set(runs) == {f"run({e.id})" for e in load_environments()}
    assert runs["run(jax-cpu)"]["tags"] == ["run", "jax", "cpu", "latest", "jax-cpu"]
    assert runs["run(jax-cpu)"]["call_spec"] == {"backend": "jax", "device": "cpu",
                                                 "channel": "latest"}
    nightly: list[str] = runs["run(jax-cpu-nightly)"]["tags"]  # type: ignore[assignment]
    assert nightly[3] == "nightly"
    everything = listed("-s", "report", "tests", "lint", "diff", "publish", "pins")
    assert {s["name"] for s in everything} == {"report", "tests", "lint", "diff", "publish",
                                               "pins"}
    for session in [*everything, *runs.values()]:
        assert session["description"], session["session"]


def test_run_variables_give_each_channel_its_own_saved_models(tmp_path: Path) -> None:
    latest = get_environment("jax-cpu").run_variables(
        workdir=tmp_path / "w", artifacts_root=tmp_path / "artifacts", commit="abc")
    assert latest[kcm.ARTIFACTS.name] == str(tmp_path / "artifacts")
    assert latest[kcm.ENVIRONMENT.name] == "jax-cpu"
    assert latest[kcm.RUN_DIR.name] == str(tmp_path / "w")
    assert latest[kcm.GIT_COMMIT.name] == "abc"
    assert latest["KERAS_BACKEND"] == "jax"
    minimum = get_environment("jax-cpu-minimum").run_variables(
        workdir=tmp_path / "w", artifacts_root=tmp_path / "artifacts", commit="abc")
    assert minimum[kcm.ARTIFACTS.name] == str(tmp_path / "artifacts" / "minimum")
