"""Running the model in each environment: its interpreter (the `run` session's virtualenv, or
one installed from the pins), `matrix/run/check_model.py` there, and the one import of the
`--custom-objects` file."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from matrix.bisect import ensure_virtualenv, harness_requirements
from matrix.check.inputs import CheckError
from matrix.environments import Environment

ROOT = Path(__file__).resolve().parents[2]
WORKER_TIMEOUT_S = 900


def python_for(environment: Environment, given: Mapping[str, str]) -> Path:
    """The interpreter of the environment: given, the `run` session's, or one installed here."""
    if environment.id in given:
        return Path(given[environment.id])
    run = ROOT / ".nox" / f"run-{environment.id}"
    if (run / "kcm-install.stamp").exists() and (run / "bin" / "python").exists():
        return run / "bin" / "python"
    venv = ROOT / ".nox" / f"check-{environment.id}"
    pins = ["-r", str(environment.pins)] if environment.pins.exists() \
        else list(environment.requirements)
    ensure_virtualenv(venv, [*harness_requirements(), *pins], pre=environment.pre)
    return venv / "bin" / "python"


def run_worker(python: Path, environment: Environment, model: Path, inputs: Path,
               out: Path, custom: Path | None) -> dict[str, Any]:
    """Runs `matrix/run/check_model.py` in one environment; returns what it observed."""
    command = [str(python), "-m", "matrix.run.check_model", str(model), str(inputs),
               "--out", str(out), *(["--custom-objects", str(custom)] if custom else [])]
    env = {**os.environ, **environment.variables(), "PYTHONPATH": str(ROOT)}
    try:
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=WORKER_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        return {"load_error": f"ran past {WORKER_TIMEOUT_S} s", "layers": []}
    result = out / "observed.json"
    if not result.exists():
        lines = (done.stderr or done.stdout).strip().splitlines() or ["no output"]
        return {"load_error": f"the check crashed (exit {done.returncode}): {lines[-1][:300]}",
                "layers": []}
    return dict(json.loads(result.read_text(encoding="utf-8")))


def check_custom_objects(python: Path, environment: Environment, module: Path) -> None:
    """Imports the `--custom-objects` file once, in one environment's interpreter (it
    usually imports Keras, which this session's interpreter may lack).

    Raises:
        CheckError: it raises on import; the message names the file and the exception.
    """
    script = "import sys; from matrix.run.check_model import _custom_objects; " \
             "_custom_objects(sys.argv[1])"
    env = {**os.environ, **environment.variables(), "PYTHONPATH": str(ROOT)}
    try:
        done = subprocess.run([str(python), "-c", script, str(module.resolve())], cwd=ROOT,
                              env=env, capture_output=True, text=True,
                              timeout=WORKER_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise CheckError(f"--custom-objects {module}: importing it ran past "
                         f"{WORKER_TIMEOUT_S} s") from None
    if done.returncode != 0:
        lines = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()]
        raise CheckError(f"--custom-objects {module} raises on import ({environment.id}): "
                         f"{(lines or ['no output'])[-1].strip()[:300]}; fix the file")
