"""The adaLN page: where c = t_emb + y_emb goes, the shift / scale / gate of every block and of the final layer for
one class, and what the class changes in them. Its outputs are also part of `/mlp_comparison` (built by the MLP
page)."""

import gradio as gr

from playground.cache import Cache
from playground.ui.openings import on_first_visit
from playground.ui.serving import class_count, require_model
from playground.ui.widgets import digit_choices, fold, plot, user_error
from playground.views.time import adaln

INTRO = (
    "Where t goes next: c = t_emb + y_emb sets the adaLN-Zero **shift / scale / gate** of every block and of the "
    "final layer. Below, what it sets for one class, and what the class changes in them."
)
CAPTION = ("**t and the class set every block's shift, scale and gate** (top); below, what changing the class "
           "changes in them.")
VIEWS = Cache("adaLN views", max_items=12)  # the view for a class of the served model: 11 classes at most


def class_choices(model):
    """The digits, and the null class last where the model has one (as when no model loaded: the default config)."""
    digits = class_count(model)
    null = model.null_class if model is not None else digits
    return digit_choices(digits) + ([(f"∅ null class ({null})", null)] if null is not None else [])


def class_control(model, **kwargs):
    """The class dropdown: this page's control, and the class input of `/mlp_comparison`."""
    return gr.Dropdown(class_choices(model), value=adaln.DEFAULTS["label"], label="class label for the blocks",
                       **kwargs)


@VIEWS.memoise
def adaln_outputs(label):
    """`adaln_view` for a checked class of the served model (which never changes, so the class is the key)."""
    return adaln.adaln_view(require_model(), label)


def adaln_page(label):
    """The page's outputs for one class: summary, modulation, class effect."""
    view = adaln_outputs(user_error(adaln.validate_label, label, require_model()))
    return view["summary"], view["modulation"], view["class_effect"]


def build(shown, model, model_error):
    """The caption and the class (the null class last, where the model has one) over the two adaLN figures, their
    sentences in a fold; opened on the default class."""
    with gr.Row(equal_height=True):
        gr.Markdown(CAPTION, scale=3)
        label = class_control(model, scale=1)
    if model is None:  # said above the pictures, not in the fold
        gr.Markdown(f"The model did not load: {model_error}")
    elif model.null_class is None:
        gr.Markdown(adaln.NO_NULL_CLASS)
    modulation, class_effect = plot(), plot()
    with fold():
        gr.Markdown(INTRO)
        summary = gr.Markdown("*Computing…*" if model is not None else "")
    outputs = [summary, modulation, class_effect]
    label.change(adaln_page, inputs=[label], outputs=outputs, api_visibility="private")
    if model is None:
        return []
    _, opening = on_first_visit(shown, adaln_page, [label], outputs)
    return [opening]
