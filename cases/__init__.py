"""The case catalog: Keras calls described as data, and the known divergences.

Importing this package imports NumPy and nothing heavier: no Keras, no backend. Family modules
(`embedding`, `mask_consumers`, `modes`, `policies`, `padding`) build cases by plain loops
over axes; `load_catalog` adds the
case modules a user keeps elsewhere (`nox -- --catalog path/to/my_cases.py`) and refuses a
malformed catalog before anything runs. `cases/test_cases.py` executes the catalog in a run.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from cases import embedding, mask_consumers, modes, padding, policies, user_reports
from cases.core import KERAS_RUNNER, Case, CatalogError, validate_catalog
from cases.limitations import LIMITATIONS, Limitation

__all__ = ["Case", "Catalog", "CatalogError", "builtin_cases", "load_catalog"]


@dataclass(frozen=True, kw_only=True)
class Catalog:
    """The cases to run, with the limitations and extra runners their modules declare.

    Attributes:
        cases: every case, built-in first, in a stable order.
        limitations: built-in and user-declared limitations.
        runners: runner name -> callable taking a Case and returning an observation dict;
            only test-only or user catalogs declare these (the `keras` runner is built in).
        sources: case id -> the module or file it came from.
    """

    cases: tuple[Case, ...]
    limitations: tuple[Limitation, ...]
    runners: dict[str, Callable[[Case], dict[str, Any]]] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)


def builtin_cases() -> list[Case]:
    """The built-in catalog, in report order."""
    return (embedding.cases() + mask_consumers.cases() + modes.cases() + policies.cases()
            + padding.cases() + user_reports.cases())


def _load_module(path: Path) -> ModuleType:
    if not path.is_file():
        raise CatalogError(f"--catalog {path}: no such file.")
    name = f"kcm_user_catalog_{abs(hash(path.resolve()))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise CatalogError(f"--catalog {path}: not a Python module.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise CatalogError(f"--catalog {path}: importing it failed: "
                           f"{type(exc).__name__}: {exc}") from exc
    return module


def _check_references(cases: Sequence[Case], sources: dict[str, str]) -> None:
    from cases.expect import expected  # NumPy only

    for case in cases:
        if case.runner != KERAS_RUNNER:
            continue
        try:
            expected(case)
        except Exception as exc:
            raise CatalogError(
                f"{sources[case.id]}: case {case.id!r}: the reference cannot be computed: "
                f"{type(exc).__name__}: {exc}"
            ) from exc


def load_catalog(extra: Sequence[str | Path] = ()) -> Catalog:
    """Builds the catalog: built-in cases plus each extra case module.

    An extra module defines `CASES` (a list of `Case`) or `cases()` returning one; it may
    define `LIMITATIONS` and `RUNNERS` (runner name -> callable) too.

    Args:
        extra: paths of user case modules.

    Returns:
        The validated catalog.

    Raises:
        CatalogError: a module cannot be loaded, a case is malformed or duplicated, or its
            reference cannot be computed; the message names the file and the case.
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
    _check_references(cases, sources)
    return Catalog(cases=tuple(cases), limitations=tuple(limitations), runners=runners,
                   sources=sources)
