"""The words and numbers every format of the report shows: what an outcome is called, what
an environment ran (versions, host, counts), the limitation behind a cell, the harness's own
failures and the flaky cells."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

from matrix.results import (
    MATCHED,
    CaseInfo,
    EnvironmentInfo,
    Matrix,
    Outcome,
    Result,
)
from matrix.results.triage import host_flags

GENERATOR = "python -m matrix.report (regenerate with `nox -s report`)"
REGENERATE = "nox -s report"

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
# The distribution that carries each backend's version, first found wins.
BACKEND_DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "tensorflow": ("tensorflow", "tensorflow-cpu"),
    "jax": ("jax", "jaxlib"),
    "torch": ("torch",),
    "numpy": ("numpy",),
    "openvino": ("openvino",),
}
INFERENCE_NOTE = (
    "Keras cannot train on the {backends} (fit raises NotImplementedError there) and "
    "jit_compile changes nothing, so those cells are skipped with the reason; every other "
    "mode runs and is judged like the other columns, and the models saved under TensorFlow, "
    "JAX and PyTorch are loaded there (save-load).")
PASS_NOTE = ("`cells` counts what the cells did, not a score: `match` is `passed` and `xpassed` "
             "(the reference's answer), `differ` is `failed` and `xfailed` (another answer; "
             "`unexplained`: no limitation covers it); `skipped`, `error` and `not_run` cells "
             "did not answer, and `agreed`, `disagreed` and `unjudged` ones have no reference.")


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


def label(outcome: Outcome) -> str:
    """The outcome as a symbol and a word, e.g. `✅ passed`."""
    return f"{SYMBOLS[outcome]} {outcome.value}"


#: An alternative reference (`Observation.alternatives`) in words, after "those of the
#: reference".
ALTERNATIVE_TEXT = {"inputs_cut_to_32_bits": "on inputs cut to 32 bits",
                    "computed_in_32_bits": "computed in 32 bits",
                    "inputs_saturated_to_32_bits": "on inputs saturated to 32 bits"}


def short_observation(result: Result) -> str:
    """What a cell observed, in a few words: `values, 4 NaN`, `error: InvalidArgumentError`,
    `values, max abs error inf, those of the reference on inputs cut to 32 bits` (an
    alternative reference it matched: `Observation.alternatives`)."""
    obs = result.observed
    if obs.kind == "value":
        parts = ["values"]
        if obs.nan_count:
            parts.append(f"{obs.nan_count} NaN")
        if result.outcome not in MATCHED and obs.max_abs_error is not None:
            parts.append(f"max abs error {obs.max_abs_error:.3g}")
        parts.extend("those of the reference " + ALTERNATIVE_TEXT.get(name, name)
                     for name, matched in (obs.alternatives or {}).items() if matched)
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


#: Outcomes of a case with no reference, judged by agreement (`matrix.oracle.agreement`).
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


def harness_errors(matrix: Matrix) -> list[Result]:
    """Cells where the harness itself failed: they say nothing about the backend."""
    return [r for r in matrix.results if r.verdict.status == "harness_error"]


def flaky_cells(matrix: Matrix) -> list[Result]:
    """Cells that timed out, then gave another verdict when run again alone."""
    return [r for r in matrix.results if r.flaky]


def attempts_text(result: Result) -> str:
    """The verdicts of a retried cell's attempts, in order: `timeout, then matched`."""
    return ", then ".join(a.verdict.status for a in result.attempts)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


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
