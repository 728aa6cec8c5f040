"""The dtype view (`matrix.report.dtypes`, issue 26): op × input dtype(s) → the result dtype
per environment, against the dtype Keras states (`cases/op_table.json`)."""

from __future__ import annotations

from pathlib import Path

from cells import verdict_for

from matrix.records import (
    SCHEMA_VERSION,
    CaseInfo,
    EnvironmentInfo,
    Matrix,
    Observation,
    Outcome,
    Result,
)
from matrix.report import render_html, render_markdown, write_reports
from matrix.report.dtypes import DTYPES_PAGE, dtype_view, render_dtypes

ENVS = ("numpy-cpu", "jax-cpu", "tensorflow-cpu", "torch-gpu")


def _case(op: str, dtype: str, mode: str = "eager") -> CaseInfo:
    return CaseInfo(id=f"ops-dtypes-{op}-{dtype}-rank2-ordinary-{mode}", group="ops-dtypes",
                    description=f"keras.ops.{op}(...)", subject=f"ops.{op}",
                    axes={"subject": f"ops.{op}", "op": op, "input_dtype": dtype, "rank": 2,
                          "values": "ordinary", "mode": mode})


def _value(dtype: str) -> tuple[Outcome, Observation]:
    return Outcome.PASSED, Observation(kind="value", dtype=dtype, shape=[2, 3], nan_count=0)


def _matrix() -> Matrix:
    envs = [EnvironmentInfo(id=e, backend=e.split("-")[0], device=e.split("-")[1],
                            ran=e != "torch-gpu", reason="no GPU" if e == "torch-gpu" else None)
            for e in ENVS]
    # ops.add of int8 and uint8: Keras states int16. ops.sqrt of float64: float32, but float64
    # on TensorFlow (its result_type keeps 64-bit types). ops.sinc (no table entry): compared
    # with each other only.
    cells = [
        (_case("add", "int8_uint8"), [_value("int16"), _value("int16"), _value("int16")]),
        (_case("sqrt", "float64"), [_value("float32"), _value("float16"), _value("float64")]),
        (_case("reciprocal", "int8"), [_value("int8"), _value("float32"),
                                       (Outcome.FAILED, Observation(
                                           kind="error", error_type="InvalidArgumentError",
                                           message="cannot compute Reciprocal"))]),
        (_case("sinc", "int8"), [_value("float32"), _value("float32"), _value("float64")]),
        (CaseInfo(id="embedding-x", group="embedding", description="Embedding",
                  axes={"values": "in_range"}), [_value("float32")] * 3),
    ]
    results = []
    for case, answers in cells:
        for env, answer in zip(ENVS, [*answers, None], strict=True):
            if answer is None:
                results.append(Result(case=case.id, environment=env, outcome=Outcome.NOT_RUN,
                                      observed=Observation(kind="not_run", message="no GPU"),
                                      verdict=verdict_for(Outcome.NOT_RUN, "no GPU")))
            else:
                outcome, observed = answer
                results.append(Result(case=case.id, environment=env, outcome=outcome,
                                      observed=observed, verdict=verdict_for(outcome)))
    return Matrix(schema_version=SCHEMA_VERSION, generated_at="2026-12-06T00:00:00+00:00",
                  environments=envs, cases=[case for case, _ in cells], results=results)


def test_each_cell_is_judged_against_the_dtype_keras_states() -> None:
    view = dtype_view(_matrix())
    assert view is not None
    assert view.environments == ("numpy-cpu", "jax-cpu", "tensorflow-cpu")  # those that ran
    rows = {row.op: row for row in view.rows}
    assert set(rows) == {"ops.add", "ops.sqrt", "ops.reciprocal", "ops.sinc"}  # no Embedding
    assert rows["ops.add"].expected == "int16"
    assert [c.status for c in rows["ops.add"].cells] == ["rule", "rule", "rule"]
    assert not rows["ops.add"].differs
    sqrt = rows["ops.sqrt"]
    assert sqrt.expected == "float32"
    # float16 on jax is another dtype than stated; float64 is what Keras states on TensorFlow.
    assert [(c.text, c.status) for c in sqrt.cells] == [
        ("float32", "rule"), ("float16", "differs"), ("float64", "backend")]
    reciprocal = rows["ops.reciprocal"]
    assert reciprocal.expected == "float32"
    assert [(c.text, c.status) for c in reciprocal.cells] == [
        ("int8", "differs"), ("float32", "rule"), ("error: InvalidArgumentError", "error")]
    sinc = rows["ops.sinc"]
    assert sinc.expected is None
    assert [c.status for c in sinc.cells] == ["agree", "agree", "disagree"]
    assert view.summary["ops.reciprocal"] == (1, (1, 0, 1))
    assert view.summary["ops.sqrt"] == (1, (0, 1, 0))
    assert [row.op for row in view.differing] == ["ops.sqrt", "ops.reciprocal", "ops.sinc"]


def test_a_matrix_without_dtype_cases_has_no_view(tmp_path: Path) -> None:
    matrix = _matrix()
    plain = Matrix(schema_version=SCHEMA_VERSION, generated_at=matrix.generated_at,
                   environments=matrix.environments,
                   cases=[c for c in matrix.cases if c.id == "embedding-x"],
                   results=[r for r in matrix.results if r.case == "embedding-x"])
    assert dtype_view(plain) is None
    assert "keras.ops result dtypes" not in render_markdown(plain)
    assert DTYPES_PAGE not in render_html(plain)
    # An earlier report's view is removed when the new one has none.
    write_reports(matrix, tmp_path)
    assert (tmp_path / DTYPES_PAGE).is_file()
    write_reports(plain, tmp_path)
    assert not (tmp_path / DTYPES_PAGE).exists()


def test_the_page_lists_the_rows_that_differ_and_links_them() -> None:
    matrix = _matrix()
    view = dtype_view(matrix)
    assert view is not None
    page = render_dtypes(view, matrix.generated_at)
    body = page.split('id="dtype-rows"', 1)[1]
    assert body.count("<tr") == 1 + 3  # the heading and the three differing rows
    assert 'href="compatibility.html#case:ops-dtypes-sqrt-float64-rank2-ordinary-eager"' in body
    assert '<td class="differs">float16</td>' in body
    assert '<td class="backend">float64</td>' in body
    assert "<script" not in page
    assert f'href="{DTYPES_PAGE}"' in render_html(matrix)  # one click from the first screen
    markdown = render_markdown(matrix)
    section = markdown.split("## keras.ops result dtypes", 1)[1].split("\n## ", 1)[0]
    assert "4 keras.ops functions, 4 dtype combinations: 3 rows" in section
    assert "`ops.reciprocal`" in section
    assert "`ops.add`" not in section  # nothing differs there


def test_a_case_whose_reference_refuses_is_left_out() -> None:
    """A bitwise op of floats: NumPy refuses it, so the case tests the refusal (the
    compatibility table shows it), not a result dtype."""
    case = CaseInfo(id="ops-dtypes-bitwise_and-int8_float32-rank2-ordinary-eager",
                    group="ops-dtypes", description="keras.ops.bitwise_and(...)",
                    subject="ops.bitwise_and", expected="error (TypeError): no bitwise float",
                    axes={"op": "bitwise_and", "input_dtype": "int8_float32", "rank": 2,
                          "values": "ordinary", "mode": "eager"})
    env = EnvironmentInfo(id="jax-cpu", backend="jax", device="cpu", ran=True)
    result = Result(case=case.id, environment="jax-cpu", outcome=Outcome.FAILED,
                    observed=Observation(kind="value", dtype="float32", shape=[2, 3]),
                    verdict=verdict_for(Outcome.FAILED))
    alone = Matrix(schema_version=SCHEMA_VERSION, generated_at="2026-12-06",
                   environments=[env], cases=[case], results=[result])
    assert dtype_view(alone) is None
    matrix = _matrix()
    with_it = Matrix(schema_version=SCHEMA_VERSION, generated_at=matrix.generated_at,
                     environments=matrix.environments, cases=[*matrix.cases, case],
                     results=[*matrix.results, result])
    view = dtype_view(with_it)
    assert view is not None
    assert "ops.bitwise_and" not in view.summary
    assert len(view.rows) == 4
