"""End-to-end: the GPU call rehearsed on the CPU (`nox -s device-rehearsal`, issue 28, part 5).

The rehearsal's virtualenv holds only the frameworks, as the lent GPU machine does; the
script installs Keras and the harness from a wheels folder with no index, runs a slice on
`jax-cpu` and `torch-cpu` through the code path of the GPU run, and writes run files and a log.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from harness import harness_env

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.e2e
EAGER = "embedding-values-rank2-int32-out_of_range-10-none-eager"
JIT = "embedding-values-rank2-int32-out_of_range-10-none-jit_compile"
FIT = "fit-rank2-int32-in_range-none-fit"
#: `predict` of a model with no weights: its device is Keras's default one (a GPU run
#: failed every such cell as "lived on None" before, 2026-12-04).
PREDICT = "index-ops-take-0-rank1-in_range-int8-predict"


def test_the_device_script_rehearsed_on_the_cpu(tmp_path: Path) -> None:
    out = tmp_path / "out"
    command = [sys.executable, "-m", "nox", "--noxfile", str(ROOT / "noxfile.py"), "-s",
               "device-rehearsal", "--", "--out", str(out), "--backends", "jax", "torch",
               "--jobs", "1", "--", "-k", f"{EAGER} or {JIT} or {FIT} or {PREDICT}"]
    done = subprocess.run(command, cwd=ROOT, env=harness_env(tmp_path), capture_output=True,
                          text=True, timeout=1800, check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    log = (out / "device_run.log").read_text(encoding="utf-8")
    assert "/keras-3.15.1-py3-none-any.whl" in log  # installed from the wheels, no index
    for env_id in ("jax-cpu", "torch-cpu"):
        run = json.loads((out / "runs" / f"{env_id}.json").read_text(encoding="utf-8"))
        env = run["environment"]
        assert env["versions"]["keras"] == "3.15.1"
        assert env["provenance"]["environment_check"]["outcome"] == "passed"
        facts = env["provenance"]["device_facts"]
        assert {k: facts[k] for k in ("gpu_name", "driver", "cuda", "cudnn", "tf32")} == \
            dict.fromkeys(("gpu_name", "driver", "cuda", "cudnn", "tf32"))
        cells = {r["case"]: r for r in run["results"]}
        assert set(cells) == {EAGER, JIT, FIT, PREDICT}
        assert cells[FIT]["outcome"] == "passed"
        assert cells[PREDICT]["outcome"] == "passed"
        assert cells[PREDICT]["observed"]["device"].startswith("cpu")
        assert cells[PREDICT]["observed"]["device"].endswith(
            "(Keras's default device: no weights)")
    torch_jit = {r["case"]: r for r in json.loads(
        (out / "runs" / "torch-cpu.json").read_text(encoding="utf-8"))["results"]}[JIT]
    assert torch_jit["outcome"] == "not_run"
    assert torch_jit["verdict"]["detail"].startswith("cut from the timed GPU run")
    jax_jit = {r["case"]: r for r in json.loads(
        (out / "runs" / "jax-cpu.json").read_text(encoding="utf-8"))["results"]}[JIT]
    # JAX's jit_compile cells are cut too since the keras.ops family joined the catalog
    assert jax_jit["outcome"] == "not_run"
    assert jax_jit["verdict"]["detail"].startswith("cut from the timed GPU run")
