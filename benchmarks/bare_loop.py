"""The catalog without the harness: a plain in-process loop over the same cases.

The baseline of `bench_matrix.py`'s overhead ratio. Run inside an environment's virtualenv
with `KERAS_BACKEND` set, it does per case what `matrix/run/test_cases.py::test_case` does (run
the case, compare with the NumPy reference, judge) and nothing else: no pytest, no xdist
worker, no report log, no per-case fixtures. Writes per-case seconds as JSON.

`python benchmarks/bare_loop.py --out FILE [--ids FILE]` (`--ids`: a JSON list of case ids;
by default the built-in catalog).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    """Runs the loop; returns 0."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--ids", type=Path, default=None)
    args = parser.parse_args()
    start = time.perf_counter()
    warnings.simplefilter("ignore")  # as the harness runs pytest: -W ignore
    from cases.model import KERAS_RUNNER
    from matrix.oracle.catalog import load_catalog
    from matrix.oracle.judge import judge
    from matrix.run.runner import NotApplicable, NotRun, observe

    wanted = set(json.loads(args.ids.read_text())) if args.ids else None
    cases = [c for c in load_catalog().cases if c.runner == KERAS_RUNNER
             and (wanted is None or c.id in wanted)]
    imported = time.perf_counter() - start
    seconds: dict[str, float] = {}
    verdicts: dict[str, str] = {}
    for case in cases:
        t0 = time.perf_counter()
        try:
            observation, want = observe(case)  # exactly what test_case runs and measures
        except (NotRun, NotApplicable):
            seconds[case.id] = time.perf_counter() - t0
            verdicts[case.id] = "not_run"
            continue
        verdict = judge(want, observation)
        seconds[case.id] = time.perf_counter() - t0
        verdicts[case.id] = verdict.status
    args.out.write_text(json.dumps({"import_and_catalog_s": imported, "seconds": seconds,
                                    "verdicts": verdicts}), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
