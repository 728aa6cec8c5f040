"""Tests of `matrix.report`: the JSON contract, Markdown golden file, HTML escaping, problems.

No framework is imported: the matrix is built by hand. To rewrite the golden files after an
intended change of the output, run `KCM_UPDATE_GOLDEN=1 pytest tests/test_report.py` and
review the diff.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import re
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cells import verdict_for
from rich.console import Console

from cases.limitations import Limitation
from cases.load import validate_catalog
from cases.model import Case, CatalogError, Step, Tensor, chain
from matrix import variables as kcm
from matrix.records import (
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
from matrix.report import (
    collect,
    error_clusters,
    error_signature,
    limitation_link,
    main,
    normalise_message,
    pivots,
    print_summary,
    recorded,
    render_html,
    render_html_files,
    render_json,
    render_markdown,
    repro_body,
    repro_header,
    repro_snippet,
    script_json,
    unsafe_name,
    write_reports,
)
from matrix.report.table import Behaviour, Cell, compatibility_table, distinctions, fold
from matrix.results.analysis import divergent_cases
from matrix.results.compact import decode, load_matrix
from matrix.results.io import dump_run
from matrix.results.merge import merge_runs
from matrix.results.triage import apply_limitations

GOLDEN = Path(__file__).parent / "data" / "report"
NOW = "2025-01-02T03:04:05+00:00"
SCRIPT = "<script>alert(1)</script>"

ENVS = [
    EnvironmentInfo(id="tensorflow-cpu", backend="tensorflow", device="cpu", ran=False),
    EnvironmentInfo(id="jax-cpu", backend="jax", device="cpu", ran=False),
    EnvironmentInfo(id="torch-cpu", backend="torch", device="cpu", ran=False),
    EnvironmentInfo(id="jax-gpu", backend="jax", device="gpu", ran=False),
]
CASES = [
    CaseInfo(id="embedding-rank2-int32-in_range", group="embedding",
             description="Embedding lookup of in-range int32 indices, rank 2",
             axes={"layer": "Embedding", "rank": 2, "input_dtype": "int32",
                   "values": "in_range", "mode": "eager"}, subject="layers.Embedding"),
    CaseInfo(id="embedding-rank2-int32-out_of_range", group="embedding",
             description="Embedding lookup of an index past input_dim",
             axes={"layer": "Embedding", "rank": 2, "input_dtype": "int32",
                   "values": "out_of_range", "mode": "eager"}, subject="layers.Embedding",
             expected="error (IndexError or InvalidArgumentError): IndexError: index 12 is "
                      "out of range for input_dim=10"),
    CaseInfo(id="mask_consumers-lstm-explicit", group="mask-consumers",
             description="Embedding then LSTM with an explicit float mask",
             axes={"layer": "Embedding", "consumer": "LSTM", "mask": "explicit",
                   "mode": "eager"}, subject="layers.LSTM",
             expected="error (ValueError or TypeError): ValueError: the mask must be boolean"),
]
#: Covers the jax cells of the out-of-range case: the one jax-cpu mismatch is xfailed.
LIMITATION = Limitation(id="jax-clamps", description="JAX clamps out-of-range indices instead "
                        "of raising", link="https://example.org/jax", backends=("jax",),
                        axes={"values": ("out_of_range",)})


def _values(nan: int = 0, error: float | None = 0.0, device: str = "cpu:0") -> Observation:
    return Observation(kind="value", shape=[2, 3, 4], dtype="float32", max_abs_error=error,
                       nan_count=nan, device=device)


def _error(error_type: str, message: str) -> Observation:
    return Observation(kind="error", error_type=error_type, message=message)


def _run(env: EnvironmentInfo, cells: list[tuple[Outcome, Observation]]) -> Run:
    ran = EnvironmentInfo(
        id=env.id, backend=env.backend, device=env.device, ran=True,
        versions={"keras": "3.15.1", "python": "3.11.7", env.backend: "1.0.0"},
        provenance={"device_name": "x86_64", "date": "2025-01-01T00:00:00+00:00",
                    "git_commit": "0123456789abcdef0123456789abcdef01234567"})
    results = [Result(case=case.id, environment=env.id, outcome=outcome, observed=obs,
                      verdict=verdict_for(outcome), duration_s=0.25)
               for case, (outcome, obs) in zip(CASES, cells, strict=True)]
    return Run(schema_version=SCHEMA_VERSION, environment=ran, cases=CASES, results=results)


def _runs() -> list[Run]:
    bad_mask = _error("ValueError", f"\x1b[31mbad mask {SCRIPT} & </script>\x1b[0m")
    return [
        _run(ENVS[0], [
            (Outcome.PASSED, _values()),
            (Outcome.PASSED, _error("InvalidArgumentError", "indices[0,1] = 12 is not in "
                                    "[0, 10)")),
            (Outcome.PASSED, bad_mask),
        ]),
        _run(ENVS[1], [
            (Outcome.PASSED, _values()),
            (Outcome.FAILED, _values(nan=4, error=float("inf"))),  # xfailed at merge
            (Outcome.PASSED, _error("TypeError", "mask | must be bool")),
        ]),
        _run(ENVS[2], [
            (Outcome.PASSED, _values()),
            (Outcome.PASSED, _error("IndexError", "index out of range in self")),
            (Outcome.PASSED, _error("RuntimeError", "mask must be bool")),
        ]),
    ]


@pytest.fixture
def matrix() -> Matrix:
    """3 cases by 4 environments; jax-gpu has no run file, so it is `not_run`."""
    return apply_limitations(merge_runs(_runs(), ENVS, NOW), (LIMITATION,))


def _bench() -> Any:
    """`benchmarks/bench_report.py`, imported by path (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location(
        "bench_report", Path(__file__).parents[1] / "benchmarks" / "bench_report.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _golden(name: str, text: str) -> None:
    """Compares `text` with a golden file; rewrites it when KCM_UPDATE_GOLDEN=1."""
    path = GOLDEN / name
    if os.environ.get(kcm.UPDATE_GOLDEN.name) == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"{path} is missing; create it with {kcm.UPDATE_GOLDEN.name}=1"
    assert text == path.read_text(encoding="utf-8"), \
        f"{name} differs from its golden file; if intended, rerun with {kcm.UPDATE_GOLDEN.name}=1"


# --- JSON -----------------------------------------------------------------------------------

def test_json_has_exactly_the_contract_keys(matrix: Matrix) -> None:
    files = render_json(matrix)
    envs = [e.id for e in matrix.environments]
    assert list(files) == ["compatibility.json", *(f"results/{e}.json" for e in envs)]
    data = json.loads(files["compatibility.json"], parse_constant=pytest.fail)
    assert set(data) == {"schema_version", "generator", "generated_at", "record_schema_version",
                         "environments", "cases", "preludes", "result_files", "result_order",
                         "limitations", "problems"}
    assert data["schema_version"] == 3
    assert data["record_schema_version"] == 2
    assert "nox -s report" in data["generator"]
    assert data["generated_at"] == NOW
    assert data["result_order"] == "by_case"
    assert data["result_files"] == [{"environment": e, "path": f"results/{e}.json",
                                     "results": 3} for e in envs]
    for env in data["environments"]:
        assert {"id", "backend", "device", "ran", "versions"} <= set(env)
    for case in data["cases"]:
        assert {"id", "group", "description", "axes", "subject", "expected", "repro"} <= set(case)
    for env in envs:
        doc = json.loads(files[f"results/{env}.json"], parse_constant=pytest.fail)
        assert set(doc) == {"schema_version", "environment", "columns", "strings", "results"}
        assert doc["environment"] == env
        assert doc["columns"]["result"][:6] == ["case", "outcome", "observed", "verdict",
                                                "duration_s", "limitation"]
        assert doc["columns"]["verdict"] == ["status", "cause", "detail"]
        assert {"kind", "error_type", "message", "shape", "dtype", "max_abs_error",
                "nan_count", "device", "warnings"} <= set(doc["columns"]["observed"])
        assert all(len(row) == len(doc["columns"]["result"]) for row in doc["results"])
        assert len(doc["strings"]) == len(set(doc["strings"]))  # each string once
    results = decode(files).results
    xfailed = [r for r in results if r.outcome == "xfailed"]
    assert [(r.case, r.environment, r.limitation, r.verdict.status)
            for r in xfailed] == [("embedding-rank2-int32-out_of_range", "jax-cpu",
                                   "jax-clamps", "mismatched")]
    assert data["limitations"] == [{
        "id": "jax-clamps", "description": LIMITATION.description, "link": LIMITATION.link,
        "backends": ["jax"], "devices": [], "axes": {"values": ["out_of_range"]},
        "cpu_flags": [], "effect": "",
        "cells": 1, "stale": False}]
    pairs = [(r.case, r.environment) for r in results]
    assert len(pairs) == len(set(pairs)) == 3 * 4


def test_json_round_trips_and_writes_infinity_as_a_string(matrix: Matrix) -> None:
    files = render_json(matrix)
    infinite = [r for r in matrix.results if r.observed.max_abs_error == math.inf]
    assert infinite
    for result in infinite:
        assert '"Infinity"' in files[f"results/{result.environment}.json"]
    assert decode(files) == matrix


# --- divergences ----------------------------------------------------------------------------

def test_compatibility_table_has_one_row_per_behaviour(matrix: Matrix) -> None:
    assert divergent_cases(matrix) == ["embedding-rank2-int32-out_of_range"]
    table = compatibility_table(matrix)
    assert [h.label for h in table.headers] == ["tensorflow-cpu", "jax-cpu", "torch-cpu",
                                                "jax-gpu"]
    assert [h.ran for h in table.headers] == [True, True, True, False]
    assert len(table.rows) == 1
    assert table.agreeing == 2
    row = table.rows[0]
    assert row.title == "layers.Embedding, values out_of_range"
    assert [c.text for c in row.cells] == ["raises InvalidArgumentError", "NaN rows (silent)",
                                           "raises IndexError", "not run: no GPU run"]
    assert row.silent
    assert not row.unexplained
    assert row.limitations == ("jax-clamps",)
    assert dict(row.spans) == {"input_dtype": "int32", "rank": "2", "mode": "eager"}
    markdown = render_markdown(matrix)
    section = markdown.split("## Compatibility table", 1)[1].split("## Environments", 1)[0]
    # One list item per behaviour, the environments grouped by what they did, nothing cut.
    assert "1. **layers.Embedding, values out_of_range** ([1 case](compatibility.html#f:b=0))" \
        ": the reference expects " in section
    assert "    - `tensorflow-cpu`: raises InvalidArgumentError\n" in section
    assert "    - `jax-cpu`: NaN rows (silent)\n" in section
    assert "…" not in section
    assert "[jax-clamps]: https://example.org/jax" in section
    html = render_html(matrix)
    compat = html.split('id="compat-table"', 1)[1].split("</table>", 1)[0]
    assert html.index('id="compat-table"') < html.index('id="environments"')
    assert 'href="#f:b=0"' in compat
    assert 'href="https://example.org/jax"' in compat


def test_channels_fold_when_they_agree_and_show_apart_when_not() -> None:
    agree = Cell(text="raises IndexError", outcome="passed")
    nan = Cell(text="NaN rows (silent)", outcome="xfailed", silent=True)
    idle = Cell(text="not run", outcome="not_run")
    assert fold([("latest", agree), ("nightly", agree), ("minimum", idle)]) == agree
    mixed = fold([("latest", agree), ("nightly", nan)])
    assert mixed.text == "latest: raises IndexError; nightly: NaN rows (silent)"
    assert mixed.outcome == "mixed"
    assert mixed.silent


def test_the_page_stores_the_prelude_the_repros_share_once() -> None:
    """Issue 27: the 3.7 KB of imports and helpers before each program's `def program():`
    were half of the published page, once per case; now once per distinct prelude."""
    from cases import builtin_cases
    from matrix.run.program import render

    chosen = [c for c in builtin_cases() if c.axes.get("mode") == "eager"][:40]
    cases = [CaseInfo(id=c.id, group=c.group, description=c.description, axes=dict(c.axes),
                      expected="values", repro=render(c)) for c in chosen]
    env = EnvironmentInfo(id="jax-cpu", backend="jax", device="cpu", ran=False)
    matrix = Matrix(schema_version=SCHEMA_VERSION, generated_at="2025-01-02T03:04:05+00:00",
                    environments=[env], cases=cases, results=[])
    report = render_html_files(matrix)
    assert report.page.count("class HarnessError(Exception)") == 1
    assert not any("class HarnessError(Exception)" in text for text in report.data.values())
    data = json.loads(report.page.split('id="matrix-data">', 1)[1].split("</script>", 1)[0])
    assert len(data["preludes"]) == 1
    rows = [row for text in report.data.values() for row in _family(text)["cases"]]
    assert [row[1] for row in rows] == [case.id for case in cases]
    for case, row in zip(cases, rows, strict=True):
        assert row[7] + data["preludes"][row[8]] + row[9] == case.repro


def _family(text: str) -> dict[str, Any]:
    """The payload of a family data file: `matrixFamily(<index>,"<token>",{...});`."""
    head, _, rest = text.partition(",{")
    assert head.startswith("matrixFamily(")
    assert text.endswith(");\n")
    payload: dict[str, Any] = json.loads("{" + rest[:-len(");\n")])
    return payload


def test_the_published_page_stays_small_at_ten_thousand_cases() -> None:
    """Issue 27: the first screen ships under 1 MB whatever the catalog's size; every case's
    data is in its family's file, each file read by the page as a script."""
    matrix = _bench().synthetic_matrix(10_000, 14)
    report = render_html_files(matrix)
    assert len(report.page.encode("utf-8")) < 1_000_000
    ids = [row[1] for text in report.data.values() for row in _family(text)["cases"]]
    assert sorted(ids) == sorted(case.id for case in matrix.cases)
    assert all(name.startswith("compatibility-data/") and name.endswith(".js")
               for name in report.data)


def test_markdown_is_small_and_its_lines_short() -> None:
    """On a catalog the size of the real one, every case diverging: no per-case grid."""
    markdown = render_markdown(_bench().synthetic_matrix(5000, 12))
    assert len(markdown.encode("utf-8")) <= 150_000
    assert max(len(line) for line in markdown.splitlines()) <= 400
    assert "compatibility.html" in markdown
    assert "compatibility.json" in markdown


def test_markdown_escapes_environment_names() -> None:
    env_id = "torch|cpu\n## injected <b>x</b>"
    plain = _runs()[2]
    run = replace(plain, results=[replace(r, environment=env_id) for r in plain.results],
                  environment=replace(plain.environment, id=env_id,
                                      versions={"keras": "3 | x\n## heading",
                                                "python": "<b>3</b>"},
                                      provenance={"date": "x\n# title", "git_commit": "a|b"}))
    runs = [*_runs()[:2], run]
    columns = [*ENVS[:2], replace(ENVS[2], id=env_id)]
    merged = merge_runs(runs, columns, NOW)
    markdown = render_markdown(apply_limitations(merged, (LIMITATION,)))
    for line in markdown.splitlines():
        assert not line.startswith(("## injected", "## heading", "# title"))
        # Outside code spans (where a code host shows tags as text) no tag is left.
        assert "<b>" not in re.sub(r"`[^`]*`", "", line.replace("\\`", ""))
    assert "torch\\|cpu" in markdown  # the pipe escaped, in every table
    _assert_aligned(markdown)


def test_unsafe_names_are_refused_on_read(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    good, bad = _runs()[0], _runs()[1]
    dump_run(good, runs / "tensorflow-cpu.json")
    evil = replace(bad, environment=replace(bad.environment, backend='jax"; import os #'))
    dump_run(evil, runs / "jax-cpu.json")
    matrix = collect(runs, ENVS, NOW, limitations=(LIMITATION,))
    assert len(matrix.problems) == 1
    assert "environment.backend" in matrix.problems[0]
    assert "jax-cpu.json" in \
        matrix.problems[0]
    assert not next(e for e in matrix.environments if e.id == "jax-cpu").ran
    assert unsafe_name(good) is None
    header = repro_header(replace(ENVS[1], backend='x"\nimport os'))
    compile(header, "<header>", "exec")  # quoted as a literal, whatever it holds
    assert "\nimport os" not in header


#: Ids either side of the rule: the four issue 23 found (backslash, space, `/`, 201 characters),
#: two the report used to accept and the catalog never built (`=`, a leading `_`), and good ones.
ID_RULE = [("a\\b", False), ("a b", False), ("a/b", False), ("m" * 201, False),
           ("a=b", False), ("_lead", False), ("café", False),
           ("M9._+-" + "x" * 194, True), ("embedding-rank2-int32-in_range", True),
           ("Mine+1.2_b", True)]


@pytest.mark.parametrize(("case_id", "good"), ID_RULE)
def test_the_report_reads_exactly_the_case_ids_collection_accepts(
        tmp_path: Path, case_id: str, good: bool) -> None:
    """Issue 23: one rule, so no id that collection accepts costs the report its run file."""
    case = Case(id=case_id, group="mine", description="Embedding(10, 4)(ids)",
                axes={"mode": "eager"}, inputs={"ids": Tensor(dtype="int32", values=[[1]])},
                steps=chain(Step("layers.Embedding", args={"input_dim": 10, "output_dim": 4})),
                mode="eager")
    refusal = ""
    try:
        validate_catalog([case], "mine.py")
    except CatalogError as exc:
        refusal = str(exc)
    collected = not refusal
    assert collected or refusal.startswith("mine.py: a case id must be"), refusal
    runs = tmp_path / "runs"
    runs.mkdir()
    run = _runs()[1]
    dump_run(replace(run, cases=[replace(CASES[0], id=case_id), *run.cases[1:]],
                     results=[replace(run.results[0], case=case_id), *run.results[1:]]),
             runs / "jax-cpu.json")
    matrix = collect(runs, ENVS, NOW, limitations=(LIMITATION,))
    read = next(e for e in matrix.environments if e.id == "jax-cpu").ran
    assert (collected, read) == (good, good)
    assert (case_id in [c.id for c in matrix.cases]) == good
    if not good:
        assert len(matrix.problems) == 1
        assert "jax-cpu.json: field `cases.0.id`: a case id must be" in matrix.problems[0]


def test_summary_marks_older_run_files(matrix: Matrix) -> None:
    env = next(e for e in matrix.environments if e.ran)  # recorded 2025-01-01, commit 0123…
    now = datetime(2025, 1, 3, tzinfo=UTC)
    assert recorded(env, now) == "older: 2 d"
    assert recorded(env, datetime(2025, 1, 1, 0, 10, tzinfo=UTC),
                    commit="0123456789abcdef0123456789abcdef01234567") is None
    assert recorded(env, datetime(2025, 1, 1, 0, 10, tzinfo=UTC), commit="fedcba98") == \
        "older: 10 min, commit 01234567"
    console = Console(width=60, record=True)
    long_env = replace(env, id="tensorflow-cpu-nightly")
    print_summary(replace(matrix, environments=[long_env, *matrix.environments[1:]],
                          results=[replace(r, environment=long_env.id)
                                   if r.environment == env.id else r
                                   for r in matrix.results]), console, now=now)
    text = console.export_text()
    assert "tensorflow-cpu-nightly" in text  # never folded or cut at 60 columns
    assert "older: 2 d" in text


def test_the_summary_is_readable_at_80_columns_and_narrower(matrix: Matrix) -> None:
    """A CI log or a pipe is 80 columns: every header whole, no percentages, nothing cut
    ("p… fa… x…" said nothing); too narrow for the table, one line per environment."""
    counts = {e.id: {o.value: sum(1 for r in matrix.results if r.environment == e.id
                                  and r.outcome is o) for o in Outcome}
              for e in matrix.environments if e.ran}
    for width in (80, 40):
        console = Console(width=width, record=True)
        print_summary(matrix, console)
        text = console.export_text()
        assert "…" not in text
        assert "%" not in text
        assert max(len(line) for line in text.splitlines()) <= width
        for env_id, by in counts.items():
            assert env_id in text
            if width == 40:
                line = next(x for x in text.splitlines() if x.startswith(f"{env_id}: "))
                assert all(f"{n} {o.replace('_', ' ')}" in line for o, n in by.items() if n)
        if width == 80:
            header = next(x for x in text.splitlines() if x.startswith("environment"))
            assert header.split() == ["environment", *[o for o in ("passed", "failed",
                "xfailed", "xpassed", "skipped", "error", "crashed", "timeout")
                if o in header.split()]]
            assert {"passed", "failed"} <= set(header.split())


# --- Markdown -------------------------------------------------------------------------------

def test_markdown_matches_golden(matrix: Matrix) -> None:
    _golden("compatibility.md", render_markdown(matrix))


def test_markdown_escapes_untrusted_text() -> None:
    env = EnvironmentInfo(id="jax-gpu", backend="jax", device="gpu", ran=False,
                          reason=f"no GPU | {SCRIPT}")
    merged = merge_runs(_runs(), [env], NOW, problems=[f"x.json: {SCRIPT}"])
    markdown = render_markdown(apply_limitations(merged, (LIMITATION,)))
    assert SCRIPT not in markdown
    assert "\\<script\\>" in markdown
    assert "no GPU \\| " in markdown


# --- HTML -----------------------------------------------------------------------------------

def test_html_escapes_messages(matrix: Matrix) -> None:
    html = render_html(matrix)
    assert "<script>alert" not in html
    assert "</script> & " not in html
    # The message is in the embedded JSON, with <, > and & as JSON escapes.
    assert "\\u003cscript\\u003ealert(1)\\u003c/script\\u003e \\u0026" in html
    assert "\x1b" not in html
    # Exactly our script elements: the data, the code and one per family.
    families = len({case.group for case in matrix.cases})
    assert html.count("<script") == html.count("</script>") == 2 + families
    # The published form: the same escapes in the family files, which the page reads as
    # scripts, and no script element of the page's own but the data and the code.
    report = render_html_files(matrix)
    assert report.page.count("<script") == 2
    assert len(report.data) == families
    for text in report.data.values():
        assert "<script" not in text
        assert "</script" not in text
        assert "\x1b" not in text
    assert any("\\u003cscript\\u003ealert(1)" in text for text in report.data.values())


def test_html_escapes_text_from_the_runs() -> None:
    env = EnvironmentInfo(id="jax-gpu", backend="jax", device="gpu", ran=False,
                          reason=f"no GPU {SCRIPT}")
    merged = merge_runs(_runs(), [env], NOW, problems=[f"x.json: {SCRIPT}"])
    html = render_html(apply_limitations(merged, (LIMITATION,)))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert" not in html


def test_script_json_cannot_end_the_element() -> None:
    text = str(script_json({"m": "</script><!-- & \u2028"}))
    assert "<" not in text
    assert ">" not in text
    assert "&" not in text
    assert json.loads(text) == {"m": "</script><!-- & \u2028"}


def test_html_is_one_offline_page(matrix: Matrix) -> None:
    html = render_html(matrix)
    assert "nox -s report" in html
    assert NOW in html
    assert not re.search(r"""src=["']?(https?:)?//""", html)  # nothing loaded from afar
    assert not re.search(r"""<link[^>]*href=""", html)
    # The only remote addresses are the limitations' public links, opened on a click.
    assert re.findall(r'href="(https?://[^"]*)"', html) == ["https://example.org/jax"]
    assert 'class="verdict o-xfailed sd"' in html
    assert "0123456789ab" in html  # the short git commit


# --- problems and missing environments ------------------------------------------------------

def test_bad_run_file_is_a_problem_and_the_rest_renders(tmp_path: Path) -> None:
    runs = _runs()
    dump_run(runs[1], tmp_path / "jax-cpu.json")
    good = (tmp_path / "jax-cpu.json").read_text(encoding="utf-8")
    (tmp_path / "torch-cpu.json").write_text(good[: len(good) // 2], encoding="utf-8")
    matrix = collect(tmp_path, ENVS, now=NOW, limitations=(LIMITATION,))
    assert len(matrix.problems) == 1
    assert "torch-cpu.json" in matrix.problems[0]
    assert "JSON" in matrix.problems[0]
    envs = {e.id: e for e in matrix.environments}
    assert envs["jax-cpu"].ran
    assert not envs["torch-cpu"].ran
    assert "torch-cpu.json" in (envs["torch-cpu"].reason or "")
    markdown = render_markdown(matrix)
    assert "## Problems" in markdown
    assert "torch-cpu.json" in markdown.split("## Environments", 1)[0]
    assert "2 match, 1 differ (0 unexplained)" in markdown  # jax-cpu: one xfailed
    assert "%" not in markdown.split("## Environments", 1)[1].split("## ", 1)[0]


def test_two_files_for_one_environment(tmp_path: Path) -> None:
    run = _runs()[0]
    dump_run(run, tmp_path / "a.json")
    dump_run(run, tmp_path / "b.json")
    matrix = collect(tmp_path, ENVS[:1], now=NOW)
    assert len(matrix.problems) == 1
    assert "b.json" in matrix.problems[0]
    assert "environment.id" in matrix.problems[0]
    assert matrix.environments[0].ran


def test_missing_environment_is_not_run_never_zero_percent(matrix: Matrix) -> None:
    gpu = next(e for e in matrix.environments if e.id == "jax-gpu")
    assert not gpu.ran
    assert {r.outcome for r in matrix.results if r.environment == "jax-gpu"} == \
        {Outcome.NOT_RUN}
    markdown = render_markdown(matrix)
    row = next(line for line in markdown.splitlines() if "`jax-gpu`" in line
               and line.startswith("- not run"))
    assert row.startswith("- not run (no run file")
    assert "0%" not in row
    assert "0/" not in row
    assert "not run" in row


# --- files, terminal and command line -------------------------------------------------------

def test_write_reports_and_summary(matrix: Matrix, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "out"
    (folder / "results").mkdir(parents=True)
    (folder / "results" / "gone-cpu.json").write_text("{}", encoding="utf-8")  # not run now
    (folder / "results" / "notes.txt").write_text("kept", encoding="utf-8")
    (folder / "compatibility-data").mkdir(parents=True)
    (folder / "compatibility-data" / "07-gone.js").write_text("", encoding="utf-8")
    paths = write_reports(matrix, folder)
    envs = [e.id for e in matrix.environments]
    families = [f"compatibility-data/{i:02d}-{group}.js" for i, group in
                enumerate(dict.fromkeys(case.group for case in matrix.cases))]
    assert [p.relative_to(folder).as_posix() for p in paths] == [
        "compatibility.md", "compatibility.html", "compatibility.json",
        *(f"results/{e}.json" for e in envs), *families]
    assert sorted(p.name for p in (folder / "results").iterdir()) == sorted(
        [f"{e}.json" for e in envs] + ["notes.txt"])
    assert sorted(p.relative_to(folder).as_posix()
                  for p in (folder / "compatibility-data").iterdir()) == families
    assert load_matrix(folder / "compatibility.json") == matrix
    print_summary(matrix)
    out = capsys.readouterr().out
    assert "jax-gpu" in out
    assert "1 divergent case, 1 silent divergence" in out


def test_main(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--runs", str(tmp_path / "nope"), "--out", str(tmp_path)]) == 2
    assert "does not exist" in capsys.readouterr().err
    runs = tmp_path / "runs"
    runs.mkdir()
    dump_run(_runs()[0], runs / "tensorflow-cpu.json")
    (runs / "broken.json").write_text("{", encoding="utf-8")
    assert main(["--runs", str(runs), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "broken.json" in out
    written = load_matrix(tmp_path / "out" / "compatibility.json")
    assert any(e.id == "tensorflow-cpu" and e.ran for e in written.environments)


# --- views: limitations, clusters, pivots, repro snippets -----------------------------------

def test_limitation_link(matrix: Matrix) -> None:
    assert limitation_link(matrix, "jax-clamps") == (
        "JAX clamps out-of-range indices instead of raising", "https://example.org/jax")
    assert limitation_link(matrix, "not-listed") == ("not-listed", None)
    assert limitation_link(matrix, None) == ("", None)
    hostile = Limitation(id="bad", description="bad", link="javascript:alert(1)")
    assert limitation_link(apply_limitations(matrix, (hostile,)), "bad") == ("bad", None)
    markdown = render_markdown(matrix)
    section = markdown.split("## Top divergences", 1)[1].split("## Legend", 1)[0]
    assert "JAX clamps out-of-range indices instead of raising" in section
    assert "https://example.org/jax" in section


def test_normalise_message_keeps_the_cause() -> None:
    a = normalise_message("indices[1,1] = 10 is not in [0, 10)")
    b = normalise_message("indices[0,2] = 100 is not in [0, 10)")
    assert a == b
    assert normalise_message("Invalid input for 'keras_tensor_192' int32") == \
        "Invalid input for <name> int32"


def test_a_silent_cell_says_what_its_limitation_says_the_backend_does() -> None:
    """Issue 22: a silent cell's words come from the limitation's `effect` field, never from
    words found in its id (`jax-clamps` alone says nothing to the table)."""
    from matrix.report.table import verdict_text

    cell = Result(case="x", environment="jax-cpu", outcome=Outcome.XFAILED,
                  observed=_values(error=3.0), verdict=Verdict(status="mismatched",
                                                                cause="values_differ"),
                  limitation="jax-clamps")
    assert verdict_text(cell).text == "values differ (silent)"
    assert verdict_text(cell, effects={"jax-clamps": "clamps"}).text == "clamps (silent)"
    assert verdict_text(cell, effects={"other": "clamps"}).text == "values differ (silent)"


def test_error_clusters(matrix: Matrix) -> None:
    clusters = error_clusters(matrix)
    assert [(c.signature, len(c.results)) for c in clusters] == [
        ("values where an error was expected, NaN rows", 1)]
    crash = Result(case="x", environment="jax-cpu", outcome=Outcome.CRASHED,
                   observed=Observation(kind="crash", message="Segfault at 0x7f00"),
                   verdict=verdict_for(Outcome.CRASHED))
    assert error_signature(crash, expects_error=False) == "crashed: Segfault at <addr>"
    timeout = Result(case="x", environment="jax-cpu", outcome=Outcome.TIMEOUT,
                     observed=Observation(kind="timeout", message="Timeout (>60.0s)"),
                     verdict=verdict_for(Outcome.TIMEOUT))
    assert error_signature(timeout, expects_error=False) == "timed out"
    failed = Result(case="x", environment="jax-cpu", outcome=Outcome.FAILED,
                    observed=_error("IndexError", "index 12 is out of bounds for size 10"),
                    verdict=verdict_for(Outcome.FAILED))
    assert error_signature(failed, expects_error=False) == \
        "IndexError: index <n> is out of bounds for size <n>"


def test_pivots(matrix: Matrix) -> None:
    by_axis = {p.axis: p for p in pivots(matrix)}
    assert "layer" not in by_axis  # one value only
    values = by_axis["values"]
    assert values.values == ["in_range", "out_of_range"]
    assert values.counts[("out_of_range", "jax-cpu")] == (0, 1)
    assert values.counts[("in_range", "jax-cpu")] == (1, 1)
    assert ("in_range", "jax-gpu") not in values.counts


REAL = Path(__file__).parents[1] / "reports" / "compatibility.json"


def test_a_case_with_no_recorded_program_says_so_instead_of_guessing_code() -> None:
    """Issue 22: the report turned description prose back into code with regexes; a case read
    from a run file without its program now says that no program is recorded."""
    case = CaseInfo(id="c", group="g", expected="values",
                    description="keras.Model(Input -> Embedding(10, 4) -> LSTM(3)).predict(x)",
                    axes={"input_dtype": "int32", "mode": "predict"})
    env = EnvironmentInfo(id="jax-cpu", backend="jax", device="cpu", ran=True)
    code = repro_snippet(case, env)
    compile(code, "<repro>", "exec")
    body = repro_body(case)
    assert all(line.startswith("#") for line in body.splitlines())
    assert "No program is recorded for this case" in body
    assert "# c: keras.Model(Input -> Embedding(10, 4) -> LSTM(3)).predict(x)" in body
    assert 'os.environ["KERAS_BACKEND"] = "jax"' in code


def test_repro_snippet_prefers_the_catalog_one() -> None:
    case = CaseInfo(id="c", group="g", description="not python at all", axes={},
                    repro="import keras\nprint(keras.__version__)\n")
    env = EnvironmentInfo(id="torch-gpu", backend="torch", device="gpu", ran=True)
    code = repro_snippet(case, env)
    assert code.endswith("import keras\nprint(keras.__version__)\n")
    assert "CUDA_VISIBLE_DEVICES" not in code
    compile(code, "<repro>", "exec")


def test_every_real_case_has_a_python_repro() -> None:
    """Each case of the committed real run gives a snippet that compiles."""
    if not REAL.exists():
        pytest.fail(f"{REAL} is missing; regenerate it with `nox`")
    try:
        real = load_matrix(REAL, ValueError)
    except ValueError as exc:  # e.g. published before schema_version 2: regenerate it
        pytest.fail(str(exc))
    for case in real.cases:
        for env in real.environments[:1]:
            compile(repro_snippet(case, env), case.id, "exec")


def test_html_golden(matrix: Matrix) -> None:
    _golden("compatibility.html", render_html(matrix))


def test_markdown_tables_stay_aligned(matrix: Matrix) -> None:
    _assert_aligned(render_markdown(matrix))


def _assert_aligned(markdown: str) -> None:
    """Every Markdown table has rows of one width with the pipes in the same places."""
    table: list[str] = []
    for line in [*markdown.splitlines(), ""]:
        if line.startswith("|"):
            table.append(line)
            continue
        if table:
            widths = {len(row) for row in table}
            assert len(widths) == 1, table
            bars = {tuple(i for i, ch in enumerate(row) if ch == "|" and row[i - 1] != "\\")
                    for row in table}
            assert len(bars) == 1, table
        table = []


def test_no_framework_imported() -> None:
    assert not {"keras", "tensorflow", "jax", "torch"} & set(sys.modules)


def test_short_expected_keeps_the_error_type() -> None:
    from matrix.report import short_expected

    assert short_expected("values") == "values"
    assert short_expected("error: IndexError: Embedding ids must be in [0, 10)") == \
        "error (IndexError)"
    assert short_expected("error:") == "error"
    assert short_expected("error (IndexError or InvalidArgumentError): IndexError: Embedding "
                          "ids must be in the range [0, input_dim)") == \
        "error (IndexError or InvalidArgumentError)"


# --- flaky cells and the result cache (issue 13) --------------------------------------------

def test_flaky_cells_and_cache_reuse_are_shown(matrix: Matrix) -> None:
    from matrix.records import Attempt, Verdict

    first = matrix.results[0]
    attempts = [Attempt(verdict=Verdict(status="timeout"), observed=Observation(kind="timeout")),
                Attempt(verdict=first.verdict, observed=first.observed)]
    flaky = replace(first, flaky=True, attempts=attempts)
    env = next(e for e in matrix.environments if e.id == first.environment)
    cached_env = replace(env, provenance={**env.provenance,
                                          "cache": {"reused": 2, "executed": 1}})
    shown = replace(matrix, results=[flaky, *matrix.results[1:]],
                    environments=[cached_env if e.id == env.id else e
                                  for e in matrix.environments])
    markdown = render_markdown(shown)
    assert "## Flaky cells" in markdown
    assert f"timeout, then {first.verdict.status}" in markdown
    assert 'id="flaky"' in render_html(shown)
    assert "## Flaky cells" not in render_markdown(matrix)
    back = decode(render_json(shown)).results[0]
    assert back.flaky is True
    assert [a.verdict.status for a in back.attempts] == ["timeout", first.verdict.status]
    console = Console(width=200, record=True)
    print_summary(shown, console)
    text = console.export_text()
    assert "1 flaky cell" in text
    assert f"result cache: {env.id} 2 reused, 1 executed" in text


# --- inference-only backends ----------------------------------------------------------------

def test_the_report_says_which_columns_are_inference_only() -> None:
    inference = [EnvironmentInfo(id="numpy-cpu", backend="numpy", device="cpu", ran=False),
                 EnvironmentInfo(id="openvino-cpu", backend="openvino", device="cpu",
                                 ran=False)]
    skipped = Observation(kind="not_run", error_type="NotApplicable",
                          message="Keras: fit not implemented for NumPy backend.")
    openvino_values = _values(error=None)
    runs = [*_runs(),
            _run(inference[0], [(Outcome.PASSED, _values()),
                                (Outcome.PASSED, _error("IndexError", "index 12 is out of "
                                                        "bounds for axis 0 with size 10")),
                                (Outcome.SKIPPED, skipped)]),
            _run(inference[1], [(Outcome.PASSED, _values()),
                                (Outcome.FAILED, openvino_values),
                                (Outcome.SKIPPED, skipped)])]
    matrix = apply_limitations(merge_runs(runs, [*ENVS, *inference], NOW), (LIMITATION,))
    table = compatibility_table(matrix)
    assert [h.text for h in table.headers if h.inference_only] == [
        "numpy-cpu (inference only)", "openvino-cpu (inference only)"]
    assert not any(h.inference_only for h in table.headers
                   if h.label.split("-")[0] in ("tensorflow", "jax", "torch"))
    markdown = render_markdown(matrix)
    assert "`numpy-cpu` (inference only)" in markdown
    assert "`openvino-cpu` (inference only)" in markdown
    assert "Inference-only: `numpy-cpu`, `openvino-cpu`. Keras cannot train on the numpy and " \
        "openvino backends" in markdown
    page = render_html(matrix)
    assert '<p id="inference-only"><b>Inference-only</b>: <code>numpy-cpu</code>' in page
    assert "; inference only</span>" in page
    # The skipped fit cells are `skipped`, not `failed`; what OpenVINO returned is a failure.
    outcomes = {(r.case, r.environment): r.outcome for r in matrix.results}
    assert outcomes[("mask_consumers-lstm-explicit", "numpy-cpu")] == Outcome.SKIPPED
    assert outcomes[("embedding-rank2-int32-out_of_range", "openvino-cpu")] == Outcome.FAILED


def test_no_inference_note_without_an_inference_only_column(matrix: Matrix) -> None:
    assert "Inference-only" not in render_markdown(matrix)
    assert 'id="inference-only"' not in render_html(matrix)


def test_cells_judged_beside_a_user_catalog_are_marked() -> None:
    """Issue 23: a run with `--catalog` judges its built-in cells in a process that ran the
    catalog's import; the report says so, for the run and for a partial run merged in."""
    from matrix.report import judged_beside_catalogs

    run = _runs()[1]
    assert judged_beside_catalogs("jax-cpu", run) == []
    mine = [{"path": "/home/u/my_cases.py", "sha256": "ab" * 32}]
    marked = replace(run, environment=replace(run.environment, provenance={
        **run.environment.provenance, "user_catalogs": mine}))
    assert judged_beside_catalogs("jax-cpu", marked) == [
        "jax-cpu: 3 cells were judged in a process that loaded the user catalog(s) "
        "/home/u/my_cases.py; their import ran code beside the built-in cases of that run"]
    merged = replace(run, environment=replace(run.environment, provenance={
        **run.environment.provenance,
        "partials": [{"file": "jax-cpu.partial-1.json", "cells": 2, "user_catalogs": mine}]}))
    assert [n.split(";")[0] for n in judged_beside_catalogs("jax-cpu", merged)] == [
        "jax-cpu: 2 cells were judged in a process that loaded the user catalog(s) "
        "/home/u/my_cases.py"]


def test_rows_that_look_alike_say_what_tells_them_apart() -> None:
    """Issue 27: rows with the same API, values class and expected answer (they differ in
    their verdicts) each name the spans that differ between them; a row with no look-alike
    names nothing."""
    def row(mode: str, verdict: str, subject: str = "layers.Embedding") -> Behaviour:
        return Behaviour(subject=subject, values="out_of_range", expected="error",
                         cells=(Cell(text=verdict, outcome="passed"),), cases=("c",),
                         limitations=(), spans=(("rank", "2"), ("mode", mode)))

    rows = [row("eager", "raises IndexError"), row("jit_compile", "NaN rows"),
            row("eager", "raises ValueError", subject="ops.take")]
    assert distinctions(rows) == ["mode: eager", "mode: jit_compile", ""]
    three = [*rows[:2], Behaviour(subject="layers.Embedding", values="out_of_range",
                                  expected="error", cells=(), cases=(), limitations=(),
                                  spans=(("rank", "3"),))]
    assert distinctions(three) == ["rank: 2; mode: eager", "rank: 2; mode: jit_compile",
                                   "rank: 3; mode: —"]
