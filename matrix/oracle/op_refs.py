"""The NumPy references of table ops: `keras.ops` functions with a NumPy twin.

The op table (`cases/op_table.json`, read by `cases.op_table`) is data: the NumPy function,
how many tensor inputs it takes, the keyword arguments it passes on (`axis`), and the
result-dtype rule Keras states in the op's `compute_output_spec`. This module computes the
reference from it: the inputs cast to the rule's output dtype (`cases.op_table.output_dtype`)
and the NumPy function run in it, so a fixed-width integer wraps on overflow as a backend's
does (int8 `100 + 100` is `-56`, uint8 `1 - 2` is `255`) and a float16 or float32 result is
rounded as that float rounds (`exp` of int8 `127` is `inf` in float32); a comparison or
predicate (rule `bool`) reads the input values as given, NumPy comparing mixed dtypes
exactly (int8 `-1` is not uint8 `255`); the comparison with the backend's output is
within the tolerance of the result dtype, relative to the result's magnitude for a float
(`scaled_tolerance`), exact for an integer. Where the table says an integer result is undefined
(`int_zero_division`, `int_negative_exponent`), or NumPy has no loop for the dtype (`negative`
of bool), the case has no reference and is judged by agreement. The registry resolves the
key `op_table` here (`matrix.oracle.registry.reference_of`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from cases import op_table
from cases.model import NoReference, NotModelled, numpy_dtype
from matrix.oracle.arrays import AnyArray, Value
from matrix.oracle.subject_refs import Reference

__all__ = ["compute", "scaled_tolerance", "table_reference"]


def compute(name: str) -> Callable[[Mapping[str, Any], Sequence[AnyArray]], AnyArray]:
    """The NumPy computation of a table op (`ops.add`) on arrays of Keras dtypes.

    The returned function takes the step's `args` and the input arrays (any shape the NumPy
    function accepts) and returns an array of the op's output dtype (the rule's; widened to
    float64 before the comparison).

    Raises (from the returned function):
        NoReference: the table calls the result undefined for these inputs, or NumPy has no
            loop for the dtype (`TypeError`).
        ValueError: the inputs do not fit the op (the reference refuses).
    Raises:
        KeyError: the op has no entry in the table.
    """
    spec = op_table.table()["ops"][name]
    function = getattr(np, spec["numpy"])

    def run(args: Mapping[str, Any], arrays: Sequence[AnyArray]) -> AnyArray:
        dtype = op_table.output_dtype(name, [str(a.dtype) for a in arrays],
                                      op_table.running_backend())
        integer = np.dtype(dtype).kind in "biu" if dtype != "bfloat16" else False
        if integer and spec.get("int_zero_division") == "agreement" and \
                any(np.any(a == 0) for a in arrays[1:]):
            raise NoReference(f"{name}: integer division by zero is undefined")
        if integer and spec.get("int_negative_exponent") == "agreement" and \
                any(np.any(a < 0) for a in arrays[1:]):
            raise NoReference(f"{name}: an integer to a negative power has no integer answer")
        work = numpy_dtype(dtype)  # ml_dtypes' bfloat16 where the rule gives it
        extra = {k: v for k, v in args.items() if k in spec.get("args", ())}
        if spec.get("reduce") and spec["numpy"] not in ("max", "min", "any", "all"):
            extra["dtype"] = work  # NumPy widens small integers here; Keras keeps the rule's
        with np.errstate(all="ignore"):  # float64's max cast to float32 is inf, as Keras's
            cast = [np.asarray(a) if spec["dtype"] == "bool" else np.asarray(a).astype(work)
                    for a in arrays]  # a comparison or predicate reads the values as given
            try:
                return np.asarray(function(*cast, **extra))
            except TypeError as exc:  # no NumPy loop for this dtype (negative of bool)
                raise NoReference(f"{name}: NumPy has no answer for {dtype}: {exc}") from None

    return run


def table_reference(name: str) -> Reference:
    """The reference of a table op as the registry gives it: `(args, inputs, weights, call)`
    -> `Value` (the computed array, no mask).

    Raises:
        KeyError: the op has no entry in the op table.
        NotModelled (from the returned function): a step with another number of tensor
            inputs than the table's.
    """
    spec = op_table.entry(name)
    if spec is None:
        raise KeyError(f"{name!r} has no entry in the op table (cases/op_table.json)")
    run = compute(name)

    def reference(args: Mapping[str, Any], inputs: Sequence[Value], w: Sequence[AnyArray],
                  call: Mapping[str, Any]) -> Value:
        if len(inputs) != spec["inputs"]:
            raise NotModelled(f"{name} takes {spec['inputs']} tensor input(s) in the table")
        return Value(run(args, [np.asarray(v.array) for v in inputs]))

    return reference


def scaled_tolerance(values: AnyArray, dtype: str | None, tolerance: float) -> float:
    """The tolerance of a table op's result: for a float result, `tolerance` relative to the
    largest finite magnitude of the reference `values` (any shape), at least 1, since an
    elementwise op on the dtype's limits gives results far from O(1) and a backend may round
    them a unit in the last place differently (hypot of uint8 `255` and `1`: float32's unit
    there is 1.5e-5); an integer or bool result stays exact (`tolerance` below 1).

    Example: `scaled_tolerance(np.array([1e9]), "float32", 1e-5)` is `1e4`.
    """
    if dtype not in ("float16", "bfloat16", "float32", "float64"):
        return tolerance
    with np.errstate(all="ignore"):
        finite = np.abs(np.asarray(values, dtype=np.float64))
    finite = finite[np.isfinite(finite)]
    return tolerance * max(1.0, float(finite.max()) if finite.size else 1.0)
