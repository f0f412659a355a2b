"""`playground.views.inside.forward` and its `trace`: the hooked forward is the model's, the attention maps are its
own, and the view's numbers follow from them."""

import math

import numpy as np
import pytest
import torch

from playground.assets import COMPANIONS
from playground.checkpoint import load_pretrained
from playground.diffusion import sampling_timesteps
from playground.model import DiT
from playground.views.inside import forward as inside
from playground.views.inside import trace as tr
from playground.views.inside.forward import InsideRequest


def inputs(model, n=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    cfg = model.config
    x = torch.randn((n, cfg.in_channels, cfg.input_size, cfg.input_size), generator=g)
    t = torch.tensor(sampling_timesteps(n), dtype=torch.float32)
    y = torch.arange(n) % cfg.num_classes
    return x, t, y


@pytest.mark.parametrize("which", ["random", "shipped"])
def test_traced_forward_is_the_forward_bit_for_bit(which, random_dit, shipped):
    model = random_dit if which == "random" else shipped
    x, t, y = inputs(model)
    rec = tr.trace_forward(model, x, t, y)
    with torch.no_grad():
        assert torch.equal(rec["out"], model(x, t, y))
    # the hooks caught the tensors the forward used: its own arithmetic on them gives the next one exactly
    assert torch.equal(rec["blocks"][0]["x_in"], rec["tokens"] + model.pos_embed)
    assert torch.equal(rec["blocks"][0]["c"], rec["t_emb"] + rec["y_emb"])
    for i, b in enumerate(rec["blocks"]):
        m = b["modulation"]
        # x + gate * branch, rounded once (the forward's fused multiply-add)
        assert torch.equal(b["x_mid"], torch.addcmul(b["x_in"], m["gate_msa"].unsqueeze(1), b["attn_out"]))
        assert torch.equal(b["x_out"], torch.addcmul(b["x_mid"], m["gate_mlp"].unsqueeze(1), b["mlp_out"]))
        assert torch.equal(b["attn_out"], model.blocks[i].attn.proj(b["attn_heads"]))
        if i:
            assert torch.equal(b["x_in"], rec["blocks"][i - 1]["x_out"])
    assert torch.equal(model.unpatchify(rec["final"]["patches"]), rec["out"])
    assert not any(mod._forward_hooks or mod._forward_pre_hooks for mod in model.modules())  # all removed


@pytest.mark.parametrize("which", ["random", "shipped"])
def test_recomputed_attention_reproduces_the_fused_output(which, random_dit, shipped):
    model = random_dit if which == "random" else shipped
    x, t, y = inputs(model, seed=1)
    rec = tr.trace_forward(model, x, t, y)
    for b in rec["blocks"]:
        w = tr.attention_weights(b["qkv"], model.num_heads)
        assert w.shape == (4, model.num_heads, 49, 49)
        torch.testing.assert_close(w.sum(-1), torch.ones(w.shape[:-1]))
        assert (tr.attention_output(w, b["qkv"], model.num_heads) - b["attn_heads"]).abs().max() < 1e-5


def test_shape_walk_has_this_models_numbers(shipped):
    x, t, y = inputs(shipped, n=1)
    walk = tr.shape_walk(shipped, tr.trace_forward(shipped, x, t, y), x, "one image")
    for line in ["(N, D, H/p, W/p) = (1, 192, 7, 7)", "(N, T, D) = (1, 49, 192): T = 28·28/4² = 49",
                 "(N, T, 3D) = (1, 49, 576) → q, k, v (1, 3, 49, 64)", "(N, heads, T, T) = (1, 3, 49, 49)",
                 "(N, T, patch_size ** 2 * out_channels) = (1, 49, 16)", "(N, out_channels, H, W) = (1, 1, 28, 28)",
                 "a table of 11 rows", "6 blocks", "softmax(q kᵀ / √64)"]:
        assert line in walk


def test_mean_attention_distance():
    d = tr.patch_distances(7, 4)
    assert d.shape == (49, 49) and d[0, 1] == 4 and d[0, 8] == pytest.approx(4 * 2**0.5)
    identity = torch.eye(49).expand(1, 2, 49, 49)
    assert np.all(tr.mean_attention_distance(identity, d) == 0)
    uniform = torch.full((1, 1, 49, 49), 1 / 49)
    assert tr.mean_attention_distance(uniform, d)[0, 0] == pytest.approx(d.mean())


def test_uniform_attention_distance_is_the_mean_over_all_pairs_of_patch_centres():
    """Counted here pair by pair from the centres of a 7x7 grid of 4-px patches (pixel 1.5, 5.5, ...), itself
    included: 14.4 px, the dashed line of the distance figure."""
    centres = [(4 * r + 1.5, 4 * c + 1.5) for r in range(7) for c in range(7)]
    by_pairs = sum(math.dist(a, b) for a in centres for b in centres) / len(centres) ** 2
    assert round(by_pairs, 1) == 14.4
    assert tr.uniform_attention_distance(7, 4) == pytest.approx(by_pairs, rel=1e-12)


@pytest.mark.parametrize(
    ("curve", "shape"),
    [
        ([8.7, 8.2, 7.3, 6.7, 6.6, 6.7, 6.4, 8.2], "U"),  # the block 2 head 0: its endpoints alone say local
        ([9.7, 9.1, 8.0, 6.9, 6.1, 5.8, 5.6, 5.5], "narrows"),
        ([5.5, 5.6, 5.8, 6.1, 6.9, 8.0, 9.1, 9.7], "widens"),
        ([14.1, 14.0, 14.2, 14.1, 14.0, 14.1, 14.2, 14.1], "flat"),
        ([16.5, 16.9, 17.7, 17.9, 17.7, 17.3, 16.6, 16.4], "∩"),
        ([8.0, 9.0, 8.0, 9.0, 8.0, 9.0, 8.0, 9.0], "mixed"),
        ([9.0, 8.9, 8.95, 8.5, 8.0], "narrows"),  # a rise within the tolerance does not break the trend
    ],
)
def test_curve_shape_is_judged_on_every_point(curve, shape):
    assert inside.curve_shape(curve, 0.25) == shape


def test_fresh_dit_blocks_are_the_identity(random_dit):
    x, t, y = inputs(random_dit, n=1)
    fresh = inside.fresh_block_changes(random_dit, x, t, y)
    assert fresh["out"] == 0 and max(fresh["change"]) == 0 and max(fresh["gate"]) == 0


def test_position_facts_of_the_sincos_table(shipped):
    facts = inside.position_facts(shipped)
    assert facts["first_across_rows"] == 0 and facts["second_across_cols"] == 0  # column half, row half
    assert facts["first_across_cols"] > 1 and facts["second_across_rows"] > 1
    assert facts["origin_sin"] == 0 and facts["origin_cos"] == 0  # sin first
    assert facts["t0_first"] == 1  # the timestep embedding: cos first


def test_inside_view(shipped):
    view = inside.inside_view(shipped, InsideRequest(3, 0, 4, 2, 1, 3, 3))
    assert "step 4 of 8 (t = 571)" in view["summary"] and "block 2 head 1" in view["summary"]
    maps = [trace for trace in view["attention"].data if trace.coloraxis == "coloraxis"]
    assert len(maps) == 18  # 6 blocks x 3 heads
    for trace in maps:
        z = np.asarray(trace.z)
        assert z.shape == (7, 7) and trace.zsmooth is False and trace.dx == 4  # one cell per patch of 4x4 pixels
        assert z.sum() == pytest.approx(1, abs=1e-5)  # one query's softmax row
    assert len([trace for trace in view["attention_t"].data if trace.coloraxis]) == 8
    assert all(trace.zsmooth is False for fig in view.values() if hasattr(fig, "data")
               for trace in fig.data if trace.type == "heatmap")
    assert "(N, T, D) = (8, 49, 192)" in view["shape_walk"]


def test_attention_distance_is_averaged_drawn_beside_uniform_and_judged_on_the_whole_curve(shipped):
    """The distance figure: every head's curve is a mean over DISTANCE_IMAGES samples with its standard error, and
    every panel has the uniform-attention line. The sentence for the chosen head is the shape of its plotted curve
    (block 2 head 0 of a 3 dips at t = 143 and comes back: not "more local as the image gets cleaner")."""
    view = inside.inside_view(shipped, InsideRequest(3, 0, 4, 2, 0, 3, 3))
    data = view["distance"].data
    uniform = [trace for trace in data if trace.name.startswith("uniform attention")]
    assert len(uniform) == 6 and all(np.allclose(trace.y, tr.uniform_attention_distance(7, 4)) for trace in uniform)
    curves = [trace for trace in data if trace.name.startswith("head")]
    assert len(curves) == 18 and all(len(trace.error_y.array) == inside.STEPS for trace in curves)
    assert inside.DISTANCE_IMAGES > 1 and f"mean over {inside.DISTANCE_IMAGES} samples" in view["summary"]
    chosen = curves[2 * 3 + 0]  # block 2, head 0
    assert chosen.hovertemplate.startswith("block 2, head 0")
    tol = inside.trend_tolerance(chosen.error_y.array)
    words = inside.trend_words(chosen.y, sampling_timesteps(inside.STEPS), tol)
    assert f"For block 2 head 0, judged on all 8 steps (a change under {tol:.2f} px" in view["summary"]
    assert words in view["summary"] and words.startswith("U-shaped")
    assert "more local as the image gets cleaner" not in view["summary"]


def test_the_data_path_is_the_traced_tensors_of_the_step(shipped):
    """The page's picture: x_t, its patches as tokens, the tokens entering block 0 and leaving the last block, the
    final layer's tokens and ε, each the traced tensor of the chosen step, with the shapes of this run."""
    request = InsideRequest(3, 0, 4, 2, 1, 3, 3)
    view = inside.inside_view(shipped, request)
    xs, _, _, _ = inside.trajectory(shipped, 3, 0)
    t = sampling_timesteps(inside.STEPS)[3]
    rec = tr.trace_forward(shipped, xs[3:4], torch.tensor([float(t)]), torch.tensor([3]))
    panels = [np.asarray(trace.z) for trace in view["path"].data]
    patches = xs[3, 0].reshape(7, 4, 7, 4).permute(0, 2, 1, 3).reshape(49, 16)  # row-major 4x4 patches
    expected = [xs[3, 0], patches, rec["blocks"][0]["x_in"][0], rec["blocks"][-1]["x_out"][0],
                rec["final"]["patches"][0], rec["out"][0, 0]]
    assert [p.shape for p in panels] == [(28, 28), (49, 16), (49, 192), (49, 192), (49, 16), (28, 28)]
    for panel, tensor in zip(panels, expected, strict=True):
        np.testing.assert_allclose(panel, tensor.numpy(), atol=1e-4)
    titles = [a.text for a in view["path"].layout.annotations]
    assert titles[:6] == ["x_t<br>[1, 1, 28, 28]", "patchify<br>49 tokens × 16", "+ embed, pos<br>49 × 192",
                          "6 blocks (t, y)<br>49 × 192", "final_layer<br>49 × 16", "unpatchify → ε<br>[1, 1, 28, 28]"]
    assert "step 4, t = 571" in view["path"].layout.title.text


def test_t_increases_to_the_right_in_every_plot_over_t(shipped):
    view = inside.inside_view(shipped, InsideRequest(3, 0, 4, 2, 1, 3, 3))
    for name in ("distance", "writes"):
        axes = [axis for key, axis in view[name].layout.to_plotly_json().items() if key.startswith("xaxis")]
        assert axes and all(axis.get("autorange") != "reversed" for axis in axes)
        assert all(axis["title"]["text"] == "t (0 clean → 999 noise)" for axis in axes)


def test_implied_x0_is_the_schedules_inverse(shipped):
    """The final figure's x0 panel is (x_t - sqrt(1 - abar) eps) / sqrt(abar) of its x_t and eps panels, with abar
    of the linear schedule written out here."""
    t = sampling_timesteps(inside.STEPS)[5]
    abar = np.cumprod(1 - np.linspace(1e-4, 0.02, 1000))[t]
    x_t, _, eps, x0 = (np.asarray(trace.z, dtype=np.float64)
                       for trace in inside.inside_view(shipped, InsideRequest(5, 1, 6, 0, 0, 0, 0))["final"].data)
    np.testing.assert_allclose(x0, (x_t - np.sqrt(1 - abar) * eps) / np.sqrt(abar), rtol=1e-5, atol=1e-5)


def test_inside_view_is_deterministic(shipped):
    request = inside.validate_inside(7, 5, 2, 0, 0, 1, 1)
    a, b = inside.inside_view(shipped, request), inside.inside_view(shipped, request)
    assert a["summary"] == b["summary"] and a["attention"].to_json() == b["attention"].to_json()


def test_a_companion_without_a_null_class_is_traced_unguided():
    """The p = 0 companion (4 blocks, 4 heads, no null row): its trajectory runs at s = 1 and every block and head
    gets its map."""
    model = load_pretrained(COMPANIONS["0"])
    assert model.null_class is None
    request = inside.validate_inside(**inside.fitted(inside.PRESETS["An almost clean 8 (t = 0)"], model.config),
                                     config=model.config)
    assert (request.block, request.head) == (3, 1)  # the demo's last block, moved to this model's last
    view = inside.inside_view(model, request)
    assert "s = 1, seed 2" in view["summary"]
    assert len([trace for trace in view["attention"].data if trace.coloraxis == "coloraxis"]) == 16  # 4 x 4
    assert "4 blocks" in view["shape_walk"] and "(N, T, D) = (8, 49, 128)" in view["shape_walk"]


def test_fitted_moves_the_defaults_into_a_small_models_ranges():
    config = DiT(hidden_size=32, depth=2, num_heads=2, num_classes=4, patch_size=14).config  # a 2 x 2 grid
    assert inside.fitted(inside.DEFAULTS, config) == {
        "label": 3, "seed": 0, "step": 4, "block": 1, "head": 0, "query_row": 1, "query_col": 1}
    demo = inside.fitted(inside.PRESETS["An almost clean 8 (t = 0)"], config)
    assert (demo["label"], demo["block"], demo["head"]) == (3, 1, 1)
    assert inside.fitted(inside.DEFAULTS, DiT().config) == dict(inside.DEFAULTS)  # DiT-Tiny/4's: unchanged
    for values in inside.PRESETS.values():  # every demo is a valid request on both
        inside.validate_inside(**inside.fitted(values, config), config=config)
        inside.validate_inside(**values)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((10, 0, 4, 0, 0, 3, 3), "class must be between 0 and 9"),
        ((3, -1, 4, 0, 0, 3, 3), "seed"),
        ((3, 0, 0, 0, 0, 3, 3), "step must be between 1 and 8"),
        ((3, 0, 9, 0, 0, 3, 3), "step must be between 1 and 8"),
        ((3, 0, 4, 6, 0, 3, 3), "block must be between 0 and 5"),
        ((3, 0, 4, 0, 3, 3, 3), "head must be between 0 and 2"),
        ((3, 0, 4, 0, 0, 7, 3), "query row must be between 0 and 6"),
        ((3, 0, 4, 0, 0, 3, "x"), "query column must be a whole number"),
        ((3, 0, 2.5, 0, 0, 3, 3), "whole number"),
    ],
)
def test_inside_validation(args, message):
    with pytest.raises(ValueError, match=message):
        inside.validate_inside(*args)


def test_validation_follows_the_model_config():
    cfg = DiT(hidden_size=64, depth=2, num_heads=2, num_classes=4).config
    assert inside.validate_inside(3, 0, 1, 1, 1, 6, 6, cfg) == InsideRequest(3, 0, 1, 1, 1, 6, 6)
    assert inside.validate_inside("3", 0.0, 1, 1, 1, 6, 6, cfg).label == 3  # numbers sent as text or floats
    with pytest.raises(ValueError, match="block must be between 0 and 1"):
        inside.validate_inside(3, 0, 1, 2, 0, 0, 0, cfg)
