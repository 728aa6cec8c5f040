"""The utility records: Keras functions that run on the host, before the model.

`keras.utils.pad_sequences` (called on ragged sequences; its NumPy reference is
`cases.subjects.base.pad_sequences`, by key `pad_sequences` in
`matrix/oracle/subject_refs.py`). NumPy only: nothing of `matrix`.
"""

from __future__ import annotations

from cases.subjects.base import KERAS, Subject

#: The utility records, in the registry's order.
UTILITIES: tuple[Subject, ...] = (
    Subject(name="utils.pad_sequences", kind="utility", call="function", host=True,
            args={"padding": ("pre", "post"), "truncating": ("pre", "post"), "maxlen": None,
                  "value": None, "dtype": None},
            reference="pad_sequences", tolerance_kind="mask",
            doc=f"{KERAS}utils/sequence_utils.py"),
)
