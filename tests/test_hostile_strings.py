"""Strings from backends are untrusted: every format escapes, strips and cuts them.

One hostile message holds all of it: `<script>alert(1)</script>`, `</script><!--` (which
would end the HTML's JSON data element), ANSI colour escapes, a Markdown pipe and backticks
(which would break a table row), bytes `b"\\xff\\xfe"` decoded with replacement (as the
harness decodes a worker's output) and 5 MB of text. It reaches the reports the way a
backend's text does: as an exception message (`error_observation`) and as what a crashed
worker printed (the fold), then through a run file on disk, the merge and each renderer:
Markdown, HTML, JSON, and the Markdown of `matrix.diff`. JUnit XML is written by pytest
itself and is not tested here.

A second set of tests feeds the same strings straight into a run file's fields (a
hand-edited or foreign run file, which skips the fold's cleaning): `load_run` and
`load_matrix` clean their free text on reading (`matrix.results.clean.sanitize_run`).
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pytest

from matrix.diff import diff_matrices, load_matrix, render_diff
from matrix.records import (
    MESSAGE_LIMIT,
    SCHEMA_VERSION,
    CaseInfo,
    EnvironmentInfo,
    Matrix,
    Observation,
    Outcome,
    Result,
    Run,
    Verdict,
)
from matrix.report import collect, render_html, render_json, render_markdown
from matrix.report.files import replace_together
from matrix.results.clean import error_observation
from matrix.results.compact import decode
from matrix.results.ingest import fold_reports
from matrix.results.io import RUN_ADAPTER, dump_run
from matrix.results.merge import merge_runs

NOW = "2025-01-02T03:04:05+00:00"
SCRIPT = "<script>alert(1)</script>"
ANSI = "\x1b[31m"
NON_UTF8 = b"\xff\xfe".decode("utf-8", errors="replace")
MEGABYTES = 5_000_000
HOSTILE = (f"{ANSI}{SCRIPT} </script><!-- & a | b `c` ``` {NON_UTF8}\x1b[0m "
           + "x" * MEGABYTES)
#: Output size that proves the 5 MB were cut: the reports of a 3 × 2 matrix are far smaller.
SIZE_LIMIT = 200_000
ENVS = ("jax-cpu", "torch-cpu")
CASES = [CaseInfo(id=f"case-{i}", group="hostile", description=f"case {i}", axes={"n": i},
                  expected="values")
         for i in range(3)]

RAW_TAG = re.compile(r"(?<!\\)<(script|/script)", re.IGNORECASE)
CODE_SPAN = re.compile(r"(?<!\\)`[^`\n]*`")
UNESCAPED_PIPE = re.compile(r"(?<!\\)(?:\\\\)*\|")


def _env(env_id: str, ran: bool = True, **fields: Any) -> EnvironmentInfo:
    backend, device = env_id.split("-")
    return dataclasses.replace(
        EnvironmentInfo(id=env_id, backend=backend, device=device, ran=ran,
                        versions={"keras": "3.15.1"},
                        provenance={"date": NOW, "git_commit": "0123456789abcdef"}),
        **fields)


def _backend_run(env_id: str) -> Run:
    """A run as the harness writes it: the hostile text raised, printed by a crash, folded."""
    raised = error_observation(RuntimeError(HOSTILE))
    node = "matrix/run/test_cases.py::test_case[case-2]"
    crash_log: list[dict[str, Any]] = [
        {"$report_type": "TestReport", "nodeid": node, "when": "setup", "outcome": "passed"},
        {"$report_type": "TestReport", "nodeid": node, "when": "???", "outcome": "failed",
         "longrepr": f"worker 'gw0' crashed while running {node!r}",
         "user_properties": [["ended_by", "crash"], ["printed", HOSTILE + "\nsecond line"],
                             ["printed_tail", HOSTILE[-4000:]]]},
    ]
    crashed, _ = fold_reports(crash_log, env_id)
    # What `matrix.oracle.judge.judge` says of it: the message is quoted in the verdict's detail.
    mismatch = Verdict(status="mismatched", cause="error_where_values_expected",
                       detail=f"the reference expects values, the backend raised "
                              f"{raised.error_type}: {raised.message}")
    results = [
        Result(case="case-0", environment=env_id, outcome=Outcome.PASSED,
               observed=Observation(kind="value", shape=[1], dtype="float32",
                                    max_abs_error=0.0, nan_count=0),
               verdict=Verdict(status="matched")),
        Result(case="case-1", environment=env_id, outcome=Outcome.FAILED, observed=raised,
               verdict=mismatch),
        *crashed,
    ]
    return Run(schema_version=SCHEMA_VERSION, environment=_env(env_id), cases=CASES,
               results=results)


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> Matrix:
    """The hostile runs written to disk and collected, as `nox -s report` reads them."""
    runs = tmp_path_factory.mktemp("runs")
    for env_id in ENVS:
        dump_run(_backend_run(env_id), runs / f"{env_id}.json")
    declared = [_env(e, ran=False) for e in ENVS]
    return collect(runs, declared, NOW)


def test_backend_text_is_cleaned_before_it_is_stored(matrix: Matrix) -> None:
    messages = [r.observed.message or "" for r in matrix.results if r.outcome is not
                Outcome.PASSED]
    assert len(messages) == 4
    for message in messages:
        assert len(message) <= MESSAGE_LIMIT
        assert "\x1b" not in message
        assert "\n" not in message
        assert SCRIPT in message  # kept as text: escaping is each format's job


def _assert_tables_hold(markdown: str, backticks_escaped: bool) -> None:
    """Every row of every table has the header's cells: no pipe from the data splits one.

    GFM splits a row at unescaped pipes before it reads code spans, so a backtick cannot
    break a row; the report escapes backticks too (`backticks_escaped`), so a message is
    shown exactly as written, while the diff lets them format a cell's text as code.
    """
    table: list[str] = []
    for line in [*markdown.splitlines(), ""]:
        if line.startswith("|"):
            table.append(line)
            continue
        if table:
            bare = [CODE_SPAN.sub("", row) for row in table]
            widths = {len(UNESCAPED_PIPE.findall(row)) for row in bare}
            assert len(widths) == 1, table
            if backticks_escaped:
                assert not any(re.search(r"(?<!\\)`", row) for row in bare), table
            table = []


def _assert_markdown_safe(markdown: str, backticks_escaped: bool = True) -> None:
    assert len(markdown) < SIZE_LIMIT
    assert "\x1b" not in markdown
    assert not RAW_TAG.search(CODE_SPAN.sub("", markdown))
    _assert_tables_hold(markdown, backticks_escaped)


def test_markdown(matrix: Matrix) -> None:
    markdown = render_markdown(matrix)
    assert "\\<script\\>alert(1)\\</script\\>" in markdown  # shown as text in the clusters
    assert NON_UTF8 in markdown
    _assert_markdown_safe(markdown)


def _data_element(html: str) -> object:
    """The page's JSON and its families' payloads (`matrixFamily(<index>,"<token>",{...});`)."""
    match = re.search(r'<script type="application/json"[^>]*>(.*?)</script>', html, re.S)
    assert match is not None
    families = re.findall(r'<script>matrixFamily\(\d+,"[0-9a-f]+",(.*?)\);</script>', html, re.S)
    return [json.loads(match.group(1)), *(json.loads(text) for text in families)]


def test_html(matrix: Matrix) -> None:
    html = render_html(matrix)
    assert len(html) < SIZE_LIMIT
    assert "\x1b" not in html
    assert "<script>alert" not in html
    # Only ours: the JSON data, the code and a family's data each; `</script>` in data
    # cannot end one.
    families = len({case.group for case in matrix.cases})
    assert html.count("<script") == html.count("</script>") == 2 + families
    assert "\\u003c/script\\u003e\\u003c!--" in html
    data = json.dumps(_data_element(html), ensure_ascii=False)
    assert "</script><!--" in data  # JSON.parse gives the text back, shown as textContent
    assert NON_UTF8 in data


def test_json(matrix: Matrix) -> None:
    files = render_json(matrix)
    text = "".join(files.values())
    assert len(text) < SIZE_LIMIT
    assert "\x1b" not in text
    assert decode(files) == matrix
    messages = [r.observed.message or "" for r in decode(files).results
                if r.observed.kind in ("error", "crash")]
    assert len(messages) == 4
    assert all(SCRIPT in m and len(m) <= MESSAGE_LIMIT for m in messages)
    # Each message is in its environment's `strings` table, as JSON escapes it.
    for env in ENVS:
        strings = json.loads(files[f"results/{env}.json"])["strings"]
        assert sum(SCRIPT in s for s in strings) >= 1


def test_diff_markdown(matrix: Matrix) -> None:
    calm = Observation(kind="error", error_type="RuntimeError", message="calm")
    before = dataclasses.replace(matrix, results=[
        dataclasses.replace(r, outcome=Outcome.PASSED, observed=calm) for r in matrix.results])
    diff = diff_matrices(before, matrix)
    assert diff.regressions  # the hostile cells are in the tables
    markdown = render_diff(diff, f"old {SCRIPT}.json", "new.json")
    assert "calm" in markdown
    assert "\\<script\\>alert(1)" in markdown
    _assert_markdown_safe(markdown, backticks_escaped=False)


# --- a run file that skipped the fold: hostile text straight in its fields -------------------

def _hand_edited_runs(folder: Path) -> Path:
    """Run files with hostile text in every free-text field, as a hand-edited one holds it."""
    hostile_obs = Observation(kind="error", error_type=f"Bad{SCRIPT}{ANSI}", message=HOSTILE,
                              device=HOSTILE[:1000],
                              warnings=[HOSTILE[:10_000], *[f"{ANSI}UserWarning: {SCRIPT}"] * 19])
    # case-1 is a harness error: its detail is shown in the report's harness errors section.
    verdicts = [Verdict(status="mismatched", cause="error_where_values_expected",
                        detail=HOSTILE),
                Verdict(status="harness_error", detail=HOSTILE),
                Verdict(status="mismatched", cause="refused_other_reason", detail=HOSTILE)]
    results = [Result(case=c.id, environment="jax-cpu",
                      outcome=Outcome.ERROR if v.status == "harness_error" else Outcome.FAILED,
                      observed=hostile_obs, verdict=v,
                      limitation=f"{HOSTILE[:200]} <https://x.org>")
               for c, v in zip(CASES, verdicts, strict=True)]
    env = _env("jax-cpu", provenance={"device_name": f"{SCRIPT}{ANSI} | `x`",
                                      "git_commit": SCRIPT})
    dump_run(Run(schema_version=SCHEMA_VERSION, environment=env, cases=CASES,
                 results=results), folder / "jax-cpu.json")
    gone = _env("torch-cpu", ran=False, reason=f"{ANSI}no GPU | {SCRIPT}")
    cells = [dataclasses.replace(r, environment="torch-cpu", outcome=Outcome.NOT_RUN,
                                 observed=Observation(kind="not_run", message=HOSTILE),
                                 verdict=Verdict(status="not_run", detail=HOSTILE))
             for r in results]
    dump_run(Run(schema_version=SCHEMA_VERSION, environment=gone, cases=CASES, results=cells),
             folder / "torch-cpu.json")
    return folder


def _hand_edited_matrix(folder: Path) -> Matrix:
    return collect(_hand_edited_runs(folder), [_env(e, ran=False) for e in ENVS], NOW)


def test_markdown_from_a_hand_edited_run_file(tmp_path: Path) -> None:
    markdown = render_markdown(_hand_edited_matrix(tmp_path))
    harness = markdown.split("## Harness errors", 1)[1]
    assert "\\<script\\>alert(1)" in harness  # the verdict's detail, shown as text
    _assert_markdown_safe(markdown)


def test_hand_edited_verdicts_warnings_and_limitations_are_cleaned(tmp_path: Path) -> None:
    matrix = _hand_edited_matrix(tmp_path)
    for result in matrix.results:
        detail = result.verdict.detail or ""
        assert len(detail) <= MESSAGE_LIMIT
        assert "\x1b" not in detail
        assert SCRIPT in detail
        assert len(result.observed.warnings) <= 10
        assert all("\x1b" not in w and len(w) <= 200 for w in result.observed.warnings)
        # A run file carries no triage: the merge sets the limitation from the catalog's.
        assert result.limitation is None


def test_html_from_a_hand_edited_run_file_is_escaped(tmp_path: Path) -> None:
    matrix = _hand_edited_matrix(tmp_path)
    html = render_html(matrix)
    assert "<script>alert" not in html
    families = len({case.group for case in matrix.cases})
    assert html.count("<script") == html.count("</script>") == 2 + families


def test_html_from_a_hand_edited_run_file_is_cut_and_stripped(tmp_path: Path) -> None:
    html = render_html(_hand_edited_matrix(tmp_path))
    assert len(html) < SIZE_LIMIT
    assert "\x1b" not in html


def test_json_from_a_hand_edited_run_file_round_trips(tmp_path: Path) -> None:
    matrix = _hand_edited_matrix(tmp_path)
    assert decode(render_json(matrix)) == matrix


def test_json_from_a_hand_edited_run_file_is_cut_and_stripped(tmp_path: Path) -> None:
    text = "".join(render_json(_hand_edited_matrix(tmp_path)).values())
    assert len(text) < SIZE_LIMIT
    assert "\\u001b" not in text


def test_diff_markdown_from_a_hand_edited_matrix_file(tmp_path: Path) -> None:
    raw = merge_runs([load_run_unchecked(p) for p in sorted(
        _hand_edited_runs(tmp_path).glob("*.json"))], [], NOW)
    replace_together(tmp_path / "new", render_json(raw))
    after = load_matrix(tmp_path / "new" / "compatibility.json")
    calm = Observation(kind="error", error_type="RuntimeError", message="calm")
    before = dataclasses.replace(after, results=[
        dataclasses.replace(r, outcome=Outcome.PASSED, observed=calm) for r in after.results])
    _assert_markdown_safe(render_diff(diff_matrices(before, after), "old.json", "new.json"),
                          backticks_escaped=False)


def load_run_unchecked(path: Path) -> Run:
    """A run file read without any cleaning (what reached the renderers before the fix)."""
    return RUN_ADAPTER.validate_json(path.read_bytes())


def test_run_file_on_disk_is_utf8_json(tmp_path: Path) -> None:
    """Replacement characters and escapes survive the write-then-rename of a run file."""
    path = tmp_path / "jax-cpu.json"
    dump_run(_backend_run("jax-cpu"), path)
    text = path.read_bytes().decode("utf-8")  # strict: never invalid UTF-8 on disk
    assert NON_UTF8 in text or "\\ufffd" in text
    assert "\x1b" not in text
