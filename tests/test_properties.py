# mypy: disallow-untyped-decorators=False
"""Property-based tests (hypothesis) of the fold, the merge, shards, the diff and the renderers.

Random but valid input never breaks them: random report-log event streams in the shapes
pytest-reportlog writes (setup, call and teardown reports, xdist's `???` crash reports, skips
with a `(path, line, message)` long representation, recorded verdicts, noise events) fold into
one result per case, its outcome that of its raw verdict; random runs merge and are triaged
against random limitations into a matrix where every case meets every environment in exactly
one result; random shards of one environment combine; the three report formats and
the diff render any matrix, hostile strings from the backends included, the published JSON
round-trips through `matrix.results.compact.decode`, and no `<script` from the data reaches
the HTML.

No framework is imported. Kept fast: 40-60 examples per property, no deadline.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic_core import to_json

from cases.limitations import Limitation
from matrix.diff import diff_matrices, render_diff
from matrix.records import (
    SCHEMA_VERSION,
    CaseInfo,
    EnvironmentInfo,
    Matrix,
    Observation,
    Outcome,
    Result,
    Run,
    Verdict,
)
from matrix.report import render_html, render_json, render_markdown
from matrix.results.compact import decode
from matrix.results.ingest import fold_reports
from matrix.results.io import RUN_ADAPTER, RunFileError, dump_run, load_run
from matrix.results.merge import combine_shards, merge_runs
from matrix.results.outcomes import outcome_of
from matrix.results.triage import apply_limitations

NOW = "2025-01-02T03:04:05+00:00"
SAFE = "abcdefghijklmnopqrstuvwxyz0123456789-_."
SCRIPT = "<script>alert(1)</script>"
RAW_TAG = re.compile(r"(?<!\\)<(script|/script)")
# A code span opens at a backtick with no backslash before it; HTML inside one is shown, never
# parsed.
CODE_SPAN = re.compile(r"(?<!\\)`[^`\n]*`")


def raw_tag(markdown: str) -> re.Match[str] | None:
    """An unescaped `<script` outside code spans, i.e. one a Markdown renderer would parse."""
    return RAW_TAG.search(CODE_SPAN.sub("", markdown))
HOSTILE = (
    SCRIPT,
    "</script><!-- & \u2028 \u2029",
    "\x1b[31mred\x1b[0m and \x1b]0;title\x07",
    "a | b `code` | c ``` ** [link](javascript:alert(1))",
    b"\xff\xfe broken \xc3".decode("utf-8", errors="replace"),
    "line one\nline two\r\nline three\x00\x07",
    "x" * 20_000,  # the 5 MB case is in tests/test_hostile_strings.py; this keeps it fast
    "",
)
FAST = settings(max_examples=50, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

ids = st.text(alphabet=SAFE, min_size=1, max_size=16)
text = st.one_of(st.text(max_size=40), st.sampled_from(HOSTILE))
maybe_text = st.one_of(st.none(), text)
errors = st.one_of(st.none(), st.just(math.inf),
                   st.floats(min_value=0, allow_nan=False, allow_infinity=False))


@st.composite
def observations(draw: st.DrawFn) -> Observation:
    """Any observation a run can record (no NaN `max_abs_error`: NaN != NaN)."""
    return Observation(
        kind=draw(st.sampled_from(["value", "error", "crash", "timeout", "not_run"])),
        error_type=draw(maybe_text), message=draw(maybe_text),
        shape=draw(st.one_of(st.none(), st.lists(st.integers(0, 9), max_size=4))),
        dtype=draw(st.one_of(st.none(), st.sampled_from(["float32", "bool", "int32"]))),
        max_abs_error=draw(errors), nan_count=draw(st.one_of(st.none(), st.integers(0, 99))),
        device=draw(maybe_text), weights_dtype=draw(st.one_of(st.none(), st.just("float32"))),
        warnings=draw(st.lists(text, max_size=3)),
    )


STATUSES = ["matched", "mismatched", "harness_error", "crashed", "timeout", "not_run",
            "not_applicable"]
CAUSES = [None, "values_differ", "values_where_refused", "error_where_values_expected",
          "refused_other_reason", "dtype", "shape", "device"]


@st.composite
def verdicts(draw: st.DrawFn) -> Verdict:
    """Any raw verdict a run can record."""
    return Verdict(status=draw(st.sampled_from(STATUSES)), cause=draw(st.sampled_from(CAUSES)),
                   detail=draw(maybe_text))


AXIS_KEYS = ["mode", "rank", "input_dtype", "values", "x"]
AXIS_VALUES = st.one_of(st.integers(0, 5), st.text(alphabet=SAFE, max_size=8))
BACKENDS = ["jax", "torch", "tensorflow", "x"]


@st.composite
def limitation_lists(draw: st.DrawFn) -> list[Limitation]:
    """Limitations as a (user) catalog declares them: hostile words and links included."""
    found = []
    for lim_id in draw(st.lists(st.one_of(ids, st.just(SCRIPT)), unique=True, max_size=4)):
        found.append(Limitation(
            id=lim_id, description=draw(text),
            link=draw(st.sampled_from(["https://example.org/x", "javascript:alert(1)", SCRIPT])),
            backends=tuple(draw(st.lists(st.sampled_from(BACKENDS), unique=True, max_size=2))),
            axes=draw(st.dictionaries(st.sampled_from(AXIS_KEYS),
                                      st.lists(AXIS_VALUES, min_size=1, max_size=2)
                                      .map(tuple), max_size=2))))
    return found


@st.composite
def case_infos(draw: st.DrawFn, case_ids: list[str]) -> list[CaseInfo]:
    axes = st.dictionaries(st.sampled_from(AXIS_KEYS), AXIS_VALUES, max_size=4)
    return [CaseInfo(id=c, group=draw(st.sampled_from(["g1", "g2", SCRIPT])),
                     description=draw(text), axes=draw(axes),
                     subject=draw(st.sampled_from(["layers.Embedding", "ops.take", SCRIPT])),
                     expected=draw(st.sampled_from([
                         "values", "error (IndexError or InvalidArgumentError): IndexError: "
                         "<x> |", f"error ({SCRIPT}): {SCRIPT}"])),
                     repro=draw(st.one_of(st.none(), text)))
            for c in case_ids]


def _env(env_id: str, ran: bool, reason: str | None = None,
         versions: dict[str, str] | None = None, provenance: dict[str, Any] | None = None
         ) -> EnvironmentInfo:
    backend, _, device = env_id.partition("-")
    return EnvironmentInfo(id=env_id, backend=backend, device=device or "cpu", ran=ran,
                           reason=reason, versions=versions or {},
                           provenance=provenance or {})


@st.composite
def runs(draw: st.DrawFn, env_id: str, case_ids: list[str]) -> Run:
    """One environment's run over a subset of the cases; some cases may lack a result."""
    mine = draw(st.lists(st.sampled_from(case_ids), unique=True)) if case_ids else []
    with_result = [c for c in mine if draw(st.booleans()) or len(mine) < 3]
    results = []
    for c in with_result:
        verdict = draw(verdicts())
        # A run file carries the outcome of its verdict with no limitation applied; a
        # hand-edited one may hold anything in `limitation`, which the merge recomputes.
        results.append(Result(case=c, environment=env_id,
                              outcome=outcome_of(verdict, limited=draw(st.booleans())),
                              observed=draw(observations()), verdict=verdict,
                              duration_s=draw(st.floats(0, 100, allow_nan=False)),
                              limitation=draw(st.one_of(st.none(), st.just(SCRIPT), text))))
    ran = draw(st.booleans())
    env = _env(env_id, ran, None if ran else draw(text),
               # Package versions come from importlib.metadata, not from the backend's
               # messages; a hostile one is tested in tests/test_hostile_strings.py.
               versions=draw(st.dictionaries(st.sampled_from(["keras", "jax", "python"]),
                                             st.text(alphabet=SAFE + "+", max_size=12),
                                             max_size=3)),
               provenance={"device_name": draw(text), "git_commit": draw(text)})
    infos = {c.id: c for c in draw(case_infos(mine))}
    return Run(schema_version=SCHEMA_VERSION, environment=env,
               cases=[infos[c] for c in mine], results=results)


@st.composite
def matrices(draw: st.DrawFn) -> tuple[Matrix, list[Run], list[EnvironmentInfo]]:
    """A merged matrix, with the runs and the declared columns it came from."""
    case_ids = draw(st.lists(ids, unique=True, max_size=8))
    env_ids = draw(st.lists(st.builds(lambda b, d: f"{b}-{d}",
                                      st.sampled_from(["jax", "torch", "tensorflow", "x"]),
                                      st.text(alphabet=SAFE, min_size=1, max_size=5)),
                            unique=True, min_size=1, max_size=5))
    declared_ids = draw(st.lists(st.sampled_from(env_ids), unique=True))
    run_ids = draw(st.lists(st.sampled_from(env_ids), unique=True))
    all_runs = [draw(runs(e, case_ids)) for e in run_ids]
    declared = [_env(e, False, draw(maybe_text)) for e in declared_ids]
    problems = draw(st.lists(text, max_size=2))
    merged = merge_runs(all_runs, declared, NOW, problems)
    return apply_limitations(merged, draw(limitation_lists())), all_runs, declared


# --- the merge ------------------------------------------------------------------------------

@FAST
@given(matrices())
def test_every_case_meets_every_environment_in_exactly_one_result(
        built: tuple[Matrix, list[Run], list[EnvironmentInfo]]) -> None:
    matrix, all_runs, declared = built
    env_ids = [e.id for e in matrix.environments]
    case_ids = [c.id for c in matrix.cases]
    assert len(env_ids) == len(set(env_ids))
    assert len(case_ids) == len(set(case_ids))
    assert set(env_ids) == {e.id for e in declared} | {r.environment.id for r in all_runs}
    assert set(case_ids) == {c.id for r in all_runs for c in r.cases}
    pairs = [(r.case, r.environment) for r in matrix.results]
    assert len(pairs) == len(set(pairs)) == len(case_ids) * len(env_ids)
    listed = {lim.id for lim in matrix.limitations}
    for result in matrix.results:  # triaged: the outcome is the verdict's, limitation or not
        assert result.outcome is outcome_of(result.verdict, result.limitation is not None)
        assert result.limitation is None or result.limitation in listed
        if result.limitation is not None:
            assert result.verdict.status in ("matched", "mismatched")
    for lim in matrix.limitations:
        covered = [r for r in matrix.results if r.limitation == lim.id]
        assert lim.cells == len(covered)
        assert lim.stale == (bool(covered) and all(r.outcome is Outcome.XPASSED
                                                    for r in covered))
    ran = {r.environment.id: r.environment.ran for r in all_runs}
    for env in matrix.environments:
        if env.id not in ran:  # no run file: never a 0% column
            assert not env.ran
            assert all(r.outcome is Outcome.NOT_RUN for r in matrix.results
                       if r.environment == env.id)


@FAST
@given(matrices())
def test_renderers_never_raise_and_json_round_trips(
        built: tuple[Matrix, list[Run], list[EnvironmentInfo]]) -> None:
    matrix = built[0]
    markdown = render_markdown(matrix)
    assert markdown.endswith("\n")
    assert not raw_tag(markdown)  # `\\<script\\>` is escaped: shown, never parsed
    html = render_html(matrix)
    # ours: the data, the code and one per family (inline here), nothing from the runs
    assert html.count("<script") == 2 + len({case.group for case in matrix.cases})
    files = render_json(matrix)
    assert json.loads(files["compatibility.json"])["record_schema_version"] == SCHEMA_VERSION
    assert decode(files) == matrix


# --- run files and shards -------------------------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(st.data())
def test_run_files_round_trip(tmp_path_factory: Any, data: st.DataObject) -> None:
    case_ids = data.draw(st.lists(ids, unique=True, max_size=6))
    run = data.draw(runs("jax-cpu", case_ids))
    path = tmp_path_factory.mktemp("run") / "jax-cpu.json"
    dump_run(run, path)
    assert RUN_ADAPTER.validate_json(path.read_bytes()) == run  # the bytes round-trip
    loaded = load_run(path)  # validated (and its free text may be cleaned)
    assert loaded.environment.id == run.environment.id
    assert [(r.case, r.outcome) for r in loaded.results] == [(r.case, r.outcome)
                                                             for r in run.results]
    assert RUN_ADAPTER.validate_json(to_json(run, inf_nan_mode="strings")) == run


@FAST
@given(st.data())
def test_disjoint_shards_combine_and_overlapping_ones_are_refused(data: st.DataObject) -> None:
    case_ids = data.draw(st.lists(ids, unique=True, min_size=1, max_size=12))
    count = data.draw(st.integers(1, 4))
    provenance = {"catalog": {"cases": len(case_ids), "fingerprint": "f"}}
    shards = []
    for index in range(1, count + 1):
        mine = case_ids[index - 1::count]
        run = data.draw(runs("jax-cpu", mine))
        run = dataclasses.replace(run, cases=[c for c in data.draw(case_infos(mine))],
                                  environment=dataclasses.replace(
                                      run.environment, versions={"keras": "3"},
                                      provenance={**provenance, "shard": f"{index}/{count}"}))
        shards.append((Path(f"jax-cpu.shard-{index}-of-{count}.json"), run))
    combined = combine_shards(shards)
    assert [c.id for c in combined.cases] == [c.id for _, r in shards for c in r.cases]
    assert len(combined.results) == sum(len(r.results) for _, r in shards)
    assert combined.environment.provenance["shards"] == sorted(f"{i}/{count}"
                                                               for i in range(1, count + 1))
    if count > 1 and shards[0][1].cases:
        path, second = shards[1]
        overlap = dataclasses.replace(second, cases=[*second.cases, shards[0][1].cases[0]])
        with pytest.raises(RunFileError, match="shards must not overlap"):
            combine_shards([shards[0], (path, overlap)])


# --- the fold -------------------------------------------------------------------------------

def _report(nodeid: str, when: str, outcome: str, **extra: Any) -> dict[str, Any]:
    return {"$report_type": "TestReport", "nodeid": nodeid, "when": when, "outcome": outcome,
            "longrepr": None, "user_properties": [], "duration": 0.01, **extra}


@st.composite
def longreprs(draw: st.DrawFn) -> Any:
    message = draw(text)
    return draw(st.sampled_from([
        None, message, ["matrix/run/test_cases.py", 1, f"Skipped: {message}"],
        {"reprcrash": {"message": message, "path": "x.py", "lineno": 1}},
        {"reprcrash": None}, {"reprcrash": {"message": None}},
    ]))


def _observation_prop(obs: Observation) -> list[Any]:
    return ["observation", dataclasses.asdict(obs)]


@st.composite
def case_events(draw: st.DrawFn, case: str) -> list[dict[str, Any]]:
    """The reports pytest writes for one case: a normal life, or a crash, or a cut-off."""
    node = f"matrix/run/test_cases.py::test_case[{case}]"
    life = draw(st.sampled_from(["normal", "setup-fails", "crash", "cut-off", "skip"]))
    events = [_report(node, "setup", "passed")]
    if life == "setup-fails":
        return [_report(node, "setup", draw(st.sampled_from(["failed", "skipped"])),
                        longrepr=draw(longreprs()))]
    if life == "cut-off":  # the run was killed while the case ran
        return events
    if life == "skip":
        reason = draw(st.sampled_from(["no saved model", "not applicable"]))
        left_out = [["not_run", reason]] if reason != "not applicable" else []
        return [_report(node, "setup", "skipped", user_properties=left_out,
                        longrepr=["matrix/run/test_cases.py", 1, f"Skipped: {reason}"])]
    if life == "crash":
        ended = draw(st.sampled_from(["crash", "timeout"]))
        events.append(_report(node, "???", "failed", longrepr=(
            f"worker 'gw0' crashed while running {node!r}"),
            user_properties=[["ended_by", ended], ["printed", draw(text)],
                             ["printed_tail", draw(text)]]))
        return events
    outcome = draw(st.sampled_from(["passed", "failed", "skipped"]))
    props: list[Any] = []
    if draw(st.booleans()) or outcome == "passed":
        props.append(_observation_prop(draw(observations())))
    if draw(st.booleans()) or outcome == "passed":
        props.append(["verdict", dataclasses.asdict(draw(verdicts()))])
    extra: dict[str, Any] = {"user_properties": props, "longrepr": draw(longreprs())}
    events.append(_report(node, "call", outcome, **extra))
    teardown = draw(st.sampled_from(["passed", "passed", "failed"]))
    events.append(_report(node, "teardown", teardown,
                          longrepr=None if teardown == "passed" else draw(longreprs())))
    return events


NOISE: list[dict[str, Any]] = [{"$report_type": "SessionStart", "pytest_version": "9.2.0"},
         {"$report_type": "WarningMessage", "message": SCRIPT},
         {"$report_type": "CollectReport", "nodeid": "", "outcome": "passed", "result": []},
         {"$report_type": "SessionFinish", "exitstatus": 1}]


@st.composite
def report_logs(draw: st.DrawFn) -> tuple[list[str], list[dict[str, Any]]]:
    cases = draw(st.lists(ids, unique=True, max_size=10))
    events: list[dict[str, Any]] = [NOISE[0]]
    if draw(st.booleans()):
        env_node = "matrix/run/test_cases.py::test_environment"
        events += [_report(env_node, "setup", "passed"),
                   _report(env_node, "call", draw(st.sampled_from(["passed", "failed"])),
                           user_properties=[["versions", {"keras": "3.15.1"}],
                                            ["provenance", {"date": NOW}]],
                           longrepr=draw(longreprs()))]
    for case in cases:
        events += draw(case_events(case))
        if draw(st.integers(0, 5)) == 0:
            events.append(draw(st.sampled_from(NOISE[1:3])))
    if draw(st.booleans()):
        events.append(NOISE[3])
    return cases, events


def _id(event: dict[str, Any]) -> str:
    return str(event["nodeid"]).split("::test_case[", 1)[1][:-1]


def _decided(events: list[dict[str, Any]]) -> set[str]:
    """Case ids with a report that decides their cell (what the fold must turn into one)."""
    out = set()
    for event in events:
        node = str(event.get("nodeid", ""))
        if event.get("$report_type") == "TestReport" and "::test_case[" in node and (
                event["when"] == "call" or event["outcome"] != "passed"):
            out.add(node.split("::test_case[", 1)[1][:-1])
    return out


@settings(max_examples=60, deadline=None)
@given(report_logs())
def test_fold_gives_one_result_per_decided_case(log: tuple[list[str], list[dict[str, Any]]]
                                                ) -> None:
    cases, events = log
    # The fold reads what pytest-reportlog wrote: JSON lines.
    decoded = [json.loads(json.dumps(e)) for e in events]
    results, props = fold_reports(decoded, "jax-cpu")
    assert [r.case for r in results] == [c for c in cases if c in _decided(events)]
    assert all(r.environment == "jax-cpu" for r in results)
    assert all(isinstance(r.outcome, Outcome) for r in results)
    # No limitation is applied in a run: the outcome is the raw verdict's.
    assert all(r.outcome is outcome_of(r.verdict, False) for r in results)
    assert all(r.limitation is None for r in results)
    by_case = {r.case: r for r in results}
    for event in events:
        if "::test_case[" not in str(event.get("nodeid", "")):
            continue
        recorded = dict(event.get("user_properties") or [])
        if event.get("when") == "call" and "verdict" in recorded:
            got = by_case[_id(event)]
            want = recorded["verdict"]
            if want.get("status") == "mismatched" and want.get("cause") == "device" \
                    and got.observed.device is None:
                # a device failure with no device known is the harness's error, by design
                # (`matrix.results.ingest._device_unknown`; found by this test)
                assert got.verdict.status == "harness_error", got.verdict
            else:
                assert dataclasses.asdict(got.verdict) == want
        elif event.get("when") == "call" and event["outcome"] == "skipped" \
                and "not_run" in recorded:
            assert by_case[_id(event)].verdict.status == "not_run"
        elif event.get("when") == "call" and event["outcome"] != "skipped":
            assert by_case[_id(event)].verdict.status == "harness_error"
        if event.get("when") == "???":
            case = str(event["nodeid"]).split("[", 1)[1][:-1]
            ended = dict(event["user_properties"])["ended_by"]
            assert by_case[case].outcome is (Outcome.TIMEOUT if ended == "timeout"
                                             else Outcome.CRASHED)
            message = by_case[case].observed.message or ""
            assert len(message) <= 500
            assert "\x1b" not in message
            assert "\n" not in message
    infos = [CaseInfo(id=r.case, group="g", description="d", axes={}) for r in results]
    run = Run(schema_version=SCHEMA_VERSION, environment=_env("jax-cpu", bool(events)),
              cases=infos, results=results)
    assert RUN_ADAPTER.validate_json(to_json(run, inf_nan_mode="strings")) == run
    if any(str(e.get("nodeid", "")).endswith("test_environment") for e in events):
        assert props["versions"] == {"keras": "3.15.1"}


# --- the diff -------------------------------------------------------------------------------

@FAST
@given(matrices(), matrices())
def test_diff_never_raises_and_a_matrix_equals_itself(
        old: tuple[Matrix, list[Run], list[EnvironmentInfo]],
        new: tuple[Matrix, list[Run], list[EnvironmentInfo]]) -> None:
    before, after = old[0], new[0]
    assert diff_matrices(before, before).unchanged
    diff = diff_matrices(before, after)
    markdown = render_diff(diff, "old.json", "new.json", limit=5)
    assert markdown.endswith("\n")
    assert not raw_tag(markdown)
    cells = (len(diff.regressions) + len(diff.fixes) + len(diff.outcome_changes)
             + len(diff.observation_changes))
    both = {e.id for e in before.environments if e.ran} & {e.id for e in after.environments
                                                            if e.ran}
    assert cells <= sum(1 for r in after.results if r.environment in both)
