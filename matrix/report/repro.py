"""The repro snippet of a cell: the backend-independent body built from the case (or the
program the run executed) and the environment's header, as the HTML detail shows them."""

from __future__ import annotations

import json

from cases.subjects import SUBJECTS
from matrix.results import CaseInfo, EnvironmentInfo
from matrix.results.io import split_repro


def _one_line(text: str) -> str:
    """Text for a `#` comment: one line, printable characters only."""
    return "".join(ch for ch in " ".join(text.split()) if ch.isprintable())


def repro_body(case: CaseInfo) -> str:
    """The backend-independent part of a repro snippet: the program the run executed.

    That program (`case.repro`, `matrix.run.program.render`) is recorded for every case the
    harness runs. A case read from a run file written before programs were recorded has
    none: its snippet says so, in comments, rather than guess code from the description.
    """
    if case.repro and case.repro.strip():  # the program the run executed
        return case.repro.rstrip() + "\n"
    return "\n".join([f"# {_one_line(case.id)}: {_one_line(case.description)}",
                      f"# The NumPy reference expects: {_one_line(case.expected)}",
                      "# No program is recorded for this case: its run file was written before "
                      "the harness recorded them.",
                      "# Rerun the environment (nox -s \"run(<environment>)\") to get one."]) + "\n"


def _split_prelude(body: str, preludes: dict[str, int]) -> tuple[str, int, str]:
    """A repro body as (its docstring, the index of its prelude in `preludes`, which it adds
    to, the rest), so a page stores each distinct prelude (the imports and helpers between
    a program's docstring and its `def program():`) once; -1 and an empty docstring when
    the body has no such parts. The split is the published JSON's
    (`matrix.results.io.split_repro`); the page joins them again."""
    parts = split_repro(body, preludes)
    if isinstance(parts, list):
        return parts[0], parts[1], parts[2]
    return "", -1, body


def _interned(text: str | None, lines: dict[str, int]) -> list[int] | None:
    """`text` as indices into `lines` (one per line; a new line is added to `lines`)."""
    if text is None:
        return None
    return [lines.setdefault(line, len(lines)) for line in text.splitlines()]


def _doc_link(case: CaseInfo) -> str:
    """Where the case's Keras API is documented (its record's `doc`), or "" when unknown."""
    if not case.subject or case.subject not in SUBJECTS:
        return ""
    return SUBJECTS[case.subject].doc or ""


def repro_header(env: EnvironmentInfo) -> str:
    """The environment part of a repro snippet: the backend, and no GPU for a CPU one."""
    lines = ["import os", "",
             f'os.environ["KERAS_BACKEND"] = {json.dumps(env.backend)}  # read once, when '
             "keras is imported"]
    if env.device == "cpu":
        lines += ['os.environ["CUDA_VISIBLE_DEVICES"] = ""  # a CPU environment: hide GPUs',
                  'os.environ["JAX_PLATFORMS"] = "cpu"']
    return "\n".join(lines) + "\n"


def repro_snippet(case: CaseInfo, env: EnvironmentInfo) -> str:
    """A few lines of Python that reproduce `case` on `env`'s backend, runnable as is."""
    return repro_header(env) + repro_body(case)
