"""The catalog as a run loads it: read and validated (`cases.load.read_catalog`), then every
case's reference computed once, so a case the oracle cannot model is refused at collection,
naming its file and id, before anything runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from cases.load import Catalog, read_catalog
from cases.model import KERAS_RUNNER, Case, CatalogError
from matrix.oracle.expect import expected

__all__ = ["load_catalog"]


def check_references(cases: Sequence[Case], sources: Mapping[str, str]) -> None:
    """Computes the reference of every case the `keras` runner runs.

    Raises:
        CatalogError: a reference cannot be computed; the message names the case's source
            (`Catalog.sources`) and id.
    """
    for case in cases:
        if case.runner != KERAS_RUNNER:
            continue
        try:
            expected(case)
        except Exception as exc:
            raise CatalogError(
                f"{sources[case.id]}: case {case.id!r}: the reference cannot be computed: "
                f"{type(exc).__name__}: {exc}") from exc


def load_catalog(extra: Sequence[str | Path] = ()) -> Catalog:
    """Builds the catalog: built-in cases plus each extra case module (`read_catalog`), each
    case's reference computed.

    Args:
        extra: paths of user case modules.

    Returns:
        The validated catalog.

    Raises:
        CatalogError: a module cannot be loaded, a case is malformed or duplicated, or its
            reference cannot be computed; the message names the file and the case.
    """
    catalog = read_catalog(extra)
    check_references(catalog.cases, catalog.sources)
    return catalog
