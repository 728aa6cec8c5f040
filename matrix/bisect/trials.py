"""Trying one release: the cached virtualenv, installing the release beside the pinned
backend, running the case there (`matrix/run/observe.py`) and reading its result line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from matrix.bisect.releases import (
    PIP_TIMEOUT_S,
    ROOT,
    BisectError,
    _last_error,
    pinned_requirements,
)
from matrix.bisections import Trial
from matrix.environments import Environment
from matrix.results import Observation, Verdict

STAMP = "kcm-bisect.stamp"
CASE_TIMEOUT_S = 900


def _pip(python: Path, *args: str) -> str | None:
    """Runs pip in a virtualenv; returns None, or pip's last error line when it failed."""
    try:
        done = subprocess.run([str(python), "-m", "pip", "install", "--quiet", *args],
                              capture_output=True, text=True, timeout=PIP_TIMEOUT_S,
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"pip did not finish: {exc}"
    return None if done.returncode == 0 else _last_error(done.stderr + done.stdout)


def _python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def ensure_virtualenv(venv: Path, requirements: Sequence[str], pre: bool = False) -> None:
    """Creates (once) the cached virtualenv and installs what every release shares.

    Raises:
        BisectError: the virtualenv could not be created, or `requirements` not installed.
    """
    stamp = venv / STAMP
    wanted = json.dumps({"requirements": list(requirements), "pre": pre})
    if stamp.exists() and stamp.read_text(encoding="utf-8") == wanted:
        return
    if not _python(venv).exists():
        done = subprocess.run([sys.executable, "-m", "venv", str(venv)], capture_output=True,
                              text=True, check=False)
        if done.returncode != 0:
            raise BisectError(f"the virtualenv {venv} could not be created: "
                              f"{_last_error(done.stderr + done.stdout)}")
    failed = _pip(_python(venv), *(["--pre"] if pre else []), *requirements)
    if failed:
        raise BisectError(f"the requirements {', '.join(requirements)} could not be "
                          f"installed in {venv}: {failed}")
    stamp.write_text(wanted, encoding="utf-8")


def real_trial(venv: Path, environment: Environment, case_id: str,
               catalogs: Sequence[str]) -> Callable[[str], Trial]:
    """`try_release` for `search`: installs a Keras release, then runs the case there."""
    pinned = pinned_requirements(environment)
    python = _python(venv)

    def try_release(release: str) -> Trial:
        print(f"bisect: Keras {release}: installing beside {', '.join(pinned)}",
              file=sys.stderr, flush=True)
        failed = _pip(python, f"keras=={release}", *pinned)
        if failed:
            return Trial(keras=release, status="not_run", reason=f"pip: {failed}")
        command = [str(python), "-m", "matrix.run.observe", case_id,
                   *[a for c in catalogs for a in ("--catalog", c)]]
        env = {**os.environ, **environment.variables(), "PYTHONPATH": str(ROOT),
               "PYTHONDONTWRITEBYTECODE": "1"}
        try:
            done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                                  timeout=CASE_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            return Trial(keras=release, status="not_run",
                         reason=f"the case ran past {CASE_TIMEOUT_S} s")
        return trial_from_output(release, done.stdout, done.stderr, done.returncode)

    return try_release


_TRIAL_LINE: TypeAdapter[dict[str, Any]] = TypeAdapter(dict[str, Any])
_OBSERVATION: TypeAdapter[Observation] = TypeAdapter(Observation)
_VERDICT: TypeAdapter[Verdict] = TypeAdapter(Verdict)


def trial_from_output(release: str, stdout: str, stderr: str, returncode: int) -> Trial:
    """Reads the last line `matrix/run/observe.py` printed into a `Trial`.

    A line that is not a result, a malformed one, one from another Keras than `release`, and
    a harness failure (`HarnessError`, verdict `harness_error`) are all `not_run`, with the
    reason: the search goes around them and never names them as the change.
    """
    lines = stdout.strip().splitlines()
    try:
        raw = json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        raw = None
    if not isinstance(raw, dict):
        return Trial(keras=release, status="not_run",
                     reason=f"the case printed no result (exit {returncode}): "
                            f"{_last_error(stderr + stdout)}")
    if raw.get("not_run"):
        return Trial(keras=release, status="not_run", reason=str(raw["not_run"])[:500])
    try:
        observation = _OBSERVATION.validate_python(raw["observation"])
        verdict = _VERDICT.validate_python(raw["verdict"])
    except (KeyError, ValidationError) as exc:
        return Trial(keras=release, status="not_run",
                     reason=f"the case printed a malformed result line: "
                            f"{str(exc).splitlines()[0][:300]}")
    if raw.get("keras") != release:
        return Trial(keras=release, status="not_run",
                     reason=f"Keras {raw.get('keras')} ran, not the release asked for")
    if verdict.status == "harness_error" or observation.error_type == "HarnessError":
        return Trial(keras=release, status="not_run",
                     reason=f"the harness failed on Keras {release} (not Keras's answer): "
                            f"{(observation.message or verdict.detail or '')[:300]}")
    return Trial(keras=release, status="ran", observation=observation, verdict=verdict)
