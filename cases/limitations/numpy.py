"""Known divergences of the NumPy backend alone: records only.

A cell takes the first limitation that covers it, in the order of
`cases.limitations.ORDER`, not the order of this file.
"""

from __future__ import annotations

from cases.limitations.base import (
    CUT_TO_32_BITS,
    KERAS_NUMPY_SRC,
    NO_REPORT,
    WITH_64_BIT,
    Behaviour,
    Limitation,
    ops,
)

#: The table ops whose NumPy-backend implementation converts its inputs with
#: `convert_to_tensor(x)` alone, so that a 64-bit input is cut to 32 bits first.
_CUTTING = ("add", "arccos", "arccosh", "arcsin", "arcsinh", "arctan", "arctan2", "arctanh",
            "bitwise_invert", "bitwise_not", "ceil", "cos", "cosh", "cumprod", "cumsum",
            "divide", "exp", "exp2", "expm1", "floor", "floor_divide", "hypot", "log",
            "log10", "log1p", "log2", "logaddexp", "maximum", "mean", "minimum", "mod",
            "multiply", "power", "prod", "sin", "sinh", "sqrt", "square", "std", "subtract",
            "tan", "tanh", "true_divide", "trunc", "var")
_SMALL = ("bool", "int8", "uint8")

LIMITATIONS: tuple[Limitation, ...] = (
    Limitation(
        id="numpy-segment-ops-symbolic-build",
        description="A functional model around ops.segment_sum or ops.segment_max with integer "
                    "segment ids cannot be built on the numpy backend: the symbolic call "
                    "raises ValueError 'A KerasTensor is symbolic' (its num_segments is read "
                    f"from the data){NO_REPORT}",
        link=f"{KERAS_NUMPY_SRC}/math.py",
        backends=("numpy",),
        axes={"subject": ("ops.segment_sum", "ops.segment_max"),
              "input_dtype": ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                              "uint64"),
              "values": ("in_range",), "mode": ("predict", "jit_compile")},
    ),
    Limitation(
        id="numpy-category-encoding-index-error",
        description="CategoryEncoding refuses an id >= num_tokens on the numpy backend, but "
                    "with NumPy's IndexError (the fancy indexing in ops.one_hot), not the "
                    f"ValueError or InvalidArgumentError the reference names{NO_REPORT}",
        link=f"{KERAS_NUMPY_SRC}/nn.py",
        backends=("numpy",),
        axes={"subject": ("layers.CategoryEncoding",), "values": ("out_of_range",)},
    ),
    Limitation(
        id="numpy-negative-ids-ignored",
        description="On the numpy backend a negative id is dropped or wrapped, never refused: "
                    "ops.segment_sum and ops.segment_max skip negative segment ids "
                    "(_segment_reduction_fn: 'Ignore segment_ids that are -1'), "
                    "SparseCategoricalCrossentropy one-hot encodes a negative label as a row "
                    "of zeros (no error), and SparseTopKCategoricalAccuracy reads the "
                    f"prediction at index -1{NO_REPORT}",
        link=f"{KERAS_NUMPY_SRC}/math.py#L17",
        backends=("numpy",),
        axes={"subject": ("ops.segment_sum", "ops.segment_max",
                          "losses.SparseCategoricalCrossentropy",
                          "metrics.SparseTopKCategoricalAccuracy"),
              "values": ("negative",), "mode": ("eager",)},
    ),
    Limitation(
        id="numpy-one-hot-out-of-range-index-error",
        description="ops.one_hot and ops.multi_hot raise NumPy's IndexError on the numpy "
                    "backend for an id >= num_classes, where the reference (and the other "
                    f"backends) give an all-zero row{NO_REPORT}",
        link=f"{KERAS_NUMPY_SRC}/nn.py",
        backends=("numpy",),
        axes={"subject": ("ops.one_hot", "ops.multi_hot"), "values": ("out_of_range",)},
    ),
    Limitation(
        id="numpy-in-top-k-out-of-range-index-error",
        description="SparseTopKCategoricalAccuracy raises NumPy's IndexError on the numpy "
                    "backend for a label >= the number of classes (its in_top_k indexes the "
                    f"predictions with it), where the reference counts a miss{NO_REPORT}",
        link=f"{KERAS_NUMPY_SRC}/math.py",
        backends=("numpy",),
        axes={"subject": ("metrics.SparseTopKCategoricalAccuracy",),
              "values": ("out_of_range",)},
    ),
    Limitation(
        id="numpy-rnn-gru-reset-before",
        description="RNN(GRUCell(reset_after=False)) over a masked sequence fails on the numpy "
                    "backend with ValueError 'Expected an instance of list, got array' (its "
                    f"rnn loop gets the cell's state as an array){NO_REPORT}",
        link=f"{KERAS_NUMPY_SRC}/rnn.py",
        backends=("numpy",),
        axes={"variant": ("gru_reset_before",), "subject": ("layers.RNN",),
              "mask": ("mask_zero",)},
    ),
    Limitation(
        id="numpy-index-ops-non-integer-indices",
        description="Fed float or bool indices, take_along_axis, one_hot and multi_hot on the "
                    "numpy backend follow NumPy's indexing rules (IndexError 'arrays used as "
                    "indices must be of integer (or boolean) type', or values for multi_hot) "
                    f"where the reference names other errors or values{NO_REPORT}",
        link=f"{KERAS_NUMPY_SRC}/numpy.py",
        backends=("numpy",),
        axes={"subject": ("ops.take_along_axis", "ops.one_hot", "ops.multi_hot"),
              "input_dtype": ("float16", "float32", "float64")},
    ),
    Limitation(
        id="numpy-index-ops-bool-indices",
        description="Fed bool indices, take_along_axis and one_hot on the numpy backend follow "
                    "NumPy's indexing rules and raise IndexError (a bool array is a mask "
                    f"there) where the reference expects values{NO_REPORT}",
        link=f"{KERAS_NUMPY_SRC}/numpy.py",
        backends=("numpy",),
        axes={"subject": ("ops.take_along_axis", "ops.one_hot"), "input_dtype": ("bool",)},
    ),
    Limitation(
        id="numpy-segment-ops-float-ids-eager",
        description="ops.segment_sum and ops.segment_max called eagerly on the numpy backend "
                    "with float segment ids raise NumPy's IndexError (predict casts them and "
                    f"matches){NO_REPORT}",
        link=f"{KERAS_NUMPY_SRC}/math.py",
        backends=("numpy",),
        axes={"subject": ("ops.segment_sum", "ops.segment_max"),
              "input_dtype": ("float16", "float32", "float64"), "mode": ("eager",)},
    ),
    Limitation(
        id="numpy-top-k-float64-predict",
        description="ops.top_k values of float64 input through predict on the numpy backend "
                    "come back as float64 but rounded through float32 (2.4e-8 off, over the "
                    f"float64 tolerance){NO_REPORT}",
        link=f"{KERAS_NUMPY_SRC}/trainer.py",
        backends=("numpy",),
        axes={"subject": ("ops.top_k",), "item": ("values",), "input_dtype": ("float64",),
              "mode": ("predict",)},
    ),
    Limitation(
        id="numpy-64-bit-inputs-cut-to-32-bits",
        description="The NumPy backend's convert_to_tensor gives an int64, uint64 or float64 "
                    "array the dtype of Keras's result_type of it alone, which is 32-bit, so "
                    "every op computes on the values cut to 32 bits: int64's limits wrap "
                    "(-2**63 becomes 0, so dividing by it gives inf), float64's range and "
                    "precision are float32's, and the result has the 32-bit dtype Keras's rule "
                    "gives for the cut inputs; matched cell by cell against the reference "
                    f"computed on those cut inputs{NO_REPORT}",
        link=f"{KERAS_NUMPY_SRC}/core.py",
        backends=("numpy",),
        # the ops whose NumPy implementation converts its inputs without a dtype (observed
        # 2026-12-06, Keras 3.15.1): the comparisons, the logical ops, abs, negative, sign,
        # round, max and min convert to the result dtype first and keep 64 bits
        axes={"subject": ops(*_CUTTING), "input_dtype": WITH_64_BIT},
        expects="values",
        explains=(Behaviour(kind="values", matches=CUT_TO_32_BITS),),
        effect="32-bit",
    ),
    Limitation(
        id="numpy-sum-keeps-64-bit",
        description="ops.sum on the NumPy backend narrows only bool, int8, int16, uint8 and "
                    "uint16 (\"follow jax's rule\"): the sum of int64, uint64 or float64 keeps "
                    "the 64-bit dtype where Keras's rule states int32, uint32 or float32"
                    f"{NO_REPORT}",
        link=f"{KERAS_NUMPY_SRC}/numpy.py",
        backends=("numpy",),
        axes={"subject": ops("sum"), "input_dtype": ("int64", "uint64", "float64")},
        expects="values",
        explains=(Behaviour(kind="values", cause="dtype"),
                  Behaviour(kind="values", cause="values_differ")),
        effect="64-bit",
    ),
    Limitation(
        id="numpy-reciprocal-integer-stays-integer",
        description="ops.reciprocal on the NumPy backend is np.reciprocal of the input as "
                    "given: for an integer tensor the result is an integer (1 // x, 0 for "
                    "|x| > 1) of the input's dtype (int8 for bool), where Keras's rule states "
                    "float32"
                    f"{NO_REPORT}",
        link=f"{KERAS_NUMPY_SRC}/numpy.py",
        backends=("numpy",),
        axes={"subject": ops("reciprocal"),
              "input_dtype": ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16",
                              "uint32", "uint64")},
        expects="values",
        explains=(Behaviour(kind="values", cause="values_differ"),),
        effect="integer",
    ),
    Limitation(
        id="numpy-hypot-small-integers-in-float16",
        description="ops.hypot on the NumPy backend calls np.hypot on the inputs as given and "
                    "casts the result after: for bool, int8 and uint8 inputs NumPy computes in "
                    "float16, so the float32 (or float64, under floatx float64) result "
                    "carries float16's error (4.5e-4 at 3, 0.125 at 255), and hypot of two "
                    "bools is cast to bool; under floatx float16 that is Keras's dtype"
                    + NO_REPORT,
        link=f"{KERAS_NUMPY_SRC}/numpy.py",
        backends=("numpy",),
        axes={"subject": ops("hypot"), "values": ("ordinary",),
              "input_dtype": tuple(f"{a}_{b}" for a in _SMALL for b in _SMALL),
              "dtype_policy": ("float32", "floatx_float64")},
        expects="values",
        explains=(Behaviour(kind="values", cause="values_differ"),),
        effect="float16",
    ),
    Limitation(
        id="numpy-hypot-small-integer-limits-in-float16",
        description="ops.hypot on the NumPy backend at the limits of int8 and uint8: computed "
                    "in float16 (NumPy's promotion of the inputs as given) and cast to float32 "
                    "after, so hypot(127, 1) and hypot(255, 255) carry float16's rounding; "
                    "bool with uint8 stays exact" + NO_REPORT,
        link=f"{KERAS_NUMPY_SRC}/numpy.py",
        backends=("numpy",),
        axes={"subject": ops("hypot"), "values": ("limits",),
              "input_dtype": ("bool_int8", "int8_bool", "int8_int8", "int8_uint8",
                              "uint8_int8", "uint8_uint8")},
        expects="values",
        explains=(Behaviour(kind="values", cause="values_differ"),),
        effect="float16",
    ),
    Limitation(
        id="numpy-mean-integer-in-float64",
        description="ops.mean of an integer tensor on the NumPy backend is np.mean, computed "
                    "in float64 and cast to float32 after: the mean of int32's limits "
                    "(-2**31, 2**31 - 1, 0) is -1/3, where float32 arithmetic, the reference's "
                    "and the other backends', rounds 2**31 - 1 to 2**31 and gives 0" + NO_REPORT,
        link=f"{KERAS_NUMPY_SRC}/numpy.py",
        backends=("numpy",),
        axes={"subject": ops("mean"), "input_dtype": ("int32",), "values": ("limits",)},
        expects="values",
        explains=(Behaviour(kind="values", cause="values_differ"),),
    ),
    Limitation(
        id="numpy-bool-power-round-promoted",
        description="ops.power of two bools and ops.round of a bool on the NumPy backend "
                    "return NumPy's own promotion (int8, float16) where Keras's rule states "
                    "bool" + NO_REPORT,
        link=f"{KERAS_NUMPY_SRC}/numpy.py",
        backends=("numpy",),
        axes={"subject": ops("power", "round"), "input_dtype": ("bool", "bool_bool")},
        expects="values",
        explains=(Behaviour(kind="values", cause="dtype"),),
    ),
)
