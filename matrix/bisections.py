"""The bisect files, `<case>.<environment>.json`: their schema (`Bisection`, **contract**),
reading and writing them, and the line a report shows for each (`change_line`).

`nox -s bisect` (`matrix.bisect`) writes them; the report reads the ones beside its runs
(`changes_in`) without importing the tool. Packaging's `Version` orders the releases."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from packaging.version import Version
from pydantic import TypeAdapter
from pydantic_core import to_json

from matrix import atomic
from matrix.results import Observation, Verdict, read_document

TrialStatus = Literal["ran", "not_run"]


class BisectFileError(ValueError):
    """A bisect file cannot be used; the message names the file and the field."""


@dataclass(frozen=True, kw_only=True)
class Trial:
    """One Keras release tried.

    Attributes:
        keras: the release, e.g. `3.9.0`.
        status: `ran` (the case ran: `observation` and `verdict` hold what the matrix would
            record), or `not_run` (pip could not install it beside the pinned backend, Keras
            could not be imported, the harness failed, the result line was malformed, or
            another Keras ran: `reason` says why).
        observation: what the case's program did (`matrix.results.Observation`).
        verdict: the raw verdict against the NumPy reference.
        reason: for `not_run`, pip's or Python's last error line, or the harness's.
    """

    keras: str
    status: TrialStatus
    observation: Observation | None = None
    verdict: Verdict | None = None
    reason: str | None = None


@dataclass(frozen=True, kw_only=True)
class Bisection:
    """The file `reports/local/bisect/<case>.<environment>.json` (**contract**).

    Attributes:
        schema_version: 2, the results schema whose `Observation` and `Verdict` it holds.
        case: the case id.
        environment: the environment id, e.g. `jax-cpu`.
        pinned: the requirements held fixed while Keras moves, e.g. `["jax[cpu]==0.10.2"]`.
        releases: every release in the range, oldest first (yanked releases and
            pre-releases are not on this list).
        trials: the releases tried, oldest first.
        first_changed: a release whose signature differs from the one at the start of the
            range while `last_unchanged` still had it (the first such release when the
            change is monotone); None when the two ends that ran agree (a change that
            reverted inside the range is not searched for) or none ran.
        last_unchanged: the newest release before `first_changed` that ran (its signature
            is the one of the start of the range); None when `first_changed` is None.
        not_run_between: the releases strictly between `last_unchanged` and
            `first_changed` (all tried, none ran): when not empty, the change happened in
            one of them or in `first_changed`, not necessarily in `first_changed`. Empty
            otherwise. (Added with a default: files written before it read as empty, and
            `load_bisection` refuses a file whose trials say otherwise.)
        generated_at: when the bisect ended (UTC, ISO 8601).
        generator: the command that writes this file.
    """

    schema_version: int
    case: str
    environment: str
    pinned: list[str]
    releases: list[str]
    trials: list[Trial]
    first_changed: str | None
    last_unchanged: str | None
    generated_at: str
    generator: str = "nox -s bisect"
    catalogs: list[str] = field(default_factory=list)
    not_run_between: list[str] = field(default_factory=list)


BISECTION_ADAPTER: TypeAdapter[Bisection] = TypeAdapter(Bisection)


def not_run_between(trials: Sequence[Trial], last_unchanged: str | None,
                    first_changed: str | None) -> list[str]:
    """The releases tried strictly between the two bounds of a change that did not run."""
    if last_unchanged is None or first_changed is None:
        return []
    low, high = Version(last_unchanged), Version(first_changed)
    return [t.keras for t in trials if t.status == "not_run" and low < Version(t.keras) < high]


def describe(trial: Trial) -> str:
    """A few words for a trial: `raises ValueError`, `value [3, 4] float32, 8 NaN`."""
    obs = trial.observation
    if trial.status != "ran" or obs is None:
        return f"not run: {trial.reason or ''}"
    if obs.kind == "error":
        return f"raises {obs.error_type}"
    if obs.kind != "value":
        return obs.kind
    text = f"value {obs.shape} {obs.dtype}"
    return text + (f", {obs.nan_count} NaN" if obs.nan_count else "")


def change_line(bisection: Bisection) -> str | None:
    """`jax-cpu: changed in Keras 3.9.0 (was: raises ValueError in 3.8.0; now: value ...)`,
    or, where releases between the two did not run, `jax-cpu: changed between Keras 3.4.0
    (last with the old observation) and 3.7.0 (first with the new one); releases in between
    not run: 3.5.0, 3.6.0 (was: ...; now: ...)`."""
    if bisection.first_changed is None:
        return None
    by_release = {t.keras: t for t in bisection.trials}
    after = by_release.get(bisection.first_changed)
    before = by_release.get(bisection.last_unchanged or "")
    was = f"{describe(before)} in {before.keras}" if before else "?"
    now = describe(after) if after else "?"
    if bisection.not_run_between:
        return (f"{bisection.environment}: changed between Keras {bisection.last_unchanged} "
                f"(last with the old observation) and {bisection.first_changed} (first with "
                f"the new one); releases in between not run: "
                f"{', '.join(bisection.not_run_between)} (was: {was}; now: {now})")
    return (f"{bisection.environment}: changed in Keras {bisection.first_changed} "
            f"(was: {was}; now: {now})")


def dump_bisection(bisection: Bisection, path: Path) -> None:
    """Writes a bisect file atomically (a temporary file, then rename)."""
    atomic.write_bytes(path, to_json(bisection, indent=1, inf_nan_mode="strings"))


def load_bisection(path: Path) -> Bisection:
    """Reads and validates a bisect file.

    Raises:
        BisectFileError: unreadable, of another schema version, or a field is invalid (a
            `first_changed` that names no trial too); the message names the file and field.
    """
    found = read_document(path, BISECTION_ADAPTER, BisectFileError)
    releases = {t.keras for t in found.trials}
    for name in ("first_changed", "last_unchanged"):
        value = getattr(found, name)
        if value is not None and value not in releases:
            raise BisectFileError(f"{path}: field `{name}` names {value!r}, which is no "
                                  "release of `trials`.")
    derived = not_run_between(found.trials, found.last_unchanged, found.first_changed)
    if found.not_run_between != derived:
        raise BisectFileError(f"{path}: field `not_run_between` is {found.not_run_between}, "
                              f"but the trials between `last_unchanged` and `first_changed` "
                              f"that did not run are {derived}.")
    if path.name != bisect_file_name(found.case, found.environment) and \
            path.stem != found.case:  # `<case>.json`: files written before the environment
        raise BisectFileError(f"{path}: fields `case` and `environment` are {found.case!r} "
                              f"and {found.environment!r}, but the file is named "
                              f"{path.name!r}, not "
                              f"{bisect_file_name(found.case, found.environment)!r}.")
    return found


def bisect_file_name(case: str, environment: str) -> str:
    """`<case>.<environment>.json`: the name of a bisect file."""
    return f"{case}.{environment}.json"


def changes_in(folder: Path) -> tuple[dict[str, list[str]], list[str]]:
    """Every `change_line` of the bisect files in `folder`, by case id.

    Returns:
        (case id -> lines, one problem line per file that could not be used).
    """
    changes: dict[str, list[str]] = {}
    problems: list[str] = []
    if not folder.is_dir():
        return changes, problems
    for path in sorted(folder.glob("*.json")):
        try:
            bisection = load_bisection(path)
        except BisectFileError as exc:
            problems.append(str(exc))
            continue
        line = change_line(bisection)
        if line:
            changes.setdefault(bisection.case, []).append(line)
    return changes, problems
