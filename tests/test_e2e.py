"""End-to-end: the real `run` nox session on the five CPU backends, over catalog slices.

These tests create (or reuse) each environment's virtualenv under `.nox/`, run real Keras on
real TensorFlow, JAX and PyTorch (a wide slice) and on NumPy and OpenVINO (a tiny one), fold
the log and assert what was observed. Each run owns a temporary folder: its run files, saved
models, result cache and work folders are there (`tests/harness.py`), never in `reports/`, so
what the main job left in the checkout's cache cannot serve a cell these tests mean to run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from harness import harness_env, work_dir

from matrix import variables as kcm
from matrix.records import Outcome, Result, Run
from matrix.results.io import load_run
from matrix.run.runfiles import parse_run_options

ROOT = Path(__file__).resolve().parents[1]
HOSTILE = ROOT / "tests" / "data" / "hostile_catalog.py"
HOSTILE_PROCESS = ROOT / "tests" / "data" / "hostile_process_catalog.py"
GRU_CATALOG = ROOT / "tests" / "data" / "gru_reset_after_catalog.py"
BACKENDS = {"tensorflow-cpu": "tensorflow", "jax-cpu": "jax", "torch-cpu": "torch"}


def family_mode_pairs() -> dict[tuple[str, str], str]:
    """The first case of every (family, mode) pair of the catalog."""
    from cases import builtin_cases

    pairs: dict[tuple[str, str], str] = {}
    for case in builtin_cases():
        pairs.setdefault((case.group, case.mode), case.id)
    return pairs

pytestmark = pytest.mark.e2e

#: The slice: in-range ids, id == input_dim, id -1, float ids, and the article's examples.
SLICE = ("embedding-dtype-rank2-int32-in_range-none-eager or "
         "embedding-values-rank2-int32-out_of_range-10-none-eager or "
         "embedding-values-rank2-int32-negative-1-none-eager or "
         "embedding-values-rank2-float32-fractional-1.5-none-eager or "
         "article or "
         "mask-consumers-lstm-lstm-rank2-int32-padded-post-mask_zero-predict or "
         "embedding-mask-rank2-int32-padded-pre-mask_zero-mask-eager or "
         "embedding-options-quantize_int8-int32-jit_compile or "
         "dtype-policy-mixed_float16-embedding_lstm-int32-predict or "
         "embedding-values-rank2-int64-out_of_range-4294967303-none-x64_on-eager or "
         "user-reports-ragged_ids-int32-eager or "
         "user-reports-two_masked_inputs-maskprobe-mask_zero-int32-predict or "
         "user-gru")


def run_session(environment: str, root: Path, *args: str) -> Run:
    """Runs `nox -s run(<environment>) -- --output <root>/runs ...` and loads its run file.

    The run's result cache and work folders are under `root` too (`harness_env`); its saved
    models go to `<root>/artifacts`, beside the output folder.
    """
    command = [sys.executable, "-m", "nox", "--noxfile", str(ROOT / "noxfile.py"),
               "-s", f"run({environment})", "--", "--output", str(root / "runs"), *args]
    done = subprocess.run(command, cwd=ROOT, env=harness_env(root), capture_output=True,
                          text=True, timeout=1800, check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return load_run(root / "runs" / f"{environment}.json")


def cells(run: Run) -> dict[str, Result]:
    return {r.case: r for r in run.results}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    root = tmp_path_factory.mktemp("e2e")
    pairs = " or ".join(family_mode_pairs().values())
    return {env: run_session(env, root, "--catalog", str(GRU_CATALOG), "-k",
                             f"{SLICE} or {pairs}")
            for env in ("tensorflow-cpu", "jax-cpu", "torch-cpu")}


def assert_ran_as_asked(env_id: str, run: Run, backend: str) -> None:
    """The provenance every run records: it ran Keras 3.15.1 on `backend`, no GPU visible,
    from a known commit."""
    info = run.environment
    assert info.ran, env_id
    assert info.versions["keras"] == "3.15.1"
    checks = info.provenance["checks"]
    assert checks["backend"]["ok"], checks
    assert f"keras.backend.backend()={backend!r}" in checks["backend"]["detail"], checks
    assert checks["no_gpu_visible"]["ok"], checks
    assert info.provenance["git_commit"] != "unknown"


def test_environments_are_what_was_asked(runs: dict[str, Run]) -> None:
    for env_id, run in runs.items():
        assert_ran_as_asked(env_id, run, env_id.split("-")[0])
    torch_checks = runs["torch-cpu"].environment.provenance["checks"]
    assert torch_checks["torch_cpu_build"]["ok"], torch_checks
    assert runs["torch-cpu"].environment.provenance["backend_facts"]["build_cuda"] is None


def test_slice_is_exactly_the_selected_cases(runs: dict[str, Run]) -> None:
    for run in runs.values():
        ids = {c.id for c in run.cases}
        named = {part.strip() for part in SLICE.split(" or ")
                 if part.strip() not in ("article", "user-gru")}
        articles = {i for i in ids if i.startswith("article-")}
        assert len(articles) == 4, sorted(ids)
        assert {i for i in ids if i.startswith("user-gru-")} == {
            "user-gru-padded-eager", "user-gru-out_of_range-eager"}
        assert ids == named | articles | set(family_mode_pairs().values()) | {
            "user-gru-padded-eager", "user-gru-out_of_range-eager"}
        assert {r.case for r in run.results} == ids


def test_gru_reset_after_false_matches_and_bad_ids_are_never_xpassed(
        runs: dict[str, Run], tmp_path: Path) -> None:
    """Issue 9: the reference models reset_after=False; the JAX NaN rows stay a divergence."""
    from matrix.records import EnvironmentInfo
    from matrix.report import collect

    for env_id, run in runs.items():
        good = cells(run)["user-gru-padded-eager"]
        assert good.verdict.status == "matched", (env_id, good)
        assert good.observed.shape == [2, 3]
    bad = {e: cells(r)["user-gru-out_of_range-eager"] for e, r in runs.items()}
    assert bad["jax-cpu"].verdict.status == "mismatched"
    assert bad["jax-cpu"].verdict.cause == "values_where_refused"
    assert bad["tensorflow-cpu"].verdict.status == "matched"  # InvalidArgumentError
    assert bad["torch-cpu"].verdict.status == "matched"  # IndexError
    out = tmp_path / "e2e-triage"
    out.mkdir()
    from matrix.results.io import dump_run

    for env_id, run in runs.items():
        dump_run(run, out / f"{env_id}.json")
    envs = [EnvironmentInfo(id=e, backend=b, device="cpu", ran=False)
            for e, b in BACKENDS.items()]
    matrix = collect(out, envs)
    triaged = {(r.case, r.environment): r for r in matrix.results}
    jax_bad = triaged[("user-gru-out_of_range-eager", "jax-cpu")]
    # The built-in JAX limitation is about Embedding; this user case names layers.GRU as its
    # subject, but its program feeds the id to an Embedding first: the limitation covers it
    # by what the program does (issue 24), and explains what it did (NaN rows where the
    # reference refuses). Never xpassed.
    assert (jax_bad.outcome, jax_bad.limitation) == (
        Outcome.XFAILED, "jax-take-fills-nan-embedding"), jax_bad
    assert jax_bad.verdict.cause == "values_where_refused"
    assert triaged[("user-gru-padded-eager", "jax-cpu")].outcome is Outcome.PASSED


def _run_repro(source: str, backend: str, artifacts: Path) -> dict[str, object]:
    import json

    python = ROOT / ".nox" / f"run-{backend}-cpu" / "bin" / "python"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("KERAS_", "KCM_"))},
           "KERAS_BACKEND": backend, "JAX_PLATFORMS": "cpu", "CUDA_VISIBLE_DEVICES": "",
           kcm.ARTIFACTS.name: str(artifacts), "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run([str(python), "-c", source], env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    last = done.stdout.strip().splitlines()[-1]
    observed: dict[str, object] = json.loads(last)
    return observed


def test_every_family_and_mode_repro_prints_its_cells_observation(
        runs: dict[str, Run], tmp_path_factory: pytest.TempPathFactory) -> None:
    """Issue 9: the repro is the program that ran; run as is, it observes what the cell did.

    The repros are separate processes, one per core at a time (they were 8.5 of CI's 20
    minutes one after another); each is compared with its own cell."""
    from concurrent.futures import Future, ThreadPoolExecutor

    pairs = family_mode_pairs()
    checks: list[tuple[str, str, str, str, Result, Future[dict[str, object]]]] = []
    with ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
        for env_id, run in runs.items():
            infos = {c.id: c for c in run.cases}
            got = cells(run)
            artifacts = Path(str(run.environment.provenance.get("artifacts") or
                                 ROOT / "reports" / "artifacts"))
            for (family, mode), case_id in pairs.items():
                info, cell = infos[case_id], got[case_id]
                assert info.repro is not None, case_id
                if cell.verdict.status in ("not_run", "not_applicable"):
                    continue
                checks.append((env_id, family, mode, case_id, cell, pool.submit(
                    _run_repro, info.repro, BACKENDS[env_id], artifacts)))
    assert len(checks) >= len(pairs), "most cells must have run"
    for env_id, family, mode, case_id, cell, future in checks:
        observed = future.result()
        for key in ("kind", "error_type", "shape", "dtype", "nan_count"):
            assert observed.get(key) == getattr(cell.observed, key), \
                (env_id, family, mode, case_id, key, observed, cell.observed)


def test_in_range_lookup_passes_exactly_on_cpu(runs: dict[str, Run]) -> None:
    for env_id, run in runs.items():
        cell = cells(run)["embedding-dtype-rank2-int32-in_range-none-eager"]
        assert cell.outcome is Outcome.PASSED, (env_id, cell)
        assert cell.observed.shape == [2, 3, 4]
        assert cell.observed.dtype == "float32"
        assert cell.observed.max_abs_error == 0.0
        assert "cpu" in (cell.observed.device or "").lower(), cell.observed.device


def test_out_of_range_raises_on_tf_and_torch_and_is_nan_on_jax(runs: dict[str, Run]) -> None:
    case = "embedding-values-rank2-int32-out_of_range-10-none-eager"
    tf, jx, pt = (cells(runs[e])[case] for e in ("tensorflow-cpu", "jax-cpu", "torch-cpu"))
    assert tf.observed.kind == "error"
    assert tf.observed.error_type == "InvalidArgumentError"
    assert tf.outcome is Outcome.PASSED
    assert pt.observed.kind == "error"
    assert pt.observed.error_type == "IndexError"
    assert pt.outcome is Outcome.PASSED
    # JAX's take fills out-of-bounds rows with NaN: a silent divergence, never `passed`.
    assert jx.observed.kind == "value"
    assert jx.observed.nan_count == 4
    assert jx.outcome in (Outcome.FAILED, Outcome.XFAILED)


def test_negative_id_silently_returns_the_last_row_everywhere(runs: dict[str, Run]) -> None:
    for env_id, run in runs.items():
        cell = cells(run)["embedding-values-rank2-int32-negative-1-none-eager"]
        assert cell.observed.kind == "value", (env_id, cell)
        assert cell.outcome in (Outcome.FAILED, Outcome.XFAILED), (env_id, cell)


def test_article_examples_are_observed(runs: dict[str, Run]) -> None:
    for env_id, run in runs.items():
        got = cells(run)
        # Example 1: a rank-1 input works on the layer (the article's ValueError is not raised)
        direct = got["article-1-rank1-int64-in_range-none-eager"]
        assert direct.outcome is Outcome.PASSED, (env_id, direct)
        assert direct.observed.shape == [5, 128]
        # ... but a model built for Input((3,)) refuses it.
        model = got["article-1-rank1-int64-in_range-none-predict"]
        assert model.observed.kind == "error", (env_id, model)
        assert model.observed.error_type == "ValueError"
        # Example 2: fractional float ids are not refused (no TypeError): truncated instead.
        frac = got["article-2-rank2-float32-fractional-none-eager"]
        assert frac.observed.kind == "value", (env_id, frac)
        assert frac.outcome in (Outcome.FAILED, Outcome.XFAILED)
        # Example 3: SimpleRNN after a masked embedding matches the masked NumPy reference.
        rnn = got["article-3-rank2-int32-padded-post-mask_zero-simplernn-eager"]
        assert rnn.outcome is Outcome.PASSED, (env_id, rnn)
        assert rnn.observed.shape == [3, 32]
        assert rnn.observed.max_abs_error is not None
        assert rnn.observed.max_abs_error <= 1e-5


def test_mask_and_masked_lstm_match_the_reference(runs: dict[str, Run]) -> None:
    for env_id, run in runs.items():
        got = cells(run)
        mask = got["embedding-mask-rank2-int32-padded-pre-mask_zero-mask-eager"]
        assert mask.outcome is Outcome.PASSED, (env_id, mask)
        assert mask.observed.dtype == "bool"
        lstm = got["mask-consumers-lstm-lstm-rank2-int32-padded-post-mask_zero-predict"]
        assert lstm.outcome is Outcome.PASSED, (env_id, lstm)
        assert lstm.observed.shape == [3, 3]


def test_crash_and_hang_cost_one_cell_each(tmp_path: Path) -> None:
    run = run_session("jax-cpu", tmp_path, "--catalog", str(HOSTILE), "--timeout", "20",
                      "-k", "hostile")
    got = cells(run)
    abort = got["hostile-abort-eager"]
    assert abort.outcome is Outcome.CRASHED, abort
    assert abort.observed.kind == "crash"
    assert "Aborted" in (abort.observed.message or ""), abort.observed
    segv = got["hostile-segfault-eager"]
    assert segv.outcome is Outcome.CRASHED, segv
    assert "Segmentation fault" in (segv.observed.message or ""), segv.observed
    hang = got["hostile-hang-eager"]
    assert hang.outcome is Outcome.TIMEOUT, hang
    assert hang.observed.kind == "timeout"
    assert "pytest-timeout" in (hang.observed.message or "")
    after = got["hostile-after-eager"]
    assert after.outcome is Outcome.PASSED, after
    assert after.observed.shape == [1, 2, 4]


def test_repro_snippet_runs_as_is_and_shows_the_divergence(runs: dict[str, Run]) -> None:
    case = "embedding-values-rank2-int32-out_of_range-10-none-eager"
    info = next(c for c in runs["jax-cpu"].cases if c.id == case)
    assert info.repro is not None
    python = ROOT / ".nox" / "run-jax-cpu" / "bin" / "python"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("KERAS_")},
           "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    done = subprocess.run([str(python), "-c", info.repro], env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert '"shape": [2, 3, 4]' in done.stdout
    assert '"nan_count": 4' in done.stdout
    assert "nan" in done.stdout  # the printed output shows the NaN rows


def test_an_interrupted_run_resumes_and_loses_nothing(tmp_path: Path) -> None:
    import signal
    import time

    slice_ = "embedding-dtype or embedding-values"
    out = tmp_path / "runs"
    command = [sys.executable, "-m", "nox", "--noxfile", str(ROOT / "noxfile.py"),
               "-s", "run(jax-cpu)", "--", "--fresh", "--output", str(out), "-k", slice_]
    # Its own cache: the checkout's, filled by the main job, would serve every cell, and the
    # wait below for cases to run would never end (issue 23).
    env = harness_env(tmp_path)
    options = parse_run_options(["--output", str(out), "-k", slice_])
    log = work_dir(options, "jax-cpu", tmp_path) / "report-log.jsonl"
    log.unlink(missing_ok=True)  # --fresh discards it anyway; the wait below must see new lines
    first = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 600
    try:
        while time.monotonic() < deadline:  # wait until some cases are recorded
            text = log.read_text(errors="replace") if log.exists() else ""
            if text.count('"when": "call"') >= 20:
                break
            time.sleep(0.5)
    finally:
        os.killpg(first.pid, signal.SIGKILL)  # the whole run, mid-case: nox, pytest, worker
        first.wait()
    assert not (out / "jax-cpu.json").exists()
    rerun = [*command[:command.index("--fresh")], *command[command.index("--fresh") + 1:]]
    done = subprocess.run(rerun, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=1800, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "jax-cpu: resuming:" in done.stdout + done.stderr
    run = load_run(out / "jax-cpu.json")
    assert {c.group for c in run.cases} == {"embedding-dtype", "embedding-values"}
    from cases import builtin_cases

    want = {c.id for c in builtin_cases() if c.group in ("embedding-dtype", "embedding-values")}
    assert {c.id for c in run.cases} == want
    assert len(run.results) == len(run.cases) == len(want)
    assert Outcome.ERROR not in {r.outcome for r in run.results}


def test_a_kill_between_pytest_and_the_run_file_loses_nothing(tmp_path: Path) -> None:
    """Issue 12, item 5: a finished but unfolded log is folded again, no case rerun."""
    args = ("--catalog", str(HOSTILE), "-k", "hostile-after")
    first = run_session("jax-cpu", tmp_path, "--fresh", *args)
    work = work_dir(parse_run_options(["--output", str(tmp_path / "runs"), *args]), "jax-cpu",
                    tmp_path)
    # What a kill after pytest finished, before the fold wrote the run file, leaves behind:
    (tmp_path / "runs" / "jax-cpu.json").unlink()
    (work / "folded.json").unlink()
    log_before = (work / "report-log.jsonl").read_bytes()
    again = run_session("jax-cpu", tmp_path, *args)
    assert (work / "report-log.jsonl").read_bytes() == log_before  # pytest did not run
    assert [(r.case, r.outcome, r.duration_s) for r in again.results] == \
        [(r.case, r.outcome, r.duration_s) for r in first.results]
    assert again.results[0].outcome is Outcome.PASSED


def test_hostile_processes_cost_one_cell_each(tmp_path: Path) -> None:
    """Issue 12, item 7: closed fds 1 and 2, a deleted work folder, an unknown observation
    kind, a KeyboardInterrupt, a lingering fork then a crash, an abort just before the
    timeout: each costs its own cell, and every ordinary case after it passes."""
    run = run_session("jax-cpu", tmp_path, "--fresh", "--catalog", str(HOSTILE_PROCESS),
                      "--timeout", "20", "-k", "hostile-process")
    got = cells(run)
    assert len(got) == 13
    after = {case: r for case, r in got.items() if "-after_" in case}
    assert len(after) == 6
    assert {r.outcome for r in after.values()} == {Outcome.PASSED}, after
    for probe in ("close_fds", "delete_work", "fork_linger"):  # they returned values
        assert got[f"hostile-process-{probe}-eager"].outcome is Outcome.PASSED
    unknown = got["hostile-process-unknown_kind-eager"]
    assert unknown.outcome is Outcome.ERROR
    assert unknown.observed.error_type == "HarnessError"
    assert "teapot" in (unknown.observed.message or "")
    interrupt = got["hostile-process-interrupt-eager"]
    assert interrupt.outcome is Outcome.ERROR
    assert interrupt.observed.error_type == "KeyboardInterrupt"
    for probe in ("abort", "late_abort"):
        crash = got[f"hostile-process-{probe}-eager"]
        assert crash.outcome is Outcome.CRASHED, crash
        assert "Fatal Python error: Aborted" in (crash.observed.message or ""), crash


POISONED_CONTEXT = ROOT / "tests" / "data" / "poisoned_context_catalog.py"


def test_a_poisoned_cuda_context_costs_one_cell(tmp_path: Path) -> None:
    """Issue 28, part 4: after a (stand-in) device-side assert the worker is replaced before
    the next case: the assert keeps its own observation, no later case is called crashed or
    inherits the error, and they all ran in another process than the assert."""
    run = run_session("jax-cpu", tmp_path, "--fresh", "--jobs", "1", "--catalog",
                      str(POISONED_CONTEXT), "-k", "poisoned-context")
    got = cells(run)
    assert list(got) == [f"poisoned-context-{p}-eager" for p in
                         ("assert", "after_1", "after_2", "after_3", "keras_after")]
    poisoned = got["poisoned-context-assert-eager"]
    assert poisoned.outcome is Outcome.FAILED, poisoned
    assert poisoned.observed.kind == "error"
    assert poisoned.observed.error_type == "AcceleratorError"
    assert (poisoned.observed.message or "").startswith(
        "CUDA error: device-side assert triggered (a CPU stand-in")
    after = [r for case, r in got.items() if case != "poisoned-context-assert-eager"]
    assert [r.outcome for r in after] == [Outcome.PASSED] * 4, after
    pid = (poisoned.observed.message or "").rsplit("pid ", 1)[1].rstrip(")")
    later = {(r.observed.message or "").removeprefix("pid ") for r in after[:3]}
    assert len(later) == 1
    assert pid not in later


#: Issue 15's slice for the two inference-only backends: an id equal to input_dim (eager,
#: and jit_compile, which means nothing there), an in-range predict, one fit step, and a
#: model saved under TensorFlow loaded there (the deployment path).
INFERENCE_SLICE = ("embedding-values-rank2-int32-out_of_range-10-none-eager or "
                   "embedding-values-rank2-int32-out_of_range-10-none-jit_compile or "
                   "embedding-dtype-rank2-int32-in_range-none-predict or "
                   "fit-rank2-int32-in_range-none-fit or "
                   "save-load-embedding-tensorflow-int32-save_load")
INFERENCE_BACKENDS = {"numpy-cpu": "numpy", "openvino-cpu": "openvino"}


@pytest.fixture(scope="module")
def inference_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    root = tmp_path_factory.mktemp("inference-runs")
    return {env: run_session(env, root, "-k", INFERENCE_SLICE) for env in INFERENCE_BACKENDS}


def test_inference_only_backends_are_what_was_asked_and_skip_what_they_cannot_run(
        inference_runs: dict[str, Run]) -> None:
    """Issue 15: provenance as for the others; fit and jit_compile are skipped with the
    reason (Keras's own message for fit), never failed; the rest runs and is judged."""
    fit_reasons = {"numpy-cpu": "Keras: fit not implemented for NumPy backend.",
                   "openvino-cpu": "Keras: `fit` is not supported with openvino backend"}
    for env_id, run in inference_runs.items():
        assert_ran_as_asked(env_id, run, INFERENCE_BACKENDS[env_id])
        got = cells(run)
        assert set(got) == {part.strip() for part in INFERENCE_SLICE.split(" or ")}
        fit = got["fit-rank2-int32-in_range-none-fit"]
        assert fit.outcome is Outcome.SKIPPED, (env_id, fit)
        assert fit.verdict.status == "not_applicable"
        assert fit.observed.message == fit_reasons[env_id]
        jit = got["embedding-values-rank2-int32-out_of_range-10-none-jit_compile"]
        assert jit.outcome is Outcome.SKIPPED, (env_id, jit)
        assert "ignores it" in (jit.observed.message or ""), jit.observed
        for case in ("embedding-dtype-rank2-int32-in_range-none-predict",
                     "save-load-embedding-tensorflow-int32-save_load"):
            assert got[case].outcome is Outcome.PASSED, (env_id, got[case])
            assert got[case].observed.max_abs_error == 0.0
    assert inference_runs["openvino-cpu"].environment.versions["openvino"] == "2026.4.1"


def test_out_of_range_raises_on_numpy_and_is_a_zero_row_on_openvino(
        inference_runs: dict[str, Run], tmp_path: Path) -> None:
    """Issue 15: NumPy's indexing refuses id == input_dim like PyTorch; OpenVINO's Gather
    fills the row with zeros: a silent divergence, covered by its limitation at merge."""
    from matrix.records import EnvironmentInfo
    from matrix.report import collect
    from matrix.results.io import dump_run

    case = "embedding-values-rank2-int32-out_of_range-10-none-eager"
    numpy_cell = cells(inference_runs["numpy-cpu"])[case]
    assert numpy_cell.observed.kind == "error"
    assert numpy_cell.observed.error_type == "IndexError"
    assert numpy_cell.outcome is Outcome.PASSED
    openvino_cell = cells(inference_runs["openvino-cpu"])[case]
    assert openvino_cell.observed.kind == "value"
    assert openvino_cell.observed.shape == [2, 3, 4]
    assert openvino_cell.observed.nan_count == 0
    assert openvino_cell.verdict.cause == "values_where_refused"
    info = next(c for c in inference_runs["openvino-cpu"].cases if c.id == case)
    assert info.repro is not None
    python = ROOT / ".nox" / "run-openvino-cpu" / "bin" / "python"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("KERAS_", "KCM_"))},
           "KERAS_BACKEND": "openvino", "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run([str(python), "-c", info.repro], env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    # The id 10 sits at [1, 1]: its row is all zeros, the others are the table's rows.
    assert "[ 0.          0.          0.          0.        ]" in done.stdout, done.stdout
    for env_id, run in inference_runs.items():
        dump_run(run, tmp_path / f"{env_id}.json")
    matrix = collect(tmp_path, [EnvironmentInfo(id=e, backend=b, device="cpu", ran=False)
                                for e, b in INFERENCE_BACKENDS.items()])
    triaged = {(r.case, r.environment): r for r in matrix.results}
    assert triaged[(case, "openvino-cpu")].outcome is Outcome.XFAILED
    assert triaged[(case, "openvino-cpu")].limitation == "openvino-gather-fills-zeros"
    assert triaged[(case, "numpy-cpu")].outcome is Outcome.PASSED
