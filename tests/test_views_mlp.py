"""`playground.views.time.mlp`: the raw, trained and fresh embeddings, their statistics, figures and sentences."""

import math

import numpy as np
import plotly.graph_objects as go
import pytest
import torch
from view_helpers import PAYLOAD_LIMIT, dit_formula, payload

from playground.cache import weights_digest
from playground.diffusion import ALPHAS_CUMPROD
from playground.model import DiT
from playground.stats import cosine_similarity_matrix
from playground.views.time import mlp, mlp_figures


def test_raw_sinusoid_moves_the_same_distance_every_step():
    """Item 5: a step is measured against the part that varies with t (rows minus their mean), not the offset."""
    raw = dit_formula(np.arange(1000.0), 256)
    d = mlp.neighbour_distinguishability(raw)
    freqs = np.exp(-math.log(10000) * np.arange(128) / 128)
    varying = math.sqrt(np.mean(np.sum((raw - raw.mean(axis=0)) ** 2, axis=1)))
    expected = math.sqrt(2 * np.sum(1 - np.cos(freqs))) / varying
    np.testing.assert_allclose(d, expected, rtol=1e-9)
    np.testing.assert_allclose(mlp.neighbour_distinguishability(7.5 * raw), d)  # scale-free
    np.testing.assert_allclose(mlp.neighbour_distinguishability(raw + 50.0), d)  # a constant offset does not count


def test_pca_of_a_planar_circle():
    angle = np.linspace(0, 2 * np.pi, 400, endpoint=False)
    basis = np.linalg.qr(np.random.default_rng(0).normal(size=(10, 2)))[0]
    points = np.stack([3 * np.cos(angle), np.sin(angle)], 1) @ basis.T + 5
    proj, ratio = mlp.pca(points, k=3)
    assert proj.shape == (400, 3)
    np.testing.assert_allclose(ratio.sum(), 1)
    np.testing.assert_allclose(ratio[:2], [0.9, 0.1], atol=1e-9)  # variances 9/2 and 1/2
    assert mlp.components_for(ratio, 0.85) == 1 and mlp.components_for(ratio, 0.95) == 2


def test_fresh_embedder_has_the_reference_init_and_keeps_the_global_rng(random_dit):
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    fresh = mlp.fresh_timestep_embedder(random_dit.config_dict(), seed=7)
    after = torch.rand(3)
    assert torch.equal(before, after)
    again = mlp.fresh_timestep_embedder(random_dit.config_dict(), seed=7)
    other = mlp.fresh_timestep_embedder(random_dit.config_dict(), seed=8)
    assert torch.equal(fresh.mlp[0].weight, again.mlp[0].weight)
    assert not torch.equal(fresh.mlp[0].weight, other.mlp[0].weight)
    for layer in (fresh.mlp[0], fresh.mlp[2]):
        assert layer.weight.std().item() == pytest.approx(0.02, rel=0.1)
        assert torch.all(layer.bias == 0)


def bin_means(values, size):
    values = np.asarray(values, dtype=np.float64)
    return values.reshape(len(values) // size, size, *values.shape[1:]).mean(axis=1)


def test_mlp_heatmap_cells_are_bin_means_and_fast_raw_columns_blank(random_dit):
    """Item 1 in tab 2: rows are bins of 10 t (each cell their mean); raw waves under 3 rows per cycle are blank."""
    stats = mlp.family_stats(random_dit, 0)
    fig = mlp_figures.mlp_heatmaps(stats["family"])
    raw_z = np.asarray(fig.data[0].z, dtype=np.float64)
    trained_z = np.asarray(fig.data[1].z, dtype=np.float64)
    freqs = np.exp(-math.log(10000) * np.arange(128) / 128)
    blank = np.tile(2 * np.pi / freqs < 30, 2)  # rows 10 steps apart
    assert blank.sum() == 44
    exact = bin_means(dit_formula(np.arange(1000.0), 256), 10)
    assert np.all(np.isnan(raw_z[:, blank])) and not np.any(np.isnan(raw_z[:, ~blank]))
    np.testing.assert_allclose(raw_z[:, ~blank], exact[:, ~blank], atol=2e-3)
    np.testing.assert_allclose(trained_z, bin_means(stats["family"]["trained"], 10), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(fig.data[0].y, dtype=np.float64), np.arange(4.5, 1000, 10), atol=1e-4)
    subtitle = fig.layout.title.subtitle.text
    assert "bins of 10" in subtitle and "44 raw columns" in subtitle
    sims = mlp_figures.mlp_similarities(stats["family"])
    full = cosine_similarity_matrix(stats["family"]["fresh"])
    np.testing.assert_allclose(
        np.asarray(sims.data[2].z, dtype=np.float64), full.reshape(100, 10, 100, 10).mean(axis=(1, 3)), atol=1e-5
    )


def test_signal_level_is_oriented_and_correlated():
    sqrt_abar = np.sqrt(ALPHAS_CUMPROD.double().numpy())
    noise = np.random.default_rng(0).normal(size=1000)
    signal = mlp.signal_level(-(3 * sqrt_abar + 0.1 * noise))
    assert signal["corr_sqrt_abar"] > 0
    assert np.corrcoef(signal["pc1"], sqrt_abar)[0, 1] == pytest.approx(signal["corr_sqrt_abar"])
    abar = ALPHAS_CUMPROD.double().numpy()
    np.testing.assert_allclose(signal["log_snr"], np.log(abar / (1 - abar)))


def test_shipped_t_emb_is_one_feature_that_tracks_the_signal_level(shipped):
    """Items 5 and 7 on the shipped checkpoint: the numbers the summary states, computed here independently."""
    with torch.no_grad():
        t_emb = shipped.t_embedder(torch.arange(1000.0)).double().numpy()
    varying = t_emb - t_emb.mean(axis=0)
    _, s, vt = np.linalg.svd(varying, full_matrices=False)
    explained = s[0] ** 2 / np.sum(s**2)
    sqrt_abar = np.sqrt(ALPHAS_CUMPROD.double().numpy())
    corr = abs(np.corrcoef(varying @ vt[0], sqrt_abar)[0, 1])
    assert explained == pytest.approx(0.956, abs=0.01) and corr == pytest.approx(0.987, abs=0.005)
    view = mlp.mlp_view(shipped, 0)
    stats = mlp.family_stats(shipped, 0)
    assert stats["ratio"]["trained"][0] == pytest.approx(explained, abs=1e-6)
    assert stats["signal"]["corr_sqrt_abar"] == pytest.approx(corr, abs=1e-6)
    assert f"explains {100 * explained:.0f} %" in view["summary"] and f"correlation {corr:.3f}" in view["summary"]
    rms = math.sqrt(np.mean(np.sum(varying**2, axis=1)))
    early = np.linalg.norm(np.diff(t_emb, axis=0), axis=1)[:100].mean() / rms
    raw = dit_formula(np.arange(1000.0), 256)
    raw_rms = math.sqrt(np.mean(np.sum((raw - raw.mean(0)) ** 2, axis=1)))
    early_raw = np.linalg.norm(np.diff(raw, axis=0), axis=1)[:100].mean() / raw_rms
    assert stats["steps"]["trained"][:100].mean() == pytest.approx(early, rel=1e-4)
    assert 10 < early_raw / early < 30  # against the varying part: ~18x, not the 70x of the offset-laden norm
    assert f"{early_raw / early:.2g}× less" in view["summary"]
    offset = np.sum(t_emb.mean(axis=0) ** 2) / np.mean(np.sum(t_emb**2, axis=1))
    assert f"the mean over t is {100 * offset:.0f} %" in view["summary"]
    assert f"(norm {np.linalg.norm(t_emb.mean(axis=0)):.3g};" in view["summary"]
    assert len(view["signal"].data) == 2


def test_pca_sentence_counts_the_components_of_each_curve(random_dit):
    """Item 6: the sentence's counts are the components for 90 % of each curve's variance."""
    view = mlp.mlp_view(random_dit, 0)
    stats = mlp.family_stats(random_dit, 0)
    for name, dims in (("raw", 256), ("trained", 64), ("fresh", 64)):
        emb = stats["family"][name] - stats["family"][name].mean(0)
        s = np.linalg.svd(emb, compute_uv=False) ** 2
        count = int(np.searchsorted(np.cumsum(s / s.sum()), 0.9 - 1e-12) + 1)
        assert f"{name} {count} of {dims}" in view["summary"]
    assert "1-D curve" in view["summary"]


def test_mlp_view_outputs_and_numbers(random_dit):
    view = mlp.mlp_view(random_dit, seed=0)
    figures = ["heatmaps", "similarities", "pca2d", "pca3d", "distinguishability", "signal"]
    assert set(view) == {*figures, "summary"}
    assert all(isinstance(view[k], go.Figure) for k in figures)
    assert sum(payload(view[k]) for k in figures) < PAYLOAD_LIMIT
    stats = mlp.family_stats(random_dit, 0)
    assert stats["family"]["raw"].shape == (1000, 256) and stats["family"]["trained"].shape == (1000, 64)
    assert f"raw {mlp.components_for(stats['ratio']['raw'])} of 256" in view["summary"]
    assert len(view["summary"].splitlines()) == 4 and "class" not in view["summary"]  # the classes: the adaLN page
    assert len(view["distinguishability"].data) == 3


def test_the_seed_is_checked_once_and_named():
    assert mlp.validate_seed("7") == 7 and mlp.validate_seed(2**31 - 1) == 2**31 - 1
    with pytest.raises(ValueError, match="seed must be between 0 and 2147483647, got -1"):
        mlp.validate_seed(-1)
    with pytest.raises(ValueError, match="seed must be a whole number, got 'inf'"):
        mlp.validate_seed("inf")


def test_family_stats_are_cached_by_weights_not_by_module(random_dit):
    """The cache keeps no model alive, and a model with other t_embedder weights gets its own statistics."""
    import gc
    import weakref

    model = DiT(**random_dit.config_dict())
    model.load_state_dict(random_dit.state_dict())
    first = mlp.family_stats(model, 0)
    twin = DiT(**random_dit.config_dict())
    twin.load_state_dict(random_dit.state_dict())
    assert mlp.family_stats(twin, 0) is first  # same weights, same config and seed: computed once
    assert mlp.family_stats(model, 1) is not first  # another seed of the fresh MLP
    with torch.no_grad():
        twin.t_embedder.mlp[2].bias.add_(1.0)
    changed = mlp.family_stats(twin, 0)
    assert changed is not first
    assert not np.allclose(changed["family"]["trained"], first["family"]["trained"])
    key = (weights_digest(model.t_embedder), tuple(sorted(model.config_dict().items())), 0)
    assert mlp.STATS.peek(key) is first  # kept by the t_embedder's weights
    ref = weakref.ref(model)
    del model
    gc.collect()
    assert ref() is None


def test_t_grows_to_the_right_in_the_step_and_signal_figures(random_dit):
    """App-wide, t increases to the right: the step-length figure's x axis is t; the signal figure's x axes (√ᾱ_t
    and the log-SNR, which fall as t grows) are reversed, so t grows to the right there too."""
    view = mlp.mlp_view(random_dit, seed=0)
    steps = view["distinguishability"]
    assert steps.layout.xaxis.title.text == "t (0 clean → 999 noise)" and steps.layout.xaxis.autorange is None
    assert all(np.all(np.diff(np.asarray(trace.x)) > 0) for trace in steps.data)
    signal = view["signal"]
    for trace in signal.data:
        axis = signal.layout["xaxis" + trace.xaxis[1:]]
        x = np.asarray(trace.x, dtype=np.float64)
        assert axis.autorange == "reversed" and np.all(np.diff(x) <= 0) and x[0] > x[-1], axis.title.text
        assert "t →" in axis.title.text
