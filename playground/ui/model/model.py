"""The model's page: what the served model draws (every digit at s = 1 and s = 4, sampled once per process as the
page's opening) beside its loss curve; its card, label table and evaluation in folds. The evaluation table spans
the page's full width, so that at 1280 px no number or header has to break."""

import gradio as gr

from playground.ui.openings import on_first_visit
from playground.ui.serving import require_model
from playground.ui.turns import SAMPLER, SAMPLING_LANE
from playground.ui.widgets import fold, image, plot
from playground.views.model.model import (
    drawings_caption,
    drawings_grid,
    evaluation_section_markdown,
    label_dropout_markdown,
    label_table_figure,
    loss_curve_figure,
    model_card_markdown,
)


def model_drawings():
    """The served model's samples of every digit (the page's grid)."""
    model = require_model()
    with SAMPLER.turn():
        return (drawings_grid(model),)


def build(shown, model, model_error):
    """The served model's drawings and loss curve, its card in folds (or why there is no model); it opens on the
    drawings."""
    if model is None:
        gr.Markdown(f"The model did not load: {model_error}")
        return []
    card = model.card
    gr.Markdown(drawings_caption(model))
    with gr.Row():
        with gr.Column(scale=3):
            drawings = image("model-grid", height=470)
        with gr.Column(scale=2):
            plot(value=loss_curve_figure(card.get("training", {}).get("loss_log")))
    with fold("The card: config, parameters, training"):
        gr.Markdown(model_card_markdown(card, model, with_evaluation=False))
    with fold("The label table and the null class"):
        with gr.Row():
            with gr.Column(scale=3):
                gr.Markdown(label_dropout_markdown(card))
            with gr.Column(scale=2):
                plot(value=label_table_figure(model))
    with fold("Evaluation: the judge's table per guidance scale"):
        gr.Markdown(evaluation_section_markdown(card), elem_id="model-evaluation", elem_classes="nowrap-table")
    _, opening = on_first_visit(shown, model_drawings, [], [drawings], **SAMPLING_LANE)
    return [opening]
