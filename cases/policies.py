"""Dtype policies and Embedding options.

Policies: `float32`, `mixed_float16`, `mixed_bfloat16` (`keras.config.set_dtype_policy`) and
floatx `bfloat16` (`keras.config.set_floatx`), each on an Embedding alone, before a masked
average and before an LSTM. The observation records the output dtype and the embedding
table's dtype; the reference expects the policy's compute dtype for the output (Keras docs,
"Mixed precision": variables stay float32, computations run in the compute dtype).

Options: `enable_lora(2)` (LoRA B starts at zero, so the output equals the base lookup),
`quantize("int8")` (close to float within `reference.TOLERANCES["quantized"]`), and the
smallest tables, `input_dim=1` and `output_dim=1`.
"""

from __future__ import annotations

from typing import Any

from cases.core import CALL_MODES, DTYPE_POLICIES, Case, InputSpec, LayerSpec, Mode
from cases.embedding import call_text, embedding

_IDS = [[1, 2, 3], [4, 5, 6]]
_SEQS = ((1, 2, 3, 4), (5, 6), (7,))

_STACKS: dict[str, tuple[tuple[LayerSpec, ...], InputSpec]] = {
    "embedding": ((embedding(),), InputSpec(dtype="int32", ids=_IDS)),
    "embedding_average": ((embedding(mask_zero=True),
                           LayerSpec(class_name="GlobalAveragePooling1D")),
                          InputSpec(dtype="int32", sequences=_SEQS, padding="post")),
    "embedding_lstm": ((embedding(mask_zero=True),
                        LayerSpec(class_name="LSTM", init_kwargs={"units": 3})),
                       InputSpec(dtype="int32", sequences=_SEQS, padding="post")),
}


def _policy_text(policy: str) -> str:
    if policy == "floatx_bfloat16":
        return "keras.config.set_floatx('bfloat16')"
    return f"keras.config.set_dtype_policy({policy!r})"


def policy_cases() -> list[Case]:
    """Every policy × stack × inference mode."""
    out = []
    for policy in DTYPE_POLICIES:
        for stack, (layers, spec) in _STACKS.items():
            for mode in CALL_MODES:
                arg = "ids" if spec.ids is None else f"np.array({spec.ids!r}, dtype='int32')"
                out.append(Case(
                    group="dtype-policy",
                    description=f"{_policy_text(policy)}; {call_text(layers, arg, mode)}",
                    axes={"layer": "Embedding", "dtype_policy": policy, "model": stack,
                          "input_dtype": spec.dtype, "mode": mode},
                    layers=layers, input=spec, mode=mode, dtype_policy=policy,
                ))
    return out


def _option(option: str, layer: LayerSpec, ids: Any, mode: Mode,
            methods: dict[str, tuple[Any, ...]] | None = None) -> Case:
    calls = "".join(f".{m}{args!r}".replace(",)", ")") for m, args in (methods or {}).items())
    arg = f"np.array({ids!r}, dtype='int32')"
    return Case(
        group="embedding-options",
        description=f"{call_text((layer,), arg, mode)}  # with embedding{calls}" if calls
        else call_text((layer,), arg, mode),
        axes={"layer": "Embedding", "option": option, "input_dtype": "int32", "mode": mode},
        layers=(layer,), input=InputSpec(dtype="int32", ids=ids), mode=mode,
        embedding_methods=methods or {},
    )


def option_cases() -> list[Case]:
    """LoRA, int8 quantization and the smallest tables, in every inference mode."""
    out = []
    for mode in CALL_MODES:
        out.append(_option("enable_lora", embedding(), _IDS, mode, {"enable_lora": (2,)}))
        out.append(_option("quantize_int8", embedding(), _IDS, mode, {"quantize": ("int8",)}))
        out.append(_option("input_dim_1", LayerSpec(
            class_name="Embedding", init_kwargs={"input_dim": 1, "output_dim": 4}),
            [[0, 0, 0]], mode))
        out.append(_option("output_dim_1", LayerSpec(
            class_name="Embedding", init_kwargs={"input_dim": 10, "output_dim": 1}),
            _IDS, mode))
    return out


def cases() -> list[Case]:
    """Every case of this family."""
    return policy_cases() + option_cases()
