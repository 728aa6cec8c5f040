"""Recurrent cells and options after a masked `Embedding`: stacked cells, reset_after, unroll.

`RNN([cell, ...])` stacks cells that step together (`SimpleRNNCell`, `GRUCell`, `LSTMCell`);
`GRU(reset_after=False)` has its own weights and gate order; `LSTM`, `GRU` and `SimpleRNN`
with `unroll=True`, forwards and backwards. Each after `Embedding(mask_zero=True)` on
pre- and post-padded ids, with and without the mask, in every inference mode, against the
masked NumPy recurrences of `matrix.oracle.recurrent`.
"""

from __future__ import annotations

from cases.embedding import call_text, embedding, layer, padded
from cases.model import CALL_MODES, Case, Nested, Step, Tensor, chain

SEQUENCES = ((1, 2, 3, 4), (5, 6), (7,))
STACKS: dict[str, list[Nested]] = {
    "simplernn_gru": [Nested("layers.SimpleRNNCell", {"units": 3}),
                      Nested("layers.GRUCell", {"units": 3})],
    "lstm_lstm": [Nested("layers.LSTMCell", {"units": 3}), Nested("layers.LSTMCell", {"units": 2})],
    "gru_reset_before": [Nested("layers.GRUCell", {"units": 3, "reset_after": False})],
}


def _cases(name: str, consumer: str, after: Step, axes: dict[str, str]) -> list[Case]:
    out = []
    for padding in ("pre", "post"):
        for mask_zero in (False, True):
            for mode in CALL_MODES:
                steps = (embedding(mask_zero=mask_zero), after)
                inputs, pad = padded(SEQUENCES, padding)
                arg = (f"keras.utils.pad_sequences({[list(s) for s in SEQUENCES]}, "
                       f"padding={padding!r})")
                out.append(Case(
                    group="recurrent", description=call_text(steps, arg, mode),
                    axes={"subject": f"layers.{consumer}", "variant": name, **axes, "rank": 2,
                          "input_dtype": "int32", "values": "padded", "padding": padding,
                          "mask": "mask_zero" if mask_zero else "none", "mode": mode},
                    inputs=inputs, steps=(pad, *chain(*steps)), mode=mode))
    return out


#: Padded ids and the mask a user passes explicitly (`layer(x, mask=mask)`), by padding.
EXPLICIT = {
    "pre": ([[1, 2, 3, 4], [0, 0, 5, 6], [0, 0, 0, 7]],
            [[True] * 4, [False, False, True, True], [False, False, False, True]]),
    "post": ([[1, 2, 3, 4], [5, 6, 0, 0], [7, 0, 0, 0]],
             [[True] * 4, [True, True, False, False], [True, False, False, False]]),
}


def explicit_mask_cases() -> list[Case]:
    """`layer(x, mask=mask)`: the mask given as a call argument, not carried by the input."""
    out = []
    consumers = {"SimpleRNN": layer("layers.SimpleRNN", units=3),
                 "GRU": layer("layers.GRU", units=3), "LSTM": layer("layers.LSTM", units=3),
                 "RNN": layer("layers.RNN", cell=STACKS["simplernn_gru"])}
    for consumer, step in consumers.items():
        for padding, (ids, mask) in EXPLICIT.items():
            for mode in CALL_MODES:
                steps = (Step("layers.Embedding", inputs=("ids",), output="x",
                              args=embedding().args),
                         Step(step.subject, inputs=("x",), output="y", args=step.args,
                              call={"mask": "mask"}))
                out.append(Case(
                    group="recurrent",
                    description=f"{consumer}(...)(Embedding(10, 4)(ids), mask=mask) with the "
                                f"{padding}-padding mask given explicitly",
                    axes={"subject": step.subject, "variant": "explicit_mask",
                          "consumer": consumer, "rank": 2, "input_dtype": "int32",
                          "values": "padded", "padding": padding, "mask": "explicit",
                          "mode": mode},
                    inputs={"ids": Tensor(dtype="int32", values=ids),
                            "mask": Tensor(dtype="bool", values=mask)},
                    steps=steps, mode=mode))
    return out


def cases() -> list[Case]:
    """Stacked cells × return_sequences; GRU(reset_after=False); unroll × go_backwards;
    explicit masks."""
    out = explicit_mask_cases()
    for name, cells in STACKS.items():
        for sequences in (False, True):
            out += _cases(name, "RNN", layer("layers.RNN", cell=cells,
                                             return_sequences=sequences),
                          {"consumer": "RNN", "return_sequences": str(sequences).lower()})
    out += _cases("gru_reset_after_false", "GRU",
                  layer("layers.GRU", units=3, reset_after=False), {"consumer": "GRU"})
    for consumer in ("SimpleRNN", "GRU", "LSTM"):
        for backwards in (False, True):
            out += _cases(f"{consumer.lower()}_unroll", consumer,
                          layer(f"layers.{consumer}", units=3, unroll=True,
                                go_backwards=backwards),
                          {"consumer": consumer, "unroll": "true",
                           "go_backwards": str(backwards).lower()})
    return out
