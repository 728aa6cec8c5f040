"""The NumPy reference: what each kind of case should compute, written once.

This module owns the oracle of the matrix (DESIGN.md section 5). A case sets a layer's weights
from :func:`seeded_weights`, so every backend computes with the same numbers, and this module says
what the answer is:

- a lookup (`keras.layers.Embedding`): :func:`lookup`, with ids outside ``[0, input_dim)`` an error;
- a padding mask (``Embedding(mask_zero=True).compute_mask``): :func:`padding_mask`;
- masked consumers of that mask: :func:`simple_rnn`, :func:`gru`, :func:`lstm`,
  :func:`global_average_pooling_1d`, :func:`global_max_pooling_1d`;
- how close is close enough: :data:`TOLERANCES`, :func:`tolerance`, and :func:`compare`.

It imports nothing but NumPy and the standard library, never Keras or a framework: the oracle must
not share code with what it judges. Every float computation is done in float64; callers cast.

Conventions: ``x`` has shape ``(batch, timesteps, features)``; ``mask`` is a bool array of shape
``(batch, timesteps)`` where ``True`` marks a valid step, or ``None`` for all steps valid (Keras's
convention, keras/src/layers/rnn/rnn.py, "Call arguments: mask").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt

__all__ = [
    "TOLERANCES",
    "compare",
    "global_average_pooling_1d",
    "global_max_pooling_1d",
    "gru",
    "lookup",
    "lstm",
    "padding_mask",
    "rnn_weight_shapes",
    "seeded_weights",
    "simple_rnn",
    "tolerance",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
AnyArray = npt.NDArray[Any]

# A recurrent cell: (x_t (batch, features), states) -> new states; the first is the output.
_Cell = Callable[[FloatArray, tuple[FloatArray, ...]], tuple[FloatArray, ...]]


# --------------------------------------------------------------------------------------------
# Lookup and mask
# --------------------------------------------------------------------------------------------


def lookup(weights: AnyArray, ids: AnyArray) -> FloatArray:
    """Looks ids up in an embedding table: the `keras.layers.Embedding` contract.

    The contract is ids in ``[0, input_dim)``: the Keras doc of `Embedding` says it "Turns
    nonnegative integers (indexes) into dense vectors of fixed size"
    (keras/src/layers/core/embedding.py). Note that `keras.ops.take`, which `Embedding.call` uses,
    and NumPy indexing both wrap a negative id (``-1`` is the last row); this reference deliberately
    does not, so a backend that returns the last row for ``-1`` is recorded as having diverged.

    Ids are judged by value, not by dtype: a float or bool tensor whose values are whole numbers
    (``1.0``, ``True``) holds valid ids, since converting it loses nothing, and Keras documents no
    dtype requirement. A fractional id (``1.5``) is not an index at all, so it is refused: the
    article this project grew from claims a TypeError there, and a backend that truncates
    ``1.5`` to row 1 has silently diverged.

    Args:
        weights: The table, shape ``(input_dim, output_dim)``, any real dtype.
        ids: Ids, any shape ``ids.shape`` (rank 0 included), any integer, float or bool dtype;
            values far past the int32 range are judged by value, never wrapped.

    Returns:
        The rows, float64, shape ``ids.shape + (output_dim,)``. Values are copied exactly (every
        float16, bfloat16 and float32 value is exact in float64).

    Raises:
        ValueError: If `weights` is not rank 2.
        TypeError: If `ids` is not numeric, or holds a value that is not a whole number
            (fractional, NaN or infinite).
        IndexError: If any id is negative or ``>= input_dim``.
    """
    table = np.asarray(weights)
    if table.ndim != 2:
        raise ValueError(
            "Embedding weights must have shape (input_dim, output_dim). "
            f"Received: weights.shape={table.shape}"
        )
    index = np.asarray(ids)
    if index.dtype.kind == "b":
        index = index.astype(np.int64)
    elif index.dtype.kind == "f":
        whole = np.isfinite(index) & (np.floor(index) == index)
        if not np.all(whole):
            raise TypeError(
                "Embedding ids must be whole numbers. "
                f"Received: ids={_preview(index[~whole])} of dtype {index.dtype}"
            )
        index = index.astype(np.int64)
    elif index.dtype.kind not in ("i", "u"):
        raise TypeError(
            "Embedding ids must be of a numeric dtype. "
            f"Received: ids.dtype={index.dtype} (ids={_preview(index)})"
        )
    input_dim = table.shape[0]
    # Comparing with Python ints is exact for every integer dtype (NEP 50), uint64 included.
    out_of_range = (index < 0) | (index >= input_dim)
    if np.any(out_of_range):
        bad = index[out_of_range]
        raise IndexError(
            f"Embedding ids must be in the range [0, input_dim) with input_dim={input_dim}. "
            f"Received: ids={_preview(bad)} ({bad.size} out of range)"
        )
    result: FloatArray = table.astype(np.float64)[index]
    return result


def padding_mask(ids: AnyArray) -> BoolArray:
    """Computes the padding mask of ids: what ``Embedding(mask_zero=True).compute_mask`` returns.

    Keras computes ``ops.not_equal(inputs, 0)`` (keras/src/layers/core/embedding.py,
    `compute_mask`).

    Args:
        ids: Ids of any shape and numeric dtype.

    Returns:
        ``ids != 0``, bool, shape ``ids.shape``: ``True`` where the step is valid.
    """
    result: BoolArray = np.asarray(np.asarray(ids) != 0, dtype=np.bool_)
    return result


def seeded_weights(
    shapes: Sequence[tuple[int, ...]], seed: int, scale: float = 0.5
) -> list[npt.NDArray[np.float32]]:
    """Draws the weights every backend is given, so all compute with the same numbers.

    One `np.random.default_rng(seed)` stream draws, in order, one array per shape uniformly in
    ``[-scale, scale)`` (in float64, then rounded to the nearest float32). Every backend's case
    calls this with the same seed in the same NumPy, so all see the same numbers. Across NumPy
    releases the PCG64 bit stream is fixed, but NEP 19 lets `Generator` methods change their
    output in a feature release; tests/test_reference.py pins one value to notice that.

    Args:
        shapes: The shapes, in the order the layer lists ``layer.weights``
            (see :func:`rnn_weight_shapes`).
        seed: The seed of the stream.
        scale: Half the width of the interval; must be positive and finite.

    Returns:
        One float32 array per shape, in order.

    Raises:
        ValueError: If `scale` is not positive and finite, or a shape has a negative dimension.
    """
    if not (np.isfinite(scale) and scale > 0):
        raise ValueError(f"`scale` must be positive and finite. Received: scale={scale}")
    rng = np.random.default_rng(seed)
    return [rng.uniform(-scale, scale, size=shape).astype(np.float32) for shape in shapes]


def _preview(values: AnyArray, limit: int = 5) -> str:
    """Formats at most `limit` values of an array for an error message."""
    flat = values.reshape(-1)
    shown = ", ".join(str(v) for v in flat[:limit].tolist())
    more = ", ..." if flat.size > limit else ""
    return f"[{shown}{more}]" if values.ndim else shown


# --------------------------------------------------------------------------------------------
# Recurrent layers
# --------------------------------------------------------------------------------------------

_GATES: Final[dict[str, int]] = {"SimpleRNN": 1, "GRU": 3, "LSTM": 4}


def rnn_weight_shapes(layer: str, features: int, units: int, *, reset_after: bool = True
                      ) -> list[tuple[int, ...]]:
    """Gives the shapes of a recurrent layer's weights, in the order Keras lists ``layer.weights``.

    The order is ``kernel``, ``recurrent_kernel``, ``bias``, as each cell's `build` creates them
    (keras/src/layers/rnn/simple_rnn.py, gru.py, lstm.py), with Keras 3 defaults: ``use_bias=True``
    and, for GRU, ``reset_after=True`` (so its bias has shape ``(2, 3 * units)``).

    Args:
        layer: ``"SimpleRNN"``, ``"GRU"`` or ``"LSTM"`` (the Keras class name).
        features: The size of the last axis of the input.
        units: The layer's ``units``.

    Returns:
        ``[(features, g * units), (units, g * units), bias_shape]`` with ``g`` 1, 3 or 4.

    Raises:
        ValueError: If `layer` is not one of the three, or `features` or `units` is not positive.
    """
    if layer not in _GATES:
        raise ValueError(f"`layer` must be one of {sorted(_GATES)}. Received: layer={layer!r}")
    if features < 1 or units < 1:
        raise ValueError(
            f"`features` and `units` must be positive. Received: features={features}, units={units}"
        )
    width = _GATES[layer] * units
    bias: tuple[int, ...] = (2, width) if layer == "GRU" and reset_after else (width,)
    return [(features, width), (units, width), bias]


def simple_rnn(
    x: AnyArray,
    mask: AnyArray | None,
    kernel: AnyArray,
    recurrent_kernel: AnyArray,
    bias: AnyArray,
    *,
    return_sequences: bool = False,
    go_backwards: bool = False,
) -> FloatArray:
    """Runs `keras.layers.SimpleRNN` with its defaults (tanh, ``use_bias=True``, zero state).

    Each step computes ``h_t = tanh(x_t @ kernel + bias + h_{t-1} @ recurrent_kernel)``
    (keras/src/layers/rnn/simple_rnn.py, `SimpleRNNCell.call`). Masking and direction follow
    :func:`_run_masked`.

    Args:
        x: Inputs, shape ``(batch, timesteps, features)``.
        mask: Valid steps, bool, shape ``(batch, timesteps)``, or ``None`` for all valid.
        kernel: Shape ``(features, units)``.
        recurrent_kernel: Shape ``(units, units)``.
        bias: Shape ``(units,)``.
        return_sequences: Whether to return every step's output, not only the last.
        go_backwards: Whether to process the time axis in reverse.

    Returns:
        float64, shape ``(batch, units)``, or ``(batch, timesteps, units)`` with
        `return_sequences`.

    Raises:
        ValueError: If a shape does not match the ones above.
    """
    xs, valid = _check_sequence(x, mask)
    units = _check_weights("SimpleRNN", xs.shape[2], kernel, recurrent_kernel, bias)
    w, u, b = _as_float64(kernel, recurrent_kernel, bias)

    def cell(x_t: FloatArray, states: tuple[FloatArray, ...]) -> tuple[FloatArray, ...]:
        h = np.tanh(x_t @ w + b + states[0] @ u)
        return (h,)

    return _run_masked(
        xs, valid, cell, (units,), return_sequences=return_sequences, go_backwards=go_backwards
    )


def gru(
    x: AnyArray,
    mask: AnyArray | None,
    kernel: AnyArray,
    recurrent_kernel: AnyArray,
    bias: AnyArray,
    *,
    return_sequences: bool = False,
    go_backwards: bool = False,
    reset_after: bool = True,
) -> FloatArray:
    """Runs `keras.layers.GRU` (Keras 3 default ``reset_after=True``, or ``False``).

    Gates are laid out ``z, r, h`` along the last axis of each weight; ``bias[0]`` is the input
    bias and ``bias[1]`` the recurrent bias. Each step computes (keras/src/layers/rnn/gru.py,
    `GRUCell.call`)::

        z = sigmoid(x_t @ Wz + bz_in + h @ Uz + bz_rec)
        r = sigmoid(x_t @ Wr + br_in + h @ Ur + br_rec)
        hh = tanh(x_t @ Wh + bh_in + r * (h @ Uh + bh_rec))
        h_t = z * h + (1 - z) * hh

    With ``reset_after=False`` the bias has shape ``(3 * units,)`` (input bias only) and the
    reset gate applies before the recurrent product: ``hh = tanh(x_t @ Wh + bh + (r * h) @ Uh)``
    (the same `GRUCell.call`, the branch ``not self.reset_after``).

    Masking and direction follow :func:`_run_masked`.

    Args:
        x: Inputs, shape ``(batch, timesteps, features)``.
        mask: Valid steps, bool, shape ``(batch, timesteps)``, or ``None`` for all valid.
        kernel: Shape ``(features, 3 * units)``.
        recurrent_kernel: Shape ``(units, 3 * units)``.
        bias: Shape ``(2, 3 * units)``.
        return_sequences: Whether to return every step's output, not only the last.
        go_backwards: Whether to process the time axis in reverse.

    Returns:
        float64, shape ``(batch, units)``, or ``(batch, timesteps, units)`` with
        `return_sequences`.

    Raises:
        ValueError: If a shape does not match the ones above.
    """
    xs, valid = _check_sequence(x, mask)
    units = _check_weights("GRU", xs.shape[2], kernel, recurrent_kernel, bias,
                           reset_after=reset_after)
    w, u, b = _as_float64(kernel, recurrent_kernel, bias)

    def cell_before(x_t: FloatArray, states: tuple[FloatArray, ...]) -> tuple[FloatArray, ...]:
        h = states[0]
        x_z, x_r, x_h = np.split(x_t @ w + b, 3, axis=-1)
        u_z, u_r, u_h = np.split(u, 3, axis=-1)
        z = _sigmoid(x_z + h @ u_z)
        r = _sigmoid(x_r + h @ u_r)
        hh = np.tanh(x_h + (r * h) @ u_h)
        return (z * h + (1.0 - z) * hh,)

    def cell(x_t: FloatArray, states: tuple[FloatArray, ...]) -> tuple[FloatArray, ...]:
        h = states[0]
        x_z, x_r, x_h = np.split(x_t @ w + b[0], 3, axis=-1)
        h_z, h_r, h_h = np.split(h @ u + b[1], 3, axis=-1)
        z = _sigmoid(x_z + h_z)
        r = _sigmoid(x_r + h_r)
        hh = np.tanh(x_h + r * h_h)
        return (z * h + (1.0 - z) * hh,)

    return _run_masked(
        xs, valid, cell if reset_after else cell_before, (units,),
        return_sequences=return_sequences, go_backwards=go_backwards,
    )


def lstm(
    x: AnyArray,
    mask: AnyArray | None,
    kernel: AnyArray,
    recurrent_kernel: AnyArray,
    bias: AnyArray,
    *,
    return_sequences: bool = False,
    go_backwards: bool = False,
) -> FloatArray:
    """Runs `keras.layers.LSTM` with its defaults (tanh, recurrent sigmoid, zero states).

    Gates are laid out ``i, f, c, o`` along the last axis of each weight. Each step computes
    (keras/src/layers/rnn/lstm.py, `LSTMCell.call`)::

        i, f, g, o = split(x_t @ kernel + h @ recurrent_kernel + bias, 4)
        c_t = sigmoid(f) * c + sigmoid(i) * tanh(g)
        h_t = sigmoid(o) * tanh(c_t)

    The output is ``h_t``. `unit_forget_bias` only changes the bias initializer, and the case
    overwrites the bias. Masking and direction follow :func:`_run_masked`; a masked step keeps
    both ``h`` and ``c``.

    Args:
        x: Inputs, shape ``(batch, timesteps, features)``.
        mask: Valid steps, bool, shape ``(batch, timesteps)``, or ``None`` for all valid.
        kernel: Shape ``(features, 4 * units)``.
        recurrent_kernel: Shape ``(units, 4 * units)``.
        bias: Shape ``(4 * units,)``.
        return_sequences: Whether to return every step's output, not only the last.
        go_backwards: Whether to process the time axis in reverse.

    Returns:
        float64, shape ``(batch, units)``, or ``(batch, timesteps, units)`` with
        `return_sequences`.

    Raises:
        ValueError: If a shape does not match the ones above.
    """
    xs, valid = _check_sequence(x, mask)
    units = _check_weights("LSTM", xs.shape[2], kernel, recurrent_kernel, bias)
    w, u, b = _as_float64(kernel, recurrent_kernel, bias)

    def cell(x_t: FloatArray, states: tuple[FloatArray, ...]) -> tuple[FloatArray, ...]:
        h, c = states
        gate_i, gate_f, gate_c, gate_o = np.split(x_t @ w + h @ u + b, 4, axis=-1)
        c_new = _sigmoid(gate_f) * c + _sigmoid(gate_i) * np.tanh(gate_c)
        return (_sigmoid(gate_o) * np.tanh(c_new), c_new)

    return _run_masked(
        xs,
        valid,
        cell,
        (units, units),
        return_sequences=return_sequences,
        go_backwards=go_backwards,
    )


def _run_masked(
    x: FloatArray,
    valid: BoolArray,
    cell: _Cell,
    state_sizes: tuple[int, ...],
    *,
    return_sequences: bool,
    go_backwards: bool,
) -> FloatArray:
    """Runs a cell over time as `keras.layers.RNN` does, with Keras 3 defaults.

    - The initial states are zeros (``RNN.get_initial_state``).
    - ``zero_output_for_mask=False`` (the `RNN` default, keras/src/layers/rnn/rnn.py): at a masked
      step the states are left unchanged and the output is the previous step's output (zeros
      before the first valid step). Every backend's `rnn` does this (keras/src/backend/*/rnn.py,
      ``where(mask_t, output, prev_output)``; JAX's scan takes ``states[0]``, which is the same
      thing for these three cells).
    - ``go_backwards=True`` processes the steps from last to first, and with
      ``return_sequences=True`` the outputs come in processing order, that is reversed in time:
      ``outputs[:, k]`` belongs to input step ``timesteps - 1 - k`` (the `RNN` doc: "process the
      input sequence backwards and return the reversed sequence").
    - The last output is the output after the last processed step.

    Args:
        x: Inputs, float64, shape ``(batch, timesteps, features)``.
        valid: bool, shape ``(batch, timesteps)``.
        cell: The step function; it returns the new states, and its output is the first.
        state_sizes: The size of each state, ``(units,)`` or ``(units, units)``.
        return_sequences: Whether to return every step's output.
        go_backwards: Whether to process the time axis in reverse.

    Returns:
        float64, shape ``(batch, units)`` or ``(batch, timesteps, units)``.
    """
    batch, timesteps, _ = x.shape
    states = tuple(np.zeros((batch, size)) for size in state_sizes)
    output = np.zeros((batch, state_sizes[0]))
    outputs: list[FloatArray] = []
    order = range(timesteps - 1, -1, -1) if go_backwards else range(timesteps)
    for t in order:
        keep = valid[:, t, np.newaxis]
        new_states = cell(x[:, t, :], states)
        output = np.where(keep, new_states[0], output)
        states = tuple(
            np.where(keep, new, old) for new, old in zip(new_states, states, strict=True)
        )
        outputs.append(output)
    if return_sequences:
        sequence: FloatArray = np.stack(outputs, axis=1)
        return sequence
    return output


def _check_sequence(x: AnyArray, mask: AnyArray | None) -> tuple[FloatArray, BoolArray]:
    """Checks ``x`` ``(batch, timesteps, features)`` and its mask; returns them as float64, bool.

    Raises:
        ValueError: If `x` is not rank 3 with at least one step, or `mask` is not
            ``(batch, timesteps)``.
    """
    xs = np.asarray(x, dtype=np.float64)
    if xs.ndim != 3 or xs.shape[1] < 1:
        raise ValueError(
            "Inputs must have shape (batch, timesteps, features) with timesteps >= 1. "
            f"Received: x.shape={xs.shape}"
        )
    if mask is None:
        return xs, np.ones(xs.shape[:2], dtype=np.bool_)
    valid = np.asarray(mask).astype(np.bool_)
    if valid.shape != xs.shape[:2]:
        raise ValueError(
            f"The mask must have shape (batch, timesteps)={xs.shape[:2]}. "
            f"Received: mask.shape={valid.shape}"
        )
    return xs, valid


def _check_weights(
    layer: str, features: int, kernel: AnyArray, recurrent_kernel: AnyArray, bias: AnyArray,
    *, reset_after: bool = True,
) -> int:
    """Checks the weight shapes against :func:`rnn_weight_shapes`; returns ``units``.

    Raises:
        ValueError: If a shape differs from what Keras builds.
    """
    received = [np.shape(kernel), np.shape(recurrent_kernel), np.shape(bias)]
    units = received[1][0] if len(received[1]) == 2 else 0
    expected = (rnn_weight_shapes(layer, features, units, reset_after=reset_after)
                if units > 0 else None)
    if expected is None or [tuple(s) for s in received] != expected:
        raise ValueError(
            f"{layer} weights must have shapes (kernel, recurrent_kernel, bias)={expected}. "
            f"Received: shapes={received}"
        )
    return units


def _as_float64(*arrays: AnyArray) -> tuple[FloatArray, ...]:
    """Casts each array to float64."""
    return tuple(np.asarray(a, dtype=np.float64) for a in arrays)


def _sigmoid(z: FloatArray) -> FloatArray:
    """The logistic function, ``1 / (1 + exp(-z))``, Keras's default recurrent activation."""
    with np.errstate(over="ignore"):  # exp(-z) overflows to inf for z << 0; the result is 0.
        result: FloatArray = 1.0 / (1.0 + np.exp(-z))
    return result


# --------------------------------------------------------------------------------------------
# Pooling
# --------------------------------------------------------------------------------------------


def global_average_pooling_1d(x: AnyArray, mask: AnyArray | None) -> FloatArray:
    """Averages over the valid steps: `keras.layers.GlobalAveragePooling1D` with a mask.

    Keras computes ``sum(where(mask, x, 0)) / sum(mask)`` over the steps axis
    (keras/src/layers/pooling/global_average_pooling1d.py, `call`), so a row with no valid step
    is ``0 / 0``: NaN. This reference gives the same NaN, without a NumPy RuntimeWarning.

    Args:
        x: Inputs, shape ``(batch, timesteps, features)``.
        mask: Valid steps, bool, shape ``(batch, timesteps)``, or ``None`` for all valid.

    Returns:
        float64, shape ``(batch, features)``; NaN in the rows with no valid step.

    Raises:
        ValueError: If `x` is not rank 3 or `mask` is not ``(batch, timesteps)``.
    """
    xs, valid = _check_sequence(x, mask)
    keep = valid[:, :, np.newaxis]
    total = np.where(keep, xs, 0.0).sum(axis=1)
    count = keep.sum(axis=1, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        result: FloatArray = total / count
    return result


def global_max_pooling_1d(x: AnyArray, mask: AnyArray | None) -> FloatArray:
    """Takes the maximum over the valid steps: the masked semantics of max pooling.

    Keras differs: `keras.layers.GlobalMaxPooling1D.call` takes no mask and computes
    ``ops.max(inputs, axis=1)`` over every step (keras/src/layers/pooling/global_max_pooling1d.py),
    so after ``Embedding(mask_zero=True)`` the padded steps (the embedding of id 0) take part in
    the maximum, and the mask is dropped silently. Calling this function with ``mask=None`` gives
    what Keras computes.

    Args:
        x: Inputs, shape ``(batch, timesteps, features)``.
        mask: Valid steps, bool, shape ``(batch, timesteps)``, or ``None`` for all valid.

    Returns:
        float64, shape ``(batch, features)``; ``-inf`` (the maximum of an empty set) in the rows
        with no valid step.

    Raises:
        ValueError: If `x` is not rank 3 or `mask` is not ``(batch, timesteps)``.
    """
    xs, valid = _check_sequence(x, mask)
    result: FloatArray = np.where(valid[:, :, np.newaxis], xs, -np.inf).max(axis=1)
    return result


# --------------------------------------------------------------------------------------------
# Tolerances and comparison
# --------------------------------------------------------------------------------------------

# Absolute tolerances, by kind of computation and Keras dtype name. Outputs are O(1): weights are
# drawn in [-0.5, 0.5) and the recurrent outputs are bounded by tanh.
TOLERANCES: Final[dict[str, dict[str, float]]] = {
    # A lookup copies values: in float32 and float64 any difference at all is a bug. A float16
    # or bfloat16 output (a mixed dtype policy, or floatx bfloat16) is the float32 weight
    # rounded once: half a unit in the last place of a value below 0.5 in magnitude is
    # 2**-12 (float16) and 2**-9 (bfloat16).
    "lookup": {"float16": 2.5e-4, "bfloat16": 2e-3, "float32": 0.0, "float64": 0.0},
    # A mask is booleans: exact.
    "mask": {"float16": 0.0, "bfloat16": 0.0, "float32": 0.0, "float64": 0.0},
    # A sum over a few steps then a division: a few units in the last place of the dtype
    # (float32 eps 1.2e-7, float16 eps 9.8e-4, bfloat16 eps 7.8e-3). float64 stays tight so that a
    # backend silently computing float64 in float32 (JAX without x64) is caught.
    "pooling": {"float16": 1e-2, "bfloat16": 3e-2, "float32": 1e-6, "float64": 1e-12},
    # Matmuls, sigmoid and tanh, compounded over the steps: looser than pooling, and vendor math
    # libraries (oneDNN, XLA, Eigen) may fuse and reorder the float32 sums.
    "recurrent": {"float16": 1e-2, "bfloat16": 3e-2, "float32": 1e-5, "float64": 1e-10},
    # Projections, a softmax and a weighted sum, then a masked mean: like the recurrent kind.
    "attention": {"float16": 1e-2, "bfloat16": 3e-2, "float32": 1e-5, "float64": 1e-10},
    # One SGD step on the embedding table: a scatter-add of small gradients, then a subtraction.
    "training": {"float16": 1e-3, "bfloat16": 1e-2, "float32": 1e-6, "float64": 1e-12},
    # `Embedding.quantize("int8")`: each row is scaled by its absolute maximum over 127 and
    # rounded, so an output is off by at most half a step: 0.5 / 127 / 2 < 2e-3 for weights
    # in [-0.5, 0.5) (keras/src/quantizers/quantizers.py, abs_max_quantize).
    "quantized": {"float16": 1e-2, "bfloat16": 3e-2, "float32": 2e-3, "float64": 2e-3},
}


def tolerance(kind: str, dtype: str) -> float:
    """Gives the absolute tolerance for a kind of computation in a Keras dtype.

    Args:
        kind: ``"lookup"``, ``"mask"``, ``"pooling"`` or ``"recurrent"``.
        dtype: A Keras dtype name: ``"float16"``, ``"bfloat16"``, ``"float32"`` or ``"float64"``.

    Returns:
        The largest absolute error that still counts as a match.

    Raises:
        KeyError: If `kind` or `dtype` has no tolerance written down.
    """
    if kind not in TOLERANCES:
        raise KeyError(
            f"No tolerance for this kind; expected one of {sorted(TOLERANCES)}. "
            f"Received: kind={kind!r}"
        )
    by_dtype = TOLERANCES[kind]
    if dtype not in by_dtype:
        raise KeyError(
            f"No tolerance for this dtype of kind {kind!r}; expected one of {sorted(by_dtype)}. "
            f"Received: dtype={dtype!r}"
        )
    return by_dtype[dtype]


def compare(expected: AnyArray, observed: AnyArray) -> tuple[float, int]:
    """Measures how far an observed output is from the reference.

    The error is computed in float64. Where both are NaN the error is 0 (Keras's own NaN, e.g. an
    all-masked average); where exactly one is NaN it is ``inf``; equal infinities count as 0.

    Args:
        expected: The reference output, any shape.
        observed: The backend's output, same shape, any real or bool dtype.

    Returns:
        ``(max_abs_error, nan_count)``: the largest absolute error (0.0 for empty arrays) and how
        many NaNs `observed` holds.

    Raises:
        ValueError: If the shapes differ.
    """
    want = np.asarray(expected, dtype=np.float64)
    got = np.asarray(observed, dtype=np.float64)
    if want.shape != got.shape:
        raise ValueError(
            "Expected and observed outputs must have the same shape. "
            f"Received: expected.shape={want.shape}, observed.shape={got.shape}"
        )
    want_nan, got_nan = np.isnan(want), np.isnan(got)
    with np.errstate(invalid="ignore"):  # inf - inf is NaN; equal values are set to 0 below.
        error = np.abs(want - got)
    error = np.where(want == got, 0.0, error)
    error = np.where(want_nan & got_nan, 0.0, error)
    error = np.where(want_nan ^ got_nan, np.inf, error)
    max_error = float(error.max()) if error.size else 0.0
    return max_error, int(got_nan.sum())


# --------------------------------------------------------------------------------------------
# Dense, attention, training
# --------------------------------------------------------------------------------------------


def dense(x: AnyArray, kernel: AnyArray, bias: AnyArray) -> FloatArray:
    """`keras.layers.Dense` with no activation: ``x @ kernel + bias`` on the last axis.

    Args:
        x: Inputs, shape ``(..., features)``.
        kernel: ``(features, units)``.
        bias: ``(units,)``.

    Returns:
        float64, shape ``(..., units)``.
    """
    xs, k, b = _as_float64(x, kernel, bias)
    result: FloatArray = xs @ k + b
    return result


def _masked_softmax(scores: FloatArray, allowed: BoolArray | None) -> FloatArray:
    """Softmax over the last axis where `allowed`; a row with nothing allowed is uniform.

    Keras adds -1e9 to the disallowed scores (keras/src/layers/activations/softmax.py and
    layers/attention/attention.py), which in float32 makes a fully disallowed row uniform; such
    rows belong to padded queries, whose outputs the masked consumers below ignore anyway.
    """
    if allowed is not None:
        none = ~allowed.any(axis=-1, keepdims=True)
        scores = np.where(allowed | none, scores, -np.inf)
        scores = np.where(none, 0.0, scores)
    shifted = scores - scores.max(axis=-1, keepdims=True)
    weights = np.exp(shifted)
    result: FloatArray = weights / weights.sum(axis=-1, keepdims=True)
    return result


def dot_attention(x: AnyArray, mask: AnyArray | None) -> FloatArray:
    """`keras.layers.Attention()([x, x])` (self-attention, dot scores, no scale, no dropout).

    Scores ``x @ x^T`` over the valid value steps, a softmax, the weighted sum of values; the
    outputs of padded queries are zeroed, as Keras multiplies the result by the query mask
    (keras/src/layers/attention/attention.py, `call`).

    Args:
        x: Query = value = key, shape ``(batch, timesteps, features)``.
        mask: Valid steps, bool ``(batch, timesteps)``, or None.

    Returns:
        float64, shape ``(batch, timesteps, features)``.
    """
    xs, valid = _check_sequence(x, mask)
    scores = np.einsum("bqd,bkd->bqk", xs, xs)
    allowed = np.broadcast_to(valid[:, np.newaxis, :], scores.shape) if mask is not None else None
    out = np.einsum("bqk,bkd->bqd", _masked_softmax(scores, allowed), xs)
    result: FloatArray = out * valid[:, :, np.newaxis]
    return result


def multi_head_attention_weight_shapes(features: int, num_heads: int, key_dim: int
                                       ) -> list[tuple[int, ...]]:
    """Shapes of `keras.layers.MultiHeadAttention` weights, in the order Keras lists them.

    Query, key and value projections (kernel ``(features, heads, key_dim)``, bias
    ``(heads, key_dim)``), then the output projection (kernel ``(heads, key_dim, features)``,
    bias ``(features,)``), per keras/src/layers/attention/multi_head_attention.py.
    """
    proj = [(features, num_heads, key_dim), (num_heads, key_dim)]
    return [*proj, *proj, *proj, (num_heads, key_dim, features), (features,)]


def multi_head_attention(x: AnyArray, mask: AnyArray | None, weights: Sequence[AnyArray]
                         ) -> FloatArray:
    """`keras.layers.MultiHeadAttention(num_heads, key_dim)(x, x)`, no dropout.

    The attention mask is ``query_mask[:, :, None] & value_mask[:, None, :]``, as Keras builds
    it from the inputs' masks; scores are scaled by ``1 / sqrt(key_dim)``.

    Args:
        x: Query = value = key, ``(batch, timesteps, features)``.
        mask: Valid steps ``(batch, timesteps)`` or None.
        weights: In the order of :func:`multi_head_attention_weight_shapes`.

    Returns:
        float64, shape ``(batch, timesteps, features)``.
    """
    xs, valid = _check_sequence(x, mask)
    wq, bq, wk, bk, wv, bv, wo, bo = _as_float64(*weights)
    q = np.einsum("btd,dhk->bthk", xs, wq) + bq
    k = np.einsum("btd,dhk->bthk", xs, wk) + bk
    v = np.einsum("btd,dhk->bthk", xs, wv) + bv
    scores = np.einsum("bqhk,bshk->bhqs", q, k) / np.sqrt(q.shape[-1])
    allowed = None
    if mask is not None:
        pair = valid[:, :, np.newaxis] & valid[:, np.newaxis, :]
        allowed = np.broadcast_to(pair[:, np.newaxis], scores.shape)
    attn = _masked_softmax(scores, allowed)
    context = np.einsum("bhqs,bshk->bqhk", attn, v)
    result: FloatArray = np.einsum("bqhk,hkd->bqd", context, wo) + bo
    return result


def masked_sparse_categorical_crossentropy(logits: AnyArray, labels: AnyArray,
                                           mask: AnyArray | None) -> FloatArray:
    """The loss `Model.fit` reports for `SparseCategoricalCrossentropy(from_logits=True)`.

    ``-log softmax(logits)[label]`` per timestep, averaged over the timesteps the Keras mask
    keeps (all of them without a mask): Keras gives masked entries weight 0 and rescales the
    rest by ``total / valid`` under "sum_over_batch_size" (keras/src/losses/loss.py,
    `apply_mask`), so the mean runs over the valid timesteps only. No valid timestep: 0.

    Args:
        logits: ``(batch, steps, classes)``.
        labels: ``(batch, steps)``, whole numbers.
        mask: bool ``(batch, steps)`` or None.

    Returns:
        float64 scalar ``()``.

    Raises:
        IndexError: a kept label outside ``[0, classes)``.
    """
    x = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels).astype(np.int64)
    keep = np.ones(y.shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    bad = keep & ((y < 0) | (y >= x.shape[-1]))
    if np.any(bad):
        raise IndexError(f"labels must be in [0, {x.shape[-1]}). "
                         f"Received: labels={y[bad].tolist()}")
    shifted = x - x.max(axis=-1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    picked = -np.take_along_axis(log_p, np.where(keep, y, 0)[..., np.newaxis], axis=-1)[..., 0]
    if not np.any(keep):
        return np.asarray(0.0)
    return np.asarray(picked[keep].mean())


def sgd_step_mse(table: AnyArray, ids: AnyArray, learning_rate: float,
                 l2: float = 0.0, non_negative: bool = False) -> FloatArray:
    """The embedding table after one SGD step on the mean squared error to a zero target.

    The model is ``Embedding`` alone, the loss ``mean((table[ids] - 0) ** 2)`` over every output
    element (Keras's "mse" then "sum_over_batch_size"), plus ``l2 * sum(table ** 2)`` for
    `keras.regularizers.L2(l2)`. A row never looked up moves only by the regularizer; with
    `non_negative` the updated table is clipped at 0 (`keras.constraints.NonNeg`, applied after
    the optimizer step).

    Args:
        table: ``(input_dim, output_dim)``.
        ids: ids of any shape; validated by :func:`lookup`.
        learning_rate: SGD's learning rate.
        l2: L2 regularization factor.
        non_negative: apply the NonNeg constraint.

    Returns:
        float64 ``(input_dim, output_dim)``.

    Raises:
        TypeError, IndexError: as :func:`lookup`.
    """
    rows = lookup(table, ids)
    index = np.asarray(ids).astype(np.int64)
    grad = np.zeros(np.asarray(table).shape, dtype=np.float64)
    np.add.at(grad, index.reshape(-1), (2.0 * rows / rows.size).reshape(-1, rows.shape[-1]))
    base = np.asarray(table, dtype=np.float64)
    grad += 2.0 * l2 * base
    result: FloatArray = base - learning_rate * grad
    if non_negative:
        result = np.maximum(result, 0.0)
    return result


# --------------------------------------------------------------------------------------------
# Index ops (keras.ops): NumPy's semantics, which the Keras ops API mirrors
# --------------------------------------------------------------------------------------------


def _index_array(indices: AnyArray, what: str) -> npt.NDArray[np.int64]:
    """Integer indices, refusing fractional and non-numeric ones as NumPy's `take` does.

    Raises:
        TypeError: a float or other non-integer dtype (NumPy refuses to cast it "safely").
    """
    index = np.asarray(indices)
    if index.dtype.kind not in ("i", "u", "b"):  # NumPy casts bool indices to 0 and 1
        raise TypeError(f"{what} must be integers. Received: dtype={index.dtype}")
    return index.astype(np.int64)


def take(x: AnyArray, indices: AnyArray, axis: int | None = None) -> FloatArray:
    """`keras.ops.take(x, indices, axis)`: NumPy's `take` (negative indices count from the end).

    Raises:
        TypeError: non-integer indices. IndexError: an index outside ``[-n, n)``.
    """
    index = _index_array(indices, "`indices`")
    values = np.asarray(x, dtype=np.float64)
    size = values.size if axis is None else values.shape[axis]
    bad = (index < -size) | (index >= size)
    if np.any(bad):
        raise IndexError(f"indices must be in [-{size}, {size}). Received: "
                         f"indices={_preview(index[bad])}")
    result: FloatArray = np.take(values, index, axis=axis)
    return result


def take_along_axis(x: AnyArray, indices: AnyArray, axis: int) -> FloatArray:
    """`keras.ops.take_along_axis(x, indices, axis)`: NumPy's `take_along_axis`.

    Raises:
        TypeError: non-integer indices. IndexError: an index outside ``[-n, n)``.
    """
    index = _index_array(indices, "`indices`")
    values = np.asarray(x, dtype=np.float64)
    size = values.shape[axis]
    bad = (index < -size) | (index >= size)
    if np.any(bad):
        raise IndexError(f"indices must be in [-{size}, {size}). Received: "
                         f"indices={_preview(index[bad])}")
    result: FloatArray = np.take_along_axis(values, index, axis=axis)
    return result


def one_hot(x: AnyArray, num_classes: int) -> FloatArray:
    """`keras.ops.one_hot(x, num_classes)`: a row of zeros for an id outside ``[0, n)``.

    Keras documents no rule for such ids; this takes the one of `tf.one_hot` and
    `jax.nn.one_hot` ("indices out of range give a row of zeros"), which Keras's TensorFlow
    and JAX backends call. Output float, shape ``x.shape + (num_classes,)``.
    """
    index = _index_array(x, "`x`")
    result: FloatArray = (index[..., np.newaxis] == np.arange(num_classes)).astype(np.float64)
    return result


def multi_hot(x: AnyArray, num_classes: int) -> FloatArray:
    """`keras.ops.multi_hot(x, num_classes)`: 1 for each class present on the last axis.

    Ids outside ``[0, num_classes)`` add nothing (the `one_hot` rule). Output float, shape
    ``x.shape[:-1] + (num_classes,)``.
    """
    result: FloatArray = one_hot(x, num_classes).max(axis=-2)
    return result


def _segments(segment_ids: AnyArray, num_segments: int) -> npt.NDArray[np.int64]:
    ids = _index_array(segment_ids, "`segment_ids`")
    bad = (ids < 0) | (ids >= num_segments)
    if np.any(bad):
        raise IndexError(f"segment_ids must be in [0, num_segments={num_segments}). "
                         f"Received: segment_ids={_preview(ids[bad])}")
    return ids


def segment_sum(data: AnyArray, segment_ids: AnyArray, num_segments: int) -> FloatArray:
    """`keras.ops.segment_sum(data, segment_ids, num_segments)`: sums of rows by segment.

    Raises:
        IndexError: a segment id outside ``[0, num_segments)`` (backends disagree: TensorFlow
            drops negative ids, JAX drops every such id; this reference refuses them).
    """
    ids = _segments(segment_ids, num_segments)
    values = np.asarray(data, dtype=np.float64)
    out = np.zeros((num_segments, *values.shape[1:]))
    np.add.at(out, ids, values)
    return out


def segment_max(data: AnyArray, segment_ids: AnyArray, num_segments: int) -> FloatArray:
    """`keras.ops.segment_max(...)`: maxima of rows by segment (every segment non-empty).

    Raises:
        IndexError: as :func:`segment_sum`. ValueError: a segment with no row (backends fill
            it differently: `-inf` or the dtype's lowest value).
    """
    ids = _segments(segment_ids, num_segments)
    values = np.asarray(data, dtype=np.float64)
    if len(set(ids.tolist())) != num_segments:
        raise ValueError("every segment must hold a row; empty segments are not modelled")
    out = np.full((num_segments, *values.shape[1:]), -np.inf)
    np.maximum.at(out, ids, values)
    return out


def bincount(x: AnyArray, minlength: int = 0) -> FloatArray:
    """`keras.ops.bincount(x, minlength=...)` of a 1-D or a batched 2-D tensor of counts.

    Raises:
        TypeError: non-integer values. ValueError: a negative value (NumPy refuses it).
    """
    index = _index_array(x, "`x`")
    if np.any(index < 0):
        raise ValueError(f"bincount takes non-negative values. Received: "
                         f"x={_preview(index[index < 0])}")
    length = max(minlength, int(index.max()) + 1 if index.size else 0)
    if index.ndim == 1:
        return np.bincount(index, minlength=length).astype(np.float64)
    return np.stack([np.bincount(row, minlength=length) for row in index]).astype(np.float64)
