"""Tests of `matrix.diff`: categories of change, the Markdown (golden), exit codes, bad files.

No framework is imported. To rewrite the golden file after an intended change, run
`KCM_UPDATE_GOLDEN=1 pytest tests/test_diff.py` and review the diff.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from cells import verdict_for

from matrix import variables as kcm
from matrix.diff import diff_matrices, main, observation_change, render_diff
from matrix.records import (
    SCHEMA_VERSION,
    CaseInfo,
    EnvironmentInfo,
    Matrix,
    Observation,
    Outcome,
    Result,
)
from matrix.report import render_json
from matrix.report.files import replace_together
from matrix.run import runfiles

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).parent / "data" / "report" / "diff.md"
VALUES = Observation(kind="value", shape=[2, 3, 4], dtype="float32", max_abs_error=0.0,
                     nan_count=0, device="cpu:0")
NAN = Observation(kind="value", shape=[2, 3, 4], dtype="float32",
                  max_abs_error=float("inf"), nan_count=4, device="cpu:0")


def _error(error_type: str, message: str) -> Observation:
    return Observation(kind="error", error_type=error_type, message=message)


def _env(env_id: str, ran: bool = True, keras: str = "3.15.1") -> EnvironmentInfo:
    backend, device = env_id.split("-")
    return EnvironmentInfo(id=env_id, backend=backend, device=device, ran=ran,
                           versions={"keras": keras} if ran else {})


def _matrix(envs: list[EnvironmentInfo], cells: dict[tuple[str, str], tuple[Outcome, Observation]]
            ) -> Matrix:
    case_ids = list(dict.fromkeys(c for c, _ in cells))
    cases = [CaseInfo(id=c, group="g", description=c, axes={"mode": "eager"}) for c in case_ids]
    results = [Result(case=c, environment=e, outcome=o, observed=obs, verdict=verdict_for(o))
               for (c, e), (o, obs) in cells.items()]
    return Matrix(schema_version=SCHEMA_VERSION, generated_at="2025-01-01T00:00:00+00:00",
                  environments=envs, cases=cases, results=results)


P, F, X = Outcome.PASSED, Outcome.FAILED, Outcome.XFAILED


def _pair() -> tuple[Matrix, Matrix]:
    old = _matrix([_env("jax-cpu"), _env("torch-cpu"), _env("jax-gpu")], {
        ("a", "jax-cpu"): (P, VALUES), ("a", "torch-cpu"): (P, VALUES),
        ("a", "jax-gpu"): (P, VALUES),
        ("b", "jax-cpu"): (X, NAN), ("b", "torch-cpu"): (P, _error("IndexError", "index 10")),
        ("b", "jax-gpu"): (P, VALUES),
        ("c", "jax-cpu"): (F, VALUES), ("c", "torch-cpu"): (P, VALUES),
        ("c", "jax-gpu"): (P, VALUES),
        ("gone", "jax-cpu"): (P, VALUES), ("gone", "torch-cpu"): (P, VALUES),
        ("gone", "jax-gpu"): (P, VALUES),
    })
    new = _matrix([_env("jax-cpu", keras="3.16.0"), _env("torch-cpu"), _env("jax-gpu", False),
                   _env("tensorflow-cpu")], {
        ("a", "jax-cpu"): (F, replace(VALUES, max_abs_error=0.5)),
        ("a", "torch-cpu"): (P, VALUES),
        ("a", "jax-gpu"): (Outcome.NOT_RUN, Observation(kind="not_run")),
        ("a", "tensorflow-cpu"): (P, VALUES),
        ("b", "jax-cpu"): (P, _error("IndexError", "index 12 is out of bounds")),
        ("b", "torch-cpu"): (P, _error("RuntimeError", "<script>alert(1)</script> | x")),
        ("b", "jax-gpu"): (Outcome.NOT_RUN, Observation(kind="not_run")),
        ("b", "tensorflow-cpu"): (P, VALUES),
        ("c", "jax-cpu"): (X, VALUES), ("c", "torch-cpu"): (P, VALUES),
        ("c", "jax-gpu"): (Outcome.NOT_RUN, Observation(kind="not_run")),
        ("c", "tensorflow-cpu"): (P, VALUES),
        ("new", "jax-cpu"): (P, VALUES), ("new", "torch-cpu"): (P, VALUES),
        ("new", "jax-gpu"): (Outcome.NOT_RUN, Observation(kind="not_run")),
        ("new", "tensorflow-cpu"): (P, VALUES),
    })
    return old, new


def test_categories() -> None:
    diff = diff_matrices(*_pair())
    assert [(c.case, c.environment) for c in diff.regressions] == [("a", "jax-cpu")]
    assert [(c.case, c.environment) for c in diff.fixes] == [("b", "jax-cpu")]
    assert [(c.case, c.environment) for c in diff.outcome_changes] == [("c", "jax-cpu")]
    assert [(c.case, c.environment, c.what) for c in diff.observation_changes] == [
        ("b", "torch-cpu", "error type IndexError → RuntimeError")]
    assert diff.new_cases == ["new"]
    assert diff.removed_cases == ["gone"]
    assert diff.new_environments == ["tensorflow-cpu"]
    assert diff.removed_environments == []
    assert diff.stopped_running == ["jax-gpu"]  # its cells are not compared one by one
    assert diff.version_changes == [("jax-cpu", "keras", "3.15.1", "3.16.0")]


def test_same_matrix_is_unchanged() -> None:
    old, _ = _pair()
    diff = diff_matrices(old, old)
    assert diff.unchanged
    assert "Nothing changed." in render_diff(diff, "a.json", "b.json")


def test_observation_change_ignores_noise() -> None:
    a = _error("InvalidArgumentError", "indices[1,1] = 10 is not in [0, 10)")
    b = _error("InvalidArgumentError", "indices[0,2] = 100 is not in [0, 10)")
    assert observation_change(a, b) == ""
    assert observation_change(VALUES, replace(VALUES, max_abs_error=1e-9)) == ""
    assert observation_change(NAN, NAN) == ""
    assert observation_change(VALUES, NAN) == "nan_count 0 → 4, max abs error 0.0 → inf"


def test_markdown_golden() -> None:
    text = render_diff(diff_matrices(*_pair()), "old.json", "new.json")
    assert "<script>" not in text
    if os.environ.get(kcm.UPDATE_GOLDEN.name) == "1":
        GOLDEN.write_text(text, encoding="utf-8")
    assert text == GOLDEN.read_text(encoding="utf-8"), \
        f"diff.md differs from its golden file; if intended, rerun with {kcm.UPDATE_GOLDEN.name}=1"


def _write(tmp_path: Path) -> tuple[Path, Path]:
    old, new = _pair()
    replace_together(tmp_path / "old", render_json(old))
    replace_together(tmp_path / "new", render_json(new))
    return tmp_path / "old" / "compatibility.json", tmp_path / "new" / "compatibility.json"


def test_main_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old, new = _write(tmp_path)
    assert main([str(old), str(new)]) == 0
    assert "### Regressions (1)" in capsys.readouterr().out
    out_file = tmp_path / "summary" / "diff.md"
    assert main([str(old), str(new), "--fail-on-regression", "--output", str(out_file)]) == 1
    assert "1 regression" in capsys.readouterr().err
    assert "### Fixes (1)" in out_file.read_text(encoding="utf-8")
    assert main([str(new), str(old), "--fail-on-regression"]) == 1  # b regresses backwards
    assert main([str(old), str(old), "--fail-on-regression"]) == 0


@pytest.mark.parametrize(("content", "expected"), [
    ("{", "not valid JSON"),
    ("[]", "JSON object"),
    ('{"schema_version": 1}', "field `schema_version` is 1; this harness reads a "
                              "compatibility.json of schema_version 3 or 2. It was written "
                              "before the v2 catalog"),
    ('{"schema_version": 4}', "field `schema_version` is 4"),
    ('{"schema_version": 3}', "field `result_files` is NoneType; expected list"),
])
def test_bad_file(tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str,
                  expected: str) -> None:
    old, _ = _write(tmp_path)
    bad = tmp_path / "bad.json"
    bad.write_text(content, encoding="utf-8")
    assert main([str(old), str(bad)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err
    assert expected in err


def test_bad_field_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old, new = _write(tmp_path)
    (listed, *_) = json.loads(new.read_text(encoding="utf-8"))["result_files"]
    results = new.parent / listed["path"]
    data = json.loads(results.read_text(encoding="utf-8"))
    data["strings"].append("exploded")
    data["results"][2][1] = len(data["strings"]) - 1  # the outcome column
    results.write_text(json.dumps(data), encoding="utf-8")
    assert main([str(old), str(new)]) == 2
    err = capsys.readouterr().err
    assert f"{results}: field `results.2.outcome`" in err


def test_a_version_1_matrix_is_refused_with_the_advice_to_rerun(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old, new = _write(tmp_path)
    data = json.loads(old.read_text(encoding="utf-8"))
    data["schema_version"] = 1
    old.write_text(json.dumps(data), encoding="utf-8")
    assert main([str(old), str(new)]) == 2
    err = capsys.readouterr().err
    assert "field `schema_version` is 1" in err
    assert "rerun" in err


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old, _ = _write(tmp_path)
    assert main([str(old), str(tmp_path / "nope.json")]) == 2
    assert "nope.json: cannot be read" in capsys.readouterr().err


# --- issue 23: only regular files are read (a FIFO, a link to /dev/zero), up to a size cap ---

def _bounded_memory() -> None:
    """In the child: a build that reads /dev/zero ends in MemoryError, not in the OOM killer."""
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))


@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_a_special_file_is_refused_in_one_line_naming_it(tmp_path: Path, kind: str) -> None:
    good, _ = _write(tmp_path)
    bad = tmp_path / "bad.json"
    if kind == "fifo":
        os.mkfifo(bad)
    else:
        bad.symlink_to("/dev/zero")
    for old, new in ((bad, good), (good, bad)):
        done = subprocess.run([sys.executable, "-m", "matrix.diff", str(old), str(new)],
                              cwd=ROOT, capture_output=True, text=True, timeout=60,
                              check=False, preexec_fn=_bounded_memory)
        assert done.returncode == 2, done.stderr
        (line,) = done.stderr.splitlines()
        assert line.startswith(f"error: {bad}: not a regular file"), line
        assert done.stdout == ""


def test_a_file_over_the_size_cap_is_refused_naming_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    old, new = _write(tmp_path)
    size = new.stat().st_size
    monkeypatch.setattr(runfiles, "MAX_READ_BYTES", max(old.stat().st_size, size - 1))
    new.write_text(new.read_text(encoding="utf-8") + " " * size, encoding="utf-8")
    assert main([str(old), str(new)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"error: {new}: {2 * size} bytes, more than the "), line
