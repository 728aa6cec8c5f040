"""The `KCM_*` environment variables: declared once (`matrix/variables.py`), named nowhere
else in code, documented from the declarations (`docs/variables.md`)."""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

from matrix import variables as kcm

ROOT = Path(__file__).resolve().parents[1]
NAME = re.compile(r"\bKCM_[A-Z0-9_]*[A-Z0-9]\b")
#: User catalogs of the hostile tests: code from outside, which names variables as a user's
#: code would.
OUTSIDE = ("tests/data/",)


def _tracked(*patterns: str) -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "-z", *patterns], cwd=ROOT, check=True,
                            capture_output=True).stdout.decode().split("\0")
    return [ROOT / p for p in listed if p and (ROOT / p).is_file()]


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant):
            found.add(id(body[0].value))
    return found


def test_no_two_variables_differ_only_by_underscores() -> None:
    names = [v.name for v in kcm.VARIABLES]
    assert len({n.replace("_", "") for n in names}) == len(names)
    assert all(NAME.fullmatch(n) for n in names)
    assert {v.set_by for v in kcm.VARIABLES} <= {"you", "run session", "harness", "tests"}


def test_code_names_a_variable_only_through_matrix_variables() -> None:
    """A string constant in code holds no variable name outside `matrix/variables.py`
    (docstrings may name them; comments are not constants)."""
    found = []
    for path in _tracked("*.py"):
        relative = path.relative_to(ROOT).as_posix()
        if relative == "matrix/variables.py" or relative.startswith(OUTSIDE):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docs = _docstrings(tree)
        found += [f"{relative}:{node.lineno}: {node.value!r}" for node in ast.walk(tree)
                  if isinstance(node, ast.Constant) and isinstance(node.value, str)
                  and id(node) not in docs and NAME.search(node.value)]
    assert found == []


def test_every_variable_named_anywhere_is_declared() -> None:
    declared = {v.name for v in kcm.VARIABLES}
    unknown = []
    for path in _tracked("*.py", "*.md", "*.yml", "*.toml", "*.j2", ".ci/run"):
        relative = path.relative_to(ROOT).as_posix()
        if relative == "matrix/variables.py" or relative.startswith("reports/"):
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        unknown += [f"{relative}: {name}" for name in sorted(set(NAME.findall(text)) - declared)]
    assert unknown == []


def test_the_documented_table_is_the_declared_one() -> None:
    doc = (ROOT / "docs" / "variables.md").read_text(encoding="utf-8")
    start, end = "<!-- variables: python -m matrix.variables -->\n", "<!-- /variables -->"
    assert start in doc
    assert doc.split(start, 1)[1].split(end, 1)[0] == kcm.markdown_table()


def test_get_and_set_read_the_mapping_given() -> None:
    environ: dict[str, str] = {}
    assert kcm.RUN_DIR.get(environ) is None
    assert kcm.RUN_DIR.get(environ, default="x") == "x"
    kcm.RUN_DIR.set("/tmp/run", environ)
    assert environ == {kcm.RUN_DIR.name: "/tmp/run"}
    assert kcm.RUN_DIR.get(environ) == "/tmp/run"


def test_keyed_says_which_variables_the_cache_key_holds() -> None:
    from matrix.run.cache_key import ANSWER_VARIABLES

    in_key = {p for patterns in ANSWER_VARIABLES.values() for p in patterns
              if p.startswith("KCM_")}
    assert in_key == {v.name for v in kcm.VARIABLES if v.keyed}
