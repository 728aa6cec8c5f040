"""Embedding cases: index rank × index dtype × index values × mask, in every mode.

The layer is `Embedding(input_dim=10, output_dim=4)` with seeded weights; the reference is a
NumPy row lookup that refuses ids outside [0, input_dim) and non-integer id dtypes
(`matrix.oracle.lookup.lookup`). Also here: the three examples of the article this project grew
from (`../shared/seeds/`), written as they were typed there, so its claims are checked.
"""

from __future__ import annotations

from typing import Any

from cases.model import CALL_MODES, INPUT_DTYPES, Case, Mode, Step, Tensor, chain

INPUT_DIM = 10
OUTPUT_DIM = 4
#: The numeric dtypes an index tensor may have in this family (no strings).
ID_DTYPES = tuple(d for d in INPUT_DTYPES if d not in ("string", "bytes", "bfloat16"))

#: In-range ids by rank: a scalar, (seq,), (batch, seq) and (batch, seq, ids_per_step).
IDS_BY_RANK: dict[int, Any] = {
    0: 3,
    1: [1, 2, 3, 4, 5],
    2: [[1, 2, 3], [4, 5, 6]],
    3: [[[1, 2], [3, 4], [5, 6]], [[7, 8], [9, 1], [2, 3]]],
}
SIGNED = ("int8", "int16", "int32", "int64", "float16", "float32", "float64")
FLOATS = ("float16", "float32", "float64")


def embedding(**kwargs: Any) -> Step:
    """A step `keras.layers.Embedding(input_dim=10, output_dim=4, **kwargs)`."""
    return Step("layers.Embedding", args={"input_dim": INPUT_DIM, "output_dim": OUTPUT_DIM,
                                          **kwargs})


def layer(subject: str, **kwargs: Any) -> Step:
    """A step of any layer record, e.g. `layer("layers.LSTM", units=3)`."""
    return Step(subject, args=kwargs)


def ids_input(ids: Any, dtype: str) -> dict[str, Tensor]:
    """The program's one input, `ids`, an array of `dtype`."""
    return {"ids": Tensor(dtype=dtype, values=ids)}


def padded(sequences: Any, padding: str, dtype: str = "int32") -> tuple[dict[str, Tensor], Step]:
    """Ragged `sequences` and the `keras.utils.pad_sequences` step that pads them into `ids`."""
    return ({"sequences": Tensor(dtype=dtype, values=tuple(map(tuple, sequences)),
                                 sequences=True)},
            Step("utils.pad_sequences", inputs=("sequences",), output="ids",
                 args={"padding": padding, "dtype": dtype}))


def render_step(step: Step) -> str:
    """A step's constructor as a user types it: `Embedding(input_dim=10, output_dim=4)`."""
    from cases.subjects import SUBJECTS

    return SUBJECTS[step.subject].render(step.args).removeprefix("keras.layers.")


def call_text(steps: tuple[Step, ...], arg: str, mode: Mode) -> str:
    """What the user typed, as one line of Python."""
    if mode == "eager":
        text = arg
        for step in steps:
            text = f"{render_step(step)}({text})"
        return text
    stack = " -> ".join(render_step(step) for step in steps)
    if mode == "jit_compile":
        return f"keras.Model(Input -> {stack}), compile(jit_compile=True), predict({arg})"
    return f"keras.Model(Input -> {stack}).predict({arg})"


def _ids_text(ids: Any, dtype: str) -> str:
    return f"np.array({ids!r}, dtype={dtype!r})"


def _case(group: str, axes: dict[str, str | int], ids: Any, dtype: str, mode: Mode,
          **extra: Any) -> Case:
    steps = (embedding(),)
    return Case(
        group=group,
        description=call_text(steps, _ids_text(ids, dtype), mode),
        axes={"subject": "layers.Embedding", "layer": "Embedding", **axes, "mode": mode},
        inputs=ids_input(ids, dtype),
        steps=chain(*steps),
        mode=mode,
        **extra,
    )


def dtype_cases() -> list[Case]:
    """In-range ids of every rank and every supported dtype, in every inference mode.

    `predict` and `jit_compile` need a batch axis, so rank 0 runs eagerly only.
    """
    cases = []
    for rank, ids in IDS_BY_RANK.items():
        for dtype in ID_DTYPES:
            values = ids
            if dtype == "bool":  # a bool tensor holds only 0 and 1
                values = _to_bool(ids)
            for mode in CALL_MODES:
                if mode != "eager" and rank == 0:
                    continue
                cases.append(
                    _case(
                        "embedding-dtype",
                        {"rank": rank, "input_dtype": dtype, "values": "in_range",
                         "mask": "none"},
                        values, dtype, mode,
                    )
                )
    return cases


def _to_bool(ids: Any) -> Any:
    if isinstance(ids, list):
        return [_to_bool(v) for v in ids]
    return bool(ids % 2)


def value_cases() -> list[Case]:
    """Ids a correct layer must refuse: past `input_dim`, negative, and fractional.

    Out of range: exactly `input_dim` (10) and far past it (100, which every dtype holds).
    Negative: -1 and -11 (below `-input_dim`), for dtypes that hold negatives. Fractional:
    1.5 and 2.7 as in the article's second example, for float dtypes.
    """
    cases = []
    specs: list[tuple[str, int | float, tuple[str, ...]]] = [
        ("out_of_range", INPUT_DIM, tuple(d for d in ID_DTYPES if d != "bool")),
        ("out_of_range", 100, tuple(d for d in ID_DTYPES if d != "bool")),
        ("negative", -1, SIGNED),
        ("negative", -11, SIGNED),
        ("fractional", 1.5, FLOATS),
        ("fractional", 2.7, FLOATS),
        # Past int32: JAX without x64 and Keras's torch cast would wrap these to small ids.
        ("out_of_range", 2**31 + 3, ("int64", "uint64")),
        ("out_of_range", 2**32 + 7, ("int64", "uint64")),
    ]
    for values, bad, dtypes in specs:
        ids = [[1, 2, 3], [4, bad, 6]]
        for dtype in dtypes:
            for mode in CALL_MODES:
                cases.append(
                    _case(
                        "embedding-values",
                        {"rank": 2, "input_dtype": dtype, "values": values,
                         "bad_id": str(bad), "mask": "none"},
                        ids, dtype, mode,
                    )
                )
    return cases


SEQUENCES = ((1, 2, 3), (4, 5), (6,))


def mask_cases() -> list[Case]:
    """Padded sequences from `keras.utils.pad_sequences`, `mask_zero` off and on.

    Checks both the output rows and `Embedding.compute_mask(ids)` against `ids != 0`.
    """
    cases = []
    for dtype in ("int32", "int64"):
        for padding in ("pre", "post"):
            for mask_zero in (False, True):
                for check in ("output", "mask"):
                    if check == "mask" and not mask_zero:
                        continue
                    for mode in CALL_MODES:
                        step = embedding(mask_zero=mask_zero)
                        arg = (f"keras.utils.pad_sequences({[list(s) for s in SEQUENCES]}, "
                               f"padding={padding!r}, dtype={dtype!r})")
                        text = call_text((step,), arg, mode)
                        if check == "mask":
                            text = f"{render_step(step)}.compute_mask({arg})"
                            if mode != "eager":
                                jit = ", jit_compile=True" if mode == "jit_compile" else ""
                                text = f"keras.Model(Input -> {render_step(step)}" \
                                       f".compute_mask{jit}).predict({arg})"
                        inputs, pad = padded(SEQUENCES, padding, dtype)
                        if check == "mask":
                            step = Step(step.subject, args=step.args, method="compute_mask")
                        cases.append(
                            Case(
                                group="embedding-mask",
                                description=text,
                                axes={"subject": "layers.Embedding", "layer": "Embedding",
                                      "rank": 2, "input_dtype": dtype,
                                      "values": "padded", "padding": padding,
                                      "mask": "mask_zero" if mask_zero else "none",
                                      "check": check, "mode": mode},
                                inputs=inputs,
                                steps=(pad, *chain(step)),
                                mode=mode,
                            )
                        )
    return cases


def article_cases() -> list[Case]:
    """The article's three examples, as typed there (vocabulary 1000, 128 dimensions).

    Its claims, checked rather than trusted: example 1 says a rank-1 array raises ValueError;
    example 2 says float ids raise TypeError; example 3 says SimpleRNN ignores the padding.
    """
    big = {"input_dim": 1000, "output_dim": 128}
    frac = [[1.5, 2.7, 3.1], [4.2, 5.8, 6.9]]
    seqs = ((1, 2, 3), (4, 5), (6,))
    inputs, pad = padded(seqs, "post")
    article = {"subject": "layers.Embedding", "layer": "Embedding"}
    return [
        Case(
            group="article",
            description="Embedding(1000, 128)(np.array([1, 2, 3, 4, 5])): article example 1 "
                        "claims a ValueError for a rank-1 input",
            axes={**article, "example": 1, "rank": 1, "input_dtype": "int64",
                  "values": "in_range", "mask": "none", "mode": "eager"},
            inputs=ids_input([1, 2, 3, 4, 5], "int64"),
            steps=chain(Step("layers.Embedding", args=big)), mode="eager",
        ),
        Case(
            group="article",
            description="keras.Model(Input((3,)) -> Embedding(1000, 128)).predict("
                        "np.array([1, 2, 3])): a rank-1 array fed to a model built for a batch",
            axes={**article, "example": 1, "rank": 1, "input_dtype": "int64",
                  "values": "in_range", "mask": "none", "mode": "predict"},
            inputs=ids_input([1, 2, 3], "int64"),
            steps=chain(Step("layers.Embedding", args=big)), mode="predict",
            model_input_shape=(3,),
        ),
        Case(
            group="article",
            description="Embedding(1000, 128)(np.array([[1.5, 2.7, 3.1], [4.2, 5.8, 6.9]], "
                        "dtype='float32')): article example 2 claims a TypeError",
            axes={**article, "example": 2, "rank": 2, "input_dtype": "float32",
                  "values": "fractional", "mask": "none", "mode": "eager"},
            inputs=ids_input(frac, "float32"),
            steps=chain(Step("layers.Embedding", args=big)), mode="eager",
        ),
        Case(
            group="article",
            description="SimpleRNN(32)(Embedding(1000, 128, mask_zero=True)(keras.utils."
                        "pad_sequences([[1, 2, 3], [4, 5], [6]], padding='post'))): "
                        "article example 3",
            axes={**article, "example": 3, "rank": 2, "input_dtype": "int32",
                  "values": "padded", "padding": "post", "mask": "mask_zero",
                  "consumer": "SimpleRNN", "mode": "eager"},
            inputs=inputs,
            steps=(pad, *chain(Step("layers.Embedding", args={**big, "mask_zero": True}),
                               layer("layers.SimpleRNN", units=32))),
            mode="eager",
        ),
    ]


def x64_cases() -> list[Case]:
    """int64 ids past 2**31 and 2**32 with JAX's 64-bit mode on (JAX only).

    Without x64, JAX holds int64 as int32 and these ids wrap (see `value_cases`); with it,
    they stay 64-bit and must be refused like any id past `input_dim`.
    """
    out = []
    for bad in (2**31 + 3, 2**32 + 7):
        ids = [[1, 2, 3], [4, bad, 6]]
        for mode in CALL_MODES:
            out.append(_case("embedding-values",
                             {"rank": 2, "input_dtype": "int64", "values": "out_of_range",
                              "bad_id": str(bad), "mask": "none", "jax_x64": "x64_on"},
                             ids, "int64", mode, jax_x64=True))
    return out


def cases() -> list[Case]:
    """Every Embedding case of this family."""
    return dtype_cases() + value_cases() + x64_cases() + mask_cases() + article_cases()
