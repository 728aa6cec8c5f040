"""Atomic file writes: the one helper every writer of the project uses.

A file is written to a temporary file beside it (`.<name>.<pid>.tmp`: two processes writing
the same file never share one), then renamed over it, so a reader sees the old file or the
new one, never a part; a failed write (a full disk, a kill between the two steps leaves only
the temporary file) removes the temporary file and raises. `matrix.run.cache` sweeps the
temporary files a killed writer left in its store by this name.

Standard library only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


def temporary_name(path: Path) -> Path:
    """The temporary file `write_bytes` uses for `path`: `.<name>.<pid>.tmp` beside it."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def write_bytes(path: Path, data: bytes) -> None:
    """Writes `data` to `path` atomically, making its folder if needed.

    Raises:
        OSError: the folder cannot be made or the file written (nothing is left behind).
    """
    write_many({path: data})


def write_text(path: Path, text: str) -> None:
    """`write_bytes` of `text` in UTF-8.

    Raises:
        OSError: as `write_bytes`.
    """
    write_bytes(path, text.encode("utf-8"))


def write_many(files: Mapping[Path, bytes]) -> list[Path]:
    """Writes several files, each atomically, and renames them only once all were written
    and none of the paths is a folder: a failure leaves every one of them as it was.

    Returns:
        The paths written, in the order of `files`.

    Raises:
        OSError: a folder cannot be made or a file written (no temporary file is left).
    """
    pairs = [(temporary_name(path), path) for path in files]
    try:
        for (tmp, path), data in zip(pairs, files.values(), strict=True):
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(data)
        for _, path in pairs:  # the one rename that fails on one filesystem, refused first
            if path.is_dir():
                raise IsADirectoryError(f"{path} is a folder: a file cannot replace it")
        for tmp, path in pairs:
            tmp.replace(path)
    finally:
        for tmp, _ in pairs:
            tmp.unlink(missing_ok=True)
    return [path for _, path in pairs]


__all__ = ["temporary_name", "write_bytes", "write_many", "write_text"]
