"""Runs one case on the Keras backend of this process and reports what it observed.

Imported only inside a run (by `cases/test_cases.py`), where `KERAS_BACKEND` has fixed the
backend. Every layer gets the seeded weights of `cases.expect.layer_weights`, so the backend
computes with the very numbers the NumPy reference uses.

Modes: `eager` calls the layers directly; `predict` builds a functional `keras.Model`;
`jit_compile` compiles that model with `jit_compile=True` first; `fit` runs one SGD step and
observes the embedding table; `save_load` loads the `.keras` file saved under `saved_on`
(and, on that backend itself, saves it first). Saved files live in `$KCM_ARTIFACTS/<backend>/`
with a JSON sidecar saying which Keras saved them, when.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keras
import numpy as np

from cases.core import Case, LayerSpec
from cases.expect import Expected, expected, input_array, layer_weights
from matrix import reference
from matrix.results import Observation, error_observation


class NotRun(Exception):
    """The case cannot run in this environment (e.g. no saved file from another backend)."""


class NotApplicable(Exception):
    """The case has no meaning on this backend (e.g. a tf.RaggedTensor on JAX)."""


class MaskProbe(keras.layers.Layer):
    """A two-input layer that outputs the masks `call` received, (batch, steps, 2).

    The question users ask of custom layers: do both inputs' masks reach `call`? A mask that
    did not arrive is a column of zeros.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs: Any, mask: Any = None) -> Any:
        first = inputs[0]
        masks = list(mask) if isinstance(mask, list | tuple) else [None, None]
        columns = [keras.ops.zeros(keras.ops.shape(first)[:-1], dtype=first.dtype)
                   if m is None else keras.ops.cast(m, first.dtype) for m in masks]
        return keras.ops.stack(columns, axis=-1)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        return None

    def compute_output_shape(self, input_shape: Any) -> Any:
        return (*tuple(input_shape[0])[:-1], 2)


_CUSTOM_LAYERS = {"MaskProbe": MaskProbe}


def artifacts_dir() -> Path:
    """Where saved `.keras` files are kept, one folder per backend."""
    return Path(os.environ.get("KCM_ARTIFACTS", "reports/artifacts"))


def _build(spec: LayerSpec) -> Any:
    kwargs = {k: _build(v) if isinstance(v, LayerSpec) else v
              for k, v in spec.init_kwargs.items()}
    cls = _CUSTOM_LAYERS.get(spec.class_name) or getattr(keras.layers, spec.class_name)
    return cls(**kwargs)


def _build_layers(case: Case) -> list[Any]:
    layers = [_build(spec) for spec in case.layers]
    if case.structure == "time_distributed":
        layers = [keras.layers.TimeDistributed(layer) for layer in layers]
    return layers


def _forward(layers: list[Any], x: Any, case: Case | None = None, x_b: Any = None) -> Any:
    """Calls the layers: a stack, or two embeddings merged (`two_inputs`).

    Attention layers attend to themselves (query = value = x).
    """
    if case is not None and case.structure == "two_inputs":
        x = layers[2]([layers[0](x), layers[1](x_b)])
        layers = layers[3:]
    for layer in layers:
        if isinstance(layer, keras.layers.Attention):
            x = layer([x, x])
        elif isinstance(layer, keras.layers.MultiHeadAttention):
            x = layer(x, x)
        else:
            x = layer(x)
    return x


def _set_weights(layers: list[Any], case: Case) -> None:
    for layer, weights in zip(layers, layer_weights(case), strict=True):
        if not weights:
            continue
        got = [tuple(w.shape) for w in layer.get_weights()]
        want = [tuple(w.shape) for w in weights]
        if got != want:
            raise RuntimeError(f"harness: {layer.__class__.__name__} weights have shapes {got}, "
                               f"the reference has {want}")
        layer.set_weights(weights)
    for method, args in case.embedding_methods.items():
        getattr(layers[0], method)(*args)


def _tensor_device(value: Any) -> str | None:
    """Where a backend tensor lives, as its framework names it (`cpu:0`, `cuda:0`, ...)."""
    device = getattr(value, "device", None)
    if device is not None and not callable(device):
        return str(device)
    devices = getattr(value, "devices", None)
    if callable(devices):  # jax.Array
        return ", ".join(sorted(str(d) for d in devices()))
    return None


def _weights_device(layer: Any) -> str | None:
    variables = getattr(layer, "weights", None) or []
    return _tensor_device(variables[0].value) if variables else None


def _ids(case: Case) -> np.ndarray:
    if case.input.sequences is not None:
        # As the user would: Keras pads the ragged sequences itself.
        return np.asarray(keras.utils.pad_sequences(
            [list(s) for s in case.input.sequences], padding=case.input.padding or "pre",
            dtype=case.input.dtype,
        ))
    return input_array(case)


def _ids_b(case: Case) -> np.ndarray | None:
    return None if case.input_b is None else input_array(case, case.input_b)


def _symbolic(ids: np.ndarray | None) -> Any:
    return None if ids is None else keras.Input(shape=ids.shape[1:], dtype=ids.dtype.name)


def _model(case: Case, layers: list[Any], ids: np.ndarray) -> Any:
    shape = case.model_input_shape or tuple(ids.shape[1:])
    inputs = keras.Input(shape=shape, dtype=case.input.dtype)
    inputs_b = _symbolic(_ids_b(case))
    if case.check == "mask":
        layers[0](inputs)
        outputs = layers[0].compute_mask(inputs)
    else:
        outputs = _forward(layers, inputs, case, inputs_b)
    model = keras.Model(inputs if inputs_b is None else [inputs, inputs_b], outputs)
    _set_weights(layers, case)
    return model


def _feed(case: Case, ids: np.ndarray) -> Any:
    ids_b = _ids_b(case)
    return ids if ids_b is None else [ids, ids_b]


def _eager(case: Case, layers: list[Any], ids: np.ndarray) -> tuple[Any, str | None]:
    ids_b = _ids_b(case)
    if len(layers) == 1 or ids.ndim < 2:
        layers[0].build(ids.shape)
    else:  # a symbolic call builds every layer for the data's shape, weights set after
        _forward(layers, keras.Input(shape=ids.shape[1:], dtype=case.input.dtype), case,
                 _symbolic(ids_b))
    _set_weights(layers, case)
    if case.check == "mask":
        out = layers[0].compute_mask(ids)
    else:
        out = _forward(layers, ids, case, ids_b)
    return out, _tensor_device(out)


def _predict(case: Case, layers: list[Any], ids: np.ndarray) -> tuple[Any, str | None]:
    model = _model(case, layers, ids)
    if case.mode == "jit_compile":
        model.compile(jit_compile=True)
    out = model.predict(_feed(case, ids), verbose=0)
    # predict returns NumPy; the weights say where the computation ran.
    return out, _weights_device(layers[0])


def _fit(case: Case, layers: list[Any], ids: np.ndarray) -> tuple[Any, str | None]:
    model = _model(case, layers, ids)
    rate = float((case.fit or {})["learning_rate"])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=rate), loss="mse")
    target = np.zeros(model.output_shape[1:], dtype="float32")[np.newaxis]
    target = np.repeat(target, len(ids), axis=0)
    model.fit(ids, target, batch_size=len(ids), epochs=1, shuffle=False, verbose=0)
    table = layers[0].embeddings
    return keras.ops.convert_to_numpy(table.value), _tensor_device(table.value)


def _save_load(case: Case, layers: list[Any], ids: np.ndarray) -> tuple[Any, str | None]:
    backend = keras.backend.backend()
    saved_on = case.saved_on or backend
    folder = artifacts_dir() / saved_on
    path = folder / f"{case.group}-{case.axes.get('model', 'model')}.keras"
    sidecar = path.with_suffix(".json")
    if saved_on == backend:
        model = _model(case, layers, ids)
        folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.stem + ".tmp.keras")
        model.save(tmp)
        tmp.replace(path)
        sidecar.write_text(json.dumps({
            "saved_on": backend, "keras": keras.__version__, "case": case.id,
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        }, indent=1), encoding="utf-8")
    elif not path.exists():
        raise NotRun(f"no model saved under {saved_on}: {path} is missing; run "
                     f"`nox -s \"run({saved_on}-cpu)\"` first")
    loaded = keras.models.load_model(path)
    out = loaded.predict(_feed(case, ids), verbose=0)
    return out, _weights_device(loaded.layers[1] if len(loaded.layers) > 1 else loaded)


@contextlib.contextmanager
def _jax_x64(enabled: bool) -> Iterator[None]:
    """Turns on JAX's 64-bit mode for one case (`jax.config.update("jax_enable_x64", True)`)."""
    if not enabled:
        yield
        return
    if keras.backend.backend() != "jax":
        raise NotApplicable("jax_enable_x64 is a JAX setting; this backend has no such mode")
    import jax

    before = bool(jax.config.jax_enable_x64)
    jax.config.update("jax_enable_x64", True)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", before)


@contextlib.contextmanager
def _dtype_policy(policy: str | None) -> Iterator[None]:
    """Applies a dtype policy (or floatx) for one case and restores the defaults after."""
    if policy is None:
        yield
        return
    # The raw global (None until a policy is set): `keras.config.dtype_policy()` would return
    # a float32 policy object, and restoring that would pin float32 over any later floatx.
    from keras.src.backend.common import global_state

    before_policy = global_state.get_global_attribute("dtype_policy", None)
    before_floatx = keras.config.floatx()
    try:
        if policy == "floatx_bfloat16":
            # As at the start of a program: Keras pins the global policy to floatx the first
            # time a layer asks for it, after which set_floatx no longer reaches new layers.
            global_state.set_global_attribute("dtype_policy", None)
            keras.config.set_floatx("bfloat16")
        else:
            keras.config.set_dtype_policy(policy)
        yield
    finally:
        keras.config.set_floatx(before_floatx)
        global_state.set_global_attribute("dtype_policy", before_policy)


_MODES = {"eager": _eager, "predict": _predict, "jit_compile": _predict, "fit": _fit,
          "save_load": _save_load}


def _ragged(case: Case) -> tuple[Any, str | None]:
    """Embedding called on a `tf.RaggedTensor`; observed as its flat values."""
    if keras.backend.backend() != "tensorflow":
        raise NotApplicable(f"tf.RaggedTensor exists on TensorFlow only; the "
                            f"{keras.backend.backend()} backend has no ragged tensors")
    import tensorflow as tf

    ids = tf.ragged.constant(case.input.ids, dtype=case.input.dtype)
    layer = _build(case.layers[0])
    layer.build((None, None))
    _set_weights([layer], case)
    out = layer(ids)
    values = out.flat_values if isinstance(out, tf.RaggedTensor) else out
    return values, _tensor_device(values)


def _pad(case: Case) -> tuple[Any, str | None]:
    out = keras.utils.pad_sequences([list(s) for s in case.input.sequences or ()],
                                    **dict(case.pad or {}))
    return np.asarray(out), "host (NumPy)"


def run_case(case: Case) -> tuple[Observation, np.ndarray | None]:
    """Runs the case and observes it.

    Returns:
        (observation, output as NumPy or None). An exception raised by Keras or the backend is
        an observation of kind `error`, never an exception of this function.

    Raises:
        NotRun: the case cannot run here; the reason says why.
        NotApplicable: the case has no meaning on this backend.
    """
    weights_dtype = None
    try:
        with _jax_x64(case.jax_x64), _dtype_policy(case.dtype_policy):
            if case.check == "ids":
                out, device = _pad(case)
            elif case.structure == "ragged":
                out, device = _ragged(case)
            else:
                ids = _ids(case)
                layers = _build_layers(case)
                out, device = _MODES[case.mode](case, layers, ids)
                variables = getattr(layers[0], "weights", None) or []
                if variables:
                    weights_dtype = keras.backend.standardize_dtype(variables[0].dtype)
        if out is None:
            return Observation(kind="value", shape=None, dtype="None", device=device,
                               weights_dtype=weights_dtype), None
        try:
            dtype = keras.backend.standardize_dtype(getattr(out, "dtype", None) or "float32")
        except ValueError:  # not a Keras dtype, e.g. the bytes of pad_sequences(dtype="S1")
            dtype = str(getattr(out, "dtype", "unknown"))
        array = np.asarray(keras.ops.convert_to_numpy(out))
    except (NotRun, NotApplicable):
        raise
    except Exception as exc:
        return error_observation(exc), None
    floating = array.dtype.kind == "f" or "float" in str(array.dtype)  # ml_dtypes bfloat16
    nan_count = int(np.isnan(array.astype(np.float64)).sum()) if floating else 0
    observation = Observation(kind="value", shape=list(array.shape), dtype=dtype,
                              nan_count=nan_count, device=device, weights_dtype=weights_dtype)
    return observation, array


def max_abs_error(want: np.ndarray, got: np.ndarray) -> float | None:
    """How far an output is from the reference; None when the shapes differ.

    Byte or text strings (padded bytes) are equal (0) or not (inf).
    """
    if want.dtype.kind in "SUO":
        return 0.0 if want.shape == got.shape and bool(np.all(want == got)) else float("inf")
    try:
        return reference.compare(want.astype(np.float64), got.astype(np.float64))[0]
    except ValueError:  # shapes differ: judge() reports the mismatch
        return None


def observe(case: Case) -> tuple[Observation, Expected]:
    """Runs a case and measures it against the reference.

    Returns:
        (observation with `max_abs_error` filled in where values can be compared, the
        reference's answer).

    Raises:
        NotRun, NotApplicable: as `run_case`.
    """
    want = expected(case)
    observation, output = run_case(case)
    if observation.kind == "value" and want.values is not None and output is not None:
        error = max_abs_error(np.asarray(want.values), np.asarray(output))
        observation = dataclasses.replace(observation, max_abs_error=error)
    return observation, want
