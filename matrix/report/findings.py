"""The README's top findings, generated from the limitations and the published report.

A finding is a limitation of `cases/limitations/` (a known divergence with its upstream
link); the README lists those that cover the most cells of the published report
(`reports/compatibility.json`), so what it says is what the matrix found, counted, and never
written by hand. `python -m matrix.report.findings` prints the block;
`tests/test_findings.py` checks that the README holds it.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

from cases.limitations import LIMITATIONS
from matrix.results.compact import load_matrix

ROOT = Path(__file__).resolve().parents[2]
PUBLISHED = ROOT / "reports" / "compatibility.json"
#: How many findings the README lists.
TOP = 8
START, END = "<!-- findings: python -m matrix.report.findings -->", "<!-- /findings -->"


def findings(published: Path = PUBLISHED, top: int = TOP) -> str:
    """The Markdown list of the `top` limitations by published cells covered.

    Each line: the backends, how many cells in how many environments, the limitation's
    reason, and its upstream link. Ties go to catalog order.

    Raises:
        MatrixFileError: the published report (or one of its results files) is missing,
            not JSON, or a field is invalid (`matrix.results.compact.load_matrix`).
    """
    cells: Counter[str] = Counter()
    environments: dict[str, set[str]] = {}
    for result in load_matrix(published).results:
        if result.limitation:
            cells[result.limitation] += 1
            environments.setdefault(result.limitation, set()).add(result.environment)
    order = {lim.id: i for i, lim in enumerate(LIMITATIONS)}
    ranked = sorted((lim for lim in LIMITATIONS if cells[lim.id]),
                    key=lambda lim: (-cells[lim.id], order[lim.id]))[:top]
    lines = []
    for lim in ranked:
        backends = ", ".join(lim.backends) or "every backend"
        where = f"{cells[lim.id]} cells in {len(environments[lim.id])} environments"
        link = f" ([upstream]({lim.link}))" if lim.link else " (no public report)"
        lines.append(f"- **{backends}** ({where}): {lim.description}{link}")
    return "\n".join(lines) + "\n"


def main() -> int:
    sys.stdout.write(START + "\n" + findings() + END + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
