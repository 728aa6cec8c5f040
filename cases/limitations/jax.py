"""Known divergences of the JAX backend alone: records only.

A cell takes the first limitation that covers it, in the order of
`cases.limitations.ORDER`, not the order of this file.
"""

from __future__ import annotations

from cases.limitations.base import (
    CUT_TO_32_BITS,
    FLOAT_PAIRS,
    JAX_GATHERED,
    JAX_TAKE_DOC,
    JAX_X64_DOC,
    KERAS_SRC,
    MIXED_PAIRS,
    NO_REPORT,
    PAST_INT32,
    WITH_64_BIT,
    Behaviour,
    Limitation,
    ops,
    table_ops,
)

LIMITATIONS: tuple[Limitation, ...] = (
    Limitation(
        id="jax-segment-drops-out-of-range-ids",
        description="JAX's segment ops drop segment ids outside [0, num_segments) silently",
        link="https://docs.jax.dev/en/latest/_autosummary/jax.ops.segment_sum.html",
        backends=("jax",),
        axes={"subject": ("ops.segment_sum", "ops.segment_max"),
              "values": ("out_of_range", "negative"), "mode": ("eager",),
              "input_dtype": JAX_GATHERED},
        expects="error",
    ),
    Limitation(
        id="jax-bincount-not-compilable",
        description="keras.ops.bincount cannot be traced by JAX (its output length depends on "
                    "the data): predict and jit_compile raise" + NO_REPORT,
        link="https://docs.jax.dev/en/latest/errors.html",
        backends=("jax",),
        axes={"subject": ("ops.bincount",), "mode": ("predict", "jit_compile"),
              "input_dtype": JAX_GATHERED},
    ),
    Limitation(
        id="jax-float64-computed-in-float32",
        description="float64 inputs are computed in float32 by JAX without jax_enable_x64",
        link="https://docs.jax.dev/en/latest/default_dtypes.html",
        backends=("jax",),
        axes={"subject": ("ops.top_k",), "input_dtype": ("float64",), "item": ("values",)},
    ),
    Limitation(
        id="jax-bool-indices",
        description="JAX refuses bool index tensors in keras.ops.one_hot ('iota does not accept "
                    "dtype bool') and take_along_axis ('indices must be of integer type'), "
                    "where TensorFlow and torch read them as 0 and 1",
        link="https://docs.jax.dev/en/latest/_autosummary/jax.numpy.take_along_axis.html",
        backends=("jax",),
        axes={"subject": ("ops.one_hot", "ops.take_along_axis"), "input_dtype": ("bool",)},
        expects="values",
    ),
    Limitation(
        id="jax-sparse-crossentropy-out-of-range",
        description="SparseCategoricalCrossentropy does not validate labels on JAX: a label "
                    "outside [0, classes) gives a finite loss silently (TensorFlow raises "
                    "InvalidArgumentError, torch IndexError 'Target out of bounds')",
        link="https://github.com/keras-team/keras/issues/23664",
        backends=("jax",),
        axes={"subject": ("losses.SparseCategoricalCrossentropy",),
              "values": ("out_of_range", "negative")},
    ),
    Limitation(
        id="jax-rnn-single-gru-cell-reset-before",
        description="RNN(cell=[GRUCell(reset_after=False)]) cannot run on JAX, masked or not: "
                    "'scan body function carry input and carry output must have the same pytree "
                    "structure' (or 'Expected an instance of list' with a mask)" + NO_REPORT,
        link=KERAS_SRC + "backend/jax/rnn.py",
        backends=("jax",),
        axes={"variant": ("gru_reset_before",)},
    ),
    Limitation(
        id="jax-x64-still-wraps-int64", effect="wraps",
        description="even with jax_enable_x64 turned on (jax.config.update at run time), an "
                    "int64 id of 2**32 + 7 reaches the gather as 7 and returns row 7 with no "
                    "error; found by this matrix, no public report known",
        link="https://docs.jax.dev/en/latest/default_dtypes.html",
        backends=("jax",),
        axes={"jax_x64": ("x64_on",), "bad_id": (PAST_INT32,)},
    ),
    Limitation(
        id="jax-int32-wraps-past-2-32", effect="wraps",
        description="ids are cast to int32 (JAX without x64), so 2**32 + 7 wraps to the valid "
                    "id 7 and returns that row with no error",
        link="https://docs.jax.dev/en/latest/default_dtypes.html",
        backends=("jax",),
        axes={"subject": ("layers.Embedding",), "values": ("out_of_range",),
              "bad_id": (PAST_INT32,)},
    ),
    Limitation(
        id="jax-take-fills-nan", effect="NaN rows",
        description="JAX's take fills out-of-bounds rows with NaN (mode='fill') instead of "
                    "raising: an id >= input_dim silently becomes a NaN row",
        link=JAX_TAKE_DOC,
        backends=("jax",),
        axes={"subject": ("ops.take", "ops.take_along_axis"), "values": ("out_of_range",),
              "input_dtype": JAX_GATHERED},
    ),
    Limitation(
        id="jax-take-fills-nan-embedding", effect="NaN rows",
        description="JAX's take fills out-of-bounds rows with NaN (mode='fill') instead of "
                    "raising: an id >= input_dim silently becomes a NaN row of the Embedding",
        link=JAX_TAKE_DOC,
        backends=("jax",),
        axes={"subject": ("layers.Embedding",), "values": ("out_of_range",)},
    ),
    Limitation(
        id="jax-take-fills-nan-negative", effect="NaN rows",
        description="JAX's take fills rows for ids below -input_dim with NaN instead of raising",
        link=JAX_TAKE_DOC,
        backends=("jax",),
        axes={"subject": ("ops.take", "ops.take_along_axis"), "values": ("negative",),
              "bad_id": ("-11", "-6"), "input_dtype": JAX_GATHERED},
    ),
    Limitation(
        id="jax-take-fills-nan-negative-embedding", effect="NaN rows",
        description="JAX's take fills the Embedding rows of ids below -input_dim with NaN "
                    "instead of raising",
        link=JAX_TAKE_DOC,
        backends=("jax",),
        axes={"subject": ("layers.Embedding",), "values": ("negative",), "bad_id": ("-11",)},
    ),
    Limitation(
        id="jax-stacked-rnn-cells-mask-before-3-10",
        description="Before Keras 3.10, RNN([cell, cell]) (stacked cells) with a mask fails "
                    "on JAX: TypeError 'where requires ndarray or scalar arguments, got "
                    "<class 'list'>' (the stacked state is a list); bisected on JAX: 3.9.2 "
                    "raises, 3.10.0 matches the reference",
        link="https://github.com/keras-team/keras/releases/tag/v3.10.0",
        backends=("jax",),
        axes={"subject": ("layers.RNN",), "mask": ("mask_zero", "explicit")},
        versions={"keras": "<3.10"},
    ),
    Limitation(
        id="jax-64-bit-inputs-made-32-bit",
        description="With jax_enable_x64 off (JAX's default), JAX makes an int64 or uint64 "
                    "tensor 32-bit when Keras converts it, so abs, negative, sign, round, "
                    "trunc, square, bitwise_not, min, max, prod, cumsum and cumprod return "
                    "int32 or uint32 (values past 32 bits wrapped) where Keras states the "
                    "input's 64-bit dtype",
        link=JAX_X64_DOC,
        backends=("jax",),
        axes={"subject": ops("abs", "absolute", "bitwise_invert", "bitwise_not", "cumprod",
                             "cumsum", "max", "min", "negative", "prod", "round", "sign",
                             "square", "trunc"),
              "input_dtype": ("int64", "uint64")},
        expects="values",
        effect="32-bit",
    ),
    Limitation(
        id="jax-float64-inputs-made-float32",
        description="With jax_enable_x64 off (JAX's default), JAX makes a float64 tensor "
                    "float32 when Keras converts it, so abs, negative, sign, round, trunc, "
                    "square, exp, exp2, expm1, min, max, mean, std, prod, cumsum and cumprod "
                    "return float32 (float32's precision and range) where Keras states float64",
        link=JAX_X64_DOC,
        backends=("jax",),
        axes={"subject": ops("abs", "absolute", "cumprod", "cumsum", "exp", "exp2", "expm1",
                             "max", "mean", "min", "negative", "prod", "round", "sign",
                             "square", "std", "trunc"),
              "input_dtype": ("float64",)},
        expects="values",
        effect="float32",
    ),
    Limitation(
        id="jax-64-bit-inputs-cut-to-32-bits",
        description="With jax_enable_x64 off (JAX's default), JAX cuts an int64, uint64 or "
                    "float64 tensor to 32 bits when Keras converts it, so every op computes on "
                    "the cut values: int64's limits wrap (-2**63 becomes 0, 2**63 - 1 becomes "
                    "-1, so dividing by them gives inf), float64's range and precision are "
                    "float32's, and the result has the 32-bit dtype Keras's rule gives for "
                    "the cut inputs; matched cell by cell against the reference computed on "
                    "those cut inputs",
        link=JAX_X64_DOC,
        backends=("jax",),
        axes={"subject": table_ops(), "input_dtype": WITH_64_BIT},
        expects="values",
        explains=(Behaviour(kind="values", matches=CUT_TO_32_BITS),),
        effect="32-bit",
    ),
    Limitation(
        id="jax-floor-divide-by-cut-int64-limit",
        description="ops.floor_divide of an integer by int64's limits on JAX (jax_enable_x64 "
                    "off): the divisor -2**63 cut to 32 bits is 0, an integer division by zero "
                    "whose answer the reference leaves undefined, so the result is off by 1 or "
                    "2 from the 64-bit answer",
        link=JAX_X64_DOC,
        backends=("jax",),
        axes={"subject": ops("floor_divide"), "values": ("limits",),
              "input_dtype": ("bool_int64", "int8_int64", "int32_int64", "int64_int64",
                              "uint8_int64")},
        expects="values",
        explains=(Behaviour(kind="values", cause="values_differ"),),
    ),
    Limitation(
        id="jax-multiply-by-false-is-zero",
        description="ops.multiply of a bool and a float on JAX gives 0 where the bool is "
                    "False, whatever the float: False * inf and False * NaN are 0, where IEEE "
                    f"754 (NumPy, the other backends) gives NaN{NO_REPORT}",
        link=f"{KERAS_SRC}backend/jax/numpy.py",
        backends=("jax",),
        axes={"subject": ops("multiply"), "values": ("nonfinite",),
              "input_dtype": tuple(f"{a}_{b}" for a, b in (
                  ("bool", "float16"), ("bool", "float32"), ("bool", "float64"),
                  ("float16", "bool"), ("float32", "bool"), ("float64", "bool")))},
        expects="values",
        explains=(Behaviour(kind="values", cause="values_differ"),),
    ),
    Limitation(
        id="jax-multiply-by-false-is-zero-at-float64-limits",
        description="ops.multiply of a bool and float64's limits on JAX (jax_enable_x64 off): "
                    "float64's largest values cut to float32 are inf, and False * inf is 0 on "
                    f"JAX where IEEE 754 gives NaN{NO_REPORT}",
        link=f"{KERAS_SRC}backend/jax/numpy.py",
        backends=("jax",),
        axes={"subject": ops("multiply"), "values": ("limits",),
              "input_dtype": ("bool_float64", "float64_bool")},
        expects="values",
        explains=(Behaviour(kind="values", cause="values_differ"),),
    ),
    Limitation(
        id="jax-bool-power-round-hypot",
        description="JAX promotes or refuses bool where Keras's rule keeps it: ops.power of two "
                    "bools returns int32 (Keras states bool), ops.round of a bool raises "
                    "ValueError (\"not inexact\"), and ops.hypot of two bools is computed in "
                    f"float16 (sqrt(2) off by 1.5e-4 in the float32 result){NO_REPORT}",
        link=f"{KERAS_SRC}backend/jax/numpy.py",
        backends=("jax",),
        axes={"subject": ops("power", "round", "hypot"), "input_dtype": ("bool", "bool_bool")},
        expects="values",
        explains=(Behaviour(kind="values", cause="dtype"),
                  Behaviour(kind="values", cause="values_differ"),
                  Behaviour(kind="error", error_type="ValueError"),
                  # JAX 0.4.34: "round does not accept dtype bool"
                  Behaviour(kind="error", error_type="TypeError")),
    ),
    Limitation(
        id="jax-integer-power-exponent-past-63",
        description="jnp.power of integers squares a fixed number of times (6), so an "
                    "exponent of 64 or more overflows otherwise than the wrapped result: "
                    "ops.power(int8 127, uint8 255) in int16 is -8321 on JAX where 127**255 "
                    "modulo 2**16 is 16255 (NumPy, the other backends); JAX's maintainers call "
                    "integer overflow implementation-defined",
        link="https://github.com/jax-ml/jax/issues/10692",
        backends=("jax",),
        axes={"subject": ops("power"), "values": ("limits",), "input_dtype": ("int8_uint8",)},
        expects="values",
        explains=(Behaviour(kind="values", cause="values_differ"),),
    ),
    Limitation(
        id="jax-float-floor-divide-by-zero-nan",
        description="jnp.floor_divide of a float by zero is NaN on JAX before the fix of "
                    "jax-ml/jax#37752 (its remainder is NaN and poisons the quotient), where "
                    "NumPy and IEEE 754 give +-inf: ops.floor_divide by a float 0, a False, or "
                    "a 64-bit limit cut to 0; seen here on JAX 0.4.34, reported on 0.7.1 "
                    "(jax-ml/jax#31698), fixed by jax-ml/jax#38017; JAX 0.10.2 gives inf",
        link="https://github.com/jax-ml/jax/issues/37752",
        backends=("jax",),
        versions={"jax": "<=0.7.1"},
        axes={"subject": ops("floor_divide"), "input_dtype": MIXED_PAIRS + FLOAT_PAIRS},
        expects="values",
        explains=(Behaviour(kind="values", nan=True, cause="values_differ"),),
        only_where_shown=True,
        effect="NaN",
    ),
    Limitation(
        id="jax-int32-mean-through-float32",
        description="jnp.mean of an int32 tensor on JAX 0.4.34 converts it to float32 before "
                    "summing: ops.mean of [-2**31, 2**31 - 1, 0] is 0 (2**31 - 1 rounds to "
                    "2**31), where the exact mean -1/3 (the reference, JAX 0.10.2) is "
                    "representable" + NO_REPORT,
        link="https://docs.jax.dev/en/latest/_autosummary/jax.numpy.mean.html",
        backends=("jax",),
        versions={"jax": "<=0.4.34"},
        axes={"subject": ops("mean"), "input_dtype": ("int32",), "values": ("limits",)},
        expects="values",
        explains=(Behaviour(kind="values", nan=False, cause="values_differ"),),
    ),
    *(Limitation(
        id=f"jax-{op}-of-float-limits-not-nan",
        description=f"ops.{op} on JAX 0.4.34 of a row holding a float's most negative and "
                    "largest finite values and a 0 is -0, where multiplying left to right (the "
                    "reference, JAX 0.10.2) overflows to -inf and then gives NaN" + NO_REPORT,
        link=f"https://docs.jax.dev/en/latest/_autosummary/jax.numpy.{op}.html",
        backends=("jax",),
        versions={"jax": "<=0.4.34"},
        axes={"subject": ops(op), "input_dtype": dtypes, "values": ("limits",)},
        expects="values",
        explains=(Behaviour(kind="values", nan=False, cause="values_differ"),),
    ) for op, dtypes in (("cumprod", ("float16", "float32")), ("prod", ("float32",)))),
    Limitation(
        id="jax-integer-to-float-ignores-floatx",
        description="Under floatx float16 or float64, JAX returns float32 for an integer "
                    "input where Keras's symbolic call states floatx: jnp.sqrt, jnp.log and "
                    "jnp.divide of integers give JAX's own default float, float32 (the "
                    "backend casts to floatx only for int64, which without jax_enable_x64 is "
                    "already int32), and without jax_enable_x64 JAX has no float64 (exp, "
                    "exp2, expm1, hypot, std cast to float64 and get float32); it shows where "
                    "Keras states a dtype other than float32" + NO_REPORT,
        link=f"{KERAS_SRC}backend/jax/numpy.py",
        backends=("jax",),
        axes={"subject": ops("divide", "true_divide", "hypot", "log", "log10", "log1p",
                             "log2", "sqrt", "std", "exp", "exp2", "expm1"),
              "dtype_policy": ("floatx_float16", "floatx_float64")},
        expects="values",
        explains=(Behaviour(kind="values", cause="dtype"),
                  Behaviour(kind="values", cause="values_differ")),
        only_where_shown=True,
        effect="float32",
    ),
)

