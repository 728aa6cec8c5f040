"""Benchmark of the README's main command on a fresh clone: the cold run a new user waits for.

Clones this checkout's `HEAD` into a temporary folder, runs the README's first command
there (read from the README's first code block, up to its comment) with an empty
`TORCHINDUCTOR_CACHE_DIR` of its own (no `torch.compile` kernel from an earlier run on this
machine is reused), every `KCM_*` and `KERAS_*` variable of the calling shell removed, then:

- per session, its wall seconds, from the time each `nox > Running session ...` line
  arrived (the report session included), and for a `run` session the part from its
  `running the catalog` line on (`catalog_s`: pytest on `--jobs` workers and the fold; the
  rest is the virtualenv, pip and the cache plan), and how many cases the sample left out
  in it (`left_out_by_the_sample`);
- `git status --porcelain` of the clone after the run (the README says it stays clean);
- `--rerun N` (default 2): bare `.venv/bin/nox` again in the clone, nothing changed, each
  timed (the README's goal: at most 30 s each).

Writes `benchmarks/results/cold_run.json` (or `--output`), keeping a summary of the runs
the file held before (`earlier`, newest first: the spread on a shared machine), and exits 1
when the main command failed, `git status` was not clean, the cold run took longer than `--goal-min`
(default 20 min, the goal of the issue "The first run in minutes" with the keras.ops family in
the catalog; 10 min before it) or a rerun took longer
than 30 s. pip's download cache is the user's (`~/.cache/pip`): whether it held anything
before the run is recorded (`pip_cache_warm`), as downloads are part of a first run, and
whether `~/.keras/keras.json` existed (`keras_json_before`: Keras writes it at its first
import on a machine).

Run it with any Python 3.11+ (standard library only), from the checkout:
`python3 benchmarks/bench_cold.py [--rerun 2] [--keep DIR]`. About 10 min on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from matrix.run.cache_key import host_facts  # noqa: E402  (standard library only)

RESULTS = ROOT / "benchmarks" / "results"
#: The goal of the cold main job on 2 cores (minutes) and of a no-change rerun (seconds).
#: Issue 25's target once the keras.ops dtype family is in the default catalog (7,713 cases):
#: 20 min; it was 10 min for the 2,037-case catalog before the family.
GOAL_COLD_MIN = 20.0
GOAL_RERUN_S = 30.0
_SESSION = re.compile(r"^nox > Running session (\S+)")
#: The run session's line just before it starts pytest (`matrix.run.session.run_environment`).
_CATALOG = ": running the catalog ("
#: The line of a run whose sample leaves cases out (`matrix/run/selection.py`).
_LEFT_OUT = re.compile(r"\] the sample leaves out (\d+) of the catalog's")


def readme_main_command(readme: Path) -> str:
    """The README's first command: the first line of its first ```bash block, less the
    trailing `# comment`.

    Raises:
        ValueError: the README has no such block (names the file).
    """
    text = readme.read_text(encoding="utf-8")
    match = re.search(r"```bash\n(.+?)\n", text)
    if match is None:
        raise ValueError(f"{readme}: no ```bash block with the main command")
    return match.group(1).split("  #", 1)[0].split(" # ", 1)[0].strip()


def timed_sessions(command: str, cwd: Path, env: dict[str, str], log: Path
                   ) -> dict[str, Any]:
    """Runs `command` with bash in `cwd`, echoing and logging its output, and times the nox
    sessions from the arrival of their `Running session` lines.

    Returns:
        `wall_s`, `rc`, `sessions` ({session name: wall seconds}, in the order they ran;
        the time before the first session, mostly the virtualenv and pip install of nox,
        is `setup`).
    """
    start = time.perf_counter()
    marks: list[tuple[str, float]] = [("setup", 0.0)]
    catalog_starts: dict[str, float] = {}
    left_out: dict[str, int] = {}
    with log.open("w", encoding="utf-8") as out:
        proc = subprocess.Popen(["bash", "-c", command], cwd=cwd, env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, bufsize=1)
        assert proc.stdout is not None
        for line in proc.stdout:
            now = time.perf_counter() - start
            out.write(f"{now:8.1f} {line}")
            if _CATALOG in line and marks[-1][0] not in catalog_starts:
                catalog_starts[marks[-1][0]] = now
            left = _LEFT_OUT.search(line)
            if left:
                left_out[marks[-1][0]] = int(left.group(1))
            match = _SESSION.match(line)
            if match:
                marks.append((match.group(1), now))
                print(f"[cold] {now / 60:5.1f} min  {match.group(1)}", flush=True)
        rc = proc.wait()
    wall = time.perf_counter() - start
    bounds = [t for _, t in marks[1:]] + [wall]
    sessions = {name: round(end - begin, 1)
                for (name, begin), end in zip(marks, bounds, strict=True)}
    # A run session's time before pytest starts (virtualenv, pip, the cache plan), and from
    # there to its end (the cases on `--jobs` workers, the fold).
    catalog = {name: round(end - catalog_starts[name], 1)
               for (name, _), end in zip(marks, bounds, strict=True) if name in catalog_starts}
    return {"wall_s": round(wall, 1), "rc": rc, "sessions": sessions,
            "catalog_s": catalog, "left_out_by_the_sample": left_out}


#: How many earlier runs a results file keeps (`earlier`), newest first.
KEEP_EARLIER = 5


def summary(figures: dict[str, Any]) -> dict[str, Any]:
    """What an earlier run's figures keep: when, what, how long, and the reruns' walls."""
    keep = ("date", "commit", "wall_s", "rc", "goal_min", "within_goal", "catalog_cases",
            "sessions", "catalog_s")
    return {**{k: figures.get(k) for k in keep},
            "load_average_1min_before": (figures.get("machine") or {}).get(
                "load_average_1min_before"),
            "reruns_s": [r.get("wall_s") for r in figures.get("reruns") or []]}


def earlier_runs(output: Path) -> list[dict[str, Any]]:
    """The runs an existing results file recorded (its own and its `earlier`), newest first,
    so one file shows how much the figures vary on this machine; [] when there is none."""
    try:
        previous = json.loads(output.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(previous, dict) or "wall_s" not in previous:
        return []
    older = [e for e in previous.get("earlier") or [] if isinstance(e, dict)]
    return [summary(previous), *older][:KEEP_EARLIER]


def cases_run(runs: Path) -> int | None:
    """How many cases the catalog of the run had: the largest `provenance.catalog.cases` of
    the run files in `runs` (None when none says)."""
    found = []
    for path in runs.glob("*.json"):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            found.append(int(data["environment"]["provenance"]["catalog"]["cases"]))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return max(found) if found else None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rerun", type=int, default=2, metavar="N")
    parser.add_argument("--goal-min", type=float, default=GOAL_COLD_MIN)
    parser.add_argument("--output", type=Path, default=RESULTS / "cold_run.json")
    parser.add_argument("--keep", type=Path, default=None,
                        help="clone into this (new) folder and keep it")
    args = parser.parse_args(argv)

    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout.strip()
    temp = Path(tempfile.mkdtemp(prefix="kcm-cold-"))
    clone = args.keep or temp / "clone"
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(clone)],
                   check=True)
    subprocess.run(["git", "checkout", "--quiet", commit], cwd=clone, check=True)
    command = readme_main_command(clone / "README.md")
    inductor = temp / "inductor"
    inductor.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("KCM_", "KERAS_", "VIRTUAL_ENV"))}
    env["TORCHINDUCTOR_CACHE_DIR"] = str(inductor)
    pip_cache = Path.home() / ".cache" / "pip"
    pip_cache_warm = pip_cache.is_dir() and any(pip_cache.iterdir())
    # Keras writes ~/.keras/keras.json at its first import on a machine; a first run without
    # it must be served again all the same (`matrix.run.cache_key.keras_config_digest`).
    keras_json_before = (Path.home() / ".keras" / "keras.json").exists()
    load_before = round(os.getloadavg()[0], 2)
    print(f"[cold] {commit[:12]} in {clone}: {command}", flush=True)
    log = temp / "cold.log"
    cold = timed_sessions(command, clone, env, log)
    status = subprocess.run(["git", "status", "--porcelain"], cwd=clone, check=True,
                            capture_output=True, text=True).stdout.splitlines()
    catalog_cases = cases_run(clone / "reports" / "local" / "runs")
    reruns = []
    for index in range(args.rerun if cold["rc"] == 0 else 0):
        rerun = timed_sessions(".venv/bin/nox", clone, env, temp / f"rerun{index}.log")
        text = (temp / f"rerun{index}.log").read_text(encoding="utf-8")
        reruns.append({"wall_s": rerun["wall_s"], "rc": rerun["rc"],
                       "up_to_date": text.count(": up to date: "),
                       "ran_the_catalog": text.count(": running the catalog (")})
        print(f"[cold] rerun {index + 1}: {rerun['wall_s']} s", flush=True)
    figures: dict[str, Any] = {
        "command": command, "commit": commit,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "cpu_model": host_facts()["cpu"],
                    "python": platform.python_version(), "platform": platform.platform(),
                    "load_average_1min_before": load_before},
        "pip_cache_warm": pip_cache_warm, "keras_json_before": keras_json_before,
        "torchinductor_cache": "empty", "catalog_cases": catalog_cases,
        **cold, "git_status_after": status, "git_status_clean": not status,
        "goal_min": args.goal_min,
        "within_goal": cold["rc"] == 0 and cold["wall_s"] <= args.goal_min * 60,
        "reruns": reruns, "rerun_goal_s": GOAL_RERUN_S,
        "reruns_within_goal": bool(reruns) and all(
            r["rc"] == 0 and r["wall_s"] <= GOAL_RERUN_S for r in reruns)}
    if cold["rc"]:
        figures["tail"] = log.read_text(encoding="utf-8")[-3000:]
    figures["earlier"] = earlier_runs(args.output)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(figures, indent=1) + "\n", encoding="utf-8")
    print(json.dumps({k: figures[k] for k in ("wall_s", "rc", "sessions", "git_status_clean",
                                              "reruns")}, indent=1))
    if args.keep is None:
        shutil.rmtree(temp, ignore_errors=True)
    ok = (figures["within_goal"] and figures["git_status_clean"]
          and figures["reruns_within_goal"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
