"""Mask consumers: `Embedding(mask_zero=True)` feeding the layers that read its mask.

Each consumer (recurrent layers with and without `return_sequences` / `go_backwards`,
`Bidirectional(LSTM)`, pooling, self-attention with `Attention` and `MultiHeadAttention`) is
compared with a NumPy reference of the masked computation (`matrix.reference`): a masked step
leaves an RNN's state unchanged, a masked mean averages only valid steps, attention ignores
padded keys. The same stack with `mask_zero=False` is the unmasked control, so a consumer that
ignores the mask shows as a mismatch. Attention outputs go through a masked average, as a
classifier would use them, so padded queries (whose outputs no one reads) do not count.
"""

from __future__ import annotations

from cases.core import CALL_MODES, Case, InputSpec, LayerSpec, Padding
from cases.embedding import call_text, embedding

UNITS = 3
#: Rows of different lengths: the shortest row is mostly padding.
SEQUENCES = ((1, 2, 3, 4), (5, 6), (7,))
#: The same batch with an empty sequence, padded to a row that is all padding.
WITH_EMPTY_ROW = ((1, 2, 3, 4), (5, 6), ())

_POOL = LayerSpec(class_name="GlobalAveragePooling1D")
_LSTM = LayerSpec(class_name="LSTM", init_kwargs={"units": UNITS})

#: consumer name in the case id -> (Keras class name of the consumer, the layers after the
#: embedding, extra axes).
CONSUMERS: dict[str, tuple[str, tuple[LayerSpec, ...], dict[str, str]]] = {
    "simplernn": ("SimpleRNN", (LayerSpec(class_name="SimpleRNN",
                                          init_kwargs={"units": UNITS}),), {}),
    "simplernn_backwards": ("SimpleRNN", (LayerSpec(
        class_name="SimpleRNN", init_kwargs={"units": UNITS, "go_backwards": True}),),
        {"go_backwards": "true"}),
    "gru": ("GRU", (LayerSpec(class_name="GRU", init_kwargs={"units": UNITS}),), {}),
    "gru_sequences": ("GRU", (LayerSpec(
        class_name="GRU", init_kwargs={"units": UNITS, "return_sequences": True}),),
        {"return_sequences": "true"}),
    "lstm": ("LSTM", (_LSTM,), {}),
    "lstm_sequences": ("LSTM", (LayerSpec(
        class_name="LSTM", init_kwargs={"units": UNITS, "return_sequences": True}),),
        {"return_sequences": "true"}),
    "lstm_backwards": ("LSTM", (LayerSpec(
        class_name="LSTM", init_kwargs={"units": UNITS, "go_backwards": True}),),
        {"go_backwards": "true"}),
    "bidirectional_lstm": ("Bidirectional", (LayerSpec(
        class_name="Bidirectional", init_kwargs={"layer": _LSTM}),), {}),
    "globalaveragepooling1d": ("GlobalAveragePooling1D", (_POOL,), {}),
    "globalmaxpooling1d": ("GlobalMaxPooling1D",
                           (LayerSpec(class_name="GlobalMaxPooling1D"),), {}),
    "attention": ("Attention", (LayerSpec(class_name="Attention"), _POOL), {}),
    "multiheadattention": ("MultiHeadAttention", (LayerSpec(
        class_name="MultiHeadAttention", init_kwargs={"num_heads": 1, "key_dim": 2}), _POOL),
        {}),
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
                layers = (embedding(), LayerSpec(class_name="Masking",
                                                 init_kwargs={"mask_value": 0.0}), *after)
                arg = (f"keras.utils.pad_sequences({[list(s) for s in SEQUENCES]}, "
                       f"padding={padding!r})")
                out.append(Case(
                    group="mask-consumers",
                    description=call_text(layers, arg, mode) + "  # embedding row 0 = zeros",
                    axes={"layer": "Embedding", "consumer": consumer, "variant": "masking",
                          "rank": 2, "input_dtype": "int32", "values": "padded",
                          "padding": padding, "mask": "masking", "mode": mode},
                    layers=layers,
                    input=InputSpec(dtype="int32", sequences=SEQUENCES, padding=padding),
                    mode=mode, zero_row=0,
                ))
    return out


def _describe(layers: tuple[LayerSpec, ...], arg: str, mode: str) -> str:
    attention = layers[1].class_name in ("Attention", "MultiHeadAttention")
    if not attention:
        return call_text(layers, arg, mode)  # type: ignore[arg-type]
    call = "([x, x])" if layers[1].class_name == "Attention" else "(x, x)"
    body = (f"x = {layers[0].render()}({arg}); "
            f"{layers[2].render()}({layers[1].render()}{call})")
    if mode == "eager":
        return body
    jit = ", jit_compile=True" if mode == "jit_compile" else ""
    return f"keras.Model over: {body}{jit}; predict"


def cases() -> list[Case]:
    """Consumer × padding × mask × mode, a batch with an all-padding row, and int64 ids."""
    out = masking_cases()
    for name, (consumer, after, extra) in CONSUMERS.items():
        variants: list[tuple[str, Padding, tuple[tuple[int, ...], ...], tuple[bool, ...],
                             str]] = [
            ("padded", "pre", SEQUENCES, (False, True), "int32"),
            ("padded", "post", SEQUENCES, (False, True), "int32"),
            ("all_padding", "post", WITH_EMPTY_ROW, (True,), "int32"),
            ("padded", "post", SEQUENCES, (True,), "int64"),
        ]
        for values, padding, sequences, mask_options, dtype in variants:
            for mask_zero in mask_options:
                for mode in CALL_MODES:
                    layers = (embedding(mask_zero=mask_zero), *after)
                    arg = (f"keras.utils.pad_sequences({[list(s) for s in sequences]}, "
                           f"padding={padding!r}, dtype={dtype!r})")
                    out.append(
                        Case(
                            group="mask-consumers",
                            description=_describe(layers, arg, mode),
                            axes={"layer": "Embedding", "consumer": consumer, "variant": name,
                                  **extra, "rank": 2, "input_dtype": dtype, "values": values,
                                  "padding": padding,
                                  "mask": "mask_zero" if mask_zero else "none", "mode": mode},
                            layers=layers,
                            input=InputSpec(dtype=dtype, sequences=sequences,
                                            padding=padding),
                            mode=mode,
                        )
                    )
    return out
