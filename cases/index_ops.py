"""Index ops of `keras.ops`: the integer path without a layer.

`take` (axis 0 and 1), `take_along_axis`, `one_hot`, `multi_hot`, `segment_sum`,
`segment_max` and `bincount` take index tensors of every Keras dtype with in-range,
out-of-range and negative values (and, for `take`, every rank); `argmax`, `argmin`, `argsort`,
`top_k`, `searchsorted` and `digitize` return indices, whose values and dtype are observed.
Each runs eagerly, in `predict` and under `jit_compile`: the model's input is the index tensor,
and the table it indexes is a constant of the program (`Tensor(constant=True)`), as a user's
`Lambda` or custom layer would close over it. The references follow NumPy, whose API these
ops mirror (`matrix.oracle.index_ops`).
"""

from __future__ import annotations

from typing import Any

from cases.model import CALL_MODES, INPUT_DTYPES, Case, Mode, Step, Tensor

ID_DTYPES = tuple(d for d in INPUT_DTYPES if d not in ("string", "bytes", "bfloat16"))
SIGNED = ("int8", "int16", "int32", "int64", "float16", "float32", "float64")
#: A 10 x 4 table whose values are exact in float32: row r is r + [0, .25, .5, .75].
TABLE = [[r + c / 4 for c in range(4)] for r in range(10)]
IDS_BY_RANK: dict[int, Any] = {0: 3, 1: [1, 2, 3], 2: [[1, 2, 3], [4, 5, 6]],
                               3: [[[1, 2], [3, 4]], [[5, 6], [7, 8]]]}
#: values class -> (ids of shape (2, 3), the `bad_id` axis)
VALUES: dict[str, tuple[Any, str]] = {
    "in_range": ([[1, 2, 3], [4, 5, 6]], ""),
    "out_of_range": ([[1, 2, 3], [4, 10, 6]], "10"),
    "negative": ([[1, 2, 3], [4, -1, 6]], "-1"),
    "negative_far": ([[1, 2, 3], [4, -11, 6]], "-11"),
}


def _values_for(dtype: str, values: str) -> bool:
    if dtype == "bool":
        return values == "in_range"
    return values in ("in_range", "out_of_range") or dtype in SIGNED


def _as_dtype(ids: Any, dtype: str) -> Any:
    if dtype != "bool":
        return ids
    if isinstance(ids, list):
        return [_as_dtype(v, dtype) for v in ids]
    return bool(ids % 2)


def _case(subject: str, description: str, axes: dict[str, str | int], ids: Any, dtype: str,
          mode: Mode, args: dict[str, Any], constants: dict[str, Any] | None = None,
          item: int | None = None, ids_first: bool = False) -> Case:
    inputs = {name: Tensor(dtype="float32", values=value, constant=True)
              for name, value in (constants or {}).items()}
    inputs["ids"] = Tensor(dtype=dtype, values=ids)
    names = ("ids", *(constants or {})) if ids_first else (*(constants or {}), "ids")
    return Case(
        group="index-ops", description=description,
        axes={"subject": subject, **axes, "input_dtype": dtype, "mode": mode},
        inputs=inputs,
        steps=(Step(subject, inputs=names, output="out", args=args, item=item),),
        mode=mode)


def take_cases() -> list[Case]:
    """`ops.take(table, ids, axis=0)`: every rank and dtype in range, then the bad values;
    `axis=1` in range."""
    out = []
    for rank, ids in IDS_BY_RANK.items():
        for dtype in ID_DTYPES:
            for mode in CALL_MODES:
                if rank == 0 and mode != "eager":
                    continue
                value = _as_dtype(ids, dtype)
                out.append(_case("ops.take", f"keras.ops.take(table, np.array({value!r}, "
                                 f"dtype={dtype!r}), axis=0)",
                                 {"op": "take", "axis": 0, "rank": rank, "values": "in_range"},
                                 value, dtype, mode, {"axis": 0}, {"table": TABLE}))
    for values, (ids, bad) in VALUES.items():
        if values == "in_range":
            continue
        for dtype in ID_DTYPES:
            if not _values_for(dtype, values):
                continue
            for mode in CALL_MODES:
                out.append(_case("ops.take", f"keras.ops.take(table, np.array({ids!r}, "
                                 f"dtype={dtype!r}), axis=0)",
                                 {"op": "take", "axis": 0, "rank": 2,
                                  "values": values.removesuffix("_far"), "bad_id": bad},
                                 ids, dtype, mode, {"axis": 0}, {"table": TABLE}))
    for dtype in ID_DTYPES:
        for mode in CALL_MODES:
            ids = _as_dtype([[0, 1, 3], [2, 3, 1]], dtype)
            out.append(_case("ops.take", f"keras.ops.take(table, np.array({ids!r}, "
                             f"dtype={dtype!r}), axis=1)",
                             {"op": "take", "axis": 1, "rank": 2, "values": "in_range"},
                             ids, dtype, mode, {"axis": 1}, {"table": TABLE}))
    return out


_ROWS = [[0.5, 1.5, 2.5, 3.5, 4.5], [5.5, 6.5, 7.5, 8.5, 9.5]]


def indexing_cases() -> list[Case]:
    """`take_along_axis`, `one_hot`, `multi_hot` over every dtype and values class."""
    out = []
    bad_for = {"out_of_range": 5, "negative": -1, "negative_far": -6}
    for values in VALUES:
        for dtype in ID_DTYPES:
            if not _values_for(dtype, values):
                continue
            along = [[0, 2, 4], [1, 3, 0]]
            bad = "" if values == "in_range" else str(bad_for[values])
            if values != "in_range":
                along = [[0, 2, 4], [1, bad_for[values], 0]]
            ids, id_bad = VALUES[values]
            for mode in CALL_MODES:
                value = _as_dtype(along, dtype)
                out.append(_case(
                    "ops.take_along_axis", f"keras.ops.take_along_axis(x, np.array({value!r}, "
                    f"dtype={dtype!r}), axis=1)",
                    {"op": "take_along_axis", "rank": 2, "values": values.removesuffix("_far"),
                     **({"bad_id": bad} if bad else {})},
                    value, dtype, mode, {"axis": 1}, {"x": _ROWS}))
                if values == "negative_far":
                    continue
                value = _as_dtype(ids, dtype)
                for op in ("one_hot", "multi_hot"):
                    out.append(_case(
                        f"ops.{op}", f"keras.ops.{op}(np.array({value!r}, dtype={dtype!r}), "
                        "num_classes=10)",
                        {"op": op, "rank": 2, "values": values,
                         **({"bad_id": id_bad} if id_bad else {})},
                        value, dtype, mode, {"num_classes": 10}, ids_first=True))
    return out


_DATA = [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0], [9.0, 10.0], [11.0, 12.0]]
SEGMENTS: dict[str, tuple[list[int], str]] = {
    "in_range": ([0, 0, 1, 1, 2, 2], ""),
    "out_of_range": ([0, 0, 1, 1, 2, 3], "3"),
    "negative": ([0, 0, 1, -1, 2, 2], "-1"),
}


def segment_cases() -> list[Case]:
    """`segment_sum` and `segment_max` of six rows into three segments; `bincount`."""
    out = []
    for values, (ids, bad) in SEGMENTS.items():
        for dtype in ID_DTYPES:
            if dtype == "bool" or not _values_for(dtype, values):
                continue
            for mode in CALL_MODES:
                for op in ("segment_sum", "segment_max"):
                    out.append(_case(
                        f"ops.{op}", f"keras.ops.{op}(data, np.array({ids!r}, dtype={dtype!r}),"
                        " num_segments=3)",
                        {"op": op, "rank": 1, "values": values, **({"bad_id": bad} if bad
                                                                  else {})},
                        ids, dtype, mode, {"num_segments": 3}, {"data": _DATA}))
                counts = [1, 2, 2, 3, 0, 5] if values != "negative" else [1, 2, -1, 3, 0, 5]
                if values == "out_of_range":
                    continue
                out.append(_case(
                    "ops.bincount", f"keras.ops.bincount(np.array({counts!r}, dtype={dtype!r}),"
                    " minlength=8)",
                    {"op": "bincount", "rank": 1, "values": values,
                     **({"bad_id": "-1"} if values == "negative" else {})},
                    counts, dtype, mode, {"minlength": 8}, ids_first=True))
    return out


_SCORES = [[0.3, 0.9, 0.1, 0.7, 0.5], [0.8, 0.2, 0.6, 0.4, 1.0]]


def _scores(dtype: str) -> Any:
    if dtype.startswith(("int", "uint")):
        return [[int(v * 10) for v in row] for row in _SCORES]
    return _SCORES


def returned_index_cases() -> list[Case]:
    """Ops that return indices: their values, and the dtype each backend gives them."""
    out = []
    for dtype in ("float16", "float32", "float64", "int32", "int64"):
        x = _scores(dtype)
        for mode in CALL_MODES:
            for op in ("argmax", "argmin", "argsort"):
                out.append(_case(f"ops.{op}", f"keras.ops.{op}(np.array({x!r}, "
                                 f"dtype={dtype!r}), axis=-1)",
                                 {"op": op, "rank": 2, "values": "in_range"},
                                 x, dtype, mode, {"axis": -1}, ids_first=True))
            for item, what in ((0, "values"), (1, "indices")):
                out.append(_case("ops.top_k", f"keras.ops.top_k(np.array({x!r}, "
                                 f"dtype={dtype!r}), k=3)[{item}]",
                                 {"op": "top_k", "item": what, "rank": 2, "values": "in_range"},
                                 x, dtype, mode, {"k": 3}, item=item, ids_first=True))
        if dtype in ("float32", "int32"):
            values = [[2, 5, 9], [0, 7, 10]] if dtype == "int32" else [[2.0, 5.5, 9.0],
                                                                       [0.0, 7.0, 10.0]]
            for mode in CALL_MODES:
                for side in ("left", "right"):
                    out.append(_case(
                        "ops.searchsorted", f"keras.ops.searchsorted([1, 3, 5, 7, 9], "
                        f"np.array({values!r}, dtype={dtype!r}), side={side!r})",
                        {"op": "searchsorted", "side": side, "rank": 2, "values": "in_range"},
                        values, dtype, mode, {"side": side}, {"sorted_sequence": [1, 3, 5, 7, 9]}))
                out.append(_case(
                    "ops.digitize", f"keras.ops.digitize(np.array({values!r}, dtype={dtype!r}), "
                    "bins=[1.0, 3.0, 5.0])",
                    {"op": "digitize", "rank": 2, "values": "in_range"},
                    values, dtype, mode, {"bins": [1.0, 3.0, 5.0]}, ids_first=True))
    return out


def cases() -> list[Case]:
    """Every case of this family."""
    return take_cases() + indexing_cases() + segment_cases() + returned_index_cases()
