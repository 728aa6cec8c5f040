"""Benchmark of the published page in headless Chromium: its first load and its first search.

Two pages, each written as `nox -s report` writes it (`compatibility.html` and its
`compatibility-data/` family files, `matrix.report.render_html_files`):

- `today`: the published report, rendered again from the committed run files
  (`reports/runs/`), so the figures are today's catalog's;
- `synthetic`: a synthetic matrix of 10,000 cases × 14 environments
  (`benchmarks/bench_report.py`'s `synthetic_matrix`).

For each page, in a fresh Chromium context at 1,280 × 800 opened from `file://` (no server, no
cache): the bytes of the first load (the page alone: nothing else is requested until a family
is opened), `DOMContentLoaded` and `load` from the Navigation Timing entry (milliseconds from
the navigation's start), and the time from a search submitted in the box at the top to its
rows listed (every family's data loaded and filtered). The median of `--repeat` loads is kept.
Budget (issue 27): first load under 1,000,000 bytes and DOMContentLoaded under 1,000 ms.
Writes `benchmarks/results/page.json`; exits 1 when a page is over its budget.

Run it: `nox -s bench-page` (or `python benchmarks/bench_page.py` where playwright and
Debian's chromium are installed; `KCM_CHROMIUM` names another binary).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_report import synthetic_matrix

from matrix import variables as kcm
from matrix.records import Matrix
from matrix.report import render_html_files
from matrix.results.collect import collect

ROOT = Path(__file__).resolve().parents[1]
FIRST_LOAD_BUDGET_BYTES = 1_000_000
DOM_CONTENT_LOADED_BUDGET_MS = 1_000.0
SEARCHES = {"today": "int64 padded lstm jax", "synthetic": "int64 padded lstm"}


def write_page(matrix: Matrix, folder: Path) -> Path:
    """Writes the page and its family files into `folder`; returns the page's path."""
    report = render_html_files(matrix)
    page = folder / "compatibility.html"
    page.write_text(report.page, encoding="utf-8")
    for name, text in report.data.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    return page


def measure(browser: Any, page: Path, search: str, repeat: int) -> dict[str, Any]:
    """Median DOMContentLoaded, load and search times (ms) over `repeat` fresh loads."""
    dcl, load, found_ms, rows = [], [], [], 0
    for _ in range(repeat):
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        tab = context.new_page()
        tab.goto(page.as_uri())
        timing = tab.evaluate("(() => { const n = performance.getEntriesByType('navigation')[0];"
                              " return [n.domContentLoadedEventEnd, n.loadEventEnd]; })()")
        dcl.append(timing[0])
        load.append(timing[1])
        tab.fill("#top-q", search)
        start = time.perf_counter()
        tab.press("#top-q", "Enter")
        tab.wait_for_function("document.getElementById('loading').hidden && "
                              "document.querySelector('#grid tr[data-c]:not([hidden])') !== null",
                              timeout=120_000)
        found_ms.append((time.perf_counter() - start) * 1000)
        rows = tab.eval_on_selector_all("#grid tr[data-c]",
                                        "rs => rs.filter(r => !r.hidden).length")
        context.close()
    data = page.parent / "compatibility-data"
    return {
        "first_load_bytes": page.stat().st_size,
        "data_files": len(list(data.glob("*.js"))),
        "data_bytes": sum(p.stat().st_size for p in data.glob("*.js")),
        "dom_content_loaded_ms": round(statistics.median(dcl), 1),
        "load_ms": round(statistics.median(load), 1),
        "search": search, "search_rows": rows,
        "search_to_rows_ms": round(statistics.median(found_ms), 1),
        "within_budget": (page.stat().st_size < FIRST_LOAD_BUDGET_BYTES
                          and statistics.median(dcl) < DOM_CONTENT_LOADED_BUDGET_MS),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=ROOT / "reports" / "runs")
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--environments", type=int, default=14)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--output", type=Path,
                        default=Path(__file__).parent / "results" / "page.json")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    chromium = os.environ.get(kcm.CHROMIUM.name, "/usr/bin/chromium")
    matrices = {"today": collect(args.runs),
                "synthetic": synthetic_matrix(args.cases, args.environments)}
    figures: dict[str, Any] = {"budget": {"first_load_bytes": FIRST_LOAD_BUDGET_BYTES,
                                          "dom_content_loaded_ms": DOM_CONTENT_LOADED_BUDGET_MS}}
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium, args=["--headless", "--no-sandbox", "--disable-gpu"])
        for name, matrix in matrices.items():
            folder = Path(tmp) / name
            folder.mkdir()
            page = write_page(matrix, folder)
            figures[name] = {"cases": len(matrix.cases),
                             "environments": len(matrix.environments),
                             **measure(browser, page, SEARCHES[name], args.repeat)}
            print(name, json.dumps(figures[name]), flush=True)
        browser.close()
    figures.update({"cpu_count": os.cpu_count(), "python": platform.python_version(),
                    "machine": platform.machine()})
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(figures, indent=1) + "\n", encoding="utf-8")
    return 0 if all(figures[n]["within_budget"] for n in matrices) else 1


if __name__ == "__main__":
    raise SystemExit(main())
