"""The leaves of the import graph (issue 22): modules every stage may import, because they
import nothing of the project."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LEAVES = ("matrix/records.py", "matrix/variables.py", "matrix/atomic.py")


def _project_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""] if node.level == 0 else ["(relative)"]
        else:
            continue
        found += [n for n in names if n.split(".")[0] in ("matrix", "cases", "(relative)")]
    return found


@pytest.mark.parametrize("leaf", LEAVES)
def test_a_leaf_imports_nothing_of_the_project(leaf: str) -> None:
    assert _project_imports(ROOT / leaf) == []


def test_the_run_file_records_live_in_the_leaf() -> None:
    from matrix import records, results

    for name in ("Outcome", "Observation", "Verdict", "Result", "CaseInfo", "EnvironmentInfo",
                 "Run", "Matrix", "Shard"):
        assert getattr(records, name).__module__ == "matrix.records", name
    assert results.Observation is records.Observation  # re-exported for existing readers
