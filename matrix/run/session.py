"""The logic of the nox sessions (`noxfile.py` keeps the sessions only): install, run, fold.

Runs in the process of nox, never in a run's virtualenv: it imports nox, filelock and the
standard-library modules of the harness alone (no Keras, no NumPy, no pydantic; a test loads
the noxfile with those blocked). Each environment's cases run in a pytest process of their
own (`python -m matrix.run.supervise ... pytest matrix/run/test_cases.py`), and the fold in another
(`python -m matrix.results fold`).

Arguments after `--` of `nox -s run`: parsed by `matrix.run.runfiles.parse_run_options`
(documented in docs/reruns-and-cache.md and the noxfile's docstring).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nox
from filelock import FileLock, Timeout

from matrix import variables as kcm
from matrix.environments import Environment, gpu_visible, load_environments, run_pytest_args
from matrix.run.compile_cache import (
    CACHED_BACKENDS,
    empty_folder,
    fresh_compile_folder,
    fresh_compile_variables,
)
from matrix.run.costs import SAMPLE_VARIABLE
from matrix.run.install import (
    INSTALL_STAMP,
    fold_args,
    install_digest,
    install_environment,
    install_or_record,
    installed,
)
from matrix.run.resume import (
    FOLDED,
    finish,
    mark_folded,
    prepare,
    run_sources,
    source_fingerprint,
    timed_out_cases,
    unfolded,
)
from matrix.run.runfiles import (
    LOCAL_RUNS_DIR,
    PUBLISHED_DIR,
    WORK_ROOT,
    OptionError,
    RunOptions,
    gpu_run_to_keep,
    parse_run_options,
    run_file_for,
    seed_artifacts,
    work_dir_for,
)

#: The repository root (the folder of `noxfile.py`).
ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = nox.project.load_toml(ROOT / "pyproject.toml")
ENVIRONMENTS = load_environments()
#: Work folders (report logs, resume state, locks); `KCM_WORK_DIR` moves them (the tests
#: give a full run its own, so it never touches the checkout's).
WORK_DIR = Path(os.environ.get(kcm.WORK_DIR.name) or WORK_ROOT)
#: The result cache (`matrix/run/cache.py`): ignored, outside the committed tree; `KCM_CACHE_DIR`
#: moves it (the tests give each run their own).
CACHE_DIR = Path(os.environ.get(kcm.CACHE_DIR.name) or WORK_ROOT / "cache")
#: Seconds per case unless `--timeout` says otherwise.
DEFAULT_TIMEOUT_S = 120
#: Beside each store of the cache: the plan that served every cell of the last run file.
UP_TO_DATE = ".up-to-date.json"


def git_commit() -> str:
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=ROOT, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("-dirty" if dirty.strip() else "")


def find_environment(backend: str, device: str, channel: str) -> Environment:
    """The environment of `matrix/axes.toml` with these axes.

    Raises:
        ValueError: when `matrix/axes.toml` declares none.
    """
    for environment in ENVIRONMENTS:
        if (environment.backend, environment.device, environment.channel) == (
                backend, device, channel):
            return environment
    raise ValueError(f"no environment {backend}-{device} ({channel}) in matrix/axes.toml")


def run_options(session: nox.Session, posargs: list[str]) -> RunOptions:
    """The validated harness options; a bad one ends the session with one line naming it."""
    try:
        return parse_run_options(posargs, root=ROOT, default_output=LOCAL_RUNS_DIR,
                                 default_timeout=str(DEFAULT_TIMEOUT_S))
    except OptionError as exc:
        session.error(str(exc))


def lock_environment(session: nox.Session, environment: str, suffix: str) -> FileLock:
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




def run(session: nox.Session, backend: str, device: str, channel: str) -> None:
    """The `run` session: validates the options after `--`, takes the environment's lock,
    installs, runs the catalog in pytest and folds the run file (`run_environment`).

    A bad option or a second run of the same environment ends the session with one line
    (`session.error`) before anything is installed or written.
    """
    environment = find_environment(backend, device, channel)
    options = run_options(session, list(session.posargs))
    lock = lock_environment(session, environment.id, options.suffix)
    try:
        run_environment(session, environment, options)
    finally:
        lock.release()


def run_environment(session: nox.Session, environment: Environment, options: RunOptions
                    ) -> None:
    """Installs, runs the catalog in pytest and folds the run file of one environment."""
    mode, fresh_compile = options.resume, options.fresh_compile
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
    digest = install_digest(environment, run_group)
    stamp = installed(session, digest)
    skip_pip = stamp is not None and stamp.exists() and \
        stamp.read_text(encoding="utf-8").strip() == digest
    if skip_pip:
        session.log(f"{environment.id}: the virtualenv holds exactly {environment.pins.name} "
                    f"(install stamp): pip skipped; delete {INSTALL_STAMP} to reinstall")
    if not skip_pip and stamp is not None:
        stamp.unlink(missing_ok=True)  # written again only once both installs succeed
    if not skip_pip and not install_or_record(
            session, environment, run_file, catalogs,
            lambda **kw: session.install(*run_group, **kw), work_dir=WORK_DIR):
        session.error(f"{environment.id}: install failed; recorded in {run_file}")
    if environment.device == "gpu":
        visible, detail = gpu_visible()
        if not visible:
            keep, message = gpu_run_to_keep(run_file, ROOT)
            if keep:
                session.warn(f"{detail}; {message}.")
                return
            run_writing(session, run_file, catalogs,
                         "python", "-m", "matrix.results", "not-run", "--environment",
                         environment.id, "--reason", detail, "--output", str(run_file),
                         *fold_args(catalogs))
            session.warn(f"{environment.id}: {detail}; every cell is recorded as not_run.")
            return
    if not skip_pip and not install_or_record(
            session, environment, run_file, catalogs,
            lambda **kw: install_environment(session, environment, **kw), work_dir=WORK_DIR):
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
                                       commit=git_commit()),
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
    if _may_skip(options) and not fold_only and (work / FOLDED).exists() and \
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
        # matrix.run.supervise runs pytest in its own process group and ends it if nox is killed,
        # even before the supervisor could ask for its parent (`--parent`, `supervised`).
        session.run(
            "python", "-m", "matrix.run.supervise", *supervised(),
            "python", "-m", "pytest", "matrix/run/test_cases.py", *run_pytest_args(options.jobs),
            f"--timeout={timeout}", f"--report-log={log}",
            f"--junitxml={out_dir.parent / 'junit' / (environment.id + suffix + '.xml')}",
            *fold_args(catalogs), *(["--shard", shard] if shard else []), *pytest_args,
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
    # A fold that exits 0 without writing the run file fails the session (`run_writing`).
    run_writing(session, run_file, catalogs,
                 "python", "-m", "matrix.results", "fold", "--environment", environment.id,
                 "--log", str(log), "--output", str(run_file), *fold_args(catalogs),
                 *(["--shard", shard] if shard else []), "--cache", str(CACHE_DIR),
                 *(["--retry-log", str(retry_log)] if retry_log.exists() else []),
                 *([f"--selection={json.dumps(selection)}"] if selection else []), env=env,
                 then=f", and the work folder {work} is kept: the next run resumes or "
                      "folds it")
    mark_folded(work)
    if _may_skip(options):
        _stamp_up_to_date(session, environment, run_file, catalogs, env)


def _file_state(path: Path) -> tuple[int, int, int] | None:
    """What changes when `path` is written again (it is replaced: a new inode); None if absent."""
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_ino, info.st_mtime_ns, info.st_size


def run_writing(session: nox.Session, run_file: Path, catalogs: list[str], *args: str,
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


def supervised() -> tuple[str, ...]:
    """The arguments of `python -m matrix.run.supervise` before the command: the pid of nox, the
    process that `session.run` starts it from, so a nox killed while the supervisor starts
    is noticed there and no pytest is left behind (`matrix/run/supervise.py`)."""
    return ("--parent", str(os.getpid()), "--")


def _may_skip(options: RunOptions) -> bool:
    """Whether a run may be skipped as up to date: a full run (no slice, no shard) with the
    cache on, neither `--fresh` nor `--resume` asked."""
    return options.resume == "auto" and options.cache and options.selection is None and \
        options.shard is None


def _fresh_stamp(environment: Environment) -> Path:
    return CACHE_DIR / f"{environment.id}{UP_TO_DATE}"


#: `python -m matrix.run.cache plan`, for the backend `KERAS_BACKEND` names. The keys hold
#: references that follow the running backend's contract (`cases.op_table`: TensorFlow keeps
#: int64 and float64, torch reads a uint32 sum as int32); this process imports no Keras, so it
#: names the backend first (`op_table.assume_backend`), as a run's pytest processes do
#: (`matrix.run.selection`). Without it 928 keras.ops cells of the TensorFlow column had other
#: keys than the run's, and the TensorFlow and PyTorch columns were never up to date. It is
#: `-c` code, not a module of this repository: a module run as `__main__` from outside the
#: harness counts as foreign code in the keys (`cache_key.loaded_elsewhere`).
_PLAN_CODE = ("import os, sys; from cases import op_table; "
              "op_table.assume_backend(os.environ.get('KERAS_BACKEND') or 'tensorflow'); "
              "from matrix.run.cache import main; sys.exit(main(sys.argv[1:]))")


def _plan_summary(session: nox.Session, environment: Environment, catalogs: list[str],
                  env: dict[str, str]) -> dict[str, Any] | None:
    """`python -m matrix.run.cache plan` in the run virtualenv, for the run's backend
    (`_PLAN_CODE`): what a run would execute.

    None when it cannot say (e.g. a catalog that does not load): the run goes on as
    usual, and pytest's collection reports the problem with its file name.
    """
    out = session.run("python", "-c", _PLAN_CODE, "plan", "--environment",
                      environment.id, *fold_args(catalogs), env=env, silent=True,
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
    (`matrix.run.cache.plan_digest`): same cases, programs, references, harness, installed
    distributions, saved models. pytest is not started, so the environment check of the
    run file is the one of that run.
    """
    from matrix.run.cache_key import file_digest
    from matrix.run.store import read_json

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
    from matrix.run.cache_key import file_digest
    from matrix.run.store import write_json

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
    one whose verdict changes is flaky, both attempts kept (`matrix.results.ingest.with_retries`).
    """
    cases = timed_out_cases(log)
    if not cases:
        return
    retry.mkdir(parents=True, exist_ok=True)
    ids = retry / "retry-ids.json"
    ids.write_text(json.dumps(cases), encoding="utf-8")
    session.log(f"{environment.id}: {len(cases)} case(s) timed out; running them again alone")
    session.run(
        "python", "-m", "matrix.run.supervise", *supervised(),
        "python", "-m", "pytest", "matrix/run/test_cases.py", *run_pytest_args(1),
        f"--timeout={timeout}", f"--report-log={retry / 'report-log.jsonl'}",
        *fold_args(catalogs), *pytest_args,
        env={**env, kcm.RUN_DIR.name: str(retry), kcm.RETRY_IDS.name: str(ids),
             kcm.RUN_STORE.name: ""},
        success_codes=[0, 1, 2, 5],
    )


def run_exit_2(session: nox.Session, *args: str, passed_on: tuple[int, ...] = (2,)) -> None:
    """Runs a harness command; its exit status 2 (bad input, one line), and those in
    `passed_on`, are nox's too."""
    try:
        session.run(*args)
    except nox.command.CommandFailed as exc:
        if exc.return_code in passed_on:
            # not Exception: nox lets it end the run with that status
            raise SystemExit(exc.return_code) from None
        raise
