"""Known divergences of several backends, or Keras on every backend: records only.

A cell takes the first limitation that covers it, in the order of
`cases.limitations.ORDER`, not the order of this file.
"""

from __future__ import annotations

from cases.limitations.base import (
    FLOATS,
    KERAS_EMBEDDING_SRC,
    KERAS_NUMPY_SRC,
    KERAS_SRC,
    NO_REPORT,
    PAST_INT32,
    Behaviour,
    Limitation,
    ops,
)

LIMITATIONS: tuple[Limitation, ...] = (
    Limitation(
        id="segment-ops-not-symbolic",
        description="keras.ops.segment_sum and segment_max cannot be called on a KerasTensor: "
                    "in a functional model (predict, jit_compile) they raise 'A KerasTensor "
                    "cannot be used as input to a ... function'" + NO_REPORT,
        link=KERAS_SRC + "ops/math.py",
        axes={"subject": ("ops.segment_sum", "ops.segment_max"),
              "mode": ("predict", "jit_compile")},
        expects="values",
    ),
    Limitation(
        id="numpy-digitize-symbolic-build",
        description="A functional model around ops.digitize cannot be built on the numpy "
                    "and openvino backends: the symbolic call raises AttributeError "
                    f"\"'list' object has no attribute 'shape'\" (eager works){NO_REPORT}",
        link=f"{KERAS_NUMPY_SRC}/numpy.py",
        backends=("numpy", "openvino"),
        axes={"subject": ("ops.digitize",), "mode": ("predict", "jit_compile")},
    ),
    Limitation(
        id="digitize-list-bins-not-symbolic",
        description="keras.ops.digitize with bins given as a Python list fails in a functional "
                    "model ('list' object has no attribute 'shape')" + NO_REPORT,
        link=KERAS_SRC + "ops/numpy.py",
        axes={"subject": ("ops.digitize",), "mode": ("predict", "jit_compile")},
    ),
    Limitation(
        id="index-ops-accept-float-indices",
        description="keras.ops.one_hot and multi_hot accept float index tensors and truncate "
                    "them on every backend, where the Keras docs ask for an integer tensor and "
                    "NumPy, whose API keras.ops mirrors, refuses float indices",
        link="https://numpy.org/doc/stable/reference/generated/numpy.take.html",
        axes={"subject": ("ops.one_hot", "ops.multi_hot"), "input_dtype": FLOATS},
        expects="error",
    ),
    Limitation(
        id="take-along-axis-and-bincount-accept-float-indices",
        description="keras.ops.take_along_axis and bincount accept float indices and truncate "
                    "them on TensorFlow and torch, where NumPy (and JAX) refuse float indices",
        link="https://numpy.org/doc/stable/reference/generated/numpy.take_along_axis.html",
        backends=("tensorflow", "torch"),
        axes={"subject": ("ops.take_along_axis", "ops.bincount"), "input_dtype": FLOATS,
              "values": ("in_range",)},
        expects="error",
    ),
    Limitation(
        id="take-along-axis-wraps-float-indices", effect="wraps",
        description="keras.ops.take_along_axis accepts a negative float index, truncates and "
                    "wraps it, where NumPy refuses float indices",
        link="https://numpy.org/doc/stable/reference/generated/numpy.take_along_axis.html",
        backends=("tensorflow", "torch"),
        axes={"subject": ("ops.take_along_axis",), "input_dtype": FLOATS,
              "values": ("negative",), "bad_id": ("-1",), "mode": ("eager", "predict")},
        expects="error",
    ),
    Limitation(
        id="category-encoding-no-range-check",
        description="CategoryEncoding does not check ids against num_tokens: an id past it is "
                    "dropped silently on TensorFlow and JAX, and torch raises one_hot's "
                    "RuntimeError instead of a ValueError" + NO_REPORT,
        link=KERAS_SRC + "layers/preprocessing/category_encoding.py",
        axes={"subject": ("layers.CategoryEncoding",), "values": ("out_of_range",)},
        expects="error",
    ),
    Limitation(
        id="bincount-negative-values",
        description="keras.ops.bincount of negative values: TensorFlow raises "
                    "InvalidArgumentError eagerly and returns counts under XLA (from 2.22.0rc0 "
                    "raises InvalidArgumentError there too), torch raises "
                    "RuntimeError (not NumPy's ValueError), JAX returns counts" + NO_REPORT,
        link="https://numpy.org/doc/stable/reference/generated/numpy.bincount.html",
        backends=("tensorflow", "jax", "torch", "openvino"),  # NumPy raises ValueError
        axes={"subject": ("ops.bincount",), "values": ("negative",),
              "input_dtype": ("int8", "int16", "int32", "int64")},
        expects="error",
    ),
    Limitation(
        id="predict-casts-float64-to-float32", effect="casts to float32",
        description="Model.predict on TensorFlow and torch computes a float64 input in float32 "
                    "(the model's input is cast to floatx)" + NO_REPORT,
        link=KERAS_SRC + "trainers/data_adapters/data_adapter_utils.py",
        backends=("tensorflow", "torch"),
        axes={"subject": ("ops.top_k",), "input_dtype": ("float64",), "item": ("values",),
              "mode": ("predict", "jit_compile")},
    ),
    Limitation(
        id="jax-top-k-accuracy-negative-label",
        description="SparseTopKCategoricalAccuracy on JAX and torch counts a label of -1 as a "
                    "hit (the label indexes the predictions from the end)" + NO_REPORT,
        link=KERAS_SRC + "metrics/accuracy_metrics.py",
        backends=("jax", "torch"),
        axes={"subject": ("metrics.SparseTopKCategoricalAccuracy",), "values": ("negative",)},
    ),
    Limitation(
        id="lookup-layers-need-tensorflow",
        description="IntegerLookup, StringLookup, TextVectorization and Hashing are built on "
                    "TensorFlow: on every other backend without TensorFlow installed (none of "
                    "this matrix's JAX, PyTorch, NumPy and OpenVINO environments installs it) "
                    "the constructor raises ImportError 'Layer ... requires TensorFlow'",
        link="https://github.com/keras-team/keras/issues/21255",
        backends=("jax", "torch", "numpy", "openvino"),
        axes={"subject": ("layers.IntegerLookup", "layers.StringLookup",
                          "layers.TextVectorization", "layers.Hashing")},
    ),
    Limitation(
        id="predict-empty-batch",
        description="Model.predict on an empty batch (0, steps) raises UnboundLocalError "
                    "('batch_outputs') on every backend instead of returning an empty output",
        link="https://github.com/astrolabsoftware/fink-science/issues/642",
        axes={"batch": ("empty",), "mode": ("predict", "jit_compile")},
    ),
    Limitation(
        id="embedding-casts-uint64-to-int32-inference", effect="casts ids",
        description="Embedding.call casts uint64 ids to int32 on the numpy and openvino "
                    "backends too, so 2**32 + 7 wraps to id 7 with no error",
        link=KERAS_EMBEDDING_SRC,
        backends=("numpy", "openvino"),
        axes={"values": ("out_of_range",), "bad_id": (PAST_INT32,),
              "input_dtype": ("uint64",)},
    ),
    Limitation(
        id="take-wraps-negative-ids", effect="wraps",
        description="keras.ops.take wraps a negative id like NumPy: Embedding returns the last "
                    "row for id -1 on every backend instead of refusing it (the Embedding "
                    "contract is ids in [0, input_dim), keras-team/keras#20145)",
        link="https://github.com/keras-team/keras/issues/20145",
        axes={"subject": ("layers.Embedding",), "values": ("negative",), "bad_id": ("-1",)},
    ),
    Limitation(
        id="embedding-truncates-fractional-ids", effect="truncates",
        description="Embedding.call casts non-integer ids to int32, so a fractional id such as "
                    "1.5 is truncated to row 1 with no error (the article claims a TypeError)",
        link=KERAS_EMBEDDING_SRC,
        axes={"subject": ("layers.Embedding",), "values": ("fractional",)},
    ),
    Limitation(
        id="lstm-floatx-bfloat16-qr",
        description="With floatx bfloat16, LSTM cannot be built: its Orthogonal recurrent "
                    "initializer runs a QR decomposition, which none of these backends "
                    "implements for bfloat16 (Qr on TensorFlow, geqrf on torch's CPU and "
                    "CUDA, jax.numpy.linalg.qr: NotImplementedError on the CPU, TypeError "
                    "'qr does not accept dtype bfloat16' on a GPU); the numpy and openvino "
                    "backends build it",
        link="https://github.com/keras-team/keras/issues/16927",
        backends=("tensorflow", "jax", "torch"),
        axes={"dtype_policy": ("floatx_bfloat16",), "model": ("embedding_lstm",)},
        explains=(Behaviour(kind="error", error_type="InvalidArgumentError"),
                  Behaviour(kind="error", error_type="NotImplementedError"),
                  Behaviour(kind="error", error_type="TypeError")),
        observed_on=("cpu", "gpu"),
    ),
    # Releases before the pinned one (the minimum channel: Keras 3.6.0). The release that
    # changed each cell was found with `nox -s bisect` (reports/bisect/); on TensorFlow
    # 2.21 Keras 3.7 to 3.11 do not install, so TensorFlow bisects start at 3.12.0.
    Limitation(
        id="attention-masked-embedding-before-3-12",
        description="Before Keras 3.12, keras.layers.Attention fed by Embedding(mask_zero=True) "
                    "fails: Keras 3.6.0 raises ValueError 'A KerasTensor cannot be used as "
                    "input to a TensorFlow function' (JAX: 'a JAX function'), and a shape "
                    "error when the value is shorter than the query (cross-attention); "
                    "bisected: on JAX 3.11.3 still raises that ValueError, on PyTorch 3.7.0 "
                    "to 3.11.3 raise RuntimeError ('The size of tensor a (4) must match the "
                    "size of tensor b (3)'), and 3.12.0 matches the reference on both",
        link="https://github.com/keras-team/keras/issues/20318",
        axes={"consumer": ("Attention",), "mask": ("mask_zero",)},
        versions={"keras": "<3.12"},
    ),
    Limitation(
        id="concatenate-masked-inputs-before-3-12",
        description="Before Keras 3.12, Concatenate of two Embedding(mask_zero=True) outputs "
                    "fails in a functional model's predict and jit_compile: TypeError "
                    "'Failed to convert elements of (None, 3, 4) to Tensor' on TensorFlow, "
                    "'Shapes must be 1D sequences of concrete values' on JAX (Keras 3.6.0); "
                    "bisected on PyTorch: 3.11.3 raises TypeError, 3.12.0 matches",
        link="https://github.com/keras-team/keras/releases/tag/v3.12.0",
        axes={"subject": ("layers.Concatenate",), "mask": ("mask_zero",),
              "mode": ("predict", "jit_compile")},
        versions={"keras": "<3.12"},
    ),
    Limitation(
        id="global-average-pooling-empty-batch-before-3-15",
        description="Before Keras 3.15, GlobalAveragePooling1D on an empty batch (0, steps) "
                    "with a mask raises (TensorFlow InvalidArgumentError 'slice index 0 of "
                    "dimension 0 out of bounds', JAX and PyTorch IndexError); bisected on "
                    "TensorFlow and PyTorch: 3.14.1 raises, 3.15.0 returns the (0, 4) output",
        link="https://github.com/keras-team/keras/releases/tag/v3.15.0",
        axes={"subject": ("layers.GlobalAveragePooling1D",), "batch": ("empty",)},
        versions={"keras": "<3.15"},
    ),
    Limitation(
        id="keras-nightly-rnn-drops-output-mask",
        description="keras-nightly 3.16.0.dev sets supports_masking = False in RNN.__init__ "
                    "(and Bidirectional's), Keras 3.15.1 True: an LSTM(return_sequences=True) "
                    "after Embedding(mask_zero=True) no longer passes the mask on (UserWarning "
                    "'...does not support masking and will therefore destroy the mask "
                    "information'), so the per-timestep loss fit reports averages over the "
                    "padded timesteps too. Minimal input: keras.layers.LSTM(3, "
                    "return_sequences=True)(keras.layers.Embedding(10, 4, mask_zero=True)"
                    "(keras.Input((4,), dtype='int32')))._keras_mask is None" + NO_REPORT,
        link="https://github.com/keras-team/keras/blob/master/keras/src/layers/rnn/rnn.py",
        axes={"subject": ("losses.SparseCategoricalCrossentropy",), "mode": ("fit",),
              "mask": ("mask_zero",)},
        versions={"keras": ">=3.16.0.dev0"},
    ),
    Limitation(
        id="time-distributed-drops-mask", effect="drops the mask",
        description="TimeDistributed passes no mask to the layer it wraps: "
                    "TimeDistributed(LSTM) after TimeDistributed(Embedding(mask_zero=True)) "
                    "runs over the padded inner steps as if they were valid",
        link="https://github.com/keras-team/keras/issues/4786",
        axes={"report": ("time_distributed_mask",)},
    ),
    Limitation(
        id="lstm-use-cudnn-on-cpu",
        description="LSTM(use_cudnn=True) needs cuDNN: on a CPU every backend raises "
                    "ValueError instead of running the layer",
        link="https://github.com/keras-team/keras/issues/8620",
        devices=("cpu",),
        axes={"report": ("lstm_use_cudnn",)},
    ),
    # GPU-only divergences, from the first GPU run (2026-12-04, one NVIDIA H200: JAX 0.11.2,
    # torch 2.11.0+cu130; reports/device-logs/).
    Limitation(
        id="lstm-use-cudnn-masked-jax-torch-gpu",
        description="LSTM(use_cudnn=True) fed a mask (Embedding(mask_zero=True)) raises "
                    "ValueError on a GPU too with the JAX and PyTorch backends: their cuDNN "
                    "LSTM takes no mask (backend.lstm raises NotImplementedError for any mask, "
                    "which use_cudnn=True turns into 'cuDNN is not supported for this layer "
                    "configuration with this backend'), even for right-padded sequences",
        link="https://github.com/keras-team/keras/blob/v3.15.1/keras/src/backend/jax/rnn.py",
        backends=("jax", "torch"),
        devices=("gpu",),
        axes={"report": ("lstm_use_cudnn",)},
        explains=(Behaviour(kind="error", error_type="ValueError"),),
        observed_on=("gpu",),
    ),
    Limitation(
        id="global-max-pooling-ignores-mask", effect="ignores the mask",
        description="GlobalMaxPooling1D takes no mask: padded steps (the embedding of id 0) "
                    "enter the maximum, and an all-padding row returns values instead of -inf",
        link="https://github.com/keras-team/keras/blob/v3.15.1/keras/src/layers/pooling/"
             "global_max_pooling1d.py",
        axes={"consumer": ("GlobalMaxPooling1D",), "mask": ("mask_zero",)},
    ),
    Limitation(
        id="prod-cumsum-cumprod-narrow-64-bit",
        description="ops.prod, ops.cumsum and ops.cumprod of an int64 or float64 tensor "
                    "return int32 or float32 on torch and on the numpy backend, where the "
                    "ops' compute_output_spec states the input's 64-bit dtype: those backends "
                    "compute in dtypes.result_type(x.dtype), which narrows 64 bits to 32 "
                    f"(values past 32 bits wrap too){NO_REPORT}",
        link=KERAS_SRC + "backend/numpy/numpy.py",
        backends=("torch", "numpy"),
        axes={"subject": ops("prod", "cumsum", "cumprod"), "input_dtype": ("int64", "float64")},
        versions={"keras": ">3.6.0"},  # Keras 3.6.0 (the minimum channel) matches (2026-12-06)
        expects="values",
        effect="32-bit",
    ),
    Limitation(
        id="reciprocal-keeps-float16",
        description="ops.reciprocal of a float16 or bfloat16 tensor returns its own dtype on "
                    "every backend, where Keras's symbolic call (Reciprocal's "
                    "compute_output_spec, which names no dtype) states float32, KerasTensor's "
                    "default, whatever floatx: a functional model declares one dtype and "
                    f"computes another{NO_REPORT}",
        link=KERAS_SRC + "ops/numpy.py",
        axes={"subject": ops("reciprocal"), "input_dtype": ("float16", "bfloat16")},
        backends=("tensorflow", "jax", "torch", "numpy", "openvino"),
        expects="values",
        effect="float16",
    ),
    Limitation(
        id="reciprocal-keeps-float64",
        description="ops.reciprocal of a float64 tensor returns float64 on TensorFlow, torch, "
                    "NumPy and OpenVINO, where Keras's symbolic call states float32 "
                    "(JAX, without jax_enable_x64, computes in float32 and agrees with it)"
                    f"{NO_REPORT}",
        link=KERAS_SRC + "ops/numpy.py",
        axes={"subject": ops("reciprocal"), "input_dtype": ("float64",)},
        backends=("tensorflow", "torch", "numpy", "openvino"),
        expects="values",
        effect="float64",
    ),
)
