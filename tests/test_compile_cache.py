"""Tests of matrix/run/compile_cache.py: the `--fresh-compile` option and its variables."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from matrix.environments import BACKENDS
from matrix.run import compile_cache
from matrix.run.compile_cache import (
    empty_folder,
    fresh_compile_folder,
    fresh_compile_variables,
)
from matrix.run.runfiles import parse_run_options


def test_the_flag_is_taken_out_and_the_rest_keeps_its_order(tmp_path: Path) -> None:
    options = parse_run_options(["--jobs", "1", "--fresh-compile", "-k", "rank2"],
                                root=tmp_path)
    assert options.fresh_compile is True
    assert options.pytest_args == ("-k", "rank2")
    plain = parse_run_options(["-k", "fresh-compile"], root=tmp_path)
    assert (plain.fresh_compile, plain.pytest_args) == (False, ("-k", "fresh-compile"))


def test_only_torch_gets_variables_and_they_turn_both_caches_off(tmp_path: Path) -> None:
    folder = fresh_compile_folder(tmp_path, "torch-cpu.shard-1-of-2")
    assert folder == tmp_path / "inductor-fresh" / "torch-cpu.shard-1-of-2"
    assert fresh_compile_variables("torch", folder) == {
        "TORCHINDUCTOR_FORCE_DISABLE_CACHES": "1", "TORCHINDUCTOR_CACHE_DIR": str(folder)}
    assert {b: fresh_compile_variables(b, folder) for b in BACKENDS if b != "torch"} == \
        {b: {} for b in BACKENDS if b != "torch"}


def test_the_same_environment_gets_the_same_values_every_run(tmp_path: Path) -> None:
    # TORCH* variables are part of every cell's cache key (matrix/run/cache_key.py): a value
    # that changed per run would make every cell of a --fresh-compile run miss the cache.
    first = fresh_compile_variables("torch", fresh_compile_folder(tmp_path, "torch-cpu"))
    again = fresh_compile_variables("torch", fresh_compile_folder(tmp_path, "torch-cpu"))
    assert first == again


def test_empty_folder_removes_what_a_run_left(tmp_path: Path) -> None:
    folder = tmp_path / "inductor-fresh" / "torch-cpu"
    (folder / "tmpabc" / "2d").mkdir(parents=True)
    (folder / "tmpabc" / "2d" / "kernel.main.cpp").write_text("int main() {}\n")
    empty_folder(folder)
    assert folder.is_dir()
    assert list(folder.iterdir()) == []
    empty_folder(tmp_path / "new")
    assert (tmp_path / "new").is_dir()


def _cell(case: str, message: str | None = None, error: float | None = 0.0,
          outcome: str = "passed") -> dict[str, object]:
    return {"case": case, "outcome": outcome,
            "observed": {"kind": "error" if message else "value", "error_type": None,
                         "message": message, "shape": [2], "dtype": "float32",
                         "nan_count": 0, "max_abs_error": error, "device": "cpu"},
            "verdict": {"status": "matched", "cause": None}}


def test_drift_leaves_out_the_kernel_folder_and_nothing_else(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]
                                                            ) -> None:
    kernel = "kernel, {}/2d/c2dwy4.main.cpp:27, index out of bounds: 0 <= tmp8 < 10L"
    cached = {"results": [_cell("oob", kernel.format("/tmp/torchinductor_root")),
                          _cell("value", error=1e-7), _cell("cut", outcome="not_run")]}
    fresh = {"results": [_cell("oob", kernel.format("/w/inductor-fresh/torch-cpu/tmpab12")),
                         _cell("value", error=1e-7), _cell("cut", error=5.0)]}
    assert compile_cache.drift(cached, fresh) == []
    fresh["results"][1] = _cell("value", error=2e-7)
    assert compile_cache.drift(cached, fresh) == [("value", "max_abs_error", 1e-7, 2e-7)]
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(cached), encoding="utf-8")
    b.write_text(json.dumps(fresh), encoding="utf-8")
    assert compile_cache.main(["compare", str(a), str(b)]) == 1
    assert "| `value` | max_abs_error | `1e-07` | `2e-07` |" in capsys.readouterr().out
    assert compile_cache.main(["compare", str(a), str(a)]) == 0
    b.write_text("{", encoding="utf-8")
    assert compile_cache.main(["compare", str(a), str(b)]) == 2
    assert str(b) in capsys.readouterr().err
