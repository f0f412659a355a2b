"""`playground.views.embedding` and its inspector: values against independent formulas, shapes, invariants."""

import math

import numpy as np
import plotly.graph_objects as go
import pytest
import torch
from view_helpers import PAYLOAD_LIMIT, dit_formula, payload

from playground import plots
from playground.views import embedding, inspector


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dim": 1}, "dim must be between 2"),
        ({"dim": 3, "flavour": "diffusers"}, "dim must be between 4"),
        ({"dim": 10.5}, "whole number"),
        ({"max_period": 1}, "max_period"),
        ({"max_period": float("nan")}, "max_period"),
        ({"n_t": 0}, "number of t"),
        ({"t_start": 10, "t_end": 5}, "must not be below"),
        ({"flavour": "openai"}, "Unknown flavour"),
    ],
)
def test_embedding_inputs_are_validated(kwargs, message):
    args = {"dim": 256, "max_period": 10000, "t_start": 0, "t_end": 999, "n_t": 100, "flavour": "dit", **kwargs}
    with pytest.raises(ValueError, match=message):
        embedding.validate_embedding_inputs(**args)


def test_even_indices_keep_ends_and_bound_the_count():
    assert list(plots.even_indices(5, 10)) == [0, 1, 2, 3, 4]
    idx = plots.even_indices(1000, 200)
    assert len(idx) == 200 and idx[0] == 0 and idx[-1] == 999
    assert np.all(np.diff(idx) > 0)


def test_column_info_matches_the_frequency_formula():
    info = embedding.column_info(256, 10000.0, "dit")
    expected = np.exp(-math.log(10000) * np.arange(128) / 128)
    np.testing.assert_allclose(info["omega"][:128], expected, rtol=1e-6)
    np.testing.assert_allclose(info["omega"][128:], expected, rtol=1e-6)
    assert info["kind"][:128] == ["cos"] * 128 and info["kind"][128:] == ["sin"] * 128
    assert info["wavelength"][0] == pytest.approx(2 * math.pi)
    odd = embedding.column_info(257, 10000.0, "dit")
    assert odd["kind"][-1] == "zero" and odd["omega"][-1] == 0 and len(odd["kind"]) == 257
    diffusers = embedding.column_info(256, 10000.0, "diffusers")
    assert diffusers["kind"][0] == "sin" and diffusers["kind"][128] == "cos"
    np.testing.assert_allclose(diffusers["omega"][:128], np.exp(-math.log(10000) * np.arange(128) / 127), rtol=1e-6)


def test_heatmap_values_are_the_embedding_at_the_shown_rows():
    view = embedding.embedding_view(dim=64, t_start=0, t_end=999, n_t=1000, inspect_t="4")
    heat = view["heatmap"].data[0]
    z = np.asarray(heat.z, dtype=np.float64)
    ts = np.asarray(heat.y, dtype=np.float64)
    assert z.shape == (embedding.MAX_HEATMAP_ROWS, 64)
    np.testing.assert_allclose(ts[[0, -1]], [0, 999])
    np.testing.assert_allclose(z, dit_formula(ts, 64), atol=2e-3)  # float32 args at t ~ 1000
    texts = " ".join(a.text for a in view["heatmap"].layout.annotations)
    assert "cos half" in texts and "sin half" in texts
    assert "200 of 1000 t rows" in view["heatmap"].layout.title.subtitle.text
    assert "Downsampled" in view["notes"]


def test_heatmap_hover_names_frequency_and_wavelength():
    view = embedding.embedding_view(dim=8, max_period=100, t_start=0, t_end=10, n_t=11, inspect_t="1")
    names = list(view["heatmap"].data[0].x)
    assert len(names) == 8
    assert "dim 0 (cos" in names[0] and "every 6.28 steps" in names[0]
    assert "dim 4 (sin" in names[4]
    assert "%{x}" in view["heatmap"].data[0].hovertemplate and "%{z" in view["heatmap"].data[0].hovertemplate


def test_odd_dim_shows_a_zero_column():
    view = embedding.embedding_view(dim=7, t_start=0, t_end=50, n_t=20, inspect_t="3, 3")
    z = np.asarray(view["heatmap"].data[0].z)
    assert z.shape == (20, 7)
    assert np.all(z[:, -1] == 0) and np.any(z[:, -2] != 0)
    assert "zero pad" in view["heatmap"].data[0].x[-1]
    assert any(a.text == "<b>zero</b>" for a in view["heatmap"].layout.annotations)
    assert "zero column" in view["inspector"]


def test_wide_embeddings_are_downsampled_to_the_column_cap():
    view = embedding.embedding_view(dim=1024, n_t=2000, inspect_t="1")
    z = np.asarray(view["heatmap"].data[0].z)
    assert z.shape == (embedding.MAX_HEATMAP_ROWS, embedding.MAX_HEATMAP_COLS)
    assert "256 of 1024 columns" in view["heatmap"].layout.title.subtitle.text
    total = sum(payload(view[k]) for k in ("heatmap", "dims", "similarity"))
    assert total < PAYLOAD_LIMIT


def test_cosine_similarity_of_dit_embedding_depends_only_on_the_lag():
    ts = np.arange(0, 300, 3.0)
    sim = plots.cosine_similarity_matrix(dit_formula(ts, 128))
    half = 64
    freqs = np.exp(-math.log(10000) * np.arange(half) / half)
    lag = ts[:, None] - ts[None, :]
    expected = np.cos(lag[..., None] * freqs).mean(-1)  # every row has norm sqrt(half)
    np.testing.assert_allclose(sim, expected, atol=1e-9)
    np.testing.assert_allclose(np.diag(sim), 1)
    np.testing.assert_allclose(sim, sim.T)


def test_similarity_headline_finds_the_first_lag_below_one_half():
    ts = np.arange(1000.0)
    emb = dit_formula(ts, 256)
    freqs = np.exp(-math.log(10000) * np.arange(128) / 128)
    sims = np.array([np.cos(lag * freqs).mean() for lag in range(1, 1000)])
    first = int(np.argmax(sims < 0.5)) + 1
    title, subtitle = embedding.similarity_headline(ts, emb)
    assert f"≥ {first} apart" in title
    assert f"{sims[0]:.3f}" in subtitle


def test_diffusers_dit_differs_from_dit_by_the_published_amount():
    diffs = embedding.flavour_differences(np.arange(1000.0), 256, 10000.0)
    max_abs, mean_abs = diffs["diffusers-dit"]
    assert max_abs == pytest.approx(1.98, abs=0.01)
    assert mean_abs == pytest.approx(0.245, abs=0.005)
    assert set(diffs) == {"diffusers", "diffusers-dit"}
    assert embedding.flavour_differences(np.arange(10.0), 2, 10000.0) == {}  # the variants need dim >= 4


def test_pick_frequencies_spans_fast_to_slow():
    wavelengths = embedding.column_info(256)["wavelength"][:128]
    ks = embedding.pick_frequencies(wavelengths, span=999)
    assert list(ks) == sorted(ks) and ks[-1] == 127
    assert 999 / 16 < wavelengths[ks[0]] < 999 / 4  # a fast one that still draws as a wave
    assert len(embedding.pick_frequencies(wavelengths[:1], span=999)) == 1


def test_inspector_walks_the_shapes_with_real_numbers(random_dit):
    text = inspector.inspector_markdown([4, 4, 4, 4], 256, 10000.0, "dit", random_dit.t_embedder)
    for shape in ("`[4]`", "`[128]`", "`[4, 128]`", "`[4, 256]`", "`[4, 64]`"):
        assert shape in text
    assert "every row is identical" in text
    assert f"{math.cos(4):.4g}" in text  # t_freq[0, 0] = cos(4 * 1)
    with torch.no_grad():
        norm = random_dit.t_embedder(torch.tensor([4.0]))[0].norm().item()
    assert f"norm {norm:.4g}" in text
    mixed = inspector.inspector_markdown([0, 999], 32, 10000.0, "dit", random_dit.t_embedder)
    assert "rows never mix" in mixed and "computed from that, not from your knobs" in mixed
    assert "`t_emb`" not in inspector.inspector_markdown([1], 8, 10000.0, "dit", None, "no model")


def test_embedding_view_payload_and_outputs():
    view = embedding.embedding_view()
    assert set(view) == {"heatmap", "dims", "similarity", "inspector", "notes"}
    assert all(isinstance(view[k], go.Figure) for k in ("heatmap", "dims", "similarity"))
    assert sum(payload(view[k]) for k in ("heatmap", "dims", "similarity")) < PAYLOAD_LIMIT
    sim = np.asarray(view["similarity"].data[0].z)
    assert sim.shape == (embedding.MAX_HEATMAP_ROWS, embedding.MAX_HEATMAP_ROWS)
    assert len(view["dims"].data) == 8  # 4 frequencies, cos and sin each
