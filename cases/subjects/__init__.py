"""The catalog's one registry of records: one per Keras API under test.

A record (`Subject`, `cases.subjects.base`: what it holds and why) is the single source of
truth about one Keras layer, op, loss, metric or utility. The records are written by kind:

- `cases/subjects/layers.py`: layers (`keras.layers.*`, and custom layers whose class the
  program defines) with their weight-shape functions;
- `cases/subjects/ops.py`: `keras.ops` functions with a hand-written reference (an op with a
  NumPy twin needs none: the op table's, `table_subject`);
- `cases/subjects/losses.py`: losses and metrics;
- `cases/subjects/utilities.py`: host utilities (`keras.utils.*`).

This package gathers them (`SUBJECTS`, in that written order: core layers, utilities, ops,
losses and metrics, the layers of the integer and mask path), picks the record a step is
judged by (`record_of`: the written one, the op table's, or the open record of any public
Keras callable, `open_subject`), and re-exports the names other modules use. Adding an API
is one record in its kind module, its reference in the oracle (`matrix/oracle/`), plus the
loops of its family module. NumPy only: no framework is imported, and nothing of `matrix`.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from cases import op_table
from cases.model import Nested, Step
from cases.subjects.base import (
    INDEX_ERRORS,
    INDEX_PATTERNS,
    KERAS,
    Array,
    CallConvention,
    Kind,
    Shapes,
    Subject,
    input_array,
    pad_sequences,
    render_value,
    rnn_weight_shapes,
)
from cases.subjects.layers import LAYERS, PATH_LAYERS, cells, rnn_weights
from cases.subjects.losses import LOSSES
from cases.subjects.ops import OP_RECORDS
from cases.subjects.utilities import UTILITIES

__all__ = [
    "INDEX_ERRORS", "INDEX_PATTERNS", "KERAS", "KERAS_API", "OPEN_NAME", "OPEN_NAMESPACES",
    "SUBJECTS", "Array", "CallConvention", "Kind", "Shapes", "Subject", "catalog_functions",
    "cells", "input_array", "models", "open_subject", "pad_sequences", "record_of",
    "render_value", "rnn_weight_shapes", "rnn_weights", "table_subject",
]

# --- the open catalog: any public Keras callable, without a record ---------------------------

#: The Keras namespaces an open step may call, as typed after `keras.` (`ops.floor_divide`,
#: `layers.Dense`, `activations.relu`, `utils.to_categorical`, `losses.Huber`, ...).
OPEN_NAMESPACES = ("ops", "layers", "losses", "metrics", "activations", "utils")
OPEN_NAME = re.compile(rf"(?:{'|'.join(OPEN_NAMESPACES)})\.[A-Za-z][A-Za-z0-9_]*")
KERAS_API = "https://keras.io/api/"


@functools.cache
def open_subject(name: str) -> Subject:
    """The record of a Keras callable that has no hand-written one, from its name alone.

    `layers.X` (a class) is constructed, then called on its input (a list of them when a
    step has several); `losses.X` and `metrics.X` classes are constructed, then called or
    updated; every other name is a function called on the step's inputs with its `args` as
    keywords. `utils.*` runs on the host, before the model. Whether the name exists in the
    installed Keras is checked where Keras is imported (`cases.load.resolve_open_names`,
    at the run's collection).

    Raises:
        KeyError: the name is not `<namespace>.<identifier>` in `OPEN_NAMESPACES`.
    """
    if not OPEN_NAME.fullmatch(name):
        raise KeyError(f"{name!r} is not a Keras callable as typed after `keras.` in one of "
                       f"{', '.join(OPEN_NAMESPACES)} (e.g. ops.floor_divide, layers.Dense)")
    namespace, attr = name.split(".")
    is_class = attr[:1].isupper()
    kind: Kind = "utility" if namespace == "utils" else "op"
    call: CallConvention = "function"
    if is_class and namespace == "layers":
        kind, call = "layer", "open"
    elif is_class and namespace == "losses":
        kind, call = "loss", "single"
    elif is_class and namespace == "metrics":
        kind, call = "metric", "metric"
    return Subject(name=name, kind=kind, call=call, reference="no_reference", output_dtype=None,
                   host=namespace == "utils", open=True, tolerance_kind="recurrent",
                   doc=f"{KERAS_API}{namespace}/")


def _running_rule(name: str, dtypes: Sequence[str]) -> str:
    """The op's result dtype under the contract of this process's Keras backend (TensorFlow
    keeps 64-bit results, torch sums uint32 as int32: `op_table.output_dtype`)."""
    return op_table.output_dtype(name, dtypes, op_table.running_backend())


@functools.cache
def table_subject(name: str) -> Subject | None:
    """The record of a `keras.ops` function the op table gives a NumPy reference
    (`cases/op_table.json`), or None."""
    spec = op_table.entry(name)
    if spec is None:
        return None
    return Subject(name=name, kind="op", call="function",
                   args=dict.fromkeys(spec.get("args", ())), reference="op_table",
                   output_dtype=None, tolerance_kind="recurrent",
                   dtype_rule=functools.partial(_running_rule, name),
                   doc=op_table.table()["source"])


def models(record: Subject, step: Step) -> bool:
    """Whether a hand-written record models every argument a step gives (its `args`, their
    values, its call arguments). A layer's required argument left out is the catalog's
    error (`cases.load`); a function's may come as a tensor input instead."""
    for key, value in step.args.items():
        if key not in record.args:
            return False
        allowed = record.args[key]
        if allowed is not None and value not in allowed:
            return False
        if isinstance(value, Nested) and not (value.subject in SUBJECTS and models(
                SUBJECTS[value.subject], Step(subject=value.subject, args=value.args))):
            return False
    if record.call == "function" and any(r not in step.args for r in record.required):
        return False  # `ops.digitize(x, bins)` with bins as a tensor: not the record's call
    return all(k in record.call_args for k in step.call)


def record_of(step: Step) -> Subject:
    """The record a step is judged by: the hand-written one (or the op table's, for a NumPy
    twin in `keras.ops`) when it models the step's arguments, else the open record of its
    name (no reference: judged by agreement).

    Raises:
        KeyError: the subject has no record and is no open name (`open_subject`).
    """
    written = _WRITTEN.get(step.subject) or table_subject(step.subject)
    if written is not None and (written.source is not None or models(written, step)):
        return written
    return open_subject(step.subject)


def written(subject: str) -> bool:
    """Whether a subject has a hand-written record (`_WRITTEN`): Keras has had it since the
    oldest release this project runs (the `minimum` channel), where a table or open subject
    (`ops.hypot`) may be newer than the installed Keras."""
    return subject in _WRITTEN


def catalog_functions(step: Step) -> Iterator[Callable[..., Any]]:
    """The functions a step passes as arguments (a `standardize=` callable), nested included."""
    for value in (*step.args.values(), *step.call.values()):
        if inspect.isfunction(value):
            yield value
        elif isinstance(value, Nested):
            yield from catalog_functions(Step(subject=value.subject, args=value.args))


class _Registry(Mapping[str, Subject]):
    """Every hand-written record by name; looking up another Keras callable's name gives its
    open record (`open_subject`). `in`, `len` and iteration see the written records only."""

    def __init__(self, records: Mapping[str, Subject]) -> None:
        self._records = records

    def __getitem__(self, name: str) -> Subject:
        found = self._records.get(name)
        return found if found is not None else open_subject(name)

    def __contains__(self, name: object) -> bool:
        return name in self._records

    def __iter__(self) -> Iterator[str]:
        return iter(self._records)

    def __len__(self) -> int:
        return len(self._records)


_WRITTEN: Mapping[str, Subject] = {
    s.name: s for s in (*LAYERS, *UTILITIES, *OP_RECORDS, *LOSSES, *PATH_LAYERS)}
#: Every record by name (hand-written; an open name looks up its open record).
SUBJECTS: Mapping[str, Subject] = _Registry(_WRITTEN)
