"""`playground.views.mlp`: the raw, trained and fresh embeddings, their statistics and the modulation."""

import math

import numpy as np
import plotly.graph_objects as go
import pytest
import torch
from view_helpers import PAYLOAD_LIMIT, dit_formula, payload

from playground.model import DiT
from playground.views import mlp


def test_raw_sinusoid_moves_the_same_distance_every_step():
    raw = dit_formula(np.arange(1000.0), 256)
    d = mlp.neighbour_distinguishability(raw)
    freqs = np.exp(-math.log(10000) * np.arange(128) / 128)
    expected = math.sqrt(2 * np.sum(1 - np.cos(freqs))) / math.sqrt(128)  # every row has norm sqrt(128)
    np.testing.assert_allclose(d, expected, rtol=1e-9)
    np.testing.assert_allclose(mlp.neighbour_distinguishability(7.5 * raw), d)  # scale-free


def test_pca_of_a_planar_circle():
    angle = np.linspace(0, 2 * np.pi, 400, endpoint=False)
    basis = np.linalg.qr(np.random.default_rng(0).normal(size=(10, 2)))[0]
    points = np.stack([3 * np.cos(angle), np.sin(angle)], 1) @ basis.T + 5
    proj, ratio = mlp.pca(points, k=3)
    assert proj.shape == (400, 3)
    np.testing.assert_allclose(ratio.sum(), 1)
    np.testing.assert_allclose(ratio[:2], [0.9, 0.1], atol=1e-9)  # variances 9/2 and 1/2
    assert mlp.components_for(ratio, 0.85) == 1 and mlp.components_for(ratio, 0.95) == 2
    assert mlp.participation_ratio(np.full(5, 0.2)) == pytest.approx(5)


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


def test_fresh_dit_has_zero_modulation(random_dit):
    """adaLN-Zero: an initialised DiT modulates nothing; the trained one (random here) does."""
    fresh = DiT(**random_dit.config_dict()).eval()
    ts = np.array([0.0, 500.0, 999.0])
    strength, _ = mlp.modulation_strength(fresh, 3, ts)
    assert strength.shape == (6, 2, 3) and np.all(strength == 0)
    strength, trace = mlp.modulation_strength(random_dit, 3, ts)
    manual = trace["modulation"][1]["gate_mlp"].abs().mean(dim=1).numpy()
    np.testing.assert_allclose(strength[5, 1], manual, rtol=1e-6)


def test_mlp_view_outputs_and_numbers(random_dit):
    view = mlp.mlp_view(random_dit, label=10, seed=0)  # the null class is allowed
    figures = ["heatmaps", "similarities", "pca2d", "pca3d", "distinguishability", "modulation"]
    assert all(isinstance(view[k], go.Figure) for k in figures)
    assert sum(payload(view[k]) for k in figures) < PAYLOAD_LIMIT
    stats = mlp.family_stats(random_dit, 0)
    assert stats["family"]["raw"].shape == (1000, 256) and stats["family"]["trained"].shape == (1000, 64)
    early = {k: v[:100].mean() for k, v in stats["steps"].items()}
    ratio = early["trained"] / early["raw"]
    word = "more" if ratio >= 1 else "less"
    amount = ratio if ratio >= 1 else 1 / ratio
    assert f"{amount:.2g}× {word} distinguishable" in view["summary"]
    assert f"raw {mlp.components_for(stats['ratio']['raw'])} of 256" in view["summary"]
    assert "∅ (null, 10)" in view["summary"]
    assert len(view["distinguishability"].data) == 3
    with pytest.raises(ValueError, match="class label"):
        mlp.mlp_view(random_dit, label=11)


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
    ref = weakref.ref(model)
    del model
    gc.collect()
    assert ref() is None
