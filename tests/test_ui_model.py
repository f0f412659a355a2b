"""The model page (`playground.ui.model.model`): it opens on the served model's drawings of every digit (s = 1 and
s = 4, or s = 1 only and why for a model without a null class) beside the loss curve; the card, the label table
and the evaluation (full width, one-word headers) in folds that start closed; a plain note when no model loaded."""

import math

import gradio as gr
import numpy as np
import pytest
from view_helpers import build_page

from playground.assets import COMPANIONS, DEFAULT_DIT
from playground.checkpoint import load_pretrained
from playground.data import to_uint8
from playground.diffusion import DEFAULT_SAMPLER, DEFAULT_STEPS
from playground.sampling import sample_guided
from playground.tables import EVALUATION_COLUMNS, evaluation_markdown
from playground.ui import serving
from playground.ui.model import model as page
from playground.views.model import model as model_card


def markdowns(demo):
    return [b for b in demo.blocks.values() if isinstance(b, gr.Markdown)]


def test_every_evaluation_header_is_one_word_and_the_ln10_ceiling_is_computed():
    assert all(" " not in title for _, title in EVALUATION_COLUMNS)  # nothing to break between or within words
    text = evaluation_markdown({"command": "x", "rows": [{"name": "s = 1", "accuracy": 0.9}]}, num_classes=10)
    assert f"ln 10 = {math.log(10):.3f}" in text
    assert f"ln 4 = {math.log(4):.3f}" in evaluation_markdown({"rows": []}, num_classes=4)


@pytest.mark.skipif(not DEFAULT_DIT.exists(), reason="the shipped checkpoint is absent")
def test_the_page_opens_on_the_drawings_and_folds_the_card(shipped):
    demo, openings = build_page(page, shipped)
    [opening] = openings
    assert opening.fn is page.model_drawings and opening.values == ()
    [grid] = [b for b in demo.blocks.values() if isinstance(b, gr.Image)]
    assert grid.elem_id == "model-grid"
    folds = [b for b in demo.blocks.values() if isinstance(b, gr.Accordion)]
    assert len(folds) == 3 and not any(fold.open for fold in folds)
    evaluation = next(b for b in markdowns(demo) if b.elem_id == "model-evaluation")
    assert evaluation.parent in folds and isinstance(evaluation.parent.parent, gr.Tab)  # full width, in a fold
    assert evaluation.value == model_card.evaluation_section_markdown(shipped.card)
    shown = [b for b in markdowns(demo) if b.parent is not None and not isinstance(b.parent, gr.Accordion)
             and not any(isinstance(a, gr.Accordion) for a in ancestors(b))]
    assert [b.value for b in shown] == [model_card.drawings_caption(shipped)]
    assert len(shown[0].value.split()) <= 45 and "s = 1 and s = 4" in shown[0].value


def ancestors(block):
    while block.parent is not None:
        block = block.parent
        yield block


def test_the_drawings_are_the_shipped_sampler_s_samples_of_every_digit(monkeypatch):
    monkeypatch.setenv(serving.WEIGHTS_ENV, str(COMPANIONS["0.1"]))  # a small model with a null class: quick
    model = serving.require_model()
    (grid,) = page.model_drawings()
    x = sample_guided(model, [d for d in range(10) for _ in range(2)], [1.0, 4.0], steps=DEFAULT_STEPS, seed=0,
                      sampler=DEFAULT_SAMPLER)
    pixels = np.asarray(grid.convert("L"))
    cell, pad = 56, 6
    left = grid.width - 10 * (cell + pad) - pad
    header = grid.height - 4 * (cell + pad) - pad
    for row, (scale, sample) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
        for digit in (0, 7):  # the cell of this digit, scale and sample, at its top-left pixel
            y, x0 = header + row * (cell + pad), left + pad + digit * (cell + pad)
            expected = to_uint8(x[scale, 2 * digit + sample]).numpy()[0, 0]
            assert pixels[y, x0] == expected


def test_a_model_without_a_null_class_draws_s_1_only_and_says_why():
    model = load_pretrained(COMPANIONS["0"])
    assert model_card.drawn_scales(model) == (1.0,)
    caption = model_card.drawings_caption(model)
    assert "at s = 1 (" in caption and "no null class to guide with" in caption and "s = 4" not in caption
    assert model_card.drawings_grid(model).height < model_card.drawings_grid(model, per_digit=4).height


def test_the_loss_curves_title_starts_under_plotlys_toolbar():
    fig = model_card.loss_curve_figure([[5, 0.9], [10, 0.4]])
    height = fig.layout.height
    assert fig.layout.title.yanchor == "top" and round((1 - fig.layout.title.y) * height) >= model_card.TOOLBAR_PX
    assert fig.layout.margin.t >= 90 + model_card.TOOLBAR_PX


def test_without_a_model_the_page_says_why():
    demo, openings = build_page(page, None, "assets/dit_mnist.safetensors is missing")
    assert openings == [] and [b.value for b in markdowns(demo)] == [
        "The model did not load: assets/dit_mnist.safetensors is missing"]
