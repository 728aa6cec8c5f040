"""The references of the integer and mask path, against values worked out by hand.

Each family of issue 10 (index ops, sparse losses and metrics, stacked cells, attention call
arguments, lookup and encoding layers) is checked on small inputs whose answers are written
out here, including the inputs the reference refuses. The numbers do not reuse the
reference's own NumPy code: they are the arithmetic a person would do.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from cases.model import Nested
from matrix.oracle import index_ops
from matrix.oracle.arrays import Value
from matrix.oracle.path_refs import (
    _accuracy,
    _category_encoding,
    _dot_attention,
    _lookup,
    _mha,
    _rnn,
    _scce,
    _text_vectorization,
    _top_k,
    _top_k_accuracy,
)
from matrix.oracle.recurrent import gru

TABLE = np.array([[0.0, 0.5], [1.0, 1.5], [2.0, 2.5]])


# --- index ops -------------------------------------------------------------------------------

def test_take_rows_and_wraps_negative_indices_as_numpy_does() -> None:
    assert index_ops.take(TABLE, np.array([2, 0]), axis=0).tolist() == [[2.0, 2.5], [0.0, 0.5]]
    assert index_ops.take(TABLE, np.array([-1]), axis=0).tolist() == [[2.0, 2.5]]
    assert index_ops.take(TABLE, np.array([[1], [0]]), axis=1).tolist() == [
        [[0.5], [0.0]], [[1.5], [1.0]], [[2.5], [2.0]]]
    assert index_ops.take(TABLE, np.array([True, False]), axis=0).tolist() == [
        [1.0, 1.5], [0.0, 0.5]]


@pytest.mark.parametrize(("indices", "error"), [
    (np.array([3]), IndexError), (np.array([-4]), IndexError),
    (np.array([1.0]), TypeError), (np.array([1.5]), TypeError)])
def test_take_refuses_indices_out_of_range_and_float_indices(indices: np.ndarray,
                                                             error: type) -> None:
    with pytest.raises(error):
        index_ops.take(TABLE, indices, axis=0)


def test_take_along_axis() -> None:
    x = np.array([[10.0, 20.0, 30.0], [40.0, 50.0, 60.0]])
    assert index_ops.take_along_axis(x, np.array([[2, 0], [1, -1]]), axis=1).tolist() == [
        [30.0, 10.0], [50.0, 60.0]]
    with pytest.raises(IndexError):
        index_ops.take_along_axis(x, np.array([[3, 0], [1, 1]]), axis=1)


def test_one_hot_and_multi_hot_give_zeros_outside_the_classes() -> None:
    assert index_ops.one_hot(np.array([0, 2, 3, -1]), 3).tolist() == [
        [1, 0, 0], [0, 0, 1], [0, 0, 0], [0, 0, 0]]
    assert index_ops.multi_hot(np.array([[0, 2, 2], [5, 1, -1]]), 3).tolist() == [
        [1, 0, 1], [0, 1, 0]]
    with pytest.raises(TypeError):
        index_ops.one_hot(np.array([0.5]), 3)


def test_segments_sum_and_max_and_refuse_ids_outside_the_segments() -> None:
    data = np.array([[1.0], [2.0], [3.0], [4.0]])
    assert index_ops.segment_sum(data, np.array([0, 0, 1, 2]), 3).tolist() == [[3.0], [3.0], [4.0]]
    assert index_ops.segment_max(data, np.array([1, 0, 1, 2]), 3).tolist() == [[2.0], [3.0], [4.0]]
    for bad in ([0, 0, 1, 3], [0, -1, 1, 2]):
        with pytest.raises(IndexError):
            index_ops.segment_sum(data, np.array(bad), 3)
    with pytest.raises(ValueError, match="empty segments"):
        index_ops.segment_max(data, np.array([0, 0, 0, 2]), 3)


def test_bincount() -> None:
    assert index_ops.bincount(np.array([1, 1, 3]), minlength=5).tolist() == [0, 2, 0, 1, 0]
    assert index_ops.bincount(np.array([[0, 2], [2, 2]])).tolist() == [[1, 0, 1], [0, 0, 2]]
    with pytest.raises(ValueError, match="non-negative"):
        index_ops.bincount(np.array([1, -1]))


def test_top_k_returns_values_then_indices() -> None:
    out = _top_k({"k": 2}, [Value(np.array([[0.1, 0.9, 0.5]]))], [], {})
    values, indices = out.array
    assert values.tolist() == [[0.9, 0.5]]
    assert indices.tolist() == [[1, 2]]


# --- losses and metrics ------------------------------------------------------------------------

PROBS = np.array([[0.5, 0.25, 0.25], [0.1, 0.1, 0.8]])


def _inputs(labels: list[int]) -> list[Value]:
    return [Value(np.array(labels)), Value(PROBS)]


def test_sparse_crossentropy_is_the_mean_negative_log_probability() -> None:
    out = _scce({}, _inputs([0, 2]), [], {})
    assert float(out.array) == pytest.approx((-math.log(0.5) - math.log(0.8)) / 2)
    logits = [Value(np.array([1])), Value(np.array([[0.0, math.log(3.0)]]))]
    assert float(_scce({"from_logits": True}, logits, [], {}).array) == \
        pytest.approx(-math.log(0.75))


def test_ignore_class_leaves_its_labels_out_of_the_mean() -> None:
    out = _scce({"ignore_class": 2}, _inputs([0, 2]), [], {})
    assert float(out.array) == pytest.approx(-math.log(0.5))


@pytest.mark.parametrize("labels", [[0, 3], [0, -1]])
def test_sparse_crossentropy_refuses_labels_outside_the_classes(labels: list[int]) -> None:
    with pytest.raises(IndexError):
        _scce({}, _inputs(labels), [], {})


def test_labels_of_shape_batch_1_are_squeezed_and_a_wrong_rank_refused() -> None:
    squeezed = [Value(np.array([[0], [2]])), Value(PROBS)]
    assert float(_scce({}, squeezed, [], {}).array) == \
        pytest.approx((-math.log(0.5) - math.log(0.8)) / 2)
    with pytest.raises(ValueError, match="rank"):
        _scce({}, [Value(np.array([[0, 1], [2, 0]])), Value(PROBS)], [], {})


def test_accuracy_and_top_k_accuracy() -> None:
    assert float(_accuracy({}, _inputs([0, 1]), [], {}).array) == 0.5
    assert float(_top_k_accuracy({"k": 2}, _inputs([1, 0]), [], {}).array) == 1.0
    assert float(_top_k_accuracy({"k": 1}, _inputs([1, 2]), [], {}).array) == 0.5
    assert float(_top_k_accuracy({"k": 2}, _inputs([0, -1]), [], {}).array) == 0.5


# --- stacked cells -----------------------------------------------------------------------------

def test_stacked_cells_equal_the_layers_one_after_the_other() -> None:
    x = np.array([[[0.5], [1.0], [0.0]]])
    mask = np.array([[True, True, False]])
    w1 = [np.array([[0.5]]), np.array([[0.25]]), np.array([0.1])]
    w2 = [np.array([[1.0]]), np.array([[0.5]]), np.array([0.0])]
    cells = [Nested("layers.SimpleRNNCell", {"units": 1}),
             Nested("layers.SimpleRNNCell", {"units": 1})]
    out = _rnn({"cell": cells}, [Value(x, mask)], [*w1, *w2], {})
    h1 = [math.tanh(0.5 * 0.5 + 0.1)]
    h1.append(math.tanh(1.0 * 0.5 + 0.1 + h1[0] * 0.25))
    g = math.tanh(h1[0])
    g = math.tanh(h1[1] + 0.5 * g)
    assert float(out.array[0, 0]) == pytest.approx(g)  # the masked third step changes nothing


def test_gru_reset_after_false_by_hand() -> None:
    """One unit, one feature, one step from h = 0: the reset gate multiplies h = 0."""
    kernel = np.array([[0.5, -0.5, 1.0]])  # z, r, h
    recurrent = np.array([[0.3, 0.2, 0.4]])
    bias = np.array([0.1, 0.0, -0.2])
    out = gru(np.array([[[2.0]]]), None, kernel, recurrent, bias, reset_after=False)
    z = 1 / (1 + math.exp(-(1.0 + 0.1)))
    hh = math.tanh(2.0 - 0.2)
    assert float(out[0, 0]) == pytest.approx((1 - z) * hh)


# --- attention ---------------------------------------------------------------------------------

def test_causal_dot_attention_attends_to_the_past_only() -> None:
    x = np.array([[[1.0], [2.0]]])
    out = _dot_attention({}, [Value(x), Value(x)], [], {"use_causal_mask": True})
    second = (math.exp(2.0) * 1.0 + math.exp(4.0) * 2.0) / (math.exp(2.0) + math.exp(4.0))
    assert out.array[0, :, 0].tolist() == pytest.approx([1.0, second])


def test_multi_head_attention_scores_follow_the_explicit_mask() -> None:
    x = np.array([[[1.0], [0.0]]])
    ones = [np.ones((1, 1, 1)), np.zeros((1, 1))]
    w = [*ones, *ones, *ones, np.ones((1, 1, 1)), np.zeros(1)]
    mask = Value(np.array([[[True, False], [True, True]]]))
    out = _mha({"num_heads": 1, "key_dim": 1}, [Value(x), Value(x)], w,
               {"attention_mask": mask, "return_attention_scores": True})
    _, scores = out.array
    assert scores[0, 0, 0].tolist() == [1.0, 0.0]  # query 0 may only see key 0
    # query 1 sees both keys with scores q.k = 0 * 1 and 0 * 0: equal weights.
    assert scores[0, 0, 1].tolist() == pytest.approx([0.5, 0.5])


# --- lookups and encodings -----------------------------------------------------------------

def test_integer_lookup_oov_and_mask_token() -> None:
    ids = Value(np.array([[10, 99, 30], [20, 0, 0]]))
    assert _lookup({"vocabulary": [10, 20, 30]}, [ids], [], {}).array.tolist() == [
        [1, 0, 3], [2, 0, 0]]
    masked = _lookup({"vocabulary": [10, 20, 30], "mask_token": 0}, [ids], [], {})
    assert masked.array.tolist() == [[2, 1, 4], [3, 0, 0]]


def test_string_lookup_and_text_vectorization() -> None:
    tokens = Value(np.array([["a", "z"], ["c", ""]]))
    assert _lookup({"vocabulary": ["a", "b", "c"], "mask_token": ""}, [tokens], [],
                   {}).array.tolist() == [[2, 1], [4, 0]]
    texts = Value(np.array(["The cat, sat!", "a dog"]))
    out = _text_vectorization({"vocabulary": ["the", "cat", "sat"],
                               "output_sequence_length": 4}, [texts], [], {})
    assert out.array.tolist() == [[2, 3, 4, 0], [1, 1, 0, 0]]


def test_category_encoding_modes_and_refusal() -> None:
    one = _category_encoding({"num_tokens": 3, "output_mode": "one_hot"},
                             [Value(np.array([2, 0]))], [], {})
    assert one.array.tolist() == [[0, 0, 1], [1, 0, 0]]
    count = _category_encoding({"num_tokens": 3, "output_mode": "count"},
                               [Value(np.array([[1, 1, 2]]))], [], {})
    assert count.array.tolist() == [[0, 2, 1]]
    multi = _category_encoding({"num_tokens": 3}, [Value(np.array([[1, 1, 2]]))], [], {})
    assert multi.array.tolist() == [[0, 1, 1]]
    with pytest.raises(ValueError, match="num_tokens"):
        _category_encoding({"num_tokens": 3}, [Value(np.array([[3]]))], [], {})


# --- a mask reaching a loss in fit ---------------------------------------------------------

def test_masked_sparse_loss_averages_over_unmasked_timesteps_only() -> None:
    from matrix.oracle.layers import masked_sparse_categorical_crossentropy as loss

    # softmax([0, 0]) = [1/2, 1/2]; softmax([ln 3, 0]) = [3/4, 1/4].
    logits = np.array([[[0.0, 0.0], [np.log(3.0), 0.0]]])
    labels = np.array([[0, 1]])
    assert float(loss(logits, labels, np.array([[True, False]]))) == pytest.approx(np.log(2))
    # Without a mask, the mean of -log(1/2) and -log(1/4).
    assert float(loss(logits, labels, None)) == pytest.approx(1.5 * np.log(2))
    # A label past the classes counts only where the mask keeps it.
    assert float(loss(logits, np.array([[0, 7]]), np.array([[True, False]]))) == \
        pytest.approx(np.log(2))
    with pytest.raises(IndexError, match=r"in \[0, 2\)"):
        loss(logits, np.array([[0, 7]]), None)
    assert float(loss(logits, labels, np.array([[False, False]]))) == 0.0


def test_the_masked_fit_cases_expect_the_masked_mean() -> None:
    from matrix.oracle.catalog import load_catalog
    from matrix.oracle.expect import expected

    cases = {c.axes["mask"]: c for c in load_catalog().cases
             if c.axes.get("loss") == "scce_fit" and c.axes["input_dtype"] == "int32"}
    masked, unmasked = (expected(cases[k]).values for k in ("mask_zero", "none"))
    assert masked is not None
    assert unmasked is not None
    # The padded timesteps (label 0) would move the mean by far more than the tolerance.
    assert abs(float(masked) - float(unmasked)) > 0.05


def test_attention_concat_scores_are_the_weighted_sum_of_tanh() -> None:
    # One query 0 and two keys (= values) 0 and atanh(1/2), one feature, weight 2: scores
    # 2 * tanh(0 + 0) = 0 and 2 * tanh(atanh(1/2)) = 1, so softmax gives e / (1 + e) to the
    # second value.
    x = math.atanh(0.5)
    query = Value(np.array([[[0.0]]]))
    value = Value(np.array([[[0.0], [x]]]))
    out = _dot_attention({"score_mode": "concat"}, [query, value], [np.array(2.0)], {})
    assert out.array.shape == (1, 1, 1)
    assert float(out.array[0, 0, 0]) == pytest.approx(math.e / (1 + math.e) * x)
    # The default score mode is the dot product: scores 0 and 0, an even average.
    dot = _dot_attention({}, [query, value], [], {})
    assert float(dot.array[0, 0, 0]) == pytest.approx(x / 2)


def test_hashing_with_two_bins_sends_the_mask_value_to_0_and_the_rest_to_1() -> None:
    from cases.model import NotModelled
    from matrix.oracle.path_refs import _hashing

    out = _hashing({"num_bins": 2, "mask_value": 0}, [Value(np.array([[7, 0], [0, 5]]))], [], {})
    assert out.array.tolist() == [[1, 0], [0, 1]]
    assert out.array.dtype == np.int64
    words = _hashing({"num_bins": 2, "mask_value": ""}, [Value(np.array([["a", ""]]))], [], {})
    assert words.array.tolist() == [[1, 0]]
    with pytest.raises(NotModelled, match="FarmHash"):
        _hashing({"num_bins": 3, "mask_value": 0}, [Value(np.array([1]))], [], {})
