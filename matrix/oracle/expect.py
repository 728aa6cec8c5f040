"""The oracle's answer: what NumPy says a case's program computes, or which errors it must raise.

`expected(case)` evaluates the program step by step with each subject's NumPy reference
(the key its record names, resolved by `matrix.oracle.registry`), on the same seeded weights
the run gives Keras (`step_weights`), and returns the `Expected` answer: values with a
tolerance and dtype, or an `ExpectedError` naming the error types a correct backend may raise.
Where a reference refuses an input, the record's `refusals` say which exception types count as
the same refusal; any other exception means the reference itself cannot model the case, and the
catalog refuses it at collection.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from cases import op_table
from cases.model import INPUT_DTYPES, Case, NoReference, NotModelled, Step, Tensor
from cases.subjects import Array, Subject, input_array, record_of
from matrix.oracle.arrays import Value, seeded_weights
from matrix.oracle.layers import masked_sparse_categorical_crossentropy, sgd_step_mse
from matrix.oracle.op_refs import scaled_tolerance
from matrix.oracle.registry import OP_TABLE, reference_of
from matrix.oracle.tolerance import compare
from matrix.oracle.tolerance import tolerance as tolerance_of
from matrix.records import ExpectedAnswer

#: The output dtype each dtype policy promises (Keras docs, "Mixed precision").
POLICY_OUTPUT_DTYPE = {None: "float32", "float32": "float32", "mixed_float16": "float16",
                       "mixed_bfloat16": "bfloat16", "floatx_bfloat16": "bfloat16",
                       "floatx_float16": "float16", "floatx_float64": "float64"}
#: A shape check refused by any subject: the input does not have the rank it needs.
DEFAULT_REFUSALS: Mapping[str, tuple[str, ...]] = {"ValueError": ("ValueError",)}
#: `Expected.kind` of a case with no reference (an open step): judged by agreement across
#: backends when the report merges the run files (`matrix.oracle.agreement`).
AGREEMENT = "agreement"
#: The alternative reference of a table op whose inputs include a 64-bit dtype: the answer
#: computed on those inputs cut to 32 bits (`CUT_TO_32_BITS`: int64 to int32 and uint64 to
#: uint32, wrapping past 32 bits as NumPy's `astype` does; float64 to float32, with
#: float32's range), the result dtype then Keras's rule for the cut dtypes. A backend
#: without 64-bit types does this: JAX with `jax_enable_x64` off (its documented default,
#: https://docs.jax.dev/en/latest/notebooks/Common_Gotchas_in_JAX.html), and Keras's
#: NumPy backend, whose `convert_to_tensor` takes Keras's `result_type` of a lone int64,
#: uint64 or float64 array, which is 32-bit (keras/src/backend/numpy/core.py, Keras 3.15.1).
CUT_TO_32_BITS = "inputs_cut_to_32_bits"
#: The same values as `CUT_TO_32_BITS`, but of the dtype Keras states for the 64-bit inputs:
#: a backend that computes a 64-bit op in 32 bits and widens the result back. OpenVINO's
#: CPU plugin runs f64 and i64 as f32 and i32 (its documented supported precisions:
#: https://docs.openvino.ai/2024/openvino-workflow/running-inference/inference-devices-and-modes/cpu-device.html).
COMPUTED_IN_32_BITS = "computed_in_32_bits"
#: The answer computed on the 64-bit inputs saturated to 32 bits, of the dtype Keras states
#: for the 64-bit inputs: int64 and uint64 clamped to int32's range, float64 to float32's
#: finite range (an infinity becomes float32's largest value, NaN stays NaN), then computed
#: as `CUT_TO_32_BITS` is. OpenVINO's eager ops do this (its saturating Convert:
#: https://docs.openvino.ai/latest/classngraph_1_1snippets_1_1op_1_1ConvertSaturation.html;
#: `abs` of int64's limits is [-2**31, 2**31 - 1], of float64's infinity 3.4e38).
SATURATED_TO_32_BITS = "inputs_saturated_to_32_bits"
#: Every alternative reference's name (`Expected.alternatives`, `Behaviour.matches`).
ALTERNATIVES = (CUT_TO_32_BITS, COMPUTED_IN_32_BITS, SATURATED_TO_32_BITS)
_CUT = {"int64": "int32", "uint64": "uint32", "float64": "float32"}
_KIND_RANK = {"mask": 0, "lookup": 0, "quantized": 1, "recurrent": 2, "pooling": 2,
              "attention": 3}


@dataclass(frozen=True, kw_only=True)
class ExpectedError:
    """The reference refuses the input; a correct backend raises one of `types`.

    Attributes:
        reason: the reference's own message, `IndexError: Embedding ids must be ...`.
        types: exception class names that count as the same refusal.
        pattern: a regular expression every such message must match, or None.
        patterns: error type -> a regular expression its message must match.
        step: the index of the step where the reference refuses (None: not known).
        step_name: that step's Keras API, as typed after `keras.`.
        in_model: the refusing step runs inside the model in a `predict`, `jit_compile`,
            `fit` or `save_load` program (a layer, not a host utility), so an error raised
            by the model as a whole is raised there too.
    """

    reason: str
    types: tuple[str, ...]
    pattern: str | None = None
    patterns: Mapping[str, str] = field(default_factory=dict)
    step: int | None = None
    step_name: str | None = None
    in_model: bool = False


@dataclass(frozen=True, kw_only=True)
class Alternative:
    """Another answer a backend may give, named (`ALTERNATIVES`), with how it is judged.

    Attributes:
        values: the alternative output (the shape of the reference's values).
        dtype: the Keras dtype name it has, or None when not checked.
        tolerance: the largest absolute error that still matches it, in output units.
    """

    values: Array
    dtype: str | None
    tolerance: float


@dataclass(frozen=True, kw_only=True)
class Expected:
    """The reference's answer for one case.

    Attributes:
        values: the expected output (float64, bool for a mask, the dtype of padded ids), or
            None when an error is expected.
        error: the refusal, or None.
        kind: the computation kind that picks the tolerance.
        tolerance: the largest absolute error that still matches, in output units.
        dtype: the Keras dtype name the output must have, or None when not checked.
        alternatives: name -> another answer (`Alternative`) that differs from this one,
            which a limitation may say a backend gives (`Behaviour.matches`): the run records
            whether the output matched each. Empty for most cases.
    """

    values: Array | None
    error: ExpectedError | None
    kind: str
    tolerance: float
    dtype: str | None = None
    alternatives: Mapping[str, Alternative] = field(default_factory=dict)


def input_value(tensor: Tensor) -> Value:
    """An input as the reference sees it (`cases.subjects.input_array`), without a mask."""
    return Value(input_array(tensor))


def _features(value_shape: tuple[int, ...]) -> int:
    return int(value_shape[-1]) if value_shape else 0


def is_open(case: Case) -> bool:
    """Whether a step of the case has no hand-written record that models it (`record_of`):
    the case then has no reference and is judged, as a whole, by agreement across backends."""
    return any(record_of(step).open for step in case.steps)


def step_weights(case: Case) -> list[tuple[list[tuple[int, ...]], int] | None]:
    """The weight shapes and seed of every step, in the order of `layer.weights`.

    Step `k` among the layer steps draws from seed `case.seed + k`; host utilities and
    subjects without weights get None. Widths travel along the program from the inputs'
    last axes, so shapes are known even where the reference refuses the input.
    """
    if is_open(case):  # no reference: the program seeds every layer's float weights itself
        return [None] * len(case.steps)
    width: dict[str, int] = {}
    for name, tensor in case.inputs.items():
        width[name] = 0 if tensor.sequences else _features(input_value(tensor).array.shape)
    out: list[tuple[list[tuple[int, ...]], int] | None] = []
    position = 0
    for step in case.steps:
        record = record_of(step)
        features = [width.get(name, 0) for name in step.inputs]
        if record.host:
            width[step.output] = 0
            out.append(None)
            continue
        shapes: list[tuple[int, ...]] = []
        if record.weights is None:
            width[step.output] = features[0] if features else 0
        else:
            shapes, width[step.output] = record.weights(step.args, features)
        if step.method == "compute_mask":
            width[step.output] = 0
        out.append((shapes, case.seed + position) if shapes else None)
        position += 1
    return out


def seeded(shapes: Sequence[tuple[int, ...]], seed: int, zero_rows: Sequence[int] = ()
           ) -> list[Array]:
    """The seeded weights of one step, with `zero_rows` of the first weight set to 0."""
    weights = seeded_weights(shapes, seed)
    for row in zero_rows:
        weights[0][row, :] = 0.0
    return list(weights)


def _apply(record: Subject, step: Step, inputs: Sequence[Value], weights: Sequence[Array],
           call: Mapping[str, Any]) -> Value:
    function = reference_of(record, step.method or "call")
    if step.wrap != "TimeDistributed":
        return function(step.args, inputs, weights, call)
    # TimeDistributed applies the layer to every step of axis 1: fold it into the batch.
    lead = inputs[0].array.shape[:2]

    def fold(v: Value) -> Value:
        mask = None if v.mask is None else v.mask.reshape(-1, *v.mask.shape[2:])
        return Value(v.array.reshape(-1, *v.array.shape[2:]), mask)

    out = function(step.args, [fold(v) for v in inputs], weights, call)
    mask = None if out.mask is None else out.mask.reshape(*lead, *out.mask.shape[1:])
    return Value(out.array.reshape(*lead, *out.array.shape[1:]), mask)


def _item(step: Step, value: Value) -> Value:
    """The element of a tuple result the step observes (`top_k`'s indices, attention scores)."""
    if step.item is None:
        return value
    return Value(np.asarray(value.array[step.item]))


def _check_model_input(case: Case, values: Mapping[str, Value]) -> None:
    if case.model_input_shape is None or case.mode == "eager":
        return
    first = next(iter(values.values())).array
    if tuple(first.shape[1:]) != tuple(case.model_input_shape):
        raise ValueError(
            "The input does not match the model's Input shape: expected (batch,) + "
            f"{case.model_input_shape}. Received: shape={first.shape}")


def _saturated(array: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """A 64-bit array saturated to 32 bits (`SATURATED_TO_32_BITS`): of int32 for int64 and
    uint64 (clamped to int32's range), of float32 for float64 (clamped to its finite range)."""
    if array.dtype.kind == "f":
        finite = float(np.finfo(np.float32).max)
        clamped: np.ndarray[Any, Any] = np.clip(array, -finite, finite).astype(np.float32)
        return clamped
    info = np.iinfo(np.int32)
    wide = np.clip(array.astype(object), info.min, info.max)
    return np.asarray(wide.astype(np.int64)).astype(np.int32)


def evaluate(case: Case, cut: bool = False, saturate: bool = False) -> Value:
    """Runs the program in NumPy; returns the observed value.

    Args:
        cut: run it on the inputs cut to 32 bits (`CUT_TO_32_BITS`).
        saturate: with `cut`, saturate them instead (`SATURATED_TO_32_BITS`).

    Raises:
        Exception: the reference's refusal (as raised by the `matrix.oracle` references), or
            `NotModelled`.
    """
    weights = step_weights(case)
    values = {name: input_value(t) for name, t in case.inputs.items()}
    if cut:
        with np.errstate(all="ignore"):  # float64 past float32's range is inf, as cast
            values = {name: Value(_saturated(np.asarray(v.array)) if saturate else
                                  np.asarray(v.array).astype(_CUT[str(v.array.dtype)]), v.mask)
                      if str(v.array.dtype) in _CUT else v for name, v in values.items()}
    host_done = False
    for index, (step, drawn) in enumerate(zip(case.steps, weights, strict=True)):
        record = record_of(step)
        try:
            if not record.host and not host_done:
                host_done = True
                _check_model_input(case, values)  # the first layer's input
            inputs = [values[name] for name in step.inputs]
            call = {k: values[v] if k in record.call_args and isinstance(v, str)
                    and v in values else v for k, v in step.call.items()}
            w = seeded(*drawn, step.zero_rows) if drawn else []
            if case.fit is not None and case.mode == "fit" and case.fit.labels is None:
                return _fit(case, step, inputs, w)
            values[step.output] = _item(step, _apply(record, step, inputs, w, call))
        except (TypeError, IndexError, ValueError) as exc:
            setattr(exc, "kcm_step", index)  # noqa: B010  # read by `_refusal`
            raise
        for method, _ in step.after_weights:
            if method not in ("enable_lora", "quantize"):
                raise NotModelled(f"{record.name}.{method}() is not modelled")
    if case.fit is not None and case.mode == "fit" and case.fit.labels is not None:
        logits = values[case.observe]
        return Value(masked_sparse_categorical_crossentropy(
            logits.array, values[case.fit.labels].array, logits.mask))
    return values[case.observe]


def _fit(case: Case, step: Step, inputs: Sequence[Value], w: Sequence[Array]) -> Value:
    if step.subject != "layers.Embedding" or len(case.steps) != 1 or case.fit is None:
        raise NotModelled("the training reference models one Embedding alone (fit)")
    l2 = 0.01 if step.args.get("embeddings_regularizer") == "l2" else 0.0
    non_negative = step.args.get("embeddings_constraint") == "non_neg"
    return Value(sgd_step_mse(w[0], inputs[0].array, case.fit.learning_rate, l2=l2,
                              non_negative=non_negative))


def _kind(case: Case) -> str:
    if case.mode == "fit" and (case.fit is None or case.fit.labels is None):
        return "training"
    last = next(s for s in case.steps if s.output == case.observe)
    if last.method == "compute_mask" or record_of(last).host:
        return "mask"
    kind = "lookup"
    for step in case.steps:
        record = record_of(step)
        if record.host:
            continue
        this = "quantized" if any(m == "quantize" for m, _ in step.after_weights) \
            else record.tolerance_kind
        if _KIND_RANK.get(this, 0) >= _KIND_RANK.get(kind, 0):
            kind = this
    return kind


def _dtype(case: Case, kind: str, cut: bool = False) -> str | None:
    last = next(s for s in case.steps if s.output == case.observe)
    if last.method == "compute_mask":
        return "bool"
    if record_of(last).host:
        dtype = str(last.args.get("dtype", "int32"))
        return dtype if dtype in INPUT_DTYPES and dtype not in ("string", "bytes") else None
    if case.mode == "fit" and case.fit is not None and case.fit.labels is not None:
        return "float32"  # the loss fit reports: a Python float, observed as float32
    if case.mode == "fit":
        # The table keeps the variable dtype: float32 unless floatx is bfloat16.
        return "bfloat16" if case.dtype_policy == "floatx_bfloat16" else "float32"
    record = record_of(last)
    if record.dtype_rule is not None:  # a table op: from its inputs' dtypes
        return _value_dtype(case, last.output, cut)
    declared = record.output_dtype
    return POLICY_OUTPUT_DTYPE[case.dtype_policy] if declared == "policy" else declared


def _value_dtype(case: Case, name: str, cut: bool = False) -> str | None:
    """The Keras dtype of a program value: an input's (cut to 32 bits with `cut`), or what a
    table op makes of its inputs' (None where the reference does not say)."""
    if name in case.inputs:
        dtype = case.inputs[name].dtype
        return _CUT.get(dtype, dtype) if cut else dtype
    step = next((s for s in case.steps if s.output == name), None)
    record = None if step is None else record_of(step)
    if step is None or record is None or record.dtype_rule is None:
        return None
    dtypes = [_value_dtype(case, n, cut) for n in step.inputs]
    known = [d for d in dtypes if d is not None]
    return record.dtype_rule(known) if len(known) == len(dtypes) else None


def _refusal(case: Case, exc: Exception) -> ExpectedError | None:
    """The refusal `exc` stands for: the error types its step's record accepts for it, and
    the step where it happened (`evaluate` tags the exception with its index)."""
    name = type(exc).__name__
    index = getattr(exc, "kcm_step", None)
    steps = list(enumerate(case.steps))
    if isinstance(index, int):  # the refusing step's record first, then the others'
        steps = [steps[index], *steps[:index], *steps[index + 1:]]
    for _, step in steps:
        record = record_of(step)
        types = {**DEFAULT_REFUSALS, **record.refusals}.get(name)
        if types is not None:
            patterns = {t: p for t, p in record.refusal_patterns.items() if t in types}
            at = case.steps[index] if isinstance(index, int) else None
            return ExpectedError(
                reason=f"{name}: {exc}", types=types, patterns=patterns,
                step=index if isinstance(index, int) else None,
                step_name=at.subject if at is not None else None,
                in_model=at is not None and not record_of(at).host)
    return None


def compute_expected(case: Case) -> Expected:
    """Computes the reference's answer for a case, under the floatx its program sets (a
    `floatx_*` dtype policy: the op table's rules read it, `cases.op_table.floatx_of`).

    Returns:
        `Expected` with values, or with `error` when the reference refuses the input.

    Raises:
        Exception: the reference cannot compute the case (`NotModelled`, or an exception that
            no record names as a refusal); the catalog refuses the case and names it.
    """
    with op_table.floatx_of(floatx_of(case)):
        return _compute_expected(case)


def floatx_of(case: Case) -> str:
    """The floatx the case's program runs under: `float16` for the dtype policy
    `floatx_float16`, Keras's default `float32` for any other."""
    policy = case.dtype_policy or ""
    return policy.removeprefix("floatx_") if policy.startswith("floatx_") else "float32"


def _compute_expected(case: Case) -> Expected:
    if is_open(case):
        return Expected(values=None, error=None, kind=AGREEMENT, tolerance=0.0)
    kind = _kind(case)
    try:
        value = evaluate(case)
    except NoReference:  # the table calls the result undefined here (int division by 0)
        return Expected(values=None, error=None, kind=AGREEMENT, tolerance=0.0)
    except NotModelled:
        raise
    except (TypeError, IndexError, ValueError) as exc:
        refusal = _refusal(case, exc)
        if refusal is None:
            raise
        return Expected(values=None, error=refusal, kind=kind, tolerance=0.0)
    dtype = _dtype(case, kind)
    tolerance = tolerance_of(kind, dtype if dtype in ("float16", "bfloat16", "float64")
                             else "float32")
    last = next(s for s in case.steps if s.output == case.observe)
    table = record_of(last).reference == OP_TABLE
    if table:  # relative to the result's magnitude
        tolerance = scaled_tolerance(value.array, dtype, tolerance)
    answer = Expected(values=value.array, error=None, kind=kind, tolerance=tolerance,
                      dtype=dtype)
    found = _cut_answers(case, answer) if table else {}
    return replace(answer, alternatives=found) if found else answer


def _cut_answers(case: Case, answer: Expected) -> dict[str, Alternative]:
    """The answers of 64-bit inputs computed in 32 bits, each where it differs from `answer`
    (shape, dtype, or values beyond the tolerance): `CUT_TO_32_BITS` (of the cut inputs'
    dtype) and, where that dtype is not the one Keras states, `COMPUTED_IN_32_BITS` (the
    same values of the stated dtype), and `SATURATED_TO_32_BITS` (the answer on the inputs
    saturated to 32 bits, of the stated dtype). None where no input is 64-bit, the case asks
    JAX for 64-bit types (`jax_x64`: no backend should cut there), or the reference has no
    answer on the cut inputs."""
    if case.jax_x64 or not any(t.dtype in _CUT for t in case.inputs.values()):
        return {}
    try:
        value = evaluate(case, cut=True)
    except (NoReference, NotModelled, TypeError, IndexError, ValueError):
        return {}
    dtype = _dtype(case, _kind(case), cut=True)
    tolerance = tolerance_of(answer.kind, dtype if dtype in ("float16", "bfloat16", "float64")
                             else "float32")
    tolerance = scaled_tolerance(value.array, dtype, tolerance)
    values, reference = np.asarray(value.array), np.asarray(answer.values)
    same_values = values.shape == reference.shape and compare(
        reference.astype(np.float64), values.astype(np.float64))[0] <= answer.tolerance
    found = {}
    if dtype != answer.dtype or not same_values:
        found[CUT_TO_32_BITS] = Alternative(values=values, dtype=dtype, tolerance=tolerance)
    if dtype != answer.dtype and not same_values:
        found[COMPUTED_IN_32_BITS] = Alternative(values=values, dtype=answer.dtype,
                                                 tolerance=tolerance)
    try:
        saturated = np.asarray(evaluate(case, cut=True, saturate=True).array)
    except (NoReference, NotModelled, TypeError, IndexError, ValueError):
        return found
    if answer.dtype in ("int64", "uint64") and saturated.dtype.kind in "iu":
        # computed in int32 and widened as a cast widens: -2**31 is 2**64 - 2**31 in uint64
        saturated = saturated.astype(answer.dtype)
    if saturated.shape != reference.shape or compare(
            reference.astype(np.float64), saturated.astype(np.float64))[0] > answer.tolerance:
        found[SATURATED_TO_32_BITS] = Alternative(
            values=saturated, dtype=answer.dtype,
            tolerance=scaled_tolerance(saturated, dtype, tolerance_of(
                answer.kind, dtype if dtype in ("float16", "bfloat16", "float64")
                else "float32")))
    return found


#: Answers already computed, by the identity of the case (cases hold dicts: not hashable).
_MEMO: dict[int, tuple[Case, Expected]] = {}


def expected(case: Case) -> Expected:
    """The reference's answer for a case, computed once per case object (`compute_expected`)."""
    hit = _MEMO.get(id(case))
    if hit is not None and hit[0] is case:
        return hit[1]
    answer = compute_expected(case)
    _MEMO[id(case)] = (case, answer)
    return answer


def answer_of(want: Expected) -> ExpectedAnswer:
    """The reference's answer as a run file records it: values, agreement, or the refusal."""
    if want.kind == AGREEMENT:
        return ExpectedAnswer(kind="agreement")
    if want.error is None:
        return ExpectedAnswer(kind="values")
    error = want.error
    return ExpectedAnswer(kind="error", error_types=error.types, reason=error.reason,
                          step=error.step, step_name=error.step_name)


def describe(want: Expected) -> str:
    """The reference's answer in words (`answer_of`, written by `ExpectedAnswer.__str__`):
    `values`, `no reference (judged by agreement across backends)`, or
    `error (<types>) at step <i> (<API>): <reason>`."""
    return str(answer_of(want))
