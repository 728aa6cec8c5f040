"""`torch.compile`'s on-disk caches in a run: torch's own default, or off (`--fresh-compile`).

PyTorch 2.13 keeps two on-disk caches on by default, Inductor's FX graph cache
(`torch._inductor.config.fx_graph_cache`) and the AOT autograd cache
(`torch._functorch.config.enable_autograd_cache`), in `TORCHINDUCTOR_CACHE_DIR` or else
`/tmp/torchinductor_<user>` (`torch/_inductor/runtime/cache_dir_utils.py`). A run leaves them
as they are, so a `jit_compile` cell compiles as a user's `compile(jit_compile=True)` does on
the same machine: after the first run there, mostly from the cache
(`benchmarks/bench_compile.py` measured what that saves, and that the observations stay the
same).

`--fresh-compile` (a `run` session option, taken out before the others are parsed) turns both
caches off (`TORCHINDUCTOR_FORCE_DISABLE_CACHES=1`): every graph is lowered and its C++
compiled again, as on a machine that never compiled it, so a drift between the cached and the
fresh compile shows up. With the caches off, Inductor still writes each compile's kernels to a
new temporary folder under the cache folder and never deletes it
(`torch._inductor.utils.fresh_cache`, `delete=False`); the run points the cache folder at a
folder of its own under the work root (`fresh_compile_folder`), emptied before and after.
`python -m matrix.run.compile_cache compare CACHED.json FRESH.json` lists the cells whose
observation differs between the two (the weekly `compile-drift` workflow runs it).

Only the standard library is imported: the noxfile uses this module. The pytest process does
not import it, so it is not part of the result cache's harness key; the variables it sets
are (`TORCH*`, `matrix/run/cache_key.py`), so cells of a `--fresh-compile` run are keyed apart
from the others. Both values are the same on every run of one environment and checkout.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

#: The backend whose compiler keeps on-disk caches by default. TensorFlow's XLA and JAX keep
#: none unless asked (JAX's persistent compilation cache is off by default:
#: https://docs.jax.dev/en/latest/persistent_compilation_cache.html), so the flag changes
#: nothing there.
CACHED_BACKENDS = ("torch",)


def fresh_compile_folder(work_root: Path, run_name: str) -> Path:
    """The cache folder of a `--fresh-compile` run: `<work root>/inductor-fresh/<run name>`.

    Args:
        work_root: the runs' work root (`reports/.work`, or `KCM_WORK_DIR`).
        run_name: the environment id and shard suffix, e.g. `torch-cpu.shard-1-of-2`.
    """
    return work_root / "inductor-fresh" / run_name


def fresh_compile_variables(backend: str, folder: Path) -> dict[str, str]:
    """The variables that turn the compiler's on-disk caches off; empty where it has none.

    Args:
        backend: the environment's Keras backend.
        folder: where Inductor may write its temporary kernel folders
            (`fresh_compile_folder`).
    """
    if backend not in CACHED_BACKENDS:
        return {}
    return {"TORCHINDUCTOR_FORCE_DISABLE_CACHES": "1", "TORCHINDUCTOR_CACHE_DIR": str(folder)}


def empty_folder(folder: Path) -> None:
    """Removes `folder` and what it holds, then creates it again, empty."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)


#: An error raised inside an Inductor kernel names the kernel's file under the cache folder
#: (`kernel, <folder>/<xx>/<hash>.main.cpp:<line>, index out of bounds: ...`); with the caches
#: off the folder is a new temporary one per compile. The folder is all that may differ.
_KERNEL_FOLDER = re.compile(r"kernel, \S+/(\w{2}/\w+\.main\.cpp:\d+), ")
#: What a cell observes and how it was judged, compared between two runs (timings are not).
_OBSERVED = ("kind", "error_type", "message", "shape", "dtype", "nan_count", "max_abs_error",
             "device", "stage")


def _seen(result: dict[str, Any]) -> dict[str, Any]:
    observed = result.get("observed") or {}
    seen = {name: observed.get(name) for name in _OBSERVED}
    if isinstance(seen["message"], str):
        seen["message"] = _KERNEL_FOLDER.sub(r"kernel, <folder>/\1, ", seen["message"])
    verdict = result.get("verdict") or {}
    seen["verdict"] = (verdict.get("status"), verdict.get("cause"))
    return seen


def drift(cached: dict[str, Any], fresh: dict[str, Any]) -> list[tuple[str, str, Any, Any]]:
    """What differs between the cells of two run files of one environment, one with torch's
    compile caches as they are and one with `--fresh-compile`: (case, field, cached, fresh)
    per differing field of a case that ran in both (neither `not_run` nor `skipped`), the
    kernel folder of an Inductor error left out. Empty: the caches change no answer."""
    def ran(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
        return {r["case"]: r for r in run.get("results") or ()
                if isinstance(r, dict) and r.get("outcome") not in ("not_run", "skipped")}
    a, b = ran(cached), ran(fresh)
    out = []
    for case in sorted(a.keys() & b.keys()):
        left, right = _seen(a[case]), _seen(b[case])
        out += [(case, name, left[name], right[name]) for name in left
                if left[name] != right[name]]
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m matrix.run.compile_cache compare CACHED.json FRESH.json`: the drift between a
    run with the compile caches and one with `--fresh-compile`, as Markdown on stdout.

    Returns:
        0 when every cell that ran in both observes the same; 1 when one differs; 2 when a
        file cannot be read as a run file (one line on stderr naming it).
    """
    parser = argparse.ArgumentParser(prog="python -m matrix.run.compile_cache")
    sub = parser.add_subparsers(dest="command", required=True)
    cmd = sub.add_parser("compare", help="cells whose observation a fresh compile changes")
    cmd.add_argument("cached", type=Path)
    cmd.add_argument("fresh", type=Path)
    args = parser.parse_args(argv)
    runs = []
    for path in (args.cached, args.fresh):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            print(f"error: {path}: not a readable run file ({exc})", file=sys.stderr)
            return 2
        if not isinstance(data, dict) or not isinstance(data.get("results"), list):
            print(f"error: {path}: not a run file (no `results` list)", file=sys.stderr)
            return 2
        runs.append(data)
    found = drift(runs[0], runs[1])
    both = len({r.get("case") for r in runs[0]["results"] if isinstance(r, dict)}
               & {r.get("case") for r in runs[1]["results"] if isinstance(r, dict)})
    print(f"## Compile caches against `--fresh-compile`\n\n{both} cases in both run files; "
          f"{len({case for case, *_ in found})} observe something else with a fresh compile.")
    if found:
        print("\n| case | field | with the caches | fresh compile |\n|---|---|---|---|")
        for case, name, left, right in found:
            print(f"| `{case}` | {name} | `{left}` | `{right}` |")
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
