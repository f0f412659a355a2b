"""Tab 4, the model: its card, loss curve and label table, built once at start (no inputs, no endpoint).

The evaluation table spans the tab's full width under the two columns, so that at 1280 px no number or header
has to break."""

import gradio as gr

from playground.ui.shared import plot
from playground.views.model_card import (
    evaluation_section_markdown,
    label_dropout_markdown,
    label_table_figure,
    loss_curve_figure,
    model_card_markdown,
)


def build_tab(model, model_error):
    with gr.Tab("8 · The model", id="model"):
        if model is None:
            gr.Markdown(f"The model did not load: {model_error}")
            return
        card = model.card
        with gr.Row():
            with gr.Column(scale=3):
                gr.Markdown(model_card_markdown(card, model, with_evaluation=False))
                gr.Markdown(label_dropout_markdown(card))
            with gr.Column(scale=2):
                plot(value=loss_curve_figure(card.get("training", {}).get("loss_log")))
                plot(value=label_table_figure(model))
        gr.Markdown(evaluation_section_markdown(card), elem_id="model-evaluation")
