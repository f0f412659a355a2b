import math

import numpy as np
import pytest
import torch
from diffusers.models.embeddings import get_timestep_embedding

from playground.embedding import FLAVOURS, frequencies, timestep_embedding


def reference_formula(t, dim, max_period=10000.0):
    """DiT's embedding written out element by element in float64."""
    half = dim // 2
    out = np.zeros((len(t), dim))
    for i, ti in enumerate(t):
        for j in range(half):
            freq = math.exp(-math.log(max_period) * j / half)
            out[i, j] = math.cos(ti * freq)
            out[i, half + j] = math.sin(ti * freq)
    return out


@pytest.mark.parametrize("dim", [1, 2, 7, 64, 256, 257])
def test_dit_embedding_matches_formula(dim):
    t = [0.0, 1.0, 4.5, 250.25, 999.0]
    got = timestep_embedding(torch.tensor(t), dim).double().numpy()
    assert got.shape == (len(t), dim)
    np.testing.assert_allclose(got, reference_formula(t, dim), atol=2e-4)


def test_odd_dim_appends_a_zero_column():
    emb = timestep_embedding(torch.arange(10.0), 9)
    assert emb.shape == (10, 9)
    assert torch.all(emb[:, -1] == 0)
    assert torch.all(emb[:, :4] == torch.cos(torch.arange(10.0)[:, None] * frequencies(9)[None]))


def test_cos_half_first_and_t0_is_ones_then_zeros():
    emb = timestep_embedding(torch.tensor([0.0]), 8)
    assert emb.tolist() == [[1, 1, 1, 1, 0, 0, 0, 0]]


def test_fractional_t_sits_between_integers():
    emb = timestep_embedding(torch.tensor([3.0, 3.5, 4.0]), 256)
    # The slowest column is nearly linear in t over one step.
    slow = emb[:, 127 + 128]
    assert abs(slow[1] - (slow[0] + slow[2]) / 2) < 1e-6
    assert not torch.equal(emb[1], emb[0])


@pytest.mark.parametrize(
    "flavour, flip, shift", [("dit", True, 0), ("diffusers", False, 1), ("diffusers-dit", True, 1)]
)
@pytest.mark.parametrize("dim", [16, 256, 33])
def test_flavours_match_diffusers(flavour, flip, shift, dim):
    t = torch.tensor([0, 1, 17, 500, 999])
    expected = get_timestep_embedding(t, dim, flip_sin_to_cos=flip, downscale_freq_shift=shift)
    torch.testing.assert_close(timestep_embedding(t, dim, flavour=flavour), expected, atol=1e-5, rtol=0)
    assert FLAVOURS[flavour] == (flip, shift)


def test_diffusers_port_differs_from_dit_as_reported():
    t = torch.arange(1000)
    diff = (timestep_embedding(t, 256, flavour="diffusers-dit") - timestep_embedding(t, 256)).abs()
    assert 1.9 < diff.max() < 2.0
    assert 0.2 < diff.mean() < 0.3


def test_max_period_sets_the_slowest_frequency():
    f = frequencies(256, max_period=100.0)
    assert f[0] == 1.0
    assert math.isclose(f[-1].item(), 100.0 ** (-127 / 128), rel_tol=1e-5)


def test_bad_flavour_and_tiny_dim_raise():
    with pytest.raises(ValueError, match="flavour"):
        timestep_embedding(torch.tensor([1.0]), 8, flavour="nope")
    with pytest.raises(ValueError, match="too small"):
        timestep_embedding(torch.tensor([1.0]), 2, flavour="diffusers")
