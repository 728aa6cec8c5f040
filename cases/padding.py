"""`keras.utils.pad_sequences` itself: padding and truncating, `maxlen`, `value`, `dtype`.

The padded ids every masked case is fed come from this function, so it is checked on its own
against a NumPy reference (`cases.subjects.pad_sequences`): `padding` and `truncating` "pre" and
"post", `maxlen` shorter and longer than the sequences, a `value` other than 0, its default
dtype (int32) and an explicit one. It runs on the host (NumPy), the same on every backend.
"""

from __future__ import annotations

from typing import Any

from cases.model import Case, Step, Tensor

SEQUENCES = ((1, 2, 3, 4), (5, 6), (7,))


def _case(pad: dict[str, Any], axes: dict[str, str | int], sequences: Any = SEQUENCES,
          source: str | None = None) -> Case:
    args = ", ".join(f"{k}={v!r}" for k, v in pad.items())
    sep = ", " if args else ""
    dtype = str(pad.get("dtype", "int32"))
    return Case(
        group="pad-sequences",
        description=f"keras.utils.pad_sequences({[list(s) for s in sequences]}{sep}{args})",
        axes={"subject": "utils.pad_sequences", "layer": "pad_sequences", **axes,
              "mode": "eager"},
        inputs={"sequences": Tensor(dtype="bytes" if dtype == "S1" else "int32",
                                    values=sequences, sequences=True)},
        steps=(Step("utils.pad_sequences", inputs=("sequences",), output="ids", args=pad),),
        mode="eager", source=source,
    )


def cases() -> list[Case]:
    """Padding × truncating × maxlen, then value and dtype."""
    out = []
    for padding in ("pre", "post"):
        for truncating in ("pre", "post"):
            for maxlen in (None, 2, 6):
                pad: dict[str, Any] = {"padding": padding, "truncating": truncating}
                if maxlen is not None:
                    pad["maxlen"] = maxlen
                out.append(_case(pad, {"padding": padding, "truncating": truncating,
                                       "maxlen": str(maxlen)}))
    out.append(_case({}, {"option": "defaults"}))
    out.append(_case({"value": -1}, {"option": "value_-1"}))
    out.append(_case({"dtype": "int64"}, {"option": "dtype_int64"}))
    out.append(_case({"dtype": "float32", "value": 0.5}, {"option": "dtype_float32_value_0.5"}))
    out.append(bytes_case())
    out.append(_case({"maxlen": 4}, {"batch": "empty", "option": "maxlen_4"}, sequences=()))
    return out


BYTES = ((b"a", b"b", b"c"), (b"d",), ())


def bytes_case() -> Case:
    """Byte strings padded with a bytes `value` and a bytes dtype (keras-team/keras#23092)."""
    return _case({"dtype": "S1", "value": b"-", "padding": "post"},
                 {"option": "bytes_value_and_dtype"}, sequences=BYTES,
                 source="https://github.com/keras-team/keras/pull/23092")
