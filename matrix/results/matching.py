"""Whether a known divergence (`cases.limitations.Limitation`) applies to a cell.

The records are data (`cases/limitations/`); these functions read a cell's backend, device,
installed versions, host CPU, case axes and program facts against them. `matrix.results.triage`
joins them to the merged verdicts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from cases.limitations import Behaviour, Limitation

#: A name of `Limitation.versions` and the run-file distributions it reads, in order.
VERSION_ALIASES = {"keras": ("keras", "keras-nightly"),
                   "tensorflow": ("tensorflow", "tensorflow-cpu")}


def shown_by(behaviour: Behaviour, kind: str, error_type: str | None, nan_count: int | None,
             cause: str | None, alternatives: Mapping[str, bool] | None = None) -> bool:
    """Whether a cell that observed this shows the behaviour (`kind` as observed: `value`
    reads as `values`; `alternatives` as `Observation.alternatives` records them)."""
    if ("values" if kind == "value" else kind) != behaviour.kind:
        return False
    if kind == "error":
        return behaviour.error_type is None or error_type == behaviour.error_type
    return (behaviour.nan is None or bool(nan_count) == behaviour.nan) and \
        (behaviour.cause is None or cause == behaviour.cause) and \
        (behaviour.matches is None or bool((alternatives or {}).get(behaviour.matches)))


def alternatives_of(limitation: Limitation) -> frozenset[str]:
    """The alternative references a limitation's behaviours name (`Behaviour.matches`) when
    every behaviour names one, else empty: such a limitation selects only cells where one of
    them was computed, that is where it differs from the reference."""
    names = {b.matches for b in limitation.explains}
    return frozenset() if not names or None in names else frozenset(n for n in names if n)


def holds_on(limitation: Limitation, host_flags: Sequence[str] | None) -> bool:
    """Whether the limitation holds on a host with these CPU flags (`cpu_flags`; None: the
    run file records no host)."""
    if not limitation.cpu_flags:
        return True
    return host_flags is not None and bool(set(limitation.cpu_flags) & set(host_flags))


def explains_cell(limitation: Limitation, kind: str, error_type: str | None,
                  nan_count: int | None, cause: str | None,
                  alternatives: Mapping[str, bool] | None = None) -> bool:
    """Whether a differing cell with this observation shows what the limitation says
    (always, when it says nothing: `explains` empty)."""
    return not limitation.explains or any(
        shown_by(b, kind, error_type, nan_count, cause, alternatives)
        for b in limitation.explains)


def holds_for(limitation: Limitation, installed: Mapping[str, str] | None) -> bool:
    """Whether the limitation holds for these installed versions (`versions`).

    Args:
        installed: distribution name -> version, as a run file records them; None when
            unknown.

    Raises:
        ValueError: a specifier that is no PEP 440 specifier set (names the limitation).
    """
    if not limitation.versions:
        return True
    from packaging.specifiers import InvalidSpecifier, SpecifierSet
    from packaging.version import InvalidVersion, Version

    for name, spec in limitation.versions.items():
        try:
            wanted = SpecifierSet(spec, prereleases=True)
        except InvalidSpecifier as exc:
            raise ValueError(f"limitation {limitation.id}: field `versions`: {name}: {spec!r} "
                             "is not a PEP 440 specifier set such as '>=3.16.0.dev0'"
                             ) from exc
        found = next((installed[n] for n in VERSION_ALIASES.get(name, (name,))
                      if installed and installed.get(n)), None)
        try:
            # a local label (torch's 2.13.0+cpu) does not change the release
            if found is None or Version(found.split("+")[0]) not in wanted:
                return False
        except InvalidVersion:
            return False
    return True


def covers(limitation: Limitation, axes: Mapping[str, str | int], backend: str, device: str,
           expected: str = "", installed: Mapping[str, str] | None = None,
           facts: Mapping[str, Sequence[str]] | None = None,
           host_flags: Sequence[str] | None = ()) -> bool:
    """Whether `limitation` covers a case with these `axes` on `backend` and `device`.

    Args:
        expected: the reference's answer in words (`values`, `error (...)`), checked
            against `expects`.
        installed: the versions the cell's run file records, checked against `versions`.
        facts: what the case's program does (`cases.facts.program_facts`). For a key found
            there, the limitation's values must meet the facts' (any program step calling a
            listed API, any listed class among its ids), whatever the case's labels say;
            other keys are read from `axes`. None (a run file written before facts were
            recorded): `axes` only.
        host_flags: the ISA flags of the run's host CPU (`cpu_flags`); None when the run
            file records no host.

    Raises:
        ValueError: a `versions` specifier that is no PEP 440 specifier set (`holds_for`).
    """
    if limitation.backends and backend not in limitation.backends:
        return False
    if limitation.devices and device not in limitation.devices:
        return False
    if limitation.expects is not None and not expected.startswith(limitation.expects):
        return False
    if not holds_for(limitation, installed) or not holds_on(limitation, host_flags):
        return False
    return all(bool(set(facts[key]) & set(values)) if facts is not None and key in facts
               else key in axes and axes[key] in values
               for key, values in limitation.axes.items())


def covering(limitations: Sequence[Limitation], axes: Mapping[str, str | int], backend: str,
             device: str, expected: str = "", installed: Mapping[str, str] | None = None,
             facts: Mapping[str, Sequence[str]] | None = None,
             host_flags: Sequence[str] | None = ()) -> Limitation | None:
    """The first limitation that covers the cell (`covers`), in the order given, or None."""
    for limitation in limitations:
        if covers(limitation, axes, backend, device, expected, installed, facts, host_flags):
            return limitation
    return None
