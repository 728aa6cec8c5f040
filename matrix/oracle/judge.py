"""The judge: an observation against the oracle's answer gives a cell's raw `Verdict`.

`judge(want, observation)` compares what a backend did (`matrix.records.Observation`) with
what the reference says (`matrix.oracle.expect.Expected`): values within the tolerance, of
the expected shape and dtype; or an error of an accepted type, at the refusing step.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from matrix.oracle.expect import AGREEMENT, Expected, ExpectedError
from matrix.oracle.tolerance import compare
from matrix.records import Observation, Verdict

__all__ = ["at_refusing_step", "judge", "matched_alternatives"]


def judge(want: Expected, observation: Observation) -> Verdict:
    """Compares an observation with the reference's answer: the raw verdict of a cell.

    - A refusing reference matches only an error of one of its types (and pattern); another
      error is `refused_other_reason`, values are `values_where_refused` (silent).
    - An error of type `HarnessError` is the harness's, never the backend's answer.
    - Values must be within the tolerance, of the expected shape and dtype. The dtype is
      judged apart from the values: a dtype that differs where the values match is cause
      `dtype`; where both differ, cause `values_differ` with the dtype named in the detail.
    """
    if observation.kind == "error" and observation.error_type == "HarnessError":
        return Verdict(status="harness_error", detail=observation.message)
    if observation.kind in ("crash", "timeout"):
        return Verdict(status="crashed" if observation.kind == "crash" else "timeout",
                       detail=observation.message)
    if want.kind == AGREEMENT:
        return Verdict(status="no_reference",
                       detail="no reference: judged by agreement across backends when the "
                              "report merges the run files")
    if want.error is not None:
        return _judge_refusal(want.error, observation)
    if observation.kind == "error":
        return Verdict(status="mismatched", cause="error_where_values_expected",
                       detail=f"the reference expects values, the backend raised "
                              f"{observation.error_type}: {observation.message}")
    expected_shape = None if want.values is None else list(np.shape(want.values))
    if observation.shape != expected_shape:
        return Verdict(status="mismatched", cause="shape",
                       detail=f"the output has shape {observation.shape}, the reference "
                              f"{expected_shape}")
    if observation.max_abs_error is None:
        return Verdict(status="harness_error",
                       detail="the output could not be compared with the reference")
    if observation.max_abs_error > want.tolerance:
        return Verdict(status="mismatched", cause="values_differ",
                       detail=f"values differ from the reference: max abs error "
                              f"{observation.max_abs_error:.3g} > tolerance "
                              f"{want.tolerance:g}, {observation.nan_count or 0} NaN"
                              f"{_dtype_too(want, observation)}")
    if want.dtype is not None and observation.dtype != want.dtype:
        return Verdict(status="mismatched", cause="dtype",
                       detail=f"the output dtype is {observation.dtype}, the reference "
                              f"expects {want.dtype}")
    return Verdict(status="matched")


def matched_alternatives(want: Expected, observation: Observation,
                         output: np.ndarray[Any, Any]) -> dict[str, bool] | None:
    """Whether an output matched each of the reference's alternatives (`Expected.
    alternatives`): of its shape, values within its tolerance, and of its dtype. None where
    the reference has none.

    Args:
        observation: what the run observed (its `dtype`, a Keras dtype name).
        output: the output as NumPy, any shape.
    """
    if not want.alternatives:
        return None
    found = {}
    for name, alt in want.alternatives.items():
        values = np.asarray(alt.values)
        same_shape = values.shape == np.shape(output)
        found[name] = same_shape and compare(
            values.astype(np.float64), np.asarray(output).astype(np.float64))[0] \
            <= alt.tolerance and (alt.dtype is None or observation.dtype == alt.dtype)
    return found


def _dtype_too(want: Expected, observation: Observation) -> str:
    """The result dtype, judged apart from the values: where both differ, the verdict's cause
    stays `values_differ` and its detail says the dtype differs too (issue 26)."""
    if want.dtype is None or observation.dtype == want.dtype:
        return ""
    return f"; and the output dtype is {observation.dtype}, the reference expects {want.dtype}"


def _where(observation: Observation) -> str:
    if observation.stage == "step":
        return f"at step {observation.step} ({observation.step_name})"
    return f"in the {observation.stage or 'program'}"


def at_refusing_step(error: ExpectedError, observation: Observation) -> bool:
    """Whether an error was raised where the reference refuses.

    At the same step; or, where the refusing step is a layer, by the model over the steps
    (`predict`, `fit`, ...) or while its output was converted (a backend may run lazily).
    An observation that does not say where (a test-only runner, an older run) is taken as
    raised there.
    """
    if error.step is None or observation.stage is None:
        return True
    if observation.stage == "step":
        return observation.step == error.step
    return observation.stage in ("model", "output") and error.in_model


def _judge_refusal(error: ExpectedError, observation: Observation) -> Verdict:
    if observation.kind == "value":
        nan = f", {observation.nan_count} NaN" if observation.nan_count else ""
        return Verdict(status="mismatched", cause="values_where_refused",
                       detail=f"silent divergence: the reference refuses this input "
                              f"({error.reason}) but the backend returned values of shape "
                              f"{observation.shape}{nan}")
    message = observation.message or ""
    own = error.patterns.get(observation.error_type or "")
    if observation.error_type in error.types and (
            error.pattern is None or re.search(error.pattern, message)) and (
            own is None or re.search(own, message)):
        if at_refusing_step(error, observation):
            return Verdict(status="matched")
        return Verdict(status="mismatched", cause="refused_other_reason",
                       detail=f"refused at another step: the backend raised "
                              f"{observation.error_type} {_where(observation)}: {message} "
                              f"(the reference refuses at step {error.step} "
                              f"({error.step_name}): {error.reason})")
    return Verdict(status="mismatched", cause="refused_other_reason",
                   detail=f"refused, but for another reason: the backend raised "
                          f"{observation.error_type}: {message} (the reference expects "
                          f"{' or '.join(error.types)}: {error.reason})")
