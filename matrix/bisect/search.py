"""The search: the release in which a cell's signature changed, found by binary search over
releases tried one at a time (against any function that tries a release)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from matrix.bisections import Trial


def signature(trial: Trial) -> tuple[Any, ...] | None:
    """What must stay equal for a cell not to have changed; None for a release not run."""
    if trial.status != "ran" or trial.observation is None or trial.verdict is None:
        return None
    obs, verdict = trial.observation, trial.verdict
    return (verdict.status, verdict.cause, obs.kind, obs.error_type,
            tuple(obs.shape) if obs.shape is not None else None, obs.dtype, obs.nan_count)


def search(releases: Sequence[str], try_release: Callable[[str], Trial]
           ) -> tuple[str | None, str | None, list[Trial]]:
    """Binary-searches `releases` (oldest first) for the release where the cell changed.

    The predicate is "the signature differs from the first release that ran": the result is
    the first release that differs when the change is monotone, else one boundary where it
    does; when the last release that ran agrees with the first, nothing is searched.

    The first and last releases that run bound the search; each step tries the middle of
    the open interval, or, when that release does not run, the nearest untried release to
    it inside the interval, so a release that cannot run is gone around, never guessed.

    Args:
        releases: release strings, oldest first.
        try_release: installs and runs one release; called at most once per release.

    Returns:
        (first changed release or None, the last unchanged release before it or None,
        every trial, oldest release first).
    """
    tried: dict[int, Trial] = {}

    def at(index: int) -> Trial:
        if index not in tried:
            tried[index] = try_release(releases[index])
        return tried[index]

    def ordered() -> list[Trial]:
        return [tried[i] for i in sorted(tried)]

    low = next((i for i in range(len(releases)) if signature(at(i)) is not None), None)
    if low is None:
        return None, None, ordered()
    high = next(i for i in range(len(releases) - 1, low - 1, -1)
                if signature(at(i)) is not None)
    start = signature(at(low))
    if signature(at(high)) == start:
        return None, None, ordered()
    # Invariant: releases[low] ran with the start signature, releases[high] ran without it.
    while True:
        middle = (low + high) // 2
        inside = sorted(range(low + 1, high), key=lambda i: (abs(i - middle), i))
        probe = next((i for i in inside if signature(at(i)) is not None), None)
        if probe is None:
            break
        if signature(at(probe)) == start:
            low = probe
        else:
            high = probe
    return releases[high], releases[low], ordered()
