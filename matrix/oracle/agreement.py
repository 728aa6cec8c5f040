"""Judging a case that has no reference: by agreement across the environments that ran it.

A case with an open step (a Keras callable no hand-written record models:
`cases.subjects.open_subject`) has no NumPy answer. Each of its cells records what came out
(`fingerprint`, kept in `Observation.fingerprint`: the elements themselves for a small output,
a digest of them rounded for a large one), and the verdict `no_reference`. When the report
merges the run files, the cells of such a case are compared with each other
(`judge_by_agreement`):

- `agreed`: every environment that answered (values or an error) answered alike: the same
  error type, or values of the same shape and dtype, equal within `TOLERANCES`;
- `disagreed`: they did not; each cell's detail lists who answered what
  ("tensorflow-cpu raises ValueError; jax-cpu, torch-cpu return int32 (3,)");
- `unjudged`: a single environment answered, so there is nothing to compare yet.

Neither is `passed`: agreement says the backends behave alike, not that they are right.
A crash, a timeout, a harness error or a skip is left as it is and takes no part.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matrix.records import EnvironmentInfo, Observation, Result

#: Outputs up to this many elements keep every element in the fingerprint; larger ones keep
#: a digest of their elements rounded to `DIGEST_DIGITS` significant digits.
SMALL = 256
DIGEST_DIGITS = 4
#: (relative, absolute) tolerance between two backends' floats, by Keras dtype: float32
#: results of one program on two backends differ by reassociation (summation order) and by
#: their libm; 1e-4 relative is about 800 float32 ulps. Integers and bools must be equal.
TOLERANCES = {"float16": (1e-2, 1e-3), "bfloat16": (2e-2, 1e-2), "float32": (1e-4, 1e-5),
              "float64": (1e-9, 1e-12)}


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return repr(value)
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    try:
        return format(float(value), ".9g")
    except (TypeError, ValueError):
        return str(value)


def fingerprint(output: Any) -> dict[str, Any]:
    """What an output was, compact enough for a run file.

    Args:
        output: the program's output as NumPy (any shape and dtype; strings too).

    Returns:
        `{"values": [text, ...]}` (C order) for at most `SMALL` elements, else
        `{"digest": sha256 hex, "size": n}` of the elements rounded to `DIGEST_DIGITS`
        significant digits (two outputs within rounding of a digit boundary get different
        digests: a large output can read `disagreed` where a small one would agree).
    """
    flat = np.asarray(output).reshape(-1)
    if flat.size <= SMALL:
        return {"values": [_text(v) for v in flat.tolist()]}
    if flat.dtype.kind == "f" or "float" in str(flat.dtype):
        flat = np.asarray(flat, dtype=np.float64)
        texts = [format(v, f".{DIGEST_DIGITS}g") for v in flat.tolist()]
    else:
        texts = [_text(v) for v in flat.tolist()]
    digest = hashlib.sha256("\n".join(texts).encode("utf-8")).hexdigest()
    return {"digest": digest, "size": int(flat.size)}


def _close(a: str, b: str, dtype: str | None) -> bool:
    if a == b:
        return True
    try:
        x, y = float(a), float(b)
    except ValueError:
        return False
    if math.isnan(x) or math.isnan(y) or math.isinf(x) or math.isinf(y):
        return False  # equal NaN or infinities were equal as text
    rel, tol = TOLERANCES.get(dtype or "", (0.0, 0.0))
    return abs(x - y) <= tol + rel * max(abs(x), abs(y))


def alike(a: Observation, b: Observation) -> bool:
    """Whether two answers to a case with no reference are the same answer."""
    if a.kind != b.kind:
        return False
    if a.kind == "error":
        return a.error_type == b.error_type
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    fa, fb = a.fingerprint or {}, b.fingerprint or {}
    if "values" in fa and "values" in fb:
        return len(fa["values"]) == len(fb["values"]) and all(
            _close(x, y, a.dtype) for x, y in zip(fa["values"], fb["values"], strict=True))
    return bool(fa.get("digest")) and fa.get("digest") == fb.get("digest")


def answer(observation: Observation) -> str:
    """An answer in a few words: `raises ValueError`, `returns int32 (3,)`."""
    if observation.kind == "error":
        return f"raises {observation.error_type}"
    shape = tuple(observation.shape or ())
    nan = f" with {observation.nan_count} NaN" if observation.nan_count else ""
    values = (observation.fingerprint or {}).get("values") or []
    more = ", …" if len(values) > 4 else ""
    shown = f" [{', '.join(values[:4])}{more}]" if values else ""
    return f"returns {observation.dtype} {shape}{shown}{nan}"


def judge_by_agreement(results: Sequence[Result], environments: Sequence[EnvironmentInfo]
                       ) -> list[Result]:
    """The results with every `no_reference` cell that answered judged against the others of
    its case in its version channel (`latest`, `nightly`, `minimum`: backends are compared,
    not Keras versions): `agreed`, `disagreed` or `unjudged` (see the module docstring)."""
    from matrix.records import Outcome

    order = {e.id: i for i, e in enumerate(environments)}
    channel = {e.id: e.channel for e in environments}
    answered: dict[tuple[str, str], list[Result]] = {}
    for result in results:
        if result.verdict.status == "no_reference" and result.observed.kind in ("value",
                                                                                 "error"):
            key = (result.case, channel.get(result.environment, "latest"))
            answered.setdefault(key, []).append(result)
    judged: dict[tuple[str, str], Result] = {}
    for (case, _), cells in answered.items():
        cells = sorted(cells, key=lambda r: order.get(r.environment, len(order)))
        groups: list[list[Result]] = []
        for cell in cells:
            home = next((g for g in groups if alike(g[0].observed, cell.observed)), None)
            if home is None:
                groups.append([cell])
            else:
                home.append(cell)
        if len(cells) == 1:
            outcome = Outcome.UNJUDGED
            detail = (f"no reference, and {cells[0].environment} alone answered "
                      f"({answer(cells[0].observed)}): nothing to compare with")
        elif len(groups) == 1:
            outcome = Outcome.AGREED
            detail = (f"no reference; the {len(cells)} environments that answered agree: "
                      f"{answer(cells[0].observed)}")
        else:
            outcome = Outcome.DISAGREED
            detail = "no reference; backends disagree: " + "; ".join(
                f"{', '.join(c.environment for c in g)} {answer(g[0].observed)}"
                for g in groups)
        for cell in cells:
            judged[(case, cell.environment)] = replace(
                cell, outcome=outcome, verdict=replace(cell.verdict, detail=detail))
    return [judged.get((r.case, r.environment), r) for r in results]
