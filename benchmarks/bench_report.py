"""Benchmark of report generation: a synthetic matrix of 5,000 cases × 12 environments.

Times the three renderers (`render_markdown`, `render_html`, `render_json`) on a matrix built
in memory (no run files read: `collect` is not timed) and measures the peak memory of the
process while rendering (`resource.getrusage` high-water mark, and the peak of Python
allocations from `tracemalloc` in a second, untimed pass). Budget: 3 s and 500 MB.
Writes `benchmarks/results/report.json` and prints the figures.

Run it: `python3 benchmarks/bench_report.py [--cases 5000] [--environments 12]`.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import resource
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from matrix.records import (
    SCHEMA_VERSION,
    CaseInfo,
    EnvironmentInfo,
    Matrix,
    Observation,
    Outcome,
    Result,
    Verdict,
)
from matrix.report import render_html, render_json, render_markdown

TIME_BUDGET_S = 3.0
MEMORY_BUDGET_MB = 500.0
DTYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
          "float16", "float32", "float64", "bool")
VALUES = ("in_range", "padded", "out_of_range", "negative", "fractional", "all_padding")
CONSUMERS = ("none", "SimpleRNN", "GRU", "LSTM", "GlobalAveragePooling1D")
LINK = "JAX's take fills out-of-bounds rows with NaN <https://docs.jax.dev/en/latest/>"


def synthetic_matrix(n_cases: int, n_envs: int, seed: int = 0) -> Matrix:
    """A matrix shaped like a real one: catalog-like axes, mostly passed, a few causes."""
    rng = random.Random(seed)
    backends = ("tensorflow", "jax", "torch")
    envs = [EnvironmentInfo(id=f"{backends[i % 3]}-{'cpu' if i % 2 == 0 else 'gpu'}-{i}",
                            backend=backends[i % 3], device="cpu" if i % 2 == 0 else "gpu",
                            ran=i < n_envs - 2,
                            versions={"keras": "3.15.1", "python": "3.11.7"},
                            provenance={"device_name": "cpu", "date": "2026-01-01",
                                        "git_commit": "0123456789abcdef" * 2})
            for i in range(n_envs)]
    cases = []
    for i in range(n_cases):
        dtype, values = DTYPES[i % len(DTYPES)], VALUES[(i // 12) % len(VALUES)]
        consumer = CONSUMERS[(i // 72) % len(CONSUMERS)]
        rank, mode = i % 4, ("eager", "predict")[(i // 7) % 2]
        call = f"Embedding(input_dim=10, output_dim=4)(np.array([[1, 2, {i % 13}]], " \
               f"dtype='{dtype}'))"
        if consumer != "none":
            call = f"{consumer}(units=3)({call})"
        if mode == "predict":
            call = f"keras.Model(Input -> Embedding(input_dim=10, output_dim=4)).predict(x{i})"
        cases.append(CaseInfo(
            id=f"synthetic-{i:05d}-rank{rank}-{dtype}-{values}-{consumer.lower()}-{mode}",
            group=f"family-{i % 9}", description=call,
            axes={"layer": "Embedding", "rank": rank, "input_dtype": dtype, "values": values,
                  "consumer": consumer, "mode": mode},
            expected="values" if values in ("in_range", "padded") else "error: out of range"))
    results = []
    for case in cases:
        for env in envs:
            if not env.ran:
                results.append(Result(case=case.id, environment=env.id,
                                      outcome=Outcome.NOT_RUN,
                                      observed=Observation(kind="not_run", message="no GPU"),
                                      verdict=Verdict(status="not_run", detail="no GPU")))
                continue
            draw = rng.random()
            if draw < 0.8:
                outcome, obs, limitation = Outcome.PASSED, Observation(
                    kind="value", shape=[2, 3, 4], dtype="float32", max_abs_error=0.0,
                    nan_count=0, device="cpu:0"), None
            elif draw < 0.9:
                outcome, obs, limitation = Outcome.XFAILED, Observation(
                    kind="value", shape=[2, 3, 4], dtype="float32",
                    max_abs_error=float("inf"), nan_count=4, device="cpu:0"), LINK
            elif draw < 0.97:
                bad = rng.randrange(10, 200)
                outcome, obs, limitation = Outcome.FAILED, Observation(
                    kind="error", error_type="InvalidArgumentError",
                    message=f"indices[1,{rng.randrange(3)}] = {bad} is not in [0, 10)"), None
            elif draw < 0.99:
                outcome, obs, limitation = Outcome.CRASHED, Observation(
                    kind="crash", message="Fatal Python error: Segmentation fault"), None
            else:
                outcome, obs, limitation = Outcome.TIMEOUT, Observation(
                    kind="timeout", message="Timeout (>60.0s) from pytest-timeout."), None
            status = {Outcome.PASSED: "matched", Outcome.CRASHED: "crashed",
                      Outcome.TIMEOUT: "timeout"}.get(outcome, "mismatched")
            results.append(Result(case=case.id, environment=env.id, outcome=outcome,
                                  observed=obs, duration_s=round(rng.random(), 4),
                                  verdict=Verdict(status=status),  # type: ignore[arg-type]
                                  limitation=limitation))
    return Matrix(schema_version=SCHEMA_VERSION, generated_at="2026-01-01T00:00:00+00:00",
                  environments=envs, cases=cases, results=results)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=5000)
    parser.add_argument("--environments", type=int, default=12)
    parser.add_argument("--output", type=Path,
                        default=Path(__file__).parent / "results" / "report.json")
    args = parser.parse_args()
    matrix = synthetic_matrix(args.cases, args.environments)
    timings = {}
    sizes = {}
    start = time.perf_counter()
    for name, render in (("md", render_markdown), ("html", render_html),
                         ("json", render_json)):
        t0 = time.perf_counter()
        text = render(matrix)
        timings[name] = round(time.perf_counter() - t0, 3)
        texts = text.values() if isinstance(text, dict) else [text]  # the JSON: several files
        sizes[name] = sum(len(t.encode("utf-8")) for t in texts)
        del text
    total = round(time.perf_counter() - start, 3)
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    tracemalloc.start()
    for render in (render_markdown, render_html, render_json):
        render(matrix)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    figures = {
        "cases": args.cases, "environments": args.environments,
        "cells": len(matrix.results),
        "seconds": timings, "seconds_total": total, "time_budget_s": TIME_BUDGET_S,
        "peak_rss_mb": round(peak_rss_mb, 1),
        "peak_python_alloc_mb_during_render": round(traced_peak / 2**20, 1),
        "memory_budget_mb": MEMORY_BUDGET_MB,
        "output_bytes": sizes,
        "python": platform.python_version(), "machine": platform.machine(),
        "within_budget": total <= TIME_BUDGET_S and peak_rss_mb <= MEMORY_BUDGET_MB,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(figures, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(figures, indent=1))
    return 0 if figures["within_budget"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
