"""Tests of the case catalog: size, ids, references, limitations, and refusal of bad cases."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cases import builtin_cases, load_catalog
from cases.core import Case, CatalogError, InputSpec, LayerSpec, validate_catalog
from cases.expect import expected
from cases.limitations import LIMITATIONS, covering

ROOT = Path(__file__).resolve().parents[1]
EMBEDDING = (LayerSpec(class_name="Embedding", init_kwargs={"input_dim": 10, "output_dim": 4}),)


def test_catalog_has_at_least_150_cases_with_unique_k_safe_ids() -> None:
    cases = builtin_cases()
    assert len(cases) >= 150
    ids = [c.id for c in cases]
    assert len(set(ids)) == len(ids)
    for case_id in ids:
        assert re.fullmatch(r"[a-z0-9_.\-]+", case_id), case_id


def test_ids_are_derived_and_stable() -> None:
    first = builtin_cases()[0]
    assert first.id == "embedding-dtype-rank0-int8-in_range-none-eager"
    assert [c.id for c in builtin_cases()] == [c.id for c in builtin_cases()]


def test_every_description_is_one_line() -> None:
    for case in builtin_cases():
        assert case.description, case.id
        assert "\n" not in case.description, case.id


def test_catalog_covers_the_axes_of_the_main_job() -> None:
    cases = builtin_cases()
    axes = {key: {c.axes.get(key) for c in cases} for key in
            ("rank", "input_dtype", "values", "mode", "mask", "padding", "consumer")}
    assert axes["rank"] >= {0, 1, 2, 3}
    assert axes["input_dtype"] >= {"int8", "int16", "int32", "int64", "uint8", "uint16",
                                   "uint32", "uint64", "float16", "float32", "float64", "bool"}
    assert axes["values"] >= {"in_range", "padded", "out_of_range", "negative", "fractional",
                              "all_padding"}
    assert axes["mode"] >= {"eager", "predict"}
    assert axes["mask"] >= {"none", "mask_zero"}
    assert axes["padding"] >= {"pre", "post"}
    assert axes["consumer"] >= {"SimpleRNN", "GRU", "LSTM", "GlobalAveragePooling1D"}


def test_the_articles_three_examples_are_cases() -> None:
    article = {c.axes["example"]: c for c in builtin_cases() if c.group == "article"
               if c.mode == "eager"}
    assert set(article) == {1, 2, 3}
    assert article[1].input.ids == [1, 2, 3, 4, 5]
    assert article[2].input.ids == [[1.5, 2.7, 3.1], [4.2, 5.8, 6.9]]
    assert [s.class_name for s in article[3].layers] == ["Embedding", "SimpleRNN"]


def test_reference_expectations_of_key_cases() -> None:
    by_id = {c.id: c for c in builtin_cases()}
    in_range = expected(by_id["embedding-dtype-rank2-int32-in_range-none-eager"])
    assert in_range.error is None
    assert in_range.values is not None
    assert in_range.values.shape == (2, 3, 4)
    assert in_range.tolerance == 0.0
    out = expected(by_id["embedding-values-rank2-int32-out_of_range-10-none-eager"])
    assert out.values is None
    assert out.error is not None
    assert out.error.startswith("IndexError")
    frac = expected(by_id["embedding-values-rank2-float32-fractional-1.5-none-eager"])
    assert frac.error is not None
    assert frac.error.startswith("TypeError")
    whole_float = expected(by_id["embedding-dtype-rank2-float32-in_range-none-eager"])
    assert whole_float.error is None
    mask = expected(by_id["embedding-mask-rank2-int32-padded-pre-mask_zero-mask-eager"])
    assert mask.values is not None
    assert mask.values.tolist() == [[True, True, True], [False, True, True],
                                    [False, False, True]]
    model = expected(by_id["article-1-rank1-int64-in_range-none-predict"])
    assert model.error is not None
    assert model.error.startswith("ValueError")


def test_every_limitation_covers_at_least_one_case() -> None:
    cases = builtin_cases()
    for limitation in LIMITATIONS:
        backends = limitation.backends or ("tensorflow", "jax", "torch")
        assert any(limitation.covers(c, b, "cpu") for c in cases for b in backends), \
            f"stale limitation matches no case: {limitation.description}"
        assert limitation.link.startswith("https://"), limitation


def test_limitation_filters_by_backend_and_axes() -> None:
    jax_nan = next(lim for lim in LIMITATIONS if lim.description.startswith("JAX's take fills "
                                                                            "out-of-bounds"))
    case = next(c for c in builtin_cases() if c.axes.get("values") == "out_of_range")
    assert jax_nan.covers(case, "jax", "cpu")
    assert not jax_nan.covers(case, "tensorflow", "cpu")
    in_range = builtin_cases()[0]
    assert not jax_nan.covers(in_range, "jax", "cpu")


def _case(**changes: object) -> Case:
    fields: dict[str, object] = {
        "group": "g", "description": "d", "axes": {"values": "in_range", "mode": "eager"},
        "layers": EMBEDDING, "input": InputSpec(dtype="int32", ids=[[1]]), "mode": "eager",
    }
    fields.update(changes)
    return Case(**fields)  # type: ignore[arg-type]


def test_duplicate_ids_are_refused_naming_the_case() -> None:
    with pytest.raises(CatalogError, match=r"case 'g-in_range-eager': duplicate case id"):
        validate_catalog([_case(), _case(description="other")], "mine.py")


def test_unknown_dtype_and_layer_are_refused_naming_the_field() -> None:
    with pytest.raises(CatalogError, match=r"`input.dtype`.*Received: dtype='int128'"):
        validate_catalog([_case(input=InputSpec(dtype="int128", ids=[[1]]))])
    bad_layer = (LayerSpec(class_name="Embedding", init_kwargs={"input_dim": 2, "output_dim": 2}),
                 LayerSpec(class_name="Transformer"))
    with pytest.raises(CatalogError, match=r"unknown layer class.*'Transformer'"):
        validate_catalog([_case(layers=bad_layer)])


def test_user_catalog_is_loaded_and_checked(tmp_path: Path) -> None:
    module = tmp_path / "my_cases.py"
    module.write_text(textwrap.dedent("""
        from cases.core import Case, InputSpec, LayerSpec
        CASES = [Case(group="mine", description="Embedding(10, 4)(ids)",
                      axes={"rank": 2, "mode": "eager"},
                      layers=(LayerSpec(class_name="Embedding",
                                        init_kwargs={"input_dim": 10, "output_dim": 4}),),
                      input=InputSpec(dtype="int16", ids=[[1, 2]]), mode="eager")]
    """))
    catalog = load_catalog([module])
    assert catalog.cases[-1].id == "mine-rank2-eager"
    assert catalog.sources["mine-rank2-eager"] == str(module)
    assert len(catalog.cases) == len(builtin_cases()) + 1


def test_user_catalog_errors_name_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("CASES = 3\n")
    with pytest.raises(CatalogError, match=r"broken.py: define `CASES`"):
        load_catalog([broken])
    with pytest.raises(CatalogError, match=r"missing.py: no such file"):
        load_catalog([tmp_path / "missing.py"])
    clash = tmp_path / "clash.py"
    clash.write_text(textwrap.dedent("""
        from cases import builtin_cases
        CASES = [builtin_cases()[0]]
    """))
    with pytest.raises(CatalogError, match=r"clash.py: case 'embedding-dtype-rank0-int8.*already"):
        load_catalog([clash])


def test_a_case_whose_reference_cannot_be_computed_is_refused(tmp_path: Path) -> None:
    module = tmp_path / "noref.py"
    module.write_text(textwrap.dedent("""
        from cases.core import Case, InputSpec, LayerSpec
        CASES = [Case(group="noref", description="no input_dim", axes={"mode": "eager"},
                      layers=(LayerSpec(class_name="Embedding", init_kwargs={"output_dim": 4}),),
                      input=InputSpec(dtype="int32", ids=[[1]]), mode="eager")]
    """))
    with pytest.raises(CatalogError, match=r"case 'noref-eager': the reference cannot be computed"):
        load_catalog([module])


def test_importing_the_catalog_imports_no_framework() -> None:
    code = ("import sys, cases, cases.expect, matrix.results, matrix.reference; "
            "bad = [m for m in ('keras', 'tensorflow', 'jax', 'torch') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_limitations_cover_exactly_the_cells_they_claim() -> None:
    by_id = {c.id: c for c in builtin_cases()}
    xla = by_id["embedding-values-rank2-int32-out_of_range-10-none-jit_compile"]
    eager = by_id["embedding-values-rank2-int32-out_of_range-10-none-eager"]
    wrap = by_id["embedding-values-rank2-int64-out_of_range-4294967303-none-eager"]
    uwrap = by_id["embedding-values-rank2-uint64-out_of_range-4294967303-none-eager"]

    def first(case: Case, backend: str) -> str | None:
        found = covering(LIMITATIONS, case, backend, "cpu")
        return None if found is None else found.description

    assert (first(xla, "tensorflow") or "").startswith("XLA's gather clamps")
    assert first(eager, "tensorflow") is None
    assert (first(wrap, "torch") or "").startswith("Embedding.call casts int64 ids")
    assert first(uwrap, "torch") is None  # torch refuses uint64 outright: that is a pass
    assert (first(uwrap, "tensorflow") or "").startswith("Embedding.call casts uint64")
    assert (first(wrap, "jax") or "").startswith("ids are cast to int32")
