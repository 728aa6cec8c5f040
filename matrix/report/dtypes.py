"""The dtype view: `keras.ops` function × input dtype(s) → the result dtype per environment,
against the dtype Keras states for it (issue 26).

Built from the cases that carry an `op` and an `input_dtype` axis (the family
`cases/ops_dtypes.py`: `input_dtype` is one dtype, `int8`, or a pair, `int8_uint8`). The dtype
Keras states is the op table's rule (`cases.op_table.output_dtype`, from each op's
`compute_output_spec` in keras/src/ops/numpy.py, Keras 3.15.1); an op with no table entry has
none, and its environments are compared with each other only. The statement depends on the
backend in two places: Keras's `result_type` keeps int64 and float64 on TensorFlow where it
narrows them to 32 bits elsewhere (`BIT64_TO_BIT32_DTYPE`, keras/src/backend/common/
dtypes.py), and `sum` and `prod` give int32 for a uint32 result on torch: each cell is held to
its own backend's statement, and a cell whose statement differs from the other backends' is
marked `backend` (`op_table.output_dtype(..., backend)`).

The view is written as its own page, `compatibility-dtypes.html`, linked from the first
screen; it holds the summary (per op and environment, how many of its dtype combinations
differ) and every row that differs somewhere.
"""

from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from cases import op_table
from matrix.report.views import GENERATOR, _cells, _plural
from matrix.results import Matrix, Outcome, Result

#: The file name of the view, beside `compatibility.html`.
DTYPES_PAGE = "compatibility-dtypes.html"
#: Differing rows listed on the page; the summary counts them all.
ROW_LIMIT = 4000
#: What a cell's status means, in the page's legend.
STATUS_WORDS = {
    "rule": "the dtype Keras states",
    "differs": "another dtype than Keras states (a divergence, even when the values match)",
    "backend": "the dtype Keras states for this backend, which differs from the other "
               "backends' (TensorFlow keeps 64-bit results; torch sums uint32 as int32)",
    "error": "raised an error (its type shown) where the reference computes values",
    "agree": "no stated dtype: the same as every other environment",
    "disagree": "no stated dtype: environments differ",
    "none": "not run",
}


@dataclass(frozen=True, kw_only=True)
class DtypeCell:
    """One environment's answer: the result dtype (or the error type) and its status, a key
    of `STATUS_WORDS`."""

    text: str
    status: str


@dataclass(frozen=True, kw_only=True)
class DtypeRow:
    """One op on one dtype combination in one variant (values class, rank, mode, x64, floatx).

    Attributes:
        op: `ops.add`.
        input_dtype: `int8`, or `int8_uint8` for a pair.
        variant: `ordinary, rank 2, eager` (`, jax x64` when on, `, floatx float16` where the
            case sets floatx).
        expected: the dtype Keras states, or None where it states none (an op with no table
            entry).
        case: the case id (a permalink of the main page opens it).
        cells: one per environment that ran, in the matrix's order.
    """

    op: str
    input_dtype: str
    variant: str
    expected: str | None
    case: str
    cells: tuple[DtypeCell, ...]

    @property
    def differs(self) -> bool:
        """Some environment gave another dtype than stated, or (no statement) they differ."""
        return any(c.status in ("differs", "disagree", "error") for c in self.cells)


@dataclass(frozen=True, kw_only=True)
class DtypeView:
    """The whole view.

    Attributes:
        environments: the ids of the environments that ran, the columns.
        rows: every row, in catalog order.
        summary: op -> (combinations, per environment the number that differ there).
    """

    environments: tuple[str, ...]
    rows: tuple[DtypeRow, ...]
    summary: dict[str, tuple[int, tuple[int, ...]]]

    @property
    def differing(self) -> list[DtypeRow]:
        """The rows where something differs."""
        return [row for row in self.rows if row.differs]


@functools.lru_cache(maxsize=65536)
def _expected(op: str, input_dtype: str, backend: str | None = None,
              floatx: str = "float32") -> str | None:
    """Keras's stated result dtype (`op_table.output_dtype`) under `floatx`, once per op,
    dtypes, backend and floatx: the view asks it for every cell (about 250,000 calls for the
    7,713-case catalog)."""
    if op_table.entry(op) is None:
        return None
    try:
        with op_table.floatx_of(floatx):
            return op_table.output_dtype(op, input_dtype.split("_"), backend)
    except (KeyError, ValueError):  # a dtype or rule the table does not hold: no statement
        return None


def _answer(result: Result | None) -> str | None:
    """The result dtype, `error: <type>`, or None (no result, not run, skipped)."""
    if result is None or result.outcome in (Outcome.NOT_RUN, Outcome.SKIPPED):
        return None
    obs = result.observed
    if obs.kind == "value" and obs.dtype:
        return obs.dtype
    if obs.kind == "error":
        return f"error: {obs.error_type or 'error'}"
    return obs.kind


def _status(answer: str | None, expected: str | None, own: str | None,
            common: str | None) -> str:
    """`own` is the dtype Keras states on the cell's backend, `expected` the other backends'."""
    if answer is None:
        return "none"
    if answer.startswith("error") or answer in ("crash", "timeout"):
        return "error"
    if expected is None:
        return "agree" if answer == common else "disagree"
    if answer == own:
        return "rule" if own == expected else "backend"
    return "differs"


def _variant(axes: dict[str, str | int]) -> str:
    parts = [str(axes.get("values", "")), f"rank {axes.get('rank', '?')}",
             str(axes.get("mode", ""))]
    if axes.get("jax") == "x64":
        parts.append("jax x64")
    if str(axes.get("dtype_policy", "")).startswith("floatx_"):
        parts.append(f"floatx {str(axes['dtype_policy']).removeprefix('floatx_')}")
    return ", ".join(p for p in parts if p)


def dtype_view(matrix: Matrix) -> DtypeView | None:
    """The view of `matrix`, or None when no case has both an `op` and an `input_dtype` axis.

    A case whose reference refuses (an id out of range, a bitwise op of floats) is left out:
    what it tests is the refusal, which the compatibility table shows, not a result dtype.
    """
    chosen = [c for c in matrix.cases if "op" in c.axes and "input_dtype" in c.axes
              and not c.expected.startswith("error")]
    if not chosen:
        return None
    envs = [e for e in matrix.environments if e.ran]
    cells = _cells(matrix)
    rows = []
    for case in chosen:
        op = case.subject or f"ops.{case.axes['op']}"
        input_dtype = str(case.axes["input_dtype"])
        policy = str(case.axes.get("dtype_policy", ""))
        floatx = policy.removeprefix("floatx_") if policy.startswith("floatx_") else "float32"
        expected = _expected(op, input_dtype, None, floatx)
        answers = [_answer(cells.get((case.id, e.id))) for e in envs]
        values = [a for a in answers if a is not None and not a.startswith("error")]
        common = Counter(values).most_common(1)[0][0] if values else None
        row_cells = tuple(
            DtypeCell(text=answer or "–",  # noqa: RUF001 - a dash, no result
                      status=_status(answer, expected,
                                     _expected(op, input_dtype, env.backend, floatx),
                                     common))
            for answer, env in zip(answers, envs, strict=True))
        rows.append(DtypeRow(op=op, input_dtype=input_dtype, variant=_variant(case.axes),
                             expected=expected, case=case.id, cells=row_cells))
    summary: dict[str, tuple[int, tuple[int, ...]]] = {}
    for row in rows:
        total, counts = summary.get(row.op, (0, (0,) * len(envs)))
        bad = tuple(n + (cell.status in ("differs", "disagree", "error"))
                    for n, cell in zip(counts, row.cells, strict=True))
        summary[row.op] = (total + 1, bad)
    return DtypeView(environments=tuple(e.id for e in envs), rows=tuple(rows), summary=summary)


def render_dtypes(view: DtypeView, generated_at: str) -> str:
    """The page `compatibility-dtypes.html` (Jinja2, autoescaped, no script: it reads with
    JavaScript off): the summary per op and environment, then every row that differs, at most
    `ROW_LIMIT`, each linking to its case in `compatibility.html`."""
    env = Environment(loader=PackageLoader("matrix", "templates"),
                      autoescape=select_autoescape(["html", "j2"], default=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                      keep_trailing_newline=True)
    differing = view.differing
    return env.get_template("dtypes.html.j2").render(
        view=view, rows=differing[:ROW_LIMIT], more=max(0, len(differing) - ROW_LIMIT),
        differing=len(differing), generated_at=generated_at, generator=GENERATOR,
        words=STATUS_WORDS, plural=_plural)

