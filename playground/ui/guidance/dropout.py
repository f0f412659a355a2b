"""Tab "Why label dropout": the three companion DiTs (label dropout 0 / 0.1 / 0.5) side by side, what their null
class learned, the stand-ins a p = 0 model would need, and autoguidance against CFG (`/label_dropout`)."""

from functools import lru_cache

import gradio as gr

from playground.assets import COMPANIONS
from playground.checkpoint import CheckpointError, load_pretrained
from playground.ui.shared import (
    SAMPLER,
    SAMPLING_LANE,
    class_count,
    get_judge,
    image,
    on_first_visit,
    plot,
    require_model,
    user_error,
)
from playground.views.guidance import dropout as view
from playground.views.guidance.curves import load_tradeoff
from playground.views.guidance.dropout import DEFAULTS, MAX_DROPOUT_SAMPLES, RATES, STAND_IN_SCALE

INTRO = (
    "During training DiT's `LabelEmbedder` replaces the digit by a **null class ∅** with probability p "
    "(`class_dropout_prob`), so one network learns both ε(x, t, y) and ε(x, t, ∅). Three small companions, "
    "identical but for p, show why: **p = 0** has no null row at all (`use_cfg_embedding = dropout_prob > 0`, as "
    "in the reference), so it cannot be guided; **p = 0.5** spends half its steps on ∅. Their cards name the "
    "command that trained each (`assets/dit_mnist_small_p*.json`)."
)


@lru_cache(maxsize=1)
def companions():
    """`{rate: model}` for the three companions; a CheckpointError names the damaged file."""
    return {rate: load_pretrained(COMPANIONS[rate]) for rate in RATES}


def label_dropout(label, seed, scales, samples):
    """The same sweep on the three companions, their null class and label table, stand-ins, autoguidance."""
    reference = require_model()
    args = user_error(view.validate, label, seed, scales, samples, num_classes=class_count(reference))
    try:
        models = companions()
    except CheckpointError as e:
        raise gr.Error(f"A companion model did not load: {e}") from e
    judge, _ = get_judge()
    with SAMPLER.turn():
        out = view.label_dropout_view(models, reference, *args, judge=judge, tradeoff=load_tradeoff())
    return (out["grid"], out["live"], out["verdict"], out["table"], out["null"], out["rows"], out["stand_ins"],
            out["curves"], out["autoguidance"])


def build_tab(model, model_error):
    choices = [(str(i), i) for i in range(class_count(model))]
    with gr.Tab("6 · Why label dropout", id="dropout") as tab:
        gr.Markdown(INTRO)
        with gr.Row():
            label = gr.Dropdown(choices, value=DEFAULTS["label"], label="digit", scale=1)
            seed = gr.Number(value=DEFAULTS["seed"], precision=0, minimum=0, label="seed", scale=1)
            scales = gr.Textbox(value=DEFAULTS["scales"], label="guidance scales s", scale=2)
            samples = gr.Slider(1, MAX_DROPOUT_SAMPLES, value=DEFAULTS["samples"], step=1, label="samples", scale=2)
            run = gr.Button("Sample the three", variant="primary", scale=1)
        verdict = gr.Markdown()
        with gr.Row():
            with gr.Column(scale=2):
                grid = image("dropout-grid")
            with gr.Column(scale=3):
                live = gr.Markdown(elem_classes="nowrap-table")
                table = gr.Markdown(elem_classes="nowrap-table")
        with gr.Row():
            null = plot()
        with gr.Row():
            rows = plot()
            with gr.Column():
                gr.Markdown(f"**Experiment, not DiT:** the p = 0 model guided at s = {STAND_IN_SCALE:g} with a made-up "
                            "null row appended to its label table (an input it never saw in training).")
                stand_ins = image("dropout-standins")
        with gr.Row():
            curves = plot()
            autoguidance = gr.Markdown()
        inputs = [label, seed, scales, samples]
        outputs = [grid, live, verdict, table, null, rows, stand_ins, curves, autoguidance]
        settings = SAMPLING_LANE
        gr.on([run.click, scales.submit], label_dropout, inputs, outputs, api_name="label_dropout",
              preprocess=False, **settings)
        on_first_visit(tab.select, label_dropout, inputs, outputs, **settings)
