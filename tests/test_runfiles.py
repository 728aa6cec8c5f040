"""Tests of `matrix.run.runfiles`: options checked before any path is built, local runs in an
ignored folder, slices beside full runs, the GPU guard, publishing local results.

No framework is imported. The noxfile tests run `nox` itself, but each stops before any
install (a bad option, a held lock), so they take seconds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock

from matrix import variables as kcm
from matrix.environments import get_environment
from matrix.records import Shard
from matrix.run import runfiles
from matrix.run.runfiles import OptionError, parse_run_options, run_file_for

ROOT = Path(__file__).resolve().parent.parent


def _parse(tmp_path: Path, *args: str) -> runfiles.RunOptions:
    return parse_run_options(list(args), root=tmp_path, default_output=tmp_path / "default")


@pytest.mark.parametrize(("args", "option"), [
    (["--shard", "../../../tmp/evil"], "--shard"),
    (["--shard=2/../../x"], "--shard"),
    (["--shard", "0/3"], "--shard"),
    (["--shard", "4/3"], "--shard"),
    (["--shard", "1/0"], "--shard"),
    (["--shard"], "--shard"),
    (["--timeout", "abc"], "--timeout"),
    (["--timeout", "0"], "--timeout"),
    (["--timeout=-5"], "--timeout"),
    (["--timeout", "inf"], "--timeout"),
    (["--timeout", "nan"], "--timeout"),
    (["--output", ""], "--output"),
    (["--output", "a\nb"], "--output"),
    (["--catalog", "no_such_cases.py"], "--catalog"),
])
def test_bad_options_are_refused_in_one_line_naming_the_option(
        tmp_path: Path, args: list[str], option: str) -> None:
    with pytest.raises(OptionError) as raised:
        _parse(tmp_path, *args)
    message = str(raised.value)
    assert message.startswith(option)
    assert "\n" not in message
    assert list(tmp_path.iterdir()) == []  # nothing was created


def test_output_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(OptionError, match=r"^--output must be a folder"):
        _parse(tmp_path, "--output", "file")


def test_good_options_are_parsed_and_pytest_gets_the_rest(tmp_path: Path) -> None:
    catalog = tmp_path / "mine.py"
    catalog.write_text("CASES = []\n")
    options = _parse(tmp_path, "--shard", "2/3", "--timeout=30", "--output", "out",
                     "--catalog", str(catalog), "-k", "rank2 and int64")
    assert options.shard == Shard(2, 3)
    assert options.shard_arg == "2/3"
    assert options.suffix == ".shard-2-of-3"
    assert options.timeout == "30"
    assert options.output == tmp_path / "out"
    assert options.catalogs == (catalog.resolve(),)
    assert options.pytest_args == ("-k", "rank2 and int64")
    assert not (tmp_path / "out").exists()


def test_default_output_is_the_ignored_local_folder() -> None:
    options = parse_run_options([])
    assert options.output == runfiles.LOCAL_RUNS_DIR
    assert options.selection is None
    env = get_environment("jax-cpu").run_variables(
        workdir=ROOT / "reports" / ".work" / "jax-cpu",
        artifacts_root=options.output.parent / "artifacts", commit="x")
    for path in (options.output / "jax-cpu.json", options.output / "jax-cpu.partial-1.json",
                 Path(env[kcm.ARTIFACTS.name]) / "jax" / "save-load-embedding.keras",
                 runfiles.LOCAL_DIR / "compatibility.html", runfiles.LOCAL_DIR / "junit" / "a"):
        ignored = subprocess.run(["git", "check-ignore", "-q", str(path)], cwd=ROOT,
                                 check=False)
        assert ignored.returncode == 0, f"{path} is not ignored by git"


def _run_file(path: Path, selection: object = None, ran: bool = True) -> None:
    provenance = {"selection": selection} if selection else {}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"schema_version": 1, "environment": {
        "id": "jax-cpu", "ran": ran, "provenance": provenance}}))


def test_a_slice_never_replaces_a_full_run_file(tmp_path: Path) -> None:
    full = _parse(tmp_path, "--output", "runs")
    slice_ = _parse(tmp_path, "--output", "runs", "-k", "article")
    other = _parse(tmp_path, "--output", "runs", "-k", "rank2")
    runs = tmp_path / "runs"
    # An empty folder: the slice takes the environment's name (e.g. a CI slice job).
    assert run_file_for(slice_, "jax-cpu") == runs / "jax-cpu.json"
    _run_file(runs / "jax-cpu.json")  # a full run
    partial = run_file_for(slice_, "jax-cpu")
    assert partial.parent == runs
    assert partial.name.startswith("jax-cpu.partial-")
    assert partial == run_file_for(slice_, "jax-cpu")  # the same slice, the same file
    assert run_file_for(other, "jax-cpu") != partial
    assert run_file_for(full, "jax-cpu") == runs / "jax-cpu.json"
    # A file holding a slice may be replaced by another slice.
    _run_file(runs / "jax-cpu.json", selection={"pytest_args": ["-k", "x"]})
    assert run_file_for(other, "jax-cpu") == runs / "jax-cpu.json"
    # An unreadable file might be a full run: it is not replaced either.
    (runs / "jax-cpu.json").write_text('{"schema_ver')
    assert run_file_for(slice_, "jax-cpu") == partial


def test_catalog_runs_are_slices_and_shards_keep_their_suffix(tmp_path: Path) -> None:
    catalog = tmp_path / "mine.py"
    catalog.write_text("CASES = []\n")
    _run_file(tmp_path / "runs" / "jax-cpu.shard-1-of-2.json")
    options = _parse(tmp_path, "--output", "runs", "--shard", "1/2", "--catalog", str(catalog))
    assert options.selection == {"pytest_args": [], "catalogs": [str(catalog.resolve())]}
    name = run_file_for(options, "jax-cpu").name
    assert name.startswith("jax-cpu.shard-1-of-2.partial-")


def test_gpu_guard_keeps_real_runs_and_unreadable_files_without_crashing(
        tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere" / "jax-gpu.json"  # --output outside the project
    assert runfiles.gpu_run_to_keep(outside, ROOT) == (False, "")
    _run_file(outside, ran=True)
    keep, message = runfiles.gpu_run_to_keep(outside, ROOT)
    assert keep
    assert str(outside) in message
    assert "really ran on a GPU" in message
    outside.write_text('{"schema_version": 1, "environment": {"ran": tr')  # truncated
    keep, message = runfiles.gpu_run_to_keep(outside, ROOT)
    assert keep
    assert "not a readable run file" in message
    _run_file(outside, ran=False)
    assert runfiles.gpu_run_to_keep(outside, ROOT) == (False, "")
    inside = ROOT / "reports" / "runs" / "jax-gpu.json"
    if inside.exists():
        keep, message = runfiles.gpu_run_to_keep(inside, ROOT)
        assert "reports/runs/jax-gpu.json" in message


def test_seed_artifacts_copies_only_missing_files(tmp_path: Path) -> None:
    published, local = tmp_path / "published", tmp_path / "local"
    (published / "jax").mkdir(parents=True)
    (published / "jax" / "m.keras").write_text("committed")
    (published / "minimum" / "torch").mkdir(parents=True)
    (published / "minimum" / "torch" / "m.keras").write_text("committed 3.6")
    (local / "jax").mkdir(parents=True)
    (local / "jax" / "m.keras").write_text("saved locally")
    copied = runfiles.seed_artifacts(published, local)
    assert copied == [local / "minimum" / "torch" / "m.keras"]
    assert (local / "jax" / "m.keras").read_text() == "saved locally"
    assert runfiles.seed_artifacts(published, published) == []


def test_publish_local_copies_full_runs_and_artifacts_not_partials(tmp_path: Path) -> None:
    local, published = tmp_path / "local", tmp_path / "reports"
    with pytest.raises(FileNotFoundError, match="run an environment first"):
        runfiles.publish_local(local, published)
    _run_file(local / "runs" / "jax-cpu.json")
    _run_file(local / "runs" / "jax-cpu.partial-abcd1234.json", selection={"pytest_args": []})
    _run_file(local / "runs" / "torch-cpu.json", selection={"pytest_args": ["-k", "x"]})
    (local / "artifacts" / "jax").mkdir(parents=True)
    (local / "artifacts" / "jax" / "m.keras").write_text("new")
    _run_file(published / "runs" / "jax-gpu.json")  # ran elsewhere: kept
    lines = runfiles.publish_local(local, published)
    assert sorted(p.name for p in (published / "runs").iterdir()) == [
        "jax-cpu.json", "jax-gpu.json"]
    assert (published / "artifacts" / "jax" / "m.keras").read_text() == "new"
    assert sum(line.startswith("skipped") for line in lines) == 2


def test_publish_local_skips_what_is_not_a_regular_file(tmp_path: Path) -> None:
    """A FIFO or a link to /dev/zero named *.json in the local runs would never end a copy
    (found by the issue-23 attacks on the report; `publish_local` copied with copy2)."""
    local, published = tmp_path / "local", tmp_path / "reports"
    _run_file(local / "runs" / "jax-cpu.json")
    os.mkfifo(local / "runs" / "numpy-cpu.json")
    (local / "runs" / "torch-cpu.json").symlink_to("/dev/zero")
    (local / "bisect").mkdir()
    os.mkfifo(local / "bisect" / "case.jax-cpu.json")
    lines = runfiles.publish_local(local, published)
    assert sorted(p.name for p in (published / "runs").iterdir()) == ["jax-cpu.json"]
    skipped = [line for line in lines if line.startswith("skipped")]
    assert len(skipped) == 3
    assert any("numpy-cpu.json" in line and "FIFO" in line for line in skipped), skipped


def _nox(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KERAS_", "KCM_"))}
    return subprocess.run([sys.executable, "-m", "nox", "--noxfile", str(ROOT / "noxfile.py"),
                           *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300, check=False)


def test_nox_run_refuses_a_crafted_shard_before_touching_files(tmp_path: Path) -> None:
    target = tmp_path / "victim"
    target.mkdir()
    (target / "keep.json").write_text("{}")
    crafted = f"../../../../../../../..{target}/keep"
    done = _nox("-s", "run(torch-cpu)", "--", "--shard", crafted, "--output", str(tmp_path))
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert "--shard must be I/N" in output
    assert (target / "keep.json").read_text() == "{}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["victim"]


def test_a_second_run_of_one_environment_stops_with_a_clear_message(tmp_path: Path) -> None:
    lock = ROOT / "reports" / ".work" / "torch-cpu.shard-1-of-7.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(lock, timeout=0):  # another run holds it
        done = _nox("-s", "run(torch-cpu)", "--", "--shard", "1/7", "--output", str(tmp_path))
    assert done.returncode != 0
    assert "another run of this environment is in progress" in done.stdout + done.stderr
    assert list(tmp_path.iterdir()) == []


def test_each_slice_and_shard_works_in_its_own_folder(tmp_path: Path) -> None:
    """Issue 12, item 5: another -k, catalog or shard never wipes an interrupted run."""
    catalog = tmp_path / "mine.py"
    catalog.write_text("CASES = []\n")
    options = {
        "full": _parse(tmp_path),
        "k a": _parse(tmp_path, "-k", "a"),
        "k b": _parse(tmp_path, "-k", "b"),
        "catalog": _parse(tmp_path, "--catalog", str(catalog)),
        "shard": _parse(tmp_path, "--shard", "1/3"),
        "shard k a": _parse(tmp_path, "--shard", "1/3", "-k", "a"),
    }
    folders = {name: runfiles.work_dir_for(o, "jax-cpu", tmp_path / ".work")
               for name, o in options.items()}
    assert len(set(folders.values())) == len(folders)
    assert folders["full"] == tmp_path / ".work" / "jax-cpu"
    assert folders["k a"] == runfiles.work_dir_for(_parse(tmp_path, "-k", "a"), "jax-cpu",
                                                   tmp_path / ".work")
    # The -k a run was killed mid-run; then a -k b run starts: a's log is untouched.
    from matrix.run import resume

    interrupted = folders["k a"]
    interrupted.mkdir(parents=True)
    (interrupted / resume.LOG).write_text('{"$report_type": "SessionStart"}\n')
    resume.prepare(folders["k b"], "auto", "fingerprint of b")
    resume.prepare(folders["full"], "fresh", "fingerprint of the full run")
    assert (interrupted / resume.LOG).read_text() == '{"$report_type": "SessionStart"}\n'


# --- issue 23: a command that must write the run file exits 0 without writing it -------------

class _Aborted(Exception):
    pass


class _Session:
    """Stands in for `nox.Session`: `run` does what `command` does; `error` aborts."""

    def __init__(self, command: Callable[[], object]) -> None:
        self.command = command
        self.ran: list[tuple[str, ...]] = []
        self.install_only = False

    def run(self, *args: str, **kwargs: object) -> bool | None:
        """True, as nox's `run` returns for a command it ran (not `silent`); None, as under
        `nox --install-only`, when `install_only` is set (nothing runs)."""
        if self.install_only:
            return None
        self.ran.append(args)
        self.command()
        return True

    def error(self, message: str) -> None:
        raise _Aborted(message)


def test_a_fold_that_exits_0_without_writing_the_run_file_fails_the_session(
        tmp_path: Path) -> None:
    from matrix.run import session as logic

    run_file = tmp_path / "jax-cpu.json"
    run_file.write_text("the previous run", encoding="utf-8")
    fold = ("python", "-m", "matrix.results", "fold", "--output", str(run_file))
    silent: Any = _Session(lambda: None)  # e.g. os._exit(0) at a catalog's import (ctypes)
    with pytest.raises(_Aborted) as aborted:
        logic.run_writing(silent, run_file, ["my_cases.py"], *fold, then=", and more")
    message = str(aborted.value)
    assert message.startswith(f"`python -m matrix.results fold` exited with status 0 "
                              f"without writing {run_file}; it loaded the user catalog(s) "
                              "my_cases.py")
    assert message.endswith("Nothing was lost: the previous run file is unchanged, and more")
    assert run_file.read_text(encoding="utf-8") == "the previous run"
    assert silent.ran == [fold]
    with pytest.raises(_Aborted, match="there was no run file before"):
        logic.run_writing(silent, tmp_path / "none.json", [], *fold)


def test_nox_install_only_skips_the_fold_and_asks_for_no_run_file(tmp_path: Path) -> None:
    from matrix.run import session as logic

    session: Any = _Session(lambda: None)
    session.install_only = True
    logic.run_writing(session, tmp_path / "jax-cpu.json", [], "python", "-m", "matrix.results",
                      "fold")
    assert session.ran == []
    assert not (tmp_path / "jax-cpu.json").exists()


def test_a_fold_that_writes_the_run_file_passes_even_with_the_same_bytes(tmp_path: Path
                                                                          ) -> None:
    from matrix.run import session as logic

    run_file = tmp_path / "jax-cpu.json"
    run_file.write_text("same", encoding="utf-8")

    def rewrite() -> None:  # as `dump_run` writes: a temporary file renamed over it
        (tmp_path / "jax-cpu.json.tmp").write_text("same", encoding="utf-8")
        (tmp_path / "jax-cpu.json.tmp").replace(run_file)

    session: Any = _Session(rewrite)
    logic.run_writing(session, run_file, ["my_cases.py"], "python", "-m", "x")
    first = tmp_path / "first.json"
    session = _Session(lambda: first.write_text("{}"))
    logic.run_writing(session, first, [], "python")


ENDING_CATALOGS = {
    "os._exit(0)": ("import os\nos._exit(0)\n", "importing it called os._exit(0)"),
    "libc _exit(0), past the loader": ("import ctypes\nctypes.CDLL(None)._exit(0)\n",
                                       "exited with status 0 without writing"),
}


@pytest.mark.e2e
@pytest.mark.parametrize("attack", list(ENDING_CATALOGS))
def test_a_catalog_ending_its_process_at_import_fails_the_run_session(tmp_path: Path,
                                                                      attack: str) -> None:
    """`nox -s run(...) -- --catalog my_cases.py` was successful with no run file written."""
    from harness import harness_env

    source, words = ENDING_CATALOGS[attack]
    catalog = tmp_path / "my_cases.py"
    catalog.write_text(source, encoding="utf-8")
    out = tmp_path / "runs"
    out.mkdir()
    previous = out / "numpy-cpu.json"  # a slice's file: this slice writes over it
    previous.write_text(json.dumps({"environment": {"provenance": {"selection": {
        "pytest_args": ["-k", "rank2"], "catalogs": [str(catalog)]}}}}), encoding="utf-8")
    before = previous.read_bytes()
    done = subprocess.run(
        [sys.executable, "-m", "nox", "--noxfile", str(ROOT / "noxfile.py"), "-s",
         "run(numpy-cpu)", "--", "--catalog", str(catalog), "--output", str(out), "-k",
         "embedding and rank2 and int32 and eager"],
        cwd=ROOT, env=harness_env(tmp_path), capture_output=True, text=True, timeout=900,
        check=False)
    output = done.stdout + done.stderr
    assert done.returncode != 0, output[-3000:]
    assert words in output, output[-3000:]
    assert str(catalog) in output
    assert previous.read_bytes() == before
    assert sorted(p.name for p in out.iterdir()) == ["numpy-cpu.json"]


def test_a_run_is_sampled_unless_full_or_a_selection_asks_for_its_cases(tmp_path: Path
                                                                       ) -> None:
    assert _parse(tmp_path).sampled is True  # bare `nox`: the default run
    assert _parse(tmp_path, "--full").sampled is False
    assert _parse(tmp_path, "-k", "lstm").sampled is False  # a case asked for by name runs
    assert _parse(tmp_path, "-k", "lstm", "--sample").sampled is True
    catalog = tmp_path / "mine.py"
    catalog.write_text("CASES = []\n")
    assert _parse(tmp_path, "--catalog", str(catalog)).sampled is True
    with pytest.raises(runfiles.OptionError, match="--full --sample"):
        _parse(tmp_path, "--full", "--sample")


def test_harness_options_are_parsed_by_argparse_and_the_rest_goes_to_pytest(
        tmp_path: Path) -> None:
    for name in ("a.py", "b.py"):
        (tmp_path / name).write_text("CASES = []\n", encoding="utf-8")
    options = _parse(tmp_path, "-k", "rank2 and int64", "--jobs=2", "-x", "--ful",
                     "--catalog", str(tmp_path / "a.py"), f"--catalog={tmp_path / 'b.py'}",
                     "--resume", "--fresh", "--", "--jobs", "3")
    assert options.jobs == 2
    # No abbreviations: `--ful` is not `--full`; after `--` everything is pytest's.
    assert options.pytest_args == ("-k", "rank2 and int64", "-x", "--ful", "--", "--jobs", "3")
    assert not options.full
    assert [p.name for p in options.catalogs] == ["a.py", "b.py"]
    assert options.resume == "fresh"  # the last of --fresh and --resume
    assert _parse(tmp_path, "--fresh", "--resume").resume == "resume"
    assert _parse(tmp_path).resume == "auto"
    assert _parse(tmp_path, "-k", "x", "--", "--fresh").resume == "auto"
    with pytest.raises(OptionError, match=r"^--output needs a value\. Received: --output with "
                                          r"none$"):
        _parse(tmp_path, "-k", "x", "--output")


def test_a_shard_is_read_from_text_in_one_place() -> None:
    assert Shard.parse("2/3") == Shard(2, 3)
    assert str(Shard.parse("02/3")) == "2/3"
    assert Shard(1, 7).suffix == ".shard-1-of-7"
    for bad in ("0/3", "4/3", "1/0", "-1/3", "a/b", "1/2/3", "1234567/1234567", ""):
        with pytest.raises(ValueError, match="expected I/N"):
            Shard.parse(bad)
    with pytest.raises(ValueError, match="1 <= index <= count"):
        Shard(3, 2)
