"""What the NumPy reference expects of a case: values with a tolerance, or an error.

This module joins a `Case` to the functions of `matrix.reference`: it builds the index tensor
as NumPy sees it, the seeded weights of every layer, and runs the reference computation. The
run (`cases/runner.py`) gives Keras the very same weights, so any difference is the backend's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cases.core import INPUT_DTYPES, Case
from matrix import reference

#: Exceptions by which the reference says "a correct backend refuses this input".
CONTRACT_ERRORS = (TypeError, IndexError, ValueError)

#: Output dtype of every case until dtype policies join the catalog (Keras's default floatx).
OUTPUT_DTYPE = "float32"

_RNN_LAYERS = {"SimpleRNN": reference.simple_rnn, "GRU": reference.gru, "LSTM": reference.lstm}


@dataclass(frozen=True, kw_only=True)
class Expected:
    """The reference's answer for one case.

    Attributes:
        values: the expected output (float64, or bool for a mask), or None when an error is.
        error: why the reference refuses the input (`"IndexError: ..."`), or None.
        kind: the computation kind that picks the tolerance (`lookup`, `mask`, `recurrent`,
            `pooling`).
        tolerance: the largest absolute error that still matches, in output units.
    """

    values: np.ndarray | None
    error: str | None
    kind: str
    tolerance: float


def pad_sequences(sequences: Sequence[Sequence[int]], padding: str, dtype: str) -> np.ndarray:
    """NumPy padding of ragged sequences with 0 to the longest length.

    Mirrors `keras.utils.pad_sequences(sequences, padding=padding, dtype=dtype)` with
    `truncating="pre"`, `maxlen=None`, `value=0` (Keras docs, `keras.utils.pad_sequences`).

    Returns:
        (batch, timesteps) array of `dtype`.
    """
    length = max((len(s) for s in sequences), default=0)
    out = np.zeros((len(sequences), length), dtype=INPUT_DTYPES[dtype])
    for row, seq in enumerate(sequences):
        if not seq:
            continue
        if padding == "post":
            out[row, : len(seq)] = seq
        else:
            out[row, length - len(seq) :] = seq
    return out


def input_array(case: Case) -> np.ndarray:
    """The index tensor as NumPy holds it, of the case's dtype and shape."""
    spec = case.input
    if spec.sequences is not None:
        return pad_sequences(spec.sequences, spec.padding or "pre", spec.dtype)
    return np.array(spec.ids, dtype=INPUT_DTYPES[spec.dtype])


def layer_weights(case: Case) -> list[list[np.ndarray]]:
    """The seeded weights of each layer, in the order Keras lists `layer.weights`.

    Returns:
        One list per layer of `case.layers`; empty for a layer without weights.
    """
    weights: list[list[np.ndarray]] = []
    features = 0
    for position, spec in enumerate(case.layers):
        kwargs = spec.init_kwargs
        seed = case.seed + position
        if spec.class_name == "Embedding":
            shape = (int(kwargs["input_dim"]), int(kwargs["output_dim"]))
            weights.append(reference.seeded_weights([shape], seed))
            features = shape[1]
        elif spec.class_name in _RNN_LAYERS:
            units = int(kwargs["units"])
            shapes = reference.rnn_weight_shapes(spec.class_name, features, units)
            weights.append(reference.seeded_weights(shapes, seed))
            features = units
        else:
            weights.append([])
    return weights


def _compute(
    case: Case, ids: np.ndarray, weights: list[list[np.ndarray]]
) -> tuple[np.ndarray, str]:
    if case.model_input_shape is not None and tuple(ids.shape[1:]) != case.model_input_shape:
        raise ValueError(
            "The input does not match the model's Input shape: expected (batch,) + "
            f"{case.model_input_shape}. Received: ids.shape={ids.shape}"
        )
    embedding = case.layers[0]
    mask_zero = bool(embedding.init_kwargs.get("mask_zero", False))
    table = weights[0][0]
    if case.check == "mask":
        reference.lookup(table, ids)  # the same ids must also be valid for the lookup
        return reference.padding_mask(ids), "mask"
    x = reference.lookup(table, ids).astype(np.float64)
    mask = reference.padding_mask(ids) if mask_zero else None
    kind = "lookup"
    for spec, layer_w in zip(case.layers[1:], weights[1:], strict=True):
        kw = spec.init_kwargs
        if spec.class_name in _RNN_LAYERS:
            x = _RNN_LAYERS[spec.class_name](
                x,
                mask,
                *layer_w,
                return_sequences=bool(kw.get("return_sequences", False)),
                go_backwards=bool(kw.get("go_backwards", False)),
            )
            kind = "recurrent"
        elif spec.class_name == "GlobalAveragePooling1D":
            x = reference.global_average_pooling_1d(x, mask)
            kind = "pooling"
        else:  # validate_catalog refuses other classes before this point
            raise NotImplementedError(f"no reference for layer {spec.class_name!r}")
        mask = None  # neither an RNN without return_sequences nor a pooling passes a mask on
    return x, kind


def expected(case: Case) -> Expected:
    """Computes the reference's answer for a case.

    Returns:
        `Expected` with values, or with `error` when the reference refuses the input (an id
        outside [0, input_dim), a non-integer id dtype, an input of the wrong rank).

    Raises:
        Exception: any other exception means the reference itself is broken for this case;
            callers refuse the case at collection and name it.
    """
    ids = input_array(case)
    weights = layer_weights(case)
    try:
        values, kind = _compute(case, ids, weights)
    except CONTRACT_ERRORS as exc:
        kind = "mask" if case.check == "mask" else "lookup"
        return Expected(values=None, error=f"{type(exc).__name__}: {exc}", kind=kind,
                        tolerance=0.0)
    return Expected(values=values, error=None, kind=kind,
                    tolerance=reference.tolerance(kind, OUTPUT_DTYPE))
