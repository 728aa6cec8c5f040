"""`matrix.atomic`: the one atomic-write helper, and that the project writes through it."""

from __future__ import annotations

import ast
import os
import subprocess
from pathlib import Path

import pytest

from matrix import atomic

ROOT = Path(__file__).resolve().parents[1]


def test_a_write_replaces_the_file_whole_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "run.json"
    atomic.write_text(path, "first")
    atomic.write_bytes(path, b"second")
    assert path.read_text(encoding="utf-8") == "second"
    assert sorted(p.name for p in path.parent.iterdir()) == ["run.json"]
    assert atomic.temporary_name(path).name == f".run.json.{os.getpid()}.tmp"


def test_a_failed_write_of_several_files_changes_none(tmp_path: Path) -> None:
    kept = tmp_path / "compatibility.md"
    kept.write_text("old", encoding="utf-8")
    blocked = tmp_path / "compatibility.html"
    blocked.mkdir()  # a folder where a file should go: the rename fails
    (blocked / "inside").write_text("x", encoding="utf-8")
    with pytest.raises(IsADirectoryError, match="is a folder"):
        atomic.write_many({kept: b"new", blocked: b"<html>"})
    assert kept.read_text(encoding="utf-8") == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["compatibility.html",
                                                          "compatibility.md"]


def test_no_other_module_writes_a_temporary_file_and_renames_it() -> None:
    """The hand-written pattern (`tmp = ...".tmp"...; tmp.replace(path)`) lives in
    `matrix/atomic.py` only. `matrix/run/program.py` renders a program that saves a `.keras` file
    the same way (Keras picks the file's format from its name), and `matrix/run/cache.py` sweeps
    the temporary files a killed writer left."""
    listed = subprocess.run(["git", "ls-files", "*.py"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout.split()
    found = []
    for relative in listed:
        if relative in ("matrix/atomic.py", "matrix/run/program.py", "matrix/run/cache.py") \
                or relative.startswith("tests/"):
            continue
        tree = ast.parse((ROOT / relative).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr == "replace" and len(node.args) == 1 \
                    and "tmp" in ast.unparse(node.func.value).lower():
                found.append(f"{relative}:{node.lineno}: {ast.unparse(node)}")
    assert found == []
