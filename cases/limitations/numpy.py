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
    table_ops,
)

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
        axes={"subject": table_ops(), "input_dtype": WITH_64_BIT},
        expects="values",
        explains=(Behaviour(kind="values", matches=CUT_TO_32_BITS),),
        effect="32-bit",
    ),
)
