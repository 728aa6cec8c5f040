"""End-to-end: the result cache on the real `run` session (JAX on the CPU, a user catalog).

A rerun with nothing changed executes no case; a comment added to a user catalog changes
nothing; editing one of its cases reruns the catalog's cells (its code ran in their
process); `--no-cache` runs every case again. What ran is read from the run's report
log (the `call` reports of `test_case`), not timed. Each test owns its cache and work folders
(`tests/harness.py`): the checkout's would serve or resume what these tests mean to run.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from harness import harness_env, work_dir, work_root

from matrix.records import Run
from matrix.results.io import load_run
from matrix.run.runfiles import parse_run_options

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[1]
CATALOG = '''\
from cases import Case, Step, Tensor, chain

_STEPS = chain(Step("layers.Embedding", args={{"input_dim": 10, "output_dim": 4}}))

CASES = [
    Case(group="user-cache", description=f"Embedding(10, 4)(ids {{name}})",
         axes={{"subject": "layers.Embedding", "values": name, "mode": "eager"}},
         inputs={{"ids": Tensor(dtype="int32", values=values)}}, steps=_STEPS, mode="eager")
    for name, values in (("first", [[1, 2, 3]]), ("second", {second}), ("third", [[7, 8]]))
]
'''


def _run(tmp_path: Path, catalog: Path, *extra: str, keras_home: Path | None = None
         ) -> tuple[Run, list[str]]:
    """Runs the session on the catalog; returns its run file and the case ids it executed.
    `keras_home`: the run's `KERAS_HOME` (where Keras reads and writes `keras.json`)."""
    args = ["--output", str(tmp_path / "runs"), "--catalog", str(catalog), "--jobs", "1",
            "-k", "user-cache", *extra]
    env = harness_env(tmp_path)
    if keras_home is not None:
        env["KERAS_HOME"] = str(keras_home)
    done = subprocess.run([sys.executable, "-m", "nox", "--noxfile", str(ROOT / "noxfile.py"),
                           "-s", "run(jax-cpu)", "--", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=1200, check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    options = parse_run_options(args)
    log = work_dir(options, "jax-cpu", tmp_path) / "report-log.jsonl"
    executed = []
    for line in log.read_text(encoding="utf-8").splitlines():
        event = json.loads(line)
        nodeid = str(event.get("nodeid", ""))
        if event.get("when") == "call" and "::test_case[" in nodeid:
            executed.append(nodeid.split("[", 1)[1].rstrip("]"))
    assert "reused from the cache" in done.stdout + done.stderr
    return load_run(tmp_path / "runs" / "jax-cpu.json"), sorted(executed)


def test_a_rerun_executes_only_what_changed(tmp_path: Path) -> None:
    catalog = tmp_path / "cache_catalog.py"
    catalog.write_text(CATALOG.format(second="[[4, 5, 6]]"), encoding="utf-8")
    first, ran = _run(tmp_path, catalog, "--fresh")
    ids = sorted(c.id for c in first.cases)
    assert len(ids) == 3
    assert ran == ids
    assert first.environment.provenance["cache"]["reused"] == 0

    again, ran = _run(tmp_path, catalog)
    assert ran == []  # nothing changed: no case executed
    assert again.environment.provenance["cache"] == {"reused": 3, "executed": 0, "stored": 0}
    assert {r.case: r.verdict for r in again.results} == \
        {r.case: r.verdict for r in first.results}

    # A comment edit changes no key; any other edit of a user catalog reruns its cells:
    # the module's import ran in the process that judged them (matrix/run/cache_key.py).
    catalog.write_text("# a note\n" + CATALOG.format(second="[[4, 5, 6]]"), encoding="utf-8")
    _, ran = _run(tmp_path, catalog)
    assert ran == []
    catalog.write_text(CATALOG.format(second="[[4, 5, 9]]"), encoding="utf-8")
    edited, ran = _run(tmp_path, catalog)
    assert ran == ids, ran
    assert edited.environment.provenance["cache"]["reused"] == 0

    _, ran = _run(tmp_path, catalog, "--no-cache")
    assert ran == ids


def test_the_first_run_on_a_machine_without_keras_json_is_served_again(tmp_path: Path
                                                                       ) -> None:
    """Keras writes its defaults to a missing `keras.json` at its first import: the first run
    of a fresh machine must key its cells as the runs after it do (`benchmarks/bench_cold.py`
    found the first column of a cold main job running again in full)."""
    catalog = tmp_path / "cache_catalog.py"
    catalog.write_text(CATALOG.format(second="[[4, 5, 6]]"), encoding="utf-8")
    home = tmp_path / "keras-home"
    _, ran = _run(tmp_path, catalog, keras_home=home)
    assert len(ran) == 3
    written = json.loads((home / "keras.json").read_text(encoding="utf-8"))
    assert written["floatx"] == "float32"  # Keras wrote its defaults during the run
    again, ran = _run(tmp_path, catalog, keras_home=home)
    assert ran == []
    assert again.environment.provenance["cache"]["reused"] == 3
    # A keras.json that changes an answer still keys the cells apart.
    (home / "keras.json").write_text(json.dumps({**written, "floatx": "float16"}),
                                     encoding="utf-8")
    _, ran = _run(tmp_path, catalog, keras_home=home)
    assert len(ran) == 3


def _full_numpy_run(tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`nox -s run(numpy-cpu)` on the whole catalog, with its own output, work and cache."""
    done = subprocess.run([sys.executable, "-m", "nox", "--noxfile", str(ROOT / "noxfile.py"),
                           "-s", "run(numpy-cpu)", "--", "--output", str(tmp_path / "runs")],
                          cwd=ROOT, env=harness_env(tmp_path), capture_output=True, text=True,
                          timeout=1800, check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return done


def test_an_up_to_date_run_file_is_left_as_it_is_and_nothing_starts(tmp_path: Path) -> None:
    """The whole catalog on NumPy (the fastest column): a second run starts no pytest."""
    run_file = tmp_path / "runs" / "numpy-cpu.json"
    log = work_root(tmp_path) / "numpy-cpu" / "report-log.jsonl"
    first = _full_numpy_run(tmp_path)
    assert "up to date" not in first.stdout + first.stderr
    written, mtime = run_file.read_bytes(), log.stat().st_mtime_ns
    assert load_run(run_file).environment.provenance["cache"]["executed"] == \
        len(load_run(run_file).cases)

    second = _full_numpy_run(tmp_path)
    out = second.stdout + second.stderr
    assert "numpy-cpu: up to date" in out, out[-3000:]
    assert "-m pytest" not in out  # no pytest command was started
    assert run_file.read_bytes() == written
    assert log.stat().st_mtime_ns == mtime

    # A run file edited by hand is not the one the stamp recorded: the run happens again,
    # every cell from the cache, and the run file is whole again.
    edited = written.replace(b'"passed"', b'"failed"', 1)
    assert edited != written
    run_file.write_bytes(edited)
    third = _full_numpy_run(tmp_path)
    assert "up to date" not in third.stdout + third.stderr
    again = load_run(run_file)
    assert again.environment.provenance["cache"]["executed"] == 0
    (tmp_path / "first.json").write_bytes(written)
    assert [r.verdict for r in again.results] == \
        [r.verdict for r in load_run(tmp_path / "first.json").results]
