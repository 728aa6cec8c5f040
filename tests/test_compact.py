"""The compact published form (`matrix.results.compact`, schema_version 3): lossless, each
shared text stored once, and a loader that names the file and the field of a bad one."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pydantic_core
import pytest

from matrix.records import (
    SCHEMA_VERSION,
    Attempt,
    CaseInfo,
    EnvironmentInfo,
    LimitationInfo,
    Matrix,
    Observation,
    Outcome,
    Result,
    Verdict,
)
from matrix.results.compact import (
    BY_CASE,
    COLUMNS,
    INDEX_NAME,
    RECORDS,
    MatrixFileError,
    decode,
    encode,
    load_matrix,
)
from matrix.results.io import MATRIX_ADAPTER

PRELUDE = "\nimport numpy as np\nimport keras\n\ndef seeded():\n    return 1\n"
WARNING = "DeprecationWarning: `np.bool8` is a deprecated alias for `np.bool_`"


def _repro(case_id: str) -> str:
    return f'"""{case_id}: the program.\n"""\n{PRELUDE}\ndef program():\n    return 1\n'


def _matrix(env_ids: tuple[str, ...] = ("jax-cpu", "torch-cpu"), cases: int = 3) -> Matrix:
    """A small matrix as `merge_runs` orders it: case by case, environment by environment."""
    case_infos = [CaseInfo(id=f"case-{i}", group="g", description=f"case {i}",
                           axes={"dtype": "int32", "n": i}, subject="layers.Embedding",
                           repro=_repro(f"case-{i}"), facts={"calls": ["layers.Embedding"]})
                  for i in range(cases)]
    envs = [EnvironmentInfo(id=e, backend=e.split("-")[0], device="cpu", ran=True,
                            versions={"keras": "3.15.1"}, provenance={"python": "3.11.7"})
            for e in env_ids]
    results = []
    for i, case in enumerate(case_infos):
        for j, env in enumerate(envs):
            error = [0.0, math.inf, -math.inf, 1.5e-7][(i + j) % 4]
            observed = Observation(kind="value", shape=[2, i], dtype="float32",
                                   max_abs_error=error, nan_count=0, device="cpu:0",
                                   warnings=[WARNING], timings={"program_s": 0.25 * i},
                                   fingerprint={"values": ["1", "nan"]} if j else None)
            verdict = (Verdict(status="matched") if i % 2 else
                       Verdict(status="mismatched", cause="values_differ",
                               detail=f"max abs error {error}"))
            attempts = ([Attempt(verdict=Verdict(status="timeout"),
                                 observed=Observation(kind="timeout", message="ran past 60 s"),
                                 duration_s=60.0), Attempt(verdict=verdict, observed=observed)]
                        if i == 2 else [])
            results.append(Result(case=case.id, environment=env.id,
                                  outcome=Outcome.PASSED if i % 2 else Outcome.XFAILED,
                                  observed=observed, verdict=verdict, duration_s=0.5 + i,
                                  limitation=None if i % 2 else "lim-1",
                                  flaky=False if i == 2 else None, attempts=attempts))
    return Matrix(schema_version=SCHEMA_VERSION, generated_at="2026-12-06T00:00:00+00:00",
                  environments=envs, cases=case_infos, results=results,
                  limitations=[LimitationInfo(id="lim-1", description="differs",
                                              link="https://example.org/1", cells=2)],
                  problems=["a problem"])


def test_columns_are_exactly_the_records_fields() -> None:
    """A field added to a record without a column would be lost: the columns name them all
    (`environment` is the results file's own)."""
    for kind, record in RECORDS.items():
        names = [f.name for f in dataclasses.fields(record)]
        columns = [name for name, _ in COLUMNS[kind]]
        if kind == "result":
            names.remove("environment")
        assert columns == names, kind


def test_round_trip_is_exact_with_infinities() -> None:
    matrix = _matrix()
    files = encode(matrix, "gen")
    assert list(files) == [INDEX_NAME, "results/jax-cpu.json", "results/torch-cpu.json"]
    assert decode(files) == matrix
    errors = [r.observed.max_abs_error for r in decode(files).results]
    assert errors[:4] == [0.0, math.inf, math.inf, -math.inf]
    assert '"Infinity"' in files["results/torch-cpu.json"]  # strings, as pydantic writes them


def test_a_row_written_before_a_column_was_added_reads_it_as_null() -> None:
    matrix = _matrix()
    first = dataclasses.replace(matrix.results[0], observed=dataclasses.replace(
        matrix.results[0].observed, alternatives={"inputs_cut_to_32_bits": True}))
    files = encode(dataclasses.replace(matrix, results=[first, *matrix.results[1:]]))
    assert decode(files).results[0].observed.alternatives == {"inputs_cut_to_32_bits": True}
    name = next(n for n in files if n.startswith("results/"))
    doc = json.loads(files[name])
    for row in doc["results"]:
        row[2].pop()  # the compact version 3 rows of an older harness: no `alternatives`
    back = decode({**files, name: json.dumps(doc)})
    assert [r.observed.alternatives for r in back.results] == [None] * len(back.results)


def test_nan_survives() -> None:
    matrix = _matrix()
    first = dataclasses.replace(matrix.results[0], observed=dataclasses.replace(
        matrix.results[0].observed, max_abs_error=math.nan))
    back = decode(encode(dataclasses.replace(matrix, results=[first, *matrix.results[1:]])))
    assert back.results[0].observed.max_abs_error is not None
    assert math.isnan(back.results[0].observed.max_abs_error)
    assert back.results[1:] == matrix.results[1:]


def test_shared_text_is_stored_once() -> None:
    files = encode(_matrix(cases=5), "gen")
    index = json.loads(files[INDEX_NAME])
    assert index["preludes"] == [PRELUDE]
    assert files[INDEX_NAME].count("def seeded") == 1
    assert index["cases"][1]["repro"] == ['"""case-1: the program.\n"""\n', 0,
                                          "\ndef program():\n    return 1\n"]
    assert index["result_order"] == BY_CASE
    results = files["results/jax-cpu.json"]
    assert results.count("np.bool8") == 1
    doc = json.loads(results)
    assert doc["strings"].count(WARNING) == 1
    assert len(doc["results"]) == 5
    assert doc["results"][3][0] == 3  # the case, as its index in the index's `cases`
    # One row a line: a changed cell changes one line.
    assert len([line for line in results.splitlines() if line.startswith("[")]) == 5


def test_any_order_and_unlisted_cases_and_odd_ids_round_trip() -> None:
    matrix = _matrix(("jax-cpu", "Odd Env/../x"))
    stray = dataclasses.replace(matrix.results[0], case="not-a-listed-case")
    shuffled = dataclasses.replace(matrix, results=[*matrix.results[::-1], stray])
    files = encode(shuffled)
    # The odd id comes first now (file 0), and names no file; the stray joins the last run.
    assert list(files) == [INDEX_NAME, "results/_0.json", "results/jax-cpu.json"]
    assert json.loads(files[INDEX_NAME])["result_order"] == [[0, 1], [1, 1]] * 2 + [[0, 1],
                                                                                     [1, 2]]
    assert decode(files) == shuffled


def test_empty_matrix_round_trips() -> None:
    empty = Matrix(schema_version=SCHEMA_VERSION, generated_at="now", environments=[],
                   cases=[], results=[])
    assert list(encode(empty)) == [INDEX_NAME]
    assert decode(encode(empty)) == empty


def _write(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path / INDEX_NAME


def test_load_matrix_reads_both_forms(tmp_path: Path) -> None:
    matrix = _matrix()
    assert load_matrix(_write(tmp_path / "new", encode(matrix))) == matrix
    old = tmp_path / "old" / INDEX_NAME
    old.parent.mkdir()
    # The single file of schema_version 2, as `render_json` wrote it before.
    old.write_bytes(pydantic_core.to_json(MATRIX_ADAPTER.dump_python(matrix), indent=1,
                                          inf_nan_mode="strings"))
    assert json.loads(old.read_text())["schema_version"] == SCHEMA_VERSION
    assert load_matrix(old) == matrix


def _edit(files: dict[str, str], name: str, edit: object) -> dict[str, str]:
    doc = json.loads(files[name])
    edit(doc)  # type: ignore[operator]
    return {**files, name: json.dumps(doc)}


def test_bad_files_are_named_with_their_field(tmp_path: Path) -> None:
    files = encode(_matrix())
    results = tmp_path / "results" / "torch-cpu.json"

    def fails(texts: dict[str, str], *words: str) -> None:
        for target in sorted(tmp_path.rglob("*.json")):
            target.unlink()
        with pytest.raises(MatrixFileError) as caught:
            load_matrix(_write(tmp_path, texts))
        for word in words:
            assert word in str(caught.value)

    fails({k: v for k, v in files.items() if "torch" not in k}, str(results),
          "cannot be read")
    fails(_edit(files, "results/torch-cpu.json",
                lambda d: d["results"][1].__setitem__(1, 999)),
          str(results), "field `results.1.outcome`", "not an index into `strings`")
    fails(_edit(files, "results/torch-cpu.json",
                lambda d: d["results"][2][2].__delitem__(slice(-2, None))),
          str(results), "field `results.2.observed`", "16 columns")
    fails(_edit(files, "results/torch-cpu.json",
                lambda d: d["strings"].__setitem__(d["results"][0][2][0], "no-such-kind")),
          str(results), "field `results.0.observed.kind`")
    fails(_edit(files, INDEX_NAME,
                lambda d: d["result_files"][0].__setitem__("path", "../../etc/passwd")),
          "field `result_files.0`")
    fails(_edit(files, INDEX_NAME, lambda d: d["cases"][0].__setitem__("repro", ["a", 7, "b"])),
          "field `cases.0.repro`", "preludes")
    fails(_edit(files, INDEX_NAME, lambda d: d.__setitem__("result_order", [[0, 99]])),
          "field `result_order.0`")
    fails(_edit(files, INDEX_NAME, lambda d: d.__setitem__("schema_version", 1)),
          "field `schema_version` is 1")
    fails(_edit(files, INDEX_NAME, lambda d: d["cases"][1].pop("id")), "field `cases.1.id`")
    fails({**files, "results/jax-cpu.json": files["results/jax-cpu.json"][:-40]},
          "jax-cpu.json", "not valid JSON")
