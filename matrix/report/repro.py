"""The repro snippet of a cell: the backend-independent body built from the case (or the
program the run executed) and the environment's header, as the HTML detail shows them."""

from __future__ import annotations

import json
import re

from cases.subjects import SUBJECTS
from matrix.results import CaseInfo, EnvironmentInfo

# Keras layer classes are CamelCase calls; `Input` and `Model` are not in keras.layers here.
_CLASS_CALL = re.compile(r"(?<![\w.])([A-Z][A-Za-z0-9]*)\(")
_PREDICT = re.compile(r"^keras\.Model\((?P<chain>.+)\)\.predict\((?P<data>.+)\)$")
_INPUT = re.compile(r"^Input(?:\((?P<shape>.*)\))?$")
PRINT_OUTPUT = (
    "out = keras.ops.convert_to_numpy(out)\n"
    'print("shape", out.shape, "dtype", out.dtype)\n'
    'if out.dtype.kind == "f":\n'
    '    print("NaN count", int(np.isnan(out).sum()))\n'
    "print(out)\n"
)


def _split_note(description: str) -> tuple[str, str]:
    """(code, note): the description up to its first `: ` outside brackets, and the rest."""
    depth = 0
    quote = ""
    for i, ch in enumerate(description):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == ":" and depth == 0 and description[i + 1: i + 2] == " ":
            return description[:i].strip(), description[i + 2:].strip()
    return description.strip(), ""


def _predict_body(chain: str, data: str, dtype: object) -> str | None:
    steps = [s.strip() for s in chain.split(" -> ")]
    first = _INPUT.match(steps[0])
    if first is None or len(steps) < 2:
        return None
    shape = first.group("shape") or "x.shape[1:]"
    dtype_arg = f", dtype={str(dtype)!r}" if dtype else ""
    lines = [f"x = {data}", f"inputs = keras.Input(shape={shape}{dtype_arg})", "h = inputs"]
    for step in steps[1:]:
        if step.endswith(".compute_mask"):  # the mask of the layer, as the model's output
            lines += [f"layer = {step.removesuffix('.compute_mask')}", "layer(h)",
                      "h = layer.compute_mask(h)"]
        else:
            lines.append(f"h = {step}(h)")
    lines += ["model = keras.Model(inputs, h)", "out = model.predict(x, verbose=0)"]
    return "\n".join(lines) + "\n"


def _one_line(text: str) -> str:
    """Text for a `#` comment: one line, printable characters only."""
    return "".join(ch for ch in " ".join(text.split()) if ch.isprintable())


def repro_body(case: CaseInfo) -> str:
    """The backend-independent part of a repro snippet: imports, the call, the output.

    `case.repro` (a runnable snippet generated from the case spec, where the catalog provides
    one) wins; otherwise the snippet is built from `description`, which is one line of
    Python for an eager call and `keras.Model(Input -> A -> B).predict(x)` for `predict`.
    Weights are Keras's own initialisation, not the run's seeded ones: errors, NaN and
    shapes reproduce; exact values may differ.
    """
    if case.repro and case.repro.strip():  # the program the run executed
        return case.repro.rstrip() + "\n"
    head = [f"# {_one_line(case.id)}",
            f"# The NumPy reference expects: {_one_line(case.expected)}"]
    if case.source:
        head.append(f"# Reported publicly: {_one_line(case.source)}")
    code, note = _split_note(case.description)
    match = _PREDICT.match(code)
    body = None
    if match is not None:
        body = _predict_body(match.group("chain"), match.group("data"),
                             case.axes.get("input_dtype"))
    if body is None:
        body = f"out = {code}\n"
    classes = sorted({name for name in _CLASS_CALL.findall(code) if name != "Input"})
    if note:
        head.append(f"# {_one_line(note)}")
    head += ["import keras", "import numpy as np"]
    if classes:
        head.append(f"from keras.layers import {', '.join(classes)}")
    return "\n".join(head) + "\n\n" + body + PRINT_OUTPUT


#: Where a rendered program's own code starts (`matrix.run.program.render`): what comes before
#: it (imports and the harness's helpers, about 3.7 KB) is the same for most cases.
_PROGRAM_START = "\ndef program():"


def _split_prelude(body: str, preludes: dict[str, int]) -> tuple[str, int, str]:
    """A repro body as (its docstring, the index of its prelude in `preludes`, which it adds
    to, the rest), so a page stores each distinct prelude (the imports and helpers between
    a program's docstring and its `def program():`) once; -1 and an empty docstring when
    the body has no such parts. The page joins them again (docstring + prelude + rest ==
    `body`)."""
    at = body.find(_PROGRAM_START)
    doc_end = body.find('"""\n', 3) + 4 if body.startswith('"""') else 0
    if at <= 0 or not 0 < doc_end <= at:
        return "", -1, body
    index = preludes.setdefault(body[doc_end:at], len(preludes))
    return body[:doc_end], index, body[at:]


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
