"""The result cache: a cell is reused only when nothing that can change its answer changed.

A cell's key is the hash of (see `key_contents()`, which the README's cache section quotes):

- the **case**: its id, its whole definition (`repr`), the program the run executes
  (`matrix.run.program.render`) and the reference's answer (values, dtype, tolerance, refusal);
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
`mismatched`, `not_applicable` and `no_reference` (judged by agreement at merge) of cases
run by the Keras runner, not flaky, and a
`crashed` cell once it crashed two runs in a row (`CRASHES_TO_STORE`). Timeouts, harness
errors, `not_run` cells and a first crash run again every time.

A `save_load` cell depends on a `.keras` file too (`matrix.run.program.saved_model_path`):

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

import json
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from matrix import variables as kcm
from matrix.run import costs
from matrix.run.cache_key import (
    catalogs_digest,
    digest,
    environment_key,
    harness_digest,
    key_contents,
    loaded_elsewhere,
    not_hashed_modules,
    split_modules,
)
from matrix.run.store import (
    UNCACHED_MODES,
    entry_path,
    read_entry,
    saved_model_digest,
    saved_record,
    served_result,
)

if TYPE_CHECKING:

    pass

PLAN = "cache-plan.json"
USED = "cache-used.json"
SAVE_LOAD = "save_load"
ROOT = Path(__file__).resolve().parents[2]


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
    alternatives = [digest(name, np.asarray(alt.values).dtype.str, repr(alt.dtype),
                           repr(alt.tolerance), np.asarray(alt.values).tobytes())
                    for name, alt in sorted(getattr(want, "alternatives", {}).items())]
    return digest(raw, repr(want.error), want.kind, repr(want.tolerance), str(want.dtype),
                  *alternatives)


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
    from matrix.run.program import render, saved_model_path

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


def stale_savers(cases: Iterable[Any], keys: Mapping[str, str], backend: str | None,
                 artifacts: Path | None, cache_dir: Path) -> set[str]:
    """The saving `save_load` cases whose file is not the one their stored run wrote.

    Their stored result must not serve: the other backends would load a file that this
    run never wrote, or none at all.
    """
    from matrix.run.program import saved_model_path

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
        result = served_result(read_entry(entry_path(cache_dir, environment_id, key), key, case),
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
    ours = [*harness, *family_modules, *not_hashed_modules()]
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
        default run leaves out to their `not_run` reason (`matrix.run.costs.cut`; `KCM_SAMPLE`).

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
    # The cells a default run leaves out (`matrix.run.costs`), unless the cache serves them.
    planned["cut"] = costs.cut(catalog.cases, environment_id, backend, variables,
                               keep=planned["hits"])
    return planned, len(catalog.cases)


def to_run(planned: Mapping[str, Any], total: int) -> int:
    """How many of the catalog's `total` cases a run executes: neither served by the cache
    nor cut from a default run (`planned["cut"]`, `matrix.run.costs`)."""
    return total - len(planned["hits"]) - len(planned.get("cut") or {})


def plan_digest(planned: Mapping[str, Any]) -> str:
    """A hash of a plan: its keys and the stored results it would reuse."""
    return digest(json.dumps(planned, sort_keys=True))


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m matrix.run.cache plan --environment ID [--catalog PATH ...] [--no-cache]`, or
    `python -m matrix.run.cache key`.

    `plan` prints one JSON line: `{"cases": N, "to_run": K, "digest": HEX}`, what a run of
    the catalog in this interpreter would execute (the `run` session asks before starting
    pytest: `matrix.run.session`). Reads `KCM_RUN_STORE`, `KERAS_BACKEND`, `KCM_ARTIFACTS`.
    `key` prints what a cell's key holds (`key_contents`), as Markdown.

    Returns:
        0; 2 with one line on stderr when the catalog cannot be loaded.
    """
    import argparse

    from cases import CatalogError

    parser = argparse.ArgumentParser(prog="python -m matrix.run.cache")
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
