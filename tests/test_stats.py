"""`playground.stats`: rows kept, bins and their means, cosine similarities, against formulas written out here."""

import numpy as np
import pytest

from playground.stats import bin_means, binned_cosine_similarity, cosine_similarity_matrix, even_indices, row_bins

RNG = np.random.default_rng(0)


def test_even_indices_keep_ends_and_bound_the_count():
    assert list(even_indices(5, 10)) == [0, 1, 2, 3, 4]
    assert list(even_indices(10, 4)) == [0, 3, 6, 9]  # round(0, 3, 6, 9)
    idx = even_indices(1000, 200)
    assert len(idx) == 200 and idx[0] == 0 and idx[-1] == 999 and np.all(np.diff(idx) > 0)
    np.testing.assert_array_equal(idx, [round(i * 999 / 199) for i in range(200)])


def test_cosine_similarity_is_the_normalised_dot_product():
    emb = RNG.normal(size=(6, 5))
    expected = [[a @ b / (np.linalg.norm(a) * np.linalg.norm(b)) for b in emb] for a in emb]
    np.testing.assert_allclose(cosine_similarity_matrix(emb), expected, rtol=1e-12)
    with_zero = cosine_similarity_matrix(np.array([[0.0, 0.0], [3.0, 4.0]]))
    np.testing.assert_array_equal(with_zero, [[0, 0], [0, 1]])  # a zero row is like nothing, not NaN


def test_row_bins_are_contiguous_near_equal_and_cover_every_row():
    assert [list(b) for b in row_bins(10, 4)] == [[0, 1, 2], [3, 4, 5], [6, 7], [8, 9]]
    assert [list(b) for b in row_bins(3, 8)] == [[0], [1], [2]]  # never more bins than rows
    assert row_bins(0, 5) == []
    bins = row_bins(1000, 7)
    assert np.array_equal(np.concatenate(bins), np.arange(1000))
    assert {len(b) for b in bins} == {142, 143}


@pytest.mark.parametrize("shape", [(10,), (10, 3), (10, 2, 4)])
def test_bin_means_are_the_mean_of_each_bins_rows(shape):
    values = RNG.normal(size=shape)
    bins = row_bins(10, 4)
    expected = np.stack([values[b].mean(axis=0) for b in bins])
    np.testing.assert_allclose(bin_means(values, bins), expected, rtol=1e-12)
    with pytest.raises(ValueError, match="contiguous bins"):
        bin_means(values, [np.array([0, 2]), np.array([1, 3])])


def test_binned_similarity_is_the_mean_over_every_pair_of_two_bins():
    emb = RNG.normal(size=(9, 4))
    bins = row_bins(9, 4)  # sizes 3, 2, 2, 2
    full = cosine_similarity_matrix(emb)
    expected = [[full[np.ix_(a, b)].mean() for b in bins] for a in bins]
    np.testing.assert_allclose(binned_cosine_similarity(emb, bins), expected, rtol=1e-12)
    np.testing.assert_allclose(binned_cosine_similarity(emb, row_bins(9, 9)), full, rtol=1e-12)
