"""Runs a user's saved model layer by layer on this process's backend: what `nox -s check` runs.

`python -m matrix.run.check_model MODEL.keras INPUTS.npz --out DIR [--custom-objects module.py]`,
with `KERAS_BACKEND` set, loads the model, then calls each of its layers eagerly, in the
model's order, on the outputs (and masks) its inbound layers produced, so that the first layer
that raises is known by name (a functional model exposing every output would raise as a whole).
Each layer's output mask is `layer.compute_mask(inputs, mask)`. It writes `DIR/observed.json`
(per layer: class, input dtype, whether a mask came in, and what happened: `value` with shape,
dtype and NaN count, `error` with type and first line, or `not_reached` after an upstream error)
and `DIR/values.npz` (`out|<layer>|<i>` and `mask|<layer>` arrays). A model that cannot be
loaded is written as `load_error`, never raised.
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def _first_line(exc: BaseException) -> str:
    """The error's meaningful first line (Keras's "Exception encountered when calling"
    wrapper and ANSI escapes left out, as the matrix's run files write it)."""
    from matrix.run.messages import clean_message

    return clean_message(str(exc))


def _custom_objects(path: str | None) -> dict[str, Any]:
    if not path:
        return {}
    spec = importlib.util.spec_from_file_location("kcm_custom_objects", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"--custom-objects {path}: not a Python module")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    found = getattr(module, "CUSTOM_OBJECTS", None)
    if isinstance(found, dict):
        return found
    return {name: value for name, value in vars(module).items()
            if isinstance(value, type) and not name.startswith("_")}


def _ordered_inputs(model: Any, arrays: dict[str, np.ndarray[Any, Any]]) -> list[Any]:
    graph = getattr(model, "_functional", None) or model
    names = [str(getattr(t, "name", "")) for t in graph.inputs]
    if all(n in arrays for n in names):
        return [arrays[n] for n in names]
    return [arrays[k] for k in sorted(arrays)]  # arr_0, arr_1, ... in the model's order


def observe_model(model: Any, inputs: list[Any]) -> tuple[list[dict[str, Any]],
                                                          dict[str, np.ndarray[Any, Any]]]:
    """Every layer's observation, and the arrays to compare (outputs and masks).

    Walks the model's graph as `Functional` does (`_nodes_by_depth`, deepest first, each
    node's arguments filled in from the tensors computed so far), one layer call at a time.
    """
    import keras

    graph = getattr(model, "_functional", None) or model
    values: dict[int, Any] = {id(t): keras.ops.convert_to_tensor(x)
                              for t, x in zip(graph.inputs, inputs, strict=True)}
    masks: dict[int, Any] = {}
    layers: list[dict[str, Any]] = []
    arrays: dict[str, np.ndarray[Any, Any]] = {}
    failed = False
    for depth in sorted(graph._nodes_by_depth, reverse=True):
        for node in graph._nodes_by_depth[depth]:
            layer = node.operation
            if node.is_input or type(layer).__name__ == "InputLayer":
                continue
            record: dict[str, Any] = {"name": layer.name, "class_name": type(layer).__name__}
            layers.append(record)
            if failed or any(id(t) not in values for t in node.input_tensors):
                record["kind"] = "not_reached"
                continue
            args, kwargs = node.arguments.fill_in(values)
            first = values[id(node.input_tensors[0])]
            record["input_dtype"] = keras.backend.standardize_dtype(first.dtype)
            in_masks = [masks.get(id(t)) for t in node.input_tensors]
            has_mask = any(m is not None for m in in_masks)
            record["mask_in"] = has_mask
            mask = (in_masks[0] if len(in_masks) == 1 else in_masks) if has_mask else None
            if has_mask and "mask" not in kwargs \
                    and "mask" in inspect.signature(layer.call).parameters:
                kwargs["mask"] = mask
            try:
                out = layer(*args, **kwargs)
                flat_out = [np.asarray(keras.ops.convert_to_numpy(o))
                            for o in keras.tree.flatten(out)]
            except Exception as exc:
                record.update(kind="error", error_type=type(exc).__name__,
                              message=_first_line(exc))
                failed = True
                continue
            try:
                out_mask = layer.compute_mask(args[0] if len(args) == 1 else list(args), mask)
            except Exception:  # a layer that cannot say: no mask
                out_mask = None
            record.update(kind="value", shape=[list(a.shape) for a in flat_out],
                          dtype=[keras.backend.standardize_dtype(a.dtype) for a in flat_out],
                          nan_count=[int(np.isnan(a).sum()) if a.dtype.kind == "f" else 0
                                     for a in flat_out])
            for i, array in enumerate(flat_out):
                arrays[f"out|{layer.name}|{i}"] = array
            mask_array = None
            if out_mask is not None and not isinstance(out_mask, list | tuple):
                mask_array = np.asarray(keras.ops.convert_to_numpy(out_mask)).astype(bool)
                arrays[f"mask|{layer.name}"] = mask_array
            record["mask_shape"] = None if mask_array is None else list(mask_array.shape)
            for symbolic, value in zip(node.outputs, keras.tree.flatten(out), strict=False):
                values[id(symbolic)] = value
                if mask_array is not None:
                    masks[id(symbolic)] = out_mask
    return layers, arrays


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m matrix.run.check_model")
    parser.add_argument("model")
    parser.add_argument("inputs")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--custom-objects", default=None)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"load_error": None, "layers": []}
    try:
        import keras

        result.update(backend=keras.backend.backend(), keras=keras.version())
        model = keras.saving.load_model(args.model, custom_objects=_custom_objects(
            args.custom_objects), compile=False)
    except Exception as exc:  # the backend's observation: this model does not load here
        result["load_error"] = f"{type(exc).__name__}: {_first_line(exc)}"
        (args.out / "observed.json").write_text(json.dumps(result), encoding="utf-8")
        return 0
    with np.load(args.inputs, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    layers, values = observe_model(model, _ordered_inputs(model, arrays))
    result["layers"] = layers
    np.savez(args.out / "values.npz", **values)  # type: ignore[arg-type]
    (args.out / "observed.json").write_text(json.dumps(result), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
