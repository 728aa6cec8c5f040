"""Known divergences of the PyTorch backend alone: records only.

A cell takes the first limitation that covers it, in the order of
`cases.limitations.ORDER`, not the order of this file.
"""

from __future__ import annotations

from cases.limitations.base import (
    COMPUTED_IN_32_BITS,
    CUT_TO_32_BITS,
    FLOATS,
    KERAS_EMBEDDING_SRC,
    KERAS_SRC,
    KERAS_TORCH_FLOAT64_ISSUE,
    NO_REPORT,
    PAST_INT32,
    WITH_64_BIT,
    Behaviour,
    Limitation,
    op_pairs,
    ops,
)

#: Keras 3.12.0's `result_type`, the first to narrow a 64-bit result to 32 bits
#: (`BIT64_TO_BIT32_DTYPE`) on every backend but TensorFlow.
_KERAS_3_12_RESULT_TYPE = ("https://github.com/keras-team/keras/blob/v3.12.0/keras/src/"
                           "backend/common/dtypes.py")
_BEFORE_3_12 = ("Before Keras 3.12.0, keras.backend.result_type kept a 64-bit result type (3.12.0 "
                "made it narrow int64 to int32 and float64 to float32 on every backend but "
                "TensorFlow, as the reference states); the torch backend casts to it, so ")

#: Table ops whose torch result is signed for uint16 and uint32 input (found by this matrix).
#: (sum and prod of uint16 and uint32 give int32, which Keras states for torch: not here.)
_SIGNED_FOR_UINT = ops("abs", "absolute", "bitwise_invert", "bitwise_not", "cumprod",
                       "cumsum", "max", "min", "negative", "round", "sign", "square", "trunc")
#: Elementwise float ops whose torch result keeps float64 (Keras states float32).
_FLOAT64_KEPT = ops("arccos", "arccosh", "arcsin", "arcsinh", "arctan", "arctanh", "cos",
                    "cosh", "log", "log10", "log1p", "log2", "reciprocal", "sin", "sinh", "sqrt",
                    "tan", "tanh", "sum")
#: All the unary ops of the op table (`cases/op_table.json`) that the family runs.
_UNARY_TABLE_OPS = ops(
    "abs", "absolute", "all", "any", "arccos", "arccosh", "arcsin", "arcsinh", "arctan",
    "arctanh", "bitwise_invert", "bitwise_not", "ceil", "cos", "cosh", "cumprod", "cumsum",
    "exp", "exp2", "expm1", "floor", "isfinite", "isinf", "isnan", "log", "log10", "log1p",
    "log2", "logical_not", "max", "mean", "min", "negative", "prod", "reciprocal", "round",
    "sign", "sin", "sinh", "sqrt", "square", "std", "sum", "tan", "tanh", "trunc", "var")

LIMITATIONS: tuple[Limitation, ...] = (
    Limitation(
        id="torch-one-hot-uint64-in-a-graph",
        description="keras.ops.one_hot of uint64 ids works eagerly on torch but a functional "
                    "model refuses them ('Unsupported dtype for PyTorch: uint64')",
        link="https://github.com/pytorch/pytorch/issues/58734",
        backends=("torch",),
        axes={"subject": ("ops.one_hot",), "input_dtype": ("uint64",),
              "mode": ("predict", "jit_compile")},
        expects="values",
    ),
    Limitation(
        id="torch-take-accepts-float-indices",
        description="keras.ops.take accepts float indices and truncates them on torch; "
                    "TensorFlow and JAX refuse them as NumPy does",
        link="https://numpy.org/doc/stable/reference/generated/numpy.take.html",
        backends=("torch",),
        axes={"subject": ("ops.take",), "input_dtype": FLOATS},
        expects="error",
    ),
    Limitation(
        id="segments-accept-float-ids-eagerly",
        description="keras.ops.segment_sum and segment_max called directly accept float "
                    "segment ids on torch (a functional model refuses them; so do TensorFlow "
                    "and JAX)",
        link="https://numpy.org/doc/stable/reference/generated/numpy.take.html",
        backends=("torch",),
        axes={"subject": ("ops.segment_sum", "ops.segment_max"), "input_dtype": FLOATS,
              "mode": ("eager",)},
        expects="error",
    ),
    Limitation(
        id="torch-take-along-axis-no-bounds-check",
        description="keras.ops.take_along_axis on torch returns values for an index outside "
                    "[-n, n) instead of refusing it" + NO_REPORT,
        link=KERAS_SRC + "backend/torch/numpy.py",
        backends=("torch",),
        axes={"subject": ("ops.take_along_axis",), "values": ("out_of_range", "negative"),
              "input_dtype": ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                              *FLOATS)},
        expects="error",
    ),
    Limitation(
        id="torch-one-hot-refuses-out-of-range",
        description="torch.nn.functional.one_hot raises for a class >= num_classes ('Class "
                    "values must be smaller than num_classes'), where TensorFlow and JAX give a "
                    "row of zeros: keras.ops.one_hot, multi_hot and CategoryEncoding on torch",
        link="https://pytorch.org/docs/stable/generated/torch.nn.functional.one_hot.html",
        backends=("torch",),
        axes={"subject": ("ops.one_hot", "ops.multi_hot"), "values": ("out_of_range",)},
        expects="values",
    ),
    Limitation(
        id="torch-segment-ignores-ids-past-num-segments",
        description="keras.ops.segment_sum and segment_max on torch return values for a "
                    "segment id outside [0, num_segments) instead of refusing it" + NO_REPORT,
        link=KERAS_SRC + "backend/torch/math.py",
        backends=("torch",),
        axes={"subject": ("ops.segment_sum", "ops.segment_max"),
              "values": ("out_of_range", "negative"), "mode": ("eager",),
              "input_dtype": ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32")},
        expects="error",
    ),
    Limitation(
        id="torch-bincount-floats",
        description="torch's bincount takes integers only: float values raise "
                    "NotImplementedError ('\"bincount_cpu\" not implemented for \'Float\'')",
        link="https://pytorch.org/docs/stable/generated/torch.bincount.html",
        backends=("torch",),
        axes={"subject": ("ops.bincount",), "input_dtype": FLOATS},
    ),
    Limitation(
        id="torch-unroll-go-backwards-mask",
        description="LSTM, GRU and SimpleRNN with unroll=True, go_backwards=True and a mask "
                    "raise AttributeError on torch ('tuple' object has no attribute 'shape')"
                    + NO_REPORT,
        link=KERAS_SRC + "backend/torch/rnn.py",
        backends=("torch",),
        axes={"unroll": ("true",), "go_backwards": ("true",), "mask": ("mask_zero",)},
    ),
    Limitation(
        id="torch-embedding-casts-int64-to-int32", effect="casts ids",
        description="Embedding.call casts int64 ids to int32 on torch (its dtype test compares "
                    "a torch dtype with the string 'int64'), so 2**32 + 7 wraps to id 7",
        link=KERAS_EMBEDDING_SRC,
        backends=("torch",),
        axes={"values": ("out_of_range",), "bad_id": (PAST_INT32,), "input_dtype": ("int64",)},
    ),
    Limitation(
        id="torch-scce-negative-label-before-3-14",
        description="Before Keras 3.14, SparseCategoricalCrossentropy on PyTorch one-hot "
                    "encoded the labels (a negative label became a row of zeros) and returned "
                    "a finite loss for a negative label where the reference refuses it; an "
                    "out-of-range label was refused by one_hot ('Class values must be smaller "
                    "than num_classes'). Keras 3.14 computes it with torch's nll_loss, which "
                    "refuses both (IndexError 'Target -1 is out of bounds'); bisected on "
                    "PyTorch: 3.13.2 returns values, 3.14.0 refuses",
        link="https://github.com/keras-team/keras/pull/22169",
        backends=("torch",),
        axes={"subject": ("losses.SparseCategoricalCrossentropy",), "values": ("negative",)},
        versions={"keras": "<3.14"},
    ),
    Limitation(
        id="torch-multi-hot-int64-before-3-14",
        description="Before Keras 3.14, keras.ops.multi_hot on PyTorch returned int64 "
                    "eagerly where the reference (and the other backends) give float32; the "
                    "values are right. ops.multi_hot passed its default dtype=None on, and the "
                    "torch one_hot kept torch's int64; bisected on PyTorch: 3.13.2 int64, "
                    "3.14.0 float32",
        link="https://github.com/keras-team/keras/blob/v3.13.2/keras/src/ops/nn.py",
        backends=("torch",),
        axes={"subject": ("ops.multi_hot",), "mode": ("eager",),
              "values": ("in_range", "negative")},
        versions={"keras": "<3.14"},
    ),
    Limitation(
        id="torch-cuda-index-device-side-assert",
        description="On a CUDA device PyTorch checks ids inside its kernels: an id past "
                    "input_dim (or a negative one) fed to Embedding, ops.one_hot, "
                    "ops.multi_hot or CategoryEncoding triggers a device-side "
                    "assert, raised as torch.AcceleratorError 'CUDA error: device-side assert "
                    "triggered' (on the CPU the same calls raise IndexError for Embedding, "
                    "RuntimeError 'Class values must be smaller than num_classes' for the "
                    "others), and leaves the process's CUDA context unusable: every later "
                    "CUDA call fails until the process ends (the harness replaces the worker)",
        link="https://github.com/pytorch/pytorch/issues/19120",
        backends=("torch",),
        devices=("gpu",),
        # -1: ops.one_hot and ops.multi_hot give the reference's zeros, no kernel asserts.
        axes={"subject": ("layers.Embedding", "ops.one_hot", "ops.multi_hot",
                          "layers.CategoryEncoding"),
              "values": ("out_of_range", "negative"),
              "bad_id": ("-11", "5", "10", "100", "127", "255", "32767", "65535",
                         "2147483651", "4294967303")},
        explains=(Behaviour(kind="error", error_type="AcceleratorError"),),
        observed_on=("gpu",),
    ),
    Limitation(
        id="torch-cuda-take-device-side-assert",
        description="keras.ops.take on a CUDA device with an id past the axis (or below "
                    "minus its length) trips the same device-side assert in PyTorch's index "
                    "kernel: torch.AcceleratorError instead of the CPU's IndexError 'index "
                    "out of range', and the process's CUDA context is unusable afterwards",
        link="https://github.com/pytorch/pytorch/issues/71572",
        backends=("torch",),
        devices=("gpu",),
        # -1 is a valid id (it wraps) and uint64 is refused before any kernel
        # (torch-no-uint64): neither reaches the assert, so neither is selected.
        axes={"subject": ("ops.take",), "values": ("out_of_range", "negative"),
              "bad_id": ("-11", "10"),
              "input_dtype": ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                              "float16", "float32", "float64")},
        explains=(Behaviour(kind="error", error_type="AcceleratorError"),),
        observed_on=("gpu",),
    ),
    Limitation(
        id="torch-cuda-sparse-crossentropy-device-side-assert",
        description="On a CUDA device a SparseCategoricalCrossentropy target outside "
                    "[0, classes) trips the assert 't >= 0 && t < n_classes' in PyTorch's "
                    "nll_loss kernel: torch.AcceleratorError 'CUDA error: device-side assert "
                    "triggered' instead of the CPU's IndexError 'Target 3 is out of bounds', "
                    "and the process's CUDA context is unusable afterwards",
        link="https://github.com/pytorch/pytorch/issues/89369",
        backends=("torch",),
        devices=("gpu",),
        axes={"subject": ("losses.SparseCategoricalCrossentropy",),
              "values": ("out_of_range", "negative")},
        explains=(Behaviour(kind="error", error_type="AcceleratorError"),),
        observed_on=("gpu",),
    ),
    Limitation(
        id="torch-no-uint64",
        description="Keras's torch backend has no uint64 (PyTorch's unsigned types past uint8 "
                    "are limited): convert_to_tensor raises 'Unsupported dtype for PyTorch'",
        link="https://github.com/pytorch/pytorch/issues/58734",
        backends=("torch",),
        axes={"subject": ("ops.take", "ops.take_along_axis", "ops.multi_hot", "ops.bincount",
                          "ops.segment_sum", "ops.segment_max"),
              "input_dtype": ("uint64",)},
        expects="values",
    ),
    Limitation(
        id="torch-no-uint64-embedding",
        description="Keras's torch backend has no uint64: Embedding with uint64 ids raises "
                    "'Unsupported dtype for PyTorch: uint64', in range or not",
        link="https://github.com/pytorch/pytorch/issues/58734",
        backends=("torch",),
        axes={"subject": ("layers.Embedding",), "input_dtype": ("uint64",)},
    ),
    Limitation(
        id="torch-no-uint64-ops",
        description="keras.ops on a uint64 tensor raise 'Unsupported dtype for PyTorch: "
                    "uint64' on torch (convert_to_tensor), for every op of the dtype family: "
                    "PyTorch's unsigned types past uint8 are limited",
        link="https://github.com/pytorch/pytorch/issues/58734",
        backends=("torch",),
        axes={"subject": _UNARY_TABLE_OPS, "input_dtype": ("uint64",)},
        expects="values",
    ),
    Limitation(
        id="torch-uint16-uint32-results-signed",
        description="On torch, abs, negative, sign, round, trunc, square, bitwise_not, min, "
                    "max, cumsum and cumprod of a uint16 or uint32 tensor return a "
                    "signed int32 or int64 tensor (values past the signed range differ too) "
                    "where Keras states the unsigned input dtype: PyTorch implements few ops "
                    f"for uint16 and uint32, and Keras computes in a signed type{NO_REPORT}",
        link="https://github.com/pytorch/pytorch/issues/58734",
        backends=("torch",),
        axes={"subject": _SIGNED_FOR_UINT, "input_dtype": ("uint16", "uint32")},
        expects="values",
        effect="signed dtype",
    ),
    Limitation(
        id="torch-int64-arithmetic-not-narrowed",
        description="On torch, add, subtract, multiply, mod, power and the bitwise ops with an "
                    "int64 operand (and no float) return int64, where Keras's result_type "
                    "states int32 (BIT64_TO_BIT32_DTYPE, as on JAX and NumPy): the torch "
                    "backend calls torch.add and the like on the converted tensors without "
                    "casting to the result type, so values past int32 are not wrapped either",
        link=KERAS_TORCH_FLOAT64_ISSUE,
        backends=("torch",),
        axes={"subject": ops("add", "subtract", "multiply", "mod", "power", "bitwise_and",
                             "bitwise_or", "bitwise_xor"),
              "input_dtype": op_pairs("int64", exclude=("float16", "float32", "float64"))},
        versions={"keras": "<3.16.0.dev0"},  # keras-nightly 3.16.0.dev matches (2026-12-06)
        expects="values",
        effect="keeps int64",
    ),
    Limitation(
        id="torch-int64-bitwise-not-narrowed",
        description="On torch, bitwise_and, bitwise_or and bitwise_xor with an int64 operand "
                    "return int64 where Keras's result_type states int32, keras-nightly "
                    "(3.16.0.dev) included, which narrows the arithmetic ops",
        link=KERAS_TORCH_FLOAT64_ISSUE,
        backends=("torch",),
        axes={"subject": ops("bitwise_and", "bitwise_or", "bitwise_xor"),
              "input_dtype": op_pairs("int64", exclude=("float16", "float32", "float64"))},
        expects="values",
        effect="keeps int64",
    ),
    Limitation(
        id="torch-float64-arithmetic-not-narrowed",
        description="On torch, add, subtract, multiply, divide, true_divide, mod and power with "
                    "a float64 operand return float64, where Keras's result_type states "
                    "float32: the torch backend calls torch's op without casting to the "
                    "result type (keras-team/keras#23223 reports the float64 half: add keeps "
                    "float64 while maximum narrows)",
        link=KERAS_TORCH_FLOAT64_ISSUE,
        backends=("torch",),
        axes={"subject": ops("add", "subtract", "multiply", "divide", "true_divide", "mod",
                             "power"),
              "input_dtype": op_pairs("float64")},
        versions={"keras": "<3.16.0.dev0"},  # keras-nightly 3.16.0.dev matches (2026-12-06)
        expects="values",
        effect="keeps float64",
    ),
    Limitation(
        id="torch-float64-unary-not-narrowed",
        description="On torch, sqrt, log, the trigonometric and hyperbolic ops, reciprocal and "
                    "sum of a float64 tensor return float64, where Keras states float32 "
                    "(result_type narrows 64 bits on every backend but TensorFlow): the torch "
                    "backend calls torch's op on the float64 tensor without a cast"
                    f"{NO_REPORT}",
        link=KERAS_SRC + "backend/torch/numpy.py",
        backends=("torch",),
        axes={"subject": _FLOAT64_KEPT, "input_dtype": ("float64",)},
        expects="values",
        effect="keeps float64",
    ),
    Limitation(
        id="torch-sum-keeps-int64",
        description="On torch, ops.sum of an int64 or a uint32 tensor returns int64, where "
                    "Keras states int32 for torch (Sum's compute_output_spec: result_type "
                    f"narrows int64, and torch reads a uint32 sum as int32){NO_REPORT}",
        link=KERAS_SRC + "backend/torch/numpy.py",
        backends=("torch",),
        axes={"subject": ops("sum"), "input_dtype": ("int64", "uint32")},
        expects="values",
        effect="keeps int64",
    ),
    Limitation(
        id="torch-bool-power-round-hypot-refused",
        description="torch has no bool kernel for pow, round and hypot: ops.power of two bools, "
                    "ops.round of a bool and ops.hypot of two bools raise NotImplementedError "
                    "(\"'pow' not implemented for 'Bool'\"), where Keras's rule keeps bool or "
                    f"promotes it{NO_REPORT}",
        link=f"{KERAS_SRC}backend/torch/numpy.py",
        backends=("torch",),
        axes={"subject": ops("power", "round", "hypot"), "input_dtype": ("bool", "bool_bool")},
        expects="values",
        explains=(Behaviour(kind="error", error_type="NotImplementedError"),),
    ),
    Limitation(
        id="torch-sign-of-nan-is-zero",
        description="ops.sign of NaN is 0 on torch, where NumPy and the other backends give "
                    f"NaN{NO_REPORT}",
        link=f"{KERAS_SRC}backend/torch/numpy.py",
        backends=("torch",),
        axes={"subject": ops("sign"), "input_dtype": FLOATS, "values": ("nonfinite",)},
        expects="values",
        explains=(Behaviour(kind="values", nan=False, cause="values_differ"),),
    ),
    Limitation(
        id="torch-round-integer-through-float32",
        description="ops.round of int32 and int64 on torch goes through float32: 2**31 - 1 "
                    "rounds to 2**31 and wraps to -2**31, int64's limits likewise, where "
                    f"rounding an integer leaves it as it is{NO_REPORT}",
        link=f"{KERAS_SRC}backend/torch/numpy.py",
        backends=("torch",),
        axes={"subject": ops("round"), "input_dtype": ("int32", "int64"), "values": ("limits",)},
        expects="values",
        explains=(Behaviour(kind="values", cause="values_differ"),),
    ),
    Limitation(
        id="torch-float64-mean-in-float32",
        description="ops.mean of float64 on torch is computed in float32 and returned as "
                    "float64: float32's rounding (3e-8 off at ordinary values) and range "
                    "(float64's largest values are inf) in a float64 result; matched cell by "
                    "cell against the reference computed in 32 bits" + NO_REPORT,
        link=f"{KERAS_SRC}backend/torch/numpy.py",
        backends=("torch",),
        axes={"subject": ops("mean"), "input_dtype": ("float64",)},
        versions={"keras": ">3.6.0"},  # Keras 3.6.0 (the minimum channel) matches (2026-12-06)
        expects="values",
        explains=(Behaviour(kind="values", matches=COMPUTED_IN_32_BITS),),
        effect="float32",
    ),
    Limitation(
        id="torch-std-of-float-limits-finite",
        description="ops.std of float16, float32 and float64 at their limits is finite on "
                    "torch (the std of 3.4e38, -3.4e38 and 1e-38 is 2.8e38), where NumPy's "
                    "two-pass formula in the same dtype overflows to inf, as the other "
                    f"backends do: torch is the more accurate here{NO_REPORT}",
        link="https://docs.pytorch.org/docs/stable/generated/torch.std.html",
        backends=("torch",),
        axes={"subject": ops("std"), "input_dtype": FLOATS, "values": ("limits",)},
        expects="values",
        explains=(Behaviour(kind="values", cause="values_differ"),),
    ),
    Limitation(
        id="torch-cumprod-inf-times-zero",
        description="ops.cumprod on torch gives -0 for -inf * 0 at float16's and float32's "
                    "limits, where IEEE 754 (NumPy, the other backends) gives NaN" + NO_REPORT,
        link="https://docs.pytorch.org/docs/stable/generated/torch.cumprod.html",
        backends=("torch",),
        axes={"subject": ops("cumprod"), "input_dtype": ("float16", "float32"),
              "values": ("limits",)},
        expects="values",
        explains=(Behaviour(kind="values", nan=False, cause="values_differ"),),
    ),
    Limitation(
        id="torch-ceil-float64-before-narrowing",
        description="ops.ceil of float64 on torch takes the ceiling in float64 and narrows the "
                    "result to float32 after: ceil(2.2e-308) is 1, where narrowing first (the "
                    "reference, the other backends) makes it 0" + NO_REPORT,
        link=f"{KERAS_SRC}backend/torch/numpy.py",
        backends=("torch",),
        axes={"subject": ops("ceil"), "input_dtype": ("float64",), "values": ("limits",)},
        expects="values",
        explains=(Behaviour(kind="values", cause="values_differ"),),
    ),
    Limitation(
        id="torch-nightly-hypot-int64-cut-to-32-bits",
        description="With keras-nightly (3.16.0.dev) on torch, ops.hypot of an int64 tensor "
                    "computes on its values cut to 32 bits (int64's limits wrap: -2**63 "
                    "becomes 0), where Keras 3.15.1 computed in float64; matched cell by cell "
                    "against the reference computed on the cut inputs" + NO_REPORT,
        link=f"{KERAS_SRC}backend/torch/numpy.py",
        backends=("torch",),
        versions={"keras": ">=3.16.0.dev0"},
        axes={"subject": ops("hypot"), "input_dtype": WITH_64_BIT, "values": ("limits",)},
        expects="values",
        explains=(Behaviour(kind="values", matches=CUT_TO_32_BITS),),
        only_where_shown=True,
        effect="32-bit",
    ),
    Limitation(
        id="torch-nightly-int64-limit-divisor-zero",
        description="With keras-nightly (3.16.0.dev) on torch, ops.floor_divide and ops.mod "
                    "of an integer by int64's limits raise RuntimeError (ZeroDivisionError): "
                    "the divisor -2**63 narrowed to int32 is 0, where Keras 3.15.1 divided in "
                    "int64" + NO_REPORT,
        link=f"{KERAS_SRC}backend/torch/numpy.py",
        backends=("torch",),
        versions={"keras": ">=3.16.0.dev0"},
        axes={"subject": ops("floor_divide", "mod"), "values": ("limits",),
              "input_dtype": ("bool_int64", "int8_int64", "int32_int64", "int64_int64",
                              "uint8_int64")},
        expects="values",
        explains=(Behaviour(kind="error", error_type="RuntimeError"),),
        only_where_shown=True,
    ),
    Limitation(
        id="torch-floor-divide-64-bit-before-narrowing",
        description="ops.floor_divide with an int64 or float64 operand on torch divides in 64 "
                    "bits and narrows the quotient to the int32 or float32 Keras states, where "
                    "narrowing the operands first (the reference, JAX, NumPy) changes them at "
                    "the 64-bit limits: -128 // -2**63 is 0 on torch, a division by 0 once "
                    "-2**63 is narrowed to int32, and float64's largest value is finite on "
                    "torch, inf once narrowed; it shows only where narrowing first changes the "
                    "answer" + NO_REPORT,
        link=f"{KERAS_SRC}backend/torch/numpy.py",
        backends=("torch",),
        axes={"subject": ops("floor_divide"), "values": ("limits",),
              "input_dtype": WITH_64_BIT},
        expects="values",
        explains=(Behaviour(kind="values", cause="values_differ"),),
        only_where_shown=True,
    ),
    Limitation(
        id="torch-float64-results-before-keras-3-12",
        description=_BEFORE_3_12 + "arctan2, floor_divide, logaddexp, maximum and minimum "
                    "with a float64 operand return float64 where the reference states float32 "
                    "(Keras 3.6.0's own rule states float64: a change of the contract, not of "
                    "torch); at the limits the values differ too",
        link=_KERAS_3_12_RESULT_TYPE,
        backends=("torch",),
        versions={"keras": "<3.12.0"},
        axes={"subject": ops("arctan2", "floor_divide", "logaddexp", "maximum", "minimum"),
              "input_dtype": op_pairs("float64")},
        expects="values",
        explains=(Behaviour(kind="values", cause="dtype"),
                  Behaviour(kind="values", cause="values_differ")),
        effect="keeps float64",
    ),
    Limitation(
        id="torch-int64-results-before-keras-3-12",
        description=_BEFORE_3_12 + "floor_divide, maximum and minimum of int64 and an integer "
                    "or bool return int64 where the reference states int32 (Keras 3.6.0's own "
                    "rule states int64); at int64's limits the values are not wrapped either",
        link=_KERAS_3_12_RESULT_TYPE,
        backends=("torch",),
        versions={"keras": "<3.12.0"},
        axes={"subject": ops("floor_divide", "maximum", "minimum"),
              "input_dtype": op_pairs("int64", exclude=FLOATS)},
        expects="values",
        explains=(Behaviour(kind="values", cause="dtype"),
                  Behaviour(kind="values", cause="values_differ")),
        effect="keeps int64",
    ),
    *(Limitation(
        id=f"torch-{name}-before-keras-3-12",
        description=_BEFORE_3_12 + text + " (Keras 3.6.0's own rule states the 64-bit type)",
        link=_KERAS_3_12_RESULT_TYPE,
        backends=("torch",),
        versions={"keras": "<3.12.0"},
        axes={"subject": subjects, "input_dtype": (dtype,)},
        expects="values",
        explains=(Behaviour(kind="values", cause="dtype"),
                  Behaviour(kind="values", cause="values_differ")),
        effect=effect,
    ) for name, text, subjects, dtype, effect in (
        ("float64-unary-results", "ceil, floor and var of float64 return float64 where the "
         "reference states float32", ops("ceil", "floor", "var"), "float64", "keeps float64"),
        ("uint32-prod-int64", "prod of uint32 returns int64 where the reference states int32",
         ops("prod"), "uint32", "int64"))),
    Limitation(
        id="torch-integer-to-float-ignores-floatx",
        description="Under floatx float16 or float64, torch returns float32 for an integer "
                    "input where Keras's symbolic call states floatx: the torch backend calls "
                    "torch.sqrt, torch.log, torch.sin and the like on the integer tensor, "
                    "which gives torch's default float, float32 (and std casts to float32); "
                    "it shows where Keras states a dtype other than float32" + NO_REPORT,
        link=f"{KERAS_SRC}backend/torch/numpy.py",
        backends=("torch",),
        axes={"subject": ops("arccos", "arccosh", "arcsin", "arcsinh", "arctan", "arctanh",
                             "cos", "cosh", "sin", "sinh", "tan", "tanh", "log", "log10",
                             "log1p", "log2", "sqrt", "std", "divide", "true_divide"),
              "dtype_policy": ("floatx_float16", "floatx_float64")},
        expects="values",
        explains=(Behaviour(kind="values", cause="dtype"),
                  Behaviour(kind="values", cause="values_differ")),
        only_where_shown=True,
        effect="float32",
    ),
    Limitation(
        id="torch-floatx-float64-results-before-keras-3-12",
        description=_BEFORE_3_12 + "under floatx float64 arctan2, logaddexp, ceil, floor and "
                    "var of integers return float64 where the reference states float32 (a "
                    "weak float64, narrowed from 3.12.0 on; Keras 3.6.0's own rule states "
                    "float64)",
        link=_KERAS_3_12_RESULT_TYPE,
        backends=("torch",),
        versions={"keras": "<3.12.0"},
        axes={"subject": ops("arctan2", "logaddexp", "ceil", "floor", "var"),
              "dtype_policy": ("floatx_float64",)},
        expects="values",
        explains=(Behaviour(kind="values", cause="dtype"),),
        only_where_shown=True,
        effect="keeps float64",
    ),
)

