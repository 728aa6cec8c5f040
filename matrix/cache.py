"""The result cache: a cell is reused when neither its case nor its environment changed.

A cell's key is the hash of two things:

- the **case**: its id, the program the run executes (`matrix.program.render`), the
  reference's answer (values, dtype, tolerance, refusal) and the harness version (this
  module's `HARNESS_VERSION` and the source of the files that execute and judge a program);
- the **environment** (`environment_key`): every distribution installed in the interpreter
  that runs the cases, with its version, Python, the platform, and the variables that select
  the backend, the device and its numeric flags (`KEY_VARIABLES`). A new pin set, a nightly
  that moved, another Python: every key changes, so the cache is bypassed for that
  environment without being told.

The store is one JSON file per environment under the ignored `reports/.work/cache/`
(`KCM_CACHE`), never in the committed tree: `{"environment_key": ..., "cells": {key: result}}`.
Only cells whose answer depends on nothing but the key are stored: verdicts `matched`,
`mismatched` and `not_applicable` of cases run by the Keras runner, not flaky, and a
`crashed` cell once it crashed two runs in a row (`CRASHES_TO_STORE`). Timeouts, harness
errors, `not_run` cells and a first crash run again every time.

A `save_load` cell depends on a `.keras` file too (`matrix.program.saved_model_path`):

- a **loading** cell (another backend saved the file) has the file's digest in its key, so
  a model saved again elsewhere with other content reruns every cell that loads it;
- the **saving** cell writes the file the others load. After it runs, the worker records
  the file's digest under its key (`<store>/saved/<key>.sha256`); its stored result is
  reused only while the file still holds what it wrote (deleted, or rewritten with other
  content: it runs again and saves anew).

The digest is `saved_model_digest`: the SHA-256 of the file's members without the save
date, the zip timestamps and the `shared_object_id` addresses, so the same model saved again
(the first run after a checkout re-saves every model that `seed_artifacts` copied from the
committed ones) reruns nothing.

How a run uses it (`cases/conftest.py`, `matrix.results.fold_run`):

1. the pytest controller computes every case's key and writes `cache-plan.json` to the work
   folder: the keys and the cached results found for them;
2. the worker deselects the cases found there (after `-k` and `--shard`) and lists them in
   `cache-used.json`;
3. the fold takes their results from the plan, marks the run's provenance
   (`provenance["cache"]`: reused and executed counts), and stores every fresh result.

`--no-cache` (the `run` session) leaves `KCM_CACHE` unset: nothing is read; results are
still stored, so the next run can reuse them.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import platform
import sys
import zipfile
import zlib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

#: Raise when a change of the harness changes what a cell records without changing the
#: source files hashed below.
HARNESS_VERSION = "1"
#: The harness files that execute or judge a program (the program and reference are hashed
#: per case).
HARNESS_FILES = ("cases/runner.py", "cases/expect.py", "cases/test_cases.py",
                 "matrix/results.py")
#: Variables that change a cell's answer (besides the installed distributions). The time
#: limits are not among them: a cell that ran into one (`timeout`) is never stored.
KEY_VARIABLES = ("KERAS_BACKEND", "KCM_DEVICE", "CUDA_VISIBLE_DEVICES", "JAX_ENABLE_X64",
                 "TF_ENABLE_ONEDNN_OPTS", "XLA_FLAGS", "KERAS_HOME")
PLAN = "cache-plan.json"
USED = "cache-used.json"
CACHEABLE = frozenset({"matched", "mismatched", "not_applicable"})
#: A `crashed` cell is stored once it crashed this many runs in a row with the same key: a
#: crash that repeats is the backend's answer (OpenVINO's empty batch aborts every time);
#: one seen once may have been the machine's (memory, a killed worker).
CRASHES_TO_STORE = 2
#: Modes whose cells are never stored (none since `save_load` cells key on their files).
UNCACHED_MODES: frozenset[str] = frozenset()
SAVE_LOAD = "save_load"
#: Beside the stores: `<key>.sha256`, the file a saving `save_load` cell wrote.
SAVED = "saved"
ROOT = Path(__file__).resolve().parent.parent


def _digest(*parts: str | bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part if isinstance(part, bytes) else part.encode("utf-8", "replace"))
        digest.update(b"\0")
    return digest.hexdigest()


def harness_digest(root: Path = ROOT) -> str:
    """The harness version: `HARNESS_VERSION` and the source of `HARNESS_FILES`."""
    sources = [(root / name).read_bytes() if (root / name).exists() else b""
               for name in HARNESS_FILES]
    return _digest(HARNESS_VERSION, *sources)


def environment_key(variables: Mapping[str, str] | None = None) -> str:
    """The key of the interpreter that runs the cases: what is installed, where, how.

    Args:
        variables: the process environment (default `os.environ`).
    """
    variables = os.environ if variables is None else variables
    installed = sorted({f"{d.metadata['Name']}=={d.version}".lower()
                        for d in importlib.metadata.distributions()
                        if d.metadata["Name"]})
    flags = [f"{name}={variables.get(name)}" for name in KEY_VARIABLES]
    return _digest(sys.version, platform.platform(), platform.machine(), *installed, *flags)


def _expected_digest(want: Any) -> str:
    """The reference's answer as bytes: values (dtype, shape, content), refusal, tolerance."""
    import numpy as np

    values = want.values
    if values is None:
        raw = b"none"
    else:
        array = np.asarray(values)
        body = repr(array.tolist()).encode() if array.dtype.kind == "O" else array.tobytes()
        raw = f"{array.dtype.str}{array.shape}".encode() + body
    return _digest(raw, repr(want.error), want.kind, repr(want.tolerance), str(want.dtype))


def file_digest(path: Path) -> str | None:
    """The SHA-256 of a file's bytes (hex), or None when it cannot be read."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()


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
    Digesting the raw file would rerun every cell that loads it for nothing. This digest
    covers each member's name and bytes, with those three left out. A file that is not
    such a zip is digested whole (`file_digest`).

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
    return _digest("keras-zip", *parts)


def saves(case: Any, backend: str | None) -> bool:
    """Whether `case` is a `save_load` cell that writes its file under `backend`."""
    return bool(case.axes.get("mode") == SAVE_LOAD and case.saved_on == backend)


def case_keys(cases: Iterable[Any], environment: str, harness: str | None = None, *,
              backend: str | None = None, artifacts: Path | None = None) -> dict[str, str]:
    """The cache key of each cacheable case (others are absent).

    Args:
        cases: `cases.model.Case` objects.
        environment: `environment_key()` of the interpreter that runs them.
        harness: `harness_digest()`, computed when None.
        backend: the backend that runs them (`KERAS_BACKEND`); with `artifacts`, needed to
            key `save_load` cases (absent otherwise).
        artifacts: the saved models' folder (`KCM_ARTIFACTS`). A loading cell's key holds
            its file's `saved_model_digest` (`missing` when there is none); a saving
            cell's does not (`stale_savers` checks its file).
    """
    from cases.expect import expected
    from cases.model import KERAS_RUNNER
    from matrix.program import render, saved_model_path

    harness = harness_digest() if harness is None else harness
    keys = {}
    for case in cases:
        mode = case.axes.get("mode")
        if case.runner != KERAS_RUNNER or mode in UNCACHED_MODES:
            continue
        extra: tuple[str, ...] = ()
        if mode == SAVE_LOAD:
            if backend is None or artifacts is None:
                continue
            path = saved_model_path(case, artifacts)
            extra = ("saves",) if saves(case, backend) else \
                ("loads", saved_model_digest(path) or "missing")
        try:
            program, want = render(case), expected(case)
        except Exception:  # the run reports it; such a case is never cached
            continue
        keys[case.id] = _digest(environment, harness, case.id, program, _expected_digest(want),
                                *extra)
    return keys


def saved_record(cache_dir: Path, key: str) -> Path:
    """Where the digest of the file written by the saving cell of `key` is kept."""
    return cache_dir / SAVED / f"{key}.sha256"


def record_saved(cache_dir: Path, key: str, path: Path) -> str | None:
    """After a saving `save_load` cell ran: records the `saved_model_digest` of its file.

    Returns:
        The digest, or None when the file is not there (nothing is recorded, and a record
        of an earlier run is removed).
    """
    record = saved_record(cache_dir, key)
    digest = saved_model_digest(path)
    if digest is None:
        record.unlink(missing_ok=True)
        return None
    record.parent.mkdir(parents=True, exist_ok=True)
    tmp = record.with_name(f".{record.name}.{os.getpid()}.tmp")
    tmp.write_text(digest + "\n", encoding="utf-8")
    tmp.replace(record)
    return digest


def stale_savers(cases: Iterable[Any], keys: Mapping[str, str], backend: str | None,
                 artifacts: Path | None, cache_dir: Path) -> set[str]:
    """The saving `save_load` cases whose file is not the one their stored run wrote.

    Their stored result must not serve: the other backends would load a file that this
    run never wrote, or none at all.
    """
    from matrix.program import saved_model_path

    stale = set()
    for case in cases:
        if case.id not in keys or not saves(case, backend) or artifacts is None:
            continue
        try:
            recorded = saved_record(cache_dir, keys[case.id]).read_text(encoding="utf-8")
        except OSError:
            recorded = ""
        if not recorded.strip() or recorded.strip() != saved_model_digest(
                saved_model_path(case, artifacts)):
            stale.add(case.id)
    return stale


def store_path(cache_dir: Path, environment_id: str) -> Path:
    """The store of one environment: `<cache_dir>/<environment>.json`."""
    return cache_dir / f"{environment_id}.json"


def read_store(path: Path) -> dict[str, Any]:
    """The cells of a store (key -> result as JSON); empty when missing or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return {}
    cells = data.get("cells") if isinstance(data, dict) else None
    return cells if isinstance(cells, dict) else {}


def plan(keys: Mapping[str, str], store: Mapping[str, Any],
         stale: Iterable[str] = ()) -> dict[str, Any]:
    """What a run can reuse: `{"keys": {case: key}, "hits": {case: result}}`.

    Args:
        stale: cases whose stored result must not serve (`stale_savers`).
    """
    skip = set(stale)
    hits = {case: store[key] for case, key in keys.items()
            if case not in skip and isinstance(store.get(key), dict)
            and store[key].get("case") == case}
    return {"keys": dict(keys), "hits": hits}


def compute_plan(catalogs: Sequence[str], environment_id: str, store_dir: Path | None,
                 *, reuse: bool = True, variables: Mapping[str, str] | None = None
                 ) -> tuple[dict[str, Any], int]:
    """The plan of a run of the catalog in this interpreter (`cases/conftest.py`, `main`).

    Args:
        catalogs: the extra case modules (`--catalog`).
        environment_id: the environment whose store is read (`<store_dir>/<id>.json`).
        store_dir: the stores' folder (`KCM_CACHE`); None: nothing is read.
        reuse: False (`--no-cache`): the keys with no hits.
        variables: the process environment (default `os.environ`): `KERAS_BACKEND` and
            `KCM_ARTIFACTS` key the `save_load` cases.

    Returns:
        (the plan, how many cases the catalog has).

    Raises:
        cases.CatalogError: a catalog that cannot be loaded (names the file).
    """
    from cases import load_catalog

    variables = os.environ if variables is None else variables
    catalog = load_catalog(tuple(catalogs))
    backend = variables.get("KERAS_BACKEND")
    raw_artifacts = variables.get("KCM_ARTIFACTS")
    artifacts = Path(raw_artifacts) if raw_artifacts else None
    keys = case_keys(catalog.cases, environment_key(variables), backend=backend,
                     artifacts=artifacts)
    if not reuse or store_dir is None:
        return plan(keys, {}), len(catalog.cases)
    store = read_store(store_path(store_dir, environment_id))
    stale = stale_savers(catalog.cases, keys, backend, artifacts, store_dir)
    return plan(keys, store, stale), len(catalog.cases)


def plan_digest(planned: Mapping[str, Any]) -> str:
    """A hash of a plan: its keys and the stored results it would reuse."""
    return _digest(json.dumps(planned, sort_keys=True))


def write_json(path: Path, data: object) -> None:
    """Writes JSON atomically (a temporary file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data), encoding="utf-8")
    tmp.replace(path)


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


def _crashes(path: Path) -> dict[str, int]:
    """How many runs in a row each key crashed, as the store records it."""
    data = read_json(path)
    crashes = data.get("crashes") if isinstance(data, dict) else None
    if not isinstance(crashes, dict):
        return {}
    return {k: v for k, v in crashes.items() if isinstance(v, int) and v > 0}


def update_store(path: Path, keys: Mapping[str, str], results: Sequence[Mapping[str, Any]],
                 modes: Mapping[str, object]) -> int:
    """Stores the fresh cacheable results under their keys; drops entries of other keys.

    Entries whose key no run of this catalog asks for any more (an edited case, a new pin
    set) are dropped, so the store stays the size of one catalog. A `crashed` result is
    stored once its key crashed `CRASHES_TO_STORE` runs in a row (the count is kept in the
    store's `crashes`; any other verdict for the key resets it).

    Returns:
        How many cells the store holds now.
    """
    store = read_store(path)
    live = set(keys.values())
    cells = {k: v for k, v in store.items() if k in live}
    crashes = {k: n for k, n in _crashes(path).items() if k in live}
    for result in results:
        case = str(result.get("case"))
        if case not in keys:
            continue
        key = keys[case]
        status = (result.get("verdict") or {}).get("status")
        if status == "crashed" and not result.get("flaky") and \
                modes.get(case) not in UNCACHED_MODES:
            crashes[key] = crashes.get(key, 0) + 1
            if crashes[key] >= CRASHES_TO_STORE:
                cells[key] = dict(result)
            continue
        crashes.pop(key, None)
        if cacheable(result, modes.get(case)):
            cells[key] = dict(result)
    write_json(path, {"cells": cells, "crashes": crashes})
    return len(cells)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m matrix.cache plan --environment ID [--catalog PATH ...] [--no-cache]`.

    Prints one JSON line: `{"cases": N, "to_run": K, "digest": HEX}`, what a run of the
    catalog in this interpreter would execute (the `run` session asks before starting
    pytest: `noxfile._up_to_date`). Reads `KCM_CACHE`, `KERAS_BACKEND`, `KCM_ARTIFACTS`.

    Returns:
        0; 2 with one line on stderr when the catalog cannot be loaded.
    """
    import argparse

    from cases import CatalogError

    parser = argparse.ArgumentParser(prog="python -m matrix.cache")
    sub = parser.add_subparsers(dest="command", required=True)
    cmd = sub.add_parser("plan", help="what a run would execute, in one JSON line")
    cmd.add_argument("--environment", required=True)
    cmd.add_argument("--catalog", action="append", default=[])
    cmd.add_argument("--no-cache", action="store_true")
    args = parser.parse_args(argv)
    store_dir = os.environ.get("KCM_CACHE")
    try:
        planned, total = compute_plan(args.catalog, args.environment,
                                      Path(store_dir) if store_dir else None,
                                      reuse=not args.no_cache)
    except CatalogError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"cases": total, "to_run": total - len(planned["hits"]),
                      "digest": plan_digest(planned)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
