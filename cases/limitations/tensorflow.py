"""Known divergences of the TensorFlow backend alone: records only.

A cell takes the first limitation that covers it, in the order of
`cases.limitations.ORDER`, not the order of this file.
"""

from __future__ import annotations

from cases.limitations.base import (
    FLOAT_PAIRS,
    KERAS_EMBEDDING_SRC,
    KERAS_SRC,
    MIXED_PAIRS,
    NO_REPORT,
    PAST_INT32,
    TF_REFUSED_INDICES,
    XLA_GATHER_DOC,
    XLA_INDICES,
    Behaviour,
    Limitation,
    ops,
)

LIMITATIONS: tuple[Limitation, ...] = (
    Limitation(
        id="tf-index-dtypes",
        description="TensorFlow's gather and segment kernels take int16, int32 or int64 indices "
                    "only: keras.ops.take, segment_sum and segment_max with int8, unsigned or "
                    "bool indices raise (InvalidArgumentError eagerly, TypeError in a graph); "
                    "Embedding casts its ids first and is not affected",
        link="https://www.tensorflow.org/api_docs/python/tf/gather",
        backends=("tensorflow",),
        axes={"subject": ("ops.take", "ops.segment_sum", "ops.segment_max"),
              "input_dtype": TF_REFUSED_INDICES},
        expects="values",
    ),
    Limitation(
        id="tf-index-dtypes-in-a-graph",
        description="In a graph (predict, jit_compile) TensorFlow refuses int8, unsigned and "
                    "bool indices with a TypeError before it can check their range, so an "
                    "out-of-range index is refused for its dtype, not its value",
        link="https://www.tensorflow.org/api_docs/python/tf/gather",
        backends=("tensorflow",),
        axes={"subject": ("ops.take",), "input_dtype": TF_REFUSED_INDICES,
              "mode": ("predict", "jit_compile")},
        expects="error",
    ),
    Limitation(
        id="tf-segment-sum-int16-drops-negative",
        description="TensorFlow's unsorted_segment_sum with int16 ids drops a negative id "
                    "silently, as for int32 and int64 (documented)",
        link="https://www.tensorflow.org/api_docs/python/tf/math/unsorted_segment_sum",
        backends=("tensorflow",),
        axes={"subject": ("ops.segment_sum",), "input_dtype": ("int16",),
              "values": ("negative",), "mode": ("eager",)},
        expects="error",
    ),
    Limitation(
        id="tf-segment-max-int16",
        description="TensorFlow's unsorted_segment_max takes int32 or int64 segment ids only "
                    "(segment_sum also takes int16)",
        link="https://www.tensorflow.org/api_docs/python/tf/math/unsorted_segment_max",
        backends=("tensorflow",),
        axes={"subject": ("ops.segment_max",), "input_dtype": ("int16",), "mode": ("eager",)},
        expects="values",
    ),
    Limitation(
        id="xla-take-along-axis-jit",
        description="Under jit_compile, keras.ops.take_along_axis on TensorFlow returns values "
                    "for indices outside [-n, n) of any dtype (XLA's gather clamps), where "
                    "eagerly it raises",
        link=XLA_GATHER_DOC,
        backends=("tensorflow",),
        axes={"subject": ("ops.take_along_axis",), "values": ("negative", "out_of_range"),
              "mode": ("jit_compile",)},
        expects="error",
    ),
    Limitation(
        id="tf-segment-drops-negative-ids",
        description="TensorFlow's unsorted segment ops drop a negative segment id silently "
                    "(documented), where the reference refuses it",
        link="https://www.tensorflow.org/api_docs/python/tf/math/unsorted_segment_sum",
        backends=("tensorflow",),
        axes={"subject": ("ops.segment_sum", "ops.segment_max"), "values": ("negative",),
              "mode": ("eager",), "input_dtype": ("int32", "int64")},
        expects="error",
    ),
    Limitation(
        id="tf-bincount-negative-under-xla",
        description="Under jit_compile, TensorFlow up to 2.21 counts negative values in "
                    "bincount instead of refusing them (XLA has no runtime check); "
                    "TensorFlow 2.22.0rc0 raises InvalidArgumentError" + NO_REPORT,
        link="https://openxla.org/xla/operation_semantics",
        backends=("tensorflow",),
        axes={"subject": ("ops.bincount",), "values": ("negative",), "mode": ("jit_compile",)},
        expects="error",
        versions={"tensorflow": "<2.22.0rc0"},
    ),
    Limitation(
        id="tf-searchsorted-nd-values",
        description="tf.searchsorted needs values with the same leading dimensions as a 1-D "
                    "sorted sequence broadcast: keras.ops.searchsorted of (2, 3) float32 "
                    "values raises on TensorFlow up to Keras 3.15 (keras-nightly 3.16.0.dev "
                    "flattens the values first and matches the reference)",
        link="https://www.tensorflow.org/api_docs/python/tf/searchsorted",
        backends=("tensorflow",),
        axes={"subject": ("ops.searchsorted",), "mode": ("eager", "predict"),
              "input_dtype": ("float32",)},
        versions={"keras": "<3.16.0.dev0"},
    ),
    Limitation(
        id="tf-searchsorted-values-dtype",
        description="tf.searchsorted needs values of the sorted sequence's dtype: "
                    "keras.ops.searchsorted of int32 values into a float32 sequence raises "
                    "InvalidArgumentError on TensorFlow (keras-nightly 3.16.0.dev too)",
        link="https://www.tensorflow.org/api_docs/python/tf/searchsorted",
        backends=("tensorflow",),
        axes={"subject": ("ops.searchsorted",), "mode": ("eager", "predict"),
              "input_dtype": ("int32",)},
    ),
    Limitation(
        id="tf-searchsorted-int-values-under-xla",
        description="Under jit_compile, TensorFlow's searchsorted of int32 values into a "
                    "float sequence raises TypeError (float values run)",
        link="https://www.tensorflow.org/api_docs/python/tf/searchsorted",
        backends=("tensorflow",),
        axes={"subject": ("ops.searchsorted",), "input_dtype": ("int32",),
              "mode": ("jit_compile",)},
    ),
    Limitation(
        id="predict-refuses-numpy-strings",
        description="Model.predict refuses a NumPy array of str ('Invalid dtype: str32'): "
                    "string inputs reach a model only as tf.Tensor or tf.data" + NO_REPORT,
        link=KERAS_SRC + "trainers/data_adapters/array_data_adapter.py",
        backends=("tensorflow",),
        axes={"subject": ("layers.StringLookup", "layers.TextVectorization",
                          "layers.Hashing"),
              "input_dtype": ("string",), "mode": ("predict", "jit_compile")},
    ),
    Limitation(
        id="tf-lstm-empty-batch",
        description="LSTM on an empty batch raises on TensorFlow ('Biases must be 1D: "
                    "[0,12]'): seen with Keras 3.12.0 to 3.15.1 (bisect; 3.7 to 3.11 do not "
                    "install beside TensorFlow 2.21), not with 3.6.0 (TensorFlow 2.17.1) nor "
                    "keras-nightly 3.16.0.dev (with TensorFlow 2.21 as with 2.22.0rc0), which "
                    "return the (0, units) output" + NO_REPORT,
        link="https://www.tensorflow.org/api_docs/python/tf/nn/bias_add",
        backends=("tensorflow",),
        axes={"batch": ("empty",), "subject": ("layers.LSTM",)},
        versions={"keras": ">3.6.0,<3.16.0.dev0"},
    ),
    Limitation(
        id="rnn-single-gru-cell-reset-before",
        description="RNN(cell=[GRUCell(reset_after=False)]) with a mask cannot run: "
                    "TensorFlow raises 'The two structures don't have the same nested "
                    "structure', JAX 'Expected an instance of list'" + NO_REPORT,
        link=KERAS_SRC + "layers/rnn/stacked_rnn_cells.py",
        backends=("tensorflow",),
        axes={"variant": ("gru_reset_before",), "mask": ("mask_zero",)},
    ),
    Limitation(
        id="xla-gather-clamps-jit", effect="clamps",
        description="XLA's gather clamps out-of-bounds indices: with jit_compile=True, "
                    "TensorFlow returns a valid row for an id >= input_dim instead of raising "
                    "as it does eagerly",
        link=XLA_GATHER_DOC,
        backends=("tensorflow",),
        axes={"subject": ("ops.take", "ops.take_along_axis"), "mode": ("jit_compile",),
              "values": ("out_of_range",), "input_dtype": XLA_INDICES},
    ),
    Limitation(
        id="xla-gather-clamps-jit-embedding", effect="clamps",
        description="XLA's gather clamps out-of-bounds indices: with jit_compile=True, "
                    "TensorFlow's Embedding returns a valid row for an id >= input_dim instead "
                    "of raising as it does eagerly",
        link=XLA_GATHER_DOC,
        backends=("tensorflow",),
        axes={"subject": ("layers.Embedding",), "mode": ("jit_compile",),
              "values": ("out_of_range",)},
    ),
    Limitation(
        id="xla-gather-clamps-negative-jit", effect="clamps",
        description="XLA's gather clamps out-of-bounds indices: with jit_compile=True, "
                    "TensorFlow returns a valid row for an id below -input_dim",
        link=XLA_GATHER_DOC,
        backends=("tensorflow",),
        axes={"subject": ("ops.take", "ops.take_along_axis"), "mode": ("jit_compile",),
              "values": ("negative",), "bad_id": ("-11", "-6"), "input_dtype": XLA_INDICES},
    ),
    Limitation(
        id="xla-gather-clamps-negative-jit-embedding", effect="clamps",
        description="XLA's gather clamps out-of-bounds indices: with jit_compile=True, "
                    "TensorFlow's Embedding returns a valid row for an id below -input_dim",
        link=XLA_GATHER_DOC,
        backends=("tensorflow",),
        axes={"subject": ("layers.Embedding",), "mode": ("jit_compile",),
              "values": ("negative",), "bad_id": ("-11",)},
    ),
    Limitation(
        id="tf-embedding-casts-uint64-to-int32", effect="casts ids",
        description="Embedding.call casts uint64 ids to int32, so 2**32 + 7 wraps to id 7 "
                    "with no error",
        link=KERAS_EMBEDDING_SRC,
        backends=("tensorflow",),
        axes={"values": ("out_of_range",), "bad_id": (PAST_INT32,),
              "input_dtype": ("uint64",)},
    ),
    Limitation(
        id="tf-searchsorted-nd-values-jit-before-3-12",
        description="With Keras 3.6.0, keras.ops.searchsorted of (2, 3) float32 values under "
                    "jit_compile raises TypeError on TensorFlow ('len is not well defined for "
                    "a symbolic Tensor'); 3.12.0 to 3.15.1 return the reference's indices "
                    "(bisect; Keras 3.7 to 3.11 do not install beside TensorFlow 2.21, so the "
                    "release that fixed it is not known)" + NO_REPORT,
        link="https://github.com/keras-team/keras/blob/v3.6.0/keras/src/backend/tensorflow/"
             "numpy.py",
        backends=("tensorflow",),
        axes={"subject": ("ops.searchsorted",), "mode": ("jit_compile",), "rank": (2,)},
        versions={"keras": "<3.12"},
    ),
    Limitation(
        id="tf-reciprocal-integer-refused",
        description="ops.reciprocal of an integer tensor raises NotFoundError on TensorFlow "
                    "('Could not find device for node: Reciprocal[T=DT_INT8]'): TensorFlow "
                    "has no integer kernel for Reciprocal and Keras passes the integer tensor "
                    f"through, where the other backends return floats{NO_REPORT}",
        link="https://www.tensorflow.org/api_docs/python/tf/math/reciprocal",
        backends=("tensorflow",),
        axes={"subject": ops("reciprocal"),
              "input_dtype": ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                              "uint64")},
        expects="values",
    ),
    Limitation(
        id="tf-negative-unsigned-refused",
        description="ops.negative of an unsigned tensor (uint8 to uint64) raises "
                    "InvalidArgumentError on TensorFlow: tf.math.negative has no unsigned "
                    "kernel, where NumPy and the other backends wrap modulo 2**n"
                    f"{NO_REPORT}",
        link="https://www.tensorflow.org/api_docs/python/tf/math/negative",
        backends=("tensorflow",),
        axes={"subject": ops("negative"), "input_dtype": ("uint8", "uint16", "uint32", "uint64")},
        expects="values",
    ),
    Limitation(
        id="tf-bool-arithmetic-refused",
        description="TensorFlow has no bool kernel for add, multiply, maximum, minimum, the "
                    "comparisons, the bitwise ops, power, hypot, reciprocal and round: "
                    "keras.ops on bool tensors raise InvalidArgumentError (\"Value for attr 'T' "
                    "of bool is not in the list of allowed values\"), where NumPy and the other "
                    "backends compute on bool or promote it as Keras's rule says",
        link="https://github.com/tensorflow/tensorflow/issues/61808",
        backends=("tensorflow",),
        axes={"subject": ops("add", "bitwise_and", "bitwise_invert", "bitwise_not",
                             "bitwise_or", "bitwise_xor", "greater", "greater_equal", "hypot",
                             "less", "less_equal", "maximum", "minimum", "multiply", "power",
                             "reciprocal", "round"),
              "input_dtype": ("bool", "bool_bool")},
        expects="values",
        explains=(Behaviour(kind="error", error_type="InvalidArgumentError"),),
    ),
    Limitation(
        id="tf-hypot-infinity-gives-nan",
        description="ops.hypot on TensorFlow computes max * sqrt(1 + (min / max)**2), so "
                    "hypot(inf, inf) and hypot(inf, NaN) are NaN where IEEE 754 (and NumPy, "
                    f"and the other backends) give inf{NO_REPORT}",
        link=f"{KERAS_SRC}backend/tensorflow/numpy.py",
        backends=("tensorflow",),
        axes={"subject": ops("hypot"), "values": ("nonfinite",),
              "input_dtype": FLOAT_PAIRS},
        versions={"keras": "<3.16.0.dev0"},  # keras-nightly 3.16.0.dev matches (2026-12-06)
        expects="values",
        explains=(Behaviour(kind="values", nan=True, cause="values_differ"),),
        effect="NaN",
    ),
    Limitation(
        id="tf-floor-divide-floor-of-quotient",
        description="ops.floor_divide of floats on TensorFlow is tf.math.floordiv, "
                    "floor(x / y) in the result dtype, where NumPy's floor division follows "
                    "Python's divmod: inf // 3 is inf where NumPy gives NaN, and 1 // -inf is "
                    f"-0 where NumPy gives -1{NO_REPORT}",
        link="https://www.tensorflow.org/api_docs/python/tf/math/floordiv",
        backends=("tensorflow",),
        axes={"subject": ops("floor_divide"), "values": ("nonfinite",),
              "input_dtype": MIXED_PAIRS},
        versions={"keras": "<3.16.0.dev0"},  # keras-nightly 3.16.0.dev matches (2026-12-06)
        expects="values",
        explains=(Behaviour(kind="values", cause="values_differ"),),
    ),
    Limitation(
        id="tf-floor-divide-subnormal-quotient-flushed",
        description="ops.floor_divide on TensorFlow at a float's limits: a quotient below the "
                    "float's smallest normal (127 / -3.4e38, 1 / -1.8e308) is flushed to zero "
                    "on the CPU before tf.math.floordiv takes its floor, so the result is 0 "
                    f"where NumPy gives -1{NO_REPORT}",
        link="https://www.tensorflow.org/api_docs/python/tf/math/floordiv",
        backends=("tensorflow",),
        axes={"subject": ops("floor_divide"), "values": ("limits",),
              # the pairs whose quotient at the limits is subnormal (observed, 2026-12-06)
              "input_dtype": ("int8_float32", "int8_float64", "int32_float16",
                              "int32_float32", "int32_float64", "int64_float16",
                              "int64_float32", "int64_float64", "uint8_float32",
                              "uint8_float64", "float16_int32", "float16_int64",
                              "float32_float32", "float64_float64")},
        versions={"keras": "<3.16.0.dev0"},  # keras-nightly 3.16.0.dev matches (2026-12-06)
        expects="values",
        explains=(Behaviour(kind="values", cause="values_differ"),),
    ),
    Limitation(
        id="tf-sum-uint64-kept",
        description="ops.sum of uint64 on TensorFlow keeps uint64 where Keras's statement for "
                    f"TensorFlow is uint32{NO_REPORT}",
        link=f"{KERAS_SRC}backend/tensorflow/numpy.py",
        backends=("tensorflow",),
        axes={"subject": ops("sum"), "input_dtype": ("uint64",)},
        expects="values",
        explains=(Behaviour(kind="values", cause="dtype"),
                  Behaviour(kind="values", cause="values_differ")),
    ),
    Limitation(
        id="tf-prod-uint64-narrowed",
        description="ops.prod of uint64 on TensorFlow returns uint32 where Keras's statement "
                    f"for TensorFlow is uint64{NO_REPORT}",
        link=f"{KERAS_SRC}backend/tensorflow/numpy.py",
        backends=("tensorflow",),
        versions={"keras": ">3.6.0"},  # Keras 3.6.0 (the minimum channel) matches (2026-12-06)
        axes={"subject": ops("prod"), "input_dtype": ("uint64",)},
        expects="values",
        explains=(Behaviour(kind="values", cause="dtype"),
                  Behaviour(kind="values", cause="values_differ")),
    ),
    Limitation(
        id="tf-sign-uint64-refused",
        description="ops.sign of a uint64 tensor raises InvalidArgumentError on TensorFlow "
                    "(\"Value for attr 'T' of uint64 is not in the list of allowed values\"): "
                    f"tf.math.sign has no uint64 kernel{NO_REPORT}",
        link="https://www.tensorflow.org/api_docs/python/tf/math/sign",
        backends=("tensorflow",),
        axes={"subject": ops("sign"), "input_dtype": ("uint64",)},
        expects="values",
        explains=(Behaviour(kind="error", error_type="InvalidArgumentError"),),
    ),
    Limitation(
        id="tf-sign-uint32-signed",
        description="ops.sign of uint32 on TensorFlow reads a value of 2**31 or more as "
                    "negative: sign(4294967295) is 4294967295 (-1 wrapped) where it is 1"
                    f"{NO_REPORT}",
        link="https://www.tensorflow.org/api_docs/python/tf/math/sign",
        backends=("tensorflow",),
        axes={"subject": ops("sign"), "input_dtype": ("uint32",), "values": ("limits",)},
        expects="values",
        explains=(Behaviour(kind="values", cause="values_differ"),),
    ),
    Limitation(
        id="tf-float16-prod-overflows-in-float16",
        description="ops.prod of float16 on TensorFlow multiplies in float16, so -65504 * "
                    "65504 * 0 overflows to -inf before the 0 and gives NaN, where NumPy and "
                    "the other backends accumulate in float32 and give -0" + NO_REPORT,
        link="https://www.tensorflow.org/api_docs/python/tf/math/reduce_prod",
        backends=("tensorflow",),
        axes={"subject": ops("prod"), "input_dtype": ("float16",), "values": ("limits",)},
        expects="values",
        explains=(Behaviour(kind="values", nan=True, cause="values_differ"),),
        effect="NaN",
    ),
    Limitation(
        id="tf-var-in-float32-under-floatx-float64",
        description="ops.var of an integer tensor under floatx float64 on TensorFlow is "
                    "computed in float32 (result_type(x, \"float32\")) and cast to the float64 "
                    "Keras states (result_type(x, float)): its values are float32's, 2e-8 off "
                    "the float64 variance" + NO_REPORT,
        link=KERAS_SRC + "backend/tensorflow/numpy.py",
        backends=("tensorflow",),
        axes={"subject": ops("var"), "dtype_policy": ("floatx_float64",)},
        expects="values",
        explains=(Behaviour(kind="values", nan=False, cause="values_differ"),),
    ),
    Limitation(
        id="tf-nightly-mean-follows-floatx",
        description="With keras-nightly (3.16.0.dev) on TensorFlow, ops.mean of an integer "
                    "tensor returns floatx (float16, float64) where Keras's symbolic call "
                    "states float32 whatever floatx (Mean's compute_output_spec: result_type "
                    "of the input and a strong float32); Keras 3.15.1 returns float32"
                    + NO_REPORT,
        link=KERAS_SRC + "backend/tensorflow/numpy.py",
        backends=("tensorflow",),
        versions={"keras": ">=3.16.0.dev0"},
        axes={"subject": ops("mean"), "dtype_policy": ("floatx_float16", "floatx_float64")},
        expects="values",
        explains=(Behaviour(kind="values", cause="dtype"),),
        effect="floatx",
    ),
)

