"""Records of the integer and mask path beyond `Embedding`: ops, losses, metrics, cells, lookups.

Each is a `cases.subjects.Subject` (see that module for what a record holds): index ops of
`keras.ops` (`take`, `take_along_axis`, `one_hot`, `multi_hot`, `segment_sum`, `segment_max`,
`bincount`, `argmax`, `argmin`, `argsort`, `top_k`, `searchsorted`, `digitize`), sparse losses
and metrics with integer labels, recurrent cells stacked by `keras.layers.RNN`, attention with
its call arguments, and the preprocessing layers that turn raw tokens into ids
(`CategoryEncoding`, `IntegerLookup`, `StringLookup`, `TextVectorization`).

References follow NumPy where the Keras op mirrors a NumPy function, and the Keras docs
elsewhere; each record's `doc` says which. NumPy only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from cases.model import Nested, NotModelled
from cases.subjects import (
    INDEX_ERRORS,
    INDEX_PATTERNS,
    KERAS,
    RNN_FUNCTIONS,
    Array,
    Subject,
    Value,
    rnn_weights,
)
from matrix import reference

OPS = f"{KERAS}ops/numpy.py"
#: A refused index: NumPy's IndexError, and a refused fractional index: NumPy's TypeError.
INDEX_REFUSALS: Mapping[str, tuple[str, ...]] = {
    "IndexError": (*INDEX_ERRORS, "ValueError"),
    "TypeError": ("TypeError", "ValueError", "InvalidArgumentError"),
}


def _op(function: Any, *positional: str) -> Any:
    """A reference calling `function(*inputs, **args)` on the inputs' arrays."""

    def run(args: Mapping[str, Any], inputs: Sequence[Value], w: Sequence[Array],
            call: Mapping[str, Any]) -> Value:
        return Value(np.asarray(function(*(v.array for v in inputs), **args)))

    return run


def _argop(function: Any) -> Any:
    def run(args: Mapping[str, Any], inputs: Sequence[Value], w: Sequence[Array],
            call: Mapping[str, Any]) -> Value:
        return Value(np.asarray(function(np.asarray(inputs[0].array, dtype=np.float64),
                                         **args)).astype(np.int64))

    return run


def _top_k(args: Mapping[str, Any], inputs: Sequence[Value], w: Sequence[Array],
           call: Mapping[str, Any]) -> Value:
    x = np.asarray(inputs[0].array, dtype=np.float64)
    k = int(args.get("k", 5))
    order = np.argsort(-x, axis=-1, kind="stable")[..., :k]
    return Value((np.take_along_axis(x, order, axis=-1), order))  # type: ignore[arg-type]


def _searchsorted(args: Mapping[str, Any], inputs: Sequence[Value], w: Sequence[Array],
                  call: Mapping[str, Any]) -> Value:
    return Value(np.searchsorted(np.asarray(inputs[0].array, dtype=np.float64),
                                 np.asarray(inputs[1].array, dtype=np.float64),
                                 side=args.get("side", "left")).astype(np.int64))


def _digitize(args: Mapping[str, Any], inputs: Sequence[Value], w: Sequence[Array],
              call: Mapping[str, Any]) -> Value:
    return Value(np.digitize(np.asarray(inputs[0].array, dtype=np.float64),
                             np.asarray(args["bins"], dtype=np.float64)).astype(np.int64))


# --- losses and metrics with integer labels ------------------------------------------------


def _labels(labels: Array, classes: int, rank: int) -> np.ndarray[Any, Any]:
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


def _probabilities(preds: Array, from_logits: bool) -> np.ndarray[Any, Any]:
    p = np.asarray(preds, dtype=np.float64)
    if from_logits:
        e = np.exp(p - p.max(axis=-1, keepdims=True))
        return np.asarray(e / e.sum(axis=-1, keepdims=True))
    return np.asarray(np.clip(p / p.sum(axis=-1, keepdims=True), 1e-7, 1 - 1e-7))


def _scce(args: Mapping[str, Any], inputs: Sequence[Value], w: Sequence[Array],
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


def _accuracy(args: Mapping[str, Any], inputs: Sequence[Value], w: Sequence[Array],
              call: Mapping[str, Any]) -> Value:
    """`SparseCategoricalAccuracy`: the share of rows whose arg max is the label."""
    preds = np.asarray(inputs[1].array, dtype=np.float64)
    y = _labels(inputs[0].array, preds.shape[-1], preds.ndim)
    return Value(np.asarray((np.argmax(preds, axis=-1) == y).mean()))


def _top_k_accuracy(args: Mapping[str, Any], inputs: Sequence[Value], w: Sequence[Array],
                    call: Mapping[str, Any]) -> Value:
    """`SparseTopKCategoricalAccuracy(k)`: the share of rows whose label is in the top k.

    A label outside ``[0, classes)`` is in no top k (it scores 0).
    """
    preds = np.asarray(inputs[1].array, dtype=np.float64)
    y = _labels(inputs[0].array, preds.shape[-1], preds.ndim)
    top = np.argsort(-preds, axis=-1, kind="stable")[..., : int(args.get("k", 5))]
    return Value(np.asarray(np.any(top == y[..., np.newaxis], axis=-1).mean()))


# --- recurrent cells stacked by keras.layers.RNN ----------------------------------------------


def _cell_alone(args: Mapping[str, Any], inputs: Sequence[Value], w: Sequence[Array],
                call: Mapping[str, Any]) -> Value:
    raise NotModelled("a cell is modelled inside keras.layers.RNN only")


def _cells(args: Mapping[str, Any]) -> list[Nested]:
    cell = args["cell"]
    return list(cell) if isinstance(cell, list | tuple) else [cell]


def _stacked_weights(args: Mapping[str, Any], features: Sequence[int]
                 ) -> tuple[list[tuple[int, ...]], int]:
    from cases.subjects import SUBJECTS

    shapes: list[tuple[int, ...]] = []
    width = features[0]
    for cell in _cells(args):
        more, width = SUBJECTS[cell.subject].weights(cell.args, [width])  # type: ignore[misc]
        shapes += more
    return shapes, width


def _rnn(args: Mapping[str, Any], inputs: Sequence[Value], w: Sequence[Array],
         call: Mapping[str, Any]) -> Value:
    """`RNN([cell, ...])`: the stacked cells step together; a masked step keeps every state.

    That equals running the cells one after the other over the whole sequence, each with
    the same mask and every step's output passed on (a masked step repeats the previous
    output, `zero_output_for_mask=False`), which is how this reference computes it.
    """
    from cases.subjects import SUBJECTS

    if args.get("go_backwards"):
        raise NotModelled("RNN(go_backwards=True) over stacked cells is not modelled")
    mask = inputs[0].mask
    explicit = call.get("mask")
    if isinstance(explicit, Value):
        mask = np.asarray(explicit.array).astype(bool)
    x = inputs[0].array
    cells = _cells(args)
    offset = 0
    sequences = bool(args.get("return_sequences", False))
    for number, cell in enumerate(cells):
        shapes, _ = SUBJECTS[cell.subject].weights(cell.args, [x.shape[-1]])  # type: ignore[misc]
        weights = w[offset: offset + len(shapes)]
        offset += len(shapes)
        last = number == len(cells) - 1
        extra = {"reset_after": bool(cell.args.get("reset_after", True))} \
            if cell.subject == "layers.GRUCell" else {}
        function = RNN_FUNCTIONS[SUBJECTS[cell.subject].class_name.removesuffix("Cell")]
        x = function(x, mask, *weights,
                     return_sequences=sequences or not last, **extra)
    return Value(x, mask if sequences else None)


# --- attention with its call arguments --------------------------------------------------------


def _allowed(batch: int, tq: int, tv: int, q_mask: Array | None, v_mask: Array | None,
             attention_mask: Array | None, causal: bool) -> np.ndarray[Any, Any] | None:
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


def _softmax(scores: Array, allowed: Array | None) -> np.ndarray[Any, Any]:
    """A masked softmax; a row with nothing allowed is uniform (`reference._masked_softmax`)."""
    return np.asarray(reference._masked_softmax(scores, allowed))


def _mha(args: Mapping[str, Any], inputs: Sequence[Value], w: Sequence[Array],
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


def _mha_weights(args: Mapping[str, Any], features: Sequence[int]
                 ) -> tuple[list[tuple[int, ...]], int]:
    heads, key_dim = int(args["num_heads"]), int(args["key_dim"])
    fq, fv = features[0], features[1] if len(features) > 1 else features[0]
    return ([(fq, heads, key_dim), (heads, key_dim), (fv, heads, key_dim), (heads, key_dim),
             (fv, heads, key_dim), (heads, key_dim), (heads, key_dim, fq), (fq,)], fq)


def _attention_weights(args: Mapping[str, Any], features: Sequence[int]
                       ) -> tuple[list[tuple[int, ...]], int]:
    """`Attention` has one scalar weight, `concat_score_weight` `()`, in `score_mode="concat"`
    (and `scale` with `use_scale=True`, not modelled); its output is as wide as the value."""
    return ([()] if args.get("score_mode") == "concat" else []), features[-1]


def _dot_attention(args: Mapping[str, Any], inputs: Sequence[Value], w: Sequence[Array],
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


# --- preprocessing layers: raw tokens to ids --------------------------------------------------


def _lookup_table(args: Mapping[str, Any], oov_default: Any) -> tuple[dict[Any, int], int]:
    """`IntegerLookup`/`StringLookup` ids: mask token 0 (if any), then the OOV indices, then
    the vocabulary in order (keras/src/layers/preprocessing/index_lookup.py)."""
    mask = args.get("mask_token")
    oov = int(args.get("num_oov_indices", 1))
    start = (1 if mask is not None else 0) + oov
    table = {token: start + i for i, token in enumerate(args["vocabulary"])}
    if mask is not None:
        table[mask] = 0
    return table, (1 if mask is not None else 0)


def _lookup(args: Mapping[str, Any], inputs: Sequence[Value], w: Sequence[Array],
            call: Mapping[str, Any]) -> Value:
    table, oov_index = _lookup_table(args, None)
    if int(args.get("num_oov_indices", 1)) != 1:
        raise NotModelled("one OOV index is modelled")
    tokens = np.asarray(inputs[0].array)
    out = np.vectorize(lambda t: table.get(t.item() if hasattr(t, "item") else t, oov_index),
                       otypes=[np.int64])(tokens) if tokens.size else tokens.astype(np.int64)
    return Value(out)


def _hashing(args: Mapping[str, Any], inputs: Sequence[Value], w: Sequence[Array],
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


def _category_encoding(args: Mapping[str, Any], inputs: Sequence[Value], w: Sequence[Array],
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


def _text_vectorization(args: Mapping[str, Any], inputs: Sequence[Value], w: Sequence[Array],
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


LOOKUP = f"{KERAS}layers/preprocessing/"
PATH_RECORDS: tuple[Subject, ...] = (
    Subject(name="ops.take", kind="op", call="function", args={"axis": None},
            reference=_op(reference.take), refusals=INDEX_REFUSALS,
            refusal_patterns=INDEX_PATTERNS, doc=OPS + " (take; numpy.take semantics)"),
    Subject(name="ops.take_along_axis", kind="op", call="function", args={"axis": None},
            reference=_op(reference.take_along_axis), refusals=INDEX_REFUSALS,
            refusal_patterns=INDEX_PATTERNS, doc=OPS + " (take_along_axis)"),
    Subject(name="ops.one_hot", kind="op", call="function",
            args={"num_classes": None}, required=("num_classes",),
            reference=_op(reference.one_hot), refusals=INDEX_REFUSALS,
            doc=f"{KERAS}ops/nn.py (one_hot; tf.one_hot's rule for ids out of range)"),
    Subject(name="ops.multi_hot", kind="op", call="function",
            args={"num_classes": None}, required=("num_classes",),
            reference=_op(reference.multi_hot), refusals=INDEX_REFUSALS,
            doc=f"{KERAS}ops/nn.py (multi_hot)"),
    Subject(name="ops.segment_sum", kind="op", call="function",
            args={"num_segments": None}, required=("num_segments",),
            reference=_op(reference.segment_sum),
            refusals=INDEX_REFUSALS, refusal_patterns=INDEX_PATTERNS, tolerance_kind="pooling",
            doc=f"{KERAS}ops/math.py (segment_sum)"),
    Subject(name="ops.segment_max", kind="op", call="function",
            args={"num_segments": None}, required=("num_segments",),
            reference=_op(reference.segment_max),
            refusals=INDEX_REFUSALS, refusal_patterns=INDEX_PATTERNS,
            doc=f"{KERAS}ops/math.py (segment_max)"),
    Subject(name="ops.bincount", kind="op", call="function", output_dtype=None,
            args={"minlength": None},
            reference=_op(reference.bincount), refusals=INDEX_REFUSALS,
            refusal_patterns=INDEX_PATTERNS, doc=OPS + " (bincount; numpy.bincount)"),
    Subject(name="ops.argmax", kind="op", call="function", output_dtype=None, args={"axis": None},
            reference=_argop(np.argmax), doc=OPS + " (argmax)"),
    Subject(name="ops.argmin", kind="op", call="function", output_dtype=None, args={"axis": None},
            reference=_argop(np.argmin), doc=OPS + " (argmin)"),
    Subject(name="ops.argsort", kind="op", call="function", output_dtype=None, args={"axis": None},
            reference=_argop(np.argsort), doc=OPS + " (argsort)"),
    Subject(name="ops.top_k", kind="op", call="function", output_dtype=None, args={"k": None},
            reference=_top_k, doc=f"{KERAS}ops/math.py (top_k: values, then indices)"),
    Subject(name="ops.searchsorted", kind="op", call="function", output_dtype=None,
            args={"side": ("left", "right")}, reference=_searchsorted,
            doc=OPS + " (searchsorted)"),
    Subject(name="ops.digitize", kind="op", call="function", output_dtype=None, args={"bins": None},
            required=("bins",), reference=_digitize, doc=OPS + " (digitize)"),
    Subject(name="losses.SparseCategoricalCrossentropy", kind="loss", call="loss",
            args={"from_logits": (True, False), "ignore_class": None},
            reference=_scce, tolerance_kind="pooling",
            refusals={"IndexError": ("InvalidArgumentError", "IndexError", "ValueError",
                                     "RuntimeError"),
                      "TypeError": ("TypeError", "ValueError", "InvalidArgumentError")},
            # torch refuses through nll_loss ("Target 3 is out of bounds."); Keras 3.6's
            # torch backend one-hot encoded the labels first ("Class values must be smaller
            # than num_classes."): the same reason, a label outside [0, classes)
            refusal_patterns={"RuntimeError": r"out of bounds|out of range|Target|"
                                              r"smaller than num_classes"},
            doc=f"{KERAS}losses/losses.py (sparse_categorical_crossentropy)"),
    Subject(name="metrics.SparseCategoricalAccuracy", kind="metric", call="metric",
            reference=_accuracy, tolerance_kind="pooling",
            doc=f"{KERAS}metrics/accuracy_metrics.py"),
    Subject(name="metrics.SparseTopKCategoricalAccuracy", kind="metric", call="metric",
            args={"k": None}, reference=_top_k_accuracy, tolerance_kind="pooling",
            doc=f"{KERAS}metrics/accuracy_metrics.py"),
    *(Subject(name=f"layers.{name}Cell", kind="layer", args={
        "units": None, **({"reset_after": (True, False)} if name == "GRU" else {})},
        required=("units",), weights=rnn_weights(name), reference=_cell_alone,
        tolerance_kind="recurrent", doc=f"{KERAS}layers/rnn/{name.lower()}.py")
      for name in ("SimpleRNN", "GRU", "LSTM")),
    Subject(name="layers.RNN", kind="layer", required=("cell",),
            args={"cell": None, "return_sequences": (True, False), "go_backwards": (False,),
                  "unroll": (True, False)},
            call_args=frozenset({"mask", "training"}), weights=_stacked_weights, reference=_rnn,
            tolerance_kind="recurrent", doc=f"{KERAS}layers/rnn/rnn.py"),
    Subject(name="layers.MultiHeadAttention", kind="layer", call="query_value",
            args={"num_heads": None, "key_dim": None}, required=("num_heads", "key_dim"),
            call_args=frozenset({"attention_mask", "use_causal_mask",
                                 "return_attention_scores", "training"}),
            weights=_mha_weights, reference=_mha, tolerance_kind="attention",
            doc=f"{KERAS}layers/attention/multi_head_attention.py"),
    Subject(name="layers.Attention", kind="layer", call="list",
            args={"score_mode": ("dot", "concat")}, weights=_attention_weights,
            call_args=frozenset({"use_causal_mask", "training"}), reference=_dot_attention,
            tolerance_kind="attention", doc=f"{KERAS}layers/attention/attention.py"),
    Subject(name="layers.IntegerLookup", kind="layer", output_dtype="int64",
            args={"vocabulary": None, "mask_token": None, "num_oov_indices": (1,)},
            required=("vocabulary",), reference=_lookup, tolerance_kind="mask",
            doc=LOOKUP + "integer_lookup.py"),
    Subject(name="layers.StringLookup", kind="layer", output_dtype="int64",
            args={"vocabulary": None, "mask_token": None, "num_oov_indices": (1,)},
            required=("vocabulary",), reference=_lookup, tolerance_kind="mask",
            doc=LOOKUP + "string_lookup.py"),
    Subject(name="layers.Hashing", kind="layer", output_dtype="int64",
            args={"num_bins": None, "mask_value": None}, required=("num_bins",),
            reference=_hashing, tolerance_kind="mask", doc=LOOKUP + "hashing.py"),
    Subject(name="layers.CategoryEncoding", kind="layer",
            args={"num_tokens": None, "output_mode": ("one_hot", "multi_hot", "count")},
            required=("num_tokens",), reference=_category_encoding, tolerance_kind="mask",
            refusals={"ValueError": ("ValueError", "InvalidArgumentError")},
            doc=LOOKUP + "category_encoding.py"),
    Subject(name="layers.TextVectorization", kind="layer", output_dtype="int64",
            args={"vocabulary": None, "output_sequence_length": None},
            required=("vocabulary",), reference=_text_vectorization, tolerance_kind="mask",
            doc=LOOKUP + "text_vectorization.py"),
)
