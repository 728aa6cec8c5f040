"""The NumPy references of the integer and mask path's records (`cases/subjects/`: ops.py,
losses.py, layers.py), by key: index ops, sparse losses and metrics, cells stacked by
`keras.layers.RNN`, attention, preprocessing lookups.

References follow NumPy where the Keras op mirrors a NumPy function, and the Keras docs
elsewhere; each record's `doc` says which. `REFERENCES` maps a record's key to its function.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from cases.model import NotModelled
from cases.subjects import SUBJECTS, cells
from matrix.oracle import index_ops
from matrix.oracle.arrays import AnyArray, Value
from matrix.oracle.layers import masked_softmax
from matrix.oracle.subject_refs import RNN_FUNCTIONS, Reference


def _op(function: Any) -> Any:
    """A reference calling `function(*inputs, **args)` on the inputs' arrays."""

    def run(args: Mapping[str, Any], inputs: Sequence[Value], w: Sequence[AnyArray],
            call: Mapping[str, Any]) -> Value:
        return Value(np.asarray(function(*(v.array for v in inputs), **args)))

    return run


def _argop(function: Any) -> Any:
    def run(args: Mapping[str, Any], inputs: Sequence[Value], w: Sequence[AnyArray],
            call: Mapping[str, Any]) -> Value:
        return Value(np.asarray(function(np.asarray(inputs[0].array, dtype=np.float64),
                                         **args)).astype(np.int64))

    return run


def _top_k(args: Mapping[str, Any], inputs: Sequence[Value], w: Sequence[AnyArray],
           call: Mapping[str, Any]) -> Value:
    x = np.asarray(inputs[0].array, dtype=np.float64)
    k = int(args.get("k", 5))
    order = np.argsort(-x, axis=-1, kind="stable")[..., :k]
    return Value((np.take_along_axis(x, order, axis=-1), order))  # type: ignore[arg-type]


def _searchsorted(args: Mapping[str, Any], inputs: Sequence[Value], w: Sequence[AnyArray],
                  call: Mapping[str, Any]) -> Value:
    return Value(np.searchsorted(np.asarray(inputs[0].array, dtype=np.float64),
                                 np.asarray(inputs[1].array, dtype=np.float64),
                                 side=args.get("side", "left")).astype(np.int64))


def _digitize(args: Mapping[str, Any], inputs: Sequence[Value], w: Sequence[AnyArray],
              call: Mapping[str, Any]) -> Value:
    return Value(np.digitize(np.asarray(inputs[0].array, dtype=np.float64),
                             np.asarray(args["bins"], dtype=np.float64)).astype(np.int64))


def _labels(labels: AnyArray, classes: int, rank: int) -> np.ndarray[Any, Any]:
    """Labels as int64 of the predictions' leading shape; Keras squeezes a trailing 1."""
    y = np.asarray(labels)
    if y.dtype.kind == "f" and not np.all(np.floor(y) == y):
        raise TypeError(f"labels must be whole numbers. Received: {y.tolist()}")
    if y.ndim == rank and y.shape[-1] == 1:
        y = y[..., 0]
    if y.ndim != rank - 1:
        raise ValueError(f"labels must have rank {rank - 1} (or a trailing axis of 1). "
                         f"Received: labels.shape={y.shape}")
    return y.astype(np.int64)


def _probabilities(preds: AnyArray, from_logits: bool) -> np.ndarray[Any, Any]:
    p = np.asarray(preds, dtype=np.float64)
    if from_logits:
        e = np.exp(p - p.max(axis=-1, keepdims=True))
        return np.asarray(e / e.sum(axis=-1, keepdims=True))
    return np.asarray(np.clip(p / p.sum(axis=-1, keepdims=True), 1e-7, 1 - 1e-7))


def _scce(args: Mapping[str, Any], inputs: Sequence[Value], w: Sequence[AnyArray],
          call: Mapping[str, Any]) -> Value:
    """`SparseCategoricalCrossentropy(from_logits, ignore_class)(y_true, y_pred)`.

    The mean of ``-log p[label]`` over the labels that are not `ignore_class` (Keras masks
    them and its `sum_over_batch_size` reduction rescales the mask: keras/src/losses/loss.py,
    `apply_mask`). A label outside ``[0, classes)`` is refused.
    """
    preds = np.asarray(inputs[1].array)
    p = _probabilities(preds, bool(args.get("from_logits", False)))
    y = _labels(inputs[0].array, preds.shape[-1], preds.ndim)
    ignore = args.get("ignore_class")
    valid = np.ones(y.shape, dtype=bool) if ignore is None else y != int(ignore)
    bad = valid & ((y < 0) | (y >= preds.shape[-1]))
    if np.any(bad):
        raise IndexError(f"labels must be in [0, {preds.shape[-1]}). "
                         f"Received: labels={y[bad].tolist()}")
    safe = np.where(valid, y, 0)
    losses = -np.log(np.take_along_axis(p, safe[..., np.newaxis], axis=-1)[..., 0])
    if not np.any(valid):
        return Value(np.asarray(0.0))
    return Value(np.asarray(losses[valid].mean()))


def _accuracy(args: Mapping[str, Any], inputs: Sequence[Value], w: Sequence[AnyArray],
              call: Mapping[str, Any]) -> Value:
    """`SparseCategoricalAccuracy`: the share of rows whose arg max is the label."""
    preds = np.asarray(inputs[1].array, dtype=np.float64)
    y = _labels(inputs[0].array, preds.shape[-1], preds.ndim)
    return Value(np.asarray((np.argmax(preds, axis=-1) == y).mean()))


def _top_k_accuracy(args: Mapping[str, Any], inputs: Sequence[Value], w: Sequence[AnyArray],
                    call: Mapping[str, Any]) -> Value:
    """`SparseTopKCategoricalAccuracy(k)`: the share of rows whose label is in the top k.

    A label outside ``[0, classes)`` is in no top k (it scores 0).
    """
    preds = np.asarray(inputs[1].array, dtype=np.float64)
    y = _labels(inputs[0].array, preds.shape[-1], preds.ndim)
    top = np.argsort(-preds, axis=-1, kind="stable")[..., : int(args.get("k", 5))]
    return Value(np.asarray(np.any(top == y[..., np.newaxis], axis=-1).mean()))


def _cell_alone(args: Mapping[str, Any], inputs: Sequence[Value], w: Sequence[AnyArray],
                call: Mapping[str, Any]) -> Value:
    raise NotModelled("a cell is modelled inside keras.layers.RNN only")


def _rnn(args: Mapping[str, Any], inputs: Sequence[Value], w: Sequence[AnyArray],
         call: Mapping[str, Any]) -> Value:
    """`RNN([cell, ...])`: the stacked cells step together; a masked step keeps every state.

    That equals running the cells one after the other over the whole sequence, each with
    the same mask and every step's output passed on (a masked step repeats the previous
    output, `zero_output_for_mask=False`), which is how this reference computes it.
    """
    if args.get("go_backwards"):
        raise NotModelled("RNN(go_backwards=True) over stacked cells is not modelled")
    mask = inputs[0].mask
    explicit = call.get("mask")
    if isinstance(explicit, Value):
        mask = np.asarray(explicit.array).astype(bool)
    x = inputs[0].array
    stacked = cells(args)
    offset = 0
    sequences = bool(args.get("return_sequences", False))
    for number, cell in enumerate(stacked):
        shapes, _ = SUBJECTS[cell.subject].weights(cell.args, [x.shape[-1]])  # type: ignore[misc]
        weights = w[offset: offset + len(shapes)]
        offset += len(shapes)
        last = number == len(stacked) - 1
        extra = {"reset_after": bool(cell.args.get("reset_after", True))} \
            if cell.subject == "layers.GRUCell" else {}
        function = RNN_FUNCTIONS[SUBJECTS[cell.subject].class_name.removesuffix("Cell")]
        x = function(x, mask, *weights,
                     return_sequences=sequences or not last, **extra)
    return Value(x, mask if sequences else None)


def _allowed(batch: int, tq: int, tv: int, q_mask: AnyArray | None, v_mask: AnyArray | None,
             attention_mask: AnyArray | None, causal: bool) -> np.ndarray[Any, Any] | None:
    """Which (query, key) pairs may attend: Keras ANDs every mask it is given
    (keras/src/layers/attention/multi_head_attention.py, `_compute_attention_mask`)."""
    allowed = None
    parts = []
    if q_mask is not None:
        parts.append(np.asarray(q_mask, dtype=bool)[:, :, np.newaxis])
    if v_mask is not None:
        parts.append(np.asarray(v_mask, dtype=bool)[:, np.newaxis, :])
    if causal:
        parts.append(np.tril(np.ones((tq, tv), dtype=bool))[np.newaxis])
    if attention_mask is not None:
        parts.append(np.asarray(attention_mask, dtype=bool))
    for part in parts:
        allowed = part if allowed is None else allowed & part
    return None if allowed is None else np.broadcast_to(allowed, (batch, tq, tv))


def _softmax(scores: AnyArray, allowed: AnyArray | None) -> np.ndarray[Any, Any]:
    """A masked softmax; a row with nothing allowed is uniform
    (`matrix.oracle.layers.masked_softmax`)."""
    return np.asarray(masked_softmax(scores, allowed))


def _mha(args: Mapping[str, Any], inputs: Sequence[Value], w: Sequence[AnyArray],
         call: Mapping[str, Any]) -> Value:
    """`MultiHeadAttention(num_heads, key_dim)(query, value, attention_mask=...,
    use_causal_mask=..., return_attention_scores=...)`: item 0 the output, item 1 the
    scores `(batch, heads, query_steps, value_steps)`."""
    query, value = inputs[0], inputs[1]
    wq, bq, wk, bk, wv, bv, wo, bo = (np.asarray(a, dtype=np.float64) for a in w)
    xq = np.asarray(query.array, dtype=np.float64)
    xv = np.asarray(value.array, dtype=np.float64)
    q = np.einsum("btd,dhk->bthk", xq, wq) + bq
    k = np.einsum("btd,dhk->bthk", xv, wk) + bk
    v = np.einsum("btd,dhk->bthk", xv, wv) + bv
    scores = np.einsum("bqhk,bshk->bhqs", q, k) / np.sqrt(q.shape[-1])
    explicit = call.get("attention_mask")
    allowed = _allowed(xq.shape[0], xq.shape[1], xv.shape[1], query.mask, value.mask,
                       None if not isinstance(explicit, Value) else explicit.array,
                       bool(call.get("use_causal_mask", False)))
    weights = _softmax(scores, None if allowed is None else allowed[:, np.newaxis])
    out = np.einsum("bqhk,hkd->bqd", np.einsum("bhqs,bshk->bqhk", weights, v), wo) + bo
    if call.get("return_attention_scores"):
        return Value((out, weights))  # type: ignore[arg-type] # a tuple: select with `item`
    return Value(out, query.mask)


def _dot_attention(args: Mapping[str, Any], inputs: Sequence[Value], w: Sequence[AnyArray],
                   call: Mapping[str, Any]) -> Value:
    """`Attention(score_mode=...)([query, value], use_causal_mask=...)`: no scale; outputs of
    padded queries are zeroed (keras/src/layers/attention/attention.py).

    Scores `(batch, Tq, Tv)`: `"dot"` is ``q . k``; `"concat"` is
    ``concat_score_weight * sum(tanh(q + k), axis=-1)`` over the feature axis, `q` and `k`
    broadcast against each other (`_calculate_scores`).
    """
    query, value = inputs[0], inputs[1]
    xq = np.asarray(query.array, dtype=np.float64)
    xv = np.asarray(value.array, dtype=np.float64)
    if args.get("score_mode", "dot") == "concat":
        weight = float(np.asarray(w[0], dtype=np.float64))
        scores = weight * np.tanh(xq[:, :, np.newaxis, :] + xv[:, np.newaxis, :, :]).sum(-1)
    else:
        scores = np.einsum("bqd,bkd->bqk", xq, xv)
    allowed = _allowed(xq.shape[0], xq.shape[1], xv.shape[1], None, value.mask, None,
                       bool(call.get("use_causal_mask", False)))
    out = np.einsum("bqk,bkd->bqd", _softmax(scores, allowed), xv)
    if query.mask is not None:
        out = out * np.asarray(query.mask, dtype=np.float64)[:, :, np.newaxis]
    return Value(out, query.mask)


def _lookup_table(args: Mapping[str, Any]) -> tuple[dict[Any, int], int]:
    """`IntegerLookup`/`StringLookup` ids: mask token 0 (if any), then the OOV indices, then
    the vocabulary in order (keras/src/layers/preprocessing/index_lookup.py)."""
    mask = args.get("mask_token")
    oov = int(args.get("num_oov_indices", 1))
    start = (1 if mask is not None else 0) + oov
    table = {token: start + i for i, token in enumerate(args["vocabulary"])}
    if mask is not None:
        table[mask] = 0
    return table, (1 if mask is not None else 0)


def _lookup(args: Mapping[str, Any], inputs: Sequence[Value], w: Sequence[AnyArray],
            call: Mapping[str, Any]) -> Value:
    table, oov_index = _lookup_table(args)
    if int(args.get("num_oov_indices", 1)) != 1:
        raise NotModelled("one OOV index is modelled")
    tokens = np.asarray(inputs[0].array)
    out = np.vectorize(lambda t: table.get(t.item() if hasattr(t, "item") else t, oov_index),
                       otypes=[np.int64])(tokens) if tokens.size else tokens.astype(np.int64)
    return Value(out)


def _hashing(args: Mapping[str, Any], inputs: Sequence[Value], w: Sequence[AnyArray],
             call: Mapping[str, Any]) -> Value:
    """`Hashing(num_bins, mask_value)` where the answer needs no hash function: one bin left
    besides the mask bin.

    Keras maps `mask_value` to 0 and every other value to ``1 + FarmHash64(str(value)) %
    (num_bins - 1)`` (keras/src/layers/preprocessing/hashing.py, `num_bins` "includes the
    mask_value bin"); with `num_bins=2` and a `mask_value` that is 0 or 1 whatever the hash.
    FarmHash Fingerprint64 is not in NumPy, so other bin counts are not modelled.
    """
    mask_value = args.get("mask_value")
    if mask_value is None or int(args["num_bins"]) != 2:
        raise NotModelled("Hashing is modelled with num_bins=2 and a mask_value only (the "
                          "bins need FarmHash Fingerprint64, which NumPy lacks)")
    x = np.asarray(inputs[0].array)
    masked = x == (mask_value.encode() if x.dtype.kind == "S" and isinstance(mask_value, str)
                   else mask_value)
    return Value(np.where(masked, 0, 1).astype(np.int64))


def _category_encoding(args: Mapping[str, Any], inputs: Sequence[Value], w: Sequence[AnyArray],
                       call: Mapping[str, Any]) -> Value:
    """`CategoryEncoding(num_tokens, output_mode)`: ids outside ``[0, num_tokens)`` refused
    (the layer checks them: keras/src/layers/preprocessing/category_encoding.py)."""
    ids = np.asarray(inputs[0].array)
    tokens = int(args["num_tokens"])
    index = ids.astype(np.int64)
    if np.any((index < 0) | (index >= tokens)):
        raise ValueError(f"inputs must be in [0, num_tokens={tokens}). "
                         f"Received: {index[(index < 0) | (index >= tokens)].tolist()}")
    mode = args.get("output_mode", "multi_hot")
    hot = (index[..., np.newaxis] == np.arange(tokens)).astype(np.float64)
    if mode == "one_hot":  # (batch,) ids -> (batch, num_tokens)
        return Value(hot)
    if mode == "count":  # (batch, k) ids -> (batch, num_tokens)
        return Value(hot.sum(axis=-2))
    return Value(hot.max(axis=-2))


_STRIP = re.compile(r"[!\"#$%&()\*\+,\-\./:;<=>?@\[\\\]\^_`{|}~']")


def _text_vectorization(args: Mapping[str, Any], inputs: Sequence[Value], w: Sequence[AnyArray],
                        call: Mapping[str, Any]) -> Value:
    """`TextVectorization(vocabulary, output_sequence_length)`, defaults otherwise: lower
    case, punctuation stripped, split on whitespace, 0 for padding, 1 for OOV, then the
    vocabulary (keras/src/layers/preprocessing/text_vectorization.py)."""
    table = {token: 2 + i for i, token in enumerate(args["vocabulary"])}
    length = args.get("output_sequence_length")
    rows = []
    for text in np.asarray(inputs[0].array).reshape(-1).tolist():
        words = _STRIP.sub("", str(text).lower()).split()
        rows.append([table.get(word, 1) for word in words])
    width = int(length) if length is not None else max((len(r) for r in rows), default=0)
    out = np.zeros((len(rows), width), dtype=np.int64)
    for number, row in enumerate(rows):
        kept = row[:width]
        out[number, : len(kept)] = kept
    return Value(out)


REFERENCES: dict[str, Reference] = {
    **{f"op.{f.__name__}": _op(f) for f in (
        index_ops.take, index_ops.take_along_axis, index_ops.one_hot, index_ops.multi_hot,
        index_ops.segment_sum, index_ops.segment_max, index_ops.bincount)},
    **{f"argop.{f.__name__}": _argop(f) for f in (np.argmax, np.argmin, np.argsort)},
    "top_k": _top_k, "searchsorted": _searchsorted, "digitize": _digitize,
    "sparse_categorical_crossentropy": _scce, "sparse_categorical_accuracy": _accuracy,
    "sparse_top_k_categorical_accuracy": _top_k_accuracy,
    "cell_alone": _cell_alone, "rnn.stacked": _rnn,
    "multi_head_attention": _mha, "attention": _dot_attention,
    "lookup": _lookup, "hashing": _hashing, "category_encoding": _category_encoding,
    "text_vectorization": _text_vectorization,
}
