"""Known divergences as data: where a backend (or Keras everywhere) differs from the reference.

A `Limitation` has an `id`, selects cells by backend, device and case axes, says in one line
why, and links the public report or source that explains it. Limitations are joined to the
raw verdicts when the matrix is merged (`matrix.results.triage`, the wpt.fyi metadata
model), never during a run: a mismatched cell it covers is `xfailed`, a matched one `xpassed` (the
limitation is stale), and rewording, adding or removing one re-triages committed run files
without rerunning. A limitation that covers no case fails the harness tests. This is the
`Limitation` idea of JAX's test harnesses, checked against what was observed.

The records live in one module per backend (`tensorflow`, `jax`, `torch`, `numpy`,
`openvino`) and `common` for those spanning several backends or Keras everywhere; their types
and shared names in `base`. This module is the registry: `ORDER` says which a cell takes
first.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from cases.limitations import common, jax, numpy, openvino, tensorflow, torch
from cases.limitations.base import Behaviour, Limitation

__all__ = ["BEHAVIOURS_FILE", "LIMITATIONS", "ORDER", "WRITTEN_LIMITATIONS", "Behaviour",
           "Limitation", "ordered", "with_observed_behaviours"]

#: Every limitation's id, in the order a cell takes the first that covers it (a specific
#: record before a general one it overlaps). A new record is added to its backend's module
#: and here.
ORDER: tuple[str, ...] = (
    "tf-index-dtypes",
    "tf-index-dtypes-in-a-graph",
    "tf-segment-sum-int16-drops-negative",
    "tf-segment-max-int16",
    "openvino-segment-ops-functional",
    "numpy-segment-ops-symbolic-build",
    "segment-ops-not-symbolic",
    "numpy-digitize-symbolic-build",
    "digitize-list-bins-not-symbolic",
    "index-ops-accept-float-indices",
    "take-along-axis-and-bincount-accept-float-indices",
    "take-along-axis-wraps-float-indices",
    "torch-one-hot-uint64-in-a-graph",
    "torch-take-accepts-float-indices",
    "segments-accept-float-ids-eagerly",
    "torch-take-along-axis-no-bounds-check",
    "xla-take-along-axis-jit",
    "torch-one-hot-refuses-out-of-range",
    "numpy-category-encoding-index-error",
    "openvino-category-encoding-no-range-check",
    "category-encoding-no-range-check",
    "tf-segment-drops-negative-ids",
    "jax-segment-drops-out-of-range-ids",
    "torch-segment-ignores-ids-past-num-segments",
    "openvino-bincount-negative",
    "bincount-negative-values",
    "tf-bincount-negative-under-xla",
    "torch-bincount-floats",
    "jax-bincount-not-compilable",
    "tf-searchsorted-nd-values",
    "tf-searchsorted-values-dtype",
    "tf-searchsorted-int-values-under-xla",
    "jax-float64-computed-in-float32",
    "predict-casts-float64-to-float32",
    "jax-bool-indices",
    "jax-sparse-crossentropy-out-of-range",
    "jax-top-k-accuracy-negative-label",
    "lookup-layers-need-tensorflow",
    "predict-refuses-numpy-strings",
    "predict-empty-batch",
    "tf-lstm-empty-batch",
    "rnn-single-gru-cell-reset-before",
    "jax-rnn-single-gru-cell-reset-before",
    "torch-unroll-go-backwards-mask",
    "xla-gather-clamps-jit",
    "xla-gather-clamps-jit-embedding",
    "xla-gather-clamps-negative-jit",
    "xla-gather-clamps-negative-jit-embedding",
    "jax-x64-still-wraps-int64",
    "jax-int32-wraps-past-2-32",
    "torch-embedding-casts-int64-to-int32",
    "tf-embedding-casts-uint64-to-int32",
    "embedding-casts-uint64-to-int32-inference",
    "openvino-gather-fills-zeros",
    "openvino-gather-fills-zeros-negative",
    "openvino-take-along-axis-out-of-range",
    "openvino-take-along-axis-fills-zeros-negative",
    "openvino-segment-ops-uint32",
    "numpy-negative-ids-ignored",
    "openvino-8bit-indices",
    "openvino-segment-ids-dtype",
    "openvino-segment-sum-int64-ids",
    "openvino-segment-ops-no-range-check",
    "openvino-index-ops-non-integer-indices",
    "openvino-multi-hot-functional",
    "openvino-scce-no-label-check",
    "openvino-top-k-accuracy-bad-labels",
    "openvino-empty-batch-aborts",
    "openvino-multi-hot-predict-symbolic",
    "numpy-one-hot-out-of-range-index-error",
    "numpy-in-top-k-out-of-range-index-error",
    "numpy-rnn-gru-reset-before",
    "numpy-index-ops-non-integer-indices",
    "numpy-index-ops-bool-indices",
    "numpy-segment-ops-float-ids-eager",
    "numpy-top-k-float64-predict",
    "openvino-top-k-float64",
    "openvino-bfloat16-policy-predict",
    "jax-take-fills-nan",
    "jax-take-fills-nan-embedding",
    "jax-take-fills-nan-negative",
    "jax-take-fills-nan-negative-embedding",
    "take-wraps-negative-ids",
    "embedding-truncates-fractional-ids",
    "lstm-floatx-bfloat16-qr",
    "attention-masked-embedding-before-3-12",
    "concatenate-masked-inputs-before-3-12",
    "global-average-pooling-empty-batch-before-3-15",
    "torch-scce-negative-label-before-3-14",
    "torch-multi-hot-int64-before-3-14",
    "jax-stacked-rnn-cells-mask-before-3-10",
    "tf-searchsorted-nd-values-jit-before-3-12",
    "keras-nightly-rnn-drops-output-mask",
    "time-distributed-drops-mask",
    "lstm-use-cudnn-on-cpu",
    "lstm-use-cudnn-masked-jax-torch-gpu",
    "torch-cuda-index-device-side-assert",
    "torch-cuda-take-device-side-assert",
    "torch-cuda-sparse-crossentropy-device-side-assert",
    "global-max-pooling-ignores-mask",
    "torch-no-uint64",
    "torch-no-uint64-embedding",
    "torch-no-uint64-ops",
    "torch-uint16-uint32-results-signed",
    "torch-int64-arithmetic-not-narrowed",
    "torch-int64-bitwise-not-narrowed",
    "torch-float64-arithmetic-not-narrowed",
    "torch-float64-unary-not-narrowed",
    "torch-sum-keeps-int64",
    "torch-bool-power-round-hypot-refused",
    "torch-sign-of-nan-is-zero",
    "torch-round-integer-through-float32",
    "torch-float64-mean-in-float32",
    "torch-std-of-float-limits-finite",
    "torch-cumprod-inf-times-zero",
    "torch-ceil-float64-before-narrowing",
    "torch-nightly-hypot-int64-cut-to-32-bits",
    "torch-nightly-int64-limit-divisor-zero",
    "torch-floor-divide-64-bit-before-narrowing",
    "torch-float64-results-before-keras-3-12",
    "torch-int64-results-before-keras-3-12",
    "torch-float64-unary-results-before-keras-3-12",
    "torch-uint32-prod-int64-before-keras-3-12",
    "torch-integer-to-float-ignores-floatx",
    "torch-floatx-float64-results-before-keras-3-12",
    "prod-cumsum-cumprod-narrow-64-bit",
    "openvino-nan-second-operand-dropped",
    "openvino-float64-unary-not-narrowed",
    "openvino-sum-keeps-64-bit",
    "openvino-int32-past-float16-range-is-zero",
    "openvino-arctan2-logaddexp-infinities-nan",
    "openvino-floor-divide-floor-of-quotient",
    "openvino-integer-floor-divide-truncates",
    "openvino-uint32-saturated-to-int32",
    "openvino-small-integer-overflow-saturates",
    "openvino-integer-cumprod-through-float32",
    "openvino-bool-arithmetic-refused",
    "openvino-unconvertible-integer-results",
    "openvino-negative-unsigned-unconvertible",
    "openvino-reduce-max-min-skip-nan",
    "openvino-small-integer-reciprocal-integer-division",
    "openvino-integer-round-through-float32",
    "openvino-integer-square-through-float32",
    "openvino-integer-power-overflow-not-wrapped",
    "openvino-floor-divide-bool-by-small-integer-int32",
    "openvino-floor-divide-int64-limits-unconvertible",
    "openvino-float-mod-of-large-values",
    "openvino-bool-hypot-float32",
    "openvino-float64-limits-infinities-nan",
    "openvino-cumprod-of-float-limits",
    "openvino-std-float16-limits-finite",
    "openvino-var-std-uint64-limits-inf",
    "openvino-uint32-sum-limits",
    "openvino-int64-negative-limits",
    "openvino-integer-to-float-in-floatx",
    "openvino-floatx-float64-computed-in-float32",
    "reciprocal-keeps-float16",
    "reciprocal-keeps-float64",
    "tf-reciprocal-integer-refused",
    "tf-negative-unsigned-refused",
    "tf-bool-arithmetic-refused",
    "tf-hypot-infinity-gives-nan",
    "tf-floor-divide-floor-of-quotient",
    "tf-floor-divide-subnormal-quotient-flushed",
    "tf-sum-uint64-kept",
    "tf-prod-uint64-narrowed",
    "tf-sign-uint64-refused",
    "tf-sign-uint32-signed",
    "tf-float16-prod-overflows-in-float16",
    "tf-var-in-float32-under-floatx-float64",
    "tf-nightly-mean-follows-floatx",
    "openvino-uint8-mod-by-zero-kills-the-process",
    "openvino-uint8-mod-by-bool-kills-the-process",
    "openvino-floor-divide-int64-limits-kills-the-process",
    "jax-64-bit-inputs-made-32-bit",
    "jax-float64-inputs-made-float32",
    "jax-64-bit-inputs-cut-to-32-bits",
    "jax-floor-divide-by-cut-int64-limit",
    "jax-multiply-by-false-is-zero",
    "jax-multiply-by-false-is-zero-at-float64-limits",
    "jax-bool-power-round-hypot",
    "jax-integer-power-exponent-past-63",
    "jax-float-floor-divide-by-zero-nan",
    "jax-int32-mean-through-float32",
    "jax-cumprod-of-float-limits-not-nan",
    "jax-prod-of-float-limits-not-nan",
    "jax-integer-to-float-ignores-floatx",
    "numpy-64-bit-inputs-cut-to-32-bits",
    "numpy-sum-keeps-64-bit",
    "numpy-reciprocal-integer-stays-integer",
    "numpy-hypot-small-integers-in-float16",
    "numpy-hypot-small-integer-limits-in-float16",
    "numpy-mean-integer-in-float64",
    "numpy-bool-power-round-promoted",
    "openvino-64-bit-computed-in-32-bits",
    "openvino-64-bit-saturated-to-32-bits",
    "openvino-64-bit-floor-divide-mod-at-limits",
    "openvino-cpu-bfloat16-inference-precision",
    "openvino-cpu-bfloat16-inference-precision-saved",
)


def ordered(records: Sequence[Limitation], order: Sequence[str] = ORDER
            ) -> tuple[Limitation, ...]:
    """`records` in the order of `order` (ids).

    Raises:
        ValueError: an id defined twice, or one in `records` and not in `order` or the other
            way round (names them).
    """
    by_id: dict[str, Limitation] = {}
    for record in records:
        if record.id in by_id:
            raise ValueError(f"limitation {record.id} is defined twice")
        by_id[record.id] = record
    unordered = sorted(set(by_id) - set(order))
    missing = sorted(set(order) - set(by_id))
    if unordered or missing or len(set(order)) != len(order):
        raise ValueError("cases.limitations.ORDER must list every limitation once: "
                         f"not listed {unordered}, not defined {missing}")
    return tuple(by_id[i] for i in order)


#: What each limitation was observed to explain when it was written, by id: the behaviours
#: of the differing cells it covered on the published CPU columns (`python -m
#: matrix.results.behaviours` writes it from run files; a person reviews the diff).
#: A record's own `explains` wins over it.
BEHAVIOURS_FILE = Path(__file__).parent.parent / "limitation_behaviours.json"


def with_observed_behaviours(limitations: Sequence[Limitation],
                             path: Path = BEHAVIOURS_FILE) -> tuple[Limitation, ...]:
    """`limitations`, each given the behaviours `path` records for its id (unless it states
    its own).

    Raises:
        ValueError: the file is not JSON of that shape (names the file and the id).
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: cannot be read as JSON: {exc}") from exc
    found = []
    for limitation in limitations:
        entry = data.get(limitation.id)
        if limitation.explains or not isinstance(entry, dict):
            found.append(limitation)
            continue
        try:
            explains = tuple(Behaviour(**b) for b in entry["explains"])
            observed_on = tuple(str(d) for d in entry.get("observed_on", ()))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"{path}: limitation {limitation.id}: field `explains` must be "
                             f"a list of behaviours ({exc})") from exc
        found.append(replace(limitation, explains=explains, observed_on=observed_on))
    return tuple(found)


#: The records as written, in order, before the observed behaviours are joined.
WRITTEN_LIMITATIONS = ordered([*tensorflow.LIMITATIONS, *jax.LIMITATIONS, *torch.LIMITATIONS,
                               *numpy.LIMITATIONS, *openvino.LIMITATIONS, *common.LIMITATIONS])
LIMITATIONS = with_observed_behaviours(WRITTEN_LIMITATIONS)
