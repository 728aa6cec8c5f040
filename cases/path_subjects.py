"""Records of the integer and mask path beyond `Embedding`: ops, losses, metrics, cells, lookups.

Each is a `cases.subjects.Subject` (see that module for what a record holds): index ops of
`keras.ops` (`take`, `take_along_axis`, `one_hot`, `multi_hot`, `segment_sum`, `segment_max`,
`bincount`, `argmax`, `argmin`, `argsort`, `top_k`, `searchsorted`, `digitize`), sparse losses
and metrics with integer labels, recurrent cells stacked by `keras.layers.RNN`, attention with
its call arguments, and the preprocessing layers that turn raw tokens into ids
(`CategoryEncoding`, `IntegerLookup`, `StringLookup`, `TextVectorization`).

Each record names its NumPy reference by key; the references are the oracle's
(`matrix/oracle/path_refs.py`). Each record's `doc` says what the modelled behaviour follows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cases.model import Nested
from cases.subjects import (
    INDEX_ERRORS,
    INDEX_PATTERNS,
    KERAS,
    Subject,
    rnn_weights,
)

OPS = f"{KERAS}ops/numpy.py"
#: A refused index: NumPy's IndexError, and a refused fractional index: NumPy's TypeError.
INDEX_REFUSALS: Mapping[str, tuple[str, ...]] = {
    "IndexError": (*INDEX_ERRORS, "ValueError"),
    "TypeError": ("TypeError", "ValueError", "InvalidArgumentError"),
}


# --- losses and metrics with integer labels ------------------------------------------------


# --- recurrent cells stacked by keras.layers.RNN ----------------------------------------------


def cells(args: Mapping[str, Any]) -> list[Nested]:
    cell = args["cell"]
    return list(cell) if isinstance(cell, list | tuple) else [cell]


def _stacked_weights(args: Mapping[str, Any], features: Sequence[int]
                 ) -> tuple[list[tuple[int, ...]], int]:
    from cases.subjects import SUBJECTS

    shapes: list[tuple[int, ...]] = []
    width = features[0]
    for cell in cells(args):
        more, width = SUBJECTS[cell.subject].weights(cell.args, [width])  # type: ignore[misc]
        shapes += more
    return shapes, width


# --- attention with its call arguments --------------------------------------------------------


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


# --- preprocessing layers: raw tokens to ids --------------------------------------------------




LOOKUP = f"{KERAS}layers/preprocessing/"
PATH_RECORDS: tuple[Subject, ...] = (
    Subject(name="ops.take", kind="op", call="function", args={"axis": None},
            reference="op.take", refusals=INDEX_REFUSALS,
            refusal_patterns=INDEX_PATTERNS, doc=OPS + " (take; numpy.take semantics)"),
    Subject(name="ops.take_along_axis", kind="op", call="function", args={"axis": None},
            reference="op.take_along_axis", refusals=INDEX_REFUSALS,
            refusal_patterns=INDEX_PATTERNS, doc=OPS + " (take_along_axis)"),
    Subject(name="ops.one_hot", kind="op", call="function",
            args={"num_classes": None}, required=("num_classes",),
            reference="op.one_hot", refusals=INDEX_REFUSALS,
            doc=f"{KERAS}ops/nn.py (one_hot; tf.one_hot's rule for ids out of range)"),
    Subject(name="ops.multi_hot", kind="op", call="function",
            args={"num_classes": None}, required=("num_classes",),
            reference="op.multi_hot", refusals=INDEX_REFUSALS,
            doc=f"{KERAS}ops/nn.py (multi_hot)"),
    Subject(name="ops.segment_sum", kind="op", call="function",
            args={"num_segments": None}, required=("num_segments",),
            reference="op.segment_sum",
            refusals=INDEX_REFUSALS, refusal_patterns=INDEX_PATTERNS, tolerance_kind="pooling",
            doc=f"{KERAS}ops/math.py (segment_sum)"),
    Subject(name="ops.segment_max", kind="op", call="function",
            args={"num_segments": None}, required=("num_segments",),
            reference="op.segment_max",
            refusals=INDEX_REFUSALS, refusal_patterns=INDEX_PATTERNS,
            doc=f"{KERAS}ops/math.py (segment_max)"),
    Subject(name="ops.bincount", kind="op", call="function", output_dtype=None,
            args={"minlength": None},
            reference="op.bincount", refusals=INDEX_REFUSALS,
            refusal_patterns=INDEX_PATTERNS, doc=OPS + " (bincount; numpy.bincount)"),
    Subject(name="ops.argmax", kind="op", call="function", output_dtype=None, args={"axis": None},
            reference="argop.argmax", doc=OPS + " (argmax)"),
    Subject(name="ops.argmin", kind="op", call="function", output_dtype=None, args={"axis": None},
            reference="argop.argmin", doc=OPS + " (argmin)"),
    Subject(name="ops.argsort", kind="op", call="function", output_dtype=None, args={"axis": None},
            reference="argop.argsort", doc=OPS + " (argsort)"),
    Subject(name="ops.top_k", kind="op", call="function", output_dtype=None, args={"k": None},
            reference="top_k", doc=f"{KERAS}ops/math.py (top_k: values, then indices)"),
    Subject(name="ops.searchsorted", kind="op", call="function", output_dtype=None,
            args={"side": ("left", "right")}, reference="searchsorted",
            doc=OPS + " (searchsorted)"),
    Subject(name="ops.digitize", kind="op", call="function", output_dtype=None, args={"bins": None},
            required=("bins",), reference="digitize", doc=OPS + " (digitize)"),
    Subject(name="losses.SparseCategoricalCrossentropy", kind="loss", call="loss",
            args={"from_logits": (True, False), "ignore_class": None},
            reference="sparse_categorical_crossentropy", tolerance_kind="pooling",
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
            reference="sparse_categorical_accuracy", tolerance_kind="pooling",
            doc=f"{KERAS}metrics/accuracy_metrics.py"),
    Subject(name="metrics.SparseTopKCategoricalAccuracy", kind="metric", call="metric",
            args={"k": None}, reference="sparse_top_k_categorical_accuracy",
            tolerance_kind="pooling",
            doc=f"{KERAS}metrics/accuracy_metrics.py"),
    *(Subject(name=f"layers.{name}Cell", kind="layer", args={
        "units": None, **({"reset_after": (True, False)} if name == "GRU" else {})},
        required=("units",), weights=rnn_weights(name), reference="cell_alone",
        tolerance_kind="recurrent", doc=f"{KERAS}layers/rnn/{name.lower()}.py")
      for name in ("SimpleRNN", "GRU", "LSTM")),
    Subject(name="layers.RNN", kind="layer", required=("cell",),
            args={"cell": None, "return_sequences": (True, False), "go_backwards": (False,),
                  "unroll": (True, False)},
            call_args=frozenset({"mask", "training"}), weights=_stacked_weights,
            reference="rnn.stacked",
            tolerance_kind="recurrent", doc=f"{KERAS}layers/rnn/rnn.py"),
    Subject(name="layers.MultiHeadAttention", kind="layer", call="query_value",
            args={"num_heads": None, "key_dim": None}, required=("num_heads", "key_dim"),
            call_args=frozenset({"attention_mask", "use_causal_mask",
                                 "return_attention_scores", "training"}),
            weights=_mha_weights, reference="multi_head_attention", tolerance_kind="attention",
            doc=f"{KERAS}layers/attention/multi_head_attention.py"),
    Subject(name="layers.Attention", kind="layer", call="list",
            args={"score_mode": ("dot", "concat")}, weights=_attention_weights,
            call_args=frozenset({"use_causal_mask", "training"}), reference="attention",
            tolerance_kind="attention", doc=f"{KERAS}layers/attention/attention.py"),
    Subject(name="layers.IntegerLookup", kind="layer", output_dtype="int64",
            args={"vocabulary": None, "mask_token": None, "num_oov_indices": (1,)},
            required=("vocabulary",), reference="lookup", tolerance_kind="mask",
            doc=LOOKUP + "integer_lookup.py"),
    Subject(name="layers.StringLookup", kind="layer", output_dtype="int64",
            args={"vocabulary": None, "mask_token": None, "num_oov_indices": (1,)},
            required=("vocabulary",), reference="lookup", tolerance_kind="mask",
            doc=LOOKUP + "string_lookup.py"),
    Subject(name="layers.Hashing", kind="layer", output_dtype="int64",
            args={"num_bins": None, "mask_value": None}, required=("num_bins",),
            reference="hashing", tolerance_kind="mask", doc=LOOKUP + "hashing.py"),
    Subject(name="layers.CategoryEncoding", kind="layer",
            args={"num_tokens": None, "output_mode": ("one_hot", "multi_hot", "count")},
            required=("num_tokens",), reference="category_encoding", tolerance_kind="mask",
            refusals={"ValueError": ("ValueError", "InvalidArgumentError")},
            doc=LOOKUP + "category_encoding.py"),
    Subject(name="layers.TextVectorization", kind="layer", output_dtype="int64",
            args={"vocabulary": None, "output_sequence_length": None},
            required=("vocabulary",), reference="text_vectorization", tolerance_kind="mask",
            doc=LOOKUP + "text_vectorization.py"),
)
