"""Attention with its call arguments, after masked embeddings.

`MultiHeadAttention(num_heads=2, key_dim=2)` with `use_causal_mask`, an explicit
`attention_mask`, `return_attention_scores` (the scores compared too), and cross-attention
(query and value of different lengths, the value with its own padding mask); `Attention` with
`use_causal_mask`, `score_mode="concat"` (with and without the causal mask) and as
cross-attention. Self-attention outputs go through a masked average,
as a classifier reads them, so the outputs of padded queries (whose rows attend to nothing)
do not count; scores are compared where every query row attends to at least one key.
"""

from __future__ import annotations

from typing import Any

from cases.embedding import embedding, layer, padded
from cases.model import CALL_MODES, Case, Step, Tensor, chain

SEQUENCES = ((1, 2, 3, 4), (5, 6), (7,))
MHA = {"num_heads": 2, "key_dim": 2}
#: An explicit mask (3 samples, 4 queries, 4 keys) where every query keeps a key.
ATTENTION_MASK = [[[True, False, True, True]] * 4, [[True, True, False, False]] * 4,
                  [[False, True, True, False]] * 4]


def _self(subject: str, args: dict[str, Any], call: dict[str, Any], mask_zero: bool,
          mode: str, axes: dict[str, str], item: int | None = None,
          extra: dict[str, Tensor] | None = None) -> Case:
    inputs, pad = padded(SEQUENCES, "post")
    inputs.update(extra or {})
    attend = Step(subject, inputs=("x1", "x1"), output="x2", args=args, call=call, item=item)
    steps = [pad, *chain(embedding(mask_zero=mask_zero)), attend]
    if item is None:
        steps.append(Step("layers.GlobalAveragePooling1D", inputs=("x2",), output="x3"))
    text = ", ".join(f"{k}={v!r}" for k, v in call.items() if k != "attention_mask")
    if "attention_mask" in call:
        text = ", ".join(filter(None, [text, "attention_mask=mask"]))
    name = subject.rsplit(".", 1)[-1]
    made = ", ".join(f"{k}={v!r}" for k, v in args.items())
    call_text = f"{name}({made})([x, x]{', ' if text else ''}{text})" \
        if subject == "layers.Attention" \
        else f"{name}(num_heads=2, key_dim=2)(x, x{', ' if text else ''}{text})"
    description = (f"x = Embedding(10, 4, mask_zero={mask_zero})(padded ids); {call_text}"
                   + ("" if item is not None else " -> GlobalAveragePooling1D()")
                   + (f"[{item}]" if item is not None else ""))
    return Case(group="attention", description=description,
                axes={"subject": subject, "consumer": name, **axes, "rank": 2,
                      "input_dtype": "int32",
                      "values": "padded", "mask": "mask_zero" if mask_zero else "none",
                      "mode": mode},
                inputs=inputs, steps=tuple(steps), mode=mode)  # type: ignore[arg-type]


def _cross(subject: str, mode: str) -> Case:
    emb = embedding().args
    steps = (Step("layers.Embedding", inputs=("query_ids",), output="q", args=emb),
             Step("layers.Embedding", inputs=("value_ids",), output="v",
                  args={**emb, "mask_zero": True}),
             Step(subject, inputs=("q", "v"), output="out",
                  args=MHA if subject == "layers.MultiHeadAttention" else {}))
    name = subject.rsplit(".", 1)[-1]
    call = "(q, v)" if subject == "layers.MultiHeadAttention" else "([q, v])"
    return Case(group="attention",
                description=f"q = Embedding(10, 4)(query ids (2, 3)); v = Embedding(10, 4, "
                            f"mask_zero=True)(value ids (2, 5), padded); {name}(...){call}",
                axes={"subject": subject, "consumer": name, "variant": "cross_attention",
                      "rank": 2,
                      "input_dtype": "int32", "values": "padded", "mask": "mask_zero",
                      "mode": mode},
                inputs={"query_ids": Tensor(dtype="int32", values=[[1, 2, 3], [4, 5, 6]]),
                        "value_ids": Tensor(dtype="int32",
                                            values=[[7, 8, 9, 0, 0], [1, 3, 0, 0, 0]])},
                steps=steps, mode=mode)  # type: ignore[arg-type]


def cases() -> list[Case]:
    """Causal masks, explicit masks, scores and cross-attention in every inference mode."""
    out = []
    for mode in CALL_MODES:
        for mask_zero in (False, True):
            out.append(_self("layers.MultiHeadAttention", MHA, {"use_causal_mask": True},
                             mask_zero, mode, {"variant": "causal"}))
            out.append(_self("layers.Attention", {}, {"use_causal_mask": True}, mask_zero, mode,
                             {"variant": "causal"}))
        out.append(_self("layers.MultiHeadAttention", MHA, {"attention_mask": "amask"}, False,
                         mode, {"variant": "attention_mask"},
                         extra={"amask": Tensor(dtype="bool", values=ATTENTION_MASK)}))
        for causal in (False, True):
            call = {"return_attention_scores": True, **({"use_causal_mask": True}
                                                        if causal else {})}
            out.append(_self("layers.MultiHeadAttention", MHA, call, False, mode,
                             {"variant": "scores_causal" if causal else "scores"}, item=1))
            out.append(_self("layers.MultiHeadAttention", MHA, call, False, mode,
                             {"variant": "output_causal" if causal else "output"}, item=0))
        for mask_zero in (False, True):
            out.append(_self("layers.Attention", {"score_mode": "concat"}, {}, mask_zero, mode,
                             {"variant": "concat"}))
        out.append(_self("layers.Attention", {"score_mode": "concat"}, {"use_causal_mask": True},
                         True, mode, {"variant": "concat_causal"}))
        out.append(_cross("layers.MultiHeadAttention", mode))
        out.append(_cross("layers.Attention", mode))
    return out


__all__ = ["cases", "layer"]
