"""Tests of `matrix.publish`: a local dry run of the CI fan-in over hand-made run files.

The fixtures (`tests/data/publish/`, written by its `make_fixtures.py`) hold run files of
several environments (`jax-cpu`; `torch-cpu` in two shards; none for `tensorflow-cpu` nor the
GPU environments) and the site as published the day before, with one run in its history. No
framework is imported.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from matrix import publish
from matrix.results.compact import load_matrix

DATA = Path(__file__).resolve().parent / "data" / "publish"
TODAY = "2026-11-29T03:00:00+00:00"
COMMIT = "b" * 40
GPU_REASON = "no GPU runner: the repository variable GPU_RUNNER_LABEL is not set"


def _build(tmp_path: Path, *, previous: Path | None = DATA / "previous", **kwargs: Any
           ) -> tuple[Path, publish.Published]:
    site = tmp_path / "site"
    published = publish.build_site(DATA / "runs", site, previous=previous, commit=COMMIT,
                                   date=TODAY, reasons=[("*-gpu", GPU_REASON)], **kwargs)
    return site, published


def _index(site: Path) -> list[dict[str, Any]]:
    rows = json.loads((site / "history" / "index.json").read_text(encoding="utf-8"))
    assert isinstance(rows, list)
    return rows


def test_dry_run_builds_the_site_with_history_and_diff(tmp_path: Path) -> None:
    site, published = _build(tmp_path, run_url="https://github.com/o/r/actions/runs/7",
                             repo_url="https://github.com/o/r")
    for name in ("index.html", "compatibility.html", "compatibility.md", "compatibility.json",
                 "history.html", "diff.md", "latest.json", "summary.md", ".nojekyll"):
        assert (site / name).is_file(), name
    assert published.entry == "2026-11-29-bbbbbbb"
    index = (site / "index.html").read_text(encoding="utf-8")
    assert '<a href="history.html">History</a>' in index
    assert "Keras 3 compatibility matrix" in index

    rows = _index(site)
    assert [r["id"] for r in rows] == ["2026-11-28-aaaaaaa", "2026-11-29-bbbbbbb"]
    for row in rows:
        assert (site / row["path"] / "compatibility.json").is_file()
        assert set(row["environments"]) >= {"jax-cpu", "torch-cpu", "tensorflow-cpu",
                                            "jax-gpu"}
    today = rows[-1]
    assert today["commit"] == COMMIT
    assert today["date"] == TODAY
    assert today["run_url"] == "https://github.com/o/r/actions/runs/7"
    assert today["environments"]["jax-cpu"] == {"passed": 2, "ran": 4, "total": 4,
                                                "ran_env": True, "reason": None}
    missing = today["environments"]["tensorflow-cpu"]
    assert missing["ran_env"] is False
    assert missing["reason"].startswith("no run file")
    assert today["environments"]["jax-gpu"]["reason"] == GPU_REASON

    history = (site / "history.html").read_text(encoding="utf-8")
    assert history.count("<svg") == len(today["environments"])
    assert "2026-11-28 03:00:00" in history
    assert "2026-11-29 03:00:00" in history
    assert f'href="https://github.com/o/r/commit/{COMMIT}"' in history
    assert "2/4 (50%)" in history
    assert "3/4 (75%)" in history

    # The published JSON names the missing environments as not_run, with the reason.
    matrix = load_matrix(site / "compatibility.json")
    envs = {e.id: e for e in matrix.environments}
    assert envs["jax-gpu"].ran is False
    assert envs["jax-gpu"].reason == GPU_REASON
    assert {r.outcome for r in matrix.results if r.environment == "jax-gpu"} == {"not_run"}
    # Today's history entry holds the same published files: the index and its results.
    entry = site / "history" / published.entry
    assert sorted(p.relative_to(entry).as_posix() for p in entry.rglob("*.json")) == sorted(
        ["compatibility.json", *(f"results/{e.id}.json" for e in matrix.environments)])
    assert load_matrix(entry / "compatibility.json") == matrix


def test_dry_run_diffs_against_the_last_published_run(tmp_path: Path) -> None:
    site, published = _build(tmp_path)
    diff = (site / "diff.md").read_text(encoding="utf-8")
    latest = json.loads((site / "latest.json").read_text(encoding="utf-8"))
    if "not available" in published.diff_note:
        pytest.skip("matrix.diff is not in this checkout")
    # jax-cpu's c3 passed yesterday and fails today.
    assert published.regressions is True
    assert latest["regressions"] is True
    assert "`c3`" in diff
    assert "jax-cpu" in diff
    assert "history/2026-11-28-aaaaaaa/compatibility.json" in diff
    assert str(tmp_path) not in diff  # no runner's folder in the published text
    assert _index(site)[-1]["regressions"] is True
    assert (site / "history" / published.entry / "diff.md").read_text() == diff


def test_sharded_environment_is_merged(tmp_path: Path) -> None:
    site, _ = _build(tmp_path)
    matrix = load_matrix(site / "compatibility.json")
    assert matrix.problems == []
    torch = [r for r in matrix.results if r.environment == "torch-cpu"]
    assert sorted(r.case for r in torch) == ["c1", "c2", "c3", "c4"]
    assert {r.outcome for r in torch} == {"passed"}
    assert _index(site)[-1]["environments"]["torch-cpu"]["passed"] == 4


def test_the_published_matrix_is_triaged_at_merge(tmp_path: Path) -> None:
    site, _ = _build(tmp_path)
    matrix = load_matrix(site / "compatibility.json")
    cells = {(r.case, r.environment): r for r in matrix.results}
    # The run file holds only c4's raw verdict; the catalog's limitation xfails it here.
    raw = json.loads((DATA / "runs" / "jax-cpu.json").read_text(encoding="utf-8"))
    assert {r["case"]: (r["outcome"], r["limitation"]) for r in raw["results"]}["c4"] == \
        ("failed", None)
    c4 = cells[("c4", "jax-cpu")]
    assert (c4.outcome, c4.limitation, c4.verdict.status) == (
        "xfailed", "jax-take-fills-nan-embedding", "mismatched")
    assert (cells[("c3", "jax-cpu")].outcome, cells[("c3", "jax-cpu")].limitation) == (
        "failed", None)
    listed = {lim.id: lim for lim in matrix.limitations}
    assert listed["jax-take-fills-nan-embedding"].cells == 1
    assert listed["jax-take-fills-nan-embedding"].stale is False


def test_a_site_in_the_compact_form_is_the_previous_of_the_next(tmp_path: Path) -> None:
    """The fixture's previous site is a single file of schema_version 2 (as published before
    issue 27); the next publish diffs against a compact one, results files and all."""
    first, _ = _build(tmp_path / "first")
    assert json.loads((first / "compatibility.json").read_text())["schema_version"] == 3
    second = tmp_path / "second"
    published = publish.build_site(DATA / "runs", second, previous=first, commit="c" * 40,
                                   date="2026-11-30T03:00:00+00:00")
    if "not available" in published.diff_note:
        pytest.skip("matrix.diff is not in this checkout")
    assert published.regressions is False
    assert published.diff_note == "no regression"
    diff = (second / "diff.md").read_text(encoding="utf-8")
    assert "history/2026-11-29-bbbbbbb/compatibility.json" in diff
    # A previous site whose results file is gone: the diff says which.
    (first / "results" / "jax-cpu.json").unlink()
    broken = publish.build_site(DATA / "runs", tmp_path / "third", previous=first,
                                commit="d" * 40, date="2026-12-01T03:00:00+00:00")
    assert broken.regressions is None
    assert "results/jax-cpu.json" in broken.diff_note


def test_first_publish_has_one_run_and_no_diff(tmp_path: Path) -> None:
    site, published = _build(tmp_path, previous=None)
    assert published.regressions is None
    assert "No previous published run" in (site / "diff.md").read_text(encoding="utf-8")
    rows = _index(site)
    assert len(rows) == 1
    assert rows[0]["has_diff"] is False


def test_old_runs_are_pruned_but_stay_in_the_index(tmp_path: Path) -> None:
    site, _ = _build(tmp_path, keep=1)
    rows = _index(site)
    assert len(rows) == 2
    assert rows[0]["path"] is None
    assert not (site / "history" / rows[0]["id"]).exists()
    assert rows[1]["path"] == f"history/{rows[1]['id']}/"
    assert "pruned" in (site / "history.html").read_text(encoding="utf-8")


def test_a_rerun_of_the_same_commit_replaces_its_row(tmp_path: Path) -> None:
    site, _ = _build(tmp_path)
    again = tmp_path / "again"
    publish.build_site(DATA / "runs", again, previous=site, commit=COMMIT, date=TODAY)
    assert [r["id"] for r in _index(again)] == ["2026-11-28-aaaaaaa", "2026-11-29-bbbbbbb"]


def test_untrusted_text_is_escaped(tmp_path: Path) -> None:
    site = tmp_path / "site"
    publish.build_site(DATA / "runs", site, commit="<img src=x onerror=alert(1)>",
                       date=TODAY, run_url="javascript:alert(1)",
                       reasons=[("*", "<script>alert(1)</script>")])
    history = (site / "history.html").read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in history
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in history
    assert "<img src=x" not in history
    assert "javascript:" not in history


def test_a_damaged_history_restarts_instead_of_failing(tmp_path: Path) -> None:
    previous = tmp_path / "previous"
    shutil.copytree(DATA / "previous", previous)
    (previous / "history" / "index.json").write_text("{broken", encoding="utf-8")
    site, _ = _build(tmp_path, previous=previous)
    assert [r["id"] for r in _index(site)] == ["2026-11-29-bbbbbbb"]


def test_chart_leaves_a_gap_where_an_environment_did_not_run() -> None:
    rows = [{"date": f"2026-11-2{i}", "commit": "c" * 7, "environments": {"e": cell}}
            for i, cell in enumerate([
                {"passed": 3, "ran": 4, "total": 4, "ran_env": True},
                {"passed": 0, "ran": 0, "total": 4, "ran_env": False, "reason": "no GPU"},
                {"passed": 4, "ran": 4, "total": 4, "ran_env": True}])]
    chart = publish.chart("e", rows)
    assert len(chart["passed_paths"]) == 2  # one line on each side of the gap, none through 0
    assert [p["gap"] for p in chart["points"]] == [False, True, False]
    assert "no GPU" in chart["points"][1]["title"]
    assert chart["latest"] == "4/4 passed"


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "github_output"
    code = publish.main(["--runs", str(DATA / "runs"), "--site", str(tmp_path / "site"),
                         "--previous", str(DATA / "previous"), "--commit", COMMIT,
                         "--date", TODAY, "--reason", f"*-gpu={GPU_REASON}",
                         "--github-output", str(output)])
    assert code == 0
    values = dict(line.split("=", 1) for line in output.read_text().splitlines())
    assert values["entry"] == "2026-11-29-bbbbbbb"
    assert values["regressions"] in {"true", "unknown"}
    assert "published 2026-11-29-bbbbbbb" in capsys.readouterr().out
    assert publish.main(["--runs", str(tmp_path / "absent"), "--site", str(tmp_path)]) == 2
    with pytest.raises(SystemExit):
        publish.main(["--runs", str(DATA / "runs"), "--site", str(tmp_path / "s"),
                      "--reason", "no-equals-sign"])


@pytest.mark.parametrize(("date", "commit", "expected"), [
    ("2026-11-29T03:00:00+00:00", "0123456789abcdef", "2026-11-29-0123456"),
    ("2026-11-29", "0123456789abcdef-dirty", "2026-11-29-0123456"),
    ("yesterday", "../../etc", "undated-etc"),
])
def test_entry_id(date: str, commit: str, expected: str) -> None:
    assert publish.entry_id(date, commit) == expected


def test_history_rows_are_ordered_by_time_not_text() -> None:
    """`2026-11-29T01:00:00+02:00` ran before `2026-11-28T23:30:00+00:00` (text says after)."""
    from matrix.publish import _when

    rows = [{"date": "2026-11-29T01:00:00+02:00"}, {"date": "2026-11-28T23:30:00+00:00"},
            {"date": "not a date"}]
    assert [r["date"] for r in sorted(rows, key=_when)] == [
        "not a date", "2026-11-29T01:00:00+02:00", "2026-11-28T23:30:00+00:00"]

