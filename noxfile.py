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
`matrix/compile_cache.py`), `--shard I/N` (the I-th of N shards split by measured cost, into
`<environment>.shard-I-of-N.json`), `--full` (every case; by default PyTorch runs a sample of
its costly `jit_compile` cases, the others `not_run` with the reason: `matrix/costs.py`; a
`-k` slice runs every case it names unless `--sample` keeps it to the sample),
`--fresh` (drop what an interrupted run recorded; by
default the next run resumes it, `--resume`); anything else goes to pytest (e.g.
`-k "rank2 and int64"`). Every option is validated before a path is built
(`matrix/runfiles.py`). A slice (`-k`, `--catalog`) never replaces a full run file: it writes
`<environment>.partial-<key>.json` beside it. `nox -s publish-local` copies the local results
to the committed `reports/`.

A rerun does only what changed: cells whose case and environment are unchanged come from the
result cache (`matrix/cache.py`, under the ignored `reports/.work/cache/`), and pip is skipped
when the virtualenv's install stamp matches the pins (`_installed`). A case that timed out is
run again alone before it is called `timeout`; one whose verdict changes is marked flaky.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nox
from filelock import FileLock, Timeout

ROOT = Path(__file__).parent
sys.path.insert(0, str(ROOT))

from matrix import variables as kcm  # noqa: E402
from matrix.compile_cache import (  # noqa: E402
    CACHED_BACKENDS,
    empty_folder,
    fresh_compile_folder,
    fresh_compile_variables,
)
from matrix.costs import SAMPLE_VARIABLE  # noqa: E402
from matrix.environments import (  # noqa: E402
    Environment,
    gpu_visible,
    load_environments,
    run_pytest_args,
)
from matrix.failures import installer_tail, minimal_install_failed_file  # noqa: E402
from matrix.resume import (  # noqa: E402
    FOLDED,
    ResumeMode,
    finish,
    mark_folded,
    prepare,
    run_sources,
    source_fingerprint,
    timed_out_cases,
    unfolded,
)
from matrix.runfiles import (  # noqa: E402
    LOCAL_DIR,
    LOCAL_RUNS_DIR,
    PUBLISHED_DIR,
    WORK_ROOT,
    OptionError,
    RunOptions,
    gpu_run_to_keep,
    parse_run_options,
    publish_local,
    run_file_for,
    seed_artifacts,
    work_dir_for,
)

nox.needs_version = ">=2025.5.1"
nox.options.default_venv_backend = "virtualenv"
nox.options.reuse_venv = "yes"
nox.options.error_on_missing_interpreters = False

PYPROJECT = nox.project.load_toml(ROOT / "pyproject.toml")
ENVIRONMENTS = load_environments()
#: Work folders (report logs, resume state, locks); `KCM_WORK_DIR` moves them (the tests
#: give a full run its own, so it never touches the checkout's).
WORK_DIR = Path(os.environ.get(kcm.WORK_DIR.name) or WORK_ROOT)
#: The result cache (`matrix/cache.py`): ignored, outside the committed tree; `KCM_CACHE_DIR`
#: moves it (the tests give each run their own).
CACHE_DIR = Path(os.environ.get(kcm.CACHE_DIR.name) or WORK_ROOT / "cache")
DEFAULT_TIMEOUT_S = 120
#: Written in a run virtualenv once its installs succeeded: the hash of what was installed.
INSTALL_STAMP = "kcm-install.stamp"
#: Beside each store of the cache: the plan that served every cell of the last run file.
UP_TO_DATE = ".up-to-date.json"

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


def _install_digest(environment: Environment, run_group: list[str]) -> str | None:
    """The hash of what the run virtualenv must hold; None when it is not fully resolved.

    Only an environment with a pins file (`nox -s pins`) is resolved to exact versions; one
    without (its requirements are ranges) is installed every time, so pip may move it on.
    """
    if not environment.pins.exists():
        return None
    return hashlib.sha256(json.dumps({
        "run_group": run_group, "pins": environment.pins.read_text(encoding="utf-8"),
        "pre": environment.pre, "python": sys.version_info[:2],
    }).encode()).hexdigest()


def _installed(session: nox.Session, digest: str | None) -> Path | None:
    """The install stamp of the session's virtualenv; None when there is none to write."""
    location = getattr(session.virtualenv, "location", None)
    return Path(location) / INSTALL_STAMP if location and digest else None


def _install_once(session: nox.Session, *requirements: str) -> None:
    """`session.install(*requirements)`, skipped when the virtualenv's install stamp says it
    already ran with exactly these requirements and this Python (pip would change nothing:
    it does not upgrade what already satisfies a range)."""
    digest = hashlib.sha256(json.dumps({"requirements": requirements,
                                        "python": sys.version_info[:2]}).encode()).hexdigest()
    stamp = _installed(session, digest)
    if stamp is not None and stamp.exists() and \
            stamp.read_text(encoding="utf-8").strip() == digest:
        session.log(f"the virtualenv holds {', '.join(requirements)} (install stamp): pip "
                    f"skipped; delete {INSTALL_STAMP} to reinstall")
        return
    if stamp is not None:
        stamp.unlink(missing_ok=True)
    session.install(*requirements)
    if stamp is not None:
        stamp.write_text(digest + "\n", encoding="utf-8")


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


def _fold_args(catalogs: list[str]) -> list[str]:
    return [arg for path in catalogs for arg in ("--catalog", path)]


def _run_options(session: nox.Session, posargs: list[str]) -> RunOptions:
    """The validated harness options; a bad one ends the session with one line naming it."""
    try:
        return parse_run_options(posargs, root=ROOT, default_output=LOCAL_RUNS_DIR,
                                 default_timeout=str(DEFAULT_TIMEOUT_S))
    except OptionError as exc:
        session.error(str(exc))


def _lock(session: nox.Session, environment: str, suffix: str) -> FileLock:
    """The lock of one environment (and shard): its work folder and run files are one run's.

    A second run of the same environment stops at once with a message naming the lock,
    instead of interleaving its report log and run file with the first one's.
    """
    path = WORK_DIR / f"{environment}{suffix}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(path, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        session.error(f"{environment}: another run of this environment is in progress (it "
                      f"holds {_shown(path)}); wait for it to end, then run again")
    return lock


@nox.session(tags=["run"])
@nox.parametrize(("backend", "device", "channel"), _params())
def run(session: nox.Session, backend: str, device: str, channel: str) -> None:
    """Run the case catalog on one backend and device; write reports/local/runs/<env>.json."""
    environment = _find(backend, device, channel)
    options = _run_options(session, list(session.posargs))
    mode, fresh_compile = options.resume, options.fresh_compile
    lock = _lock(session, environment.id, options.suffix)
    try:
        _run_locked(session, environment, mode, options, fresh_compile=fresh_compile)
    finally:
        lock.release()


def _run_locked(session: nox.Session, environment: Environment, mode: ResumeMode,
                options: RunOptions, *, fresh_compile: bool = False) -> None:
    out_dir, shard, suffix = options.output, options.shard_arg, options.suffix
    run_file = run_file_for(options, environment.id)
    if run_file.name != f"{environment.id}{suffix}.json":
        session.log(f"{environment.id}: a slice of the catalog: writing {run_file.name}, "
                    f"beside the full run {environment.id}{suffix}.json, which stays")
    timeout = options.timeout
    catalogs = [str(p) for p in options.catalogs]
    pytest_args = list(options.pytest_args)
    session.chdir(ROOT)
    run_group = list(nox.project.dependency_groups(PYPROJECT, "run"))
    digest = _install_digest(environment, run_group)
    stamp = _installed(session, digest)
    skip_pip = stamp is not None and stamp.exists() and \
        stamp.read_text(encoding="utf-8").strip() == digest
    if skip_pip:
        session.log(f"{environment.id}: the virtualenv holds exactly {environment.pins.name} "
                    f"(install stamp): pip skipped; delete {INSTALL_STAMP} to reinstall")
    if not skip_pip and stamp is not None:
        stamp.unlink(missing_ok=True)  # written again only once both installs succeed
    if not skip_pip and not _install_or_record(
            session, environment, run_file, catalogs,
            lambda **kw: session.install(*run_group, **kw)):
        session.error(f"{environment.id}: install failed; recorded in {run_file}")
    if environment.device == "gpu":
        visible, detail = gpu_visible()
        if not visible:
            keep, message = gpu_run_to_keep(run_file, ROOT)
            if keep:
                session.warn(f"{detail}; {message}.")
                return
            _run_writing(session, run_file, catalogs,
                         "python", "-m", "matrix.results", "not-run", "--environment",
                         environment.id, "--reason", detail, "--output", str(run_file),
                         *_fold_args(catalogs))
            session.warn(f"{environment.id}: {detail}; every cell is recorded as not_run.")
            return
    if not skip_pip and not _install_or_record(
            session, environment, run_file, catalogs,
            lambda **kw: _install_environment(session, environment, **kw)):
        session.error(f"{environment.id}: install failed; recorded in {run_file}")
    if not skip_pip and stamp is not None and digest is not None:
        stamp.write_text(digest + "\n", encoding="utf-8")
    # Keyed by shard and selection: another slice never clears this one's interrupted run.
    work = work_dir_for(options, environment.id, WORK_DIR)
    # An interrupted run's results are kept (pytest-reportlog flushes each report); only the
    # cases without one run again. A finished run, new sources, pins or --fresh start clean.
    settings = [*environment.requirements, *pytest_args, *(["--shard", shard] if shard else []),
                *(["--fresh-compile"] if fresh_compile else []),
                *([] if options.sampled else ["--full"])]
    fingerprint = source_fingerprint(run_sources(ROOT, environment.pins, catalogs), settings)
    log = work / "report-log.jsonl"
    artifacts = out_dir.parent / "artifacts"
    seed_artifacts(PUBLISHED_DIR / "artifacts", artifacts)
    env = {**environment.run_variables(workdir=work, artifacts_root=artifacts,
                                       commit=_git_commit()),
           "PYTHONDONTWRITEBYTECODE": "1", kcm.RUN_STORE.name: str(CACHE_DIR),
           kcm.NO_CACHE.name: "0" if options.cache else "1",
           kcm.COMPILE_TIMEOUT.name: options.compile_timeout,
           SAMPLE_VARIABLE: "1" if options.sampled else "0"}
    # `--fresh-compile`: torch's on-disk compile caches off, in a folder of this run's own
    # (with the caches off Inductor still leaves a temporary folder per compile there).
    compile_folder = fresh_compile_folder(WORK_DIR, environment.id + suffix)
    if fresh_compile and environment.backend not in CACHED_BACKENDS:
        session.log(f"{environment.id}: --fresh-compile changes nothing here: "
                    f"{environment.backend} keeps no on-disk compile cache by default")
    fresh_compile = fresh_compile and environment.backend in CACHED_BACKENDS
    if fresh_compile:
        env.update(fresh_compile_variables(environment.backend, compile_folder))
    fold_only = unfolded(work, mode, fingerprint)
    # Nothing to do when the last run was folded and the cache would serve it all again.
    if _may_skip(mode, options) and not fold_only and (work / FOLDED).exists() and \
            _up_to_date(session, environment, run_file, catalogs, env):
        return
    if fold_only:  # killed after pytest finished, before the run file was written
        session.log(f"{environment.id}: the last run finished but its run file was never "
                    f"written: folding its report log ({log}) without rerunning any case")
    else:
        done = prepare(work, mode, fingerprint)
        if done:
            session.log(f"{environment.id}: resuming: {len(done)} cases recorded by the "
                        "interrupted run are kept; pass --fresh to start clean")
    retry = work / "retry"
    if not fold_only:
        shutil.rmtree(retry, ignore_errors=True)
        session.log(f"{environment.id}: running the catalog "
                    f"({', '.join(environment.requirements)}), {options.jobs} worker(s)"
                    f"{'' if options.cache else ', cache off (--no-cache)'}"
                    f"{', compile caches off (--fresh-compile)' if fresh_compile else ''}")
        if fresh_compile:
            empty_folder(compile_folder)
        # matrix.supervise runs pytest in its own process group and ends it if nox is killed,
        # even before the supervisor could ask for its parent (`--parent`, `_supervised`).
        session.run(
            "python", "-m", "matrix.supervise", *_supervised(),
            "python", "-m", "pytest", "cases/test_cases.py", *run_pytest_args(options.jobs),
            f"--timeout={timeout}", f"--report-log={log}",
            f"--junitxml={out_dir.parent / 'junit' / (environment.id + suffix + '.xml')}",
            *_fold_args(catalogs), *(["--shard", shard] if shard else []), *pytest_args,
            env=env, success_codes=[0, 1, 2, 5],  # case failures are data, not session failures
        )
        _retry_timeouts(session, environment, log, retry, env, timeout, catalogs, pytest_args)
        if fresh_compile:
            shutil.rmtree(compile_folder, ignore_errors=True)
    finish(work)
    selection = options.selection
    # The report log stays until the run file is written: a kill before mark_folded leaves
    # a log that the next run folds again (`unfolded`).
    retry_log = retry / "report-log.jsonl"
    # A fold that exits 0 without writing the run file fails the session (`_run_writing`).
    _run_writing(session, run_file, catalogs,
                 "python", "-m", "matrix.results", "fold", "--environment", environment.id,
                 "--log", str(log), "--output", str(run_file), *_fold_args(catalogs),
                 *(["--shard", shard] if shard else []), "--cache", str(CACHE_DIR),
                 *(["--retry-log", str(retry_log)] if retry_log.exists() else []),
                 *([f"--selection={json.dumps(selection)}"] if selection else []), env=env,
                 then=f", and the work folder {work} is kept: the next run resumes or "
                      "folds it")
    mark_folded(work)
    if _may_skip(mode, options):
        _stamp_up_to_date(session, environment, run_file, catalogs, env)


def _file_state(path: Path) -> tuple[int, int, int] | None:
    """What changes when `path` is written again (it is replaced: a new inode); None if absent."""
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_ino, info.st_mtime_ns, info.st_size


def _run_writing(session: nox.Session, run_file: Path, catalogs: list[str], *args: str,
                 then: str = "", **kwargs: Any) -> None:
    """`session.run(*args, **kwargs)` of a command that writes `run_file` (the fold,
    `not-run`); the session fails when the command exits 0 but did not write it.

    Code the command imports can end its process with status 0 before it writes anything:
    a user catalog calling `os._exit(0)` at import (`cases.load` refuses that by name, but
    not, say, through ctypes). The run would then look successful, with the previous run's
    file or none. The previous file is left as it was; `then` says what happens next.
    """
    before = _file_state(run_file)
    if session.run(*args, **kwargs) is None:
        return  # `nox --install-only`: nox skipped the command, so nothing was to be written
    after = _file_state(run_file)
    if after is not None and after != before:
        return
    command = " ".join(args[:4])
    suspects = (f"; it loaded the user catalog(s) {', '.join(catalogs)}: one may end the "
                "process at import (os._exit)" if catalogs else "")
    kept = "the previous run file is unchanged" if before else "there was no run file before"
    session.error(f"`{command}` exited with status 0 without writing {run_file}{suspects}. "
                  f"Nothing was lost: {kept}{then}")


def _supervised() -> tuple[str, ...]:
    """The arguments of `python -m matrix.supervise` before the command: the pid of nox, the
    process that `session.run` starts it from, so a nox killed while the supervisor starts
    is noticed there and no pytest is left behind (`matrix/supervise.py`)."""
    return ("--parent", str(os.getpid()), "--")


def _may_skip(mode: ResumeMode, options: RunOptions) -> bool:
    """Whether a run may be skipped as up to date: a full run (no slice, no shard) with the
    cache on, neither `--fresh` nor `--resume` asked."""
    return mode == "auto" and options.cache and options.selection is None and \
        options.shard is None


def _fresh_stamp(environment: Environment) -> Path:
    return CACHE_DIR / f"{environment.id}{UP_TO_DATE}"


def _plan_summary(session: nox.Session, environment: Environment, catalogs: list[str],
                  env: dict[str, str]) -> dict[str, Any] | None:
    """`python -m matrix.cache plan` in the run virtualenv: what a run would execute.

    None when it cannot say (e.g. a catalog that does not load): the run goes on as
    usual, and pytest's collection reports the problem with its file name.
    """
    out = session.run("python", "-m", "matrix.cache", "plan", "--environment",
                      environment.id, *_fold_args(catalogs), env=env, silent=True,
                      success_codes=list(range(256)))
    lines = str(out or "").strip().splitlines()
    try:
        summary = json.loads(lines[-1]) if lines else None
    except ValueError:
        return None
    return summary if isinstance(summary, dict) else None


def _up_to_date(session: nox.Session, environment: Environment, run_file: Path,
                catalogs: list[str], env: dict[str, str]) -> bool:
    """Whether the run file already holds what a run would write: then nothing runs.

    True when the last run of this environment wrote `run_file` (its SHA-256 is the one
    recorded then, in `reports/.work/cache/<environment>.up-to-date.json`) and the cache
    would serve every case with exactly the keys and results it would have served then
    (`matrix.cache.plan_digest`): same cases, programs, references, harness, installed
    distributions, saved models. pytest is not started, so the environment check of the
    run file is the one of that run.
    """
    from matrix.cache import read_json
    from matrix.cache_key import file_digest

    stamp = read_json(_fresh_stamp(environment))
    if not isinstance(stamp, dict) or stamp.get("run_file") != str(run_file) or \
            file_digest(run_file) != stamp.get("run_file_sha256"):
        return False
    summary = _plan_summary(session, environment, catalogs, env)
    if not summary or summary.get("to_run") != 0 or summary.get("digest") != stamp.get("plan"):
        return False
    session.log(f"{environment.id}: up to date: all {summary.get('cases')} cells of "
                f"{_shown(run_file)} come from the cache with the keys of its run "
                f"({stamp.get('written', '?')}); nothing ran. `--fresh` checks the "
                "environment again; `--no-cache` runs every case")
    return True


def _stamp_up_to_date(session: nox.Session, environment: Environment, run_file: Path,
                      catalogs: list[str], env: dict[str, str]) -> None:
    """After a fold: records the plan that would now serve every cell, if one would."""
    from matrix.cache import write_json
    from matrix.cache_key import file_digest

    stamp = _fresh_stamp(environment)
    summary = _plan_summary(session, environment, catalogs, env)
    sha = file_digest(run_file)
    if not summary or summary.get("to_run") != 0 or sha is None:
        stamp.unlink(missing_ok=True)
        return
    try:
        write_json(stamp, {"plan": summary.get("digest"), "run_file": str(run_file),
                           "run_file_sha256": sha,
                           "written": datetime.now(UTC).strftime("%Y-%m-%dT%H:%MZ")})
    except OSError as exc:  # a full disk under the cache: the run file is already written
        session.warn(f"{environment.id}: the up-to-date stamp could not be written ({exc}); "
                     "the next run checks every cell again")


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def _retry_timeouts(session: nox.Session, environment: Environment, log: Path, retry: Path,
                    env: dict[str, str], timeout: str, catalogs: list[str],
                    pytest_args: list[str]) -> None:
    """Runs the cases that timed out once more, alone (one worker, nothing beside them).

    A slow compile under load is not a hang: only a case that times out again is `timeout`;
    one whose verdict changes is flaky, both attempts kept (`matrix.results.with_retries`).
    """
    cases = timed_out_cases(log)
    if not cases:
        return
    retry.mkdir(parents=True, exist_ok=True)
    ids = retry / "retry-ids.json"
    ids.write_text(json.dumps(cases), encoding="utf-8")
    session.log(f"{environment.id}: {len(cases)} case(s) timed out; running them again alone")
    session.run(
        "python", "-m", "matrix.supervise", *_supervised(),
        "python", "-m", "pytest", "cases/test_cases.py", *run_pytest_args(1),
        f"--timeout={timeout}", f"--report-log={retry / 'report-log.jsonl'}",
        *_fold_args(catalogs), *pytest_args,
        env={**env, kcm.RUN_DIR.name: str(retry), kcm.RETRY_IDS.name: str(ids),
             kcm.RUN_STORE.name: ""},
        success_codes=[0, 1, 2, 5],
    )


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
    """Fold the local run files into reports/local/compatibility.{md,html,json}."""
    _install_once(session, *nox.project.dependency_groups(PYPROJECT, "report"))
    session.chdir(ROOT)
    # Later options win (argparse), so `nox -s report -- --runs DIR --out DIR` overrides these.
    session.run("python", "-m", "matrix.report", "--runs", str(LOCAL_RUNS_DIR),
                "--out", str(LOCAL_DIR), *session.posargs)


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


def _run_exit_2(session: nox.Session, *args: str, passed_on: tuple[int, ...] = (2,)) -> None:
    """Runs a harness command; its exit status 2 (bad input, one line), and those in
    `passed_on`, are nox's too."""
    try:
        session.run(*args)
    except nox.command.CommandFailed as exc:
        if exc.return_code in passed_on:
            # not Exception: nox lets it end the run with that status
            raise SystemExit(exc.return_code) from None
        raise


@nox.session(tags=["bisect"])
def bisect(session: nox.Session) -> None:
    """Find the first Keras release in which a case's cell changed (reports/local/bisect/)."""
    session.install("pip>=25", *nox.project.dependency_groups(PYPROJECT, "report"))
    session.chdir(ROOT)
    _run_exit_2(session, "python", "-m", "matrix.bisect", *session.posargs)


@nox.session(tags=["check"])
def check(session: nox.Session) -> None:
    """Check a saved .keras model layer by layer across backends (reports/local/check/).

    Exit status: 0 agree, 1 disagree, 2 bad input, 3 the model loads on no backend."""
    session.install("pip>=25", *nox.project.dependency_groups(PYPROJECT, "report"))
    session.chdir(ROOT)
    _run_exit_2(session, "python", "-m", "matrix.check", *session.posargs, passed_on=(1, 2, 3))


@nox.session(name="device-rehearsal", tags=["device-rehearsal"])
def device_rehearsal(session: nox.Session) -> None:
    """Rehearse the GPU call (`python -m matrix.device_run`) on the CPU, on `<backend>-cpu`.

    The virtualenv holds only the frameworks, as the lent GPU machine does; Keras and the
    harness's dependencies come from a wheels folder (`--fetch-wheels`, for this Python),
    installed by the script with no index. Arguments after `--` go to the script, e.g.
    `--out DIR --backends jax torch -- -k "rank2 and int32"`.
    """
    frameworks = [r for env_id in ("jax-cpu", "torch-cpu") for r in
                  _find(env_id.split("-")[0], "cpu", "latest").requirements
                  if not r.startswith("keras")]
    _install_once(session, *frameworks)
    session.chdir(ROOT)
    version = str(session.run("python", "-c", "import sys; print('%d.%d' % sys.version_info[:2])",
                              silent=True) or "").strip()
    wheels = WORK_DIR / f"device-wheels-{version}"
    session.run("python", "-m", "matrix.device_run", "--fetch-wheels", str(wheels),
                "--python-version", version)
    session.run("python", "-m", "matrix.device_run", "--device", "cpu", "--wheels",
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
