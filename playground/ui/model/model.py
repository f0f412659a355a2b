"""The model's card: config, data, training run, loss curve, label table and evaluation, drawn once when the app is
built (no inputs, no endpoint). The evaluation table spans the page's full width under the two columns, so that at
1280 px no number or header has to break."""

import gradio as gr

from playground.ui.widgets import plot
from playground.views.model.model import (
    evaluation_section_markdown,
    label_dropout_markdown,
    label_table_figure,
    loss_curve_figure,
    model_card_markdown,
)


def build(shown, model, model_error):
    """The card of the served model (or why there is none); it opens on nothing to compute."""
    if model is None:
        gr.Markdown(f"The model did not load: {model_error}")
        return []
    card = model.card
    with gr.Row():
        with gr.Column(scale=3):
            gr.Markdown(model_card_markdown(card, model, with_evaluation=False))
            gr.Markdown(label_dropout_markdown(card))
        with gr.Column(scale=2):
            plot(value=loss_curve_figure(card.get("training", {}).get("loss_log")))
            plot(value=label_table_figure(model))
    gr.Markdown(evaluation_section_markdown(card), elem_id="model-evaluation")
    return []
