"""Whether the local report is already what a new rendering would write (`--if-changed`).

Bare `nox` ends with the `report` session. With every column up to date, rendering the
7,713-case catalog again costs about 30 s on 2 cores for the same files. The stamp
(`<out>/.report-stamp.json`, in the ignored `reports/local/`) records what the last rendering
read and wrote; when all of it is the same, nothing is rendered and the summary printed then
is printed again, saying so.

What it records (a SHA-256 of each):

- every file under `--runs` and under the bisect folder, by name;
- the report's inputs besides them: the `--catalog` paths and their files, and every
  `KCM_*` variable;
- the code and data the report is made from: every `.py`, `.json`, `.toml`, `.html`,
  `.css` and `.js` file under `matrix/` and `cases/` (limitations, the op table, templates),
  the Python version and the versions of the packages the report imports;
- every file the rendering wrote (so a report edited or removed is rendered again).

Only the standard library is imported.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
from collections.abc import Iterable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from matrix.run.cache_key import file_digest

ROOT = Path(__file__).resolve().parents[2]
#: The stamp's name, in the report folder.
STAMP_NAME = ".report-stamp.json"
#: The code and data a report is made from (suffixes under `matrix/` and `cases/`).
_SOURCE_SUFFIXES = frozenset({".py", ".json", ".toml", ".html", ".css", ".js", ".j2"})
#: The distributions the report imports.
_PACKAGES = ("pydantic", "pydantic-core", "jinja2", "rich", "tabulate", "numpy")


def _tree(folder: Path, suffixes: Iterable[str] | None = None) -> dict[str, str | None]:
    """Relative path -> SHA-256 of every regular file under `folder` (those with `suffixes`)."""
    wanted = None if suffixes is None else frozenset(suffixes)
    if not folder.is_dir():
        return {}
    found = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink() and "__pycache__" not in path.parts \
                and (wanted is None or path.suffix in wanted):
            found[path.relative_to(folder).as_posix()] = file_digest(path)
    return found


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def inputs_digest(runs: Path, bisect: Path, catalogs: Sequence[Path]) -> str:
    """One SHA-256 of everything a rendering reads (the module's docstring)."""
    state: dict[str, Any] = {
        "runs": [str(runs.resolve()), _tree(runs)],
        "bisect": [str(bisect.resolve()), _tree(bisect)],
        "catalogs": [[str(p), file_digest(p)] for p in catalogs],
        "variables": sorted((k, v) for k, v in os.environ.items() if k.startswith("KCM_")),
        "source": {name: _tree(ROOT / name, _SOURCE_SUFFIXES) for name in ("matrix", "cases")},
        "python": sys.version,
        "packages": {name: _version(name) for name in _PACKAGES},
    }
    return hashlib.sha256(json.dumps(state, sort_keys=True).encode("utf-8")).hexdigest()


def _outputs(paths: Iterable[Path], out: Path) -> dict[str, str | None]:
    return {path.relative_to(out).as_posix() if path.is_relative_to(out) else str(path):
            file_digest(path) for path in paths}


def unchanged(out: Path, digest: str) -> dict[str, Any] | None:
    """The stamp of the last rendering into `out` when its inputs had `digest` and every file
    it wrote is still there as it wrote it, else None."""
    try:
        stamp = json.loads((out / STAMP_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(stamp, dict) or stamp.get("inputs") != digest:
        return None
    written = stamp.get("outputs")
    if not isinstance(written, dict) or not written:
        return None
    for name, sha in written.items():
        if file_digest(out / name) != sha:
            return None
    return stamp


def record(out: Path, digest: str, written: Sequence[Path], summary: str, when: str) -> None:
    """Writes the stamp after a rendering; a stamp that cannot be written only costs the next
    rendering its shortcut."""
    stamp = {"inputs": digest, "outputs": _outputs(written, out), "summary": summary,
             "written": when}
    with contextlib.suppress(OSError):
        (out / STAMP_NAME).write_text(json.dumps(stamp, indent=1), encoding="utf-8")
