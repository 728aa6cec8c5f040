"""Triage at merge: limitations are joined to the raw verdicts of run files, never in a run.

Rewording, adding or removing a limitation re-triages a committed run file without rerunning
it, and a limitation whose covered cells all matched is flagged stale.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from cells import verdict_for

from cases.limitations import LIMITATIONS, Behaviour, Limitation
from matrix.records import (
    SCHEMA_VERSION,
    CaseInfo,
    EnvironmentInfo,
    MismatchCause,
    Observation,
    Outcome,
    Result,
    Run,
    Verdict,
)
from matrix.report import collect, limitation_link, render_json
from matrix.results.compact import decode
from matrix.results.io import dump_run
from matrix.results.triage import apply_limitations

ROOT = Path(__file__).resolve().parents[1]

NOW = "2026-01-01T00:00:00+00:00"
ENVS = [EnvironmentInfo(id=e, backend=e.split("-")[0], device="cpu", ran=False)
        for e in ("jax-cpu", "torch-cpu")]
NEGATIVE = Limitation(id="negative-wraps", description="a negative id wraps",
                      link="https://example.org/negative", axes={"values": ("negative",)})
JAX_ONLY = Limitation(id="jax-fills-nan", description="JAX fills NaN",
                      link="https://example.org/nan", backends=("jax",),
                      axes={"values": ("out_of_range",)})


def _write_runs(folder: Path) -> Path:
    """jax-cpu and torch-cpu run files: `neg` mismatches everywhere, `oob` on jax only."""
    cases = [CaseInfo(id=c, group="g", description=c, axes={"values": v})
             for c, v in (("neg", "negative"), ("oob", "out_of_range"), ("ok", "in_range"))]
    outcomes = {"jax-cpu": {"neg": Outcome.FAILED, "oob": Outcome.FAILED, "ok": Outcome.PASSED},
                "torch-cpu": {"neg": Outcome.FAILED, "oob": Outcome.PASSED,
                              "ok": Outcome.PASSED}}
    for env in ENVS:
        results = [Result(case=c, environment=env.id, outcome=o,
                          observed=Observation(kind="value", shape=[1], nan_count=0),
                          verdict=verdict_for(o, None if o is Outcome.PASSED else "differs"))
                   for c, o in outcomes[env.id].items()]
        run = Run(schema_version=SCHEMA_VERSION, environment=replace(env, ran=True),
                  cases=cases, results=results)
        dump_run(run, folder / f"{env.id}.json")
    return folder


def _cells(limitations: tuple[Limitation, ...], runs: Path
           ) -> dict[tuple[str, str], tuple[Outcome, str | None]]:
    matrix = collect(runs, ENVS, now=NOW, limitations=limitations)
    return {(r.case, r.environment): (r.outcome, r.limitation) for r in matrix.results}


def test_a_run_file_is_triaged_at_merge_and_re_triaged_without_rerunning(tmp_path: Path
                                                                         ) -> None:
    runs = _write_runs(tmp_path)
    before = {p.name: p.read_bytes() for p in runs.iterdir()}
    bare = _cells((), runs)
    assert bare[("neg", "jax-cpu")] == (Outcome.FAILED, None)
    assert bare[("oob", "jax-cpu")] == (Outcome.FAILED, None)
    assert bare[("ok", "jax-cpu")] == (Outcome.PASSED, None)

    known = _cells((NEGATIVE, JAX_ONLY), runs)
    assert known[("neg", "jax-cpu")] == (Outcome.XFAILED, "negative-wraps")
    assert known[("neg", "torch-cpu")] == (Outcome.XFAILED, "negative-wraps")
    assert known[("oob", "jax-cpu")] == (Outcome.XFAILED, "jax-fills-nan")
    assert known[("oob", "torch-cpu")] == (Outcome.PASSED, None)  # the backend is not jax
    assert known[("ok", "jax-cpu")] == (Outcome.PASSED, None)

    # Removing a limitation: its cells fail again. Narrowing one: only what it still covers.
    removed = _cells((JAX_ONLY,), runs)
    assert removed[("neg", "jax-cpu")] == (Outcome.FAILED, None)
    assert removed[("oob", "jax-cpu")] == (Outcome.XFAILED, "jax-fills-nan")
    narrowed = _cells((replace(NEGATIVE, backends=("torch",)), JAX_ONLY), runs)
    assert narrowed[("neg", "jax-cpu")] == (Outcome.FAILED, None)
    assert narrowed[("neg", "torch-cpu")] == (Outcome.XFAILED, "negative-wraps")

    # Rewording one: the matrix shows the new words, looked up by id.
    reworded = replace(NEGATIVE, description="ids below zero wrap like NumPy",
                       link="https://example.org/v2")
    matrix = collect(runs, ENVS, now=NOW, limitations=(reworded, JAX_ONLY))
    cell = next(r for r in matrix.results if (r.case, r.environment) == ("neg", "jax-cpu"))
    assert limitation_link(matrix, cell.limitation) == ("ids below zero wrap like NumPy",
                                                        "https://example.org/v2")
    # The run files were only read.
    assert {p.name: p.read_bytes() for p in runs.iterdir()} == before


def test_the_first_covering_limitation_wins(tmp_path: Path) -> None:
    runs = _write_runs(tmp_path)
    everything = Limitation(id="everything", description="all", link="https://example.org")
    cells = _cells((NEGATIVE, everything), runs)
    assert cells[("neg", "jax-cpu")] == (Outcome.XFAILED, "negative-wraps")
    assert cells[("oob", "jax-cpu")] == (Outcome.XFAILED, "everything")
    assert cells[("ok", "jax-cpu")] == (Outcome.XPASSED, "everything")


def test_an_intermittent_limitation_leaves_a_matched_cell_passed(tmp_path: Path) -> None:
    runs = _write_runs(tmp_path)
    # `oob` mismatched on jax and matched on torch: a divergence that shows in some runs only
    flaky = Limitation(id="heap-corruption", description="aborts in some runs",
                       link="https://example.org/heap", axes={"values": ("out_of_range",)},
                       intermittent=True)
    matrix = collect(runs, ENVS, now=NOW, limitations=(flaky,))
    cells = {(r.case, r.environment): (r.outcome, r.limitation) for r in matrix.results}
    assert cells[("oob", "jax-cpu")] == (Outcome.XFAILED, "heap-corruption")
    assert cells[("oob", "torch-cpu")] == (Outcome.PASSED, "heap-corruption")
    assert cells[("ok", "torch-cpu")] == (Outcome.PASSED, None)
    # every covered cell that ran matched on torch alone: still not stale, it is intermittent
    torch_only = replace(flaky, backends=("torch",))
    matrix = collect(runs, ENVS, now=NOW, limitations=(torch_only,))
    assert [(lim.cells, lim.stale) for lim in matrix.limitations] == [(1, False)]
    strict = replace(torch_only, intermittent=False)
    matrix = collect(runs, ENVS, now=NOW, limitations=(strict,))
    assert [(lim.cells, lim.stale) for lim in matrix.limitations] == [(1, True)]


def test_a_stale_limitation_is_flagged(tmp_path: Path) -> None:
    runs = _write_runs(tmp_path)
    # torch matched on `oob`: a torch limitation for it covers only matched cells.
    stale = Limitation(id="torch-oob", description="torch differs on oob",
                       link="https://example.org/torch", backends=("torch",),
                       axes={"values": ("out_of_range",)})
    nothing = Limitation(id="covers-nothing", description="no such case",
                         link="https://example.org/none", axes={"values": ("fractional",)})
    matrix = collect(runs, ENVS, now=NOW, limitations=(NEGATIVE, JAX_ONLY, stale, nothing))
    cell = next(r for r in matrix.results if (r.case, r.environment) == ("oob", "torch-cpu"))
    assert (cell.outcome, cell.limitation) == (Outcome.XPASSED, "torch-oob")
    listed = {lim.id: lim for lim in matrix.limitations}
    assert [lim.id for lim in matrix.limitations] == ["negative-wraps", "jax-fills-nan",
                                                      "torch-oob", "covers-nothing"]
    assert (listed["torch-oob"].cells, listed["torch-oob"].stale) == (1, True)
    assert (listed["negative-wraps"].cells, listed["negative-wraps"].stale) == (2, False)
    assert (listed["jax-fills-nan"].cells, listed["jax-fills-nan"].stale) == (1, False)
    # A limitation that covers no cell that answered is not called stale: nothing says so.
    assert (listed["covers-nothing"].cells, listed["covers-nothing"].stale) == (0, False)
    assert listed["torch-oob"].backends == ["torch"]
    assert listed["torch-oob"].axes == {"values": ["out_of_range"]}
    # compatibility.json carries the list, stale flag included, and reads back the same.
    data = json.loads(render_json(matrix)["compatibility.json"])
    assert {d["id"]: d["stale"] for d in data["limitations"]} == {
        "negative-wraps": False, "jax-fills-nan": False, "torch-oob": True,
        "covers-nothing": False}
    assert decode(render_json(matrix)) == matrix


def test_only_answered_cells_are_triaged(tmp_path: Path) -> None:
    runs = _write_runs(tmp_path)
    matrix = collect(runs, ENVS, now=NOW, limitations=(NEGATIVE,))
    crashed = replace(matrix.results[0], verdict=verdict_for(Outcome.CRASHED),
                      outcome=Outcome.CRASHED)
    not_run = replace(matrix.results[1], verdict=verdict_for(Outcome.NOT_RUN),
                      outcome=Outcome.NOT_RUN)
    assert crashed.case == "neg"
    again = apply_limitations(replace(matrix, results=[crashed, not_run]), (NEGATIVE,))
    assert [(r.outcome, r.limitation) for r in again.results] == [
        (Outcome.CRASHED, None), (Outcome.NOT_RUN, None)]
    assert again.limitations[0].cells == 0
    assert not again.limitations[0].stale


def test_collect_uses_the_catalog_limitations_by_default(tmp_path: Path) -> None:
    runs = _write_runs(tmp_path)
    matrix = collect(runs, ENVS, now=NOW)
    assert [lim.id for lim in matrix.limitations] == [lim.id for lim in LIMITATIONS]
    neg = next(r for r in matrix.results if (r.case, r.environment) == ("neg", "jax-cpu"))
    # `values: negative` alone (no `bad_id`) is covered by none of the catalog's limitations.
    assert (neg.outcome, neg.limitation) == (Outcome.FAILED, None)


def test_a_user_catalogs_limitations_are_joined_by_the_report(tmp_path: Path) -> None:
    """`python -m matrix.report --catalog my_cases.py` joins that module's LIMITATIONS too."""
    from matrix import report

    module = tmp_path / "my_cases.py"
    module.write_text(
        "from cases.limitations import Limitation\n"
        "CASES = []\n"
        "LIMITATIONS = [Limitation(id='mine', description='my known divergence',\n"
        "                          link='https://example.org/mine', axes={'mine': ('yes',)})]\n")
    runs = tmp_path / "runs"
    runs.mkdir()
    assert report.main(["--runs", str(runs), "--out", str(tmp_path / "out"),
                        "--catalog", str(module)]) == 0
    written = json.loads((tmp_path / "out" / "compatibility.json").read_text())
    assert "mine" in [lim["id"] for lim in written["limitations"]]
    bad = tmp_path / "bad.py"
    bad.write_text("CASES = 3\n")
    assert report.main(["--runs", str(runs), "--out", str(tmp_path / "out2"),
                        "--catalog", str(bad)]) == 2


def test_a_limitation_of_some_keras_versions_covers_only_their_columns(tmp_path: Path) -> None:
    """jax-cpu ran Keras 3.15.1, torch-cpu keras-nightly: a nightly-only limitation of the
    negative ids covers the torch cell alone; the jax cell stays `failed`."""
    runs = _write_runs(tmp_path)
    for env, versions in (("jax-cpu", {"keras": "3.15.1"}),
                          ("torch-cpu", {"keras-nightly": "3.16.0.dev2026102704"})):
        path = runs / f"{env}.json"
        data = json.loads(path.read_text())
        data["environment"]["versions"] = versions
        path.write_text(json.dumps(data))
    nightly = replace(NEGATIVE, id="nightly-negative", versions={"keras": ">=3.16.0.dev0"})
    cells = _cells((nightly,), runs)
    assert cells[("neg", "torch-cpu")] == (Outcome.XFAILED, "nightly-negative")
    assert cells[("neg", "jax-cpu")] == (Outcome.FAILED, None)
    older = replace(NEGATIVE, id="older-negative", versions={"keras": "<3.16"})
    cells = _cells((older,), runs)
    assert cells[("neg", "jax-cpu")] == (Outcome.XFAILED, "older-negative")
    assert cells[("neg", "torch-cpu")] == (Outcome.FAILED, None)


#: A user catalog (`--catalog`) with one case that JAX answers where the reference refuses,
#: and its own limitation covering that cell on JAX.
USER_CATALOG = '''\
from cases import Case, Step, Tensor, chain
from cases.limitations import Limitation

CASES = [Case(group="user-gru", description="GRU after Embedding, an id past input_dim",
              axes={"subject": "layers.GRU", "values": "out_of_range", "mode": "eager"},
              inputs={"ids": Tensor(dtype="int32", values=[[1, 2, 10], [4, 5, 0]])},
              steps=chain(Step("layers.Embedding", args={"input_dim": 10, "output_dim": 4}),
                          Step("layers.GRU", args={"units": 3})),
              mode="eager")]
LIMITATIONS = [Limitation(id="user-gru-jax-nan", description="JAX fills NaN rows",
                          link="https://example.org/user-gru", backends=("jax",),
                          axes={"subject": ("layers.GRU",), "values": ("out_of_range",)})]
'''


def _user_catalog_runs(folder: Path, catalog: Path, *, beside_a_full_run: bool) -> str:
    """A `--catalog` run of jax-cpu (a partial run file naming the catalog), the user case
    mismatched; with `beside_a_full_run`, merged over a full run of the built-in case."""
    from matrix.oracle.catalog import load_catalog

    (case,) = [c for c in load_catalog([catalog]).cases if c.group == "user-gru"]
    info = CaseInfo(id=case.id, group=case.group, description=case.description,
                    axes=dict(case.axes))
    env = replace(ENVS[0], ran=True)
    mismatched = Result(case=case.id, environment=env.id, outcome=Outcome.FAILED,
                        observed=Observation(kind="value", shape=[2, 3], nan_count=3),
                        verdict=verdict_for(Outcome.FAILED, "values where it must refuse"))
    selection = {"pytest_args": [], "catalogs": [str(catalog)]}
    partial = Run(schema_version=SCHEMA_VERSION, environment=replace(env, provenance={
        "selection": selection, "date": "2026-01-02T00:00:00+00:00"}),
        cases=[info], results=[mismatched])
    dump_run(partial, folder / "jax-cpu.partial-user.json")
    if beside_a_full_run:
        full = Run(schema_version=SCHEMA_VERSION, environment=replace(env, provenance={
            "date": "2026-01-01T00:00:00+00:00"}), cases=[], results=[])
        dump_run(full, folder / "jax-cpu.json")
    return case.id


@pytest.mark.parametrize("beside_a_full_run", [False, True])
def test_a_user_catalogs_limitations_are_joined_from_the_run_file(
        tmp_path: Path, beside_a_full_run: bool) -> None:
    """Issue 23: the docstrings said a user catalog's LIMITATIONS are joined; the report
    joined only the built-in ones, so the user's own known divergence was `failed`."""
    catalog = tmp_path / "my_cases.py"
    catalog.write_text(USER_CATALOG, encoding="utf-8")
    runs = tmp_path / "runs"
    runs.mkdir()
    case_id = _user_catalog_runs(runs, catalog, beside_a_full_run=beside_a_full_run)
    matrix = collect(runs, ENVS, now=NOW)
    cell = next(r for r in matrix.results if (r.case, r.environment) == (case_id, "jax-cpu"))
    assert (cell.outcome, cell.limitation) == (Outcome.XFAILED, "user-gru-jax-nan")
    assert "user-gru-jax-nan" in {lim.id for lim in matrix.limitations}
    assert {lim.id for lim in LIMITATIONS} <= {lim.id for lim in matrix.limitations}
    assert not [p for p in matrix.problems if "user catalog" in p], matrix.problems

    # Moved away: the cell is failed again, and the report says why and what to pass.
    moved = catalog.rename(tmp_path / "elsewhere.py")
    matrix = collect(runs, ENVS, now=NOW)
    cell = next(r for r in matrix.results if (r.case, r.environment) == (case_id, "jax-cpu"))
    assert (cell.outcome, cell.limitation) == (Outcome.FAILED, None)
    assert any(f"user catalog {catalog} does not exist here" in p
               for p in matrix.problems), matrix.problems
    # ... and the report's --catalog joins it from its new place.
    matrix = collect(runs, ENVS, now=NOW, user_catalogs=[moved])
    cell = next(r for r in matrix.results if (r.case, r.environment) == (case_id, "jax-cpu"))
    assert cell.outcome is Outcome.XFAILED


# --- limitations matched on what the program does, not on its labels (issue 24) -----------

def _user_case(axes: dict[str, str | int], ids: list[list[int]] | None = None,
               mode: str = "eager") -> CaseInfo:
    """A user's `Embedding(10, 4) -> GRU(3)` program, labelled with `axes`, as the fold
    records it (`matrix.results.fold.catalog_infos`: facts from the typed case)."""
    from cases.facts import program_facts
    from cases.model import Case, Step, Tensor
    from matrix.oracle.expect import describe, expected

    data = [[1, 10, 2]] if ids is None else ids
    tensor = Tensor(dtype="int32", values=data) if data else Tensor(dtype="int32", values=[],
                                                                     shape=(0, 3))
    case = Case(group="user-gru", description="Embedding then GRU", mode=mode,  # type: ignore[arg-type]
                axes={**axes, "mode": mode}, inputs={"ids": tensor},
                steps=(Step("layers.Embedding", inputs=("ids",), output="x",
                            args={"input_dim": 10, "output_dim": 4}),
                       Step("layers.GRU", inputs=("x",), output="y", args={"units": 3})))
    return CaseInfo(id=case.id, group=case.group, description=case.description,
                    axes=dict(case.axes), subject=case.subject,
                    expected=describe(expected(case)),
                    facts={k: list(v) for k, v in program_facts(case).items()})


def _triaged(info: CaseInfo, status: str, observed: Observation) -> Result:
    env = EnvironmentInfo(id="jax-cpu", backend="jax", device="cpu", ran=True,
                          versions={"keras": "3.15.1"})
    cause: MismatchCause = "values_where_refused" if observed.kind == "value" else \
        "error_where_values_expected"
    verdict = Verdict(status="mismatched", cause=cause) if status == "mismatched" else \
        verdict_for(Outcome.PASSED)
    result = Result(case=info.id, environment="jax-cpu", outcome=Outcome.FAILED,
                    observed=observed, verdict=verdict)
    run = Run(schema_version=SCHEMA_VERSION, environment=env, cases=[info], results=[result])
    from matrix.results.merge import merge_runs

    merged = merge_runs([run], [env], NOW, [])
    return apply_limitations(merged).results[0]


def test_the_same_program_is_triaged_alike_whatever_its_labels() -> None:
    """Issue 24: `Embedding -> GRU` with an id past the table was `failed` on JAX when
    labelled `subject: layers.GRU`, `xfailed` when labelled `layers.Embedding`."""
    nan_rows = Observation(kind="value", shape=[1, 3], dtype="float32", nan_count=3)
    labels: tuple[dict[str, str | int], ...] = ({"subject": "layers.GRU"},
              {"subject": "layers.Embedding", "values": "out_of_range"},
              {"subject": "layers.GRU", "values": "in_range", "note": "anything"},
              {})
    triaged = [_triaged(_user_case(axes), "mismatched", nan_rows) for axes in labels]
    assert {(r.outcome, r.limitation) for r in triaged} == {
        (Outcome.XFAILED, "jax-take-fills-nan-embedding")}
    # in range, the same program is no longer covered, whatever it says of itself
    in_range = _triaged(_user_case({"values": "out_of_range"}, ids=[[1, 2, 3]]),
                        "mismatched", nan_rows)
    assert (in_range.outcome, in_range.limitation) == (Outcome.FAILED, None)


def test_an_empty_batch_is_known_without_a_batch_label() -> None:
    refused = Observation(kind="error", error_type="UnboundLocalError", message="empty",
                          stage="model")  # what Keras's predict raises on an empty batch
    unlabelled = _triaged(_user_case({}, ids=[], mode="predict"), "mismatched", refused)
    assert (unlabelled.outcome, unlabelled.limitation) == (Outcome.XFAILED,
                                                           "predict-empty-batch")


def test_a_run_file_without_facts_takes_the_built_in_cases_facts() -> None:
    from matrix.results.triage import facts_of

    info = CaseInfo(id="embedding-values-rank2-int32-out_of_range-10-none-eager",
                    group="embedding-values", description="", axes={})
    user = CaseInfo(id="user-thing", group="user", description="", axes={"values": "x"})
    found = facts_of([info, user])
    facts = found[info.id]
    assert facts is not None
    assert facts["values"] == ["out_of_range"]
    assert found["user-thing"] is None  # matched on its axes


# --- limitations say what they explain; drafts for what none explains (issue 28) -----------

_OUT_OF_RANGE = CaseInfo(id="user-lookup-out-of-range", group="user", description="",
                         axes={"subject": "layers.Embedding", "values": "out_of_range",
                               "mode": "eager"}, subject="layers.Embedding",
                         expected="error (IndexError) at step 0 (layers.Embedding): ...")
_RAISES = Limitation(id="torch-raises-index-error", description="torch raises IndexError",
                     link="https://example.org/torch", backends=("torch",),
                     axes={"subject": ("layers.Embedding",), "values": ("out_of_range",)},
                     explains=(Behaviour(kind="error", error_type="IndexError"),),
                     observed_on=("cpu",))


def _device_matrix(observed: dict[str, Observation]) -> Any:
    envs = [EnvironmentInfo(id=e, backend="torch", device=e.split("-")[1], ran=True,
                            versions={"keras": "3.15.1"}) for e in observed]
    runs = []
    for env in envs:
        obs = observed[env.id]
        cause = "values_where_refused" if obs.kind == "value" else "refused_other_reason"
        verdict = Verdict(status="mismatched", cause=cause)  # type: ignore[arg-type]
        result = Result(case=_OUT_OF_RANGE.id, environment=env.id, outcome=Outcome.FAILED,
                        observed=obs, verdict=verdict)
        runs.append(Run(schema_version=SCHEMA_VERSION, environment=env, cases=[_OUT_OF_RANGE],
                        results=[result]))
    from matrix.results.merge import merge_runs

    return apply_limitations(merge_runs(runs, envs, NOW, []), [_RAISES])


def test_a_cpu_limitation_does_not_cover_a_gpu_cell_that_behaves_otherwise() -> None:
    """tensorflow/tensorflow#27033's shape: the CPU raises where the GPU returns a row."""
    triaged = _device_matrix({
        "torch-cpu": Observation(kind="error", error_type="IndexError", message="index"),
        "torch-gpu": Observation(kind="value", shape=[1, 4], dtype="float32", nan_count=0)})
    cells = {r.environment: r for r in triaged.results}
    assert (cells["torch-cpu"].outcome, cells["torch-cpu"].limitation) == (
        Outcome.XFAILED, "torch-raises-index-error")
    gpu = cells["torch-gpu"]
    assert (gpu.outcome, gpu.limitation, gpu.unexplained) == (
        Outcome.FAILED, None, "torch-raises-index-error")
    # a GPU cell that raises the same way is explained
    same = _device_matrix({"torch-gpu": Observation(kind="error", error_type="IndexError")})
    assert same.results[0].outcome is Outcome.XFAILED


def test_one_draft_per_unexplained_cluster_and_none_for_explained_cells() -> None:
    from matrix.results.triage import draft_limitations

    triaged = _device_matrix({
        "torch-cpu": Observation(kind="error", error_type="IndexError", message="index"),
        "torch-gpu": Observation(kind="value", shape=[1, 4], dtype="float32", nan_count=0)})
    source, count = draft_limitations(triaged)
    assert count == 1
    assert "torch-gpu" in source
    assert "torch-cpu" not in source  # explained: no draft
    namespace: dict[str, Any] = {}
    exec(compile(source, "drafts.py", "exec"), namespace)
    (draft,) = namespace["DRAFTS"]
    assert (draft.backends, draft.devices, draft.link) == (("torch",), ("gpu",), None)
    assert draft.axes == {"subject": ("layers.Embedding",), "values": ("out_of_range",),
                          "mode": ("eager",)}
    assert draft.explains == (Behaviour(kind="values", nan=False,
                                        cause="values_where_refused"),)
    # the draft, completed, explains the cell it was written from
    done = replace(draft, description="d", link="https://example.org/gpu")
    again = apply_limitations(replace(triaged, results=[
        r for r in triaged.results if r.environment == "torch-gpu"]), [_RAISES, done])
    assert again.results[0].outcome is Outcome.XFAILED
    assert draft_limitations(again)[1] == 0


def test_the_observed_behaviours_are_those_of_the_published_runs() -> None:
    """Every built-in limitation that covers a differing published cell says what it
    explains (`cases/limitation_behaviours.json`), and explains every cell it covers."""
    from cases.limitations import BEHAVIOURS_FILE

    data = json.loads(BEHAVIOURS_FILE.read_text(encoding="utf-8"))
    by_id = {lim.id: lim for lim in LIMITATIONS}
    assert set(data) <= set(by_id)
    for lim_id in data:
        assert by_id[lim_id].explains, lim_id
        assert by_id[lim_id].observed_on == ("cpu",)


def test_the_behaviours_file_is_what_the_published_cpu_runs_show(tmp_path: Path) -> None:
    """`python -m matrix.results.behaviours` regenerates the file from the published runs,
    reading CPU cells only: the GPU runs beside them (a device-side assert where the CPU
    raised IndexError) are GPU limitations of their own, never absorbed by a CPU record."""
    from cases.limitations import BEHAVIOURS_FILE
    from matrix.results.behaviours import main

    out = tmp_path / "behaviours.json"
    assert main(["--runs", str(ROOT / "reports" / "runs"), "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == BEHAVIOURS_FILE.read_text(encoding="utf-8")
    assert main(["--runs", str(ROOT / "reports" / "runs"), "--out", str(out),
                 "--device", "cpu", "--device", "gpu"]) == 0
    both = json.loads(out.read_text(encoding="utf-8"))
    assert "gpu" in both["category-encoding-no-range-check"]["observed_on"]


# --- limitations matched by an alternative reference (issue 26) -----------------------------

def test_a_limitation_matched_by_an_alternative_selects_only_where_it_differs() -> None:
    from matrix.results.merge import merge_runs

    cut = "inputs_cut_to_32_bits"
    lim = Limitation(id="cuts", description="d", link="l", backends=("jax",),
                     axes={"subject": ("ops.divide",)},
                     explains=(Behaviour(kind="values", matches=cut),))
    info = CaseInfo(id="c", group="g", description="d",
                    axes={"subject": "ops.divide", "mode": "eager"}, expected="values")
    env = EnvironmentInfo(id="jax-cpu", backend="jax", device="cpu", ran=True,
                          versions={"keras": "3.15.1"})

    def triaged(status: str, alternatives: dict[str, bool] | None) -> Result:
        nonlocal lim
        observed = Observation(kind="value", shape=[1], dtype="float32",
                               alternatives=alternatives)
        verdict = Verdict(status="mismatched", cause="values_differ") \
            if status == "mismatched" else verdict_for(Outcome.PASSED)
        result = Result(case="c", environment="jax-cpu", outcome=Outcome.FAILED,
                        observed=observed, verdict=verdict)
        run = Run(schema_version=SCHEMA_VERSION, environment=env, cases=[info],
                  results=[result])
        return apply_limitations(merge_runs([run], [env], NOW, []), (lim,)).results[0]

    shown = triaged("mismatched", {cut: True})
    assert (shown.outcome, shown.limitation) == (Outcome.XFAILED, "cuts")
    other = triaged("mismatched", {cut: False})  # differs, but not as the record says
    assert (other.outcome, other.limitation, other.unexplained) == (Outcome.FAILED, None,
                                                                    "cuts")
    assert triaged("mismatched", None).outcome == Outcome.FAILED
    # matched where the cut answer differs: the backend no longer cuts, the record is stale
    assert triaged("matched", {cut: False}).outcome == Outcome.XPASSED
    # matched where the cut changes nothing: not the record's business
    plain = triaged("matched", None)
    assert (plain.outcome, plain.limitation) == (Outcome.PASSED, None)
    # a record that holds only where it shows: a matched cell simply passed
    lim = replace(lim, only_where_shown=True)
    assert triaged("matched", {cut: False}).outcome == Outcome.PASSED
    assert triaged("mismatched", {cut: True}).outcome == Outcome.XFAILED
    assert triaged("mismatched", {cut: False}).outcome == Outcome.FAILED
