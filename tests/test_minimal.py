"""The minimal repro (`matrix.report.minimal`) of every catalog case: valid Python, short, free of
the harness, and the same statements as the program that ran. Running them on real backends
is `tests/test_minimal_e2e.py`."""

from __future__ import annotations

import ast
import re
import statistics
from pathlib import Path

import pytest

from cases import builtin_cases
from matrix.report.minimal import minimal_header, minimal_repro
from matrix.run.program import render

CASES = builtin_cases()


def test_every_case_has_a_short_minimal_repro_without_the_harness() -> None:
    lengths = {}
    for case in CASES:
        text = minimal_repro(render(case))
        assert text is not None, case.id
        code = minimal_header("jax", "cpu") + text
        tree = ast.parse(code)
        called = {n.func.id for n in ast.walk(tree)
                  if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
        assert not called & {"observe", "device_of", "set_weights", "NotApplicable",
                             "NotRun", "HarnessError"}, case.id
        defined = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
        assert called & {"seeded", "seed_floats"} <= defined, case.id
        lengths[case.id] = len(code.splitlines())
    assert statistics.median(lengths.values()) <= 20
    # The figure docs/report.md quotes.
    readme = (Path(__file__).parents[1] / "docs" / "report.md").read_text(encoding="utf-8")
    quoted = re.search(r"`matrix/report/minimal.py`: median (\d+) lines", readme)
    assert quoted is not None
    assert int(quoted.group(1)) == statistics.median(lengths.values())
    # Under 25 lines but for the cases with more layers or a layer class of their own.
    assert sum(n < 25 for n in lengths.values()) / len(lengths) >= 0.9
    assert max(lengths.values()) <= 50


@pytest.mark.parametrize("case_id", [
    "embedding-dtype-rank0-int8-in_range-none-eager",
    "index-ops-take-0-rank2-out_of_range-10-uint8-predict",
])
def test_the_minimal_repro_keeps_the_programs_statements(case_id: str) -> None:
    case = next(c for c in CASES if c.id == case_id)
    full = render(case)
    mini = minimal_repro(full)
    assert mini is not None
    program = next(n for n in ast.parse(full).body
                   if isinstance(n, ast.FunctionDef) and n.name == "program")
    statements = [ast.unparse(n) for n in program.body if not isinstance(n, ast.Return)]
    kept = {ast.unparse(n) for n in ast.parse(mini).body}
    for statement in statements:
        if statement.startswith("set_weights("):
            continue  # becomes layer.set_weights(...)
        if "k_model_inputs" in statement:
            continue  # one input: keras.Model(k_ids, ...)
        assert statement in kept, statement
    assert mini.startswith(f"# {case.id}: ")
    assert "print('the NumPy reference expects:'" in ast.unparse(ast.parse(mini))


def test_what_is_not_a_program_has_no_minimal_repro() -> None:
    assert minimal_repro("print(1)\n") is None
    assert minimal_repro("def program(:\n") is None
