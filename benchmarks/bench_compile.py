"""Benchmark of `torch.compile`'s cost in the PyTorch `jit_compile` cells, and of the ways to
cut it (issue 25, part 1).

A `jit_compile` cell runs `model.compile(jit_compile=True)` then `model.predict`: Keras 3.15.1
wraps its step in `torch.compile(one_step_on_data)` with the default backend, Inductor
(keras/src/backend/torch/trainer.py), and the runner resets Dynamo before every program
(`matrix.run.runner.fresh_keras_state`), so each cell traces and compiles anew. On a sample of the
built-in catalog's `jit_compile` cases (`SAMPLE`: embedding, mask consumers and recurrent
layers, attention, index ops; several groups that build one graph and differ only in input
values), each variant runs the sample in one process of the environment's virtualenv
(`.nox/run-torch-cpu`), exactly as the runner does (`matrix.run.runner.observe`), and records the
time of each case and what it observed:

- `caches_off`: Inductor's on-disk caches off (`TORCHINDUCTOR_FORCE_DISABLE_CACHES=1`): every
  graph is lowered and its C++ compiled from scratch;
- `cold`: torch's defaults (FX graph cache and AOT autograd cache on) in an empty cache
  folder (`TORCHINDUCTOR_CACHE_DIR`): what the first run on a fresh machine pays;
- `warm`: the same folder again, in a new process: the caches warm from an earlier process;
- `shared_graph`: caches off, Dynamo not reset between cases, recompile limits raised (so no
  case falls back to eager): what compiling a graph once and calling it again would give;
- `aot_eager`: Keras's `torch.compile` calls given `backend="aot_eager"` (no Inductor): a
  cheaper backend, measured to be compared, though not what a user of
  `compile(jit_compile=True)` gets.

Each variant's observations (kind, error type and message, shape, dtype, NaN count, max abs
error) are compared with those of `caches_off`, case by case, exactly and with the folder of
Inductor's kernel file left out of messages (an out-of-bounds index in a compiled kernel names
that file, which lives in the cache folder: `KERNEL_PATH`); `warm` is compared exactly with
`cold` (one folder). Writes
`benchmarks/results/compile.json` and prints a table.

Run it with any Python 3.11 (the orchestration needs only the standard library):
`python3 benchmarks/bench_compile.py [--env torch-cpu] [--variant warm ...] [--ids a,b]`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from matrix.environments import Environment, get_environment  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "compile.json"

#: The sample: 21 `jit_compile` cases of the built-in catalog. Groups that build one graph
#: and differ in their input values (in range, out of range, negative, fractional ids; pre
#: and post padding) sit side by side; each family's slow cases (LSTM, GRU, multi-head
#: attention: 10 to 25 s each in the run of 2026-12-01) and fast ones are both in.
SAMPLE: tuple[str, ...] = (
    "embedding-dtype-rank2-int32-in_range-none-jit_compile",
    "embedding-values-rank2-int32-out_of_range-10-none-jit_compile",
    "embedding-values-rank2-int32-negative-1-none-jit_compile",
    "embedding-values-rank2-int32-negative-11-none-jit_compile",
    "embedding-values-rank2-float32-fractional-1.5-none-jit_compile",
    "embedding-values-rank2-float32-fractional-2.7-none-jit_compile",
    "embedding-mask-rank2-int32-padded-pre-mask_zero-output-jit_compile",
    "embedding-mask-rank2-int32-padded-post-mask_zero-output-jit_compile",
    "mask-consumers-lstm-lstm-rank2-int32-padded-pre-mask_zero-jit_compile",
    "mask-consumers-lstm-lstm-rank2-int32-padded-post-mask_zero-jit_compile",
    "mask-consumers-lstm-lstm-rank2-int32-all_padding-post-mask_zero-jit_compile",
    "mask-consumers-gru-gru-rank2-int32-padded-pre-none-jit_compile",
    "mask-consumers-globalmaxpooling1d-globalmaxpooling1d-rank2-int32-padded-pre-none-jit_compile",
    "mask-consumers-globalmaxpooling1d-globalmaxpooling1d-rank2-int32-padded-post-none-jit_compile",
    "recurrent-simplernn_unroll-simplernn-true-true-rank2-int32-padded-pre-mask_zero-jit_compile",
    "recurrent-gru_unroll-gru-true-false-rank2-int32-padded-pre-mask_zero-jit_compile",
    "mask-consumers-multiheadattention-multiheadattention-rank2-int32-padded-pre-mask_zero-"
    "jit_compile",
    "attention-attention-causal-rank2-int32-padded-none-jit_compile",
    "attention-multiheadattention-output-rank2-int32-padded-none-jit_compile",
    "index-ops-take-0-rank2-in_range-int32-jit_compile",
    "index-ops-take-0-rank2-negative-11-int32-jit_compile",
)
#: The variants, in the order they run (`warm` reuses the folder `cold` filled).
VARIANTS: tuple[str, ...] = ("caches_off", "cold", "warm", "shared_graph", "aot_eager")
#: What a cell observes and the judge reads; a variant is acceptable only if all are equal.
COMPARED = ("kind", "error_type", "message", "shape", "dtype", "nan_count", "max_abs_error")
#: The counters torch keeps of its caches (`torch._dynamo.utils.counters`), summed per run.
_COUNTERS = (("inductor", "fxgraph_cache_hit"), ("inductor", "fxgraph_cache_miss"),
             ("inductor", "fxgraph_cache_bypass"), ("aot_autograd", "autograd_cache_hit"),
             ("aot_autograd", "autograd_cache_miss"), ("aot_autograd", "autograd_cache_bypass"),
             ("stats", "unique_graphs"))


def _worker(variant: str, ids: Sequence[str], out: Path) -> int:
    """Runs the cases in this process as the runner does; writes times and observations."""
    import warnings

    warnings.simplefilter("ignore")  # as the run session runs pytest (-p no:warnings)
    start = time.perf_counter()
    import torch
    import torch._dynamo
    from torch._dynamo.utils import counters

    if variant == "shared_graph":
        # Keep Dynamo's compiled code between cases (the runner resets it), and raise the
        # limits that would otherwise make a recompiled function run eagerly, silently.
        torch._dynamo.config.recompile_limit = 10**6
        torch._dynamo.config.accumulated_recompile_limit = 10**6
        torch._dynamo.reset = lambda: None
    if variant == "aot_eager":
        compile_ = torch.compile

        def with_aot_eager(*args: Any, **kwargs: Any) -> Any:
            kwargs.setdefault("backend", "aot_eager")
            return compile_(*args, **kwargs)

        torch.compile = with_aot_eager

    from matrix.oracle.catalog import load_catalog
    from matrix.run.runner import NotApplicable, NotRun, observe

    by_id = {c.id: c for c in load_catalog().cases}
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise SystemExit(f"not in the built-in catalog: {missing}")
    imported = time.perf_counter() - start
    cases: dict[str, Any] = {}
    for case_id in ids:
        t0 = time.perf_counter()
        try:
            observation, _ = observe(by_id[case_id])
            seen = {k: getattr(observation, k) for k in COMPARED}
        except (NotRun, NotApplicable) as exc:
            seen = {"kind": "not_run", "error_type": type(exc).__name__, "message": str(exc)}
        cases[case_id] = {"seconds": round(time.perf_counter() - t0, 3), "observed": seen}
    totals = {f"{group}.{name}": int(counters[group][name]) for group, name in _COUNTERS}
    out.write_text(json.dumps({"import_s": round(imported, 3), "cases": cases,
                               "counters": totals}), encoding="utf-8")
    return 0


def _variables(environment: Environment, variant: str, cache: Path) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items()
            if not k.startswith(("KERAS_", "KCM_", "TORCHINDUCTOR_", "TORCH_COMPILE_"))}
    env = {**keep, **environment.variables(), "PYTHONDONTWRITEBYTECODE": "1"}
    if variant in ("cold", "warm"):
        env["TORCHINDUCTOR_CACHE_DIR"] = str(cache)
    else:  # nothing read from or written to a cache; aot_eager uses no Inductor anyway
        env["TORCHINDUCTOR_FORCE_DISABLE_CACHES"] = "1"
        env["TORCHINDUCTOR_CACHE_DIR"] = str(cache.with_name("unused"))
    return env


def run_variant(environment: Environment, variant: str, ids: Sequence[str], work: Path
                ) -> dict[str, Any]:
    """One variant: the sample in one process of the environment; its figures."""
    python = ROOT / ".nox" / f"run-{environment.id}" / "bin" / "python"
    out = work / f"{variant}.json"
    ids_file = work / "ids.json"
    ids_file.write_text(json.dumps(list(ids)), encoding="utf-8")
    load = os.getloadavg()[0]
    start = time.perf_counter()
    done = subprocess.run([str(python), str(Path(__file__).resolve()), "--worker", variant,
                           "--ids-file", str(ids_file), "--out", str(out)],
                          cwd=ROOT, env=_variables(environment, variant, work / "inductor"),
                          capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0 or not out.exists():
        return {"error": f"exit {done.returncode}", "tail": (done.stdout + done.stderr)[-3000:]}
    figures: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    seconds = [c["seconds"] for c in figures["cases"].values()]
    figures.update(wall_s=round(wall, 2), sum_of_cases_s=round(sum(seconds), 2),
                   load_average_before=round(load, 2),
                   load_average_after=round(os.getloadavg()[0], 2))
    return figures


#: Where Inductor wrote the C++ kernel that raised: an out-of-bounds index in a compiled
#: kernel is reported as "kernel, <cache folder>/<2 chars>/<hash>.main.cpp:<line>, index out of
#: bounds: ...". The folder is the cache folder, or with the caches off a new temporary
#: folder under it for every compile (`torch._inductor.utils.fresh_cache`); the file name is a
#: hash of the generated code.
KERNEL_PATH = re.compile(r"\S*/(\w{2}/\w+\.main\.cpp)")


def kernel_path_free(message: object) -> object:
    """A message with the folder of Inductor's kernel file replaced by `<inductor cache>`."""
    return KERNEL_PATH.sub(r"<inductor cache>/\1", message) if isinstance(message, str) \
        else message


def differences(base: Mapping[str, Any], other: Mapping[str, Any], *,
                ignore_kernel_folder: bool = False) -> dict[str, Any]:
    """Per case, the observed fields that differ between two variants' runs.

    Args:
        base, other: two variants' figures (`run_variant`).
        ignore_kernel_folder: compare messages with the kernel file's folder left out
            (`kernel_path_free`), so that only what was compiled and raised is compared.
    """
    diff: dict[str, Any] = {}
    for case_id, cell in base["cases"].items():
        ours, theirs = cell["observed"], other["cases"].get(case_id, {}).get("observed", {})
        fields = {}
        for key in COMPARED:
            a, b = ours.get(key), theirs.get(key)
            if ignore_kernel_folder and key == "message":
                a, b = kernel_path_free(a), kernel_path_free(b)
            if a != b:
                fields[key] = [ours.get(key), theirs.get(key)]
        if fields:
            diff[case_id] = fields
    return diff


def comparisons(runs: Mapping[str, Any]) -> dict[str, Any]:
    """Each variant's observations against `caches_off` (exactly, and with the kernel
    folder left out of messages), and `warm` against `cold` (one cache folder: exactly)."""
    ok = {v: r for v, r in runs.items() if "error" not in r}
    result: dict[str, Any] = {}
    base = ok.get("caches_off")
    for variant, run in ok.items():
        if base is not None and variant != "caches_off":
            result[f"{variant}_vs_caches_off"] = {
                "exact": differences(base, run),
                "kernel_folder_left_out": differences(base, run, ignore_kernel_folder=True)}
    if "cold" in ok and "warm" in ok:
        result["warm_vs_cold"] = {"exact": differences(ok["cold"], ok["warm"])}
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """`python3 benchmarks/bench_compile.py [--env ID] [--variant V ...] [--ids A,B]`."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="torch-cpu", help="a PyTorch environment id")
    parser.add_argument("--variant", action="append", choices=VARIANTS, default=[],
                        help="repeatable; default: all, in order (warm needs cold first)")
    parser.add_argument("--ids", default=None, help="comma-separated case ids (default SAMPLE)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--worker", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--ids-file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return _worker(args.worker, json.loads(args.ids_file.read_text()), args.out)
    environment = get_environment(args.env)
    if environment.backend != "torch":
        parser.error(f"--env must be a PyTorch environment. Received: --env={args.env}")
    ids = tuple(args.ids.split(",")) if args.ids else SAMPLE
    variants = [v for v in VARIANTS if v in args.variant] if args.variant else list(VARIANTS)
    work = Path(tempfile.mkdtemp(prefix="kcm-bench-compile-"))
    started = time.perf_counter()
    runs: dict[str, Any] = {}
    try:
        for variant in variants:
            print(f"[{variant}] {len(ids)} cases", flush=True)
            runs[variant] = run_variant(environment, variant, ids, work)
            print(f"[{variant}] " + (runs[variant].get("error") or
                  f"wall {runs[variant]['wall_s']} s, cases {runs[variant]['sum_of_cases_s']} s"),
                  flush=True)
        cache_mb = sum(p.stat().st_size for p in (work / "inductor").rglob("*")
                       if p.is_file()) / 2**20 if (work / "inductor").exists() else 0.0
    finally:
        shutil.rmtree(work, ignore_errors=True)
    compared = comparisons(runs)
    result: dict[str, Any] = {
        "command": "python3 benchmarks/bench_compile.py " + " ".join(argv or sys.argv[1:]),
        "environment": environment.id, "sample": list(ids), "variants": runs,
        "inductor_cache_mb": round(cache_mb, 1),
        "identical": {name: {how: not diff for how, diff in parts.items()}
                      for name, parts in compared.items()},
        "differences": compared,
        "total_s": round(time.perf_counter() - started, 1),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform(),
                    "load_average_1min": round(os.getloadavg()[0], 2)},
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"{'variant':14}{'wall s':>9}{'cases s':>9}{'import s':>9}  counters")
    for variant, run in runs.items():
        if "error" in run:
            print(f"{variant:14} {run['error']}\n{run['tail']}")
            continue
        shown = {k.split(".")[1]: v for k, v in run["counters"].items() if v}
        print(f"{variant:14}{run['wall_s']:>9}{run['sum_of_cases_s']:>9}{run['import_s']:>9}"
              f"  {shown}")
    for name, parts in result["identical"].items():
        print(f"identical observations, {name}: " +
              ", ".join(f"{how} {same}" for how, same in parts.items()))
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
