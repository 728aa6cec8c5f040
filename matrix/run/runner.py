"""Runs one case on the Keras backend of this process: it executes the case's program.

Imported only inside a run (by `matrix/run/test_cases.py`, the benchmark), where `KERAS_BACKEND`
has fixed the backend. The program is the source `matrix.run.program.render` writes, the very text
published as the case's repro: it is compiled and executed here as it stands, its printed
lines captured, and its last line read as the observation. Between cases, the Keras state a
program may change (dtype policy, floatx, `jax_enable_x64`) is put back to what a fresh
process has, so every program runs as its repro would.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import io
import json
import sys
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keras
import numpy as np

from cases.model import Case
from matrix.oracle.agreement import fingerprint
from matrix.oracle.expect import AGREEMENT, Expected, expected
from matrix.oracle.judge import matched_alternatives
from matrix.oracle.tolerance import compare
from matrix.records import Observation
from matrix.run.messages import clean_message, damaged_compile_artifact
from matrix.run.program import Where, render_with_lines

#: Observation fields a program prints (its last line), besides `kind`.
_FIELDS = ("error_type", "message", "shape", "dtype", "nan_count", "device", "weights_dtype",
           "warnings")
_KINDS = ("value", "error", "not_run")


class NotRun(Exception):
    """The case cannot run in this environment (e.g. no saved file from another backend)."""


class NotApplicable(Exception):
    """The case has no meaning on this backend (e.g. a tf.RaggedTensor on JAX)."""


def _clear_session() -> None:
    """`keras.backend.clear_session()`, with a collection that costs milliseconds.

    Keras's own call runs `gc.collect()`, which scans every object alive: 160 ms a call with
    TensorFlow loaded (measured, Keras 3.15.1 on this project's 2-core machine), twice a
    case, 90 % of an eager case's time; more once `torch.compile` has imported Inductor.
    Here Keras clears its state without collecting (`free_memory=False`, Keras 3.7 and
    later; older releases collect anyway) and the runner collects itself; what survives the
    reset before a program is frozen (`gc.freeze`, see `fresh_keras_state`), so each
    collection scans only what the programs created since.
    """
    try:
        keras.backend.clear_session(free_memory=False)
    except TypeError:  # a Keras without the argument collects on its own
        keras.backend.clear_session()
    gc.collect()


@contextlib.contextmanager
def fresh_keras_state() -> Iterator[None]:
    """Gives the program the state of a fresh process, and puts it back after it.

    A program's repro runs in a process of its own; here many run in one, so what one
    program leaves behind must not change the next: Keras's global state (layer and model
    names, the dtype policy, floatx), JAX's 64-bit mode, and torch's compiler caches. Without
    the last, `torch.compile` recompiles Keras's `one_step_on_data` for every new model and,
    past its recompile limit (8), silently runs eagerly: a `jit_compile` cell would then show
    eager behaviour.
    """
    from keras.src.backend.common import global_state

    def reset() -> None:
        _clear_session()
        # The raw global is None until a policy is set; Keras pins it to floatx the first time
        # a layer asks, so a program that sets floatx must find it unset, as at start-up.
        global_state.set_global_attribute("dtype_policy", None)
        keras.config.set_floatx("float32")
        backend = keras.backend.backend()
        if backend == "jax":
            import jax

            jax.config.update("jax_enable_x64", False)
        elif backend == "torch":
            import torch._dynamo

            torch._dynamo.reset()

    reset()
    # Whatever survives a full reset is long-lived (modules, Keras's and the framework's
    # caches, imports a program triggered lazily): frozen, later collections skip it and still
    # free every program's cycles, so memory stays flat over thousands of cases.
    gc.freeze()
    try:
        yield
    finally:
        reset()


def _harness_error(message: str) -> Observation:
    return Observation(kind="error", error_type="HarnessError", message=clean_message(message))


def execute(source: str, name: str) -> tuple[dict[str, Any] | None, Any, str]:
    """Executes a program; returns (its last line as JSON or None, `OUTPUT`, what it printed).

    Raises:
        Exception: whatever escaped the program's own `observe` (a harness bug).
    """
    # The program runs as a module of its own, registered in `sys.modules` as a script's
    # `__main__` is: `torch.compile` looks up the module of every function it traces (a
    # custom layer the program defines), and a bare namespace fails there with
    # "No module named '__kcm_case__'", which the repro, run as a script, never shows.
    module = types.ModuleType("__kcm_case__")
    module.OUTPUT = None  # type: ignore[attr-defined]
    namespace: dict[str, Any] = module.__dict__
    printed = io.StringIO()
    sys.modules[module.__name__] = module
    try:
        with fresh_keras_state(), contextlib.redirect_stdout(printed):
            exec(compile(source, f"<case {name}>", "exec"), namespace)
    finally:
        sys.modules.pop(module.__name__, None)
    lines = printed.getvalue().strip().splitlines()
    try:
        last = json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        last = None
    return (last if isinstance(last, dict) else None), namespace.get("OUTPUT"), \
        printed.getvalue()


def run_case(case: Case) -> tuple[Observation, np.ndarray[Any, Any] | None]:
    """Runs the case's program and reads its observation.

    Returns:
        (observation, output as NumPy or None). An exception of Keras or the backend is an
        observation of kind `error`; an exception of the harness (a weight shape that differs
        from the reference's, a program that printed no observation) is an `error` of type
        `HarnessError`, which the judge never takes for a backend's answer.

    Raises:
        NotRun: the case cannot run here; the reason says why.
        NotApplicable: the case has no meaning on this backend.
    """
    source, where = render_with_lines(case)
    try:
        raw, output, printed = execute(source, case.id)
    except Exception as exc:  # the program's own observe() catches the backend's errors
        return _harness_error(f"the program failed outside observe(): "
                              f"{type(exc).__name__}: {exc}"), None
    if raw is None or raw.get("kind") not in _KINDS:
        return _harness_error("the program printed no observation as its last line: "
                              + (printed.strip().splitlines() or [""])[-1][:300]), None
    if raw["kind"] == "not_run":
        reason = clean_message(str(raw.get("message") or ""))
        raise (NotApplicable if raw.get("error_type") == "NotApplicable" else NotRun)(reason)

    fields: dict[str, Any] = {k: raw.get(k) for k in _FIELDS}
    fields["message"] = clean_message(fields["message"]) if fields["message"] else None
    fields["warnings"] = [clean_message(str(w), 300) for w in fields["warnings"] or []]
    if raw["kind"] == "error":
        damaged = damaged_compile_artifact(str(raw.get("message") or ""))
        if damaged is not None:
            return _harness_error(_remove_damaged(damaged, fields["message"] or "")), None
        fields.update(_raised_at(case, where, raw.get("line")))
    observation = Observation(kind=raw["kind"], **fields)
    array = None if output is None or raw["kind"] != "value" else np.asarray(output)
    return observation, array


def _remove_damaged(path: Path, message: str) -> str:
    """Removes a damaged compile-cache file (`damaged_compile_artifact`); says what was done.

    Only a regular file inside a `torchinductor` folder is removed: the next run compiles
    that kernel again instead of loading the damaged one.
    """
    done = "left in place"
    if "torchinductor" in str(path.parent) and path.is_file() and not path.is_symlink():
        try:
            path.unlink()
            done = "removed, so the next run compiles it again"
        except OSError as exc:
            done = f"could not be removed ({exc})"
    return (f"the compile cache held a damaged file ({path}, {done}); this is the machine's "
            f"state, not the backend's answer: {message}")


def _raised_at(case: Case, where: dict[int, Where], line: object) -> dict[str, Any]:
    """`stage`, `step` and `step_name` of an error raised at `line` of the program.

    An error with no line of `program()` in its traceback was raised after the program
    returned, while `observe` converted its output (a backend may run lazily): `output`.
    """
    at = where.get(line) if isinstance(line, int) else None
    if at is None:
        return {"stage": "output"}
    step = at.step
    name = case.steps[step].subject if step is not None else None
    return {"stage": at.stage, "step": step, "step_name": name}


def max_abs_error(want: np.ndarray[Any, Any], got: np.ndarray[Any, Any]) -> float | None:
    """How far an output is from the reference; None when the shapes differ.

    Byte or text strings (padded bytes) are equal (0) or not (inf).
    """
    if want.dtype.kind in "SUO":
        return 0.0 if want.shape == got.shape and bool(np.all(want == got)) else float("inf")
    try:
        return compare(want.astype(np.float64), got.astype(np.float64))[0]
    except (ValueError, TypeError):  # shapes differ: the judge reports the mismatch
        return None


def observe(case: Case) -> tuple[Observation, Expected]:
    """Runs a case and measures it against the reference.

    Returns:
        (observation with `max_abs_error` filled in where values can be compared, the
        reference's answer).

    Raises:
        NotRun, NotApplicable: as `run_case`.
    """
    start = time.perf_counter()
    want = expected(case)
    reference_s = time.perf_counter() - start
    observation, output = run_case(case)
    program_s = time.perf_counter() - start - reference_s
    if observation.kind == "value" and want.values is not None and output is not None:
        error = max_abs_error(np.asarray(want.values), np.asarray(output))
        observation = dataclasses.replace(observation, max_abs_error=error,
                                          alternatives=matched_alternatives(
                                              want, observation, np.asarray(output)))
    elif observation.kind == "value" and want.kind == AGREEMENT and output is not None:
        # no reference: what came out, for the merge to compare across backends
        observation = dataclasses.replace(observation, fingerprint=fingerprint(output))
    # The program builds, compiles (jit_compile: on its first call) and runs in one call:
    # `program_s` is the three together; `reference_s` is the NumPy oracle's share.
    timings = {"reference_s": round(reference_s, 4), "program_s": round(program_s, 4)}
    return dataclasses.replace(observation, timings=timings), want
