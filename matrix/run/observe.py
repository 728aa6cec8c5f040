"""Runs one case of the catalog in this process and prints its observation and verdict.

What `nox -s bisect` runs in each Keras release it tries (`matrix/bisect/`), with
`KERAS_BACKEND` and the environment's variables set: the case's program
(`matrix.run.runner.observe`, the very source published as its repro) and the raw verdict
against the NumPy reference (`matrix.oracle.judge.judge`), as a `run` records them. The last
line printed is one JSON object: `{"keras": "3.9.0", "observation": {...}, "verdict": {...}}`, or
`{"not_run": "reason"}` when this release cannot run the case (Keras cannot be imported with
the pinned backend, the case cannot run here, or the harness itself fails on this release).

    python -m matrix.run.observe CASE_ID [--catalog PATH ...]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence

from pydantic_core import to_json


def _print(payload: dict[str, object]) -> None:
    sys.stdout.write("\n" + to_json(payload, inf_nan_mode="strings").decode() + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Prints the result line; returns 0 (a case's failure is data), 2 on an unknown id."""
    parser = argparse.ArgumentParser(prog="python -m matrix.run.observe")
    parser.add_argument("case")
    parser.add_argument("--catalog", action="append", default=[])
    args = parser.parse_args(argv)
    try:
        import keras
    except Exception as exc:  # an old Keras with a new backend (or the reverse)
        _print({"not_run": f"import keras failed: {type(exc).__name__}: "
                           f"{str(exc).splitlines()[0] if str(exc) else ''}"})
        return 0
    from cases.model import KERAS_RUNNER
    from matrix.oracle.catalog import load_catalog

    catalog = load_catalog(args.catalog)
    case = next((c for c in catalog.cases if c.id == args.case), None)
    if case is None:
        print(f"error: no case {args.case!r} in the catalog", file=sys.stderr)
        return 2
    if case.runner != KERAS_RUNNER:
        _print({"not_run": f"the case uses the test-only runner {case.runner!r}"})
        return 0
    from matrix.oracle.judge import judge
    from matrix.run.runner import NotApplicable, NotRun, observe

    try:
        observation, want = observe(case)
    except (NotRun, NotApplicable) as reason:
        _print({"not_run": f"{type(reason).__name__}: {reason}"})
        return 0
    except Exception as exc:  # the harness cannot drive this release (an API it lacks)
        _print({"not_run": f"the harness failed on Keras {keras.version()}: "
                           f"{type(exc).__name__}: {exc}"})
        return 0
    verdict = judge(want, observation)
    if verdict.status == "harness_error":  # a HarnessError observation: not Keras's answer
        _print({"not_run": f"the harness failed on Keras {keras.version()}: "
                           f"{observation.message or verdict.detail or ''}"})
        return 0
    _print({"keras": keras.version(), "observation": dataclasses.asdict(observation),
            "verdict": dataclasses.asdict(verdict)})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
