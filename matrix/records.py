"""Records that travel between the harness's stages and processes, as typed values.

The leaf of the import graph (issue 22): it imports nothing of the project, so every stage,
`cases/` included, may use it. `Shard` is how a shard travels.

The run-file records (`Outcome`, `Observation`, `Verdict`, `Result`, `CaseInfo`,
`EnvironmentInfo`, `Run`, `Matrix`): frozen, keyword-only dataclasses, standard library only
(the noxfile imports this module in a virtualenv that holds nox alone); pydantic validates
them at the JSON boundary (`matrix.results.io.RUN_ADAPTER`, `MATRIX_ADAPTER`), where
`matrix.results` folds pytest's reports into them and reads and writes them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

_SHARD = re.compile(r"([0-9]{1,6})/([0-9]{1,6})")


@dataclass(frozen=True)
class Shard:
    """Shard `index` of `count` (1-based) of a catalog split by measured cost.

    Written `I/N` where text carries it (`--shard 2/3`, a run file's
    `environment.provenance.shard`), `.shard-I-of-N` in file names; `Shard.parse` reads the
    text back, and is the only reader.
    """

    index: int
    count: int

    def __post_init__(self) -> None:
        if not 1 <= self.index <= self.count:
            raise ValueError(f"a shard is 1 <= index <= count; received {self.index}/{self.count}")

    @classmethod
    def parse(cls, text: str) -> Shard:
        """`I/N` with whole numbers 1 <= I <= N (at most six digits each).

        Raises:
            ValueError: anything else (a path, a negative number, I > N, N = 0); the message
                says what is expected.
        """
        match = _SHARD.fullmatch(text)
        if not match or not 1 <= int(match.group(1)) <= int(match.group(2)):
            raise ValueError("expected I/N with whole numbers 1 <= I <= N, e.g. 2/3")
        return cls(int(match.group(1)), int(match.group(2)))

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    @property
    def suffix(self) -> str:
        """`.shard-I-of-N`: what a shard's run file and work folder add to their names."""
        return f".shard-{self.index}-of-{self.count}"


#: `error (T or U) at step N (API): reason`, the step part optional (`ExpectedAnswer`).
_TYPED_ERROR = re.compile(r"error \(([^)]*)\)(?: at step (-?[0-9]+) \(([^)]*)\))?: (.*)",
                          re.DOTALL)
ExpectedKind = Literal["values", "agreement", "error", "text"]


@dataclass(frozen=True, kw_only=True)
class ExpectedAnswer:
    """The reference's answer as a run file writes it (`CaseInfo.expected`), typed.

    The text forms, each read back exactly (`str(ExpectedAnswer.parse(text)) == text` for any
    text):

    - `values`: kind `values`;
    - `no reference (judged by agreement across backends)`: kind `agreement` (an open case,
      judged when the report merges the run files: `matrix.oracle.agreement`);
    - `error (IndexError or InvalidArgumentError) at step 0 (layers.Embedding): IndexError:
      ...`: kind `error`, the accepted `error_types`, the refusing `step` and its API
      `step_name` (both optional), and the reference's own message `reason`;
    - `error: IndexError: ...`, the form of older run files: kind `error`, `legacy`, the
      type read from the message;
    - anything else: kind `text`, kept whole in `reason`.

    `matrix.oracle.expect.describe` writes it; `parse` is the only reader of the text.
    """

    kind: ExpectedKind
    error_types: tuple[str, ...] = ()
    reason: str = ""
    step: int | None = None
    step_name: str | None = None
    legacy: bool = False

    AGREEMENT_TEXT = "no reference (judged by agreement across backends)"

    @classmethod
    def parse(cls, text: str) -> ExpectedAnswer:
        """The answer a run file's `expected` text stands for (any text: see the class)."""
        if text == "values":
            return cls(kind="values")
        if text == cls.AGREEMENT_TEXT:
            return cls(kind="agreement")
        match = _TYPED_ERROR.fullmatch(text)
        if match is not None:
            types, step, step_name, reason = match.groups()
            answer = cls(kind="error", error_types=tuple(types.split(" or ")) if types else (),
                         reason=reason, step=None if step is None else int(step),
                         step_name=step_name)
            if str(answer) == text:
                return answer
        if text.startswith("error:"):
            rest = text.removeprefix("error:")
            kind = rest.strip().split(":", 1)[0]
            return cls(kind="error", error_types=(kind,) if kind else (), reason=rest,
                       legacy=True)
        return cls(kind="text", reason=text)

    def __str__(self) -> str:
        if self.kind == "values":
            return "values"
        if self.kind == "agreement":
            return self.AGREEMENT_TEXT
        if self.kind == "text":
            return self.reason
        if self.legacy:
            return f"error:{self.reason}"
        at = "" if self.step is None else f" at step {self.step} ({self.step_name})"
        return f"error ({' or '.join(self.error_types)}){at}: {self.reason}"

    @property
    def short(self) -> str:
        """In a few words: `values`, `error (IndexError or ...)`, `error`, or the text."""
        if self.kind != "error":
            return str(self)
        return f"error ({' or '.join(self.error_types)})" if self.error_types else "error"


SCHEMA_VERSION = 2
MESSAGE_LIMIT = 500
ObservationKind = Literal["value", "error", "crash", "timeout", "not_run"]
#: The part of a case's program an error was raised in (`matrix.run.program.Where`): `setup`
#: (dtype policy, x64), `inputs` (the data), `step` (one step: host call, constructor,
#: symbolic call, weights, eager call), `model` (building, compiling, fitting, saving,
#: loading or predicting the model over the steps), `output` (returning or converting it).
Stage = Literal["setup", "inputs", "step", "model", "output"]
#: The raw verdict of a cell, recorded in the run (DESIGN.md section 3).
VerdictStatus = Literal["matched", "mismatched", "harness_error", "crashed", "timeout",
                        "not_run", "not_applicable", "no_reference"]
#: Why a cell mismatched: values that differ; values where the reference refuses the input
#: (a silent divergence); an error where values were expected; refused, but with another
#: error type than the reference names; the dtype, the shape, or the device.
MismatchCause = Literal["values_differ", "values_where_refused", "error_where_values_expected",
                        "refused_other_reason", "dtype", "shape", "device"]


class Outcome(StrEnum):
    """The outcome of one cell: pytest's vocabulary plus the three a matrix needs."""

    PASSED = "passed"  # ran and matched the reference
    FAILED = "failed"  # ran and differed, and no limitation covers it
    XFAILED = "xfailed"  # differed, as a limitation says it does
    XPASSED = "xpassed"  # a limitation says it differs, but it matched: the limitation is stale
    SKIPPED = "skipped"  # not applicable in this environment
    ERROR = "error"  # the harness broke (setup, teardown, or no result recorded)
    CRASHED = "crashed"  # the process died while running the case
    TIMEOUT = "timeout"  # the case ran past its time limit and was ended
    NOT_RUN = "not_run"  # the environment did not run (no GPU, no run file)
    # A case with no reference (an open step, `cases.subjects.open_subject`) is judged by
    # agreement across the environments that ran it, when the report merges them:
    AGREED = "agreed"  # no reference; every environment that answered answered alike
    DISAGREED = "disagreed"  # no reference; the environments answered differently
    UNJUDGED = "unjudged"  # no reference, and no other environment to compare with yet


@dataclass(frozen=True, kw_only=True)
class Observation:
    """What happened when a case ran, whatever the reference said.

    Attributes:
        kind: `value`, `error`, `crash`, `timeout` or `not_run`.
        error_type: the exception class name, e.g. `InvalidArgumentError` (errors only).
        message: first meaningful line of the error or reason, ANSI stripped, at most 500
            characters.
        shape: shape of the output, e.g. `[2, 3, 4]` for (batch, seq, output_dim).
        dtype: Keras dtype name of the output, e.g. `float32`, `bool`.
        max_abs_error: largest absolute difference from the reference (output units); inf
            where exactly one side holds NaN; None when no comparison was possible.
        nan_count: NaN entries in the output.
        device: where the output tensor (or, for `predict`, the weights) really lived, as
            the framework names it (`cpu:0`, `cuda:0`, `/job:localhost/.../device:CPU:0`).
        weights_dtype: Keras dtype name of the first layer's first variable, e.g. `float32`
            under `mixed_float16`, `bfloat16` under floatx bfloat16.
        warnings: the warnings the program emitted, `Category: first line`, at most ten.
        timings: seconds spent per phase of the cell: `reference_s` (the NumPy oracle) and
            `program_s` (the program: build, compile where the mode compiles, run).
        stage: where an error was raised (`Stage`); None for values, and where unknown.
        step: the index in the case's program of the step that raised (stage `step`).
        step_name: that step's Keras API as typed after `keras.` (`layers.GRU`).
        fingerprint: for a case with no reference, what the output was, to compare across
            backends (`matrix.oracle.agreement`): `values` (each element as text, `%.9g` for
            floats) for at most 256 elements, else `digest` (SHA-256 of the elements rounded
            to 4 significant digits) and `size`. None otherwise.
        alternatives: for values of a case whose reference has alternatives that differ from
            it (`matrix.oracle.expect.Expected.alternatives`, e.g. `inputs_cut_to_32_bits`),
            each alternative's name -> whether the output matched it (values within its
            tolerance and its dtype). None where none was computed.
    """

    kind: ObservationKind
    error_type: str | None = None
    message: str | None = None
    shape: list[int] | None = None
    dtype: str | None = None
    max_abs_error: float | None = None
    nan_count: int | None = None
    device: str | None = None
    weights_dtype: str | None = None
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] | None = None
    stage: Stage | None = None
    step: int | None = None
    step_name: str | None = None
    fingerprint: dict[str, Any] | None = None
    alternatives: dict[str, bool] | None = None


@dataclass(frozen=True, kw_only=True)
class Verdict:
    """How an observation compares with the reference, before any limitation is applied.

    Attributes:
        status: `matched`, `mismatched`, `harness_error` (the harness broke, not the backend),
            `crashed`, `timeout`, `not_run`, `not_applicable`.
        cause: for `mismatched`, why (`MismatchCause`).
        detail: one line saying what differs, or what the harness hit.
    """

    status: VerdictStatus
    cause: MismatchCause | None = None
    detail: str | None = None


@dataclass(frozen=True, kw_only=True)
class Attempt:
    """One attempt at a cell that ran more than once (a timed-out cell is retried alone)."""

    verdict: Verdict
    observed: Observation
    duration_s: float = 0.0


@dataclass(frozen=True, kw_only=True)
class Result:
    """One cell of the matrix: a case in an environment.

    Attributes:
        verdict: the raw verdict the run recorded.
        outcome: computed from the verdict and the limitations when the matrix is merged
            (`triage`); in a run file, the outcome with no limitation applied.
        limitation: the id of the limitation covering the cell, set at merge.
        flaky: True when the cell timed out and its retry (alone) gave another verdict;
            False when it was retried and gave the same; None when it ran once.
        attempts: every attempt of a retried cell, first one first; the cell's own verdict
            and observation are the last attempt's.
        unexplained: set at merge: the id of a limitation that selects this differing cell
            (backend, device, program) but does not explain what it did (its `explains`):
            the cell stays `failed`.
    """

    case: str
    environment: str
    outcome: Outcome
    observed: Observation
    verdict: Verdict
    duration_s: float = 0.0
    limitation: str | None = None
    flaky: bool | None = None
    attempts: list[Attempt] = field(default_factory=list)
    unexplained: str | None = None


@dataclass(frozen=True, kw_only=True)
class CaseInfo:
    """What the report shows of a case (the contract's `cases` entries, plus `expected`).

    Attributes:
        subject: the Keras API under test, as typed after `keras.` (`layers.Embedding`).
        expected: the reference's answer in words: `values`, or `error (<types>): <why>`
            (`ExpectedAnswer.parse` reads it).
        repro: the program the run executed, runnable as is with `KERAS_BACKEND` set; its
            last printed line is the observation as JSON (`matrix/run/program.py`). None for
            cases of test-only runners.
        source: the public report (issue, pull request) the case was written from, if any.
        facts: what the program does, derived from the typed case at collection
            (`cases.facts.program_facts`: every API it calls, its mode, an empty batch, the
            class of its ids): limitations are matched on these, not on `axes`. Empty in
            run files written before facts were recorded.
    """

    id: str
    group: str
    description: str
    axes: dict[str, str | int]
    subject: str = ""
    expected: str = "values"
    repro: str | None = None
    source: str | None = None
    facts: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class CaseFacts:
    """What a run's pytest process knew of its catalog, for the fold: `case-facts.json` in
    the run's work folder, written at collection beside the node ids (`matrix.run.facts`).

    Attributes:
        schema_version: `SCHEMA_VERSION` of the harness that wrote it.
        catalogs: the user catalog modules it loaded (`--catalog`), as given, in order.
        cases: every case of the catalog it loaded (built-in, then the user catalogs'), in
            catalog order, as a run file records them; the fold keeps those the run
            selected.
    """

    schema_version: int
    catalogs: list[str]
    cases: list[CaseInfo]


@dataclass(frozen=True, kw_only=True)
class EnvironmentInfo:
    """One column: the contract's `environments` entries, plus the provenance of its run.

    Attributes:
        ran: whether the environment's cases ran here (False: no GPU, no run file).
        reason: why it did not run, when `ran` is False.
        versions: package versions (`importlib.metadata`), `python` included.
        provenance: platform, device name, date, git commit, flags that change results
            (x64, TF32, floatx) and the environment checks (backend, torch build).
        channel: the version channel (`latest`, `nightly`, `minimum`; `matrix/axes.toml`):
            environments are compared within one. A run file written before the field has
            none and reads as its declared environment's (`matrix.results.io.load_run`).
    """

    id: str
    backend: str
    device: str
    ran: bool
    channel: str = "latest"
    reason: str | None = None
    versions: dict[str, str] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Run:
    """One environment's run file, `reports/runs/<environment>.json`."""

    schema_version: int
    environment: EnvironmentInfo
    cases: list[CaseInfo]
    results: list[Result]


@dataclass(frozen=True, kw_only=True)
class LimitationInfo:
    """A known divergence as the matrix lists it (`cases/limitations/`).

    Attributes:
        cpu_flags: it holds only on a host CPU with one of these ISA flags (empty: any).
        effect: what the backend does instead, in a few words (`clamps`, `NaN rows`), for
            the compatibility table; empty when the record says none.
        cells: how many cells it covers in this matrix.
        stale: it covers cells that ran, and every one of them matched the reference.
    """

    id: str
    description: str
    link: str
    backends: list[str] = field(default_factory=list)
    devices: list[str] = field(default_factory=list)
    axes: dict[str, list[str | int]] = field(default_factory=dict)
    cpu_flags: list[str] = field(default_factory=list)
    effect: str = ""
    cells: int = 0
    stale: bool = False


@dataclass(frozen=True, kw_only=True)
class Matrix:
    """Every run merged; published as `reports/compatibility.json` and `results/*.json`
    (`matrix.results.compact`, which reads it back exactly)."""

    schema_version: int
    generated_at: str
    environments: list[EnvironmentInfo]
    cases: list[CaseInfo]
    results: list[Result]
    limitations: list[LimitationInfo] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)




__all__ = [
    "MESSAGE_LIMIT", "SCHEMA_VERSION",
    "Attempt", "CaseInfo", "EnvironmentInfo", "ExpectedAnswer", "ExpectedKind",
    "LimitationInfo", "Matrix", "MismatchCause",
    "Observation", "ObservationKind", "Outcome", "Result", "Run", "Shard", "Stage",
    "Verdict", "VerdictStatus",
]
