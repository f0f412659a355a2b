"""The forward-pass page (`playground.ui.inside.forward`): widgets from the view's DEFAULTS fitted to the served
model, one documented endpoint, what the page opens on, and every shipped checkpoint traced."""

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


def test_widgets_follow_the_defaults_and_the_config():
    model = DiT(hidden_size=32, depth=3, num_heads=2, num_classes=4).eval()
    demo, (opening,) = build_page(page, model)
    sliders = components(demo, gr.Slider)
    assert (sliders["block"].maximum, sliders["head"].maximum, sliders["query patch row"].maximum) == (2, 1, 6)
    assert sliders["block"].value == inside.DEFAULTS["block"]
    digits = components(demo, gr.Radio)["digit"]
    assert [value for _, value in digits.choices] == [0, 1, 2, 3] and digits.value == 3
    assert opening.fn is page.inside_dit and opening.values == tuple(inside.DEFAULTS.values())


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
    assert len(demo.fns) == 1 + 2 * len(inside.PRESETS) + 1  # the endpoint, each demo's fill and run, the first visit


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
    demo, (opening,) = build_page(page, model)
    sliders = components(demo, gr.Slider)
    config = model.config
    assert (sliders["block"].maximum, sliders["head"].maximum) == (config.depth - 1, config.num_heads - 1)
    assert (page.NO_NULL in markdowns(demo)) == (model.null_class is None)
    for values in inside.PRESETS.values():  # every demo is a request this model answers
        inside.validate_inside(**inside.fitted(values, config), config=config)
    summary, attention, *_, shape_walk = opening.fn(*opening.values)
    scale = inside.INSIDE_SCALE if model.null_class is not None else 1
    assert f"(s = {scale:g}, seed 0)" in summary and f"{config.depth} blocks" in shape_walk
    assert len([t for t in attention.data if t.coloraxis == "coloraxis"]) == config.depth * config.num_heads
    with pytest.raises(gr.Error, match=f"block must be between 0 and {config.depth - 1}"):
        page.inside_dit(3, 0, 4, config.depth, 0, 3, 3)
