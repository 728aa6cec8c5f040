"""The minimal repro of a cell: the program that ran, cut to what a user pastes upstream.

A case's `repro` (`matrix.run.program.render`) is the whole program the run executed: about 120
lines, most of them the harness's (`observe`, `device_of`, exception classes). An upstream
issue wants about 20: the imports, the inputs, the program, and a `print` of the result and
of what the reference expects. `minimal_repro(repro)` derives that from the stored program
text itself, not from the catalog, so it holds for a published run file whatever the catalog
says today, and for a user catalog's cases alike. What it cuts, statement by statement:

- the harness's helpers (`observe`, `device_of`, `set_weights`'s shape check, exception
  classes); `seeded` and `seed_floats` stay (without their docstrings) where the program
  calls them, because they make the weights every backend got;
- comments, and the branches that only say a cell does not apply (`raise NotApplicable`);
- `fit`'s `try`/`except NotImplementedError` (the call stays);
- `save_load`'s artifact folder and sidecar: the file is saved by the backend named in the
  program and loaded by every backend (run it with that backend first);
- the final `return out, where` becomes `out = ...`, then prints of the output's Keras dtype,
  shape and values.

An error cell raises at the same statement as the full program (its traceback is the repro);
the reference's answer is printed first so it shows either way. The full program stays the
verification script: the minimal one does not print the observation JSON.
"""

from __future__ import annotations

import ast
import functools
import inspect
import json
import re
import textwrap

from matrix.results.io import split_repro

#: The helpers of `matrix.run.prelude.PRELUDE` a minimal repro never needs.
_HARNESS = frozenset({"HarnessError", "NotApplicable", "NotRun", "set_weights", "device_of",
                      "observe"})
#: Helpers kept, without their docstrings, where the program calls them.
_KEPT_HELPERS = ("seeded", "seed_floats")


def minimal_header(backend: str, device: str) -> str:
    """Two lines that pick the backend (and, for a CPU environment, hide GPUs): they must run
    before `keras` is imported."""
    settings = [f"KERAS_BACKEND={json.dumps(backend)}"]
    if device == "cpu":
        settings += ['CUDA_VISIBLE_DEVICES=""', 'JAX_PLATFORMS="cpu"']
    return f"import os\nos.environ.update({', '.join(settings)})  # before keras is imported\n"


def minimal_repro(repro: str) -> str | None:
    """The minimal form of a case's program, without the backend lines (`minimal_header`).

    Args:
        repro: the case's `repro` as the run file stores it (`matrix.run.program.render`).

    Returns:
        Python source, newline-terminated: a comment naming the case, the imports, a print of
        the reference's answer, the helpers the program calls, the program's statements, and
        prints of the output. None when `repro` is not a rendered program (no `program()`,
        or not Python): the report then shows the full program only.
    """
    parsed = _parse(repro)
    if parsed is None:
        return None
    nodes, source_of = parsed
    program = next((n for n in nodes
                    if isinstance(n, ast.FunctionDef) and n.name == "program"), None)
    if program is None:
        return None
    first = nodes[0] if nodes else None
    doc = (first.value.value if isinstance(first, ast.Expr)
           and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str)
           else "")
    doc = inspect.cleandoc(doc) if doc else ""
    title = doc.splitlines()[0] if doc else ""
    reference = next((line[len("Reference: "):] for line in doc.splitlines()
                      if line.startswith("Reference: ")), "")
    reported = next((line[len("Reported in: "):] for line in doc.splitlines()
                     if line.startswith("Reported in: ")), "")
    helpers = {n.name: n for n in nodes if isinstance(n, ast.FunctionDef)}
    extras = [n for n in nodes
              if not isinstance(n, (ast.Import, ast.ImportFrom))
              and not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))
              and getattr(n, "name", None) not in {*_HARNESS, *_KEPT_HELPERS, "program"}
              and not _is_observe_call(n)]
    body = _statements(program.body, source_of[id(program)])
    if body is None:
        return None
    ragged = any("ragged" in line for line in body)
    used = "\n".join(body)
    lines = [f"# {title}" if title else "# keras-compat-matrix case"]
    if reported:
        lines.append(f"# Reported in: {reported}")
    lines += ["import numpy as np", "import keras"]
    lines.append(f"print(\"the NumPy reference expects:\", {reference!r})")
    for name in _KEPT_HELPERS:
        if f"{name}(" in used and name in helpers:
            lines.append(_helper(helpers[name], source_of[id(helpers[name])],
                                 zero_rows="zero_rows=" in used))
    lines += [_segment(source_of[id(n)], n) or ast.unparse(n) for n in extras]
    lines += body
    if ragged:
        lines.append('out = getattr(out, "flat_values", out)  # a tf.RaggedTensor: its values')
    lines += ['print("output:", None if out is None else '
              "(keras.backend.standardize_dtype(out.dtype), tuple(out.shape)))",
              "print(None if out is None else keras.ops.convert_to_numpy(out))"]
    return "\n".join(lines) + "\n"


@functools.lru_cache(maxsize=16)
def _parse_part(text: str) -> tuple[ast.stmt, ...]:
    """The statements of one part of a program, parsed once per text (the prelude, about
    5 KB, is the same for most cases: parsing it for each of 7,713 cases took 11 s)."""
    return tuple(ast.parse(text).body)


def _parse(repro: str) -> tuple[list[ast.stmt], dict[int, str]] | None:
    """The top-level statements of a program and, by `id`, the text each was parsed from
    (its docstring, its prelude, its own code; `matrix.results.io.split_repro`), so a
    statement's source is read from its part; None when it is not Python."""
    parts = split_repro(repro, {})
    texts = [repro] if not isinstance(parts, list) else \
        [parts[0], repro[len(parts[0]):len(repro) - len(parts[2])], parts[2]]
    nodes: list[ast.stmt] = []
    source_of: dict[int, str] = {}
    try:
        for text in texts:
            for node in _parse_part(text):
                nodes.append(node)
                source_of[id(node)] = text
    except SyntaxError:
        return None
    return nodes, source_of


_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")


@functools.lru_cache(maxsize=4)
def _lines(source: str) -> tuple[str, ...]:
    """`source` split into lines as the parser counts them (`\r\n`, `\r`, `\n`), ends kept."""
    return tuple(m.group() for m in _LINE.finditer(source))


def _segment(source: str, node: ast.stmt | ast.expr, padded: bool = False) -> str | None:
    """`ast.get_source_segment(source, node, padded=padded)`, from lines split once per
    source: the standard function splits the whole program again for every statement, which
    made the report's minimal repros take about 45 s for the 7,713-case catalog."""
    start, end = node.lineno - 1, node.end_lineno
    col, end_col = node.col_offset, node.end_col_offset
    if end is None or end_col is None:
        return None
    lines: tuple[str, ...] = _lines(source)
    end -= 1
    if not 0 <= start <= end < len(lines):
        return None
    if start == end:
        return lines[start].encode()[col:end_col].decode()
    head = lines[start].encode()
    padding = "".join(c if c in "\f\t" else " " for c in head[:col].decode()) if padded else ""
    return "".join([padding + head[col:].decode(), *lines[start + 1:end],
                    lines[end].encode()[:end_col].decode()])


def _is_observe_call(node: ast.stmt) -> bool:
    return (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Name) and node.value.func.id == "observe")


def _helper(node: ast.FunctionDef, source: str, zero_rows: bool) -> str:
    """A helper as the program defined it, without its docstring and, where no call passes
    `zero_rows`, without the loop over it (an empty tuple by default: it does nothing)."""
    text = textwrap.dedent(_segment(source, node) or ast.unparse(node))
    copy = ast.parse(text).body[0]
    if not isinstance(copy, ast.FunctionDef):
        return text
    cut = [copy.body[0]] if ast.get_docstring(copy) is not None else []
    if not zero_rows:
        cut += [n for n in copy.body if isinstance(n, ast.For)
                and isinstance(n.iter, ast.Name) and n.iter.id == "zero_rows"]
    kept = text.splitlines()
    for span in sorted(cut, key=lambda n: n.lineno, reverse=True):
        del kept[span.lineno - 1:span.end_lineno]
    return "\n".join(kept)


def _raises_only_skip(node: ast.stmt) -> bool:
    """`if ...: raise NotApplicable(...)` (or NotRun): the cell does not apply; a minimal repro
    is for the cells that ran."""
    if not isinstance(node, ast.If) or node.orelse or len(node.body) != 1:
        return False
    raise_ = node.body[0]
    return (isinstance(raise_, ast.Raise) and isinstance(raise_.exc, ast.Call)
            and isinstance(raise_.exc.func, ast.Name)
            and raise_.exc.func.id in ("NotApplicable", "NotRun"))


def _statements(nodes: list[ast.stmt], source: str) -> list[str] | None:
    out: list[str] = []
    one_input = _one_input_model(nodes)
    for node in nodes:
        if _raises_only_skip(node):
            continue
        if isinstance(node, ast.Try) and any(
                isinstance(h.type, ast.Name) and h.type.id == "NotImplementedError"
                for h in node.handlers):
            inner = _statements(node.body, source)
            if inner is None:
                return None
            out += inner
            continue
        if isinstance(node, ast.Assign) and [_name(t) for t in node.targets] == ["folder"]:
            continue  # save_load's artifact folder
        if one_input is not None and node is one_input[0]:
            continue
        if one_input is not None and node is one_input[1]:
            out.append(one_input[2])
            continue
        saved = _save_branch(node)
        if saved is not None:
            out += saved
            continue
        if isinstance(node, ast.Return):
            value = node.value
            if isinstance(value, ast.Tuple) and value.elts:
                value = value.elts[0]
            text = ast.unparse(value) if value is not None else "None"
            if text != "out":
                out.append(f"out = {text}")
            continue
        call = node.value if isinstance(node, ast.Expr) else None
        if (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
                and call.func.id == "set_weights" and len(call.args) == 2):
            out.append(f"{ast.unparse(call.args[0])}.set_weights({ast.unparse(call.args[1])})")
            continue
        segment = _segment(source, node, padded=True)
        out.append(textwrap.dedent(segment) if segment is not None else ast.unparse(node))
    return out


def _one_input_model(nodes: list[ast.stmt]) -> tuple[ast.Assign, ast.Assign, str] | None:
    """`k_model_inputs = [k_ids]` and `model = keras.Model(k_model_inputs if
    len(k_model_inputs) > 1 else k_model_inputs[0], out)` among `nodes`: the two statements
    and the one line that builds the same model, `model = keras.Model(k_ids, out)`."""
    inputs = next((n for n in nodes if isinstance(n, ast.Assign)
                   and [_name(t) for t in n.targets] == ["k_model_inputs"]), None)
    model = next((n for n in nodes if isinstance(n, ast.Assign)
                  and [_name(t) for t in n.targets] == ["model"]
                  and isinstance(n.value, ast.Call) and len(n.value.args) == 2
                  and isinstance(n.value.args[0], ast.IfExp)), None)
    if inputs is None or model is None or not isinstance(inputs.value, ast.List) \
            or len(inputs.value.elts) != 1:
        return None
    call = model.value
    assert isinstance(call, ast.Call)
    line = (f"model = {ast.unparse(call.func)}({ast.unparse(inputs.value.elts[0])}, "
            f"{ast.unparse(call.args[1])})")
    return inputs, model, line


def _name(node: ast.expr) -> str | None:
    return node.id if isinstance(node, ast.Name) else None


def _save_branch(node: ast.stmt) -> list[str] | None:
    """`save_load`'s branch (`if keras.backend.backend() == "<saved_on>": save ... else: load
    path`), as three lines: the file, saved by that backend, loaded by every backend."""
    if not (isinstance(node, ast.If) and isinstance(node.test, ast.Compare)
            and len(node.test.comparators) == 1
            and isinstance(node.test.comparators[0], ast.Constant)
            and "backend()" in ast.unparse(node.test.left)
            and any("save(" in ast.unparse(n) for n in node.body)):
        return None
    saved_on = str(node.test.comparators[0].value)
    file = next((a.value for n in ast.walk(node) if isinstance(n, ast.Call)
                 and ast.unparse(n.func) == "os.path.join"
                 for a in n.args[-1:] if isinstance(a, ast.Constant)), "model.keras")
    return [f"path = {file!r}  # saved by {saved_on}: run this with KERAS_BACKEND={saved_on} "
            "first",
            f"if keras.backend.backend() == {saved_on!r}:",
            "    model.save(path)"]


__all__ = ["minimal_header", "minimal_repro"]
