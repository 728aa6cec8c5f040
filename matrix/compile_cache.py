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

Only the standard library is imported: the noxfile uses this module. The pytest process does
not import it, so it is not part of the result cache's harness key; the variables it sets
are (`TORCH*`, `matrix/cache_key.py`), so cells of a `--fresh-compile` run are keyed apart
from the others. Both values are the same on every run of one environment and checkout.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

FLAG = "--fresh-compile"
#: The backend whose compiler keeps on-disk caches by default. TensorFlow's XLA and JAX keep
#: none unless asked (JAX's persistent compilation cache is off by default:
#: https://docs.jax.dev/en/latest/persistent_compilation_cache.html), so the flag changes
#: nothing there.
CACHED_BACKENDS = ("torch",)


def split_fresh_compile(posargs: Sequence[str]) -> tuple[bool, list[str]]:
    """Takes `--fresh-compile` out of the run session's arguments.

    Returns:
        (whether it was given, the other arguments in their order).
    """
    return FLAG in posargs, [a for a in posargs if a != FLAG]


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
