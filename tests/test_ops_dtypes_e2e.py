"""End-to-end: the dtype family of `keras.ops` (issue 26) against the installed Keras.

Run in the numpy backend's virtualenv (`.nox/run-numpy-cpu`): the op table's result-dtype
rules must be the dtype Keras's own `compute_output_spec` gives a symbolic call
(`keras.KerasTensor` inputs), for every table op and every dtype, or dtype pair, of the 12
numeric input dtypes; and the enumeration of `keras.ops` must find a known op of each kind
and give a left-out op its reason.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from harness import harness_env

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[1]
NUMPY_PYTHON = ROOT / ".nox" / "run-numpy-cpu" / "bin" / "python"

RULES = """
import itertools, keras
from cases.op_table import output_dtype, table
from cases.ops_dtypes import DTYPES
bad, n = [], 0
for name, spec in table()["ops"].items():
    function = getattr(keras.ops, name.split(".")[1])
    args = {"axis": -1} if "axis" in spec.get("args", ()) else {}
    for dtypes in itertools.product(DTYPES, repeat=spec["inputs"]):
        out = function(*[keras.KerasTensor((2, 3), dtype=d) for d in dtypes], **args)
        n += 1
        if keras.backend.standardize_dtype(out.dtype) != output_dtype(name, list(dtypes)):
            bad.append((name, dtypes, out.dtype))
print(n, bad[:5])
"""

INVENTORY = """
from cases.ops_dtypes import inventory, cases
rows = {name: (kind, why) for name, kind, why in inventory()}
print(rows["ops.add"][0], "|", rows["ops.relu"][0], "|", rows["ops.argmax"][0], "|",
      rows["ops.zeros"], "|", rows["ops.det"][0])
mine = cases()
print(len(mine), sum(1 for c in mine if c.axes["op"] == "add"),
      sorted({c.axes["values"] for c in mine if c.axes["op"] == "floor_divide"}))
"""


@pytest.fixture(scope="module", autouse=True)
def numpy_virtualenv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The numpy backend's virtualenv, installed by its nox session when it is missing (a
    fresh clone): these tests never skip for the want of it."""
    root = tmp_path_factory.mktemp("numpy-venv")
    done = subprocess.run([sys.executable, "-m", "nox", "--noxfile", str(ROOT / "noxfile.py"),
                           "-s", "run(numpy-cpu)", "--install-only"], cwd=ROOT,
                          env=harness_env(root), capture_output=True, text=True, timeout=1800,
                          check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert NUMPY_PYTHON.exists(), NUMPY_PYTHON
    return NUMPY_PYTHON


def _run(script: str) -> str:
    done = subprocess.run([str(NUMPY_PYTHON), "-c", script], cwd=ROOT, capture_output=True,
                          text=True, env={**harness_env(ROOT), "KERAS_BACKEND": "numpy"},
                          timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1] if script is RULES else done.stdout.strip()


def test_the_table_rules_are_kerass_compute_output_spec() -> None:
    # 47 unary ops x 12 dtypes + 25 binary ops x 144 dtype pairs: every combination
    assert _run(RULES) == "4164 []"


def test_the_enumeration_finds_each_kind_and_says_why_an_op_is_left_out() -> None:
    lines = _run(INVENTORY).splitlines()
    assert lines[-2] == ("table | open | record | ('left out', 'needs arguments besides tensors "
                         "(required: shape)') | left out")
    total, add, classes = lines[-1].split(" ", 2)
    assert int(total) > 20000
    # 64 dtype pairs: ordinary in 4 variants, limits (every pair but bool-bool) and
    # nonfinite (pairs with a float) in eager and jit_compile at rank 2
    assert int(add) == 64 * 4 + 63 * 2 + 39 * 2
    assert classes == "['limits', 'nonfinite', 'ordinary', 'zero_divisor']"
