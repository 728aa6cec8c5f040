"""The case model: a Keras call described as data, and how its id is derived.

A `Case` names a small stack of Keras layers (an `Embedding` first, then an optional consumer
of its output and mask), the input it is called on, what is checked (the output or the mask),
and the mode of execution. It holds no framework object: `cases/runner.py` turns it into
Keras calls inside a run, and `cases/expect.py` computes what NumPy says the answer is.

Cases are built by plain loops over axes in the family modules (`embedding.py`,
`mask_consumers.py`); see the JAX test harnesses (`jax/_src/internal_test_util/
test_harnesses.py`) for the style.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Mode = Literal["eager", "predict", "jit_compile", "fit", "save_load"]
#: How the layers are wired: a `stack` called in order; `two_inputs`, two Embeddings
#: (`layers[0]` on `input`, `layers[1]` on `input_b`) merged by `layers[2]`, then the rest;
#: `time_distributed`, every layer wrapped in `TimeDistributed` over a rank-3 index tensor;
#: `ragged`, the ids given as a `tf.RaggedTensor` (TensorFlow only).
Structure = Literal["stack", "two_inputs", "time_distributed", "ragged"]
Check = Literal["output", "mask", "weights", "ids"]
Padding = Literal["pre", "post"]

#: Every mode the runner knows: a layer called directly, `Model.predict`, `Model.predict`
#: after `compile(jit_compile=True)` (XLA, `jax.jit`, `torch.compile`), one `Model.fit` step,
#: and a `.keras` file saved under one backend then loaded and run under this one.
MODES: tuple[Mode, ...] = ("eager", "predict", "jit_compile", "fit", "save_load")
#: The inference modes every family runs in.
CALL_MODES: tuple[Mode, ...] = ("eager", "predict", "jit_compile")
#: Keras dtype policies a case may run under (`keras.config.set_dtype_policy`), plus
#: `floatx_bfloat16` for `keras.config.set_floatx("bfloat16")`.
DTYPE_POLICIES: tuple[str, ...] = ("float32", "mixed_float16", "mixed_bfloat16",
                                   "floatx_bfloat16")

#: Keras dtype names accepted for an index tensor, with the NumPy dtype that holds them.
INPUT_DTYPES: Mapping[str, str] = {
    "int8": "int8",
    "int16": "int16",
    "int32": "int32",
    "int64": "int64",
    "uint8": "uint8",
    "uint16": "uint16",
    "uint32": "uint32",
    "uint64": "uint64",
    "float16": "float16",
    "float32": "float32",
    "float64": "float64",
    "bool": "bool",
}

#: Keras layer classes the runner knows how to build and give seeded weights to.
LAYER_CLASSES: frozenset[str] = frozenset(
    {"Embedding", "SimpleRNN", "GRU", "LSTM", "GlobalAveragePooling1D", "GlobalMaxPooling1D",
     "Bidirectional", "Dense", "Attention", "MultiHeadAttention", "Add", "Concatenate",
     "MaskProbe", "Masking"}
)

#: The runner that executes ordinary cases; test-only catalogs may register others.
KERAS_RUNNER = "keras"

_ID_PART = re.compile(r"[^a-z0-9_.]+")


class CatalogError(ValueError):
    """A case is malformed; the message names the case and the field."""


@dataclass(frozen=True, kw_only=True)
class LayerSpec:
    """One Keras layer: its class name in `keras.layers` and its constructor arguments.

    Attributes:
        class_name: e.g. `Embedding`, `LSTM`.
        init_kwargs: keyword arguments as a user would pass them, e.g.
            `{"input_dim": 10, "output_dim": 4, "mask_zero": True}`.
    """

    class_name: str
    init_kwargs: Mapping[str, Any] = field(default_factory=dict)

    def render(self, prefix: str = "") -> str:
        """The constructor call as Python source, e.g. `Embedding(input_dim=10, output_dim=4)`.

        Args:
            prefix: put before every class name, e.g. `keras.layers.`.
        """
        args = ", ".join(
            f"{k}={v.render(prefix) if isinstance(v, LayerSpec) else repr(v)}"
            for k, v in self.init_kwargs.items()
        )
        return f"{prefix}{self.class_name}({args})"

    def class_names(self) -> list[str]:
        """This class name and those of any wrapped layer (`Bidirectional(layer=...)`)."""
        inner = [v for v in self.init_kwargs.values() if isinstance(v, LayerSpec)]
        return [self.class_name, *(n for spec in inner for n in spec.class_names())]


@dataclass(frozen=True, kw_only=True)
class InputSpec:
    """The index tensor a case is called on.

    Either `ids` (nested lists, any rank, rank 0 a bare number) or `sequences` (ragged lists
    padded by `keras.utils.pad_sequences(sequences, padding=padding, dtype=dtype)` in the run,
    and by NumPy in the reference).

    Attributes:
        dtype: Keras dtype name of the index tensor, e.g. `int32`, `uint8`, `float32`, `bool`.
        ids: the values, nested as the tensor's shape.
        sequences: ragged sequences to pad, when `ids` is None.
        padding: `pre` or `post`, with `sequences`.
    """

    dtype: str
    ids: Any = None
    sequences: tuple[tuple[int, ...], ...] | None = None
    padding: Padding | None = None


@dataclass(frozen=True, kw_only=True)
class Case:
    """One row of the matrix.

    Attributes:
        group: the report section, e.g. `embedding-dtype`.
        description: one line saying what a user would have typed.
        axes: the values that place the case in the catalog (DESIGN.md section 3), e.g.
            `{"layer": "Embedding", "rank": 2, "input_dtype": "int32", "mode": "eager"}`.
        layers: the stack, called in order on the input; `layers[0]` is the Embedding.
        input: the index tensor.
        mode: `eager` (layers called directly), `predict` (a functional `keras.Model`),
            `jit_compile` (that model compiled with `jit_compile=True`), `fit` (one SGD step)
            or `save_load` (saved as `.keras` under `saved_on`, loaded here).
        check: `output` (the last layer's output), `mask` (`layers[0].compute_mask(ids)`),
            `weights` (the embedding table after a `fit` step) or `ids` (the padded ids that
            `keras.utils.pad_sequences` returns).
        dtype_policy: one of `DTYPE_POLICIES`, or None for Keras's default.
        saved_on: in `save_load`, the backend whose saved file is loaded.
        fit: in `fit`, the learning rate and what the loss adds: `{"learning_rate": 0.5}`.
        pad: for `check="ids"`, the keyword arguments of `keras.utils.pad_sequences`.
        embedding_methods: methods called on the built Embedding, with their arguments, after
            its weights are set: `{"enable_lora": (2,)}`, `{"quantize": ("int8",)}`.
        structure: how the layers are wired (`Structure`); `stack` for most cases.
        input_b: the second index tensor of a `two_inputs` case.
        source: the public report (issue, pull request) a user-reported case comes from.
        zero_row: an embedding row set to zeros after seeding (the padding vector of a
            pretrained table), which a `Masking(mask_value=0.0)` layer then masks.
        jax_x64: run with `jax_enable_x64` on (JAX only; elsewhere not applicable).
        model_input_shape: in `predict`, the `keras.Input` shape without the batch axis when it
            differs from the data's (the article's rank-mismatch example); None means the data's.
        seed: seeds the NumPy generator that sets every layer's weights.
        runner: which runner executes it; `keras` for every catalog case.
    """

    group: str
    description: str
    axes: Mapping[str, str | int]
    layers: tuple[LayerSpec, ...]
    input: InputSpec
    mode: Mode
    check: Check = "output"
    model_input_shape: tuple[int | None, ...] | None = None
    dtype_policy: str | None = None
    saved_on: str | None = None
    fit: Mapping[str, Any] | None = None
    pad: Mapping[str, Any] | None = None
    embedding_methods: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    structure: Structure = "stack"
    input_b: InputSpec | None = None
    source: str | None = None
    zero_row: int | None = None
    jax_x64: bool = False
    seed: int = 0
    runner: str = KERAS_RUNNER
    id: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.id:
            object.__setattr__(self, "id", derive_id(self.group, self.axes))


def derive_id(group: str, axes: Mapping[str, str | int]) -> str:
    """Derives a case id from its group and axes: lower-case, `-k`-safe, stable.

    Example: `embedding-dtype-rank2-int32-in_range-eager`. Values are joined in the order the
    axes are given; `layer` is left out when it is `Embedding` (every case starts with one).
    """
    parts = [group]
    for key, value in axes.items():
        if key == "layer" and value == "Embedding":
            continue
        text = f"rank{value}" if key == "rank" else str(value)
        parts.append(_ID_PART.sub("_", text.lower()).strip("_"))
    return "-".join(p for p in parts if p)


def validate_catalog(cases: Sequence[Case], source: str = "catalog") -> None:
    """Refuses a malformed catalog before anything runs.

    Args:
        cases: the cases to check.
        source: where they came from (module or file), named in the error.

    Raises:
        CatalogError: a duplicate id, an unknown dtype, layer class, mode or check; the
            message names the case id and the field.
    """
    seen: dict[str, Case] = {}
    for case in cases:
        where = f"{source}: case {case.id!r}"
        if case.id in seen:
            raise CatalogError(
                f"{where}: duplicate case id; ids must be unique (derived from group and axes). "
                f"Received: group={case.group!r}, axes={dict(case.axes)!r}"
            )
        seen[case.id] = case
        if case.runner != KERAS_RUNNER:
            continue
        if case.input.dtype not in INPUT_DTYPES:
            raise CatalogError(
                f"{where}: field `input.dtype` is not a Keras dtype this catalog supports "
                f"({', '.join(INPUT_DTYPES)}). Received: dtype={case.input.dtype!r}"
            )
        for spec in case.layers:
            for name in spec.class_names():
                if name not in LAYER_CLASSES:
                    raise CatalogError(
                        f"{where}: field `layers` names an unknown layer class. Expected one "
                        f"of {', '.join(sorted(LAYER_CLASSES))}. Received: class_name={name!r}"
                    )
        if not case.layers or case.layers[0].class_name != "Embedding":
            raise CatalogError(f"{where}: field `layers` must start with an Embedding.")
        if case.mode not in MODES:
            raise CatalogError(f"{where}: field `mode` must be one of {MODES}. "
                               f"Received: mode={case.mode!r}")
        if case.check not in ("output", "mask", "weights", "ids"):
            raise CatalogError(f"{where}: field `check` must be `output`, `mask`, `weights` "
                               f"or `ids`. Received: check={case.check!r}")
        if case.dtype_policy is not None and case.dtype_policy not in DTYPE_POLICIES:
            raise CatalogError(f"{where}: field `dtype_policy` must be one of "
                               f"{', '.join(DTYPE_POLICIES)}. "
                               f"Received: dtype_policy={case.dtype_policy!r}")
        if (case.structure == "two_inputs") != (case.input_b is not None):
            raise CatalogError(f"{where}: field `input_b` is required by structure "
                               f"`two_inputs` and only there. Received: structure="
                               f"{case.structure!r}")
        if (case.mode == "save_load") != (case.saved_on is not None):
            raise CatalogError(f"{where}: field `saved_on` is required in mode `save_load` "
                               f"and only there. Received: saved_on={case.saved_on!r}")
        if (case.input.ids is None) == (case.input.sequences is None):
            raise CatalogError(f"{where}: field `input` needs exactly one of `ids` or "
                               "`sequences`.")
