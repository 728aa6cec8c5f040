"""CI planning: the GitHub Actions job list, computed from what `nox --json -l` lists.

This module owns the step between the noxfile and `.github/workflows/matrix.yml`: it asks nox
which `run` sessions exist (tags select them, as `nox -t` does) and turns each into one job of
a GitHub Actions matrix, so a new backend or device in `matrix/axes.toml` becomes a new job
with no workflow edit. It never imports Keras, nor anything outside the standard library.

A job is one environment, or one shard of it (`--shards N` gives N jobs per environment, each
running `nox -s "run(<environment>)" -- --shard I/N`). GPU jobs run on the runner labels given
by `--gpu-runner` (the repository variable `GPU_RUNNER_LABEL` in the workflow); with none
given, no GPU job is planned and the environment is listed as *unplanned*, so the fan-in shows
it as `not_run` with that reason, or uses a GPU run file committed to `reports/runs/` (DESIGN.md
§4.5: GPU run files produced elsewhere are committed).

    python -m matrix.ci plan --tags run --gpu-runner "$GPU_RUNNER_LABEL" --shards 1 \\
        --github-output "$GITHUB_OUTPUT"
    python -m matrix.ci seed --from reports/runs --to runs jax-gpu torch-gpu
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CPU_RUNNER = "ubuntu-latest"
#: The pytest `-k` slice a pull request runs: the article's claims and the rank-2 int32 cases
#: (about 70 of the catalog's cases), enough to catch a broken harness or backend quickly.
PR_SELECTION = "article or (rank2 and int32)"
#: Extra package index per backend for CPU jobs, so pip picks the CPU-only wheel (`+cpu`, about
#: 200 MB) rather than PyPI's default CUDA build (several GB) on a runner with no GPU.
#: https://pytorch.org/get-started/locally/ (pip, Linux, CPU)
CPU_EXTRA_INDEX: dict[str, str] = {"torch": "https://download.pytorch.org/whl/cpu"}
_RUN_SESSION = re.compile(r"^run\((?P<environment>[^()]+)\)$")


class PlanError(ValueError):
    """The plan cannot be made; the message says what was received."""


@dataclass(frozen=True, kw_only=True)
class Job:
    """One entry of the GitHub Actions matrix `include` list.

    Attributes:
        environment: the environment id, e.g. `jax-cpu`.
        device: `cpu` or `gpu`.
        session: the nox session to run, e.g. `run(jax-cpu)`.
        shard: `I/N` for a shard, empty for the whole catalog.
        name: what the Actions UI shows, e.g. `jax-cpu` or `jax-cpu 2/3`.
        stem: its run file's name without `.json`, e.g. `jax-cpu.shard-2-of-3`; the
            workflow names its artifacts `run-<stem>` and `junit-<stem>`.
        runs_on: the runner labels (`runs-on` accepts a list: every label must match).
        optional: a failure of this job does not fail the workflow (GPU jobs: a runner may
            be broken or offline; the fan-in then shows the environment as `not_run`).
        k: the pytest `-k` slice, empty for the whole catalog.
        pip_extra_index_url: an extra package index for this job's pip, or empty.
    """

    environment: str
    device: str
    session: str
    shard: str
    name: str
    stem: str
    runs_on: list[str]
    optional: bool
    k: str
    pip_extra_index_url: str


@dataclass(frozen=True, kw_only=True)
class Plan:
    """The jobs to run, and the environments that get none (no GPU runner)."""

    jobs: list[Job]
    unplanned: list[str]

    def matrix(self) -> dict[str, list[dict[str, Any]]]:
        """The value of `strategy.matrix`: `{"include": [job, ...]}`."""
        return {"include": [asdict(job) for job in self.jobs]}


def list_sessions(tags: Sequence[str], cwd: Path = ROOT) -> list[dict[str, Any]]:
    """The sessions `nox --json -l -t <tags>` lists that carry every one of `tags`.

    `nox -t a b` selects sessions with any of the tags; a job list wants all of them (e.g.
    `run` and `cpu`), so the intersection is taken here.

    Args:
        tags: nox session tags, e.g. `("run", "cpu")`; at least one.
        cwd: the folder holding `noxfile.py`.

    Returns:
        nox's JSON entries (`session`, `name`, `tags`, `call_spec`, ...), in nox's order.

    Raises:
        PlanError: no tag given, or nox failed; the message holds nox's error output.
    """
    if not tags:
        raise PlanError("at least one nox tag is needed, e.g. --tags run. Received: none")
    command = [sys.executable, "-m", "nox", "--json", "-l", "-t", *tags]
    out = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise PlanError(f"`{' '.join(command[1:])}` failed (exit {out.returncode}): "
                        f"{out.stderr.strip()[-2000:]}")
    listed = json.loads(out.stdout or "[]")
    return [s for s in listed if set(tags) <= set(s.get("tags") or ())]


def parse_runner(text: str | None) -> list[str]:
    """Runner labels from a repository variable: a JSON list, or labels split by commas.

    `self-hosted,linux,gpu` and `["self-hosted", "gpu"]` both give a list; an empty or blank
    value gives `[]` (no GPU runner).
    """
    text = (text or "").strip()
    if not text:
        return []
    if text.startswith("["):
        labels = json.loads(text)
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            raise PlanError(f"the runner labels must be a JSON list of strings. Received: {text}")
        return [x.strip() for x in labels if x.strip()]
    return [label.strip() for label in text.split(",") if label.strip()]


def plan_jobs(sessions: Sequence[Mapping[str, Any]], *, gpu_runner: Sequence[str] = (),
              shards: int = 1, k: str = "", cpu_runner: str = CPU_RUNNER) -> Plan:
    """Turns nox's `run` sessions into matrix jobs.

    Args:
        sessions: entries of `nox --json -l`; sessions other than `run(<environment>)` are
            ignored.
        gpu_runner: the labels of a GPU runner; empty: GPU environments are unplanned.
        shards: jobs per environment, each running one shard of the catalog; 1: no sharding.
        k: a pytest `-k` slice for every job, empty for the whole catalog.
        cpu_runner: the runner label of CPU jobs.

    Returns:
        The jobs, environments outer and shards inner, and the unplanned environment ids.

    Raises:
        PlanError: `shards` is below 1.
    """
    if shards < 1:
        raise PlanError(f"--shards must be at least 1. Received: shards={shards}")
    jobs: list[Job] = []
    unplanned: list[str] = []
    for session in sessions:
        match = _RUN_SESSION.match(str(session.get("session", "")))
        if match is None:
            continue
        environment = match.group("environment")
        spec = session.get("call_spec") or {}
        device = str(spec.get("device") or environment.rpartition("-")[2])
        backend = str(spec.get("backend") or environment.partition("-")[0])
        gpu = device == "gpu"
        if gpu and not gpu_runner:
            unplanned.append(environment)
            continue
        for index in range(1, shards + 1):
            shard = f"{index}/{shards}" if shards > 1 else ""
            stem = environment + (f".shard-{index}-of-{shards}" if shard else "")
            jobs.append(Job(
                environment=environment, device=device, session=str(session["session"]),
                shard=shard, name=f"{environment} {shard}".strip(), stem=stem,
                runs_on=list(gpu_runner) if gpu else [cpu_runner], optional=gpu, k=k,
                pip_extra_index_url="" if gpu else CPU_EXTRA_INDEX.get(backend, ""),
            ))
    return Plan(jobs=jobs, unplanned=unplanned)


def seed_committed(source: Path, target: Path, environments: Sequence[str]) -> list[Path]:
    """Copies committed run files that really ran into the fan-in's runs folder.

    For each environment that got no job (a GPU one with no GPU runner) and has no run file
    in `target` yet, its committed `source/<environment>.json` is used when it holds cells
    that ran (`environment.ran`); one that did not run is left out, so the report gives the
    fan-in's own reason (no GPU runner) rather than the committed one.

    Args:
        source: the committed run files, `reports/runs`.
        target: the folder the fan-in merges.
        environments: the unplanned environment ids.

    Returns:
        The files copied.
    """
    target.mkdir(parents=True, exist_ok=True)
    copied = []
    for environment in environments:
        path = source / f"{environment}.json"
        if not path.is_file() or any(target.glob(f"{environment}.json")) \
                or any(target.glob(f"{environment}.shard-*.json")):
            continue
        try:
            ran = bool(json.loads(path.read_text(encoding="utf-8"))["environment"]["ran"])
        except (OSError, ValueError, KeyError, TypeError):
            continue  # not a usable run file; the report names none for this environment
        if ran:
            copied.append(Path(shutil.copy2(path, target / path.name)))
    return copied


def _github_output(path: Path, values: Mapping[str, str]) -> None:
    with path.open("a", encoding="utf-8") as out:
        for key, value in values.items():
            if "\n" in value:
                raise PlanError(f"a step output must be one line. Received: {key}={value!r}")
            out.write(f"{key}={value}\n")


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m matrix.ci {plan,seed} ...`; see the module docstring.

    Returns:
        0 on success, 2 when the plan cannot be made (the message says why).
    """
    parser = argparse.ArgumentParser(prog="python -m matrix.ci", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    plan = sub.add_parser("plan", help="print the GitHub Actions matrix of run jobs (JSON)")
    plan.add_argument("--tags", default="run",
                      help="comma-separated nox tags a session must all carry (default: run)")
    plan.add_argument("--gpu-runner", default="",
                      help="GPU runner labels (JSON list or comma-separated); empty: no GPU job")
    plan.add_argument("--shards", type=int, default=1, help="jobs per environment (default 1)")
    plan.add_argument("-k", dest="k", default="", help="pytest -k slice for every job")
    plan.add_argument("--pull-request", action="store_true",
                      help=f"the fast subset: CPU only, one shard, -k {PR_SELECTION!r} "
                           "unless -k is given")
    plan.add_argument("--github-output", type=Path,
                      help="also append matrix=, count= and unplanned= to this file")
    seed = sub.add_parser("seed", help="copy committed run files of unplanned environments")
    seed.add_argument("--from", dest="source", type=Path, default=ROOT / "reports" / "runs")
    seed.add_argument("--to", dest="target", type=Path, required=True)
    seed.add_argument("environments", nargs="*")
    args = parser.parse_args(argv)
    try:
        if args.command == "seed":
            for path in seed_committed(args.source, args.target, args.environments):
                print(f"using the committed run file {path.name}")
            return 0
        tags = [t.strip() for t in args.tags.split(",") if t.strip()]
        gpu_runner, shards, k = parse_runner(args.gpu_runner), args.shards, args.k.strip()
        if args.pull_request:
            tags = [*tags, "cpu"] if "cpu" not in tags else tags
            gpu_runner, shards, k = [], 1, k or PR_SELECTION
        result = plan_jobs(list_sessions(tags), gpu_runner=gpu_runner, shards=shards, k=k)
    except (PlanError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    text = json.dumps(result.matrix(), separators=(",", ":"))
    print(text)
    if args.github_output:
        _github_output(args.github_output, {"matrix": text, "count": str(len(result.jobs)),
                                            "unplanned": " ".join(result.unplanned)})
    for environment in result.unplanned:
        print(f"{environment}: no job (no GPU runner: set the repository variable "
              f"GPU_RUNNER_LABEL)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
