"""Training and serialization: one `fit` step, and `.keras` files moved between backends.

`fit`: `Embedding(10, 4)` alone, loss "mse" to a zero target, one SGD step over the whole
batch; the observation is the embedding table afterwards, compared with a NumPy SGD step
(`matrix.oracle.layers.sgd_step_mse`): looked-up rows move by the gradient, rows never looked up
must not move (unless a regularizer moves them), and `NonNeg` must hold after the step.

`save_load`: three models, each saved as `.keras` under every backend and loaded under every
backend, so the table shows all nine (saved on, loaded on) pairs per model. The session of
the saving backend writes `reports/artifacts/<backend>/<model>.keras` (committed beside the run
files, so sessions stay independent); a session whose file from another backend is missing
records `not_run` with the reason, never a pass.
"""

from __future__ import annotations

from typing import Any

from cases.embedding import INPUT_DIM, OUTPUT_DIM, embedding, ids_input, layer, padded, render_step
from cases.model import Case, Fit, Nested, Step, Tensor, chain

LEARNING_RATE = 0.5
FIT_IDS = [[1, 2, 3], [4, 5, 1]]  # id 1 twice; rows 0 and 6..9 are never looked up
BACKENDS = ("tensorflow", "jax", "torch")


def _fit_case(dtype: str, values: str, ids: Any, extra_axes: dict[str, str | int],
              **embedding_kwargs: Any) -> Case:
    step = embedding(**embedding_kwargs)
    return Case(
        group="fit",
        description=(f"model = keras.Model(Input -> {render_step(step)}); model.compile(SGD("
                     f"{LEARNING_RATE}), 'mse'); model.fit(np.array({ids!r}, dtype={dtype!r}), "
                     "zeros, epochs=1); model.layers[1].embeddings"),
        axes={"subject": "layers.Embedding", "layer": "Embedding", "rank": len(_shape(ids)),
              "input_dtype": dtype, "values": values, **extra_axes, "mode": "fit"},
        inputs=ids_input(ids, dtype),
        steps=chain(step),
        mode="fit",
        fit=Fit(learning_rate=LEARNING_RATE, observe="x1"),
    )


def _shape(ids: Any) -> tuple[int, ...]:
    shape = []
    while isinstance(ids, list):
        shape.append(len(ids))
        ids = ids[0]
    return tuple(shape)


def fit_cases() -> list[Case]:
    """One SGD step: id dtypes × values, constraints and regularizers."""
    out = []
    for dtype in ("int16", "int32", "int64", "uint8", "float32"):
        out.append(_fit_case(dtype, "in_range", FIT_IDS, {"option": "none"}))
        out.append(_fit_case(dtype, "out_of_range", [[1, 2, 3], [4, INPUT_DIM, 1]],
                             {"bad_id": str(INPUT_DIM), "option": "none"}))
        if not dtype.startswith("uint"):
            out.append(_fit_case(dtype, "negative", [[1, 2, 3], [4, -1, 1]],
                                 {"bad_id": "-1", "option": "none"}))
    out.append(_fit_case("int32", "in_range", FIT_IDS, {"option": "non_neg"},
                         embeddings_constraint="non_neg"))
    out.append(_fit_case("int32", "in_range", FIT_IDS, {"option": "l2"},
                         embeddings_regularizer="l2"))
    out.append(_fit_case("int32", "in_range", [[[1, 2], [3, 1]], [[4, 5], [6, 1]]],
                         {"option": "none"}))
    return out


_SEQS = ((1, 2, 3, 4), (5, 6), (7,))
_LSTM = layer("layers.LSTM", units=3)

#: model name -> (the layer steps, input dtype, ids or None for the padded `_SEQS`)
SAVED_MODELS: dict[str, tuple[tuple[Step, ...], Any]] = {
    "embedding": ((embedding(),), [[1, 2, 3], [4, 5, 6]]),
    "embedding_lstm": ((embedding(mask_zero=True), _LSTM), None),
    "embedding_bilstm_dense": (
        (embedding(mask_zero=True),
         layer("layers.Bidirectional", layer=Nested("layers.LSTM", {"units": 3})),
         layer("layers.Dense", units=2)), None),
}


def program(steps: tuple[Step, ...], ids: Any) -> tuple[dict[str, Tensor], tuple[Step, ...]]:
    """The inputs and steps of a saved model: fixed ids, or `_SEQS` padded after them."""
    if ids is not None:
        return ids_input(ids, "int32"), chain(*steps)
    inputs, pad = padded(_SEQS, "post")
    return inputs, (pad, *chain(*steps))


def save_load_cases() -> list[Case]:
    """Every model saved under every backend, loaded under this one: nine pairs each."""
    out = []
    for model, (steps, ids) in SAVED_MODELS.items():
        stack = " -> ".join(render_step(step) for step in steps)
        inputs, chained = program(steps, ids)
        for saved_on in BACKENDS:
            out.append(Case(
                group="save-load",
                description=(f"keras.models.load_model('{model}.keras').predict(ids), the file "
                             f"saved under KERAS_BACKEND={saved_on} from Input -> {stack}"),
                axes={"subject": "saving.load_model", "layer": "Embedding", "model": model,
                      "saved_on": saved_on, "input_dtype": "int32", "mode": "save_load"},
                inputs=inputs, steps=chained, mode="save_load", saved_on=saved_on,
            ))
    return out


def cases() -> list[Case]:
    """Every case of this family."""
    return fit_cases() + save_load_cases()


__all__ = ["OUTPUT_DIM", "cases"]
