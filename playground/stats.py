"""Statistics the figures draw, in numpy only: which rows of a long table a picture keeps, bins of consecutive rows
and their means, and cosine similarities between rows (each row one t, one label or one position)."""

import numpy as np


def even_indices(n, max_n):
    """At most `max_n` evenly spread indices into range(n), always including the first and last."""
    if n <= max_n:
        return np.arange(n)
    return np.unique(np.round(np.linspace(0, n - 1, max_n)).astype(int))


def cosine_similarity_matrix(emb):
    """`[T, T]` cosine similarity between the rows of `emb`."""
    emb = np.asarray(emb, dtype=np.float64)
    unit = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
    return unit @ unit.T


def row_bins(n, max_n):
    """At most `max_n` contiguous, near-equal bins covering range(n): a list of index arrays (sizes differ by 1)."""
    return np.array_split(np.arange(n), min(n, max_n)) if n else []


def bin_means(values, bins):
    """Mean of the rows of `values` over each bin of `row_bins`: `[len(bins), ...]`, what a cell standing for
    those rows holds (a wave too fast for the bin averages towards 0 instead of folding into a false slow one)."""
    values = np.asarray(values, dtype=np.float64)
    starts = np.array([b[0] for b in bins])
    sizes = np.array([len(b) for b in bins], dtype=np.float64)
    if not all(np.array_equal(b, np.arange(b[0], b[0] + len(b))) for b in bins):
        raise ValueError("bin_means needs contiguous bins (row_bins makes them)")
    return np.add.reduceat(values, starts, axis=0) / sizes.reshape((-1,) + (1,) * (values.ndim - 1))


def binned_cosine_similarity(emb, bins):
    """`[B, B]` mean cosine similarity over every pair of rows of two bins: the bins' mean unit vectors dotted."""
    emb = np.asarray(emb, dtype=np.float64)
    unit = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
    means = bin_means(unit, bins)
    return means @ means.T
