"""Dtype policies and Embedding options.

Policies: `float32`, `mixed_float16`, `mixed_bfloat16` (`keras.config.set_dtype_policy`) and
floatx `bfloat16` (`keras.config.set_floatx`), each on an Embedding alone, before a masked
average and before an LSTM. The observation records the output dtype and the embedding
table's dtype; the reference expects the policy's compute dtype for the output (Keras docs,
"Mixed precision": variables stay float32, computations run in the compute dtype).

Options: `enable_lora(2)` (LoRA B starts at zero, so the output equals the base lookup),
`quantize("int8")` (close to float within `matrix.oracle.tolerance.TOLERANCES["quantized"]`),
and the smallest tables, `input_dim=1` and `output_dim=1`.
"""

from __future__ import annotations

from typing import Any

from cases.embedding import call_text, embedding, ids_input, layer, padded, render_step
from cases.model import CALL_MODES, Case, Mode, Step, Tensor, chain

#: The policies this family runs an Embedding under (`cases.model.DTYPE_POLICIES` also
#: holds floatx float16 and float64, which the `keras.ops` family runs).
LAYER_POLICIES = ("float32", "mixed_float16", "mixed_bfloat16", "floatx_bfloat16")
_IDS = [[1, 2, 3], [4, 5, 6]]
_SEQS = ((1, 2, 3, 4), (5, 6), (7,))
#: stack -> (the layer steps, padded or not)
_STACKS: dict[str, tuple[tuple[Step, ...], bool]] = {
    "embedding": ((embedding(),), False),
    "embedding_average": ((embedding(mask_zero=True), layer("layers.GlobalAveragePooling1D")),
                          True),
    "embedding_lstm": ((embedding(mask_zero=True), layer("layers.LSTM", units=3)), True),
}


def _policy_text(policy: str) -> str:
    if policy.startswith("floatx_"):
        return f"keras.config.set_floatx({policy.removeprefix('floatx_')!r})"
    return f"keras.config.set_dtype_policy({policy!r})"


def _program(steps: tuple[Step, ...], pad: bool) -> tuple[dict[str, Tensor], tuple[Step, ...]]:
    if not pad:
        return ids_input(_IDS, "int32"), chain(*steps)
    inputs, padding = padded(_SEQS, "post")
    return inputs, (padding, *chain(*steps))


def policy_cases() -> list[Case]:
    """Every policy × stack × inference mode."""
    out = []
    for policy in LAYER_POLICIES:
        for stack, (steps, pad) in _STACKS.items():
            for mode in CALL_MODES:
                arg = "ids" if pad else f"np.array({_IDS!r}, dtype='int32')"
                inputs, chained = _program(steps, pad)
                out.append(Case(
                    group="dtype-policy",
                    description=f"{_policy_text(policy)}; {call_text(steps, arg, mode)}",
                    axes={"subject": "config.set_dtype_policy", "layer": "Embedding",
                          "dtype_policy": policy, "model": stack, "input_dtype": "int32",
                          "mode": mode},
                    inputs=inputs, steps=chained, mode=mode, dtype_policy=policy,
                ))
    return out


def _option(option: str, step: Step, ids: Any, mode: Mode,
            methods: tuple[tuple[str, tuple[Any, ...]], ...] = ()) -> Case:
    calls = "".join(f".{m}{args!r}".replace(",)", ")") for m, args in methods)
    arg = f"np.array({ids!r}, dtype='int32')"
    text = call_text((step,), arg, mode)
    step = Step(step.subject, args=step.args, after_weights=methods)
    return Case(
        group="embedding-options",
        description=f"{text}  # with embedding{calls}" if calls else text,
        axes={"subject": "layers.Embedding", "layer": "Embedding", "option": option,
              "input_dtype": "int32", "mode": mode},
        inputs=ids_input(ids, "int32"), steps=chain(step), mode=mode,
    )


def option_cases() -> list[Case]:
    """LoRA, int8 quantization and the smallest tables, in every inference mode."""
    out = []
    for mode in CALL_MODES:
        out.append(_option("enable_lora", embedding(), _IDS, mode, (("enable_lora", (2,)),)))
        out.append(_option("quantize_int8", embedding(), _IDS, mode,
                           (("quantize", ("int8",)),)))
        out.append(_option("input_dim_1", embedding(input_dim=1), [[0, 0, 0]], mode))
        out.append(_option("output_dim_1", embedding(output_dim=1), _IDS, mode))
    return out


def cases() -> list[Case]:
    """Every case of this family."""
    return policy_cases() + option_cases()


__all__ = ["cases", "render_step"]
