"""The loss and metric records: sparse losses and metrics with integer labels.

`keras.losses.SparseCategoricalCrossentropy` (constructed, then called on labels and
predictions) and `keras.metrics.SparseCategoricalAccuracy` and
`SparseTopKCategoricalAccuracy` (constructed, then updated): each is a
`cases.subjects.base.Subject` that names its NumPy reference by key (the oracle's,
`matrix/oracle/path_refs.py`). NumPy only: nothing of `matrix`.
"""

from __future__ import annotations

from cases.subjects.base import KERAS, Subject

#: The loss and metric records, in the registry's order.
LOSSES: tuple[Subject, ...] = (
    Subject(name="losses.SparseCategoricalCrossentropy", kind="loss", call="loss",
            args={"from_logits": (True, False), "ignore_class": None},
            reference="sparse_categorical_crossentropy", tolerance_kind="pooling",
            refusals={"IndexError": ("InvalidArgumentError", "IndexError", "ValueError",
                                     "RuntimeError"),
                      "TypeError": ("TypeError", "ValueError", "InvalidArgumentError")},
            # torch refuses through nll_loss ("Target 3 is out of bounds."); Keras 3.6's
            # torch backend one-hot encoded the labels first ("Class values must be smaller
            # than num_classes."): the same reason, a label outside [0, classes)
            refusal_patterns={"RuntimeError": r"out of bounds|out of range|Target|"
                                              r"smaller than num_classes"},
            doc=f"{KERAS}losses/losses.py (sparse_categorical_crossentropy)"),
    Subject(name="metrics.SparseCategoricalAccuracy", kind="metric", call="metric",
            reference="sparse_categorical_accuracy", tolerance_kind="pooling",
            doc=f"{KERAS}metrics/accuracy_metrics.py"),
    Subject(name="metrics.SparseTopKCategoricalAccuracy", kind="metric", call="metric",
            args={"k": None}, reference="sparse_top_k_categorical_accuracy",
            tolerance_kind="pooling",
            doc=f"{KERAS}metrics/accuracy_metrics.py"),
)
