"""Run the GPU columns in one call on a machine that has a GPU but no network and no nox.

A lent accelerator machine (or any GPU box) already has Python with the CUDA builds of the
frameworks (JAX, PyTorch), and receives Keras and the harness's small dependencies as a
folder of wheels (`--fetch-wheels DIR`, on a machine with an index; about 30 MB). This script
installs them into a virtualenv that sees the machine's own packages, runs the same pytest
command as the `run` nox session once per backend with `KCM_DEVICE=gpu` and the GPU
variables of `matrix/axes.toml`, and folds each log into `<out>/runs/<backend>-gpu.json`;
everything it runs is logged in `<out>/device_run.log`.

Honest first time:
- It refuses to record anything when no GPU is visible (exit 3): a GPU cell is `not_run`
  unless it ran on a GPU. Inside a run, `test_environment` fails unless the framework itself
  sees the GPU, and every value cell fails unless its output lived on the GPU.
- TF32 is off (`matrix/run/gpu.py`; `--tf32` runs with it on, into `<out>/runs-tf32/`), and the
  run file records the GPU, driver, CUDA, cuDNN, TF32 and determinism settings.
- What does not fit the time box is cut and says so: its cells are `not_run` with the
  measured reason (`cuts`), never missing. `--full` runs everything.
- A device-side assert costs its own cell: the worker is replaced (`matrix/run/crash.py`).

`--device cpu` is the rehearsal: the same code path on `<backend>-cpu` (no GPU check), so the
real call is a formality (`nox -s device-rehearsal`, tests/test_device_run_e2e.py).

Usage: `python -m matrix.run.device_run --out /tmp/out --wheels /tmp/wheels [--backends jax torch]
[--jobs 8] [--budget 540] [-- extra pytest args]`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from matrix import variables as kcm
from matrix.environments import (
    AXES_PATH,
    Environment,
    get_environment,
    gpu_visible,
    run_pytest_args,
)

ROOT = Path(__file__).resolve().parents[2]
#: Exit status when no GPU is visible: nothing was run and nothing was written.
NO_GPU = 3
#: The wheels folder must travel to a lent machine with the working tree (64 MiB in all).
WHEELS_LIMIT_BYTES = 48 << 20
#: The lent machine's Python (`--fetch-wheels` downloads wheels for it).
GPU_PYTHON = "3.12"
#: The time box of one lent-machine command is 10 minutes; this leaves room for the
#: virtualenv, the installs and the folds.
DEFAULT_BUDGET_S = 540
#: Where the CPU run files that `cuts` measures from live.
PUBLISHED_RUNS = ROOT / "reports" / "runs"
#: Modes cut from a timed run by default, per backend, with why (the measurement is added).
CUT_MODES: dict[str, dict[str, str]] = {
    "torch": {"jit_compile": (
        "torch.compile compiles each model with Inductor (C++ on a CPU, Triton on a GPU): "
        "it does not fit the 10-minute GPU run with the rest, and on a GPU it needs Triton "
        "and a C++ compiler the lent machine may lack, an environment error that is no "
        "backend divergence")},
    "jax": {"jit_compile": (
        "jax.jit compiles each model for the device: in the jax-gpu run of 2026-12-04 (2,037 "
        "cases) its cells took 188 of the 626 s of cell time, and with the keras.ops dtype "
        "family in the catalog (5,944 cases more) the rest alone fills the column's share of "
        "the 10-minute call")},
}


def pytest_command(environment: str, log: Path, timeout: int, extra: Sequence[str],
                   *, python: str = sys.executable, jobs: int = 1) -> list[str]:
    """The pytest command of one environment's run (the same as the nox `run` session)."""
    return [python, "-m", "pytest", "matrix/run/test_cases.py", *run_pytest_args(jobs),
            f"--timeout={timeout}", f"--report-log={log}", *extra]


def measured(backend: str, mode: str, runs: Path = PUBLISHED_RUNS) -> tuple[int, float] | None:
    """(cells, seconds) a mode took in `<backend>-cpu.json`'s run, or None without one."""
    try:
        run = json.loads((runs / f"{backend}-cpu.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    modes = {c["id"]: c.get("axes", {}).get("mode") for c in run.get("cases", [])}
    times = [float(r.get("duration_s") or 0.0) for r in run.get("results", [])
             if modes.get(r.get("case")) == mode]
    return (len(times), sum(times)) if times else None


def cuts(backend: str, full: bool, runs: Path = PUBLISHED_RUNS) -> dict[str, str]:
    """The modes a timed run of `backend` does not run, each with its reason ({} if `full`)."""
    if full:
        return {}
    found = {}
    for mode, why in CUT_MODES.get(backend, {}).items():
        took = measured(backend, mode, runs)
        seen = (f"; its {took[0]} cells took {took[1]:.0f} s on {backend}-cpu "
                f"(reports/runs/{backend}-cpu.json)") if took else ""
        found[mode] = (f"cut from the timed GPU run (python -m matrix.run.device_run): {why}"
                       f"{seen}; `--full` runs them")
    return found


def estimate_s(backend: str, cut: dict[str, str], jobs: int,
               runs: Path = PUBLISHED_RUNS) -> float | None:
    """The CPU run's seconds for the cells kept, spread over `jobs` workers; None unmeasured."""
    try:
        run = json.loads((runs / f"{backend}-cpu.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    modes = {c["id"]: c.get("axes", {}).get("mode") for c in run.get("cases", [])}
    total = sum(float(r.get("duration_s") or 0.0) for r in run.get("results", [])
                if modes.get(r.get("case")) not in cut)
    return total / max(jobs, 1)


def requirements() -> list[str]:
    """Keras (axes.toml's common pin) and the `run` dependency group of pyproject.toml."""
    axes = tomllib.loads(AXES_PATH.read_text(encoding="utf-8"))
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return [*axes["common"]["requirements"], *project["dependency-groups"]["run"]]


def fetch_wheels(folder: Path, python_version: str) -> int:
    """Downloads the wheels of `requirements()` for `python_version` on x86-64 Linux.

    Returns:
        0 when the folder holds them within `WHEELS_LIMIT_BYTES`; 2 otherwise (pip's exit
        status when it failed).
    """
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--only-binary=:all:", "--python-version",
         python_version, "--platform", "manylinux_2_28_x86_64", "--platform",
         "manylinux_2_17_x86_64", "--platform", "manylinux2014_x86_64", "-d", str(folder),
         *requirements()], check=False)
    if done.returncode != 0:
        return done.returncode
    size = sum(p.stat().st_size for p in folder.glob("*.whl"))
    print(f"{folder}: {len(list(folder.glob('*.whl')))} wheels, {size / 2**20:.1f} MiB")
    if size > WHEELS_LIMIT_BYTES:
        print(f"error: more than {WHEELS_LIMIT_BYTES >> 20} MiB of wheels", file=sys.stderr)
        return 2
    return 0


def _log(out: TextIO, line: str) -> None:
    print(line, flush=True)
    out.write(line + "\n")
    out.flush()


def _run(command: Sequence[str], log: TextIO, *, env: dict[str, str] | None = None,
         timeout: float | None = None) -> int | None:
    """Runs a command into the log, in its own process group; None when it ran out of time
    (the whole group is then ended: pytest and its workers)."""
    log.write(f"$ {' '.join(command)}\n")
    log.flush()
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(proc.pid, sig)
                proc.wait(timeout=10)
                break
            except (ProcessLookupError, subprocess.TimeoutExpired):
                continue
        return None


def install(wheels: Path, venv: Path, log: TextIO) -> str:
    """A virtualenv that sees this Python's packages, with the missing ones from `wheels`.

    The frameworks' CUDA builds stay the machine's (`--system-site-packages`, and a `.pth`
    naming this interpreter's own site-packages when it is itself a virtualenv); pip installs
    from the folder only what is missing, with no index.

    Returns:
        The virtualenv's Python.

    Raises:
        RuntimeError: the virtualenv or the install failed; the log says why.
    """
    if _run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip",
             str(venv)], log) != 0:
        raise RuntimeError(f"could not create the virtualenv {venv}")
    python = venv / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; "
                           "print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    paths = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (Path(site) / "_kcm_base_site.pth").write_text("\n".join(paths) + "\n", encoding="utf-8")
    if _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-index",
             "--find-links", str(wheels), *requirements()], log,
            env={**os.environ, "PIP_CONFIG_FILE": os.devnull}) != 0:
        raise RuntimeError(f"pip could not install {', '.join(requirements())} from {wheels}")
    return str(python)


def run_backend(environment: Environment, out: Path, *, python: str, jobs: int,
                timeout: int, cut: dict[str, str], tf32: bool, budget_s: float,
                extra: Sequence[str], log: TextIO) -> Path:
    """Runs the catalog on one environment and folds it; returns the run file."""
    work = out / "work" / environment.id
    work.mkdir(parents=True, exist_ok=True)
    report_log = work / "report-log.jsonl"
    run_file = out / ("runs-tf32" if tf32 else "runs") / f"{environment.id}.json"
    env = {**os.environ, **environment.run_variables(
        workdir=work, artifacts_root=out / "artifacts",
        commit=os.environ.get(kcm.GIT_COMMIT.name, "unknown")),
        kcm.COMPILE_TIMEOUT.name: str(timeout * 3), "PYTHONDONTWRITEBYTECODE": "1"}
    if cut:
        env[kcm.NOT_RUN_MODES.name] = json.dumps(cut)
    if tf32:  # the frameworks' defaults: TF32 allowed where the GPU has it
        env[kcm.TF32.name] = "on"
        env.pop("NVIDIA_TF32_OVERRIDE", None)
        env.pop("JAX_DEFAULT_MATMUL_PRECISION", None)
    status = _run(pytest_command(environment.id, report_log, timeout, extra, python=python,
                                 jobs=jobs), log, env=env, timeout=budget_s)
    if status is None:
        _log(log, f"{environment.id}: the time box ({budget_s:.0f} s) ran out; the cases "
                  "with no result are recorded as such")
    selection = ["--selection", json.dumps({"pytest_args": list(extra), "catalogs": []})] \
        if extra else []
    if status is None:
        selection += ["--stopped", f"the time box of python -m matrix.run.device_run "
                                   f"({budget_s:.0f} s for {environment.id}) ran out"]
    if _run([python, "-m", "matrix.results", "fold", "--environment", environment.id,
             "--log", str(report_log), "--output", str(run_file), *selection], log,
            env=env) != 0:
        raise RuntimeError(f"the fold of {environment.id} failed; see the log")
    return run_file


def _summary(run_file: Path) -> str:
    data: dict[str, Any] = json.loads(run_file.read_text(encoding="utf-8"))
    counts: dict[str, int] = {}
    for result in data["results"]:
        counts[result["outcome"]] = counts.get(result["outcome"], 0) + 1
    facts = data["environment"]["provenance"].get("device_facts") or {}
    return (f"{run_file}: {len(data['results'])} cells "
            f"({', '.join(f'{n} {k}' for k, n in sorted(counts.items()))}); "
            f"device {data['environment']['provenance'].get('device_name')!r}, "
            f"driver {facts.get('driver')}, CUDA {facts.get('cuda')}, cuDNN "
            f"{facts.get('cudnn')}, TF32 {facts.get('tf32')}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m matrix.run.device_run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", nargs="+", default=["jax", "torch"],
                        choices=["tensorflow", "jax", "torch"])
    parser.add_argument("--out", type=Path, help="run files, work folders and the log")
    parser.add_argument("--wheels", type=Path, default=None,
                        help="install what is missing from this folder (no index)")
    parser.add_argument("--device", choices=["gpu", "cpu"], default="gpu",
                        help="cpu: the rehearsal, on <backend>-cpu with no GPU check")
    parser.add_argument("--jobs", type=int, default=max(1, min(8, (os.cpu_count() or 2) // 2)),
                        help="xdist workers per backend (default: half the cores, at most 8)")
    parser.add_argument("--timeout", type=int, default=120, help="per case, in seconds")
    parser.add_argument("--budget", type=float, default=DEFAULT_BUDGET_S,
                        help="seconds for all backends' pytest runs together")
    parser.add_argument("--full", action="store_true", help="cut nothing (CUT_MODES)")
    parser.add_argument("--tf32", action="store_true",
                        help="run with TF32 allowed; run files go to <out>/runs-tf32/")
    parser.add_argument("--fetch-wheels", type=Path, default=None, metavar="DIR",
                        help="only download the wheels for --python-version into DIR")
    parser.add_argument("--python-version", default=GPU_PYTHON)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the GPU columns; returns 3 without running anything when no GPU is visible."""
    args_in = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in args_in:
        cut_at = args_in.index("--")
        args_in, extra = args_in[:cut_at], args_in[cut_at + 1:]
    parser = _parser()
    args = parser.parse_args(args_in)
    if args.fetch_wheels is not None:
        return fetch_wheels(args.fetch_wheels, args.python_version)
    if args.out is None:
        parser.error("--out is required")
    if args.device == "gpu":
        visible, detail = gpu_visible()
        if not visible:
            print(f"refusing to record GPU cells: {detail}. Nothing was run or written.",
                  file=sys.stderr)
            return NO_GPU
    else:
        detail = "a CPU rehearsal: <backend>-cpu environments, no GPU"
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    with (out / "device_run.log").open("a", encoding="utf-8") as log:
        _log(log, f"device: {detail}")
        python = sys.executable
        if args.wheels is not None:
            shutil.rmtree(out / "venv", ignore_errors=True)
            python = install(args.wheels.resolve(), out / "venv", log)
            _log(log, f"installed from {args.wheels} into {out / 'venv'}")
        deadline = time.monotonic() + args.budget
        for index, backend in enumerate(args.backends):
            environment = get_environment(f"{backend}-{args.device}")
            cut = cuts(backend, args.full)
            guess = estimate_s(backend, cut, args.jobs)
            _log(log, f"{environment.id}: {args.jobs} workers; the CPU run's cells kept "
                      f"would take {'?' if guess is None else f'{guess:.0f}'} s over them"
                      + "".join(f"; {mode} not run: {why}" for mode, why in cut.items()))
            # An equal share of what is left: a backend that ends early leaves its rest to
            # the next one; one that overruns is stopped, and the next still runs.
            left = (deadline - time.monotonic()) / (len(args.backends) - index)
            run_file = run_backend(environment, out, python=python, jobs=args.jobs,
                                   timeout=args.timeout, cut=cut, tf32=args.tf32,
                                   budget_s=max(left, 30.0), extra=extra, log=log)
            _log(log, _summary(run_file))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
