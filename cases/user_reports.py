"""Inputs that real users reported, rewritten as cases, each linked to its public report.

Each case keeps the shape of the report (the layer sizes, dtypes and calls the user had) so
the matrix answers the reporter's question on every backend: does it raise, return NaN, or
quietly return something else? The links are in `Case.source` and in every repro snippet.
"""

from __future__ import annotations

from cases.core import CALL_MODES, Case, InputSpec, LayerSpec
from cases.embedding import call_text

_EMB_10_4 = LayerSpec(class_name="Embedding", init_kwargs={"input_dim": 10, "output_dim": 4})


def _masked(input_dim: int = 10, output_dim: int = 4) -> LayerSpec:
    return LayerSpec(class_name="Embedding", init_kwargs={
        "input_dim": input_dim, "output_dim": output_dim, "mask_zero": True})


def _simple(name: str, source: str, layers: tuple[LayerSpec, ...], spec: InputSpec,
            **axes: str | int) -> list[Case]:
    """One case per inference mode."""
    arg = f"np.array({spec.ids!r}, dtype={spec.dtype!r})" if spec.ids is not None else "ids"
    return [Case(group="user-reports", description=call_text(layers, arg, mode),
                 axes={"layer": "Embedding", "report": name, **axes,
                       "input_dtype": spec.dtype, "mode": mode},
                 layers=layers, input=spec, mode=mode, source=source)
            for mode in CALL_MODES]


def cases() -> list[Case]:
    """The reported inputs."""
    out: list[Case] = []
    out += _simple("id_equal_to_input_dim", "https://github.com/keras-team/keras/issues/13989",
                   (_EMB_10_4,), InputSpec(dtype="int32", ids=[[1, 2, 3], [4, 5, 10]]),
                   values="out_of_range", bad_id="10")
    out += _simple("float_id_1.9", "https://github.com/keras-team/keras/issues/13906",
                   (_EMB_10_4,), InputSpec(dtype="float32", ids=[[1.9, 0.0, 3.0]]),
                   values="fractional")
    out += _simple("uint8_0_and_255", "https://github.com/pytorch/pytorch/issues/17346",
                   (LayerSpec(class_name="Embedding",
                              init_kwargs={"input_dim": 256, "output_dim": 4}),),
                   InputSpec(dtype="uint8", ids=[[0, 255, 128], [255, 1, 0]]),
                   values="in_range")
    long_rows = ((*range(1, 51),), (*range(1, 31),))  # a (2, 50) batch, the second padded
    for mode in CALL_MODES:
        out.append(Case(
            group="user-reports",
            description="x = Embedding(60, 8, mask_zero=True)(pad_sequences(rows, maxlen=50, "
                        "padding='post')); GlobalAveragePooling1D()(Attention()([x, x]))",
            axes={"layer": "Embedding", "report": "attention_with_padding_mask",
                  "consumer": "Attention", "mask": "mask_zero", "input_dtype": "int32",
                  "mode": mode},
            layers=(_masked(60, 8), LayerSpec(class_name="Attention"),
                    LayerSpec(class_name="GlobalAveragePooling1D")),
            input=InputSpec(dtype="int32", sequences=long_rows, padding="post"),
            mode=mode, source="https://github.com/keras-team/keras/issues/21483",
        ))
    for merge in ("MaskProbe", "Add", "Concatenate"):
        rest = () if merge == "MaskProbe" else (LayerSpec(class_name="GlobalAveragePooling1D"),)
        for mode in CALL_MODES:
            out.append(Case(
                group="user-reports",
                description=f"{merge}()([Embedding(10, 4, mask_zero=True)(a), "
                            f"Embedding(10, 4, mask_zero=True)(b)])"
                            + (": do both masks reach call?" if merge == "MaskProbe" else
                               " -> GlobalAveragePooling1D()"),
                axes={"layer": "Embedding", "report": "two_masked_inputs", "consumer": merge,
                      "mask": "mask_zero", "input_dtype": "int32", "mode": mode},
                layers=(_masked(), _masked(), LayerSpec(class_name=merge), *rest),
                input=InputSpec(dtype="int32", ids=[[1, 2, 0], [3, 0, 0]]),
                input_b=InputSpec(dtype="int32", ids=[[4, 0, 0], [5, 6, 7]]),
                structure="two_inputs", mode=mode,
                source="https://github.com/keras-team/keras-core/issues/767",
            ))
    lstm = LayerSpec(class_name="LSTM", init_kwargs={"units": 3})
    bilstm = LayerSpec(class_name="Bidirectional", init_kwargs={"layer": lstm})
    for saved_on in ("tensorflow", "jax", "torch"):
        out.append(Case(
            group="user-reports",
            description="keras.models.load_model() of Input -> Embedding(10, 4) -> "
                        f"Bidirectional(LSTM(3)) -> Dense(2) saved under {saved_on}",
            axes={"layer": "Embedding", "report": "bidirectional_lstm_saved",
                  "model": "user_bilstm", "saved_on": saved_on, "input_dtype": "int32",
                  "mode": "save_load"},
            layers=(LayerSpec(class_name="Embedding",
                              init_kwargs={"input_dim": 10, "output_dim": 4}), bilstm,
                    LayerSpec(class_name="Dense", init_kwargs={"units": 2})),
            input=InputSpec(dtype="int32", ids=[[1, 2, 3], [4, 5, 6]]),
            mode="save_load", saved_on=saved_on,
            source="https://github.com/keras-team/keras/issues/19615",
        ))
    out.append(Case(
        group="user-reports",
        description="Embedding(10, 4)(tf.ragged.constant([[1, 2, 3], [4, 5]]))",
        axes={"layer": "Embedding", "report": "ragged_ids", "input_dtype": "int32",
              "mode": "eager"},
        layers=(_EMB_10_4,), input=InputSpec(dtype="int32", ids=[[1, 2, 3], [4, 5]]),
        structure="ragged", mode="eager",
        source="https://github.com/keras-team/keras/issues/20073",
    ))
    ids_3d = [[[1, 2, 3, 0, 0], [4, 5, 0, 0, 0], [0, 0, 0, 0, 0]],
              [[6, 7, 8, 9, 1], [2, 0, 0, 0, 0], [3, 4, 0, 0, 0]]]
    for mode in CALL_MODES:
        out.append(Case(
            group="user-reports",
            description="TimeDistributed(LSTM(3))(TimeDistributed(Embedding(10, 4, "
                        "mask_zero=True))(ids of shape (2, 3, 5)))",
            axes={"layer": "Embedding", "report": "time_distributed_mask", "rank": 3,
                  "consumer": "LSTM", "mask": "mask_zero", "input_dtype": "int32",
                  "mode": mode},
            layers=(_masked(), lstm), input=InputSpec(dtype="int32", ids=ids_3d),
            structure="time_distributed", mode=mode,
            source="https://github.com/keras-team/keras/issues/4786",
        ))
    seqs = ((1, 2, 3, 4), (5, 6), (7,))
    for mode in CALL_MODES:
        out.append(Case(
            group="user-reports",
            description="LSTM(3, use_cudnn=True)(Embedding(10, 4, mask_zero=True)("
                        "pad_sequences([[1, 2, 3, 4], [5, 6], [7]], padding='post')))",
            axes={"layer": "Embedding", "report": "lstm_use_cudnn", "consumer": "LSTM",
                  "mask": "mask_zero", "input_dtype": "int32", "mode": mode},
            layers=(_masked(), LayerSpec(class_name="LSTM",
                                         init_kwargs={"units": 3, "use_cudnn": True})),
            input=InputSpec(dtype="int32", sequences=seqs, padding="post"), mode=mode,
            source="https://github.com/keras-team/keras/issues/8620",
        ))
    return out
