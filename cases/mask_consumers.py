"""Mask consumers: `Embedding(mask_zero=True)` feeding the layers that read its mask.

Each consumer (SimpleRNN, GRU, LSTM, GlobalAveragePooling1D) is compared with a NumPy
reference of the masked computation (`matrix.reference`): a masked step leaves an RNN's state
unchanged, and a masked mean averages only valid steps. The same stack with `mask_zero=False`
is the unmasked control, so a consumer that ignores the mask shows as a mismatch.
"""

from __future__ import annotations

from cases.core import MODES, Case, InputSpec, LayerSpec, Padding
from cases.embedding import call_text, embedding

UNITS = 3
#: Rows of different lengths: the shortest row is mostly padding.
SEQUENCES = ((1, 2, 3, 4), (5, 6), (7,))
#: The same batch with an empty sequence, padded to a row that is all padding.
WITH_EMPTY_ROW = ((1, 2, 3, 4), (5, 6), ())

CONSUMERS: dict[str, dict[str, int]] = {
    "SimpleRNN": {"units": UNITS},
    "GRU": {"units": UNITS},
    "LSTM": {"units": UNITS},
    "GlobalAveragePooling1D": {},
}


def cases() -> list[Case]:
    """Consumer × padding × mask × mode, plus a batch with an all-padding row."""
    out = []
    for consumer, kwargs in CONSUMERS.items():
        variants: list[tuple[str, Padding, tuple[tuple[int, ...], ...], tuple[bool, ...]]] = [
            ("padded", "pre", SEQUENCES, (False, True)),
            ("padded", "post", SEQUENCES, (False, True)),
            ("all_padding", "post", WITH_EMPTY_ROW, (True,)),
        ]
        for values, padding, sequences, mask_options in variants:
            for mask_zero in mask_options:
                for mode in MODES:
                    layers = (embedding(mask_zero=mask_zero),
                              LayerSpec(class_name=consumer, init_kwargs=kwargs))
                    arg = (f"keras.utils.pad_sequences({[list(s) for s in sequences]}, "
                           f"padding={padding!r})")
                    out.append(
                        Case(
                            group="mask-consumers",
                            description=call_text(layers, arg, mode),
                            axes={"layer": "Embedding", "consumer": consumer, "rank": 2,
                                  "input_dtype": "int32", "values": values,
                                  "padding": padding,
                                  "mask": "mask_zero" if mask_zero else "none", "mode": mode},
                            layers=layers,
                            input=InputSpec(dtype="int32", sequences=sequences,
                                            padding=padding),
                            mode=mode,
                        )
                    )
    return out
