"""Triage at merge: known limitations joined to the raw verdicts (the wpt.fyi metadata model).

A run records what happened and how it compares with the reference (`Verdict`); it knows
nothing of limitations. Here, when run files are merged, each limitation of
`cases/limitations/` (and of any user catalog) is matched against every cell by backend,
device, installed versions (the run file's `versions`, e.g. Keras) and case axes: a
mismatched cell it covers becomes `xfailed`, a matched one `xpassed` (or stays `passed`
when the limitation is `intermittent`: it shows in some runs only).
Rewording, adding or removing a limitation therefore re-triages existing and committed run
files without rerunning them, and a stale limitation (every cell it covers that ran matched)
is found here and listed.

A user catalog's limitations are joined too: the report loads the catalogs it is given
(`--catalog`) and those the run files recorded (a `--catalog` run is a slice whose
`provenance.selection.catalogs` names them, kept under `provenance.partials` once merged over
a full run) while they still exist at that path (`recorded_catalogs`, `catalog_limitations`).
Loading a catalog imports it: it is the same Python file the run imported.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from cases.limitations import LIMITATIONS, Behaviour, Limitation
from matrix.records import CaseInfo, EnvironmentInfo, LimitationInfo, Matrix, Result, Run
from matrix.results.matching import (
    alternatives_of,
    covers,
    explains_cell,
    holds_for,
    holds_on,
)
from matrix.results.outcomes import TRIAGED, outcome_of
from matrix.run.messages import clean_message


def recorded_catalogs(runs: Iterable[Run]) -> list[str]:
    """The user catalog modules the runs were made with, once each, in the order met.

    A `--catalog` run writes a partial run file whose `provenance.selection.catalogs` lists
    them (absolute paths, `matrix.run.runfiles.parse_catalog`); merged over a full run, its
    selection is kept in `provenance.partials` (`matrix.results.partial.overlay`). Hand-edited
    entries that are not strings are ignored.
    """
    found: dict[str, None] = {}
    for run in runs:
        provenance = run.environment.provenance
        partials = provenance.get("partials")
        selections = [provenance.get("selection"),
                      *(p.get("selection") for p in (partials if isinstance(partials, list)
                                                      else []) if isinstance(p, dict))]
        for selection in selections:
            paths = selection.get("catalogs") if isinstance(selection, dict) else None
            for path in paths if isinstance(paths, list) else []:
                if isinstance(path, str) and path.strip():
                    found.setdefault(path, None)
    return list(found)


def catalog_limitations(paths: Sequence[str | Path]) -> tuple[list[Limitation], list[str]]:
    """The built-in limitations, then those the user catalogs at `paths` define.

    A path that is not an existing `.py` file is left out with a note (a run file made
    elsewhere names a path of that machine); the same file named twice (relative and
    absolute) is loaded once. When the catalogs do not load together (`CatalogError`), only
    the built-in limitations are joined, with a note saying why.

    Returns:
        The limitations, in the order a cell takes the first that covers it, and one note
        per catalog whose limitations are not joined (for the report's problems).
    """
    from cases import CatalogError
    from matrix.oracle.catalog import load_catalog

    notes: list[str] = []
    existing: dict[Path, None] = {}
    for raw in paths:
        path = Path(raw).expanduser().resolve()
        if path.suffix == ".py" and path.is_file():
            existing.setdefault(path, None)
        else:
            notes.append(f"user catalog {clean_message(str(raw), 300)} does not exist here (a "
                         "run file names it): its LIMITATIONS are not joined; pass "
                         "`--catalog PATH` to the report")
    if not existing:
        return list(LIMITATIONS), notes
    try:
        loaded = load_catalog(list(existing)).limitations
    except CatalogError as exc:
        notes.append(f"the user catalogs do not load ({clean_message(str(exc), 500)}): only "
                     "the built-in limitations are joined")
        return list(LIMITATIONS), notes
    found = [lim for lim in loaded if isinstance(lim, Limitation)]
    if len(found) < len(loaded):
        notes.append("a user catalog's LIMITATIONS holds something other than "
                     "cases.limitations.Limitation; it is left out")
    return found, notes


def _info(limitation: Limitation, covered: Sequence[Result]) -> LimitationInfo:
    answered = [r for r in covered if r.verdict.status in TRIAGED]
    return LimitationInfo(
        id=limitation.id, description=limitation.description, link=limitation.link,
        backends=list(limitation.backends), devices=list(limitation.devices),
        axes={k: list(v) for k, v in limitation.axes.items()},
        cpu_flags=list(limitation.cpu_flags), effect=limitation.effect,
        cells=len(covered),
        stale=(not limitation.intermittent and bool(answered)
               and all(r.verdict.status == "matched" for r in answered)))


def facts_of(cases: Sequence[CaseInfo]) -> dict[str, dict[str, list[str]] | None]:
    """What each case's program does (`CaseInfo.facts`, recorded at collection).

    A case from a run file written before facts were recorded gets those of the built-in
    case of the same id (an id is derived from the case's group and axes); a case of a user
    catalog from such a file has none, and is matched on its axes.
    """
    found: dict[str, dict[str, list[str]] | None] = {c.id: c.facts or None for c in cases}
    missing = {case_id for case_id, known in found.items() if known is None}
    if missing:
        from cases import builtin_cases
        from cases.facts import program_facts

        for case in builtin_cases():
            if case.id in missing:
                found[case.id] = {k: list(v) for k, v in program_facts(case).items()}
    return found


class _Candidates:
    """The limitations that may cover a cell of one backend, device and subject, in order.

    The same first match as `matrix.results.matching.covering` over all of them (the others
    cannot cover such a cell), found among a handful instead of every limitation for each of
    the matrix's cells.
    """

    def __init__(self, limitations: Sequence[Limitation]) -> None:
        self.limitations = limitations
        self.found: dict[tuple[object, ...], list[Limitation]] = {}

    def of(self, backend: str, device: str, subjects: tuple[object, ...],
           installed: Mapping[str, str], host_flags: tuple[str, ...] | None
           ) -> list[Limitation]:
        key = (backend, device, subjects, tuple(sorted(installed.items())), host_flags)
        if key not in self.found:
            self.found[key] = [
                lim for lim in self.limitations
                if (not lim.backends or backend in lim.backends)
                and (not lim.devices or device in lim.devices)
                and ("subject" not in lim.axes
                     or any(s in lim.axes["subject"] for s in subjects))
                and holds_for(lim, installed) and holds_on(lim, host_flags)]
        return self.found[key]


def _selecting(matrix: Matrix, limitations: Sequence[Limitation],
               facts: Mapping[str, dict[str, list[str]] | None]
               ) -> list[tuple[Result, list[Limitation]]]:
    """Each result with the limitations that select its cell (backend, device, versions,
    program: `facts`, from `facts_of`), in order, whatever the cell did."""
    axes = {case.id: case.axes for case in matrix.cases}
    expected = {case.id: case.expected for case in matrix.cases}
    envs = {env.id: env for env in matrix.environments}
    flags_of = {env.id: host_flags(env) for env in matrix.environments}
    candidates = _Candidates(limitations)
    found = []
    for result in matrix.results:
        env = envs.get(result.environment)
        case_axes, case_facts = axes.get(result.case, {}), facts.get(result.case)
        subjects = tuple(case_facts["subject"]) if case_facts and "subject" in case_facts \
            else (case_axes.get("subject"),)
        flags = flags_of.get(result.environment)
        selecting = [] if env is None else [
            lim for lim in candidates.of(env.backend, env.device, subjects, env.versions, flags)
            if covers(lim, case_axes, env.backend, env.device, expected.get(result.case, ""),
                      env.versions, case_facts, flags)]
        found.append((result, selecting))
    return found


def host_flags(env: EnvironmentInfo) -> tuple[str, ...] | None:
    """The ISA flags of the host CPU a run file records (`provenance.host.flags`, those that
    change an answer: `matrix.results.fold.ANSWER_CPU_FLAGS`); None when it records no host."""
    host = env.provenance.get("host")
    flags = host.get("flags") if isinstance(host, dict) else None
    if not isinstance(flags, list):
        return None
    return tuple(sorted(str(f) for f in flags))


def behaviour_of(result: Result) -> Behaviour:
    """What a differing cell did, as a limitation states it (`Behaviour`)."""
    observed = result.observed
    if observed.kind == "error":
        return Behaviour(kind="error", error_type=observed.error_type)
    return Behaviour(kind="values", nan=bool(observed.nan_count),
                     cause=result.verdict.cause)


def _explains(limitation: Limitation, result: Result) -> bool:
    observed = result.observed
    alternatives = alternatives_of(limitation)
    if result.verdict.status != "mismatched":
        # a matched cell shows nothing to explain: xpassed if selected; by a limitation
        # matched by alternative references, only where one of them differs; never by one
        # that holds only where it shows
        if limitation.only_where_shown and result.verdict.status == "matched":
            return False
        return not alternatives or result.verdict.status != "matched" or \
            bool(alternatives & set(observed.alternatives or {}))
    return explains_cell(limitation, observed.kind, observed.error_type, observed.nan_count,
                         result.verdict.cause, observed.alternatives)


def apply_limitations(matrix: Matrix, limitations: Sequence[Limitation] = LIMITATIONS) -> Matrix:
    """Joins the limitations to the matrix's raw verdicts.

    A differing cell takes the first limitation that selects it and explains what it did
    (`Limitation.explains`); one that only selects it is named in `Result.unexplained`, and
    the cell stays `failed`.

    Args:
        matrix: merged run files; outcomes may be stale (run files carry none applied).
        limitations: in order; a cell takes the first that covers it.

    Returns:
        The matrix with every result's `outcome`, `limitation` (its id) and `unexplained`
        recomputed, and `limitations` listing each with the cells it covers and whether it
        is stale.
    """
    covered: dict[str, list[Result]] = {lim.id: [] for lim in limitations}
    facts = facts_of(matrix.cases)  # recorded, or the built-in case's: the JSON says them
    results = []
    for result, selecting in _selecting(matrix, limitations, facts):
        found = next((lim for lim in selecting if _explains(lim, result)), None)
        unexplained = selecting[0].id if selecting and found is None \
            and result.verdict.status == "mismatched" else None
        if found is not None and result.verdict.status in TRIAGED:
            covered[found.id].append(result)
        limited = found is not None and result.verdict.status in TRIAGED
        # an intermittent divergence that did not show this time: the cell simply passed
        flagged = limited and not (found is not None and found.intermittent
                                   and result.verdict.status == "matched")
        # a case with no reference keeps what the merge judged (`matrix.oracle.agreement`)
        outcome = result.outcome if result.verdict.status == "no_reference" \
            else outcome_of(result.verdict, flagged)
        results.append(replace(result, outcome=outcome,
                               limitation=found.id if limited and found else None,
                               unexplained=unexplained))
    infos = [_info(lim, covered[lim.id]) for lim in limitations]
    cases = [replace(case, facts=facts.get(case.id) or {}) for case in matrix.cases]
    return replace(matrix, cases=cases, results=results, limitations=infos)


def observed_behaviours(matrix: Matrix, limitations: Sequence[Limitation] = LIMITATIONS,
                        devices: Sequence[str] | None = None
                        ) -> dict[str, dict[str, list[Any]]]:
    """What each limitation is seen to explain: the behaviours of the differing cells it
    selects (first among those that select a cell), with the devices they ran on.

    Args:
        devices: read only the cells of environments on these devices (None: all). A
            record written from CPU runs must not absorb what a GPU did differently: that
            is a GPU limitation of its own (`--draft-limitations`).

    Returns:
        {limitation id: {"explains": [behaviour as JSON], "observed_on": [device]}}, the
        shape of `cases/limitation_behaviours.json`.
    """
    envs = {env.id: env for env in matrix.environments}
    found: dict[str, dict[str, list[Any]]] = {}
    for result, selecting in _selecting(matrix, limitations, facts_of(matrix.cases)):
        if not selecting or result.verdict.status != "mismatched":
            continue
        device = envs[result.environment].device if result.environment in envs else None
        if devices is not None and device not in devices:
            continue
        entry = found.setdefault(selecting[0].id, {"explains": [], "observed_on": []})
        behaviour = asdict(behaviour_of(result))
        if behaviour not in entry["explains"]:
            entry["explains"].append(behaviour)
        if device and device not in entry["observed_on"]:
            entry["observed_on"].append(device)
    return {k: found[k] for k in sorted(found)}


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def draft_limitations(matrix: Matrix) -> tuple[str, int]:
    """Draft `Limitation` records for the failed cells no limitation explains, one per
    cluster of cells alike (API, ids' class, mode, behaviour), for a person to complete
    (PyTorch opcheck's accept mode): the first run of a new column is triaged in minutes.

    Args:
        matrix: a triaged matrix (`apply_limitations`).

    Returns:
        (Python source of a tuple of drafts, how many). Each draft names its behaviour,
        backends, devices and example cells; its `link` is None and its description a TODO:
        it does not load until a person fills both in.
    """
    infos = {case.id: case for case in matrix.cases}
    facts = facts_of(matrix.cases)
    envs = {env.id: env for env in matrix.environments}
    clusters: dict[tuple[str, tuple[str, ...], str, Behaviour], list[Result]] = {}
    for result in matrix.results:
        if result.outcome.value != "failed" or result.verdict.status != "mismatched":
            continue
        info, known = infos.get(result.case), facts.get(result.case) or {}
        if info is None:
            continue
        values = tuple(known.get("values") or ([str(info.axes["values"])]
                                               if "values" in info.axes else []))
        key = (info.subject, values, str(info.axes.get("mode") or ""), behaviour_of(result))
        clusters.setdefault(key, []).append(result)
    drafts = []
    for (subject, values, mode, behaviour), cells in clusters.items():
        backends = sorted({envs[r.environment].backend for r in cells if r.environment in envs})
        devices = sorted({envs[r.environment].device for r in cells if r.environment in envs})
        axes: dict[str, tuple[str, ...]] = {"subject": (subject,)}
        if values:
            axes["values"] = values
        if mode:
            axes["mode"] = (mode,)
        ident = "draft-" + "-".join(_slug(str(p)) for p in (
            "-".join(backends), subject, "-".join(values), mode, behaviour.text()) if p)
        example = ", ".join(sorted({r.case for r in cells})[:3])
        drafts.append(
            f"    Limitation(\n"
            f"        id={ident!r},\n"
            f"        description=\"TODO: what {'/'.join(backends)} do(es) instead of the "
            f"reference, and why. Observed: {behaviour.text()} on {len(cells)} cell(s) of "
            f"{', '.join(sorted({r.environment for r in cells}))}, e.g. {example}\",\n"
            f"        link=None,  # TODO: the upstream issue, doc or source line\n"
            f"        backends={tuple(backends)!r}, devices={tuple(devices)!r},\n"
            f"        axes={axes!r},\n"
            f"        explains=({behaviour!r},),\n"
            f"        observed_on={tuple(devices)!r},\n"
            f"    ),")
    head = ("# Draft limitations written by `nox -s report -- --draft-limitations FILE`: one per\n"
            "# cluster of failed cells that no limitation explains. Complete each description\n"
            "# and link, check its selection, then move it to cases/limitations/.\n"
            "from cases.limitations import Behaviour, Limitation\n\n"
            "DRAFTS = (\n")
    return head + "\n".join(drafts) + ("\n" if drafts else "") + ")\n", len(drafts)
