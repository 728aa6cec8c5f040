"""The HTML report driven in headless Chromium: filters, views, details, escaping, offline.

Uses Debian's chromium (`/usr/bin/chromium`, or `KCM_CHROMIUM`) through Playwright's
`executable_path`: no browser download. Missing chromium or playwright is a failure, not a
skip: CI installs both (`apt-get install -y chromium`, `playwright` in the `test` group).
A screenshot of the page with a cell's details open is kept in `$KCM_TEST_OUTPUT/browser/`
(default `reports/.work/test-output/browser/`).
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cells import verdict_for

from cases import builtin_cases
from cases.limitations import Limitation
from matrix import variables as kcm
from matrix.records import (
    SCHEMA_VERSION,
    CaseInfo,
    EnvironmentInfo,
    Matrix,
    Observation,
    Outcome,
    Result,
)
from matrix.report import render_html, render_html_files, repro_body, repro_header
from matrix.report.minimal import minimal_header, minimal_repro
from matrix.report.views import short_observation
from matrix.results import clean_message
from matrix.results.analysis import divergent_cases, silent_divergences
from matrix.results.collect import collect
from matrix.results.triage import apply_limitations
from matrix.run.program import render

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get(kcm.CHROMIUM.name, "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
OUTPUT = Path(os.environ.get(kcm.TEST_OUTPUT.name, Path(__file__).parents[1] / "reports" / ".work"
                             / "test-output")) / "browser"
HOSTILE = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">'
#: Joined at merge: the jax cell of emb-out_of_range and every cell of emb-negative.
LIMITATIONS = (
    Limitation(id="jax-take-fills-nan", description="JAX fills out-of-range rows with NaN",
               link="https://example.org/jax-take", backends=("jax",),
               axes={"values": ("out_of_range",)}),
    Limitation(id="negative-ids-wrap", description="a negative id wraps like NumPy",
               link="https://example.org/negative", axes={"values": ("negative",)}),
)

ENVS = ["tensorflow-cpu", "jax-cpu", "torch-cpu", "jax-gpu"]
VALUES = Observation(kind="value", shape=[2, 3, 4], dtype="float32", max_abs_error=0.0,
                     nan_count=0, device="cpu:0")
NAN = Observation(kind="value", shape=[2, 3, 4], dtype="float32", max_abs_error=float("inf"),
                  nan_count=4, device="cpu:0")


#: Catalog cases whose rendered programs stand in for two rows' repros.
_REAL = {f"emb-{case.axes['values']}": case
         for case in builtin_cases()
         if case.id in ("embedding-values-rank2-int32-out_of_range-10-none-eager",
                        "embedding-values-rank2-int32-negative-1-none-eager")}


def _error(error_type: str, message: str) -> Observation:
    return Observation(kind="error", error_type=error_type, message=message)


def _matrix() -> Matrix:
    envs = [EnvironmentInfo(id=e, backend=e.split("-")[0], device=e.split("-")[1],
                            ran=e != "jax-gpu", reason=None if e != "jax-gpu" else "no GPU",
                            versions={"keras": "3.15.1"},
                            provenance={"git_commit": "0123456789abcdef0123"})
            for e in ENVS]
    rows: dict[str, tuple[str, dict[str, Any], str, list[tuple[Outcome, Observation]]]]
    rows = {
        "emb-in_range": ("embedding", {"values": "in_range", "rank": 2}, "values",
                         [(Outcome.PASSED, VALUES)] * 3),
        "emb-out_of_range": ("embedding", {"values": "out_of_range", "rank": 2},
                             "error: index 10 out of range",
                             [(Outcome.PASSED, _error("InvalidArgumentError", "indices[1,1] = 10")),
                              (Outcome.FAILED, NAN),  # xfailed at merge
                              (Outcome.PASSED, _error("IndexError", "index out of range"))]),
        "emb-negative": ("embedding", {"values": "negative", "rank": 2}, "error: negative id",
                         [(Outcome.FAILED, VALUES)] * 3),  # xfailed at merge
        "mask-lstm": ("mask", {"values": "padded", "rank": 3}, "error: bad mask",
                      [(Outcome.PASSED, _error("ValueError", HOSTILE)),
                       (Outcome.PASSED, _error("TypeError", "bad mask")),
                       (Outcome.FAILED, _error("RuntimeError", "mask must be bool"))]),
    }
    cases, results = [], []
    for case_id, (group, axes, expected, cells) in rows.items():
        # Two cases carry a program as the run renders it (`matrix.run.program.render`): the
        # page stores the prelude they share once and joins it back into each repro.
        repro = render(_REAL[case_id]) if case_id in _REAL else None
        cases.append(CaseInfo(id=case_id, group=group, description=(
            "Embedding(input_dim=10, output_dim=4)(np.array([[1, 2]], dtype='int32'))"),
            axes={"layer": "Embedding", "mode": "eager", **axes}, expected=expected,
            repro=repro))
        for env, cell in zip(ENVS, [*cells, None], strict=True):
            if cell is None:
                results.append(Result(case=case_id, environment=env, outcome=Outcome.NOT_RUN,
                                      observed=Observation(kind="not_run", message="no GPU"),
                                      verdict=verdict_for(Outcome.NOT_RUN, "no GPU")))
                continue
            outcome, observed = cell
            results.append(Result(case=case_id, environment=env, outcome=outcome,
                                  observed=observed, verdict=verdict_for(outcome),
                                  duration_s=0.5))
    matrix = Matrix(schema_version=SCHEMA_VERSION, generated_at="2025-01-02T03:04:05+00:00",
                    environments=envs, cases=cases, results=results)
    return apply_limitations(matrix, LIMITATIONS)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed: add it to the `test` dependency group "
                    "(pip install playwright; no `playwright install` is needed)")
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.fail(f"chromium not found at {CHROMIUM}: `apt-get install -y chromium`, or set "
                    f"{kcm.CHROMIUM.name}")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, tmp_path: Path) -> Iterator[Any]:
    path = tmp_path / "compatibility.html"
    path.write_text(render_html(_matrix()), encoding="utf-8")
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    tab = context.new_page()
    errors: list[str] = []
    remote: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.on("request", lambda request: remote.append(request.url)
           if not request.url.startswith(("file:", "data:", "about:")) else None)
    tab.goto(path.as_uri())
    yield tab
    context.close()
    assert errors == [], f"JavaScript errors: {errors}"
    assert remote == [], f"the page made requests: {remote}"


def _visible_rows(page: Any) -> list[str]:
    return page.eval_on_selector_all(  # type: ignore[no-any-return]
        "#grid tr[data-c]", "rows => rows.filter(r => !r.hidden && r.offsetParent !== null)"
        ".map(r => r.querySelector('code').textContent)")


def _visible_columns(page: Any) -> list[str]:
    return page.eval_on_selector_all(  # type: ignore[no-any-return]
        "#grid thead th", "ths => ths.slice(1).filter(th => th.offsetParent !== null)"
        ".map(th => th.firstChild.textContent.trim())")


def test_filters_hide_the_right_rows(page: Any) -> None:
    assert _visible_rows(page) == ["emb-in_range", "emb-out_of_range", "emb-negative",
                                   "mask-lstm"]
    # An environment that did not run starts unticked; ticking it shows its column.
    assert _visible_columns(page) == ["tensorflow-cpu", "jax-cpu", "torch-cpu"]
    page.click("#filters input[name=env][value=jax-gpu]")
    assert _visible_columns(page) == ENVS
    page.click("#filters input[name=env][value=jax-gpu]")
    assert _visible_columns(page) == ["tensorflow-cpu", "jax-cpu", "torch-cpu"]
    page.click("#filters input[name=outcome][value=passed]")
    # Rows with a cell other than `passed` among the shown columns.
    assert _visible_rows(page) == ["emb-out_of_range", "emb-negative", "mask-lstm"]
    page.click("#filters input[name=backend][value=torch]")
    assert _visible_columns(page) == ["tensorflow-cpu", "jax-cpu"]
    assert _visible_rows(page) == ["emb-out_of_range", "emb-negative"]
    page.click("#f-reset")
    page.click("#filters details summary")
    page.select_option("#filters select[name='ax.values']", "negative")
    assert _visible_rows(page) == ["emb-negative"]
    page.select_option("#f-group", "mask")
    assert _visible_rows(page) == []
    assert "#f:" in page.url  # the filtered grid is a link


def test_search_matches_what_users_type_across_cases_and_cells(page: Any) -> None:
    """Issue 27: words a user types (API, values class, backend, any order) and a pasted
    error line find the rows in one step; every word must match."""
    def search(text: str) -> list[str]:
        page.fill("#search", text)
        return _visible_rows(page)

    # a pasted error line: only torch-cpu raised it, on the out-of-range row
    assert search("IndexError: index out of range") == ["emb-out_of_range"]
    assert search("embedding negative") == ["emb-negative"]
    assert search("jax mask TypeError") == ["mask-lstm"]  # jax-cpu raised TypeError there
    assert search("negative out_of_range") == []  # no case is both
    assert search("  ") == ["emb-in_range", "emb-out_of_range", "emb-negative", "mask-lstm"]


def test_views_list_exactly_the_divergent_and_silent_cases(page: Any) -> None:
    matrix = _matrix()
    page.click("#filters input[name=view][value=divergent]")
    assert _visible_rows(page) == divergent_cases(matrix) == [
        "emb-out_of_range", "mask-lstm"]
    page.click("#filters input[name=view][value=silent]")
    silent = list(dict.fromkeys(r.case for r in silent_divergences(matrix)))
    assert _visible_rows(page) == silent == ["emb-out_of_range", "emb-negative"]
    page.click("#filters input[name=view][value=all]")
    page.click("#link-divergent")
    assert _visible_rows(page) == divergent_cases(matrix)


def test_a_silent_divergence_has_a_colour_of_its_own(page: Any) -> None:
    """A cell that returned values where the reference disagrees is not coloured like one
    that raised (both `xfailed`): the user sees no error for the first."""
    colours = page.evaluate("""() => {
        const silent = document.querySelector("td.o-xfailed.sd");
        const raising = document.createElement("td");
        raising.className = "o-xfailed";
        silent.parentElement.appendChild(raising);
        const bg = (e) => getComputedStyle(e).backgroundColor;
        return [bg(silent), bg(raising)];
    }""")
    assert colours[0] != colours[1], colours


def test_pivot_and_cluster_links_filter_the_grid(page: Any) -> None:
    # A pivot cell: its row's value (out_of_range) in its column's environment (jax-cpu).
    column = page.eval_on_selector_all("table.pivot[data-axis=values] thead th",
                                       "ths => ths.map(th => th.textContent)").index("jax-cpu")
    page.click(f"table.pivot[data-axis=values] tr:has(a[href*='out_of_range']) "
               f"> :nth-child({column + 1})")
    assert _visible_rows(page) == ["emb-out_of_range"]
    assert _visible_columns(page) == ["jax-cpu"]
    page.click("#cluster-table a:text('show in grid') >> nth=0")
    assert _visible_columns(page) == [e for e in ENVS if e != "jax-gpu"]  # it did not run
    # The largest cause: values where the reference refuses negative ids, on all three.
    assert page.text_content("#cluster-table tbody tr td code") == \
        "values where an error was expected"
    assert _visible_rows(page) == ["emb-negative"]
    assert page.eval_on_selector_all("#grid td.in-cluster", "tds => tds.length") == 3


def test_cell_click_shows_details_and_repro(page: Any) -> None:
    assert page.is_hidden("#detail")
    page.click("#grid tr[data-c='1'] td >> nth=1")  # emb-out_of_range on jax-cpu
    assert page.is_visible("#detail")
    text = page.text_content("#detail-body")
    for expected in ("emb-out_of_range", "xfailed", "jax-cpu", "NaN count", "4",
                     "max abs error", "Infinity", "JAX fills out-of-range rows with NaN",
                     "values where an error was expected, NaN rows"):
        assert expected in text
    assert page.get_attribute("#detail-body a[href^=http]", "href") == \
        "https://example.org/jax-take"
    code = page.text_content("#detail-body code.repro")
    assert 'os.environ["KERAS_BACKEND"] = "jax"' in code
    compile(code, "<repro>", "exec")
    # the shared prelude joined back: exactly the program that ran, with the backend set
    matrix = _matrix()
    case = next(c for c in matrix.cases if c.id == "emb-out_of_range")
    env = next(e for e in matrix.environments if e.id == "jax-cpu")
    assert case.repro is not None
    assert "def program():" in case.repro
    assert code == repro_header(env) + "\n" + repro_body(case)  # a blank line between
    OUTPUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUTPUT / "report-detail.png"), full_page=True)
    page.keyboard.press("Escape")
    assert page.is_hidden("#detail")


def test_hostile_message_renders_as_text(page: Any) -> None:
    page.click("#grid tr[data-c='3'] td >> nth=0")  # mask-lstm on tensorflow-cpu
    text = page.text_content("#detail-body")
    assert HOSTILE in text
    assert page.evaluate("window.__xss") is None
    assert page.query_selector("#detail-body img") is None
    assert page.query_selector("#detail-body script") is None
    # The page's two scripts and one per family of its self-contained form: none more.
    assert page.evaluate("document.querySelectorAll('script').length") == 2 + 2


# --- the first screen, the page width, the detail row, badges (issue 11) -------------------

@pytest.fixture
def narrow(browser: Any, tmp_path: Path) -> Iterator[Any]:
    """The page at 1,280 × 800, the width the issue sets."""
    path = tmp_path / "compatibility.html"
    path.write_text(render_html(_matrix()), encoding="utf-8")
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.goto(path.as_uri())
    yield tab
    context.close()
    assert errors == [], f"JavaScript errors: {errors}"


def test_compatibility_table_is_on_the_first_screen(narrow: Any) -> None:
    box = narrow.eval_on_selector("#compat-table", "t => t.getBoundingClientRect().toJSON()")
    assert box["top"] < 800
    assert box["top"] + min(box["height"], 200) <= 800
    assert narrow.evaluate("document.scrollingElement.scrollWidth") <= 1280
    OUTPUT.mkdir(parents=True, exist_ok=True)
    narrow.screenshot(path=str(OUTPUT / "first-screen.png"))


def test_page_never_scrolls_sideways_with_every_column_shown(narrow: Any) -> None:
    narrow.click("#filters input[name=env][value=jax-gpu]")
    narrow.click("#grid tr[data-c='1'] td >> nth=1")
    assert narrow.evaluate("document.scrollingElement.scrollWidth") <= 1280


def test_detail_leaves_the_next_cell_clickable(narrow: Any) -> None:
    narrow.click("#grid tr[data-c='1'] td >> nth=1")  # emb-out_of_range on jax-cpu
    assert narrow.is_visible("#detail")
    # The case in every environment that ran, a row each (the selected one marked), those
    # that did not run in one line, then the repro.
    rows = narrow.eval_on_selector_all("#detail table.side tbody th",
                                       "ths => ths.map(th => th.textContent)")
    assert rows[:3] == ["tensorflow-cpu", "jax-cpu", "torch-cpu"]
    assert rows[3].startswith("not run: jax-gpu")
    assert narrow.text_content("#detail table.side tr.now th") == "jax-cpu"
    heads = narrow.eval_on_selector_all("#detail table.side thead th",
                                        "ths => ths.map(th => th.textContent)")
    assert heads[:3] == ["environment", "outcome", "observed"]
    assert narrow.is_visible("#detail code.repro")
    assert narrow.is_visible("#detail button:text('copy snippet')")
    # The row stays in view, and the next cell takes the click (nothing covers it).
    assert narrow.is_visible("#grid tr[data-c='1'] th")
    narrow.click("#grid tr[data-c='1'] td >> nth=2", timeout=2000)
    assert "torch" in narrow.text_content("#detail h4:has-text('Reproduce')")
    narrow.click("#grid tr[data-c='2'] td >> nth=0", timeout=2000)
    assert narrow.text_content("#detail h3") == "emb-negative on tensorflow-cpu"


def _badges_match_cells(page: Any) -> None:
    rows = page.eval_on_selector_all("#grid tr[data-c]", """rows => rows
        .filter(r => !r.hidden)
        .map(r => [r.querySelector('code').textContent,
                   !!r.querySelector('.b-silent:not([hidden])'),
                   Array.from(r.querySelectorAll('td.sd'))
                     .some(td => td.offsetParent !== null)])""")
    for case, badge, cell in rows:
        assert badge == cell, f"{case}: silent badge {badge}, a silent cell shown {cell}"


def test_filter_badges_follow_the_shown_environments(narrow: Any) -> None:
    _badges_match_cells(narrow)
    narrow.click("#filters input[name=backend][value=jax]")  # emb-out_of_range's silent cell
    _badges_match_cells(narrow)
    # Without jax, emb-out_of_range raises on both shown environments: no longer divergent.
    assert narrow.is_hidden("#grid tr[data-c='1'] .b-div")
    assert "1 with a silent divergence" in narrow.text_content("#shown")  # emb-negative


def test_links_stay_short_and_a_crafted_fragment_is_harmless(narrow: Any) -> None:
    narrow.click("#compat-table a[href='#f:b=0']")
    assert narrow.url.endswith("#f:b=0")
    assert _visible_rows(narrow) == ["emb-out_of_range"]
    narrow.click("#f-reset")
    narrow.click("#filters input[name=view][value=silent]")
    assert narrow.url.endswith("#f:view=silent")  # no list of every environment
    crafted = narrow.url.split("#")[0] + "#f:%E0%A4%A=1&env=%&view='];alert(1)//&b=99&x"
    narrow.goto(crafted)
    narrow.wait_for_timeout(100)
    assert narrow.evaluate("typeof document.getElementById('shown').textContent") == "string"
    assert "showing" in narrow.text_content("#shown")


def test_a_cell_permalink_opens_the_same_cell_in_a_new_page(browser: Any, narrow: Any) -> None:
    narrow.click("#grid tr[data-c='1'] td >> nth=2")  # emb-out_of_range on torch-cpu
    href = narrow.get_attribute("#detail a:text('link to this cell')", "href")
    assert href == "#cell:emb-out_of_range@torch-cpu"
    # A new page, with a filter that hides the row: the link still opens the cell.
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.goto(narrow.url.split("#")[0] + "#f:view=silent")
    tab.goto(narrow.url.split("#")[0] + href)
    tab.wait_for_selector("#detail:not([hidden])")
    assert tab.text_content("#detail h3") == "emb-out_of_range on torch-cpu"
    assert "torch-cpu" in tab.text_content("#detail h4:has-text('Reproduce')")
    assert tab.is_visible("#grid tr[data-c='1'] td.selected")
    assert tab.eval_on_selector("#grid td.selected", "td => td.cellIndex") == 3
    # A column hidden by default (jax-gpu did not run) is shown for its cell's link.
    tab.goto(narrow.url.split("#")[0] + "#cell:mask-lstm@jax-gpu")
    assert "jax-gpu" in tab.text_content("#detail h4:has-text('Reproduce')")
    assert tab.is_visible("#grid > thead th:has-text('jax-gpu')")
    # A case's link opens its row on the first environment that ran.
    tab.goto(narrow.url.split("#")[0] + "#case:emb-negative")
    assert tab.text_content("#detail h3") == "emb-negative on tensorflow-cpu"
    assert "tensorflow-cpu" in tab.text_content("#detail h4:has-text('Reproduce')")
    # A link to what this report does not hold says so, and breaks nothing.
    tab.goto(narrow.url.split("#")[0] + "#cell:no-such-case@jax-cpu")
    assert "no case of this report: no-such-case" in tab.text_content("#shown")
    tab.goto(narrow.url.split("#")[0] + "#cell:emb-negative@%E0%A4%A")
    assert "no environment of this report" in tab.text_content("#shown")
    context.close()
    assert errors == [], f"JavaScript errors: {errors}"


def _long_ids(matrix: Matrix) -> Matrix:
    """The matrix with case ids as long as the catalog's (`embedding-values-rank2-int32-...`)."""
    long = {c.id: f"embedding-values-rank2-int32-{c.id}-10-none-jit_compile" for c in matrix.cases}
    return dataclasses.replace(
        matrix, cases=[dataclasses.replace(c, id=long[c.id]) for c in matrix.cases],
        results=[dataclasses.replace(r, case=long[r.case]) for r in matrix.results])


def _more_environments(matrix: Matrix, count: int) -> Matrix:
    """The matrix with `count` more environments that ran, each with torch-cpu's cells (the
    published report has 14 columns)."""
    torch = next(e for e in matrix.environments if e.id == "torch-cpu")
    extra = [dataclasses.replace(torch, id=f"torch-cpu-copy{i}") for i in range(count)]
    copies = [dataclasses.replace(r, environment=e.id) for e in extra
              for r in matrix.results if r.environment == "torch-cpu"]
    return dataclasses.replace(matrix, environments=[*matrix.environments, *extra],
                               results=[*matrix.results, *copies])


def test_case_ids_keep_a_readable_width_beside_many_columns(browser: Any,
                                                            tmp_path: Path) -> None:
    path = tmp_path / "compatibility.html"
    path.write_text(render_html(_more_environments(_long_ids(_matrix()), 10)), encoding="utf-8")
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    tab = context.new_page()
    tab.goto(path.as_uri())
    widths = tab.eval_on_selector_all("#grid th[scope=row]",
                                      "ths => ths.map(th => th.getBoundingClientRect().width)")
    assert len(widths) == 4
    assert min(widths) >= 150, widths  # not squeezed to a letter a line
    spill = tab.eval_on_selector_all("#grid th[scope=row]", "ths => ths.filter("
                                     "th => th.scrollWidth > th.clientWidth + 1).length")
    assert spill == 0
    context.close()


def test_a_tap_on_a_phone_opens_a_cells_detail(browser: Any, tmp_path: Path) -> None:
    path = tmp_path / "compatibility.html"
    path.write_text(render_html(_long_ids(_matrix())), encoding="utf-8")
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                                  has_touch=True, device_scale_factor=3)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.goto(path.as_uri())
    # The case column does not cover the cells: the point at a cell's centre is the cell.
    for nth in (0, 1, 2):
        cell = tab.locator("#grid tr[data-c='1'] td").nth(nth)
        cell.scroll_into_view_if_needed()
        box = cell.bounding_box()
        hit = tab.evaluate("([x, y]) => { const e = document.elementFromPoint(x, y);"
                           " return e && e.closest('td') === null ? e.tagName :"
                           " e.closest('td').cellIndex; }",
                           [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2])
        assert hit == nth + 1, f"cell {nth} is covered by {hit}"
    # A long case id wraps inside its column instead of printing over the cells.
    spill = tab.eval_on_selector_all("#grid th[scope=row]", "ths => ths.filter("
                                     "th => th.scrollWidth > th.clientWidth + 1).length")
    assert spill == 0
    # ... and keeps a readable width: the cells' columns do not squeeze it to a letter or two.
    widths = tab.eval_on_selector_all("#grid th[scope=row]",
                                      "ths => ths.map(th => th.getBoundingClientRect().width)")
    assert min(widths) >= 80, widths
    tab.locator("#grid tr[data-c='1'] td").nth(1).tap(timeout=3000)
    assert tab.is_visible("#detail")
    assert tab.text_content("#detail h3") == \
        "embedding-values-rank2-int32-emb-out_of_range-10-none-jit_compile on jax-cpu"
    assert "jax-cpu" in tab.text_content("#detail h4:has-text('Reproduce')")
    assert tab.evaluate("document.scrollingElement.scrollWidth") <= 390
    OUTPUT.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(OUTPUT / "phone-detail.png"))
    context.close()
    assert errors == [], f"JavaScript errors: {errors}"


def test_a_cell_shows_its_minimal_repro_and_an_issue_draft_where_none_is_known(
        narrow: Any) -> None:
    narrow.click("#grid tr[data-c='1'] td >> nth=1")  # emb-out_of_range on jax-cpu
    code = narrow.text_content("#detail code.minimal")
    case = next(c for c in _matrix().cases if c.id == "emb-out_of_range")
    assert case.repro is not None
    assert code == minimal_header("jax", "cpu") + (minimal_repro(case.repro) or "")
    assert len(code.splitlines()) <= 20
    compile(code, "<minimal>", "exec")
    assert narrow.is_visible("#detail button:text('copy minimal repro')")
    # A public link explains this case (jax-take-fills-nan): no draft.
    assert narrow.locator("#detail details.draft").count() == 0
    # mask-lstm diverges (torch-cpu fails) and no limitation explains it: a draft to file.
    narrow.click("#grid tr[data-c='3'] td >> nth=2")
    narrow.click("#detail details.draft summary")
    draft = narrow.text_content("#detail code.draft")
    assert draft.startswith("Title: Embedding(input_dim=10, output_dim=4)")
    assert "on torch: raises RuntimeError" in draft.splitlines()[0]
    assert "- tensorflow-cpu: keras 3.15.1" in draft
    assert "| torch-cpu | failed | RuntimeError: mask must be bool |" in draft
    assert "| jax-cpu | passed | TypeError: bad mask |" in draft
    assert "**Expected**: error: bad mask" in draft


def test_the_table_groups_behaviours_by_api_with_why_in_view(browser: Any,
                                                              tmp_path: Path) -> None:
    path = tmp_path / "compatibility.html"
    # Two APIs whose rows interleave in severity order: Embedding, take, Embedding.
    api = {"emb-in_range": "layers.Embedding", "emb-out_of_range": "layers.Embedding",
           "emb-negative": "ops.take", "mask-lstm": "layers.Embedding"}
    matrix = _matrix()
    matrix = dataclasses.replace(matrix, cases=[dataclasses.replace(c, subject=api[c.id])
                                                for c in matrix.cases])
    path.write_text(render_html(_more_environments(matrix, 10)), encoding="utf-8")
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    tab = context.new_page()
    tab.goto(path.as_uri())
    rows = tab.eval_on_selector_all("#compat-table tbody tr", """trs => trs.map(tr =>
        tr.classList.contains('api') ? 'API ' + tr.querySelector('code').textContent
                                     : tr.querySelector('th code').textContent)""")
    heads = [r for r in rows if r.startswith("API ")]
    assert len(heads) >= 2, rows  # one heading per API, before its rows
    seen: list[str] = []
    for row in rows:
        if row.startswith("API "):
            seen.append(row[4:])
        else:
            assert row == seen[-1], rows  # every row under its own API's heading
    assert len(seen) == len(set(seen))
    # The public explanation is the second column: in view with 14 environment columns.
    why = tab.eval_on_selector("#compat-table tbody tr[data-b] td.why",
                               "td => td.getBoundingClientRect().toJSON()")
    assert why["right"] <= 1280
    assert tab.eval_on_selector("#compat-table tbody tr[data-b] td.why", "td => td.cellIndex") == 1
    context.close()


# --- the published form: the page and its per-family data files (issue 27) -----------------

def _write_split(matrix: Matrix, folder: Path) -> Path:
    report = render_html_files(matrix)
    (folder / "compatibility.html").write_text(report.page, encoding="utf-8")
    for name, text in report.data.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    return folder / "compatibility.html"


@pytest.fixture
def split(browser: Any, tmp_path: Path) -> Iterator[Any]:
    """The published page at 1,280 × 800, its cases' data in files beside it."""
    path = _write_split(_matrix(), tmp_path)
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.goto(path.as_uri())
    yield tab
    context.close()
    assert errors == [], f"JavaScript errors: {errors}"


def _data_requests(page: Any) -> list[str]:
    return page.evaluate(  # type: ignore[no-any-return]
        "Array.from(document.querySelectorAll('script[src]'), s => s.src.split('/').pop())")


def test_the_published_page_loads_a_familys_data_when_it_is_opened(split: Any) -> None:
    assert _visible_rows(split) == []
    assert _data_requests(split) == []
    assert "open a family" in split.text_content("#shown")
    split.click("#grid button.fam:text('mask')")
    split.wait_for_selector("#grid tr[data-c='3']")
    assert _visible_rows(split) == ["mask-lstm"]
    assert _data_requests(split) == ["01-mask.js"]
    split.click("#grid button.fam:text('mask')")  # closes it again
    assert _visible_rows(split) == []


def test_the_search_at_the_top_lists_the_rows_in_one_step(split: Any) -> None:
    def search(text: str) -> list[str]:
        split.fill("#top-q", text)
        split.press("#top-q", "Enter")
        split.wait_for_function("!document.getElementById('loading').textContent")
        return _visible_rows(split)

    assert search("IndexError: index out of range") == ["emb-out_of_range"]
    assert search("jax mask TypeError") == ["mask-lstm"]
    assert search("padded rank 3 torch") == ["mask-lstm"]
    # the grid in view (this small page cannot scroll it to the top)
    assert split.evaluate("document.getElementById('results').getBoundingClientRect().top") < 800


def test_a_permalink_opens_its_cell_on_the_published_page(split: Any) -> None:
    split.goto(split.url.split("#")[0] + "#cell:emb-out_of_range@torch-cpu")
    split.wait_for_selector("#detail:not([hidden])")
    assert split.text_content("#detail h3") == "emb-out_of_range on torch-cpu"
    assert split.is_visible("#grid tr[data-c='1'] td.selected")


def test_a_missing_or_foreign_data_file_is_reported(browser: Any, tmp_path: Path) -> None:
    path = _write_split(_matrix(), tmp_path)
    (tmp_path / "compatibility-data" / "00-embedding.js").unlink()
    # Another report's data for the other family: same layout, another generation.
    other = dataclasses.replace(_matrix(), generated_at="2026-01-01T00:00:00+00:00")
    foreign = render_html_files(other).data["compatibility-data/01-mask.js"]
    (tmp_path / "compatibility-data" / "01-mask.js").write_text(foreign, encoding="utf-8")
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.goto(path.as_uri() + "#f:view=silent")
    tab.wait_for_function("document.getElementById('loading').textContent.includes('another')")
    note = tab.text_content("#loading")
    assert "compatibility-data/00-embedding.js could not be loaded" in note
    assert "compatibility-data/01-mask.js belongs to another report" in note
    assert _visible_rows(tab) == []  # nothing from the foreign file was listed
    context.close()
    assert errors == [], f"JavaScript errors: {errors}"


# --- the published report itself: what users type finds its rows in one step (issue 27) ----

def _words(text: str) -> list[str]:
    """The page's tokenizer, written again: lower case, runs of [a-z0-9_.] are words."""
    return re.sub(r"[^a-z0-9_.]+", " ", text.lower()).split()


def _expected_rows(matrix: Matrix, query: str) -> list[str]:
    """The cases whose text holds every word of `query` (the page's search, in Python):
    id, call, expected answer, family, `axis=value`s, and per cell the environment, the
    outcome, the error type and message and the short observation."""
    by_case: dict[str, list[Result]] = {}
    for result in matrix.results:
        by_case.setdefault(result.case, []).append(result)
    found = []
    for case in matrix.cases:
        parts = [case.id, case.description, case.expected, case.group,
                 *(f"{k}={v}" for k, v in case.axes.items())]
        for result in by_case.get(case.id, []):
            obs = result.observed
            parts += [result.environment, result.outcome.value, obs.error_type or "",
                      clean_message(obs.message) if obs.message else "",
                      short_observation(result)]
        hay = f" {' '.join(_words(' '.join(parts)))} "
        if all(word in hay for word in _words(query)):
            found.append(case.id)
    return found


def test_the_published_report_finds_what_users_type(browser: Any, tmp_path: Path) -> None:
    matrix = collect(ROOT / "reports" / "runs")
    path = _write_split(matrix, tmp_path)
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.goto(path.as_uri())
    # No table wider than the page without a box of its own to scroll it (the page itself
    # never scrolls sideways): every column can be reached.
    clipped = tab.evaluate("""() => Array.from(document.querySelectorAll('table'))
        .filter(t => t.getBoundingClientRect().width > innerWidth)
        .filter(t => { for (let e = t.parentElement; e; e = e.parentElement) {
            if (['auto', 'scroll'].includes(getComputedStyle(e).overflowX)) return false; }
            return true; })
        .map(t => t.id || t.className)""")
    assert clipped == []
    for query in ("int64 padded lstm jax", "IndexError: index out of range in self"):
        tab.fill("#top-q", query)
        tab.press("#top-q", "Enter")
        tab.wait_for_function("document.getElementById('loading').hidden && document."
                              "querySelector('#grid tr[data-c]:not([hidden])') !== null")
        shown = _visible_rows(tab)
        assert shown == _expected_rows(matrix, query)
        assert len(shown) >= 5, (query, shown)
    # Every row found by the pasted message has a cell that raised it.
    raised = {r.case for r in matrix.results if r.observed.error_type == "IndexError"
              and "index out of range in self" in (r.observed.message or "")}
    assert set(shown) <= raised
    context.close()
    assert errors == [], f"JavaScript errors: {errors}"


def test_a_damaged_data_file_is_named_and_the_others_still_open(browser: Any,
                                                                  tmp_path: Path) -> None:
    """A family file cut short is named (it loads but defines nothing), and a permalink to a
    case of another family still opens: one bad file does not stop the rest."""
    path = _write_split(_matrix(), tmp_path)
    mask = tmp_path / "compatibility-data" / "01-mask.js"
    mask.write_text(mask.read_text(encoding="utf-8")[:200], encoding="utf-8")
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    tab = context.new_page()
    tab.goto(path.as_uri() + "#cell:emb-negative@jax-cpu")
    tab.wait_for_selector("#detail:not([hidden])")
    assert tab.text_content("#detail h3") == "emb-negative on jax-cpu"
    assert "compatibility-data/01-mask.js is damaged" in tab.text_content("#loading")
    tab.fill("#top-q", "embedding")
    tab.press("#top-q", "Enter")
    tab.wait_for_function("document.querySelectorAll('#grid tr[data-c]:not([hidden])')"
                          ".length === 3")
    assert _visible_rows(tab) == ["emb-in_range", "emb-out_of_range", "emb-negative"]
    context.close()
