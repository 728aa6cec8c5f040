"""Repro snippets: a few lines of Python that reproduce a case, runnable as they are.

The report puts one in each cell's details, after a line that selects the backend
(`os.environ["KERAS_BACKEND"] = ...`). The snippet builds the same layers, the same index
tensor and the same call (eager or `predict`) as the run; it keeps Keras's own initial
weights (the run sets seeded ones), so errors, NaN rows, shapes and dtypes reproduce exactly
and values differ only by the weights.
"""

from __future__ import annotations

from cases.core import Case, LayerSpec


def _layer_name(spec: LayerSpec, position: int) -> str:
    return "embedding" if position == 0 else f"layer{position}"


def _ids_line(case: Case) -> str:
    spec = case.input
    if spec.sequences is not None:
        seqs = [list(s) for s in spec.sequences]
        return (f"ids = keras.utils.pad_sequences({seqs}, padding={spec.padding or 'pre'!r}, "
                f"dtype={spec.dtype!r})")
    return f"ids = np.array({spec.ids!r}, dtype={spec.dtype!r})"


def snippet(case: Case) -> str:
    """The repro snippet of a Keras case (without the backend line).

    Returns:
        Python source, newline-terminated; it prints the output's shape and dtype, the number
        of NaN entries, and the output itself.
    """
    lines = ["import numpy as np", "import keras", "", _ids_line(case)]
    for position, spec in enumerate(case.layers):
        args = ", ".join(f"{k}={v!r}" for k, v in spec.init_kwargs.items())
        lines.append(f"{_layer_name(spec, position)} = keras.layers.{spec.class_name}({args})")
    names = [_layer_name(s, n) for n, s in enumerate(case.layers)]
    if case.mode == "eager":
        if case.check == "mask":
            lines.append("out = embedding.compute_mask(ids)")
        else:
            call = "ids"
            for name in names:
                call = f"{name}({call})"
            lines.append(f"out = {call}")
    else:
        shape = case.model_input_shape
        shape_text = repr(tuple(shape)) if shape is not None else "ids.shape[1:]"
        lines.append(f"inputs = keras.Input(shape={shape_text}, dtype={case.input.dtype!r})")
        if case.check == "mask":
            lines += ["embedding(inputs)", "x = embedding.compute_mask(inputs)"]
        else:
            lines.append("x = inputs")
            lines += [f"x = {name}(x)" for name in names]
        lines += ["model = keras.Model(inputs, x)", "out = model.predict(ids, verbose=0)"]
    lines += [
        "out = keras.ops.convert_to_numpy(out)",
        "print(out.shape, out.dtype, 'NaN:', int(np.isnan(out).sum()) "
        "if out.dtype.kind == 'f' else 0)",
        "print(out)",
    ]
    return "\n".join(lines) + "\n"
