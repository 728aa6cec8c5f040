"""Loading and validating the catalog: built-in families plus user case modules.

Validation is driven by the subject records (`cases/subjects/`): a step must name a known
subject, give it only the constructor and call arguments its reference models (anything else
is refused with `Received: name=value`, as Keras words its errors), and use values defined
before it. The oracle (`matrix.oracle.catalog.load_catalog`) then computes the reference of
every case once, so a case it cannot model is refused at collection, naming its file and id,
before anything runs.
"""

from __future__ import annotations

import contextlib
import importlib.util
import inspect
import keyword
import os
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

from cases.limitations import LIMITATIONS, Limitation
from cases.model import (
    DTYPE_POLICIES,
    INPUT_DTYPES,
    KERAS_RUNNER,
    MODES,
    Case,
    CatalogError,
    Nested,
    Step,
    check_case_id,
    is_name,
)
from cases.subjects import SUBJECTS, open_subject, record_of

WRAPPERS = ("TimeDistributed",)
METHODS = ("compute_mask",)
AFTER_WEIGHTS = ("enable_lora", "quantize")


@dataclass(frozen=True, kw_only=True)
class Catalog:
    """The cases to run, with the limitations and extra runners their modules declare.

    Attributes:
        cases: every case, built-in first, in a stable order.
        limitations: built-in and user-declared limitations.
        runners: runner name -> callable taking a Case and returning an observation dict;
            only test-only catalogs declare these (the `keras` runner is built in).
        sources: case id -> the module or file it came from.
    """

    cases: tuple[Case, ...]
    limitations: tuple[Limitation, ...]
    runners: dict[str, Callable[[Case], dict[str, Any]]] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)


def builtin_cases() -> list[Case]:
    """The built-in catalog, in report order."""
    from cases import (
        attention,
        edge_inputs,
        embedding,
        index_ops,
        losses,
        mask_consumers,
        modes,
        ops_dtypes,
        padding,
        policies,
        preprocessing,
        recurrent,
        user_reports,
    )

    return (embedding.cases() + mask_consumers.cases() + modes.cases() + policies.cases()
            + padding.cases() + user_reports.cases() + index_ops.cases() + losses.cases()
            + recurrent.cases() + attention.cases() + edge_inputs.cases()
            + preprocessing.cases() + ops_dtypes.default_cases())


def _check_subject(where: str, subject: str) -> None:
    if subject in SUBJECTS:
        return
    try:
        open_subject(subject)
    except KeyError as exc:
        raise CatalogError(f"{where}: field `subject` names no record in cases/subjects/ "
                           f"and no Keras callable: {exc.args[0]}. "
                           f"Received: subject={subject!r}") from None


def resolve_open_names(cases: Sequence[Case]) -> None:
    """Checks that every open step (no record models it) names a callable of the installed
    Keras; run where Keras is imported (the run's collection, `matrix/run/test_cases.py`).

    Raises:
        CatalogError: a name Keras does not have; names the case, the step, the Keras
            version and the closest names it has.
    """
    import difflib

    import keras

    for case in cases:
        for index, step in enumerate(case.steps):
            if not record_of(step).open:
                continue
            namespace, attr = step.subject.split(".")
            module = getattr(keras, namespace, None)
            if module is not None and callable(getattr(module, attr, None)):
                continue
            known = [n for n in dir(module) if not n.startswith("_")] if module else []
            close = difflib.get_close_matches(attr, known, n=3)
            hint = f"; closest: {', '.join(f'{namespace}.{c}' for c in close)}" if close else ""
            raise CatalogError(f"case {case.id!r}: step {index}: keras.{step.subject} is not a "
                               f"callable of Keras {keras.__version__}{hint}. "
                               f"Received: subject={step.subject!r}")


def _check_function(where: str, name: str, value: Any) -> None:
    """A function argument goes into the repro as its source: a `def` at the top of a
    catalog module, nothing Keras or NumPy defines (pass Keras's own by its name)."""
    module = getattr(value, "__module__", "") or ""
    ok = inspect.isfunction(value) and value.__name__ != "<lambda>" \
        and value.__qualname__ == value.__name__ \
        and module.split(".")[0] not in ("keras", "numpy", "builtins")
    if ok:
        try:
            inspect.getsource(value)
        except (OSError, TypeError):
            ok = False
    if not ok:
        raise CatalogError(f"{where}: argument `{name}` must be a function defined with `def` "
                           f"at the top of a catalog module (its source goes into the repro); "
                           f"a Keras function is passed by its name. Received: {name}={value!r}")


def _check_args(where: str, step: Step) -> None:
    """The arguments of a step. A hand-written record checks its own (`record_of`: one it
    does not model makes the step open, judged by agreement); here, a nested layer must name
    a record or a Keras callable, and a function must be one a repro can hold."""
    for name, value in [*step.args.items(), *step.call.items()]:
        if not isinstance(name, str) or not is_name(name) or keyword.iskeyword(name):
            # it is rendered as a keyword argument of the program
            raise CatalogError(f"{where}: an argument name must be a Python identifier. "
                               f"Received: {name!r}")
        if isinstance(value, Nested):
            _check_subject(f"{where} ({name})", value.subject)
            _check_args(f"{where} ({name})", Step(subject=value.subject, args=value.args))
        elif callable(value) and not isinstance(value, type):
            _check_function(where, name, value)


def _check_step(where: str, step: Step, defined: set[str]) -> None:
    _check_subject(where, step.subject)
    _check_args(where, step)
    record = record_of(step)
    missing = [name for name in record.required if name not in step.args]
    if missing:
        raise CatalogError(f"{where}: {step.subject} needs the argument(s) {', '.join(missing)}. "
                           f"Received: args={dict(step.args)!r}")
    for key, value in step.call.items():
        if key not in record.call_args and not record.open:
            raise CatalogError(f"{where}: {step.subject} call argument `{key}` is not modelled "
                               f"(modelled: {', '.join(sorted(record.call_args)) or 'none'}). "
                               f"Received: {key}={value!r}")
        if key == "mask" and (not isinstance(value, str) or value not in defined):
            raise CatalogError(f"{where}: call argument `mask` must name a value defined "
                               f"before this step. Received: mask={value!r}")
    for name in step.inputs:
        if name not in defined:
            raise CatalogError(f"{where}: input {name!r} is not defined before this step "
                               f"(defined: {', '.join(sorted(defined))}).")
    if not step.inputs:
        raise CatalogError(f"{where}: field `inputs` is empty.")
    if not is_name(step.output) or step.output in defined:
        raise CatalogError(f"{where}: field `output` must be a new Python identifier. "
                           f"Received: output={step.output!r}")
    if step.wrap is not None and step.wrap not in WRAPPERS:
        raise CatalogError(f"{where}: field `wrap` must be one of {WRAPPERS}. "
                           f"Received: wrap={step.wrap!r}")
    if step.method is not None and (step.method not in METHODS or record.mask is None):
        raise CatalogError(f"{where}: {step.subject} has no modelled method "
                           f"{step.method!r}. Received: method={step.method!r}")
    for method, _ in step.after_weights:
        if method not in AFTER_WEIGHTS:
            raise CatalogError(f"{where}: field `after_weights` must name one of "
                               f"{AFTER_WEIGHTS}. Received: {method!r}")


def validate_case(case: Case, where: str) -> None:
    """Refuses one malformed case (see `validate_catalog`)."""
    for name, tensor in case.inputs.items():
        if tensor.dtype not in INPUT_DTYPES:
            raise CatalogError(f"{where}: field `inputs.{name}.dtype` is not a dtype this "
                               f"catalog supports ({', '.join(INPUT_DTYPES)}). "
                               f"Received: dtype={tensor.dtype!r}")
        if not is_name(name):
            raise CatalogError(f"{where}: input name {name!r} is not a Python identifier.")
    if case.mode not in MODES:
        raise CatalogError(f"{where}: field `mode` must be one of {MODES}. "
                           f"Received: mode={case.mode!r}")
    if case.dtype_policy is not None and case.dtype_policy not in DTYPE_POLICIES:
        raise CatalogError(f"{where}: field `dtype_policy` must be one of "
                           f"{', '.join(DTYPE_POLICIES)}. "
                           f"Received: dtype_policy={case.dtype_policy!r}")
    if (case.mode == "save_load") != (case.saved_on is not None):
        raise CatalogError(f"{where}: field `saved_on` is required in mode `save_load` "
                           f"and only there. Received: saved_on={case.saved_on!r}")
    if (case.mode == "fit") != (case.fit is not None):
        raise CatalogError(f"{where}: field `fit` is required in mode `fit` and only there.")
    if case.fit is not None and case.fit.labels is not None \
            and case.fit.labels not in case.inputs:
        raise CatalogError(f"{where}: field `fit.labels` names no input. "
                           f"Received: labels={case.fit.labels!r}")
    if not case.steps:
        raise CatalogError(f"{where}: field `steps` is empty.")
    defined = set(case.inputs)
    host = True
    for number, step in enumerate(case.steps):
        _check_step(f"{where}: steps[{number}]", step, defined)
        if record_of(step).host and not host:
            raise CatalogError(f"{where}: steps[{number}]: {step.subject} runs on the host "
                               "and must come before every layer.")
        host = host and record_of(step).host
        defined.add(step.output)
    if case.observe not in defined:
        raise CatalogError(f"{where}: field `observe` names no value. "
                           f"Received: observe={case.observe!r}")
    if host and case.mode != "eager":
        raise CatalogError(f"{where}: a program of host utilities only runs in mode `eager`. "
                           f"Received: mode={case.mode!r}")


def validate_catalog(cases: Sequence[Case], source: str = "catalog") -> None:
    """Refuses a malformed catalog before anything runs.

    Args:
        cases: the cases to check.
        source: where they came from (module or file), named in the error.

    Raises:
        CatalogError: a duplicate id or one `check_case_id` refuses (a backslash, a space,
            `/`, over 200 characters), an unknown subject, dtype, mode or
            argument, an argument the reference does not model; the message names the case
            id and the field.
    """
    seen: dict[str, Case] = {}
    for case in cases:
        try:
            check_case_id(case.id)  # the rule the report reads run files with
        except ValueError as exc:
            raise CatalogError(f"{source}: {exc}") from None
        where = f"{source}: case {case.id!r}"
        if case.id in seen:
            raise CatalogError(
                f"{where}: duplicate case id; ids must be unique (derived from group and axes). "
                f"Received: group={case.group!r}, axes={dict(case.axes)!r}")
        seen[case.id] = case
        if case.runner == KERAS_RUNNER:
            validate_case(case, where)


class _ExitCalled(BaseException):
    """Raised instead of ending the process when user catalog code calls `os._exit`.

    A BaseException, so the catalog's own `except Exception` cannot swallow it.
    """


@contextlib.contextmanager
def _catalog_code(path: Path, doing: str) -> Iterator[None]:
    """Runs user catalog code (its import, its `cases()`): what would end the process is
    refused, naming the file.

    The catalog is loaded by pytest's collection, the fold (`python -m matrix.results
    fold`) and `python -m matrix.run.cache plan`: a catalog that calls `os._exit(0)` there would
    end each of them with status 0 and no output, and the run would look successful with no
    run file written. While the code runs, `os._exit` (and `posix._exit`, the same function)
    raises instead, in the thread running it (another thread's call ends the process as
    usual); `sys.exit` (SystemExit) is refused too.

    Raises:
        CatalogError: the code called `os._exit` or `sys.exit`; the message names the file.
    """
    importing = threading.get_ident()
    real = os._exit
    modules = [m for m in (os, sys.modules.get("posix"), sys.modules.get("nt"))
               if m is not None and getattr(m, "_exit", None) is real]

    def refuse(status: int) -> NoReturn:
        if threading.get_ident() != importing:
            real(status)
        raise _ExitCalled(status)

    for module in modules:
        module._exit = refuse  # type: ignore[attr-defined]
    try:
        yield
    except _ExitCalled as exc:
        raise CatalogError(
            f"--catalog {path}: {doing} called os._exit({exc.args[0]!r}), which ends the "
            "process on the spot: the run would write no run file (and status 0 would look "
            "like success). A catalog module only defines cases.") from None
    except SystemExit as exc:
        raise CatalogError(
            f"--catalog {path}: {doing} called sys.exit({exc.code!r}), which ends the "
            "process: the run would write no run file. A catalog module only defines "
            "cases.") from None
    finally:
        for module in modules:
            module._exit = real  # type: ignore[attr-defined]


def _load_module(path: Path) -> ModuleType:
    if not path.is_file():
        raise CatalogError(f"--catalog {path}: no such file.")
    name = f"kcm_user_catalog_{abs(hash(path.resolve()))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise CatalogError(f"--catalog {path}: not a Python module.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    with _catalog_code(path, "importing it"):
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            raise CatalogError(f"--catalog {path}: importing it failed: "
                               f"{type(exc).__name__}: {exc}") from exc
    return module


def read_catalog(extra: Sequence[str | Path] = ()) -> Catalog:
    """Builds the catalog: built-in cases plus each extra case module, validated as data.

    The references are not computed here: `matrix.oracle.catalog.load_catalog` reads the
    catalog with this function, then refuses a case the oracle cannot model.

    An extra module defines `CASES` (a list of `Case`) or `cases()` returning one; it may
    define `LIMITATIONS` and `RUNNERS` (runner name -> callable) too.

    Args:
        extra: paths of user case modules.

    Returns:
        The validated catalog.

    Raises:
        CatalogError: a module cannot be loaded, a case is malformed or duplicated; the
            message names the file and the case.
    """
    cases = builtin_cases()
    sources = {case.id: "cases (built-in)" for case in cases}
    limitations = list(LIMITATIONS)
    runners: dict[str, Callable[[Case], dict[str, Any]]] = {}
    validate_catalog(cases, "cases (built-in)")
    for raw in extra:
        path = Path(raw)
        module = _load_module(path)
        found = getattr(module, "CASES", None)
        if found is None and callable(getattr(module, "cases", None)):
            with _catalog_code(path, "its cases()"):
                found = module.cases()
        if not isinstance(found, list | tuple) or not all(isinstance(c, Case) for c in found):
            raise CatalogError(f"--catalog {path}: define `CASES` as a list of cases.Case "
                               "(or a function `cases()` returning one).")
        validate_catalog(list(found), str(path))
        for case in found:
            if case.id in sources:
                raise CatalogError(f"{path}: case {case.id!r}: duplicate case id; it is "
                                   f"already defined in {sources[case.id]}.")
            sources[case.id] = str(path)
        cases.extend(found)
        limitations.extend(getattr(module, "LIMITATIONS", ()))
        runners.update(getattr(module, "RUNNERS", {}))
    for case in cases:
        if case.runner != KERAS_RUNNER and case.runner not in runners:
            raise CatalogError(f"{sources[case.id]}: case {case.id!r}: field `runner` names "
                               f"an unknown runner. Received: runner={case.runner!r}")
    return Catalog(cases=tuple(cases), limitations=tuple(limitations), runners=runners,
                   sources=sources)
