"""The releases a bisect searches (`pip index versions`, the `--from`/`--to` range) and the
requirements held fixed while Keras moves."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import InvalidVersion, Version

from matrix.environments import Environment

ROOT = Path(__file__).resolve().parents[2]
#: Keras's distributions: never pinned from the environment (the bisect chooses Keras).
KERAS_NAMES = frozenset({"keras", "keras-nightly"})
PIP_TIMEOUT_S = 900


class BisectError(ValueError):
    """Bad input or an index that cannot be read: one line naming what to change."""


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
