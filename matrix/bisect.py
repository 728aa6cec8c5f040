"""Bisect one cell across Keras releases: the first release in which it changed.

`nox -s bisect -- CASE_ID [--environment jax-cpu] [--from 3.0.0] [--to 3.15.1]` asks pip for
the Keras releases on the package index (`pip index versions keras`, which leaves out yanked
releases and pre-releases), keeps those in the range, and binary-searches them: each release
it tries is installed into one cached virtualenv per environment (`.nox/bisect-<environment>`,
ignored by git) with the environment's backend pinned as in `matrix/axes.toml`, and the case
runs there through the matrix's own program and judge (`matrix/run/observe.py`, which calls
`matrix.run.runner.observe` and `matrix.oracle.judge.judge`), so each observation is the one
a `run` would record. A release that pip cannot install beside the pinned backend, in which
Keras cannot be imported, in which the harness itself fails (a `HarnessError` observation, verdict
`harness_error`: the harness broke, not Keras), whose result line is malformed, or where
another Keras than the release asked for ran, is `not_run` with the reason, and the search
goes around it. Only CPU environments are bisected (a GPU environment is refused: nothing
here checks that its device is visible).

What counts as a change is the cell's **signature** (`signature`): the verdict's status and
cause, and the observation's kind, error type, shape, dtype and NaN count. Error messages and
the exact max abs error are not compared (their wording and last digits move between releases
without the behaviour changing). The search binary-searches "differs from the signature at
`--from`": it finds a release R whose signature differs from the start's while the newest
release before R that ran still had it. When the change is monotone (once changed, the cell
stays changed up to `--to`), R is the first release whose observation differs from the first
one; otherwise R is one such boundary, not necessarily the first: narrow the range to find
the others. When both ends give the same signature, nothing is searched: a change that
reverted inside the range (A -> B -> A) is not looked for. Where releases between the last
unchanged one and R did not run, the change lies somewhere from the first of those to R
(`not_run_between`).

The result is written as `<case>.<environment>.json` (the `Bisection` schema below: one file
per case and environment, so bisecting one case on two backends keeps both; validated on read by
`load_bisection`) to the ignored `reports/local/bisect/` by default, so a local bisect never
dirties the git tree; `nox -s publish-local` copies these files to the committed
`reports/bisect/`, and the report of a folder of run files reads the bisect files beside it
(`<runs>/../bisect`): the HTML detail of the case then says "changed in Keras X.Y.Z (was: ...)".

Bad input (an unknown case id or environment, a GPU environment, a malformed, empty or
reversed range, a range holding fewer than two releases, an `--output` that cannot be a
directory, a package index that cannot be read) is one line on stderr naming what to change,
exit status 2, checked before anything is installed, and nothing written.
This module never imports Keras (the search logic, `search`, runs against any function that
tries a release).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import InvalidVersion, Version
from pydantic import TypeAdapter, ValidationError
from pydantic_core import to_json

from matrix import atomic
from matrix.environments import Environment, get_environment
from matrix.results import SCHEMA_VERSION, Observation, Verdict, read_document

ROOT = Path(__file__).resolve().parent.parent
#: Where a local bisect writes (ignored by git), and where `publish-local` copies it.
LOCAL_BISECT_DIR = ROOT / "reports" / "local" / "bisect"
PUBLISHED_BISECT_DIR = ROOT / "reports" / "bisect"
#: Keras's distributions: never pinned from the environment (the bisect chooses Keras).
KERAS_NAMES = frozenset({"keras", "keras-nightly"})
STAMP = "kcm-bisect.stamp"
PIP_TIMEOUT_S = 900
CASE_TIMEOUT_S = 900
TrialStatus = Literal["ran", "not_run"]


class BisectError(ValueError):
    """Bad input or an index that cannot be read: one line naming what to change."""


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


# --- the search --------------------------------------------------------------------------

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


def not_run_between(trials: Sequence[Trial], last_unchanged: str | None,
                    first_changed: str | None) -> list[str]:
    """The releases tried strictly between the two bounds of a change that did not run."""
    if last_unchanged is None or first_changed is None:
        return []
    low, high = Version(last_unchanged), Version(first_changed)
    return [t.keras for t in trials if t.status == "not_run" and low < Version(t.keras) < high]


# --- releases, virtualenvs, trials -------------------------------------------------------

def _last_error(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR")]
    return ((errors or lines or ["(no output)"])[-1])[:500]


def index_releases(python: str = sys.executable, package: str = "keras") -> list[Version]:
    """The releases pip sees on its configured index, newest first.

    `pip index versions` leaves out yanked releases (it asks its finder with
    `allow_yanked=False`) and pre-releases (no `--pre`).

    Raises:
        BisectError: pip could not read the index; the message says what pip said.
    """
    try:
        done = subprocess.run([python, "-m", "pip", "index", "versions", package, "--json"],
                              capture_output=True, text=True, timeout=PIP_TIMEOUT_S,
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BisectError(f"the package index could not be read: {exc}; check the network "
                          "and pip's index settings (`pip config list`)") from exc
    if done.returncode != 0:
        raise BisectError(f"the package index could not be read (`pip index versions "
                          f"{package}`: {_last_error(done.stderr + done.stdout)}); check the "
                          "network and pip's index settings (`pip config list`)")
    try:
        return [Version(v) for v in json.loads(done.stdout)["versions"]]
    except (ValueError, KeyError, TypeError, InvalidVersion) as exc:
        raise BisectError(f"`pip index versions {package} --json` printed no version list "
                          f"({exc}); use pip 24 or newer") from exc


def parse_bounds(start: str | None, end: str | None) -> tuple[Version, Version | None]:
    """`--from` and `--to` as versions (default 3.0.0, the first Keras 3, and the newest).

    Raises:
        BisectError: a bound is empty or not a version, or `--from` is newer than `--to`.
    """
    bounds = []
    for name, text, default in (("--from", start, "3.0.0"), ("--to", end, None)):
        if text is not None and not text.strip():
            raise BisectError(f"{name} must be a release such as 3.6.0, not empty. "
                              f"Received: {name}={text!r}")
        try:
            bounds.append(Version(text) if text else Version(default) if default else None)
        except InvalidVersion:
            raise BisectError(f"{name} must be a release such as 3.6.0. "
                              f"Received: {name}={text!r}") from None
    low, high = bounds
    assert low is not None
    if high is not None and low > high:
        raise BisectError(f"the bounds are reversed: --from {low} is newer than --to {high}; "
                          "swap them")
    return low, high


def releases_in(available: Sequence[Version], start: str | None, end: str | None
                ) -> list[str]:
    """The releases from `start` to `end` (both included), oldest first.

    Args:
        available: the releases on the index.
        start: `--from` (default 3.0.0, the first Keras 3).
        end: `--to` (default the newest release).

    Raises:
        BisectError: a bound is not a version (`parse_bounds`), or fewer than two releases
            lie in the range.
    """
    low, high = parse_bounds(start, end)
    chosen = sorted(v for v in available if not v.is_prerelease and v >= low
                    and (high is None or v <= high))
    if len(chosen) < 2:
        shown = ", ".join(str(v) for v in sorted(available)[-5:]) or "none"
        raise BisectError(f"the range --from {low} --to {high or 'latest'} holds "
                          f"{len(chosen)} Keras release(s) on the index; it needs two or more "
                          f"(newest there: {shown}): change --from or --to")
    return [str(v) for v in chosen]


def pinned_requirements(environment: Environment) -> list[str]:
    """The environment's requirements less Keras: what stays fixed while Keras moves."""
    kept = []
    for text in environment.requirements:
        try:
            name = Requirement(text).name.lower()
        except InvalidRequirement:
            name = text
        if name not in KERAS_NAMES:
            kept.append(text)
    return kept


def harness_requirements() -> list[str]:
    """What `matrix/run/observe.py` imports besides Keras and its backend (pyproject's
    dependencies)."""
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return [str(r) for r in data["project"]["dependencies"]]


def _pip(python: Path, *args: str) -> str | None:
    """Runs pip in a virtualenv; returns None, or pip's last error line when it failed."""
    try:
        done = subprocess.run([str(python), "-m", "pip", "install", "--quiet", *args],
                              capture_output=True, text=True, timeout=PIP_TIMEOUT_S,
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"pip did not finish: {exc}"
    return None if done.returncode == 0 else _last_error(done.stderr + done.stdout)


def _python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def ensure_virtualenv(venv: Path, requirements: Sequence[str], pre: bool = False) -> None:
    """Creates (once) the cached virtualenv and installs what every release shares.

    Raises:
        BisectError: the virtualenv could not be created, or `requirements` not installed.
    """
    stamp = venv / STAMP
    wanted = json.dumps({"requirements": list(requirements), "pre": pre})
    if stamp.exists() and stamp.read_text(encoding="utf-8") == wanted:
        return
    if not _python(venv).exists():
        done = subprocess.run([sys.executable, "-m", "venv", str(venv)], capture_output=True,
                              text=True, check=False)
        if done.returncode != 0:
            raise BisectError(f"the virtualenv {venv} could not be created: "
                              f"{_last_error(done.stderr + done.stdout)}")
    failed = _pip(_python(venv), *(["--pre"] if pre else []), *requirements)
    if failed:
        raise BisectError(f"the requirements {', '.join(requirements)} could not be "
                          f"installed in {venv}: {failed}")
    stamp.write_text(wanted, encoding="utf-8")


def real_trial(venv: Path, environment: Environment, case_id: str,
               catalogs: Sequence[str]) -> Callable[[str], Trial]:
    """`try_release` for `search`: installs a Keras release, then runs the case there."""
    pinned = pinned_requirements(environment)
    python = _python(venv)

    def try_release(release: str) -> Trial:
        print(f"bisect: Keras {release}: installing beside {', '.join(pinned)}",
              file=sys.stderr, flush=True)
        failed = _pip(python, f"keras=={release}", *pinned)
        if failed:
            return Trial(keras=release, status="not_run", reason=f"pip: {failed}")
        command = [str(python), "-m", "matrix.run.observe", case_id,
                   *[a for c in catalogs for a in ("--catalog", c)]]
        env = {**os.environ, **environment.variables(), "PYTHONPATH": str(ROOT),
               "PYTHONDONTWRITEBYTECODE": "1"}
        try:
            done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                                  timeout=CASE_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            return Trial(keras=release, status="not_run",
                         reason=f"the case ran past {CASE_TIMEOUT_S} s")
        return trial_from_output(release, done.stdout, done.stderr, done.returncode)

    return try_release


_TRIAL_LINE: TypeAdapter[dict[str, Any]] = TypeAdapter(dict[str, Any])
_OBSERVATION: TypeAdapter[Observation] = TypeAdapter(Observation)
_VERDICT: TypeAdapter[Verdict] = TypeAdapter(Verdict)


def trial_from_output(release: str, stdout: str, stderr: str, returncode: int) -> Trial:
    """Reads the last line `matrix/run/observe.py` printed into a `Trial`.

    A line that is not a result, a malformed one, one from another Keras than `release`, and
    a harness failure (`HarnessError`, verdict `harness_error`) are all `not_run`, with the
    reason: the search goes around them and never names them as the change.
    """
    lines = stdout.strip().splitlines()
    try:
        raw = json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        raw = None
    if not isinstance(raw, dict):
        return Trial(keras=release, status="not_run",
                     reason=f"the case printed no result (exit {returncode}): "
                            f"{_last_error(stderr + stdout)}")
    if raw.get("not_run"):
        return Trial(keras=release, status="not_run", reason=str(raw["not_run"])[:500])
    try:
        observation = _OBSERVATION.validate_python(raw["observation"])
        verdict = _VERDICT.validate_python(raw["verdict"])
    except (KeyError, ValidationError) as exc:
        return Trial(keras=release, status="not_run",
                     reason=f"the case printed a malformed result line: "
                            f"{str(exc).splitlines()[0][:300]}")
    if raw.get("keras") != release:
        return Trial(keras=release, status="not_run",
                     reason=f"Keras {raw.get('keras')} ran, not the release asked for")
    if verdict.status == "harness_error" or observation.error_type == "HarnessError":
        return Trial(keras=release, status="not_run",
                     reason=f"the harness failed on Keras {release} (not Keras's answer): "
                            f"{(observation.message or verdict.detail or '')[:300]}")
    return Trial(keras=release, status="ran", observation=observation, verdict=verdict)


# --- the file and its text ---------------------------------------------------------------

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


def verdict_text(trial: Trial) -> str:
    if trial.verdict is None:
        return "not_run"
    cause = f" ({trial.verdict.cause})" if trial.verdict.cause else ""
    return trial.verdict.status + cause


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


def same_ends_line(bisection: Bisection) -> str | None:
    """Where both ends ran with the same signature: `same observation at both ends (3.0.0 and
    3.11.0): raises ValueError; a change that reverted inside the range is not searched for`."""
    ran = [t for t in bisection.trials if t.status == "ran"]
    if bisection.first_changed is not None or not ran:
        return None
    return (f"same observation at both ends ({ran[0].keras} and {ran[-1].keras}): "
            f"{describe(ran[0])}; a change that reverted inside the range is not searched for")


def table_text(bisection: Bisection) -> str:
    """The terminal table: release, observation, verdict (every release in the range)."""
    from tabulate import tabulate

    by_release = {t.keras: t for t in bisection.trials}
    rows = []
    for release in bisection.releases:
        trial = by_release.get(release)
        mark = "◀ first changed" if release == bisection.first_changed else ""
        rows.append([release, describe(trial) if trial else "(not tried)",
                     verdict_text(trial) if trial else "", mark])
    return str(tabulate(rows, headers=["keras", "observation", "verdict", ""], tablefmt="github"))


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


# --- command line ------------------------------------------------------------------------

def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="nox -s bisect --",
        description="Find the first Keras release in which a case's cell changed.")
    parser.add_argument("case", help="the case id (as in compatibility.json)")
    parser.add_argument("--environment", default="jax-cpu",
                        help="the environment whose backend stays pinned (default jax-cpu)")
    parser.add_argument("--from", dest="start", default=None, metavar="RELEASE",
                        help="the oldest release of the range (default 3.0.0)")
    parser.add_argument("--to", dest="end", default=None, metavar="RELEASE",
                        help="the newest release of the range (default the newest on the index)")
    parser.add_argument("--catalog", action="append", default=[], metavar="PATH",
                        help="a user case module (repeatable), as for `run`")
    parser.add_argument("--output", type=Path, default=LOCAL_BISECT_DIR, metavar="DIR",
                        help="where <case>.<environment>.json goes (default the ignored "
                             "reports/local/bisect)")
    parser.add_argument("--venv-root", type=Path, default=ROOT / ".nox", metavar="DIR",
                        help="where the cached virtualenv bisect-<environment> lives")
    return parser.parse_args(argv)


def check_output(output: Path) -> None:
    """Refuses an `--output` that cannot be a writable directory, creating nothing.

    Raises:
        BisectError: it, or its nearest existing parent, is not a directory, or cannot be
            written.
    """
    existing = output
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise BisectError(f"--output must be a directory (or one that can be created), but "
                          f"{existing} is a file. Received: --output={output}")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise BisectError(f"--output: {existing} cannot be written; choose another directory. "
                          f"Received: --output={output}")


def plan(args: argparse.Namespace, list_releases: Callable[[], Sequence[Version]]
         ) -> tuple[Environment, list[str]]:
    """Checks every input before anything is installed or written.

    Returns:
        (the environment, the releases of the range, oldest first).

    Raises:
        BisectError: an unknown or GPU environment, an `--output` that cannot be a
            directory, an unknown case id, a bad range, an unreadable index.
    """
    try:
        environment = get_environment(args.environment)
    except KeyError as exc:
        raise BisectError(f"--environment: {exc.args[0]}") from None
    if environment.device != "cpu":
        raise BisectError(f"--environment must be a CPU environment (bisect does not check "
                          f"that a GPU is visible, so a GPU run could silently fall back to "
                          f"the CPU). Received: --environment={environment.id}")
    check_output(args.output)
    parse_bounds(args.start, args.end)
    from cases import CatalogError
    from cases.model import check_case_id
    from matrix.oracle.catalog import load_catalog

    try:  # the id names a file (`<case>.json`): the catalog's own rule keeps path parts out
        check_case_id(args.case)
    except ValueError as exc:
        raise BisectError(str(exc)) from None

    try:
        catalog = load_catalog(args.catalog)
    except CatalogError as exc:
        raise BisectError(str(exc)) from None
    if args.case not in {c.id for c in catalog.cases}:
        near = [c.id for c in catalog.cases if args.case in c.id or c.id in args.case][:3]
        hint = f" (close: {', '.join(near)})" if near else ""
        raise BisectError(f"no case {args.case!r} in the catalog{hint}; take an id from "
                          "compatibility.json, or pass the --catalog that defines it")
    return environment, releases_in(list_releases(), args.start, args.end)


def main(argv: Sequence[str] | None = None,
         list_releases: Callable[[], Sequence[Version]] | None = None,
         trial_factory: Callable[[Path, Environment, str, Sequence[str]],
                                 Callable[[str], Trial]] | None = None) -> int:
    """`python -m matrix.bisect CASE_ID [...]`; returns the exit status (2: bad input)."""
    args = _arguments(argv)
    try:
        environment, releases = plan(args, list_releases or index_releases)
        venv = args.venv_root / f"bisect-{environment.id}"
        factory = trial_factory or real_trial
        if trial_factory is None:
            ensure_virtualenv(venv, [*harness_requirements(), *pinned_requirements(environment)],
                              pre=environment.pre)
    except BisectError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"bisect: {args.case} on {environment.id}, {len(releases)} releases "
          f"({releases[0]} to {releases[-1]})", file=sys.stderr, flush=True)
    first, last, trials = search(releases, factory(venv, environment, args.case, args.catalog))
    bisection = Bisection(
        schema_version=SCHEMA_VERSION, case=args.case, environment=environment.id,
        pinned=pinned_requirements(environment), releases=releases, trials=trials,
        first_changed=first, last_unchanged=last, catalogs=[str(c) for c in args.catalog],
        not_run_between=not_run_between(trials, last, first),
        generated_at=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"))
    print(table_text(bisection))
    ran = [t for t in trials if t.status == "ran"]
    if not ran:
        print(f"no release of the range ran ({len(trials)} tried): nothing to compare")
    else:
        print(change_line(bisection) or same_ends_line(bisection))
    path = args.output / bisect_file_name(args.case, environment.id)
    dump_bisection(bisection, path)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
