"""The results stage as a package (issue 22): one module per job, each under 500 lines, that
imports nothing of the stages above it at load (the report and the tools)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "matrix" / "results"
MODULES = sorted(PACKAGE.glob("*.py"))
#: The stages above the results: they read it, it never reads them at import.
ABOVE = ("matrix.report", "matrix.check", "matrix.bisect", "matrix.publish", "matrix.diff",
         "matrix.report.table", "matrix.ci")


def test_the_package_holds_the_stage() -> None:
    assert {p.name for p in MODULES} >= {"__init__.py", "__main__.py", "ingest.py", "fold.py",
                                         "io.py", "merge.py", "triage.py", "analysis.py"}
    assert not (ROOT / "matrix" / "results.py").exists()
    assert not (ROOT / "matrix" / "triage.py").exists()


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_each_module_is_under_500_lines(path: Path) -> None:
    assert len(path.read_text(encoding="utf-8").splitlines()) < 500


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_no_module_imports_a_stage_above_at_load(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = [alias.name for node in tree.body if isinstance(node, ast.Import)
             for alias in node.names]
    names += [node.module or "" for node in tree.body if isinstance(node, ast.ImportFrom)]
    assert [n for n in names if n.startswith(ABOVE)] == []


def test_the_package_exports_what_it_declares() -> None:
    import matrix.results

    assert sorted(matrix.results.__all__) == sorted(set(matrix.results.__all__))
    for name in matrix.results.__all__:
        assert hasattr(matrix.results, name), name
