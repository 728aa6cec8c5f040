"""Nox sessions of keras-compat-matrix: run the catalog per environment, then report.

`nox` runs every CPU environment and then `report`. `nox -l` lists the sessions;
`nox -t jax` or `nox -k "jax and cpu"` selects environments; `nox -s tests` runs the tests.
This file never imports Keras: each environment runs in its own virtualenv and process.

Arguments after `--` for `run`: `--catalog PATH` (an extra case module, repeatable),
`--output DIR` (where the run file goes; default `reports/runs`), `--timeout SECONDS` (per
case; default 120), `--shard I/N` (every N-th case from the I-th, into
`<environment>.shard-I-of-N.json`), `--fresh` (drop what an interrupted run recorded; by
default the next run resumes it, `--resume`); anything else goes to pytest (e.g.
`-k "rank2 and int64"`).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nox

ROOT = Path(__file__).parent
sys.path.insert(0, str(ROOT))

from matrix.environments import (  # noqa: E402
    RUN_PYTEST_ARGS,
    Environment,
    gpu_visible,
    load_environments,
)
from matrix.failures import installer_tail, minimal_install_failed_file  # noqa: E402
from matrix.resume import ResumeMode, finish, prepare, source_fingerprint  # noqa: E402

nox.needs_version = ">=2025.5.1"
nox.options.default_venv_backend = "virtualenv"
nox.options.reuse_venv = "yes"
nox.options.error_on_missing_interpreters = False

PYPROJECT = nox.project.load_toml(ROOT / "pyproject.toml")
ENVIRONMENTS = load_environments()
RUNS_DIR = ROOT / "reports" / "runs"
WORK_DIR = ROOT / "reports" / ".work"
DEFAULT_TIMEOUT_S = 120
#: Restarts of the worker a run allows; each crashed or timed-out case costs one.
MAX_WORKER_RESTARTS = 1000

nox.options.sessions = [f"run({e.id})"
                        for e in ENVIRONMENTS if e.default] + ["report"]


def _git_commit() -> str:
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=ROOT, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("-dirty" if dirty.strip() else "")


def _split_posargs(posargs: list[str]) -> tuple[dict[str, list[str]], list[str]]:
    """Separates the harness's own options from the arguments passed on to pytest."""
    own: dict[str, list[str]] = {"--catalog": [], "--output": [], "--timeout": [],
                                 "--shard": []}
    rest: list[str] = []
    args = iter(posargs)
    for arg in args:
        key, _, value = arg.partition("=")
        if key in own:
            own[key].append(value or next(args, ""))
        else:
            rest.append(arg)
    return own, rest


def _find(backend: str, device: str, channel: str) -> Environment:
    for environment in ENVIRONMENTS:
        if (environment.backend, environment.device, environment.channel) == (
                backend, device, channel):
            return environment
    raise ValueError(f"no environment {backend}-{device} ({channel}) in matrix/axes.toml")


def _params() -> list[nox.param]:
    return [nox.param(e.backend, e.device, e.channel, id=e.id,
                      tags=[e.backend, e.device, e.channel, e.id])
            for e in ENVIRONMENTS]


def _install_environment(session: nox.Session, environment: Environment, **kwargs: Any
                         ) -> None:
    """Installs the pinned set when `nox -s pins` wrote one, else the requirements."""
    pre = ["--pre"] if environment.pre else []
    if environment.pins.exists():
        session.install(*pre, "-r", str(environment.pins), **kwargs)
    else:
        session.install(*pre, *environment.requirements, **kwargs)


def _install_or_record(session: nox.Session, environment: Environment, run_file: Path,
                       catalogs: list[str], install: Callable[..., None]) -> bool:
    """Runs an install; if it fails, records the environment's error in its run file.

    Returns:
        True when the install succeeded. On failure the run file says `ran: false` with the
        installer's last error line, every cell `error`, and the other sessions go on.
    """
    log = WORK_DIR / f"{environment.id}.install.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    try:
        with log.open("w", encoding="utf-8") as out:
            install(silent=False, stdout=out)  # nox needs silent=False for its own stdout
        return True
    except nox.command.CommandFailed:
        output = log.read_text(encoding="utf-8", errors="replace")
    session.warn(f"{environment.id}: the install failed:\n{installer_tail(output)}")
    try:
        session.run("python", "-m", "matrix.failures", "install-failed", "--environment",
                    environment.id, "--log", str(log), "--output", str(run_file),
                    *_fold_args(catalogs))
    except nox.command.CommandFailed:  # not even numpy and pydantic could be installed
        minimal_install_failed_file(environment.id, environment.backend, environment.device,
                                    output, run_file)
    return False


def _resume_mode(posargs: list[str]) -> tuple[ResumeMode, list[str]]:
    """`--fresh` clears what an interrupted run recorded; `--resume` (the default) keeps it."""
    flags = [a for a in posargs if a in ("--fresh", "--resume")]
    rest = [a for a in posargs if a not in ("--fresh", "--resume")]
    mode: ResumeMode = "auto" if not flags else "fresh" if flags[-1] == "--fresh" else "resume"
    return mode, rest


def _fold_args(catalogs: list[str]) -> list[str]:
    return [arg for path in catalogs for arg in ("--catalog", path)]


@nox.session(tags=["run"])
@nox.parametrize(("backend", "device", "channel"), _params())
def run(session: nox.Session, backend: str, device: str, channel: str) -> None:
    """Run the case catalog on one backend and device; write reports/runs/<environment>.json."""
    environment = _find(backend, device, channel)
    mode, posargs = _resume_mode(list(session.posargs))
    own, pytest_args = _split_posargs(posargs)
    out_dir = Path(own["--output"][-1]) if own["--output"] else RUNS_DIR
    out_dir = out_dir if out_dir.is_absolute() else ROOT / out_dir
    shard = own["--shard"][-1] if own["--shard"] else None
    suffix = ""
    if shard is not None:
        index, _, count = shard.partition("/")
        suffix = f".shard-{index}-of-{count}"
    run_file = out_dir / f"{environment.id}{suffix}.json"
    timeout = own["--timeout"][-1] if own["--timeout"] else str(DEFAULT_TIMEOUT_S)
    catalogs = [str(Path(p).resolve()) for p in own["--catalog"]]
    session.chdir(ROOT)
    run_group = nox.project.dependency_groups(PYPROJECT, "run")
    if not _install_or_record(session, environment, run_file, catalogs,
                              lambda **kw: session.install(*run_group, **kw)):
        session.error(f"{environment.id}: install failed; recorded in {run_file}")
    if device == "gpu":
        visible, detail = gpu_visible()
        if not visible:
            if run_file.exists() and json.loads(run_file.read_text()).get(
                    "environment", {}).get("ran"):
                session.warn(f"{detail}; kept {run_file.relative_to(ROOT)}, which holds cells "
                             "that really ran on a GPU elsewhere.")
                return
            session.run("python", "-m", "matrix.results", "not-run", "--environment",
                        environment.id, "--reason", detail, "--output", str(run_file),
                        *_fold_args(catalogs))
            session.warn(f"{environment.id}: {detail}; every cell is recorded as not_run.")
            return
    if not _install_or_record(session, environment, run_file, catalogs,
                              lambda **kw: _install_environment(session, environment, **kw)):
        session.error(f"{environment.id}: install failed; recorded in {run_file}")
    work = WORK_DIR / f"{environment.id}{suffix}"
    # An interrupted run's results are kept (pytest-reportlog flushes each report); only the
    # cases without one run again. A finished run, new sources or --fresh start clean.
    sources = [*ROOT.glob("cases/*.py"), ROOT / "matrix" / "reference.py",
               *map(Path, catalogs)]
    settings = [*environment.requirements, *pytest_args, *(["--shard", shard] if shard else [])]
    done = prepare(work, mode, source_fingerprint(sources, settings))
    if done:
        session.log(f"{environment.id}: resuming: {len(done)} cases recorded by the interrupted "
                    "run are kept; pass --fresh to start clean")
    log = work / "report-log.jsonl"
    env = {**environment.run_variables(workdir=work, artifacts_root=out_dir.parent / "artifacts",
                                       commit=_git_commit()),
           "PYTHONDONTWRITEBYTECODE": "1"}
    session.log(f"{environment.id}: running the catalog ({', '.join(environment.requirements)})")
    session.run(
        "python", "-m", "pytest", "cases/test_cases.py", *RUN_PYTEST_ARGS,
        f"--timeout={timeout}", f"--report-log={log}",
        f"--junitxml={out_dir.parent / 'junit' / (environment.id + suffix + '.xml')}",
        *_fold_args(catalogs), *(["--shard", shard] if shard else []), *pytest_args,
        env=env, success_codes=[0, 1, 2, 5],  # case failures are data, not session failures
    )
    finish(work)
    session.run("python", "-m", "matrix.results", "fold", "--environment", environment.id,
                "--log", str(log), "--output", str(run_file), *_fold_args(catalogs),
                *(["--shard", shard] if shard else []), env=env)


@nox.session(tags=["pins"])
def pins(session: nox.Session) -> None:
    """Resolve each CPU environment's requirements into matrix/pins/<environment>.txt."""
    session.install("pip>=23.2")
    wanted = set(session.posargs) or {e.id for e in ENVIRONMENTS if e.device == "cpu"}
    unknown = wanted - {e.id for e in ENVIRONMENTS}
    if unknown:
        session.error(f"unknown environment(s) {sorted(unknown)}; see matrix/axes.toml")
    work = WORK_DIR / "pins"
    work.mkdir(parents=True, exist_ok=True)
    for environment in (e for e in ENVIRONMENTS if e.id in wanted):
        report = work / f"{environment.id}.json"
        pre = ["--pre"] if environment.pre else []
        # pip's own resolver, with this machine's pip configuration (find-links, constraints):
        # exactly what `session.install` would pick, without installing it.
        session.run("python", "-m", "pip", "install", "--dry-run", "--ignore-installed",
                    "--quiet", "--report", str(report), *pre, *environment.requirements,
                    silent=True)
        resolved = json.loads(report.read_text(encoding="utf-8"))["install"]
        lines = sorted(f"{item['metadata']['name']}=={item['metadata']['version']}"
                       for item in resolved)
        environment.pins.parent.mkdir(parents=True, exist_ok=True)
        environment.pins.write_text(
            f"# Pinned set of {environment.id}, generated by `nox -s pins` (pip install "
            "--dry-run --report) from\n"
            f"# {', '.join(environment.requirements)} in matrix/axes.toml. Do not edit: "
            f"rerun `nox -s pins -- {environment.id}`.\n" + "\n".join(lines) + "\n",
            encoding="utf-8")
        session.log(f"{environment.pins.relative_to(ROOT)}: {len(lines)} packages")


@nox.session(tags=["report"])
def report(session: nox.Session) -> None:
    """Fold every run file into reports/compatibility.{md,html,json} and print a summary."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "report"))
    session.chdir(ROOT)
    session.run("python", "-m", "matrix.report", "--runs", str(RUNS_DIR),
                "--out", str(ROOT / "reports"), *session.posargs)


@nox.session(tags=["tests"])
def tests(session: nox.Session) -> None:
    """Run the harness tests and the end-to-end slice on all three CPU backends."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "test"))
    session.chdir(ROOT)
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session(tags=["lint"])
def lint(session: nox.Session) -> None:
    """Check style and types: ruff and mypy --strict."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "lint"))
    session.chdir(ROOT)
    session.run("ruff", "check", ".")
    session.run("mypy")


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
