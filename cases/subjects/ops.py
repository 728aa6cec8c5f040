"""The op records: `keras.ops` functions with a hand-written NumPy reference.

The index ops (`take`, `take_along_axis`, `one_hot`, `multi_hot`, `segment_sum`,
`segment_max`, `bincount`, `argmax`, `argmin`, `argsort`, `top_k`, `searchsorted`,
`digitize`): each is a `cases.subjects.base.Subject` called as a function
(`keras.ops.take(a, b, **args)`) that names its NumPy reference by key (the oracle's,
`matrix/oracle/path_refs.py` and `matrix/oracle/index_ops.py`); its `doc` says what the
modelled behaviour follows. An op with a NumPy twin needs no record here: the op table gives
it one (`cases/op_table.json`, `cases.subjects.table_subject`). NumPy only: nothing of
`matrix`.
"""

from __future__ import annotations

from collections.abc import Mapping

from cases.subjects.base import INDEX_ERRORS, INDEX_PATTERNS, KERAS, Subject

OPS = f"{KERAS}ops/numpy.py"
#: A refused index: NumPy's IndexError, and a refused fractional index: NumPy's TypeError.
INDEX_REFUSALS: Mapping[str, tuple[str, ...]] = {
    "IndexError": (*INDEX_ERRORS, "ValueError"),
    "TypeError": ("TypeError", "ValueError", "InvalidArgumentError"),
}

#: The op records, in the registry's order.
OP_RECORDS: tuple[Subject, ...] = (
    Subject(name="ops.take", kind="op", call="function", args={"axis": None},
            reference="op.take", refusals=INDEX_REFUSALS,
            refusal_patterns=INDEX_PATTERNS, doc=OPS + " (take; numpy.take semantics)"),
    Subject(name="ops.take_along_axis", kind="op", call="function", args={"axis": None},
            reference="op.take_along_axis", refusals=INDEX_REFUSALS,
            refusal_patterns=INDEX_PATTERNS, doc=OPS + " (take_along_axis)"),
    Subject(name="ops.one_hot", kind="op", call="function",
            args={"num_classes": None}, required=("num_classes",),
            reference="op.one_hot", refusals=INDEX_REFUSALS,
            doc=f"{KERAS}ops/nn.py (one_hot; tf.one_hot's rule for ids out of range)"),
    Subject(name="ops.multi_hot", kind="op", call="function",
            args={"num_classes": None}, required=("num_classes",),
            reference="op.multi_hot", refusals=INDEX_REFUSALS,
            doc=f"{KERAS}ops/nn.py (multi_hot)"),
    Subject(name="ops.segment_sum", kind="op", call="function",
            args={"num_segments": None}, required=("num_segments",),
            reference="op.segment_sum",
            refusals=INDEX_REFUSALS, refusal_patterns=INDEX_PATTERNS, tolerance_kind="pooling",
            doc=f"{KERAS}ops/math.py (segment_sum)"),
    Subject(name="ops.segment_max", kind="op", call="function",
            args={"num_segments": None}, required=("num_segments",),
            reference="op.segment_max",
            refusals=INDEX_REFUSALS, refusal_patterns=INDEX_PATTERNS,
            doc=f"{KERAS}ops/math.py (segment_max)"),
    Subject(name="ops.bincount", kind="op", call="function", output_dtype=None,
            args={"minlength": None},
            reference="op.bincount", refusals=INDEX_REFUSALS,
            refusal_patterns=INDEX_PATTERNS, doc=OPS + " (bincount; numpy.bincount)"),
    Subject(name="ops.argmax", kind="op", call="function", output_dtype=None, args={"axis": None},
            reference="argop.argmax", doc=OPS + " (argmax)"),
    Subject(name="ops.argmin", kind="op", call="function", output_dtype=None, args={"axis": None},
            reference="argop.argmin", doc=OPS + " (argmin)"),
    Subject(name="ops.argsort", kind="op", call="function", output_dtype=None, args={"axis": None},
            reference="argop.argsort", doc=OPS + " (argsort)"),
    Subject(name="ops.top_k", kind="op", call="function", output_dtype=None, args={"k": None},
            reference="top_k", doc=f"{KERAS}ops/math.py (top_k: values, then indices)"),
    Subject(name="ops.searchsorted", kind="op", call="function", output_dtype=None,
            args={"side": ("left", "right")}, reference="searchsorted",
            doc=OPS + " (searchsorted)"),
    Subject(name="ops.digitize", kind="op", call="function", output_dtype=None, args={"bins": None},
            required=("bins",), reference="digitize", doc=OPS + " (digitize)"),
)
