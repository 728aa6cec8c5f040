"""Resume an interrupted run: keep what its report log already recorded, run only the rest.

A run's pytest-reportlog file (`reports/.work/<environment>/report-log.jsonl`) is flushed
line by line, so a run ended by Ctrl-C or a kill keeps every report written before it (at
most its last line is cut short). This module turns that log into a resumed run:

1. before the run, `prepare(work, mode)` either clears the work folder (`fresh`, or `auto`
   after a run that finished) or moves the old log and its `collected.json` aside, merged
   with any earlier interrupted attempt, and writes `resume-done.json`: the case ids that
   already have a result;
2. during collection, the worker (`matrix/run/selection.py`) reads that file and deselects those
   cases with `deselect_done` (the environment check always runs again);
3. after the run, `finish(work)` merges the kept events before the new ones into
   `report-log.jsonl` and the two collections into `collected.json`, each written to a
   temporary file and renamed, so the fold sees one complete run.

A case has a result once the log holds a report that decides its cell: its `call` report,
a failed or skipped `setup`, or xdist's `???` report of a worker that crashed while it ran.
A case whose worker died of Ctrl-C (`KeyboardInterrupt` in what it printed) is run again.

Only the standard library is imported, so the noxfile (which never imports a framework,
nor pydantic) and the workers can both use it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from matrix import atomic
from matrix import variables as kcm
from matrix.run.protocol import COLLECTED, case_of_nodeid

LOG = "report-log.jsonl"
#: The old log and collection, kept while a resumed run writes new ones.
PREVIOUS_LOG = "report-log.previous.jsonl"
PREVIOUS_COLLECTED = "collected.previous.json"
#: Case ids a resumed run must not run again; read by `matrix/run/selection.py`.
DONE = "resume-done.json"
#: What the attempt ran: the fingerprint of its catalog sources and requirements.
STATE = "resume-state.json"
#: Written once the run file of the finished log is safely written (`mark_folded`).
FOLDED = "folded.json"
ResumeMode = Literal["auto", "resume", "fresh"]

_INTERRUPTED = "KeyboardInterrupt"


def read_events(path: Path) -> list[dict[str, Any]]:
    """The events of a report log; a line cut short by a kill (or any broken line) is skipped.

    Unlike `matrix.results.ingest.read_report_log`, which refuses a broken line in the middle
    of a log, this keeps going: a log being resumed is one a kill may have cut anywhere, and a
    skipped line only means that case runs again.
    """
    if not path.exists():
        return []
    events = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(event, dict):
            events.append(event)
    return events


def _interrupted(event: Mapping[str, Any]) -> bool:
    props = {str(k): v for k, v in event.get("user_properties") or []}
    printed = f"{props.get('printed', '')}\n{props.get('printed_tail', '')}"
    return _INTERRUPTED in printed or _INTERRUPTED in str(event.get("longrepr") or "")


def decides(event: Mapping[str, Any]) -> bool:
    """Whether a report-log event decides its case's cell (see the module docstring)."""
    if event.get("$report_type") != "TestReport":
        return False
    when, outcome = event.get("when"), event.get("outcome")
    if when == "call":
        return True
    if when == "???":  # xdist: the worker died while the case ran
        return not _interrupted(event)
    return when == "setup" and outcome in ("failed", "skipped")


def done_cases(events: Iterable[Mapping[str, Any]]) -> set[str]:
    """Case ids whose cell an event of `events` decides."""
    done = set()
    for event in events:
        case = case_of_nodeid(str(event.get("nodeid", "")))
        if case is not None and decides(event):
            done.add(case)
    return done


def timed_out_cases(log_path: Path) -> list[str]:
    """Case ids whose worker pytest-timeout ended (`ended_by: timeout`), in log order.

    The `run` session retries them alone, in a work folder of their own, before the fold
    calls them `timeout` (`matrix.results.ingest.with_retries`).
    """
    found: list[str] = []
    for event in read_events(log_path):
        case = case_of_nodeid(str(event.get("nodeid", "")))
        props = {str(k): v for k, v in event.get("user_properties") or []}
        if case is not None and event.get("when") == "???" \
                and props.get("ended_by") == "timeout" and case not in found:
            found.append(case)
    return found


def previous_results(log_path: Path) -> set[str]:
    """Case ids that already have a final report in an existing report log."""
    return done_cases(read_events(log_path))


def finished(log_path: Path) -> bool:
    """Whether the run that wrote `log_path` finished (pytest wrote `SessionFinish`)."""
    return any(e.get("$report_type") == "SessionFinish" for e in read_events(log_path))


def deselect_done(items: list[Any], done_ids: set[str] | frozenset[str]) -> list[Any]:
    """Removes from `items`, in place, the cases already done; returns the removed ones.

    Call it from `pytest_collection_modifyitems` and pass what it returns to
    `config.hook.pytest_deselected(items=...)`. Items that are not cases (the environment
    check) are always kept.

    Args:
        items: pytest items (anything with a `nodeid`).
        done_ids: case ids not to run again.

    Returns:
        The deselected items, in their collection order.
    """
    drop = [i for i in items if case_of_nodeid(str(i.nodeid)) in done_ids]
    if drop:
        dropped = set(map(id, drop))
        items[:] = [i for i in items if id(i) not in dropped]
    return drop


def _jsonl(events: Iterable[Mapping[str, Any]]) -> str:
    return "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in events)


def merge_logs(old: Path, new: Path, out: Path) -> int:
    """Writes one report log holding the old log's decided cases, then the new log.

    From `old`, every `TestReport` of a case it decides is kept, and nothing else (its
    session events, the environment check and the reports of cases cut off mid-run are
    superseded by `new`). The fold lets a later report of a case win, so a case present in
    both ends up with the new result. Written to a temporary file, then renamed; `out` may
    be `new` itself.

    Args:
        old: the kept log (may be missing: then `out` is `new`'s events).
        new: the log of the resumed run (may be missing).
        out: where the merged log goes.

    Returns:
        The number of old case reports kept.
    """
    old_events = read_events(old)
    done = done_cases(old_events)
    kept = [e for e in old_events if e.get("$report_type") == "TestReport"
            and case_of_nodeid(str(e.get("nodeid", ""))) in done]
    new_events = read_events(new)
    session = [e for e in new_events if e.get("$report_type") == "SessionStart"][:1]
    rest = [e for e in new_events if e not in session]
    atomic.write_text(out, _jsonl([*session, *kept, *rest]))
    return len(kept)


def merge_collected(old: Sequence[str], new: Sequence[str]) -> list[str]:
    """The node ids of both collections, each once: the old order, then the new ids."""
    return list(dict.fromkeys([*old, *new]))


def _read_ids(path: Path) -> list[str] | None:
    try:
        ids = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return [str(i) for i in ids] if isinstance(ids, list) else None


def _clear(work: Path) -> None:
    for stale in work.iterdir():
        if stale.is_file() or stale.is_symlink():
            stale.unlink()


def source_fingerprint(paths: Iterable[Path], extra: Iterable[str] = ()) -> str:
    """A hash of files' bytes (missing ones count as empty) and of `extra` strings.

    The noxfile passes `run_sources` (the catalog, the reference, the pins file, the
    `--catalog` modules) and the environment's requirements and options, so that `auto` never
    keeps results of cases or packages that changed since the interrupted attempt.
    """
    digest = hashlib.sha256()
    for path in sorted(Path(p) for p in paths):
        digest.update(str(path).encode() + b"\0")
        digest.update(path.read_bytes() if path.is_file() else b"")
    for item in extra:
        digest.update(item.encode() + b"\0")
    return digest.hexdigest()[:16]


def run_sources(root: Path, pins: Path, catalogs: Iterable[str | Path] = ()) -> list[Path]:
    """The files a run's results depend on, besides its requirements and options.

    The resume key (`source_fingerprint`) covers them all: every Python file of the catalog
    (`cases/`, subpackages included), the run's own modules (`matrix/run/`), the NumPy
    oracle (`matrix/oracle/`), `matrix/axes.toml` (environment variables as well as requirements),
    `pyproject.toml` (the run's pytest plugins), the environment's resolved pins file
    (`matrix/pins/<environment>.txt`, which `nox -s pins` rewrites; hashed as empty while
    missing) and the `--catalog` modules.
    """
    return [*sorted((root / "cases").rglob("*.py")),
            *sorted((root / "matrix" / "run").glob("*.py")),
            *sorted((root / "matrix" / "oracle").glob("*.py")), root / "matrix" / "axes.toml",
            root / "pyproject.toml", pins,
            *(Path(c) for c in catalogs)]


def _stored_fingerprint(work: Path) -> str | None:
    try:
        state = json.loads((work / STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return str(state.get("fingerprint")) if isinstance(state, dict) else None


def prepare(work: Path, mode: ResumeMode = "auto", fingerprint: str | None = None
            ) -> set[str]:
    """Readies an environment's work folder before its pytest run.

    Args:
        work: `reports/.work/<environment>[.shard-I-of-N]`, created if missing.
        mode: `fresh` clears the folder; `resume` keeps what the last attempts recorded;
            `auto` resumes only when the last attempt did not finish (no `SessionFinish`)
            and its `fingerprint` is this one's.
        fingerprint: identifies what this run runs (`source_fingerprint`); stored for the
            next attempt. None: not checked.

    Returns:
        The case ids the run will skip (empty for a fresh start); they are also written to
        `resume-done.json` for `matrix/run/selection.py`.
    """
    work.mkdir(parents=True, exist_ok=True)
    log, previous = work / LOG, work / PREVIOUS_LOG
    has_history = log.exists() or previous.exists()
    same = fingerprint is None or _stored_fingerprint(work) == fingerprint
    resume = mode == "resume" or (mode == "auto" and has_history and same and not (
        log.exists() and finished(log)))
    if not (resume and has_history):
        _clear(work)
        atomic.write_text(work / STATE, json.dumps({"fingerprint": fingerprint}))
        return set()
    # An earlier resumed attempt may itself have been interrupted: fold it in first.
    if log.exists():
        merge_logs(previous, log, previous)
    old_ids = _read_ids(work / PREVIOUS_COLLECTED) or []
    new_ids = _read_ids(work / COLLECTED) or []
    atomic.write_text(work / PREVIOUS_COLLECTED, json.dumps(merge_collected(old_ids, new_ids)))
    for name in (LOG, COLLECTED, "heartbeat.json", FOLDED):
        (work / name).unlink(missing_ok=True)
    for beat in work.glob("heartbeat-*.json"):  # one per xdist worker (`--jobs`)
        beat.unlink(missing_ok=True)
    done = previous_results(previous)
    atomic.write_text(work / DONE, json.dumps(sorted(done)))
    atomic.write_text(work / STATE, json.dumps({"fingerprint": fingerprint}))
    return done


def unfolded(work: Path, mode: ResumeMode = "auto", fingerprint: str | None = None) -> bool:
    """Whether the work folder holds a finished run whose run file was never written.

    A kill after pytest finished but before the fold wrote the run file leaves a complete
    report log (it has `SessionFinish`) and no `folded.json`: the next run folds that log
    again instead of rerunning every case. Not with `--fresh`, nor when the fingerprint
    (sources, pins, options) changed since.
    """
    log = work / LOG
    if mode == "fresh" or (work / FOLDED).exists() or not log.exists():
        return False
    same = fingerprint is None or _stored_fingerprint(work) == fingerprint
    return same and finished(log)


def mark_folded(work: Path) -> None:
    """Records that the run file of the work folder's log is written; call after the fold."""
    atomic.write_text(work / FOLDED, json.dumps({"log": LOG}))


def finish(work: Path) -> int:
    """Merges a resumed run's log and collection with the kept ones, for the fold.

    A no-op after a fresh run. Call it after pytest and before `matrix.results fold`.

    Returns:
        The number of kept case reports merged in (0 after a fresh run).
    """
    previous = work / PREVIOUS_LOG
    if not previous.exists():
        return 0
    kept = merge_logs(previous, work / LOG, work / LOG)
    old_ids = _read_ids(work / PREVIOUS_COLLECTED)
    new_ids = _read_ids(work / COLLECTED)
    if old_ids is not None or new_ids is not None:
        atomic.write_text(work / COLLECTED, json.dumps(merge_collected(old_ids or [],
                                                                   new_ids or [])))
    for name in (PREVIOUS_LOG, PREVIOUS_COLLECTED, DONE):
        (work / name).unlink(missing_ok=True)
    return kept


def done_for_worker(environ: Mapping[str, str] | None = None) -> frozenset[str]:
    """The case ids to deselect in this process: `$KCM_RUN_DIR/resume-done.json`, if any."""
    workdir = (environ if environ is not None else os.environ).get(kcm.RUN_DIR.name)
    if not workdir:
        return frozenset()
    ids = _read_ids(Path(workdir) / DONE)
    return frozenset(ids or ())
