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


@pytest.mark.parametrize("leaf", LEAVES)
def test_a_leaf_needs_the_standard_library_alone(leaf: str) -> None:
    import sys

    tree = ast.parse((ROOT / leaf).read_text(encoding="utf-8"))
    roots = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
             for alias in node.names}
    roots |= {node.module.split(".")[0] for node in ast.walk(tree)
              if isinstance(node, ast.ImportFrom) and node.module and node.level == 0}
    assert roots - set(sys.stdlib_module_names) - {"__future__"} == set()


def test_the_run_file_records_live_in_the_leaf() -> None:
    from matrix import records, results

    for name in ("Outcome", "Observation", "Verdict", "Result", "CaseInfo", "EnvironmentInfo",
                 "Run", "Matrix", "Shard"):
        assert getattr(records, name).__module__ == "matrix.records", name
    assert results.Observation is records.Observation  # re-exported for existing readers


def test_the_noxfile_loads_with_nox_and_the_standard_library_alone() -> None:
    """The README's first command runs the noxfile in `.venv`, which holds nox and nothing
    else: the modules it imports at load may not need pydantic, NumPy or the frameworks."""
    import subprocess
    import sys

    # filelock comes with nox (through virtualenv).
    blocked = ("pydantic", "pydantic_core", "numpy", "jinja2", "tabulate", "rich", "keras",
               "tensorflow", "jax", "torch")
    code = ("import sys\n"
            f"for name in {blocked!r}:\n"
            "    sys.modules[name] = None  # importing it raises ImportError\n"
            f"sys.path.insert(0, {str(ROOT)!r})\n"
            "import noxfile\n"
            "print(len([n for n in sys.modules if n.startswith('matrix')]))\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert int(done.stdout.strip()) > 0
