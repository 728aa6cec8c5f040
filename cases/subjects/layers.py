"""The layer records: what the catalog knows of each Keras layer under test.

Core layers (`Embedding`, `Masking`, the recurrent layers and `Bidirectional`, pooling,
`Dense`, merging, and the custom `MaskProbe` whose class the program defines), then the layers
of the integer and mask path beyond `Embedding`: recurrent cells stacked by `keras.layers.RNN`,
attention with its call arguments, and the preprocessing layers that turn raw tokens into ids
(`IntegerLookup`, `StringLookup`, `Hashing`, `CategoryEncoding`, `TextVectorization`).

Each is a `cases.subjects.base.Subject` (see there for what a record holds) with its
weight-shape function; the NumPy references are the oracle's, by key
(`matrix/oracle/subject_refs.py`, `matrix/oracle/path_refs.py`). A weight function that needs
another layer's record (`Bidirectional`, `RNN`) looks it up in this module's `BY_NAME`.
NumPy only: no framework is imported, and nothing of `matrix`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cases.model import Nested
from cases.subjects.base import (
    INDEX_ERRORS,
    INDEX_PATTERNS,
    KERAS,
    Shapes,
    Subject,
    rnn_weight_shapes,
)


def _embedding_weights(args: Mapping[str, Any], features: Sequence[int]
                       ) -> tuple[list[tuple[int, ...]], int]:
    return [(int(args["input_dim"]), int(args["output_dim"]))], int(args["output_dim"])


def rnn_weights(name: str) -> Shapes:
    """The weight shapes of a SimpleRNN, GRU or LSTM layer or cell, from its `units`."""
    def shapes(args: Mapping[str, Any], features: Sequence[int]
               ) -> tuple[list[tuple[int, ...]], int]:
        units = int(args["units"])
        extra = {"reset_after": bool(args.get("reset_after", True))} if name == "GRU" else {}
        return rnn_weight_shapes(name, features[0], units, **extra), units
    return shapes


def _weights_of(subject: str) -> Shapes:
    """The weight-shape function of another layer record (a nested layer: the one a
    `Bidirectional` wraps, a cell `RNN` stacks).

    Raises:
        KeyError: no layer record of that name, or one without weights.
    """
    shapes = BY_NAME[subject].weights
    if shapes is None:
        raise KeyError(f"{subject!r} has no weight shapes")
    return shapes


def _bidirectional_weights(args: Mapping[str, Any], features: Sequence[int]
                           ) -> tuple[list[tuple[int, ...]], int]:
    inner: Nested = args["layer"]
    shapes, units = _weights_of(inner.subject)(inner.args, features)
    return shapes + shapes, 2 * units


def _dense_weights(args: Mapping[str, Any], features: Sequence[int]
                   ) -> tuple[list[tuple[int, ...]], int]:
    units = int(args["units"])
    return [(features[0], units), (units,)], units


def _merge_weights(args: Mapping[str, Any], features: Sequence[int]
                   ) -> tuple[list[tuple[int, ...]], int]:
    return [], sum(features)


_MASK_PROBE_SOURCE = '''\
class MaskProbe(keras.layers.Layer):
    """Outputs the masks `call` received from its two inputs, (batch, steps, 2); 0 = none."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        first = inputs[0]
        masks = list(mask) if isinstance(mask, (list, tuple)) else [None, None]
        columns = [keras.ops.zeros(keras.ops.shape(first)[:-1], dtype=first.dtype)
                   if m is None else keras.ops.cast(m, first.dtype) for m in masks]
        return keras.ops.stack(columns, axis=-1)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (*tuple(input_shape[0])[:-1], 2)
'''


_RNN_ARGS: dict[str, tuple[Any, ...] | None] = {
    "units": None, "return_sequences": (True, False), "go_backwards": (True, False),
    # Neither changes the math: `unroll` unrolls the loop, `use_cudnn` picks the kernel
    # (and raises where cuDNN cannot run it).
    "unroll": (True, False), "use_cudnn": (True, False, "auto"),
}


def _rnn_subject(name: str, extra: Mapping[str, tuple[Any, ...] | None] = {}) -> Subject:
    return Subject(
        name=f"layers.{name}", kind="layer", args={**_RNN_ARGS, **extra}, required=("units",),
        call_args=frozenset({"mask", "training"}), weights=rnn_weights(name),
        reference=f"rnn.{name}", tolerance_kind="recurrent",
        doc=f"{KERAS}layers/rnn/{name.lower()}.py")


#: The core layers, in the registry's order.
LAYERS: tuple[Subject, ...] = (
    Subject(
        name="layers.Embedding", kind="layer",
        args={"input_dim": None, "output_dim": None, "mask_zero": (True, False),
              # Only the training step reads these (`sgd_step_mse`).
              "embeddings_regularizer": ("l2",), "embeddings_constraint": ("non_neg",)},
        required=("input_dim", "output_dim"), weights=_embedding_weights,
        reference="embedding", mask="embedding_mask",
        refusals={"IndexError": INDEX_ERRORS,
                  # A fractional id is not an index; a backend may refuse its dtype instead.
                  "TypeError": ("TypeError", "ValueError", "InvalidArgumentError")},
        refusal_patterns=INDEX_PATTERNS,
        doc=f"{KERAS}layers/core/embedding.py"),
    Subject(name="layers.Masking", kind="layer", args={"mask_value": None},
            reference="masking", doc=f"{KERAS}layers/core/masking.py"),
    _rnn_subject("SimpleRNN"),
    _rnn_subject("GRU", {"reset_after": (True, False)}),
    _rnn_subject("LSTM"),
    Subject(name="layers.Bidirectional", kind="layer", args={"layer": None},
            required=("layer",), call_args=frozenset({"mask", "training"}),
            weights=_bidirectional_weights, reference="bidirectional",
            tolerance_kind="recurrent", doc=f"{KERAS}layers/rnn/bidirectional.py"),
    Subject(name="layers.GlobalAveragePooling1D", kind="layer",
            call_args=frozenset({"mask"}),
            reference="pooling.average", tolerance_kind="pooling",
            doc=f"{KERAS}layers/pooling/global_average_pooling1d.py"),
    Subject(name="layers.GlobalMaxPooling1D", kind="layer",
            reference="pooling.max", tolerance_kind="pooling",
            doc=f"{KERAS}layers/pooling/global_max_pooling1d.py"),
    Subject(name="layers.Dense", kind="layer", args={"units": None}, required=("units",),
            weights=_dense_weights, reference="dense", tolerance_kind="recurrent",
            doc=f"{KERAS}layers/core/dense.py"),
    Subject(name="layers.Add", kind="layer", call="list", reference="add",
            doc=f"{KERAS}layers/merging/add.py"),
    Subject(name="layers.Concatenate", kind="layer", call="list", weights=_merge_weights,
            reference="concatenate", doc=f"{KERAS}layers/merging/concatenate.py"),
    Subject(name="custom.MaskProbe", kind="layer", call="list",
            weights=lambda args, features: ([], 2), reference="mask_probe",
            source=_MASK_PROBE_SOURCE,
            doc="a custom layer that outputs the masks its call received"),
)


# --- recurrent cells stacked by keras.layers.RNN ----------------------------------------------


def cells(args: Mapping[str, Any]) -> list[Nested]:
    """The cells an `RNN` step stacks: its `cell` argument, one or a list."""
    cell = args["cell"]
    return list(cell) if isinstance(cell, list | tuple) else [cell]


def _stacked_weights(args: Mapping[str, Any], features: Sequence[int]
                     ) -> tuple[list[tuple[int, ...]], int]:
    shapes: list[tuple[int, ...]] = []
    width = features[0]
    for cell in cells(args):
        more, width = _weights_of(cell.subject)(cell.args, [width])
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


# --- the integer and mask path: cells, attention, preprocessing lookups -----------------------

LOOKUP = f"{KERAS}layers/preprocessing/"
#: The layers of the integer and mask path beyond `Embedding`, in the registry's order.
PATH_LAYERS: tuple[Subject, ...] = (
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


#: Every layer record by name (the weight functions' lookup of a nested layer).
BY_NAME: Mapping[str, Subject] = {s.name: s for s in (*LAYERS, *PATH_LAYERS)}
