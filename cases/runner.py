"""Runs one case on the Keras backend of this process and reports what it observed.

Imported only inside a run (by `cases/test_cases.py`), where `KERAS_BACKEND` has fixed the
backend. Every layer gets the seeded weights of `cases.expect.layer_weights`, so the backend
computes with the very numbers the NumPy reference uses.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from cases.core import Case
from cases.expect import input_array, layer_weights
from matrix.results import Observation, error_observation


def _build_layers(case: Case) -> list[Any]:
    return [getattr(keras.layers, spec.class_name)(**spec.init_kwargs) for spec in case.layers]


def _set_weights(layers: list[Any], case: Case, ids_shape: tuple[int, ...]) -> None:
    """Builds each layer for the data's shape and sets its seeded weights."""
    shape: Any = (None, *ids_shape[1:]) if len(ids_shape) else ()
    for layer, weights in zip(layers, layer_weights(case), strict=True):
        if not layer.built:
            layer.build(shape)
        if weights:
            got = [tuple(w.shape) for w in layer.get_weights()]
            want = [tuple(w.shape) for w in weights]
            if got != want:
                raise RuntimeError(
                    f"harness: {layer.__class__.__name__} weights have shapes {got}, the "
                    f"reference has {want}"
                )
            layer.set_weights(weights)
        shape = layer.compute_output_shape(shape)


def _tensor_device(value: Any) -> str | None:
    """Where a backend tensor lives, as its framework names it (`cpu:0`, `cuda:0`, ...)."""
    device = getattr(value, "device", None)
    if device is not None and not callable(device):
        return str(device)
    devices = getattr(value, "devices", None)
    if callable(devices):  # jax.Array
        return ", ".join(sorted(str(d) for d in devices()))
    return None


def _ids(case: Case) -> np.ndarray:
    if case.input.sequences is not None:
        # As the user would: Keras pads the ragged sequences itself.
        return np.asarray(keras.utils.pad_sequences(
            [list(s) for s in case.input.sequences], padding=case.input.padding or "pre",
            dtype=case.input.dtype,
        ))
    return input_array(case)


def _eager(case: Case, layers: list[Any], ids: np.ndarray) -> tuple[Any, str | None]:
    _set_weights(layers, case, ids.shape)
    if case.check == "mask":
        out = layers[0].compute_mask(ids)
        return out, _tensor_device(out)
    out = ids
    for layer in layers:
        out = layer(out)
    return out, _tensor_device(out)


def _predict(case: Case, layers: list[Any], ids: np.ndarray) -> tuple[Any, str | None]:
    shape = case.model_input_shape or tuple(ids.shape[1:])
    inputs = keras.Input(shape=shape, dtype=case.input.dtype)
    outputs = inputs
    if case.check == "mask":
        layers[0](inputs)
        outputs = layers[0].compute_mask(inputs)
    else:
        for layer in layers:
            outputs = layer(outputs)
    model = keras.Model(inputs, outputs)
    _set_weights(layers, case, (0, *shape))
    out = model.predict(ids, verbose=0)
    # predict returns NumPy; the weights say where the computation ran.
    return out, _tensor_device(layers[0].embeddings.value)


def run_case(case: Case) -> tuple[Observation, np.ndarray | None]:
    """Runs the case and observes it.

    Returns:
        (observation, output as NumPy or None). An exception raised by Keras or the backend is
        an observation of kind `error`, never an exception of this function.
    """
    try:
        ids = _ids(case)
        layers = _build_layers(case)
        run = _eager if case.mode == "eager" else _predict
        out, device = run(case, layers, ids)
        if out is None:
            return Observation(kind="value", shape=None, dtype="None", device=device), None
        array = np.asarray(keras.ops.convert_to_numpy(out))
        dtype = keras.backend.standardize_dtype(getattr(out, "dtype", array.dtype))
    except Exception as exc:
        return error_observation(exc), None
    nan_count = int(np.isnan(array).sum()) if array.dtype.kind == "f" else 0
    observation = Observation(kind="value", shape=list(array.shape), dtype=dtype,
                              nan_count=nan_count, device=device)
    return observation, array
