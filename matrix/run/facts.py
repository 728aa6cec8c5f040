"""The case facts a run hands its fold: what the run file records of every case of the
catalog the run loaded (`CaseInfo`: group, subject, description, axes, the reference's answer
in words, the repro program, the source, what the program does).

The controller of a run's pytest process writes them at collection, once, beside the node ids
(`case-facts.json`, `matrix.run.protocol.CASE_FACTS`; `matrix.run.selection`), so the fold
(`matrix.results.fold`) reads them instead of loading the catalog again. The catalog is still
loaded by the fold where no pytest process wrote them: an environment that did not run
(`matrix.results.fold.not_run`, an install failure) or a run that died before collection.

No framework is imported: the reference is NumPy's (`matrix.oracle`).
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from matrix import atomic
from matrix.records import SCHEMA_VERSION, CaseFacts, CaseInfo
from matrix.run.protocol import CASE_FACTS


def catalog_infos(extra: Sequence[str], *, check_open: bool = True) -> list[CaseInfo]:
    """The `CaseInfo` of every case of the catalog (built-in plus `extra` modules), in order.

    Args:
        extra: the user catalog modules (`--catalog`).
        check_open: where Keras is installed, check that every open step names one of its
            callables (`cases.load.resolve_open_names`). The run's collection checks them
            in its workers: its controller, which never imports a framework, passes False.

    Raises:
        CatalogError: a catalog does not load, or an open step names no Keras callable.
    """
    from cases.facts import program_facts
    from cases.model import KERAS_RUNNER
    from matrix.oracle.catalog import load_catalog
    from matrix.oracle.expect import describe, expected, is_open
    from matrix.run.program import render

    infos = []
    catalog = load_catalog(extra).cases
    opened = [case for case in catalog if is_open(case)]
    if check_open and opened and importlib.util.find_spec("keras") is not None:
        # in a backend's virtualenv: every open step must name a callable of its Keras (the
        # report's virtualenv has none: the run it reads checked it)
        from cases.load import resolve_open_names

        resolve_open_names(opened)
    for case in catalog:
        want, repro = "values", None
        if case.runner == KERAS_RUNNER:
            want = describe(expected(case))
            repro = render(case)
        facts = {k: list(v) for k, v in program_facts(case).items()}
        infos.append(CaseInfo(id=case.id, group=case.group, subject=case.subject,
                              description=case.description, axes=dict(case.axes),
                              expected=want, repro=repro, source=case.source, facts=facts))
    return infos


def write_case_facts(workdir: Path, extra: Sequence[str]) -> Path:
    """Writes `case-facts.json` (`CaseFacts`) for the catalog with the `extra` modules into
    the run's work folder, atomically (a reader never sees half a file).

    Returns:
        The file written.

    Raises:
        CatalogError: a catalog does not load (nothing is written).
        OSError: the folder cannot be written.
    """
    facts = CaseFacts(schema_version=SCHEMA_VERSION, catalogs=[str(c) for c in extra],
                      cases=catalog_infos(extra, check_open=False))
    path = workdir / CASE_FACTS
    workdir.mkdir(parents=True, exist_ok=True)
    atomic.write_text(path, json.dumps(asdict(facts)))
    return path
