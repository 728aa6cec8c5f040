"""End-to-end: minimal repros (`matrix.report.minimal`) run as they stand in a backend's virtualenv
and show what the full program that ran observed: the same Keras dtype and shape, the same
values bit for bit, or the same error type.

Cases are spread over the catalog (every group, eager and the model modes); `save_load` is
left out (its file comes from another backend's run), as are cells that do not apply.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from harness import harness_env

from cases import builtin_cases
from matrix.report.minimal import minimal_header, minimal_repro
from matrix.run.program import render

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[1]
ENVIRONMENTS = ("numpy-cpu", "jax-cpu")


def _sample() -> list[str]:
    """One case of every group, its mode taking eager, predict and jit_compile in turn."""
    modes = ("eager", "predict", "jit_compile")
    groups: dict[str, dict[str, str]] = {}
    for case in builtin_cases():
        mode = case.axes.get("mode", "eager")
        if mode in modes and not case.jax_x64:
            groups.setdefault(case.group, {}).setdefault(mode, case.id)
    picked = []
    for i, group in enumerate(sorted(groups)):
        by_mode = groups[group]
        want = modes[i % 3]
        picked.append(by_mode.get(want) or next(iter(by_mode.values())))
    return picked


@pytest.fixture(scope="module")
def pythons(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("venvs")
    found = {}
    for env in ENVIRONMENTS:
        done = subprocess.run([sys.executable, "-m", "nox", "--noxfile", str(ROOT / "noxfile.py"),
                               "-s", f"run({env})", "--install-only"], cwd=ROOT,
                              env=harness_env(root), capture_output=True, text=True,
                              timeout=1800, check=False)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        found[env] = ROOT / ".nox" / f"run-{env}" / "bin" / "python"
        assert found[env].exists(), found[env]
    return found


def _run(python: Path, code: str, backend: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**harness_env(cwd), "KERAS_BACKEND": backend, "KERAS_HOME": str(cwd / "keras")}
    return subprocess.run([str(python), "-c", code], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600, check=False)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_minimal_repros_show_what_the_full_program_observed(
        environment: str, pythons: dict[str, Path], tmp_path: Path) -> None:
    backend = environment.split("-")[0]
    cases = {c.id: c for c in builtin_cases()}
    compared = 0
    for case_id in _sample():
        full = render(cases[case_id])
        mini = minimal_header(backend, "cpu") + (minimal_repro(full) or "")
        assert len(mini.splitlines()) <= 50, case_id
        # The full program, then its output saved; the minimal one, then its `out` saved.
        whole = _run(pythons[environment], full + "\nif 'OUTPUT' in globals(): "
                     f"np.save({str(tmp_path / 'full.npy')!r}, OUTPUT)\n", backend, tmp_path)
        assert whole.returncode == 0, whole.stderr[-2000:]
        observed = json.loads(whole.stdout.strip().splitlines()[-1])
        if observed["kind"] == "not_run":
            continue
        mini_path = tmp_path / "mini.npy"
        mini_path.unlink(missing_ok=True)
        small = _run(pythons[environment], mini + "if out is not None: np.save("
                     f"{str(mini_path)!r}, np.asarray(keras.ops.convert_to_numpy(out)))\n",
                     backend, tmp_path)
        assert "the NumPy reference expects:" in small.stdout, case_id
        if observed["kind"] == "error":
            assert small.returncode != 0, f"{case_id}: the full program raised, this ran"
            # The traceback's exception line (Keras adds indented lines on its arguments).
            raised = [m.group(1).rsplit(".", 1)[-1] for m in
                      map(re.compile(r"^([A-Za-z_][\w.]*): ").match, small.stderr.splitlines())
                      if m]
            assert raised, f"{case_id}: {small.stderr[-1500:]}"
            assert raised[-1] == observed["error_type"], \
                f"{case_id}: {small.stderr[-1500:]} for {observed['error_type']}"
        else:
            assert small.returncode == 0, f"{case_id}: {small.stderr[-2000:]}"
            printed = next(line for line in small.stdout.splitlines()
                           if line.startswith("output: "))
            if observed.get("shape") is None:
                assert printed == "output: None", case_id
            else:
                dtype, shape = ast.literal_eval(printed[len("output: "):])
                assert (dtype, list(shape)) == (observed["dtype"], observed["shape"]), case_id
                np.testing.assert_array_equal(np.load(mini_path),
                                              np.load(tmp_path / "full.npy"), err_msg=case_id)
        compared += 1
    assert compared >= 8
