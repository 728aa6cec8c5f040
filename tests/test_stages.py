"""The harness's stages, checked over its import graph (issue 22).

Data flows one way: records ← catalog (`cases/`) ← oracle ← run ← results ← report ← tools.
A module may import its own stage or a lower one, at module level or inside a function; the
catalog imports nothing of `matrix/`; no modules import each other in a circle. The session
logic the noxfile's process calls (`ORCHESTRATION`) sits above every stage: it starts runs,
folds and reports, so it may import any of them, and no stage imports it.

The graph is read from the source with `ast` (nothing is imported), so a test run needs no
framework and a function-level import counts as much as a top-level one.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: Stages from the bottom up, each a list of path prefixes (relative to the repository root).
#: A module belongs to the stage of its longest matching prefix.
STAGES: dict[str, tuple[str, ...]] = {
    "records": ("matrix/__init__.py", "matrix/records.py", "matrix/atomic.py",
                "matrix/variables.py", "matrix/environments.py"),
    "catalog": ("cases/",),
    "oracle": ("matrix/oracle/",),
    "run": ("matrix/run/",),
    "results": ("matrix/results/",),
    "report": ("matrix/report/", "matrix/bisections.py"),
    "tools": ("matrix/check/", "matrix/bisect/", "matrix/diff.py", "matrix/publish.py",
              "matrix/ci.py"),
}
ORDER = {name: rank for rank, name in enumerate(STAGES)}
#: Called by the noxfile's process to start the stages: may import any of them.
ORCHESTRATION = ("matrix/run/session.py", "matrix/run/install.py", "matrix/run/failures.py")


def modules(root: Path = ROOT) -> dict[str, Path]:
    """Every module of the harness: dotted name -> file (`matrix/`, `cases/`)."""
    found = {}
    for package in ("matrix", "cases"):
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def stage_of(path: Path, root: Path = ROOT) -> str | None:
    """The stage of a module file, by its longest matching prefix; None when none matches."""
    rel = path.relative_to(root).as_posix()
    best = max(((len(p), stage) for stage, prefixes in STAGES.items() for p in prefixes
                if rel == p or (p.endswith("/") and rel.startswith(p))), default=None)
    return None if best is None else best[1]


def imports(path: Path, known: Mapping[str, Path]) -> set[str]:
    """The harness modules `path` imports, anywhere in the file (functions included).

    `from pkg import name` counts as an import of `pkg.name` when that is a module, and of
    `pkg` otherwise; a package's own `__init__` importing its submodules is an edge like any.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in known
                     else node.module for alias in node.names]
        else:
            continue
        for name in names:
            while name and name not in known:  # `import a.b.c` of a non-module: its package
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    return found


def graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the harness modules it imports (itself left out)."""
    known = modules(root)
    return {name: imports(path, known) - {name} for name, path in known.items()}


def upward(edges: Mapping[str, Iterable[str]], known: Mapping[str, Path],
           root: Path = ROOT) -> list[str]:
    """Each import from a lower stage to a higher one, as `importer (stage) -> imported
    (stage)`; orchestration may import anything."""
    bad = []
    for name, targets in sorted(edges.items()):
        if known[name].relative_to(root).as_posix() in ORCHESTRATION:
            continue
        own = stage_of(known[name], root)
        for target in sorted(targets):
            theirs = stage_of(known[target], root)
            if own and theirs and ORDER[theirs] > ORDER[own]:
                bad.append(f"{name} ({own}) -> {target} ({theirs})")
    return bad


def circles(edges: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm),
    each sorted. A package's `__init__` re-exporting its own submodules is left out: it is
    the package's front, imported by no submodule of it here."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def follow(name: str) -> list[str]:
        return [t for t in edges.get(name, ()) if not t.startswith(name + ".")]

    def visit(start: str) -> None:  # iterative: no recursion limit on a long chain
        work = [(start, iter(follow(start)))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        top = stack.pop()
                        on_stack.discard(top)
                        component.append(top)
                        if top == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(follow(child))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])

    for name in sorted(edges):
        if name not in index:
            visit(name)
    return sorted(found)


# --- the harness as it is ---------------------------------------------------------------------

def test_every_module_has_one_stage() -> None:
    assert [name for name, path in modules().items() if stage_of(path) is None] == []


def test_no_stage_imports_a_higher_one() -> None:
    assert upward(graph(), modules()) == []


def test_the_catalog_imports_nothing_of_the_harness() -> None:
    edges = graph()
    assert {f"{name} -> {target}" for name, targets in edges.items() if name.split(".")[0] ==
            "cases" for target in targets if target.split(".")[0] == "matrix"} == set()


def test_no_stage_imports_the_session_logic() -> None:
    known = modules()
    logic = {name for name, path in known.items()
             if path.relative_to(ROOT).as_posix() in ORCHESTRATION}
    assert logic, "ORCHESTRATION names no module: the test would check nothing"
    importers = {f"{name} -> {target}" for name, targets in graph().items()
                 for target in targets & logic if name not in logic}
    assert importers == set()


def test_no_import_circle() -> None:
    assert circles(graph()) == []


#: Modules that are data, not code, and may be longer (issue 22: "except data").
DATA = ("cases/limitations/",)
MAX_LINES = 500


def test_no_module_of_code_is_over_500_lines() -> None:
    long = {path.relative_to(ROOT).as_posix(): n for path in modules().values()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
            and not path.relative_to(ROOT).as_posix().startswith(DATA)}
    assert long == {}


def test_the_noxfile_declares_sessions_only() -> None:
    assert len((ROOT / "noxfile.py").read_text(encoding="utf-8").splitlines()) < 300


# --- the checks themselves can fail -----------------------------------------------------------

def _tree(tmp_path: Path, files: Mapping[str, str]) -> Path:
    for rel, text in {"matrix/__init__.py": "", "cases/__init__.py": "", **files}.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return tmp_path


def test_a_function_level_upward_import_is_found(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "matrix/results/__init__.py": "",
        "matrix/results/fold.py": "def f():\n    from matrix.report import views\n",
        "matrix/report/__init__.py": "",
        "matrix/report/views.py": "from matrix.results import fold\n",
    })
    edges = graph(root)
    assert edges["matrix.results.fold"] == {"matrix.report.views"}
    assert upward(edges, modules(root), root) == [
        "matrix.results.fold (results) -> matrix.report.views (report)"]
    assert circles(edges) == [["matrix.report.views", "matrix.results.fold"]]


def test_from_package_import_name_resolves_to_the_module_or_the_package(
        tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "matrix/run/__init__.py": "from matrix.run.cache import plan\n",
        "matrix/run/cache.py": "plan = 1\n",
        "cases/load.py": "from matrix.run import cache, plan\nimport matrix.records\n",
        "matrix/records.py": "",
    })
    edges = graph(root)
    assert edges["cases.load"] == {"matrix.run.cache", "matrix.run", "matrix.records"}
    # a package importing its own submodules is no circle
    assert circles(edges) == []


@pytest.mark.parametrize(("rel", "stage"), [
    ("matrix/run/cache.py", "run"), ("matrix/records.py", "records"),
    ("cases/limitations/jax.py", "catalog"), ("matrix/unknown.py", None)])
def test_stage_of_a_path(rel: str, stage: str | None) -> None:
    assert stage_of(ROOT / rel) == stage
