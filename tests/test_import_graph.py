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


# --- the report below the tools (issue 22, part 4) ------------------------------------------

#: The tools: each may read the report, the report reads none of them (the bisect files it
#: shows are read with `matrix.bisections`, below both).
TOOLS = ("matrix.bisect", "matrix.check", "matrix.diff", "matrix.publish", "matrix.ci")
REPORT_MODULES = sorted((ROOT / "matrix" / "report").glob("*.py"))
#: The modules issue 22 split by job: each package's, and the two that stay single files.
SPLIT = sorted([*REPORT_MODULES, *(ROOT / "matrix" / "bisect").glob("*.py"),
                *(ROOT / "matrix" / "check").glob("*.py"), ROOT / "matrix" / "bisections.py",
                ROOT / "matrix" / "publish.py"])


def _imported(path: Path) -> set[str]:
    """Every module `path` imports, anywhere in it (inside functions too), as absolute
    names: `from matrix import bisect` names `matrix` and `matrix.bisect`."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            names |= {base} | {f"{base}.{alias.name}" for alias in node.names}
    return names


@pytest.mark.parametrize("path", REPORT_MODULES, ids=lambda p: p.name)
def test_the_report_imports_no_tool(path: Path) -> None:
    found = {name for name in _imported(path)
             if any(name == tool or name.startswith(tool + ".") for tool in TOOLS)}
    assert found == set()


@pytest.mark.parametrize("path", SPLIT, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_each_split_module_is_under_500_lines(path: Path) -> None:
    assert len(path.read_text(encoding="utf-8").splitlines()) < 500


@pytest.mark.parametrize("package", ["matrix.report", "matrix.bisect", "matrix.check"])
def test_each_package_exports_what_it_declares(package: str) -> None:
    import importlib

    module = importlib.import_module(package)
    assert len(module.__all__) == len(set(module.__all__))
    assert [name for name in module.__all__ if not hasattr(module, name)] == []
    assert (ROOT / package.replace(".", "/") / "__main__.py").is_file()  # python -m keeps working
