"""Installs into the virtualenvs of the nox sessions, skipped when an install stamp says
nothing would change, and the pins session's resolver (`nox -s pins`).

Runs in the process of nox (nox, filelock and the standard library alone).
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nox

from matrix.environments import Environment
from matrix.run.failures import installer_tail, minimal_install_failed_file

#: Written in a run virtualenv once its installs succeeded: the hash of what was installed.
INSTALL_STAMP = "kcm-install.stamp"


def fold_args(catalogs: list[str]) -> list[str]:
    return [arg for path in catalogs for arg in ("--catalog", path)]


def install_environment(session: nox.Session, environment: Environment, **kwargs: Any
                         ) -> None:
    """Installs the pinned set when `nox -s pins` wrote one, else the requirements."""
    pre = ["--pre"] if environment.pre else []
    if environment.pins.exists():
        session.install(*pre, "-r", str(environment.pins), **kwargs)
    else:
        session.install(*pre, *environment.requirements, **kwargs)


def install_digest(environment: Environment, run_group: list[str]) -> str | None:
    """The hash of what the run virtualenv must hold; None when it is not fully resolved.

    Only an environment with a pins file (`nox -s pins`) is resolved to exact versions; one
    without (its requirements are ranges) is installed every time, so pip may move it on.
    """
    if not environment.pins.exists():
        return None
    return hashlib.sha256(json.dumps({
        "run_group": run_group, "pins": environment.pins.read_text(encoding="utf-8"),
        "pre": environment.pre, "python": sys.version_info[:2],
    }).encode()).hexdigest()


def installed(session: nox.Session, digest: str | None) -> Path | None:
    """The install stamp of the session's virtualenv; None when there is none to write."""
    location = getattr(session.virtualenv, "location", None)
    return Path(location) / INSTALL_STAMP if location and digest else None


def install_once(session: nox.Session, *requirements: str) -> None:
    """`session.install(*requirements)`, skipped when the virtualenv's install stamp says it
    already ran with exactly these requirements and this Python (pip would change nothing:
    it does not upgrade what already satisfies a range)."""
    digest = hashlib.sha256(json.dumps({"requirements": requirements,
                                        "python": sys.version_info[:2]}).encode()).hexdigest()
    stamp = installed(session, digest)
    if stamp is not None and stamp.exists() and \
            stamp.read_text(encoding="utf-8").strip() == digest:
        session.log(f"the virtualenv holds {', '.join(requirements)} (install stamp): pip "
                    f"skipped; delete {INSTALL_STAMP} to reinstall")
        return
    if stamp is not None:
        stamp.unlink(missing_ok=True)
    session.install(*requirements)
    if stamp is not None:
        stamp.write_text(digest + "\n", encoding="utf-8")


def install_or_record(session: nox.Session, environment: Environment, run_file: Path,
                      catalogs: list[str], install: Callable[..., None], *, work_dir: Path
                      ) -> bool:
    """Runs an install; if it fails, records the environment's error in its run file.

    Returns:
        True when the install succeeded. On failure the run file says `ran: false` with the
        installer's last error line, every cell `error`, and the other sessions go on.
    """
    log = work_dir / f"{environment.id}.install.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    try:
        with log.open("w", encoding="utf-8") as out:
            install(silent=False, stdout=out)  # nox needs silent=False for its own stdout
        return True
    except nox.command.CommandFailed:
        output = log.read_text(encoding="utf-8", errors="replace")
    session.warn(f"{environment.id}: the install failed:\n{installer_tail(output)}")
    try:
        session.run("python", "-m", "matrix.run.failures", "install-failed", "--environment",
                    environment.id, "--log", str(log), "--output", str(run_file),
                    *fold_args(catalogs))
    except nox.command.CommandFailed:  # not even numpy and pydantic could be installed
        minimal_install_failed_file(environment.id, environment.backend, environment.device,
                                    output, run_file)
    return False


def resolve_pins(session: nox.Session, environments: list[Environment], work_dir: Path,
                 root: Path) -> None:
    """Resolves each CPU environment's requirements (or those named after `--`) into
    `matrix/pins/<environment>.txt` with pip's own resolver; an unknown name ends the session."""
    session.install("pip>=23.2")
    wanted = set(session.posargs) or {e.id for e in environments if e.device == "cpu"}
    unknown = wanted - {e.id for e in environments}
    if unknown:
        session.error(f"unknown environment(s) {sorted(unknown)}; see matrix/axes.toml")
    work = work_dir / "pins"
    work.mkdir(parents=True, exist_ok=True)
    for environment in (e for e in environments if e.id in wanted):
        report = work / f"{environment.id}.json"
        pre = ["--pre"] if environment.pre else []
        # pip's own resolver, with this machine's pip configuration (find-links, constraints):
        # exactly what `session.install` would pick, without installing it.
        session.run("python", "-m", "pip", "install", "--dry-run", "--ignore-installed",
                    "--quiet", "--report", str(report), *pre, *environment.requirements,
                    silent=True)
        resolved = json.loads(report.read_text(encoding="utf-8"))["install"]
        lines = sorted(f"{item['metadata']['name']}=={item['metadata']['version']}"
                       for item in resolved)
        environment.pins.parent.mkdir(parents=True, exist_ok=True)
        environment.pins.write_text(
            f"# Pinned set of {environment.id}, generated by `nox -s pins` (pip install "
            "--dry-run --report) from\n"
            f"# {', '.join(environment.requirements)} in matrix/axes.toml. Do not edit: "
            f"rerun `nox -s pins -- {environment.id}`.\n" + "\n".join(lines) + "\n",
            encoding="utf-8")
        session.log(f"{environment.pins.relative_to(root)}: {len(lines)} packages")
