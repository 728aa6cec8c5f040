"""Where a run's files go, checked before anything touches the file system.

This module owns what the `run`, `report` and `publish-local` sessions decide about paths:

- the harness options after `--` (`--catalog`, `--output`, `--timeout`, `--compile-timeout`,
  `--shard`, `--jobs`, and the flag `--no-cache`), each validated with a one-line error that
  names it (`OptionError`), before a path is built;
- the local folder: `nox` writes run files, saved models and reports to the ignored
  `reports/local/`, so `git status` stays clean; `publish_local` copies them to the committed,
  published `reports/` on purpose (`nox -s publish-local`);
- the run file's name: `<environment>[.shard-I-of-N].json`, or, for a slice (`-k`, other pytest
  arguments, `--catalog`) where that file holds a full run, `<environment>[...].partial-<key>.json`,
  so a slice never replaces a full run;
- the GPU guard: whether an existing run file really ran (and must be kept), without crashing
  on a truncated file or an output folder outside the project;
- reading a file someone else may have put there (`read_regular_file`): only a regular file
  of at most `MAX_READ_BYTES` is read, so a FIFO or a link to `/dev/zero` named `*.json` is
  refused by name instead of hanging the report or the diff.

Only the standard library is imported: the noxfile (which never imports a framework, nor
pydantic) uses it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import shutil
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NoReturn

from matrix import atomic
from matrix.records import Shard

ROOT = Path(__file__).resolve().parents[2]
#: The committed, published results: changed only by `nox -s publish-local` or CI.
PUBLISHED_DIR = ROOT / "reports"
#: Where local runs write (ignored by git): runs/, artifacts/, junit/ and the report files.
LOCAL_DIR = PUBLISHED_DIR / "local"
LOCAL_RUNS_DIR = LOCAL_DIR / "runs"
#: The ignored work folders of runs (`work_dir_for`): report logs kept until folded.
WORK_ROOT = PUBLISHED_DIR / ".work"
HARNESS_OPTIONS = ("--catalog", "--output", "--timeout", "--compile-timeout", "--shard",
                   "--jobs")
#: Harness options that take no value.
HARNESS_FLAGS = ("--no-cache", "--full", "--sample", "--fresh", "--resume", "--fresh-compile")
#: At most this many xdist workers by default: each imports its framework (TensorFlow's
#: worker holds about 1.2 GB), so more cores than this are left to other environments.
MAX_DEFAULT_JOBS = 4
#: The time limit of a compiling mode (`jit_compile`) is this many times the per-case one:
#: `torch.compile` of a 3-layer model took 57 s alone on 2 cores (issue 13).
COMPILE_FACTOR = 3
PARTIAL = ".partial-"
#: The largest file `read_regular_file` reads: 256 MiB. A run file of the whole catalog is
#: about 13 MiB, and the published JSON of fourteen environments 8.6 MB in 15 files (the
#: single-file form it replaced was 40 MB; December 2026), so this leaves the catalog room
#: to grow many times over, while a file that
#: would take a runner's memory to parse is refused by name.
MAX_READ_BYTES = 256 * 1024 * 1024


class OptionError(ValueError):
    """A harness option is invalid; the message is one line and names the option."""


class RefusedFile(OSError):
    """A file that is not read: not a regular file, or too large; the message names it."""


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISDIR, "a folder")):
        if test(mode):
            return name
    return "not a regular file"


def _refuse_unless_regular(path: Path, info: os.stat_result, limit: int) -> None:
    if not stat.S_ISREG(info.st_mode):
        target = os.path.realpath(path)
        link = f", through a link to {target}" if target != os.path.abspath(path) else ""
        raise RefusedFile(f"{path}: not a regular file ({_kind(info.st_mode)}{link}); only "
                          "regular files are read")
    if info.st_size > limit:
        raise RefusedFile(f"{path}: {info.st_size} bytes, more than the {limit} bytes read "
                          "(matrix.run.runfiles.MAX_READ_BYTES); not a file this harness wrote")


def read_regular_file(path: Path, limit: int | None = None) -> bytes:
    """The bytes of `path` if it is a regular file (symlinks followed) of at most `limit` bytes
    (by default `MAX_READ_BYTES`).

    A FIFO would block the reader forever and `/dev/zero` never ends: the file's type is
    checked before it is opened (opening some devices acts on them), again on the open file
    (it may have been swapped in between; the open does not block, even on a FIFO), and at
    most `limit` + 1 bytes are read, in case it grows.

    Raises:
        RefusedFile: not a regular file, or more than `limit` bytes; the message names the
            file and why, in one line.
        OSError: missing or unreadable.
    """
    limit = MAX_READ_BYTES if limit is None else limit
    _refuse_unless_regular(path, os.stat(path), limit)
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    with open(fd, "rb") as handle:
        _refuse_unless_regular(path, os.fstat(fd), limit)
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise RefusedFile(f"{path}: more than the {limit} bytes read "
                          "(matrix.run.runfiles.MAX_READ_BYTES); not a file this harness wrote")
    return data


@dataclass(frozen=True, kw_only=True)
class RunOptions:
    """The harness options of one `run` session, validated.

    Attributes:
        catalogs: the `--catalog` modules, absolute.
        output: the folder of the run file, absolute.
        timeout: the per-case timeout in seconds, as pytest-timeout reads it.
        shard: (index, count), 1 <= index <= count; None when not sharded.
        pytest_args: everything else, passed on to pytest (e.g. `-k "rank2 and int64"`).
        compile_timeout: the per-case timeout of compiling modes (`jit_compile`).
        jobs: xdist workers running cases side by side (`-n`), each isolated as one is.
        cache: whether cached cells are reused (`--no-cache` turns it off).
        full: every case of the catalog runs (`--full`); otherwise a backend whose modes
            `matrix.run.costs.SAMPLED` names runs a sample of their cases.
        sample: a selection (`-k`) keeps to the sample as a default run does (`--sample`);
            without it a case asked for by name runs.
        resume: what becomes of an interrupted run's work (`matrix.run.resume.ResumeMode`):
            `--fresh` clears it, `--resume` keeps it, `auto` (neither) keeps it when its
            sources are the same.
        fresh_compile: `--fresh-compile`: the compiler's on-disk caches off
            (`matrix.run.compile_cache`).
    """

    catalogs: tuple[Path, ...]
    output: Path
    timeout: str
    shard: Shard | None
    pytest_args: tuple[str, ...]
    compile_timeout: str = str(120 * COMPILE_FACTOR)
    jobs: int = 1
    cache: bool = True
    full: bool = False
    sample: bool = False
    resume: Literal["auto", "resume", "fresh"] = "auto"
    fresh_compile: bool = False

    @property
    def sampled(self) -> bool:
        """Whether the run cuts to the sample (`matrix.run.costs`): not `--full`, and not a
        `-k` or other pytest selection (a case asked for by name runs) unless `--sample`."""
        return not self.full and (self.sample or not self.pytest_args)

    @property
    def shard_arg(self) -> str | None:
        """`I/N` as pytest and the fold take it; None when not sharded."""
        return str(self.shard) if self.shard else None

    @property
    def suffix(self) -> str:
        """`.shard-I-of-N` of a shard's files; empty otherwise."""
        return self.shard.suffix if self.shard else ""

    @property
    def selection(self) -> dict[str, list[str]] | None:
        """What makes this run a slice of the catalog: pytest arguments and extra catalogs."""
        if not (self.pytest_args or self.catalogs):
            return None
        return {"pytest_args": list(self.pytest_args),
                "catalogs": [str(p) for p in self.catalogs]}


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors raised as `OptionError` (one line) instead of an exit."""

    def error(self, message: str) -> NoReturn:
        expected = re.fullmatch(r"argument (--[\w-]+): expected one argument", message)
        if expected:
            raise OptionError(f"{expected.group(1)} needs a value. Received: "
                              f"{expected.group(1)} with none")
        raise OptionError(message)


def _parser() -> _Parser:
    parser = _Parser(prog="nox -s 'run(<environment>)' --", add_help=False, allow_abbrev=False)
    for option in HARNESS_OPTIONS:
        parser.add_argument(option, action="append", default=[])
    for flag in HARNESS_FLAGS:
        parser.add_argument(flag, action="append_const", const="", default=[])
    return parser


def split_posargs(posargs: Sequence[str]) -> tuple[dict[str, list[str]], list[str]]:
    """Separates the harness's own options (`--opt V` or `--opt=V`, the flags) from pytest's
    arguments, with argparse's `parse_known_args` (no abbreviations: `--ful` is pytest's).
    Everything after a `--` is pytest's, as given.

    Returns:
        ({option or flag: its values in order ("" per flag given)}, pytest's arguments in
        their order).

    Raises:
        OptionError: a harness option is last, with no value.
    """
    posargs = list(posargs)
    tail = posargs[posargs.index("--"):] if "--" in posargs else []
    known, rest = _parser().parse_known_args(posargs[:len(posargs) - len(tail)])
    own = {key: list(getattr(known, key.lstrip("-").replace("-", "_")))
           for key in (*HARNESS_OPTIONS, *HARNESS_FLAGS)}
    return own, [*rest, *tail]


def _one_line(value: str) -> str:
    return repr(value if len(value) <= 200 else value[:200] + "...")


def parse_shard(value: str) -> Shard:
    """`I/N` with 1 <= I <= N (`Shard.parse`).

    Raises:
        OptionError: anything else (a path, a negative number, I > N, N = 0).
    """
    try:
        return Shard.parse(value)
    except ValueError:
        raise OptionError("--shard must be I/N with whole numbers 1 <= I <= N, e.g. 2/3. "
                          f"Received: --shard={_one_line(value)}") from None


def parse_timeout(value: str, name: str = "--timeout") -> str:
    """A positive, finite number of seconds, as given.

    Raises:
        OptionError: not a number, zero, negative, inf or NaN.
    """
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise OptionError(f"{name} must be a positive number of seconds per case, e.g. 120. "
                          f"Received: {name}={_one_line(value)}")
    return value.strip()


def default_jobs(cpus: int | None = None) -> int:
    """xdist workers by default: one per core, at most `MAX_DEFAULT_JOBS`."""
    cpus = os.cpu_count() if cpus is None else cpus
    return max(1, min(cpus or 1, MAX_DEFAULT_JOBS))


def parse_jobs(value: str) -> int:
    """A whole number of workers from 1 to 256.

    Raises:
        OptionError: anything else.
    """
    if not value.strip().isdigit() or not 1 <= int(value) <= 256:
        raise OptionError("--jobs must be a whole number of workers from 1 to 256, e.g. 2. "
                          f"Received: --jobs={_one_line(value)}")
    return int(value)


def parse_output(value: str, root: Path) -> Path:
    """The run files' folder, absolute (relative to `root`); it may not exist yet.

    Raises:
        OptionError: empty, holding a NUL or a newline, or an existing file.
    """
    if not value.strip() or any(c in value for c in "\0\n\r"):
        raise OptionError("--output must be a folder for the run file. "
                          f"Received: --output={_one_line(value)}")
    path = Path(value).expanduser()
    path = path if path.is_absolute() else root / path
    if path.exists() and not path.is_dir():
        raise OptionError(f"--output must be a folder, but {path} is a file. "
                          f"Received: --output={_one_line(value)}")
    return path


def parse_catalog(value: str) -> Path:
    """An existing Python file defining `CASES`, absolute.

    Raises:
        OptionError: the file does not exist or is not a `.py` file.
    """
    path = Path(value).expanduser().resolve() if value.strip() else Path()
    if not value.strip() or path.suffix != ".py" or not path.is_file():
        raise OptionError("--catalog must be an existing Python file defining CASES. "
                          f"Received: --catalog={_one_line(value)}")
    return path


def parse_run_options(posargs: Sequence[str], *, root: Path = ROOT,
                      default_output: Path = LOCAL_RUNS_DIR,
                      default_timeout: str = "120") -> RunOptions:
    """Validates every harness option (the last of each wins) before any path is built.

    Raises:
        OptionError: the first invalid option, named in a one-line message.
    """
    own, rest = split_posargs(posargs)
    if own["--full"] and own["--sample"]:
        raise OptionError("--full runs every case and --sample only the sampled ones: give "
                          "one of them. Received: --full --sample")
    timeout = parse_timeout(own["--timeout"][-1]) if own["--timeout"] else default_timeout
    compile_timeout = (parse_timeout(own["--compile-timeout"][-1], "--compile-timeout")
                       if own["--compile-timeout"] else
                       f"{float(timeout) * COMPILE_FACTOR:g}")
    return RunOptions(
        catalogs=tuple(parse_catalog(v) for v in own["--catalog"]),
        output=parse_output(own["--output"][-1], root) if own["--output"] else default_output,
        timeout=timeout,
        shard=parse_shard(own["--shard"][-1]) if own["--shard"] else None,
        pytest_args=tuple(rest),
        compile_timeout=compile_timeout,
        jobs=parse_jobs(own["--jobs"][-1]) if own["--jobs"] else default_jobs(),
        cache=not own["--no-cache"],
        full=bool(own["--full"]),
        sample=bool(own["--sample"]),
        resume=_resume_mode(posargs),
        fresh_compile=bool(own["--fresh-compile"]),
    )


def _resume_mode(posargs: Sequence[str]) -> Literal["auto", "resume", "fresh"]:
    """The last of `--fresh` and `--resume`; `auto` when neither is given."""
    given = [a for a in posargs if a in ("--fresh", "--resume")]
    if "--" in posargs:
        given = [a for a in posargs[:list(posargs).index("--")] if a in ("--fresh", "--resume")]
    return "auto" if not given else "fresh" if given[-1] == "--fresh" else "resume"


def read_json_object(path: Path) -> dict[str, Any] | None:
    """The JSON object in `path`; None when missing, unreadable, truncated, not an object, or
    not a regular file (`read_regular_file`)."""
    try:
        data = json.loads(read_regular_file(path).decode("utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def _selection_of(data: dict[str, Any]) -> object:
    environment = data.get("environment")
    provenance = environment.get("provenance") if isinstance(environment, dict) else None
    return provenance.get("selection") if isinstance(provenance, dict) else None


def is_partial_file(path: Path, data: dict[str, Any] | None = None) -> bool:
    """Whether a run file holds a slice: named `*.partial-*.json`, or its provenance says so."""
    if PARTIAL in path.name:
        return True
    data = read_json_object(path) if data is None else data
    return bool(data and _selection_of(data))


def selection_key(selection: dict[str, list[str]]) -> str:
    """Eight hex digits naming a slice: the same `-k` and catalogs give the same file."""
    return hashlib.sha256(json.dumps(selection, sort_keys=True).encode()).hexdigest()[:8]


def run_file_for(options: RunOptions, environment: str) -> Path:
    """The file this run writes: never a full run's file when the run is a slice.

    A full run writes `<environment>[.shard-I-of-N].json`. A slice writes that file only when
    it does not exist or holds a slice too; where it holds a full run (or cannot be read, so
    might), the slice writes `<environment>[...].partial-<key>.json` beside it.
    """
    full = options.output / f"{environment}{options.suffix}.json"
    selection = options.selection
    if selection is None or not full.exists():
        return full
    data = read_json_object(full)
    if data is not None and _selection_of(data):
        return full
    return options.output / f"{environment}{options.suffix}{PARTIAL}{selection_key(selection)}.json"


def work_dir_for(options: RunOptions, environment: str, work_root: Path = WORK_ROOT) -> Path:
    """The work folder of a run (report log, collection, resume state), keyed by selection.

    `<environment>[.shard-I-of-N][.partial-<key>]`: a run with another `-k`, catalog or shard
    works in its own folder, so it never clears what an interrupted run of another slice
    recorded; rerunning that slice resumes it.
    """
    name = f"{environment}{options.suffix}"
    if options.selection is not None:
        name += f"{PARTIAL}{selection_key(options.selection)}"
    return work_root / name


def gpu_run_to_keep(run_file: Path, root: Path = ROOT) -> tuple[bool, str]:
    """Whether a GPU environment's existing run file must be kept on a machine without a GPU.

    Returns:
        (keep, message): keep is True when the file says it really ran (`environment.ran`),
        or when it exists but cannot be read (it is kept, never overwritten blindly); the
        message says which and why, naming the file relative to `root` when it is inside it.
    """
    if not run_file.exists():
        return False, ""
    try:
        shown: Path | str = run_file.resolve().relative_to(root.resolve())
    except ValueError:
        shown = run_file
    data = read_json_object(run_file)
    if data is None:
        return True, (f"kept {shown}: it exists but is not a readable run file (truncated or "
                      "invalid JSON), so it is not overwritten; move it away to record not_run")
    environment = data.get("environment")
    if isinstance(environment, dict) and environment.get("ran") is True:
        return True, f"kept {shown}, which holds cells that really ran on a GPU elsewhere"
    return False, ""


def seed_artifacts(published: Path, local: Path) -> list[Path]:
    """Copies each committed saved model (and sidecar) missing from the local artifacts.

    A local run saves its own backend's `.keras` files into `local` only, and loads the other
    backends' files from there: until those backends ran locally, the committed copies serve.

    Returns:
        The files copied.
    """
    copied: list[Path] = []
    if not published.is_dir() or published.resolve() == local.resolve():
        return copied
    for source in sorted(p for p in published.rglob("*") if p.is_file()):
        target = local / source.relative_to(published)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
            copied.append(target)
    return copied


def publish_local(local: Path = LOCAL_DIR, published: Path = PUBLISHED_DIR) -> list[str]:
    """Copies the local run files and saved models over the published ones.

    Full and shard run files of `local/runs` replace those of `published/runs` with the same
    name (environments not run locally keep their published file); partial run files stay
    local. `local/artifacts` is copied over `published/artifacts`, and the bisect files of
    `local/bisect` over `published/bisect`. The report is then
    regenerated from `published/runs` by the caller (`nox -s publish-local`).

    Returns:
        One line per thing done or skipped.

    Raises:
        FileNotFoundError: `local/runs` does not exist (nothing ran locally).
    """
    runs = local / "runs"
    if not runs.is_dir():
        raise FileNotFoundError(f"{runs} does not exist: run an environment first (bare `nox`)")
    lines = []
    (published / "runs").mkdir(parents=True, exist_ok=True)
    for path in sorted(runs.glob("*.json")):
        if is_partial_file(path):
            lines.append(f"skipped {path.name}: a partial run (-k or --catalog) is not published")
            continue
        target = published / "runs" / path.name
        try:  # a FIFO or a link to /dev/zero named *.json would never end a copy
            data = read_regular_file(path)
        except (RefusedFile, OSError) as exc:
            lines.append(f"skipped {path.name}: {exc}")
            continue
        atomic.write_bytes(target, data)
        lines.append(f"published {target.relative_to(published.parent)}")
    artifacts = local / "artifacts"
    if artifacts.is_dir():
        shutil.copytree(artifacts, published / "artifacts", dirs_exist_ok=True)
        lines.append(f"published {(published / 'artifacts').relative_to(published.parent)}/")
    # `nox -s bisect` results (matrix/bisect/): the report beside `published/runs` reads them.
    for path in sorted((local / "bisect").glob("*.json")):
        target = published / "bisect" / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            target.write_bytes(read_regular_file(path))
        except (RefusedFile, OSError) as exc:
            lines.append(f"skipped {path.name}: {exc}")
            continue
        lines.append(f"published {target.relative_to(published.parent)}")
    return lines
