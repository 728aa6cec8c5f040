"""The dtype family of `keras.ops` (issue 26) without Keras: the op table's rules, the NumPy
references in the rule's dtype, the value classes, and the judge's dtype apart from values.

The enumeration itself needs Keras: `tests/test_ops_dtypes_e2e.py` runs it in a backend's
virtualenv.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from cases.model import Case, CatalogError, Step, Tensor
from cases.op_table import output_dtype
from cases.ops_dtypes import GROUP, values
from matrix.oracle.expect import Expected, compute_expected
from matrix.oracle.judge import judge
from matrix.records import Observation


def _case(op: str, *tensors: Tensor, **args: object) -> Case:
    names = tuple(f"t{i}" for i in range(len(tensors)))
    return Case(group="t", description="d", axes={"api": op, "mode": "eager"},
                inputs=dict(zip(names, tensors, strict=True)),
                steps=(Step(op, inputs=names, output="o", args=args),), mode="eager")


def _answer(op: str, *tensors: Tensor, **args: object) -> tuple[str | None, list[object]]:
    want = compute_expected(_case(op, *tensors, **args))
    assert want.kind != "agreement", f"{op} has no reference here"
    return want.dtype, np.asarray(want.values).tolist()


def test_the_rules_give_the_dtypes_keras_states() -> None:
    # keras/src/ops/numpy.py, Keras 3.15.1: Sqrt's result_type(x, float), narrowed on every
    # backend but TensorFlow; Exp keeps a float; Sum widens int8 to int32 and narrows int64;
    # Prod keeps int64; Reciprocal states no dtype (floatx); Mod reads bool as int32.
    assert output_dtype("ops.sqrt", ["int8"]) == "float32"
    assert output_dtype("ops.sqrt", ["float16"]) == "float16"
    assert output_dtype("ops.sqrt", ["float64"]) == "float32"
    assert output_dtype("ops.exp", ["float64"]) == "float64"
    assert output_dtype("ops.exp", ["uint64"]) == "float32"
    assert output_dtype("ops.sum", ["int8"]) == "int32"
    assert output_dtype("ops.sum", ["uint16"]) == "uint32"
    assert output_dtype("ops.sum", ["int64"]) == "int32"
    assert output_dtype("ops.prod", ["int64"]) == "int64"
    assert output_dtype("ops.reciprocal", ["float16"]) == "float32"
    assert output_dtype("ops.mod", ["bool", "bool"]) == "int32"
    assert output_dtype("ops.divide", ["int8", "uint8"]) == "float32"
    assert output_dtype("ops.divide", ["int8", "float16"]) == "float16"
    assert output_dtype("ops.hypot", ["bool", "bool"]) == "bool"
    assert output_dtype("ops.hypot", ["int8", "int8"]) == "float32"
    assert output_dtype("ops.equal", ["int8", "float64"]) == "bool"


def test_the_rules_follow_the_backend_where_keras_says_so() -> None:
    # keras/src/backend/common/dtypes.py, BIT64_TO_BIT32_DTYPE: TensorFlow keeps int64 and
    # float64 and narrows uint64 only; keras/src/ops/numpy.py, Sum and Prod: torch reads a
    # uint32 result as int32; Hypot gives float64 for int64, which only TensorFlow reaches.
    assert output_dtype("ops.add", ["int8", "int64"], "tensorflow") == "int64"
    assert output_dtype("ops.add", ["int8", "int64"], "jax") == "int32"
    assert output_dtype("ops.add", ["int8", "uint64"], "tensorflow") == "float32"
    assert output_dtype("ops.add", ["uint32", "uint64"], "tensorflow") == "uint32"
    assert output_dtype("ops.sqrt", ["float64"], "tensorflow") == "float64"
    assert output_dtype("ops.sqrt", ["int64"], "tensorflow") == "float32"
    assert output_dtype("ops.divide", ["int64", "int8"], "tensorflow") == "float32"  # weak float
    assert output_dtype("ops.divide", ["int8", "float64"], "tensorflow") == "float64"
    assert output_dtype("ops.hypot", ["int64", "int8"], "tensorflow") == "float64"
    assert output_dtype("ops.hypot", ["int64", "int8"], "numpy") == "float32"
    assert output_dtype("ops.sum", ["uint8"], "torch") == "int32"
    assert output_dtype("ops.prod", ["uint32"], "torch") == "int32"
    assert output_dtype("ops.sum", ["uint8"], "openvino") == "uint32"
    # the reference follows the backend of the process; None (no Keras imported) is the rest's
    from cases.op_table import running_backend
    assert running_backend() is None


def test_a_run_computes_its_references_for_its_backend_before_keras_is_imported(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # A run's controller computes the reference's answer for the case facts and the cache
    # keys with no Keras imported: without the backend it assumes, a TensorFlow cell of
    # add(int8, int64) was held to int32 and counted as a dtype divergence.
    from cases import op_table
    monkeypatch.setattr(op_table, "_ASSUMED", [])
    pair = (Tensor(shape=(2,), dtype="int8", values=[1, 2]),
            Tensor(shape=(2,), dtype="int64", values=[3, 4]))
    assert _answer("ops.add", *pair) == ("int32", [4, 6])
    op_table.assume_backend("tensorflow")
    assert op_table.running_backend() == "tensorflow"
    assert _answer("ops.add", *pair) == ("int64", [4, 6])
    op_table.assume_backend("torch")
    assert _answer("ops.add", *pair) == ("int32", [4, 6])


def test_integer_references_wrap_in_the_result_dtype() -> None:
    assert _answer("ops.subtract", Tensor(dtype="uint8", values=[1, 0]),
                   Tensor(dtype="uint8", values=[2, 255])) == ("uint8", [255, 1])
    assert _answer("ops.multiply", Tensor(dtype="int8", values=[127, -128]),
                   Tensor(dtype="int8", values=[2, -1])) == ("int8", [-2, -128])
    assert _answer("ops.negative", Tensor(dtype="int8", values=[-128, 5])) == ("int8", [-128, -5])
    # Sum accumulates int8 in int32: no wrap at 127
    assert _answer("ops.sum", Tensor(dtype="int8", values=[[127, 127], [1, 2]]), axis=-1) == \
        ("int32", [254, 3])
    # int64 narrowed to int32 first: 2**31 wraps to -2**31
    assert _answer("ops.sum", Tensor(dtype="int64", values=[[2 ** 31, 0]]), axis=-1) == \
        ("int32", [-(2 ** 31)])


def test_float_references_round_in_the_result_dtype() -> None:
    # exp of int8 127 is computed in float32: inf, not float64's 1.4e55
    assert _answer("ops.exp", Tensor(dtype="int8", values=[127, 0])) == \
        ("float32", [float("inf"), 1.0])
    dtype, got = _answer("ops.exp", Tensor(dtype="float16", values=[3.0]))
    assert dtype == "float16"
    assert got == [float(np.float16(20.078125))]  # e**3 = 20.0855... rounds to 20.078125
    # float64 sqrt is float32 by the rule: sqrt(2) rounded to float32
    assert _answer("ops.sqrt", Tensor(dtype="float64", values=[2.0])) == \
        ("float32", [float(np.float32(np.sqrt(np.float32(2.0))))])
    assert _answer("ops.divide", Tensor(dtype="int32", values=[7, 1]),
                   Tensor(dtype="int32", values=[2, 0])) == ("float32", [3.5, float("inf")])


@pytest.mark.parametrize(("op", "tensors"), [
    ("ops.mod", (Tensor(dtype="int8", values=[7]), Tensor(dtype="int8", values=[0]))),
    ("ops.power", (Tensor(dtype="int32", values=[2]), Tensor(dtype="int32", values=[-1]))),
    ("ops.negative", (Tensor(dtype="bool", values=[True]),)),  # NumPy has no such loop
])
def test_undefined_integer_results_are_judged_by_agreement(op: str,
                                                          tensors: tuple[Tensor, ...]) -> None:
    assert compute_expected(_case(op, *tensors)).kind == "agreement"


def test_the_value_classes_hold_the_dtype_limits() -> None:
    assert values("int8", "limits") == [[-128, 127, 0], [-128, 127, 1]]
    assert values("uint64", "limits") == [[0, 2 ** 64 - 1, 0], [0, 2 ** 64 - 1, 1]]
    high = values("uint8", "limits", "y")
    assert high is not None
    assert 0 not in high[0] + high[1]
    floats = values("float16", "limits")
    assert floats is not None
    assert floats[0][1] == 65504.0
    assert floats[1][1] == 2.0 ** -14
    assert values("float32", "limits") is not None
    assert values("bool", "limits") is None
    assert values("int8", "nonfinite") is None
    assert np.array(values("float32", "nonfinite"), dtype="float32")[0].tolist()[1:] == \
        [float("inf"), float("-inf")]


def test_a_dtype_is_judged_apart_from_the_values() -> None:
    want = Expected(values=np.array([1.0]), error=None, kind="recurrent", tolerance=1e-5,
                    dtype="float32")
    both = judge(want, Observation(kind="value", shape=[1], dtype="float64", max_abs_error=1.0))
    assert (both.status, both.cause) == ("mismatched", "values_differ")
    assert both.detail is not None
    assert "dtype is float64, the reference expects float32" \
        in both.detail
    dtype = judge(want, Observation(kind="value", shape=[1], dtype="float64", max_abs_error=0.0))
    assert (dtype.status, dtype.cause) == ("mismatched", "dtype")
    values_only = judge(want, Observation(kind="value", shape=[1], dtype="float32",
                                          max_abs_error=1.0))
    assert values_only.detail is not None
    assert "dtype" not in values_only.detail


@pytest.mark.skipif(importlib.util.find_spec("keras") is not None, reason="Keras is installed")
def test_without_keras_the_family_says_why_it_has_no_cases() -> None:
    from cases import ops_dtypes

    with pytest.raises(CatalogError, match="Keras is not importable"):
        ops_dtypes.cases()
    assert GROUP == "ops-dtypes"


def test_a_comparison_reads_the_values_as_given() -> None:
    # cast to bool first, 2 == True would hold; the values differ
    assert _answer("ops.equal", Tensor(dtype="bool", values=[True, True]),
                   Tensor(dtype="int8", values=[2, 1])) == ("bool", [False, True])
    assert _answer("ops.less", Tensor(dtype="int8", values=[-1]),
                   Tensor(dtype="uint8", values=[255])) == ("bool", [True])
    assert _answer("ops.isnan", Tensor(dtype="float32", values=["nan", 1.0])) == \
        ("bool", [True, False])


def test_a_float_result_of_the_table_is_compared_relative_to_its_magnitude() -> None:
    from matrix.oracle.op_refs import scaled_tolerance

    assert scaled_tolerance(np.array([1e9, -2.0]), "float32", 1e-5) == pytest.approx(1e4)
    assert scaled_tolerance(np.array([0.5, float("inf")]), "float32", 1e-5) == 1e-5
    assert scaled_tolerance(np.array([2 ** 31]), "int64", 1e-5) == 1e-5  # integers: exact
    want = compute_expected(_case("ops.hypot", Tensor(dtype="bool", values=[True]),
                                  Tensor(dtype="uint8", values=[255])))
    assert want.dtype == "float32"
    assert want.tolerance == pytest.approx(255.00196 * 1e-5)
    exact = compute_expected(_case("ops.add", Tensor(dtype="int32", values=[2 ** 30]),
                                   Tensor(dtype="int32", values=[2 ** 30])))
    assert exact.tolerance == 1e-5
    assert np.asarray(exact.values).tolist() == [-(2 ** 31)]


def test_the_sessions_cache_plan_assumes_the_runs_backend() -> None:
    # The run session asks `matrix.run.cache plan` whether a column is up to date, in a
    # process without Keras: it must compute the references for the run's backend, or 928
    # keras.ops cells of the TensorFlow column have other keys than the run stored, and the
    # column is never up to date (a no-change rerun took 80 s instead of about 25 s).
    import os
    import subprocess
    import sys

    from matrix.run.session import _PLAN_CODE

    prefix, rest = _PLAN_CODE.split("from matrix.run.cache import main")
    assert "sys.exit(main(sys.argv[1:]))" in rest
    probe = prefix + "print(op_table.running_backend())"
    root = str(Path(__file__).resolve().parents[1])
    for backend in ("tensorflow", "torch"):
        done = subprocess.run([sys.executable, "-c", probe], cwd=root, capture_output=True,
                              text=True, env={**os.environ, "KERAS_BACKEND": backend},
                              timeout=120, check=False)
        assert done.returncode == 0, done.stderr[-2000:]
        assert done.stdout.strip() == backend


# --- the answer on inputs cut to 32 bits (`CUT_TO_32_BITS`) ---------------------------------

def _family_case(op: str, dtypes: tuple[str, ...], cls: str, x64: bool = False) -> Case:
    from cases import ops_dtypes

    found = [c for c in ops_dtypes.op_cases(op, len(dtypes))
             if c.axes["input_dtype"] == "_".join(dtypes) and c.axes["values"] == cls
             and c.axes["rank"] == 2 and c.axes["mode"] == "eager" and c.jax_x64 == x64
             and c.dtype_policy is None]
    assert len(found) == 1, found
    return found[0]


def test_a_64_bit_input_gives_the_answer_on_its_values_cut_to_32_bits() -> None:
    from cases.limitations.base import CUT_TO_32_BITS as NAMED_IN_THE_RECORDS
    from matrix.oracle.expect import CUT_TO_32_BITS

    assert NAMED_IN_THE_RECORDS == CUT_TO_32_BITS
    want = compute_expected(_family_case("ops.divide", ("int8", "int64"), "limits"))
    cut = want.alternatives[CUT_TO_32_BITS]
    # int64's limits wrap to 32 bits: -2**63 is 0, 2**63 - 1 is -1
    x = np.array(values("int8", "limits"), dtype="int8")
    y = np.array(values("int64", "limits", "y"), dtype="int64").astype("int32")
    with np.errstate(all="ignore"):
        assert np.array_equal(cut.values, (x.astype("float32") / y.astype("float32")))
    assert np.isinf(cut.values).any()
    assert np.isfinite(np.asarray(want.values)).all()
    assert cut.dtype == want.dtype == "float32"
    # the dtype too: square of int64 is int32 on the cut input, where Keras states int64
    square = compute_expected(_family_case("ops.square", ("int64",), "ordinary"))
    assert (square.dtype, square.alternatives[CUT_TO_32_BITS].dtype) == ("int64", "int32")
    assert set(square.alternatives) == {CUT_TO_32_BITS}  # the same values: nothing computed


def test_a_64_bit_op_computed_in_32_bits_and_widened_is_an_alternative_of_its_own() -> None:
    from cases.limitations.base import COMPUTED_IN_32_BITS as NAMED_IN_THE_RECORDS
    from matrix.oracle.expect import COMPUTED_IN_32_BITS, CUT_TO_32_BITS

    assert NAMED_IN_THE_RECORDS == COMPUTED_IN_32_BITS
    want = compute_expected(_family_case("ops.exp", ("float64",), "ordinary"))
    cut, widened = want.alternatives[CUT_TO_32_BITS], want.alternatives[COMPUTED_IN_32_BITS]
    assert (want.dtype, cut.dtype, widened.dtype) == ("float64", "float32", "float64")
    x = np.array(values("float64", "ordinary"), dtype="float64")
    assert np.array_equal(widened.values, np.exp(x.astype("float32")))
    assert not np.array_equal(np.asarray(want.values), widened.values)


def test_a_64_bit_input_saturated_to_32_bits_is_an_alternative_of_its_own() -> None:
    """OpenVINO's eager abs of int64's limits is [-2**31, 2**31 - 1] in int64, of float64's
    inf 3.4e38: the values clamped to 32 bits, not wrapped (-2**63 would be 0)."""
    from cases.limitations.base import SATURATED_TO_32_BITS as NAMED_IN_THE_RECORDS
    from matrix.oracle.expect import CUT_TO_32_BITS, SATURATED_TO_32_BITS

    assert NAMED_IN_THE_RECORDS == SATURATED_TO_32_BITS
    want = compute_expected(_family_case("ops.abs", ("int64",), "limits"))
    saturated = want.alternatives[SATURATED_TO_32_BITS]
    assert saturated.dtype == want.dtype == "int64"
    x = np.array(values("int64", "limits"), dtype="int64")
    clamped = np.clip(x, -2**31, 2**31 - 1).astype("int32")
    assert np.array_equal(saturated.values, np.abs(clamped))  # abs(-2**31) wraps in int32
    assert int(np.asarray(saturated.values).min()) == -2**31
    assert not np.array_equal(saturated.values, want.alternatives[CUT_TO_32_BITS].values)
    infinite = compute_expected(_family_case("ops.abs", ("float64",), "nonfinite"))
    found = np.asarray(infinite.alternatives[SATURATED_TO_32_BITS].values)
    assert np.nanmax(found) == float(np.finfo("float32").max)  # inf clamped, NaN kept
    assert np.isnan(found).sum() == np.isnan(np.asarray(infinite.values)).sum()
    # uint64's largest value is clamped to int32's largest, as OpenVINO reads it
    unsigned = compute_expected(_family_case("ops.abs", ("uint64",), "limits"))
    assert int(np.asarray(unsigned.alternatives[SATURATED_TO_32_BITS].values).max()) == \
        2**31 - 1
    # computed in int32 and widened as a cast widens: cumsum of uint64 [0, max, 1] saturated
    # is [0, 2**31 - 1, -2**31] in int32, 2**64 - 2**31 in uint64 (OpenVINO's answer)
    summed = compute_expected(_family_case("ops.cumsum", ("uint64",), "limits"))
    widened = np.asarray(summed.alternatives[SATURATED_TO_32_BITS].values)
    assert widened.dtype == np.uint64
    assert int(widened[1, 2]) == 2**64 - 2**31


def test_no_alternative_where_the_cut_changes_nothing_or_x64_is_asked_for() -> None:
    assert not compute_expected(_family_case("ops.add", ("int8", "int8"), "limits")).alternatives
    # float64's ordinary values survive float32 within the tolerance, but the dtype does not
    # change under Keras's rule for add of int8 and float64 (float32 either way)
    assert not compute_expected(
        _family_case("ops.add", ("int8", "float64"), "ordinary")).alternatives
    assert not compute_expected(
        _family_case("ops.square", ("int64",), "limits", x64=True)).alternatives


def test_the_run_records_whether_the_output_matched_each_alternative() -> None:
    from matrix.oracle.expect import CUT_TO_32_BITS
    from matrix.oracle.judge import matched_alternatives

    want = compute_expected(_family_case("ops.divide", ("int8", "int64"), "limits"))
    cut = np.asarray(want.alternatives[CUT_TO_32_BITS].values)
    seen = Observation(kind="value", shape=[2, 3], dtype="float32")
    assert matched_alternatives(want, seen, cut) == {CUT_TO_32_BITS: True}
    assert matched_alternatives(want, seen, np.asarray(want.values)) == {CUT_TO_32_BITS: False}
    other_dtype = Observation(kind="value", shape=[2, 3], dtype="float16")
    assert matched_alternatives(want, other_dtype, cut) == {CUT_TO_32_BITS: False}


def test_the_report_says_which_alternative_a_cell_matched() -> None:
    from matrix.records import Outcome, Result, Verdict
    from matrix.report.views import short_observation

    def cell(alternatives: dict[str, bool] | None) -> str:
        return short_observation(Result(
            case="c", environment="jax-cpu", outcome=Outcome.XFAILED,
            observed=Observation(kind="value", max_abs_error=float("inf"),
                                 alternatives=alternatives),
            verdict=Verdict(status="mismatched", cause="values_differ")))

    assert cell({"inputs_cut_to_32_bits": True}) == \
        "values, max abs error inf, those of the reference on inputs cut to 32 bits"
    assert cell({"inputs_cut_to_32_bits": False}) == cell(None) == "values, max abs error inf"


def test_the_default_catalog_holds_every_table_op_eagerly_and_once_through_predict() -> None:
    from collections import Counter

    from cases import op_table
    from cases.ops_dtypes import PREDICT_SAMPLE, default_cases

    found = default_cases()
    ops = set(op_table.table()["ops"])
    predict = Counter(c.axes["subject"] for c in found if c.mode == "predict")
    assert set(predict) == ops
    assert set(predict.values()) == {1}
    assert {c.axes["input_dtype"] for c in found if c.mode == "predict"} == set(PREDICT_SAMPLE)
    assert {c.mode for c in found} == {"eager", "predict"}
    assert {c.axes["subject"] for c in found if c.mode == "eager"} == ops
    assert all(c.axes["rank"] == 2 and not c.jax_x64 for c in found)


# --- the floatx axis ----------------------------------------------------------------------------

def test_floatx_decides_the_float_result_of_an_integer_input() -> None:
    """Keras resolves a weak float by floatx's precision and reads floatx in the rules of
    sqrt, exp, hypot and the like; mean and reciprocal state float32 whatever floatx
    (keras/src/ops/numpy.py, 3.15.1: the e2e test holds every rule to compute_output_spec)."""
    from cases import op_table

    with op_table.floatx_of("float16"):
        assert op_table.output_dtype("ops.sqrt", ["int8"]) == "float16"
        assert op_table.output_dtype("ops.exp", ["bool"]) == "float16"
        assert op_table.output_dtype("ops.divide", ["int8", "int32"]) == "float16"
        assert op_table.output_dtype("ops.hypot", ["int8", "uint8"]) == "float16"
        assert op_table.output_dtype("ops.mean", ["int8"]) == "float32"
        assert op_table.output_dtype("ops.reciprocal", ["int8"]) == "float32"
        assert op_table.output_dtype("ops.add", ["int8", "int32"]) == "int32"
        assert op_table.output_dtype("ops.sqrt", ["float32"]) == "float32"
    with op_table.floatx_of("float64"):
        assert op_table.output_dtype("ops.sqrt", ["int64"]) == "float64"  # floatx itself
        assert op_table.output_dtype("ops.sqrt", ["int8"]) == "float32"  # float64, narrowed
        assert op_table.output_dtype("ops.sqrt", ["int8"], "tensorflow") == "float64"
        assert op_table.output_dtype("ops.var", ["int64"]) == "float32"
    assert op_table.floatx() == "float32"  # the block restores Keras's default


def test_a_floatx_case_is_judged_in_its_floatx() -> None:
    from cases.ops_dtypes import FLOATX, FLOATX_SAMPLE, default_cases, floatx_cases

    case = next(c for c in default_cases()
                if c.id == "ops-dtypes-sqrt-int8-rank2-ordinary-eager-floatx_float16")
    assert case.dtype_policy == "floatx_float16"
    want = compute_expected(case)
    assert want.dtype == "float16"
    x = np.array(values("int8", "ordinary"), dtype="int8")
    with np.errstate(invalid="ignore"):
        assert np.array_equal(np.asarray(want.values), np.sqrt(x.astype("float16")),
                              equal_nan=True)
    plain = compute_expected(_family_case("ops.sqrt", ("int8",), "ordinary"))
    assert plain.dtype == "float32"
    # the axis: each op whose rule reads floatx, under both floatx values; the default
    # catalog holds its sample, ordinary values
    sqrt = floatx_cases("ops.sqrt", 1)
    assert {c.axes["dtype_policy"] for c in sqrt} == {f"floatx_{f}" for f in FLOATX}
    assert {c.axes["values"] for c in sqrt} == {"ordinary", "limits"}
    assert not floatx_cases("ops.add", 2)  # promote: floatx changes nothing
    sample = [c for c in default_cases() if "dtype_policy" in c.axes]
    assert {c.axes["input_dtype"] for c in sample} == set(FLOATX_SAMPLE)
    assert {c.axes["values"] for c in sample} == {"ordinary"}
    assert len(sample) == (26 * 2 + 5 * 2) * len(FLOATX)
