"""`keras.utils.pad_sequences` itself: padding and truncating, `maxlen`, `value`, `dtype`.

The padded ids every masked case is fed come from this function, so it is checked on its own
against a NumPy reference (`cases.expect.pad_sequences`): `padding` and `truncating` "pre" and
"post", `maxlen` shorter and longer than the sequences, a `value` other than 0, its default
dtype (int32) and an explicit one. It runs on the host (NumPy), the same on every backend.
"""

from __future__ import annotations

from typing import Any

from cases.core import Case, InputSpec
from cases.embedding import embedding

SEQUENCES = ((1, 2, 3, 4), (5, 6), (7,))


def _case(pad: dict[str, Any], axes: dict[str, str | int]) -> Case:
    args = ", ".join(f"{k}={v!r}" for k, v in pad.items())
    sep = ", " if args else ""
    return Case(
        group="pad-sequences",
        description=f"keras.utils.pad_sequences({[list(s) for s in SEQUENCES]}{sep}{args})",
        axes={"layer": "pad_sequences", **axes, "mode": "eager"},
        layers=(embedding(),),  # unused: the check is the padded ids themselves
        input=InputSpec(dtype=str(pad.get("dtype", "int32")), sequences=SEQUENCES),
        mode="eager", check="ids", pad=pad,
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
    return out


BYTES = ((b"a", b"b", b"c"), (b"d",), ())


def bytes_case() -> Case:
    """Byte strings padded with a bytes `value` and a bytes dtype (keras-team/keras#23092)."""
    pad = {"dtype": "S1", "value": b"-", "padding": "post"}
    return Case(
        group="pad-sequences",
        description=f"keras.utils.pad_sequences({[list(s) for s in BYTES]}, dtype='S1', "
                    "value=b'-', padding='post')",
        axes={"layer": "pad_sequences", "option": "bytes_value_and_dtype", "mode": "eager"},
        layers=(embedding(),), input=InputSpec(dtype="int32", sequences=BYTES),  # type: ignore[arg-type]
        mode="eager", check="ids", pad=pad,
        source="https://github.com/keras-team/keras/pull/23092",
    )
