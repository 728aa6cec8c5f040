"""Inputs nobody tests: an empty batch, a single timestep, an all-padding batch, dtype limits.

An empty batch `(0, 3)` through `Embedding`, a masked LSTM and a masked average; one timestep
whose second row is padding; a batch of rows that are all padding; and the largest id each
integer dtype holds (int8 127, uint8 255, int16 32767, uint16 65535) with a table just big
enough, then one row too small. Every inference mode.
"""

from __future__ import annotations

from cases.embedding import embedding, layer, padded
from cases.model import CALL_MODES, Case, Step, Tensor, chain

LIMITS = {"int8": 127, "uint8": 255, "int16": 32767, "uint16": 65535}


def _case(name: str, description: str, axes: dict[str, str | int], inputs: dict[str, Tensor],
          steps: tuple[Step, ...], mode: str) -> Case:
    return Case(group="edge-inputs", description=description,
                axes={"variant": name, **axes, "mode": mode}, inputs=inputs, steps=steps,
                mode=mode)  # type: ignore[arg-type]


def cases() -> list[Case]:
    """Every edge input in every inference mode."""
    out = []
    after = {"embedding": (), "lstm": (layer("layers.LSTM", units=3),),
             "average": (layer("layers.GlobalAveragePooling1D"),)}
    for mode in CALL_MODES:
        for dtype in ("int32", "int64"):
            for name, rest in after.items():
                out.append(_case(
                    f"empty_batch_{name}", f"Embedding(10, 4, mask_zero=True) -> {name} on "
                    f"np.zeros((0, 3), dtype={dtype!r})",
                    {"subject": "layers.Embedding" if not rest else rest[0].subject,
                     "batch": "empty", "rank": 2, "input_dtype": dtype, "values": "in_range"},
                    {"ids": Tensor(dtype=dtype, values=[], shape=(0, 3))},
                    chain(embedding(mask_zero=True), *rest), mode))
        for consumer in ("SimpleRNN", "GRU", "LSTM"):
            out.append(_case(
                f"single_timestep_{consumer.lower()}",
                f"{consumer}(3)(Embedding(10, 4, mask_zero=True)(np.array([[1], [0]])))",
                {"subject": f"layers.{consumer}", "steps": 1, "rank": 2, "input_dtype": "int32",
                 "values": "padded", "mask": "mask_zero"},
                {"ids": Tensor(dtype="int32", values=[[1], [0]])},
                chain(embedding(mask_zero=True), layer(f"layers.{consumer}", units=3)), mode))
        for name, rest in (("lstm", after["lstm"]), ("average", after["average"])):
            inputs, pad = padded(((), ()), "post")
            pad = Step(pad.subject, inputs=pad.inputs, output=pad.output,
                       args={**pad.args, "maxlen": 3})
            out.append(_case(
                f"all_padding_batch_{name}",
                f"{name} of Embedding(10, 4, mask_zero=True)(pad_sequences([[], []], maxlen=3))",
                {"subject": rest[0].subject, "rank": 2, "input_dtype": "int32",
                 "values": "all_padding", "mask": "mask_zero"},
                inputs, (pad, *chain(embedding(mask_zero=True), *rest)), mode))
        for dtype, limit in LIMITS.items():
            for size, values in ((limit + 1, "dtype_limit"), (limit, "out_of_range")):
                out.append(_case(
                    f"dtype_limit_{size}",
                    f"Embedding({size}, 2)(np.array([[0, {limit}]], dtype={dtype!r}))",
                    {"subject": "layers.Embedding", "rank": 2, "input_dtype": dtype,
                     "values": values, "bad_id": str(limit) if values == "out_of_range" else ""},
                    {"ids": Tensor(dtype=dtype, values=[[0, limit]])},
                    chain(embedding(input_dim=size, output_dim=2)), mode))
    return out
