"""End-to-end: the dtype family of `keras.ops` (issue 26) against the installed Keras.

In each CPU backend's virtualenv (`.nox/run-<backend>-cpu`, installed by its nox session
where missing): the op table's result-dtype rules, with that backend's own exceptions
(`narrow_by_backend`, `accumulate_by_backend`), must be the dtype Keras's own
`compute_output_spec` gives a symbolic call (`keras.KerasTensor` inputs), for every table op
and every dtype, or dtype pair, of the 13 numeric input dtypes, under floatx float32,
float16, float64 and bfloat16, on all five backends. In the
numpy backend's: the enumeration of `keras.ops` must find a known op of each kind and give a
left-out op its reason.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from harness import backend_python, harness_env

from matrix.results.io import load_run

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[1]
BACKENDS = ("numpy", "tensorflow", "jax", "torch", "openvino")

RULES = """
import itertools, keras
from cases.op_table import floatx_of, output_dtype, running_backend, table
from cases.ops_dtypes import DTYPES
bad, n = [], 0
for floatx in ("float32", "float16", "float64", "bfloat16"):
    keras.config.set_floatx(floatx)
    with floatx_of(floatx):
        for name, spec in table()["ops"].items():
            function = getattr(keras.ops, name.split(".")[1])
            args = {"axis": -1} if "axis" in spec.get("args", ()) else {}
            for dtypes in itertools.product(DTYPES, repeat=spec["inputs"]):
                out = function(*[keras.KerasTensor((2, 3), dtype=d) for d in dtypes], **args)
                n += 1
                want = output_dtype(name, list(dtypes), running_backend())
                if keras.backend.standardize_dtype(out.dtype) != want:
                    bad.append((floatx, name, dtypes, out.dtype, want))
print(keras.backend.backend(), n, len(bad), bad[:5])
"""

INVENTORY = """
from cases.ops_dtypes import cases, default_cases, inventory
rows = {name: (kind, why) for name, kind, why in inventory()}
print(rows["ops.add"][0], "|", rows["ops.relu"][0], "|", rows["ops.argmax"][0], "|",
      rows["ops.zeros"], "|", rows["ops.det"][0])
mine = cases() + default_cases()
print(len(mine), sum(1 for c in mine if c.axes["op"] == "add"),
      sorted({c.axes["values"] for c in mine if c.axes["op"] == "floor_divide"}))
"""


def _run(script: str, backend: str, root: Path) -> str:
    python = backend_python(backend, root)
    done = subprocess.run([str(python), "-c", script], cwd=ROOT, capture_output=True,
                          text=True, env={**harness_env(ROOT), "KERAS_BACKEND": backend},
                          timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1] if script is RULES else done.stdout.strip()


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_table_rules_are_kerass_compute_output_spec(backend: str, tmp_path: Path) -> None:
    # 47 unary ops x 13 dtypes + 25 binary ops x 169 dtype pairs: every combination, with
    # the backend's own rule (before the rules followed the backend, TensorFlow differed in
    # 642 of them and torch in 7), under each floatx (the floatx axis: before the rules read
    # it, reciprocal's read floatx where Keras states float32)
    assert _run(RULES, backend, tmp_path) == f"{backend} {4 * 4836} 0 []"


def test_the_enumeration_finds_each_kind_and_says_why_an_op_is_left_out(tmp_path: Path) -> None:
    lines = _run(INVENTORY, "numpy", tmp_path).splitlines()
    assert lines[-2] == ("table | open | record | ('left out', 'needs arguments besides tensors "
                         "(required: shape)') | left out")
    total, add, classes = lines[-1].split(" ", 2)
    assert int(total) > 20000
    # 64 dtype pairs: ordinary in 5 variants (rank 0, eager, jit_compile, predict, x64),
    # limits (every pair but bool-bool) and nonfinite (pairs with a float) in eager,
    # jit_compile and predict at rank 2; 11 pairs with bfloat16 in the three classes, eager
    assert int(add) == 64 * 5 + 63 * 3 + 39 * 3 + 11 * 3
    assert classes == "['limits', 'nonfinite', 'ordinary', 'zero_divisor']"


def test_a_tensorflow_run_holds_its_cells_to_tensorflows_contract(tmp_path: Path) -> None:
    # TensorFlow's result_type keeps int64 and float64: a run's controller computes the
    # reference for the case facts and cache keys before Keras is imported, and once held
    # these cells to the other backends' int32 and float32 (each counted as a divergence).
    backend_python("tensorflow", tmp_path)
    out = tmp_path / "runs"
    done = subprocess.run(
        [sys.executable, "-m", "nox", "--noxfile", str(ROOT / "noxfile.py"), "-s",
         "run(tensorflow-cpu)", "--", "--output", str(out), "--jobs", "1", "--no-cache", "-k",
         "ops-dtypes-add-int8_int64-rank2-ordinary-eager or "
         "ops-dtypes-sqrt-float64-rank2-ordinary-eager"],
        cwd=ROOT, env=harness_env(tmp_path), capture_output=True, text=True, timeout=900,
        check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    run = load_run(next(out.glob("tensorflow-cpu*.json")))
    cells = {r.case: (r.observed.dtype, r.verdict.status) for r in run.results
             if r.case.startswith("ops-dtypes-")}
    assert cells == {"ops-dtypes-add-int8_int64-rank2-ordinary-eager": ("int64", "matched"),
                     "ops-dtypes-sqrt-float64-rank2-ordinary-eager": ("float64", "matched")}
