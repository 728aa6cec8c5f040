"""Helpers for tests that run the harness (`nox -s run(...)`) in a subprocess.

Such a test owns its result cache and work folders: the caller's `KCM_*` and `KERAS_*`
variables are dropped, and `KCM_CACHE_DIR` and `KCM_WORK_DIR` (read by
`matrix/run/session.py`) point under a folder of the test's. Without them a run would read the
checkout's `reports/.work/cache`, filled by the main job, and be served every cell it meant to
execute (issue 23), or resume a work folder some earlier run left there.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from matrix import variables as kcm
from matrix.run import facts
from matrix.run.protocol import CASE_FACTS
from matrix.run.runfiles import RunOptions, work_dir_for


def harness_env(root: Path) -> dict[str, str]:
    """The environment of a harness subprocess whose cache and work folders are under `root`.

    Args:
        root: a folder of the test's (its `tmp_path`, or a module fixture's folder).

    Returns:
        `os.environ` without `KCM_*` and `KERAS_*`, plus `KCM_CACHE_DIR=<root>/cache` and
        `KCM_WORK_DIR=<root>/work`.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KERAS_", "KCM_"))}
    env[kcm.CACHE_DIR.name] = str(cache_dir(root))
    env[kcm.WORK_DIR.name] = str(work_root(root))
    return env


ROOT = Path(__file__).resolve().parents[1]
#: The backends whose virtualenv `backend_python` installed or found in this process.
_INSTALLED: set[str] = set()


def backend_python(backend: str, root: Path) -> Path:
    """The Python of a CPU backend's run virtualenv (`.nox/run-<backend>-cpu`), installed by
    its nox session (`--install-only`; nox reuses one that is there) the first time a process
    asks: an end-to-end test needs it even on a fresh clone, where no run made it yet, and
    must not skip for the want of it.

    Args:
        backend: `tensorflow`, `jax`, `torch`, `numpy` or `openvino`.
        root: a folder of the test's, for the session's cache and work folders.

    Raises:
        AssertionError: the install failed (the message holds the end of nox's output).
    """
    python = ROOT / ".nox" / f"run-{backend}-cpu" / "bin" / "python"
    if backend not in _INSTALLED:
        done = subprocess.run([sys.executable, "-m", "nox", "--noxfile", str(ROOT / "noxfile.py"),
                               "-s", f"run({backend}-cpu)", "--install-only"], cwd=ROOT,
                              env=harness_env(root), capture_output=True, text=True,
                              timeout=1800, check=False)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        _INSTALLED.add(backend)
    assert python.exists(), python
    return python


def cache_dir(root: Path) -> Path:
    """The result cache a harness run under `harness_env(root)` reads and fills."""
    return root / "cache"


def work_root(root: Path) -> Path:
    """The work folders' root (report logs, resume state, locks) under `harness_env(root)`."""
    return root / "work"


def work_dir(options: RunOptions, environment: str, root: Path) -> Path:
    """The work folder of one run under `harness_env(root)`, as the noxfile computes it.

    Args:
        options: the run's options (`matrix.run.runfiles.parse_run_options`).
        environment: the environment id, e.g. `jax-cpu`.
        root: the folder given to `harness_env`.

    Returns:
        `<root>/work/<environment>[.shard-I-of-N][.partial-<key>]`.
    """
    return work_dir_for(options, environment, work_root(root))


@functools.cache
def _case_facts(extra: tuple[str, ...]) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        return facts.write_case_facts(Path(folder), extra).read_bytes()


def write_case_facts(work: Path, extra: Sequence[str] = ()) -> None:
    """Writes into `work` the `case-facts.json` a run's controller writes at collection
    (`matrix.run.facts.write_case_facts`) for the catalog with the `extra` modules; built
    once per catalog in a test process (a few seconds for the built-in catalog)."""
    work.mkdir(parents=True, exist_ok=True)
    (work / CASE_FACTS).write_bytes(_case_facts(tuple(extra)))
