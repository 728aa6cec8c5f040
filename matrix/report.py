"""The report: every run file folded into the matrix, rendered as Markdown, HTML and JSON.

This module owns the step after the runs: `collect` reads `reports/runs/*.json` (a file that
cannot be used becomes a problem shown at the top of every format, never a crash), and the
renderers turn the `Matrix` into

- `compatibility.json`: the contract (schema_version 1) plus a `generator` line;
- `compatibility.md`: environments, divergences, error clusters, pivots per axis and the
  grid, as tables a code host renders and that stay aligned in the raw text;
- `compatibility.html`: one offline page (inline CSS and vanilla JS, no CDN, no server):
  the grid with filters (environment, backend, device, group, every case axis, outcome,
  error cluster), the divergences and silent-divergences views, pivots linked to the
  filtered grid, and a detail panel per cell with the observation, the limitation and a
  repro snippet;
- a rich summary table for the terminal.

Every outcome is shown as a word, with colour or a symbol beside it, never colour alone.
Strings that come from the runs (error messages are written by backends) are untrusted:
Jinja2 autoescapes the HTML, the embedded JSON escapes `<`, `>` and `&`, and the detail panel
sets `textContent` only.

Run it as `python -m matrix.report [--runs reports/runs] [--out reports]`, or `nox -s report`.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pydantic_core
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from cases.limitations import Limitation
from cases.model import check_case_id
from cases.subjects import SUBJECTS
from matrix import atomic
from matrix.minimal import minimal_header, minimal_repro
from matrix.records import ExpectedAnswer
from matrix.results import (
    MATCHED,
    MATRIX_ADAPTER,
    RAN,
    CaseInfo,
    EnvironmentInfo,
    Matrix,
    Outcome,
    Result,
    Run,
    RunFileError,
    clean_message,
    combine_shards,
    divergent_cases,
    load_run,
    merge_runs,
    shard_of,
    silent_divergences,
)
from matrix.results.partial import fold_partials, future_date
from matrix.results.triage import (
    apply_limitations,
    catalog_limitations,
    host_flags,
    recorded_catalogs,
)
from matrix.table import Behaviour, CompatibilityTable, Header, compatibility_table
from matrix.table import short_expected as short_expected

GENERATOR = "python -m matrix.report (regenerate with `nox -s report`)"
REGENERATE = "nox -s report"
REPORT_NAMES = ("compatibility.md", "compatibility.html", "compatibility.json")

# A symbol beside every word, so no outcome is told by colour alone.
SYMBOLS: dict[Outcome, str] = {
    Outcome.PASSED: "✅",
    Outcome.FAILED: "❌",
    Outcome.XFAILED: "⚠️",
    Outcome.XPASSED: "❗",
    Outcome.SKIPPED: "⏭",
    Outcome.ERROR: "🚧",
    Outcome.CRASHED: "💥",
    Outcome.TIMEOUT: "⏱",
    Outcome.NOT_RUN: "➖",  # noqa: RUF001 - a symbol, not a minus sign
    Outcome.AGREED: "🤝",
    Outcome.DISAGREED: "🔀",
    Outcome.UNJUDGED: "❔",
}
MEANINGS: dict[Outcome, str] = {
    Outcome.PASSED: "ran and matched the NumPy reference",
    Outcome.FAILED: "ran and differed from the reference; no limitation covers it",
    Outcome.XFAILED: "differed, as a declared limitation says it does",
    Outcome.XPASSED: "a limitation says it differs, but it matched: the limitation is stale",
    Outcome.SKIPPED: "not applicable in this environment",
    Outcome.ERROR: "the harness broke (setup, teardown, or no result recorded)",
    Outcome.CRASHED: "the process died while running the case",
    Outcome.TIMEOUT: "the case ran past its time limit and was ended",
    Outcome.NOT_RUN: "the environment did not run (no GPU, no run file)",
    Outcome.AGREED: "no reference (a call no record models); every backend that ran it "
                    "answered alike: they agree, which is not to say they are right",
    Outcome.DISAGREED: "no reference; the backends answered differently (values, dtype, "
                       "shape or error type): a divergence, shown without a verdict",
    Outcome.UNJUDGED: "no reference, and no other environment answered: nothing to compare",
}
# Terminal colours (rich styles); the HTML colours live in the template's CSS.
STYLES: dict[Outcome, str] = {
    Outcome.PASSED: "green",
    Outcome.FAILED: "bold red",
    Outcome.XFAILED: "yellow",
    Outcome.XPASSED: "magenta",
    Outcome.SKIPPED: "dim",
    Outcome.ERROR: "dark_orange",
    Outcome.CRASHED: "bold white on red",
    Outcome.TIMEOUT: "orange3",
    Outcome.NOT_RUN: "dim",
    Outcome.AGREED: "cyan",
    Outcome.DISAGREED: "bold blue",
    Outcome.UNJUDGED: "dim cyan",
}
# The distribution that carries each backend's version, first found wins.
BACKEND_DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "tensorflow": ("tensorflow", "tensorflow-cpu"),
    "jax": ("jax", "jaxlib"),
    "torch": ("torch",),
    "numpy": ("numpy",),
    "openvino": ("openvino",),
}
EXPECTED_WIDTH = 72  # the Markdown cluster table cuts messages; the HTML keeps them whole
INFERENCE_NOTE = (
    "Keras cannot train on the {backends} (fit raises NotImplementedError there) and "
    "jit_compile changes nothing, so those cells are skipped with the reason; every other "
    "mode runs and is judged like the other columns, and the models saved under TensorFlow, "
    "JAX and PyTorch are loaded there (save-load).")
PASS_NOTE = ("`cells` counts what the cells did, not a score: `match` is `passed` and `xpassed` "
             "(the reference's answer), `differ` is `failed` and `xfailed` (another answer; "
             "`unexplained`: no limitation covers it); `skipped`, `error` and `not_run` cells "
             "did not answer, and `agreed`, `disagreed` and `unjudged` ones have no reference.")


# --- reading --------------------------------------------------------------------------------

def inference_only_ids(envs: Sequence[EnvironmentInfo]) -> list[str]:
    """The environments whose backend axes.toml marks `inference_only` (NumPy, OpenVINO)."""
    from matrix.environments import inference_only_backends

    only = inference_only_backends()
    return [e.id for e in envs if e.backend in only]


def inference_note(envs: Sequence[EnvironmentInfo]) -> str | None:
    """What inference-only means for those columns, or None where no column is one."""
    ids = set(inference_only_ids(envs))
    backends = list(dict.fromkeys(e.backend for e in envs if e.id in ids))
    if not backends:
        return None
    plural = "backends" if len(backends) > 1 else "backend"
    return INFERENCE_NOTE.format(backends=f"{' and '.join(backends)} {plural}")


def declared_environments() -> list[EnvironmentInfo]:
    """Every environment of `matrix/axes.toml`, as a column that has not run yet."""
    from matrix.environments import load_environments

    return [EnvironmentInfo(id=e.id, backend=e.backend, device=e.device, ran=False,
                            channel=e.channel) for e in load_environments()]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _skip(path: Path, problem: str, why: str, problems: list[str],
          declared: dict[str, EnvironmentInfo], groups: Mapping[str, object]) -> None:
    """Lists a run file that is skipped; its environment, if no other file of it was read,
    says why it has no column ("its run file X <why> (see problems)")."""
    problems.append(problem)
    stem = path.name.split(".")[0]
    if stem in declared and stem not in groups:
        declared[stem] = replace(declared[stem],
                                 reason=f"its run file {path.name} {why} (see problems)")


def judged_beside_catalogs(env_id: str, run: Run) -> list[str]:
    """A note per run (or merged partial run) whose cells were judged in a process that
    loaded user catalogs (`provenance.user_catalogs`): a catalog's import runs code beside
    the built-in cases it was run with (`matrix/run/cache.py` keys such cells apart)."""
    provenance = run.environment.provenance
    partials = provenance.get("partials")
    sources: list[tuple[Any, object]] = [(provenance.get("user_catalogs"), len(run.results))]
    sources += [(p.get("user_catalogs"), p.get("cells")) for p in
                (partials if isinstance(partials, list) else []) if isinstance(p, dict)]
    notes = []
    for catalogs, cells in sources:
        paths = [str(c.get("path")) for c in catalogs if isinstance(c, dict)] \
            if isinstance(catalogs, list) else []
        if paths:
            notes.append(f"{env_id}: {cells} cells were judged in a process that loaded the "
                         f"user catalog(s) {', '.join(paths)}; their import ran code beside "
                         "the built-in cases of that run")
    return notes


def collect(runs_dir: Path, environments: Sequence[EnvironmentInfo] | None = None,
            now: str | None = None, limitations: Sequence[Limitation] | None = None,
            user_catalogs: Sequence[str | Path] = (), *,
            clock: datetime | None = None) -> Matrix:
    """Reads every run file of `runs_dir` and merges them into the matrix.

    A file that cannot be used (unreadable, truncated, invalid, dated in the future, or a
    second file for an environment) is skipped and becomes a message in `Matrix.problems`
    naming the file and the field; every other environment still renders, and the
    environment whose file was skipped shows as `not_run` with that reason.

    Args:
        runs_dir: the folder of run files, `reports/runs`.
        environments: the declared columns, in order; by default those of
            `matrix/axes.toml`. An environment with no usable run file is `not_run`.
        now: the `generated_at` time stamp; by default the current UTC time.
        limitations: joined to the raw verdicts (`matrix.triage`), exactly these; by
            default those of `cases/limitations.py`, then those of the user catalogs:
            `user_catalogs` and each the run files recorded that still exists
            (`matrix.triage.catalog_limitations`; one that does not is a problem).
        user_catalogs: user case modules (`--catalog`) whose `LIMITATIONS` are joined too.
        clock: the current time, which no run file's date may pass by more than
            `matrix.results.partial.CLOCK_SKEW_S` (`future_date`); by default this machine's clock.

    Returns:
        The matrix, problems included.
    """
    clock = clock or datetime.now(UTC)
    problems: list[str] = []
    if environments is None:
        try:
            environments = declared_environments()
        except ValueError as exc:  # AxesError: still render whatever runs exist
            problems.append(f"matrix/axes.toml: {exc}")
            environments = []
    declared = {e.id: e for e in environments}
    groups: dict[str, list[tuple[Path, Run]]] = {}
    for path in sorted(runs_dir.glob("*.json")):
        try:
            run = load_run(path)
        except RunFileError as exc:
            _skip(path, f"{exc} This file was skipped.", "could not be used", problems,
                  declared, groups)
            continue
        unsafe = unsafe_name(run)
        if unsafe is not None:
            problems.append(f"{path}: {unsafe}; such a name could split a table or reach a "
                            "repro snippet's code. This file was skipped.")
            continue
        future = future_date(path, run, clock)
        if future is not None:  # it would win every merge (newest wins) for ever
            _skip(path, f"{future} This file was skipped.", "is dated in the future",
                  problems, declared, groups)
            continue
        claimed = _named_for_another(path, run, declared)
        if claimed is not None:
            problems.append(claimed)
            declared[path.name.split(".")[0]] = replace(
                declared[path.name.split(".")[0]],
                reason=f"its run file {path.name} holds another environment (see problems)")
            continue
        groups.setdefault(run.environment.id, []).append((path, run))
    runs: dict[str, tuple[Path, Run]] = {}
    for env_id, files in groups.items():
        files, notes = fold_partials(env_id, files)  # issue 12: slices beside full runs
        problems.extend(notes)
        shards = [f for f in files if f[1].environment.provenance.get("shard")]
        if shards:
            problems.extend(missing_shards(env_id, shards))
        if len(files) > 1 and len(shards) == len(files):
            try:
                runs[env_id] = (files[0][0], combine_shards(files))
            except RunFileError as exc:
                problems.append(f"{exc} These shards were skipped.")
                if env_id in declared:
                    declared[env_id] = replace(
                        declared[env_id], reason="its shard files are inconsistent (see problems)")
            continue
        runs[env_id] = files[0]
        for path, _ in files[1:]:
            problems.append(
                f"{path}: field `environment.id` is {env_id!r}, which {files[0][0].name} "
                f"already holds; one run file per environment. This file was skipped.")
    for env_id, (_, run) in runs.items():
        problems.extend(judged_beside_catalogs(env_id, run))
    catalogs = {str(run.environment.provenance.get("catalog", {}).get("fingerprint"))
                for _, run in runs.values() if run.environment.provenance.get("catalog")}
    if len(catalogs) > 1:
        problems.append(
            "the run files were made from different catalog versions (fingerprints "
            f"{', '.join(sorted(catalogs))}); a case missing from a run shows as not_run there. "
            "Rerun the older environments to compare like with like.")
    if limitations is None:
        limitations, notes = catalog_limitations(
            [*user_catalogs, *recorded_catalogs(run for _, run in runs.values())])
        problems.extend(notes)
    columns = [declared[e.id] for e in environments]
    merged = merge_runs([run for _, run in runs.values()], columns, now or _now(), problems)
    return apply_limitations(merged, limitations)


def _named_for_another(path: Path, run: Run, declared: Mapping[str, EnvironmentInfo]
                       ) -> str | None:
    """A problem when a file named for a declared environment holds another one's run.

    `torch-cpu.json` holding `jax-cpu` would otherwise take over the jax-cpu column.
    """
    stem = path.name.split(".")[0]
    if stem in declared and stem != run.environment.id:
        return (f"{path}: field `environment.id` is {run.environment.id!r}, but the file is "
                f"named for {stem!r}. This file was skipped.")
    return None


def missing_shards(env_id: str, shards: Sequence[tuple[Path, Run]]) -> list[str]:
    """A problem when an environment's shard files do not cover every shard of its count.

    A lone `1-of-3` file would otherwise show as a complete run.
    """
    counts = {shard_of(run.environment).count for _, run in shards}
    if len(counts) != 1:
        return []  # combine_shards names the differing counts
    count = counts.pop()
    have = {shard_of(run.environment).index for _, run in shards}
    missing = [f"{i}/{count}" for i in range(1, count + 1) if i not in have]
    if not missing:
        return []
    names = ", ".join(p.name for p, _ in shards)
    return [f"{env_id}: field `environment.provenance.shard`: the shard files ({names}) "
            f"cover {len(have)} of {count} shards; {', '.join(missing)} missing, so this "
            "column is incomplete: their cases show as not_run."]


# Names from a run file that reach code (repro snippets), URLs and table cells: refused on
# read unless they match these, never escaped after the fact. A case id follows the one rule
# the catalog is loaded with (`cases.model.check_case_id`), so no id collection accepts is
# refused here.
SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+=-]{0,199}$")
SAFE_WORD = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def unsafe_name(run: Run) -> str | None:
    """Why a run file's environment id, backend, device or a case id is refused, or None."""
    env = run.environment
    checks = [("environment.id", env.id, SAFE_ID), ("environment.backend", env.backend,
                                                     SAFE_WORD),
              ("environment.device", env.device, SAFE_WORD)]
    for field_name, value, pattern in checks:
        if not pattern.match(value):
            return (f"field `{field_name}` is {ascii(value)[:80]}, which is not a safe name "
                    f"(expected to match {pattern.pattern})")
    ids = [(f"cases.{i}.id", case.id) for i, case in enumerate(run.cases)]
    ids += [(f"results.{i}.case", result.case) for i, result in enumerate(run.results)]
    for field_name, case_id in ids:
        try:
            check_case_id(case_id)
        except ValueError as exc:
            return f"field `{field_name}`: {exc}"
    return None


# --- shared views ---------------------------------------------------------------------------

def label(outcome: Outcome) -> str:
    """The outcome as a symbol and a word, e.g. `✅ passed`."""
    return f"{SYMBOLS[outcome]} {outcome.value}"


def short_observation(result: Result) -> str:
    """What a cell observed, in a few words: `values, 4 NaN`, `error: InvalidArgumentError`."""
    obs = result.observed
    if obs.kind == "value":
        parts = ["values"]
        if obs.nan_count:
            parts.append(f"{obs.nan_count} NaN")
        if result.outcome not in MATCHED and obs.max_abs_error is not None:
            parts.append(f"max abs error {obs.max_abs_error:.3g}")
        return ", ".join(parts)
    if obs.kind == "error":
        return f"error: {obs.error_type or 'unknown'}"
    return {"crash": "crashed", "timeout": "timed out"}.get(obs.kind, "not run")


def backend_version(env: EnvironmentInfo) -> str:
    """The backend's distribution and version, e.g. `tensorflow-cpu 2.21.0`; `—` if unknown."""
    for name in BACKEND_DISTRIBUTIONS.get(env.backend, (env.backend,)):
        if name in env.versions:
            return f"{name} {env.versions[name]}"
    return "—"


def _cells(matrix: Matrix) -> dict[tuple[str, str], Result]:
    return {(r.case, r.environment): r for r in matrix.results}


def _counts(matrix: Matrix) -> dict[str, Counter[Outcome]]:
    counts: dict[str, Counter[Outcome]] = {e.id: Counter() for e in matrix.environments}
    for result in matrix.results:
        counts.setdefault(result.environment, Counter())[result.outcome] += 1
    return counts


def _present_outcomes(matrix: Matrix) -> list[Outcome]:
    """Outcomes to give a count column: `passed` and `failed` always, others where seen."""
    seen = {r.outcome for r in matrix.results} | {Outcome.PASSED, Outcome.FAILED}
    return [o for o in Outcome if o in seen]


def behaviour_counts(env: EnvironmentInfo, counts: Counter[Outcome]) -> str:
    """What the cells of an environment did, as counts: `1590 match, 441 differ (0
    unexplained), 2 crashed`; or why the environment did not run.

    No percentage: a share of passed cells reads as a compatibility score, and it is not
    one (a catalog that probes more edge cases would score lower for the same backend).
    `match`: `passed` and `xpassed`; `differ`: `failed` and `xfailed`, of which `failed`
    (no limitation covers them) are `unexplained`; `crashed` and `timeout` as they are;
    `agreed`, `disagreed` and `unjudged` have no reference: `without reference`.
    """
    if env.ran is False:
        return "not run"
    matched = sum(counts[o] for o in MATCHED)
    differ = counts[Outcome.FAILED] + counts[Outcome.XFAILED]
    parts = [f"{matched} match", f"{differ} differ ({counts[Outcome.FAILED]} unexplained)"]
    parts += [f"{counts[o]} {o.value}" for o in (Outcome.CRASHED, Outcome.TIMEOUT) if counts[o]]
    judged = sum(counts[o] for o in NO_REFERENCE)
    if judged:
        parts.append(f"{judged} without reference")
    if not matched and not differ and not judged and not any(
            counts[o] for o in (Outcome.CRASHED, Outcome.TIMEOUT)):
        return "nothing ran"
    return ", ".join(parts)


def ran_text(env: EnvironmentInfo) -> str:
    """`yes`, or `no: <reason>`."""
    return "yes" if env.ran else f"no: {env.reason or 'not run'}"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _groups(cases: Iterable[CaseInfo]) -> dict[str, list[CaseInfo]]:
    groups: dict[str, list[CaseInfo]] = {}
    for case in cases:
        groups.setdefault(case.group, []).append(case)
    return groups


# --- JSON -----------------------------------------------------------------------------------

def render_json(matrix: Matrix) -> str:
    """The contract file `compatibility.json` (schema_version 1).

    Top level: `schema_version`, `generator`, `generated_at`, `environments`, `cases`,
    `results` and `problems`. A non-finite `max_abs_error` (inf: exactly one side held NaN)
    is written as the string `"Infinity"` (`"-Infinity"`, `"NaN"`), pydantic's
    `ser_json_inf_nan="strings"` spelling, which `MATRIX_ADAPTER.validate_json` reads back
    as a float; plain JSON has no literal for it and `null` already means "not compared".

    Args:
        matrix: the merged matrix.

    Returns:
        Indented JSON text ending in a newline.
    """
    data = MATRIX_ADAPTER.dump_python(matrix)  # floats stay floats, inf included
    ordered = {"schema_version": data.pop("schema_version"), "generator": GENERATOR, **data}
    text = pydantic_core.to_json(ordered, indent=1, inf_nan_mode="strings").decode("utf-8")
    return text + "\n"


def _nonfinite(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


# --- views shared by every format: limitations, repro snippets, clusters, pivots ------------

_LINK = re.compile(r"\s*<(https?://[^<>\s]+)>\s*$")


def limitation_link(matrix: Matrix, limitation_id: str | None) -> tuple[str, str | None]:
    """The (description, url) of the limitation `Result.limitation` names.

    Only `http` and `https` links are returned, so a hostile file cannot plant a
    `javascript:` link; an id the matrix does not list comes back as its own description.
    """
    if not limitation_id:
        return "", None
    found = next((lim for lim in matrix.limitations if lim.id == limitation_id), None)
    if found is None:
        return limitation_id, None
    link = found.link if re.match(r"^https?://[^<>\s]+$", found.link) else None
    return found.description, link


# Keras layer classes are CamelCase calls; `Input` and `Model` are not in keras.layers here.
_CLASS_CALL = re.compile(r"(?<![\w.])([A-Z][A-Za-z0-9]*)\(")
_PREDICT = re.compile(r"^keras\.Model\((?P<chain>.+)\)\.predict\((?P<data>.+)\)$")
_INPUT = re.compile(r"^Input(?:\((?P<shape>.*)\))?$")
PRINT_OUTPUT = (
    "out = keras.ops.convert_to_numpy(out)\n"
    'print("shape", out.shape, "dtype", out.dtype)\n'
    'if out.dtype.kind == "f":\n'
    '    print("NaN count", int(np.isnan(out).sum()))\n'
    "print(out)\n"
)


def _split_note(description: str) -> tuple[str, str]:
    """(code, note): the description up to its first `: ` outside brackets, and the rest."""
    depth = 0
    quote = ""
    for i, ch in enumerate(description):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == ":" and depth == 0 and description[i + 1: i + 2] == " ":
            return description[:i].strip(), description[i + 2:].strip()
    return description.strip(), ""


def _predict_body(chain: str, data: str, dtype: object) -> str | None:
    steps = [s.strip() for s in chain.split(" -> ")]
    first = _INPUT.match(steps[0])
    if first is None or len(steps) < 2:
        return None
    shape = first.group("shape") or "x.shape[1:]"
    dtype_arg = f", dtype={str(dtype)!r}" if dtype else ""
    lines = [f"x = {data}", f"inputs = keras.Input(shape={shape}{dtype_arg})", "h = inputs"]
    for step in steps[1:]:
        if step.endswith(".compute_mask"):  # the mask of the layer, as the model's output
            lines += [f"layer = {step.removesuffix('.compute_mask')}", "layer(h)",
                      "h = layer.compute_mask(h)"]
        else:
            lines.append(f"h = {step}(h)")
    lines += ["model = keras.Model(inputs, h)", "out = model.predict(x, verbose=0)"]
    return "\n".join(lines) + "\n"


def _one_line(text: str) -> str:
    """Text for a `#` comment: one line, printable characters only."""
    return "".join(ch for ch in " ".join(text.split()) if ch.isprintable())


def repro_body(case: CaseInfo) -> str:
    """The backend-independent part of a repro snippet: imports, the call, the output.

    `case.repro` (a runnable snippet generated from the case spec, where the catalog provides
    one) wins; otherwise the snippet is built from `description`, which is one line of
    Python for an eager call and `keras.Model(Input -> A -> B).predict(x)` for `predict`.
    Weights are Keras's own initialisation, not the run's seeded ones: errors, NaN and
    shapes reproduce; exact values may differ.
    """
    if case.repro and case.repro.strip():  # the program the run executed
        return case.repro.rstrip() + "\n"
    head = [f"# {_one_line(case.id)}",
            f"# The NumPy reference expects: {_one_line(case.expected)}"]
    if case.source:
        head.append(f"# Reported publicly: {_one_line(case.source)}")
    code, note = _split_note(case.description)
    match = _PREDICT.match(code)
    body = None
    if match is not None:
        body = _predict_body(match.group("chain"), match.group("data"),
                             case.axes.get("input_dtype"))
    if body is None:
        body = f"out = {code}\n"
    classes = sorted({name for name in _CLASS_CALL.findall(code) if name != "Input"})
    if note:
        head.append(f"# {_one_line(note)}")
    head += ["import keras", "import numpy as np"]
    if classes:
        head.append(f"from keras.layers import {', '.join(classes)}")
    return "\n".join(head) + "\n\n" + body + PRINT_OUTPUT


#: Where a rendered program's own code starts (`matrix.run.program.render`): what comes before
#: it (imports and the harness's helpers, about 3.7 KB) is the same for most cases.
_PROGRAM_START = "\ndef program():"


def _split_prelude(body: str, preludes: dict[str, int]) -> tuple[str, int, str]:
    """A repro body as (its docstring, the index of its prelude in `preludes`, which it adds
    to, the rest), so a page stores each distinct prelude (the imports and helpers between
    a program's docstring and its `def program():`) once; -1 and an empty docstring when
    the body has no such parts. The page joins them again (docstring + prelude + rest ==
    `body`)."""
    at = body.find(_PROGRAM_START)
    doc_end = body.find('"""\n', 3) + 4 if body.startswith('"""') else 0
    if at <= 0 or not 0 < doc_end <= at:
        return "", -1, body
    index = preludes.setdefault(body[doc_end:at], len(preludes))
    return body[:doc_end], index, body[at:]


def _interned(text: str | None, lines: dict[str, int]) -> list[int] | None:
    """`text` as indices into `lines` (one per line; a new line is added to `lines`)."""
    if text is None:
        return None
    return [lines.setdefault(line, len(lines)) for line in text.splitlines()]


def _doc_link(case: CaseInfo) -> str:
    """Where the case's Keras API is documented (its record's `doc`), or "" when unknown."""
    if not case.subject or case.subject not in SUBJECTS:
        return ""
    return SUBJECTS[case.subject].doc or ""


def repro_header(env: EnvironmentInfo) -> str:
    """The environment part of a repro snippet: the backend, and no GPU for a CPU one."""
    lines = ["import os", "",
             f'os.environ["KERAS_BACKEND"] = {json.dumps(env.backend)}  # read once, when '
             "keras is imported"]
    if env.device == "cpu":
        lines += ['os.environ["CUDA_VISIBLE_DEVICES"] = ""  # a CPU environment: hide GPUs',
                  'os.environ["JAX_PLATFORMS"] = "cpu"']
    return "\n".join(lines) + "\n"


def repro_snippet(case: CaseInfo, env: EnvironmentInfo) -> str:
    """A few lines of Python that reproduce `case` on `env`'s backend, runnable as is."""
    return repro_header(env) + repro_body(case)


# Normalising a message: the same cause reads the same whatever the ids, names and shapes.
_NORMALISE = (
    (re.compile(r"0x[0-9a-fA-F]+"), "<addr>"),
    # A quoted name starts and ends at a word boundary, so "it's" or "doesn't" stay whole.
    (re.compile(r"(?<!\w)'[^'\s][^']*'(?!\w)|\"[^\"]*\""), "<name>"),
    (re.compile(r"[(\[]\s*-?\d+(?:\s*,\s*-?\d+)*\s*,?\s*[)\]]"), "<shape>"),
    (re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?:e[-+]?\d+)?(?![\w])"), "<n>"),
)
#: Outcomes of a case with no reference, judged by agreement (`matrix.agreement`).
NO_REFERENCE = frozenset({Outcome.AGREED, Outcome.DISAGREED, Outcome.UNJUDGED})
PROBLEM = frozenset({Outcome.FAILED, Outcome.XFAILED, Outcome.ERROR, Outcome.CRASHED,
                     Outcome.TIMEOUT, Outcome.DISAGREED})


def keras_version(env: EnvironmentInfo) -> str:
    """The Keras version an environment ran: `keras`, or `keras-nightly` on that channel."""
    versions = env.versions
    if "keras" in versions:
        return versions["keras"]
    if "keras-nightly" in versions:
        return f"nightly {versions['keras-nightly']}"
    return "—"


def normalise_message(message: str) -> str:
    """`message` with addresses, quoted names, shapes and numbers made placeholders."""
    text = " ".join(message.split())
    for pattern, placeholder in _NORMALISE:
        text = pattern.sub(placeholder, text)
    return text


def error_signature(result: Result, expects_error: bool) -> str | None:
    """The normalised cause of a cell that did not match the reference; None if it matched.

    Errors read `<error type>: <normalised message>`; crashes and timeouts have their own
    signatures; silent divergences read `values where an error was expected` (with NaN
    rows, where there were), `NaN where values were expected` or `values differ from the
    reference`.
    """
    if result.outcome not in PROBLEM:
        return None
    obs = result.observed
    if obs.kind == "crash":
        return "crashed: " + normalise_message(obs.message or "the process died")
    if obs.kind == "timeout":
        return "timed out"
    if obs.kind == "not_run":
        return "no result: " + normalise_message(obs.message or "")
    if obs.kind == "error":
        return f"{obs.error_type or 'error'}: {normalise_message(obs.message or '')}"
    if expects_error:
        return "values where an error was expected" + (", NaN rows" if obs.nan_count else "")
    if obs.nan_count:
        return "NaN where values were expected"
    return "values differ from the reference"


@dataclass(frozen=True, kw_only=True)
class Cluster:
    """Cells that did not match the reference, grouped by one normalised signature."""

    signature: str
    results: list[Result]
    example: str  # one raw message (or observation) of the cluster

    @property
    def environments(self) -> Counter[str]:
        """Cells per environment."""
        return Counter(r.environment for r in self.results)

    @property
    def outcomes(self) -> Counter[Outcome]:
        """Cells per outcome."""
        return Counter(r.outcome for r in self.results)


def error_clusters(matrix: Matrix) -> list[Cluster]:
    """Every cell that did not match (`failed`, `xfailed`, `error`, `crashed`, `timeout`),
    grouped by `error_signature`, largest cluster first."""
    expects = {c.id: ExpectedAnswer.parse(c.expected).kind == "error" for c in matrix.cases}
    groups: dict[str, list[Result]] = {}
    for result in matrix.results:
        signature = error_signature(result, expects.get(result.case, False))
        if signature is not None:
            groups.setdefault(signature, []).append(result)
    clusters = [Cluster(signature=sig, results=cells,
                        example=cells[0].observed.message or short_observation(cells[0]))
                for sig, cells in groups.items()]
    return sorted(clusters, key=lambda c: -len(c.results))


@dataclass(frozen=True, kw_only=True)
class Pivot:
    """Share of cases that matched, per value of one axis × environment."""

    axis: str
    values: list[str | int]
    # (value, environment id) -> (matched, ran)
    counts: dict[tuple[str | int, str], tuple[int, int]]


PIVOT_MAX_VALUES = 40


def pivots(matrix: Matrix) -> list[Pivot]:
    """One pivot per case axis taking 2 to 40 values (group included), in catalog order."""
    values: dict[str, dict[str | int, None]] = {"group": {}}
    for case in matrix.cases:
        values["group"][case.group] = None
        for key, value in case.axes.items():
            values.setdefault(key, {})[value] = None
    axis_of = {c.id: c for c in matrix.cases}
    tally: dict[str, dict[tuple[str | int, str], list[int]]] = {k: {} for k in values}
    for result in matrix.results:
        info = axis_of.get(result.case)
        if info is None or result.outcome not in RAN:
            continue
        matched = result.outcome in MATCHED
        for key, value in (("group", info.group), *info.axes.items()):
            slot = tally[key].setdefault((value, result.environment), [0, 0])
            slot[0] += matched
            slot[1] += 1
    return [Pivot(axis=key, values=list(vals),
                  counts={k: (v[0], v[1]) for k, v in tally[key].items()})
            for key, vals in values.items() if 2 <= len(vals) <= PIVOT_MAX_VALUES]


def share(matched: int, ran: int) -> str:
    """`matched/ran (percent)`, `—` when nothing ran."""
    return f"{matched}/{ran} ({100 * matched / ran:.0f}%)" if ran else "—"


# --- Markdown -------------------------------------------------------------------------------

_MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\|<>`*[]"})


def _md(text: str) -> str:
    """Untrusted text made safe for a Markdown table cell (one line, no HTML, no pipes)."""
    return " ".join(clean_message(text, 2000).split()).translate(_MD_SPECIAL) if text else ""


def _code(text: str) -> str:
    """Text as a Markdown code span inside a table (pipes still need escaping there)."""
    return "`" + " ".join(text.split()).replace("`", "'").replace("|", "\\|") + "`"


def _table(rows: Sequence[Sequence[str]], headers: Sequence[str]) -> str:
    """A GitHub-flavoured table, padded so it stays aligned in the raw text.

    Written here rather than with tabulate, whose per-cell type inference takes seconds at
    60,000 cells; every cell is text already.
    """
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            if len(cell) > widths[i]:
                widths[i] = len(cell)
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"
    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(headers), rule, *(line(row) for row in rows)])


def render_markdown(matrix: Matrix) -> str:
    """`compatibility.md`: the compatibility table first, then environments, the top
    divergences, limitations, error clusters and pivots; the grid stays in the HTML.

    Sized for a code host: nothing is repeated per case or per channel (each behaviour is
    one row), no line is longer than `MD_LINE_LIMIT` characters, and every case and
    environment is one link away in `compatibility.html` and `compatibility.json`. Tables
    hold words only (no emoji, whose width differs between fonts), so they stay aligned in
    the raw text as well as rendered.

    Args:
        matrix: the merged matrix.

    Returns:
        GitHub-flavoured Markdown ending in a newline.
    """
    counts = _counts(matrix)
    divergent = divergent_cases(matrix)
    silent = silent_divergences(matrix)
    clusters = error_clusters(matrix)
    table = compatibility_table(matrix, divergent)
    envs = matrix.environments
    silent_rows = sum(1 for b in table.rows if b.silent)
    out = [
        "# Keras 3 compatibility matrix",
        "",
        f"> Generated file, do not edit: written by `python -m matrix.report` at "
        f"{_md(matrix.generated_at)}. Regenerate with `{REGENERATE}`.",
        "",
        f"{_plural(len(matrix.cases), 'case')} × {_plural(len(envs), 'environment')} "
        f"({sum(1 for e in envs if e.ran)} ran): "
        f"{_plural(len(table.rows), 'behaviour')} differing from the reference "
        f"({silent_rows} silent); {_plural(len(divergent), 'divergent case')}; "
        f"{_plural(len(silent), 'silent cell')}.",
        "",
        "Every case in every environment, with filters, the observation and a runnable "
        "repro: [compatibility.html](compatibility.html); the data: "
        "[compatibility.json](compatibility.json).",
        "",
        "Contents: [compatibility table](#compatibility-table) · [environments](#environments) "
        "· [top divergences](#top-divergences) · [limitations](#limitations) · "
        "[error clusters](#error-clusters) · [pivots](#pivots) · [legend](#legend)",
        "",
    ]
    if matrix.problems:
        out += ["## Problems", "", "These run files could not be used and were skipped:", ""]
        out += [f"- {_md(_cut(p, MD_LINE_LIMIT - 10))}" for p in matrix.problems]
        out.append("")
    out += _md_compatibility(matrix, table)
    out += _md_environments(matrix, counts)
    out += _md_top_divergences(matrix, table)
    out += _md_limitations(matrix)
    out += _md_harness_errors(matrix)
    out += _md_flaky(matrix)
    out += _md_clusters(clusters)
    out += _md_pivots(matrix, pivots(matrix))
    legend = [[o.value, MEANINGS[o]] for o in Outcome]
    out += ["## Legend", "", _table(legend, ["outcome", "meaning"]), ""]
    return "\n".join(out).rstrip("\n") + "\n"


MD_LINE_LIMIT = 400
MD_TOP = 10  # behaviours detailed under "Top divergences"
MD_ROWS = 80  # rows of the compatibility table in Markdown; the HTML lists HTML_ROWS
HTML_ROWS = 300
MD_CLUSTERS = 25
MD_HARNESS_ERRORS = 50
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,199}$")


def _md_link_id(limitation: str) -> str:
    """A limitation id as a reference-style link (defined under the table), or plain text."""
    return f"[{limitation}]" if _SAFE_ID.match(limitation) else _md(limitation)


def _md_compatibility(matrix: Matrix, table: CompatibilityTable) -> list[str]:
    out = ["## Compatibility table", ""]
    if not table.rows:
        return [*out, f"Every case that ran matched the reference in every environment "
                      f"({_plural(table.agreeing, 'case')}).", ""]
    out += [f"One item per behaviour: cases that share a subject, a class of values and the "
            f"verdict in every column (channels folded when they agree). Silent divergences "
            f"(values where the reference disagrees) first. "
            f"{_plural(table.agreeing, 'other case')} matched the reference wherever "
            "they ran. Under each behaviour, the environments grouped by what they did; "
            "its cases link to the grid filtered to them.", ""]
    for index, row in enumerate(table.rows[:MD_ROWS]):
        out += _md_behaviour(index, row, table.headers)
    out.append("")
    if len(table.rows) > MD_ROWS:
        rest = table.rows[MD_ROWS:]
        out += [f"{_plural(len(rest), 'more behaviour')} "
                f"({_plural(sum(len(r.cases) for r in rest), 'case')}, none silent "
                "unless listed above): see [compatibility.html](compatibility.html)."
                if not any(r.silent for r in rest) else
                f"{_plural(len(rest), 'more behaviour')} "
                f"({_plural(sum(len(r.cases) for r in rest), 'case')}): see "
                "[compatibility.html](compatibility.html).", ""]
    links = []
    for lim in matrix.limitations:
        if _SAFE_ID.match(lim.id) and any(lim.id in r.limitations[:2]
                                          for r in table.rows[:MD_ROWS]):
            _, link = limitation_link(matrix, lim.id)
            links.append(f"[{lim.id}]: {link or '#limitations'}")
    if links:
        out += [*links, ""]
    return out


def _md_behaviour(index: int, row: Behaviour, headers: Sequence[Header]) -> list[str]:
    """One behaviour as a list item: its title, what the reference expects, its cases (a
    link to the grid filtered to them) and the limitations that explain it, then one line
    per answer with the environments that gave it. Nothing is cut: GitHub wraps list
    items, and a table of one column per environment had to cut every cell to about 20
    characters to stay readable."""
    why = [_md_link_id(lim) for lim in row.limitations[:2]]
    if len(row.limitations) > 2:
        why.append(f"+{len(row.limitations) - 2}")
    lines = [f"{index + 1}. **{_md(row.title)}** "
             f"([{_plural(len(row.cases), 'case')}](compatibility.html#f:b={index})): "
             f"the reference expects {_md(row.expected)}; why: "
             f"{', '.join(why) or 'unexplained'}"]
    answers: dict[str, list[str]] = {}
    idle: list[str] = []
    for header, cell in zip(headers, row.cells, strict=True):
        label = _code(header.label)
        if not header.ran or cell.text == "not run":
            idle.append(label)
        else:
            answers.setdefault(cell.text, []).append(
                label + (" (inference only)" if header.inference_only else ""))
    # What differs first, then the columns that match, then those that did not run.
    ordered = sorted(answers.items(), key=lambda item: item[0] == "= reference")
    for text, labels in ordered:
        lines.append(f"    - {', '.join(labels)}: {_md(text)}")
    if idle:
        lines.append(f"    - {', '.join(idle)}: not run")
    if row.spans:
        lines.append("    - spans " + "; ".join(f"{_md(k)}: {_md(v)}" for k, v in row.spans))
    return lines


def _md_environments(matrix: Matrix, counts: Mapping[str, Counter[Outcome]]) -> list[str]:
    """Environments that ran, one row each; those that did not, one line per reason."""
    outcomes = _present_outcomes(matrix)
    ran = [e for e in matrix.environments if e.ran]
    out = ["## Environments", ""]
    if ran:
        rows = [[_code(e.id), _md(keras_version(e)), _md(backend_version(e)),
                 _md(e.versions.get("python", "—")),
                 _md(str(e.provenance.get("date") or "—")), _md(host_text(e)),
                 _code(_short_commit(str(e.provenance.get("git_commit") or "—"))),
                 behaviour_counts(e, counts[e.id]),
                 *[str(counts[e.id][o]) for o in outcomes]]
                for e in ran]
        headers = ["environment", "keras", "backend", "python", "date", "host CPU", "git commit",
                   "cells", *[o.value for o in outcomes]]
        out += [_table(rows, headers), "", PASS_NOTE, ""]
    idle: dict[str, list[str]] = {}
    for env in matrix.environments:
        if not env.ran:
            idle.setdefault(env.reason or "not run", []).append(env.id)
    for reason, ids in idle.items():
        out.append(f"- not run ({_md(_cut(reason, 120))}): "
                   f"{', '.join(_code(i) for i in ids)}")
    if idle:
        out.append("")
    note = inference_note(matrix.environments)
    if note:
        only = ", ".join(_code(i) for i in inference_only_ids(matrix.environments))
        out += [f"Inference-only: {only}. {_md(note)}", ""]
    return out


def _md_top_divergences(matrix: Matrix, table: CompatibilityTable) -> list[str]:
    """For the first rows of the table: one example case and what each column saw."""
    if not table.rows:
        return []
    out = ["## Top divergences", "",
           f"The first {min(MD_TOP, len(table.rows))} rows of the table, each with one "
           "example case; its repro is in the HTML page (click a cell).", ""]
    cases = {c.id: c for c in matrix.cases}
    cells = _cells(matrix)
    ran = [e for e in matrix.environments if e.ran]
    for index, row in enumerate(table.rows[:MD_TOP]):
        case = cases[row.cases[0]]
        out += [f"### {index + 1}. {_md(row.title)}", "",
                f"- example: {_code(_cut(case.id, 160))} "
                f"([all {len(row.cases)}](compatibility.html#f:b={index}))",
                f"- call: {_code(_cut(case.description, 300))}",
                f"- reference: {_md(_cut(case.expected, 300))}"]
        for env in ran:
            result = cells.get((case.id, env.id))
            if result is None:
                continue
            seen = short_observation(result)
            if result.observed.message:
                seen += ": " + result.observed.message
            out.append(f"- {_code(env.id)}: {_md(_cut(seen, 300))}")
        for lim in row.limitations[:3]:
            description, link = limitation_link(matrix, lim)
            out.append(f"- why ({_code(lim)}): {_md(_cut(description, 250))}"
                       + (f" <{link}>" if link else ""))
        out.append("")
    return out


def _md_limitations(matrix: Matrix) -> list[str]:
    """The known divergences joined at merge, with the cells each covers and whether stale."""
    if not matrix.limitations:
        return []
    rows = [[_code(lim.id), _md(lim.description + (
                f" (only on a host CPU with {' or '.join(lim.cpu_flags)})"
                if lim.cpu_flags else "")),
             lim.link if lim.link.startswith(("https://", "http://")) else "—",
             str(lim.cells), "stale: every covered cell matched" if lim.stale else ""]
            for lim in matrix.limitations]
    return ["## Limitations", "",
            "Known divergences (`cases/limitations.py`), joined to the raw verdicts when the "
            "run files were merged:", "",
            _table(rows, ["id", "description", "link", "cells", "stale"]), ""]


def harness_errors(matrix: Matrix) -> list[Result]:
    """Cells where the harness itself failed: they say nothing about the backend."""
    return [r for r in matrix.results if r.verdict.status == "harness_error"]


def _md_harness_errors(matrix: Matrix) -> list[str]:
    broken = harness_errors(matrix)
    if not broken:
        return []
    rows = [[_code(r.case), _code(r.environment), _md(_cut(r.verdict.detail or "", 160))]
            for r in broken[:MD_HARNESS_ERRORS]]
    return ["## Harness errors", "",
            f"{_plural(len(broken), 'cell')} where the harness failed, not the backend "
            "(nothing is known about these cells):", "",
            _table(rows, ["case", "environment", "what the harness hit"]), ""]


def flaky_cells(matrix: Matrix) -> list[Result]:
    """Cells that timed out, then gave another verdict when run again alone."""
    return [r for r in matrix.results if r.flaky]


def attempts_text(result: Result) -> str:
    """The verdicts of a retried cell's attempts, in order: `timeout, then matched`."""
    return ", then ".join(a.verdict.status for a in result.attempts)


def _md_flaky(matrix: Matrix) -> list[str]:
    flaky = flaky_cells(matrix)
    if not flaky:
        return []
    rows = [[_code(r.case), _code(r.environment), _md(attempts_text(r))]
            for r in flaky[:MD_HARNESS_ERRORS]]
    return ["## Flaky cells", "",
            f"{_plural(len(flaky), 'cell')} timed out, then gave another verdict when run "
            "again alone (the cell shows the second; both attempts are in "
            "compatibility.json):", "",
            _table(rows, ["case", "environment", "attempts"]), ""]


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _md_clusters(clusters: Sequence[Cluster]) -> list[str]:
    out = ["## Error clusters", ""]
    if not clusters:
        return [*out, "Every cell that ran matched the reference.", ""]
    total = sum(len(c.results) for c in clusters)
    out += [f"{_plural(total, 'differing or broken cell')}, {_plural(len(clusters), 'cause')} "
            "(`failed`, `xfailed`, `error`, `crashed` and `timeout` cells, grouped by their "
            "error type and message with numbers, names and shapes as placeholders):", ""]
    rows = [[_md(_cut(c.signature, 120)), str(len(c.results)),
             _md(", ".join(f"{e} {n}" for e, n in c.environments.items())),
             _md(", ".join(f"{o.value} {n}" for o, n in c.outcomes.items())),
             _code(c.results[0].case), _md(_cut(c.example, EXPECTED_WIDTH))]
            for c in clusters[:MD_CLUSTERS]]
    out += [_table(rows, ["cause", "cells", "environments", "outcomes", "for example",
                          "message"]), ""]
    if len(clusters) > MD_CLUSTERS:
        out += [f"{_plural(len(clusters) - MD_CLUSTERS, 'smaller cause')}: see the HTML "
                "page.", ""]
    return out


def _md_pivots(matrix: Matrix, tables: Sequence[Pivot]) -> list[str]:
    envs = [e for e in matrix.environments if e.ran]
    if not envs:
        return []
    out = ["## Pivots", "",
           "Per axis value and environment that ran: cases that matched the reference over "
           "those that ran.", ""]
    for pivot in tables:
        rows = [[_md(_cut(str(v), 60)),
                 *[share(*pivot.counts.get((v, e.id), (0, 0))) for e in envs]]
                for v in pivot.values]
        out += [f"### {_md(pivot.axis)} × environment", "",
                _table(rows, [_md(pivot.axis), *[_md(e.id) for e in envs]]), ""]
    return out


# --- HTML -----------------------------------------------------------------------------------

def _jinja() -> Environment:
    env = Environment(loader=PackageLoader("matrix", "templates"),
                      autoescape=select_autoescape(["html", "j2"], default=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                      keep_trailing_newline=True)
    env.filters["short_expected"] = short_expected
    return env


def script_json(value: Any) -> Markup:
    """JSON safe to place inside `<script type="application/json">`.

    `<`, `>` and `&` become `\\u003c`, `\\u003e` and `\\u0026`, so a message holding
    `</script>` or `<!--` cannot end the element; JSON.parse reads them back unchanged.
    """
    text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return Markup(text)  # escaped above for this context


def _observation_data(matrix: Matrix, result: Result) -> dict[str, Any]:
    obs = result.observed
    description, link = limitation_link(matrix, result.limitation)
    raw: dict[str, Any] = {
        "kind": obs.kind, "error_type": obs.error_type,
        "message": clean_message(obs.message) if obs.message else None,
        "shape": obs.shape, "dtype": obs.dtype, "max_abs_error": obs.max_abs_error,
        "nan_count": obs.nan_count, "device": obs.device,
        "limitation": description or None, "link": link,
        "unexplained": f"{result.unexplained} selects this cell but does not explain what "
                       "it did (see its `explains`)" if result.unexplained else None,
        "short": short_observation(result),
        "verdict": " ".join(filter(None, (result.verdict.status, result.verdict.cause))),
        "warnings": obs.warnings or None,
    }
    error = obs.max_abs_error
    if error is not None and not math.isfinite(error):
        raw["max_abs_error"] = _nonfinite(error)
    return {k: v for k, v in raw.items() if v is not None}


def _short_commit(commit: str) -> str:
    """`0123456789ab` for a full hash, keeping a `-dirty` suffix."""
    head, dirty, _ = commit.partition("-dirty")
    if re.fullmatch(r"[0-9a-f]{13,40}", head):
        return head[:12] + dirty
    return commit


def host_text(env: EnvironmentInfo) -> str:
    """The host CPU a run file records and the ISA flags of it that change an answer:
    `Intel(R) Xeon(R) Processor (avx512_bf16, amx_bf16)`; `not recorded` for a run file
    written before hosts were recorded (a limitation scoped to CPU flags covers none of
    its cells: `Limitation.cpu_flags`)."""
    host = env.provenance.get("host")
    if not isinstance(host, dict):
        return "not recorded"
    listed = ", ".join(host_flags(env) or ())
    return f"{host.get('cpu') or 'unknown CPU'}" + (f" ({listed})" if listed else "")


def _env_view(env: EnvironmentInfo, counts: Counter[Outcome]) -> dict[str, Any]:
    prov = env.provenance
    commit = str(prov.get("git_commit") or "—")
    return {
        "id": env.id, "backend": env.backend, "device": env.device, "ran": env.ran,
        "ran_text": ran_text(env), "reason": env.reason or "not run",
        "keras": keras_version(env),
        "backend_version": backend_version(env), "python": env.versions.get("python", "—"),
        "device_name": str(prov.get("device_name") or "—"),
        "host": host_text(env),
        "date": str(prov.get("date") or "—"),
        "commit": _short_commit(commit), "commit_full": commit,
        "provenance": json.dumps({"versions": env.versions, **prov}, indent=1,
                                 ensure_ascii=False, default=str),
        "counts": counts, "behaviour_counts": behaviour_counts(env, counts),
    }


def _idle_envs(envs: Sequence[EnvironmentInfo]) -> list[dict[str, Any]]:
    """The environments that did not run, one entry per reason: `{"reason", "ids"}`."""
    idle: dict[str, list[str]] = {}
    for env in envs:
        if not env.ran:
            idle.setdefault(env.reason or "not run", []).append(env.id)
    return [{"reason": reason, "ids": ids} for reason, ids in idle.items()]


def _share_class(matched: int, ran: int) -> str:
    if not ran:
        return "p-none"
    if matched == ran:
        return "p-all"
    return "p-most" if matched * 2 >= ran else "p-few"


def _pivot_view(pivot: Pivot, envs: Sequence[EnvironmentInfo]) -> dict[str, Any]:
    key = "group" if pivot.axis == "group" else f"ax.{pivot.axis}"
    rows = []
    for value in pivot.values:
        row = []
        for env in envs:
            matched, ran = pivot.counts.get((value, env.id), (0, 0))
            row.append({"text": share(matched, ran) if env.ran else "not run",
                        "cls": _share_class(matched, ran) if env.ran else "p-none",
                        "href": f"#f:{quote(key)}={quote(str(value))}&env={quote(env.id)}"})
        rows.append({"value": value, "cells": row,
                     "href": f"#f:{quote(key)}={quote(str(value))}"})
    return {"axis": pivot.axis, "rows": rows}


# A grid cell is one of a few fixed fragments (a few characters, the outcome as its colour
# class and title, the silent mark): built once per distinct cell, joined once per row,
# rather than rendered 60,000 times by the template.
_NO_CELL_HTML = '<td class="o-none" title="no result">?</td>'


def grid_text(result: Result) -> str:
    """A grid cell in a few characters: `✓`, `NaN`, `≠`, the error type, `crash`, `timeout`."""
    obs, outcome = result.observed, result.outcome
    if outcome is Outcome.NOT_RUN:
        return "–"  # noqa: RUF001 - a dash, the cell did not run
    if outcome is Outcome.SKIPPED:
        return "n/a"
    if outcome is Outcome.ERROR:
        return "harness"
    if obs.kind == "crash" or outcome is Outcome.CRASHED:
        return "crash"
    if obs.kind == "timeout" or outcome is Outcome.TIMEOUT:
        return "timeout"
    if obs.kind == "error":
        return clean_message(obs.error_type or "error", 40)
    if obs.nan_count:
        return "NaN"
    return "✓" if outcome in MATCHED else "≠"


def _cell_html(result: Result, silent: bool, cache: dict[tuple[str, str, bool], str]) -> str:
    text = grid_text(result)
    key = (result.outcome.value, text, silent)
    html = cache.get(key)
    if html is None:
        word = result.outcome.value + (", silent" if silent else "")
        html = cache[key] = (f'<td class="o-{result.outcome.value}{" sd" if silent else ""}" '
                             f'title="{escape(word)}">{escape(text)}</td>')
    return html


def _table_view(matrix: Matrix, table: CompatibilityTable) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for index, row in enumerate(table.rows):
        why = []
        for lim in row.limitations:
            description, link = limitation_link(matrix, lim)
            why.append({"id": lim, "description": description, "link": link})
        rows.append({"index": index, "subject": row.subject,
                     "vals": "" if row.values == "—" else row.values,
                     "expected": row.expected, "cells": row.cells, "count": len(row.cases),
                     "spans": row.spans, "why": why, "silent": row.silent,
                     "unexplained": row.unexplained, "api_head": None})
    # Grouped by Keras API, the APIs in the order of their first (most severe) row, so a user
    # looking for their API finds all of its behaviours together under one heading.
    first: dict[str, int] = {}
    for position, view in enumerate(rows):
        first.setdefault(view["subject"], position)
    rows.sort(key=lambda view: first[view["subject"]])
    for subject in first:
        of_api = [view for view in rows if view["subject"] == subject]
        of_api[0]["api_head"] = {"name": subject, "behaviours": len(of_api),
                                 "cases": sum(view["count"] for view in of_api)}
    return rows


def render_html(matrix: Matrix, changes: Mapping[str, Sequence[str]] | None = None) -> str:
    """`compatibility.html`: one static page that works offline (no CDN, no server).

    The compatibility table (`matrix.table`) comes first; the grid below it is its
    drill-down, rendered here a few characters per cell (`✓`, `NaN`, the error type) with
    the outcome as its colour and its title, so it reads with JavaScript off. Filters,
    views, links from the table and pivots, and the detail row (the case across every
    environment, then the repro) run from JSON embedded in the page. Observations are
    stored once per distinct value, so the page stays light at thousands of cases.

    Args:
        matrix: the merged matrix.
        changes: case id -> lines "changed in Keras X.Y.Z (was: ...)" from the bisect files
            (`matrix.bisect.changes_in`), shown in the case's detail.

    Returns:
        The HTML document.
    """
    cells = _cells(matrix)
    counts = _counts(matrix)
    divergent = divergent_cases(matrix)
    silent = silent_divergences(matrix)
    clusters = error_clusters(matrix)
    divergent_set = set(divergent)
    silent_set = {r.case for r in silent}
    silent_cells = {(r.case, r.environment) for r in silent}
    envs = matrix.environments
    axis_keys = list(dict.fromkeys(k for c in matrix.cases for k in c.axes))
    group_names = list(_groups(matrix.cases))
    group_index = {g: i for i, g in enumerate(group_names)}
    outcome_index = {o: i for i, o in enumerate(Outcome)}
    cluster_of = {(r.case, r.environment): k for k, cl in enumerate(clusters)
                  for r in cl.results}
    observations: dict[tuple[Any, ...], int] = {}
    obs_data: list[dict[str, Any]] = []
    cell_cache: dict[tuple[str, str, bool], str] = {}
    table = compatibility_table(matrix, divergent)
    case_index = {c.id: i for i, c in enumerate(matrix.cases)}
    cell_rows: list[list[Any]] = []
    preludes: dict[str, int] = {}
    lines: dict[str, int] = {}
    grid_rows: dict[str, list[dict[str, Any]]] = {g: [] for g in group_names}
    for c_index, case in enumerate(matrix.cases):
        flat: list[Any] = []
        words: list[str] = []
        for env in envs:
            result = cells.get((case.id, env.id))
            if result is None:
                flat += [-1, -1, 0, -1]
                words.append(_NO_CELL_HTML)
                continue
            obs = result.observed
            key = (obs.kind, obs.error_type, obs.message, tuple(obs.shape or ()), obs.dtype,
                   obs.max_abs_error, obs.nan_count, obs.device, result.limitation,
                   result.outcome in MATCHED)
            slot = observations.get(key)
            if slot is None:
                slot = observations[key] = len(obs_data)
                obs_data.append(_observation_data(matrix, result))
            flat += [outcome_index[result.outcome], slot, result.duration_s,
                     cluster_of.get((case.id, env.id), -1)]
            words.append(_cell_html(result, (case.id, env.id) in silent_cells, cell_cache))
        flags = (1 if case.id in divergent_set else 0) | (2 if case.id in silent_set else 0)
        cell_rows.append(flat)
        grid_rows[case.group].append({"index": c_index, "id": case.id, "flags": flags,
                                      "cells": Markup("".join(words))})
    data = {
        "outcomes": [o.value for o in Outcome],
        "environments": [{"id": e.id, "backend": e.backend, "device": e.device, "ran": e.ran,
                          "channel": e.channel, "reason": e.reason,
                          "head": repro_header(e), "mini": minimal_header(e.backend, e.device),
                          "versions": dict(e.versions)} for e in envs],
        "behaviours": [[case_index[c] for c in row.cases] for row in table.rows],
        "axes": axis_keys,
        "groups": group_names,
        "cases": [[c.id, group_index[c.group], c.description,
                   [c.axes.get(k) for k in axis_keys], c.expected,
                   (1 if c.id in divergent_set else 0) | (2 if c.id in silent_set else 0),
                   *_split_prelude(repro_body(c), preludes),
                   _interned(minimal_repro(c.repro) if c.repro else None, lines),
                   _doc_link(c)]
                  for c in matrix.cases],
        # The minimal repros' distinct lines, each stored once (modes of a case share most).
        "lines": list(lines),
        "preludes": list(preludes),
        "observations": obs_data,
        "cells": cell_rows,
        "clusters": [cl.signature for cl in clusters],
        "changes": {case: list(lines) for case, lines in (changes or {}).items()},
    }
    axis_values = {k: list(dict.fromkeys(str(c.axes[k]) for c in matrix.cases if k in c.axes))
                   for k in axis_keys}
    ran = [(i, e) for i, e in enumerate(envs) if e.ran]
    cluster_views = [
        {"signature": cl.signature, "count": len(cl.results), "example": cl.example,
         "case": cl.results[0].case,
         "environments": ", ".join(f"{e} {n}" for e, n in cl.environments.items()),
         "outcomes": ", ".join(f"{o.value} {n}" for o, n in cl.outcomes.items())}
        for cl in clusters
    ]
    template = _jinja().get_template("compatibility.html.j2")
    return template.render(
        matrix=matrix, generator=GENERATOR, regenerate=REGENERATE,
        envs=[_env_view(e, counts[e.id]) for e in envs],
        idle=_idle_envs(envs), table=table, rows=_table_view(matrix, table)[:HTML_ROWS],
        more_rows=max(0, len(table.rows) - HTML_ROWS),
        divergent=len(divergent),
        backends=list(dict.fromkeys(e.backend for e in envs)),
        devices=list(dict.fromkeys(e.device for e in envs)),
        outcomes=list(Outcome), present=_present_outcomes(matrix),
        meanings=MEANINGS, pass_note=PASS_NOTE,
        groups=[{"name": g, "index": group_index[g], "rows": grid_rows[g]}
                for g in group_names],
        axis_values=axis_values, ran=[e for _, e in ran],
        silent=len(silent), silent_cases=len(silent_set), clusters=cluster_views,
        failing=sum(len(cl.results) for cl in clusters),
        pivots=[_pivot_view(p, [e for _, e in ran]) for p in pivots(matrix)],
        short=short_observation, plural=_plural, data=script_json(data),
        harness_errors=harness_errors(matrix), flaky=flaky_cells(matrix),
        attempts_text=attempts_text,
        inference_note=inference_note(envs), inference_ids=inference_only_ids(envs),
    )


# --- terminal -------------------------------------------------------------------------------

def _printable(text: str) -> str:
    """A name for the terminal: control and escape characters removed."""
    return "".join(ch for ch in text if ch.isprintable())


def _age(seconds: float) -> str:
    if seconds < 3600:
        return f"{max(0, int(seconds // 60))} min"
    if seconds < 2 * 86400:
        return f"{int(seconds // 3600)} h"
    return f"{int(seconds // 86400)} d"


STALE_AFTER_S = 3600.0  # without --since, a run file older than this is "not from this run"


def recorded(env: EnvironmentInfo, now: datetime, since: datetime | None = None,
             commit: str | None = None) -> str | None:
    """Why `env`'s run file was not produced by this invocation, with its age; None if it was.

    A file is older when its date is before `since` (the start of this invocation; by
    default `STALE_AFTER_S` before `now`) or when it was made at another git commit than
    `commit` (the checkout's HEAD, `-dirty` ignored).
    """
    if not env.ran:
        return None
    date_text = str(env.provenance.get("date") or "")
    try:
        date = datetime.fromisoformat(date_text)
    except ValueError:
        return "older run file: no date"
    if date.tzinfo is None:
        date = date.replace(tzinfo=UTC)
    age = (now - date).total_seconds()
    limit = since if since is not None else None
    old = age > STALE_AFTER_S if limit is None else date < limit
    theirs = str(env.provenance.get("git_commit") or "").partition("-dirty")[0]
    other = bool(commit and theirs and not commit.startswith(theirs[:12])
                 and not theirs.startswith(commit[:12]))
    if not old and not other:
        return None
    words = f"older: {_age(age)}"
    if other:
        words += f", commit {theirs[:8]}"
    return words


def print_summary(matrix: Matrix, console: Console | None = None, *,
                  now: datetime | None = None, since: datetime | None = None,
                  commit: str | None = None) -> None:
    """Prints per environment the counts per outcome, in colour, and the divergences.

    Environment names are printed whole (never folded or cut), stripped of control
    characters; a run file not produced by this invocation (see `recorded`) says so, with
    its age, so committed runs never look like a failure of the run just made.

    Args:
        matrix: the merged matrix.
        console: where to print; by default a console on stdout.
        now: the current time; by default now, in UTC.
        since: when this invocation started; run files older than it are marked.
        commit: the checkout's git commit; run files from another commit are marked.
    """
    console = console or Console()
    now = now or datetime.now(UTC)
    for problem in matrix.problems:
        console.print(f"problem: {_printable(problem)}", style="bold red", markup=False,
                      highlight=False)
    counts = _counts(matrix)
    ran = [e for e in matrix.environments if e.ran]
    # `not_run` counts only where an environment that ran left cells out (a sample).
    outcomes = [o for o in _present_outcomes(matrix)
                if o is not Outcome.NOT_RUN or any(counts[e.id][o] for e in ran)]
    why_not: dict[str, list[str]] = {}
    for env in matrix.environments:
        if not env.ran:
            why_not.setdefault(env.reason or "not run", []).append(_printable(env.id))
    title = f"Keras compatibility matrix, {len(matrix.cases)} cases"
    headers = [o.value.replace("_", " ") for o in outcomes]
    width = max([len(_printable(e.id)) for e in ran] + [len("environment")])
    numbers = [max([len(h)] + [len(str(counts[e.id][o])) for e in ran])
               for h, o in zip(headers, outcomes, strict=True)]
    if width + sum(n + 3 for n in numbers) <= console.width:  # padding and a separator
        # Every header whole: a log or CI is 80 columns wide, and a cut header ("fa…")
        # says nothing. No percentages: a count says what the cells did.
        table = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        table.add_column("environment", style="bold", no_wrap=True, min_width=width)
        for header, outcome, n in zip(headers, outcomes, numbers, strict=True):
            table.add_column(header, justify="right", style=STYLES[outcome], no_wrap=True,
                             min_width=n)
        for env in ran:
            table.add_row(Text(_printable(env.id)),
                          *[str(counts[env.id][o] or "") for o in outcomes])
        console.print(table)
    else:  # too narrow for a table: one line per environment, nothing cut
        console.print(title, style="bold", markup=False, highlight=False)
        for env in ran:
            said = ", ".join(f"{counts[env.id][o]} {h}"
                             for h, o in zip(headers, outcomes, strict=True)
                             if counts[env.id][o])
            console.print(f"{_printable(env.id)}: {said or 'no cells'}", markup=False,
                          highlight=False)
    older: dict[str, list[str]] = {}
    for env in ran:
        when = recorded(env, now, since, commit)
        if when:
            older.setdefault(when, []).append(_printable(env.id))
    for when, ids in older.items():
        console.print(f"run files not from this run ({when}): {', '.join(ids)}",
                      style="yellow", markup=False, highlight=False)
    for reason, ids in why_not.items():
        console.print(f"not run: {', '.join(ids)}: {_printable(reason)}", style="dim",
                      markup=False, highlight=False)
    divergent = len(divergent_cases(matrix))
    silent = len(silent_divergences(matrix))
    rows = compatibility_table(matrix).rows
    style = "bold yellow" if divergent or silent else "green"
    console.print(f"{_plural(divergent, 'divergent case')}, "
                  f"{_plural(silent, 'silent divergence')}", style=style)
    console.print(f"{_plural(len(rows), 'behaviour')} differing from the reference "
                  "(the compatibility table)", style=style)
    flaky = flaky_cells(matrix)
    if flaky:
        console.print(f"{_plural(len(flaky), 'flaky cell')} (timed out, then another verdict "
                      "alone): " + ", ".join(_printable(f"{r.case} on {r.environment}")
                                             for r in flaky[:5]),
                      style="bold yellow", markup=False, highlight=False)
    reused = []
    for env in ran:
        cache = env.provenance.get("cache")
        if isinstance(cache, dict) and cache.get("reused"):
            reused.append(f"{_printable(env.id)} {cache.get('reused')} reused, "
                          f"{cache.get('executed', 0)} executed")
    if reused:
        console.print("result cache: " + "; ".join(reused), style="dim", markup=False,
                      highlight=False)


def _git_commit() -> str | None:
    import subprocess

    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


# --- files and command line -----------------------------------------------------------------

def write_reports(matrix: Matrix, out_dir: Path,
                  changes: Mapping[str, Sequence[str]] | None = None) -> list[Path]:
    """Writes `compatibility.md`, `.html` and `.json` atomically (temporary file, rename).

    Args:
        matrix: the merged matrix.
        out_dir: the folder, created if missing.
        changes: the bisect lines per case, for the HTML detail (`render_html`).

    Returns:
        The paths written, in the order md, html, json.
    """
    texts = (render_markdown(matrix), render_html(matrix, changes), render_json(matrix))
    return replace_together(out_dir, dict(zip(REPORT_NAMES, texts, strict=True)))


def replace_together(out_dir: Path, texts: Mapping[str, str]) -> list[Path]:
    """Replaces the files `texts` names in `out_dir` all together, or none of them.

    Every text is written to a temporary file first (a full disk fails here, before any
    report changed); only then is each renamed over its file, a step that needs no space.
    On any failure the temporary files are removed and the exception goes on.

    Returns:
        The paths written, in the order of `texts`.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    return atomic.write_many({out_dir / name: text.encode("utf-8")
                              for name, text in texts.items()})


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m matrix.report [--runs reports/runs] [--out reports]`.

    Returns:
        0 when the reports were written (problems with run files are printed, in red);
        1 when they could not be written (the previous ones are kept, all three);
        2 when the runs folder does not exist.
    """
    parser = argparse.ArgumentParser(
        prog="python -m matrix.report",
        description="Fold reports/runs/*.json into reports/compatibility.{md,html,json}.")
    parser.add_argument("--runs", type=Path, default=Path("reports/runs"),
                        help="folder of run files (default: reports/runs)")
    parser.add_argument("--out", type=Path, default=Path("reports"),
                        help="folder to write the reports to (default: reports)")
    parser.add_argument("--since", type=datetime.fromisoformat, default=None,
                        metavar="ISO-TIME",
                        help="when this invocation started: older run files are marked as such "
                             "in the summary (default: older than one hour)")
    parser.add_argument("--catalog", action="append", default=[], metavar="PATH",
                        help="a user case module whose LIMITATIONS are joined too (repeatable)")
    parser.add_argument("--bisect", type=Path, default=None, metavar="DIR",
                        help="bisect files shown in the HTML detail (default: the folder "
                             "`bisect` beside --runs)")
    parser.add_argument("--draft-limitations", type=Path, default=None, metavar="FILE",
                        help="also write a draft Limitation per cluster of failed cells no "
                             "limitation explains, for a person to complete")
    args = parser.parse_args(argv)
    if not args.runs.is_dir():
        print(f"error: the runs folder {args.runs} does not exist; run an environment "
              f"first (bare `nox` runs every CPU environment), or pass --runs. "
              f"Received: --runs={args.runs}", file=sys.stderr)
        return 2
    if args.catalog:
        from cases import CatalogError
        from matrix.oracle.catalog import load_catalog

        try:  # a bad --catalog is refused here; one a run file names is a problem listed
            load_catalog(args.catalog)
        except CatalogError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    matrix = collect(args.runs, user_catalogs=args.catalog)
    from matrix.bisect import changes_in  # beside the runs: local with local, published too

    changes, bisect_problems = changes_in(args.bisect or args.runs.parent / "bisect")
    for problem in bisect_problems:
        print(f"warning: {problem}; this bisect file was skipped.", file=sys.stderr)
    try:
        paths = write_reports(matrix, args.out, changes)
    except OSError as exc:  # e.g. a full disk: the old reports stay, all three
        print(f"error: could not write the reports to {args.out}: {exc}; the previous "
              "reports there are unchanged.", file=sys.stderr)
        return 1
    console = Console()
    if args.draft_limitations is not None:
        from matrix.results.triage import draft_limitations

        drafts, count = draft_limitations(matrix)
        try:
            args.draft_limitations.write_text(drafts, encoding="utf-8")
        except OSError as exc:
            print(f"error: could not write --draft-limitations {args.draft_limitations}: "
                  f"{exc}", file=sys.stderr)
            return 1
        console.print(f"wrote {args.draft_limitations}: {count} draft limitation(s)",
                      markup=False, highlight=False)
    since = args.since.replace(tzinfo=args.since.tzinfo or UTC) if args.since else None
    print_summary(matrix, console, since=since, commit=_git_commit())
    for path in paths:
        console.print(f"wrote {path}", markup=False, highlight=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
