"""The case model (v2): a case is a small Keras program described as data.

A `Case` names its inputs (`Tensor`: explicit dtype and values, or an explicit shape for an
empty batch) and a chain of `Step`s, each a call of one Keras API under test (a *subject*:
`layers.Embedding`, `layers.LSTM`, `utils.pad_sequences`, `ops.take`, ...) on named values,
binding its result to a name. What a subject accepts, how it is built, called, seeded and
rendered, and what NumPy says it computes, is its record in `cases/subjects/`: nothing here
or elsewhere special-cases a class name.

Example, the article's third example (`ids` padded by Keras, then two layers)::

    Case(group="article", description="...", axes={...}, mode="eager",
         inputs={"sequences": Tensor(dtype="int32", values=[[1, 2, 3], [4, 5], [6]])},
         steps=(Step("utils.pad_sequences", inputs=("sequences",), output="ids",
                     args={"padding": "post"}),
                Step("layers.Embedding", inputs=("ids",), output="x",
                     args={"input_dim": 1000, "output_dim": 128, "mask_zero": True}),
                Step("layers.SimpleRNN", inputs=("x",), output="y", args={"units": 32})))

The program is rendered to Python source by `matrix/run/program.py`; that source is both what the
run executes and the repro the report shows. The module imports nothing but the standard
library: the catalog never imports a framework.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

Mode = Literal["eager", "predict", "jit_compile", "fit", "save_load"]

#: Every mode: a program called directly on arrays; `Model.predict` of the functional model
#: over the program's layers; the same after `compile(jit_compile=True)` (XLA, `jax.jit`,
#: `torch.compile`); one `Model.fit` step (the observed value is a layer's weights after it);
#: and a `.keras` file saved under `saved_on`, loaded and predicted under this backend.
MODES: tuple[Mode, ...] = ("eager", "predict", "jit_compile", "fit", "save_load")
#: The inference modes most families run in.
CALL_MODES: tuple[Mode, ...] = ("eager", "predict", "jit_compile")
#: Keras dtype policies a case may run under (`keras.config.set_dtype_policy`), plus
#: `floatx_<dtype>` for `keras.config.set_floatx(<dtype>)` (`bfloat16` for layers;
#: `float16` and `float64` for the `keras.ops` family, whose result dtypes read floatx).
DTYPE_POLICIES: tuple[str, ...] = ("float32", "mixed_float16", "mixed_bfloat16",
                                   "floatx_bfloat16", "floatx_float16", "floatx_float64")
#: Keras dtype names an input tensor may have, with the NumPy dtype that holds them, plus
#: `string` (Python strings, NumPy `str_`) and `bytes` (NumPy `bytes_`). `bfloat16` is
#: ml_dtypes' (NumPy has none, `numpy_dtype`); a program makes a bfloat16 input with
#: `keras.ops.cast` of float32 values bfloat16 holds exactly, since torch takes no ml_dtypes
#: array.
INPUT_DTYPES: Mapping[str, str] = {
    "int8": "int8", "int16": "int16", "int32": "int32", "int64": "int64",
    "uint8": "uint8", "uint16": "uint16", "uint32": "uint32", "uint64": "uint64",
    "bfloat16": "bfloat16", "float16": "float16", "float32": "float32", "float64": "float64",
    "bool": "bool", "string": "str", "bytes": "bytes",
}


def numpy_dtype(name: str) -> Any:
    """The NumPy dtype of a Keras dtype name (`INPUT_DTYPES`): ml_dtypes' for `bfloat16`
    (imported here only: importing it registers the name with NumPy).

    Raises:
        TypeError: a name NumPy does not know.
    """
    import numpy as np  # the model itself stays NumPy-free: only this helper needs it

    if name == "bfloat16":
        import ml_dtypes

        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(INPUT_DTYPES.get(name, name))
#: The runner that executes ordinary cases; test-only catalogs may register others.
KERAS_RUNNER = "keras"
#: Axes keys left out of the derived id: `subject` repeats what the group says.
_NOT_IN_ID = frozenset({"subject"})
_ID_PART = re.compile(r"[^a-z0-9_.]+")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: The longest case id. An id becomes a pytest node id, a file name (a bisect's `<case>.json`),
#: a URL fragment and a table cell; 200 leaves room for the rest of a path on every system.
CASE_ID_LIMIT = 200
#: What a case id may hold: letters, digits and `._+-`, starting with a letter or digit. Each
#: character is one pytest keeps as it is in a node id (it escapes a backslash, so the cell
#: would not be found under its id) and one `pytest -k` reads as part of a name; none is
#: markup in Markdown, HTML or a terminal, nor a path separator.
CASE_ID = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._+-]{{0,{CASE_ID_LIMIT - 1}}}")


class CatalogError(ValueError):
    """A case is malformed; the message names the case and the field."""


class NotModelled(Exception):
    """The reference cannot compute this program; the catalog refuses the case."""


class NoReference(Exception):
    """No record models this call (an open step): the case has no reference answer and is
    judged by agreement across backends when the report merges the run files."""


@dataclass(frozen=True, kw_only=True)
class Tensor:
    """An input of a case: an array of explicit dtype and shape.

    Attributes:
        dtype: Keras dtype name (`int32`, `uint8`, `float32`, `bool`, ...), or `string` /
            `bytes`.
        values: nested lists, the array's shape (rank 0: a bare number). Ragged lists are
            allowed where a step pads them (`utils.pad_sequences` takes a list of sequences).
        shape: the shape, required only when `values` cannot say it (an empty batch
            `(0, steps)`); the values must then be empty.
        ragged: given as a `tf.RaggedTensor` (TensorFlow only; not applicable elsewhere).
        sequences: a Python list of sequences, passed as it is (for `utils.pad_sequences`),
            not an array.
        constant: part of the program, not fed to the model (the table of `ops.take`, the
            predictions a loss compares labels with): a model closes over it.
    """

    dtype: str
    values: Any = None
    shape: tuple[int, ...] | None = None
    ragged: bool = False
    sequences: bool = False
    constant: bool = False


@dataclass(frozen=True)
class Nested:
    """A layer given as a constructor argument of another, e.g. `Bidirectional(layer=...)`."""

    subject: str
    args: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Step:
    """One call of a subject in a program.

    Attributes:
        subject: the API as typed after `keras.`: `layers.Embedding`, `ops.take`.
        inputs: names of the values passed positionally (a list for merge layers, query and
            value for attention: the record's call convention says how).
        output: the name the result is bound to.
        args: constructor arguments of a layer, keyword arguments of an op or utility.
        call: keyword arguments of the call (`mask`, `training`, `attention_mask`,
            `use_causal_mask`); a string value naming a program value is passed as that value
            when the key is in the record's `tensor_call_args`.
        method: call this method of the built layer instead of the layer itself
            (`compute_mask`).
        wrap: a wrapper layer around it (`TimeDistributed`).
        after_weights: methods called once the seeded weights are set, with their
            arguments: `(("enable_lora", (2,)), ("quantize", ("int8",)))`.
        zero_rows: rows of the first weight set to zeros after seeding (the padding vector
            of a pretrained embedding table).
        item: the element of a tuple result that is the step's output (`top_k` returns
            `(values, indices)`: item 1 is the indices).
    """

    subject: str
    inputs: tuple[str, ...] = ()
    output: str = ""
    args: Mapping[str, Any] = field(default_factory=dict)
    call: Mapping[str, Any] = field(default_factory=dict)
    method: str | None = None
    wrap: str | None = None
    after_weights: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    zero_rows: tuple[int, ...] = ()
    item: int | None = None


@dataclass(frozen=True, kw_only=True)
class Fit:
    """One `Model.fit` step of SGD with `learning_rate`, over the whole batch.

    Two kinds of step:

    - `labels` None: loss "mse" to a zero target; the observation is the first weight of the
      layer of step output `observe` after the step (the table an SGD step moved);
    - `labels` names an input: loss `SparseCategoricalCrossentropy(from_logits=True)` to
      those integer labels, one per timestep `(batch, steps)` against the model's logits
      `(batch, steps, classes)`; the observation is the loss `fit` reports for the step
      (computed before the update), a float32 scalar `()`. With a Keras mask on the logits
      (`Embedding(mask_zero=True)` upstream), Keras's loss skips the masked timesteps: the
      mean runs over the unmasked ones only (keras/src/losses/loss.py, `apply_mask`).

    Attributes:
        learning_rate: SGD's learning rate.
        observe: with `labels` None, the step output whose layer's first weight is observed;
            with labels, the step output whose layer's weights say where the model lives.
        labels: the input holding the labels, or None.
    """

    learning_rate: float
    observe: str
    labels: str | None = None


@dataclass(frozen=True, kw_only=True)
class Case:
    """One row of the matrix: a program, its inputs, and how it is executed.

    Attributes:
        group: the report section, e.g. `embedding-dtype`.
        description: one line saying what a user would have typed.
        axes: the values that place the case in the catalog (DESIGN.md section 3).
        inputs: the program's input tensors by name.
        steps: the calls, in order.
        mode: one of `MODES`.
        observe: the value observed (default: the last step's output).
        dtype_policy: one of `DTYPE_POLICIES`, or None for Keras's default.
        jax_x64: turn on `jax_enable_x64` first (JAX only; not applicable elsewhere).
        saved_on: in `save_load`, the backend whose `.keras` file is loaded.
        fit: in `fit`, the training step.
        model_input_shape: `keras.Input` shape (without the batch axis) when it differs from
            the data's, as in the article's rank-mismatch example.
        source: the public report (issue, pull request) a case comes from.
        seed: seeds the weights: step `k` with a layer gets `seed + k`.
        runner: `keras` for every catalog case; test-only catalogs name their own.
    """

    group: str
    description: str
    axes: Mapping[str, str | int]
    inputs: Mapping[str, Tensor]
    steps: tuple[Step, ...]
    mode: Mode
    observe: str = ""
    dtype_policy: str | None = None
    jax_x64: bool = False
    saved_on: str | None = None
    fit: Fit | None = None
    model_input_shape: tuple[int | None, ...] | None = None
    source: str | None = None
    seed: int = 0
    runner: str = KERAS_RUNNER
    id: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.id:
            object.__setattr__(self, "id", derive_id(self.group, self.axes))
        if not self.observe and self.steps:
            object.__setattr__(self, "observe", self.steps[-1].output)

    @property
    def subject(self) -> str:
        """The API under test: `axes["subject"]`, else the first layer or op of the program."""
        named = self.axes.get("subject")
        if isinstance(named, str):
            return named
        for step in self.steps:
            if not step.subject.startswith("utils."):
                return step.subject
        return self.steps[0].subject if self.steps else ""


def derive_id(group: str, axes: Mapping[str, str | int]) -> str:
    """Derives a case id from its group and axes: lower-case, `-k`-safe, stable.

    Example: `embedding-dtype-rank2-int32-in_range-none-eager`. Values are joined in the order
    the axes are given; `subject` is left out, and `layer` when it is `Embedding`, so the ids
    of the v1 catalog did not change.
    """
    parts = [group]
    for key, value in axes.items():
        if key in _NOT_IN_ID or (key == "layer" and value == "Embedding"):
            continue
        text = f"rank{value}" if key == "rank" else str(value)
        parts.append(_ID_PART.sub("_", text.lower()).strip("_"))
    return "-".join(p for p in parts if p)


def check_case_id(case_id: str) -> None:
    """Refuses a case id that breaks the one rule every reader of an id relies on.

    The catalog loader calls this at collection and the report calls it on every id a run
    file holds, so an id is either refused before anything runs or read back as it was
    written.

    Args:
        case_id: the id, as `Case.id` or a run file's `cases[].id` holds it.

    Raises:
        ValueError: the id is empty, longer than `CASE_ID_LIMIT`, or holds a character other
            than letters, digits and `._+-` (or starts with one of `._+-`).
    """
    if CASE_ID.fullmatch(case_id):
        return
    shown = repr(case_id) if len(case_id) <= 2 * CASE_ID_LIMIT \
        else f"{case_id[:CASE_ID_LIMIT]!r}..."  # the start names it; the rest is noise
    if len(case_id) > CASE_ID_LIMIT:
        why = f"it is {len(case_id)} characters long"
    elif not case_id:
        why = "it is empty"
    elif not case_id.isascii() or not case_id.isprintable():
        why = "it holds a character that is not printable ASCII"
    elif case_id[0] in "._+-":
        why = f"it starts with {case_id[0]!r}"
    else:
        bad = sorted({c for c in case_id if not (c.isalnum() or c in "._+-")})
        why = f"it holds {', '.join(map(repr, bad))}"
    raise ValueError(f"a case id must be printable ASCII: letters, digits and `._+-`, starting "
                     f"with a letter or digit, at most {CASE_ID_LIMIT} characters; {why}. "
                     f"Received: id={shown}")


def chain(*steps: Step, first: str = "ids") -> tuple[Step, ...]:
    """Wires steps one after another: each takes the previous output (the first, `first`).

    A step that already names its inputs or output keeps them. Outputs are `x1`, `x2`, ...

    Returns:
        The steps with `inputs` and `output` filled in.
    """
    out: list[Step] = []
    previous = first
    for number, step in enumerate(steps, 1):
        inputs = step.inputs or (previous,)
        output = step.output or f"x{number}"
        out.append(replace(step, inputs=inputs, output=output))
        previous = output
    return tuple(out)


def is_name(text: str) -> bool:
    """Whether `text` can name a value in the rendered program (a Python identifier)."""
    return bool(_NAME.match(text))
