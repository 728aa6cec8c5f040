"""Tests of the v2 catalog: ids, references, records, programs, judge, and refusals."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cases import builtin_cases
from cases.facts import program_facts
from cases.limitations import LIMITATIONS
from cases.limitations.base import BF16_CPU_FLAGS
from cases.load import validate_catalog
from cases.model import (
    CALL_MODES,
    Case,
    CatalogError,
    Fit,
    Step,
    Tensor,
    chain,
    check_case_id,
)
from cases.subjects import SUBJECTS, record_of
from matrix.environments import inference_only_backends
from matrix.oracle.catalog import load_catalog
from matrix.oracle.expect import ExpectedError, describe, expected, step_weights
from matrix.oracle.judge import judge
from matrix.oracle.registry import reference_of
from matrix.records import Observation
from matrix.results.matching import covering, covers, holds_for
from matrix.run.program import render

ROOT = Path(__file__).resolve().parents[1]
V1_IDS = ROOT / "tests" / "data" / "v1_case_ids.txt"
EMBEDDING = Step("layers.Embedding", args={"input_dim": 10, "output_dim": 4})


def _by_id() -> dict[str, Case]:
    return {c.id: c for c in builtin_cases()}


def test_catalog_keeps_every_v1_id_with_unique_k_safe_ids() -> None:
    cases = builtin_cases()
    ids = [c.id for c in cases]
    assert len(set(ids)) == len(ids)
    for case_id in ids:
        assert re.fullmatch(r"[a-z0-9_.\-]+", case_id), case_id
    v1 = [line for line in V1_IDS.read_text().splitlines() if not line.startswith("#")]
    assert len(v1) == 654
    assert set(v1) <= set(ids), sorted(set(v1) - set(ids))[:5]
    assert len(cases) >= 655


def test_ids_are_derived_and_stable() -> None:
    first = builtin_cases()[0]
    assert first.id == "embedding-dtype-rank0-int8-in_range-none-eager"
    assert [c.id for c in builtin_cases()] == [c.id for c in builtin_cases()]


def test_every_case_names_its_subject_and_one_line_description() -> None:
    for case in builtin_cases():
        assert case.description, case.id
        assert "\n" not in case.description, case.id
        assert case.axes.get("subject"), case.id


def test_catalog_covers_the_axes_of_the_main_job() -> None:
    cases = builtin_cases()
    axes = {key: {c.axes.get(key) for c in cases} for key in
            ("rank", "input_dtype", "values", "mode", "mask", "padding", "consumer", "batch")}
    assert axes["rank"] >= {0, 1, 2, 3}
    assert axes["input_dtype"] >= {"int8", "int16", "int32", "int64", "uint8", "uint16",
                                   "uint32", "uint64", "float16", "float32", "float64", "bool"}
    assert axes["values"] >= {"in_range", "padded", "out_of_range", "negative", "fractional",
                              "all_padding"}
    assert axes["mode"] >= {"eager", "predict", "jit_compile", "fit", "save_load"}
    assert axes["mask"] >= {"none", "mask_zero", "masking"}
    assert axes["consumer"] >= {"SimpleRNN", "GRU", "LSTM", "GlobalAveragePooling1D"}
    assert "empty" in axes["batch"]


def test_the_articles_three_examples_are_cases() -> None:
    article = {c.axes["example"]: c for c in builtin_cases() if c.group == "article"
               if c.mode == "eager"}
    assert set(article) == {1, 2, 3}
    assert article[1].inputs["ids"].values == [1, 2, 3, 4, 5]
    assert article[2].inputs["ids"].values == [[1.5, 2.7, 3.1], [4.2, 5.8, 6.9]]
    assert [s.subject for s in article[3].steps] == ["utils.pad_sequences", "layers.Embedding",
                                                     "layers.SimpleRNN"]


def test_reference_expectations_of_key_cases() -> None:
    by_id = _by_id()
    in_range = expected(by_id["embedding-dtype-rank2-int32-in_range-none-eager"])
    assert in_range.error is None
    assert in_range.values is not None
    assert in_range.values.shape == (2, 3, 4)
    assert in_range.tolerance == 0.0
    out = expected(by_id["embedding-values-rank2-int32-out_of_range-10-none-eager"])
    assert out.values is None
    assert out.error is not None
    assert out.error.types == ("IndexError", "InvalidArgumentError", "RuntimeError")
    assert out.error.reason.startswith("IndexError")
    frac = expected(by_id["embedding-values-rank2-float32-fractional-1.5-none-eager"])
    assert frac.error is not None
    assert frac.error.reason.startswith("TypeError")
    mask = expected(by_id["embedding-mask-rank2-int32-padded-pre-mask_zero-mask-eager"])
    assert mask.values is not None
    assert mask.values.tolist() == [[True, True, True], [False, True, True],
                                    [False, False, True]]
    assert mask.dtype == "bool"
    model = expected(by_id["article-1-rank1-int64-in_range-none-predict"])
    assert model.error is not None
    assert model.error.types == ("ValueError",)
    empty = expected(by_id["pad-sequences-pad_sequences-empty-maxlen_4-eager"])
    assert empty.values is not None
    assert empty.values.shape == (0, 4)


#: What each channel of matrix/axes.toml installs (latest, minimum, a nightly seen), as the
#: run files record it.
CHANNEL_VERSIONS = (
    {"keras": "3.15.1", "tensorflow-cpu": "2.21.0", "jax": "0.10.2", "torch": "2.13.0+cpu"},
    {"keras": "3.6.0", "tensorflow-cpu": "2.17.1", "jax": "0.4.34", "torch": "2.13.0+cpu"},
    {"keras-nightly": "3.16.0.dev2026102704", "tensorflow-cpu": "2.22.0rc0", "jax": "0.10.2",
     "torch": "2.13.0+cpu"},
)


def test_a_limitation_of_some_versions_holds_for_those_only() -> None:
    from cases.limitations import Limitation

    def lim(**versions: str) -> Limitation:
        return Limitation(id="x", description="d", link="https://example.org",
                          versions=versions)

    latest, minimum, nightly = CHANNEL_VERSIONS
    new_keras = lim(keras=">=3.16.0.dev0")  # read from keras-nightly too
    assert holds_for(new_keras, nightly)
    assert holds_for(new_keras, {"keras": "3.16.0"})
    assert not holds_for(new_keras, latest)
    assert not holds_for(new_keras, None)  # unknown versions: not covered
    assert not holds_for(new_keras, {"keras": "not a version"})
    old_tf = lim(tensorflow="<2.22.0rc0")  # read from tensorflow-cpu too
    assert holds_for(old_tf, latest)
    assert holds_for(old_tf, minimum)
    assert not holds_for(old_tf, nightly)
    assert not holds_for(old_tf, {"keras": "3.15.1"})  # no TensorFlow recorded
    assert holds_for(lim(torch="==2.13.0"), latest)  # the local label +cpu is not the release
    both = lim(keras="<3.16", tensorflow=">=2.21")
    assert holds_for(both, latest)
    assert not holds_for(both, minimum)
    assert covers(both, {}, "tensorflow", "cpu", "", latest)
    assert not covers(both, {}, "tensorflow", "cpu", "", minimum)
    every = lim()
    assert holds_for(every, None)
    assert holds_for(every, latest)
    with pytest.raises(ValueError, match="limitation x: field `versions`: keras"):
        holds_for(lim(keras="3.6 or so"), latest)


def test_the_limitations_keep_their_order() -> None:
    """Issue 22: split by backend, the registry lists them in the order of the single file
    they came from (a cell takes the first that covers it)."""
    snapshot = (ROOT / "tests" / "data" / "limitation_ids.txt").read_text().split()
    assert [lim.id for lim in LIMITATIONS] == snapshot


def test_every_limitation_covers_at_least_one_case_and_has_an_id() -> None:
    cases = [(c, describe(expected(c)), program_facts(c)) for c in builtin_cases()]
    ids = [lim.id for lim in LIMITATIONS]
    assert len(set(ids)) == len(ids)
    for limitation in LIMITATIONS:
        backends = limitation.backends or ("tensorflow", "jax", "torch")
        # what each channel installs (axes.toml): latest, minimum and a nightly
        versions = (None,) if not limitation.versions else CHANNEL_VERSIONS
        devices = limitation.devices or ("cpu",)  # a GPU-only one is checked on the GPU
        # a limitation scoped to CPU flags is checked on a host that has them
        assert any(covers(limitation, c.axes, b, d, want, v, facts, limitation.cpu_flags)
                   for c, want, facts in cases for b in backends for d in devices
                   for v in versions), \
            f"limitation matches no case: {limitation.id}"
        assert limitation.link.startswith("https://"), limitation
        assert "; ;" not in limitation.description, limitation.id  # one separator, not two


def test_limitations_cover_exactly_the_cells_they_claim() -> None:
    by_id = _by_id()

    def first(case_id: str, backend: str) -> str | None:
        case = by_id[case_id]
        found = covering(LIMITATIONS, case.axes, backend, "cpu", describe(expected(case)),
                         facts=program_facts(case), host_flags=BF16_CPU_FLAGS)
        return None if found is None else found.id

    assert first("embedding-values-rank2-int32-out_of_range-10-none-jit_compile",
                 "tensorflow") == "xla-gather-clamps-jit-embedding"
    assert first("embedding-values-rank2-int32-out_of_range-10-none-eager", "tensorflow") is None
    assert first("index-ops-take-0-rank2-in_range-uint8-eager", "tensorflow") == "tf-index-dtypes"
    # the same dtype out of range is refused correctly: that cell is not covered
    assert first("index-ops-take-0-rank2-out_of_range-10-uint8-eager", "tensorflow") is None
    assert first("embedding-values-rank2-int64-out_of_range-4294967303-none-eager",
                 "torch") == "torch-embedding-casts-int64-to-int32"
    assert first("embedding-values-rank2-uint64-out_of_range-4294967303-none-eager",
                 "tensorflow") == "tf-embedding-casts-uint64-to-int32"
    assert first("embedding-values-rank2-uint64-out_of_range-4294967303-none-eager",
                 "torch") == "torch-no-uint64-embedding"
    assert first("embedding-values-rank2-int64-out_of_range-4294967303-none-eager",
                 "jax") == "jax-int32-wraps-past-2-32"
    # Issue 15: the inference-only backends. uint64 past 2**32 wraps (Keras's cast) before
    # OpenVINO's Gather sees it; every other bad id is a zero row there.
    assert first("embedding-values-rank2-uint64-out_of_range-4294967303-none-eager",
                 "openvino") == "embedding-casts-uint64-to-int32-inference"
    assert first("embedding-values-rank2-uint64-out_of_range-4294967303-none-eager",
                 "numpy") == "embedding-casts-uint64-to-int32-inference"
    assert first("embedding-values-rank2-int64-out_of_range-4294967303-none-eager",
                 "openvino") == "openvino-gather-fills-zeros"
    assert first("embedding-values-rank2-int64-out_of_range-4294967303-none-eager",
                 "numpy") is None  # NumPy raises IndexError: as the reference
    assert first("embedding-values-rank2-int32-out_of_range-10-none-eager",
                 "openvino") == "openvino-gather-fills-zeros"
    assert first("embedding-values-rank2-int32-out_of_range-10-none-eager", "numpy") is None
    assert first("embedding-values-rank2-int32-negative-11-none-eager",
                 "openvino") == "openvino-gather-fills-zeros-negative"
    assert first("embedding-values-rank2-int32-negative-1-none-eager",
                 "openvino") == "take-wraps-negative-ids"
    assert first("edge-inputs-empty_batch_embedding-empty-rank2-int32-in_range-predict",
                 "numpy") == "predict-empty-batch"
    assert first("edge-inputs-empty_batch_embedding-empty-rank2-int32-in_range-eager",
                 "numpy") is None
    assert first("dtype-policy-mixed_bfloat16-embedding-int32-predict",
                 "openvino") == "openvino-bfloat16-policy-predict"
    assert first("dtype-policy-float32-embedding_lstm-int32-predict",
                 "openvino") == "openvino-cpu-bfloat16-inference-precision"
    # Issue 27: only on a host CPU with native bfloat16 (AVX512_BF16 or AMX); a CPU without
    # them computes in float32 and matches, and a run file with no host covers nothing.
    lstm = by_id["dtype-policy-float32-embedding_lstm-int32-predict"]
    for flags in (("avx2", "avx512f"), (), None):
        found = covering(LIMITATIONS, lstm.axes, "openvino", "cpu", describe(expected(lstm)),
                         facts=program_facts(lstm), host_flags=flags)
        assert found is None, (flags, found)
    for bf16 in (("amx_bf16",), ("avx512_bf16", "avx2")):
        found = covering(LIMITATIONS, lstm.axes, "openvino", "cpu", describe(expected(lstm)),
                         facts=program_facts(lstm), host_flags=bf16)
        assert found is not None
        assert found.id == "openvino-cpu-bfloat16-inference-precision"
    # matched on the program, so the other policies are not (they match there)
    assert first("dtype-policy-mixed_float16-embedding_lstm-int32-predict", "openvino") is None
    assert first("edge-inputs-single_timestep_lstm-1-rank2-int32-padded-mask_zero-predict",
                 "openvino") == "openvino-cpu-bfloat16-inference-precision"
    assert first("edge-inputs-all_padding_batch_lstm-rank2-int32-all_padding-mask_zero-predict",
                 "openvino") is None  # a batch of padding only is exact in bfloat16 too
    assert first("dtype-policy-floatx_bfloat16-embedding_lstm-int32-eager", "numpy") is None
    assert first("dtype-policy-float32-embedding_lstm-int32-eager", "openvino") is None


# --- the records and what they refuse --------------------------------------------------------

def _case(steps: tuple[Step, ...], ids: object = ((1, 2, 0),), **fields: object) -> Case:
    values: dict[str, object] = {
        "group": "g", "description": "d", "axes": {"values": "in_range", "mode": "eager"},
        "inputs": {"ids": Tensor(dtype="int32", values=[list(r) for r in ids])},  # type: ignore[attr-defined]
        "steps": chain(*steps), "mode": "eager"}
    values.update(fields)
    return Case(**values)  # type: ignore[arg-type]


def test_duplicate_ids_are_refused_naming_the_case() -> None:
    with pytest.raises(CatalogError, match=r"case 'g-in_range-eager': duplicate case id"):
        validate_catalog([_case((EMBEDDING,)), _case((EMBEDDING,), description="other")],
                         "mine.py")


def test_an_argument_the_record_does_not_model_makes_the_step_open() -> None:
    """Issue 24: constructor and call arguments are free; one the hand-written record does
    not model (an argument, a value, a call argument) leaves the record: the case has no
    reference and is judged by agreement across backends."""
    for step in (Step("layers.GRU", args={"units": 3, "activation": "relu"}),
                 Step("layers.GRU", args={"units": 3, "reset_after": "no"}),
                 Step("layers.LSTM", args={"units": 2}, call={"use_causal_mask": True}),
                 Step("layers.Dense", args={"units": 4, "dtype": "float64"})):
        case = _case((EMBEDDING, step))
        validate_catalog([case], "mine.py")
        assert record_of(case.steps[1]).open
        want = expected(case)
        assert (want.kind, want.values, want.error) == ("agreement", None, None)
        assert describe(want) == "no reference (judged by agreement across backends)"
    modelled = _case((EMBEDDING, Step("layers.GRU", args={"units": 3, "reset_after": False})))
    assert not record_of(modelled.steps[1]).open
    assert expected(modelled).kind != "agreement"


def test_unknown_subject_dtype_and_undefined_input_are_refused_naming_the_field() -> None:
    with pytest.raises(CatalogError, match=r"names no record in cases/subjects/ and no Keras "
                                           r"callable.*Received: subject='foo.Bar'"):
        validate_catalog([_case((Step("foo.Bar"),))])
    with pytest.raises(CatalogError, match=r"`inputs.ids.dtype`.*Received: dtype='int128'"):
        validate_catalog([_case((EMBEDDING,), inputs={"ids": Tensor(dtype="int128",
                                                                     values=[[1]])})])
    with pytest.raises(CatalogError, match=r"input 'nope' is not defined"):
        validate_catalog([_case((Step("layers.Embedding", inputs=("nope",),
                                      args=EMBEDDING.args),))])
    with pytest.raises(CatalogError, match=r"needs the argument\(s\) units"):
        validate_catalog([_case((EMBEDDING, Step("layers.LSTM")))])


def test_gru_reset_after_false_is_modelled_with_its_own_weights() -> None:
    """Issue 9: GRU(3, reset_after=False) after a masked Embedding on post-padded ids."""
    steps = (Step("layers.Embedding", args={"input_dim": 10, "output_dim": 4, "mask_zero": True}),
             Step("layers.GRU", args={"units": 3, "reset_after": False}))
    case = _case(steps, ids=((1, 2, 3), (4, 5, 0)))
    validate_catalog([case])
    shapes = step_weights(case)[1]
    assert shapes is not None
    assert shapes[0] == [(4, 9), (3, 9), (9,)]
    want = expected(case)
    assert want.error is None
    assert want.values is not None
    assert want.values.shape == (2, 3)
    default = expected(_case((steps[0], Step("layers.GRU", args={"units": 3})),
                             ids=((1, 2, 3), (4, 5, 0))))
    assert default.values is not None
    assert not np.allclose(default.values, want.values)  # the two cells really differ
    refused = expected(_case(steps, ids=((1, 2, 10), (4, 5, 0))))
    assert refused.error is not None
    assert refused.error.types == ("IndexError", "InvalidArgumentError", "RuntimeError")


def test_what_the_reference_cannot_model_is_refused_at_collection(tmp_path: Path) -> None:
    module = tmp_path / "nomask.py"
    module.write_text(textwrap.dedent("""
        from cases import Case, Step, Tensor
        emb = {"input_dim": 10, "output_dim": 4}
        CASES = [Case(group="nomask", description="compute_mask without mask_zero",
                      axes={"mode": "eager"},
                      inputs={"ids": Tensor(dtype="int32", values=[[1, 2]])},
                      steps=(Step("layers.Embedding", ("ids",), "m", emb,
                                  method="compute_mask"),),
                      mode="eager")]
    """))
    with pytest.raises(CatalogError, match=r"nomask.py: case 'nomask-eager': the reference "
                                           r"cannot be computed: NotModelled: .*mask_zero"):
        load_catalog([module])


# --- the judge -----------------------------------------------------------------------------

def _refusing() -> object:
    return expected(_by_id()["embedding-values-rank2-int32-out_of_range-10-none-eager"])


def test_a_refusal_matches_only_an_error_of_its_types() -> None:
    want = _refusing()
    tf_error = Observation(kind="error", error_type="InvalidArgumentError", message="indices")
    assert judge(want, tf_error).status == "matched"  # type: ignore[arg-type]
    other = judge(want, Observation(kind="error", error_type="RuntimeError",  # type: ignore[arg-type]
                                    message="something else"))
    assert (other.status, other.cause) == ("mismatched", "refused_other_reason")
    silent = judge(want, Observation(kind="value", shape=[2, 3, 4], nan_count=4))  # type: ignore[arg-type]
    assert (silent.status, silent.cause) == ("mismatched", "values_where_refused")
    assert "4 NaN" in (silent.detail or "")


def test_a_harness_error_is_never_a_backend_answer() -> None:
    harness = Observation(kind="error", error_type="HarnessError", message="weights differ")
    in_range = expected(_by_id()["embedding-dtype-rank2-int32-in_range-none-eager"])
    for want in (_refusing(), in_range):
        assert judge(want, harness).status == "harness_error"  # type: ignore[arg-type]


def test_pattern_narrows_a_refusal() -> None:
    want = ExpectedError(reason="r", types=("ValueError",), pattern=r"rank")
    base = expected(_by_id()["article-1-rank1-int64-in_range-none-predict"])
    from dataclasses import replace
    narrowed = replace(base, error=want)
    assert judge(narrowed, Observation(kind="error", error_type="ValueError",
                                       message="wrong rank")).status == "matched"
    assert judge(narrowed, Observation(kind="error", error_type="ValueError",
                                       message="bad dtype")).status == "mismatched"


def test_an_out_of_range_label_is_refused_for_its_reason_in_either_torch_wording() -> None:
    want = expected(_by_id()["losses-scce-false-none-rank1-out_of_range-3-int32-eager"])
    for message in ("Target 3 is out of bounds.",  # nll_loss (Keras 3.15.1)
                    "Class values must be smaller than num_classes."):  # one_hot (Keras 3.6)
        assert judge(want, Observation(kind="error", error_type="RuntimeError",
                                       message=message)).status == "matched"
    other = judge(want, Observation(kind="error", error_type="RuntimeError",
                                    message="expected scalar type Long but found Float"))
    assert (other.status, other.cause) == ("mismatched", "refused_other_reason")


def test_values_are_judged_by_tolerance_shape_and_dtype() -> None:
    want = expected(_by_id()["embedding-dtype-rank2-int32-in_range-none-eager"])
    ok = Observation(kind="value", shape=[2, 3, 4], dtype="float32", max_abs_error=0.0)
    assert judge(want, ok).status == "matched"
    assert judge(want, Observation(kind="value", shape=[2, 3, 4], dtype="float16",
                                   max_abs_error=0.0)).cause == "dtype"
    assert judge(want, Observation(kind="value", shape=[3, 4], dtype="float32",
                                   max_abs_error=None)).cause == "shape"
    assert judge(want, Observation(kind="value", shape=[2, 3, 4], dtype="float32",
                                   max_abs_error=1e-3)).cause == "values_differ"


# --- the program: one source for the run and the repro ------------------------------------

def test_every_case_renders_to_a_program_that_compiles() -> None:
    for case in builtin_cases():
        source = render(case)
        compile(source, case.id, "exec")
        assert source.rstrip().endswith("observe(program)"), case.id
        assert "import keras" in source


@pytest.mark.parametrize(("case_id", "lines"), [
    ("embedding-dtype-rank2-int32-in_range-none-jit_compile",
     ["model.compile(jit_compile=True)", "model.predict(ids, verbose=0)"]),
    ("fit-rank2-int32-in_range-none-fit",
     ["SGD(learning_rate=0.5)", "model.fit(ids, target", "return embedding.weights[0].value"]),
    ("save-load-embedding_lstm-jax-int32-save_load",
     ["keras.models.load_model(path)", "if keras.backend.backend() == 'jax'"]),
    ("dtype-policy-mixed_float16-embedding-int32-eager",
     ["keras.config.set_dtype_policy('mixed_float16')"]),
    ("dtype-policy-floatx_bfloat16-embedding-int32-eager", ['keras.config.set_floatx("bfloat16")']),
    ("ops-dtypes-sqrt-int8-rank2-ordinary-eager-floatx_float16",
     ['keras.config.set_floatx("float16")', "keras.ops.sqrt(x)"]),
    ("embedding-values-rank2-int64-out_of_range-4294967303-none-x64_on-eager",
     ['jax.config.update("jax_enable_x64", True)']),
    ("embedding-options-enable_lora-int32-eager", ["embedding.enable_lora(2)"]),
    ("embedding-options-quantize_int8-int32-predict", ["embedding.quantize('int8')"]),
    ("mask-consumers-bidirectional-bidirectional_lstm-rank2-int32-padded-post-mask_zero-eager",
     ["keras.layers.Bidirectional(layer=keras.layers.LSTM(units=3))"]),
    ("user-reports-two_masked_inputs-maskprobe-mask_zero-int32-predict",
     ["class MaskProbe(keras.layers.Layer)", "keras.Model(k_model_inputs"]),
    ("user-reports-ragged_ids-int32-eager", ["tf.ragged.constant("]),
])
def test_programs_hold_every_mode_and_flag(case_id: str, lines: list[str]) -> None:
    source = render(_by_id()[case_id])
    for line in lines:
        assert line in source, (case_id, line)


def test_inference_only_backends_skip_fit_and_jit_compile_with_a_reason() -> None:
    """Issue 15: `fit` is skipped with Keras's own NotImplementedError message, and only on
    an inference-only backend (elsewhere the error is an observation); `jit_compile` is
    skipped there after `compile`, so an error Keras raises in `compile` is still seen."""
    from matrix.run.program import INFERENCE_ONLY, JIT_MEANS_NOTHING

    assert inference_only_backends() == INFERENCE_ONLY
    assert set(JIT_MEANS_NOTHING) == set(INFERENCE_ONLY)
    fit = render(_by_id()["fit-rank2-int32-in_range-none-fit"])
    assert ("except NotImplementedError as exc:\n"
            "        # Keras's inference-only backends refuse to train: Keras's own reason.\n"
            "        if keras.backend.backend() not in ('numpy', 'openvino'):\n"
            "            raise\n"
            '        raise NotApplicable(f"Keras: {exc}") from exc') in fit
    jit = render(_by_id()["embedding-dtype-rank2-int32-in_range-none-jit_compile"])
    compiled = jit.index("model.compile(jit_compile=True)")
    for backend in INFERENCE_ONLY:
        assert compiled < jit.index(f"if keras.backend.backend() == {backend!r}:")
    assert "raise NotApplicable" not in render(
        _by_id()["embedding-dtype-rank2-int32-in_range-none-predict"])


def test_a_user_catalog_of_programs_is_loaded_and_checked(tmp_path: Path) -> None:
    module = tmp_path / "my_cases.py"
    module.write_text(textwrap.dedent("""
        from cases import Case, Step, Tensor, chain
        CASES = [Case(group="mine", description="Embedding(10, 4)(ids)",
                      axes={"rank": 2, "batch": "empty", "mode": mode},
                      inputs={"ids": Tensor(dtype="int16", values=[], shape=(0, 3))},
                      steps=chain(Step("layers.Embedding",
                                       args={"input_dim": 10, "output_dim": 4})), mode=mode)
                 for mode in ("eager", "predict")]
    """))
    catalog = load_catalog([module])
    assert catalog.cases[-1].id == "mine-rank2-empty-predict"
    assert catalog.sources["mine-rank2-empty-eager"] == str(module)
    want = expected(catalog.cases[-1])
    assert want.values is not None
    assert want.values.shape == (0, 3, 4)
    assert ".reshape((0, 3))" in render(catalog.cases[-1])


def test_user_catalog_errors_name_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("CASES = 3\n")
    with pytest.raises(CatalogError, match=r"broken.py: define `CASES`"):
        load_catalog([broken])
    with pytest.raises(CatalogError, match=r"missing.py: no such file"):
        load_catalog([tmp_path / "missing.py"])
    clash = tmp_path / "clash.py"
    clash.write_text("from cases import builtin_cases\nCASES = [builtin_cases()[0]]\n")
    with pytest.raises(CatalogError, match=r"clash.py: case 'embedding-dtype-rank0-int8.*already"):
        load_catalog([clash])


#: Catalogs that end the process at import (issue 23): status 0 and no output would make a
#: run look successful with no run file written.
ENDING = {
    "os._exit(0)": ("import os\nos._exit(0)\n", "importing it called os._exit(0)"),
    "from os import _exit": ("from os import _exit\n_exit(3)\n",
                             "importing it called os._exit(3)"),
    "posix._exit, swallowed": ("import posix\ntry:\n    posix._exit(0)\n"
                               "except Exception:\n    pass\n",
                               "importing it called os._exit(0)"),
    "sys.exit(0)": ("import sys\nsys.exit(0)\n", "importing it called sys.exit(0)"),
    "raise SystemExit": ("raise SystemExit\n", "importing it called sys.exit(None)"),
    "os._exit in cases()": ("import os\ndef cases():\n    os._exit(0)\n",
                            "its cases() called os._exit(0)"),
}
#: Loads the catalog in a child (a build without the guard would end the test process with
#: status 0), then says whether `os._exit` is the real one again.
LOAD_AND_REPORT = """
import os, posix, sys
from cases import CatalogError
from matrix.oracle.catalog import load_catalog
try:
    load_catalog([sys.argv[1]])
except CatalogError as exc:
    print(f"refused: {exc}")
print("os._exit restored:", os._exit is posix._exit and os._exit.__module__ == "posix")
"""


@pytest.mark.parametrize("attack", list(ENDING))
def test_a_catalog_that_ends_the_process_at_import_is_refused_by_name(
        tmp_path: Path, attack: str) -> None:
    source, words = ENDING[attack]
    catalog = tmp_path / "my_cases.py"
    catalog.write_text(source, encoding="utf-8")
    done = subprocess.run([sys.executable, "-c", LOAD_AND_REPORT, str(catalog)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert f"refused: --catalog {catalog}: {words}" in done.stdout, done.stdout
    assert "os._exit restored: True" in done.stdout


def test_a_missing_required_argument_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match=r"needs the argument\(s\) input_dim"):
        validate_catalog([_case((Step("layers.Embedding", args={"output_dim": 4}),))])


def test_fit_needs_its_training_step_and_one_embedding() -> None:
    with pytest.raises(CatalogError, match=r"field `fit` is required in mode `fit`"):
        validate_catalog([_case((EMBEDDING,), mode="fit")])
    stacked = _case((EMBEDDING, Step("layers.LSTM", args={"units": 2})), mode="fit",
                    fit=Fit(learning_rate=0.1, observe="x1"))
    validate_catalog([stacked])
    with pytest.raises(Exception, match=r"one Embedding alone"):
        expected(stacked)


def test_every_record_has_a_reference_and_a_doc() -> None:
    for name, record in SUBJECTS.items():
        assert name == record.name
        assert record.doc, name
        assert callable(reference_of(record))
        if record.mask is not None:
            assert callable(reference_of(record, "compute_mask"))


def test_modes_of_every_family_exist() -> None:
    groups = {(c.group, c.mode) for c in builtin_cases()}
    for group in ("embedding-dtype", "mask-consumers", "dtype-policy", "user-reports"):
        for mode in CALL_MODES:
            assert (group, mode) in groups


def test_importing_the_catalog_imports_no_framework() -> None:
    code = ("import sys, cases, matrix.oracle.catalog, matrix.oracle.judge, matrix.run.program, "
            "matrix.results;"
            " bad = [m for m in ('keras', 'tensorflow', 'jax', 'torch') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_runtime_error_refuses_an_index_only_when_it_names_the_bad_index() -> None:
    """torch.compile's kernels raise RuntimeError("... index out of bounds ...")."""
    want = _refusing()
    compiled = Observation(kind="error", error_type="RuntimeError",
                           message="kernel, /tmp/k.cpp:28, index out of bounds: 0 <= tmp9 < 10L")
    assert judge(want, compiled).status == "matched"  # type: ignore[arg-type]
    unrelated = Observation(kind="error", error_type="RuntimeError", message="out of memory")
    assert judge(want, unrelated).cause == "refused_other_reason"  # type: ignore[arg-type]


@pytest.mark.parametrize(("case_id", "shown"), [("café-lookup", "café-lookup"),
                                                ("bad\x1b[31mid", "bad\\x1b[31mid"),
                                                ("tab\tid", "tab\\tid")])
def test_a_user_case_id_of_non_ascii_or_control_characters_is_refused_by_name(
        tmp_path: Path, case_id: str, shown: str) -> None:
    """Issue 12, item 8: such an id made its cell vanish; it is refused at collection."""
    with pytest.raises(CatalogError) as info:
        load_catalog([_catalog_of_one(tmp_path, case_id)])
    assert "odd_ids.py" in str(info.value)
    assert shown in str(info.value)
    assert "printable ASCII" in str(info.value)


#: Ids collection once accepted and the report then could not use: a backslash (pytest escapes
#: it in the node id, so the cell vanished), a space, `/`, and 201 characters (the report
#: skipped the whole run file).
BAD_IDS = [("mine\\lookup", "'mine\\\\lookup'"), ("mine lookup", "'mine lookup'"),
           ("mine/lookup", "'mine/lookup'"), ("m" * 201, repr("m" * 201))]


def _catalog_of_one(tmp_path: Path, case_id: str) -> Path:
    module = tmp_path / "odd_ids.py"
    module.write_text(textwrap.dedent(f"""
        from cases import Case, Step, Tensor, chain
        CASES = [Case(id={case_id!r}, group="mine", description="Embedding(10, 4)(ids)",
                      axes={{"mode": "eager"}}, inputs={{"ids": Tensor(dtype="int32",
                                                                     values=[[1]])}},
                      steps=chain(Step("layers.Embedding",
                                       args={{"input_dim": 10, "output_dim": 4}})),
                      mode="eager")]
    """), encoding="utf-8")
    return module


@pytest.mark.parametrize(("case_id", "shown"), BAD_IDS)
def test_a_case_id_the_report_cannot_read_is_refused_at_collection(
        tmp_path: Path, case_id: str, shown: str) -> None:
    """Issue 23: one rule for an id, at collection and where the report reads run files."""
    with pytest.raises(CatalogError) as info:
        load_catalog([_catalog_of_one(tmp_path, case_id)])
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'odd_ids.py'}: a case id must be")
    assert message.endswith(f"Received: id={shown}")


def test_an_id_of_200_allowed_characters_is_loaded(tmp_path: Path) -> None:
    case_id = "M9._+-" + "x" * 194
    catalog = load_catalog([_catalog_of_one(tmp_path, case_id)])
    assert catalog.cases[-1].id == case_id
    assert catalog.sources[case_id] == str(tmp_path / "odd_ids.py")


def test_every_built_in_case_id_follows_the_rule() -> None:
    ids = [c.id for c in builtin_cases()]
    for case_id in ids:
        check_case_id(case_id)  # raises on the first that does not
    assert len(ids) >= 655


# --- a refusal matches only at the step where the reference refuses (issue 24) ------------

def _padded_then_out_of_range() -> Any:
    """`pad_sequences` (step 0), then an `Embedding(5, 4)` fed an id of 7 (step 1): the
    reference refuses at step 1."""
    from cases.embedding import padded

    inputs, pad = padded([[1, 7], [2]], "post")
    return Case(group="user-step", description="pad then an id past the table",
                axes={"subject": "layers.Embedding", "values": "out_of_range",
                      "mode": "eager"}, mode="eager", inputs=inputs,
                steps=(pad, Step("layers.Embedding", inputs=("ids",), output="x",
                                 args={"input_dim": 5, "output_dim": 4})))


def test_the_reference_says_at_which_step_it_refuses() -> None:
    want = expected(_padded_then_out_of_range())
    assert want.error is not None
    assert (want.error.step, want.error.step_name, want.error.in_model) == \
        (1, "layers.Embedding", True)
    assert "at step 1 (layers.Embedding)" in describe(want)


def test_a_listed_error_at_an_earlier_step_is_not_the_refusal() -> None:
    """Issue 24: `pad_sequences` raising a listed type before any layer ran was `passed`."""
    want = expected(_padded_then_out_of_range())
    assert want.error is not None
    listed = want.error.types[0]

    def raised(**where: Any) -> Any:
        return judge(want, Observation(kind="error", error_type=listed, message="x",
                                       **where))

    early = raised(stage="step", step=0, step_name="utils.pad_sequences")
    assert (early.status, early.cause) == ("mismatched", "refused_other_reason")
    assert "at step 0 (utils.pad_sequences)" in (early.detail or "")
    assert "refuses at step 1 (layers.Embedding)" in (early.detail or "")
    assert raised(stage="inputs").status == "mismatched"
    assert raised(stage="setup").status == "mismatched"
    assert raised(stage="step", step=1, step_name="layers.Embedding").status == "matched"
    # the model raises for the layers inside it; a lazy backend may raise on conversion
    assert raised(stage="model").status == "matched"
    assert raised(stage="output").status == "matched"


def test_a_refusal_at_a_host_step_is_not_matched_by_the_model() -> None:
    host = ExpectedError(reason="ValueError: empty", types=("ValueError",), step=0,
                         step_name="utils.pad_sequences", in_model=False)
    base = expected(_by_id()["article-1-rank1-int64-in_range-none-predict"])
    from dataclasses import replace

    want = replace(base, error=host)
    at_model = Observation(kind="error", error_type="ValueError", message="m", stage="model")
    assert judge(want, at_model).status == "mismatched"
    at_step = Observation(kind="error", error_type="ValueError", message="m", stage="step",
                          step=0, step_name="utils.pad_sequences")
    assert judge(want, at_step).status == "matched"


def test_each_line_of_a_program_says_which_step_it_runs() -> None:
    from matrix.run.program import render_with_lines

    case = _padded_then_out_of_range()
    source, where = render_with_lines(case)
    assert source == render(case)
    lines = source.splitlines()
    by_text = {lines[n - 1].strip(): (w.stage, w.step) for n, w in where.items()}
    assert by_text["ids = keras.utils.pad_sequences(sequences, padding='post', "
                   "dtype='int32')"] == ("step", 0)
    assert by_text["x = embedding(ids)"] == ("step", 1)
    assert by_text["return x, x"] == ("output", None)
    assert {w.stage for w in where.values()} == {"inputs", "step", "model", "output"}
    for n in where:  # only lines of program(), never the prelude or a comment
        assert lines[n - 1].startswith("    ")
        assert not lines[n - 1].strip().startswith("#")


def test_the_minimum_channels_records_hold_for_their_versions_only() -> None:
    """Keras 3.6.0's result_type kept 64-bit results (3.12.0 narrowed them), and JAX 0.4.34's
    float floor_divide by zero is NaN (jax-ml/jax#37752): each record covers the minimum
    channel's cell and not the same cell of the latest channel."""
    by_id = _by_id()
    latest, minimum, _ = CHANNEL_VERSIONS

    def first(case_id: str, backend: str, installed: dict[str, str]) -> str | None:
        case = by_id[case_id]
        found = covering(LIMITATIONS, case.axes, backend, "cpu", describe(expected(case)),
                         installed, facts=program_facts(case))
        return None if found is None else found.id

    maximum = "ops-dtypes-maximum-int8_int64-rank2-ordinary-eager"
    assert first(maximum, "torch", minimum) == "torch-int64-results-before-keras-3-12"
    assert first(maximum, "torch", latest) is None
    # arctan2 of integers is a float32 in both rules: not selected
    assert first("ops-dtypes-arctan2-int8_int64-rank2-ordinary-eager", "torch", minimum) is None
    by_zero = "ops-dtypes-floor_divide-float32_float32-rank2-zero_divisor-eager"
    assert first(by_zero, "jax", minimum) == "jax-float-floor-divide-by-zero-nan"
    assert first(by_zero, "jax", latest) is None
    assert first("ops-dtypes-prod-float32-rank2-limits-eager", "jax",
                 minimum) == "jax-prod-of-float-limits-not-nan"
    assert first("ops-dtypes-prod-float16-rank2-limits-eager", "jax", minimum) is None
