"""The result cache's store: one checked file per entry, and the size cap.

`matrix.run.cache` decides what a cell's key is and what a run can reuse; this module keeps
what is on disk under the ignored `reports/.work/cache/` (`KCM_RUN_STORE`):

- `<store>/<environment>/<key[:2]>/<key>.json`: one entry, holding the key, the case, the
  result (a run file's `Result` as JSON), how many runs in a row it crashed and the SHA-256
  of all of them (`read_entry` serves it only when it reads back whole);
- `<store>/saved/<key>.sha256`: the digest of the `.keras` file the saving `save_load` cell
  of `key` wrote (`record_saved`, `saved_model_digest` below).

Writes are atomic (`matrix.atomic`); a store that cannot be written is reported
(`StoreReport.error`), never raised: the cache is a speed-up, not a source of truth.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import time
import zipfile
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from matrix import atomic
from matrix.run.cache_key import digest, file_digest
from matrix.run.runfiles import read_regular_file

if TYPE_CHECKING:
    from pydantic import TypeAdapter

    from matrix.records import Result


#: Verdicts whose cell depends on nothing but its key. `no_reference` is a program that ran
#: and whose observation waits for the other backends' (agreement, at merge): without it,
#: the keras.ops family's 470 such cells per environment ran again on every rerun.
CACHEABLE = frozenset({"matched", "mismatched", "not_applicable", "no_reference"})


#: A `crashed` cell is stored once it crashed this many runs in a row with the same key: a
#: crash that repeats is the backend's answer (OpenVINO's empty batch aborts every time);
#: one seen once may have been the machine's (memory, a killed worker).
CRASHES_TO_STORE = 2


#: Modes whose cells are never stored (none since `save_load` cells key on their files).
UNCACHED_MODES: frozenset[str] = frozenset()


#: Beside the stores: `<key>.sha256`, the file a saving `save_load` cell wrote.
SAVED = "saved"


#: The store's size cap, all environments together: past it, the entries used longest ago
#: go. About 10 full catalogs of today's 7,713 cases (an entry is 1 to 3 KB).
MAX_STORE_BYTES = 256 * 1024 * 1024


#: The format of an entry; another one is not read (the case runs).
ENTRY_FORMAT = 1


#: An entry larger than this is not read (the case runs): a result is 1 to 3 KB.
MAX_ENTRY_BYTES = 4 * 1024 * 1024


def saved_record(cache_dir: Path, key: str) -> Path:
    """Where the digest of the file written by the saving cell of `key` is kept."""
    return cache_dir / SAVED / f"{key}.sha256"


def record_saved(cache_dir: Path, key: str, path: Path) -> str | None:
    """After a saving `save_load` cell ran: records the `saved_model_digest` of its file.

    Returns:
        The digest, or None when the file is not there or the record cannot be written
        (nothing is recorded, a record of an earlier run is removed, and the cell runs
        again next time).
    """
    record = saved_record(cache_dir, key)
    digest = saved_model_digest(path)
    try:
        if digest is None:
            record.unlink(missing_ok=True)
            return None
        atomic.write_text(record, digest + "\n")
    except OSError:
        return None
    return digest


def store_path(cache_dir: Path, environment_id: str) -> Path:
    """The store of one environment: the folder `<cache_dir>/<environment>/`."""
    return cache_dir / environment_id


def entry_path(cache_dir: Path, environment_id: str, key: str) -> Path:
    """Where the entry of `key` lives: `<store>/<key[:2]>/<key>.json`."""
    return store_path(cache_dir, environment_id) / key[:2] / f"{key}.json"


def _entry_checksum(key: str, case: str, crashes: int, result: Any) -> str:
    return digest(str(ENTRY_FORMAT), key, case, str(crashes),
                   json.dumps(result, sort_keys=True, separators=(",", ":")))


@functools.cache
def _result_adapter() -> TypeAdapter[Result]:
    """pydantic's validator of a `Result`, built once, on first use (the noxfile's process,
    which imports this module for its stamps, has no pydantic)."""
    from pydantic import TypeAdapter

    from matrix.records import Result

    return TypeAdapter(Result)


def _valid_result(result: Any, case: str) -> bool:
    """Whether a stored result is one the run-file schema accepts, for `case`."""
    from pydantic import ValidationError

    try:
        parsed = _result_adapter().validate_python(result)
    except (ValidationError, ValueError, TypeError, RecursionError):
        return False
    return parsed.case == case


def read_entry(path: Path, key: str, case: str) -> dict[str, Any] | None:
    """The entry at `path` when it reads back whole as `key`'s entry for `case`.

    Returns:
        `{"key", "case", "crashes", "result", "sha256", "format"}`, or None: missing,
        unreadable, not JSON, another format, a checksum that does not match its content
        (damaged, or edited by hand), another key or case, or a result the run-file schema
        refuses. None means "run the case".
    """
    try:  # a regular file of a bounded size: never a FIFO (it would block) or /dev/zero
        data = json.loads(read_regular_file(path, MAX_ENTRY_BYTES))
    except (OSError, ValueError, RecursionError):  # RefusedFile is a ValueError
        return None
    if not isinstance(data, dict) or data.get("format") != ENTRY_FORMAT or \
            data.get("key") != key or data.get("case") != case:
        return None
    crashes = data.get("crashes")
    if not isinstance(crashes, int) or isinstance(crashes, bool) or crashes < 0:
        return None
    if data.get("sha256") != _entry_checksum(key, case, crashes, data.get("result")):
        return None
    return data


def served_result(entry: Mapping[str, Any] | None, case: str) -> dict[str, Any] | None:
    """The result an entry serves: a stored answer, not a crash seen fewer than
    `CRASHES_TO_STORE` times in a row, that the run-file schema accepts."""
    if entry is None:
        return None
    result = entry.get("result")
    if not isinstance(result, dict) or not _valid_result(result, case):
        return None
    status = (result.get("verdict") or {}).get("status")
    if status == "crashed" and entry.get("crashes", 0) < CRASHES_TO_STORE:
        return None
    return result


def write_json(path: Path, data: object) -> None:
    """Writes JSON atomically (`write_text`).

    Raises:
        OSError: the file cannot be written.
    """
    atomic.write_text(path, json.dumps(data))


def read_json(path: Path) -> Any:
    """The JSON in `path`, or None when missing or unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None


def cacheable(result: Mapping[str, Any], mode: object) -> bool:
    """Whether a folded result (as JSON) may be stored."""
    verdict = result.get("verdict") or {}
    return (verdict.get("status") in CACHEABLE and not result.get("flaky")
            and mode not in UNCACHED_MODES)


def _write_entry(path: Path, key: str, case: str, crashes: int, result: Any) -> None:
    write_json(path, {"format": ENTRY_FORMAT, "key": key, "case": case, "crashes": crashes,
                      "result": result,
                      "sha256": _entry_checksum(key, case, crashes, result)})


@dataclass(frozen=True, kw_only=True)
class StoreReport:
    """What `update_store` did.

    Attributes:
        stored: entries written by this run (fresh answers and crash counts).
        served: entries this run reused (their use time renewed).
        evicted: entries removed to keep the store under `MAX_STORE_BYTES`.
        error: why the store could not be written (`OSError` text), or None.
    """

    stored: int = 0
    served: int = 0
    evicted: int = 0
    error: str | None = None


def update_store(cache_dir: Path, environment_id: str, keys: Mapping[str, str],
                 results: Sequence[Mapping[str, Any]], modes: Mapping[str, object],
                 served: Iterable[str] = (), *, max_bytes: int = MAX_STORE_BYTES
                 ) -> StoreReport:
    """Stores a run's fresh results under their keys; renews the entries it served.

    Entries of other keys are kept (another slice, other variables, an earlier pin set):
    only the store's size (`max_bytes`) removes entries, the least recently used first. A
    `crashed` result counts the runs in a row its key crashed, and serves once the count
    reaches `CRASHES_TO_STORE`; any other verdict for the key replaces it. A store that
    cannot be written is reported, never raised: the cache is a speed-up.

    Args:
        keys: case id -> key, as the run's plan had them.
        results: the fresh results, as JSON.
        modes: case id -> mode.
        served: the case ids the run took from the cache.
        max_bytes: the store's size cap, all environments together.
    """
    stored = renewed = evicted = 0
    errors: list[str] = []
    for result in results:  # one entry at a time: a bad path costs its own entry only
        case = str(result.get("case"))
        if case not in keys:
            continue
        try:
            stored += _store_one(cache_dir, environment_id, keys[case], case, result,
                                 modes.get(case))
        except OSError as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
    now = time.time()
    for case in served:
        if case in keys:
            try:
                os.utime(entry_path(cache_dir, environment_id, keys[case]), (now, now))
                renewed += 1
            except OSError:
                pass  # gone or unwritable: it is simply not renewed
    try:
        evicted = evict(cache_dir, max_bytes)
    except OSError as exc:
        errors.append(f"{type(exc).__name__}: {exc}")
    _drop_legacy_store(cache_dir, environment_id)
    error = None if not errors else errors[0] + (
        f" (and {len(errors) - 1} more)" if len(errors) > 1 else "")
    return StoreReport(stored=stored, served=renewed, evicted=evicted, error=error)


def _store_one(cache_dir: Path, environment_id: str, key: str, case: str,
               result: Mapping[str, Any], mode: object) -> int:
    """Stores one fresh result (`update_store`); returns 1 when an entry was written.

    Raises:
        OSError: the entry cannot be written (or a stale one removed).
    """
    path = entry_path(cache_dir, environment_id, key)
    status = (result.get("verdict") or {}).get("status")
    if status == "crashed" and not result.get("flaky") and mode not in UNCACHED_MODES:
        before = read_entry(path, key, case)
        count = before["crashes"] if before and (before.get("result") or {}).get(
            "verdict", {}).get("status") == "crashed" else 0
        _write_entry(path, key, case, count + 1, dict(result))
        return 1
    if cacheable(result, mode):
        _write_entry(path, key, case, 0, dict(result))
        return 1
    if path.is_dir() and not path.is_symlink():
        raise IsADirectoryError(f"{path}: a folder where a cache entry belongs")
    path.unlink(missing_ok=True)  # a timeout, a harness error: nothing to serve
    return 0


def _drop_legacy_store(cache_dir: Path, environment_id: str) -> None:
    """Removes the one-file store of earlier versions (`<cache>/<environment>.json`)."""
    with contextlib.suppress(OSError):
        (cache_dir / f"{environment_id}.json").unlink(missing_ok=True)


#: A temporary file older than this (seconds) was left by a killed writer: `evict`
#: removes it.
STALE_TMP_S = 3600


def _entries(cache_dir: Path) -> list[tuple[float, int, Path]]:
    """Every entry of every store under `cache_dir`: (last used, size, path). Temporary
    files a killed writer left behind (`.<name>.<pid>.tmp`, older than `STALE_TMP_S`) are
    removed on the way."""
    found = []
    now = time.time()
    for store in cache_dir.iterdir() if cache_dir.is_dir() else ():
        if not store.is_dir() or store.name == SAVED:
            continue
        for shard in store.iterdir():
            if not shard.is_dir():
                continue
            for entry in shard.iterdir():
                try:
                    stat = entry.lstat()
                except OSError:
                    continue
                if entry.name.endswith(".tmp"):
                    if now - stat.st_mtime > STALE_TMP_S:
                        entry.unlink(missing_ok=True)
                    continue
                found.append((stat.st_mtime, stat.st_size, entry))
    return found


def evict(cache_dir: Path, max_bytes: int = MAX_STORE_BYTES) -> int:
    """Removes the least recently used entries until the stores fit in `max_bytes`.

    Returns:
        How many entries were removed.
    """
    entries = sorted(_entries(cache_dir))
    total = sum(size for _, size, _ in entries)
    removed = 0
    for _, size, path in entries:
        if total <= max_bytes:
            break
        path.unlink(missing_ok=True)
        total -= size
        removed += 1
    return removed


# --- the digest of a saved model -------------------------------------------------------------
#: Fields of a `.keras` file's `metadata.json` that say when, not what, was saved.
_WHEN_SAVED = ("date_saved",)


def _renumber_shared(node: Any, seen: dict[Any, int]) -> Any:
    """`config.json` with each `shared_object_id` (a Python `id()`, a memory address that
    changes with every process) replaced by its order of first appearance: which objects
    are shared is kept, where they lived is not."""
    if isinstance(node, dict):
        return {k: seen.setdefault(v, len(seen)) if k == "shared_object_id"
                and isinstance(v, int | str) else _renumber_shared(v, seen)
                for k, v in node.items()}
    if isinstance(node, list):
        return [_renumber_shared(v, seen) for v in node]
    return node


def _member_content(name: str, body: bytes) -> bytes:
    """What a member of a `.keras` zip says about the model, for `saved_model_digest`."""
    if name not in ("metadata.json", "config.json"):
        return body
    try:
        data = json.loads(body)
    except ValueError:
        return body
    if name == "metadata.json" and isinstance(data, dict):
        data = {k: v for k, v in data.items() if k not in _WHEN_SAVED}
    if name == "config.json":
        data = _renumber_shared(data, {})
    return json.dumps(data, sort_keys=True).encode("utf-8")


def saved_model_digest(path: Path) -> str | None:
    """The SHA-256 (hex) of what a `.keras` file holds, not of when or by which process it
    was written.

    A `.keras` file is a zip of `config.json`, `metadata.json` and `model.weights.h5`
    (keras/src/saving/saving_lib.py). Saving the same model again, in another process,
    changes the zip members' timestamps, `metadata.json`'s `date_saved` and the
    `shared_object_id`s of `config.json` (Python `id()`s); the weights are the same bytes.
    This digest covers each member's name and bytes, with those three left out. A file that
    is not such a zip is digested whole (`file_digest`).

    Returns:
        The hex digest, or None when the file cannot be read.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            parts: list[str | bytes] = []
            for name in sorted(archive.namelist()):
                parts += [name, _member_content(name, archive.read(name))]
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError,
            RuntimeError, ValueError):  # not a zip, truncated, a bad member, encrypted
        return file_digest(path)
    return digest("keras-zip", *parts)
