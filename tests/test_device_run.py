"""The GPU-column script refuses to record anything where no GPU is visible."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from matrix import device_run

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
    done = subprocess.run([sys.executable, "-m", "matrix.device_run", "--out", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, check=False,
                          env={"PATH": "/usr/bin:/bin", "CUDA_VISIBLE_DEVICES": ""})
    assert done.returncode == device_run.NO_GPU, done.stderr
    assert "every GPU is hidden" in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_runs_the_same_pytest_command_as_the_run_session(tmp_path: Path) -> None:
    command = device_run.pytest_command("jax-gpu", tmp_path / "log.jsonl", 300, ["-k", "x"])
    assert command[1:4] == ["-m", "pytest", "cases/test_cases.py"]
    for flag in ("-n", "--max-worker-restart=1000", "--timeout=300", "--timeout-method=thread",
                 f"--report-log={tmp_path / 'log.jsonl'}"):
        assert flag in command
    assert command[-2:] == ["-k", "x"]
    assert "*run_pytest_args(options.jobs)" in (ROOT / "noxfile.py").read_text()
