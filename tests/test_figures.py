"""The pure view builders of `playground.figures`: values against independent formulas, shapes, invariants."""

import json
import math

import numpy as np
import plotly.graph_objects as go
import pytest
import torch
from PIL import Image

from playground import figures as F
from playground.diffusion import sampling_timesteps
from playground.model import DiT

PAYLOAD_LIMIT = 1_500_000




def dit_formula(ts, dim, max_period=10000.0):
    """DiT's embedding in float64 numpy, written independently of playground.embedding."""
    half = dim // 2
    freqs = np.exp(-math.log(max_period) * np.arange(half) / half)
    args = np.asarray(ts, dtype=np.float64)[:, None] * freqs[None]
    out = np.concatenate([np.cos(args), np.sin(args)], axis=1)
    return np.concatenate([out, np.zeros((len(ts), 1))], axis=1) if dim % 2 else out


def payload(fig):
    return len(fig.to_json())


# ---------------------------------------------------------------- parsing and validation


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0, 1, 2, 4, 7, 10", [0, 1, 2, 4, 7, 10]), ("1.5 -2", [1.5, -2]), ("[4; 7]", [4, 7]), (" 30 ", [30])],
)
def test_parse_scales_accepts_lists(text, expected):
    assert F.parse_scales(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "at least one"),
        ("   ", "at least one"),
        (None, "at least one"),
        (",,", "at least one"),
        ("1, abc", "'abc' is not a number"),
        ("nan", "not a finite number"),
        ("1, inf", "not a finite number"),
        ("31", "outside the allowed range"),
        ("-5.5", "outside the allowed range"),
        (", ".join(["1"] * (F.MAX_SCALES + 1)), f"at most {F.MAX_SCALES}"),
    ],
)
def test_parse_scales_rejects_bad_input_with_a_reason(text, message):
    with pytest.raises(ValueError, match=message):
        F.parse_scales(text)


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
        F.validate_embedding_inputs(**args)


def test_even_indices_keep_ends_and_bound_the_count():
    assert list(F.even_indices(5, 10)) == [0, 1, 2, 3, 4]
    idx = F.even_indices(1000, 200)
    assert len(idx) == 200 and idx[0] == 0 and idx[-1] == 999
    assert np.all(np.diff(idx) > 0)


# ---------------------------------------------------------------- view 1: the embedding


def test_column_info_matches_the_frequency_formula():
    info = F.column_info(256, 10000.0, "dit")
    expected = np.exp(-math.log(10000) * np.arange(128) / 128)
    np.testing.assert_allclose(info["omega"][:128], expected, rtol=1e-6)
    np.testing.assert_allclose(info["omega"][128:], expected, rtol=1e-6)
    assert info["kind"][:128] == ["cos"] * 128 and info["kind"][128:] == ["sin"] * 128
    assert info["wavelength"][0] == pytest.approx(2 * math.pi)
    odd = F.column_info(257, 10000.0, "dit")
    assert odd["kind"][-1] == "zero" and odd["omega"][-1] == 0 and len(odd["kind"]) == 257
    diffusers = F.column_info(256, 10000.0, "diffusers")
    assert diffusers["kind"][0] == "sin" and diffusers["kind"][128] == "cos"
    np.testing.assert_allclose(diffusers["omega"][:128], np.exp(-math.log(10000) * np.arange(128) / 127), rtol=1e-6)


def test_heatmap_values_are_the_embedding_at_the_shown_rows():
    view = F.embedding_view(dim=64, t_start=0, t_end=999, n_t=1000, inspect_t="4")
    heat = view["heatmap"].data[0]
    z = np.asarray(heat.z, dtype=np.float64)
    ts = np.asarray(heat.y, dtype=np.float64)
    assert z.shape == (F.MAX_HEATMAP_ROWS, 64)
    np.testing.assert_allclose(ts[[0, -1]], [0, 999])
    np.testing.assert_allclose(z, dit_formula(ts, 64), atol=2e-3)  # float32 args at t ~ 1000
    texts = " ".join(a.text for a in view["heatmap"].layout.annotations)
    assert "cos half" in texts and "sin half" in texts
    assert "200 of 1000 t rows" in view["heatmap"].layout.title.subtitle.text
    assert "Downsampled" in view["notes"]


def test_heatmap_hover_names_frequency_and_wavelength():
    view = F.embedding_view(dim=8, max_period=100, t_start=0, t_end=10, n_t=11, inspect_t="1")
    names = list(view["heatmap"].data[0].x)
    assert len(names) == 8
    assert "dim 0 (cos" in names[0] and "every 6.28 steps" in names[0]
    assert "dim 4 (sin" in names[4]
    assert "%{x}" in view["heatmap"].data[0].hovertemplate and "%{z" in view["heatmap"].data[0].hovertemplate


def test_odd_dim_shows_a_zero_column():
    view = F.embedding_view(dim=7, t_start=0, t_end=50, n_t=20, inspect_t="3, 3")
    z = np.asarray(view["heatmap"].data[0].z)
    assert z.shape == (20, 7)
    assert np.all(z[:, -1] == 0) and np.any(z[:, -2] != 0)
    assert "zero pad" in view["heatmap"].data[0].x[-1]
    assert any(a.text == "<b>zero</b>" for a in view["heatmap"].layout.annotations)
    assert "zero column" in view["inspector"]


def test_wide_embeddings_are_downsampled_to_the_column_cap():
    view = F.embedding_view(dim=1024, n_t=2000, inspect_t="1")
    z = np.asarray(view["heatmap"].data[0].z)
    assert z.shape == (F.MAX_HEATMAP_ROWS, F.MAX_HEATMAP_COLS)
    assert "256 of 1024 columns" in view["heatmap"].layout.title.subtitle.text
    total = sum(payload(view[k]) for k in ("heatmap", "dims", "similarity"))
    assert total < PAYLOAD_LIMIT


def test_cosine_similarity_of_dit_embedding_depends_only_on_the_lag():
    ts = np.arange(0, 300, 3.0)
    sim = F.cosine_similarity_matrix(dit_formula(ts, 128))
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
    title, subtitle = F.similarity_headline(ts, emb)
    assert f"≥ {first} apart" in title
    assert f"{sims[0]:.3f}" in subtitle


def test_diffusers_dit_differs_from_dit_by_the_published_amount():
    diffs = F.flavour_differences(np.arange(1000.0), 256, 10000.0)
    max_abs, mean_abs = diffs["diffusers-dit"]
    assert max_abs == pytest.approx(1.98, abs=0.01)
    assert mean_abs == pytest.approx(0.245, abs=0.005)
    assert set(diffs) == {"diffusers", "diffusers-dit"}
    assert F.flavour_differences(np.arange(10.0), 2, 10000.0) == {}  # the variants need dim >= 4


def test_pick_frequencies_spans_fast_to_slow():
    wavelengths = F.column_info(256)["wavelength"][:128]
    ks = F.pick_frequencies(wavelengths, span=999)
    assert list(ks) == sorted(ks) and ks[-1] == 127
    assert 999 / 16 < wavelengths[ks[0]] < 999 / 4  # a fast one that still draws as a wave
    assert len(F.pick_frequencies(wavelengths[:1], span=999)) == 1


def test_inspector_walks_the_shapes_with_real_numbers(random_dit):
    text = F.inspector_markdown([4, 4, 4, 4], 256, 10000.0, "dit", random_dit.t_embedder)
    for shape in ("`[4]`", "`[128]`", "`[4, 128]`", "`[4, 256]`", "`[4, 64]`"):
        assert shape in text
    assert "every row is identical" in text
    assert f"{math.cos(4):.4g}" in text  # t_freq[0, 0] = cos(4 * 1)
    with torch.no_grad():
        norm = random_dit.t_embedder(torch.tensor([4.0]))[0].norm().item()
    assert f"norm {norm:.4g}" in text
    mixed = F.inspector_markdown([0, 999], 32, 10000.0, "dit", random_dit.t_embedder)
    assert "rows never mix" in mixed and "computed from that, not from your knobs" in mixed
    assert "`t_emb`" not in F.inspector_markdown([1], 8, 10000.0, "dit", None, "no model")


def test_embedding_view_payload_and_outputs():
    view = F.embedding_view()
    assert set(view) == {"heatmap", "dims", "similarity", "inspector", "notes"}
    assert all(isinstance(view[k], go.Figure) for k in ("heatmap", "dims", "similarity"))
    assert sum(payload(view[k]) for k in ("heatmap", "dims", "similarity")) < PAYLOAD_LIMIT
    sim = np.asarray(view["similarity"].data[0].z)
    assert sim.shape == (F.MAX_HEATMAP_ROWS, F.MAX_HEATMAP_ROWS)
    assert len(view["dims"].data) == 8  # 4 frequencies, cos and sin each


# ---------------------------------------------------------------- view 2: with and without the MLP


def test_raw_sinusoid_moves_the_same_distance_every_step():
    raw = dit_formula(np.arange(1000.0), 256)
    d = F.neighbour_distinguishability(raw)
    freqs = np.exp(-math.log(10000) * np.arange(128) / 128)
    expected = math.sqrt(2 * np.sum(1 - np.cos(freqs))) / math.sqrt(128)  # every row has norm sqrt(128)
    np.testing.assert_allclose(d, expected, rtol=1e-9)
    np.testing.assert_allclose(F.neighbour_distinguishability(7.5 * raw), d)  # scale-free


def test_pca_of_a_planar_circle():
    angle = np.linspace(0, 2 * np.pi, 400, endpoint=False)
    basis = np.linalg.qr(np.random.default_rng(0).normal(size=(10, 2)))[0]
    points = np.stack([3 * np.cos(angle), np.sin(angle)], 1) @ basis.T + 5
    proj, ratio = F.pca(points, k=3)
    assert proj.shape == (400, 3)
    np.testing.assert_allclose(ratio.sum(), 1)
    np.testing.assert_allclose(ratio[:2], [0.9, 0.1], atol=1e-9)  # variances 9/2 and 1/2
    assert F.components_for(ratio, 0.85) == 1 and F.components_for(ratio, 0.95) == 2
    assert F.participation_ratio(np.full(5, 0.2)) == pytest.approx(5)


def test_fresh_embedder_has_the_reference_init_and_keeps_the_global_rng(random_dit):
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    fresh = F.fresh_timestep_embedder(random_dit.config_dict(), seed=7)
    after = torch.rand(3)
    assert torch.equal(before, after)
    again = F.fresh_timestep_embedder(random_dit.config_dict(), seed=7)
    other = F.fresh_timestep_embedder(random_dit.config_dict(), seed=8)
    assert torch.equal(fresh.mlp[0].weight, again.mlp[0].weight)
    assert not torch.equal(fresh.mlp[0].weight, other.mlp[0].weight)
    for layer in (fresh.mlp[0], fresh.mlp[2]):
        assert layer.weight.std().item() == pytest.approx(0.02, rel=0.1)
        assert torch.all(layer.bias == 0)


def test_fresh_dit_has_zero_modulation(random_dit):
    """adaLN-Zero: an initialised DiT modulates nothing; the trained one (random here) does."""
    fresh = DiT(**random_dit.config_dict()).eval()
    ts = np.array([0.0, 500.0, 999.0])
    strength, _ = F.modulation_strength(fresh, 3, ts)
    assert strength.shape == (6, 2, 3) and np.all(strength == 0)
    strength, trace = F.modulation_strength(random_dit, 3, ts)
    manual = trace["modulation"][1]["gate_mlp"].abs().mean(dim=1).numpy()
    np.testing.assert_allclose(strength[5, 1], manual, rtol=1e-6)


def test_mlp_view_outputs_and_numbers(random_dit):
    view = F.mlp_view(random_dit, label=10, seed=0)  # the null class is allowed
    figures = ["heatmaps", "similarities", "pca2d", "pca3d", "distinguishability", "modulation"]
    assert all(isinstance(view[k], go.Figure) for k in figures)
    assert sum(payload(view[k]) for k in figures) < PAYLOAD_LIMIT
    stats = F.family_stats(random_dit, 0)
    assert stats["family"]["raw"].shape == (1000, 256) and stats["family"]["trained"].shape == (1000, 64)
    early = {k: v[:100].mean() for k, v in stats["steps"].items()}
    ratio = early["trained"] / early["raw"]
    word = "more" if ratio >= 1 else "less"
    amount = ratio if ratio >= 1 else 1 / ratio
    assert f"{amount:.2g}× {word} distinguishable" in view["summary"]
    assert f"raw {F.components_for(stats['ratio']['raw'])} of 256" in view["summary"]
    assert "∅ (null, 10)" in view["summary"]
    assert len(view["distinguishability"].data) == 3
    with pytest.raises(ValueError, match="class label"):
        F.mlp_view(random_dit, label=11)


# ---------------------------------------------------------------- view 3: the CFG sweep


def test_labelled_grid_places_tiles_under_headers():
    images = np.zeros((2, 3, 28, 28), dtype=np.uint8)
    images[1, 2] = 200
    grid = F.labelled_grid(images, ["a", "b", "c"], ["row 1", "row 2"], cell=56, pad=4, font_size=14)
    arr = np.asarray(grid)
    header = 14 + 2 * 4 + 4
    left = grid.size[0] - (3 * (56 + 4) + 4)
    assert grid.size[1] == header + 2 * (56 + 4) + 4 and left > 0
    x0, y0 = left + 4 + 2 * (56 + 4), header + 1 * (56 + 4)
    assert np.all(arr[y0 : y0 + 56, x0 : x0 + 56] == 200)
    assert np.all(arr[header : header + 56, left + 4 : left + 60] == 0)


def test_capture_steps_and_trajectory_image():
    assert F.capture_steps(20) == [1, 5, 9, 12, 16, 20]
    assert F.capture_steps(3) == [1, 2, 3]
    assert F.capture_steps(1) == [1]
    frames = {k: np.full((2, 28, 28), 10 * k, dtype=np.uint8) for k in F.capture_steps(20)}
    image = F.trajectory_image(frames, [0.0, 4.0], 20)
    assert isinstance(image, Image.Image)
    assert image.size[1] == 17 + 12 + 4 + 6 * (72 + 6) + 6  # header + 6 rows of 72 px cells
    assert sampling_timesteps(20)[0] == 999  # the first row is labelled t = 999


def test_metrics_figure_plots_the_given_numbers():
    metrics = [
        {"accuracy": 0.2, "confidence": 0.5, "label_entropy": 1.0, "diversity": 9.0},
        {"accuracy": 0.9, "confidence": 0.8, "label_entropy": 0.1, "diversity": 7.0},
    ]
    fig = F.metrics_figure([4.0, 0.0], metrics[::-1])  # sorted by scale for the chart
    assert [tuple(t.x) for t in fig.data] == [(0.0, 4.0)] * 3
    assert tuple(fig.data[0].y) == (0.2, 0.9) and tuple(fig.data[2].y) == (9.0, 7.0)
    assert "highest at s = 4" in fig.layout.title.text
    flat = F.metrics_figure([0.0, 1.0], [dict(metrics[0]), dict(metrics[0])])
    assert "flat" in flat.layout.title.text
    empty = F.metrics_figure([1.0], [], note="no judge here")
    assert len(empty.data) == 0 and "no judge here" in empty.layout.annotations[0].text


def test_cfg_text_uses_dits_convention():
    text = F.cfg_explainer_markdown([0.0, 1.0, 4.0])
    assert "s = 0 → w = -1" in text and "s = 4 → w = 3" in text and "w = s − 1" in text
    summary = F.cfg_summary_markdown(3, [0.0, 4.0], [], 1.0, 20, "ddim", "judge missing")
    assert "Class 3" in summary and "judge missing" in summary


# ---------------------------------------------------------------- view 4: the model card


def test_model_card_markdown_and_label_dropout(random_dit):
    card = {
        "name": "PLACEHOLDER test",
        "config": random_dit.config_dict(),
        "data": "digits",
        "training": {"steps": 100, "global_batch": 64, "label_dropout": 0.1, "loss_log": [[50, 0.5], [100, 0.2]]},
        "evaluation": {
            "command": "python -m playground.evaluate",
            "settings": {"sampler": "ddim", "steps": 50},
            "rows": [{"name": "s = 1", "accuracy": 0.75}, {"name": "s = 4", "accuracy": 0.97, "samples": 300}],
        },
    }
    text = F.model_card_markdown(card, random_dit)
    assert "placeholder" in text and f"{random_dit.num_parameters():,}" in text
    assert "| | samples | accuracy |" in text and "| s = 4 | 300 | 0.970 |" in text
    assert "(sampler ddim, steps 50)" in text
    assert "about **640** examples" in F.label_dropout_markdown(card)  # 100 * 64 * 0.1
    assert "row **10**" in F.label_dropout_markdown(card)
    assert "No evaluation" in F.model_card_markdown({**card, "evaluation": None})


def test_loss_curve_and_label_table(random_dit):
    fig = F.loss_curve_figure([[5, 0.9], [10, 0.4]])
    assert tuple(fig.data[0].x) == (5.0, 10.0) and tuple(fig.data[0].y) == (0.9, 0.4)
    assert "0.9 → 0.4" in fig.layout.title.text
    assert len(F.loss_curve_figure([]).data) == 0
    table = F.label_table_figure(random_dit)
    z = np.asarray(table.data[0].z)
    assert z.shape == (11, 11) and list(table.data[0].x)[-1] == "∅"
    np.testing.assert_allclose(np.diag(z), 1, atol=1e-6)


def test_every_figure_serialises_to_json(random_dit):
    view = F.mlp_view(random_dit, label=0, seed=1)
    for fig in (view["pca3d"], view["modulation"], F.message_figure("x")):
        assert json.loads(fig.to_json())["layout"]["title"]["text"]
