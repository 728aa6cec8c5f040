"""The NumPy references of the index ops of `keras.ops`: NumPy's semantics, which the Keras ops
API mirrors (`take`, `take_along_axis`, `one_hot`, `multi_hot`, `segment_sum`, `segment_max`,
`bincount`), with an index outside its range refused.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from matrix.oracle.arrays import AnyArray, FloatArray, preview


def _index_array(indices: AnyArray, what: str) -> npt.NDArray[np.int64]:
    """Integer indices, refusing fractional and non-numeric ones as NumPy's `take` does.

    Raises:
        TypeError: a float or other non-integer dtype (NumPy refuses to cast it "safely").
    """
    index = np.asarray(indices)
    if index.dtype.kind not in ("i", "u", "b"):  # NumPy casts bool indices to 0 and 1
        raise TypeError(f"{what} must be integers. Received: dtype={index.dtype}")
    return index.astype(np.int64)


def take(x: AnyArray, indices: AnyArray, axis: int | None = None) -> FloatArray:
    """`keras.ops.take(x, indices, axis)`: NumPy's `take` (negative indices count from the end).

    Raises:
        TypeError: non-integer indices. IndexError: an index outside ``[-n, n)``.
    """
    index = _index_array(indices, "`indices`")
    values = np.asarray(x, dtype=np.float64)
    size = values.size if axis is None else values.shape[axis]
    bad = (index < -size) | (index >= size)
    if np.any(bad):
        raise IndexError(f"indices must be in [-{size}, {size}). Received: "
                         f"indices={preview(index[bad])}")
    result: FloatArray = np.take(values, index, axis=axis)
    return result


def take_along_axis(x: AnyArray, indices: AnyArray, axis: int) -> FloatArray:
    """`keras.ops.take_along_axis(x, indices, axis)`: NumPy's `take_along_axis`.

    Raises:
        TypeError: non-integer indices. IndexError: an index outside ``[-n, n)``.
    """
    index = _index_array(indices, "`indices`")
    values = np.asarray(x, dtype=np.float64)
    size = values.shape[axis]
    bad = (index < -size) | (index >= size)
    if np.any(bad):
        raise IndexError(f"indices must be in [-{size}, {size}). Received: "
                         f"indices={preview(index[bad])}")
    result: FloatArray = np.take_along_axis(values, index, axis=axis)
    return result


def one_hot(x: AnyArray, num_classes: int) -> FloatArray:
    """`keras.ops.one_hot(x, num_classes)`: a row of zeros for an id outside ``[0, n)``.

    Keras documents no rule for such ids; this takes the one of `tf.one_hot` and
    `jax.nn.one_hot` ("indices out of range give a row of zeros"), which Keras's TensorFlow
    and JAX backends call. Output float, shape ``x.shape + (num_classes,)``.
    """
    index = _index_array(x, "`x`")
    result: FloatArray = (index[..., np.newaxis] == np.arange(num_classes)).astype(np.float64)
    return result


def multi_hot(x: AnyArray, num_classes: int) -> FloatArray:
    """`keras.ops.multi_hot(x, num_classes)`: 1 for each class present on the last axis.

    Ids outside ``[0, num_classes)`` add nothing (the `one_hot` rule). Output float, shape
    ``x.shape[:-1] + (num_classes,)``.
    """
    result: FloatArray = one_hot(x, num_classes).max(axis=-2)
    return result


def _segments(segment_ids: AnyArray, num_segments: int) -> npt.NDArray[np.int64]:
    ids = _index_array(segment_ids, "`segment_ids`")
    bad = (ids < 0) | (ids >= num_segments)
    if np.any(bad):
        raise IndexError(f"segment_ids must be in [0, num_segments={num_segments}). "
                         f"Received: segment_ids={preview(ids[bad])}")
    return ids


def segment_sum(data: AnyArray, segment_ids: AnyArray, num_segments: int) -> FloatArray:
    """`keras.ops.segment_sum(data, segment_ids, num_segments)`: sums of rows by segment.

    Raises:
        IndexError: a segment id outside ``[0, num_segments)`` (backends disagree: TensorFlow
            drops negative ids, JAX drops every such id; this reference refuses them).
    """
    ids = _segments(segment_ids, num_segments)
    values = np.asarray(data, dtype=np.float64)
    out = np.zeros((num_segments, *values.shape[1:]))
    np.add.at(out, ids, values)
    return out


def segment_max(data: AnyArray, segment_ids: AnyArray, num_segments: int) -> FloatArray:
    """`keras.ops.segment_max(...)`: maxima of rows by segment (every segment non-empty).

    Raises:
        IndexError: as :func:`segment_sum`. ValueError: a segment with no row (backends fill
            it differently: `-inf` or the dtype's lowest value).
    """
    ids = _segments(segment_ids, num_segments)
    values = np.asarray(data, dtype=np.float64)
    if len(set(ids.tolist())) != num_segments:
        raise ValueError("every segment must hold a row; empty segments are not modelled")
    out = np.full((num_segments, *values.shape[1:]), -np.inf)
    np.maximum.at(out, ids, values)
    return out


def bincount(x: AnyArray, minlength: int = 0) -> FloatArray:
    """`keras.ops.bincount(x, minlength=...)` of a 1-D or a batched 2-D tensor of counts.

    Raises:
        TypeError: non-integer values. ValueError: a negative value (NumPy refuses it).
    """
    index = _index_array(x, "`x`")
    if np.any(index < 0):
        raise ValueError(f"bincount takes non-negative values. Received: "
                         f"x={preview(index[index < 0])}")
    length = max(minlength, int(index.max()) + 1 if index.size else 0)
    if index.ndim == 1:
        return np.bincount(index, minlength=length).astype(np.float64)
    return np.stack([np.bincount(row, minlength=length) for row in index]).astype(np.float64)
