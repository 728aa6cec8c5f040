"""The NumPy references of pooling, `Dense`, attention, the masked loss and one training step.

Conventions as in `matrix.oracle.recurrent`: ``x`` is ``(batch, timesteps, features)``, ``mask``
``(batch, timesteps)`` bool or None.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from matrix.oracle.arrays import AnyArray, BoolArray, FloatArray, as_float64
from matrix.oracle.lookup import lookup
from matrix.oracle.recurrent import check_sequence


def global_average_pooling_1d(x: AnyArray, mask: AnyArray | None) -> FloatArray:
    """Averages over the valid steps: `keras.layers.GlobalAveragePooling1D` with a mask.

    Keras computes ``sum(where(mask, x, 0)) / sum(mask)`` over the steps axis
    (keras/src/layers/pooling/global_average_pooling1d.py, `call`), so a row with no valid step
    is ``0 / 0``: NaN. This reference gives the same NaN, without a NumPy RuntimeWarning.

    Args:
        x: Inputs, shape ``(batch, timesteps, features)``.
        mask: Valid steps, bool, shape ``(batch, timesteps)``, or ``None`` for all valid.

    Returns:
        float64, shape ``(batch, features)``; NaN in the rows with no valid step.

    Raises:
        ValueError: If `x` is not rank 3 or `mask` is not ``(batch, timesteps)``.
    """
    xs, valid = check_sequence(x, mask)
    keep = valid[:, :, np.newaxis]
    total = np.where(keep, xs, 0.0).sum(axis=1)
    count = keep.sum(axis=1, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        result: FloatArray = total / count
    return result


def global_max_pooling_1d(x: AnyArray, mask: AnyArray | None) -> FloatArray:
    """Takes the maximum over the valid steps: the masked semantics of max pooling.

    Keras differs: `keras.layers.GlobalMaxPooling1D.call` takes no mask and computes
    ``ops.max(inputs, axis=1)`` over every step (keras/src/layers/pooling/global_max_pooling1d.py),
    so after ``Embedding(mask_zero=True)`` the padded steps (the embedding of id 0) take part in
    the maximum, and the mask is dropped silently. Calling this function with ``mask=None`` gives
    what Keras computes.

    Args:
        x: Inputs, shape ``(batch, timesteps, features)``.
        mask: Valid steps, bool, shape ``(batch, timesteps)``, or ``None`` for all valid.

    Returns:
        float64, shape ``(batch, features)``; ``-inf`` (the maximum of an empty set) in the rows
        with no valid step.

    Raises:
        ValueError: If `x` is not rank 3 or `mask` is not ``(batch, timesteps)``.
    """
    xs, valid = check_sequence(x, mask)
    result: FloatArray = np.where(valid[:, :, np.newaxis], xs, -np.inf).max(axis=1)
    return result



def dense(x: AnyArray, kernel: AnyArray, bias: AnyArray) -> FloatArray:
    """`keras.layers.Dense` with no activation: ``x @ kernel + bias`` on the last axis.

    Args:
        x: Inputs, shape ``(..., features)``.
        kernel: ``(features, units)``.
        bias: ``(units,)``.

    Returns:
        float64, shape ``(..., units)``.
    """
    xs, k, b = as_float64(x, kernel, bias)
    result: FloatArray = xs @ k + b
    return result


def masked_softmax(scores: FloatArray, allowed: BoolArray | None) -> FloatArray:
    """Softmax over the last axis where `allowed`; a row with nothing allowed is uniform.

    Keras adds -1e9 to the disallowed scores (keras/src/layers/activations/softmax.py and
    layers/attention/attention.py), which in float32 makes a fully disallowed row uniform; such
    rows belong to padded queries, whose outputs the masked consumers below ignore anyway.
    """
    if allowed is not None:
        none = ~allowed.any(axis=-1, keepdims=True)
        scores = np.where(allowed | none, scores, -np.inf)
        scores = np.where(none, 0.0, scores)
    shifted = scores - scores.max(axis=-1, keepdims=True)
    weights = np.exp(shifted)
    result: FloatArray = weights / weights.sum(axis=-1, keepdims=True)
    return result


def dot_attention(x: AnyArray, mask: AnyArray | None) -> FloatArray:
    """`keras.layers.Attention()([x, x])` (self-attention, dot scores, no scale, no dropout).

    Scores ``x @ x^T`` over the valid value steps, a softmax, the weighted sum of values; the
    outputs of padded queries are zeroed, as Keras multiplies the result by the query mask
    (keras/src/layers/attention/attention.py, `call`).

    Args:
        x: Query = value = key, shape ``(batch, timesteps, features)``.
        mask: Valid steps, bool ``(batch, timesteps)``, or None.

    Returns:
        float64, shape ``(batch, timesteps, features)``.
    """
    xs, valid = check_sequence(x, mask)
    scores = np.einsum("bqd,bkd->bqk", xs, xs)
    allowed = np.broadcast_to(valid[:, np.newaxis, :], scores.shape) if mask is not None else None
    out = np.einsum("bqk,bkd->bqd", masked_softmax(scores, allowed), xs)
    result: FloatArray = out * valid[:, :, np.newaxis]
    return result


def multi_head_attention(x: AnyArray, mask: AnyArray | None, weights: Sequence[AnyArray]
                         ) -> FloatArray:
    """`keras.layers.MultiHeadAttention(num_heads, key_dim)(x, x)`, no dropout.

    The attention mask is ``query_mask[:, :, None] & value_mask[:, None, :]``, as Keras builds
    it from the inputs' masks; scores are scaled by ``1 / sqrt(key_dim)``.

    Args:
        x: Query = value = key, ``(batch, timesteps, features)``.
        mask: Valid steps ``(batch, timesteps)`` or None.
        weights: In Keras's order: the query, key and value projections (kernel
            ``(features, heads, key_dim)``, bias ``(heads, key_dim)``), then the output
            projection (kernel ``(heads, key_dim, features)``, bias ``(features,)``), per
            keras/src/layers/attention/multi_head_attention.py.

    Returns:
        float64, shape ``(batch, timesteps, features)``.
    """
    xs, valid = check_sequence(x, mask)
    wq, bq, wk, bk, wv, bv, wo, bo = as_float64(*weights)
    q = np.einsum("btd,dhk->bthk", xs, wq) + bq
    k = np.einsum("btd,dhk->bthk", xs, wk) + bk
    v = np.einsum("btd,dhk->bthk", xs, wv) + bv
    scores = np.einsum("bqhk,bshk->bhqs", q, k) / np.sqrt(q.shape[-1])
    allowed = None
    if mask is not None:
        pair = valid[:, :, np.newaxis] & valid[:, np.newaxis, :]
        allowed = np.broadcast_to(pair[:, np.newaxis], scores.shape)
    attn = masked_softmax(scores, allowed)
    context = np.einsum("bhqs,bshk->bqhk", attn, v)
    result: FloatArray = np.einsum("bqhk,hkd->bqd", context, wo) + bo
    return result


def masked_sparse_categorical_crossentropy(logits: AnyArray, labels: AnyArray,
                                           mask: AnyArray | None) -> FloatArray:
    """The loss `Model.fit` reports for `SparseCategoricalCrossentropy(from_logits=True)`.

    ``-log softmax(logits)[label]`` per timestep, averaged over the timesteps the Keras mask
    keeps (all of them without a mask): Keras gives masked entries weight 0 and rescales the
    rest by ``total / valid`` under "sum_over_batch_size" (keras/src/losses/loss.py,
    `apply_mask`), so the mean runs over the valid timesteps only. No valid timestep: 0.

    Args:
        logits: ``(batch, steps, classes)``.
        labels: ``(batch, steps)``, whole numbers.
        mask: bool ``(batch, steps)`` or None.

    Returns:
        float64 scalar ``()``.

    Raises:
        IndexError: a kept label outside ``[0, classes)``.
    """
    x = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels).astype(np.int64)
    keep = np.ones(y.shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    bad = keep & ((y < 0) | (y >= x.shape[-1]))
    if np.any(bad):
        raise IndexError(f"labels must be in [0, {x.shape[-1]}). "
                         f"Received: labels={y[bad].tolist()}")
    shifted = x - x.max(axis=-1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    picked = -np.take_along_axis(log_p, np.where(keep, y, 0)[..., np.newaxis], axis=-1)[..., 0]
    if not np.any(keep):
        return np.asarray(0.0)
    return np.asarray(picked[keep].mean())


def sgd_step_mse(table: AnyArray, ids: AnyArray, learning_rate: float,
                 l2: float = 0.0, non_negative: bool = False) -> FloatArray:
    """The embedding table after one SGD step on the mean squared error to a zero target.

    The model is ``Embedding`` alone, the loss ``mean((table[ids] - 0) ** 2)`` over every output
    element (Keras's "mse" then "sum_over_batch_size"), plus ``l2 * sum(table ** 2)`` for
    `keras.regularizers.L2(l2)`. A row never looked up moves only by the regularizer; with
    `non_negative` the updated table is clipped at 0 (`keras.constraints.NonNeg`, applied after
    the optimizer step).

    Args:
        table: ``(input_dim, output_dim)``.
        ids: ids of any shape; validated by :func:`lookup`.
        learning_rate: SGD's learning rate.
        l2: L2 regularization factor.
        non_negative: apply the NonNeg constraint.

    Returns:
        float64 ``(input_dim, output_dim)``.

    Raises:
        TypeError, IndexError: as :func:`lookup`.
    """
    rows = lookup(table, ids)
    index = np.asarray(ids).astype(np.int64)
    grad = np.zeros(np.asarray(table).shape, dtype=np.float64)
    np.add.at(grad, index.reshape(-1), (2.0 * rows / rows.size).reshape(-1, rows.shape[-1]))
    base = np.asarray(table, dtype=np.float64)
    grad += 2.0 * l2 * base
    result: FloatArray = base - learning_rate * grad
    if non_negative:
        result = np.maximum(result, 0.0)
    return result
