"""Check a user's saved model across backends: the first layer where they disagree, and why.

`nox -s check -- MODEL.keras INPUTS.npz [--environments tensorflow-cpu jax-cpu torch-cpu]`
runs `cases/check_model.py` in each environment's virtualenv (the `run` session's own,
`.nox/run-<environment>`, when its install stamp is there; otherwise `.nox/check-<environment>`
installed from the same pins file), which calls every layer of the model eagerly, in graph
order, and records its output and mask. This module compares them across backends, with no
NumPy reference: **backends agree within the dtype's tolerance** (`matrix.reference.TOLERANCES`,
kind `recurrent`: float32 1e-5, float16 1e-2, ...; integer and bool outputs and masks exactly).
A layer disagrees on `load` (the model loads on some backends only), `error` (raises on some,
or with another error type), `shape`, `dtype`, `NaN` (another NaN count), `values` (max abs
difference past the tolerance) or `mask`. The report (terminal, `check-<model>.md`,
`.html` and `.json` in the ignored `reports/local/check/`) names the first disagreeing layer,
how each backend behaved there, and the rows of the compatibility table
(`compatibility.json`: same layer class and input dtype, masked or not) that may explain it.

Bad input is refused before any backend runs, in one line with exit status 2: a file that is
not a `.keras` archive, inputs that do not match the model's inputs (names, count, rank or
fixed dimensions), a model holding custom objects without `--custom-objects module.py`, an
unknown environment.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from matrix.bisect import BisectError, ensure_virtualenv, harness_requirements
from matrix.environments import Environment, get_environment
from matrix.reference import TOLERANCES

ROOT = Path(__file__).resolve().parent.parent
LOCAL_CHECK_DIR = ROOT / "reports" / "local" / "check"
DEFAULT_ENVIRONMENTS = ("tensorflow-cpu", "jax-cpu", "torch-cpu")
WORKER_TIMEOUT_S = 900


class CheckError(ValueError):
    """Bad input: one line naming what to change."""


@dataclass(frozen=True, kw_only=True)
class LayerCheck:
    """One layer across backends.

    Attributes:
        name: the layer's name in the model.
        class_name: its Keras class, e.g. `Embedding`.
        input_dtype: the dtype of its first input, e.g. `int32` (from the first backend
            that reached it).
        mask_in: whether a mask came into it or came out of it (a masked layer).
        observed: environment id -> a few words (`value [3, 5, 4] float32, 4 NaN`,
            `raises IndexError: ...`, `not reached`).
        disagreements: how the backends differ here (`error`, `shape`, `dtype`, `NaN`,
            `values`, `mask`), with a detail each; empty when they agree.
    """

    name: str
    class_name: str
    input_dtype: str | None
    mask_in: bool
    observed: dict[str, str]
    disagreements: list[str] = field(default_factory=list)


# --- input checks ------------------------------------------------------------------------

def _walk(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        yield value
        for item in value.values():
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


def read_config(model: Path) -> dict[str, Any]:
    """The model's `config.json` from its `.keras` archive.

    Raises:
        CheckError: not a `.keras` archive.
    """
    if model.suffix != ".keras" or not model.is_file():
        raise CheckError(f"MODEL must be a .keras file (model.save('model.keras')). "
                         f"Received: {model}")
    try:
        with zipfile.ZipFile(model) as archive:
            return dict(json.loads(archive.read("config.json")))
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError, OSError) as exc:
        raise CheckError(f"MODEL is not a .keras archive with a config.json ({exc}); save it "
                         f"with model.save('model.keras'). Received: {model}") from None


def model_inputs(config: Mapping[str, Any]) -> list[tuple[str, list[int | None]]]:
    """(name, batch shape) of each `InputLayer` in the saved config, in file order."""
    found = []
    for item in _walk(config):
        if item.get("class_name") == "InputLayer" and isinstance(item.get("config"), dict):
            cfg = item["config"]
            shape = cfg.get("batch_shape") or cfg.get("batch_input_shape")
            if isinstance(shape, list):
                found.append((str(cfg.get("name")), shape))
    return found


def custom_classes(config: Mapping[str, Any]) -> list[str]:
    """Classes the config names from outside Keras (they need `--custom-objects`)."""
    names = []
    for item in _walk(config):
        # Keras's own objects are saved with their module (`keras.layers`); a user's class
        # with none, or its own, and a registered name such as `my_package>MyLayer`.
        module = str(item.get("module") or "")
        if "class_name" in item and "registered_name" in item and not module.startswith("keras"):
            names.append(str(item.get("registered_name") or item["class_name"]))
    return sorted(set(names))


def check_inputs(arrays: Mapping[str, np.ndarray[Any, Any]],
                 inputs: Sequence[tuple[str, list[int | None]]]) -> None:
    """Refuses inputs that do not fit the model's inputs.

    Raises:
        CheckError: another count, unknown names, another rank or fixed dimension.
    """
    names = [name for name, _ in inputs]
    if set(arrays) == set(names):
        pairs = [(name, arrays[name], shape) for name, shape in inputs]
    elif len(arrays) == len(inputs) and all(k.startswith("arr_") for k in arrays):
        pairs = [(name, arrays[key], shape)
                 for (name, shape), key in zip(inputs, sorted(arrays), strict=True)]
    else:
        raise CheckError(f"INPUTS must hold one array per model input, named {names} "
                         f"(np.savez(path, {names[0] if names else 'x'}=...)). "
                         f"Received: {sorted(arrays)}")
    for name, array, shape in pairs:
        fits = array.ndim == len(shape) and all(
            want is None or want == got for want, got in zip(shape, array.shape, strict=True))
        if not fits:
            wanted = tuple(shape)
            raise CheckError(f"INPUTS array {name!r} has shape {array.shape}; the model's "
                             f"input takes {wanted} (None: any size). "
                             f"Received: {name}.shape={array.shape}")


def load_inputs(path: Path) -> dict[str, np.ndarray[Any, Any]]:
    try:
        with np.load(path, allow_pickle=False) as data:
            if not isinstance(data, np.lib.npyio.NpzFile):
                raise ValueError("a .npy array, not an .npz archive")
            return {k: data[k] for k in data.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise CheckError(f"INPUTS must be an .npz file (np.savez(path, name=array)): {exc}. "
                         f"Received: {path}") from None


# --- running and comparing ---------------------------------------------------------------

def python_for(environment: Environment, given: Mapping[str, str]) -> Path:
    """The interpreter of the environment: given, the `run` session's, or one installed here."""
    if environment.id in given:
        return Path(given[environment.id])
    run = ROOT / ".nox" / f"run-{environment.id}"
    if (run / "kcm-install.stamp").exists() and (run / "bin" / "python").exists():
        return run / "bin" / "python"
    venv = ROOT / ".nox" / f"check-{environment.id}"
    pins = ["-r", str(environment.pins)] if environment.pins.exists() \
        else list(environment.requirements)
    ensure_virtualenv(venv, [*harness_requirements(), *pins], pre=environment.pre)
    return venv / "bin" / "python"


def run_worker(python: Path, environment: Environment, model: Path, inputs: Path,
               out: Path, custom: Path | None) -> dict[str, Any]:
    """Runs `cases/check_model.py` in one environment; returns what it observed."""
    command = [str(python), "-m", "cases.check_model", str(model), str(inputs),
               "--out", str(out), *(["--custom-objects", str(custom)] if custom else [])]
    env = {**os.environ, **environment.variables(), "PYTHONPATH": str(ROOT)}
    try:
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=WORKER_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        return {"load_error": f"ran past {WORKER_TIMEOUT_S} s", "layers": []}
    result = out / "observed.json"
    if not result.exists():
        lines = (done.stderr or done.stdout).strip().splitlines() or ["no output"]
        return {"load_error": f"the check crashed (exit {done.returncode}): {lines[-1][:300]}",
                "layers": []}
    return dict(json.loads(result.read_text(encoding="utf-8")))


def _words(record: Mapping[str, Any] | None) -> str:
    if record is None:
        return "no such layer"
    if record["kind"] == "not_reached":
        return "not reached (an earlier layer raised)"
    if record["kind"] == "error":
        return f"raises {record['error_type']}: {record.get('message') or ''}".strip()
    shapes = "; ".join(f"{s} {d}" for s, d in zip(record["shape"], record["dtype"], strict=True))
    nan = sum(record["nan_count"])
    mask = f", mask {record['mask_shape']}" if record.get("mask_shape") else ""
    return f"value {shapes}" + (f", {nan} NaN" if nan else "") + mask


def _tolerance(dtype: str) -> float:
    return TOLERANCES["recurrent"].get(dtype, 0.0)


def compare(observed: Mapping[str, Mapping[str, Any]],
            values: Mapping[str, Mapping[str, np.ndarray[Any, Any]]]) -> list[LayerCheck]:
    """Every layer across the environments that loaded the model, in graph order.

    Args:
        observed: environment id -> `observed.json` of `cases/check_model.py`.
        values: environment id -> its arrays (`out|<layer>|<i>`, `mask|<layer>`).
    """
    loaded = [e for e, o in observed.items() if not o.get("load_error")]
    rows: list[LayerCheck] = []
    if len(loaded) != len(observed):
        rows.append(LayerCheck(
            name="(load)", class_name="load_model", input_dtype=None, mask_in=False,
            observed={e: (f"cannot load: {o['load_error']}" if o.get("load_error")
                          else "loads") for e, o in observed.items()},
            disagreements=["load: the model loads on " + (", ".join(loaded) or "no backend")]))
    if not loaded:
        return rows
    names = list(dict.fromkeys(r["name"] for e in loaded for r in observed[e]["layers"]))
    for name in names:
        records = {e: next((r for r in observed[e]["layers"] if r["name"] == name), None)
                   for e in loaded}
        first = next(r for r in records.values() if r is not None)
        reached = {e: r for e, r in records.items() if r is not None and r["kind"] == "value"}
        kinds = {e: (r["kind"], r.get("error_type")) if r else ("missing", None)
                 for e, r in records.items()}
        diffs = []
        unreached = [e for e, k in kinds.items() if k[0] == "not_reached"]
        if unreached and len(unreached) < len(kinds):
            diffs.append(f"error: not reached on {', '.join(unreached)} (an earlier layer "
                         "raised there)")
        elif len(set(kinds.values())) > 1:
            diffs.append("error: " + ", ".join(f"{e} {k[1] or k[0]}" for e, k in kinds.items()))
        diffs += _value_diffs(name, reached, values)
        input_dtype = next((r.get("input_dtype") for r in records.values()
                            if r and r.get("input_dtype")), None)
        rows.append(LayerCheck(name=name, class_name=first["class_name"],
                               input_dtype=input_dtype,
                               mask_in=any(r.get("mask_in") or r.get("mask_shape")
                                           for r in reached.values()),
                               observed={e: _words(r) for e, r in records.items()},
                               disagreements=diffs))
    return rows


def _value_diffs(name: str, reached: Mapping[str, Mapping[str, Any]],
                 values: Mapping[str, Mapping[str, np.ndarray[Any, Any]]]) -> list[str]:
    if len(reached) < 2:
        return []
    diffs = []
    for what in ("shape", "dtype"):
        if len({json.dumps(r[what]) for r in reached.values()}) > 1:
            diffs.append(f"{what}: " + ", ".join(f"{e} {r[what]}" for e, r in reached.items()))
    nans = {e: sum(r["nan_count"]) for e, r in reached.items()}
    if len(set(nans.values())) > 1:
        diffs.append("NaN: " + ", ".join(f"{e} {n}" for e, n in nans.items()))
    if diffs:
        return diffs
    envs = list(reached)
    base = envs[0]
    for i, dtype in enumerate(reached[base]["dtype"]):
        key = f"out|{name}|{i}"
        for other in envs[1:]:
            a, b = values[base].get(key), values[other].get(key)
            if a is None or b is None:
                continue
            if a.dtype.kind in "fc":
                both_nan = np.isnan(a) & np.isnan(b)
                error = np.where(both_nan, 0.0, np.abs(a.astype(np.float64) - b))
                worst = float(np.nanmax(error)) if error.size else 0.0
            else:
                worst = 0.0 if np.array_equal(a, b) else float("inf")
            if worst > _tolerance(dtype):
                diffs.append(f"values: {base} and {other} differ by {worst:.3g} "
                             f"(tolerance {_tolerance(dtype):g} for {dtype})")
    masks = {e: values[e].get(f"mask|{name}") for e in envs}
    present = {e: m is not None for e, m in masks.items()}
    if len(set(present.values())) > 1:
        diffs.append("mask: " + ", ".join(f"{e} {'a mask' if p else 'no mask'}"
                                          for e, p in present.items()))
    elif all(present.values()):
        first = masks[base]
        differing = [e for e in envs[1:] if not np.array_equal(
            np.asarray(first), np.asarray(masks[e]))]
        if differing:
            diffs.append(f"mask: {', '.join(differing)} differ from {base}")
    return diffs


def explaining_rows(layer: LayerCheck, compatibility: Path | None) -> list[str]:
    """Rows of the compatibility table for the same layer class and input dtype where some
    environment did not pass, one line each (at most 8): those masked or not as this layer
    first, then the others (an out-of-range id is a case of its own, with or without mask)."""
    if layer.class_name == "load_model" or compatibility is None or not compatibility.exists():
        return []
    try:
        data = json.loads(compatibility.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return []
    subject = f"layers.{layer.class_name}"
    wanted = {c["id"]: c for c in data.get("cases", [])
              if c.get("axes", {}).get("subject") == subject
              and c.get("axes", {}).get("input_dtype") in (None, layer.input_dtype)}
    same_mask = {case for case, c in wanted.items()
                 if (c.get("axes", {}).get("mask", "none") != "none") == layer.mask_in}
    by_case: dict[str, list[str]] = {}
    for result in data.get("results", []):
        if result.get("case") in wanted and result.get("outcome") not in ("passed", "not_run"):
            seen = result.get("observed") or {}
            what = seen.get("error_type") or (f"{seen.get('nan_count')} NaN"
                                              if seen.get("nan_count") else seen.get("kind"))
            by_case.setdefault(result["case"], []).append(
                f"{result['environment']} {result['outcome']} ({what})")
    ordered = sorted(by_case, key=lambda case: case not in same_mask)
    return [f"{case}: {'; '.join(by_case[case])}" for case in ordered[:8]]


# --- reports -----------------------------------------------------------------------------

def summary(rows: Sequence[LayerCheck]) -> str:
    first = next((r for r in rows if r.disagreements), None)
    if first is None:
        return f"the backends agree on every layer ({len(rows)} layers)"
    return f"first disagreement: layer {first.name!r} ({first.class_name}): " + \
        "; ".join(first.disagreements)


def render_markdown(model: str, rows: Sequence[LayerCheck], envs: Sequence[str],
                    explain: Sequence[str]) -> str:
    from tabulate import tabulate

    def cell(text: str) -> str:
        return text.replace("|", "/").replace("<", "&lt;").replace("\n", " ")

    table = tabulate([[cell(r.name), r.class_name, *[cell(r.observed.get(e, "")) for e in envs],
                       cell("; ".join(r.disagreements)) or "agree"] for r in rows],
                     headers=["layer", "class", *envs, "backends"], tablefmt="github")
    lines = [f"# Check of `{cell(model)}` across backends", "", cell(summary(rows)), "",
             table, ""]
    if explain:
        lines += ["## Rows of the compatibility table that may explain it", "",
                  *[f"- {cell(line)}" for line in explain], ""]
    return "\n".join(lines)


_HTML = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Check of {{ model }}</title><style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 16px; }
table { border-collapse: collapse; } td, th { border: 1px solid #d0d7de; padding: 4px 8px;
vertical-align: top; } tr.differ td { background: #fff8c5; } .agree { color: #1a7f37; }
</style></head><body><h1>Check of <code>{{ model }}</code> across backends</h1>
<p><strong>{{ headline }}</strong></p><table><thead><tr><th>layer</th><th>class</th>
{% for e in envs %}<th>{{ e }}</th>{% endfor %}<th>backends</th></tr></thead><tbody>
{% for r in rows %}<tr{% if r.disagreements %} class="differ"{% endif %}><td>{{ r.name }}</td>
<td>{{ r.class_name }}</td>{% for e in envs %}<td>{{ r.observed.get(e, "") }}</td>{% endfor %}
<td>{% if r.disagreements %}{{ r.disagreements | join("; ") }}{% else %}<span class="agree">agree
</span>{% endif %}</td></tr>{% endfor %}</tbody></table>
{% if explain %}<h2>Rows of the compatibility table that may explain it</h2><ul>
{% for line in explain %}<li>{{ line }}</li>{% endfor %}</ul>{% endif %}
<p>Generated by <code>nox -s check</code>.</p></body></html>
"""


def render_html(model: str, rows: Sequence[LayerCheck], envs: Sequence[str],
                explain: Sequence[str]) -> str:
    from jinja2 import Environment as Jinja

    template = Jinja(autoescape=True).from_string(_HTML)
    return template.render(model=model, rows=rows, envs=envs, explain=explain,
                           headline=summary(rows))


# --- command line ------------------------------------------------------------------------

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
    """Checks every input before a backend runs.

    Raises:
        CheckError: see the module docstring.
    """
    try:
        environments = [get_environment(e) for e in args.environments]
    except KeyError as exc:
        raise CheckError(f"--environments: {exc.args[0]}") from None
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


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m matrix.check MODEL.keras INPUTS.npz [...]`; exit 2 on bad input."""
    args = _arguments(argv)
    try:
        environments, given = plan(args)
        pythons = {e.id: python_for(e, given) for e in environments}
    except (CheckError, BisectError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stem = args.model.stem
    work = args.output / f".work-{stem}"
    observed: dict[str, dict[str, Any]] = {}
    values: dict[str, dict[str, np.ndarray[Any, Any]]] = {}
    for environment in environments:
        print(f"check: {environment.id}: running {args.model.name}", file=sys.stderr,
              flush=True)
        out = work / environment.id
        (out / "observed.json").unlink(missing_ok=True)
        observed[environment.id] = run_worker(pythons[environment.id], environment,
                                              args.model.resolve(), args.inputs.resolve(),
                                              out, args.custom_objects)
        npz = out / "values.npz"
        values[environment.id] = dict(np.load(npz)) if npz.exists() else {}
    rows = compare(observed, values)
    compat = args.compatibility or next(
        (p for p in (ROOT / "reports" / "local" / "compatibility.json",
                     ROOT / "reports" / "compatibility.json") if p.exists()), None)
    first = next((r for r in rows if r.disagreements), None)
    explain = explaining_rows(first, compat) if first else []
    envs = [e.id for e in environments]
    markdown = render_markdown(args.model.name, rows, envs, explain)
    print(markdown)
    args.output.mkdir(parents=True, exist_ok=True)
    base = args.output / f"check-{stem}"
    Path(f"{base}.md").write_text(markdown, encoding="utf-8")
    Path(f"{base}.html").write_text(render_html(args.model.name, rows, envs, explain),
                                    encoding="utf-8")
    Path(f"{base}.json").write_text(json.dumps({
        "model": str(args.model), "environments": envs, "summary": summary(rows),
        "first_disagreement": first.name if first else None,
        "layers": [asdict(r) for r in rows], "compatibility_rows": explain,
        "versions": {e: {"keras": o.get("keras"), "backend": o.get("backend")}
                     for e, o in observed.items()}}, indent=1), encoding="utf-8")
    print(f"wrote {base}.md, .html, .json", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
