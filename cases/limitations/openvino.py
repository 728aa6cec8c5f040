"""Known divergences of the OpenVINO backend alone: records only.

A cell takes the first limitation that covers it, in the order of
`cases.limitations.ORDER`, not the order of this file.
"""

from __future__ import annotations

from cases.limitations.base import (
    BF16_CPU_FLAGS,
    COMPUTED_IN_32_BITS,
    CUT_TO_32_BITS,
    FLOAT_PAIRS,
    KERAS_SRC,
    MIXED_PAIRS,
    NO_REPORT,
    OPENVINO_BF16,
    OPENVINO_CPU_DOC,
    OPENVINO_GATHER_DOC,
    OPS_PAIR_DTYPES,
    SATURATED_TO_32_BITS,
    WITH_64_BIT,
    Behaviour,
    Limitation,
    ops,
    table_ops,
)

LIMITATIONS: tuple[Limitation, ...] = (
    Limitation(
        id="openvino-segment-ops-functional",
        description="A functional model around ops.segment_sum or ops.segment_max with integer "
                    "segment ids cannot be built on the openvino backend: ValueError "
                    f"'unsupported type of `x` to create ov.Output: KerasTensor'{NO_REPORT}",
        link="https://github.com/keras-team/keras/blob/v3.15.1/keras/src/backend/openvino/"
             "math.py",
        backends=("openvino",),
        axes={"subject": ("ops.segment_sum", "ops.segment_max"), "values": ("in_range",),
              "input_dtype": ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                              "uint64"),
              "mode": ("predict", "jit_compile")},
    ),
    Limitation(
        id="openvino-category-encoding-no-range-check",
        description="CategoryEncoding returns values for an id >= num_tokens on the openvino "
                    "backend (the id's column stays empty) instead of refusing it as the "
                    f"reference does{NO_REPORT}",
        link="https://github.com/keras-team/keras/blob/v3.15.1/keras/src/layers/"
             "preprocessing/category_encoding.py",
        backends=("openvino",),
        axes={"subject": ("layers.CategoryEncoding",), "values": ("out_of_range",)},
    ),
    Limitation(
        id="openvino-bincount-negative",
        description="ops.bincount returns counts on the openvino backend for a negative value "
                    f"instead of refusing it as the reference does{NO_REPORT}",
        link="https://github.com/keras-team/keras/blob/v3.15.1/keras/src/backend/openvino/"
             "numpy.py",
        backends=("openvino",),
        axes={"subject": ("ops.bincount",), "values": ("negative",),
              "input_dtype": ("int8", "int16", "int32", "int64")},
    ),
    Limitation(
        id="openvino-gather-fills-zeros",
        description="OpenVINO's Gather fills the output for an out-of-bounds index with zeros: "
                    "an id >= input_dim silently becomes a row of zeros (eager and predict)",
        link=OPENVINO_GATHER_DOC,
        backends=("openvino",),
        axes={"subject": ("layers.Embedding", "ops.take"), "values": ("out_of_range",)},
    ),
    Limitation(
        id="openvino-gather-fills-zeros-negative",
        description="OpenVINO's Gather fills the output for an index below -input_dim with "
                    "zeros: id -11 of a 10-row table silently becomes a row of zeros",
        link=OPENVINO_GATHER_DOC,
        backends=("openvino",),
        axes={"subject": ("layers.Embedding", "ops.take"), "values": ("negative",),
              "bad_id": ("-11",)},
    ),
    Limitation(
        id="openvino-take-along-axis-out-of-range",
        description="ops.take_along_axis on the openvino backend fails for an index past the "
                    "axis with RuntimeError '`convert_to_numpy` failed to convert the tensor' "
                    f"instead of the reference's IndexError{NO_REPORT}",
        link="https://github.com/keras-team/keras/blob/v3.15.1/keras/src/backend/openvino/"
             "numpy.py",
        backends=("openvino",),
        axes={"subject": ("ops.take_along_axis",), "values": ("out_of_range",)},
    ),
    Limitation(
        id="openvino-take-along-axis-fills-zeros-negative",
        description="ops.take_along_axis on the openvino backend returns values for an index "
                    "below -size (-6 on an axis of 5) instead of refusing it (its Gather "
                    "fills out-of-bounds indices with zeros)",
        link=OPENVINO_GATHER_DOC,
        backends=("openvino",),
        axes={"subject": ("ops.take_along_axis",), "values": ("negative",), "bad_id": ("-6",)},
    ),
    Limitation(
        id="openvino-segment-ops-uint32",
        description="ops.segment_sum and ops.segment_max refuse uint32 segment ids on the "
                    "openvino backend: OpenVINO's type checks (Concat, SegmentMax) raise "
                    f"RuntimeError{NO_REPORT}",
        link="https://github.com/keras-team/keras/blob/v3.15.1/keras/src/backend/openvino/"
             "math.py",
        backends=("openvino",),
        axes={"subject": ("ops.segment_sum", "ops.segment_max"), "input_dtype": ("uint32",),
              "mode": ("eager",)},
    ),
    Limitation(
        id="openvino-8bit-indices",
        description="ops.one_hot, ops.multi_hot and ops.bincount of int8 or uint8 indices fail "
                    "on the openvino backend with RuntimeError (eagerly '`convert_to_numpy` "
                    "failed to convert the tensor' or 'An OpenVINOKerasTensor is symbolic', "
                    f"in predict an exception from OpenVINO's core.cpp){NO_REPORT}",
        link="https://github.com/keras-team/keras/blob/v3.15.1/keras/src/backend/openvino/"
             "nn.py",
        backends=("openvino",),
        axes={"subject": ("ops.one_hot", "ops.multi_hot", "ops.bincount"),
              "input_dtype": ("int8", "uint8")},
    ),
    Limitation(
        id="openvino-segment-ids-dtype",
        description="ops.segment_sum and ops.segment_max on the openvino backend refuse segment "
                    "ids of most dtypes with RuntimeError from OpenVINO's type checks: "
                    "segment_max accepts int32 and int64 ids only ('segment_ids_element_type "
                    "== element::i32 || ...'), segment_sum int32 only ('element::Type::merge' "
                    f"of its inputs){NO_REPORT}",
        link="https://github.com/keras-team/keras/blob/v3.15.1/keras/src/backend/openvino/"
             "math.py",
        backends=("openvino",),
        axes={"subject": ("ops.segment_sum", "ops.segment_max"), "values": ("in_range",),
              "mode": ("eager",),
              "input_dtype": ("int8", "int16", "uint8", "uint16", "uint64", "float16",
                              "float32", "float64")},
    ),
    Limitation(
        id="openvino-segment-sum-int64-ids",
        description="ops.segment_sum on the openvino backend refuses int64 segment ids with "
                    "RuntimeError ('element::Type::merge' of its inputs: the ids must have the "
                    f"data's int32 type), where segment_max accepts them{NO_REPORT}",
        link="https://github.com/keras-team/keras/blob/v3.15.1/keras/src/backend/openvino/"
             "math.py",
        backends=("openvino",),
        axes={"subject": ("ops.segment_sum",), "values": ("in_range",), "mode": ("eager",),
              "input_dtype": ("int64",)},
    ),
    Limitation(
        id="openvino-segment-ops-no-range-check",
        description="ops.segment_sum and ops.segment_max return values on the openvino "
                    "backend for a segment id >= num_segments or a negative one instead of "
                    f"refusing it as the reference does{NO_REPORT}",
        link="https://github.com/keras-team/keras/blob/v3.15.1/keras/src/backend/openvino/"
             "math.py",
        backends=("openvino",),
        axes={"subject": ("ops.segment_sum", "ops.segment_max"),
              "values": ("out_of_range", "negative"), "mode": ("eager",)},
    ),
    Limitation(
        id="openvino-index-ops-non-integer-indices",
        description="Fed float or bool indices, the index ops on the openvino backend stop at "
                    "OpenVINO's element-type checks (RuntimeError, e.g. Gather's "
                    "'get_input_element_type(1).is_integral_number()', OneHot's "
                    "'indices_et.is_integral()') or, for take_along_axis, return values, where "
                    f"the reference expects values or names other errors{NO_REPORT}",
        link="https://github.com/keras-team/keras/blob/v3.15.1/keras/src/backend/openvino/"
             "numpy.py",
        backends=("openvino",),
        axes={"subject": ("ops.take", "ops.take_along_axis", "ops.one_hot", "ops.multi_hot",
                          "ops.bincount"),
              "input_dtype": ("float16", "float32", "float64", "bool")},
    ),
    Limitation(
        id="openvino-multi-hot-functional",
        description="A functional model around ops.multi_hot cannot run predict on the "
                    "openvino backend: RuntimeError 'An OpenVINOKerasTensor is symbolic' for "
                    f"every index dtype{NO_REPORT}",
        link="https://github.com/keras-team/keras/blob/v3.15.1/keras/src/backend/openvino/"
             "numpy.py",
        backends=("openvino",),
        axes={"subject": ("ops.multi_hot",), "mode": ("predict",)},
    ),
    Limitation(
        id="openvino-scce-no-label-check",
        description="SparseCategoricalCrossentropy returns a loss on the openvino backend for "
                    "a label >= the number of classes or a negative one instead of refusing it "
                    f"(the label's one-hot row is empty){NO_REPORT}",
        link="https://github.com/keras-team/keras/blob/v3.15.1/keras/src/backend/openvino/"
             "nn.py",
        backends=("openvino",),
        axes={"subject": ("losses.SparseCategoricalCrossentropy",),
              "values": ("out_of_range", "negative")},
    ),
    Limitation(
        id="openvino-top-k-accuracy-bad-labels",
        description="SparseTopKCategoricalAccuracy on the openvino backend raises RuntimeError "
                    "'An OpenVINOKerasTensor is symbolic' for a label >= the number of classes "
                    f"and counts a negative label differently from the reference{NO_REPORT}",
        link="https://github.com/keras-team/keras/blob/v3.15.1/keras/src/backend/openvino/"
             "math.py",
        backends=("openvino",),
        axes={"subject": ("metrics.SparseTopKCategoricalAccuracy",),
              "values": ("out_of_range", "negative")},
    ),
    Limitation(
        id="openvino-empty-batch-aborts",
        description="An empty batch (0, 3) through masked LSTM or GlobalAveragePooling1D "
                    "eagerly on the openvino backend corrupts the heap and usually aborts the "
                    "process (glibc 'free(): invalid next size'); heap corruption is not "
                    "deterministic: GlobalAveragePooling1D crashed in the run of 94b2189 and "
                    "matched in the one of 779cac8 (same versions). A crash is never xfailed, "
                    f"so a crashed cell stays `crashed` with this note{NO_REPORT}",
        link="https://github.com/keras-team/keras/tree/v3.15.1/keras/src/backend/openvino",
        backends=("openvino",),
        axes={"batch": ("empty",), "mode": ("eager",),
              "subject": ("layers.LSTM", "layers.GlobalAveragePooling1D")},
        intermittent=True,
    ),
    Limitation(
        id="openvino-multi-hot-predict-symbolic",
        description="CategoryEncoding(output_mode='multi_hot') in predict on the openvino "
                    "backend raises RuntimeError 'An OpenVINOKerasTensor is symbolic' (eager "
                    f"works){NO_REPORT}",
        link="https://github.com/keras-team/keras/blob/v3.15.1/keras/src/backend/openvino/"
             "numpy.py",
        backends=("openvino",),
        axes={"subject": ("layers.CategoryEncoding",), "output_mode": ("multi_hot",),
              "mode": ("predict",)},
    ),
    Limitation(
        id="openvino-top-k-float64",
        description="ops.top_k values of float64 input on the openvino backend are rounded "
                    f"through float32 (2.4e-8 off, over the float64 tolerance){NO_REPORT}",
        link="https://github.com/keras-team/keras/blob/v3.15.1/keras/src/backend/openvino/"
             "math.py",
        backends=("openvino",),
        axes={"subject": ("ops.top_k",), "item": ("values",), "input_dtype": ("float64",)},
    ),
    Limitation(
        id="openvino-bfloat16-policy-predict",
        description="Under a bfloat16 dtype policy (mixed_bfloat16, floatx bfloat16), predict "
                    "on OpenVINO returns float16 values off by up to 1.4 from a table in "
                    f"[-0.5, 0.5) (eager is right){NO_REPORT}",
        link="https://github.com/keras-team/keras/blob/v3.15.1/keras/src/backend/openvino/"
             "core.py",
        backends=("openvino",),
        axes={"dtype_policy": ("mixed_bfloat16", "floatx_bfloat16"),
              "mode": ("predict", "save_load")},
    ),
    # OpenVINO's bfloat16 CPU precision: one cause, two selections of the cells it moves
    # (matched on what the programs do, `cases.facts`: every predict of padded ids through a
    # recurrent or attention layer under the float32 policy, whatever the case's labels).
    *(Limitation(id=f"openvino-cpu-bfloat16-inference-precision{suffix}",
                 description=OPENVINO_BF16, link=OPENVINO_CPU_DOC, backends=("openvino",),
                 devices=("cpu",), axes=axes, cpu_flags=BF16_CPU_FLAGS)
      for suffix, axes in (
          ("", {"subject": ("layers.SimpleRNN", "layers.GRU", "layers.LSTM",
                            "layers.Bidirectional", "layers.RNN", "layers.Attention",
                            "layers.MultiHeadAttention"),
                "mode": ("predict",), "values": ("padded",), "dtype_policy": ("float32",)}),
          ("-saved", {"model": ("embedding_lstm", "embedding_bilstm_dense", "user_bilstm"),
                      "mode": ("save_load",)}),
      )),
    Limitation(
        id="openvino-nan-second-operand-dropped",
        description="On OpenVINO, maximum, minimum, hypot and mod with NaN and infinities in "
                    "their second operand (a float tensor) do not give NumPy's IEEE answers: "
                    "maximum(x, NaN) returns x where NumPy, JAX, torch and TensorFlow return "
                    "NaN (keras-team/keras#22061 reports the same for arctan2(1.0, NaN))",
        link="https://github.com/keras-team/keras/issues/22061",
        backends=("openvino",),
        axes={"subject": ops("maximum", "minimum", "hypot", "mod"),
              "input_dtype": tuple(f"{a}_{b}" for a in OPS_PAIR_DTYPES
                                   for b in ("float16", "float32", "float64")),
              "values": ("nonfinite",)},
        expects="values",
        effect="drops NaN",
    ),
    Limitation(
        id="openvino-uint8-mod-by-zero-kills-the-process",
        description="ops.mod of uint8 (or bool and uint8) tensors with a zero divisor kills the "
                    "process on OpenVINO with SIGFPE ('Floating point exception', the CPU's "
                    "trap for an integer division by zero), where NumPy, JAX and torch return "
                    "a value and TensorFlow raises. A crash is never xfailed: the cell stays "
                    f"`crashed` with this note{NO_REPORT}",
        link="https://github.com/keras-team/keras/blob/v3.15.1/keras/src/backend/openvino/"
             "numpy.py",
        backends=("openvino",),
        axes={"subject": ops("mod"), "input_dtype": ("bool_uint8", "uint8_uint8"),
              "values": ("zero_divisor",)},
    ),
    Limitation(
        id="openvino-uint8-mod-by-bool-kills-the-process",
        description="ops.mod of a uint8 tensor by a bool tensor (False is a zero divisor) "
                    "kills the process on OpenVINO with SIGFPE, whatever the other values (an "
                    "integer division by zero). The cell stays `crashed` with this note"
                    f"{NO_REPORT}",
        link="https://github.com/keras-team/keras/blob/v3.15.1/keras/src/backend/openvino/"
             "numpy.py",
        backends=("openvino",),
        axes={"subject": ops("mod"), "input_dtype": ("uint8_bool",)},
    ),
    Limitation(
        id="openvino-floor-divide-int64-limits-kills-the-process",
        description="ops.floor_divide of int32 by int64 holding int64's limits kills the "
                    "process on OpenVINO with SIGFPE (an integer division by zero: -2**63 is 0 "
                    "once cut to 32 bits, as Keras's result type int32 asks). The cell stays "
                    f"`crashed` with this note{NO_REPORT}",
        link="https://github.com/keras-team/keras/blob/v3.15.1/keras/src/backend/openvino/"
             "numpy.py",
        backends=("openvino",),
        axes={"subject": ops("floor_divide"), "input_dtype": ("int32_int64",),
              "values": ("limits",)},
    ),
    Limitation(
        id="openvino-64-bit-computed-in-32-bits",
        description="OpenVINO's CPU plugin runs i64 and f64 as i32 and f32: a keras.ops op on "
                    "int64, uint64 or float64 computes on the values cut to 32 bits (int64's "
                    "limits wrap, -2**63 becomes 0; float64 has float32's range and "
                    "precision), and returns them in the 32-bit dtype or widened back to the "
                    "dtype Keras states, for some ops, dtypes and modes and not others; matched "
                    "cell by cell against the reference computed on the cut inputs",
        link=OPENVINO_CPU_DOC,
        backends=("openvino",),
        axes={"subject": table_ops(), "input_dtype": WITH_64_BIT},
        expects="values",
        explains=(Behaviour(kind="values", matches=CUT_TO_32_BITS),
                  Behaviour(kind="values", matches=COMPUTED_IN_32_BITS)),
        # which ops the plugin runs in 32 bits depends on the op, the dtypes and the mode
        # (eager or a compiled model): 294 cells it selects matched the reference (2026-12-06)
        only_where_shown=True,
        effect="32-bit",
    ),
    Limitation(
        id="openvino-64-bit-saturated-to-32-bits",
        description="OpenVINO's eager keras.ops calls on int64, uint64 or float64 saturate "
                    "the values to 32 bits before computing in 32 bits (int64 and uint64 "
                    "clamped to int32's range, float64 to float32's finite range: an infinity "
                    "becomes 3.4e38) and return the dtype Keras states: ops.abs of int64's "
                    "limits is [-2**31, 2**31 - 1], of float64's inf 3.4e38; matched "
                    "cell by cell against the reference computed on the saturated inputs"
                    + NO_REPORT,
        link="https://docs.openvino.ai/latest/classngraph_1_1snippets_1_1op_1_1"
             "ConvertSaturation.html",
        backends=("openvino",),
        axes={"subject": table_ops(), "input_dtype": WITH_64_BIT},
        expects="values",
        explains=(Behaviour(kind="values", matches=SATURATED_TO_32_BITS),),
        # as for openvino-64-bit-computed-in-32-bits: which ops saturate depends on the op,
        # the dtypes and the mode
        only_where_shown=True,
        effect="saturated",
    ),
    Limitation(
        id="openvino-float64-unary-not-narrowed",
        description="OpenVINO keeps float64 for the trigonometric, hyperbolic, logarithmic, "
                    "rounding and square-root ops and var of a float64 tensor, where Keras's "
                    f"rule narrows the result to float32{NO_REPORT}",
        link=f"{KERAS_SRC}backend/openvino/numpy.py",
        backends=("openvino",),
        axes={"subject": ops("arccos", "arccosh", "arcsin", "arcsinh", "arctan", "arctanh",
                             "ceil", "cos", "cosh", "floor", "log", "log10", "log1p", "log2",
                             "sin", "sinh", "sqrt", "tan", "tanh", "var"),
              "input_dtype": ("float64",)},
        expects="values",
        explains=(Behaviour(kind="values", cause="dtype"),
                  Behaviour(kind="values", cause="values_differ")),
        effect="float64",
    ),
    Limitation(
        id="openvino-sum-keeps-64-bit",
        description="ops.sum on OpenVINO keeps int64, uint64 and float64 where Keras's rule "
                    f"states int32, uint32 and float32{NO_REPORT}",
        link=f"{KERAS_SRC}backend/openvino/numpy.py",
        backends=("openvino",),
        axes={"subject": ops("sum"), "input_dtype": ("int64", "uint64", "float64")},
        expects="values",
        explains=(Behaviour(kind="values", cause="dtype"),
                  Behaviour(kind="values", cause="values_differ")),
        effect="64-bit",
    ),
    Limitation(
        id="openvino-int32-past-float16-range-is-zero",
        description="OpenVINO converts an int32 value past float16's range (int32's limits, "
                    "+-2**31) to float16 as 0, where NumPy's cast gives +-inf: an op of int32 "
                    "and float16 at int32's limits computes on 0 (add gives 0 where it gives "
                    "inf); a comparison shows it only where the answer changes" + NO_REPORT,
        link=f"{KERAS_SRC}backend/openvino/numpy.py",
        backends=("openvino",),
        axes={"subject": ops("add", "arctan2", "divide", "equal", "floor_divide", "greater",
                             "hypot", "less_equal", "logaddexp", "maximum", "minimum", "mod",
                             "multiply", "not_equal", "power", "subtract", "true_divide"),
              "input_dtype": ("int32_float16", "float16_int32"), "values": ("limits",)},
        expects="values",
        explains=(Behaviour(kind="values", cause="values_differ"),),
        only_where_shown=True,
    ),
    Limitation(
        id="openvino-arctan2-logaddexp-infinities-nan",
        description="ops.arctan2 and ops.logaddexp of two infinities are NaN on OpenVINO: "
                    "arctan2(inf, inf) is NaN where IEEE 754 (NumPy, the other backends) gives "
                    f"pi/4, logaddexp(inf, inf) NaN where it gives inf{NO_REPORT}",
        link=f"{KERAS_SRC}backend/openvino/numpy.py",
        backends=("openvino",),
        axes={"subject": ops("arctan2", "logaddexp"), "values": ("nonfinite",),
              "input_dtype": FLOAT_PAIRS},
        expects="values",
        explains=(Behaviour(kind="values", nan=True, cause="values_differ"),),
        effect="NaN",
    ),
    Limitation(
        id="openvino-floor-divide-floor-of-quotient",
        description="ops.floor_divide of an integer and a float on OpenVINO is floor(x / y), "
                    "where NumPy's floor division follows Python's divmod: -1 // inf is -0 "
                    f"where NumPy gives -1, inf // 3 is inf where it gives NaN{NO_REPORT}",
        link=f"{KERAS_SRC}backend/openvino/numpy.py",
        backends=("openvino",),
        axes={"subject": ops("floor_divide"), "values": ("nonfinite",),
              "input_dtype": MIXED_PAIRS},
        expects="values",
        explains=(Behaviour(kind="values", cause="values_differ"),),
    ),
    Limitation(
        id="openvino-integer-floor-divide-truncates",
        description="ops.floor_divide of int8 on OpenVINO rounds a negative quotient toward "
                    "zero: -128 // 127 is -1 and 1 // -128 is 0, where floor division (NumPy, "
                    f"the other backends) gives -2 and -1{NO_REPORT}",
        link=f"{KERAS_SRC}backend/openvino/numpy.py",
        backends=("openvino",),
        axes={"subject": ops("floor_divide"), "values": ("limits",),
              "input_dtype": ("int8_int8",)},
        expects="values",
        explains=(Behaviour(kind="values", cause="values_differ"),),
    ),
    Limitation(
        id="openvino-uint32-saturated-to-int32",
        description="OpenVINO reads a uint32 value past 2**31 - 1 as 2**31 - 1: abs, "
                    "bitwise_not, cumsum and max of uint32's largest value (4294967295) give "
                    f"2147483647 where NumPy gives 4294967295, 0 and wrapped sums{NO_REPORT}",
        link=f"{KERAS_SRC}backend/openvino/numpy.py",
        backends=("openvino",),
        axes={"subject": ops("abs", "absolute", "bitwise_invert", "bitwise_not", "cumsum",
                             "max"),
              "input_dtype": ("uint32",), "values": ("limits",)},
        expects="values",
        explains=(Behaviour(kind="values", cause="values_differ"),),
        effect="saturates",
    ),
    Limitation(
        id="openvino-small-integer-overflow-saturates",
        description="OpenVINO saturates int8 and uint8 overflow where NumPy and the other "
                    "backends wrap modulo 2**8: abs and negative of -128 are 127 (not -128), "
                    f"-128 * -128 and 127 * 127 are 127, 255 * 255 is 255{NO_REPORT}",
        link=f"{KERAS_SRC}backend/openvino/numpy.py",
        backends=("openvino",),
        axes={"subject": ops("abs", "absolute", "negative", "multiply"),
              "input_dtype": ("int8", "int8_int8", "uint8_uint8"), "values": ("limits",)},
        expects="values",
        explains=(Behaviour(kind="values", cause="values_differ"),),
        effect="saturates",
    ),
    Limitation(
        id="openvino-integer-cumprod-through-float32",
        description="ops.cumprod of int16 and int32 on OpenVINO loses the wrapped product: "
                    "-32768 * 32767 in int16 is -31808 where NumPy's wrap gives -32768, and "
                    "int32's products are off by hundreds, as if computed in float32"
                    + NO_REPORT,
        link=f"{KERAS_SRC}backend/openvino/numpy.py",
        backends=("openvino",),
        axes={"subject": ops("cumprod"), "input_dtype": ("int16", "int32"),
              "values": ("limits",)},
        expects="values",
        explains=(Behaviour(kind="values", cause="values_differ"),),
    ),
    Limitation(
        id="openvino-bool-arithmetic-refused",
        description="OpenVINO's elementwise arithmetic refuses bool: ops.maximum, minimum and "
                    "power of two bools and ops.reciprocal of a bool raise RuntimeError "
                    "(\"Check 'args_et.is_dynamic() || is_supported_et' failed\"), where Keras's "
                    f"rule keeps bool or promotes it{NO_REPORT}",
        link=f"{KERAS_SRC}backend/openvino/numpy.py",
        backends=("openvino",),
        axes={"subject": ops("maximum", "minimum", "power", "reciprocal"),
              "input_dtype": ("bool", "bool_bool")},
        expects="values",
        explains=(Behaviour(kind="error", error_type="RuntimeError"),),
    ),
    Limitation(
        id="openvino-unconvertible-integer-results",
        description="ops.reciprocal of int16, int32, int64, uint16, uint32 and uint64 gives a "
                    "tensor OpenVINO cannot return: RuntimeError \"`convert_to_numpy` failed to "
                    "convert the tensor\" (int8 and uint8 give an integer result instead)"
                    + NO_REPORT,
        link=f"{KERAS_SRC}backend/openvino/core.py",
        backends=("openvino",),
        axes={"subject": ops("reciprocal"),
              "input_dtype": ("int16", "int32", "int64", "uint16", "uint32", "uint64")},
        expects="values",
        explains=(Behaviour(kind="error", error_type="RuntimeError"),),
    ),
    Limitation(
        id="openvino-negative-unsigned-unconvertible",
        description="ops.negative of an unsigned tensor (uint8 to uint64) gives a tensor "
                    "OpenVINO cannot return: RuntimeError \"`convert_to_numpy` failed to "
                    "convert the tensor\", where NumPy wraps modulo 2**n" + NO_REPORT,
        link=f"{KERAS_SRC}backend/openvino/core.py",
        backends=("openvino",),
        axes={"subject": ops("negative"), "input_dtype": ("uint8", "uint16", "uint32", "uint64")},
        expects="values",
        explains=(Behaviour(kind="error", error_type="RuntimeError"),),
    ),
    Limitation(
        id="openvino-reduce-max-min-skip-nan",
        description="ops.max and ops.min of a float tensor holding NaN on OpenVINO skip the "
                    "NaN (ReduceMax, ReduceMin): max of [NaN, inf, -inf] is inf where NumPy "
                    "and the other backends give NaN" + NO_REPORT,
        link=f"{KERAS_SRC}backend/openvino/numpy.py",
        backends=("openvino",),
        axes={"subject": ops("max", "min"), "input_dtype": ("float16", "float32", "float64"),
              "values": ("nonfinite",)},
        expects="values",
        explains=(Behaviour(kind="values", nan=False, cause="values_differ"),),
        effect="skips NaN",
    ),
    Limitation(
        id="openvino-small-integer-reciprocal-integer-division",
        description="ops.reciprocal of int8 and uint8 on OpenVINO is 1 / x in the integer "
                    "dtype (1 / 2 is 0, 1 / 0 is -128 in int8), where Keras states float32; a "
                    "compiled model (predict) does so for int64 too" + NO_REPORT,
        link=f"{KERAS_SRC}backend/openvino/numpy.py",
        backends=("openvino",),
        axes={"subject": ops("reciprocal"), "input_dtype": ("int8", "uint8", "int64")},
        expects="values",
        explains=(Behaviour(kind="values", nan=False, cause="values_differ"),),
        effect="integer result",
    ),
    Limitation(
        id="openvino-integer-round-through-float32",
        description="ops.round of int32, uint32, int64 and uint64 on OpenVINO goes through "
                    "float32: 2**31 - 1 rounds to 2**31 and comes back as -2**31, 2**32 - 1 as "
                    "0, where rounding an integer leaves it as it is" + NO_REPORT,
        link=f"{KERAS_SRC}backend/openvino/numpy.py",
        backends=("openvino",),
        axes={"subject": ops("round"), "input_dtype": ("int32", "uint32", "int64", "uint64"),
              "values": ("limits",)},
        expects="values",
        explains=(Behaviour(kind="values", cause="values_differ"),),
    ),
    Limitation(
        id="openvino-integer-square-through-float32",
        description="ops.square of an integer tensor at its limits on OpenVINO goes through "
                    "float32 and converts back: int8 saturates (127 * 127 is 127), uint16 and "
                    "uint32 give 0, int32 and int64 -2**31, where NumPy wraps the product "
                    "modulo 2**n" + NO_REPORT,
        link=f"{KERAS_SRC}backend/openvino/numpy.py",
        backends=("openvino",),
        axes={"subject": ops("square"),
              "input_dtype": ("int8", "int32", "int64", "uint8", "uint16", "uint32", "uint64"),
              "values": ("limits",), "mode": ("eager",)},
        expects="values",
        explains=(Behaviour(kind="values", cause="values_differ"),),
    ),
    Limitation(
        id="openvino-integer-power-overflow-not-wrapped",
        description="ops.power of integers that overflows on OpenVINO is not the wrapped "
                    "product: uint8 255 ** 255 is 0 where 255 ** 255 modulo 2**8 is 255, int8 "
                    "127 ** 255 in int16 is 0" + NO_REPORT,
        link=f"{KERAS_SRC}backend/openvino/numpy.py",
        backends=("openvino",),
        axes={"subject": ops("power"), "values": ("limits",),
              "input_dtype": ("int8_uint8", "int32_uint8", "uint8_uint8")},
        expects="values",
        explains=(Behaviour(kind="values", cause="values_differ"),),
    ),
    Limitation(
        id="openvino-floor-divide-bool-by-small-integer-int32",
        description="ops.floor_divide of a bool by an int8 or uint8 tensor on OpenVINO "
                    "returns int32 where Keras's rule states the integer's dtype (int8, "
                    "uint8)" + NO_REPORT,
        link=f"{KERAS_SRC}backend/openvino/numpy.py",
        backends=("openvino",),
        axes={"subject": ops("floor_divide"), "input_dtype": ("bool_int8", "bool_uint8")},
        expects="values",
        explains=(Behaviour(kind="values", cause="dtype"),),
        effect="int32",
    ),
    Limitation(
        id="openvino-floor-divide-int64-limits-unconvertible",
        description="ops.floor_divide by int64's limits on OpenVINO gives a tensor it cannot "
                    "return: RuntimeError \"`convert_to_numpy` failed to convert the "
                    "tensor\"" + NO_REPORT,
        link=f"{KERAS_SRC}backend/openvino/core.py",
        backends=("openvino",),
        axes={"subject": ops("floor_divide"), "values": ("limits",), "mode": ("eager",),
              "input_dtype": ("bool_int64", "int8_int64", "int64_int64", "uint8_int64")},
        expects="values",
        explains=(Behaviour(kind="error", error_type="RuntimeError"),),
    ),
    Limitation(
        id="openvino-64-bit-floor-divide-mod-at-limits",
        description="ops.floor_divide and ops.mod with an int64 or float64 operand at its "
                    "limits on OpenVINO: the 64-bit values are cut to 32 bits (an int64 "
                    "divisor -2**63 becomes 0, float64's largest values infinities) and then "
                    "divided as OpenVINO divides (floor(x / y); a mod by 0 gives -2**31, by "
                    "an infinity NaN), which neither the reference nor the reference on the "
                    "cut inputs does; it shows where cutting changes the divisor" + NO_REPORT,
        link=OPENVINO_CPU_DOC,
        backends=("openvino",),
        axes={"subject": ops("floor_divide", "mod"), "values": ("limits",),
              "input_dtype": WITH_64_BIT},
        expects="values",
        explains=(Behaviour(kind="values", cause="values_differ"),),
        only_where_shown=True,
    ),
    Limitation(
        id="openvino-float-mod-of-large-values",
        description="ops.mod of float32's largest values on OpenVINO is 0 (x - y * floor(x / y) "
                    "in float32 loses every digit), where NumPy's fmod-based mod gives the "
                    "exact remainder (-3.4e38 mod 127 is 60)" + NO_REPORT,
        link=f"{KERAS_SRC}backend/openvino/numpy.py",
        backends=("openvino",),
        axes={"subject": ops("mod"), "values": ("limits",),
              "input_dtype": ("float32_int8", "float32_float16")},
        expects="values",
        explains=(Behaviour(kind="values", nan=False, cause="values_differ"),),
    ),
    Limitation(
        id="openvino-bool-hypot-float32",
        description="ops.hypot of two bools on OpenVINO returns float32 (sqrt(2) in float32), "
                    "where Keras's rule keeps bool and NumPy computes it in float16" + NO_REPORT,
        link=f"{KERAS_SRC}backend/openvino/numpy.py",
        backends=("openvino",),
        axes={"subject": ops("hypot"), "input_dtype": ("bool_bool",)},
        expects="values",
        explains=(Behaviour(kind="values", cause="values_differ"),),
    ),
    Limitation(
        id="openvino-float64-limits-infinities-nan",
        description="ops.hypot and ops.arctan2 of float64's limits on OpenVINO: cut to float32 "
                    "they are infinities, and OpenVINO's hypot and arctan2 of two infinities "
                    "are NaN, where NumPy gives inf and +-pi/4 (as "
                    "openvino-arctan2-logaddexp-infinities-nan)" + NO_REPORT,
        link=OPENVINO_CPU_DOC,
        backends=("openvino",),
        axes={"subject": ops("hypot", "arctan2"), "input_dtype": ("float64_float64",),
              "values": ("limits",)},
        expects="values",
        explains=(Behaviour(kind="values", nan=True, cause="values_differ"),),
        effect="NaN",
    ),
    Limitation(
        id="openvino-cumprod-of-float-limits",
        description="ops.cumprod of a row holding a float's largest magnitudes or smallest "
                    "normal value on OpenVINO (on this matrix's CPU, which has AVX512_BF16) "
                    "differs from multiplying left to right in the dtype: float32's -3.4e38 "
                    "comes back as -inf and -1.2e-38 as -0 (float64's are first cut to "
                    "float32)" + NO_REPORT,
        link=OPENVINO_CPU_DOC,
        backends=("openvino",),
        axes={"subject": ops("cumprod"), "input_dtype": ("float16", "float32", "float64"),
              "values": ("limits",)},
        expects="values",
        explains=(Behaviour(kind="values", cause="values_differ"),),
        cpu_flags=BF16_CPU_FLAGS,
    ),
    Limitation(
        id="openvino-std-float16-limits-finite",
        description="ops.std of float16's limits on OpenVINO is finite (5.35e4), where "
                    "NumPy's two-pass formula in float16 (the reference) overflows to inf: "
                    "OpenVINO computes in a wider float, the more accurate answer" + NO_REPORT,
        link=f"{KERAS_SRC}backend/openvino/numpy.py",
        backends=("openvino",),
        axes={"subject": ops("std"), "input_dtype": ("float16",), "values": ("limits",)},
        expects="values",
        explains=(Behaviour(kind="values", nan=False, cause="values_differ"),),
    ),
    Limitation(
        id="openvino-var-std-uint64-limits-inf",
        description="ops.var and ops.std of uint64's largest value on OpenVINO are inf: the "
                    "value in float32 is 1.8e19 and its square overflows, where the two-pass "
                    "formula of the reference stays finite (7.6e37)" + NO_REPORT,
        link=f"{KERAS_SRC}backend/openvino/numpy.py",
        backends=("openvino",),
        axes={"subject": ops("var", "std"), "input_dtype": ("uint64",), "values": ("limits",)},
        expects="values",
        explains=(Behaviour(kind="values", nan=False, cause="values_differ"),),
        effect="inf",
    ),
    Limitation(
        id="openvino-uint32-sum-limits",
        description="ops.sum of uint32's largest value on OpenVINO is 2147483647 (read as "
                    "2**31 - 1), and 0 once 1 is added, where NumPy wraps the sum modulo "
                    "2**32" + NO_REPORT,
        link=f"{KERAS_SRC}backend/openvino/numpy.py",
        backends=("openvino",),
        axes={"subject": ops("sum"), "input_dtype": ("uint32",), "values": ("limits",)},
        expects="values",
        explains=(Behaviour(kind="values", cause="values_differ"),),
        effect="saturates",
    ),
    Limitation(
        id="openvino-int64-negative-limits",
        description="ops.negative of int64's limits on OpenVINO is -2**31 for both -2**63 and "
                    "2**63 - 1 (saturated to int32, then -(2**31 - 1) comes back as -2**31), "
                    "where NumPy gives -2**63 and -(2**63 - 1)" + NO_REPORT,
        link=f"{KERAS_SRC}backend/openvino/numpy.py",
        backends=("openvino",),
        axes={"subject": ops("negative"), "input_dtype": ("int64",), "values": ("limits",),
              "mode": ("eager",)},
        expects="values",
        explains=(Behaviour(kind="values", cause="values_differ"),),
    ),
    Limitation(
        id="openvino-integer-to-float-in-floatx",
        description="OpenVINO computes an integer input's float result in floatx itself: "
                    "under floatx float64 sqrt, log, the trigonometric ops, ceil, floor, "
                    "logaddexp and var of int8 return float64 where Keras's symbolic call "
                    "states float32 (a weak float64, narrowed by result_type), and mean of "
                    "an integer returns floatx (float16, float64) where Keras states float32 "
                    "whatever floatx; it shows where Keras states float32" + NO_REPORT,
        link=f"{KERAS_SRC}backend/openvino/numpy.py",
        backends=("openvino",),
        axes={"subject": ops("arccos", "arccosh", "arcsin", "arcsinh", "arctan", "arctanh",
                             "ceil", "cos", "cosh", "floor", "log", "log10", "log1p", "log2",
                             "logaddexp", "mean", "sin", "sinh", "sqrt", "tan", "tanh", "var"),
              "dtype_policy": ("floatx_float16", "floatx_float64")},
        expects="values",
        explains=(Behaviour(kind="values", cause="dtype"),),
        only_where_shown=True,
        effect="floatx",
    ),
    Limitation(
        id="openvino-floatx-float64-computed-in-float32",
        description="Under floatx float64, OpenVINO's exp, expm1, std and hypot of integers "
                    "return the float64 Keras states with float32's values (about 1e-7 off "
                    "the float64 answer): computed in float32 and widened" + NO_REPORT,
        link=OPENVINO_CPU_DOC,
        backends=("openvino",),
        axes={"subject": ops("exp", "expm1", "std", "hypot"),
              "dtype_policy": ("floatx_float64",)},
        expects="values",
        explains=(Behaviour(kind="values", nan=False, cause="values_differ"),),
        only_where_shown=True,
    ),
)

