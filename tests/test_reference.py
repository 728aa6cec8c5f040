"""Tests of the NumPy references of matrix/oracle/ against values worked out by hand.

The expected numbers are written as the formulas of the Keras cells with 1 unit and 1 feature
(``math.tanh``, a scalar sigmoid), so they do not reuse the reference's own NumPy code.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from cases.subjects import rnn_weight_shapes
from matrix.oracle import arrays, layers, recurrent, tolerance
from matrix.oracle import lookup as lookups


def sigmoid(z: float) -> float:
    """The scalar logistic function."""
    return 1.0 / (1.0 + math.exp(-z))


def sequence(*values: float) -> np.ndarray:
    """One row, 1 feature: shape (1, timesteps, 1)."""
    return np.array(values, dtype=np.float64).reshape(1, len(values), 1)


def steps(mask: list[bool]) -> np.ndarray:
    """One row of a mask: shape (1, timesteps)."""
    return np.array([mask])


# --- lookup and mask ------------------------------------------------------------------------

WEIGHTS = np.array([[0.0, 0.5], [1.0, -1.5], [2.25, 3.0]], dtype=np.float32)


def test_lookup_copies_rows() -> None:
    out = lookups.lookup(WEIGHTS, np.array([[2, 0], [1, 1]]))
    assert out.shape == (2, 2, 2)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [[[2.25, 3.0], [0.0, 0.5]], [[1.0, -1.5], [1.0, -1.5]]])


def test_lookup_rank_0_and_empty() -> None:
    np.testing.assert_array_equal(lookups.lookup(WEIGHTS, np.array(1)), [1.0, -1.5])
    assert lookups.lookup(WEIGHTS, np.zeros((0, 4), dtype=np.int32)).shape == (0, 4, 2)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint64, np.int8, np.int16, np.int32, np.int64])
def test_lookup_integer_dtypes(dtype: type[np.integer]) -> None:
    np.testing.assert_array_equal(lookups.lookup(WEIGHTS, np.array([2], dtype=dtype)),
                                  [[2.25, 3.0]])


@pytest.mark.parametrize(
    "ids",
    [
        np.array([0, -1]),  # NumPy and keras.ops.take would wrap this to the last row
        np.array([3]),  # == input_dim
        np.array([2**40], dtype=np.int64),  # wraps to 0 if truncated to int32
        np.array([2**32 + 1], dtype=np.int64),  # wraps to 1 if truncated to int32
        np.array([2**63 + 1], dtype=np.uint64),
        np.array(-2),
    ],
)
def test_lookup_out_of_range_raises_index_error(ids: np.ndarray) -> None:
    with pytest.raises(IndexError, match=r"\[0, input_dim\) with input_dim=3.*Received: ids="):
        lookups.lookup(WEIGHTS, ids)


@pytest.mark.parametrize(
    ("ids", "message"),
    [
        (np.array([1.5]), r"whole numbers\. Received: ids=\[1\.5\]"),
        (np.array([2.0, 2.7], dtype=np.float16), r"whole numbers\. Received: ids=\[2\.69"),
        (np.array([np.nan]), r"whole numbers"),
        (np.array(["1"]), r"numeric dtype\. Received: ids\.dtype="),
    ],
)
def test_lookup_non_whole_ids_raise_type_error(ids: np.ndarray, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        lookups.lookup(WEIGHTS, ids)


def test_lookup_reads_whole_floats_and_bools_as_ids() -> None:
    np.testing.assert_array_equal(lookups.lookup(WEIGHTS, np.array([2.0, 0.0], dtype=np.float16)),
                                  WEIGHTS[[2, 0]].astype(np.float64))
    np.testing.assert_array_equal(lookups.lookup(WEIGHTS, np.array([True, False])),
                                  WEIGHTS[[1, 0]].astype(np.float64))
    with pytest.raises(IndexError):
        lookups.lookup(WEIGHTS, np.array([3.0]))


def test_lookup_rejects_non_matrix_weights() -> None:
    with pytest.raises(ValueError, match=r"Received: weights.shape=\(3,\)"):
        lookups.lookup(np.zeros(3), np.array([0]))


def test_padding_mask() -> None:
    mask = lookups.padding_mask(np.array([[3, 0, 1], [0, 0, 0]], dtype=np.uint16))
    assert mask.dtype == np.bool_
    np.testing.assert_array_equal(mask, [[True, False, True], [False, False, False]])
    assert lookups.padding_mask(np.array(0)).shape == ()


# --- seeded weights -------------------------------------------------------------------------


def test_seeded_weights_deterministic_in_range_and_in_order() -> None:
    first = arrays.seeded_weights([(2, 3), (4,)], seed=7, scale=0.25)
    again = arrays.seeded_weights([(2, 3), (4,)], seed=7, scale=0.25)
    assert [w.shape for w in first] == [(2, 3), (4,)]
    assert all(w.dtype == np.float32 for w in first)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert all(np.all((w >= -0.25) & (w <= 0.25)) for w in first)
    # The stream is drawn in order: a prefix of the shapes gives the same first array.
    np.testing.assert_array_equal(arrays.seeded_weights([(2, 3)], seed=7, scale=0.25)[0], first[0])
    assert not np.array_equal(arrays.seeded_weights([(2, 3)], seed=8, scale=0.25)[0], first[0])


def test_seeded_weights_pinned_value() -> None:
    # The first draw of default_rng(0).uniform(-0.5, 0.5). NEP 19 lets Generator's methods change
    # their streams in a feature release; this golden value is how we would notice.
    assert arrays.seeded_weights([(1,)], seed=0)[0][0] == np.float32(0.13696168)


@pytest.mark.parametrize("scale", [0.0, -1.0, math.inf, math.nan])
def test_seeded_weights_rejects_bad_scale(scale: float) -> None:
    with pytest.raises(ValueError, match="Received: scale="):
        arrays.seeded_weights([(1,)], seed=0, scale=scale)


def test_rnn_weight_shapes() -> None:
    assert rnn_weight_shapes("SimpleRNN", 3, 2) == [(3, 2), (2, 2), (2,)]
    assert rnn_weight_shapes("GRU", 3, 2) == [(3, 6), (2, 6), (2, 6)]
    assert rnn_weight_shapes("LSTM", 3, 2) == [(3, 8), (2, 8), (8,)]
    with pytest.raises(ValueError, match="Received: layer='Conv1D'"):
        rnn_weight_shapes("Conv1D", 3, 2)


# --- SimpleRNN: w = 1, u = 0.5, b = 0.1; x = 0.5, 0.25, -1.0 ----------------------------------

RNN_WEIGHTS = (np.array([[1.0]]), np.array([[0.5]]), np.array([0.1]))
H1 = math.tanh(0.5 + 0.1)
H2 = math.tanh(0.25 + 0.1 + 0.5 * H1)
H3 = math.tanh(-1.0 + 0.1 + 0.5 * H2)


def run_rnn(
    x: np.ndarray,
    mask: np.ndarray | None,
    *,
    return_sequences: bool = False,
    go_backwards: bool = False,
) -> list[float]:
    """SimpleRNN over one row, flattened to a list of floats."""
    return (
        recurrent.simple_rnn(
            x, mask, *RNN_WEIGHTS, return_sequences=return_sequences, go_backwards=go_backwards
        )
        .reshape(-1)
        .tolist()
    )


def test_simple_rnn_unmasked() -> None:
    x = sequence(0.5, 0.25, -1.0)
    assert run_rnn(x, None, return_sequences=True) == pytest.approx([H1, H2, H3], abs=1e-15)
    assert run_rnn(x, None) == pytest.approx([H3], abs=1e-15)
    assert recurrent.simple_rnn(x, None, *RNN_WEIGHTS).shape == (1, 1)
    assert recurrent.simple_rnn(x, None, *RNN_WEIGHTS, return_sequences=True).shape == (1, 3, 1)


def test_simple_rnn_post_padding_repeats_last_valid_output() -> None:
    x, mask = sequence(0.5, 0.25, 9.0), steps([True, True, False])
    assert run_rnn(x, mask, return_sequences=True) == pytest.approx([H1, H2, H2], abs=1e-15)
    assert run_rnn(x, mask) == pytest.approx([H2], abs=1e-15)


def test_simple_rnn_pre_padding_outputs_zero_until_first_valid_step() -> None:
    x, mask = sequence(9.0, 0.5, 0.25), steps([False, True, True])
    assert run_rnn(x, mask, return_sequences=True) == pytest.approx([0.0, H1, H2], abs=1e-15)


def test_simple_rnn_go_backwards_returns_outputs_in_processing_order() -> None:
    g1 = math.tanh(-1.0 + 0.1)
    g2 = math.tanh(0.25 + 0.1 + 0.5 * g1)
    g3 = math.tanh(0.5 + 0.1 + 0.5 * g2)
    x = sequence(0.5, 0.25, -1.0)
    got = run_rnn(x, None, return_sequences=True, go_backwards=True)
    assert got == pytest.approx([g1, g2, g3], abs=1e-15)
    assert run_rnn(x, None, go_backwards=True) == pytest.approx([g3], abs=1e-15)


def test_simple_rnn_go_backwards_with_post_padding() -> None:
    x, mask = sequence(0.5, 0.25, 9.0), steps([True, True, False])
    b1 = math.tanh(0.25 + 0.1)
    b2 = math.tanh(0.5 + 0.1 + 0.5 * b1)
    got = run_rnn(x, mask, return_sequences=True, go_backwards=True)
    assert got == pytest.approx([0.0, b1, b2], abs=1e-15)


def test_simple_rnn_all_masked_row_is_zero() -> None:
    x = np.concatenate([sequence(0.5, 0.25, -1.0), sequence(1.0, 1.0, 1.0)])
    mask = np.array([[True, True, True], [False, False, False]])
    out = recurrent.simple_rnn(x, mask, *RNN_WEIGHTS)
    assert out.reshape(-1).tolist() == pytest.approx([H3, 0.0], abs=1e-15)


def test_simple_rnn_rejects_wrong_shapes() -> None:
    with pytest.raises(ValueError, match=r"Received: shapes=\[\(2, 1\), \(1, 1\), \(1,\)\]"):
        recurrent.simple_rnn(sequence(1.0), None, np.ones((2, 1)), np.ones((1, 1)), np.ones(1))
    with pytest.raises(ValueError, match=r"Received: mask.shape=\(1, 2\)"):
        recurrent.simple_rnn(sequence(1.0), steps([True, True]), *RNN_WEIGHTS)
    with pytest.raises(ValueError, match=r"Received: x.shape=\(1, 0, 1\)"):
        recurrent.simple_rnn(np.zeros((1, 0, 1)), None, *RNN_WEIGHTS)


# --- GRU (reset_after=True): gates z, r, h; x = 1.0, -1.0 -------------------------------------

GRU_KERNEL = np.array([[0.5, -0.5, 1.0]])
GRU_RECURRENT = np.array([[0.25, 0.75, -1.0]])
GRU_BIAS = np.array([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]])  # input bias, recurrent bias


def gru_step(x: float, h: float) -> float:
    """One GRU step by hand, 1 unit, reset gate applied after the recurrent matmul."""
    z = sigmoid(0.5 * x + 0.1 + 0.25 * h + 0.4)
    r = sigmoid(-0.5 * x + 0.2 + 0.75 * h + 0.5)
    hh = math.tanh(1.0 * x + 0.3 + r * (-1.0 * h + 0.6))
    return z * h + (1.0 - z) * hh


G1 = gru_step(1.0, 0.0)
G2 = gru_step(-1.0, G1)


def run_gru(
    x: np.ndarray,
    mask: np.ndarray | None,
    *,
    return_sequences: bool = False,
    go_backwards: bool = False,
) -> list[float]:
    """GRU over one row, flattened to a list of floats."""
    out = recurrent.gru(
        x,
        mask,
        GRU_KERNEL,
        GRU_RECURRENT,
        GRU_BIAS,
        return_sequences=return_sequences,
        go_backwards=go_backwards,
    )
    return out.reshape(-1).tolist()


def test_gru_two_steps() -> None:
    # Step 1 written out: z = sigmoid(1.0), r = sigmoid(0.2), hh = tanh(1.3 + 0.6 r).
    step_1 = (1 - sigmoid(1.0)) * math.tanh(1.3 + 0.6 * sigmoid(0.2))
    assert step_1 == pytest.approx(G1, abs=1e-15)
    x = sequence(1.0, -1.0)
    assert run_gru(x, None, return_sequences=True) == pytest.approx([G1, G2], abs=1e-15)
    assert run_gru(x, None) == pytest.approx([G2], abs=1e-15)


def test_gru_masked_and_backwards() -> None:
    x = sequence(1.0, -1.0)
    assert run_gru(x, steps([True, False])) == pytest.approx([G1], abs=1e-15)
    assert run_gru(x, steps([False, True]), return_sequences=True) == pytest.approx(
        [0.0, gru_step(-1.0, 0.0)], abs=1e-15
    )
    back = [gru_step(-1.0, 0.0), gru_step(1.0, gru_step(-1.0, 0.0))]
    got = run_gru(x, None, return_sequences=True, go_backwards=True)
    assert got == pytest.approx(back, abs=1e-15)


# --- LSTM: gates i, f, c, o; x = 1.0, -1.0 ----------------------------------------------------

LSTM_KERNEL = np.array([[0.5, -0.5, 1.0, 0.25]])
LSTM_RECURRENT = np.array([[0.1, 0.2, 0.3, 0.4]])
LSTM_BIAS = np.array([0.01, 1.0, -0.2, 0.3])


def lstm_step(x: float, h: float, c: float) -> tuple[float, float]:
    """One LSTM step by hand, 1 unit: returns (h, c)."""
    i = sigmoid(0.5 * x + 0.1 * h + 0.01)
    f = sigmoid(-0.5 * x + 0.2 * h + 1.0)
    g = math.tanh(1.0 * x + 0.3 * h - 0.2)
    o = sigmoid(0.25 * x + 0.4 * h + 0.3)
    c_new = f * c + i * g
    return o * math.tanh(c_new), c_new


L1, C1 = lstm_step(1.0, 0.0, 0.0)
L2, C2 = lstm_step(-1.0, L1, C1)


def run_lstm(
    x: np.ndarray,
    mask: np.ndarray | None,
    *,
    return_sequences: bool = False,
    go_backwards: bool = False,
) -> list[float]:
    """LSTM over one row, flattened to a list of floats."""
    out = recurrent.lstm(
        x,
        mask,
        LSTM_KERNEL,
        LSTM_RECURRENT,
        LSTM_BIAS,
        return_sequences=return_sequences,
        go_backwards=go_backwards,
    )
    return out.reshape(-1).tolist()


def test_lstm_two_steps() -> None:
    # Step 1 written out: c = sigmoid(0.51) tanh(0.8), h = sigmoid(0.55) tanh(c).
    step_1 = sigmoid(0.55) * math.tanh(sigmoid(0.51) * math.tanh(0.8))
    assert step_1 == pytest.approx(L1, abs=1e-15)
    x = sequence(1.0, -1.0)
    assert run_lstm(x, None, return_sequences=True) == pytest.approx([L1, L2], abs=1e-15)
    assert run_lstm(x, None) == pytest.approx([L2], abs=1e-15)


def test_lstm_masked_step_keeps_both_states() -> None:
    # A masked middle step must keep c as well as h: the third step sees (L1, C1).
    x, mask = sequence(1.0, 5.0, -1.0), steps([True, False, True])
    assert run_lstm(x, mask, return_sequences=True) == pytest.approx([L1, L1, L2], abs=1e-15)
    assert run_lstm(sequence(1.0, -1.0), steps([True, False])) == pytest.approx([L1], abs=1e-15)


def test_lstm_go_backwards() -> None:
    b1, c1 = lstm_step(-1.0, 0.0, 0.0)
    b2, _ = lstm_step(1.0, b1, c1)
    got = run_lstm(sequence(1.0, -1.0), None, return_sequences=True, go_backwards=True)
    assert got == pytest.approx([b1, b2], abs=1e-15)


# --- pooling --------------------------------------------------------------------------------

POOL_X = np.array(
    [
        [[1.0, -2.0], [100.0, 100.0], [3.0, -4.0]],  # middle step masked
        [[5.0, 6.0], [7.0, 8.0], [9.0, 10.0]],  # all steps masked
    ]
)
POOL_MASK = np.array([[True, False, True], [False, False, False]])


def test_global_average_pooling_masked_and_all_masked_row() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 0/0 must not warn
        out = layers.global_average_pooling_1d(POOL_X, POOL_MASK)
    assert out.shape == (2, 2)
    np.testing.assert_array_equal(out[0], [2.0, -3.0])
    assert np.isnan(out[1]).all()
    np.testing.assert_array_equal(
        layers.global_average_pooling_1d(POOL_X, None), [[104 / 3, 94 / 3], [7.0, 8.0]]
    )


def test_global_max_pooling_masked_and_all_masked_row() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = layers.global_max_pooling_1d(POOL_X, POOL_MASK)
    np.testing.assert_array_equal(out, [[3.0, -2.0], [-np.inf, -np.inf]])
    # mask=None is what Keras's GlobalMaxPooling1D computes (it ignores the mask).
    np.testing.assert_array_equal(
        layers.global_max_pooling_1d(POOL_X, None), [[100.0, 100.0], [9.0, 10.0]]
    )


# --- tolerances and compare -----------------------------------------------------------------


def test_tolerances() -> None:
    for dtype in ("float32", "float64"):
        assert tolerance.tolerance("lookup", dtype) == 0.0
    for dtype in ("float16", "bfloat16", "float32", "float64"):
        assert tolerance.tolerance("mask", dtype) == 0.0
    # A rounded float16 / bfloat16 lookup is within half an ulp of |v| < 0.5.
    assert tolerance.tolerance("lookup", "float16") >= 2.0**-12
    assert tolerance.tolerance("lookup", "bfloat16") >= 2.0**-9
    assert tolerance.tolerance("recurrent", "float32") == 1e-5
    assert tolerance.tolerance("pooling", "float32") == 1e-6
    assert tolerance.tolerance("pooling", "float16") == 1e-2
    assert tolerance.tolerance("recurrent", "bfloat16") == 3e-2
    with pytest.raises(KeyError, match="Received: kind='convolution'"):
        tolerance.tolerance("convolution", "float32")
    with pytest.raises(KeyError, match="Received: dtype='int8'"):
        tolerance.tolerance("pooling", "int8")


def test_compare_nans_and_infinities() -> None:
    expected = np.array([1.0, np.nan, 2.0, np.inf, -1.0])
    assert tolerance.compare(expected, np.array([1.5, np.nan, 2.0, np.inf, -1.0])) == (0.5, 1)
    assert tolerance.compare(expected, np.array([1.0, 0.0, 2.0, np.inf, -1.0])) == (math.inf, 0)
    observed = np.array([1.0, np.nan, np.nan, np.inf, -1.0])
    assert tolerance.compare(expected, observed) == (math.inf, 2)
    assert tolerance.compare(expected, np.array([1.0, np.nan, 2.0, -np.inf, -1.0])) == (math.inf, 1)
    observed = np.array([1.0, np.nan, 2.0, np.inf, -1.0], dtype=np.float16)
    assert tolerance.compare(expected, observed) == (0.0, 1)
    assert tolerance.compare(np.zeros((0, 3)), np.zeros((0, 3))) == (0.0, 0)
    assert tolerance.compare(np.array([True, False]), np.array([True, True])) == (1.0, 0)


def test_compare_shape_mismatch() -> None:
    with pytest.raises(ValueError, match=r"expected.shape=\(2, 3\), observed.shape=\(3, 2\)"):
        tolerance.compare(np.zeros((2, 3)), np.zeros((3, 2)))


def test_dense_attention_and_training_by_hand() -> None:
    x = np.array([[[1.0, 0.0], [0.0, 2.0]]])  # (batch 1, steps 2, features 2)
    np.testing.assert_allclose(layers.dense(x, np.eye(2) * 2, np.array([1.0, -1.0])),
                               [[[3.0, -1.0], [1.0, 3.0]]])
    # Self-attention with the second step masked: every query attends to step 0 only, and the
    # masked query's output is zeroed.
    out = layers.dot_attention(x, np.array([[True, False]]))
    np.testing.assert_allclose(out, [[[1.0, 0.0], [0.0, 0.0]]])
    # Unmasked: scores [[1, 0], [0, 4]] -> softmax rows [e/(e+1), 1/(e+1)], [1/(1+e^4), ...].
    full = layers.dot_attention(x, None)
    e = np.e
    np.testing.assert_allclose(full[0, 0], [e / (e + 1), 2 / (e + 1)])
    # One SGD step: table rows 1 and 2, ids [[1, 1, 2]], lr 0.5; d/dE mean(E[ids]^2) over 6
    # elements is 2 * E / 6 per occurrence: row 1 twice, row 2 once, row 0 unchanged.
    table = np.array([[9.0, 9.0], [3.0, 6.0], [-3.0, 1.5]])
    step = layers.sgd_step_mse(table, np.array([[1, 1, 2]]), 0.5)
    np.testing.assert_allclose(step, [[9.0, 9.0], [2.0, 4.0], [-2.5, 1.25]])
    clipped = layers.sgd_step_mse(table, np.array([[1, 1, 2]]), 0.5, non_negative=True)
    np.testing.assert_allclose(clipped, [[9.0, 9.0], [2.0, 4.0], [0.0, 1.25]])
    regular = layers.sgd_step_mse(table, np.array([[1, 1, 2]]), 0.5, l2=0.1)
    np.testing.assert_allclose(regular[0], [9.0 - 0.5 * 0.2 * 9.0] * 2)
    with pytest.raises(IndexError):
        layers.sgd_step_mse(table, np.array([[3]]), 0.5)


def test_multi_head_attention_with_identity_projections_is_scaled_dot_attention() -> None:
    x = np.array([[[1.0, 0.0], [0.0, 2.0], [5.0, 5.0]]])
    eye = np.eye(2).reshape(2, 1, 2)
    zeros = np.zeros((1, 2))
    weights = [eye, zeros, eye, zeros, eye, zeros, np.eye(2).reshape(1, 2, 2), np.zeros(2)]
    mask = np.array([[True, True, False]])
    out = layers.multi_head_attention(x, mask, weights)
    scores = np.array([[1.0, 0.0], [0.0, 4.0]]) / np.sqrt(2)
    w = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(out[0, :2], w @ x[0, :2])
