"""`matrix.records.ExpectedAnswer`: the typed reading of a run file's `expected` text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from matrix.records import ExpectedAnswer

REPORTS = Path(__file__).resolve().parents[1] / "reports"


@pytest.mark.parametrize("text", [
    "values",
    "no reference (judged by agreement across backends)",
    "error (IndexError or InvalidArgumentError or RuntimeError): IndexError: Embedding ids "
    "must be in [0, 10). Received: ids=[10]",
    "error (ValueError) at step 0 (ops.bincount): ValueError: x must be non-negative.\nline 2",
    "error (TypeError) at step 2 (None): TypeError: no step name",
    "error (): nothing accepted",
    "error: IndexError: Embedding ids must be in [0, 10)",
    "error:",
    "error (IndexError) without a reason",
    "something else entirely",
    "",
])
def test_every_text_reads_back_exactly(text: str) -> None:
    assert str(ExpectedAnswer.parse(text)) == text


def test_the_fields_of_a_refusal() -> None:
    answer = ExpectedAnswer.parse("error (ValueError or InvalidArgumentError) at step 1 "
                                  "(layers.GRU): ValueError: rank 2: not 3")
    assert answer == ExpectedAnswer(kind="error", error_types=("ValueError",
                                                               "InvalidArgumentError"),
                                    reason="ValueError: rank 2: not 3", step=1,
                                    step_name="layers.GRU")
    assert answer.short == "error (ValueError or InvalidArgumentError)"
    assert ExpectedAnswer.parse("values").kind == "values"
    assert ExpectedAnswer.parse("error: IndexError: bad id").short == "error (IndexError)"
    assert ExpectedAnswer.parse("error:").short == "error"
    assert ExpectedAnswer.parse("error (IndexError) without a reason").kind == "text"


def test_every_published_answer_reads_back_exactly() -> None:
    texts = {case["expected"] for path in sorted(REPORTS.rglob("*.json"))
             for case in _cases(path)}
    assert "values" in texts
    kinds = {ExpectedAnswer.parse(text).kind for text in texts}
    assert "error" in kinds
    assert "text" not in kinds
    for text in texts:
        assert str(ExpectedAnswer.parse(text)) == text


def _cases(path: Path) -> list[dict[str, str]]:
    document = json.loads(path.read_text(encoding="utf-8"))
    cases = document.get("cases") if isinstance(document, dict) else None
    return [c for c in cases or [] if isinstance(c, dict) and "expected" in c]
