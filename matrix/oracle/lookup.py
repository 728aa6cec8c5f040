"""The NumPy reference of a lookup (`keras.layers.Embedding`) and of its padding mask.

Ids are judged by value, never wrapped; see :func:`lookup`.
"""

from __future__ import annotations

import numpy as np

from matrix.oracle.arrays import AnyArray, BoolArray, FloatArray, preview


def lookup(weights: AnyArray, ids: AnyArray) -> FloatArray:
    """Looks ids up in an embedding table: the `keras.layers.Embedding` contract.

    The contract is ids in ``[0, input_dim)``: the Keras doc of `Embedding` says it "Turns
    nonnegative integers (indexes) into dense vectors of fixed size"
    (keras/src/layers/core/embedding.py). Note that `keras.ops.take`, which `Embedding.call` uses,
    and NumPy indexing both wrap a negative id (``-1`` is the last row); this reference deliberately
    does not, so a backend that returns the last row for ``-1`` is recorded as having diverged.

    Ids are judged by value, not by dtype: a float or bool tensor whose values are whole numbers
    (``1.0``, ``True``) holds valid ids, since converting it loses nothing, and Keras documents no
    dtype requirement. A fractional id (``1.5``) is not an index at all, so it is refused: the
    article this project grew from claims a TypeError there, and a backend that truncates
    ``1.5`` to row 1 has silently diverged.

    Args:
        weights: The table, shape ``(input_dim, output_dim)``, any real dtype.
        ids: Ids, any shape ``ids.shape`` (rank 0 included), any integer, float or bool dtype;
            values far past the int32 range are judged by value, never wrapped.

    Returns:
        The rows, float64, shape ``ids.shape + (output_dim,)``. Values are copied exactly (every
        float16, bfloat16 and float32 value is exact in float64).

    Raises:
        ValueError: If `weights` is not rank 2.
        TypeError: If `ids` is not numeric, or holds a value that is not a whole number
            (fractional, NaN or infinite).
        IndexError: If any id is negative or ``>= input_dim``.
    """
    table = np.asarray(weights)
    if table.ndim != 2:
        raise ValueError(
            "Embedding weights must have shape (input_dim, output_dim). "
            f"Received: weights.shape={table.shape}"
        )
    index = np.asarray(ids)
    if index.dtype.kind == "b":
        index = index.astype(np.int64)
    elif index.dtype.kind == "f":
        whole = np.isfinite(index) & (np.floor(index) == index)
        if not np.all(whole):
            raise TypeError(
                "Embedding ids must be whole numbers. "
                f"Received: ids={preview(index[~whole])} of dtype {index.dtype}"
            )
        index = index.astype(np.int64)
    elif index.dtype.kind not in ("i", "u"):
        raise TypeError(
            "Embedding ids must be of a numeric dtype. "
            f"Received: ids.dtype={index.dtype} (ids={preview(index)})"
        )
    input_dim = table.shape[0]
    # Comparing with Python ints is exact for every integer dtype (NEP 50), uint64 included.
    out_of_range = (index < 0) | (index >= input_dim)
    if np.any(out_of_range):
        bad = index[out_of_range]
        raise IndexError(
            f"Embedding ids must be in the range [0, input_dim) with input_dim={input_dim}. "
            f"Received: ids={preview(bad)} ({bad.size} out of range)"
        )
    result: FloatArray = table.astype(np.float64)[index]
    return result


def padding_mask(ids: AnyArray) -> BoolArray:
    """Computes the padding mask of ids: what ``Embedding(mask_zero=True).compute_mask`` returns.

    Keras computes ``ops.not_equal(inputs, 0)`` (keras/src/layers/core/embedding.py,
    `compute_mask`).

    Args:
        ids: Ids of any shape and numeric dtype.

    Returns:
        ``ids != 0``, bool, shape ``ids.shape``: ``True`` where the step is valid.
    """
    result: BoolArray = np.asarray(np.asarray(ids) != 0, dtype=np.bool_)
    return result
