"""One record per Keras API under test: the single source of truth about it.

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

The oracle (`matrix/oracle/`), the program renderer and the run all read these records;
adding a layer is one record here, its reference in the oracle, plus the loops of its family
module. NumPy only: no framework is imported, and nothing of `matrix`.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from cases.model import INPUT_DTYPES, Nested, Step, Tensor

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


def render_value(value: Any) -> str:
    """A constructor argument as Python source; a nested layer renders as its constructor, a
    function of a user catalog by its name (its source goes into the program:
    `catalog_functions`)."""
    if isinstance(value, Nested):
        return SUBJECTS[value.subject].render(value.args)
    if inspect.isfunction(value):
        return value.__name__
    if isinstance(value, list | tuple) and any(isinstance(v, Nested) for v in value):
        return "[" + ", ".join(render_value(v) for v in value) + "]"
    return repr(value)


# --- the records ------------------------------------------------------------------------------

KERAS = "https://github.com/keras-team/keras/blob/v3.15.1/keras/src/"
#: Exceptions by which the backends refuse an index outside the table: torch's `IndexError`,
#: TensorFlow's `InvalidArgumentError` ("indices[...] = 10 is not in [0, 10)"), and the
#: `RuntimeError` of a kernel that checks its bounds (torch.compile's generated code: "index
#: out of bounds"; a CUDA "device-side assert"), which counts only with such a message.
INDEX_ERRORS: tuple[str, ...] = ("IndexError", "InvalidArgumentError", "RuntimeError")
INDEX_PATTERNS: Mapping[str, str] = {
    "RuntimeError": r"index out of bounds|out of range|device-side assert"}


def _embedding_weights(args: Mapping[str, Any], features: Sequence[int]
                       ) -> tuple[list[tuple[int, ...]], int]:
    return [(int(args["input_dim"]), int(args["output_dim"]))], int(args["output_dim"])


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



def rnn_weights(name: str) -> Shapes:
    """The weight shapes of a SimpleRNN, GRU or LSTM layer or cell, from its `units`."""
    def shapes(args: Mapping[str, Any], features: Sequence[int]
               ) -> tuple[list[tuple[int, ...]], int]:
        units = int(args["units"])
        extra = {"reset_after": bool(args.get("reset_after", True))} if name == "GRU" else {}
        return rnn_weight_shapes(name, features[0], units, **extra), units
    return shapes


def _bidirectional_weights(args: Mapping[str, Any], features: Sequence[int]
                           ) -> tuple[list[tuple[int, ...]], int]:
    inner: Nested = args["layer"]
    shapes, units = SUBJECTS[inner.subject].weights(inner.args, features)  # type: ignore[misc]
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


def input_array(tensor: Tensor) -> Array:
    """An input as NumPy holds it: an array of its Keras dtype, a ragged input's flat values,
    or a `sequences` input as an object array of lists (`utils.pad_sequences` takes it as it
    is)."""
    if tensor.sequences:
        return (np.asarray(list(map(list, tensor.values)), dtype=object)
                if tensor.values else np.zeros((0,), dtype=object))
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


_RECORDS: tuple[Subject, ...] = (
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
    Subject(name="utils.pad_sequences", kind="utility", call="function", host=True,
            args={"padding": ("pre", "post"), "truncating": ("pre", "post"), "maxlen": None,
                  "value": None, "dtype": None},
            reference="pad_sequences", tolerance_kind="mask",
            doc=f"{KERAS}utils/sequence_utils.py"),
)

from cases.path_subjects import PATH_RECORDS  # noqa: E402 - it uses the types above

# --- the open catalog: any public Keras callable, without a record ---------------------------

#: The Keras namespaces an open step may call, as typed after `keras.` (`ops.floor_divide`,
#: `layers.Dense`, `activations.relu`, `utils.to_categorical`, `losses.Huber`, ...).
OPEN_NAMESPACES = ("ops", "layers", "losses", "metrics", "activations", "utils")
OPEN_NAME = re.compile(rf"(?:{'|'.join(OPEN_NAMESPACES)})\.[A-Za-z][A-Za-z0-9_]*")
KERAS_API = "https://keras.io/api/"


@functools.cache
def open_subject(name: str) -> Subject:
    """The record of a Keras callable that has no hand-written one, from its name alone.

    `layers.X` (a class) is constructed, then called on its input (a list of them when a
    step has several); `losses.X` and `metrics.X` classes are constructed, then called or
    updated; every other name is a function called on the step's inputs with its `args` as
    keywords. `utils.*` runs on the host, before the model. Whether the name exists in the
    installed Keras is checked where Keras is imported (`cases.conftest`, at collection).

    Raises:
        KeyError: the name is not `<namespace>.<identifier>` in `OPEN_NAMESPACES`.
    """
    if not OPEN_NAME.fullmatch(name):
        raise KeyError(f"{name!r} is not a Keras callable as typed after `keras.` in one of "
                       f"{', '.join(OPEN_NAMESPACES)} (e.g. ops.floor_divide, layers.Dense)")
    namespace, attr = name.split(".")
    is_class = attr[:1].isupper()
    kind: Kind = "utility" if namespace == "utils" else "op"
    call: CallConvention = "function"
    if is_class and namespace == "layers":
        kind, call = "layer", "open"
    elif is_class and namespace == "losses":
        kind, call = "loss", "single"
    elif is_class and namespace == "metrics":
        kind, call = "metric", "metric"
    return Subject(name=name, kind=kind, call=call, reference="no_reference", output_dtype=None,
                   host=namespace == "utils", open=True, tolerance_kind="recurrent",
                   doc=f"{KERAS_API}{namespace}/")


@functools.cache
def table_subject(name: str) -> Subject | None:
    """The record of a `keras.ops` function the op table gives a NumPy reference
    (`cases/op_table.json`), or None."""
    from cases import op_table

    spec = op_table.entry(name)
    if spec is None:
        return None
    return Subject(name=name, kind="op", call="function",
                   args=dict.fromkeys(spec.get("args", ())), reference="op_table",
                   output_dtype=None, tolerance_kind="recurrent",
                   dtype_rule=functools.partial(op_table.output_dtype, name),
                   doc=op_table.table()["source"])


def models(record: Subject, step: Step) -> bool:
    """Whether a hand-written record models every argument a step gives (its `args`, their
    values, its call arguments). A layer's required argument left out is the catalog's
    error (`cases.load`); a function's may come as a tensor input instead."""
    for key, value in step.args.items():
        if key not in record.args:
            return False
        allowed = record.args[key]
        if allowed is not None and value not in allowed:
            return False
        if isinstance(value, Nested) and not (value.subject in SUBJECTS and models(
                SUBJECTS[value.subject], Step(subject=value.subject, args=value.args))):
            return False
    if record.call == "function" and any(r not in step.args for r in record.required):
        return False  # `ops.digitize(x, bins)` with bins as a tensor: not the record's call
    return all(k in record.call_args for k in step.call)


def record_of(step: Step) -> Subject:
    """The record a step is judged by: the hand-written one (or the op table's, for a NumPy
    twin in `keras.ops`) when it models the step's arguments, else the open record of its
    name (no reference: judged by agreement).

    Raises:
        KeyError: the subject has no record and is no open name (`open_subject`).
    """
    written = _WRITTEN.get(step.subject) or table_subject(step.subject)
    if written is not None and (written.source is not None or models(written, step)):
        return written
    return open_subject(step.subject)


def catalog_functions(step: Step) -> Iterator[Callable[..., Any]]:
    """The functions a step passes as arguments (a `standardize=` callable), nested included."""
    for value in (*step.args.values(), *step.call.values()):
        if inspect.isfunction(value):
            yield value
        elif isinstance(value, Nested):
            yield from catalog_functions(Step(subject=value.subject, args=value.args))


class _Registry(Mapping[str, Subject]):
    """Every hand-written record by name; looking up another Keras callable's name gives its
    open record (`open_subject`). `in`, `len` and iteration see the written records only."""

    def __init__(self, records: Mapping[str, Subject]) -> None:
        self._records = records

    def __getitem__(self, name: str) -> Subject:
        found = self._records.get(name)
        return found if found is not None else open_subject(name)

    def __contains__(self, name: object) -> bool:
        return name in self._records

    def __iter__(self) -> Iterator[str]:
        return iter(self._records)

    def __len__(self) -> int:
        return len(self._records)


_WRITTEN: Mapping[str, Subject] = {s.name: s for s in (*_RECORDS, *PATH_RECORDS)}
#: Every record by name (hand-written; an open name looks up its open record).
SUBJECTS: Mapping[str, Subject] = _Registry(_WRITTEN)
