"""The forward-pass page (`playground.ui.inside.forward`): widgets from the view's DEFAULTS fitted to the served
model, one documented endpoint, the data's path first and everything else in folds that start closed, what the
page opens on, and every shipped checkpoint traced."""

import gradio as gr
import pytest
from view_helpers import build_page, components

from playground.assets import COMPANIONS, DEFAULT_DIT
from playground.checkpoint import load_pretrained
from playground.model import DiT
from playground.ui.inside import forward as page
from playground.ui.serving import WEIGHTS_ENV
from playground.views.inside import forward as inside

SHIPPED = {"shipped": DEFAULT_DIT} | {f"p{p}": path for p, path in COMPANIONS.items()}


def markdowns(demo):
    return [b.value for b in demo.blocks.values() if isinstance(b, gr.Markdown)]


def fold_of(component):
    """The Accordion a component sits in, or None."""
    parent = component.parent
    while parent is not None and not isinstance(parent, gr.Accordion):
        parent = parent.parent
    return parent


def triggers_of(demo, fn):
    """`{(component label, event)}` of the events that run `fn`."""
    return {(demo.blocks[block].label, event) for f in demo.fns.values() if f.fn is fn
            for block, event in f.targets if block in demo.blocks}


def test_widgets_follow_the_defaults_and_the_config():
    model = DiT(hidden_size=32, depth=3, num_heads=2, num_classes=4).eval()
    demo, (opening, _) = build_page(page, model)
    sliders = components(demo, gr.Slider)
    assert (sliders["block"].maximum, sliders["head"].maximum, sliders["query patch row"].maximum) == (2, 1, 6)
    assert sliders["block"].value == inside.DEFAULTS["block"]
    digits = components(demo, gr.Dropdown)["digit"]
    assert [value for _, value in digits.choices] == [0, 1, 2, 3] and digits.value == 3
    assert opening.fn is page.data_path and opening.values == tuple(inside.DEFAULTS.values())


def test_the_page_opens_on_the_data_path_then_the_rest():
    """The first visit draws the data's path, then the endpoint's outputs; both at the defaults."""
    demo, (hero, rest) = build_page(page, DiT(hidden_size=32, depth=2, num_heads=2).eval())
    assert (hero.fn, rest.fn) == (page.data_path, page.inside_dit) and hero.values == rest.values
    path = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "forward-path")
    assert fold_of(path) is None


def test_folds_start_closed_and_hold_all_but_the_picture_attention_and_primary_controls():
    demo, _ = build_page(page, DiT(hidden_size=32, depth=2, num_heads=2).eval())
    folds = [b for b in demo.blocks.values() if isinstance(b, gr.Accordion)]
    assert len(folds) == 5 and all(fold.open is False for fold in folds)
    (endpoint,) = [fn for fn in demo.fns.values() if fn.api_name == "inside_dit"]
    summary, attention, *rest, shape_walk = endpoint.outputs
    assert fold_of(attention) is None and fold_of(summary) and fold_of(shape_walk)
    assert all(fold_of(plot) for plot in rest)
    shown = [b.label for b in demo.blocks.values() if isinstance(b, gr.components.FormComponent) and b.label
             and fold_of(b) is None]
    assert shown == ["digit", "step of the trajectory"]
    assert page.INTRO in markdowns(demo) and len(page.CAPTION.split()) <= 30


def test_the_digit_and_committed_numbers_trace_again():
    """The digit traces on a person's change (a demo or link setting it runs the page itself); the seed on Enter
    or when it loses focus (never per keystroke); the rest as before."""
    demo, _ = build_page(page, DiT(hidden_size=32, depth=2, num_heads=2).eval())
    triggers = triggers_of(demo, page.data_path)
    assert {("digit", "input"), ("step of the trajectory", "change"), ("seed", "submit"), ("seed", "blur"),
            ("block", "release"), ("query patch column", "release")} <= triggers
    assert not any(event == "change" for label, event in triggers if label == "seed")


def test_one_documented_endpoint_and_every_other_event_private():
    demo, _ = build_page(page, DiT(hidden_size=32, depth=1, num_heads=2).eval())
    block = components(demo, gr.Slider)["block"]
    assert (block.value, block.interactive) == (0, False)  # one block: nothing to choose
    public = [fn for fn in demo.fns.values() if fn.api_visibility != "private"]
    assert [fn.api_name for fn in public] == ["inside_dit"]
    (endpoint,) = public
    assert endpoint.preprocess is False and [b.label for b in endpoint.inputs] == [
        "digit", "seed", "step of the trajectory", "block", "head", "query patch row", "query patch column"]
    assert len(endpoint.outputs) == len(page.OUTPUTS)
    demo_runs = [fn for fn in demo.fns.values() if fn.fn is page.inside_dit and fn is not endpoint]
    assert len(demo_runs) == len(inside.PRESETS)
    # the picture and the endpoint after it; each demo's fill, picture and rest; the two first visits
    assert len(demo.fns) == 2 + 3 * len(inside.PRESETS) + 2


def test_without_a_model_the_page_says_why_and_opens_on_nothing(monkeypatch):
    demo, openings = build_page(page, None, "no weights here")
    assert openings == [] and "> The model did not load: no weights here" in markdowns(demo)
    monkeypatch.setenv(WEIGHTS_ENV, "/nonexistent/dit.safetensors")
    with pytest.raises(gr.Error, match="could not be loaded"):
        page.inside_dit(*inside.DEFAULTS.values())


@pytest.mark.parametrize("name", list(SHIPPED))
def test_every_shipped_checkpoint_builds_and_opens(name, monkeypatch):
    """Served with `PLAYGROUND_WEIGHTS`, each checkpoint gets sliders of its own depth and heads, demos it can run,
    and a first visit that traces; the p = 0 companion (no null class) says its trajectory is unguided."""
    path = SHIPPED[name]
    if not path.exists():
        pytest.skip(f"{path.name} is absent")
    model = load_pretrained(path)
    monkeypatch.setenv(WEIGHTS_ENV, str(path))
    demo, (hero, opening) = build_page(page, model)
    sliders = components(demo, gr.Slider)
    config = model.config
    assert (sliders["block"].maximum, sliders["head"].maximum) == (config.depth - 1, config.num_heads - 1)
    assert (page.NO_NULL in markdowns(demo)) == (model.null_class is None)
    for values in inside.PRESETS.values():  # every demo is a request this model answers
        inside.validate_inside(**inside.fitted(values, config), config=config)
    summary, attention, *_, shape_walk = opening.fn(*opening.values)
    (path,) = hero.fn(*hero.values)
    assert len(path.data) == 6  # x_t, tokens, into the blocks, out of them, final tokens, ε
    scale = inside.INSIDE_SCALE if model.null_class is not None else 1
    assert f"(s = {scale:g}, seed 0)" in summary and f"{config.depth} blocks" in shape_walk
    assert len([t for t in attention.data if t.coloraxis == "coloraxis"]) == config.depth * config.num_heads
    with pytest.raises(gr.Error, match=f"block must be between 0 and {config.depth - 1}"):
        page.inside_dit(3, 0, 4, config.depth, 0, 3, 3)
