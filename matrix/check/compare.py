"""The comparison across backends, layer by layer, with no NumPy reference: backends agree
within the dtype's tolerance (absolute plus relative), integers, bools and masks exactly; and
the rows of the compatibility table that may explain a disagreement."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from matrix.check.inputs import plain
from matrix.oracle.tolerance import TOLERANCES
from matrix.results.compact import COMPACT_VERSION, load_matrix
from matrix.results.io import MATRIX_ADAPTER


@dataclass(frozen=True, kw_only=True)
class LayerCheck:
    """One layer across backends.

    Attributes:
        name: the layer's name in the model.
        class_name: its Keras class, e.g. `Embedding`.
        input_dtype: the dtype of its first input, e.g. `int32` (from the first backend
            that reached it).
        mask_in: whether a mask came into it or came out of it (a masked layer).
        observed: environment id -> a few words (`value [3, 5, 4] float32, 4 NaN`,
            `raises IndexError: ...`, `not reached`).
        disagreements: how the backends differ here (`error`, `shape`, `dtype`, `NaN`,
            `values`, `mask`), with a detail each; empty when they agree.
    """

    name: str
    class_name: str
    input_dtype: str | None
    mask_in: bool
    observed: dict[str, str]
    disagreements: list[str] = field(default_factory=list)


def _words(record: Mapping[str, Any] | None) -> str:
    if record is None:
        return "no such layer"
    if record["kind"] == "not_reached":
        return "not reached (an earlier layer raised)"
    if record["kind"] == "error":
        return f"raises {record['error_type']}: {record.get('message') or ''}".strip()
    shapes = "; ".join(f"{s} {d}" for s, d in zip(record["shape"], record["dtype"], strict=True))
    nan = sum(record["nan_count"])
    mask = f", mask {record['mask_shape']}" if record.get("mask_shape") else ""
    return f"value {shapes}" + (f", {nan} NaN" if nan else "") + mask


#: Relative tolerances, by dtype, for `values_agree`: a large activation (1000.0) differs
#: between backends by float32 rounding (one unit in the last place there is 6e-5), which no
#: absolute tolerance alone allows. A few tens of units in the last place, as the absolute
#: `TOLERANCES["recurrent"]` allows for values near 1: float32 eps 1.2e-7, float16 eps 9.8e-4,
#: bfloat16 eps 7.8e-3; float64 stays tight (a float64 output computed in float32 is caught).
RELATIVE_TOLERANCES: dict[str, float] = {"float16": 1e-2, "bfloat16": 3e-2, "float32": 1e-5,
                                         "float64": 1e-10}


def _tolerance(dtype: str) -> float:
    return TOLERANCES["recurrent"].get(dtype, 0.0)


def tolerances(dtype: str) -> tuple[float, float]:
    """(atol, rtol) for a Keras dtype name; (0, 0), exact, for integers, bools and others."""
    return _tolerance(dtype), RELATIVE_TOLERANCES.get(dtype, 0.0)


def values_agree(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any], dtype: str
                 ) -> np.ndarray[Any, Any]:
    """Where two outputs of the same shape agree: `|a - b| <= atol + rtol * max(|a|, |b|)`.

    Args:
        a, b: one output of one layer on two backends, same shape, a float or complex dtype.
        dtype: the Keras dtype name they were produced in (`tolerances`).

    Returns:
        A bool array of that shape; a position NaN on both counts as agreeing, a position NaN
        on one only does not (`_value_diffs` names those first), and infinities agree only
        with the same infinity.
    """
    atol, rtol = tolerances(dtype)
    a64, b64 = a.astype(np.complex128 if a.dtype.kind == "c" else np.float64), \
        b.astype(np.complex128 if b.dtype.kind == "c" else np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        close = np.abs(a64 - b64) <= atol + rtol * np.maximum(np.abs(a64), np.abs(b64))
    return np.asarray(close | (a64 == b64) | (np.isnan(a64) & np.isnan(b64)))


def load_text(observed: Mapping[str, Mapping[str, Any]]) -> str:
    """`load: the model loads on jax-cpu only`, or, where it loads nowhere, `load: the model
    loads on no backend: <the reason>` (the one reason they share, else each one's)."""
    loaded = [e for e, o in observed.items() if not o.get("load_error")]
    if loaded:
        return "load: the model loads on " + ", ".join(loaded) + " only"
    reasons = {str(o["load_error"]) for o in observed.values()}
    if len(reasons) == 1:
        return f"load: the model loads on no backend: {reasons.pop()}"
    return "load: the model loads on no backend: " + "; ".join(
        f"{e}: {o['load_error']}" for e, o in observed.items())


def loads_nowhere(rows: Sequence[LayerCheck]) -> bool:
    """Whether the model loaded on no backend (nothing was compared)."""
    return bool(rows) and rows[0].class_name == "load_model" and \
        rows[0].disagreements[0].startswith("load: the model loads on no backend")


def compare(observed: Mapping[str, Mapping[str, Any]],
            values: Mapping[str, Mapping[str, np.ndarray[Any, Any]]]) -> list[LayerCheck]:
    """Every layer across the environments that loaded the model, in graph order.

    Args:
        observed: environment id -> `observed.json` of `matrix/run/check_model.py`.
        values: environment id -> its arrays (`out|<layer>|<i>`, `mask|<layer>`).
    """
    loaded = [e for e, o in observed.items() if not o.get("load_error")]
    rows: list[LayerCheck] = []
    if len(loaded) != len(observed):
        rows.append(LayerCheck(
            name="(load)", class_name="load_model", input_dtype=None, mask_in=False,
            observed={e: (f"cannot load: {o['load_error']}" if o.get("load_error")
                          else "loads") for e, o in observed.items()},
            disagreements=[load_text(observed)]))
    if not loaded:
        return rows
    names = list(dict.fromkeys(r["name"] for e in loaded for r in observed[e]["layers"]))
    for name in names:
        records = {e: next((r for r in observed[e]["layers"] if r["name"] == name), None)
                   for e in loaded}
        first = next(r for r in records.values() if r is not None)
        reached = {e: r for e, r in records.items() if r is not None and r["kind"] == "value"}
        kinds = {e: (r["kind"], r.get("error_type")) if r else ("missing", None)
                 for e, r in records.items()}
        diffs = []
        unreached = [e for e, k in kinds.items() if k[0] == "not_reached"]
        if unreached and len(unreached) < len(kinds):
            diffs.append(f"error: not reached on {', '.join(unreached)} (an earlier layer "
                         "raised there)")
        elif len(set(kinds.values())) > 1:
            diffs.append("error: " + ", ".join(f"{e} {k[1] or k[0]}" for e, k in kinds.items()))
        diffs += _value_diffs(name, reached, values)
        input_dtype = next((r.get("input_dtype") for r in records.values()
                            if r and r.get("input_dtype")), None)
        rows.append(LayerCheck(name=name, class_name=first["class_name"],
                               input_dtype=input_dtype,
                               mask_in=any(r.get("mask_in") or r.get("mask_shape")
                                           for r in reached.values()),
                               observed={e: _words(r) for e, r in records.items()},
                               disagreements=diffs))
    # Names, classes and messages come from the model file and the backends: every report
    # format (and the JSON) gets them clean, whatever the renderer does after.
    return [clean_row(row) for row in rows]


def clean_row(row: LayerCheck) -> LayerCheck:
    """The row with every string `plain`: no ANSI escapes, control characters or line breaks,
    each cut to `TEXT_LIMIT`."""
    return replace(row, name=plain(row.name), class_name=plain(row.class_name),
                   input_dtype=None if row.input_dtype is None else plain(row.input_dtype),
                   observed={env: plain(text) for env, text in row.observed.items()},
                   disagreements=[plain(text) for text in row.disagreements])


def _value_diffs(name: str, reached: Mapping[str, Mapping[str, Any]],
                 values: Mapping[str, Mapping[str, np.ndarray[Any, Any]]]) -> list[str]:
    if len(reached) < 2:
        return []
    diffs = []
    for what in ("shape", "dtype"):
        if len({json.dumps(r[what]) for r in reached.values()}) > 1:
            diffs.append(f"{what}: " + ", ".join(f"{e} {r[what]}" for e, r in reached.items()))
    nans = {e: sum(r["nan_count"]) for e, r in reached.items()}
    if len(set(nans.values())) > 1:
        diffs.append("NaN: " + ", ".join(f"{e} {n}" for e, n in nans.items()))
    if diffs:
        return diffs
    envs = list(reached)
    base = envs[0]
    for i, dtype in enumerate(reached[base]["dtype"]):
        key = f"out|{name}|{i}"
        for other in envs[1:]:
            a, b = values[base].get(key), values[other].get(key)
            if a is None or b is None:
                continue
            if a.dtype.kind in "fc" and a.shape == b.shape:
                lone_nan = np.isnan(a) != np.isnan(b)
                if lone_nan.any():
                    diffs.append(f"NaN: {base} and {other} have NaN in different places "
                                 f"({int(lone_nan.sum())} of {a.size} positions NaN on one "
                                 "only)")
                outside = ~values_agree(a, b, dtype) & ~lone_nan
                if outside.any():
                    wide = np.complex128 if a.dtype.kind == "c" else np.float64
                    with np.errstate(invalid="ignore", over="ignore"):
                        worst = float(np.abs(np.subtract(a, b, dtype=wide))[outside].max())
                    atol, rtol = tolerances(dtype)
                    diffs.append(f"values: {base} and {other} differ by {worst:.3g} "
                                 f"(tolerance {atol:g} + {rtol:g} * |value| for {dtype})")
            elif not np.array_equal(a, b):
                diffs.append(f"values: {base} and {other} differ (exactly compared: {dtype})")
    masks = {e: values[e].get(f"mask|{name}") for e in envs}
    present = {e: m is not None for e, m in masks.items()}
    if len(set(present.values())) > 1:
        diffs.append("mask: " + ", ".join(f"{e} {'a mask' if p else 'no mask'}"
                                          for e, p in present.items()))
    elif all(present.values()):
        first = masks[base]
        differing = [e for e in envs[1:] if not np.array_equal(
            np.asarray(first), np.asarray(masks[e]))]
        if differing:
            diffs.append(f"mask: {', '.join(differing)} differ from {base}")
    return diffs


def explaining_rows(layer: LayerCheck, compatibility: Path | None) -> list[str]:
    """Rows of the compatibility table whose programs call this layer's class, where some
    environment differed (not passed, skipped or not run), one line each (at most 8), most
    specific first: the same input dtype, the same mask state, a case about this very layer
    (not one that only passes through it).

    A case is matched on what its program calls (`facts.subject`, `cases/facts.py`), as
    triage matches limitations; a report written before facts were recorded is matched on
    its `subject` axis. The published compact form (schema_version 3, with its `results/`)
    is read with `load_matrix`; an older single file is read as it is, field by field.
    """
    if layer.class_name == "load_model" or compatibility is None or not compatibility.exists():
        return []
    try:
        data = json.loads(compatibility.read_text(encoding="utf-8"))
        if isinstance(data, dict) and data.get("schema_version") == COMPACT_VERSION:
            data = MATRIX_ADAPTER.dump_python(load_matrix(compatibility))
    except (OSError, ValueError):  # not JSON, or a compact form that cannot be read
        return []
    subject = f"layers.{layer.class_name}"

    def calls(case: dict[str, Any]) -> bool:
        facts = case.get("facts") or {}
        called = facts.get("subject") or [case.get("axes", {}).get("subject")]
        return subject in called

    wanted = {c["id"]: c for c in data.get("cases", []) if calls(c)}
    by_case: dict[str, list[str]] = {}
    for result in data.get("results", []):
        if result.get("case") in wanted and \
                result.get("outcome") not in ("passed", "not_run", "skipped"):
            seen = result.get("observed") or {}
            what = seen.get("error_type") or (f"{seen.get('nan_count')} NaN"
                                              if seen.get("nan_count") else seen.get("kind"))
            by_case.setdefault(result["case"], []).append(
                f"{result['environment']} {result['outcome']} ({what})")

    def specificity(case_id: str) -> tuple[int, int, int]:
        axes = wanted[case_id].get("axes", {})
        return (axes.get("input_dtype") == layer.input_dtype,
                (axes.get("mask", "none") != "none") == layer.mask_in,
                axes.get("subject") == subject)

    ordered = sorted(by_case, key=specificity, reverse=True)  # stable: catalog order within
    return [f"{case}: {'; '.join(by_case[case])}" for case in ordered[:8]]
