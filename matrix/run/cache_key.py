"""The ingredients of a result-cache key (`matrix/run/cache.py`): the harness modules found from
the import graph, the user catalogs loaded, and the environment (installed distributions,
host CPU, the variables and config files that change an answer).

`key_contents()` says it in Markdown for the README's cache section, from these same
declarations.
"""

from __future__ import annotations

import ast
import fnmatch
import hashlib
import importlib.metadata
import json
import os
import platform
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from matrix import variables as kcm
from matrix.environments import RUN_PYTEST_ARGS

ROOT = Path(__file__).resolve().parents[2]

#: Raise when a change of the harness changes what a cell records without changing the
#: source hashed below (a data file it reads, say).
HARNESS_VERSION = "2"
#: Where a run's pytest process starts importing this repository: the test module, the
#: plugins it loads with `-p` (`RUN_PYTEST_ARGS`) and a `conftest.py` at the top if there is
#: one. Everything they import from here, at any depth and inside functions too, is part
#: of the harness (`harness_modules`).
ENTRY_POINTS = ("matrix/run/test_cases.py",
                *(RUN_PYTEST_ARGS[i + 1].replace(".", "/") + ".py"
                  for i, arg in enumerate(RUN_PYTEST_ARGS[:-1])
                  if arg == "-p" and RUN_PYTEST_ARGS[i + 1].startswith("matrix.")),
                "conftest.py")
#: Files where pytest finds its configuration (`addopts`, `filterwarnings` can change a
#: cell): their pytest sections are part of the harness (`pytest_config`).
PYTEST_CONFIGS = ("pytest.ini", ".pytest.ini", "pyproject.toml", "tox.ini", "setup.cfg")
#: The top-level packages of this repository (imports of anything else are not followed).
PACKAGES = ("cases", "matrix")
#: Modules (a folder: every module under it) of the import graph that cannot change a
#: stored cell, and why.
NOT_HASHED: Mapping[str, str] = {
    "cases/limitations/": "the known divergences are joined at merge "
                          "(`matrix.results.triage`); a stored cell holds the raw verdict "
                          "and the outcome with no limitation applied",
}
#: Variables that a framework (or Keras) reads to change an answer, as glob patterns per
#: reader. Every variable of the process matching one is in the environment's key, with its
#: value (`answer_variables`). Broad on purpose: a variable that changes nothing costs a
#: rerun; one left out serves a wrong answer.
ANSWER_VARIABLES: Mapping[str, tuple[str, ...]] = {
    "keras": ("KERAS_*",),
    "tensorflow": ("TF_*", "TENSORFLOW_*"),
    "jax": ("JAX_*",),
    "xla": ("XLA_*",),
    "torch": ("TORCH*", "PYTORCH_*", "CUBLAS_*", "CUDNN_*"),
    "openvino": ("OV_*", "OPENVINO_*"),
    "numpy": ("NPY_*", "NUMPY_*", "SCIPY_*"),
    "math libraries": ("OMP_*", "KMP_*", "MKL_*", "OPENBLAS_*", "GOTO*", "BLIS_*",
                       "ONEDNN_*", "DNNL_*"),
    "device": ("CUDA_*", "NVIDIA_*", "HIP_*", "ROCR_*", kcm.DEVICE.name, kcm.TF32.name),
    # A cut mode skips its cases as not_run (matrix/run/selection.py): not a result to serve later.
    "harness": (kcm.NOT_RUN_MODES.name,),
    "python": ("PYTHON*",),
    "native libraries": ("LD_PRELOAD", "LD_LIBRARY_PATH", "ATEN_*"),
}
#: At most this many files are listed per folder of `foreign_code` (a whole source
#: checkout on `PYTHONPATH` is about 2,000 for Keras).
FOREIGN_FILES_LIMIT = 50_000


def digest(*parts: str | bytes) -> str:
    """The SHA-256 (hex) of the parts, each followed by a NUL byte."""
    hasher = hashlib.sha256()
    for part in parts:
        hasher.update(part if isinstance(part, bytes) else part.encode("utf-8", "replace"))
        hasher.update(b"\0")
    return hasher.hexdigest()



def file_digest(path: Path) -> str | None:
    """The SHA-256 of a file's bytes (hex), or None when it cannot be read."""
    hasher = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                hasher.update(block)
    except OSError:
        return None
    return hasher.hexdigest()



# --- the harness: modules found from the import graph ----------------------------------------

def _module_file(root: Path, dotted: str) -> Path | None:
    base = root.joinpath(*dotted.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _scan(root: Path, path: Path) -> tuple[set[Path], bool]:
    """What one parse of `path` says: the modules of this repository it imports anywhere
    (top level or inside a function), with the packages on their way (`matrix.x` runs
    `matrix/__init__.py`), and whether it is a catalog family (`_defines_cases`)."""
    tree = ast.parse(path.read_bytes(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    found = set()
    for name in names:
        parts = name.split(".")
        if parts[0] not in PACKAGES:
            continue
        for end in range(1, len(parts) + 1):
            module = _module_file(root, ".".join(parts[:end]))
            if module is not None:
                found.add(module)
    return found, _defines_cases(tree)


def _defines_cases(tree: ast.Module) -> bool:
    """Whether a module is a catalog family: it defines `cases()`, which builds `Case`s.

    A family's functions are not hashed as harness: what they build is in each of its
    cells' keys (the case's whole definition, program and reference), so an edited case
    reruns alone. What runs when the module is imported is (`import_time_digest`).
    """
    return any(isinstance(node, ast.FunctionDef) and node.name == "cases"
               for node in tree.body)


def split_modules(root: Path = ROOT) -> tuple[list[Path], list[Path]]:
    """The modules a run's pytest process imports from this repository, found from
    `ENTRY_POINTS` through the import graph (each file parsed once), in two lists:
    the harness (less `NOT_HASHED`) and the catalog families.

    Returns:
        (harness modules, families), paths relative to `root`, sorted.
    """
    graph = _graph(root)
    left_out = set(not_hashed_modules(root))
    harness = sorted(p.relative_to(root) for p, family in graph.items()
                     if not family and p.relative_to(root) not in left_out)
    return harness, sorted(p.relative_to(root) for p, family in graph.items() if family)


def not_hashed_modules(root: Path = ROOT) -> list[Path]:
    """The modules `NOT_HASHED` names (a folder: every `.py` file under it), relative to
    `root`, sorted."""
    found: set[Path] = set()
    for name in NOT_HASHED:
        path = root / name
        found.update(path.rglob("*.py") if name.endswith("/") else [path])
    return sorted(p.relative_to(root) for p in found)


def harness_modules(root: Path = ROOT) -> list[Path]:
    """The harness part of `split_modules`."""
    return split_modules(root)[0]


def families(root: Path = ROOT) -> list[Path]:
    """The families part of `split_modules`."""
    return split_modules(root)[1]


def _graph(root: Path) -> dict[Path, bool]:
    """Every module reached from `ENTRY_POINTS` (those that exist) by imports, and whether
    it is a catalog family."""
    seen: dict[Path, bool] = {}
    todo = [root / name for name in ENTRY_POINTS]
    while todo:
        path = todo.pop()
        if path in seen or not path.is_file():
            continue
        imported, seen[path] = _scan(root, path)
        todo.extend(imported)
    return seen


def _without_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef |
                      ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and \
                    isinstance(first.value.value, str):
                node.body = node.body[1:] or [ast.Pass()]
    return tree


def source_digest(path: Path) -> str:
    """The SHA-256 of what a module does: its syntax tree without comments, docstrings,
    layout or line numbers. A file that does not parse is digested as bytes."""
    raw = path.read_bytes()
    try:
        tree = ast.parse(raw, filename=str(path))
    except (SyntaxError, ValueError):
        return digest("bytes", raw)
    return digest("ast", ast.dump(_without_docstrings(tree)))


def import_time_digest(path: Path) -> str:
    """The SHA-256 of what importing a module runs: its top-level statements and class
    bodies, and of each function its signature, defaults and decorators, but not its body
    (which runs only when called). Comments and docstrings are left out."""
    raw = path.read_bytes()
    try:
        tree = ast.parse(raw, filename=str(path))
    except (SyntaxError, ValueError):
        return digest("bytes", raw)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            node.body = [ast.Pass()]
    return digest("import-time", ast.dump(_without_docstrings(tree)))


def pytest_config(root: Path = ROOT) -> str:
    """The pytest sections of the configuration files at `root`, as text."""
    import configparser
    import tomllib

    parts = []
    for name in PYTEST_CONFIGS:
        path = root / name
        if not path.is_file():
            continue
        if name == "pyproject.toml":
            try:
                table = tomllib.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                parts.append(f"{name}: unreadable")
                continue
            section = table.get("tool", {}).get("pytest", {})
            parts.append(f"{name}: {json.dumps(section, sort_keys=True, default=str)}")
        elif name.endswith("pytest.ini"):
            parts.append(f"{name}: {path.read_text(encoding='utf-8', errors='replace')}")
        else:
            parser = configparser.ConfigParser(interpolation=None)
            try:
                parser.read(path, encoding="utf-8")
            except configparser.Error:
                parts.append(f"{name}: unreadable")
                continue
            for section in ("pytest", "tool:pytest"):
                if parser.has_section(section):
                    parts.append(f"{name} [{section}]: {dict(parser.items(section))}")
    return "\n".join(parts)


def harness_digest(root: Path = ROOT) -> str:
    """The harness version: `HARNESS_VERSION`, every module of `harness_modules`, what the
    families run at import, and pytest's configuration."""
    parts: list[str] = [HARNESS_VERSION, pytest_config(root)]
    harness, family_modules = split_modules(root)
    for relative in harness:
        parts += [relative.as_posix(), source_digest(root / relative)]
    for relative in family_modules:
        parts += [relative.as_posix(), import_time_digest(root / relative)]
    return digest(*parts)


def catalogs_digest(catalogs: Sequence[str | Path]) -> str:
    """The user catalogs a process loads, in order: each one's path and code
    (`source_digest`: an edited comment or docstring changes nothing).

    The whole module counts, not only its cases: its import ran in the process that judged
    every cell of the run, so an edited catalog reruns the cells of the runs that load it.
    """
    parts: list[str] = ["catalogs"]
    for raw in catalogs:
        path = Path(raw)
        try:
            code = source_digest(path)
        except OSError:
            code = "<unreadable>"
        parts += [str(path.resolve()), code]
    return digest(*parts)


# --- the environment --------------------------------------------------------------------------

def answer_variables(variables: Mapping[str, str]) -> list[str]:
    """`NAME=value` of every variable matching `ANSWER_VARIABLES`, sorted."""
    patterns = [p for group in ANSWER_VARIABLES.values() for p in group]
    return sorted(f"{name}={value}" for name, value in variables.items()
                  if any(fnmatch.fnmatchcase(name, p) for p in patterns))


def keras_config_path(variables: Mapping[str, str]) -> Path:
    """The `keras.json` Keras reads at import, found as Keras finds it
    (keras/src/backend/config.py, 3.15.1): `$KERAS_HOME` when the variable is set (even
    empty: then the working folder), `~` expanded; else `~/.keras`, or `/tmp/.keras` where
    the home folder is not writable. A relative path is read from the working folder, as
    the run's processes (all started in the checkout) read it."""
    if "KERAS_HOME" in variables:
        folder = variables["KERAS_HOME"]
    else:
        home = os.path.expanduser("~")
        folder = os.path.join(home if os.access(home, os.W_OK) else "/tmp", ".keras")
    return Path(os.path.abspath(os.path.expanduser(os.path.join(folder, "keras.json"))))


#: What Keras writes to a missing `keras.json` at its first import, and uses when there is
#: none: its defaults (keras/src/backend/config.py, 3.15.1: `floatx()`, `epsilon()`, the
#: default backend before `KERAS_BACKEND` is read, `image_data_format()`).
KERAS_CONFIG_DEFAULTS: dict[str, Any] = {"floatx": "float32", "epsilon": 1e-07,
                                         "backend": "tensorflow",
                                         "image_data_format": "channels_last"}


def keras_config_digest(path: Path) -> str:
    """What a `keras.json` tells Keras, as a digest: its settings (a JSON object, keys
    sorted, so layout and key order do not count), the bytes of a file that is not a JSON
    object, or `unreadable`.

    A missing file counts as `KERAS_CONFIG_DEFAULTS`: Keras answers with its defaults and
    writes them there at its first import. Keyed by bytes, a fresh machine's first run
    would have keyed every cell apart from the runs after it (found by
    `benchmarks/bench_cold.py`: the first column of a cold main job ran again in full).
    """
    if not path.exists():
        settings: object = KERAS_CONFIG_DEFAULTS
    else:
        try:
            settings = json.loads(path.read_bytes())
        except OSError:
            return "unreadable"
        except ValueError:
            settings = None
        if not isinstance(settings, dict):
            return file_digest(path) or "unreadable"
    return digest(json.dumps(settings, sort_keys=True))


def answer_files(variables: Mapping[str, str]) -> dict[str, str]:
    """The config files a framework reads to change an answer: path -> what it says
    (`keras_config_digest`)."""
    path = keras_config_path(variables)
    return {str(path): keras_config_digest(path)}


def _tree_listing(folder: Path) -> list[str]:
    """Each `.py` file under `folder`: relative path, size and modification time (a cheap
    stand-in for its content: an edit changes at least the time)."""
    found = []
    for path in sorted(folder.rglob("*.py"))[:FOREIGN_FILES_LIMIT]:
        try:
            stat = path.stat()
        except OSError:
            continue
        found.append(f"{path.relative_to(folder)}:{stat.st_size}:{stat.st_mtime_ns}")
    return found


def foreign_code(variables: Mapping[str, str]) -> list[str]:
    """Python code a run imports from outside its virtualenv's installed distributions:
    the folders of `PYTHONPATH`, the source folders of editable installs, and
    `sitecustomize` / `usercustomize` (run at every interpreter start). Listed by file
    (`_tree_listing`); a distribution's own version is in `environment_key`."""
    import importlib.util

    folders = [Path(p) for p in variables.get("PYTHONPATH", "").split(os.pathsep) if p]
    for dist in importlib.metadata.distributions():
        raw = dist.read_text("direct_url.json")
        try:
            info = json.loads(raw) if raw else {}
        except ValueError:
            continue
        url = str(info.get("url", ""))
        if info.get("dir_info", {}).get("editable") and url.startswith("file://"):
            folders.append(Path(url.removeprefix("file://")))
    parts = []
    for folder in folders:
        if folder.is_dir():
            parts += [f"{folder}", *_tree_listing(folder)]
    for name in ("sitecustomize", "usercustomize"):
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        if spec is not None and spec.origin and Path(spec.origin).is_file():
            parts.append(f"{name}:{spec.origin}:{source_digest(Path(spec.origin))}")
    return parts


def loaded_elsewhere(known: set[Path]) -> list[str]:
    """The modules this process has imported from files outside the interpreter's own
    folders and outside `known` (the harness and user catalogs, keyed apart): a module a
    user catalog imports from beside itself, say. Each as its path and `source_digest`."""
    import sysconfig

    prefixes = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix,
                                            *sysconfig.get_paths().values()) if p}
    found = []
    for module in list(sys.modules.values()):
        raw = getattr(module, "__file__", None)
        if not raw or not str(raw).endswith(".py"):
            continue
        path = Path(raw).resolve()
        if path in known or any(path.is_relative_to(p) for p in prefixes):
            continue
        if path.is_file():
            found.append(f"{path}:{source_digest(path)}")
    return sorted(found)


def host_facts() -> dict[str, Any]:
    """The host CPU: `{"cpu": model name, "flags": [ISA flags]}` from `/proc/cpuinfo`
    (Linux), else what `platform` says."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {"cpu": platform.processor() or platform.machine(), "flags": []}
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            break  # the first processor is enough: they are alike
        name, _, value = line.partition(":")
        fields.setdefault(name.strip(), value.strip())
    flags = (fields.get("flags") or fields.get("Features") or "").split()
    return {"cpu": fields.get("model name") or fields.get("CPU part") or platform.machine(),
            "flags": sorted(flags)}


def environment_key(variables: Mapping[str, str] | None = None) -> str:
    """The key of the interpreter that runs the cases: what is installed, where, how.

    Args:
        variables: the process environment (default `os.environ`).
    """
    variables = os.environ if variables is None else variables
    installed = sorted({f"{d.metadata['Name']}=={d.version}".lower()
                        for d in importlib.metadata.distributions()
                        if d.metadata["Name"]})
    host = host_facts()
    files = [f"{path}={sha}" for path, sha in sorted(answer_files(variables).items())]
    return digest(sys.version, platform.platform(), platform.machine(), host["cpu"],
                  " ".join(host["flags"]), *installed, *answer_variables(variables), *files,
                  *foreign_code(variables))


def key_contents() -> str:
    """What a cell's key holds, in Markdown, from the declarations the code uses (the
    README's cache section quotes it; `python -m matrix.run.cache key` prints it)."""
    harness, family_modules = split_modules()
    lines = ["- the case: its id, whole definition, rendered program and the reference's "
             "answer (values, dtype, tolerance, refusal); for a `save_load` cell that loads "
             "a model, what the `.keras` file holds",
             "- the harness: `HARNESS_VERSION` "
             f"({HARNESS_VERSION}) and the syntax tree (no comments, no docstrings) of every "
             "module a run's pytest process imports from this repository, found from "
             + ", ".join(f"`{p}`" for p in ENTRY_POINTS) + " through the import graph; "
             "today: " + ", ".join(f"`{p.as_posix()}`" for p in harness),
             "- the catalog families (modules defining `cases()`): what they run at import "
             "(top-level statements, class bodies, function signatures; their functions' "
             "bodies build cases, each in its own key): "
             + ", ".join(f"`{p.as_posix()}`" for p in family_modules),
             "- pytest's configuration: the pytest sections of "
             + ", ".join(f"`{p}`" for p in PYTEST_CONFIGS),
             "- left out: " + "; ".join(f"`{p}` ({why})" for p, why in NOT_HASHED.items()),
             "- the user catalogs loaded (`--catalog`): each one's path and syntax tree "
             "(no comments, no docstrings), and every module the process imported from "
             "outside its virtualenv and this harness (a helper beside a catalog)",
             "- the environment: Python, the platform, the host CPU model and ISA flags, "
             "every installed distribution and version, the code on `PYTHONPATH`, in "
             "editable installs and in `sitecustomize`/`usercustomize` (each file's path, "
             "size and time), the settings of `keras.json` (where Keras reads it: "
             "`$KERAS_HOME`, else `~/.keras`; a missing one counts as the defaults Keras "
             "writes there), and every variable matching:"]
    lines += [f"  - {reader}: " + ", ".join(f"`{p}`" for p in patterns)
              for reader, patterns in ANSWER_VARIABLES.items()]
    return "\n".join(lines)
