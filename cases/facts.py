"""What a case's program does, read from the typed case: the facts limitations are matched on.

A case's `axes` are labels its author wrote; two authors label the same program differently
(`subject: layers.GRU` or `layers.Embedding` for `Embedding -> GRU`), and a user catalog may
leave an axis out (`batch: empty`). The facts here are derived from the program itself, so a
limitation covers a cell because of what its program calls and on which inputs, whatever
the labels say (`matrix.results.matching.covers`):

- `subject`: every Keras API the program calls, in order: each step's subject, the layers
  nested in its arguments (`Bidirectional(layer=LSTM)`), its wrapper (`TimeDistributed`),
  and what the mode calls (`saving.load_model` for `save_load`; `optimizers.SGD` and the loss
  for `fit`; `config.set_dtype_policy` or `config.set_floatx` for a dtype policy);
- `mode`: the case's mode;
- `batch`: `empty` when an input fed to the program has an empty batch, else nothing;
- `dtype_policy`: the policy the program sets, `float32` when it sets none;
- `values`: for each `Embedding` step, the class of the ids it is fed (computed from the
  inputs through the host utilities, as the reference does): `in_range`, `out_of_range`
  (`>= input_dim`), `negative`, `fractional`, plus `padded` (real ids beside padding:
  made by `utils.pad_sequences`, or zeros that a mask marks as padding), `all_padding` (a
  row of padding only) and `dtype_limit` (an id at its integer dtype's limit). Absent for a
  program with no `Embedding`: there the case's own `values` axis is read.

Only the standard library and NumPy are imported (the reference's host utilities).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from cases.model import Case, Nested, Step
from cases.subjects import input_array, pad_sequences, record_of

#: The facts derived from the program; for these keys a limitation never reads the labels.
DERIVED = ("subject", "mode", "batch", "dtype_policy", "values")
#: The loss each `fit` program compiles with: labels or not (`matrix.run.program`).
_FIT_LOSS = {True: "losses.SparseCategoricalCrossentropy", False: "losses.MeanSquaredError"}


def _nested(value: Any) -> Iterator[str]:
    if isinstance(value, Nested):
        yield value.subject
        for inner in value.args.values():
            yield from _nested(inner)
    elif isinstance(value, list | tuple):
        for inner in value:
            yield from _nested(inner)


def subjects(case: Case) -> tuple[str, ...]:
    """Every Keras API the program calls, as typed after `keras.`, once each, in order."""
    found: list[str] = []
    if case.dtype_policy is not None and case.dtype_policy.startswith("floatx_"):
        found.append("config.set_floatx")
    elif case.dtype_policy is not None:
        found.append("config.set_dtype_policy")
    for step in case.steps:
        found.append(step.subject)
        for value in step.args.values():
            found.extend(_nested(value))
        if step.wrap:
            found.append(f"layers.{step.wrap}")
    if case.mode == "save_load":
        found.append("saving.load_model")
    if case.mode == "fit" and case.fit is not None:
        found += ["optimizers.SGD", _FIT_LOSS[case.fit.labels is not None]]
    return tuple(dict.fromkeys(found))


def _batch(case: Case) -> tuple[str, ...]:
    for tensor in case.inputs.values():
        if tensor.constant:
            continue
        if tensor.shape is not None:
            size = tensor.shape[0] if tensor.shape else None
        else:
            size = len(tensor.values) if isinstance(tensor.values, list | tuple) else None
        if size == 0:
            return ("empty",)
    return ()


def _fed_ids(case: Case) -> Iterator[tuple[Step, np.ndarray[Any, Any], str | None, bool]]:
    """Each `Embedding` step with the ids it is fed, the subject that made them, and whether
    a later step is given an explicit mask. Host utilities run in NumPy as the reference
    runs them (`utils.pad_sequences`, the only one with a reference); a utility without one,
    or one that refuses its input, ends the walk."""
    values = {name: input_array(tensor) for name, tensor in case.inputs.items()}
    made = {step.output: step.subject for step in case.steps}
    explicit = any("mask" in step.call for step in case.steps)
    for step in case.steps:
        record = record_of(step)
        if step.subject == "layers.Embedding" and step.inputs and step.inputs[0] in values:
            yield step, np.asarray(values[step.inputs[0]]), made.get(step.inputs[0]), \
                explicit
        if record.host:
            if record.reference != "pad_sequences":
                return
            try:
                out = pad_sequences(list(values[step.inputs[0]]), **step.args)
            except Exception:  # the reference refuses here; nothing later is fed
                return
            values[step.output] = out if step.item is None else np.asarray(out[step.item])


def _classes(step: Step, ids: np.ndarray[Any, Any], made_by: str | None,
             explicit: bool) -> list[str]:
    if ids.dtype.kind not in "biuf" or ids.size == 0:
        return []
    found = []
    as_float = ids.astype("float64")
    if ids.dtype.kind == "f" and np.any(as_float != np.floor(as_float)):
        found.append("fractional")
    if np.any(as_float < 0):
        found.append("negative")
    limit = step.args.get("input_dim")
    if isinstance(limit, int) and np.any(as_float >= limit):
        found.append("out_of_range")
    if not found:
        found.append("in_range")
    zeros = bool(np.any(ids == 0))
    marked = made_by == "utils.pad_sequences" or (zeros and (step.args.get("mask_zero")
                                                             or explicit))
    if marked and np.any(ids != 0):  # real ids beside the padding
        found.append("padded")
    if marked and ids.ndim == 2 and np.any(np.all(ids == 0, axis=1)):
        found.append("all_padding")
    if ids.dtype.kind in "iu":
        info = np.iinfo(ids.dtype)
        if np.any(ids == info.max) or (ids.dtype.kind == "i" and np.any(ids == info.min)):
            found.append("dtype_limit")
    return found


def program_facts(case: Case) -> dict[str, tuple[str, ...]]:
    """The facts of `case`'s program (see the module docstring), by `DERIVED` key.

    Returns:
        {key: values}; `values` is absent when the program has no `Embedding` step.
    """
    facts = {"subject": subjects(case), "mode": (case.mode,), "batch": _batch(case),
             "dtype_policy": (case.dtype_policy or "float32",)}
    classes = [c for fed in _fed_ids(case) for c in _classes(*fed)]
    if classes:
        facts["values"] = tuple(dict.fromkeys(classes))
    return facts


__all__ = ["DERIVED", "program_facts", "subjects"]
