"""Preprocessing layers that turn raw tokens into ids, alone and feeding `Embedding`.

`CategoryEncoding` (`one_hot`, `multi_hot`, `count`, with an id past `num_tokens`),
`IntegerLookup` and `StringLookup` (an OOV token, then with a mask token feeding
`Embedding(mask_zero=True)` and a masked average), and `TextVectorization` (lower case,
punctuation stripped, OOV and `output_sequence_length` padding, then feeding a masked
`Embedding`). These layers are built on TensorFlow (`tf.data`-style lookup tables) even on the
JAX and PyTorch backends: where TensorFlow is not installed, whatever the layer raises is the
observation. `Hashing` with `num_bins=2` and a `mask_value`, the one setting whose bins do
not depend on the hash (FarmHash Fingerprint64, which NumPy lacks): the mask value goes to
bin 0 and everything else to bin 1, alone and feeding `Embedding(mask_zero=True)`. Every
inference mode.
"""

from __future__ import annotations

from typing import Any

from cases.embedding import embedding, layer
from cases.model import CALL_MODES, Case, Step, Tensor, chain

VOCABULARY = [10, 20, 30]
WORDS = ["a", "b", "c"]
TEXT_VOCABULARY = ["the", "cat", "sat", "on", "mat"]


def _case(name: str, description: str, axes: dict[str, str | int], inputs: dict[str, Tensor],
          steps: tuple[Step, ...], mode: str) -> Case:
    return Case(group="preprocessing", description=description,
                axes={"variant": name, **axes, "mode": mode}, inputs=inputs, steps=steps,
                mode=mode)  # type: ignore[arg-type]


def _encoding(mode: str) -> list[Case]:
    out = []
    shapes: dict[str, dict[str, Any]] = {
        "one_hot": {"in_range": [0, 4, 2], "out_of_range": [0, 5, 2]},
        "multi_hot": {"in_range": [[0, 1, 1], [4, 2, 0]], "out_of_range": [[0, 1, 5], [4, 2, 0]]},
        "count": {"in_range": [[0, 1, 1], [4, 2, 0]], "out_of_range": [[0, 1, 5], [4, 2, 0]]},
    }
    for output_mode, by_values in shapes.items():
        for values, ids in by_values.items():
            for dtype in ("int32", "int64"):
                out.append(_case(
                    f"category_encoding_{output_mode}",
                    f"CategoryEncoding(num_tokens=5, output_mode={output_mode!r})(np.array("
                    f"{ids!r}, dtype={dtype!r}))",
                    {"subject": "layers.CategoryEncoding", "output_mode": output_mode,
                     "input_dtype": dtype, "values": values,
                     **({"bad_id": "5"} if values == "out_of_range" else {})},
                    {"ids": Tensor(dtype=dtype, values=ids)},
                    chain(layer("layers.CategoryEncoding", num_tokens=5,
                                output_mode=output_mode)), mode))
    return out


def _lookups(mode: str) -> list[Case]:
    out = []
    for dtype in ("int32", "int64"):
        ids = [[10, 99, 30], [20, 10, 0]]
        out.append(_case(
            "integer_lookup", f"IntegerLookup(vocabulary={VOCABULARY})(np.array({ids!r}, "
            f"dtype={dtype!r}))",
            {"subject": "layers.IntegerLookup", "input_dtype": dtype, "values": "oov"},
            {"ids": Tensor(dtype=dtype, values=ids)},
            chain(layer("layers.IntegerLookup", vocabulary=VOCABULARY)), mode))
        masked = [[10, 20, 0], [30, 0, 0]]
        out.append(_case(
            "integer_lookup_embedding",
            f"GlobalAveragePooling1D()(Embedding(5, 4, mask_zero=True)(IntegerLookup("
            f"vocabulary={VOCABULARY}, mask_token=0)(np.array({masked!r}, dtype={dtype!r}))))",
            {"subject": "layers.IntegerLookup", "consumer": "Embedding", "input_dtype": dtype,
             "values": "padded", "mask": "mask_zero"},
            {"ids": Tensor(dtype=dtype, values=masked)},
            chain(layer("layers.IntegerLookup", vocabulary=VOCABULARY, mask_token=0),
                  embedding(input_dim=5, mask_zero=True),
                  layer("layers.GlobalAveragePooling1D")), mode))
    tokens = [["a", "z", "c"], ["b", "a", "c"]]
    out.append(_case(
        "string_lookup", f"StringLookup(vocabulary={WORDS})(np.array({tokens!r}))",
        {"subject": "layers.StringLookup", "input_dtype": "string", "values": "oov"},
        {"tokens": Tensor(dtype="string", values=tokens)},
        chain(layer("layers.StringLookup", vocabulary=WORDS), first="tokens"), mode))
    padded_tokens = [["a", "b", ""], ["c", "", ""]]
    out.append(_case(
        "string_lookup_embedding",
        f"GlobalAveragePooling1D()(Embedding(5, 4, mask_zero=True)(StringLookup(vocabulary="
        f"{WORDS}, mask_token='')(np.array({padded_tokens!r}))))",
        {"subject": "layers.StringLookup", "consumer": "Embedding", "input_dtype": "string",
         "values": "padded", "mask": "mask_zero"},
        {"tokens": Tensor(dtype="string", values=padded_tokens)},
        chain(layer("layers.StringLookup", vocabulary=WORDS, mask_token=""),
              embedding(input_dim=5, mask_zero=True), layer("layers.GlobalAveragePooling1D"),
              first="tokens"), mode))
    texts = ["The cat sat", "on the mat, the END"]
    vectorize = layer("layers.TextVectorization", vocabulary=TEXT_VOCABULARY,
                      output_sequence_length=6)
    out.append(_case(
        "text_vectorization", f"TextVectorization(vocabulary={TEXT_VOCABULARY}, "
        f"output_sequence_length=6)(np.array({texts!r}))",
        {"subject": "layers.TextVectorization", "input_dtype": "string", "values": "oov"},
        {"texts": Tensor(dtype="string", values=texts)}, chain(vectorize, first="texts"),
        mode))
    out.append(_case(
        "text_vectorization_embedding",
        "GlobalAveragePooling1D()(Embedding(7, 4, mask_zero=True)(TextVectorization(...)"
        f"(np.array({texts!r}))))",
        {"subject": "layers.TextVectorization", "consumer": "Embedding",
         "input_dtype": "string", "values": "padded", "mask": "mask_zero"},
        {"texts": Tensor(dtype="string", values=texts)},
        chain(vectorize, embedding(input_dim=7, mask_zero=True),
              layer("layers.GlobalAveragePooling1D"), first="texts"), mode))
    return out


def _hashing(mode: str) -> list[Case]:
    out = []
    inputs: dict[str, tuple[str, Any, Any]] = {
        "int32": ("ids", [[7, 0, 3], [0, 0, 5]], 0),
        "int64": ("ids", [[7, 0, 3], [0, 0, 5]], 0),
        "string": ("tokens", [["a", "", "c"], ["", "", "b"]], ""),
    }
    for dtype, (name, values, mask_value) in inputs.items():
        hashing = layer("layers.Hashing", num_bins=2, mask_value=mask_value)
        data = {name: Tensor(dtype=dtype, values=values)}
        text = f"Hashing(num_bins=2, mask_value={mask_value!r})(np.array({values!r}"
        text += f", dtype={dtype!r}))" if dtype != "string" else "))"
        out.append(_case("hashing", text,
                         {"subject": "layers.Hashing", "input_dtype": dtype, "values": "padded"},
                         data, chain(hashing, first=name), mode))
        out.append(_case(
            "hashing_embedding",
            f"GlobalAveragePooling1D()(Embedding(2, 4, mask_zero=True)({text}))",
            {"subject": "layers.Hashing", "consumer": "Embedding", "input_dtype": dtype,
             "values": "padded", "mask": "mask_zero"},
            data, chain(hashing, embedding(input_dim=2, mask_zero=True),
                        layer("layers.GlobalAveragePooling1D"), first=name), mode))
    return out


def cases() -> list[Case]:
    """Every encoding, lookup and hashing case in every inference mode."""
    return [c for mode in CALL_MODES
            for c in _encoding(mode) + _lookups(mode) + _hashing(mode)]
