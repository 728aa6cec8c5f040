"""One record per Keras API under test: the single source of truth about it.

A `Subject` (the idea of PyTorch's OpInfo, `torch/testing/_internal/opinfo/core.py`) holds
everything the matrix knows about one Keras layer, op or utility:

- how it is constructed, and which constructor arguments the NumPy reference models
  (`args`; any other is refused at collection with `Received: name=value`);
- how it is called (`call`: one tensor, a list, or query and value), which call arguments
  are modelled (`call_args`);
- its weights: their shapes for a given input width, in the order of `layer.weights`; the run
  gives them seeded values (`matrix.reference.seeded_weights`);
- its NumPy reference (`reference`) and, for `compute_mask`, its mask (`mask`), each taking
  and returning `Value`s (array plus Keras mask);
- which exceptions a correct backend may raise where the reference refuses an input
  (`refusals`: reference exception -> accepted error type names);
- how it renders as Python (`render` of `keras.<name>(...)`, and `source` for a custom
  layer's class).

The oracle (`cases/expect.py`), the program renderer (`matrix/run/program.py`) and the run all
read these records; adding a layer is one record here plus the loops of its family module.
NumPy only: no framework is imported.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from cases.model import Nested, NoReference, NotModelled, Step
from matrix import reference

Array = np.ndarray[Any, Any]
CallConvention = Literal["single", "list", "query_value", "function", "loss", "metric",
                         "open"]
Kind = Literal["layer", "op", "utility", "loss", "metric"]


@dataclass(frozen=True)
class Value:
    """A value of the reference program: the array and the Keras mask that travels with it.

    Attributes:
        array: any shape; float64 for computed floats.
        mask: bool, the array's shape without its last axis (Keras's `_keras_mask`), or None.
    """

    array: Array
    mask: Array | None = None


#: `reference(args, inputs, weights, call_args) -> Value`.
Reference = Callable[[Mapping[str, Any], Sequence[Value], Sequence[Array], Mapping[str, Any]],
                     Value]
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
        reference: the NumPy computation.
        mask: what `compute_mask` returns, for subjects where the catalog checks it.
        refusals: reference exception class name -> error type names a correct backend may
            raise instead (e.g. `IndexError` -> `IndexError`, `InvalidArgumentError`).
        refusal_patterns: error type name -> a regular expression its message must match to
            count as the refusal (a `RuntimeError` only when it names the bad index).
        tolerance_kind: the kind of computation that picks the tolerance
            (`matrix.reference.TOLERANCES`).
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
    reference: Reference
    mask: Reference | None = None
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


def _embedding(args: Mapping[str, Any], inputs: Sequence[Value], w: Sequence[Array],
               call: Mapping[str, Any]) -> Value:
    ids = inputs[0].array
    mask = reference.padding_mask(ids) if args.get("mask_zero") else None
    return Value(reference.lookup(w[0], ids), mask)


def _embedding_mask(args: Mapping[str, Any], inputs: Sequence[Value], w: Sequence[Array],
                    call: Mapping[str, Any]) -> Value:
    ids = inputs[0].array
    reference.lookup(w[0], ids)  # the ids must be valid for the lookup too
    if not args.get("mask_zero"):
        raise NotModelled("compute_mask without mask_zero returns None; not modelled")
    return Value(reference.padding_mask(ids))


def _masking(args: Mapping[str, Any], inputs: Sequence[Value], w: Sequence[Array],
             call: Mapping[str, Any]) -> Value:
    # A step is masked when every feature equals mask_value; the output is the input times
    # that mask (keras/src/layers/core/masking.py).
    x = inputs[0].array.astype(np.float64)
    valid = np.any(x != float(args.get("mask_value", 0.0)), axis=-1)
    return Value(x * valid[..., np.newaxis], valid)


#: The NumPy recurrence of each recurrent layer (and of its cell) by class name.
RNN_FUNCTIONS: dict[str, Callable[..., Array]] = {
    "SimpleRNN": reference.simple_rnn, "GRU": reference.gru, "LSTM": reference.lstm}


def rnn_weights(name: str) -> Shapes:
    """The weight shapes of a SimpleRNN, GRU or LSTM layer or cell, from its `units`."""
    def shapes(args: Mapping[str, Any], features: Sequence[int]
               ) -> tuple[list[tuple[int, ...]], int]:
        units = int(args["units"])
        extra = {"reset_after": bool(args.get("reset_after", True))} if name == "GRU" else {}
        return reference.rnn_weight_shapes(name, features[0], units, **extra), units
    return shapes


def _call_mask(inputs: Sequence[Value], call: Mapping[str, Any]) -> Array | None:
    """An explicit `mask=` call argument replaces the mask that travels with the input."""
    explicit = call.get("mask")
    if isinstance(explicit, Value):
        return np.asarray(explicit.array).astype(bool)
    return inputs[0].mask


def _rnn(name: str) -> Reference:
    def run(args: Mapping[str, Any], inputs: Sequence[Value], w: Sequence[Array],
            call: Mapping[str, Any]) -> Value:
        mask = _call_mask(inputs, call)
        sequences = bool(args.get("return_sequences", False))
        extra = {"reset_after": bool(args.get("reset_after", True))} if name == "GRU" else {}
        out = RNN_FUNCTIONS[name](inputs[0].array, mask, *w, return_sequences=sequences,
                                   go_backwards=bool(args.get("go_backwards", False)), **extra)
        return Value(out, mask if sequences else None)
    return run


def _bidirectional_weights(args: Mapping[str, Any], features: Sequence[int]
                           ) -> tuple[list[tuple[int, ...]], int]:
    inner: Nested = args["layer"]
    shapes, units = SUBJECTS[inner.subject].weights(inner.args, features)  # type: ignore[misc]
    return shapes + shapes, 2 * units


def _bidirectional(args: Mapping[str, Any], inputs: Sequence[Value], w: Sequence[Array],
                   call: Mapping[str, Any]) -> Value:
    inner: Nested = args["layer"]
    function = RNN_FUNCTIONS[SUBJECTS[inner.subject].class_name]
    mask = _call_mask(inputs, call)
    half = len(w) // 2
    forward = function(inputs[0].array, mask, *w[:half])
    backward = function(inputs[0].array, mask, *w[half:], go_backwards=True)
    return Value(np.concatenate([forward, backward], axis=-1))


def _pooling(function: Callable[[Array, Array | None], Array]) -> Reference:
    def run(args: Mapping[str, Any], inputs: Sequence[Value], w: Sequence[Array],
            call: Mapping[str, Any]) -> Value:
        return Value(function(inputs[0].array, _call_mask(inputs, call)))
    return run


def _dense_weights(args: Mapping[str, Any], features: Sequence[int]
                   ) -> tuple[list[tuple[int, ...]], int]:
    units = int(args["units"])
    return [(features[0], units), (units,)], units


def _dense(args: Mapping[str, Any], inputs: Sequence[Value], w: Sequence[Array],
           call: Mapping[str, Any]) -> Value:
    return Value(reference.dense(inputs[0].array, *w), inputs[0].mask)


def _or_masks(inputs: Sequence[Value]) -> Array | None:
    # Keras 3 merge layers pass on the OR of their inputs' masks
    # (keras/src/layers/merging/base_merge.py, `compute_mask` uses `ops.any`).
    masks = [v.mask for v in inputs if v.mask is not None]
    return np.logical_or.reduce(masks) if masks else None


def _add(args: Mapping[str, Any], inputs: Sequence[Value], w: Sequence[Array],
         call: Mapping[str, Any]) -> Value:
    return Value(sum((v.array for v in inputs[1:]), inputs[0].array), _or_masks(inputs))


def _concatenate(args: Mapping[str, Any], inputs: Sequence[Value], w: Sequence[Array],
                 call: Mapping[str, Any]) -> Value:
    return Value(np.concatenate([v.array for v in inputs], axis=-1), _or_masks(inputs))


def _merge_weights(args: Mapping[str, Any], features: Sequence[int]
                   ) -> tuple[list[tuple[int, ...]], int]:
    return [], sum(features)


def _mask_probe(args: Mapping[str, Any], inputs: Sequence[Value], w: Sequence[Array],
                call: Mapping[str, Any]) -> Value:
    shape = inputs[0].array.shape[:-1]
    columns = [np.zeros(shape) if v.mask is None else v.mask.astype(np.float64)
               for v in inputs[:2]]
    return Value(np.stack(columns, axis=-1))


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


def _pad_sequences(args: Mapping[str, Any], inputs: Sequence[Value], w: Sequence[Array],
                   call: Mapping[str, Any]) -> Value:
    return Value(pad_sequences(list(inputs[0].array), **args))


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
        reference=_rnn(name), tolerance_kind="recurrent",
        doc=f"{KERAS}layers/rnn/{name.lower()}.py")


_RECORDS: tuple[Subject, ...] = (
    Subject(
        name="layers.Embedding", kind="layer",
        args={"input_dim": None, "output_dim": None, "mask_zero": (True, False),
              # Only the training step reads these (`sgd_step_mse`).
              "embeddings_regularizer": ("l2",), "embeddings_constraint": ("non_neg",)},
        required=("input_dim", "output_dim"), weights=_embedding_weights,
        reference=_embedding, mask=_embedding_mask,
        refusals={"IndexError": INDEX_ERRORS,
                  # A fractional id is not an index; a backend may refuse its dtype instead.
                  "TypeError": ("TypeError", "ValueError", "InvalidArgumentError")},
        refusal_patterns=INDEX_PATTERNS,
        doc=f"{KERAS}layers/core/embedding.py"),
    Subject(name="layers.Masking", kind="layer", args={"mask_value": None},
            reference=_masking, doc=f"{KERAS}layers/core/masking.py"),
    _rnn_subject("SimpleRNN"),
    _rnn_subject("GRU", {"reset_after": (True, False)}),
    _rnn_subject("LSTM"),
    Subject(name="layers.Bidirectional", kind="layer", args={"layer": None},
            required=("layer",), call_args=frozenset({"mask", "training"}),
            weights=_bidirectional_weights, reference=_bidirectional,
            tolerance_kind="recurrent", doc=f"{KERAS}layers/rnn/bidirectional.py"),
    Subject(name="layers.GlobalAveragePooling1D", kind="layer",
            call_args=frozenset({"mask"}),
            reference=_pooling(reference.global_average_pooling_1d), tolerance_kind="pooling",
            doc=f"{KERAS}layers/pooling/global_average_pooling1d.py"),
    Subject(name="layers.GlobalMaxPooling1D", kind="layer",
            reference=_pooling(reference.global_max_pooling_1d), tolerance_kind="pooling",
            doc=f"{KERAS}layers/pooling/global_max_pooling1d.py"),
    Subject(name="layers.Dense", kind="layer", args={"units": None}, required=("units",),
            weights=_dense_weights, reference=_dense, tolerance_kind="recurrent",
            doc=f"{KERAS}layers/core/dense.py"),
    Subject(name="layers.Add", kind="layer", call="list", reference=_add,
            doc=f"{KERAS}layers/merging/add.py"),
    Subject(name="layers.Concatenate", kind="layer", call="list", weights=_merge_weights,
            reference=_concatenate, doc=f"{KERAS}layers/merging/concatenate.py"),
    Subject(name="custom.MaskProbe", kind="layer", call="list",
            weights=lambda args, features: ([], 2), reference=_mask_probe,
            source=_MASK_PROBE_SOURCE,
            doc="a custom layer that outputs the masks its call received"),
    Subject(name="utils.pad_sequences", kind="utility", call="function", host=True,
            args={"padding": ("pre", "post"), "truncating": ("pre", "post"), "maxlen": None,
                  "value": None, "dtype": None},
            reference=_pad_sequences, tolerance_kind="mask",
            doc=f"{KERAS}utils/sequence_utils.py"),
)

from cases.path_subjects import PATH_RECORDS  # noqa: E402 - it uses the types above

# --- the open catalog: any public Keras callable, without a record ---------------------------

#: The Keras namespaces an open step may call, as typed after `keras.` (`ops.floor_divide`,
#: `layers.Dense`, `activations.relu`, `utils.to_categorical`, `losses.Huber`, ...).
OPEN_NAMESPACES = ("ops", "layers", "losses", "metrics", "activations", "utils")
OPEN_NAME = re.compile(rf"(?:{'|'.join(OPEN_NAMESPACES)})\.[A-Za-z][A-Za-z0-9_]*")
KERAS_API = "https://keras.io/api/"


def _no_reference(args: Mapping[str, Any], inputs: Sequence[Value], w: Sequence[Array],
                  call: Mapping[str, Any]) -> Value:
    raise NoReference("no record models this call")


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
    return Subject(name=name, kind=kind, call=call, reference=_no_reference, output_dtype=None,
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
    compute = op_table.reference(name)

    def _reference(args: Mapping[str, Any], inputs: Sequence[Value], w: Sequence[Array],
                   call: Mapping[str, Any]) -> Value:
        if len(inputs) != spec["inputs"]:
            raise NotModelled(f"{name} takes {spec['inputs']} tensor input(s) in the table")
        return Value(compute(args, [np.asarray(v.array) for v in inputs]))

    return Subject(name=name, kind="op", call="function",
                   args=dict.fromkeys(spec.get("args", ())), reference=_reference,
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
