"""The NumPy references of the core records in `cases/subjects/` (layers.py, utilities.py), by key.

Each function takes `(args, inputs, weights, call_args)` and returns a `Value` (array and Keras
mask); `REFERENCES` maps the key a record names (`Subject.reference`, `Subject.mask`) to it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from cases.model import Nested, NotModelled
from cases.subjects import SUBJECTS, pad_sequences
from matrix.oracle import layers, recurrent
from matrix.oracle.arrays import AnyArray, Value
from matrix.oracle.lookup import lookup, padding_mask

#: `reference(args, inputs, weights, call_args) -> Value`.
Reference = Callable[[Mapping[str, Any], Sequence[Value], Sequence[AnyArray], Mapping[str, Any]],
                     Value]

#: The NumPy recurrence of each recurrent layer (and of its cell) by class name.
RNN_FUNCTIONS: dict[str, Callable[..., AnyArray]] = {
    "SimpleRNN": recurrent.simple_rnn, "GRU": recurrent.gru, "LSTM": recurrent.lstm}


def _embedding(args: Mapping[str, Any], inputs: Sequence[Value], w: Sequence[AnyArray],
               call: Mapping[str, Any]) -> Value:
    ids = inputs[0].array
    mask = padding_mask(ids) if args.get("mask_zero") else None
    return Value(lookup(w[0], ids), mask)


def _embedding_mask(args: Mapping[str, Any], inputs: Sequence[Value], w: Sequence[AnyArray],
                    call: Mapping[str, Any]) -> Value:
    ids = inputs[0].array
    lookup(w[0], ids)  # the ids must be valid for the lookup too
    if not args.get("mask_zero"):
        raise NotModelled("compute_mask without mask_zero returns None; not modelled")
    return Value(padding_mask(ids))


def _masking(args: Mapping[str, Any], inputs: Sequence[Value], w: Sequence[AnyArray],
             call: Mapping[str, Any]) -> Value:
    # A step is masked when every feature equals mask_value; the output is the input times
    # that mask (keras/src/layers/core/masking.py).
    x = inputs[0].array.astype(np.float64)
    valid = np.any(x != float(args.get("mask_value", 0.0)), axis=-1)
    return Value(x * valid[..., np.newaxis], valid)


def _call_mask(inputs: Sequence[Value], call: Mapping[str, Any]) -> AnyArray | None:
    """An explicit `mask=` call argument replaces the mask that travels with the input."""
    explicit = call.get("mask")
    if isinstance(explicit, Value):
        return np.asarray(explicit.array).astype(bool)
    return inputs[0].mask


def _rnn(name: str) -> Reference:
    def run(args: Mapping[str, Any], inputs: Sequence[Value], w: Sequence[AnyArray],
            call: Mapping[str, Any]) -> Value:
        mask = _call_mask(inputs, call)
        sequences = bool(args.get("return_sequences", False))
        extra = {"reset_after": bool(args.get("reset_after", True))} if name == "GRU" else {}
        out = RNN_FUNCTIONS[name](inputs[0].array, mask, *w, return_sequences=sequences,
                                   go_backwards=bool(args.get("go_backwards", False)), **extra)
        return Value(out, mask if sequences else None)
    return run


def _bidirectional(args: Mapping[str, Any], inputs: Sequence[Value], w: Sequence[AnyArray],
                   call: Mapping[str, Any]) -> Value:
    inner: Nested = args["layer"]
    function = RNN_FUNCTIONS[SUBJECTS[inner.subject].class_name]
    mask = _call_mask(inputs, call)
    half = len(w) // 2
    forward = function(inputs[0].array, mask, *w[:half])
    backward = function(inputs[0].array, mask, *w[half:], go_backwards=True)
    return Value(np.concatenate([forward, backward], axis=-1))


def _pooling(function: Callable[[AnyArray, AnyArray | None], AnyArray]) -> Reference:
    def run(args: Mapping[str, Any], inputs: Sequence[Value], w: Sequence[AnyArray],
            call: Mapping[str, Any]) -> Value:
        return Value(function(inputs[0].array, _call_mask(inputs, call)))
    return run


def _dense(args: Mapping[str, Any], inputs: Sequence[Value], w: Sequence[AnyArray],
           call: Mapping[str, Any]) -> Value:
    return Value(layers.dense(inputs[0].array, *w), inputs[0].mask)


def _or_masks(inputs: Sequence[Value]) -> AnyArray | None:
    # Keras 3 merge layers pass on the OR of their inputs' masks
    # (keras/src/layers/merging/base_merge.py, `compute_mask` uses `ops.any`).
    masks = [v.mask for v in inputs if v.mask is not None]
    return np.logical_or.reduce(masks) if masks else None


def _add(args: Mapping[str, Any], inputs: Sequence[Value], w: Sequence[AnyArray],
         call: Mapping[str, Any]) -> Value:
    return Value(sum((v.array for v in inputs[1:]), inputs[0].array), _or_masks(inputs))


def _concatenate(args: Mapping[str, Any], inputs: Sequence[Value], w: Sequence[AnyArray],
                 call: Mapping[str, Any]) -> Value:
    return Value(np.concatenate([v.array for v in inputs], axis=-1), _or_masks(inputs))


def _mask_probe(args: Mapping[str, Any], inputs: Sequence[Value], w: Sequence[AnyArray],
                call: Mapping[str, Any]) -> Value:
    shape = inputs[0].array.shape[:-1]
    columns = [np.zeros(shape) if v.mask is None else v.mask.astype(np.float64)
               for v in inputs[:2]]
    return Value(np.stack(columns, axis=-1))


def _pad_sequences(args: Mapping[str, Any], inputs: Sequence[Value], w: Sequence[AnyArray],
                   call: Mapping[str, Any]) -> Value:
    return Value(pad_sequences(list(inputs[0].array), **args))


REFERENCES: dict[str, Reference] = {
    "embedding": _embedding, "embedding_mask": _embedding_mask, "masking": _masking,
    **{f"rnn.{name}": _rnn(name) for name in RNN_FUNCTIONS},
    "bidirectional": _bidirectional,
    "pooling.average": _pooling(layers.global_average_pooling_1d),
    "pooling.max": _pooling(layers.global_max_pooling_1d),
    "dense": _dense, "add": _add, "concatenate": _concatenate, "mask_probe": _mask_probe,
    "pad_sequences": _pad_sequences,
}
