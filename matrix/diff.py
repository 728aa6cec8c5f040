"""Run-to-run diffs: what changed between two `compatibility.json` files, as Markdown.

`python -m matrix.diff OLD.json NEW.json [--fail-on-regression] [--output FILE.md]` (or
`nox -s diff -- OLD.json NEW.json`) compares two matrices cell by cell (each the published
compact form, read with the `results/` folder beside it, or the single file of
schema_version 2; `matrix.results.compact.load_matrix`) and lists

- **regressions**: cells that matched the reference before (`passed`, `xpassed`) and ran but
  did not match now (`failed`, `xfailed`, `error`, `crashed`, `timeout`);
- **fixes**: the other way round;
- **other outcome changes**: e.g. `failed` -> `xfailed` (a limitation was declared), or a
  cell that is `not_run` or `skipped` on one side;
- **changed observations**: same outcome, but another kind of result, error type or cause
  (the normalised message), shape, dtype, NaN count or max abs error;
- new and removed cases and environments, environments that stopped or started running, and
  package versions that changed.

Environments that ran on one side only are listed once, not cell by cell. The Markdown suits a
CI job summary (`--output "$GITHUB_STEP_SUMMARY"`). Exit status: 0; 1 with
`--fail-on-regression` when there is a regression; 2 when a file cannot be read (the message
names the file and the field).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from tabulate import tabulate

from matrix.records import Matrix, Observation, Outcome, Result
from matrix.report import normalise_message, short_observation
from matrix.results.clean import sanitize_environment, sanitize_result
from matrix.results.compact import MatrixFileError
from matrix.results.compact import load_matrix as load_published
from matrix.results.outcomes import MATCHED
from matrix.run.messages import clean_message

NOT_MATCHED = frozenset({Outcome.FAILED, Outcome.XFAILED, Outcome.ERROR, Outcome.CRASHED,
                         Outcome.TIMEOUT})
ROW_LIMIT = 200  # rows per table; a CI summary has a size limit
ABS_TOLERANCE = 1e-6
REL_TOLERANCE = 1e-3


def load_matrix(path: Path) -> Matrix:
    """Reads and validates a published `compatibility.json` (the compact form of
    schema_version 3 with its `results/*.json`, or the single file of schema_version 2,
    `matrix.results.compact.load_matrix`); cleans its free text.

    Raises:
        MatrixFileError: unreadable, not JSON, another schema version, a results file is
            missing, or a field is invalid; the message names the file and the field.
    """
    matrix = load_published(path, MatrixFileError)
    return replace(matrix,
                   environments=[sanitize_environment(e) for e in matrix.environments],
                   results=[sanitize_result(r) for r in matrix.results],
                   problems=[clean_message(p, 2000) for p in matrix.problems])


@dataclass(frozen=True, kw_only=True)
class CellChange:
    """One cell that differs: the same case and environment on both sides."""

    case: str
    environment: str
    old: Result
    new: Result
    what: str  # for changed observations: which fields changed, in words


@dataclass(kw_only=True)
class MatrixDiff:
    """Everything that changed from `old` to `new`."""

    regressions: list[CellChange] = field(default_factory=list)
    fixes: list[CellChange] = field(default_factory=list)
    outcome_changes: list[CellChange] = field(default_factory=list)
    observation_changes: list[CellChange] = field(default_factory=list)
    new_cases: list[str] = field(default_factory=list)
    removed_cases: list[str] = field(default_factory=list)
    new_environments: list[str] = field(default_factory=list)
    removed_environments: list[str] = field(default_factory=list)
    stopped_running: list[str] = field(default_factory=list)
    started_running: list[str] = field(default_factory=list)
    version_changes: list[tuple[str, str, str, str]] = field(default_factory=list)

    @property
    def unchanged(self) -> bool:
        """Whether nothing at all changed."""
        return not any(getattr(self, name) for name in self.__dataclass_fields__)


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= ABS_TOLERANCE + REL_TOLERANCE * max(abs(a), abs(b))


def observation_change(old: Observation, new: Observation) -> str:
    """Which fields of an observation changed, in words; empty when none did.

    Messages are compared after normalisation (numbers, names and shapes as placeholders),
    and `max_abs_error` within 1e-6 + 1e-3 relative: another id in a message, or float
    noise, is not a change.
    """
    changes = []
    if old.kind != new.kind:
        changes.append(f"kind {old.kind} → {new.kind}")
    if old.error_type != new.error_type:
        changes.append(f"error type {old.error_type} → {new.error_type}")
    elif old.kind == new.kind == "error" and \
            normalise_message(old.message or "") != normalise_message(new.message or ""):
        changes.append("message")
    for name in ("shape", "dtype", "nan_count"):
        before, after = getattr(old, name), getattr(new, name)
        if before != after:
            changes.append(f"{name} {before} → {after}")
    if not _close(old.max_abs_error, new.max_abs_error):
        changes.append(f"max abs error {old.max_abs_error} → {new.max_abs_error}")
    return ", ".join(changes)


def diff_matrices(old: Matrix, new: Matrix) -> MatrixDiff:
    """Compares two matrices cell by cell (see the module docstring for the categories)."""
    result = MatrixDiff()
    old_envs = {e.id: e for e in old.environments}
    new_envs = {e.id: e for e in new.environments}
    old_cases = {c.id for c in old.cases}
    new_cases = {c.id for c in new.cases}
    result.new_cases = [c.id for c in new.cases if c.id not in old_cases]
    result.removed_cases = [c.id for c in old.cases if c.id not in new_cases]
    result.new_environments = [e for e in new_envs if e not in old_envs]
    result.removed_environments = [e for e in old_envs if e not in new_envs]
    both = [e for e in new_envs if e in old_envs]
    result.stopped_running = [e for e in both if old_envs[e].ran and not new_envs[e].ran]
    result.started_running = [e for e in both if new_envs[e].ran and not old_envs[e].ran]
    for env_id in both:
        was, now = old_envs[env_id].versions, new_envs[env_id].versions
        if not (was and now):
            continue
        for name in dict.fromkeys([*was, *now]):
            if was.get(name) != now.get(name):
                result.version_changes.append((env_id, name, was.get(name, "—"),
                                               now.get(name, "—")))
    compared = {e for e in both if old_envs[e].ran and new_envs[e].ran}
    old_cells = {(r.case, r.environment): r for r in old.results if r.environment in compared}
    for cell in new.results:
        if cell.environment not in compared:
            continue
        before = old_cells.get((cell.case, cell.environment))
        if before is None:
            continue
        if before.outcome in MATCHED and cell.outcome in NOT_MATCHED:
            result.regressions.append(_change(before, cell))
        elif before.outcome in NOT_MATCHED and cell.outcome in MATCHED:
            result.fixes.append(_change(before, cell))
        elif before.outcome != cell.outcome:
            result.outcome_changes.append(_change(before, cell))
        else:
            what = observation_change(before.observed, cell.observed)
            if what:
                result.observation_changes.append(_change(before, cell, what))
    return result


def _change(old: Result, new: Result, what: str = "") -> CellChange:
    return CellChange(case=new.case, environment=new.environment, old=old, new=new, what=what)


# --- Markdown -------------------------------------------------------------------------------

def _cell(text: str) -> str:
    """Untrusted text for a Markdown table cell: one line, no pipes, no HTML."""
    text = " ".join(clean_message(text, 10_000).split()) if text else ""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "\\<") \
        .replace(">", "\\>")


def _plural(count: int, noun: str, plural: str | None = None) -> str:
    return f"{count} {noun if count == 1 else plural or noun + 's'}"


def _observed(result: Result) -> str:
    obs = result.observed
    text = short_observation(result)
    if obs.kind == "error" and obs.message:
        message = obs.message if len(obs.message) <= 80 else obs.message[:79] + "…"
        text += f" ({message})"
    return f"{result.outcome.value}: {text}"


def _changes_table(changes: Sequence[CellChange], limit: int, details: bool) -> list[str]:
    rows = [[f"`{c.case}`", f"`{c.environment}`", _cell(_observed(c.old)),
             _cell(_observed(c.new)), *([_cell(c.what)] if details else [])]
            for c in changes[:limit]]
    headers = ["case", "environment", "before", "now", *(["changed"] if details else [])]
    out = [tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True), ""]
    if len(changes) > limit:
        out += [f"… and {len(changes) - limit} more.", ""]
    return out


def _id_list(ids: Sequence[str], limit: int) -> list[str]:
    out = [f"- `{i}`" for i in ids[:limit]]
    if len(ids) > limit:
        out.append(f"- … and {len(ids) - limit} more")
    return [*out, ""]


def render_diff(diff: MatrixDiff, old_name: str, new_name: str,
                limit: int = ROW_LIMIT) -> str:
    """The diff as Markdown: a headline, then one section per non-empty category.

    Args:
        diff: from `diff_matrices`.
        old_name: how to name the old file (its path).
        new_name: how to name the new file.
        limit: the most rows per table.

    Returns:
        Markdown ending in a newline.
    """
    headline = ", ".join([
        _plural(len(diff.regressions), "regression"), _plural(len(diff.fixes), "fix", "fixes"),
        _plural(len(diff.outcome_changes), "other outcome change"),
        _plural(len(diff.observation_changes), "changed observation"),
        f"{len(diff.new_cases)} new / {len(diff.removed_cases)} removed cases",
        f"{len(diff.new_environments)} new / {len(diff.removed_environments)} removed "
        "environments"])
    out = ["## Compatibility matrix diff", "",
           f"`{_cell(old_name)}` → `{_cell(new_name)}`", "", f"**{headline}.**", ""]
    if diff.unchanged:
        return "\n".join([*out, "Nothing changed.", ""])
    sections: list[tuple[str, str, Sequence[CellChange], bool]] = [
        ("Regressions", "Cells that matched the reference before and do not now.",
         diff.regressions, False),
        ("Fixes", "Cells that did not match the reference before and do now.", diff.fixes,
         False),
        ("Other outcome changes", "Cells whose outcome changed otherwise (a limitation "
         "declared or gone, a cell not run or skipped on one side).", diff.outcome_changes,
         False),
        ("Changed observations", "Cells with the same outcome but another kind of result, "
         "error type, cause or values.", diff.observation_changes, True),
    ]
    for title, meaning, changes, details in sections:
        if changes:
            out += [f"### {title} ({len(changes)})", "", meaning, ""]
            out += _changes_table(changes, limit, details)
    for title, ids in (("New cases", diff.new_cases), ("Removed cases", diff.removed_cases)):
        if ids:
            out += [f"### {title} ({len(ids)})", "", *_id_list(ids, limit)]
    env_lines = [*(f"- new: `{e}`" for e in diff.new_environments),
                 *(f"- removed: `{e}`" for e in diff.removed_environments),
                 *(f"- no longer ran: `{e}` (its cells are not compared)"
                   for e in diff.stopped_running),
                 *(f"- ran for the first time: `{e}` (its cells are not compared)"
                   for e in diff.started_running),
                 *(f"- `{env}`: {_cell(name)} {_cell(a)} → {_cell(b)}"
                   for env, name, a, b in diff.version_changes)]
    if env_lines:
        out += ["### Environments", "", *env_lines, ""]
    return "\n".join(out).rstrip("\n") + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m matrix.diff OLD.json NEW.json [--fail-on-regression] [--output FILE.md]`.

    Returns:
        0; 1 with `--fail-on-regression` when a cell regressed; 2 when a file is unusable.
    """
    parser = argparse.ArgumentParser(
        prog="python -m matrix.diff",
        description="List what changed between two compatibility.json files, as Markdown.")
    parser.add_argument("old", type=Path, help="the earlier compatibility.json")
    parser.add_argument("new", type=Path, help="the later compatibility.json")
    parser.add_argument("--fail-on-regression", action="store_true",
                        help="exit 1 when a cell that matched before does not now")
    parser.add_argument("--output", type=Path, help="also write the Markdown to this file")
    parser.add_argument("--limit", type=int, default=ROW_LIMIT,
                        help=f"the most rows per table (default {ROW_LIMIT})")
    args = parser.parse_args(argv)
    try:
        old, new = load_matrix(args.old), load_matrix(args.new)
    except MatrixFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    diff = diff_matrices(old, new)
    text = render_diff(diff, str(args.old), str(args.new), args.limit)
    sys.stdout.write(text)
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text, encoding="utf-8")
    if args.fail_on_regression and diff.regressions:
        print(f"error: {_plural(len(diff.regressions), 'regression')} "
              "(--fail-on-regression)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
