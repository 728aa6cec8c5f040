"""Losses and metrics with integer labels: where the integer path ends.

`SparseCategoricalCrossentropy` (`from_logits` both ways, `ignore_class`), called on labels of
every integer dtype and float, in range, out of range and negative, with labels of rank
`(batch,)` and `(batch, 1)` and a rank that does not fit the predictions;
`SparseCategoricalAccuracy` and `SparseTopKCategoricalAccuracy(k=2)` on the same labels.
Losses and metrics are called directly (mode `eager`), as a user calls them in a custom
training step; their records are in `cases/subjects/losses.py`, their references in
`matrix/oracle/path_refs.py`.

And a mask reaching a loss: `Embedding(mask_zero=True)` -> `LSTM(return_sequences=True)` ->
`Dense(3)` trained one step in `fit` with a per-timestep `SparseCategoricalCrossentropy`, where
the padded timesteps must not count (`masked_fit_cases`; reference
`matrix.oracle.layers.masked_sparse_categorical_crossentropy`).
"""

from __future__ import annotations

from typing import Any

from cases.embedding import embedding, layer
from cases.model import Case, Fit, Step, Tensor, chain

LABEL_DTYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                "float16", "float32", "float64")
SIGNED = ("int8", "int16", "int32", "int64", "float16", "float32", "float64")
#: Three samples over three classes: probabilities, and logits.
PROBABILITIES = [[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.2, 0.5, 0.3]]
LOGITS = [[2.0, 0.5, -1.0], [-0.5, 0.3, 1.2], [0.1, 1.5, 0.2]]
LABELS: dict[str, tuple[Any, str]] = {
    "in_range": ([0, 2, 1], ""),
    "out_of_range": ([0, 3, 1], "3"),
    "negative": ([0, -1, 1], "-1"),
}


def _case(subject: str, description: str, axes: dict[str, str | int], labels: Any,
          dtype: str, preds: Any, args: dict[str, Any]) -> Case:
    return Case(
        group="losses", description=description,
        axes={"subject": subject, **axes, "input_dtype": dtype, "mode": "eager"},
        inputs={"labels": Tensor(dtype=dtype, values=labels),
                "preds": Tensor(dtype="float32", values=preds, constant=True)},
        steps=(Step(subject, inputs=("labels", "preds"), output="out", args=args),),
        mode="eager")


def loss_cases() -> list[Case]:
    """`SparseCategoricalCrossentropy` over label dtype × values × logits × ignore_class."""
    out = []
    subject = "losses.SparseCategoricalCrossentropy"
    for values, (labels, bad) in LABELS.items():
        for dtype in LABEL_DTYPES:
            if values == "negative" and dtype not in SIGNED:
                continue
            for from_logits in (False, True):
                for ignore in (None, 1):
                    args: dict[str, Any] = {"from_logits": from_logits}
                    if ignore is not None:
                        args["ignore_class"] = ignore
                    text = ", ".join(f"{k}={v!r}" for k, v in args.items())
                    out.append(_case(
                        subject, f"keras.losses.SparseCategoricalCrossentropy({text})("
                        f"np.array({labels!r}, dtype={dtype!r}), preds)",
                        {"loss": "scce", "from_logits": str(from_logits).lower(),
                         "ignore_class": str(ignore), "rank": 1, "values": values,
                         **({"bad_id": bad} if bad else {})},
                        labels, dtype, LOGITS if from_logits else PROBABILITIES, args))
    for shape, labels in (("batch_1", [[0], [2], [1]]), ("batch_2", [[0, 1], [2, 0], [1, 1]])):
        out.append(_case(subject, f"keras.losses.SparseCategoricalCrossentropy()(np.array("
                         f"{labels!r}, dtype='int32'), preds)",
                         {"loss": "scce", "label_shape": shape, "rank": 2,
                          "values": "in_range"}, labels, "int32", PROBABILITIES, {}))
    return out


def metric_cases() -> list[Case]:
    """`SparseCategoricalAccuracy` and `SparseTopKCategoricalAccuracy(k=2)`."""
    out = []
    for subject, args in (("metrics.SparseCategoricalAccuracy", {}),
                          ("metrics.SparseTopKCategoricalAccuracy", {"k": 2})):
        name = subject.rsplit(".", 1)[-1]
        for values, (labels, bad) in LABELS.items():
            for dtype in LABEL_DTYPES:
                if values == "negative" and dtype not in SIGNED:
                    continue
                text = ", ".join(f"{k}={v!r}" for k, v in args.items())
                out.append(_case(
                    subject, f"m = keras.metrics.{name}({text}); m.update_state(np.array("
                    f"{labels!r}, dtype={dtype!r}), preds); m.result()",
                    {"metric": name, "rank": 1, "values": values,
                     **({"bad_id": bad} if bad else {})},
                    labels, dtype, PROBABILITIES, args))
    return out


#: Padded ids `(batch, steps)` = (3, 4), 0 the padding, and one label per timestep; the padded
#: timesteps' label is 0, a valid class, so counting them changes the mean.
MASKED_IDS = [[1, 2, 3, 4], [5, 6, 0, 0], [7, 0, 0, 0]]
MASKED_LABELS = [[1, 2, 0, 1], [2, 1, 0, 0], [1, 0, 0, 0]]
MASKED_LABEL_DTYPES = ("int32", "int64", "uint8")


def masked_fit_cases() -> list[Case]:
    """One `fit` step with a per-timestep sparse loss behind a mask: label dtype x mask."""
    out = []
    for mask_zero in (True, False):
        steps = chain(embedding(mask_zero=mask_zero),
                      layer("layers.LSTM", units=3, return_sequences=True),
                      layer("layers.Dense", units=3))
        for dtype in MASKED_LABEL_DTYPES:
            out.append(Case(
                group="losses",
                description=(f"model = keras.Model(Input -> Embedding(10, 4, mask_zero="
                             f"{mask_zero}) -> LSTM(3, return_sequences=True) -> Dense(3)); "
                             "model.compile(SGD(0.5), SparseCategoricalCrossentropy("
                             f"from_logits=True)); model.fit(ids, np.array({MASKED_LABELS!r}, "
                             f"dtype={dtype!r})).history['loss'][0]"),
                axes={"subject": "losses.SparseCategoricalCrossentropy", "loss": "scce_fit",
                      "rank": 2, "input_dtype": dtype, "values": "padded",
                      "mask": "mask_zero" if mask_zero else "none", "mode": "fit"},
                inputs={"ids": Tensor(dtype="int32", values=MASKED_IDS),
                        "labels": Tensor(dtype=dtype, values=MASKED_LABELS)},
                steps=steps, mode="fit",
                fit=Fit(learning_rate=0.5, observe=steps[-1].output, labels="labels")))
    return out


def cases() -> list[Case]:
    """Every case of this family."""
    return loss_cases() + metric_cases() + masked_fit_cases()
