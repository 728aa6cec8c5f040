"""What every NumPy reference shares: array types, the reference program's `Value`, the seeded
weights every backend is given, and small helpers.

The oracle imports nothing but NumPy, the standard library and the catalog (`cases/`), never Keras
or a framework: it must not share code with what it judges. Every float computation is done in
float64; callers cast.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
AnyArray = npt.NDArray[Any]


@dataclass(frozen=True)
class Value:
    """A value of the reference program: the array and the Keras mask that travels with it.

    Attributes:
        array: any shape; float64 for computed floats.
        mask: bool, the array's shape without its last axis (Keras's `_keras_mask`), or None.
    """

    array: AnyArray
    mask: AnyArray | None = None


def seeded_weights(
    shapes: Sequence[tuple[int, ...]], seed: int, scale: float = 0.5
) -> list[npt.NDArray[np.float32]]:
    """Draws the weights every backend is given, so all compute with the same numbers.

    One `np.random.default_rng(seed)` stream draws, in order, one array per shape uniformly in
    ``[-scale, scale)`` (in float64, then rounded to the nearest float32). Every backend's case
    calls this with the same seed in the same NumPy, so all see the same numbers. Across NumPy
    releases the PCG64 bit stream is fixed, but NEP 19 lets `Generator` methods change their
    output in a feature release; tests/test_reference.py pins one value to notice that.

    Args:
        shapes: The shapes, in the order the layer lists ``layer.weights``
            (see `cases.subjects.rnn_weight_shapes`).
        seed: The seed of the stream.
        scale: Half the width of the interval; must be positive and finite.

    Returns:
        One float32 array per shape, in order.

    Raises:
        ValueError: If `scale` is not positive and finite, or a shape has a negative dimension.
    """
    if not (np.isfinite(scale) and scale > 0):
        raise ValueError(f"`scale` must be positive and finite. Received: scale={scale}")
    rng = np.random.default_rng(seed)
    return [rng.uniform(-scale, scale, size=shape).astype(np.float32) for shape in shapes]


def preview(values: AnyArray, limit: int = 5) -> str:
    """Formats at most `limit` values of an array for an error message."""
    flat = values.reshape(-1)
    shown = ", ".join(str(v) for v in flat[:limit].tolist())
    more = ", ..." if flat.size > limit else ""
    return f"[{shown}{more}]" if values.ndim else shown



def as_float64(*arrays: AnyArray) -> tuple[FloatArray, ...]:
    """Casts each array to float64."""
    return tuple(np.asarray(a, dtype=np.float64) for a in arrays)


def sigmoid(z: FloatArray) -> FloatArray:
    """The logistic function, ``1 / (1 + exp(-z))``, Keras's default recurrent activation."""
    with np.errstate(over="ignore"):  # exp(-z) overflows to inf for z << 0; the result is 0.
        result: FloatArray = 1.0 / (1.0 + np.exp(-z))
    return result
