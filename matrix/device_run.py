"""Run the GPU columns on a machine that has a GPU but no network and no nox.

A lent accelerator machine (or any GPU box) already has Python with the CUDA builds of the
frameworks, and receives Keras and the harness's small dependencies as wheels. This script
runs the same pytest command as the `run` nox session, in this Python, once per backend, with
`KCM_DEVICE=gpu`, and folds each log into `<out>/runs/<backend>-gpu.json`.

It refuses to record anything when no GPU is visible: a GPU cell is `not_run` unless it ran
on a GPU, and the run file records the device name the framework reported. Inside a run,
`test_environment` fails unless the framework itself sees the GPU, and every value cell
fails unless its output tensor (or, for `predict`, the weights) lived on the GPU.

Usage: `python -m matrix.device_run --backends jax torch --out /tmp/out [--timeout 300]
[-- extra pytest args]`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from matrix.environments import RUN_PYTEST_ARGS, get_environment, gpu_visible

ROOT = Path(__file__).resolve().parents[1]
#: Exit status when no GPU is visible: nothing was run and nothing was written.
NO_GPU = 3


def pytest_command(environment: str, log: Path, timeout: int, extra: Sequence[str]
                   ) -> list[str]:
    """The pytest command of one environment's run (the same as the nox `run` session)."""
    return [sys.executable, "-m", "pytest", "cases/test_cases.py", *RUN_PYTEST_ARGS,
            f"--timeout={timeout}", f"--report-log={log}", *extra]


def run_backend(backend: str, out: Path, timeout: int, extra: Sequence[str]) -> Path:
    """Runs the catalog on `<backend>-gpu` and folds it; returns the run file."""
    environment = get_environment(f"{backend}-gpu")
    work = out / "work" / environment.id
    work.mkdir(parents=True, exist_ok=True)
    log = work / "report-log.jsonl"
    run_file = out / "runs" / f"{environment.id}.json"
    env = {**os.environ, **environment.run_variables(
        workdir=work, artifacts_root=out / "artifacts",
        commit=os.environ.get("KCM_GIT_COMMIT", "unknown"))}
    subprocess.run(pytest_command(environment.id, log, timeout, extra), cwd=ROOT, env=env,
                   check=False)
    subprocess.run([sys.executable, "-m", "matrix.results", "fold", "--environment",
                    environment.id, "--log", str(log), "--output", str(run_file)],
                   cwd=ROOT, env=env, check=True)
    return run_file


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the GPU columns; returns 3 without running anything when no GPU is visible."""
    args_in = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in args_in:
        cut = args_in.index("--")
        args_in, extra = args_in[:cut], args_in[cut + 1:]
    parser = argparse.ArgumentParser(prog="python -m matrix.device_run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", nargs="+", default=["jax", "torch"],
                        choices=["tensorflow", "jax", "torch"])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--timeout", type=int, default=300, help="per case, in seconds")
    args = parser.parse_args(args_in)
    visible, detail = gpu_visible()
    if not visible:
        print(f"refusing to record GPU cells: {detail}. Nothing was run or written.",
              file=sys.stderr)
        return NO_GPU
    print(f"GPU: {detail}", flush=True)
    for backend in args.backends:
        run_file = run_backend(backend, args.out, args.timeout, extra)
        print(f"wrote {run_file}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
