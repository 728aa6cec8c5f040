"""The GPU-column script refuses to record anything where no GPU is visible."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from matrix.run import device_run

ROOT = Path(__file__).resolve().parents[1]


def test_refuses_without_a_gpu_and_writes_nothing(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no nvidia-smi
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    out = tmp_path / "out"
    assert device_run.main(["--backends", "jax", "torch", "--out", str(out)]) == 3
    assert "refusing to record GPU cells" in capsys.readouterr().err
    assert not out.exists()


def test_refuses_when_gpus_are_hidden(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "matrix.run.device_run", "--out", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, check=False,
                          env={"PATH": "/usr/bin:/bin", "CUDA_VISIBLE_DEVICES": ""})
    assert done.returncode == device_run.NO_GPU, done.stderr
    assert "every GPU is hidden" in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_runs_the_same_pytest_command_as_the_run_session(tmp_path: Path) -> None:
    command = device_run.pytest_command("jax-gpu", tmp_path / "log.jsonl", 300, ["-k", "x"])
    assert command[1:4] == ["-m", "pytest", "matrix/run/test_cases.py"]
    for flag in ("-n", "--max-worker-restart=1000", "--timeout=300", "--timeout-method=thread",
                 f"--report-log={tmp_path / 'log.jsonl'}"):
        assert flag in command
    assert command[-2:] == ["-k", "x"]
    assert "*run_pytest_args(options.jobs)" in (ROOT / "matrix" / "run" / "session.py").read_text()


def _cpu_run(folder: Path, backend: str, cells: dict[str, tuple[str, float]]) -> None:
    """A minimal `<backend>-cpu.json`: case id -> (mode, duration_s)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{backend}-cpu.json").write_text(json.dumps({
        "cases": [{"id": case, "axes": {"mode": mode}} for case, (mode, _) in cells.items()],
        "results": [{"case": case, "duration_s": took} for case, (_, took) in cells.items()],
    }), encoding="utf-8")


def test_cuts_say_what_they_cut_with_the_measured_time(tmp_path: Path) -> None:
    _cpu_run(tmp_path, "torch", {"a": ("jit_compile", 4.0), "b": ("jit_compile", 6.5),
                                 "c": ("eager", 0.25)})
    cut = device_run.cuts("torch", full=False, runs=tmp_path)
    assert list(cut) == ["jit_compile"]
    assert cut["jit_compile"].startswith("cut from the timed GPU run")
    assert "its 2 cells took 10 s on torch-cpu" in cut["jit_compile"]
    assert device_run.cuts("torch", full=True, runs=tmp_path) == {}
    assert list(device_run.cuts("jax", full=False, runs=tmp_path)) == ["jit_compile"]
    assert device_run.cuts("tensorflow", full=False, runs=tmp_path) == {}
    assert device_run.estimate_s("torch", cut, 1, runs=tmp_path) == 0.25
    assert device_run.estimate_s("torch", {}, 2, runs=tmp_path) == 5.375
    assert device_run.estimate_s("jax", {}, 2, runs=tmp_path) is None


def test_the_published_gpu_columns_fit_the_time_box_once_cut() -> None:
    """The measurement behind the cut: on the committed CPU runs, torch's jit_compile cells
    alone take longer than the whole 10-minute call on 8 workers; what is kept fits it."""
    full = device_run.estimate_s("torch", {}, 8)
    kept = {b: device_run.estimate_s(b, device_run.cuts(b, full=False), 8)
            for b in ("jax", "torch")}
    assert full is not None
    assert full > 240
    assert all(s is not None and s < 60 for s in kept.values()), kept


def test_requirements_are_keras_and_the_run_group() -> None:
    wanted = device_run.requirements()
    assert wanted[0].startswith("keras==")
    for name in ("pydantic", "pytest-xdist", "pytest-timeout", "pytest-reportlog"):
        assert any(r.startswith(name) for r in wanted), name
