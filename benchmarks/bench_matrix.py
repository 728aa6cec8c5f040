"""Benchmark of the CPU matrix with warm virtualenvs: where the time goes, and what the
harness costs.

Per environment (`.nox/run-<environment>`, created by `nox -s "run(<environment>)"`):

- **install check**: `pip install` of the run group and the environment's requirements in
  its reused virtualenv, all already satisfied (what `session.install` does on every run);
- **import**: `python -c "import keras"` with the environment's variables, less a bare
  `python -c pass`;
- **cases**: the catalog run by the harness exactly as the `run` session runs it (pytest,
  one xdist worker, pytest-timeout, pytest-reportlog, JUnit XML), its wall clock and the
  per-case durations from its report log;
- **fold**: `python -m matrix.results fold` of that log into a run file;
- **bare loop**: the same cases in one plain process (`benchmarks/bare_loop.py`): the
  harness's overhead is harness wall / bare wall (goal: at most 1.15);
- **naive**: one Python process per case, on a sample, extrapolated to the catalog;
- **peak memory**: the largest resident set of the run's process tree (`os.wait4`).

Then **report**: `python -m matrix.report` over the run files. Per-case median and 95th
percentile per environment and mode, and the ten slowest cases, come from the report logs.

Writes `benchmarks/results/matrix.json` and prints a table. Nothing is written to
`reports/`: the runs go to a temporary folder.

`--main-job` measures the `run` sessions as a user runs them, through nox, instead (written to
`benchmarks/results/main_job.json`): the warm run with the cache off and one worker, the same
with the default workers (`--jobs`: the parallel speed-up), and a rerun with nothing changed
(the result cache and the install stamp); peak memory is the largest process of each.
`--slice EXPR` limits it to `-k EXPR`.

`--rerun N` times bare `nox` itself, N times in a row in this checkout with nothing changed
(after one full bare `nox`): `benchmarks/results/rerun.json`, and exit status 1 when the last
run is over the README's 30 s.

Run it (about 4 to 5 minutes per environment on 2 cores):
`python3 benchmarks/bench_matrix.py [--env jax-cpu ...] [--naive-sample 12]`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from matrix import variables as kcm  # noqa: E402
from matrix.environments import RUN_PYTEST_ARGS, Environment, load_environments  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "matrix.json"
GOAL_OVERHEAD = 1.15
#: The arguments the `run` nox session gives pytest (`matrix/run/session.py`), less the paths.
HARNESS_ARGS = (*RUN_PYTEST_ARGS, "--timeout=120")
#: The arguments before the optimization (per-test logging and warnings capture on), run
#: too so that the figures show the before and the after side by side.
_DROPPED = {("-p", "no:logging"), ("-p", "no:warnings")}
BEFORE_ARGS = tuple(a for i, a in enumerate(HARNESS_ARGS)
                    if tuple(HARNESS_ARGS[i:i + 2]) not in _DROPPED
                    and tuple(HARNESS_ARGS[i - 1:i + 1]) not in _DROPPED)


def measure(command: Sequence[str], env: Mapping[str, str], cwd: Path = ROOT
            ) -> dict[str, Any]:
    """Runs a command; returns its wall seconds, exit status and peak RSS (MB) of its tree.

    `os.wait4` reports the largest resident set among the process and the descendants it
    waited for, which covers pytest's xdist worker.
    """
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(list(command), env=dict(env), cwd=cwd, stdout=out,
                                stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        tail = out.read()[-2000:].decode("utf-8", errors="replace")
    return {"wall_s": round(wall, 3), "rc": proc.returncode,
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1), "tail": tail}


def _venv_python(environment: Environment) -> Path:
    return ROOT / ".nox" / f"run-{environment.id}" / "bin" / "python"


def _base_env(environment: Environment, work: Path, artifacts: Path) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("KERAS_", "KCM_"))}
    return {**keep, **environment.run_variables(workdir=work, artifacts_root=artifacts,
                                                commit="benchmark"),
            "PYTHONDONTWRITEBYTECODE": "1"}


def _run_group() -> list[str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return [str(r) for r in data["dependency-groups"]["run"]]


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100
    low = int(k)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def case_seconds(log: Path) -> dict[str, float]:
    """Per case: setup + call + teardown seconds from a report log."""
    from matrix.run.protocol import case_of_nodeid
    from matrix.run.resume import read_events

    seconds: dict[str, float] = {}
    for event in read_events(log):
        case = case_of_nodeid(str(event.get("nodeid", "")))
        if case is not None and event.get("$report_type") == "TestReport":
            seconds[case] = seconds.get(case, 0.0) + float(event.get("duration") or 0.0)
    return seconds


def _stats(values: Sequence[float]) -> dict[str, float]:
    return {"n": len(values), "median_s": round(statistics.median(values), 4) if values else 0,
            "p95_s": round(percentile(values, 95), 4), "total_s": round(sum(values), 2)}


def bench_environment(environment: Environment, out: Path, naive_sample: int, seed: int
                      ) -> dict[str, Any]:
    """Every figure of one environment; its run file goes to `out / "runs"`."""
    python = _venv_python(environment)
    if not python.exists():
        return {"error": f"{python} is missing: run `nox -s \"run({environment.id})\"` once"}
    work = out / "work" / environment.id
    work.mkdir(parents=True)
    artifacts = out / "artifacts" / environment.id
    if (ROOT / "reports" / "artifacts").is_dir():  # saved models of the other backends
        shutil.copytree(ROOT / "reports" / "artifacts", artifacts)
    env = _base_env(environment, work, artifacts)
    figures: dict[str, Any] = {"id": environment.id}
    print(f"[{environment.id}] install check", flush=True)
    figures["install_check"] = measure(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
         *_run_group(), *environment.requirements], env)
    print(f"[{environment.id}] import", flush=True)
    bare_python = measure([str(python), "-c", "pass"], env)
    imports = measure([str(python), "-c", "import keras"], env)
    figures["import"] = {**imports, "python_start_s": bare_python["wall_s"],
                         "import_keras_s": round(imports["wall_s"] - bare_python["wall_s"],
                                                 3)}
    print(f"[{environment.id}] cases, by the harness", flush=True)
    log = work / "report-log.jsonl"
    harness = measure([str(python), "-m", "pytest", "matrix/run/test_cases.py", *HARNESS_ARGS,
                       f"--report-log={log}", f"--junitxml={out / 'junit' / environment.id}.xml"],
                      env)
    figures["harness"] = harness
    print(f"[{environment.id}] cases, by the harness as it was before", flush=True)
    before_work = out / "work-before" / environment.id
    before_work.mkdir(parents=True)
    before = measure([str(python), "-m", "pytest", "matrix/run/test_cases.py", *BEFORE_ARGS,
                      "-W", "ignore", f"--report-log={before_work / 'report-log.jsonl'}"],
                     {**env, kcm.RUN_DIR.name: str(before_work)})
    figures["harness_before"] = before
    print(f"[{environment.id}] fold", flush=True)
    run_file = out / "runs" / f"{environment.id}.json"
    figures["fold"] = measure([str(python), "-m", "matrix.results", "fold", "--environment",
                               environment.id, "--log", str(log), "--output", str(run_file)],
                              env)
    seconds = case_seconds(log)
    figures["cases"] = {"count": len(seconds), "sum_of_durations_s": round(sum(seconds.values()),
                                                                          2)}
    print(f"[{environment.id}] cases, by a bare loop", flush=True)
    bare_out = out / f"bare-{environment.id}.json"
    shutil.rmtree(artifacts, ignore_errors=True)
    if (ROOT / "reports" / "artifacts").is_dir():
        shutil.copytree(ROOT / "reports" / "artifacts", artifacts)
    bare = measure([str(python), "benchmarks/bare_loop.py", "--out", str(bare_out)], env)
    bare_data = json.loads(bare_out.read_text()) if bare_out.exists() else {"seconds": {}}
    figures["bare_loop"] = {**bare, "cases": len(bare_data["seconds"]),
                            "sum_of_case_s": round(sum(bare_data["seconds"].values()), 2),
                            "import_and_catalog_s": round(
                                bare_data.get("import_and_catalog_s", 0.0), 3)}
    figures["overhead_ratio"] = round(harness["wall_s"] / bare["wall_s"], 3)
    figures["overhead_ratio_before"] = round(before["wall_s"] / bare["wall_s"], 3)
    # The naive way: a fresh process (and Keras import) per case, on a random sample.
    sample = random.Random(seed).sample(sorted(bare_data["seconds"]),
                                        min(naive_sample, len(bare_data["seconds"])))
    print(f"[{environment.id}] naive: {len(sample)} processes", flush=True)
    walls = []
    for case_id in sample:
        ids = out / "one-id.json"
        ids.write_text(json.dumps([case_id]))
        walls.append(measure([str(python), "benchmarks/bare_loop.py", "--out",
                              str(out / "one.json"), "--ids", str(ids)], env)["wall_s"])
    per_process = statistics.mean(walls) if walls else 0.0
    extrapolated = per_process * len(seconds)
    figures["naive"] = {"sample": len(sample), "mean_process_s": round(per_process, 3),
                        "extrapolated_catalog_s": round(extrapolated, 1),
                        "ratio_to_harness": round(extrapolated / harness["wall_s"], 2)}
    figures["seconds_per_case"] = seconds
    return figures


def bench_main_job(environments: Sequence[Environment], out: Path, slice_expr: str | None,
                   jobs: int | None) -> dict[str, Any]:
    """The `run` sessions through nox: serial, parallel, and a rerun with nothing changed.

    Each run writes to `out` and keeps its cache in `out / "cache"` (`KCM_CACHE_DIR`), so
    the user's own cache and `reports/` are never touched.
    """
    sessions = [f"run({e.id})" for e in environments]
    base = [sys.executable, "-m", "nox", "--noxfile", str(ROOT / "noxfile.py"), "-s",
            *sessions, "--", "--output", str(out / "runs"),
            *(["-k", slice_expr] if slice_expr else [])]
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("KERAS_", "KCM_"))},
           kcm.CACHE_DIR.name: str(out / "cache")}
    figures: dict[str, Any] = {"sessions": sessions, "slice": slice_expr}
    print("[main job] one worker, cache off", flush=True)
    figures["serial"] = measure([*base, "--fresh", "--no-cache", "--jobs", "1"], env)
    print("[main job] default workers, cache off", flush=True)
    parallel_jobs = ["--jobs", str(jobs)] if jobs else []
    figures["parallel"] = measure([*base, "--fresh", "--no-cache", *parallel_jobs], env)
    print("[main job] rerun, nothing changed", flush=True)
    figures["no_change_rerun"] = measure(base, env)
    for part in ("serial", "parallel", "no_change_rerun"):
        if figures[part]["rc"] == 0:
            figures[part].pop("tail", None)
    serial = figures["serial"]["wall_s"]
    figures["parallel_ratio"] = round(figures["parallel"]["wall_s"] / serial, 3)
    figures["rerun_ratio"] = round(figures["no_change_rerun"]["wall_s"] / serial, 3)
    return figures


#: The no-change rerun of bare `nox` the README promises, on this project's 2-core machine
#: (issue 13's goal), in seconds.
GOAL_RERUN_S = 30.0


def bench_rerun(repeat: int) -> dict[str, Any]:
    """Bare `nox` (the main job) in this checkout, `repeat` times in a row, nothing changed.

    It uses the checkout's own virtualenvs, cache and `reports/local/` (a no-change rerun is
    what a user runs after the main job): run it after bare `nox` has run once. The first
    repeat may still execute a few cells (a crash seen once is run again until it crashed
    twice); the goal holds for every repeat, the first included.

    Returns:
        Per repeat: wall seconds, exit status, how many `run` sessions were up to date
        (started no pytest) and how many ran the catalog; `within_goal`: every repeat
        exited 0 within `GOAL_RERUN_S`.
    """
    command = [sys.executable, "-m", "nox", "--noxfile", str(ROOT / "noxfile.py")]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KERAS_", "KCM_"))}
    runs: list[dict[str, Any]] = []
    for index in range(repeat):
        print(f"[rerun] bare nox, {index + 1} of {repeat}", flush=True)
        start = time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                              check=False)
        wall = time.perf_counter() - start
        output = done.stdout + done.stderr
        runs.append({"wall_s": round(wall, 2), "rc": done.returncode,
                     "up_to_date": output.count(": up to date: "),
                     "ran_the_catalog": output.count(": running the catalog ("),
                     **({"tail": output[-2000:]} if done.returncode else {})})
    return {"command": " ".join(["nox", "-s", "bench", "--", "--rerun", str(repeat)]),
            "runs": runs, "goal_s": GOAL_RERUN_S,
            "within_goal": bool(runs) and all(
                r["rc"] == 0 and float(r["wall_s"]) <= GOAL_RERUN_S for r in runs)}


def breakdown(figures: Mapping[str, Any]) -> dict[str, float]:
    """Where the harness's extra time goes, from one environment's figures.

    `fixed`: wall clock outside the cases (process and worker start, imports, collection,
    the environment check); `per_case_ms`: the extra time each case costs in pytest (setup
    and teardown phases, fixtures, reporting) over the bare loop's.
    """
    harness, bare = figures["harness"]["wall_s"], figures["bare_loop"]["wall_s"]
    in_cases = figures["cases"]["sum_of_durations_s"]
    bare_cases = figures["bare_loop"]["sum_of_case_s"]
    count = max(figures["cases"]["count"], 1)
    return {"harness_fixed_s": round(harness - in_cases, 2),
            "bare_fixed_s": round(bare - bare_cases, 2),
            "extra_fixed_s": round((harness - in_cases) - (bare - bare_cases), 2),
            "extra_in_cases_s": round(in_cases - bare_cases, 2),
            "extra_per_case_ms": round(1000 * (in_cases - bare_cases) / count, 2)}


def per_mode(figures: Mapping[str, Any], modes: Mapping[str, str]) -> dict[str, Any]:
    """Median and 95th percentile per mode (and over all cases) of one environment."""
    seconds: Mapping[str, float] = figures["seconds_per_case"]
    by_mode: dict[str, list[float]] = {}
    for case, value in seconds.items():
        by_mode.setdefault(modes.get(case, "other"), []).append(value)
    return {"all": _stats(list(seconds.values())),
            **{mode: _stats(values) for mode, values in sorted(by_mode.items())}}


def _row(cells: Sequence[object], widths: Sequence[int]) -> str:
    return "  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True))


def print_table(result: Mapping[str, Any]) -> None:
    """The figures as plain text tables."""
    headers = ["environment", "install", "import", "harness", "bare", "overhead", "naive×",
               "fold", "peak MB"]
    widths = [16, 8, 8, 8, 8, 9, 7, 6, 8]
    print(_row(headers, widths))
    for env_id, fig in result["environments"].items():
        if "error" in fig:
            print(f"{env_id}: {fig['error']}")
            continue
        print(_row([env_id, fig["install_check"]["wall_s"], fig["import"]["import_keras_s"],
                    fig["harness"]["wall_s"], fig["bare_loop"]["wall_s"],
                    fig["overhead_ratio"], fig["naive"]["ratio_to_harness"],
                    fig["fold"]["wall_s"], fig["harness"]["peak_rss_mb"]], widths))
    print(f"overhead over all environments: {result['overhead_ratio_all']}")
    for env_id, parts in result["overhead_breakdown"].items():
        print(f"  {env_id}: " + ", ".join(f"{k} {v}" for k, v in parts.items()))
    print(f"report: {result['report']['wall_s']} s; total {result['total_s']} s; "
          f"overhead goal <= {GOAL_OVERHEAD}: "
          f"{'met' if result['overhead_within_goal'] else 'NOT met'}")
    print("per case (median / p95 s):")
    for env_id, modes in result["per_case"].items():
        print(f"  {env_id}: " + ", ".join(f"{m} {s['median_s']}/{s['p95_s']} (n={s['n']})"
                                          for m, s in modes.items()))
    print("slowest ten:")
    for row in result["slowest"]:
        print(f"  {row['seconds']:7.3f} s  {row['environment']}  {row['case']}")


def _write_figures(figures: dict[str, Any], output: Path, name: str) -> Path:
    """Adds the machine (with its load average) and the date, and writes the figures to
    `results/<name>` (or `--output` when given). Returns the file written."""
    figures.update(machine={"cpus": os.cpu_count(), "python": platform.python_version(),
                            "platform": platform.platform(),
                            "load_average_1min": round(os.getloadavg()[0], 2)},
                   date=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    target = output.with_name(name) if output == RESULTS else output
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(figures, indent=1) + "\n", encoding="utf-8")
    return target


def main(argv: Sequence[str] | None = None) -> int:
    """`python3 benchmarks/bench_matrix.py [--env ID ...] [--naive-sample N]`."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", action="append", default=[],
                        help="environment id (repeatable); default: the environments of bare "
                        "`nox` (every CPU one of the default channel)")
    parser.add_argument("--naive-sample", type=int, default=12,
                        help="cases run one process each (default 12)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--keep", type=Path, default=None,
                        help="keep the runs, logs and reports in this folder")
    parser.add_argument("--main-job", action="store_true",
                        help="time the run sessions through nox instead: serial, parallel, "
                        "a rerun with nothing changed (results/main_job.json)")
    parser.add_argument("--slice", default=None, help="with --main-job: only `-k SLICE`")
    parser.add_argument("--jobs", type=int, default=None,
                        help="with --main-job: the workers of the parallel run (default: "
                        "the run session's default)")
    parser.add_argument("--rerun", type=int, default=None, metavar="N",
                        help="time bare `nox` N times in this checkout, nothing changed "
                        "(results/rerun.json); exit 1 when the last is over "
                        f"{GOAL_RERUN_S:.0f} s")
    args = parser.parse_args(argv)
    if args.rerun is not None:
        if args.rerun < 1:
            parser.error(f"--rerun needs at least 1 run; received {args.rerun}")
        figures = bench_rerun(args.rerun)
        target = _write_figures(figures, args.output, "rerun.json")
        for number, run in enumerate(figures["runs"], 1):
            print(f"rerun {number}: {run['wall_s']} s, exit {run['rc']}, "
                  f"{run['up_to_date']} run session(s) up to date, "
                  f"{run['ran_the_catalog']} ran the catalog")
        verdict = "within" if figures["within_goal"] else "over"
        print(f"{'every rerun' if figures['within_goal'] else 'a rerun is'} {verdict} the goal of "
              f"{GOAL_RERUN_S:.0f} s; wrote {target}")
        return 0 if figures["within_goal"] else 1
    environments = [e for e in load_environments()
                    if (e.id in args.env if args.env else e.default)]
    unknown = set(args.env) - {e.id for e in environments}
    if unknown:
        parser.error(f"unknown environment(s): {sorted(unknown)}")
    if args.main_job:
        out = Path(tempfile.mkdtemp(prefix="kcm-bench-main-"))
        try:
            figures = bench_main_job(environments, out, args.slice, args.jobs)
        finally:
            shutil.rmtree(out, ignore_errors=True)
        target = _write_figures(figures, args.output, "main_job.json")
        print(json.dumps({k: figures[k] for k in ("parallel_ratio", "rerun_ratio")}))
        print(f"wrote {target}")
        return 0
    from matrix.oracle.catalog import load_catalog

    modes = {c.id: str(c.axes.get("mode", c.mode)) for c in load_catalog().cases}
    started = time.perf_counter()
    out = Path(tempfile.mkdtemp(prefix="kcm-bench-")) if args.keep is None else args.keep
    out.mkdir(parents=True, exist_ok=True)
    try:
        envs = {e.id: bench_environment(e, out, args.naive_sample, args.seed)
                for e in environments}
        print("[report]", flush=True)
        report = measure([sys.executable, "-m", "matrix.report", "--runs", str(out / "runs"),
                          "--out", str(out / "reports")], os.environ)
    finally:
        if args.keep is None:
            shutil.rmtree(out, ignore_errors=True)
    ran = {k: v for k, v in envs.items() if "error" not in v}
    slowest = sorted(((s, env_id, case) for env_id, fig in ran.items()
                      for case, s in fig["seconds_per_case"].items()), reverse=True)[:10]
    result: dict[str, Any] = {
        "command": "python3 benchmarks/bench_matrix.py "
                   + " ".join(f"--env {e}" for e in args.env),
        "environments": {k: {key: value for key, value in v.items()
                             if key != "seconds_per_case"} for k, v in envs.items()},
        "report": {k: v for k, v in report.items() if k != "tail"},
        "per_case": {env_id: per_mode(fig, modes) for env_id, fig in ran.items()},
        "slowest": [{"seconds": round(s, 3), "environment": e, "case": c}
                    for s, e, c in slowest],
        "overhead_breakdown": {env_id: breakdown(fig) for env_id, fig in ran.items()},
        "overhead_ratio_all": round(
            sum(f["harness"]["wall_s"] for f in ran.values())
            / max(sum(f["bare_loop"]["wall_s"] for f in ran.values()), 1e-9), 3),
        "overhead_goal": GOAL_OVERHEAD,
        "overhead_within_goal": all(f["overhead_ratio"] <= GOAL_OVERHEAD
                                    for f in ran.values()),
        "total_s": round(time.perf_counter() - started, 1),
    }
    for fig in result["environments"].values():
        for part in fig.values():
            if isinstance(part, dict) and part.get("rc") == 0:
                part.pop("tail", None)
    target = _write_figures(result, args.output, RESULTS.name)
    print_table(result)
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
