"""Builds the saved models `tests/test_check.py` checks; run with a Keras backend set.

    python tests/data/check_models.py OUT_DIR

writes `text.keras` (Embedding(mask_zero=True) -> LSTM -> Dense, a text classifier) with
`text.npz` (post-padded ids) and `text_out_of_range.npz` (one id equal to `input_dim`), and
`custom.keras` (a layer class defined here, so loading needs `--custom-objects`).
"""

from __future__ import annotations

import sys
from pathlib import Path

import keras
import numpy as np


@keras.saving.register_keras_serializable(package="kcm_tests")
class Doubling(keras.layers.Layer):  # type: ignore[misc]
    """A custom layer: loading a model that holds it needs this module."""

    def call(self, x):  # type: ignore[no-untyped-def]
        return x * 2.0


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(0)
    ids = keras.Input((5,), dtype="int32", name="ids")
    x = keras.layers.Embedding(20, 4, mask_zero=True, name="embedding")(ids)
    x = keras.layers.LSTM(3, name="lstm")(x)
    y = keras.layers.Dense(2, activation="softmax", name="classes")(x)
    keras.Model(ids, y).save(out / "text.keras")
    padded = keras.utils.pad_sequences([[3, 7, 1], [4, 2, 9, 11, 5], [6]], maxlen=5,
                                       padding="post")
    np.savez(out / "text.npz", ids=padded.astype("int32"))
    bad = padded.copy()
    bad[0, 1] = 20  # == input_dim
    np.savez(out / "text_out_of_range.npz", ids=bad.astype("int32"))
    np.savez(out / "text_wrong_shape.npz", ids=padded[:, :3].astype("int32"))
    features = keras.Input((3,), name="features")
    keras.Model(features, Doubling(name="doubling")(features)).save(out / "custom.keras")
    np.savez(out / "custom.npz", features=np.ones((2, 3), "float32"))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
