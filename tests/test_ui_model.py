"""The model page (`playground.ui.model.model`): the card of the served model, its evaluation table across the page's
full width with one-word headers, and a plain note when no model loaded."""

import math

import gradio as gr
import pytest
from view_helpers import build_page

from playground.assets import DEFAULT_DIT
from playground.tables import EVALUATION_COLUMNS, evaluation_markdown
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
def test_the_evaluation_table_spans_the_model_page(shipped):
    demo, openings = build_page(page, shipped)
    assert openings == []  # the card has nothing to compute on a first visit
    evaluation = next(b for b in markdowns(demo) if b.elem_id == "model-evaluation")
    assert isinstance(evaluation.parent, gr.Tab)  # full width, not inside the card's column
    assert evaluation.value == model_card.evaluation_section_markdown(shipped.card)
    columns = [b for b in markdowns(demo) if b is not evaluation]
    assert all("### Evaluation" not in b.value for b in columns)


def test_without_a_model_the_page_says_why():
    demo, openings = build_page(page, None, "assets/dit_mnist.safetensors is missing")
    assert openings == [] and [b.value for b in markdowns(demo)] == [
        "The model did not load: assets/dit_mnist.safetensors is missing"]
