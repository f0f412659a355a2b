"""The page "Label dropout": the three companion DiTs (label dropout 0 / 0.1 / 0.5) side by side, what their null
class learned, the stand-ins a p = 0 model would need, and autoguidance against CFG (`/label_dropout`)."""

import gradio as gr

from playground.assets import COMPANIONS
from playground.ui.openings import on_first_visit
from playground.ui.serving import class_count, get_judge, require, require_model
from playground.ui.turns import SAMPLER, SAMPLING_LANE
from playground.ui.widgets import digit_choices, fold, image, plot, user_error
from playground.views.guidance import dropout as view
from playground.views.guidance.curves import load_tradeoff
from playground.views.guidance.dropout import DEFAULTS, MAX_DROPOUT_SAMPLES, RATES, STAND_IN_SCALE

INTRO = (
    "During training DiT's `LabelEmbedder` replaces the digit by a **null class ∅** with probability p "
    "(`class_dropout_prob`), so one network learns both ε(x, t, y) and ε(x, t, ∅). Three small companions, "
    "identical but for p, show why: **p = 0** has no null row at all (`use_cfg_embedding = dropout_prob > 0`, as "
    "in the reference), so *classifier-free* guidance cannot run on it (guides that need no ∅, a negative class or "
    "autoguidance, still can); **p = 0.5** trains on ∅ in place of the digit in about half its examples (the drop "
    "is drawn per example). Their cards name the command that trained each (`assets/dit_mnist_small_p*.json`)."
)
# The wide grid's height at the default two samples per cell (`view.sweep_grid_image`), so it fills the page's width
GRID_HEIGHT = 320
CAPTION = ("**Same noise, three models that differ only in label dropout p.** Without it (p = 0) there is no null "
           "class, so classifier-free guidance cannot run.")


def label_dropout(label, seed, scales, samples):
    """The same sweep on the three companions, their null class and label table, stand-ins, autoguidance."""
    served = require_model()
    request = user_error(view.validate, label, seed, scales, samples, num_classes=class_count(served))
    models = {rate: require("dit", COMPANIONS[rate], f"The label-dropout {rate} companion") for rate in RATES}
    judge, _ = get_judge()
    with SAMPLER.turn():
        out = view.label_dropout_view(models, served, request, judge=judge, tradeoff=load_tradeoff())
    return (out["grid"], out["live"], out["verdict"], out["table"], out["null"], out["rows"], out["stand_ins"],
            out["curves"], out["autoguidance"])


def build(shown, model, model_error):
    """The three companions' grid across the page with its primary controls under it, everything else in folds; it
    opens on `DEFAULTS` (nothing without a model)."""
    grid = image("dropout-grid", height=GRID_HEIGHT)
    with gr.Row(equal_height=True, elem_id="dropout-controls"):
        with gr.Column(scale=2, min_width=240):
            gr.Markdown(CAPTION)
        label = gr.Dropdown(digit_choices(class_count(model)), value=DEFAULTS["label"], label="digit", scale=1)
        scales = gr.Textbox(value=DEFAULTS["scales"], label="guidance scales s", scale=1)
        run = gr.Button("Sample the three", variant="primary", scale=1)
    with fold("More settings"):
        with gr.Row():
            seed = gr.Number(value=DEFAULTS["seed"], precision=0, minimum=0, label="seed")
            samples = gr.Slider(1, MAX_DROPOUT_SAMPLES, value=DEFAULTS["samples"], step=1, label="samples")
    with fold("The numbers behind it"):
        gr.Markdown(INTRO)
        verdict = gr.Markdown()
        live = gr.Markdown(elem_classes="nowrap-table")
        table = gr.Markdown(elem_classes="nowrap-table")
    with fold("What the null class learned"):
        null = plot()
        rows = plot()
    with fold("Stand-ins for a missing null row (an experiment, not DiT)"):
        gr.Markdown(f"**Experiment, not DiT:** the p = 0 model guided at s = {STAND_IN_SCALE:g} with a made-up "
                    "null row appended to its label table (an input it never saw in training).")
        stand_ins = image("dropout-standins")
    with fold("The companions against CFG and autoguidance"):
        curves = plot()
        autoguidance = gr.Markdown(elem_classes="nowrap-head")
    inputs = [label, seed, scales, samples]
    outputs = [grid, live, verdict, table, null, rows, stand_ins, curves, autoguidance]
    gr.on([run.click, scales.submit], label_dropout, inputs, outputs, api_name="label_dropout", preprocess=False,
          **SAMPLING_LANE)
    # .input, not .change: a link that sets the digit opens the page on it already (its first visit)
    gr.on([label.input, seed.submit, seed.blur], label_dropout, inputs, outputs, api_visibility="private",
          **SAMPLING_LANE)
    if model is None:
        return []
    _, opening = on_first_visit(shown, label_dropout, inputs, outputs, **SAMPLING_LANE)
    return [opening]
