"""Check a user's saved model across backends: the first layer where they disagree, and why.

`nox -s check -- MODEL.keras INPUTS.npz [--environments tensorflow-cpu jax-cpu torch-cpu]`
runs `matrix/run/check_model.py` in each environment's virtualenv (the `run` session's own,
`.nox/run-<environment>`, when its install stamp is there; otherwise `.nox/check-<environment>`
installed from the same pins file), which calls every layer of the model eagerly, in graph
order, and records its output and mask. This module compares them across backends, with no
NumPy reference: **backends agree within the dtype's tolerance**, absolute plus relative:
`|a - b| <= atol + rtol * max(|a|, |b|)` at every position, with `atol` from
`matrix.oracle.tolerance.TOLERANCES`, kind `recurrent` (float32 1e-5, float16 1e-2, ...) and `rtol`
from `RELATIVE_TOLERANCES` (float32 1e-5, float16 1e-2, bfloat16 3e-2, float64 1e-10);
integer and bool outputs and masks exactly. A layer disagrees on `load` (the model loads on
some backends only), `error` (raises on some, or with another error type), `shape`, `dtype`,
`NaN` (another NaN count, or NaN in different places), `values` (past the tolerance) or
`mask`. A model that loads on no backend is no disagreement: the report says so, with the
reason they share. The report (terminal, `check-<model>.md`, `.html` (from
`matrix/templates/check.html.j2`) and `.json` in the ignored `reports/local/check/`) names the
first disagreeing layer, how each backend behaved there, and the rows of the compatibility table
(`compatibility.json`: same layer class and input dtype, masked or not) that may explain it.
Every string that comes from the model file or a backend (layer and class names, error
messages) is one clean line in every format: ANSI escapes and control characters removed
(`plain`), Markdown's `|`, backticks, `<` and `>` escaped in the `.md`, autoescaped HTML.

Bad input is refused before any backend runs, in one line with exit status 2: a file that is
not a `.keras` archive, inputs that are not an `.npz` or do not match the outer model's inputs
(names, count, rank or fixed dimensions), inputs whose `.npy` headers declare more than
`INPUTS_LIMIT_BYTES` (1 GiB, read from the headers only), a model holding custom objects without
`--custom-objects module.py`, a custom-objects file that raises on import (imported once in
the first environment's interpreter), an unknown environment, fewer than two distinct
environments. Exit status otherwise: 0 the backends agree, 1 they disagree, 3 the model loads
on no backend.

Modules: `inputs` (the checks before any backend runs, and `plain`), `workers` (each
environment's interpreter and run), `compare` (layer by layer, and the rows that may explain
a disagreement), `render` (the reports), `cli` (`python -m matrix.check`).
"""

from __future__ import annotations

from matrix.check.cli import main
from matrix.check.compare import LayerCheck, compare, explaining_rows, loads_nowhere
from matrix.check.inputs import (
    INPUTS_LIMIT_BYTES,
    CheckError,
    check_inputs,
    custom_classes,
    model_inputs,
)
from matrix.check.render import summary
from matrix.check.workers import python_for

__all__ = [
    "INPUTS_LIMIT_BYTES",
    "CheckError",
    "LayerCheck",
    "check_inputs",
    "compare",
    "custom_classes",
    "explaining_rows",
    "loads_nowhere",
    "main",
    "model_inputs",
    "python_for",
    "summary",
]
