"""The oracle's registry: the NumPy reference a catalog record names by key.

A record of the catalog (`cases.subjects.Subject`) is data: it names its reference by a string
(`Subject.reference`, `Subject.mask`), and this module resolves the string to the function that
computes it. `op_table` names the op table's NumPy twin of a `keras.ops` function
(`cases/op_table.json`, computed by `matrix.oracle.op_refs`); `no_reference` names none (an
open record, judged by agreement across backends).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cases.model import NoReference, NotModelled
from cases.subjects import Subject
from matrix.oracle import op_refs, path_refs, subject_refs
from matrix.oracle.arrays import AnyArray, Value
from matrix.oracle.subject_refs import Reference

__all__ = ["OP_TABLE", "REFERENCES", "reference_of"]

#: The key of a table op's reference: the op table computes it from the record's name.
OP_TABLE = "op_table"


def _no_reference(args: Mapping[str, Any], inputs: Sequence[Value], w: Sequence[AnyArray],
                  call: Mapping[str, Any]) -> Value:
    raise NoReference("no record models this call")


#: Every reference by the key a record names.
REFERENCES: Mapping[str, Reference] = {
    **subject_refs.REFERENCES, **path_refs.REFERENCES, "no_reference": _no_reference}


def reference_of(record: Subject, method: str = "call") -> Reference:
    """The NumPy reference of a record: its `mask` for `compute_mask`, else its `reference`.

    Raises:
        NotModelled: the record names no mask reference (`compute_mask` not modelled).
        KeyError: the record names a key this registry does not hold.
    """
    key = record.mask if method == "compute_mask" else record.reference
    if key is None:
        raise NotModelled(f"{record.name}.{method} has no reference")
    if key == OP_TABLE:
        return op_refs.table_reference(record.name)
    if key not in REFERENCES:
        raise KeyError(f"{record.name}: no reference has the key {key!r}; known: "
                       f"{', '.join(sorted(REFERENCES))}")
    return REFERENCES[key]
