"""The op table: `keras.ops` functions that mirror a NumPy function, as data (`op_table.json`).

Most of `keras.ops` is NumPy's API; for those, the catalog needs no hand-written record, only
data: the NumPy function, how many tensor inputs it takes, the keyword arguments it passes on
(`axis`), and the result-dtype rule Keras states in the op's `compute_output_spec` (`promote`:
`keras.backend.result_type` of the inputs, the least upper bound on the type promotion
lattice of `keras/src/backend/common/dtypes.py`, written out in the table; `same`;
`same_bool_int32`; `float_promote`, `float_keep`, `accumulate`, ...: the table's `about`
lists every rule with the ops that state it). This module reads the table and gives what
the catalog needs to build and validate a table op's case (`entry`, `output_dtype`,
`result_type`; the record: `cases.subjects.table_subject`); the NumPy reference computed from
it is the oracle's (`matrix/oracle/op_refs.py`).

NumPy only: no framework is imported, and nothing of `matrix`.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

TABLE_PATH = Path(__file__).with_name("op_table.json")


@functools.cache
def table() -> dict[str, Any]:
    """The table as stored (`op_table.json`)."""
    data: dict[str, Any] = json.loads(TABLE_PATH.read_text(encoding="utf-8"))
    return data


def _upper_bounds(node: str) -> set[str]:
    lattice: Mapping[str, Sequence[str]] = table()["lattice"]
    seen, todo = {node}, [node]
    while todo:
        for above in lattice[todo.pop()]:
            if above not in seen:
                seen.add(above)
                todo.append(above)
    return seen


#: The floatx the rules read (`floatx_of`): `keras.config.floatx()` of the case being judged.
_FLOATX: contextvars.ContextVar[str] = contextvars.ContextVar("floatx", default="float32")


def floatx() -> str:
    """The floatx the rules read: `float32` (Keras's default) unless `floatx_of` says."""
    return _FLOATX.get()


@contextlib.contextmanager
def floatx_of(name: str) -> Iterator[None]:
    """The rules read `name` as `keras.config.floatx()` inside this block (a case whose
    program calls `keras.config.set_floatx(name)`: `float16`, `float64`, `bfloat16`)."""
    token = _FLOATX.set(name)
    try:
        yield
    finally:
        _FLOATX.reset(token)


#: The backend a run's processes judge for (`assume_backend`), where Keras is not imported yet.
_ASSUMED: list[str] = []


def assume_backend(backend: str) -> None:
    """Says which Keras backend this process computes references for before it imports Keras:
    a run's pytest processes (`matrix.run.selection`) compute the reference's answer for
    the case facts and the cache keys at configuration, before any case imports Keras, and
    must hold the running backend's contract there too (a TensorFlow cell's reference keeps
    int64)."""
    _ASSUMED[:] = [backend]


def running_backend() -> str | None:
    """The Keras backend of this process: Keras's own where Keras is imported (a run), else
    the one `assume_backend` named, else None (the report's and the tests' processes, which
    import no framework): the rules below then give the contract every backend but
    TensorFlow follows. Reads `sys.modules`; imports nothing."""
    keras = sys.modules.get("keras")
    if keras is None:
        return _ASSUMED[0] if _ASSUMED else None
    try:
        found: str = keras.backend.backend()
    except AttributeError:  # a module named keras that is not Keras (a partial import)
        return _ASSUMED[0] if _ASSUMED else None
    return found


def result_type(*dtypes: str, backend: str | None = None) -> str:
    """Keras's result dtype of an op on tensors of these dtypes (`keras.backend.result_type`:
    the least upper bound on the lattice; a weak type read as its default, `int32`/`float32`;
    a 64-bit result narrowed to 32 bits, as Keras 3.15.1 does whatever the inputs:
    `BIT64_TO_BIT32_DTYPE` in keras/src/backend/common/dtypes.py, on every backend but
    TensorFlow, which keeps int64 and float64 and narrows uint64 only: `backend` picks the
    contract, `None` or any backend but `tensorflow` the others', `narrow_by_backend` in the
    table TensorFlow's).
    `float` (and `int`) may be given as a weak type, as Keras's `result_type(x, float)`:
    `result_type("int8", "float")` is `float32`, `result_type("float16", "float")` `float16`.
    A weak result takes the precision of `floatx()` (`_resolve_weak_type`): under floatx
    `float16` `result_type("int8", "float")` is `float16`; under `float64` it is `float64`,
    then narrowed to `float32` (but on TensorFlow); under `bfloat16` `float16`.

    Raises:
        ValueError: a dtype the lattice does not hold (complex, string), or no unique bound.
    """
    lattice = table()["lattice"]
    for dtype in dtypes:
        if dtype not in lattice:
            raise ValueError(f"no type promotion for dtype {dtype!r}")
    common = set.intersection(*(_upper_bounds(d) for d in dtypes))
    least = [n for n in common if all(m in _upper_bounds(n) for m in common)]
    if len(least) != 1:
        raise ValueError(f"no least upper bound for {dtypes}")
    weak: Mapping[str, str] = table()["weak"]
    narrow: Mapping[str, str] = table()["narrow_by_backend"].get(backend or "", table()["narrow"])
    found = weak.get(least[0], least[0])
    if least[0] in weak:  # Keras resolves a weak type by floatx's precision
        found = found.rstrip("0123456789") + floatx()[-2:]
    return narrow.get(found, found)


#: bool, int8 and int16 accumulate in int32, uint8 and uint16 in uint32 (Sum and Prod's
#: compute_output_spec, keras/src/ops/numpy.py).
_ACCUMULATE = {"bool": "int32", "int8": "int32", "int16": "int32", "uint8": "uint32",
               "uint16": "uint32"}


def _integer(dtype: str) -> bool:
    return dtype == "bool" or "int" in dtype


def output_dtype(name: str, dtypes: Sequence[str], backend: str | None = None) -> str:
    """The Keras dtype the op's output must have for inputs of `dtypes` (the table's rule,
    as the op's `compute_output_spec` states it in keras/src/ops/numpy.py, Keras 3.15.1; the
    rules are listed in the table's `about`).

    Example: `output_dtype("ops.sqrt", ["int8"])` is `float32`, `output_dtype("ops.add",
    ["int8", "uint8"])` is `int16`; `output_dtype("ops.add", ["int8", "int64"])` is `int32`,
    and `int64` with `backend="tensorflow"` (`result_type`).

    Raises:
        KeyError: the op has no entry, or its entry names an unknown rule.
        ValueError: a dtype the lattice does not hold.
    """
    rule = table()["ops"][name]["dtype"]
    dtype = dtypes[0]
    promote = functools.partial(result_type, backend=backend)
    if rule == "promote":
        return promote(*dtypes)
    if rule == "promote_float":
        return promote(*dtypes, "float")
    if rule == "promote_bool_int32":
        found = promote(*dtypes)
        return "int32" if found == "bool" else found
    if rule == "promote_int_floatx":
        found = promote(*dtypes)
        return "float64" if found == "int64" else \
            floatx() if found != "bool" and "int" in found else found
    if rule == "float_promote":
        return floatx() if dtype == "int64" else promote(dtype, "float")
    if rule == "float_keep":
        return floatx() if _integer(dtype) else dtype
    if rule == "float32_keep":
        return "float32" if _integer(dtype) else dtype
    if rule == "float32":
        return "float32"
    if rule == "bool":
        return "bool"
    if rule in ("accumulate", "accumulate_wide"):
        found = _ACCUMULATE.get(dtype) or (promote(dtype) if rule == "accumulate" else dtype)
        torch_like: Mapping[str, str] = table()["accumulate_by_backend"].get(backend or "", {})
        return torch_like.get(found, found)
    if rule == "same_bool_int32":
        return "int32" if dtype == "bool" else dtype
    if rule == "same":
        return dtype
    raise KeyError(f"{name}: unknown result-dtype rule {rule!r} (cases/op_table.json)")


def entry(name: str) -> Mapping[str, Any] | None:
    """The table's entry for an op (`ops.cumsum`), or None."""
    found: Mapping[str, Any] | None = table()["ops"].get(name)
    return found
