"""Every `KCM_*` environment variable of the project, declared once, typed, with who sets it.

The harness crosses process boundaries (nox, the pytest run, its xdist workers, the program a
cell runs) and environment variables are how settings cross them. Each is a `Variable` here;
code reads and writes them through these objects, never by a name typed elsewhere (a test
holds that: no other module has a `KCM_` string), and the README's table is generated from
`VARIABLES` (`python -m matrix.variables`).

Who sets a variable:
- `you`: a user or CI, before `nox` (or a test, for its own folders);
- `run session`: the `run` nox session, for the pytest process it starts (and its workers);
- `harness`: the pytest plugin, for its xdist workers;
- `tests`: the project's own test suite.

Standard library only: every stage, `cases/` included, may import it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Variable:
    """One environment variable.

    Attributes:
        name: the variable's name (`KCM_...`).
        set_by: `you`, `run session`, `harness` or `tests` (see the module's docstring).
        meaning: what it says, its values, and its default when unset.
        keyed: whether a cached cell's key holds it (`matrix.run.cache_key`): a change reruns.
    """

    name: str
    set_by: str
    meaning: str
    keyed: bool = False

    def get(self, environ: Mapping[str, str] | None = None,
            default: str | None = None) -> str | None:
        """The value in `environ` (default `os.environ`), or `default` when unset."""
        return (os.environ if environ is None else environ).get(self.name, default)

    def set(self, value: str, environ: MutableMapping[str, str] | None = None) -> None:
        """Sets the variable in `environ` (default `os.environ`)."""
        (os.environ if environ is None else environ)[self.name] = value


# --- set by you (or CI) before `nox` ---
WORK_DIR = Variable(
    "KCM_WORK_DIR", "you",
    "the root of the work folders (report logs, resume state, locks); default "
    "`reports/.work`")
CACHE_DIR = Variable(
    "KCM_CACHE_DIR", "you",
    "the result cache's folder (`matrix/run/cache.py`); default `reports/.work/cache`")
MEASURED_RUNS = Variable(
    "KCM_MEASURED_RUNS", "you",
    "a folder of run files whose cell durations are the measured costs (`matrix/run/costs.py`); "
    "default `reports/runs`")
TF32 = Variable(
    "KCM_TF32", "you",
    "`on` keeps TensorFloat-32 matmuls on a GPU run; default off (float32 as on the CPU)",
    keyed=True)

# --- set by the run session for the pytest process (and its workers) ---
ENVIRONMENT = Variable(
    "KCM_ENVIRONMENT", "run session", "the environment's id (`jax-cpu`)")
DEVICE = Variable(
    "KCM_DEVICE", "run session", "`cpu` or `gpu`: the device the cases run on", keyed=True)
GIT_COMMIT = Variable(
    "KCM_GIT_COMMIT", "run session", "the checkout's commit, recorded in the run file")
ARTIFACTS = Variable(
    "KCM_ARTIFACTS", "run session",
    "the folder of the `.keras` files `save_load` programs write and read (a repro reads it "
    "too); default `reports/artifacts`")
RUN_DIR = Variable(
    "KCM_RUN_DIR", "run session",
    "this run's work folder (partial results, resume state)")
RUN_STORE = Variable(
    "KCM_RUN_STORE", "run session",
    "the result store this run reads and fills (`KCM_CACHE_DIR` as the session resolved it; "
    "empty: no cache)")
NO_CACHE = Variable(
    "KCM_NO_CACHE", "run session",
    "`1` (`--no-cache`): nothing is reused, every cell runs and is stored")
COMPILE_TIMEOUT = Variable(
    "KCM_COMPILE_TIMEOUT", "run session",
    "the time limit of a compiling mode's case (`jit_compile`), in seconds")
NOT_RUN_MODES = Variable(
    "KCM_NOT_RUN_MODES", "run session",
    "a JSON object {mode: reason}: the cases of those modes are `not_run` with the reason",
    keyed=True)
RETRY_IDS = Variable(
    "KCM_RETRY_IDS", "run session",
    "a JSON list of case ids: only those run (the retry of timed-out cases)")
SAMPLE = Variable(
    "KCM_SAMPLE", "run session",
    "`1`: the default run's sample of costly modes (`matrix/run/costs.py`); `0` with `--full`")

# --- set by the harness for its workers ---
WORKER_FILES = Variable(
    "KCM_WORKER_FILES", "harness",
    "the folder of the workers' stderr logs and heartbeats (crash attribution)")

# --- the project's tests ---
UPDATE_GOLDEN = Variable(
    "KCM_UPDATE_GOLDEN", "tests", "`1` rewrites the golden report files instead of comparing")
CHROMIUM = Variable(
    "KCM_CHROMIUM", "tests", "the Chromium the browser tests drive; default `/usr/bin/chromium`")
TEST_OUTPUT = Variable(
    "KCM_TEST_OUTPUT", "tests",
    "where tests keep screenshots; default `reports/.work/test-output`")
TEST_CONTEXT_POISONED = Variable(
    "KCM_TEST_CONTEXT_POISONED", "tests",
    "set by a hostile test case to check that no state leaks into the next case")

#: Every variable, in the order above.
VARIABLES: tuple[Variable, ...] = (
    WORK_DIR, CACHE_DIR, MEASURED_RUNS, TF32, ENVIRONMENT, DEVICE, GIT_COMMIT, ARTIFACTS,
    RUN_DIR, RUN_STORE, NO_CACHE, COMPILE_TIMEOUT, NOT_RUN_MODES, RETRY_IDS, SAMPLE,
    WORKER_FILES, UPDATE_GOLDEN, CHROMIUM, TEST_OUTPUT, TEST_CONTEXT_POISONED,
)


def markdown_table() -> str:
    """The README's table of the variables: name, set by, meaning, keyed."""
    rows = ["| variable | set by | meaning | in the cache key |", "|---|---|---|---|"]
    rows += [f"| `{v.name}` | {v.set_by} | {v.meaning} | {'yes' if v.keyed else ''} |"
             for v in VARIABLES]
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")


__all__ = ["VARIABLES", "Variable", "markdown_table"]
