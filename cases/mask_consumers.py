"""Mask consumers: `Embedding(mask_zero=True)` feeding the layers that read its mask.

Each consumer (recurrent layers with and without `return_sequences` / `go_backwards`,
`Bidirectional(LSTM)`, pooling, self-attention with `Attention` and `MultiHeadAttention`) is
compared with a NumPy reference of the masked computation (`matrix.oracle`): a masked step
leaves an RNN's state unchanged, a masked mean averages only valid steps, attention ignores
padded keys. The same stack with `mask_zero=False` is the unmasked control, so a consumer that
ignores the mask shows as a mismatch. Attention outputs go through a masked average, as a
classifier would use them, so padded queries (whose outputs no one reads) do not count.
"""

from __future__ import annotations

from cases.embedding import call_text, embedding, layer, padded, render_step
from cases.model import CALL_MODES, Case, Nested, Step, chain

UNITS = 3
#: Rows of different lengths: the shortest row is mostly padding.
SEQUENCES = ((1, 2, 3, 4), (5, 6), (7,))
#: The same batch with an empty sequence, padded to a row that is all padding.
WITH_EMPTY_ROW = ((1, 2, 3, 4), (5, 6), ())

_POOL = layer("layers.GlobalAveragePooling1D")
_LSTM = layer("layers.LSTM", units=UNITS)


def _self(subject: str, **kwargs: object) -> Step:
    """Self-attention: the layer attends the previous output to itself (query = value)."""
    return Step(subject, args=dict(kwargs), inputs=("x1", "x1"))


#: consumer name in the case id -> (Keras class name of the consumer, the steps after the
#: embedding, extra axes).
CONSUMERS: dict[str, tuple[str, tuple[Step, ...], dict[str, str]]] = {
    "simplernn": ("SimpleRNN", (layer("layers.SimpleRNN", units=UNITS),), {}),
    "simplernn_backwards": ("SimpleRNN", (layer("layers.SimpleRNN", units=UNITS,
                                                go_backwards=True),),
                            {"go_backwards": "true"}),
    "gru": ("GRU", (layer("layers.GRU", units=UNITS),), {}),
    "gru_sequences": ("GRU", (layer("layers.GRU", units=UNITS, return_sequences=True),),
                      {"return_sequences": "true"}),
    "lstm": ("LSTM", (_LSTM,), {}),
    "lstm_sequences": ("LSTM", (layer("layers.LSTM", units=UNITS, return_sequences=True),),
                       {"return_sequences": "true"}),
    "lstm_backwards": ("LSTM", (layer("layers.LSTM", units=UNITS, go_backwards=True),),
                       {"go_backwards": "true"}),
    "bidirectional_lstm": ("Bidirectional", (layer(
        "layers.Bidirectional", layer=Nested("layers.LSTM", {"units": UNITS})),), {}),
    "globalaveragepooling1d": ("GlobalAveragePooling1D", (_POOL,), {}),
    "globalmaxpooling1d": ("GlobalMaxPooling1D", (layer("layers.GlobalMaxPooling1D"),), {}),
    "attention": ("Attention", (_self("layers.Attention"), _POOL), {}),
    "multiheadattention": ("MultiHeadAttention", (
        _self("layers.MultiHeadAttention", num_heads=1, key_dim=2), _POOL), {}),
}


def masking_cases() -> list[Case]:
    """`Masking(mask_value=0.0)` after an Embedding whose padding row (id 0) is all zeros.

    The pattern of a pretrained table with a zero padding vector: the mask comes from the
    Masking layer, not from `mask_zero`, and feeds an LSTM or a masked average.
    """
    out = []
    for consumer, after in (("LSTM", (_LSTM,)), ("GlobalAveragePooling1D", (_POOL,))):
        for padding in ("pre", "post"):
            for mode in CALL_MODES:
                first = Step("layers.Embedding", args=embedding().args, zero_rows=(0,))
                steps = (first, layer("layers.Masking", mask_value=0.0), *after)
                arg = (f"keras.utils.pad_sequences({[list(s) for s in SEQUENCES]}, "
                       f"padding={padding!r})")
                inputs, pad = padded(SEQUENCES, padding)
                out.append(Case(
                    group="mask-consumers",
                    description=call_text(steps, arg, mode) + "  # embedding row 0 = zeros",
                    axes={"subject": f"layers.{consumer}", "layer": "Embedding",
                          "consumer": consumer, "variant": "masking",
                          "rank": 2, "input_dtype": "int32", "values": "padded",
                          "padding": padding, "mask": "masking", "mode": mode},
                    inputs=inputs, steps=(pad, *chain(*steps)), mode=mode,
                ))
    return out


def _describe(steps: tuple[Step, ...], arg: str, mode: str) -> str:
    attention = steps[1].subject in ("layers.Attention", "layers.MultiHeadAttention")
    if not attention:
        return call_text(steps, arg, mode)  # type: ignore[arg-type]
    call = "([x, x])" if steps[1].subject == "layers.Attention" else "(x, x)"
    body = (f"x = {render_step(steps[0])}({arg}); "
            f"{render_step(steps[2])}({render_step(steps[1])}{call})")
    if mode == "eager":
        return body
    jit = ", jit_compile=True" if mode == "jit_compile" else ""
    return f"keras.Model over: {body}{jit}; predict"


def cases() -> list[Case]:
    """Consumer × padding × mask × mode, a batch with an all-padding row, and int64 ids."""
    out = masking_cases()
    for name, (consumer, after, extra) in CONSUMERS.items():
        variants: list[tuple[str, str, tuple[tuple[int, ...], ...], tuple[bool, ...],
                             str]] = [
            ("padded", "pre", SEQUENCES, (False, True), "int32"),
            ("padded", "post", SEQUENCES, (False, True), "int32"),
            ("all_padding", "post", WITH_EMPTY_ROW, (True,), "int32"),
            ("padded", "post", SEQUENCES, (True,), "int64"),
        ]
        for values, padding, sequences, mask_options, dtype in variants:
            for mask_zero in mask_options:
                for mode in CALL_MODES:
                    steps = (embedding(mask_zero=mask_zero), *after)
                    arg = (f"keras.utils.pad_sequences({[list(s) for s in sequences]}, "
                           f"padding={padding!r}, dtype={dtype!r})")
                    inputs, pad = padded(sequences, padding, dtype)
                    out.append(
                        Case(
                            group="mask-consumers",
                            description=_describe(steps, arg, mode),
                            axes={"subject": f"layers.{consumer}", "layer": "Embedding",
                                  "consumer": consumer, "variant": name,
                                  **extra, "rank": 2, "input_dtype": dtype, "values": values,
                                  "padding": padding,
                                  "mask": "mask_zero" if mask_zero else "none", "mode": mode},
                            inputs=inputs,
                            steps=(pad, *chain(*steps)),
                            mode=mode,
                        )
                    )
    return out
