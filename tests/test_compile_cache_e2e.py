"""End-to-end: a `jit_compile` cell observes the same with torch's compile caches warm as with
them off (`--fresh-compile`), on the real `run(torch-cpu)` session.

Three runs of one small slice, every cell executed (`--no-cache`), one worker:

1. caches on (torch's default) in an empty folder of the test's (`TORCHINDUCTOR_CACHE_DIR`):
   every graph is compiled and stored;
2. the same again, in a new process: Inductor's FX graph and AOT autograd caches are warm;
3. `--fresh-compile`: both caches off, every graph compiled from scratch.

Runs 1 and 2 must agree on everything a cell observes and on its verdict. Run 3 must agree with
run 2 on all of it too, except one thing measured in `benchmarks/bench_compile.py`: an index
out of bounds inside a compiled kernel raises "kernel, <folder>/<xx>/<hash>.main.cpp:<line>,
index out of bounds: ...", which names the folder the kernel was written to, the cache folder,
or with the caches off a new temporary folder under it. The kernel's file name (a hash of its
code), the line and the rest of the message must be the same.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from harness import harness_env, work_root

from matrix.records import Result
from matrix.results.io import load_run
from matrix.run.compile_cache import fresh_compile_folder

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[1]
#: An error raised inside an Inductor kernel (its message names the kernel file), a value, and
#: an error Dynamo raises while tracing (no kernel is compiled).
SAMPLE = (
    "embedding-values-rank2-int32-out_of_range-10-none-jit_compile",
    "embedding-values-rank2-int32-negative-1-none-jit_compile",
    "recurrent-simplernn_unroll-simplernn-true-true-rank2-int32-padded-pre-mask_zero-jit_compile",
)
OUT_OF_BOUNDS = SAMPLE[0]
_KERNEL = re.compile(r"kernel, (?P<folder>\S+)/(?P<file>\w{2}/\w+\.main\.cpp):(?P<line>\d+), "
                     r"index out of bounds")


def _run(root: Path, name: str, *extra: str, inductor: Path) -> dict[str, Result]:
    """Runs the slice through nox; returns its cells by case id."""
    env = {**harness_env(root), "TORCHINDUCTOR_CACHE_DIR": str(inductor)}
    out = root / name
    done = subprocess.run(
        [sys.executable, "-m", "nox", "--noxfile", str(ROOT / "noxfile.py"), "-s",
         "run(torch-cpu)", "--", "--output", str(out), "--jobs", "1", "--no-cache",
         *extra, "-k", " or ".join(SAMPLE)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    run = load_run(out / "torch-cpu.json")
    return {r.case: r for r in run.results}


def _seen(result: Result) -> dict[str, Any]:
    """What a cell observed and how it was judged, less its timings."""
    o = result.observed
    return {"kind": o.kind, "error_type": o.error_type, "message": o.message, "shape": o.shape,
            "dtype": o.dtype, "nan_count": o.nan_count, "max_abs_error": o.max_abs_error,
            "device": o.device, "stage": o.stage, "verdict": result.verdict.status,
            "cause": result.verdict.cause}


def test_warm_compile_caches_observe_what_a_fresh_compile_does(tmp_path: Path) -> None:
    inductor = tmp_path / "inductor"
    cold = _run(tmp_path, "cold", inductor=inductor)
    warm = _run(tmp_path, "warm", inductor=inductor)
    fresh = _run(tmp_path, "fresh", "--fresh-compile", inductor=inductor)
    assert sorted(cold) == sorted(warm) == sorted(fresh) == sorted(SAMPLE)
    kinds = {case: cold[case].observed.kind for case in SAMPLE}
    assert kinds == {SAMPLE[0]: "error", SAMPLE[1]: "value", SAMPLE[2]: "error"}

    assert {c: _seen(r) for c, r in warm.items()} == {c: _seen(r) for c, r in cold.items()}

    # The kernel lived in the test's cache folder with the caches on, and in a temporary folder
    # under the run's own folder with them off; the same kernel file, line and message else.
    on = _KERNEL.match(warm[OUT_OF_BOUNDS].observed.message or "")
    off = _KERNEL.match(fresh[OUT_OF_BOUNDS].observed.message or "")
    assert on is not None, warm[OUT_OF_BOUNDS].observed.message
    assert off is not None, fresh[OUT_OF_BOUNDS].observed.message
    assert Path(on["folder"]) == inductor
    assert (inductor / on["file"]).is_file()
    off_folder = fresh_compile_folder(work_root(tmp_path), "torch-cpu")
    assert Path(off["folder"]).parent == off_folder
    assert on["file"] == off["file"]

    def folder_left_out(cells: dict[str, Result]) -> dict[str, dict[str, Any]]:
        seen = {c: _seen(r) for c, r in cells.items()}
        kernel = r"kernel, <folder>/\g<file>:\g<line>, index out of bounds"
        seen[OUT_OF_BOUNDS]["message"] = _KERNEL.sub(kernel, seen[OUT_OF_BOUNDS]["message"])
        return seen

    assert folder_left_out(fresh) == folder_left_out(warm)
    # The run removed the kernels Inductor left with the caches off.
    assert not off_folder.exists()
