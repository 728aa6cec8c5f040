"""The README is the front door (short, generated findings) and every link of it and of
`docs/` leads somewhere."""

from __future__ import annotations

import re
from pathlib import Path

from matrix.report import findings

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def test_the_readme_is_a_front_door() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) < 200
    for heading in ("## What it answers", "## Top findings", "## How to read a cell",
                    "## Run one backend, one slice, your own cases", "## More"):
        assert heading in text


def test_every_relative_link_resolves() -> None:
    broken = []
    for page in PAGES:
        for target in LINK.findall(page.read_text(encoding="utf-8")):
            if re.match(r"^[a-z]+:", target) or target.startswith("#"):
                continue
            path = (page.parent / target.split("#", 1)[0]).resolve()
            if not path.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert broken == []


def test_the_readme_lists_every_docs_page() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [p.name for p in PAGES[1:] if f"(docs/{p.name})" not in text]
    assert missing == []


def test_the_top_findings_are_generated_from_the_limitations_and_the_report() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split(findings.START + "\n", 1)[1].split(findings.END, 1)[0]
    assert block == findings.findings()
    assert len(block.splitlines()) == findings.TOP


def test_every_code_block_is_closed() -> None:
    """A page whose code fence is left open shows the rest of itself as code."""
    odd = [page.relative_to(ROOT).as_posix() for page in PAGES
           if sum(line.startswith("```") for line in page.read_text(encoding="utf-8")
                  .splitlines()) % 2]
    assert odd == []
