"""`playground.views.guidance.cfg` and the grids of `playground.grids`: the checked request, parsing, pictures, judge
chart, text; and the all-class trade-off of `views.guidance.cfg_tradeoff`."""

import dataclasses
import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from playground import grids
from playground.assets import COMPANIONS, DEFAULT_DIT, TRADEOFF_FILE
from playground.checkpoint import load_pretrained
from playground.data import to_model_range, to_uint8
from playground.diffusion import DEFAULT_SAMPLER, DEFAULT_STEPS, sampling_timesteps
from playground.guidance import Guidance, GuidanceError, classifier_free_guidance
from playground.judge import load_judge, pixel_shares, wilson_interval
from playground.sampling import sample_guided
from playground.views.guidance import cfg as cfg_sweep
from playground.views.guidance import cfg_tradeoff, live


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0, 1, 2, 4, 7, 10", [0, 1, 2, 4, 7, 10]), ("1.5 -2", [1.5, -2]), ("[4; 7]", [4, 7]), (" 30 ", [30])],
)
def test_parse_scales_accepts_lists(text, expected):
    assert cfg_sweep.parse_scales(text) == expected


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
        (", ".join(["1"] * (cfg_sweep.MAX_SCALES + 1)), f"at most {cfg_sweep.MAX_SCALES}"),
    ],
)
def test_parse_scales_rejects_bad_input_with_a_reason(text, message):
    with pytest.raises(ValueError, match=message):
        cfg_sweep.parse_scales(text)


def test_labelled_grid_places_tiles_under_headers():
    images = np.zeros((2, 3, 28, 28), dtype=np.uint8)
    images[1, 2] = 200
    grid = grids.labelled_grid(images, ["a", "b", "c"], ["row 1", "row 2"], cell=56, pad=4, font_size=14)
    arr = np.asarray(grid)
    header = 14 + 2 * 4 + 4
    left = grid.size[0] - (3 * (56 + 4) + 4)
    assert grid.size[1] == header + 2 * (56 + 4) + 4 and left > 0
    x0, y0 = left + 4 + 2 * (56 + 4), header + 1 * (56 + 4)
    assert np.all(arr[y0 : y0 + 56, x0 : x0 + 56] == 200)
    assert np.all(arr[header : header + 56, left + 4 : left + 60] == 0)


def test_capture_steps_and_trajectory_image():
    assert grids.capture_steps(20) == [1, 5, 9, 12, 16, 20]
    assert grids.capture_steps(3) == [1, 2, 3]
    assert grids.capture_steps(1) == [1]
    frames = {k: np.full((2, 28, 28), 10 * k, dtype=np.uint8) for k in grids.capture_steps(20)}
    image = grids.trajectory_image(frames, [0.0, 4.0], 20)
    assert isinstance(image, Image.Image)
    assert image.size[1] == 17 + 12 + 4 + 6 * (72 + 6) + 6  # header + 6 rows of 72 px cells
    assert sampling_timesteps(20)[0] == 999  # the first row is labelled t = 999


def scored(accuracy, n=4, **extra):
    """A metrics row as `judge_metrics` gives it: `accuracy` of `n` samples with its Wilson interval."""
    hits = round(accuracy * n)
    low, high = wilson_interval(hits, n)
    return {"accuracy": hits / n, "accuracy_low": low, "accuracy_high": high, "confidence": 0.9,
            "label_entropy": 0.0, "diversity": 8.0, "predicted": [3] * hits + [5] * (n - hits), **extra}


def test_metrics_figure_plots_the_given_numbers_with_wilson_bars():
    metrics = [scored(0.25, diversity=9.0), scored(1.0, diversity=7.0)]
    fig = cfg_sweep.metrics_figure([4.0, 0.0], metrics[::-1])  # sorted by scale for the chart
    assert [tuple(t.x) for t in fig.data] == [(0.0, 4.0)] * 3
    assert tuple(fig.data[0].y) == (0.25, 1.0) and tuple(fig.data[2].y) == (9.0, 7.0)
    low, high = wilson_interval(1, 4)  # 1 of 4: [0.046, 0.699]
    all_low = wilson_interval(4, 4)[0]  # 4 of 4: [0.510, 1]
    np.testing.assert_allclose(fig.data[0].error_y.arrayminus, [0.25 - low, 1.0 - all_low], atol=1e-12)
    np.testing.assert_allclose(fig.data[0].error_y.array, [high - 0.25, 0.0], atol=1e-12)
    assert "highest" not in fig.layout.title.text  # 1/4 vs 4/4: the intervals overlap
    flat = cfg_sweep.metrics_figure([0.0, 1.0], [scored(0.25), scored(0.25)])
    assert "flat" in flat.layout.title.text
    empty = cfg_sweep.metrics_figure([1.0], [], note="no judge here")
    assert len(empty.data) == 0 and "no judge here" in empty.layout.annotations[0].text


def test_the_judge_chart_puts_diversity_on_its_own_axis_and_only_when_every_scale_has_one():
    fig = cfg_sweep.metrics_figure([0.0, 4.0], [scored(0.0), scored(1.0)])
    assert [t.yaxis for t in fig.data] == ["y", "y", "y2"] and fig.data[2].line.dash == "dash"
    assert [t.line.color for t in fig.data] == list(cfg_sweep.KIND_COLOURS.values())
    assert [shape.x0 for shape in fig.layout.shapes] == [0, 1]  # dotted lines at s = 0 and s = 1, both in range
    assert fig.layout.xaxis.range == (-0.25, 4.25)  # 5 % of the span either side, at least 0.25
    assert fig.layout.title.subtitle.text == "bars: 95% Wilson intervals from 4 samples per scale"
    single = cfg_sweep.metrics_figure([2.0, 5.0], [scored(1.0, n=1, diversity=None), scored(0.0, n=1)])
    assert [t.name for t in single.data] == ["judge accuracy (95% interval)", "judge confidence"]
    assert list(single.layout.shapes) == []  # neither s = 0 nor s = 1 lies in [2, 5]


def test_a_best_scale_is_named_only_when_its_interval_clears_the_others():
    # 4 samples: 4/4 has [0.51, 1], 3/4 has [0.30, 0.95], 0/4 has [0, 0.49]
    assert cfg_sweep.best_scale([1.0, 4.0], [scored(0.75), scored(1.0)]) is None
    assert cfg_sweep.best_scale([0.0, 4.0], [scored(0.0), scored(1.0)]) == 4.0
    assert cfg_sweep.best_scale([0.0, 2.0, 4.0], [scored(0.0), scored(1.0), scored(1.0)]) is None  # a tie
    assert cfg_sweep.best_scale([1.0, 4.0], [scored(0.5, n=30), scored(1.0, n=30)]) == 4.0  # 15/30 vs 30/30
    headline = cfg_sweep.accuracy_headline([0.0, 4.0], [scored(0.0), scored(1.0)])
    assert "s = 4" in headline and "highest" in headline


def test_the_entropy_ceiling_of_a_sweep_comes_from_its_sample_count():
    assert cfg_sweep.entropy_ceiling(1) == 0.0
    assert cfg_sweep.entropy_ceiling(4) == pytest.approx(math.log(4))  # 1.386, the default sweep's maximum
    assert cfg_sweep.entropy_ceiling(cfg_sweep.MAX_SAMPLES) == pytest.approx(math.log(8))  # 2.08 < ln 10
    assert cfg_sweep.entropy_ceiling(300) == pytest.approx(math.log(10))  # only an all-class run reaches ln 10
    run = {"label": 3, "samples": 4, "steps": 8, "sampler": "ddim", "clip": True, "seconds": 1.0,
           "x0_peak": [2.0, 9.0]}
    summary = cfg_sweep.cfg_summary_markdown([1.0, 4.0], [scored(0.75), scored(1.0)], run)
    assert f"{math.log(4):.2f}" in summary and f"{math.log(10):.2f}" not in summary


def test_negative_scales_put_a_negative_weight_on_the_conditional_prediction():
    assert cfg_sweep.mix_weights(-3) == (-3.0, 4.0)
    assert cfg_sweep.mix_weights(4) == (4.0, -3.0)
    eps_c, eps_u = torch.randn(2, 1, 28, 28).unbind(0)
    for s in (-3.0, -1.0, 2.0):
        c, u = cfg_sweep.mix_weights(s)
        guided = classifier_free_guidance(eps_c, eps_u, s)
        torch.testing.assert_close(guided, c * eps_c + u * eps_u)
        # the guided step moves along the label direction eps_c - eps_u with the sign of s
        along = torch.nn.functional.cosine_similarity((guided - eps_u).flatten(), (eps_c - eps_u).flatten(), dim=0)
        assert along.item() == pytest.approx(math.copysign(1.0, s), abs=1e-5)
    text = cfg_sweep.cfg_explainer_markdown([-3.0, 1.0])
    assert "s = -3 → w = -4 (-3·ε_c + 4·ε_u)" in text and cfg_sweep.NEGATIVE_NOTE in text
    assert cfg_sweep.NEGATIVE_NOTE not in cfg_sweep.cfg_explainer_markdown([0.0, 1.0, 4.0])


def test_cfg_text_uses_dits_convention():
    text = cfg_sweep.cfg_explainer_markdown([0.0, 1.0, 4.0])
    assert "s = 0 → w = -1" in text and "s = 4 → w = 3" in text and "w = s − 1" in text
    assert "`guidance_scale` is s" in text
    run = {"label": 3, "samples": 2, "steps": 20, "sampler": "ddim", "clip": True, "seconds": 1.0, "x0_peak": None}
    summary = cfg_sweep.cfg_summary_markdown([0.0, 4.0], [], run, "judge missing")
    assert "Class 3" in summary and "judge missing" in summary


def test_validate_sweep_returns_a_frozen_request_with_clip_last_and_optional():
    args = (3, "1, 4", 2, 0, 4, "ddim")
    request = cfg_sweep.validate_sweep(*args)
    assert request == cfg_sweep.SweepRequest(label=3, scales=(1.0, 4.0), samples=2, seed=0, steps=4, sampler="ddim",
                                             clip=True)
    assert cfg_sweep.validate_sweep(*args, False).clip is False
    assert cfg_sweep.validate_sweep(*args, "false").clip is False
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.label = 5
    assert {request: "kept"}[cfg_sweep.validate_sweep("3", "1 4", 2.0, 0, 4, "ddim")] == "kept"  # a key by value
    with pytest.raises(ValueError, match="clip x0"):
        cfg_sweep.validate_sweep(*args, "maybe")
    assert list(cfg_sweep.DEFAULTS)[-1] == "clip" and cfg_sweep.DEFAULTS["clip"] is True


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ((10, "1", 2, 0, 4, "ddim"), "class"),  # the null class is not a digit to draw
        ((3, "1", 0, 0, 4, "ddim"), "samples per scale"),
        ((3, "1", 2, -1, 4, "ddim"), "seed"),
        ((3, "1", 2, 0, 0, "ddim"), "steps"),
        ((3, "1", 2, 0, 4, "euler"), "sampler"),
        ((3, "1 2 3 4 5", 8, 0, 100, "ddim"), "image-steps"),
    ],
)
def test_validate_sweep_names_the_field_that_is_wrong(args, field):
    with pytest.raises(ValueError, match=field):
        cfg_sweep.validate_sweep(*args)
    assert cfg_sweep.validate_sweep(3, "1", 2, 0, 4, "ddim", num_classes=4).label == 3
    with pytest.raises(ValueError, match="class"):
        cfg_sweep.validate_sweep(4, "1", 2, 0, 4, "ddim", num_classes=4)  # the model's classes, not the default's


def test_the_default_sweep_is_the_pages_opening_sweep():
    request = cfg_sweep.validate_sweep(*cfg_sweep.DEFAULTS.values())
    assert request == cfg_sweep.SweepRequest(cfg_sweep.DEFAULT_LABEL, cfg_sweep.DEFAULT_SCALES,
                                             cfg_sweep.DEFAULT_SAMPLES, 0, DEFAULT_STEPS, DEFAULT_SAMPLER, True)
    assert (request.label, request.samples, request.scales) == (3, 4, (0.0, 1.0, 2.0, 4.0, 7.0, 10.0))
    assert live.LIVE_SCALE in request.scales  # the live slider opens on one of its columns


def test_the_clip_toggle_reaches_the_sampler(random_dit):
    off = cfg_sweep.SweepRequest(3, (1.0, 8.0), 2, 0, 4, "ddim", clip=False)
    on = dataclasses.replace(off, clip=True)
    off_view, on_view = cfg_sweep.sweep_view(random_dit, off), cfg_sweep.sweep_view(random_dit, on)
    expected = sample_guided(random_dit, [3, 3], [1.0, 8.0], steps=4, seed=0, sampler="ddim",
                             guidance=Guidance(clip=False))
    assert off_view["images"].tobytes() == to_uint8(expected).numpy().tobytes()
    assert np.array_equal(np.asarray(off_view["grid"]),
                          np.asarray(grids.sweep_grid(to_uint8(expected).numpy(), [1.0, 8.0])))
    assert not np.array_equal(np.asarray(off_view["grid"]), np.asarray(on_view["grid"]))
    assert "Clipping is off" in off_view["summary"] and "Clipping is off" not in on_view["summary"]
    # the grey pixels (speckle) are counted at each scale, from the samples shown
    grey = [pixel_shares(x)["grey"] for x in expected]
    assert f"s = 1 {grey[0]:.0%}, s = 8 {grey[1]:.0%}." in off_view["summary"]
    real = cfg_sweep.real_grey(3)
    assert real is None or f"held-out real 3s: {real:.0%}" in off_view["summary"]


def independent_alphas():
    """sqrt(abar_t) and sqrt(1 - abar_t) of DiT's linear schedule, float64 numpy (not playground.diffusion's)."""
    abar = np.cumprod(1.0 - np.linspace(1e-4, 0.02, 1000, dtype=np.float64))
    return np.sqrt(abar), np.sqrt(1.0 - abar)


def test_the_x0_peak_is_the_largest_guided_x0_before_the_clip(random_dit):
    """The peak the summary reports, from the sampler's "x0_guided", against x0 = (x_t - sigma (eps_u + s (eps_c -
    eps_u))) / alpha recomputed in float64 from the step's own inputs; with the clip on, so it differs from x0."""
    scales = (0.0, 1.0, 4.0)
    hook, peaks = cfg_sweep.guided_x0_peak(len(scales))
    alpha, sigma = independent_alphas()
    s = np.asarray(scales).reshape(-1, 1, 1, 1, 1)
    expected, clipped = np.zeros(len(scales)), []

    def record(step):
        hook(step)
        x_t, eps_c, eps_u = (step[k].double().numpy() for k in ("x_t", "eps_cond", "eps_other"))
        x0 = (x_t - sigma[step["t"]] * (eps_u + s * (eps_c - eps_u))) / alpha[step["t"]]
        expected[:] = np.maximum(expected, np.abs(x0).reshape(len(scales), -1).max(1))
        clipped.append(step["x0"].abs().max().item())

    request = cfg_sweep.SweepRequest(3, scales, 2, 0, 3, "ddim", clip=True)
    cfg_sweep.sample_sweep(random_dit, request, on_step=record)
    np.testing.assert_allclose(peaks, expected, rtol=1e-5)
    assert max(peaks) > 1 >= max(clipped)  # outside the data range: what clipping pulled back
    summary = cfg_sweep.sweep_view(random_dit, request)["summary"]
    top = int(np.argmax(peaks))
    assert f"It reaches {peaks[top]:.1f} at s = {scales[top]:g}" in summary
    rows = [f"| {scale:g} | {scale - 1:g} | {peak:.1f} |" for scale, peak in zip(scales, peaks, strict=True)]
    assert all(row in summary for row in rows)  # the table's peak column


def test_without_the_clip_the_peak_is_the_samplers_own_x0(random_dit):
    scales = (0.0, 1.0, 4.0)
    hook, peaks = cfg_sweep.guided_x0_peak(len(scales))
    seen = torch.zeros(len(scales))

    def record(step):  # without clipping, the sampler steps with the raw guided x0
        hook(step)
        seen.copy_(torch.maximum(seen, step["x0"].abs().flatten(1).amax(1)))

    cfg_sweep.sample_sweep(random_dit, cfg_sweep.SweepRequest(1, scales, 2, 0, 3, "ddim", clip=False), on_step=record)
    np.testing.assert_allclose(peaks, seen.numpy(), rtol=1e-6)


@pytest.mark.skipif(not COMPANIONS["0"].exists(), reason="the p = 0 companion is absent")
def test_a_model_without_a_null_class_refuses_guidance_but_samples_s_1():
    p0 = load_pretrained(COMPANIONS["0"])
    assert p0.null_class is None
    with pytest.raises(GuidanceError, match="no null class"):
        cfg_sweep.validate_sweep(3, "0, 1, 4", 2, 0, 2, "ddim").check(p0)
    plain = cfg_sweep.validate_sweep(3, "1", 2, 0, 2, "ddim")
    plain.check(p0)  # s = 1 needs no unconditional prediction
    assert cfg_sweep.sweep_view(p0, plain)["images"].shape == (1, 2, 28, 28)


@pytest.mark.skipif(not DEFAULT_DIT.exists(), reason="the shipped checkpoint is absent")
def test_without_clipping_strong_guidance_breaks_on_the_shipped_model():
    """s = 30 on the shipped DiT: clipped, the judge still reads 3s; unclipped, speckle takes over and it reads other
    digits (fewer pixels at the ends of the range than clipped, more grey ones: speckle, not saturation)."""
    model, judge = load_pretrained(), load_judge()
    on = cfg_sweep.validate_sweep(3, "30", 3, 0, 8, "dpm++2m", True)
    off = dataclasses.replace(on, clip=False)
    views = [cfg_sweep.sweep_view(model, request, judge=judge) for request in (on, off)]
    accuracy = [view["metrics"].data[0].y[0] for view in views]
    assert accuracy[0] == 1.0 and accuracy[1] <= 1 / 3
    shares = [pixel_shares(to_model_range(view["images"])) for view in views]
    assert shares[1]["grey"] > shares[0]["grey"] and shares[1]["saturated"] <= shares[0]["saturated"]


def write_tradeoff(path, points, floor=36.2, curve="cfg"):
    run = {"settings": {"per_class": 30, "seed": 0, "sampler": "dpm++2m", "steps": 8}, "command": "python -m x",
           "real_floor": {"frechet": floor}, "curves": {curve: {"x": "s", "points": points}}}
    path.write_text(json.dumps(run))
    return path


def point(s, frechet, se, accuracy=0.9, diversity=9.0):
    low, high = wilson_interval(round(accuracy * 300), 300)
    return {"s": s, "accuracy": accuracy, "accuracy_low": low, "accuracy_high": high, "confidence": 0.9,
            "diversity": diversity, "diversity_se": 0.1, "frechet": frechet, "frechet_se": se, "seconds": 1.0}


def test_the_tradeoff_curve_is_drawn_and_described_from_the_numbers(tmp_path):
    points = [point(8.0, 174.3, 5.9, 1.0, 8.1), point(0.0, 180.0, 6.0, 0.08, 10.5), point(1.0, 36.7, 3.9, 0.91, 9.2),
              point(1.5, 40.0, 3.0), point(4.0, 130.7, 5.0)]
    path = write_tradeoff(tmp_path / "tradeoff.json", points)
    run, reason = cfg_tradeoff.load_tradeoff(path)
    assert reason is None
    facts = cfg_tradeoff.tradeoff_facts(run)
    # 40.0 - 2·3.0 <= 36.7 + 2·3.9: s = 1.5 is within the noise of the best; s = 4 (130.7 ± 5.0) is not
    assert (facts["best_s"], facts["best_frechet"], facts["tied_with_best"]) == (1.0, 36.7, [1.5])
    assert (facts["last_s"], facts["last_frechet"], facts["rise_is_real"], facts["floor"]) == (8.0, 174.3, True, 36.2)
    assert facts["samples"] == 300
    fig = cfg_tradeoff.tradeoff_figure(run)
    assert tuple(fig.data[0].x) == (0.0, 1.0, 1.5, 4.0, 8.0)
    assert tuple(fig.data[0].y) == (180.0, 36.7, 40.0, 130.7, 174.3)
    assert tuple(fig.data[0].error_y.array) == (6.0, 3.9, 3.0, 5.0, 5.9)
    assert [(shape.type, shape.y0, shape.y1) for shape in fig.layout.shapes] == [("rect", 36.2, 36.2),
                                                                                ("line", 36.2, 36.2)]  # one subset
    assert tuple(fig.data[1].y) == (0.08, 0.91, 0.9, 0.9, 1.0) and tuple(fig.data[2].y)[-1] == 8.1
    text = cfg_tradeoff.tradeoff_markdown(run)
    assert "36.7 ± 3.9" in text and "174.3 ± 5.9" in text and "36.2" in text


def test_the_tradeoff_figure_draws_the_floor_as_a_band_and_the_real_diversity(tmp_path):
    path = write_tradeoff(tmp_path / "tradeoff.json", [point(1.0, 36.7, 3.9, 0.91, 9.2), point(4.0, 130.7, 5.0)])
    run = json.loads(path.read_text())
    run["real_floor"]["spread"] = {"values": [36.2, 29.3, 42.7], "low": 29.3, "high": 42.7, "mean": 36.1,
                                   "what": "3 disjoint subsets"}
    run["real_diversity"] = {"value": 8.92, "se": 0.09, "spread": {"low": 8.6, "high": 9.1}}
    fig = cfg_tradeoff.tradeoff_figure(run)
    band, mean, real, real_band = fig.layout.shapes
    assert (band.type, band.y0, band.y1, band.yref) == ("rect", 29.3, 42.7, "y") and mean.y0 == 36.1
    assert (real.yref, real.y0, real.xref) == ("y3", 8.92, "x3 domain") and (real_band.y0, real_band.y1) == (8.6, 9.1)
    # the band's note is short enough for its panel (its mean); the whole sentence shows on hover
    note = next(a for a in fig.layout.annotations if a.hovertext)
    assert note.text == "real digits: 36.1"
    assert note.hovertext == "real digits: 29.3-42.7, mean 36.1 over 3 subsets of 300"
    text = cfg_tradeoff.tradeoff_markdown(run)
    assert "real digits: 29.3-42.7, mean 36.1 over 3 subsets of 300" in text
    assert "9.20 ± 0.10 (+0.28 from real digits' 8.92)" in text  # diversity read against the real value


def test_a_rise_within_the_noise_is_not_called_a_rise(tmp_path):
    path = write_tradeoff(tmp_path / "t.json", [point(1.0, 40.0, 5.0), point(8.0, 50.0, 5.0)])
    run, _ = cfg_tradeoff.load_tradeoff(path)
    facts = cfg_tradeoff.tradeoff_facts(run)
    assert facts["rise_is_real"] is False and facts["tied_with_best"] == [8.0]  # 50 - 10 <= 40 + 10


def test_a_missing_tradeoff_says_which_command_makes_it(tmp_path):
    missing = cfg_tradeoff.tradeoff_view(tmp_path / "absent.json")
    assert "python -m playground.cli.tradeoff" in missing["markdown"] and len(missing["figure"].data) == 0
    other = write_tradeoff(tmp_path / "t.json", [point(1.0, 40.0, 5.0)], curve="rescale")
    no_cfg = cfg_tradeoff.tradeoff_view(other)
    assert "no 'cfg' curve" in no_cfg["markdown"] and len(no_cfg["figure"].data) == 0
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    assert "missing or unreadable" in cfg_tradeoff.tradeoff_view(broken)["markdown"]


@pytest.mark.skipif(not TRADEOFF_FILE.exists(), reason="assets/tradeoff.json is not precomputed yet")
def test_the_shipped_tradeoff_has_a_cfg_curve_from_all_ten_digits():
    run, reason = cfg_tradeoff.load_tradeoff()
    assert reason is None and run["settings"]["per_class"] >= 30
    facts = cfg_tradeoff.tradeoff_facts(run)
    assert facts["samples"] >= 300 and facts["floor"] is not None
    assert len(cfg_tradeoff.tradeoff_figure(run).data) == 3
