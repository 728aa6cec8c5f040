"""How close is close enough: `TOLERANCES` by kind of computation and Keras dtype name,
`tolerance`, and `compare` (the error measure of an observed output against the reference).
"""

from __future__ import annotations

from typing import Final

import numpy as np

from matrix.oracle.arrays import AnyArray

# Absolute tolerances, by kind of computation and Keras dtype name. Outputs are O(1): weights are
# drawn in [-0.5, 0.5) and the recurrent outputs are bounded by tanh.
TOLERANCES: Final[dict[str, dict[str, float]]] = {
    # A lookup copies values: in float32 and float64 any difference at all is a bug. A float16
    # or bfloat16 output (a mixed dtype policy, or floatx bfloat16) is the float32 weight
    # rounded once: half a unit in the last place of a value below 0.5 in magnitude is
    # 2**-12 (float16) and 2**-9 (bfloat16).
    "lookup": {"float16": 2.5e-4, "bfloat16": 2e-3, "float32": 0.0, "float64": 0.0},
    # A mask is booleans: exact.
    "mask": {"float16": 0.0, "bfloat16": 0.0, "float32": 0.0, "float64": 0.0},
    # A sum over a few steps then a division: a few units in the last place of the dtype
    # (float32 eps 1.2e-7, float16 eps 9.8e-4, bfloat16 eps 7.8e-3). float64 stays tight so that a
    # backend silently computing float64 in float32 (JAX without x64) is caught.
    "pooling": {"float16": 1e-2, "bfloat16": 3e-2, "float32": 1e-6, "float64": 1e-12},
    # Matmuls, sigmoid and tanh, compounded over the steps: looser than pooling, and vendor math
    # libraries (oneDNN, XLA, Eigen) may fuse and reorder the float32 sums.
    "recurrent": {"float16": 1e-2, "bfloat16": 3e-2, "float32": 1e-5, "float64": 1e-10},
    # Projections, a softmax and a weighted sum, then a masked mean: like the recurrent kind.
    "attention": {"float16": 1e-2, "bfloat16": 3e-2, "float32": 1e-5, "float64": 1e-10},
    # One SGD step on the embedding table: a scatter-add of small gradients, then a subtraction.
    "training": {"float16": 1e-3, "bfloat16": 1e-2, "float32": 1e-6, "float64": 1e-12},
    # `Embedding.quantize("int8")`: each row is scaled by its absolute maximum over 127 and
    # rounded, so an output is off by at most half a step: 0.5 / 127 / 2 < 2e-3 for weights
    # in [-0.5, 0.5) (keras/src/quantizers/quantizers.py, abs_max_quantize).
    "quantized": {"float16": 1e-2, "bfloat16": 3e-2, "float32": 2e-3, "float64": 2e-3},
}


def tolerance(kind: str, dtype: str) -> float:
    """Gives the absolute tolerance for a kind of computation in a Keras dtype.

    Args:
        kind: ``"lookup"``, ``"mask"``, ``"pooling"`` or ``"recurrent"``.
        dtype: A Keras dtype name: ``"float16"``, ``"bfloat16"``, ``"float32"`` or ``"float64"``.

    Returns:
        The largest absolute error that still counts as a match.

    Raises:
        KeyError: If `kind` or `dtype` has no tolerance written down.
    """
    if kind not in TOLERANCES:
        raise KeyError(
            f"No tolerance for this kind; expected one of {sorted(TOLERANCES)}. "
            f"Received: kind={kind!r}"
        )
    by_dtype = TOLERANCES[kind]
    if dtype not in by_dtype:
        raise KeyError(
            f"No tolerance for this dtype of kind {kind!r}; expected one of {sorted(by_dtype)}. "
            f"Received: dtype={dtype!r}"
        )
    return by_dtype[dtype]


def compare(expected: AnyArray, observed: AnyArray) -> tuple[float, int]:
    """Measures how far an observed output is from the reference.

    The error is computed in float64. Where both are NaN the error is 0 (Keras's own NaN, e.g. an
    all-masked average); where exactly one is NaN it is ``inf``; equal infinities count as 0.

    Args:
        expected: The reference output, any shape.
        observed: The backend's output, same shape, any real or bool dtype.

    Returns:
        ``(max_abs_error, nan_count)``: the largest absolute error (0.0 for empty arrays) and how
        many NaNs `observed` holds.

    Raises:
        ValueError: If the shapes differ.
    """
    want = np.asarray(expected, dtype=np.float64)
    got = np.asarray(observed, dtype=np.float64)
    if want.shape != got.shape:
        raise ValueError(
            "Expected and observed outputs must have the same shape. "
            f"Received: expected.shape={want.shape}, observed.shape={got.shape}"
        )
    want_nan, got_nan = np.isnan(want), np.isnan(got)
    with np.errstate(invalid="ignore"):  # inf - inf is NaN; equal values are set to 0 below.
        error = np.abs(want - got)
    error = np.where(want == got, 0.0, error)
    error = np.where(want_nan & got_nan, 0.0, error)
    error = np.where(want_nan ^ got_nan, np.inf, error)
    max_error = float(error.max()) if error.size else 0.0
    return max_error, int(got_nan.sum())
