"""`python -m matrix.check MODEL.keras INPUTS.npz [...]` (`nox -s check -- ...`): the inputs
checked, the model run in each environment, compared, and the reports written."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from matrix.bisect import BisectError
from matrix.check import workers
from matrix.check.compare import compare, explaining_rows, loads_nowhere
from matrix.check.inputs import (
    CheckError,
    check_inputs,
    custom_classes,
    load_inputs,
    model_inputs,
    plain,
    read_config,
)
from matrix.check.render import render_html, render_markdown, summary
from matrix.check.workers import ROOT
from matrix.environments import Environment, get_environment

LOCAL_CHECK_DIR = ROOT / "reports" / "local" / "check"
DEFAULT_ENVIRONMENTS = ("tensorflow-cpu", "jax-cpu", "torch-cpu")


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="nox -s check --",
                                     description="Check a saved model across backends.")
    parser.add_argument("model", type=Path)
    parser.add_argument("inputs", type=Path)
    parser.add_argument("--environments", nargs="+", default=list(DEFAULT_ENVIRONMENTS))
    parser.add_argument("--custom-objects", type=Path, default=None, metavar="MODULE.py")
    parser.add_argument("--output", type=Path, default=LOCAL_CHECK_DIR, metavar="DIR")
    parser.add_argument("--compatibility", type=Path, default=None, metavar="JSON",
                        help="the compatibility.json to explain with (default the local "
                             "report's, else the published one)")
    parser.add_argument("--python", action="append", default=[], metavar="ENV=PATH",
                        help="the interpreter of an environment (default its run virtualenv)")
    return parser.parse_args(argv)


def plan(args: argparse.Namespace) -> tuple[list[Environment], dict[str, str]]:
    """Checks every input before a backend runs (the custom objects are imported in
    `check_custom_objects`, once an interpreter is known).

    Raises:
        CheckError: see the module docstring.
    """
    try:
        environments = [get_environment(e) for e in dict.fromkeys(args.environments)]
    except KeyError as exc:
        raise CheckError(f"--environments: {exc.args[0]}") from None
    if len(environments) < 2:
        raise CheckError("--environments must name two or more distinct environments (one "
                         "backend compared with itself cannot disagree). Received: "
                         f"{' '.join(args.environments)}")
    if not args.model.exists():
        raise CheckError(f"MODEL: no such file. Received: {args.model}")
    config = read_config(args.model)
    custom = custom_classes(config)
    if custom and args.custom_objects is None:
        raise CheckError(f"the model holds custom objects ({', '.join(custom)}); pass "
                         "--custom-objects module.py defining them")
    if args.custom_objects is not None and not args.custom_objects.is_file():
        raise CheckError(f"--custom-objects must be a Python file. "
                         f"Received: {args.custom_objects}")
    check_inputs(load_inputs(args.inputs), model_inputs(config))
    given = dict(item.split("=", 1) for item in args.python if "=" in item)
    return environments, given


#: Exit statuses of `main`: the backends agree, disagree, bad input (one line, nothing run),
#: the model loads on no backend (nothing compared; the report says why).
AGREE, DISAGREE, BAD_INPUT, LOADS_NOWHERE = 0, 1, 2, 3


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m matrix.check MODEL.keras INPUTS.npz [...]`.

    Returns:
        0 the backends agree on every layer, 1 they disagree somewhere, 2 bad input (one
        line on stderr, no backend run, nothing written), 3 the model loads on no backend.
    """
    args = _arguments(argv)
    try:
        environments, given = plan(args)
        pythons = {e.id: workers.python_for(e, given) for e in environments}
        if args.custom_objects is not None:
            workers.check_custom_objects(pythons[environments[0].id], environments[0],
                                         args.custom_objects)
    except (CheckError, BisectError) as exc:
        # The message may quote the model (its custom class names): one clean line.
        print(f"error: {plain(exc, 2000)}", file=sys.stderr)
        return BAD_INPUT
    stem = args.model.stem
    work = args.output / f".work-{stem}"
    observed: dict[str, dict[str, Any]] = {}
    values: dict[str, dict[str, np.ndarray[Any, Any]]] = {}
    for environment in environments:
        print(f"check: {environment.id}: running {plain(args.model.name)}", file=sys.stderr,
              flush=True)
        out = work / environment.id
        (out / "observed.json").unlink(missing_ok=True)
        observed[environment.id] = workers.run_worker(
            pythons[environment.id], environment, args.model.resolve(),
            args.inputs.resolve(), out, args.custom_objects)
        npz = out / "values.npz"
        values[environment.id] = dict(np.load(npz)) if npz.exists() else {}
    shutil.rmtree(work, ignore_errors=True)  # read: the report is what stays
    rows = compare(observed, values)
    compat = args.compatibility or next(
        (p for p in (ROOT / "reports" / "local" / "compatibility.json",
                     ROOT / "reports" / "compatibility.json") if p.exists()), None)
    first = next((r for r in rows if r.disagreements), None)
    explain = explaining_rows(first, compat) if first else []
    envs = [e.id for e in environments]
    print(render_markdown(args.model.name, rows, envs, explain, terminal=True))
    args.output.mkdir(parents=True, exist_ok=True)
    base = args.output / f"check-{stem}"
    Path(f"{base}.md").write_text(render_markdown(args.model.name, rows, envs, explain),
                                  encoding="utf-8")
    Path(f"{base}.html").write_text(render_html(args.model.name, rows, envs, explain),
                                    encoding="utf-8")
    Path(f"{base}.json").write_text(json.dumps({
        "model": str(args.model), "environments": envs, "summary": summary(rows),
        "first_disagreement": first.name if first else None,
        "layers": [asdict(r) for r in rows], "compatibility_rows": explain,
        "versions": {e: {"keras": o.get("keras"), "backend": o.get("backend")}
                     for e, o in observed.items()}}, indent=1), encoding="utf-8")
    print(f"wrote {plain(base, 2000)}.md, .html, .json", file=sys.stderr)
    if loads_nowhere(rows):
        return LOADS_NOWHERE
    return DISAGREE if first else AGREE
