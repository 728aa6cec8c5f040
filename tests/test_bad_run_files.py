"""Bad run files (issue 12, item 10): each refused or flagged by file and field, the rest rendered.

Every attack puts one bad `jax-cpu` file beside good `tensorflow-cpu` and `torch-cpu` files,
then checks that the report collects without raising, lists the problem (file and field) at
the top of every format, renders the good environments, and that the terminal summary prints.
`diff` exits 2 on a bad compatibility.json.
"""

from __future__ import annotations

import io
import json
import os
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cells import verdict_for
from rich.console import Console

from matrix.diff import main as diff_main
from matrix.records import (
    SCHEMA_VERSION,
    CaseInfo,
    EnvironmentInfo,
    Observation,
    Outcome,
    Result,
    Run,
)
from matrix.report import (
    collect,
    print_summary,
    render_html,
    render_json,
    render_markdown,
    write_reports,
)
from matrix.results.compact import decode
from matrix.results.io import dump_run
from matrix.run import runfiles

ROOT = Path(__file__).resolve().parent.parent
NOW = "2025-01-01T00:00:00+00:00"
IDS = ("tensorflow-cpu", "jax-cpu", "torch-cpu")
ENVS = [EnvironmentInfo(id=e, backend=e.split("-")[0], device="cpu", ran=False) for e in IDS]
CASES = [CaseInfo(id=f"c{i}", group="g", description=f"case {i}", axes={"mode": "eager"})
         for i in range(3)]


def _run(env_id: str, shard: str | None = None) -> Run:
    env = EnvironmentInfo(id=env_id, backend=env_id.split("-")[0], device="cpu", ran=True,
                          versions={"keras": "3.15.1"},
                          provenance={"date": NOW, "git_commit": "0" * 40, "shard": shard,
                                      "catalog": {"cases": 3, "fingerprint": "f" * 16}})
    results = [Result(case=c.id, environment=env_id, outcome=Outcome.PASSED,
                      observed=Observation(kind="value", max_abs_error=0.0),
                      verdict=verdict_for(Outcome.PASSED), duration_s=0.5) for c in CASES]
    return Run(schema_version=SCHEMA_VERSION, environment=env, cases=CASES, results=results)


def _good_jax(tmp_path: Path) -> dict[str, Any]:
    dump_run(_run("jax-cpu"), tmp_path / "scratch.json")
    data: dict[str, Any] = json.loads((tmp_path / "scratch.json").read_text("utf-8"))
    (tmp_path / "scratch.json").unlink()
    return data


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], str]:
    def edit(data: dict[str, Any]) -> str:
        *parents, last = path.split(".")
        node: Any = data
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        node[int(last) if isinstance(node, list) else last] = value
        return json.dumps(data)
    return edit


def _literal(path: str, literal: str) -> Callable[[dict[str, Any]], str]:
    """Writes `literal` (not JSON's own spelling of a value) at `path`."""
    def edit(data: dict[str, Any]) -> str:
        return _set(path, "@@HERE@@")(data).replace('"@@HERE@@"', literal)
    return edit


def _duplicate_cell(data: dict[str, Any]) -> str:
    data["results"].append(dict(data["results"][0]))
    return json.dumps(data)


def _deep(data: dict[str, Any]) -> str:
    return "[" * 200_000 + "]" * 200_000


ATTACKS: dict[str, tuple[Callable[[dict[str, Any]], str], str]] = {
    "nested 200,000 deep": (_deep, "nested too deep"),
    "1e999 in a duration": (_literal("results.0.duration_s", "1e999"), "results.0.duration_s"),
    "NaN in an error": (_literal("results.1.observed.max_abs_error", "NaN"),
                        "results.1.observed.max_abs_error"),
    "Infinity in a duration": (_literal("results.2.duration_s", "Infinity"),
                               "results.2.duration_s"),
    "the string NaN in a duration": (_set("results.2.duration_s", "NaN"),
                                     "results.2.duration_s"),
    "a wrong type deep in provenance": (_set("environment.provenance.catalog", "oops"),
                                        "environment.provenance.catalog"),
    "a wrong type inside the catalog provenance": (
        _set("environment.provenance.catalog.cases", [1]), "environment.provenance.catalog.cases"),
    "a list for the shard": (_set("environment.provenance.shard", ["1/3"]),
                             "environment.provenance.shard"),
    "a shard past its count": (_set("environment.provenance.shard", "4/3"),
                               "environment.provenance.shard"),
    "terminal markup in the environment id": (_set("environment.id", "[/]jax[bold]"),
                                              "environment.id"),
    "two results for one cell": (_duplicate_cell, "results.3.case"),
    # issue 23: the newest file of an environment wins its merges; 2099 would win for ever
    "a date in the future": (_set("environment.provenance.date", "2099-01-01T00:00:00+00:00"),
                             "environment.provenance.date"),
}


def _write_good(tmp_path: Path) -> None:
    dump_run(_run("tensorflow-cpu"), tmp_path / "tensorflow-cpu.json")
    dump_run(_run("torch-cpu"), tmp_path / "torch-cpu.json")


def _renders(tmp_path: Path, *needles: str) -> None:
    """Collects the folder; checks the problem is on top and the good columns rendered."""
    matrix = collect(tmp_path, ENVS, now=NOW, limitations=())
    assert matrix.problems, "the bad file was not flagged"
    for needle in needles:
        assert any(needle in p for p in matrix.problems), (needle, matrix.problems)
    envs = {e.id: e for e in matrix.environments}
    assert envs["tensorflow-cpu"].ran
    assert envs["torch-cpu"].ran
    assert [e.id for e in matrix.environments] == list(IDS)  # no stray column
    markdown = render_markdown(matrix)
    assert needles[0] in markdown.split("## Environments", 1)[0]
    render_html(matrix)
    assert decode(render_json(matrix)) == matrix
    console = Console(file=io.StringIO(), width=200)
    print_summary(matrix, console)  # must not raise (rich markup, odd numbers)
    write_reports(matrix, tmp_path / "out")


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_a_bad_file_is_refused_by_file_and_field(tmp_path: Path, attack: str) -> None:
    edit, field = ATTACKS[attack]
    _write_good(tmp_path)
    (tmp_path / "jax-cpu.json").write_text(edit(_good_jax(tmp_path)), encoding="utf-8")
    _renders(tmp_path, "jax-cpu.json", field)
    matrix = collect(tmp_path, ENVS, now=NOW, limitations=())
    jax = next(e for e in matrix.environments if e.id == "jax-cpu")
    assert not jax.ran
    assert {r.outcome for r in matrix.results if r.environment == "jax-cpu"} == {
        Outcome.NOT_RUN}


def test_a_file_named_for_another_environment_does_not_take_its_column(tmp_path: Path
                                                                         ) -> None:
    dump_run(_run("tensorflow-cpu"), tmp_path / "tensorflow-cpu.json")
    dump_run(_run("torch-cpu"), tmp_path / "torch-cpu.json")
    impostor = _run("tensorflow-cpu")
    dump_run(impostor, tmp_path / "jax-cpu.json")  # named jax-cpu, claims tensorflow-cpu
    _renders(tmp_path, "jax-cpu.json", "environment.id")
    matrix = collect(tmp_path, ENVS, now=NOW, limitations=())
    assert "jax-cpu.json" in (next(e for e in matrix.environments
                                   if e.id == "jax-cpu").reason or "")


def test_a_lone_shard_is_flagged_as_incomplete(tmp_path: Path) -> None:
    _write_good(tmp_path)
    dump_run(_run("jax-cpu", shard="1/3"), tmp_path / "jax-cpu.shard-1-of-3.json")
    _renders(tmp_path, "jax-cpu.shard-1-of-3.json", "2/3, 3/3 missing")


def test_two_of_three_shards_are_flagged(tmp_path: Path) -> None:
    _write_good(tmp_path)
    for index, case in ((1, CASES[0]), (3, CASES[2])):
        run = _run("jax-cpu", shard=f"{index}/3")
        run = Run(schema_version=run.schema_version, environment=run.environment,
                  cases=[case], results=[r for r in run.results if r.case == case.id])
        dump_run(run, tmp_path / f"jax-cpu.shard-{index}-of-3.json")
    _renders(tmp_path, "jax-cpu", "2/3 missing")


@pytest.mark.parametrize("text", ["[" * 200_000 + "]" * 200_000,
                                  '{"schema_version": 2, "generated_at": 1e999}',
                                  '{"schema_version": NaN}'])
def test_diff_exits_2_on_bad_input(tmp_path: Path, text: str,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(text, encoding="utf-8")
    assert diff_main([str(bad), str(bad)]) == 2
    assert "bad.json" in capsys.readouterr().err


# --- issue 12, item 11: a full disk replaces the three reports together or not at all ------

@pytest.mark.parametrize("fail_at", [1, 2, 3, 4, 5, 6])
def test_a_full_disk_keeps_the_old_reports_and_leaves_no_temporaries(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fail_at: int) -> None:
    _write_good(tmp_path)
    out = tmp_path / "out"
    old = collect(tmp_path, ENVS, now=NOW, limitations=())
    write_reports(old, out)

    def files() -> dict[str, bytes]:
        return {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*")
                if p.is_file()}

    before = files()
    dump_run(_run("jax-cpu"), tmp_path / "jax-cpu.json")
    new = collect(tmp_path, ENVS, now="2026-01-01T00:00:00+00:00", limitations=())
    real_write = Path.write_bytes
    writes = []

    def full_disk(self: Path, data: bytes) -> int:  # `matrix.atomic` writes bytes
        writes.append(self.name)
        if len(writes) == fail_at:  # half a file lands, then the disk is full
            real_write(self, data[: len(data) // 2])
            raise OSError(28, "No space left on device")
        return real_write(self, data)

    monkeypatch.setattr(Path, "write_bytes", full_disk)
    with pytest.raises(OSError, match="No space"):
        write_reports(new, out)
    monkeypatch.undo()
    assert files() == before  # no .tmp, nothing new
    assert sorted(before) == ["compatibility-data/00-g.js", "compatibility.html",
                              "compatibility.json", "compatibility.md",
                              *(f"results/{e}.json" for e in sorted(IDS))]


# --- issue 23: only regular files are read; a FIFO or a link to /dev/zero is refused by name --

def _special(folder: Path, kind: str, name: str) -> Path:
    path = folder / name
    if kind == "fifo":
        os.mkfifo(path)  # a reader of it waits for a writer forever
    else:
        path.symlink_to("/dev/zero")  # a reader of it never reaches the end
    return path


def _bounded_memory() -> None:
    """In the child: a build that reads /dev/zero ends in MemoryError, not in the OOM killer."""
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))


@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_the_report_skips_a_special_file_named_json_by_name(tmp_path: Path, kind: str) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    _write_good(runs)
    _special(runs, kind, "jax-cpu.json")
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "matrix.report", "--runs", str(runs), "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
        preexec_fn=_bounded_memory, env={**os.environ, "COLUMNS": "400"})
    assert done.returncode == 0, done.stderr
    problems = json.loads((out / "compatibility.json").read_text(encoding="utf-8"))["problems"]
    (problem,) = [p for p in problems if "jax-cpu.json" in p]
    assert "not a regular file" in problem
    assert "This file was skipped." in problem
    assert "jax-cpu.json: not a regular file" in done.stdout  # the warning on the terminal
    environments = {e["id"]: e for e in json.loads(
        (out / "compatibility.json").read_text(encoding="utf-8"))["environments"]}
    assert environments["tensorflow-cpu"]["ran"]
    assert not environments["jax-cpu"]["ran"]


@pytest.mark.timeout(60)  # a reader that opens the FIFO waits for a writer
def test_collect_refuses_a_fifo_without_opening_it(tmp_path: Path) -> None:
    # In this process only the FIFO: a reader of /dev/zero would fill memory before a
    # timeout could stop it, so that one is tested in a child with bounded memory (above).
    _write_good(tmp_path)
    _special(tmp_path, "fifo", "jax-cpu.json")
    _renders(tmp_path, "jax-cpu.json: not a regular file (a FIFO)", "This file was skipped.")


def test_a_run_file_over_the_size_cap_is_refused_by_name(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write_good(tmp_path)
    cap = max(p.stat().st_size for p in tmp_path.glob("*.json"))
    (tmp_path / "jax-cpu.json").write_text(json.dumps(_good_jax(tmp_path)) + " " * cap,
                                           encoding="utf-8")  # valid JSON, over the cap
    size = (tmp_path / "jax-cpu.json").stat().st_size
    monkeypatch.setattr(runfiles, "MAX_READ_BYTES", cap)
    _renders(tmp_path, "jax-cpu.json", f"{size} bytes, more than the {cap} bytes read")
