"""Check a user's saved model across backends: the first layer where they disagree, and why.

`nox -s check -- MODEL.keras INPUTS.npz [--environments tensorflow-cpu jax-cpu torch-cpu]`
runs `matrix/run/check_model.py` in each environment's virtualenv (the `run` session's own,
`.nox/run-<environment>`, when its install stamp is there; otherwise `.nox/check-<environment>`
installed from the same pins file), which calls every layer of the model eagerly, in graph
order, and records its output and mask. This module compares them across backends, with no
NumPy reference: **backends agree within the dtype's tolerance**, absolute plus relative:
`|a - b| <= atol + rtol * max(|a|, |b|)` at every position, with `atol` from
`matrix.oracle.tolerance.TOLERANCES`, kind `recurrent` (float32 1e-5, float16 1e-2, ...) and `rtol`
from `RELATIVE_TOLERANCES` (float32 1e-5, float16 1e-2, bfloat16 3e-2, float64 1e-10);
integer and bool outputs and masks exactly. A layer disagrees on `load` (the model loads on
some backends only), `error` (raises on some, or with another error type), `shape`, `dtype`,
`NaN` (another NaN count, or NaN in different places), `values` (past the tolerance) or
`mask`. A model that loads on no backend is no disagreement: the report says so, with the
reason they share. The report (terminal, `check-<model>.md`,
`.html` and `.json` in the ignored `reports/local/check/`) names the first disagreeing layer,
how each backend behaved there, and the rows of the compatibility table
(`compatibility.json`: same layer class and input dtype, masked or not) that may explain it.
Every string that comes from the model file or a backend (layer and class names, error
messages) is one clean line in every format: ANSI escapes and control characters removed
(`plain`), Markdown's `|`, backticks, `<` and `>` escaped in the `.md`, autoescaped HTML.

Bad input is refused before any backend runs, in one line with exit status 2: a file that is
not a `.keras` archive, inputs that are not an `.npz` or do not match the outer model's inputs
(names, count, rank or fixed dimensions), inputs whose `.npy` headers declare more than
`INPUTS_LIMIT_BYTES` (1 GiB, read from the headers only), a model holding custom objects without
`--custom-objects module.py`, a custom-objects file that raises on import (imported once in
the first environment's interpreter), an unknown environment, fewer than two distinct
environments. Exit status otherwise: 0 the backends agree, 1 they disagree, 3 the model loads
on no backend.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from matrix.bisect import BisectError, ensure_virtualenv, harness_requirements
from matrix.environments import Environment, get_environment
from matrix.oracle.tolerance import TOLERANCES
from matrix.run.messages import clean_message

ROOT = Path(__file__).resolve().parent.parent
LOCAL_CHECK_DIR = ROOT / "reports" / "local" / "check"
DEFAULT_ENVIRONMENTS = ("tensorflow-cpu", "jax-cpu", "torch-cpu")
WORKER_TIMEOUT_S = 900
#: The most bytes the arrays of INPUTS may declare, all members together (1 GiB). Each
#: member's `.npy` header says its shape and dtype; a file declaring more is refused before
#: any array is read, so a header claiming 10**15 elements is exit 2, not a MemoryError.
INPUTS_LIMIT_BYTES = 1 << 30
#: The longest text of a model's (layer names, class names, error messages) that a report
#: shows in one cell: a name of megabytes is cut, not printed.
TEXT_LIMIT = 500


def plain(text: object, limit: int = TEXT_LIMIT) -> str:
    """Text from a model file (or a backend) made safe for a terminal: one line, no ANSI
    escapes, no control characters, cut to `limit` (`matrix.run.messages.clean_message`).

    Every line break becomes a space first, so nothing after it is lost or read as a row.
    """
    return clean_message(" ".join(str(text).split()), limit)


class CheckError(ValueError):
    """Bad input: one line naming what to change."""


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


# --- input checks ------------------------------------------------------------------------

def _walk(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        yield value
        for item in value.values():
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


def read_config(model: Path) -> dict[str, Any]:
    """The model's `config.json` from its `.keras` archive.

    Raises:
        CheckError: not a `.keras` archive.
    """
    if model.suffix != ".keras" or not model.is_file():
        raise CheckError(f"MODEL must be a .keras file (model.save('model.keras')). "
                         f"Received: {model}")
    try:
        with zipfile.ZipFile(model) as archive:
            return dict(json.loads(archive.read("config.json")))
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError, OSError) as exc:
        raise CheckError(f"MODEL is not a .keras archive with a config.json ({exc}); save it "
                         f"with model.save('model.keras'). Received: {model}") from None


def _input_layer(item: Any) -> tuple[str, list[int | None]] | None:
    if not isinstance(item, dict) or item.get("class_name") != "InputLayer" \
            or not isinstance(item.get("config"), dict):
        return None
    cfg = item["config"]
    shape = cfg.get("batch_shape") or cfg.get("batch_input_shape")
    return (str(cfg.get("name")), shape) if isinstance(shape, list) else None


def model_inputs(config: Mapping[str, Any]) -> list[tuple[str, list[int | None]]]:
    """(name, batch shape) of each input of the outer model, in the model's order.

    A functional model's inputs are its `config["input_layers"]` (`["ids", 0, 0]`, or a list
    of those), looked up among its own top-level layers; a Sequential's is its top-level
    `InputLayer`. A model nested inside it keeps its own `InputLayer`, which is not an input
    of the outer model and is never counted.
    """
    inner = config.get("config") if isinstance(config.get("config"), dict) else {}
    assert isinstance(inner, dict)
    layers = inner.get("layers") if isinstance(inner.get("layers"), list) else []
    assert isinstance(layers, list)
    top = [found for found in map(_input_layer, layers) if found is not None]
    declared = inner.get("input_layers")
    if not isinstance(declared, list):
        return top[:1] if config.get("class_name") == "Sequential" else top
    if declared and isinstance(declared[0], str):  # one input: ["ids", 0, 0]
        declared = [declared]
    by_name = dict(top)
    return [(str(d[0]), by_name[str(d[0])]) for d in declared
            if isinstance(d, list) and d and str(d[0]) in by_name]


def custom_classes(config: Mapping[str, Any]) -> list[str]:
    """Classes the config names from outside Keras (they need `--custom-objects`)."""
    names = []
    for item in _walk(config):
        # Keras's own objects are saved with their module (`keras.layers`); a user's class
        # with none, or its own, and a registered name such as `my_package>MyLayer`.
        # A module merely named like Keras (`keras_custom_layers`) is the user's.
        module = str(item.get("module") or "")
        own = module == "keras" or module.startswith("keras.")
        if "class_name" in item and "registered_name" in item and not own:
            names.append(str(item.get("registered_name") or item["class_name"]))
    return sorted(set(names))


def check_inputs(arrays: Mapping[str, np.ndarray[Any, Any]],
                 inputs: Sequence[tuple[str, list[int | None]]]) -> None:
    """Refuses inputs that do not fit the model's inputs.

    Raises:
        CheckError: another count, unknown names, another rank or fixed dimension.
    """
    names = [name for name, _ in inputs]
    if set(arrays) == set(names):
        pairs = [(name, arrays[name], shape) for name, shape in inputs]
    elif len(arrays) == len(inputs) and all(k.startswith("arr_") for k in arrays):
        pairs = [(name, arrays[key], shape)
                 for (name, shape), key in zip(inputs, sorted(arrays), strict=True)]
    else:
        raise CheckError(f"INPUTS must hold one array per model input, named {names} "
                         f"(np.savez(path, {names[0] if names else 'x'}=...)). "
                         f"Received: {sorted(arrays)}")
    for name, array, shape in pairs:
        fits = array.ndim == len(shape) and all(
            want is None or want == got for want, got in zip(shape, array.shape, strict=True))
        if not fits:
            wanted = tuple(shape)
            raise CheckError(f"INPUTS array {name!r} has shape {array.shape}; the model's "
                             f"input takes {wanted} (None: any size). "
                             f"Received: {name}.shape={array.shape}")


def _declared_bytes(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> int:
    """The bytes a member of an `.npz` would take once read, from its header alone.

    A `.npy` member: its shape times its dtype's item size (`numpy.lib.format`'s header
    readers; the array itself is not read). Any other member: its uncompressed size, which
    `zipfile` never reads past.

    Raises:
        ValueError: a `.npy` header that cannot be parsed.
    """
    if not member.filename.endswith(".npy"):
        return member.file_size
    fmt = np.lib.format
    with archive.open(member) as stream:
        major, _ = fmt.read_magic(stream)
        # Format 3.0 is 2.0 with a UTF-8 header; the fields read here are ASCII in both.
        header = fmt.read_array_header_1_0 if major == 1 else fmt.read_array_header_2_0
        shape, _, dtype = header(stream)
    count = 1
    for dim in shape:  # Python integers: a declared 10**30 elements cannot overflow
        count *= int(dim)
    return count * int(dtype.itemsize)


def check_input_sizes(path: Path, limit: int = INPUTS_LIMIT_BYTES) -> None:
    """Refuses an `.npz` whose members declare more than `limit` bytes, before any is read.

    Raises:
        CheckError: the member that takes the total past `limit`, or one whose header
            cannot be read; the message names the file and the member.
    """
    total = 0
    with zipfile.ZipFile(path) as archive:
        for member in archive.infolist():
            try:
                size = _declared_bytes(archive, member)
            except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
                raise CheckError(f"INPUTS member {member.filename!r} has no readable .npy "
                                 f"header ({plain(exc, 200)}); save it with np.savez. "
                                 f"Received: {path}") from None
            total += size
            if total > limit:
                raise CheckError(
                    f"INPUTS member {member.filename!r} declares {size} bytes, which takes "
                    f"the inputs past the {limit} bytes `nox -s check` reads "
                    f"(INPUTS_LIMIT_BYTES); pass a smaller batch. Received: {path}")


def load_inputs(path: Path) -> dict[str, np.ndarray[Any, Any]]:
    """The arrays of an `.npz` file, by name.

    Every member's header is checked first (`check_input_sizes`): a file whose arrays
    declare more than `INPUTS_LIMIT_BYTES` is refused without reading them.

    Raises:
        CheckError: no such file, a `.npy` (one bare array), not a NumPy file at all, or
            arrays past `INPUTS_LIMIT_BYTES`.
    """
    if not path.is_file():
        raise CheckError(f"INPUTS: no such file; pass an .npz file (np.savez(path, "
                         f"name=array)). Received: {path}")
    if not zipfile.is_zipfile(path):
        # `np.load` would read a bare `.npy` array whole, however large its header says it is.
        with path.open("rb") as stream:
            bare = stream.read(len(np.lib.format.MAGIC_PREFIX)) == np.lib.format.MAGIC_PREFIX
        if bare:
            raise CheckError("INPUTS must be an .npz file with one array per model input "
                             "(np.savez(path, name=array)), not a single .npy array. "
                             f"Received: {path}")
        raise CheckError("INPUTS must be an .npz file (np.savez(path, name=array)); this is "
                         f"not a zip archive. Received: {path}")
    try:
        check_input_sizes(path)
    except zipfile.BadZipFile as exc:
        raise CheckError(f"INPUTS must be an .npz file (np.savez(path, name=array)): {exc}. "
                         f"Received: {path}") from None
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise CheckError(f"INPUTS must be an .npz file (np.savez(path, name=array)): {exc}. "
                         f"Received: {path}") from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise CheckError("INPUTS must be an .npz file with one array per model input "
                         "(np.savez(path, name=array)), not a single .npy array. "
                         f"Received: {path}")
    try:
        with data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise CheckError(f"INPUTS must be an .npz file (np.savez(path, name=array)): {exc}. "
                         f"Received: {path}") from None


# --- running and comparing ---------------------------------------------------------------

def python_for(environment: Environment, given: Mapping[str, str]) -> Path:
    """The interpreter of the environment: given, the `run` session's, or one installed here."""
    if environment.id in given:
        return Path(given[environment.id])
    run = ROOT / ".nox" / f"run-{environment.id}"
    if (run / "kcm-install.stamp").exists() and (run / "bin" / "python").exists():
        return run / "bin" / "python"
    venv = ROOT / ".nox" / f"check-{environment.id}"
    pins = ["-r", str(environment.pins)] if environment.pins.exists() \
        else list(environment.requirements)
    ensure_virtualenv(venv, [*harness_requirements(), *pins], pre=environment.pre)
    return venv / "bin" / "python"


def run_worker(python: Path, environment: Environment, model: Path, inputs: Path,
               out: Path, custom: Path | None) -> dict[str, Any]:
    """Runs `matrix/run/check_model.py` in one environment; returns what it observed."""
    command = [str(python), "-m", "matrix.run.check_model", str(model), str(inputs),
               "--out", str(out), *(["--custom-objects", str(custom)] if custom else [])]
    env = {**os.environ, **environment.variables(), "PYTHONPATH": str(ROOT)}
    try:
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=WORKER_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        return {"load_error": f"ran past {WORKER_TIMEOUT_S} s", "layers": []}
    result = out / "observed.json"
    if not result.exists():
        lines = (done.stderr or done.stdout).strip().splitlines() or ["no output"]
        return {"load_error": f"the check crashed (exit {done.returncode}): {lines[-1][:300]}",
                "layers": []}
    return dict(json.loads(result.read_text(encoding="utf-8")))


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
    its `subject` axis.
    """
    if layer.class_name == "load_model" or compatibility is None or not compatibility.exists():
        return []
    try:
        data = json.loads(compatibility.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
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


# --- reports -----------------------------------------------------------------------------

def summary(rows: Sequence[LayerCheck]) -> str:
    """One line: the backends agree, the first disagreement, or the model loads nowhere."""
    if loads_nowhere(rows):
        return rows[0].disagreements[0].removeprefix("load: ") + " (nothing to compare)"
    first = next((r for r in rows if r.disagreements), None)
    if first is None:
        return f"the backends agree on every layer ({len(rows)} layers)"
    return f"first disagreement: layer {first.name!r} ({first.class_name}): " + \
        "; ".join(first.disagreements)


#: Markdown's active characters in a table cell, escaped: `|` would end the cell, a backtick
#: open code, `*`, `[` and `]` emphasis and links, `<` and `>` HTML (`<img onerror=...>`), `&`
#: an entity. GitHub's tables honour `\|` (https://github.github.com/gfm/#tables-extension-).
_MD_ESCAPES = str.maketrans({**{c: "\\" + c for c in "\\|`*[]"},
                             "<": "&lt;", ">": "&gt;", "&": "&amp;"})


def markdown_text(text: object) -> str:
    """Text from a model file made safe for a Markdown table cell: one clean line (`plain`)
    with every active character escaped."""
    return plain(text).translate(_MD_ESCAPES)


def terminal_text(text: object) -> str:
    """Text from a model file made safe for the terminal's table: one clean line (`plain`)
    with `|` shown as `/`, so a name cannot add a column."""
    return plain(text).replace("|", "/")


def render_markdown(model: str, rows: Sequence[LayerCheck], envs: Sequence[str],
                    explain: Sequence[str], terminal: bool = False) -> str:
    """The Markdown report, every string from the model or a backend cleaned and escaped.

    Args:
        terminal: as printed: control characters and ANSI escapes removed, `|` as `/`, and
            nothing else escaped (`<` stays `<`); else for a `.md` file (`markdown_text`).
    """
    from tabulate import tabulate

    cell = terminal_text if terminal else markdown_text
    table = tabulate([[cell(r.name), cell(r.class_name),
                       *[cell(r.observed.get(e, "")) for e in envs],
                       cell("; ".join(r.disagreements)) or "agree"] for r in rows],
                     headers=["layer", "class", *envs, "backends"], tablefmt="github",
                     disable_numparse=True)
    lines = [f"# Check of {cell(model)} across backends", "", cell(summary(rows)), "",
             table, ""]
    if explain:
        lines += ["## Rows of the compatibility table that may explain it", "",
                  *[f"- {cell(line)}" for line in explain], ""]
    return "\n".join(lines)


_HTML = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Check of {{ model }}</title><style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 16px; }
table { border-collapse: collapse; } td, th { border: 1px solid #d0d7de; padding: 4px 8px;
vertical-align: top; } tr.differ td { background: #fff8c5; } .agree { color: #1a7f37; }
</style></head><body><h1>Check of <code>{{ model }}</code> across backends</h1>
<p><strong>{{ headline }}</strong></p><table><thead><tr><th>layer</th><th>class</th>
{% for e in envs %}<th>{{ e }}</th>{% endfor %}<th>backends</th></tr></thead><tbody>
{% for r in rows %}<tr{% if r.disagreements %} class="differ"{% endif %}><td>{{ r.name }}</td>
<td>{{ r.class_name }}</td>{% for e in envs %}<td>{{ r.observed.get(e, "") }}</td>{% endfor %}
<td>{% if r.disagreements %}{{ r.disagreements | join("; ") }}{% else %}<span class="agree">agree
</span>{% endif %}</td></tr>{% endfor %}</tbody></table>
{% if explain %}<h2>Rows of the compatibility table that may explain it</h2><ul>
{% for line in explain %}<li>{{ line }}</li>{% endfor %}</ul>{% endif %}
<p>Generated by <code>nox -s check</code>.</p></body></html>
"""


def render_html(model: str, rows: Sequence[LayerCheck], envs: Sequence[str],
                explain: Sequence[str]) -> str:
    """The HTML report: the Markdown's content, escaped by Jinja2's autoescape."""
    from jinja2 import Environment as Jinja

    # Autoescape makes the model's strings text, never markup; `clean_row` and `plain` take
    # out what autoescape leaves (ANSI escapes, control characters) from rows built elsewhere.
    template = Jinja(autoescape=True).from_string(_HTML)
    return template.render(model=plain(model), rows=[clean_row(r) for r in rows], envs=envs,
                           explain=[plain(line) for line in explain],
                           headline=plain(summary(rows)))


# --- command line ------------------------------------------------------------------------

def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="nox -s check --",
                                     description="Check a saved model across backends.")
    parser.add_argument("model", type=Path)
    parser.add_argument("inputs", type=Path)
    parser.add_argument("--environments", nargs="+", default=list(DEFAULT_ENVIRONMENTS))
    parser.add_argument("--custom-objects", type=Path, default=None, metavar="MODULE.py")
    parser.add_argument("--output", type=Path, default=LOCAL_CHECK_DIR, metavar="DIR")
    parser.add_argument("--compatibility", type=Path, default=None, metavar="JSON",
                        help="the compatibility.json to explain with (default the local "
                             "report's, else the published one)")
    parser.add_argument("--python", action="append", default=[], metavar="ENV=PATH",
                        help="the interpreter of an environment (default its run virtualenv)")
    return parser.parse_args(argv)


def plan(args: argparse.Namespace) -> tuple[list[Environment], dict[str, str]]:
    """Checks every input before a backend runs (the custom objects are imported in
    `check_custom_objects`, once an interpreter is known).

    Raises:
        CheckError: see the module docstring.
    """
    try:
        environments = [get_environment(e) for e in dict.fromkeys(args.environments)]
    except KeyError as exc:
        raise CheckError(f"--environments: {exc.args[0]}") from None
    if len(environments) < 2:
        raise CheckError("--environments must name two or more distinct environments (one "
                         "backend compared with itself cannot disagree). Received: "
                         f"{' '.join(args.environments)}")
    if not args.model.exists():
        raise CheckError(f"MODEL: no such file. Received: {args.model}")
    config = read_config(args.model)
    custom = custom_classes(config)
    if custom and args.custom_objects is None:
        raise CheckError(f"the model holds custom objects ({', '.join(custom)}); pass "
                         "--custom-objects module.py defining them")
    if args.custom_objects is not None and not args.custom_objects.is_file():
        raise CheckError(f"--custom-objects must be a Python file. "
                         f"Received: {args.custom_objects}")
    check_inputs(load_inputs(args.inputs), model_inputs(config))
    given = dict(item.split("=", 1) for item in args.python if "=" in item)
    return environments, given


def check_custom_objects(python: Path, environment: Environment, module: Path) -> None:
    """Imports the `--custom-objects` file once, in one environment's interpreter (it
    usually imports Keras, which this session's interpreter may lack).

    Raises:
        CheckError: it raises on import; the message names the file and the exception.
    """
    script = "import sys; from matrix.run.check_model import _custom_objects; " \
             "_custom_objects(sys.argv[1])"
    env = {**os.environ, **environment.variables(), "PYTHONPATH": str(ROOT)}
    try:
        done = subprocess.run([str(python), "-c", script, str(module.resolve())], cwd=ROOT,
                              env=env, capture_output=True, text=True,
                              timeout=WORKER_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise CheckError(f"--custom-objects {module}: importing it ran past "
                         f"{WORKER_TIMEOUT_S} s") from None
    if done.returncode != 0:
        lines = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()]
        raise CheckError(f"--custom-objects {module} raises on import ({environment.id}): "
                         f"{(lines or ['no output'])[-1].strip()[:300]}; fix the file")


#: Exit statuses of `main`: the backends agree, disagree, bad input (one line, nothing run),
#: the model loads on no backend (nothing compared; the report says why).
AGREE, DISAGREE, BAD_INPUT, LOADS_NOWHERE = 0, 1, 2, 3


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m matrix.check MODEL.keras INPUTS.npz [...]`.

    Returns:
        0 the backends agree on every layer, 1 they disagree somewhere, 2 bad input (one
        line on stderr, no backend run, nothing written), 3 the model loads on no backend.
    """
    args = _arguments(argv)
    try:
        environments, given = plan(args)
        pythons = {e.id: python_for(e, given) for e in environments}
        if args.custom_objects is not None:
            check_custom_objects(pythons[environments[0].id], environments[0],
                                 args.custom_objects)
    except (CheckError, BisectError) as exc:
        # The message may quote the model (its custom class names): one clean line.
        print(f"error: {plain(exc, 2000)}", file=sys.stderr)
        return BAD_INPUT
    stem = args.model.stem
    work = args.output / f".work-{stem}"
    observed: dict[str, dict[str, Any]] = {}
    values: dict[str, dict[str, np.ndarray[Any, Any]]] = {}
    for environment in environments:
        print(f"check: {environment.id}: running {plain(args.model.name)}", file=sys.stderr,
              flush=True)
        out = work / environment.id
        (out / "observed.json").unlink(missing_ok=True)
        observed[environment.id] = run_worker(pythons[environment.id], environment,
                                              args.model.resolve(), args.inputs.resolve(),
                                              out, args.custom_objects)
        npz = out / "values.npz"
        values[environment.id] = dict(np.load(npz)) if npz.exists() else {}
    shutil.rmtree(work, ignore_errors=True)  # read: the report is what stays
    rows = compare(observed, values)
    compat = args.compatibility or next(
        (p for p in (ROOT / "reports" / "local" / "compatibility.json",
                     ROOT / "reports" / "compatibility.json") if p.exists()), None)
    first = next((r for r in rows if r.disagreements), None)
    explain = explaining_rows(first, compat) if first else []
    envs = [e.id for e in environments]
    print(render_markdown(args.model.name, rows, envs, explain, terminal=True))
    args.output.mkdir(parents=True, exist_ok=True)
    base = args.output / f"check-{stem}"
    Path(f"{base}.md").write_text(render_markdown(args.model.name, rows, envs, explain),
                                  encoding="utf-8")
    Path(f"{base}.html").write_text(render_html(args.model.name, rows, envs, explain),
                                    encoding="utf-8")
    Path(f"{base}.json").write_text(json.dumps({
        "model": str(args.model), "environments": envs, "summary": summary(rows),
        "first_disagreement": first.name if first else None,
        "layers": [asdict(r) for r in rows], "compatibility_rows": explain,
        "versions": {e: {"keras": o.get("keras"), "backend": o.get("backend")}
                     for e, o in observed.items()}}, indent=1), encoding="utf-8")
    print(f"wrote {plain(base, 2000)}.md, .html, .json", file=sys.stderr)
    if loads_nowhere(rows):
        return LOADS_NOWHERE
    return DISAGREE if first else AGREE


if __name__ == "__main__":
    raise SystemExit(main())
