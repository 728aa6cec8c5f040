"""The open catalog (issue 24): a Keras call no record models, and its judgment by agreement.

No framework is imported: programs are rendered, not run, and the merge is fed by hand; the
end-to-end run of such a catalog on real backends is tests/test_open_catalog_e2e.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cases.load import validate_catalog
from cases.model import Case, CatalogError, Step, Tensor
from matrix.environments import get_environment
from matrix.oracle.agreement import alike, fingerprint, judge_by_agreement
from matrix.oracle.judge import judge
from matrix.records import CaseInfo, EnvironmentInfo, Observation, Outcome, Result, Run, Verdict
from matrix.results.merge import merge_runs
from matrix.results.outcomes import outcome_of
from matrix.results.triage import apply_limitations
from matrix.run.program import render


def module_level_standardize(text: object) -> object:
    """A `standardize=` callable as a user catalog defines it."""
    return text


def _floor_divide() -> Case:
    return Case(group="open", description="floor_divide", axes={"api": "floor_divide",
                                                                "mode": "eager"},
                inputs={"x": Tensor(dtype="int32", values=[7, -7]),
                        "y": Tensor(dtype="int32", values=[0, 0])},
                steps=(Step("ops.floor_divide", inputs=("x", "y"), output="q"),),
                mode="eager")


def test_an_open_step_renders_as_the_keras_call_it_names() -> None:
    program = render(_floor_divide())
    assert "q = keras.ops.floor_divide(x, y)" in program
    assert "Reference: no reference (judged by agreement across backends)" in program


def test_an_open_layer_gets_seeded_float_weights_and_its_callable_source() -> None:
    case = Case(group="open", description="vectorize", axes={"api": "tv", "mode": "eager"},
                inputs={"ids": Tensor(dtype="int32", values=[[1, 2]])},
                steps=(Step("layers.Embedding", inputs=("ids",), output="e",
                            args={"input_dim": 10, "output_dim": 3}),
                       Step("layers.Dense", inputs=("e",), output="d",
                            args={"units": 4, "dtype": "float64",
                                  "kernel_constraint": module_level_standardize})),
                mode="eager")
    validate_catalog([case], "mine.py")
    program = render(case)
    assert "keras.layers.Dense(units=4, dtype='float64', " \
           "kernel_constraint=module_level_standardize)" in program
    assert "def module_level_standardize(text: object) -> object:" in program
    # no reference weights: both layers are seeded in the program, the same on every backend
    assert "seed_floats(embedding, seed=0)" in program
    assert "seed_floats(dense, seed=1)" in program
    assert "set_weights(" not in program.split("def program():")[1]


def _with(value: object) -> Case:
    return Case(group="open", description="d", axes={"api": "x", "mode": "eager"},
                inputs={"t": Tensor(dtype="float32", values=[1.0])},
                steps=(Step("layers.Dense", inputs=("t",), output="o",
                            args={"units": 1, "kernel_constraint": value}),), mode="eager")


def test_a_function_argument_must_be_a_module_level_def() -> None:
    def nested(x: object) -> object:
        return x

    for value in (lambda x: x, nested, np.abs):
        with pytest.raises(CatalogError, match=r"argument `kernel_constraint` must be a "
                                               r"function defined with `def` at the top"):
            validate_catalog([_with(value)], "mine.py")
    validate_catalog([_with(module_level_standardize)], "mine.py")


def test_an_argument_name_that_is_no_identifier_is_refused() -> None:
    """An open step takes any argument name, and the program renders it as a keyword."""
    for args in ({"x); import os; (": 1}, {"class": 1}):
        with pytest.raises(CatalogError, match=r"argument name must be a Python identifier"):
            validate_catalog([Case(
                group="open", description="d", axes={"api": "x", "mode": "eager"},
                inputs={"t": Tensor(dtype="float32", values=[1.0])},
                steps=(Step("ops.add", inputs=("t", "t"), output="o", args=args),),
                mode="eager")], "mine.py")


@pytest.mark.parametrize("name", ["ops", "ops.", "keras.ops.add", "foo.bar", "ops.a-b"])
def test_a_name_that_is_no_keras_callable_is_refused(name: str) -> None:
    case = Case(group="open", description="d", axes={"api": "x", "mode": "eager"},
                inputs={"t": Tensor(dtype="float32", values=[1.0])},
                steps=(Step(name, inputs=("t",), output="o"),), mode="eager")
    with pytest.raises(CatalogError, match=r"no Keras callable.*Received: subject="):
        validate_catalog([case], "mine.py")


def test_a_cell_with_no_reference_is_never_judged_passed_alone() -> None:
    from matrix.oracle.expect import expected

    want = expected(_floor_divide())
    verdict = judge(want, Observation(kind="value", shape=[2], dtype="int32"))
    assert verdict.status == "no_reference"
    assert outcome_of(verdict, False) is Outcome.UNJUDGED
    assert outcome_of(verdict, True) is Outcome.UNJUDGED


def test_fingerprints_keep_small_outputs_and_digest_large_ones() -> None:
    assert fingerprint(np.array([[1, -2]], dtype="int8")) == {"values": ["1", "-2"]}
    assert fingerprint(np.array([True, False])) == {"values": ["True", "False"]}
    assert fingerprint(np.array([0.1], dtype="float32")) == {"values": ["0.100000001"]}
    values = np.linspace(1.25, 2.75, 300)
    big = fingerprint(values.astype("float32"))
    assert set(big) == {"digest", "size"}
    assert big["size"] == 300
    assert fingerprint((values + 1e-6).astype("float32")) == big  # rounded to 4 digits
    assert fingerprint((values + 1e-2).astype("float32")) != big


def _value(dtype: str, *values: str) -> Observation:
    return Observation(kind="value", shape=[len(values)], dtype=dtype,
                       fingerprint={"values": list(values)})


def test_alike_is_tolerant_by_dtype_and_strict_on_dtype_shape_and_error_type() -> None:
    assert alike(_value("float32", "1.0", "2.0"), _value("float32", "1.00001", "2.0"))
    assert not alike(_value("float32", "1.0", "2.0"), _value("float32", "1.01", "2.0"))
    assert not alike(_value("int32", "1"), _value("int32", "2"))
    assert not alike(_value("int32", "1"), _value("int64", "1"))
    assert alike(_value("float32", "nan"), _value("float32", "nan"))
    assert not alike(_value("float32", "nan"), _value("float32", "1"))
    error = Observation(kind="error", error_type="ValueError", message="a")
    assert alike(error, Observation(kind="error", error_type="ValueError", message="b"))
    assert not alike(error, Observation(kind="error", error_type="TypeError"))
    assert not alike(error, _value("int32", "1"))


def _run(env_id: str, observed: Observation) -> Run:
    env = get_environment(env_id)
    info = EnvironmentInfo(id=env.id, backend=env.backend, device=env.device, ran=True,
                           channel=env.channel)
    case = CaseInfo(id="open-x", group="open", subject="ops.floor_divide", description="d",
                    axes={}, expected="no reference (judged by agreement across backends)")
    verdict = Verdict(status="no_reference", detail="judged at merge")
    result = Result(case="open-x", environment=env.id, outcome=Outcome.UNJUDGED,
                    observed=observed, verdict=verdict)
    return Run(schema_version=2, environment=info, cases=[case], results=[result])


def _merged(*runs: Run) -> dict[str, Result]:
    envs = [r.environment for r in runs]
    matrix = apply_limitations(merge_runs(runs, envs, "2026-12-04T00:00:00+00:00"))
    return {r.environment: r for r in matrix.results}


def test_the_merge_judges_agreement_within_a_channel() -> None:
    same = _merged(_run("jax-cpu", _value("int32", "0")), _run("torch-cpu", _value("int32", "0")))
    assert {r.outcome for r in same.values()} == {Outcome.AGREED}
    assert same["jax-cpu"].verdict.detail == ("no reference; the 2 environments that answered "
                                              "agree: returns int32 (1,) [0]")
    error = Observation(kind="error", error_type="InvalidArgumentError", message="div by 0")
    differ = _merged(_run("tensorflow-cpu", error), _run("jax-cpu", _value("int32", "-2")),
                     _run("numpy-cpu", _value("int32", "0")))
    assert {r.outcome for r in differ.values()} == {Outcome.DISAGREED}
    assert differ["numpy-cpu"].verdict.detail == (
        "no reference; backends disagree: tensorflow-cpu raises InvalidArgumentError; "
        "jax-cpu returns int32 (1,) [-2]; numpy-cpu returns int32 (1,) [0]")
    # another channel is another comparison: a Keras version alone is no backend divergence
    alone = _merged(_run("jax-cpu", _value("int32", "0")),
                    _run("jax-cpu-nightly", _value("int32", "5")))
    assert {r.outcome for r in alone.values()} == {Outcome.UNJUDGED}
    crash = Observation(kind="crash", message="segfault")
    crashed = _merged(_run("jax-cpu", _value("int32", "0")), _run("torch-cpu", crash))
    assert crashed["jax-cpu"].outcome is Outcome.UNJUDGED  # a crash is no answer to compare


def test_judge_by_agreement_leaves_cells_with_a_reference_alone() -> None:
    matched = Result(case="c", environment="jax-cpu", outcome=Outcome.PASSED,
                     observed=Observation(kind="value"), verdict=Verdict(status="matched"))
    assert judge_by_agreement([matched], []) == [matched]


def test_the_readme_example_of_an_open_catalog_loads(tmp_path: Path) -> None:
    """The README's "Add a case, or a Keras API" example is a catalog as it stands."""
    from matrix.oracle.catalog import load_catalog
    from matrix.oracle.expect import expected

    readme = (Path(__file__).resolve().parents[1] / "docs" / "catalog.md").read_text(
        encoding="utf-8")
    section = readme.split("## Add a case, or a Keras API", 1)[1]
    block = section.split("```python\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "mine.py"
    path.write_text(block, encoding="utf-8")
    cases = load_catalog([path]).cases
    mine = [c for c in cases if c.group == "mine"]
    assert [c.id for c in mine] == ["mine-floor_divide-eager", "mine-text_vectorization-eager"]
    assert [expected(c).kind for c in mine] == ["agreement", "agreement"]
    assert "def lower(text: object) -> object:" in render(mine[1])


def test_the_op_table_gives_keras_dtypes_and_fixed_width_integer_values() -> None:
    from cases.op_table import result_type
    from matrix.oracle.expect import expected

    assert [result_type(*p) for p in (("int8", "uint8"), ("int64", "int64"),
                                      ("int64", "uint64"), ("bfloat16", "float16"),
                                      ("bool", "bool"), ("uint32", "int32"))] == \
        ["int16", "int32", "float32", "float32", "bool", "int32"]

    def case(op: str, *tensors: Tensor, **args: object) -> Case:
        names = tuple(f"t{i}" for i in range(len(tensors)))
        return Case(group="t", description="d", axes={"api": op, "mode": "eager"},
                    inputs=dict(zip(names, tensors, strict=True)),
                    steps=(Step(op, inputs=names, output="o", args=args),), mode="eager")

    cumsum = expected(case("ops.cumsum", Tensor(dtype="int8", values=[100, 100, 100])))
    assert (cumsum.kind, cumsum.dtype, np.asarray(cumsum.values).tolist()) == ("recurrent", "int8",
                                                                  [100, -56, 44])
    added = expected(case("ops.add", Tensor(dtype="int8", values=[100]),
                          Tensor(dtype="uint8", values=[200])))
    assert (added.dtype, np.asarray(added.values).tolist()) == ("int16", [300])
    # integer division by zero is undefined: no reference, judged by agreement
    zero = expected(case("ops.floor_divide", Tensor(dtype="int32", values=[7]),
                         Tensor(dtype="int32", values=[0])))
    assert zero.kind == "agreement"
    halves = expected(case("ops.floor_divide", Tensor(dtype="float32", values=[7.0]),
                           Tensor(dtype="float32", values=[2.0])))
    assert (halves.dtype, np.asarray(halves.values).tolist()) == ("float32", [3.0])
    # an argument the table does not pass on makes the step open
    assert expected(case("ops.cumsum", Tensor(dtype="int8", values=[1]), axis=0)).kind \
        == "recurrent"
    assert expected(case("ops.cumsum", Tensor(dtype="int8", values=[1]),
                         dtype="int32")).kind == "agreement"


def test_a_cell_with_no_reference_reads_what_it_answered_never_differs() -> None:
    from matrix.report.table import verdict_text

    error = Observation(kind="error", error_type="InvalidArgumentError", message="div by 0")
    cells = _merged(_run("tensorflow-cpu", error), _run("jax-cpu", _value("int32", "-2")))
    assert verdict_text(cells["jax-cpu"]).text == "returns int32 (1,) [-2]"
    assert not verdict_text(cells["jax-cpu"]).silent
    assert verdict_text(cells["tensorflow-cpu"]).text == "raises InvalidArgumentError"
