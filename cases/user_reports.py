"""Inputs that real users reported, rewritten as cases, each linked to its public report.

Each case keeps the shape of the report (the layer sizes, dtypes and calls the user had) so
the matrix answers the reporter's question on every backend: does it raise, return NaN, or
quietly return something else? The links are in `Case.source` and in every repro snippet.
"""

from __future__ import annotations

from typing import Any

from cases.embedding import call_text, embedding, ids_input, layer, padded
from cases.model import CALL_MODES, Case, Nested, Step, Tensor, chain


def _masked(input_dim: int = 10, output_dim: int = 4) -> Step:
    return embedding(input_dim=input_dim, output_dim=output_dim, mask_zero=True)


def _simple(name: str, source: str, step: Step, ids: Any, dtype: str,
            **axes: str | int) -> list[Case]:
    """One case per inference mode."""
    arg = f"np.array({ids!r}, dtype={dtype!r})"
    return [Case(group="user-reports", description=call_text((step,), arg, mode),
                 axes={"subject": step.subject, "layer": "Embedding", "report": name, **axes,
                       "input_dtype": dtype, "mode": mode},
                 inputs=ids_input(ids, dtype), steps=chain(step), mode=mode, source=source)
            for mode in CALL_MODES]


def cases() -> list[Case]:
    """The reported inputs."""
    out: list[Case] = []
    out += _simple("id_equal_to_input_dim", "https://github.com/keras-team/keras/issues/13989",
                   embedding(), [[1, 2, 3], [4, 5, 10]], "int32",
                   values="out_of_range", bad_id="10")
    out += _simple("float_id_1.9", "https://github.com/keras-team/keras/issues/13906",
                   embedding(), [[1.9, 0.0, 3.0]], "float32", values="fractional")
    out += _simple("uint8_0_and_255", "https://github.com/pytorch/pytorch/issues/17346",
                   embedding(input_dim=256), [[0, 255, 128], [255, 1, 0]], "uint8",
                   values="in_range")
    long_rows = ((*range(1, 51),), (*range(1, 31),))  # a (2, 50) batch, the second padded
    for mode in CALL_MODES:
        inputs, pad = padded(long_rows, "post")
        out.append(Case(
            group="user-reports",
            description="x = Embedding(60, 8, mask_zero=True)(pad_sequences(rows, maxlen=50, "
                        "padding='post')); GlobalAveragePooling1D()(Attention()([x, x]))",
            axes={"subject": "layers.Attention", "layer": "Embedding",
                  "report": "attention_with_padding_mask",
                  "consumer": "Attention", "mask": "mask_zero", "input_dtype": "int32",
                  "mode": mode},
            inputs=inputs,
            steps=(pad, *chain(_masked(60, 8), Step("layers.Attention", inputs=("x1", "x1")),
                               layer("layers.GlobalAveragePooling1D"))),
            mode=mode, source="https://github.com/keras-team/keras/issues/21483",
        ))
    for merge in ("MaskProbe", "Add", "Concatenate"):
        subject = "custom.MaskProbe" if merge == "MaskProbe" else f"layers.{merge}"
        steps = [Step("layers.Embedding", inputs=("a",), output="xa", args=_masked().args),
                 Step("layers.Embedding", inputs=("b",), output="xb", args=_masked().args),
                 Step(subject, inputs=("xa", "xb"), output="merged")]
        if merge != "MaskProbe":
            steps.append(Step("layers.GlobalAveragePooling1D", inputs=("merged",),
                              output="pooled"))
        for mode in CALL_MODES:
            out.append(Case(
                group="user-reports",
                description=f"{merge}()([Embedding(10, 4, mask_zero=True)(a), "
                            f"Embedding(10, 4, mask_zero=True)(b)])"
                            + (": do both masks reach call?" if merge == "MaskProbe" else
                               " -> GlobalAveragePooling1D()"),
                axes={"subject": subject, "layer": "Embedding", "report": "two_masked_inputs",
                      "consumer": merge, "mask": "mask_zero", "input_dtype": "int32",
                      "mode": mode},
                inputs={"a": Tensor(dtype="int32", values=[[1, 2, 0], [3, 0, 0]]),
                        "b": Tensor(dtype="int32", values=[[4, 0, 0], [5, 6, 7]])},
                steps=tuple(steps), mode=mode,
                source="https://github.com/keras-team/keras-core/issues/767",
            ))
    bilstm = layer("layers.Bidirectional", layer=Nested("layers.LSTM", {"units": 3}))
    for saved_on in ("tensorflow", "jax", "torch"):
        out.append(Case(
            group="user-reports",
            description="keras.models.load_model() of Input -> Embedding(10, 4) -> "
                        f"Bidirectional(LSTM(3)) -> Dense(2) saved under {saved_on}",
            axes={"subject": "saving.load_model", "layer": "Embedding",
                  "report": "bidirectional_lstm_saved",
                  "model": "user_bilstm", "saved_on": saved_on, "input_dtype": "int32",
                  "mode": "save_load"},
            inputs=ids_input([[1, 2, 3], [4, 5, 6]], "int32"),
            steps=chain(embedding(), bilstm, layer("layers.Dense", units=2)),
            mode="save_load", saved_on=saved_on,
            source="https://github.com/keras-team/keras/issues/19615",
        ))
    out.append(Case(
        group="user-reports",
        description="Embedding(10, 4)(tf.ragged.constant([[1, 2, 3], [4, 5]]))",
        axes={"subject": "layers.Embedding", "layer": "Embedding", "report": "ragged_ids",
              "input_dtype": "int32", "mode": "eager"},
        inputs={"ids": Tensor(dtype="int32", values=[[1, 2, 3], [4, 5]], ragged=True)},
        steps=chain(embedding()), mode="eager",
        source="https://github.com/keras-team/keras/issues/20073",
    ))
    ids_3d = [[[1, 2, 3, 0, 0], [4, 5, 0, 0, 0], [0, 0, 0, 0, 0]],
              [[6, 7, 8, 9, 1], [2, 0, 0, 0, 0], [3, 4, 0, 0, 0]]]
    for mode in CALL_MODES:
        out.append(Case(
            group="user-reports",
            description="TimeDistributed(LSTM(3))(TimeDistributed(Embedding(10, 4, "
                        "mask_zero=True))(ids of shape (2, 3, 5)))",
            axes={"subject": "layers.TimeDistributed", "layer": "Embedding",
                  "report": "time_distributed_mask", "rank": 3,
                  "consumer": "LSTM", "mask": "mask_zero", "input_dtype": "int32",
                  "mode": mode},
            inputs=ids_input(ids_3d, "int32"),
            steps=chain(Step("layers.Embedding", args=_masked().args, wrap="TimeDistributed"),
                        Step("layers.LSTM", args={"units": 3}, wrap="TimeDistributed")),
            mode=mode, source="https://github.com/keras-team/keras/issues/4786",
        ))
    seqs = ((1, 2, 3, 4), (5, 6), (7,))
    for mode in CALL_MODES:
        inputs, pad = padded(seqs, "post")
        out.append(Case(
            group="user-reports",
            description="LSTM(3, use_cudnn=True)(Embedding(10, 4, mask_zero=True)("
                        "pad_sequences([[1, 2, 3, 4], [5, 6], [7]], padding='post')))",
            axes={"subject": "layers.LSTM", "layer": "Embedding", "report": "lstm_use_cudnn",
                  "consumer": "LSTM", "mask": "mask_zero", "input_dtype": "int32",
                  "mode": mode},
            inputs=inputs,
            steps=(pad, *chain(_masked(), layer("layers.LSTM", units=3, use_cudnn=True))),
            mode=mode, source="https://github.com/keras-team/keras/issues/8620",
        ))
    return out
