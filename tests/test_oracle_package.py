"""The oracle stays one stage (issue 22): `matrix/oracle/` imports the catalog, the base
modules and itself, never the run, the results, the report or the tools; and no module of it
is over 500 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ORACLE = Path(__file__).resolve().parents[1] / "matrix" / "oracle"
#: What the oracle may import of the project: the catalog, the base modules, itself.
ALLOWED = ("cases", "matrix.oracle", "matrix.records", "matrix.atomic", "matrix.variables",
           "matrix.environments")
MODULES = sorted(ORACLE.glob("*.py"))


def _project_imports(path: Path) -> list[str]:
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append(node.module or "" if node.level == 0 else "matrix.oracle")
    return [n for n in found if n.split(".")[0] in ("matrix", "cases")]


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_an_oracle_module_imports_only_lower_stages(path: Path) -> None:
    wrong = [n for n in _project_imports(path)
             if not any(n == a or n.startswith(a + ".") for a in ALLOWED)]
    assert wrong == []


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_an_oracle_module_is_under_500_lines(path: Path) -> None:
    assert len(path.read_text(encoding="utf-8").splitlines()) < 500


def test_the_old_modules_are_gone() -> None:
    root = ORACLE.parents[1]
    assert len(MODULES) > 5
    assert not (root / "matrix" / "reference.py").exists()
    assert not (root / "cases" / "expect.py").exists()
