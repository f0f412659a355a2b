"""The CFG page (`playground.ui.guidance.cfg`): widgets from the view's defaults and caps, classes from the model, the
endpoints' inputs, what the page opens on (its caption computed from the all-class curve, the rest in closed folds),
the live column following the sweep's digit, and what a model without a null class can and cannot show."""

import json
import math

import gradio as gr
import numpy as np
import pytest
from view_helpers import build_page, components

from playground.assets import COMPANIONS
from playground.model import DiT
from playground.ui.guidance import cfg as page
from playground.ui.serving import WEIGHTS_ENV, checkpoint
from playground.views.guidance import cfg as view
from playground.views.guidance import cfg_tradeoff, live

P0_MISSING = pytest.mark.skipif(not COMPANIONS["0"].exists(), reason="the p = 0 companion is absent")


def blocks(demo, kind):
    return [b for b in demo.blocks.values() if isinstance(b, kind)]


def endpoint(demo, name):
    return next(fn for fn in demo.fns.values() if fn.api_name == name)


def test_class_choices_come_from_the_model_config():
    model = DiT(hidden_size=32, depth=1, num_heads=2, num_classes=4).eval()
    demo, _ = build_page(page, model)
    assert [value for _, value in components(demo, gr.Radio)["digit to draw"].choices] == [0, 1, 2, 3]


def test_widgets_start_at_the_views_defaults():
    demo, _ = build_page(page, None, "no weights here")
    sliders = components(demo, gr.Slider)
    assert sliders["denoising steps"].value == view.DEFAULTS["steps"]
    assert sliders["samples per scale (rows)"].value == view.DEFAULTS["samples"]
    assert sliders["samples per scale (rows)"].maximum == view.MAX_SAMPLES
    scales = next(b for b in blocks(demo, gr.Textbox) if "guidance scales" in b.label)
    assert scales.value == view.DEFAULTS["scales"] == "0, 1, 2, 4, 7, 10"
    live_slider = next(b for b in blocks(demo, gr.Slider) if b.elem_id == "cfg-live-scale")
    assert (live_slider.value, live_slider.minimum, live_slider.maximum) == (live.LIVE_SCALE, *view.SCALE_RANGE)


def test_the_page_opens_on_the_default_sweep_and_its_live_column(random_dit):
    demo, openings = build_page(page, random_dit)
    (opening,) = openings  # the page's first visit shows this kept result
    assert opening.fn.func is page.cfg_opening and opening.fn.args == (random_dit,)
    assert opening.values == (*view.DEFAULTS.values(), live.LIVE_SCALE)  # the page's inputs as they start
    assert len(blocks(demo, gr.Plot)) == 2  # the judge's chart and the trade-off: filled by the opening
    grid, metrics, trajectory, summary, formula, column, line, tradeoff, tradeoff_text = opening.result()
    assert grid is not None and trajectory is not None and metrics is not None and tradeoff is not None
    n = view.DEFAULTS["samples"]
    assert f"**Class {view.DEFAULTS['label']}**" in summary and f"ln {n} = {math.log(n):.2f}" in summary
    assert summary.endswith(page.RUN_NOTE) and formula == view.cfg_explainer_markdown(view.DEFAULT_SCALES)
    # the live column is cut from the sweep: the same picture the slider samples at s = 4
    request = live.LiveRequest(view.DEFAULT_LABEL, live.LIVE_SCALE, view.DEFAULT_SAMPLES, 0)
    sampled = live.live_column(random_dit, request, judge=page.get_judge()[0])
    assert np.array_equal(np.asarray(column), np.asarray(sampled["image"])) and "**s = 4**" in line


def test_without_weights_the_page_opens_empty_and_says_so():
    opened = page.cfg_opening(None, *view.DEFAULTS.values(), live.LIVE_SCALE)
    grid, _, trajectory, summary, formula, column, line, *_ = opened
    assert (grid, trajectory, column) == (None, None, None)
    assert summary == page.NO_MODEL_NOTE and line == page.NO_MODEL_NOTE and "s\\,(" in formula


def test_the_endpoints_keep_their_inputs_with_clip_last_and_on_by_default():
    demo, _ = build_page(page, None, "no weights here")
    sweep = endpoint(demo, "cfg_sweep")
    assert [type(b) for b in sweep.inputs] == [gr.Radio, gr.Textbox, gr.Slider, gr.Number, gr.Slider, gr.Dropdown,
                                               gr.Checkbox]
    assert sweep.inputs[-1].value is True and sweep.preprocess is False
    column = endpoint(demo, "live_column")
    assert [b.label for b in column.inputs] == ["digit to draw", column.inputs[1].label, "samples per scale (rows)",
                                                "seed"]
    assert column.inputs[1].elem_id == "cfg-live-scale" and column.preprocess is False
    named = {fn.api_name for fn in demo.fns.values() if fn.api_visibility != "private"}
    assert named == {"cfg_sweep", "live_column"}  # first visit, demos and exports stay out of the API
    exports = [fn for fn in demo.fns.values() if fn.fn is page.export_sweep]
    assert len(exports) == 1 + len(view.PRESETS) and all(fn.inputs == sweep.inputs for fn in exports)
    # the presets fill every input, clip included; one of them turns it off
    assert all(len(p) == len(sweep.inputs) for p in view.PRESETS.values())
    assert [name for name, p in view.PRESETS.items() if not p["clip"]] == ["Without clipping x0"]


def test_the_guidance_accordion_names_diffusers_guidance_scale_and_the_clip():
    demo, _ = build_page(page, None, "no weights here")
    accordion = next(b.value for b in blocks(demo, gr.Markdown)
                     if isinstance(b.parent, gr.Accordion) and b.parent.label == "Common confusions about guidance")
    assert "`guidance_scale`" in accordion and "7.5" in accordion
    assert view.CLIP_NOTE in accordion and "clip_denoised=False" in accordion
    # the clip's effect is measured on the page (grey pixels, the judge), not asserted: no "keeps large s working"
    assert "keeps large s working" not in accordion and "saturated" not in accordion
    assert "counts the grey pixels" in view.CLIP_NOTE


def test_a_model_with_other_classes_still_opens_on_a_sweep():
    model = DiT(hidden_size=32, depth=1, num_heads=2, num_classes=4).eval()
    _, (opening,) = build_page(page, model)
    grid, *_, summary = opening.result()[:4]
    assert grid is not None and "**Class 3**" in summary


def test_a_bad_input_is_named_before_any_sampling():
    with pytest.raises(gr.Error, match="samples per scale"):
        next(page.cfg_sweep(3, "1", 0, 0, 4, "ddim"))
    with pytest.raises(gr.Error, match="guidance scale"):
        page.live_column(3, 99, 2, 0)


@pytest.fixture
def served_p0(monkeypatch):
    """The p = 0 companion served, as `PLAYGROUND_WEIGHTS=assets/dit_mnist_small_p0.safetensors` serves it."""
    monkeypatch.setenv(WEIGHTS_ENV, str(COMPANIONS["0"]))
    model = checkpoint("dit", str(COMPANIONS["0"]))
    assert model.null_class is None
    return model


@P0_MISSING
def test_a_model_without_a_null_class_opens_without_a_sweep_and_says_why(served_p0):
    demo, (opening,) = build_page(page, served_p0)
    grid, metrics, trajectory, summary, _, column, line, tradeoff, _ = opening.result()
    assert (grid, metrics, trajectory, column) == (None, None, None, None) and tradeoff is not None
    assert summary.startswith("**No sweep to open on this model:**") and "no null class" in summary
    assert line == page.UNGUIDED_LIVE_LINE


@P0_MISSING
def test_a_model_without_a_null_class_refuses_guidance_and_samples_s_1(served_p0):
    with pytest.raises(gr.Error, match="no null class"):
        next(page.cfg_sweep(3, "0, 1, 4", 2, 0, 2, "ddim"))
    with pytest.raises(gr.Error, match="no null class"):
        page.live_column(3, 4, 2, 0)
    image, line = page.live_column(3, 1, 2, 0)
    assert image.width > image.height and "**s = 1**" in line
    *_, (grid, metrics, _, summary, _) = page.cfg_sweep(3, "1", 2, 0, 2, "ddim")
    assert grid is not None and "**Class 3**" in summary and "| 1 | 0 |" in summary


def test_a_link_s_inputs_open_the_page_on_their_sweep_and_a_live_column_of_its_digit(random_dit):
    values = {**view.DEFAULTS, "label": 7, "scales": "0, 1", "samples": 2}
    grid, _, _, summary, _, column, line, *_ = page.cfg_opening(random_dit, *values.values(), 2.5)
    assert grid is not None and "**Class 7**" in summary
    # s = 2.5 is not in the sweep: the column is sampled, of the sweep's digit, samples and seed
    sampled = live.live_column(random_dit, live.LiveRequest(7, 2.5, 2, 0), judge=page.get_judge()[0])
    assert np.array_equal(np.asarray(column), np.asarray(sampled["image"])) and "**s = 2.5**" in line
    assert line.split(" (")[0].endswith("as 7")
    with pytest.raises(gr.Error, match="guidance scale 99 is outside"):
        page.cfg_opening(random_dit, *{**values, "scales": "99"}.values(), 4.0)


def test_the_caption_says_the_all_class_curve_s_idea_from_its_numbers(tmp_path):
    run, _ = cfg_tradeoff.load_tradeoff()
    facts = cfg_tradeoff.tradeoff_facts(run)
    caption = page.tradeoff_caption()
    assert f"({facts['first']['accuracy']:.0%} → {facts['last']['accuracy']:.0%})" in caption
    assert f"lowest near s = {facts['best_s']:g}, then grows" in caption and facts["rise_is_real"]
    assert len(caption.split()) <= 30  # one line
    cfg = run["curves"]["cfg"]
    flat_points = [{**p, "frechet": 40.0, "frechet_se": 5.0} for p in cfg["points"]]
    flat = {**run, "curves": {**run["curves"], "cfg": {**cfg, "points": flat_points}}}
    (tmp_path / "flat.json").write_text(json.dumps(flat))
    assert "within the noise" in page.tradeoff_caption(tmp_path / "flat.json")  # no rise: it does not say one
    assert "missing or unreadable" in page.tradeoff_caption(tmp_path / "absent.json")


def test_the_first_screen_holds_the_primary_controls_and_the_rest_starts_folded():
    demo, _ = build_page(page, None, "no weights here")
    folds = {b.label: b for b in blocks(demo, gr.Accordion)}
    assert set(folds) == {"More settings", "Denoising, step by step", "The numbers behind it",
                          "Common confusions about guidance"}
    assert all(fold.open is False and "fold" in fold.elem_classes for fold in folds.values())

    def folded(block):
        while block is not None and not isinstance(block, gr.Accordion):
            block = block.parent
        return block.label if block else None

    by_id = {b.elem_id: b for b in demo.blocks.values() if getattr(b, "elem_id", None)}
    assert [folded(by_id[i]) for i in ("cfg-grid", "cfg-live-scale", "cfg-live-column", "cfg-caption")] == [None] * 4
    assert folded(by_id["cfg-summary"]) == "The numbers behind it"
    assert folded(by_id["cfg-trajectory"]) == "Denoising, step by step"
    sliders = components(demo, gr.Slider)
    assert folded(sliders["samples per scale (rows)"]) == folded(sliders["denoising steps"]) == "More settings"
    assert folded(components(demo, gr.Radio)["digit to draw"]) is None
    exports = by_id["cfg-exports"]
    assert exports.visible is False and folded(exports) is None  # shown, under the trade-off, once a sweep fills it


def triggers(demo, fn):
    """`(component, event name)` of every trigger of the events that run `fn`."""
    return {(demo.blocks[block_id], name) for dep in demo.fns.values() if dep.fn is fn
            for block_id, name in dep.targets if block_id is not None}  # None: a chain's .then/.success


def test_a_new_digit_runs_the_sweep_and_clears_the_live_column_until_it_is_drawn():
    demo, _ = build_page(page, None, "no weights here")
    digit = components(demo, gr.Radio)["digit to draw"]
    assert (digit, "input") in triggers(demo, page.cfg_sweep)  # a person's pick, not a demo's or link's fill-in
    sliders = components(demo, gr.Slider)
    seed = components(demo, gr.Number)["seed"]
    assert triggers(demo, page.clear_column) == {(digit, "input"), (sliders["samples per scale (rows)"], "input"),
                                                 (seed, "input")}
    assert page.clear_column() == (None, page.LIVE_FOLLOWS)
    # every sweep (the button, Enter, a digit, each demo) is followed by the export and by the live column
    follows = [dep for dep in demo.fns.values() if dep.fn is page.follow_sweep]
    assert len(follows) == 1 + len(view.PRESETS)
    assert all(dep.inputs[-1].elem_id == "cfg-live-scale" and dep.api_visibility == "private" for dep in follows)


def test_after_a_sweep_the_live_column_shows_the_sweep_s_digit_cut_from_it_or_sampled():
    inputs = (7, "1, 4", 2, 0, live.DEFAULT_STEPS, live.DEFAULT_SAMPLER, True)
    *_, (grid, *_rest) = page.cfg_sweep(*inputs)
    image, line = page.follow_sweep(*inputs, 4)
    sampled, sampled_line = page.live_column(7, 4, 2, 0)
    assert np.array_equal(np.asarray(image), np.asarray(sampled)) and line in sampled_line  # cut: no timing
    assert "as 7" in line and "sampled in" not in line
    image, line = page.follow_sweep(*inputs, 2.5)  # not in the sweep: sampled
    assert np.array_equal(np.asarray(image), np.asarray(page.live_column(7, 2.5, 2, 0)[0])) and "sampled in" in line
    other_steps = (*inputs[:4], 3, *inputs[5:])
    *_, (grid, *_rest) = page.cfg_sweep(*other_steps)
    image, line = page.follow_sweep(*other_steps, 4)  # sampled otherwise than the column: not cut
    assert np.array_equal(np.asarray(image), np.asarray(sampled)) and "sampled in" in line


def test_the_export_box_is_filled_and_shown_once_a_sweep_is_drawn():
    update = page.export_sweep(3, "1", 1, 0, 2, "ddim")
    assert update["visible"] is True and [path.rsplit(".", 1)[1] for path in update["value"]] == ["gif", "png"]
