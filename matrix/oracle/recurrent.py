"""The NumPy references of the masked recurrences: SimpleRNN, GRU and LSTM.

Conventions: ``x`` has shape ``(batch, timesteps, features)``; ``mask`` is a bool array of shape
``(batch, timesteps)`` where ``True`` marks a valid step, or ``None`` for all steps valid (Keras's
convention, keras/src/layers/rnn/rnn.py, "Call arguments: mask"). Weight shapes and order are the
catalog's (`cases.subjects.rnn_weight_shapes`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from cases.subjects import rnn_weight_shapes
from matrix.oracle.arrays import AnyArray, BoolArray, FloatArray, as_float64, sigmoid

# A recurrent cell: (x_t (batch, features), states) -> new states; the first is the output.
_Cell = Callable[[FloatArray, tuple[FloatArray, ...]], tuple[FloatArray, ...]]


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
    xs, valid = check_sequence(x, mask)
    units = _check_weights("SimpleRNN", xs.shape[2], kernel, recurrent_kernel, bias)
    w, u, b = as_float64(kernel, recurrent_kernel, bias)

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
    xs, valid = check_sequence(x, mask)
    units = _check_weights("GRU", xs.shape[2], kernel, recurrent_kernel, bias,
                           reset_after=reset_after)
    w, u, b = as_float64(kernel, recurrent_kernel, bias)

    def cell_before(x_t: FloatArray, states: tuple[FloatArray, ...]) -> tuple[FloatArray, ...]:
        h = states[0]
        x_z, x_r, x_h = np.split(x_t @ w + b, 3, axis=-1)
        u_z, u_r, u_h = np.split(u, 3, axis=-1)
        z = sigmoid(x_z + h @ u_z)
        r = sigmoid(x_r + h @ u_r)
        hh = np.tanh(x_h + (r * h) @ u_h)
        return (z * h + (1.0 - z) * hh,)

    def cell(x_t: FloatArray, states: tuple[FloatArray, ...]) -> tuple[FloatArray, ...]:
        h = states[0]
        x_z, x_r, x_h = np.split(x_t @ w + b[0], 3, axis=-1)
        h_z, h_r, h_h = np.split(h @ u + b[1], 3, axis=-1)
        z = sigmoid(x_z + h_z)
        r = sigmoid(x_r + h_r)
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
    xs, valid = check_sequence(x, mask)
    units = _check_weights("LSTM", xs.shape[2], kernel, recurrent_kernel, bias)
    w, u, b = as_float64(kernel, recurrent_kernel, bias)

    def cell(x_t: FloatArray, states: tuple[FloatArray, ...]) -> tuple[FloatArray, ...]:
        h, c = states
        gate_i, gate_f, gate_c, gate_o = np.split(x_t @ w + h @ u + b, 4, axis=-1)
        c_new = sigmoid(gate_f) * c + sigmoid(gate_i) * np.tanh(gate_c)
        return (sigmoid(gate_o) * np.tanh(c_new), c_new)

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


def check_sequence(x: AnyArray, mask: AnyArray | None) -> tuple[FloatArray, BoolArray]:
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
