"""A run file stores each distinct repro prelude once (`matrix.results.io.dump_run`), and
`load_run` gives every program back whole; an older file (plain repro strings) still reads."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from cases.load import builtin_cases
from matrix.records import SCHEMA_VERSION, CaseInfo, EnvironmentInfo, Run
from matrix.results.io import RunFileError, dump_run, load_run
from matrix.run.program import render


def _run() -> Run:
    picked = [c for c in builtin_cases() if c.id.startswith(("ops-dtypes-add-int8_int64",
                                                            "embedding-dtype"))][:6]
    cases = [CaseInfo(id=c.id, group=c.group, description=c.description,
                      axes={k: v for k, v in c.axes.items() if isinstance(v, (str, int))},
                      repro=render(c)) for c in picked]
    cases.append(CaseInfo(id="no-program", group="g", description="d", axes={}, repro=None))
    cases.append(CaseInfo(id="no-docstring", group="g", description="d", axes={},
                          repro="import keras\n\ndef program():\n    return 1\n"))
    env = EnvironmentInfo(id="jax-cpu", backend="jax", device="cpu", ran=True)
    return Run(schema_version=SCHEMA_VERSION, environment=env, cases=cases, results=[])


def test_each_prelude_is_stored_once_and_every_program_comes_back_whole(tmp_path: Path
                                                                        ) -> None:
    run = _run()
    path = tmp_path / "jax-cpu.json"
    dump_run(run, path)
    raw = json.loads(path.read_text(encoding="utf-8"))
    assert len(raw["preludes"]) == 1  # six programs of one harness share one prelude
    assert "import json" in raw["preludes"][0]
    split = [c["repro"] for c in raw["cases"]]
    assert all(isinstance(r, list) and r[1] == 0 for r in split[:6])
    assert split[6] is None
    assert isinstance(split[7], str)  # no docstring: kept whole
    assert load_run(path) == run
    # written whole, it was several times the size
    whole = tmp_path / "whole.json"
    raw_whole = {k: v for k, v in raw.items() if k != "preludes"}
    raw_whole["cases"] = json.loads(json.dumps(raw["cases"]))
    for case, info in zip(raw_whole["cases"], run.cases, strict=True):
        case["repro"] = info.repro
    whole.write_text(json.dumps(raw_whole, indent=1), encoding="utf-8")
    assert path.stat().st_size * 2 < whole.stat().st_size
    assert load_run(whole) == run  # an older file, plain strings and no `preludes`


@pytest.mark.parametrize(("change", "field"), [
    (lambda raw: raw["cases"][0].update(repro=["d", 5, "r"]), "cases.0.repro"),
    (lambda raw: raw["cases"][0].update(repro=["d", True, "r"]), "cases.0.repro"),
    (lambda raw: raw["cases"][1].update(repro=["d", 0]), "cases.1.repro"),
    (lambda raw: raw.update(preludes="import keras"), "preludes"),
    (lambda raw: raw.update(preludes=[1]), "preludes"),
])
def test_a_bad_prelude_reference_is_refused_by_file_and_field(tmp_path: Path, change: object,
                                                               field: str) -> None:
    path = tmp_path / "jax-cpu.json"
    dump_run(_run(), path)
    raw = json.loads(path.read_text(encoding="utf-8"))
    assert callable(change)
    change(raw)
    path.write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(RunFileError, match=f"jax-cpu.json: field `{field}`"):
        load_run(path)


def test_a_run_without_cases_has_no_preludes(tmp_path: Path) -> None:
    path = tmp_path / "jax-cpu.json"
    run = replace(_run(), cases=[])
    dump_run(run, path)
    assert json.loads(path.read_text(encoding="utf-8"))["preludes"] == []
    assert load_run(path) == run
