"""The record type of the catalog and what every kind of record shares.

A `Subject` (the idea of PyTorch's OpInfo, `torch/testing/_internal/opinfo/core.py`) holds
everything the matrix knows about one Keras layer, op or utility:

- how it is constructed, and which constructor arguments the NumPy reference models
  (`args`; any other is refused at collection with `Received: name=value`);
- how it is called (`call`: one tensor, a list, or query and value), which call arguments
  are modelled (`call_args`);
- its weights: their shapes for a given input width, in the order of `layer.weights`; the run
  gives them seeded values (`matrix.oracle.arrays.seeded_weights`);
- the key of its NumPy reference (`reference`) and, for `compute_mask`, of its mask (`mask`):
  strings that the oracle resolves (`matrix.oracle.registry`), so the catalog stays data;
- which exceptions a correct backend may raise where the reference refuses an input
  (`refusals`: reference exception -> accepted error type names);
- how it renders as Python (`render` of `keras.<name>(...)`, and `source` for a custom
  layer's class).

The records themselves are in the kind modules beside this one (`layers`, `ops`, `losses`,
`utilities`); the registry that gathers them is the package (`cases.subjects.SUBJECTS`).
This module also holds the constants those records share (`KERAS`, `INDEX_ERRORS`,
`INDEX_PATTERNS`) and the small NumPy helpers the records and the catalog use
(`input_array`, `pad_sequences`, `rnn_weight_shapes`). NumPy only: no framework is
imported, and nothing of `matrix`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from cases.model import INPUT_DTYPES, Nested, Tensor, numpy_dtype

Array = np.ndarray[Any, Any]
CallConvention = Literal["single", "list", "query_value", "function", "loss", "metric",
                         "open"]
Kind = Literal["layer", "op", "utility", "loss", "metric"]


#: `weights(args, input_features) -> (weight shapes, output features)`.
Shapes = Callable[[Mapping[str, Any], Sequence[int]], tuple[list[tuple[int, ...]], int]]


@dataclass(frozen=True, kw_only=True)
class Subject:
    """Everything known about one Keras API under test.

    Attributes:
        name: as typed after `keras.`: `layers.Embedding`, `utils.pad_sequences`.
        kind: `layer` (constructed, then called; has weights), `op` or `utility` (called).
        args: constructor (or keyword) arguments the reference models -> the values it
            models, or None for any value.
        required: arguments that must be given.
        call: `single` (`layer(x)`), `list` (`layer([a, b])`), `query_value`
            (`layer(query, value)`), `function` (`keras.ops.take(a, b, **args)`).
        call_args: call keyword arguments the reference models.
        weights: the weight shapes and output width; None for a subject without weights
            whose output is as wide as its first input.
        reference: the key of the NumPy computation (`matrix.oracle.registry.REFERENCES`;
            `op_table` for a table op, `no_reference` for an open record).
        mask: the key of what `compute_mask` returns, for subjects where the catalog
            checks it.
        refusals: reference exception class name -> error type names a correct backend may
            raise instead (e.g. `IndexError` -> `IndexError`, `InvalidArgumentError`).
        refusal_patterns: error type name -> a regular expression its message must match to
            count as the refusal (a `RuntimeError` only when it names the bad index).
        tolerance_kind: the kind of computation that picks the tolerance
            (`matrix.oracle.tolerance.TOLERANCES`).
        output_dtype: the Keras dtype its output must have: `policy` (the dtype policy's
            compute dtype), a dtype name, or None where the reference does not say (the
            observation still records it).
        host: runs on the host before the model (a data utility), never inside it.
        source: Python source of a custom layer class, put into the program.
        doc: where the modelled behaviour is documented.
        open: no hand-written record: any constructor and call arguments, no reference
            (`open_subject`); the case is judged by agreement across backends.
        dtype_rule: the output's Keras dtype from the inputs' (a table op: `op_table`);
            when set, it replaces `output_dtype`.
    """

    name: str
    kind: Kind
    args: Mapping[str, tuple[Any, ...] | None] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    call: CallConvention = "single"
    call_args: frozenset[str] = frozenset()
    weights: Shapes | None = None
    reference: str
    mask: str | None = None
    refusals: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    refusal_patterns: Mapping[str, str] = field(default_factory=dict)
    tolerance_kind: str = "lookup"
    output_dtype: str | None = "policy"
    host: bool = False
    source: str | None = None
    doc: str = ""
    open: bool = False
    dtype_rule: Callable[[Sequence[str]], str] | None = None

    @property
    def class_name(self) -> str:
        """The last part of the name: `Embedding`."""
        return self.name.rsplit(".", 1)[-1]

    def render(self, args: Mapping[str, Any]) -> str:
        """The constructor call as Python, e.g. `keras.layers.Embedding(input_dim=10, ...)`."""
        text = ", ".join(f"{k}={render_value(v)}" for k, v in args.items())
        prefix = "" if self.source else "keras."
        return f"{prefix}{self.name if not self.source else self.class_name}({text})"


#: The namespace of a custom layer's record (`custom.MaskProbe`): its class is defined in the
#: program (`Subject.source`), so it renders without the `keras.` prefix.
CUSTOM = "custom."


def render_value(value: Any) -> str:
    """A constructor argument as Python source; a nested layer renders as its constructor
    (`keras.layers.GRU(units=3)`, or `MaskProbe(...)` for a `custom.` layer, whose class is in
    the program), a function of a user catalog by its name (its source goes into the program:
    `cases.subjects.catalog_functions`)."""
    if isinstance(value, Nested):
        text = ", ".join(f"{k}={render_value(v)}" for k, v in value.args.items())
        if value.subject.startswith(CUSTOM):
            return f"{value.subject.rsplit('.', 1)[-1]}({text})"
        return f"keras.{value.subject}({text})"
    if inspect.isfunction(value):
        return value.__name__
    if isinstance(value, list | tuple) and any(isinstance(v, Nested) for v in value):
        return "[" + ", ".join(render_value(v) for v in value) + "]"
    return repr(value)


# --- shared by the records ----------------------------------------------------------------

KERAS = "https://github.com/keras-team/keras/blob/v3.15.1/keras/src/"
#: Exceptions by which the backends refuse an index outside the table: torch's `IndexError`,
#: TensorFlow's `InvalidArgumentError` ("indices[...] = 10 is not in [0, 10)"), and the
#: `RuntimeError` of a kernel that checks its bounds (torch.compile's generated code: "index
#: out of bounds"; a CUDA "device-side assert"), which counts only with such a message.
INDEX_ERRORS: tuple[str, ...] = ("IndexError", "InvalidArgumentError", "RuntimeError")
INDEX_PATTERNS: Mapping[str, str] = {
    "RuntimeError": r"index out of bounds|out of range|device-side assert"}


_GATES: dict[str, int] = {"SimpleRNN": 1, "GRU": 3, "LSTM": 4}


def rnn_weight_shapes(layer: str, features: int, units: int, *, reset_after: bool = True
                      ) -> list[tuple[int, ...]]:
    """Gives the shapes of a recurrent layer's weights, in the order Keras lists ``layer.weights``.

    The order is ``kernel``, ``recurrent_kernel``, ``bias``, as each cell's `build` creates them
    (keras/src/layers/rnn/simple_rnn.py, gru.py, lstm.py), with Keras 3 defaults: ``use_bias=True``
    and, for GRU, ``reset_after=True`` (so its bias has shape ``(2, 3 * units)``).

    Args:
        layer: ``"SimpleRNN"``, ``"GRU"`` or ``"LSTM"`` (the Keras class name).
        features: The size of the last axis of the input.
        units: The layer's ``units``.

    Returns:
        ``[(features, g * units), (units, g * units), bias_shape]`` with ``g`` 1, 3 or 4.

    Raises:
        ValueError: If `layer` is not one of the three, or `features` or `units` is not positive.
    """
    if layer not in _GATES:
        raise ValueError(f"`layer` must be one of {sorted(_GATES)}. Received: layer={layer!r}")
    if features < 1 or units < 1:
        raise ValueError(
            f"`features` and `units` must be positive. Received: features={features}, units={units}"
        )
    width = _GATES[layer] * units
    bias: tuple[int, ...] = (2, width) if layer == "GRU" and reset_after else (width,)
    return [(features, width), (units, width), bias]


def input_array(tensor: Tensor) -> Array:
    """An input as NumPy holds it: an array of its Keras dtype, a ragged input's flat values,
    or a `sequences` input as an object array of lists (`utils.pad_sequences` takes it as it
    is)."""
    if tensor.sequences:
        return (np.asarray(list(map(list, tensor.values)), dtype=object)
                if tensor.values else np.zeros((0,), dtype=object))
    if tensor.dtype == "bfloat16":  # ml_dtypes reads no "nan" text: through float32
        values = np.array(tensor.values, dtype="float32")
        shaped = values.reshape(tensor.shape) if tensor.shape is not None else values
        return shaped.astype(numpy_dtype("bfloat16"))
    dtype = INPUT_DTYPES[tensor.dtype]
    if tensor.ragged:
        return np.array([i for row in tensor.values for i in row], dtype=dtype)
    if tensor.shape is not None:
        return np.array(tensor.values, dtype=dtype).reshape(tensor.shape)
    return np.array(tensor.values, dtype=dtype)


def pad_sequences(sequences: Sequence[Sequence[Any]], *, padding: str = "pre",
                  truncating: str = "pre", maxlen: int | None = None, value: Any = 0,
                  dtype: str = "int32") -> Array:
    """NumPy padding of ragged sequences: the documented `keras.utils.pad_sequences`.

    Sequences longer than `maxlen` lose their first (`truncating="pre"`) or last steps;
    shorter ones get `value` before (`padding="pre"`) or after them (Keras docs,
    `keras.utils.pad_sequences`). An empty list gives an empty `(0, maxlen or 0)` array.

    Returns:
        (batch, maxlen or the longest length) array of `dtype`.
    """
    length = maxlen if maxlen is not None else max((len(s) for s in sequences), default=0)
    out = np.full((len(sequences), length), value, dtype=dtype)
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
