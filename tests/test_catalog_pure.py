"""The catalog is data: no module of `cases/` imports `matrix` (issue 22).

Every `cases/*.py` is parsed with `ast`, so imports inside functions and `if` blocks count as
much as those at the top; a relative import is resolved against the `cases` package.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CASES = Path(__file__).resolve().parents[1] / "cases"


def imported_modules(source: str, package: str = "cases") -> list[tuple[int, str]]:
    """Every module a source's `import` and `from ... import` statements name, anywhere in it
    (functions included), as `(line, dotted name)`; a relative import is made absolute
    against `package`."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            found.append((node.lineno, base))
            # `from . import x` or `from matrix import x` names modules too
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


def _imports_matrix(name: str) -> bool:
    return name == "matrix" or name.startswith("matrix.")


def test_no_module_of_the_catalog_imports_matrix() -> None:
    modules = sorted(CASES.rglob("*.py"))
    assert len(modules) > 10, modules  # the catalog is where this test looks for it
    offending = [f"{path.relative_to(CASES.parent)}:{line}: {name}"
                 for path in modules
                 for line, name in imported_modules(path.read_text(encoding="utf-8"))
                 if _imports_matrix(name)]
    assert offending == []


@pytest.mark.parametrize("source", [
    "from matrix import reference\n",
    "import matrix.oracle.expect\n",
    "def f():\n    from matrix.oracle.judge import judge\n    return judge\n",
    "if True:\n    import matrix\n",
    "class C:\n    def m(self):\n        import matrix.results as r\n",
])
def test_the_check_sees_every_import_of_matrix(source: str) -> None:
    assert any(_imports_matrix(name) for _, name in imported_modules(source))


@pytest.mark.parametrize("source", [
    "import numpy as np\n", "from cases.model import Case\n", "from . import model\n",
    "import matrixlike\n",
])
def test_the_check_passes_imports_of_anything_else(source: str) -> None:
    assert not any(_imports_matrix(name) for _, name in imported_modules(source))
