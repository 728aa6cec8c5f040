"""Tests of `matrix.run.program`: what a rendered program does when it runs.

Marked `e2e`: the program runs as the matrix runs it, in the JAX environment's virtualenv
(`matrix.check.python_for`: the `run` session's, else one installed from the pins file).
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
from pathlib import Path

import pytest

from cases import builtin_cases
from matrix import variables as kcm
from matrix.check import python_for
from matrix.environments import get_environment
from matrix.run.program import render, saved_model_path


@pytest.mark.e2e
def test_every_save_rewrites_the_sidecar_with_its_versions_and_date(tmp_path: Path) -> None:
    """Issue 23: the `.keras` sidecars kept the versions and date of an old save."""
    case = next(c for c in builtin_cases() if c.mode == "save_load" and c.saved_on == "jax")
    model = saved_model_path(case, tmp_path)
    sidecar = model.with_suffix(".json")
    sidecar.parent.mkdir(parents=True)
    stale = {"saved_on": "jax", "keras": "3.0.0", "case": case.id,
             "date": "2000-01-01T00:00:00+00:00"}
    sidecar.write_text(json.dumps(stale), encoding="utf-8")
    python = python_for(get_environment("jax-cpu"), {})
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("KERAS_", "KCM_"))},
           "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu", kcm.ARTIFACTS.name: str(tmp_path)}
    before = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    done = subprocess.run([str(python), "-c", render(case)], env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1])["kind"] == "value", done.stdout
    versions = subprocess.run(
        [str(python), "-c", "import jax, keras; print(keras.version(), jax.__version__)"],
        env=env, capture_output=True, text=True, timeout=300, check=True).stdout.split()
    written = json.loads(sidecar.read_text(encoding="utf-8"))
    assert model.is_file()
    assert written["case"] == case.id
    assert written["saved_on"] == "jax"
    assert [written["keras"], written["backend_version"]] == versions
    saved_at = datetime.datetime.fromisoformat(written["date"])
    assert before <= saved_at <= datetime.datetime.now(datetime.UTC)
