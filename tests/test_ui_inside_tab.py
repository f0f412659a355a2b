"""The inside-the-DiT tab: widgets from the views' DEFAULTS and caps, ranges from the model's config."""

import gradio as gr
from test_ui_tabs import components

from playground.model import DiT
from playground.ui.inside import forward as inside_tab
from playground.views.inside import decided as counterfactual
from playground.views.inside import forward as inside


def test_widgets_follow_the_defaults_and_the_config():
    model = DiT(hidden_size=32, depth=3, num_heads=2, num_classes=4).eval()
    with gr.Blocks() as demo, gr.Tabs():
        inside_tab.build_tab(model, None)
    sliders = components(demo, gr.Slider)
    assert (sliders["block"].maximum, sliders["head"].maximum, sliders["query patch row"].maximum) == (2, 1, 6)
    assert sliders["block"].value == inside.DEFAULTS["block"]
    assert sliders["samples"].maximum == counterfactual.MAX_SAMPLES
    digits = components(demo, gr.Radio)["digit"]
    assert [value for _, value in digits.choices] == [0, 1, 2, 3] and digits.value == 3
    assert components(demo, gr.Dropdown)["switch to"].value == 3  # the default 8 is not a class of this model
    assert components(demo, gr.Radio)["experiment"].value == counterfactual.DEFAULTS["experiment"]
    assert components(demo, gr.Textbox)["blocks (0..2)"].value == counterfactual.DEFAULTS["cut_blocks"]
    names = {fn.api_name for fn in demo.fns.values()}
    assert {"inside_dit", "counterfactual"} <= names


def test_builds_without_a_model():
    with gr.Blocks(), gr.Tabs():
        inside_tab.build_tab(None, "no weights here")
