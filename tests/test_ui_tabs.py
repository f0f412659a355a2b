"""The per-tab builders of `playground.ui`: widgets from the views' defaults and caps, classes from the model."""

import gradio as gr

from playground.model import DiT
from playground.ui.guidance import cfg as cfg_sweep_tab
from playground.ui.time import mlp as mlp_tab
from playground.ui.time import waves as embedding_tab
from playground.views.guidance import cfg as cfg_sweep
from playground.views.time import mlp
from playground.views.time import waves as embedding


def components(demo, kind):
    return {b.label: b for b in demo.blocks.values() if isinstance(b, kind)}


def test_class_choices_come_from_the_model_config():
    model = DiT(hidden_size=32, depth=1, num_heads=2, num_classes=4).eval()
    with gr.Blocks() as demo, gr.Tabs():
        mlp_tab.build_tab(model, None)
        cfg_sweep_tab.build_tab(model, None)
    blocks = components(demo, gr.Dropdown) | components(demo, gr.Radio)
    mlp_classes = [value for _, value in blocks["class label for the blocks"].choices]
    assert mlp_classes == [0, 1, 2, 3, model.null_class] and model.null_class == 4
    assert [value for _, value in blocks["digit to draw"].choices] == [0, 1, 2, 3]


def test_widgets_start_at_the_views_defaults():
    with gr.Blocks() as demo, gr.Tabs():
        embedding_tab.build_tab(None, "no weights here")
        mlp_tab.build_tab(None, "no weights here")
        cfg_sweep_tab.build_tab(None, "no weights here")
    sliders, numbers = components(demo, gr.Slider), components(demo, gr.Number)
    assert (sliders["dim"].value, sliders["how many t"].value) == (embedding.DEFAULTS["dim"], embedding.DEFAULTS["n_t"])
    assert numbers["max_period"].value == embedding.DEFAULTS["max_period"]
    assert numbers["seed of the fresh MLP"].value == mlp.DEFAULTS["seed"]
    assert sliders["denoising steps"].value == cfg_sweep.DEFAULTS["steps"]
    assert sliders["samples per scale (rows)"].maximum == cfg_sweep.MAX_SAMPLES
    scales = next(b for b in demo.blocks.values() if isinstance(b, gr.Textbox) and "guidance scales" in b.label)
    assert scales.value == cfg_sweep.DEFAULTS["scales"]
