"""A user catalog from issue 9: GRU(3, reset_after=False) after a masked Embedding.

On post-padded ids the reference models `reset_after=False` (its own weights and gate order),
so every backend must match; on ids holding 10 (input_dim 10) the reference refuses, and a
backend that returns values (JAX's NaN rows) must never come out `xpassed`.
"""

from cases import Case, Step, Tensor, chain

_STEPS = chain(Step("layers.Embedding", args={"input_dim": 10, "output_dim": 4,
                                              "mask_zero": True}),
               Step("layers.GRU", args={"units": 3, "reset_after": False}))

CASES = [
    Case(group="user-gru", description="GRU(3, reset_after=False)(Embedding(10, 4, "
         "mask_zero=True)(post-padded ids))",
         axes={"subject": "layers.GRU", "values": "padded", "mode": "eager"},
         inputs={"ids": Tensor(dtype="int32", values=[[1, 2, 3], [4, 5, 0]])},
         steps=_STEPS, mode="eager"),
    Case(group="user-gru", description="GRU(3, reset_after=False)(Embedding(10, 4, "
         "mask_zero=True)(ids holding 10))",
         axes={"subject": "layers.GRU", "values": "out_of_range", "mode": "eager"},
         inputs={"ids": Tensor(dtype="int32", values=[[1, 2, 10], [4, 5, 0]])},
         steps=_STEPS, mode="eager"),
]
