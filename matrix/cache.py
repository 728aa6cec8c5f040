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
`mismatched` and `not_applicable` of cases run by the Keras runner, not flaky, outside the
`save_load` mode (whose answer depends on the saved files of the other backends). Crashes,
timeouts, harness errors and `not_run` cells run again every time.

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
UNCACHED_MODES = frozenset({"save_load"})
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


def case_keys(cases: Iterable[Any], environment: str, harness: str | None = None
              ) -> dict[str, str]:
    """The cache key of each cacheable case (others are absent).

    Args:
        cases: `cases.model.Case` objects.
        environment: `environment_key()` of the interpreter that runs them.
        harness: `harness_digest()`, computed when None.
    """
    from cases.expect import expected
    from cases.model import KERAS_RUNNER
    from matrix.program import render

    harness = harness_digest() if harness is None else harness
    keys = {}
    for case in cases:
        if case.runner != KERAS_RUNNER or case.axes.get("mode") in UNCACHED_MODES:
            continue
        try:
            program, want = render(case), expected(case)
        except Exception:  # the run reports it; such a case is never cached
            continue
        keys[case.id] = _digest(environment, harness, case.id, program, _expected_digest(want))
    return keys


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


def plan(keys: Mapping[str, str], store: Mapping[str, Any]) -> dict[str, Any]:
    """What a run can reuse: `{"keys": {case: key}, "hits": {case: result}}`."""
    hits = {case: store[key] for case, key in keys.items()
            if isinstance(store.get(key), dict) and store[key].get("case") == case}
    return {"keys": dict(keys), "hits": hits}


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


def update_store(path: Path, keys: Mapping[str, str], results: Sequence[Mapping[str, Any]],
                 modes: Mapping[str, object]) -> int:
    """Stores the fresh cacheable results under their keys; drops entries of other keys.

    Entries whose key no run of this catalog asks for any more (an edited case, a new pin
    set) are dropped, so the store stays the size of one catalog.

    Returns:
        How many cells the store holds now.
    """
    store = read_store(path)
    live = set(keys.values())
    cells = {k: v for k, v in store.items() if k in live}
    for result in results:
        case = str(result.get("case"))
        if case in keys and cacheable(result, modes.get(case)):
            cells[keys[case]] = dict(result)
    write_json(path, {"cells": cells})
    return len(cells)
