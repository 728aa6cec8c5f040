"""What the NumPy reference expects of a case: values with a tolerance, or an error.

This module joins a `Case` to the functions of `matrix.reference`: it builds the index tensor
as NumPy sees it, the seeded weights of every layer, and runs the reference computation. The
run (`cases/runner.py`) gives Keras the very same weights, so any difference is the backend's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cases.core import INPUT_DTYPES, Case, InputSpec, LayerSpec
from matrix import reference

#: Exceptions by which the reference says "a correct backend refuses this input".
CONTRACT_ERRORS = (TypeError, IndexError, ValueError)

#: The output dtype each dtype policy promises (Keras docs, "Mixed precision").
POLICY_OUTPUT_DTYPE = {None: "float32", "float32": "float32", "mixed_float16": "float16",
                       "mixed_bfloat16": "bfloat16", "floatx_bfloat16": "bfloat16"}

_RNN: dict[str, Callable[..., np.ndarray]] = {
    "SimpleRNN": reference.simple_rnn, "GRU": reference.gru, "LSTM": reference.lstm,
}


@dataclass(frozen=True, kw_only=True)
class Expected:
    """The reference's answer for one case.

    Attributes:
        values: the expected output (float64, bool for a mask, ints for padded ids), or None
            when an error is expected.
        error: why the reference refuses the input (`"IndexError: ..."`), or None.
        kind: the computation kind that picks the tolerance (`lookup`, `mask`, `recurrent`,
            `pooling`, `attention`, `training`, `quantized`).
        tolerance: the largest absolute error that still matches, in output units.
        dtype: the Keras dtype name the output must have, or None when not checked.
    """

    values: np.ndarray | None
    error: str | None
    kind: str
    tolerance: float
    dtype: str | None = None


def pad_sequences(sequences: Sequence[Sequence[Any]], *, padding: str = "pre",
                  truncating: str = "pre", maxlen: int | None = None, value: Any = 0,
                  dtype: str = "int32") -> np.ndarray:
    """NumPy padding of ragged sequences: the documented `keras.utils.pad_sequences`.

    Sequences longer than `maxlen` lose their first (`truncating="pre"`) or last steps;
    shorter ones get `value` before (`padding="pre"`) or after them (Keras docs,
    `keras.utils.pad_sequences`).

    Returns:
        (batch, maxlen or the longest length) array of `dtype`.
    """
    length = maxlen if maxlen is not None else max((len(s) for s in sequences), default=0)
    out = np.full((len(sequences), length), value, dtype=INPUT_DTYPES.get(dtype, dtype))
    for row, seq in enumerate(sequences):
        kept = list(seq)
        if len(kept) > length:
            kept = kept[-length:] if truncating == "pre" else kept[:length]
        if not kept:
            continue
        if padding == "post":
            out[row, : len(kept)] = kept
        else:
            out[row, length - len(kept):] = kept
    return out


def input_array(case: Case, spec: InputSpec | None = None) -> np.ndarray:
    """The index tensor as NumPy holds it, of the case's dtype and shape.

    Args:
        case: the case.
        spec: another input of the case (`case.input_b`); `case.input` by default. A ragged
            input (structure `ragged`) is flattened to its values, (total_ids,).
    """
    spec = spec or case.input
    if case.structure == "ragged":
        flat = [i for row in spec.ids for i in row]
        return np.array(flat, dtype=INPUT_DTYPES[spec.dtype])
    if spec.sequences is not None:
        return pad_sequences(spec.sequences, padding=spec.padding or "pre", dtype=spec.dtype)
    return np.array(spec.ids, dtype=INPUT_DTYPES[spec.dtype])


def _shapes(spec: LayerSpec, features: int) -> tuple[list[tuple[int, ...]], int]:
    """The weight shapes of a layer fed `features`, and its output features."""
    kw = spec.init_kwargs
    name = spec.class_name
    if name == "Embedding":
        return [(int(kw["input_dim"]), int(kw["output_dim"]))], int(kw["output_dim"])
    if name in _RNN:
        units = int(kw["units"])
        return reference.rnn_weight_shapes(name, features, units), units
    if name == "Bidirectional":
        inner: LayerSpec = kw["layer"]
        shapes, units = _shapes(inner, features)
        return shapes + shapes, 2 * units
    if name == "Dense":
        units = int(kw["units"])
        return [(features, units), (units,)], units
    if name == "MultiHeadAttention":
        return (reference.multi_head_attention_weight_shapes(
            features, int(kw["num_heads"]), int(kw["key_dim"])), features)
    if name == "Concatenate":  # of two equally wide embeddings
        return [], 2 * features
    return [], features


def layer_weights(case: Case) -> list[list[np.ndarray]]:
    """The seeded weights of each layer, in the order Keras lists `layer.weights`.

    Returns:
        One list per layer of `case.layers`; empty for a layer without weights.
    """
    weights: list[list[np.ndarray]] = []
    features = 0
    for position, spec in enumerate(case.layers):
        shapes, features = _shapes(spec, features)
        weights.append(reference.seeded_weights(shapes, case.seed + position) if shapes else [])
    if case.zero_row is not None:
        weights[0][0][case.zero_row, :] = 0.0
    return weights


def _check_model_input(case: Case, ids: np.ndarray) -> None:
    if case.model_input_shape is not None and tuple(ids.shape[1:]) != case.model_input_shape:
        raise ValueError(
            "The input does not match the model's Input shape: expected (batch,) + "
            f"{case.model_input_shape}. Received: ids.shape={ids.shape}"
        )


def _layer(spec: LayerSpec, x: np.ndarray, mask: np.ndarray | None, w: list[np.ndarray]
           ) -> tuple[np.ndarray, np.ndarray | None, str]:
    """Applies one consumer layer; returns (output, mask it passes on, tolerance kind)."""
    kw = spec.init_kwargs
    name = spec.class_name
    if name in _RNN:
        sequences = bool(kw.get("return_sequences", False))
        out = _RNN[name](x, mask, *w, return_sequences=sequences,
                         go_backwards=bool(kw.get("go_backwards", False)))
        return out, (mask if sequences else None), "recurrent"
    if name == "Bidirectional":
        inner: LayerSpec = kw["layer"]
        half = len(w) // 2
        forward = _RNN[inner.class_name](x, mask, *w[:half])
        backward = _RNN[inner.class_name](x, mask, *w[half:], go_backwards=True)
        return np.concatenate([forward, backward], axis=-1), None, "recurrent"
    if name == "GlobalAveragePooling1D":
        return reference.global_average_pooling_1d(x, mask), None, "pooling"
    if name == "GlobalMaxPooling1D":
        return reference.global_max_pooling_1d(x, mask), None, "pooling"
    if name == "Dense":
        return reference.dense(x, *w), mask, "recurrent"
    if name == "Masking":
        # keras.layers.Masking: a step is masked when every feature equals mask_value; its
        # output is the input times that mask (keras/src/layers/core/masking.py).
        valid = np.any(x != float(kw.get("mask_value", 0.0)), axis=-1)
        return x * valid[..., np.newaxis], valid, "lookup"
    if name == "Attention":
        return reference.dot_attention(x, mask), mask, "attention"
    if name == "MultiHeadAttention":
        return reference.multi_head_attention(x, mask, w), mask, "attention"
    raise NotImplementedError(f"no reference for layer {name!r}")


_KIND_RANK = {"lookup": 0, "recurrent": 1, "pooling": 1, "attention": 2}


def _merge(spec: LayerSpec, a: tuple[np.ndarray, np.ndarray | None],
           b: tuple[np.ndarray, np.ndarray | None]) -> tuple[np.ndarray, np.ndarray | None]:
    """Add, Concatenate, or the MaskProbe of two embeddings, with the mask they pass on.

    Keras 3 merge layers pass on the OR of their inputs' masks: a step stays valid when any
    input is valid there, and the values are merged as they are, the padded input's row
    included (keras/src/layers/merging/base_merge.py, `compute_mask` uses `ops.any`).
    MaskProbe outputs the two masks it received in `call`, (batch, steps, 2), 0 for none.
    """
    (xa, ma), (xb, mb) = a, b
    masks = [m for m in (ma, mb) if m is not None]
    merged = np.logical_or.reduce(masks) if masks else None
    if spec.class_name == "Add":
        return xa + xb, merged
    if spec.class_name == "Concatenate":
        return np.concatenate([xa, xb], axis=-1), merged
    shape = xa.shape[:-1]
    probe = [np.zeros(shape) if m is None else m.astype(np.float64) for m in (ma, mb)]
    return np.stack(probe, axis=-1), None


def _two_inputs(case: Case, weights: list[list[np.ndarray]]) -> tuple[np.ndarray, str]:
    branches = []
    for spec, layer_w, ids in ((case.layers[0], weights[0], input_array(case)),
                               (case.layers[1], weights[1], input_array(case, case.input_b))):
        x = reference.lookup(layer_w[0], ids).astype(np.float64)
        masked = bool(spec.init_kwargs.get("mask_zero", False))
        branches.append((x, reference.padding_mask(ids) if masked else None))
    x, mask = _merge(case.layers[2], branches[0], branches[1])
    kind = "lookup"
    for spec, layer_w in zip(case.layers[3:], weights[3:], strict=True):
        x, mask, kind = _layer(spec, x, mask, layer_w)
    return x, kind


def _time_distributed(case: Case, ids: np.ndarray, weights: list[list[np.ndarray]]
                      ) -> tuple[np.ndarray, str]:
    """Every layer applied to each outer step: (batch, outer, inner) ids."""
    x = reference.lookup(weights[0][0], ids).astype(np.float64)
    mask_zero = bool(case.layers[0].init_kwargs.get("mask_zero", False))
    mask: np.ndarray | None = reference.padding_mask(ids) if mask_zero else None
    batch, outer = ids.shape[:2]
    kind = "lookup"
    for spec, layer_w in zip(case.layers[1:], weights[1:], strict=True):
        flat = x.reshape(batch * outer, *x.shape[2:])
        flat_mask = None if mask is None else mask.reshape(batch * outer, *mask.shape[2:])
        out, out_mask, kind = _layer(spec, flat, flat_mask, layer_w)
        x = out.reshape(batch, outer, *out.shape[1:])
        mask = None if out_mask is None else out_mask.reshape(batch, outer, *out_mask.shape[1:])
    return x, kind


def _compute(case: Case, ids: np.ndarray, weights: list[list[np.ndarray]]
             ) -> tuple[np.ndarray, str]:
    if case.structure == "two_inputs":
        return _two_inputs(case, weights)
    if case.structure == "time_distributed":
        return _time_distributed(case, ids, weights)
    _check_model_input(case, ids)
    table = weights[0][0]
    if case.check == "mask":
        reference.lookup(table, ids)  # the same ids must also be valid for the lookup
        return reference.padding_mask(ids), "mask"
    if case.check == "weights":
        fit = dict(case.fit or {})
        kw = case.layers[0].init_kwargs
        # "l2" is keras.regularizers.L2() with its default factor, 0.01 (Keras docs).
        l2 = 0.01 if kw.get("embeddings_regularizer") == "l2" else 0.0
        non_negative = kw.get("embeddings_constraint") == "non_neg"
        return reference.sgd_step_mse(table, ids, float(fit["learning_rate"]), l2=l2,
                                      non_negative=non_negative), "training"
    x = reference.lookup(table, ids).astype(np.float64)
    mask_zero = bool(case.layers[0].init_kwargs.get("mask_zero", False))
    mask = reference.padding_mask(ids) if mask_zero else None
    kind = "quantized" if "quantize" in case.embedding_methods else "lookup"
    for spec, layer_w in zip(case.layers[1:], weights[1:], strict=True):
        x, mask, layer_kind = _layer(spec, x, mask, layer_w)
        if _KIND_RANK.get(layer_kind, 0) >= _KIND_RANK.get(kind, 0):
            kind = layer_kind
    return x, kind


#: Answers already computed, by the identity of the case (cases hold dicts: not hashable).
#: The catalog checks every reference at collection, and the run needs each again.
_MEMO: dict[int, tuple[Case, Expected]] = {}


def expected(case: Case) -> Expected:
    """The reference's answer for a case, computed once per case object.

    See `compute_expected`.
    """
    hit = _MEMO.get(id(case))
    if hit is not None and hit[0] is case:
        return hit[1]
    answer = compute_expected(case)
    _MEMO[id(case)] = (case, answer)
    return answer


def compute_expected(case: Case) -> Expected:
    """Computes the reference's answer for a case.

    Returns:
        `Expected` with values, or with `error` when the reference refuses the input (an id
        outside [0, input_dim), a fractional id, an input of the wrong rank).

    Raises:
        Exception: any other exception means the reference itself is broken for this case;
            callers refuse the case at collection and name it.
    """
    if case.check == "ids":
        pad = dict(case.pad or {})
        values = pad_sequences(case.input.sequences or (), **pad)
        dtype = str(pad.get("dtype", "int32"))
        return Expected(values=values, error=None, kind="mask", tolerance=0.0,
                        dtype=dtype if dtype in INPUT_DTYPES else None)
    ids = input_array(case)
    weights = layer_weights(case)
    out_dtype = POLICY_OUTPUT_DTYPE[case.dtype_policy]
    try:
        values, kind = _compute(case, ids, weights)
    except CONTRACT_ERRORS as exc:
        kind = "mask" if case.check == "mask" else "lookup"
        return Expected(values=None, error=f"{type(exc).__name__}: {exc}", kind=kind,
                        tolerance=0.0)
    if case.check == "mask":
        return Expected(values=values, error=None, kind=kind, tolerance=0.0, dtype="bool")
    if case.check == "weights":
        # The table keeps the variable dtype: float32 unless floatx is bfloat16.
        var_dtype = "bfloat16" if case.dtype_policy == "floatx_bfloat16" else "float32"
        return Expected(values=values, error=None, kind=kind,
                        tolerance=reference.tolerance(kind, var_dtype), dtype=var_dtype)
    return Expected(values=values, error=None, kind=kind,
                    tolerance=reference.tolerance(kind, out_dtype), dtype=out_dtype)
