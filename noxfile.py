"""Nox sessions of keras-compat-matrix: run the catalog per environment, then report.

`nox` runs every CPU environment and then `report`. `nox -l` lists the sessions;
`nox -t jax` or `nox -k "jax and cpu"` selects environments; `nox -s tests` runs the tests.
This file never imports Keras: each environment runs in its own virtualenv and process.

Arguments after `--` for `run`: `--catalog PATH` (an extra case module, repeatable),
`--output DIR` (where the run file goes; default the ignored `reports/local/runs`),
`--timeout SECONDS` (per case; default 120), `--compile-timeout SECONDS` (per `jit_compile`
case; default 3 × `--timeout`), `--jobs N` (xdist workers side by side; default one per core,
at most 4), `--no-cache` (run every case, reusing no cached cell), `--fresh-compile` (torch's
on-disk compile caches off, so every `jit_compile` cell compiles from scratch:
`matrix/run/compile_cache.py`), `--shard I/N` (the I-th of N shards split by measured cost, into
`<environment>.shard-I-of-N.json`), `--full` (every case; by default PyTorch runs a sample of
its costly `jit_compile` cases, the others `not_run` with the reason: `matrix/run/costs.py`; a
`-k` slice runs every case it names unless `--sample` keeps it to the sample),
`--fresh` (drop what an interrupted run recorded; by
default the next run resumes it, `--resume`); anything else goes to pytest (e.g.
`-k "rank2 and int64"`). Every option is validated before a path is built
(`matrix/run/runfiles.py`). A slice (`-k`, `--catalog`) never replaces a full run file: it writes
`<environment>.partial-<key>.json` beside it. `nox -s publish-local` copies the local results
to the committed `reports/`.

A rerun does only what changed: cells whose case and environment are unchanged come from the
result cache (`matrix/run/cache.py`, under the ignored `reports/.work/cache/`), and pip is skipped
when the virtualenv's install stamp matches the pins (`matrix.run.install`). A case that timed
out is run again alone before it is called `timeout`; one whose verdict changes is marked flaky.
The logic of the sessions lives in `matrix/run/session.py`; this file declares them.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nox

ROOT = Path(__file__).parent
sys.path.insert(0, str(ROOT))

from matrix.run import session as logic  # noqa: E402
from matrix.run.install import install_once, resolve_pins  # noqa: E402
from matrix.run.runfiles import LOCAL_DIR, LOCAL_RUNS_DIR, PUBLISHED_DIR, publish_local  # noqa: E402
from matrix.run.session import (  # noqa: E402
    ENVIRONMENTS,
    PYPROJECT,
    WORK_DIR,
    find_environment,
    run_exit_2,
)

nox.needs_version = ">=2025.5.1"
nox.options.default_venv_backend = "virtualenv"
nox.options.reuse_venv = "yes"
nox.options.error_on_missing_interpreters = False

nox.options.sessions = [f"run({e.id})"
                        for e in ENVIRONMENTS if e.default] + ["report"]


def _params() -> list[nox.param]:
    return [nox.param(e.backend, e.device, e.channel, id=e.id,
                      tags=[e.backend, e.device, e.channel, e.id])
            for e in ENVIRONMENTS]


@nox.session(tags=["run"])
@nox.parametrize(("backend", "device", "channel"), _params())
def run(session: nox.Session, backend: str, device: str, channel: str) -> None:
    """Run the case catalog on one backend and device; write reports/local/runs/<env>.json."""
    logic.run(session, backend, device, channel)


@nox.session(tags=["pins"])
def pins(session: nox.Session) -> None:
    """Resolve each CPU environment's requirements into matrix/pins/<environment>.txt."""
    session.install("pip>=23.2")
    resolve_pins(session, ENVIRONMENTS, WORK_DIR, ROOT)


@nox.session(tags=["report"])
def report(session: nox.Session) -> None:
    """Fold the local run files into reports/local/compatibility.{md,html,json}."""
    install_once(session, *nox.project.dependency_groups(PYPROJECT, "report"))
    session.chdir(ROOT)
    # Later options win (argparse), so `nox -s report -- --runs DIR --out DIR` overrides these.
    # --if-changed: with every column up to date, the reports of the last rendering stand.
    session.run("python", "-m", "matrix.report", "--runs", str(LOCAL_RUNS_DIR),
                "--out", str(LOCAL_DIR), "--if-changed", *session.posargs)


@nox.session(name="publish-local", tags=["publish-local"])
def publish_local_results(session: nox.Session) -> None:
    """Copy the local runs and saved models to the committed reports/, then re-render it."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "report"))
    session.chdir(ROOT)
    try:
        lines = publish_local(LOCAL_DIR, PUBLISHED_DIR)
    except FileNotFoundError as exc:
        session.error(str(exc))
    for line in lines:
        session.log(line)
    session.run("python", "-m", "matrix.report", "--runs", str(PUBLISHED_DIR / "runs"),
                "--out", str(PUBLISHED_DIR))


@nox.session(tags=["tests"])
def tests(session: nox.Session) -> None:
    """Run the harness tests and the end-to-end slice on all five CPU backends.

    The fast tests first, on two xdist workers where there are two cores or more; then the
    end-to-end tests (marker `e2e`) in one process, one after another: they create
    virtualenvs under `.nox/` and run `nox` sessions whose work folders and locks are per
    environment, so two at once would wait on or clear each other's (`--dist loadgroup` would
    say so with a marker, but pytest-xdist 3.8 under pytest 9.2 no longer groups:
    pytest-dev/pytest-xdist#1386). Arguments after `--` replace both:
    `nox -s tests -- tests/test_cache.py`.
    """
    session.install(*nox.project.dependency_groups(PYPROJECT, "test"))
    session.chdir(ROOT)
    if session.posargs:
        session.run("python", "-m", "pytest", *session.posargs)
        return
    workers = ["-n", "2"] if (os.cpu_count() or 1) >= 2 else []
    session.run("python", "-m", "pytest", *workers, "-m", "not e2e")
    session.run("python", "-m", "pytest", "-m", "e2e", "--durations=10")


@nox.session(tags=["lint"])
def lint(session: nox.Session) -> None:
    """Check style and types: ruff and mypy --strict."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "lint"))
    session.chdir(ROOT)
    session.run("ruff", "check", ".")
    session.run("mypy")


@nox.session(tags=["bisect"])
def bisect(session: nox.Session) -> None:
    """Find the first Keras release in which a case's cell changed (reports/local/bisect/)."""
    session.install("pip>=25", *nox.project.dependency_groups(PYPROJECT, "report"))
    session.chdir(ROOT)
    run_exit_2(session, "python", "-m", "matrix.bisect", *session.posargs)


@nox.session(tags=["check"])
def check(session: nox.Session) -> None:
    """Check a saved .keras model layer by layer across backends (reports/local/check/).

    Exit status: 0 agree, 1 disagree, 2 bad input, 3 the model loads on no backend."""
    session.install("pip>=25", *nox.project.dependency_groups(PYPROJECT, "report"))
    session.chdir(ROOT)
    run_exit_2(session, "python", "-m", "matrix.check", *session.posargs, passed_on=(1, 2, 3))


@nox.session(name="device-rehearsal", tags=["device-rehearsal"])
def device_rehearsal(session: nox.Session) -> None:
    """Rehearse the GPU call (`python -m matrix.run.device_run`) on the CPU, on `<backend>-cpu`.

    The virtualenv holds only the frameworks, as the lent GPU machine does; Keras and the
    harness's dependencies come from a wheels folder (`--fetch-wheels`, for this Python),
    installed by the script with no index. Arguments after `--` go to the script, e.g.
    `--out DIR --backends jax torch -- -k "rank2 and int32"`.
    """
    frameworks = [r for env_id in ("jax-cpu", "torch-cpu") for r in
                  find_environment(env_id.split("-")[0], "cpu", "latest").requirements
                  if not r.startswith("keras")]
    install_once(session, *frameworks)
    session.chdir(ROOT)
    version = str(session.run("python", "-c", "import sys; print('%d.%d' % sys.version_info[:2])",
                              silent=True) or "").strip()
    wheels = WORK_DIR / f"device-wheels-{version}"
    session.run("python", "-m", "matrix.run.device_run", "--fetch-wheels", str(wheels),
                "--python-version", version)
    session.run("python", "-m", "matrix.run.device_run", "--device", "cpu", "--wheels",
                str(wheels), *session.posargs)


@nox.session(tags=["bench"])
def bench(session: nox.Session) -> None:
    """Benchmark the CPU matrix (benchmarks/bench_matrix.py) with what it needs installed."""
    # numpy and pydantic: the catalog and the fold; nox and filelock: `--main-job` runs nox.
    session.install("numpy>=1.26", "pydantic>=2.7", "nox>=2025.5.1", "filelock>=3.12")
    session.chdir(ROOT)
    session.run("python", "benchmarks/bench_matrix.py", *session.posargs)


@nox.session(name="bench-report", tags=["bench"])
def bench_report(session: nox.Session) -> None:
    """Benchmark report rendering (benchmarks/bench_report.py) on a synthetic matrix."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "report"))
    session.chdir(ROOT)
    session.run("python", "benchmarks/bench_report.py", *session.posargs)


@nox.session(name="bench-page", tags=["bench"])
def bench_page(session: nox.Session) -> None:
    """Benchmark the published page in headless Chromium (benchmarks/bench_page.py)."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "report"), "playwright>=1.45")
    session.chdir(ROOT)
    session.run("python", "benchmarks/bench_page.py", *session.posargs)


@nox.session(tags=["diff"])
def diff(session: nox.Session) -> None:
    """Compare two compatibility.json files: regressions, fixes, changed cells (Markdown)."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "report"))
    session.chdir(ROOT)
    session.run("python", "-m", "matrix.diff", *session.posargs)


@nox.session(tags=["publish"])
def publish(session: nox.Session) -> None:
    """Build the published site (report, history, diff against the last run) in site/."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "report"))
    session.chdir(ROOT)
    session.run("python", "-m", "matrix.publish", *session.posargs)
