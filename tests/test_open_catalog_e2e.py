"""End-to-end: a user catalog of Keras calls no record models (issue 24), on real backends.

`tests/data/open_catalog.py` holds the issue's examples: `ops.floor_divide` of int32 by zero,
`ops.cumsum` of int8 that overflows (and `ops.add` of int8 and uint8), `Dense(4,
dtype="float64")` after an Embedding,
`ops.digitize` with constant bins under `predict`, and `TextVectorization` with a
`standardize=` callable from the catalog. They run on TensorFlow, JAX and NumPy on the CPU,
and the report judges each against the op table's NumPy reference where it has one, else by
agreement across them. What each backend does is what Keras
3.15.1 with this project's pins did here (2026-12-04); a new release may change a row, and
then this test says which.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from harness import harness_env

from matrix.results.compact import load_matrix

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[1]
CATALOG = ROOT / "tests" / "data" / "open_catalog.py"
ENVIRONMENTS = ("tensorflow-cpu", "jax-cpu", "numpy-cpu")


def _nox(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nox", "--noxfile", str(ROOT / "noxfile.py"),
                           *args], cwd=ROOT, env=harness_env(root), capture_output=True,
                          text=True, timeout=1800, check=False)


def test_an_open_catalog_runs_and_is_judged_by_agreement(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    for env in ENVIRONMENTS:
        done = _nox(tmp_path, "-s", f"run({env})", "--", "--output", str(runs), "--jobs", "1",
                    "--catalog", str(CATALOG), "-k", "open-")
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    done = _nox(tmp_path, "-s", "report", "--", "--runs", str(runs), "--out",
                str(tmp_path / "report"))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    matrix = load_matrix(tmp_path / "report" / "compatibility.json")
    cells = {(r.case, r.environment): r for r in matrix.results
             if r.environment in ENVIRONMENTS}

    def outcomes(case: str) -> set[str]:
        return {cells[(case, env)].outcome.value for env in ENVIRONMENTS}

    def detail(case: str) -> str:
        return str(cells[(case, "jax-cpu")].verdict.detail)

    # Integer division by zero: TensorFlow refuses, JAX and NumPy return different numbers.
    assert outcomes("open-floor_divide-int32-eager") == {"disagreed"}
    assert detail("open-floor_divide-int32-eager").startswith(
        "no reference; backends disagree: tensorflow-cpu raises InvalidArgumentError; ")
    assert cells[("open-floor_divide-int32-eager", "numpy-cpu")].observed.fingerprint \
        == {"values": ["0", "0", "0"]}
    # The op table's references: int8 cumsum wraps in int8 (Keras keeps the dtype), and
    # int8 + uint8 is int16 (Keras's type promotion); every backend follows both.
    assert outcomes("open-cumsum-int8-eager") == {"passed"}
    assert cells[("open-cumsum-int8-eager", "jax-cpu")].observed.dtype == "int8"
    assert outcomes("open-add-int8_uint8-eager") == {"passed"}
    assert cells[("open-add-int8_uint8-eager", "numpy-cpu")].observed.dtype == "int16"
    # dtype="float64": TensorFlow computes in float64, JAX (no x64) and NumPy in float32.
    assert outcomes("open-dense_float64-eager") == {"disagreed"}
    assert cells[("open-dense_float64-eager", "tensorflow-cpu")].observed.dtype == "float64"
    assert outcomes("open-digitize-predict") == {"agreed"}
    # TextVectorization needs TensorFlow: the others raise ImportError.
    assert outcomes("open-text_vectorization-eager") == {"disagreed"}
    assert "raises ImportError" in detail("open-text_vectorization-eager")
    repro = next(c.repro for c in matrix.cases if c.id == "open-text_vectorization-eager")
    assert repro is not None
    assert "def lower(text: object) -> object:" in repro
    assert "standardize=lower" in repro
    # The page's compatibility table shows the disagreement; the grid's data is a file.
    html = (tmp_path / "report" / "compatibility.html").read_text("utf-8")
    table = html.split('id="compat-table"', 1)[1].split("</table>", 1)[0]
    assert 'class="verdict o-disagreed' in table
    assert list((tmp_path / "report" / "compatibility-data").glob("*.js"))


def test_a_name_the_installed_keras_lacks_is_refused_with_the_closest(tmp_path: Path) -> None:
    catalog = tmp_path / "typo.py"
    catalog.write_text(
        "from cases import Case, Step, Tensor\n"
        "CASES = [Case(group='typo', description='d', axes={'api': 'x', 'mode': 'eager'},\n"
        "              inputs={'x': Tensor(dtype='int32', values=[1])},\n"
        "              steps=(Step('ops.floor_divid', inputs=('x', 'x'), output='q'),),\n"
        "              mode='eager')]\n", encoding="utf-8")
    done = _nox(tmp_path, "-s", "run(jax-cpu)", "--", "--output", str(tmp_path / "runs"),
                "--jobs", "1", "--catalog", str(catalog), "-k", "typo")
    assert done.returncode != 0
    assert "keras.ops.floor_divid is not a callable of Keras 3.15.1; closest: " \
           "ops.floor_divide" in done.stdout + done.stderr


NUMPY_PYTHON = ROOT / ".nox" / "run-numpy-cpu" / "bin" / "python"


def test_the_op_tables_promotion_is_keras_result_type(tmp_path: Path) -> None:
    """`cases.op_table.result_type` gives what the installed Keras's does, for every pair of
    the 13 dtypes the table holds (169 pairs)."""
    # The numpy backend's virtualenv, installed when missing (a fresh clone): never skipped.
    done = _nox(tmp_path, "-s", "run(numpy-cpu)", "--install-only")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert NUMPY_PYTHON.exists(), NUMPY_PYTHON
    script = ("import itertools, keras\nfrom cases.op_table import result_type, table\n"
              "ds = [d for d in table()['lattice'] if d not in table()['weak']]\n"
              "pairs = list(itertools.product(ds, ds))\n"
              "bad = [(a, b) for a, b in pairs if result_type(a, b) != "
              "keras.backend.result_type(a, b)]\nprint(len(pairs), bad)\n")
    done = subprocess.run([str(NUMPY_PYTHON), "-c", script], cwd=ROOT, capture_output=True,
                          text=True, env={**harness_env(ROOT), "KERAS_BACKEND": "numpy"},
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "169 []"
