"""`playground.views.time.waves`, its inspector and `similarity`: values against independent formulas, shapes,
invariants."""

import math
import re

import numpy as np
import plotly.graph_objects as go
import pytest
import torch
from view_helpers import PAYLOAD_LIMIT, dit_formula, payload

from playground.inputs import fmt
from playground.stats import cosine_similarity_matrix, even_indices
from playground.views.time import inspector, similarity
from playground.views.time import waves as embedding


def page_view(embedder=None, embedder_note=None, **knobs):
    """The view for `knobs` (the rest at their defaults), checked by its validator as the page checks them."""
    return embedding.embedding_view(embedding.validate_embedding_inputs(**knobs), embedder, embedder_note)


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
        ({"inspect_t": "4, x"}, "'x' is not a number"),
        ({"inspect_t": "1 2 3 4 5 6 7 8 9"}, "at most 8"),
    ],
)
def test_embedding_inputs_are_validated(kwargs, message):
    args = {"dim": 256, "max_period": 10000, "t_start": 0, "t_end": 999, "n_t": 100, "flavour": "dit", **kwargs}
    with pytest.raises(ValueError, match=message):
        embedding.validate_embedding_inputs(**args)


def test_a_request_is_checked_once_into_numbers():
    request = embedding.validate_embedding_inputs("64", 100, "0", 50.0, 11.0, "diffusers", "0; 4 999")
    assert request == embedding.EmbeddingRequest(64, 100.0, 0.0, 50.0, 11, "diffusers", (0.0, 4.0, 999.0))
    assert embedding.validate_embedding_inputs() == embedding.EmbeddingRequest(256, 10000.0, 0.0, 999.0, 1000, "dit",
                                                                               (4.0, 4.0, 4.0, 4.0))
    with pytest.raises(AttributeError):
        request.dim = 8  # frozen: a kept result's key cannot change under it


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


def wavelengths(dim, max_period=10000.0):
    half = dim // 2
    w = 2 * math.pi / np.exp(-math.log(max_period) * np.arange(half) / half)
    return np.concatenate([w, w, [np.inf] * (dim % 2)])


def test_heatmap_cells_are_the_means_of_the_t_they_stand_for():
    """Item 1: 1000 t in 200 rows: each cell is the mean over its 5 t, and waves under 3 rows per cycle are blank."""
    view = page_view(dim=64, t_start=0, t_end=999, n_t=1000, inspect_t="4")
    heat = view["heatmap"].data[0]
    z = np.asarray(heat.z, dtype=np.float64)
    assert z.shape == (similarity.MAX_HEATMAP_ROWS, 64)
    exact = dit_formula(np.arange(1000.0), 64).reshape(200, 5, 64).mean(axis=1)  # bins of 5 consecutive t
    centres = np.arange(1000.0).reshape(200, 5).mean(axis=1)
    np.testing.assert_allclose(np.asarray(heat.y, dtype=np.float64), centres, atol=1e-3)
    blank = wavelengths(64) < 3 * 5.0  # the displayed rows are 5 steps apart
    assert blank.sum() == 2 * np.sum(wavelengths(64)[:32] < 15) > 0
    assert np.all(np.isnan(z[:, blank])) and not np.any(np.isnan(z[:, ~blank]))
    np.testing.assert_allclose(z[:, ~blank], exact[:, ~blank], atol=2e-3)  # float32 args at t ~ 1000
    texts = " ".join(a.text for a in view["heatmap"].layout.annotations)
    assert "cos half" in texts and "sin half" in texts
    assert f"{int(blank.sum())} columns" in view["heatmap"].layout.title.subtitle.text
    assert "mean" in view["notes"]


def test_default_heatmap_draws_no_folded_wave():
    """Item 1 at the defaults: column 0 (6.28 steps per cycle) is not drawn as a slow wave, nor is any column that
    the displayed rows sample fewer than 3 times per cycle; every drawn column is the bin mean of its t."""
    view = page_view()
    z = np.asarray(view["heatmap"].data[0].z, dtype=np.float64)
    exact = dit_formula(np.arange(1000.0), 256).reshape(200, 5, 256).mean(axis=1)
    drawn = ~np.isnan(z[0])
    assert np.all(wavelengths(256)[drawn] >= 15) and np.all(wavelengths(256)[~drawn] < 15)
    assert not drawn[0] and (~drawn).sum() == 26
    np.testing.assert_allclose(z[:, drawn], exact[:, drawn], atol=2e-3)


def test_similarity_cells_are_the_mean_over_the_pairs_they_stand_for():
    view = page_view(dim=32, t_start=0, t_end=999, n_t=1000, inspect_t="4")
    z = np.asarray(view["similarity"].data[0].z, dtype=np.float64)
    full = cosine_similarity_matrix(dit_formula(np.arange(1000.0), 32))
    np.testing.assert_allclose(z, full.reshape(200, 5, 200, 5).mean(axis=(1, 3)), atol=1e-5)


def test_title_says_fast_to_slow_within_each_half():
    """Item 12: the wavelength grows within each half and drops back where the second half starts."""
    for flavour, (first, second) in (("dit", ("cos", "sin")), ("diffusers", ("sin", "cos"))):
        info = embedding.column_info(256, flavour=flavour)
        w, half = info["wavelength"], info["half"]
        assert np.all(np.diff(w[:half]) > 0) and np.all(np.diff(w[half:]) > 0) and w[half] < w[half - 1]
        assert (info["kind"][0], info["kind"][half]) == (first, second)
        title = page_view(flavour=flavour, inspect_t="1")["heatmap"].layout.title.text
        assert f"a {first} half and a {second} half, each fast (left) to slow (right)" in title


def test_lines_never_draw_a_wave_under_three_points_per_cycle():
    for t_end, max_period in ((999, 10000.0), (20000, 10000.0), (99999, 10000.0)):
        fig = embedding.dimension_lines(0, t_end, 256, max_period, "dit")
        spacing = t_end / (embedding.MAX_T_POINTS - 1)
        for trace in fig.data:
            col = int(trace.name.split()[1])
            assert wavelengths(256)[col] >= 3 * spacing
    too_fast = embedding.dimension_lines(0, 99999, 8, 2.0, "dit")  # every wave repeats in under 13 steps
    assert not too_fast.data and "Too fast" in too_fast.layout.title.text


def test_heatmap_hover_names_frequency_and_wavelength():
    view = page_view(dim=8, max_period=100, t_start=0, t_end=10, n_t=11, inspect_t="1")
    names = list(view["heatmap"].data[0].x)
    assert len(names) == 8
    assert "dim 0 (cos" in names[0] and "every 6.28 steps" in names[0]
    assert "dim 4 (sin" in names[4]
    assert "%{x}" in view["heatmap"].data[0].hovertemplate and "%{z" in view["heatmap"].data[0].hovertemplate


def test_odd_dim_shows_a_zero_column():
    view = page_view(dim=7, t_start=0, t_end=50, n_t=20, inspect_t="3, 3")
    z = np.asarray(view["heatmap"].data[0].z)
    assert z.shape == (20, 7)
    assert np.all(z[:, -1] == 0) and np.any(z[:, -2] != 0)
    assert "zero pad" in view["heatmap"].data[0].x[-1]
    assert any(a.text == "<b>zero</b>" for a in view["heatmap"].layout.annotations)
    assert "zero column" in view["inspector"]


def test_wide_embeddings_are_downsampled_to_the_column_cap():
    view = page_view(dim=1024, n_t=2000, inspect_t="1")
    z = np.asarray(view["heatmap"].data[0].z)
    assert z.shape == (similarity.MAX_HEATMAP_ROWS, embedding.MAX_HEATMAP_COLS)
    assert "256 of 1024 columns" in view["heatmap"].layout.title.subtitle.text
    cols = even_indices(1024, embedding.MAX_HEATMAP_COLS)
    exact = dit_formula(np.linspace(0, 999, 2000), 1024)[:, cols].reshape(200, 10, 256).mean(axis=1)
    drawn = ~np.isnan(z[0])
    np.testing.assert_allclose(z[:, drawn], exact[:, drawn], atol=2e-3)
    total = sum(payload(view[k]) for k in ("heatmap", "dims", "similarity"))
    assert total < PAYLOAD_LIMIT


def test_cosine_similarity_of_dit_embedding_depends_only_on_the_lag():
    ts = np.arange(0, 300, 3.0)
    sim = cosine_similarity_matrix(dit_formula(ts, 128))
    half = 64
    freqs = np.exp(-math.log(10000) * np.arange(half) / half)
    lag = ts[:, None] - ts[None, :]
    expected = np.cos(lag[..., None] * freqs).mean(-1)  # every row has norm sqrt(half)
    np.testing.assert_allclose(sim, expected, atol=1e-9)
    np.testing.assert_allclose(np.diag(sim), 1)
    np.testing.assert_allclose(sim, sim.T)


def lag_similarity(dim, lags):
    half = dim // 2
    freqs = np.exp(-math.log(10000) * np.arange(half) / half)
    return np.array([np.cos(lag * freqs).mean() for lag in lags])


@pytest.mark.parametrize("dim", [2, 4, 8, 256])
def test_similarity_headline_states_what_holds_for_every_gap(dim):
    """Item 2: similarity is not monotone in the gap; the headline's gap is the one beyond which it stays < 0.5."""
    ts = np.arange(1000.0)
    lags = np.arange(1, 1000)
    sims = lag_similarity(dim, lags)
    full = cosine_similarity_matrix(dit_formula(ts, dim))
    highest = np.array([full.diagonal(k).max() for k in lags])  # every pair at that gap, not only from t = 0
    np.testing.assert_allclose(highest, sims, atol=1e-9)
    gaps, computed = similarity.similarity_by_gap(ts, dit_formula(ts, dim))
    np.testing.assert_allclose(computed, sims, atol=1e-9)
    first, stable, peak_gap, peak = similarity.separation_gap(gaps, computed)
    below = sims < 0.5
    assert first == lags[np.argmax(below)]
    expected_stable = None if not below[-1] else lags[np.flatnonzero(~below)[-1] + 1]
    assert stable == expected_stable
    after = sims[int(first) - 1 :]
    assert peak == pytest.approx(after.max()) and peak_gap == lags[int(first) - 1 + np.argmax(after)]
    if stable is not None:
        assert np.all(sims[int(stable) - 1 :] < 0.5) and sims[int(stable) - 2] >= 0.5
    title, subtitle = similarity.similarity_headline(ts, dit_formula(ts, dim))
    if stable is None:
        assert "No gap is safe" in title and "back above" in title
    else:
        assert f"≥ {fmt(stable)}" in title
    assert f"{sims[0]:.3f}" in subtitle


def test_similarity_headline_at_the_published_values():
    """The issue's numbers: at dim 2, 4, 8, 256 the similarity climbs back to 1.0, 0.999, 0.948 and 0.501."""
    ts = np.arange(1000.0)
    peaks = {dim: similarity.separation_gap(*similarity.similarity_by_gap(ts, dit_formula(ts, dim)))[3]
             for dim in (2, 4, 8, 256)}
    assert [round(peaks[d], 3) for d in (2, 4, 8, 256)] == [1.0, 0.999, 0.948, 0.501]
    first, stable, _, _ = similarity.separation_gap(*similarity.similarity_by_gap(ts, dit_formula(ts, 256)))
    assert (first, stable) == (53, 57)


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
    view = page_view()
    assert set(view) == {"heatmap", "dims", "similarity", "inspector", "notes"}
    assert all(isinstance(view[k], go.Figure) for k in ("heatmap", "dims", "similarity"))
    assert sum(payload(view[k]) for k in ("heatmap", "dims", "similarity")) < PAYLOAD_LIMIT
    sim = np.asarray(view["similarity"].data[0].z)
    assert sim.shape == (similarity.MAX_HEATMAP_ROWS, similarity.MAX_HEATMAP_ROWS)
    assert len(view["dims"].data) == 8  # 4 frequencies, cos and sin each


def test_halves_are_marked_where_they_start_among_the_shown_columns():
    """dim 1024 shows 256 evenly spread columns: the dashed line sits before the first shown sin column."""
    cols = np.unique(np.round(np.linspace(0, 1023, 256)).astype(int))
    first_sin = int(np.flatnonzero(cols >= 512)[0])
    info = embedding.column_info(1024)
    shapes, annotations = embedding.half_marks(info, cols, 1024)
    assert [s["x0"] for s in shapes] == [first_sin - 0.5]
    assert [a["text"] for a in annotations] == ["<b>cos half: fast → slow</b>", "<b>sin half: fast → slow</b>"]
    assert [a["x"] for a in annotations] == [(first_sin - 1) / 2, (first_sin - 0.5 + 255.5) / 2]
    odd = embedding.half_marks(embedding.column_info(7), np.arange(7), 7)
    assert [s["x0"] for s in odd[0]] == [2.5, 5.5] and odd[1][-1]["x"] == 6.0  # the zero pad after the 2 halves


def test_inspector_rows_are_the_trained_mlp_of_the_dit_formula(random_dit):
    """The `hidden` and `t_emb` rows are SiLU(W1 t_freq + b1) and W2 hidden + b2 of DiT's waves at t = 500."""
    mlp = random_dit.t_embedder.mlp
    t_freq = dit_formula([500.0], 256)[0]
    w1, b1 = mlp[0].weight.double().detach().numpy(), mlp[0].bias.double().detach().numpy()
    w2, b2 = mlp[2].weight.double().detach().numpy(), mlp[2].bias.double().detach().numpy()
    pre = w1 @ t_freq + b1
    hidden = pre / (1 + np.exp(-pre))
    t_emb = w2 @ hidden + b2
    text = inspector.inspector_markdown([500.0], 256, 10000.0, "dit", random_dit.t_embedder)
    rows = {line.split("|")[1].strip(): line.split("|")[4] for line in text.splitlines() if line.startswith("| `")}

    def numbers(cell):
        return [float(v) for v in re.findall(r"-?\d+\.?\d*(?:e[-+]\d+)?", cell.split(": ", 1)[1])]

    np.testing.assert_allclose(numbers(rows["`hidden`"]), [*hidden[:3], hidden[-1]], rtol=1e-3, atol=1e-6)
    *head, norm = numbers(rows["`t_emb`"])
    np.testing.assert_allclose(head, [*t_emb[:3], t_emb[-1]], rtol=1e-3, atol=1e-6)  # printed to 4 digits
    assert norm == pytest.approx(np.linalg.norm(t_emb), rel=1e-3)
