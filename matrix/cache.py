"""The result cache: a cell is reused only when nothing that can change its answer changed.

A cell's key is the hash of (see `key_contents()`, which the README's cache section quotes):

- the **case**: its id, its whole definition (`repr`), the program the run executes
  (`matrix.program.render`) and the reference's answer (values, dtype, tolerance, refusal);
- the **harness**: `HARNESS_VERSION` and the source of every module of this repository that
  a run's pytest process imports, found by walking the import graph from `ENTRY_POINTS`
  (`harness_modules`), as syntax trees without comments and docstrings (an edited comment
  reruns nothing; an edited `matrix/oracle/` module reruns everything). Two kinds of module in
  that graph are left out, each for a stated reason (`NOT_HASHED`, `split_modules`);
- the **process**: the source of every user catalog loaded (`--catalog`): a catalog's import
  runs code in the process that judges the built-in cases too (it may call
  `np.seterr(all="raise")` or replace the judge), so cells judged beside a catalog never
  share keys with cells judged without one;
- the **environment** (`environment_key`): every distribution installed in the interpreter
  with its version, Python, the platform, the host CPU (model and ISA flags: OpenVINO
  computes in bfloat16 where the CPU has it), every variable that a framework reads to
  change an answer (`ANSWER_VARIABLES`, glob patterns per reader: `JAX_DEBUG_NANS`,
  `XLA_FLAGS`, `TORCHDYNAMO_DISABLE`, ...) and the content of the config files they read
  (`answer_files`: `keras.json`).

The store is a cache, never a source of truth. It lives under the ignored
`reports/.work/cache/` (`KCM_RUN_STORE`), one file per entry: `<store>/<environment>/<key[:2]>/
<key>.json` holding the key, the case, the result and the SHA-256 of the three. An entry is
served only when it reads back whole (valid JSON, the checksum, the key of its name, the
case asked for, a result the run-file schema accepts); anything else means "run the case",
never "drop the cell". A run stores its fresh results and touches the entries it served;
entries of other keys (another slice, other variables) stay, and the oldest-used go once
the store is over `MAX_STORE_BYTES`. A store that cannot be written (a full disk, a
read-only folder) costs the speed-up, not the run: the run file is written all the same.

Only cells whose answer depends on nothing but the key are stored: verdicts `matched`,
`mismatched` and `not_applicable` of cases run by the Keras runner, not flaky, and a
`crashed` cell once it crashed two runs in a row (`CRASHES_TO_STORE`). Timeouts, harness
errors, `not_run` cells and a first crash run again every time.

A `save_load` cell depends on a `.keras` file too (`matrix.program.saved_model_path`):

- a **loading** cell (another backend saved the file) has the file's digest in its key, so
  a model saved again elsewhere with other content reruns every cell that loads it;
- the **saving** cell writes the file the others load. After it runs, the worker records
  the file's digest under its key (`<store>/saved/<key>.sha256`); its stored result is
  reused only while the file still holds what it wrote.

The digest is `saved_model_digest`: the SHA-256 of the file's members without the save
date, the zip timestamps and the `shared_object_id` addresses, so the same model saved again
reruns nothing.

How a run uses it (`matrix/run/selection.py`, `matrix.results.fold.fold_run`):

1. the pytest controller computes every case's key and writes `cache-plan.json` to the work
   folder: the keys and the cached results found (and checked) for them;
2. the worker deselects the cases found there (after `-k` and `--shard`) and lists them in
   `cache-used.json`;
3. the fold takes their results from the plan, marks the run's provenance
   (`provenance["cache"]`: reused and executed counts), and stores every fresh result.

`--no-cache` (the `run` session) reads nothing; results are still stored, so the next run
can reuse them.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from matrix import atomic, costs
from matrix import variables as kcm
from matrix.cache_key import (
    NOT_HASHED,
    catalogs_digest,
    digest,
    environment_key,
    harness_digest,
    key_contents,
    loaded_elsewhere,
    saved_model_digest,
    split_modules,
)
from matrix.runfiles import read_regular_file

if TYPE_CHECKING:
    from pydantic import TypeAdapter

    from matrix.records import Result

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
#: The store's size cap, all environments together: past it, the entries used longest ago
#: go. About 40 full catalogs of today's 2,037 cases (an entry is 1 to 3 KB).
MAX_STORE_BYTES = 256 * 1024 * 1024
#: The format of an entry; another one is not read (the case runs).
ENTRY_FORMAT = 1
#: An entry larger than this is not read (the case runs): a result is 1 to 3 KB.
MAX_ENTRY_BYTES = 4 * 1024 * 1024
ROOT = Path(__file__).resolve().parent.parent


# --- the case's key ---------------------------------------------------------------------------

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
    return digest(raw, repr(want.error), want.kind, repr(want.tolerance), str(want.dtype))


def saves(case: Any, backend: str | None) -> bool:
    """Whether `case` is a `save_load` cell that writes its file under `backend`."""
    return bool(case.axes.get("mode") == SAVE_LOAD and case.saved_on == backend)


def case_keys(cases: Iterable[Any], environment: str, harness: str | None = None, *,
              backend: str | None = None, artifacts: Path | None = None) -> dict[str, str]:
    """The cache key of each cacheable case (others are absent).

    Args:
        cases: `cases.model.Case` objects.
        environment: `environment_key()` of the interpreter that runs them, with
            `catalogs_digest()` of the process when user catalogs are loaded.
        harness: `harness_digest()`, computed when None.
        backend: the backend that runs them (`KERAS_BACKEND`); with `artifacts`, needed to
            key `save_load` cases (absent otherwise).
        artifacts: the saved models' folder (`KCM_ARTIFACTS`). A loading cell's key holds
            its file's `saved_model_digest` (`missing` when there is none); a saving
            cell's does not (`stale_savers` checks its file).
    """
    from cases.model import KERAS_RUNNER
    from matrix.oracle.expect import expected
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
        keys[case.id] = digest(environment, harness, case.id, repr(case), program,
                                _expected_digest(want), *extra)
    return keys


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
        except (OSError, UnicodeDecodeError):
            recorded = ""
        if not recorded.strip() or recorded.strip() != saved_model_digest(
                saved_model_path(case, artifacts)):
            stale.add(case.id)
    return stale


# --- the store: one checked file per entry ----------------------------------------------------

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


def _served(entry: Mapping[str, Any] | None, case: str) -> dict[str, Any] | None:
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


def plan(keys: Mapping[str, str], cache_dir: Path, environment_id: str,
         stale: Iterable[str] = ()) -> dict[str, Any]:
    """What a run can reuse: `{"keys": {case: key}, "hits": {case: result}}`.

    Only entries that read back whole (`read_entry`) serve; any other is a case to run.

    Args:
        stale: cases whose stored result must not serve (`stale_savers`).
    """
    skip = set(stale)
    hits = {}
    for case, key in keys.items():
        if case in skip:
            continue
        result = _served(read_entry(entry_path(cache_dir, environment_id, key), key, case),
                         case)
        if result is not None:
            hits[case] = result
    return {"keys": dict(keys), "hits": hits}


def process_key(catalogs: Sequence[str | Path], variables: Mapping[str, str]) -> str:
    """The environment part of every key of a process: `environment_key`, the user
    catalogs it loaded (`catalogs_digest`) when there are any, and the modules it imported
    from elsewhere (`loaded_elsewhere`: e.g. a helper a catalog imports from beside it).

    Call it once the catalog is loaded (`compute_plan`), so that what the catalog imported
    is in `sys.modules`.
    """
    harness, family_modules = split_modules()
    ours: list[Path | str] = [*harness, *family_modules, *NOT_HASHED]
    known = {(ROOT / p).resolve() for p in ours}
    known |= {Path(c).resolve() for c in catalogs}
    parts = [environment_key(variables), *loaded_elsewhere(known)]
    if catalogs:
        parts.append(catalogs_digest(catalogs))
    return digest(*parts)


def compute_plan(catalogs: Sequence[str], environment_id: str, store_dir: Path | None,
                 *, reuse: bool = True, variables: Mapping[str, str] | None = None
                 ) -> tuple[dict[str, Any], int]:
    """The plan of a run of the catalog in this interpreter (`matrix/run/selection.py`, `main`).

    Args:
        catalogs: the extra case modules (`--catalog`).
        environment_id: the environment whose store is read (`<store_dir>/<id>/`).
        store_dir: the stores' folder (`KCM_RUN_STORE`); None: nothing is read.
        reuse: False (`--no-cache`): the keys with no hits.
        variables: the process environment (default `os.environ`): `KERAS_BACKEND` and
            `KCM_ARTIFACTS` key the `save_load` cases, `KCM_SAMPLE` asks for the sample.

    Returns:
        (the plan, how many cases the catalog has). The plan's `cut` maps the cases a
        default run leaves out to their `not_run` reason (`matrix.costs.cut`; `KCM_SAMPLE`).

    Raises:
        cases.CatalogError: a catalog that cannot be loaded (names the file).
    """
    from matrix.oracle.catalog import load_catalog

    variables = os.environ if variables is None else variables
    catalog = load_catalog(tuple(catalogs))
    backend = variables.get("KERAS_BACKEND")
    raw_artifacts = variables.get(kcm.ARTIFACTS.name)
    artifacts = Path(raw_artifacts) if raw_artifacts else None
    keys = case_keys(catalog.cases, process_key(catalogs, variables), backend=backend,
                     artifacts=artifacts)
    if not reuse or store_dir is None:
        planned: dict[str, Any] = {"keys": keys, "hits": {}}
    else:
        stale = stale_savers(catalog.cases, keys, backend, artifacts, store_dir)
        planned = plan(keys, store_dir, environment_id, stale)
    # The cells a default run leaves out (`matrix.costs`), unless the cache serves them.
    planned["cut"] = costs.cut(catalog.cases, environment_id, backend, variables,
                               keep=planned["hits"])
    return planned, len(catalog.cases)


def to_run(planned: Mapping[str, Any], total: int) -> int:
    """How many of the catalog's `total` cases a run executes: neither served by the cache
    nor cut from a default run (`planned["cut"]`, `matrix.costs`)."""
    return total - len(planned["hits"]) - len(planned.get("cut") or {})


def plan_digest(planned: Mapping[str, Any]) -> str:
    """A hash of a plan: its keys and the stored results it would reuse."""
    return digest(json.dumps(planned, sort_keys=True))


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


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m matrix.cache plan --environment ID [--catalog PATH ...] [--no-cache]`, or
    `python -m matrix.cache key`.

    `plan` prints one JSON line: `{"cases": N, "to_run": K, "digest": HEX}`, what a run of
    the catalog in this interpreter would execute (the `run` session asks before starting
    pytest: `matrix.run.session`). Reads `KCM_RUN_STORE`, `KERAS_BACKEND`, `KCM_ARTIFACTS`.
    `key` prints what a cell's key holds (`key_contents`), as Markdown.

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
    sub.add_parser("key", help="what a cell's key holds (Markdown)")
    args = parser.parse_args(argv)
    if args.command == "key":
        print(key_contents())
        return 0
    store_dir = os.environ.get(kcm.RUN_STORE.name)
    try:
        planned, total = compute_plan(args.catalog, args.environment,
                                      Path(store_dir) if store_dir else None,
                                      reuse=not args.no_cache)
    except CatalogError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"cases": total, "to_run": to_run(planned, total),
                      "digest": plan_digest(planned)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
