"""The dtype behaviour of `keras.ops` (issue 26): a family in two parts.

The default catalog holds `default_cases()`: the op table's ops, eager, at rank 2, and a
`predict` sample of each op once (`in_default` says why, with the measured cost). The rest
is opt-in: run it with `--catalog cases/ops_dtypes.py` (`nox -s "run(jax-cpu)" -- --catalog
cases/ops_dtypes.py -k "ops-dtypes and add"`). `python -m cases.ops_dtypes` lists every
public function of `keras.ops` with how this family treats it.

The ops are enumerated from the installed Keras when the cases are built (`inventory`), so a
new op appears with no edit here, each in one of three kinds:

- `table`: the op has a NumPy twin in the op table (`cases/op_table.json`): its cases are
  judged against NumPy computed in the result dtype Keras's rule gives (`cases.op_table.
  output_dtype`, the dtype the op's `compute_output_spec` states in keras/src/ops/numpy.py),
  and a result of another dtype is a mismatch of cause `dtype` even when the values match;
- `record`: a function of one or two tensors with a hand-written record (`cases/subjects/`,
  `argmax`, `bincount`, ...): its reference models the arguments and ranks of its own family
  (`cases/index_ops.py`: `bincount` takes rank 1, `argmax` an `axis`), so no case here;
- `open`: a function of one tensor (`x`) or two (`x1, x2` or `x, y`) with no NumPy twin here:
  judged by agreement across backends (values and dtype, `matrix.oracle.agreement`);
- `left out`: with the reason (`LEFT_OUT`, or the arguments it needs besides tensors).

Axes: the input dtype (`DTYPES`: the 13 numeric dtypes the catalog's `Tensor` holds,
`bfloat16` among them: ml_dtypes' in the reference, made with `keras.ops.cast` in the
program, eager at rank 2 only), dtype pairs for binary ops (`PAIR_DTYPES`, 64 pairs, and
`BFLOAT16_PAIRS`), floatx (`FLOATX`: float16 and float64 for the ops whose rule reads it,
`floatx_cases`), values (`ordinary`; `limits`, the dtype's min and max, so overflow
shows; `nonfinite`, NaN and infinities; `zero_divisor`; `negative_exponent`), rank 0 (a
scalar, eager only: a model's input needs a batch axis) and 2 (shape `(2, 3)`: (batch,
features)), mode `eager`, `jit_compile` and `predict` (a functional model), and JAX's
`jax_enable_x64` (rank 2, eager; the cell is not applicable on the other backends).

Keras is imported only by `cases()` and `inventory()`: the module itself loads where Keras is
not installed, and asking it for cases there raises `CatalogError` naming the cause.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

from cases import op_table
from cases.model import INPUT_DTYPES, Case, CatalogError, Step, Tensor
from cases.subjects import SUBJECTS

GROUP = "ops-dtypes"
#: Every numeric dtype an input of the catalog may have (`cases.model.INPUT_DTYPES`).
DTYPES = tuple(d for d in INPUT_DTYPES if d not in ("string", "bytes"))
#: The dtypes binary ops are paired over (issue 26: at least every pair of these).
PAIR_DTYPES = ("bool", "int8", "int32", "int64", "uint8", "float16", "float32", "float64")
#: The pairs with bfloat16 a binary op runs besides `PAIR_DTYPES`'s: with itself, and with bool,
#: int8, float16, float32 and float64 in either order (bfloat16 with float16 is float32 on
#: Keras's lattice). A bfloat16 input runs eagerly at rank 2 only (`in_default`: ordinary
#: values in the default catalog).
BFLOAT16_PAIRS = (("bfloat16", "bfloat16"),
                  *((a, b) for d in ("bool", "int8", "float16", "float32", "float64")
                    for a, b in (("bfloat16", d), (d, "bfloat16"))))
#: Parameter names of the tensor inputs of a unary and of a binary `keras.ops` function.
UNARY = (("x",),)
BINARY = (("x1", "x2"), ("x", "y"))
#: Ops whose only required arguments are tensors but which this family leaves out, and why.
LEFT_OUT: dict[str, str] = {
    **dict.fromkeys(("convert_to_numpy", "is_tensor", "dtype", "shape", "ndim", "size"),
                    "returns a NumPy array, a Python value or a shape, not a tensor"),
    **dict.fromkeys(("fft", "fft2", "ifft2", "rfft", "irfft", "view_as_complex",
                     "view_as_real"),
                    "takes or returns complex values (a (real, imag) pair): fft and complex "
                    "views are left out (issue 26)"),
    **dict.fromkeys(("cholesky", "cholesky_inverse", "det", "eig", "eigh", "inv", "logdet",
                     "lu_factor", "pinv", "qr", "slogdet", "svd", "matrix_rank"),
                    "linear algebra of a square matrix; the family's rank-2 input is (2, 3)"),
    **dict.fromkeys(("unique", "nonzero", "unstack", "histogram"),
                    "returns a tuple or list of tensors, or a shape that depends on the values"),
    **dict.fromkeys(("bartlett", "blackman", "hamming", "hanning"),
                    "a window function: takes a length (an int), not a tensor"),
    "stack": "takes a sequence of tensors",
    "empty_like": "its values are uninitialised memory: nothing to compare",
    "glu": "needs an even last axis; the family's rank-2 input is (2, 3)",
    "matmul": "(2, 3) @ (2, 3): the inner dimensions do not match",
    "dot": "(2, 3) . (2, 3): the inner dimensions do not match",
    "correlate": "takes 1-D tensors; the family's inputs are of rank 0 and 2",
}
#: Ops of the table whose integer division has zero divisors worth a value class.
DIVIDING = ("ops.divide", "ops.true_divide", "ops.floor_divide", "ops.mod")
#: Ops whose second input is a shift amount: ordinary (small) values only.
SHIFTS = ("left_shift", "right_shift", "bitwise_left_shift", "bitwise_right_shift")


def _kind(dtype: str) -> str:
    if dtype == "bool":
        return "bool"
    return "float" if "float" in dtype else "uint" if dtype.startswith("u") else "int"


def _limits(dtype: str) -> tuple[Any, Any, Any]:
    """(lowest, highest, smallest positive normal) of a numeric dtype, from NumPy-free facts:
    two's-complement ranges, and IEEE 754 binary16/32/64."""
    kind = _kind(dtype)
    if kind in ("int", "uint"):
        bits = int(dtype.removeprefix("u").removeprefix("int"))
        if kind == "uint":
            return 0, 2 ** bits - 1, 1
        return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1, 1
    mantissa, exponent = {"float16": (10, 15), "bfloat16": (7, 127), "float32": (23, 127),
                          "float64": (52, 1023)}[dtype]
    high = (2 - 2.0 ** -mantissa) * 2.0 ** exponent
    return -high, high, 2.0 ** (1 - exponent)


def values(dtype: str, cls: str, role: str = "x") -> list[list[Any]] | None:
    """The (2, 3) values of an input of `dtype` in value class `cls`, or None where the class
    does not apply to the dtype. `role` is `x` (first input), `y` (second input: never zero
    where an integer division would make the result undefined) or `exponent`/`shift`
    (second input of `power`/a shift: small and non-negative).

    Nonfinite floats are written as strings (`"nan"`, `"inf"`), which `np.array(...,
    dtype=...)` reads as the float they name, so the rendered program stays valid Python.
    """
    kind = _kind(dtype)
    if cls == "ordinary":
        if kind == "bool":
            return [[True, False, True], [True, True, False]]
        if role in ("exponent", "shift") or kind == "uint":
            return [[0, 1, 2], [3, 2, 1]] if role != "y" else [[1, 1, 2], [3, 2, 1]]
        if role == "y":
            return [[-2, -1, 1], [1, 2, 3]] if kind == "int" else [[-2.0, -0.5, 1.0],
                                                                 [0.5, 1.5, 3.0]]
        return [[-2, -1, 0], [1, 2, 3]] if kind == "int" else [[-2.0, -0.5, 0.0], [0.5, 1.5, 3.0]]
    if cls == "limits" and kind != "bool":
        low, high, tiny = _limits(dtype)
        if role == "y":  # no zero: an integer division by it would have no reference
            low = low or 1
            return [[high, low, tiny], [tiny, high, low]]
        return [[low, high, 0], [low, high, tiny]] if kind != "float" else \
            [[low, high, 0.0], [-tiny, tiny, 1.0]]
    if cls == "nonfinite" and kind == "float":
        return [["nan", "inf", "-inf"], [0.0, "-0.0", 1.0]] if role == "x" else \
            [[1.0, "inf", "nan"], ["-inf", 2.0, 0.5]]
    if cls == "zero_divisor" and role == "y":
        return [[False, True, False], [True, False, True]] if kind == "bool" else \
            [[0, 1, 0], [2, 0, 1]]
    if cls == "negative_exponent" and role == "y" and kind in ("int", "float"):
        return [[-1, -2, 0], [1, -1, 2]]
    return None


def _scalar(matrix: list[list[Any]], cls: str) -> Any:
    """The rank-0 input of a value class: the ordinary class's 2 (or 1.5), a limit's highest
    value, NaN, a zero divisor."""
    return matrix[1][1] if cls == "ordinary" else matrix[0][1] if cls == "limits" \
        else matrix[0][0]


# --- the enumeration ---------------------------------------------------------------------------

def _tensor_arity(function: Any) -> int:
    """1 or 2 where the function's required arguments are one or two tensors by Keras's
    parameter names (`x`; `x1, x2` or `x, y`), else 0."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return 0
    required = tuple(p.name for p in parameters if p.default is p.empty
                     and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))
    return 1 if required in UNARY else 2 if required in BINARY else 0


def _required(function: Any) -> str:
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return "no signature"
    return ", ".join(p.name for p in parameters if p.default is p.empty)


def _keras_ops() -> Any:
    try:
        import keras
    except ImportError as exc:
        raise CatalogError(f"cases/ops_dtypes.py enumerates keras.ops from the installed Keras, "
                           f"and Keras is not importable here ({exc}); run it in a backend's "
                           "environment (`nox -s \"run(jax-cpu)\" -- --catalog "
                           "cases/ops_dtypes.py`)") from exc
    return keras.ops


def inventory() -> list[tuple[str, str, str]]:
    """Every public function of the installed `keras.ops`, with how this family treats it.

    Returns:
        `(name, kind, why)` rows sorted by name: `name` as typed after `keras.`
        (`ops.add`), `kind` one of `table`, `record`, `open`, `left out`; `why` the rule or reason.

    Raises:
        CatalogError: Keras is not importable.
    """
    ops = _keras_ops()
    rows = []
    for attr in sorted(dir(ops)):
        function = getattr(ops, attr)
        if attr.startswith("_") or inspect.ismodule(function) or not callable(function):
            continue
        name = f"ops.{attr}"
        spec = op_table.entry(name)
        arity = _tensor_arity(function)
        if spec is not None:
            rows.append((name, "table", f"NumPy {spec['numpy']}, dtype rule {spec['dtype']}"))
        elif arity and name in SUBJECTS:
            rows.append((name, "record", "its record's reference (cases/subjects/) models "
                                         "the arguments and ranks its own family runs "
                                         "(cases/index_ops.py); no cases here"))
        elif attr in LEFT_OUT:
            rows.append((name, "left out", LEFT_OUT[attr]))
        elif arity:
            rows.append((name, "open", f"{'unary' if arity == 1 else 'binary'}: no NumPy twin "
                                       "in the op table; judged by agreement"))
        else:
            rows.append((name, "left out", f"needs arguments besides tensors "
                                           f"(required: {_required(function)})"))
    return rows


# --- the cases ---------------------------------------------------------------------------------

#: (rank, mode, jax_x64) variants: rank 0 runs eagerly only (a model's input needs a batch
#: axis); `jax_x64` only where it can change the answer cheaply (rank 2, eager).
VARIANTS: tuple[tuple[int, str, bool], ...] = ((0, "eager", False), (2, "eager", False),
                                               (2, "jit_compile", False), (2, "predict", False),
                                               (2, "eager", True))
#: The `predict` sample of the default catalog: each table op once, through a functional
#: model (`predict`: a graph on TensorFlow, one jitted function on JAX, a compiled model on
#: OpenVINO), on int64 (a unary op) or int8 with int64 (a binary one) at the limits, where
#: overflow and 64-bit handling may differ from eager (`in_default`).
PREDICT_SAMPLE = ("int64", "int8_int64")


#: The floatx values of the floatx axis (`keras.config.set_floatx`; Keras's default is
#: float32): the result dtype of an integer input to an op whose rule reads floatx depends
#: on it (`FLOATX_RULES`). bfloat16 is left out: NumPy has no bfloat16 for the reference.
FLOATX = ("float16", "float64")
#: The op table's result-dtype rules that read floatx, directly (`float_keep`,
#: `promote_int_floatx`, `float_promote` for int64) or through a weak float's precision
#: (`promote_float`, `float_promote`); `float32_keep` (mean) and `float32` (reciprocal) state
#: float32 whatever floatx, which the axis checks too.
FLOATX_RULES = ("float32", "float_keep", "float32_keep", "promote_int_floatx",
                "float_promote", "promote_float")
#: The input dtypes of the floatx axis: the integers and bool, whose float result floatx
#: decides (a float input keeps its own precision); pairs of them for a binary op.
FLOATX_DTYPES = ("bool", "int8", "int32", "int64", "uint8")
#: The floatx sample of the default catalog: each op whose rule reads floatx, on int8 and
#: int64 (a unary op) or int8 with int8 and int64 with int64 (a binary one), ordinary values,
#: eager, under both floatx values (`in_default`).
FLOATX_SAMPLE = ("int8", "int64", "int8_int8", "int64_int64")


def _case(name: str, dtypes: tuple[str, ...], cls: str, rank: int, mode: str, x64: bool,
          inputs: list[Any], rule: str, args: dict[str, Any], floatx: str | None = None
          ) -> Case:
    names = ("x", "y")[:len(dtypes)]
    data = {n: Tensor(dtype=d, values=v if rank else _scalar(v, cls))
            for n, d, v in zip(names, dtypes, inputs, strict=True)}
    call = ", ".join(f"np.array({data[n].values!r}, dtype={d!r})"
                     for n, d in zip(names, dtypes, strict=True))
    extra = "".join(f", {k}={v!r}" for k, v in args.items())
    axes: dict[str, str | int] = {"subject": name, "op": name.removeprefix("ops."),
                                  "input_dtype": "_".join(dtypes), "rank": rank, "values": cls,
                                  "mode": mode}
    if x64:
        axes["jax"] = "x64"
    if floatx is not None:
        axes["dtype_policy"] = f"floatx_{floatx}"
    x64_text = " with jax_enable_x64" if x64 else \
        f" under keras.config.set_floatx({floatx!r})" if floatx else ""
    return Case(group=GROUP, description=f"keras.{name}({call}{extra}){x64_text}: {rule}",
                axes=axes, inputs=data,
                steps=(Step(name, inputs=names, output="out", args=args),),
                mode=mode if mode in ("jit_compile", "predict") else "eager",  # type: ignore[arg-type]
                jax_x64=x64, dtype_policy=f"floatx_{floatx}" if floatx else None)


#: Backends whose statement of a result dtype may differ from the others' (`op_table`).
RULE_BACKENDS = {"tensorflow": "TensorFlow", "torch": "torch"}


def _rule(name: str, dtypes: tuple[str, ...], floatx: str = "float32") -> str:
    if op_table.entry(name) is None:
        return "no reference, judged by agreement"
    with op_table.floatx_of(floatx):
        common = op_table.output_dtype(name, list(dtypes))
        own = [f"{label} {found}" for backend, label in RULE_BACKENDS.items()
               if (found := op_table.output_dtype(name, list(dtypes), backend)) != common]
    return f"Keras's rule gives {common}" + (f" ({', '.join(own)})" if own else "")


def _classes(name: str, dtypes: tuple[str, ...]) -> Iterator[tuple[str, list[Any]]]:
    """The value classes of an op on inputs of `dtypes`, with the (2, 3) values of each input:
    `ordinary` always; for a table op, `limits` and `nonfinite` where an input's dtype has
    them (the other input keeps its ordinary values), and `zero_divisor` (a division) or
    `negative_exponent` (`power`) in the second input. A shift takes ordinary values only."""
    attr = name.removeprefix("ops.")
    second = "shift" if attr in SHIFTS else "exponent" if attr == "power" else "y"
    roles = ("x", second)[:len(dtypes)]
    ordinary = [values(d, "ordinary", r) for d, r in zip(dtypes, roles, strict=True)]
    yield "ordinary", ordinary
    if op_table.entry(name) is None or attr in SHIFTS:
        return
    for cls in ("limits", "nonfinite"):
        found = [values(d, cls, "x" if r == "x" else "y") or o
                 for d, r, o in zip(dtypes, roles, ordinary, strict=True)]
        if found != ordinary:
            yield cls, found
    special = "zero_divisor" if name in DIVIDING else "negative_exponent" if attr == "power" \
        else None
    if len(dtypes) == 2 and special is not None:
        given = values(dtypes[1], special, "y")
        if given is not None:
            yield special, [ordinary[0], given]


def op_cases(name: str, arity: int) -> list[Case]:
    """Every case of one op: over `DTYPES` (unary) or `PAIR_DTYPES` pairs (binary), its value
    classes and `VARIANTS`; an open op runs ordinary values in eager, jit_compile and predict
    at rank 2, a reduction of the table (`axis` among its args) at rank 2 only, with
    `axis=-1`."""
    spec = op_table.entry(name)
    reduces = spec is not None and "axis" in spec.get("args", ())
    args = {"axis": -1} if reduces else {}
    grid = [(d,) for d in DTYPES] if arity == 1 else \
        [(a, b) for a in PAIR_DTYPES for b in PAIR_DTYPES] + list(BFLOAT16_PAIRS)
    out = []
    for dtypes in grid:
        rule = _rule(name, dtypes)
        for cls, inputs in _classes(name, dtypes):
            for rank, mode, x64 in VARIANTS:
                if (rank == 0 and reduces) or (spec is None and (rank == 0 or x64)):
                    continue
                if "bfloat16" in dtypes and (rank, mode, x64) != (2, "eager", False):
                    continue  # made with keras.ops.cast: eager at rank 2 only
                if cls != "ordinary" and arity == 2 and (rank == 0 or x64):
                    continue
                out.append(_case(name, dtypes, cls, rank, mode, x64, inputs, rule, args))
    return out + floatx_cases(name, arity)


def floatx_cases(name: str, arity: int) -> list[Case]:
    """The floatx axis of one op (none unless its rule reads floatx, `FLOATX_RULES`): under
    each of `FLOATX`, on `FLOATX_DTYPES` (pairs of them for a binary op), ordinary values and
    the limits, eager at rank 2."""
    spec = op_table.entry(name)
    if spec is None or spec["dtype"] not in FLOATX_RULES:
        return []
    args = {"axis": -1} if "axis" in spec.get("args", ()) else {}
    grid = [(d,) for d in FLOATX_DTYPES] if arity == 1 else \
        [(a, b) for a in FLOATX_DTYPES for b in FLOATX_DTYPES]
    out = []
    for floatx in FLOATX:
        for dtypes in grid:
            rule = _rule(name, dtypes, floatx)
            for cls, inputs in _classes(name, dtypes):
                if cls in ("ordinary", "limits"):
                    out.append(_case(name, dtypes, cls, 2, "eager", False, inputs, rule, args,
                                     floatx))
    return out


def in_default(case: Case) -> bool:
    """Whether a case of the family is in the default catalog: an op of the table (judged
    against NumPy), at rank 2, without `jax_enable_x64`; eager, or the `predict` sample
    (`PREDICT_SAMPLE`: each op once, at the limits of int64, or with ordinary values for a
    shift, which takes no others). The rest (rank 0, jit_compile, the other predict cases,
    x64, the ops judged by agreement, the floatx axis but its sample `FLOATX_SAMPLE`) is
    opt-in (`cases()`): by the cost measured on this
    project's 2-core machine, the eager part adds about 4 min to a cold run on JAX (which
    compiles each op for each dtype, about 40 ms a cell) and seconds elsewhere, the predict
    sample seconds, where a jit_compile case on torch costs about 4 s (docs/catalog.md, "The
    keras.ops dtype family")."""
    axes = case.axes
    if axes.get("rank") != 2 or "jax" in axes or op_table.entry(str(axes["subject"])) is None:
        return False
    if "dtype_policy" in axes:
        return axes.get("input_dtype") in FLOATX_SAMPLE and axes.get("values") == "ordinary"
    if "bfloat16" in str(axes.get("input_dtype")):
        return axes.get("input_dtype") in ("bfloat16", "bfloat16_bfloat16") \
            and axes.get("values") == "ordinary"
    if axes.get("mode") == "eager":
        return True
    shift = str(axes["op"]) in SHIFTS
    return axes.get("mode") == "predict" and axes.get("input_dtype") in PREDICT_SAMPLE \
        and axes.get("values") == ("ordinary" if shift else "limits")


def default_cases() -> list[Case]:
    """The family's part of the default catalog (`in_default`): every op of the op table
    (`cases/op_table.json`), from the table alone, so it is built where Keras is not
    installed (the report's and the tests' processes) as in a run.

    An op the installed Keras lacks (an older release: `ops.hypot` and `ops.exp2` are not in
    Keras 3.6.0) is still a case; its program says the cell does not apply there
    (`not_applicable`, with the Keras version), never a divergence.
    """
    out: list[Case] = []
    for name, spec in sorted(op_table.table()["ops"].items()):
        out.extend(c for c in op_cases(name, spec["inputs"]) if in_default(c))
    return out


def cases() -> list[Case]:
    """The opt-in rest of the family (`--catalog cases/ops_dtypes.py`): every case of every
    op of the installed Keras's `keras.ops` (`inventory`) that is not in the default catalog
    (`in_default`).

    Raises:
        CatalogError: Keras is not importable.
    """
    out: list[Case] = []
    ops = _keras_ops()
    for name, kind, _ in inventory():
        if kind in ("left out", "record"):
            continue
        spec = op_table.entry(name)
        arity = spec["inputs"] if spec is not None else \
            _tensor_arity(getattr(ops, name.removeprefix("ops.")))
        out.extend(c for c in op_cases(name, arity) if not in_default(c))
    return out


def _main() -> None:
    rows = inventory()
    width = max(len(r[0]) for r in rows)
    for name, kind, why in rows:
        print(f"{name:<{width}}  {kind:<8}  {why}")
    counts = {k: sum(1 for r in rows if r[1] == k)
              for k in ("table", "record", "open", "left out")}
    print(", ".join(f"{v} {k}" for k, v in counts.items()), f"of {len(rows)} functions;",
          len(default_cases()), "cases in the default catalog,", len(cases()), "opt-in")


if __name__ == "__main__":
    _main()
