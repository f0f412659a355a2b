"""The guidance tab opens on a result, with the clip toggle last; the model tab's evaluation table fits its width."""

import math

import gradio as gr
import pytest

from playground.assets import DEFAULT_DIT
from playground.grids import EVALUATION_COLUMNS, evaluation_markdown
from playground.model import DiT
from playground.ui import shared
from playground.ui.guidance import cfg as cfg_sweep_tab
from playground.ui.model import model as model_card_tab
from playground.views.guidance import cfg as cfg_sweep
from playground.views.model import model as model_card


def blocks(demo, kind):
    return [b for b in demo.blocks.values() if isinstance(b, kind)]


def test_the_guidance_tab_opens_on_the_default_sweep(random_dit):
    with gr.Blocks() as demo, gr.Tabs():
        cfg_sweep_tab.build_tab(random_dit, None)
    opener, values = shared.OPENINGS[-1]  # the tab's first visit shows this kept result
    assert opener.func is cfg_sweep_tab.cfg_opening and opener.args == (random_dit,) and values == ()
    assert len(blocks(demo, gr.Plot)) == 2  # the live judge's chart, the trade-off: filled by the opening
    grid, metrics, trajectory, summary, formula, column, line, tradeoff, tradeoff_text = opener()
    assert grid is not None and trajectory is not None and column is not None
    assert metrics is not None and tradeoff is not None and "s = 4" in line
    n = cfg_sweep.DEFAULTS["samples"]
    assert f"**Class {cfg_sweep.DEFAULTS['label']}**" in summary and f"ln {n} = {math.log(n):.2f}" in summary
    empty = cfg_sweep_tab.cfg_opening(None)  # no weights: the tab opens without samples, and says how to get some
    assert empty[0] is None and empty[5] is None and "Pick a one-click demo" in empty[3]


def test_clip_is_the_last_input_of_the_sweep_and_on_by_default():
    with gr.Blocks() as demo, gr.Tabs():
        cfg_sweep_tab.build_tab(None, "no weights here")
    endpoint = next(fn for fn in demo.fns.values() if fn.api_name == "cfg_sweep")
    last = endpoint.inputs[-1]
    assert isinstance(last, gr.Checkbox) and last.value is True and len(endpoint.inputs) == 7
    assert [type(b) for b in endpoint.inputs[:6]] == [gr.Radio, gr.Textbox, gr.Slider, gr.Number, gr.Slider,
                                                      gr.Dropdown]
    # the presets fill every input, clip included; one of them turns it off
    assert all(len(p) == len(endpoint.inputs) for p in cfg_sweep.PRESETS.values())
    assert [name for name, p in cfg_sweep.PRESETS.items() if not p["clip"]] == ["Without clipping x0"]


def test_the_guidance_accordion_names_diffusers_guidance_scale_and_the_clip():
    with gr.Blocks() as demo, gr.Tabs():
        cfg_sweep_tab.build_tab(None, "no weights here")
    accordion = next(b.value for b in blocks(demo, gr.Markdown) if isinstance(b.parent, gr.Accordion))
    assert "`guidance_scale`" in accordion and "7.5" in accordion
    assert cfg_sweep.CLIP_NOTE in accordion and "clip_denoised=False" in accordion


def test_every_evaluation_header_is_one_word_and_the_ln10_ceiling_is_computed():
    assert all(" " not in title for _, title in EVALUATION_COLUMNS)  # nothing to break between or within words
    text = evaluation_markdown({"command": "x", "rows": [{"name": "s = 1", "accuracy": 0.9}]}, num_classes=10)
    assert f"ln 10 = {math.log(10):.3f}" in text
    assert f"ln 4 = {math.log(4):.3f}" in evaluation_markdown({"rows": []}, num_classes=4)


@pytest.mark.skipif(not DEFAULT_DIT.exists(), reason="the shipped checkpoint is absent")
def test_the_evaluation_table_spans_the_model_tab():
    from playground.checkpoint import load_pretrained

    model = load_pretrained()
    with gr.Blocks() as demo, gr.Tabs():
        model_card_tab.build_tab(model, None)
    evaluation = next(b for b in blocks(demo, gr.Markdown) if b.elem_id == "model-evaluation")
    assert isinstance(evaluation.parent, gr.Tab)  # full width, not inside the card's column
    assert evaluation.value == model_card.evaluation_section_markdown(model.card)
    columns = [b for b in blocks(demo, gr.Markdown) if b is not evaluation]
    assert all("### Evaluation" not in b.value for b in columns)


def test_a_model_with_other_classes_still_builds(random_dit):
    model = DiT(hidden_size=32, depth=1, num_heads=2, num_classes=4).eval()
    with gr.Blocks(), gr.Tabs():
        cfg_sweep_tab.build_tab(model, None)
    assert cfg_sweep_tab.cfg_opening(model)[0] is not None
