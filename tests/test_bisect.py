"""Tests of `matrix.bisect`: the search against a fake "install and observe", the range, the
file and its validation, bad input (exit 2, nothing written) and the report's change line.

No network and no framework: every release is tried by a fake. The end-to-end bisect on real
Keras releases is `test_bisect_real_releases` (marked `e2e`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from packaging.version import Version

from matrix import bisect
from matrix.bisect import (
    BisectError,
    BisectFileError,
    Bisection,
    Trial,
    load_bisection,
    releases_in,
    search,
    signature,
)
from matrix.environments import Environment
from matrix.records import Observation, Verdict

ROOT = Path(__file__).resolve().parents[1]
CASE = "embedding-values-rank2-int32-out_of_range-10-none-eager"
RELEASES = [f"3.{minor}.0" for minor in range(12)]
INDEX = [Version(v) for v in [*RELEASES, "3.12.0rc1", "2.15.0"]]


def raises(release: str, error: str = "ValueError") -> Trial:
    return Trial(keras=release, status="ran",
                 observation=Observation(kind="error", error_type=error, message="no"),
                 verdict=Verdict(status="mismatched", cause="error_where_values_expected"))


def values(release: str, nan: int = 0) -> Trial:
    return Trial(keras=release, status="ran",
                 observation=Observation(kind="value", shape=[3, 4], dtype="float32",
                                         nan_count=nan, max_abs_error=0.0),
                 verdict=Verdict(status="matched"))


def not_run(release: str) -> Trial:
    return Trial(keras=release, status="not_run", reason="pip: ERROR: no matching dist")


class Fake:
    """Install and observe: raises before `changed`, values from it; `broken` do not run."""

    def __init__(self, changed: str | None, broken: Sequence[str] = ()) -> None:
        self.changed = Version(changed) if changed else None
        self.broken = set(broken)
        self.calls: list[str] = []

    def __call__(self, release: str) -> Trial:
        assert release not in self.calls, f"{release} installed twice"
        self.calls.append(release)
        if release in self.broken:
            return not_run(release)
        if self.changed is not None and Version(release) >= self.changed:
            return values(release)
        return raises(release)


@pytest.mark.parametrize("changed", RELEASES[1:])
def test_search_finds_every_change_point_in_few_trials(changed: str) -> None:
    fake = Fake(changed)
    first, last, trials = search(RELEASES, fake)
    assert first == changed
    assert last == RELEASES[RELEASES.index(changed) - 1]
    assert len(fake.calls) <= 2 + 4  # both ends, then log2(12) rounded up
    assert [t.keras for t in trials] == sorted(fake.calls, key=Version)


def test_search_goes_around_releases_that_do_not_run() -> None:
    # 3.5.0 is the middle of the first step; the change is at 3.6.0, 3.6.0 itself cannot run.
    fake = Fake("3.6.0", broken=["3.5.0", "3.6.0"])
    first, last, trials = search(RELEASES, fake)
    assert (first, last) == ("3.7.0", "3.4.0")
    statuses = {t.keras: t.status for t in trials}
    assert statuses["3.5.0"] == statuses["3.6.0"] == "not_run"


def test_search_starts_at_the_first_release_that_runs() -> None:
    fake = Fake("3.9.0", broken=["3.0.0", "3.1.0", "3.11.0"])
    first, last, _ = search(RELEASES, fake)
    assert (first, last) == ("3.9.0", "3.8.0")
    assert fake.calls[:3] == ["3.0.0", "3.1.0", "3.2.0"]


def test_search_reports_no_change_and_nothing_run() -> None:
    fake = Fake(None)
    assert search(RELEASES, fake)[:2] == (None, None)
    assert fake.calls == ["3.0.0", "3.11.0"]
    everything_broken = Fake("3.3.0", broken=RELEASES)
    first, last, trials = search(RELEASES, everything_broken)
    assert (first, last) == (None, None)
    assert len(trials) == len(RELEASES)


def result_line(trial: Trial, keras: str | None = None) -> str:
    import dataclasses

    assert trial.observation is not None
    assert trial.verdict is not None
    return "log\n" + json.dumps({"keras": keras or trial.keras,
                                 "observation": dataclasses.asdict(trial.observation),
                                 "verdict": dataclasses.asdict(trial.verdict)})


def test_a_harness_error_is_not_run_and_never_the_change() -> None:
    harness = Trial(keras="3.5.0", status="ran",
                    observation=Observation(kind="error", error_type="HarnessError",
                                            message="the program printed no observation"),
                    verdict=Verdict(status="harness_error", detail="no observation"))
    read = bisect.trial_from_output("3.5.0", result_line(harness), "", 0)
    assert read.status == "not_run"
    assert read.reason is not None
    assert "the harness failed on Keras 3.5.0" in read.reason
    assert signature(read) is None
    # A release where the harness fails, in the middle, is gone around, not named.
    fake = Fake("3.7.0")
    search_fake = lambda r: read if r == "3.5.0" else fake(r)  # noqa: E731
    first, last, _ = search(RELEASES, search_fake)
    assert (first, last) == ("3.7.0", "3.6.0")


def test_a_malformed_or_other_keras_result_line_is_not_run() -> None:
    bad = "log\n" + json.dumps({"keras": "3.5.0", "observation": {"kind": "sideways"},
                                "verdict": {"status": "matched"}})
    read = bisect.trial_from_output("3.5.0", bad, "", 0)
    assert read.status == "not_run"
    assert read.reason is not None
    assert read.reason.startswith("the case printed a malformed")
    missing = bisect.trial_from_output("3.5.0", 'x\n{"keras": "3.5.0"}', "", 0)
    assert missing.status == "not_run"
    other = bisect.trial_from_output("3.5.0", result_line(values("3.5.0"), "3.15.1"), "", 0)
    assert (other.status, other.reason) == ("not_run",
                                            "Keras 3.15.1 ran, not the release asked for")
    assert bisect.trial_from_output("3.5.0", result_line(values("3.5.0")), "", 0).status == "ran"


def test_signature_ignores_messages_but_not_nan_or_error_type() -> None:
    assert signature(raises("3.0.0")) == signature(
        Trial(keras="3.1.0", status="ran",
              observation=Observation(kind="error", error_type="ValueError", message="other"),
              verdict=Verdict(status="mismatched", cause="error_where_values_expected")))
    assert signature(raises("3.0.0")) != signature(raises("3.0.0", "TypeError"))
    assert signature(values("3.0.0")) != signature(values("3.0.0", nan=4))
    assert signature(not_run("3.0.0")) is None


def test_releases_in_keeps_the_range_without_pre_releases() -> None:
    assert releases_in(INDEX, "3.9.0", None) == ["3.9.0", "3.10.0", "3.11.0"]
    assert releases_in(INDEX, None, "3.1.0") == ["3.0.0", "3.1.0"]
    with pytest.raises(BisectError, match="--from"):
        releases_in(INDEX, "three", None)
    with pytest.raises(BisectError, match="holds 0 Keras release"):
        releases_in(INDEX, "4.0.0", None)
    with pytest.raises(BisectError, match="not empty"):
        releases_in(INDEX, "", None)
    with pytest.raises(BisectError, match=r"the bounds are reversed: --from 3\.9\.0 is newer"):
        releases_in(INDEX, "3.9.0", "3.2.0")


def test_pinned_requirements_leave_keras_out() -> None:
    env = Environment(backend="jax", device="cpu", env=(), default=True,
                      requirements=("keras==3.15.1", "jax[cpu]==0.10.2"))
    assert bisect.pinned_requirements(env) == ["jax[cpu]==0.10.2"]


def fake_factory(fake: Fake) -> Callable[..., Callable[[str], Trial]]:
    return lambda venv, environment, case, catalogs: fake


def run_main(tmp_path: Path, *args: str, fake: Fake | None = None,
             index: Callable[[], Sequence[Version]] = lambda: INDEX) -> int:
    return bisect.main(["--output", str(tmp_path / "out"),
                        "--venv-root", str(tmp_path / "venvs"), *args],
                       list_releases=index, trial_factory=fake_factory(fake or Fake("3.7.0")))


def test_main_writes_a_file_that_validates(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert run_main(tmp_path, CASE, "--environment", "torch-cpu", "--from", "3.2.0") == 0
    found = load_bisection(tmp_path / "out" / f"{CASE}.torch-cpu.json")
    assert (found.first_changed, found.last_unchanged) == ("3.7.0", "3.6.0")
    assert found.environment == "torch-cpu"
    assert found.pinned == ["torch==2.13.0"]
    assert found.releases == RELEASES[2:]
    printed = capsys.readouterr().out
    assert "| 3.7.0" in printed
    assert "first changed" in printed
    assert ("torch-cpu: changed in Keras 3.7.0 (was: raises ValueError in 3.6.0; now: value "
            "[3, 4] float32)") in printed
    assert not (tmp_path / "venvs").exists()


def index_down() -> Sequence[Version]:
    raise BisectError("the package index could not be read (pip: ERROR: no network)")


@pytest.mark.parametrize(("args", "index", "words"), [
    ((CASE, "--environment", "jax-tpu"), lambda: INDEX, "--environment"),
    (("no-such-case",), lambda: INDEX, "no case 'no-such-case'"),
    (("../escape",), lambda: INDEX, "case id"),
    ((CASE, "--from", "4.0"), lambda: INDEX, "change --from or --to"),
    ((CASE, "--to", "x.y"), lambda: INDEX, "--to must be a release"),
    ((CASE,), index_down, "package index could not be read"),
    ((CASE, "--from", "x"), index_down, "--from must be a release"),
    ((CASE, "--from", ""), index_down, "--from must be a release such as 3.6.0, not empty"),
    ((CASE, "--from", "3.9.0", "--to", "3.2.0"), lambda: INDEX, "the bounds are reversed"),
    ((CASE, "--environment", "jax-gpu"), lambda: INDEX, "must be a CPU environment"),
    ((CASE, "--output", "FILE/sub"), lambda: INDEX, "--output must be a directory"),
])
def test_bad_input_is_one_line_exit_2_and_nothing_written(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...],
        index: Callable[[], Sequence[Version]], words: str) -> None:
    fake = Fake("3.7.0")
    (tmp_path / "FILE").write_text("a file", encoding="utf-8")
    args = tuple(str(tmp_path / a) if a == "FILE/sub" else a for a in args)
    assert run_main(tmp_path, *args, fake=fake, index=index) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert words in err, err
    assert not fake.calls
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "venvs").exists()


def test_unreachable_index_is_refused_by_pip_itself(tmp_path: Path) -> None:
    # A pip whose only index is a folder that does not exist: what pip says is the message.
    env = {**os.environ, "PIP_INDEX_URL": (tmp_path / "nowhere").as_uri(),
           "PIP_EXTRA_INDEX_URL": "", "PIP_FIND_LINKS": "", "PIP_CONFIG_FILE": os.devnull}
    script = ("import sys; from matrix import bisect\n"
              "try:\n    bisect.index_releases()\n"
              "except bisect.BisectError as exc:\n    print(exc); sys.exit(2)\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "package index could not be read" in done.stdout


def test_catalog_case_from_a_user_module(tmp_path: Path) -> None:
    catalog = ROOT / "tests" / "data" / "gru_reset_after_catalog.py"
    assert run_main(tmp_path, "user-gru-padded-eager", "--catalog", str(catalog)) == 0
    found = load_bisection(tmp_path / "out" / "user-gru-padded-eager.jax-cpu.json")
    assert found.catalogs == [str(catalog)]


def written(tmp_path: Path) -> Path:
    assert run_main(tmp_path, CASE) == 0
    return tmp_path / "out" / f"{CASE}.jax-cpu.json"


@pytest.mark.parametrize(("edit", "words"), [
    (lambda d: d.update(first_changed="9.9.9"), "first_changed"),
    (lambda d: d.update(schema_version=1), "schema_version"),
    (lambda d: d["trials"][0].update(status="maybe"), "trials.0.status"),
    (lambda d: d.update(case="another-case"), "but the file is named"),
    (lambda d: d.update(environment="torch-cpu"), "but the file is named"),
])
def test_load_refuses_an_edited_file(tmp_path: Path, edit: Callable[[dict[str, object]], None],
                                     words: str) -> None:
    path = written(tmp_path)
    data = json.loads(path.read_text(encoding="utf-8"))
    edit(data)
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(BisectFileError, match=words.replace(".", r"\.")):
        load_bisection(path)


def test_the_report_reads_the_bisect_folder_beside_the_runs(tmp_path: Path) -> None:
    from matrix import report

    path = written(tmp_path)
    changes, problems = bisect.changes_in(path.parent)
    assert problems == []
    line = changes[CASE][0]
    assert line.startswith("jax-cpu: changed in Keras 3.7.0 (was: raises ValueError in 3.6.0")
    runs = tmp_path / "runs"
    runs.mkdir()
    (tmp_path / "bisect").mkdir()
    path.rename(tmp_path / "bisect" / path.name)
    (tmp_path / "bisect" / "broken-case.json").write_text("{", encoding="utf-8")
    assert report.main(["--runs", str(runs), "--out", str(tmp_path / "html")]) == 0
    page = (tmp_path / "html" / "compatibility.html").read_text(encoding="utf-8")
    assert "changed in Keras 3.7.0 (was: raises ValueError in 3.6.0" in page


def test_no_change_writes_a_file_without_a_change_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_main(tmp_path, CASE, fake=Fake(None)) == 0
    found = load_bisection(tmp_path / "out" / f"{CASE}.jax-cpu.json")
    assert found.first_changed is None
    assert bisect.change_line(found) is None
    printed = capsys.readouterr().out
    assert ("same observation at both ends (3.0.0 and 3.11.0): raises ValueError; a change "
            "that reverted inside the range is not searched for") in printed
    assert "no change" not in printed


def test_a_change_next_to_releases_not_run_is_a_range(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_main(tmp_path, CASE, fake=Fake("3.6.0", broken=["3.5.0", "3.6.0"])) == 0
    path = tmp_path / "out" / f"{CASE}.jax-cpu.json"
    found = load_bisection(path)
    assert (found.last_unchanged, found.first_changed) == ("3.4.0", "3.7.0")
    assert found.not_run_between == ["3.5.0", "3.6.0"]
    line = ("jax-cpu: changed between Keras 3.4.0 (last with the old observation) and 3.7.0 "
            "(first with the new one); releases in between not run: 3.5.0, 3.6.0 (was: "
            "raises ValueError in 3.4.0; now: value [3, 4] float32)")
    assert line in capsys.readouterr().out
    assert bisect.change_line(found) == line  # the HTML history line too
    data = json.loads(path.read_text(encoding="utf-8"))
    data["not_run_between"] = []
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(BisectFileError, match="not_run_between"):
        load_bisection(path)


@pytest.mark.e2e
def test_bisect_real_releases(tmp_path: Path) -> None:
    """Real Keras releases on torch-cpu (torch pinned at 2.13.0), from the `minimum` channel's
    Keras 3.6.0 to the `latest` one's 3.15.1, on a case that differs between those channels:
    Attention after a masked Embedding raised in 3.6.0 (README, "What the matrix finds")."""
    case = "mask-consumers-attention-attention-rank2-int32-padded-post-mask_zero-eager"
    done = subprocess.run(
        [sys.executable, "-m", "matrix.bisect", case, "--environment", "torch-cpu",
         "--from", "3.6.0", "--to", "3.15.1", "--output", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=3600, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    found: Bisection = load_bisection(tmp_path / f"{case}.torch-cpu.json")
    by_release = {t.keras: t for t in found.trials}
    assert by_release["3.6.0"].status == by_release["3.15.1"].status == "ran"
    assert by_release["3.15.1"].verdict is not None
    assert by_release["3.15.1"].verdict.status == "matched"
    assert signature(by_release["3.6.0"]) != signature(by_release["3.15.1"])
    assert found.first_changed is not None
    assert found.last_unchanged is not None
    assert Version(found.last_unchanged) < Version(found.first_changed)
    assert signature(by_release[found.last_unchanged]) == signature(by_release["3.6.0"])
    assert signature(by_release[found.first_changed]) != signature(by_release["3.6.0"])
    # No release strictly between the two ran: the search narrowed the range to one step.
    between = [t for t in found.trials if t.status == "ran"
               and Version(found.last_unchanged) < Version(t.keras) < Version(found.first_changed)]
    assert between == []
    assert len(found.trials) <= 8, [t.keras for t in found.trials]


def test_publish_local_copies_the_local_bisect_files(tmp_path: Path) -> None:
    from matrix.run import runfiles

    local, published = tmp_path / "local", tmp_path / "reports"
    (local / "runs").mkdir(parents=True)
    (local / "bisect").mkdir()
    written(tmp_path).rename(local / "bisect" / f"{CASE}.jax-cpu.json")
    lines = runfiles.publish_local(local, published)
    assert load_bisection(published / "bisect" / f"{CASE}.jax-cpu.json").first_changed == \
        "3.7.0"
    assert f"published reports/bisect/{CASE}.jax-cpu.json" in lines


def test_one_case_bisected_on_two_environments_keeps_both_files(tmp_path: Path) -> None:
    assert run_main(tmp_path, CASE) == 0
    assert run_main(tmp_path, CASE, "--environment", "torch-cpu") == 0
    names = sorted(p.name for p in (tmp_path / "out").glob("*.json"))
    assert names == [f"{CASE}.jax-cpu.json", f"{CASE}.torch-cpu.json"]
    changes, problems = bisect.changes_in(tmp_path / "out")
    assert problems == []
    assert sorted(line.split(":")[0] for line in changes[CASE]) == ["jax-cpu", "torch-cpu"]
    # a file of the first layout, `<case>.json`, still reads
    legacy = tmp_path / "out" / f"{CASE}.json"
    (tmp_path / "out" / f"{CASE}.jax-cpu.json").rename(legacy)
    assert load_bisection(legacy).environment == "jax-cpu"
