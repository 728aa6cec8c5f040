"""The compatibility table: behaviours × backend and device, the view people read first.

The grid holds one row per case and one column per environment: thousands of cells that say
`passed` or `xfailed`. This module folds it into the table a reader asks for ("what differs
on which backend, and why"):

- a **column** is one backend on one device; its version channels (`latest`, `nightly`,
  `minimum`) are folded into the cell when they agree and shown apart when they differ, and
  columns that did not run at all (no GPU here) share one column per reason;
- a **behaviour** (a row) is the set of cases that share a subject, a `values` class and
  the same verdict in every column, e.g. `layers.Embedding`, `out_of_range`: TensorFlow
  `raises InvalidArgumentError`, JAX `NaN rows (silent)`, PyTorch `raises IndexError`;
  only cases where some cell did not match the reference, or where the columns disagree,
  make rows;
- a **verdict** is a few words a person reads: `= reference`, `raises IndexError`,
  `NaN rows (silent)`, `clamps (silent)`, `not run: no GPU`. Observations come first (an
  error type, NaN); where values merely differ, the covering limitation's id names what the
  backend does (`...-clamps-...` gives `clamps`).

Silent divergences (values where the reference disagrees) sort first: they are what this
matrix exists to find. Every renderer (Markdown, HTML) reads these rows; none recomputes them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from matrix.environments import inference_only_backends
from matrix.oracle.agreement import answer
from matrix.records import EnvironmentInfo, ExpectedAnswer, Matrix, Outcome, Result
from matrix.results.analysis import divergent_cases
from matrix.results.outcomes import MATCHED, RAN

SILENT = "(silent)"
CAUSE_WORDS: dict[str, str] = {
    "values_where_refused": "returns values",
    "values_differ": "values differ",
    "dtype": "dtype differs",
    "shape": "shape differs",
    "device": "wrong device",
}
# Case axes a row reports the span of, in this order (others are listed after them).
SPAN_FIRST = ("input_dtype", "rank", "mode", "mask", "consumer", "padding")
SPAN_SKIP = frozenset({"subject", "layer", "values"})
SPAN_MAX_VALUES = 6


@dataclass(frozen=True, kw_only=True)
class Column:
    """One backend on one device; its environments are the version channels."""

    backend: str
    device: str
    environments: tuple[EnvironmentInfo, ...]

    @property
    def id(self) -> str:
        """`tensorflow-cpu`."""
        return f"{self.backend}-{self.device}"

    @property
    def ran(self) -> bool:
        """Whether any channel of this column ran."""
        return any(e.ran for e in self.environments)

    @property
    def channels(self) -> list[str]:
        """The channels that ran, e.g. `["latest"]`."""
        return [e.channel for e in self.environments if e.ran]


@dataclass(frozen=True, kw_only=True)
class Header:
    """A column of the table: a backend × device that ran, or the ones that did not, merged."""

    label: str  # `tensorflow-cpu`, or `tensorflow-gpu, jax-gpu, torch-gpu`
    note: str  # the channels that ran, or why they did not
    ran: bool
    inference_only: bool = False  # Keras cannot `fit` on its backend (axes.toml)

    @property
    def text(self) -> str:
        """The header as one line of words: `numpy-cpu (inference only)`."""
        return f"{self.label} (inference only)" if self.inference_only else self.label


@dataclass(frozen=True, kw_only=True)
class Cell:
    """A verdict a person reads, and the outcome that colours it."""

    text: str
    outcome: str  # an Outcome value, or `mixed` where folded channels differ
    silent: bool = False


@dataclass(frozen=True, kw_only=True)
class Behaviour:
    """One row: cases sharing subject, values class and the verdict in every column."""

    subject: str
    values: str
    expected: str  # what the reference says, in a few words
    cells: tuple[Cell, ...]
    cases: tuple[str, ...]
    limitations: tuple[str, ...]  # ids, in the order first met
    spans: tuple[tuple[str, str], ...]  # (axis, values), e.g. ("rank", "1, 2, 3")

    @property
    def silent(self) -> bool:
        """Some column returned values where the reference disagrees."""
        return any(c.silent for c in self.cells)

    @property
    def unexplained(self) -> bool:
        """Some cell failed with no limitation covering it."""
        return any(c.outcome in (Outcome.FAILED.value, "mixed") for c in self.cells)

    @property
    def title(self) -> str:
        """`layers.Embedding, values out_of_range`."""
        return self.subject + (f", values {self.values}" if self.values != "—" else "")


def distinctions(rows: Sequence[Behaviour]) -> list[str]:
    """Per row, what tells it apart from the rows that look the same (same subject, values
    class and expected answer, differing in their verdicts): the spans whose values differ
    between them, `"mode: predict; variant: lstm_lstm"`; "" for a row with no look-alike.

    Without it, eleven rows read `layers.Embedding out_of_range` alike on the first screen
    (issue 27) and the inputs that tell them apart sit in the spans column.
    """
    alike: dict[tuple[str, str, str], list[int]] = {}
    for index, row in enumerate(rows):
        alike.setdefault((row.subject, row.values, row.expected), []).append(index)
    found = [""] * len(rows)
    for indices in alike.values():
        if len(indices) < 2:
            continue
        spans_of = [dict(rows[i].spans) for i in indices]
        axes = list(dict.fromkeys(k for one in spans_of for k in one))
        differing = [k for k in axes if len({one.get(k) for one in spans_of}) > 1]
        for i, one in zip(indices, spans_of, strict=True):
            found[i] = "; ".join(f"{k}: {one.get(k, '—')}" for k in differing)
    return found


@dataclass(frozen=True, kw_only=True)
class CompatibilityTable:
    """The rows and their columns, and how many cases matched everywhere they ran."""

    headers: tuple[Header, ...]
    rows: tuple[Behaviour, ...]
    agreeing: int  # cases with no row: every cell that ran matched


def columns(matrix: Matrix) -> list[Column]:
    """The backend × device columns, in the order the environments are declared."""
    grouped: dict[tuple[str, str], list[EnvironmentInfo]] = {}
    for env in matrix.environments:
        grouped.setdefault((env.backend, env.device), []).append(env)
    return [Column(backend=b, device=d, environments=tuple(envs))
            for (b, d), envs in grouped.items()]


def not_run_text(env: EnvironmentInfo) -> str:
    """`not run: no GPU`, `not run: no run file`, or the reason cut to a few words."""
    reason = env.reason or ""
    if "gpu" in reason.lower():
        return "not run: no GPU"
    if reason.startswith("no run file"):
        return "not run: no GPU run" if env.device == "gpu" else "not run: no run file"
    if not reason:
        return "not run"
    short = reason.split(":", 1)[0].strip()
    return "not run: " + (short if len(short) <= 28 else short[:27] + "…")


def verdict_text(result: Result | None, env: EnvironmentInfo | None = None,
                 effects: Mapping[str, str] | None = None) -> Cell:
    """The cell of one environment: a short verdict, its colouring outcome, whether silent.

    Args:
        effects: limitation id -> what the backend does instead (`Limitation.effect`), the
            words of a silent cell that limitation covers.
    """
    if result is None:
        return Cell(text="no result", outcome="none")
    outcome, obs = result.outcome, result.observed
    if outcome is Outcome.NOT_RUN:
        text = not_run_text(env) if env is not None and not env.ran else "not run"
        return Cell(text=text, outcome=outcome.value)
    if outcome is Outcome.SKIPPED:
        return Cell(text="not applicable", outcome=outcome.value)
    if outcome is Outcome.ERROR:
        return Cell(text="harness error", outcome=outcome.value)
    if outcome is Outcome.CRASHED or obs.kind == "crash":
        return Cell(text="crashes", outcome=outcome.value)
    if outcome is Outcome.TIMEOUT or obs.kind == "timeout":
        return Cell(text="times out", outcome=outcome.value)
    if outcome in (Outcome.AGREED, Outcome.DISAGREED, Outcome.UNJUDGED):
        # no reference: what it answered (never "differs": there is nothing to differ from)
        return Cell(text=answer(obs), outcome=outcome.value)
    if outcome in MATCHED:
        text = f"raises {obs.error_type or 'an error'}" if obs.kind == "error" else "= reference"
        if outcome is Outcome.XPASSED:
            text += " (limitation stale)"
        return Cell(text=text, outcome=outcome.value)
    if obs.kind == "error":
        other = " (other reason)" if result.verdict.cause == "refused_other_reason" else ""
        return Cell(text=f"raises {obs.error_type or 'an error'}{other}", outcome=outcome.value)
    if obs.nan_count:
        words = "NaN rows"
    else:
        words = ((effects or {}).get(result.limitation or "")
                 or CAUSE_WORDS.get(result.verdict.cause or "", "values differ"))
    return Cell(text=f"{words} {SILENT}", outcome=outcome.value, silent=True)


def fold(cells: Sequence[tuple[str, Cell]]) -> Cell:
    """One column's cell from its channels' cells: one verdict if they agree, else each."""
    ran = [(ch, c) for ch, c in cells if c.outcome != Outcome.NOT_RUN.value] or list(cells)
    texts = list(dict.fromkeys(c.text for _, c in ran))
    if len(texts) == 1:
        return ran[0][1]
    text = "; ".join(f"{ch}: {c.text}" for ch, c in ran)
    return Cell(text=text, outcome="mixed", silent=any(c.silent for _, c in ran))


def short_expected(expected: str) -> str:
    """The reference's answer in a few words: `values`, or `error (IndexError)`
    (`ExpectedAnswer.short`)."""
    return ExpectedAnswer.parse(expected).short


def _span_text(values: Sequence[str | int]) -> str:
    if all(isinstance(v, int) for v in values) and len(values) > 2:
        ints = sorted(int(v) for v in values)
        if ints == list(range(ints[0], ints[-1] + 1)):
            return f"{ints[0]}-{ints[-1]}"
    shown = [str(v) for v in values[:SPAN_MAX_VALUES]]
    more = len(values) - len(shown)
    return ", ".join(shown) + (f" (+{more})" if more > 0 else "")


def spans(axes_of: Sequence[Mapping[str, str | int]]) -> tuple[tuple[str, str], ...]:
    """The axes a row's cases take, e.g. `(("input_dtype", "int32, int64"), ("rank", "1-3"))`.

    Only axes with more than one value, or with one value shared by every case, are shown;
    `subject`, `layer` and `values` are in the row's title.
    """
    found: dict[str, dict[str | int, None]] = {}
    for axes in axes_of:
        for key, value in axes.items():
            if key not in SPAN_SKIP:
                found.setdefault(key, {})[value] = None
    order = [k for k in SPAN_FIRST if k in found] + [k for k in found if k not in SPAN_FIRST]
    return tuple((k, _span_text(list(found[k]))) for k in order if len(found[k]) > 1
                 or k in SPAN_FIRST[:3])


def compatibility_table(matrix: Matrix, divergent: Sequence[str] | None = None
                        ) -> CompatibilityTable:
    """The behaviours × columns table of `matrix`, silent divergences first.

    Rows sort by: some column silent, then some cell unexplained (`failed`), then the number
    of cases, largest first; ties keep catalog order.
    """
    cols = columns(matrix)
    ran_cols = [c for c in cols if c.ran]
    idle: dict[str, list[Column]] = {}
    for col in cols:
        if not col.ran:
            idle.setdefault(not_run_text(col.environments[0]), []).append(col)
    only = inference_only_backends()
    headers = [Header(label=c.id, note=", ".join(c.channels), ran=True,
                      inference_only=c.backend in only) for c in ran_cols]
    headers += [Header(label=", ".join(c.id for c in group), note=text, ran=False)
                for text, group in idle.items()]
    idle_cells = [Cell(text=text, outcome=Outcome.NOT_RUN.value) for text in idle]
    by_cell: dict[tuple[str, str], Result] = {(r.case, r.environment): r
                                               for r in matrix.results}
    diverging = set(divergent_cases(matrix) if divergent is None else divergent)
    channel = {e.id: e.channel for e in matrix.environments}
    effects = {lim.id: lim.effect for lim in matrix.limitations if lim.effect}
    groups: dict[tuple[str, str, tuple[Cell, ...]], list[int]] = {}
    limits: dict[tuple[str, str, tuple[Cell, ...]], dict[str, None]] = {}
    agreeing = 0
    for index, case in enumerate(matrix.cases):
        results = [by_cell.get((case.id, e.id)) for c in ran_cols for e in c.environments]
        off = any(r is not None and r.outcome in RAN and r.outcome is not Outcome.PASSED
                  for r in results)
        if not off and case.id not in diverging:
            agreeing += 1
            continue
        row = tuple(fold([(channel[e.id], verdict_text(by_cell.get((case.id, e.id)), e, effects))
                          for e in c.environments]) for c in ran_cols)
        key = (case.subject or str(case.axes.get("subject", "")),
               str(case.axes.get("values", "—")), (*row, *idle_cells))
        groups.setdefault(key, []).append(index)
        seen = limits.setdefault(key, {})
        for r in results:
            if r is not None and r.limitation:
                seen[r.limitation] = None
    rows = []
    for key, indices in groups.items():
        subject, values, cells = key
        cases = [matrix.cases[i] for i in indices]
        expected = list(dict.fromkeys(short_expected(c.expected) for c in cases))
        rows.append(Behaviour(
            subject=subject, values=values,
            expected=expected[0] if len(expected) == 1 else " / ".join(expected[:3]),
            cells=cells, cases=tuple(c.id for c in cases),
            limitations=tuple(limits[key]), spans=spans([c.axes for c in cases])))
    rows.sort(key=lambda b: (not b.silent, not b.unexplained, -len(b.cases)))
    return CompatibilityTable(headers=tuple(headers), rows=tuple(rows), agreeing=agreeing)
