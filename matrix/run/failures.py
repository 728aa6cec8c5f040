"""An environment whose install failed: its run file, with the installer's message.

When `pip install` of an environment's requirements fails (no wheel for this platform, a
pin that does not exist, no network), nothing of the catalog can run there. The `run` nox
session then records that as data rather than losing the column: a run file whose
environment has `ran=False`, `reason` = "the install failed: <the installer's error line>",
the installer's last lines in `provenance["install"]`, and every case of the catalog an
`error` cell (`error_type="InstallError"`). The other environments still run, and the report
shows this one with its reason.

`python -m matrix.run.failures install-failed --environment ID --log FILE --output PATH
[--catalog PATH ...]` writes that run file from the installer's captured output; it needs
only NumPy and pydantic (the harness's own dependencies). Where even those could not be
installed, `minimal_install_failed_file` writes a valid run file with the standard library
alone (no cases: the report shows the column as `not_run` with the reason).
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from matrix import atomic
from matrix.run.messages import ANSI

if TYPE_CHECKING:
    from matrix.records import Run

INSTALL_ERROR = "InstallError"
TAIL_LINES = 30
TAIL_CHARS = 4000
REASON_LIMIT = 300
# pip's own error lines, most telling first.
_ERROR_LINE = re.compile(r"^(ERROR:|error:|\s*×|E\s)")


def _printable(line: str) -> str:
    return "".join(ch for ch in ANSI.sub("", line) if ch == "\t" or ch.isprintable()).strip()


def installer_tail(output: str, lines: int = TAIL_LINES, chars: int = TAIL_CHARS) -> str:
    """The installer's last non-empty lines, ANSI escapes and control characters removed."""
    kept = [p for p in (_printable(ln) for ln in output.splitlines()) if p][-lines:]
    text = "\n".join(kept)
    return text if len(text) <= chars else "…" + text[-(chars - 1):]


def installer_summary(output: str, limit: int = REASON_LIMIT) -> str:
    """The one line that says why the install failed: pip's last `ERROR:` line, else the last.

    Args:
        output: what the installer printed (stdout and stderr).
        limit: the most characters kept.

    Returns:
        One line, e.g. "ERROR: No matching distribution found for jax==9.9"; a generic
        sentence when the installer printed nothing.
    """
    lines = [p for p in (_printable(ln) for ln in output.splitlines()) if p]
    errors = [ln for ln in lines if _ERROR_LINE.match(ln)]
    line = (errors or lines or ["the installer failed without printing a reason"])[-1]
    return line if len(line) <= limit else line[: limit - 1] + "…"


def install_reason(output: str) -> str:
    """The environment's `reason`: "the install failed: <summary>"."""
    return f"the install failed: {installer_summary(output)}"


def install_failed_run(environment_id: str, message: str, extra_catalogs: Sequence[str] = ()
                       ) -> Run:
    """The run file of an environment whose install failed: every case an `error` cell.

    Args:
        environment_id: e.g. `jax-cpu`; must be declared in `matrix/axes.toml`.
        message: what the installer printed (its full output, or its last lines).
        extra_catalogs: `--catalog` modules the run would have added.

    Returns:
        A run with `ran=False`, the installer's error line as `reason`, its last lines in
        `provenance["install"]`, and one `error` result per case.
    """
    from matrix.environments import get_environment
    from matrix.records import SCHEMA_VERSION, EnvironmentInfo, Observation, Result, Run, Verdict
    from matrix.results.fold import catalog_fingerprint
    from matrix.results.outcomes import outcome_of
    from matrix.run.facts import catalog_infos

    infos = catalog_infos(extra_catalogs)
    reason = install_reason(message)
    base = get_environment(environment_id)
    provenance: dict[str, Any] = {"install": {"failed": True, "summary": installer_summary(
        message), "tail": installer_tail(message)}, "catalog": catalog_fingerprint(infos)}
    env = EnvironmentInfo(id=base.id, backend=base.backend, device=base.device, ran=False,
                          channel=base.channel,
                          reason=reason, versions={}, provenance=provenance)
    observed = Observation(kind="error", error_type=INSTALL_ERROR, message=reason)
    verdict = Verdict(status="harness_error", detail=reason)
    results = [Result(case=c.id, environment=environment_id, outcome=outcome_of(verdict, False),
                      observed=observed, verdict=verdict) for c in infos]
    return Run(schema_version=SCHEMA_VERSION, environment=env, cases=infos, results=results)


def minimal_install_failed_file(environment_id: str, backend: str, device: str, output: str,
                                path: Path) -> None:
    """Writes a run file with no cases, using the standard library only.

    For the noxfile when not even the harness's dependencies installed, so
    `python -m matrix.run.failures` cannot run in the environment's virtualenv. Written to a
    temporary file, then renamed.
    """
    reason = install_reason(output)
    data = {"schema_version": 2,  # matrix.records.SCHEMA_VERSION (pydantic may be missing)
            "environment": {"id": environment_id, "backend": backend, "device": device,
                            "ran": False, "reason": reason, "versions": {},
                            "provenance": {"install": {"failed": True,
                                                       "summary": installer_summary(output),
                                                       "tail": installer_tail(output)}}},
            "cases": [], "results": []}
    atomic.write_text(path, json.dumps(data, indent=1, ensure_ascii=False))


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m matrix.run.failures install-failed --environment ID --log FILE
    --output PATH`."""
    parser = argparse.ArgumentParser(prog="python -m matrix.run.failures", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    cmd = sub.add_parser("install-failed", help="record an environment whose install failed")
    cmd.add_argument("--environment", required=True)
    cmd.add_argument("--log", required=True, type=Path,
                     help="the installer's captured output")
    cmd.add_argument("--output", required=True, type=Path)
    cmd.add_argument("--catalog", action="append", default=[])
    args = parser.parse_args(argv)
    from matrix.results.io import dump_run

    output = args.log.read_text(encoding="utf-8", errors="replace") if args.log.exists() else ""
    run = install_failed_run(args.environment, output, args.catalog)
    dump_run(run, args.output)
    print(f"{args.output}: {args.environment}: {run.environment.reason}; "
          f"{len(run.results)} cells recorded as error")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
