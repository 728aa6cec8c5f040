"""Tests of `matrix.check`: the comparison across backends on recorded observations (no
framework), the input checks (exit 2, nothing run), and, marked `e2e`, real models built and
saved in a test (an Embedding -> LSTM text classifier with padding; the same fed an id equal to
`input_dim`, where the check must point at the Embedding on JAX).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from matrix import check
from matrix.check import CheckError, LayerCheck, compare
from matrix.environments import get_environment
from matrix.records import (
    SCHEMA_VERSION,
    CaseInfo,
    EnvironmentInfo,
    Matrix,
    Observation,
    Outcome,
    Result,
    Verdict,
)
from matrix.results.compact import encode

ROOT = Path(__file__).resolve().parents[1]
BUILDER = ROOT / "tests" / "data" / "check_models.py"
ENVIRONMENTS = ("tensorflow-cpu", "jax-cpu", "torch-cpu")


def value(name: str, shape: list[int], nan: int = 0, mask: list[int] | None = None
          ) -> dict[str, Any]:
    return {"name": name, "class_name": "Embedding", "kind": "value", "input_dtype": "int32",
            "mask_in": False, "shape": [shape], "dtype": ["float32"], "nan_count": [nan],
            "mask_shape": mask}


def error(name: str, error_type: str) -> dict[str, Any]:
    return {"name": name, "class_name": "Embedding", "kind": "error", "input_dtype": "int32",
            "error_type": error_type, "message": "index out of range"}


def test_the_first_disagreement_is_the_embedding_that_fills_nan() -> None:
    later = {"name": "lstm", "class_name": "LSTM", "kind": "not_reached"}
    observed = {
        "tensorflow-cpu": {"layers": [error("embedding", "InvalidArgumentError"), later]},
        "jax-cpu": {"layers": [value("embedding", [3, 5, 4], nan=4),
                               {**value("lstm", [3, 3], nan=3), "class_name": "LSTM"}]},
        "torch-cpu": {"layers": [error("embedding", "IndexError"), later]},
    }
    rows = compare(observed, {e: {} for e in observed})
    first = next(r for r in rows if r.disagreements)
    assert (first.name, first.class_name, first.input_dtype) == ("embedding", "Embedding",
                                                                "int32")
    assert first.disagreements == ["error: tensorflow-cpu InvalidArgumentError, jax-cpu value, "
                                   "torch-cpu IndexError"]
    assert first.observed["jax-cpu"] == "value [3, 5, 4] float32, 4 NaN"
    assert "not reached on tensorflow-cpu, torch-cpu" in rows[1].disagreements[0]


def test_values_within_the_dtype_tolerance_agree_and_past_it_differ() -> None:
    observed = {e: {"layers": [value("embedding", [2, 2], mask=[2])]} for e in ENVIRONMENTS}
    base = np.array([[0.5, -0.25], [1.0, 2.0]], dtype=np.float32)
    mask = np.array([True, False])
    close = {e: {"out|embedding|0": base + 5e-6, "mask|embedding": mask} for e in ENVIRONMENTS}
    assert compare(observed, close)[0].disagreements == []
    far = {**close, "torch-cpu": {"out|embedding|0": base + 1e-3, "mask|embedding": mask}}
    (differ,) = compare(observed, far)[0].disagreements
    assert differ.startswith("values: tensorflow-cpu and torch-cpu differ by 0.00099"), differ
    assert differ.endswith("(tolerance 1e-05 + 1e-05 * |value| for float32)"), differ
    other_mask = {**close, "jax-cpu": {"out|embedding|0": base, "mask|embedding": ~mask}}
    assert compare(observed, other_mask)[0].disagreements == [
        "mask: jax-cpu differ from tensorflow-cpu"]
    no_mask = {**close, "jax-cpu": {"out|embedding|0": base}}
    assert compare(observed, no_mask)[0].disagreements == [
        "mask: tensorflow-cpu a mask, jax-cpu no mask, torch-cpu a mask"]


def float_layer(name: str, dtype: str = "float32", nan: int = 0) -> dict[str, Any]:
    return {**value(name, [2], nan=nan), "class_name": "Dense", "dtype": [dtype]}


def test_nan_in_different_places_is_a_disagreement() -> None:
    # One NaN each, so the NaN counts agree; before, every difference was hidden by nanmax.
    observed = {e: {"layers": [float_layer("d", nan=1)]} for e in ("tensorflow-cpu", "jax-cpu")}
    values = {"tensorflow-cpu": {"out|d|0": np.array([np.nan, 1.0], "float32")},
              "jax-cpu": {"out|d|0": np.array([5.0, np.nan], "float32")}}
    (nan,) = compare(observed, values)[0].disagreements
    assert nan.startswith("NaN: tensorflow-cpu and jax-cpu have NaN in different places"), nan
    same_place = {"tensorflow-cpu": {"out|d|0": np.array([np.nan, 1.0], "float32")},
                  "jax-cpu": {"out|d|0": np.array([np.nan, 1.0], "float32")}}
    assert compare(observed, same_place)[0].disagreements == []
    values_too = {**same_place, "jax-cpu": {"out|d|0": np.array([np.nan, 2.0], "float32")}}
    (differ,) = compare(observed, values_too)[0].disagreements
    assert differ.startswith("values: tensorflow-cpu and jax-cpu differ by 1 "), differ


@pytest.mark.parametrize(("dtype", "a", "b", "agree"), [
    ("float32", 1000.0, float(np.nextafter(np.float32(1000.0), np.float32(2000.0))), True),
    ("float32", 1000.0, 1000.1, False),
    ("float32", 1.0, 1.0 + 5e-6, True),
    ("float64", 1e6, float(np.nextafter(1e6, 2e6)), True),
    ("float64", 1e6, 1e6 + 1e-3, False),
    ("float16", 1000.0, 1001.0, True),
    ("int32", 1000, 1001, False),
])
def test_tolerance_is_absolute_plus_relative(dtype: str, a: float, b: float,
                                             agree: bool) -> None:
    observed = {e: {"layers": [float_layer("d", dtype)]} for e in ("jax-cpu", "torch-cpu")}
    np_dtype = "float32" if dtype == "bfloat16" else dtype
    values = {"jax-cpu": {"out|d|0": np.array([a, 1.0], np_dtype)},
              "torch-cpu": {"out|d|0": np.array([b, 1.0], np_dtype)}}
    assert (compare(observed, values)[0].disagreements == []) is agree


def test_shape_dtype_and_load_failures_are_disagreements() -> None:
    observed: dict[str, dict[str, Any]] = {
        "tensorflow-cpu": {"layers": [value("e", [3, 4])]},
        "jax-cpu": {"layers": [{**value("e", [3, 4]), "dtype": ["float64"]}]},
        "torch-cpu": {"load_error": "TypeError: cannot deserialize", "layers": []},
    }
    rows = compare(observed, {e: {} for e in observed})
    assert rows[0].name == "(load)"
    assert rows[0].observed["torch-cpu"] == "cannot load: TypeError: cannot deserialize"
    assert rows[1].disagreements == ["dtype: tensorflow-cpu ['float32'], jax-cpu ['float64']"]
    assert rows[0].disagreements == ["load: the model loads on tensorflow-cpu, jax-cpu only"]
    assert not check.loads_nowhere(rows)


def test_a_model_that_loads_nowhere_is_no_disagreement() -> None:
    reason = "the check crashed (exit 1): ValueError: harness bug"
    observed = {e: {"load_error": reason, "layers": []} for e in ENVIRONMENTS}
    rows = compare(observed, {e: {} for e in observed})
    assert check.loads_nowhere(rows)
    assert check.summary(rows) == f"the model loads on no backend: {reason} (nothing to compare)"
    assert "disagree" not in check.summary(rows)


def test_the_compatibility_rows_are_those_of_the_layer(tmp_path: Path) -> None:
    compat = tmp_path / "compatibility.json"
    cases = [{"id": "emb-int32-oor", "axes": {"subject": "layers.Embedding",
                                              "input_dtype": "int32", "mask": "none"}},
             {"id": "emb-int64-oor", "axes": {"subject": "layers.Embedding",
                                              "input_dtype": "int64", "mask": "none"}},
             {"id": "lstm", "axes": {"subject": "layers.LSTM", "input_dtype": "int32"}}]
    results = [{"case": c["id"], "environment": "jax-cpu", "outcome": "xfailed",
                "observed": {"kind": "value", "nan_count": 4}} for c in cases]
    compat.write_text(json.dumps({"cases": cases, "results": results}), encoding="utf-8")
    layer = LayerCheck(name="embedding", class_name="Embedding", input_dtype="int32",
                       mask_in=False, observed={})
    # the same dtype first; another dtype of the same layer after it
    assert check.explaining_rows(layer, compat) == ["emb-int32-oor: jax-cpu xfailed (4 NaN)",
                                                    "emb-int64-oor: jax-cpu xfailed (4 NaN)"]
    masked = {"id": "emb-int32-masked", "axes": {"subject": "layers.Embedding",
                                                 "input_dtype": "int32", "mask": "mask_zero"}}
    compat.write_text(json.dumps({"cases": [*cases, masked], "results": [
        *results, {**results[0], "case": "emb-int32-masked"}]}), encoding="utf-8")
    assert check.explaining_rows(layer, compat)[:2] == [
        "emb-int32-oor: jax-cpu xfailed (4 NaN)", "emb-int32-masked: jax-cpu xfailed (4 NaN)"]
    masked_layer = LayerCheck(name="embedding", class_name="Embedding", input_dtype="int32",
                              mask_in=True, observed={})
    assert check.explaining_rows(masked_layer, compat)[0].startswith("emb-int32-masked")


def test_the_rows_are_matched_on_what_the_programs_call(tmp_path: Path) -> None:
    """Issue 24: a case labelled `layers.GRU` whose program starts with an Embedding is a
    row for an Embedding layer; a skipped cell is no row."""
    compat = tmp_path / "compatibility.json"
    cases = [{"id": "user-gru", "axes": {"subject": "layers.GRU", "input_dtype": "int32"},
              "facts": {"subject": ["layers.Embedding", "layers.GRU"]}},
             {"id": "emb-direct", "axes": {"subject": "layers.Embedding",
                                           "input_dtype": "int32"},
              "facts": {"subject": ["layers.Embedding"]}},
             {"id": "ragged", "axes": {"subject": "layers.Embedding", "input_dtype": "int32"},
              "facts": {"subject": ["layers.Embedding"]}}]
    results = [{"case": "user-gru", "environment": "jax-cpu", "outcome": "xfailed",
                "observed": {"kind": "value", "nan_count": 3}},
               {"case": "emb-direct", "environment": "jax-cpu", "outcome": "xfailed",
                "observed": {"kind": "value", "nan_count": 4}},
               {"case": "ragged", "environment": "jax-cpu", "outcome": "skipped",
                "observed": {"kind": "not_run"}}]
    compat.write_text(json.dumps({"cases": cases, "results": results}), encoding="utf-8")
    layer = LayerCheck(name="embedding", class_name="Embedding", input_dtype="int32",
                       mask_in=False, observed={})
    assert check.explaining_rows(layer, compat) == [
        "emb-direct: jax-cpu xfailed (4 NaN)",  # about this very layer: first
        "user-gru: jax-cpu xfailed (3 NaN)"]


def test_the_rows_come_from_the_published_compact_form(tmp_path: Path) -> None:
    """The published `compatibility.json` (schema_version 3) keeps its results in
    `results/<environment>.json`: the rows are read from there."""
    cases = [CaseInfo(id=f"emb-{dtype}-oor", group="g", description="d",
                      axes={"subject": "layers.Embedding", "input_dtype": dtype})
             for dtype in ("int64", "int32")]
    results = [Result(case=c.id, environment="jax-cpu", outcome=Outcome.XFAILED,
                      observed=Observation(kind="value", nan_count=n),
                      verdict=Verdict(status="mismatched", cause="values_differ"))
               for c, n in zip(cases, (2, 4), strict=True)]
    matrix = Matrix(schema_version=SCHEMA_VERSION, generated_at="now", environments=[
        EnvironmentInfo(id="jax-cpu", backend="jax", device="cpu", ran=True)],
        cases=cases, results=results)
    for name, text in encode(matrix).items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    layer = LayerCheck(name="embedding", class_name="Embedding", input_dtype="int32",
                       mask_in=False, observed={})
    compat = tmp_path / "compatibility.json"
    assert check.explaining_rows(layer, compat) == ["emb-int32-oor: jax-cpu xfailed (4 NaN)",
                                                    "emb-int64-oor: jax-cpu xfailed (2 NaN)"]
    (tmp_path / "results" / "jax-cpu.json").unlink()  # a broken site: no rows, no crash
    assert check.explaining_rows(layer, compat) == []


def keras_file(path: Path, config: dict[str, Any]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps(config))
    return path


INPUT: dict[str, Any] = {
    "module": "keras.layers", "class_name": "InputLayer", "registered_name": None,
    "config": {"batch_shape": [None, 5], "dtype": "int32", "name": "ids"}}
CUSTOM: dict[str, Any] = {
    "module": None, "class_name": "Doubling", "registered_name": "mine>Doubling",
    "config": {}}


@pytest.mark.parametrize(("files", "extra", "words"), [
    ({"m.npz": "not a model"}, [], "MODEL must be a .keras file"),
    ({"m.keras": "not a zip"}, [], "not a .keras archive"),
    ({"m.keras": [INPUT], "x.npz": {"ids": np.zeros((2, 3), "int32")}}, [],
     "has shape (2, 3); the model's input takes (None, 5)"),
    ({"m.keras": [INPUT], "x.npz": {"other": np.zeros((2, 5), "int32")}}, [],
     "one array per model input, named ['ids']"),
    ({"m.keras": [INPUT, CUSTOM], "x.npz": {"ids": np.zeros((2, 5), "int32")}}, [],
     "custom objects (mine>Doubling); pass --custom-objects"),
    ({"m.keras": [INPUT], "x.npz": {"ids": np.zeros((2, 5), "int32")}},
     ["--environments", "jax-tpu"], "--environments"),
    ({"m.keras": [INPUT], "x.npz": {"ids": np.zeros((2, 5), "int32")}},
     ["--environments", "jax-cpu"], "two or more distinct environments"),
    ({"m.keras": [INPUT], "x.npz": {"ids": np.zeros((2, 5), "int32")}},
     ["--environments", "jax-cpu", "jax-cpu"], "two or more distinct environments"),
    ({"x.npz": {"ids": np.zeros((2, 5), "int32")}}, [], "MODEL: no such file"),
    ({"m.keras": [INPUT], "x.npy": np.zeros((2, 5), "int32")}, [],
     "INPUTS must be an .npz file with one array per model input"),
    ({"m.keras": [INPUT]}, [], "INPUTS: no such file"),
    ({"m.keras": [INPUT, {**CUSTOM, "module": "keras_custom_layers",
                          "registered_name": "Plain"}],
      "x.npz": {"ids": np.zeros((2, 5), "int32")}}, [], "custom objects (Plain)"),
])
def test_bad_input_is_one_line_exit_2_and_nothing_run(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], files: dict[str, Any],
        extra: list[str], words: str) -> None:
    for name, content in files.items():
        path = tmp_path / name
        if isinstance(content, np.ndarray):
            np.save(path, content)
        elif isinstance(content, list):
            keras_file(path, {"class_name": "Functional", "config": {"layers": content}})
        elif isinstance(content, dict):
            np.savez(path, **content)
        elif isinstance(content, str):
            path.write_text(content)
    model = tmp_path / ("m.keras" if "m.keras" in files or "x.npz" in files else "m.npz")
    inputs = tmp_path / next((n for n in ("x.npz", "x.npy") if n in files), "x.npz")
    out = tmp_path / "out"
    assert check.main([str(model), str(inputs), "--output", str(out), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert words in err, err
    assert not out.exists()


def test_custom_objects_that_raise_on_import_are_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = keras_file(tmp_path / "m.keras", {"class_name": "Functional", "config": {
        "layers": [INPUT, CUSTOM]}})
    np.savez(tmp_path / "x.npz", ids=np.zeros((2, 5), "int32"))
    bad = tmp_path / "bad_co.py"
    bad.write_text('raise RuntimeError("boom on import")\n', encoding="utf-8")
    out = tmp_path / "out"
    python = [a for e in ("jax-cpu", "torch-cpu") for a in ("--python", f"{e}={sys.executable}")]
    status = check.main([str(model), str(tmp_path / "x.npz"), "--output", str(out),
                         "--environments", "jax-cpu", "torch-cpu", "--custom-objects", str(bad),
                         *python])
    err = capsys.readouterr().err.strip()
    assert status == 2, err
    assert len(err.splitlines()) == 1, err
    assert f"--custom-objects {bad} raises on import" in err, err
    assert "RuntimeError: boom on import" in err, err
    assert not out.exists()


def test_a_nested_model_has_the_inputs_of_the_outer_model_only() -> None:
    functional = "keras.src.models.functional"
    inner: dict[str, Any] = {
        "module": functional, "class_name": "Functional", "registered_name": "Functional",
        "config": {"name": "inner", "input_layers": ["inner_in", 0, 0], "layers": [
            {**INPUT, "config": {**INPUT["config"], "name": "inner_in",
                                 "batch_shape": [None, 4]}}]}}
    config: dict[str, Any] = {
        "class_name": "Functional", "module": functional,
        "config": {"name": "outer", "input_layers": ["ids", 0, 0], "layers": [INPUT, inner]}}
    assert check.model_inputs(config) == [("ids", [None, 5])]
    two = {**config, "config": {**config["config"], "input_layers": [["ids", 0, 0],
                                                                      ["ids", 0, 0]]}}
    assert check.model_inputs(two) == [("ids", [None, 5]), ("ids", [None, 5])]
    sequential = {"class_name": "Sequential", "module": "keras",
                  "config": {"name": "s", "layers": [INPUT, inner]}}
    assert check.model_inputs(sequential) == [("ids", [None, 5])]
    assert check.custom_classes(config) == []


def test_exit_status_and_terminal_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    """0 agree, 1 disagree, 3 loads nowhere; the terminal shows `<`, the .md `&lt;`; the
    work folder is removed. The worker is replaced by recorded observations."""
    model = keras_file(tmp_path / "m.keras", {"class_name": "Functional", "config": {
        "input_layers": ["ids", 0, 0], "layers": [INPUT]}})
    np.savez(tmp_path / "x.npz", ids=np.zeros((2, 5), "int32"))
    outcome: dict[str, dict[str, Any]] = {}

    def worker(python: Path, environment: Any, *args: Any) -> dict[str, Any]:
        return outcome[environment.id]

    monkeypatch.setattr(check.workers, "run_worker", worker)
    args = [str(model), str(tmp_path / "x.npz"), "--output", str(tmp_path / "out"),
            "--environments", "jax-cpu", "torch-cpu",
            *[a for e in ("jax-cpu", "torch-cpu") for a in ("--python", f"{e}=python")]]
    outcome.update({e: {"layers": [value("e", [2, 5])]} for e in ("jax-cpu", "torch-cpu")})
    assert check.main(args) == 0
    outcome["torch-cpu"] = {"layers": [error("e", "TypeError")]}
    outcome["torch-cpu"]["layers"][0]["message"] = "<class 'int'> is not allowed"
    assert check.main(args) == 1
    printed = capsys.readouterr().out
    assert "raises TypeError: <class 'int'>" in printed
    assert "&lt;class" in (tmp_path / "out" / "check-m.md").read_text(encoding="utf-8")
    outcome.update({e: {"load_error": "ValueError: no", "layers": []} for e in outcome})
    assert check.main(args) == 3
    assert "the model loads on no backend: ValueError: no" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "check-m.html", "check-m.json", "check-m.md"]


def test_a_matching_archive_passes_the_input_checks(tmp_path: Path) -> None:
    config = {"class_name": "Functional", "config": {"layers": [INPUT]}}
    assert check.model_inputs(config) == [("ids", [None, 5])]
    check.check_inputs({"arr_0": np.zeros((7, 5), "int32")}, check.model_inputs(config))
    with pytest.raises(CheckError, match=r"has shape \(7,\)"):
        check.check_inputs({"ids": np.zeros((7,), "int32")}, check.model_inputs(config))


# --- end to end: real models on the three CPU backends -------------------------------------

def _interpreters() -> list[str]:
    """`--python ENV=PATH` for each environment whose run virtualenv is installed (its install
    stamp is there; else the check installs `.nox/check-<environment>` from the pins file).

    A virtualenv without the stamp may hold a bare Python: nox creates it before a session
    that then stops (a test of a refused option does that to `.nox/run-torch-cpu`).
    """
    args = []
    for env in ENVIRONMENTS:
        venv = ROOT / ".nox" / f"run-{env}"
        if (venv / "kcm-install.stamp").exists() and (venv / "bin" / "python").exists():
            args += ["--python", f"{env}={venv / 'bin' / 'python'}"]
    return args


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("models")
    python = check.python_for(get_environment("jax-cpu"), dict(
        item.split("=", 1) for item in _interpreters()[1::2]))
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    done = subprocess.run([str(python), str(BUILDER), str(out)], env=env, capture_output=True,
                          text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def run_check(models: Path, out: Path, inputs: str, *extra: str, status: int = 0
              ) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "matrix.check", str(models / "text.keras"),
         str(models / inputs), "--output", str(out), *_interpreters(), *extra],
        cwd=ROOT, capture_output=True, text=True, timeout=1800, check=False)
    assert done.returncode == status, done.stdout[-3000:] + done.stderr[-3000:]
    return dict(json.loads((out / "check-text.json").read_text(encoding="utf-8")))


@pytest.mark.e2e
def test_padded_text_classifier_agrees_on_every_backend(models: Path, tmp_path: Path) -> None:
    report = run_check(models, tmp_path, "text.npz")
    assert report["first_disagreement"] is None, report["summary"]
    names = [layer["name"] for layer in report["layers"]]
    assert names[0] == "embedding"
    assert "lstm" in names
    embedding = report["layers"][0]
    for env in ENVIRONMENTS:
        assert embedding["observed"][env] == "value [3, 5, 4] float32, mask [3, 5]"
    assert {v["backend"] for v in report["versions"].values()} == {"tensorflow", "jax", "torch"}


@pytest.mark.e2e
def test_an_id_past_input_dim_points_at_the_embedding_on_jax(models: Path,
                                                           tmp_path: Path) -> None:
    report = run_check(models, tmp_path, "text_out_of_range.npz", status=1)
    assert report["first_disagreement"] == "embedding"
    first = report["layers"][0]
    assert first["class_name"] == "Embedding"
    assert first["observed"]["jax-cpu"].startswith("value [3, 5, 4] float32, 4 NaN")
    assert first["observed"]["tensorflow-cpu"].startswith("raises InvalidArgumentError")
    assert first["observed"]["torch-cpu"].startswith("raises IndexError")
    html = (tmp_path / "check-text.html").read_text(encoding="utf-8")
    assert "first disagreement: layer &#39;embedding&#39; (Embedding)" in html


# --- hostile model files: strings and sizes ---------------------------------------------

#: A layer name, class name and error message as a hostile `.keras` file can hold them:
#: ANSI colour and title escapes, a bell, line breaks, Markdown's `|` and backticks, HTML.
HOSTILE_NAME = "\x1b[31mred\x1b[0m\x07 |col| `tick`\nnext-line \x1b]0;title\x07"
HOSTILE_CLASS = "<img src=x onerror=alert(1)>"
HOSTILE_MESSAGE = "\x1b[2J<script>alert(2)</script> | a\nb ``` \x9b31m"


def _unsafe_for_a_terminal(text: str) -> list[str]:
    return sorted({ch for ch in text if ch != "\n" and not ch.isprintable()})


def _unescaped_pipes(line: str) -> int:
    return len(line.replace("\\|", "").split("|")) - 1


def test_strings_from_the_model_are_cleaned_in_every_format(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 23: a layer named with escape sequences reached the terminal raw, and a class
    name `<img onerror>` the Markdown. The worker is replaced by recorded observations."""
    model = keras_file(tmp_path / "m.keras", {"class_name": "Functional", "config": {
        "input_layers": ["ids", 0, 0], "layers": [INPUT]}})
    np.savez(tmp_path / "x.npz", ids=np.zeros((2, 5), "int32"))
    hostile = {**value(HOSTILE_NAME, [2, 5]), "class_name": HOSTILE_CLASS}
    outcome = {"jax-cpu": {"layers": [hostile]},
               "torch-cpu": {"layers": [{**error(HOSTILE_NAME, "Type\x1b[1mError"),
                                         "class_name": HOSTILE_CLASS,
                                         "message": HOSTILE_MESSAGE}]}}

    def worker(python: Path, environment: Any, *args: Any) -> dict[str, Any]:
        return outcome[environment.id]

    monkeypatch.setattr(check.workers, "run_worker", worker)
    out = tmp_path / "out"
    status = check.main([str(model), str(tmp_path / "x.npz"), "--output", str(out),
                         "--environments", "jax-cpu", "torch-cpu",
                         *[a for e in ("jax-cpu", "torch-cpu")
                           for a in ("--python", f"{e}=python")]])
    assert status == 1
    printed = capsys.readouterr()
    for stream in (printed.out, printed.err):
        assert _unsafe_for_a_terminal(stream) == [], stream
    assert "red |col|" not in printed.out  # a name cannot add columns to the table
    assert "red /col/ `tick` next-line" in printed.out, printed.out
    table = [line for line in printed.out.splitlines() if line.startswith("|")]
    assert len(table) == 3, table
    assert len({_unescaped_pipes(line) for line in table}) == 1, table

    markdown = (out / "check-m.md").read_text(encoding="utf-8")
    assert _unsafe_for_a_terminal(markdown) == []
    for raw in ("<img", "<script", "``", "`tick`"):
        assert raw not in markdown, raw
    assert "&lt;img src=x onerror=alert(1)&gt;" in markdown
    rows = [line for line in markdown.splitlines() if line.startswith("|")]
    assert len(rows) == 3, rows
    assert len({_unescaped_pipes(line) for line in rows}) == 1, rows

    html = (out / "check-m.html").read_text(encoding="utf-8")
    assert _unsafe_for_a_terminal(html) == []
    assert "<img" not in html
    assert "<script" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html

    report = json.loads((out / "check-m.json").read_text(encoding="utf-8"))
    (layer,) = report["layers"]
    assert layer["name"] == "red |col| `tick` next-line 0;title"  # no ESC, no BEL left
    assert layer["class_name"] == HOSTILE_CLASS
    assert layer["observed"]["torch-cpu"] == \
        "raises TypeError: <script>alert(2)</script> | a b ``` 31m"


def test_a_custom_class_name_in_an_error_is_cleaned(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = keras_file(tmp_path / "m.keras", {"class_name": "Functional", "config": {
        "layers": [INPUT, {**CUSTOM, "registered_name": "\x1b[2Jmine>Evil\nline"}]}})
    np.savez(tmp_path / "x.npz", ids=np.zeros((2, 5), "int32"))
    assert check.main([str(model), str(tmp_path / "x.npz"),
                       "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert _unsafe_for_a_terminal(err) == [], err
    assert len(err.strip().splitlines()) == 1, err
    assert "custom objects (mine>Evil line)" in err, err


def _npz_declaring(path: Path, members: dict[str, tuple[int, ...]]) -> Path:
    """An `.npz` whose members declare these float64 shapes, with no array data behind."""
    import io

    with zipfile.ZipFile(path, "w") as archive:
        for name, shape in members.items():
            stream = io.BytesIO()
            np.lib.format.write_array_header_1_0(
                stream, {"descr": "<f8", "fortran_order": False, "shape": shape})
            archive.writestr(f"{name}.npy", stream.getvalue())
    return path


@pytest.mark.parametrize(("members", "member"), [
    ({"ids": (10**12, 5)}, "ids.npy"),                       # 40 TB in one header
    ({"ids": (2, 5), "big": (2**26, 2)}, "big.npy"),          # exactly 1 GiB plus 80 bytes
    ({"a": (2**25, 2), "b": (2**25, 2), "c": (2, 5)}, "c.npy"),  # the sum counts
])
def test_inputs_declaring_more_than_the_limit_are_refused_before_reading(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        members: dict[str, tuple[int, ...]], member: str) -> None:
    """Issue 23: a header declaring a huge array gave a MemoryError traceback."""
    model = keras_file(tmp_path / "m.keras", {"class_name": "Functional", "config": {
        "layers": [INPUT]}})
    inputs = _npz_declaring(tmp_path / "x.npz", members)
    out = tmp_path / "out"
    assert check.main([str(model), str(inputs), "--output", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert f"INPUTS member '{member}' declares" in err, err
    assert f"{check.INPUTS_LIMIT_BYTES} bytes" in err, err
    assert err.endswith(f"Received: {inputs}"), err
    assert not out.exists()


def test_a_bare_npy_declaring_a_huge_array_is_refused_unread(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = keras_file(tmp_path / "m.keras", {"class_name": "Functional", "config": {
        "layers": [INPUT]}})
    bare = tmp_path / "x.npy"
    with bare.open("wb") as stream:
        np.lib.format.write_array_header_1_0(
            stream, {"descr": "<f8", "fortran_order": False, "shape": (10**12, 5)})
    assert check.main([str(model), str(bare), "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert "not a single .npy array" in err, err
    assert len(err.splitlines()) == 1, err
