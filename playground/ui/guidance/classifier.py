"""Tab "Classifier guidance": the noise-aware classifier's gradient steering the unconditional model, next to CFG
on the same noise, with what each guide asks for and why the guide must see noise (`/classifier_guidance`)."""

from functools import lru_cache

import gradio as gr

from playground.checkpoint import CheckpointError
from playground.noisy_classifier import load_classifier
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
from playground.views.guidance import classifier as view
from playground.views.guidance.classifier import DEFAULTS, MAX_CG_SAMPLES, MAX_VALUES
from playground.views.guidance.curves import load_tradeoff

INTRO = (
    "Before CFG, **classifier guidance** (Dhariwal & Nichol 2021) steered an unconditional model with the gradient "
    "of a separate classifier trained on *noisy* images: ε̂ = ε_u − g·√(1−ᾱ_t)·∇ log p(y | x_t, t). CFG made that "
    "classifier unnecessary: its ε_c − ε_u is the gradient of an implicit classifier, learned by the same network. "
    "The classifier here (`assets/noisy_classifier.json`) is a small FiLM-conditioned CNN, unlike the judge."
)


@lru_cache(maxsize=1)
def classifier():
    return load_classifier()


PROGRESS = gr.Progress()


def classifier_guidance(label, seed, samples, g, s, progress=PROGRESS):
    """Classifier guidance at each g and CFG at each s from the same noise; the guides' requests; the curves."""
    model = require_model()
    args = user_error(view.validate, label, seed, samples, g, s, num_classes=class_count(model))
    judge, judge_error = get_judge()
    if judge is None:
        raise gr.Error(judge_error)
    try:
        guide = classifier()
    except CheckpointError as e:
        raise gr.Error(f"The noise-aware classifier did not load: {e}") from e
    if model.null_class is None:
        raise gr.Error("This model has no null class, so it has no unconditional prediction to guide.")
    with SAMPLER.turn():
        out = view.classifier_guidance_view(model, guide, judge, *args, tradeoff=load_tradeoff(), progress=progress)
    return out["grid"], out["summary"], out["requests"], out["accuracy_by_t"], out["tradeoff"], out["frechet"]


def build_tab(model, model_error):
    choices = [(str(i), i) for i in range(class_count(model))]
    with gr.Tab("7 · Classifier guidance", id="classifier") as tab:
        gr.Markdown(INTRO)
        with gr.Row():
            label = gr.Dropdown(choices, value=DEFAULTS["label"], label="digit", scale=1)
            seed = gr.Number(value=DEFAULTS["seed"], precision=0, minimum=0, label="seed", scale=1)
            samples = gr.Slider(2, MAX_CG_SAMPLES, value=DEFAULTS["samples"], step=1, label="samples", scale=2)
            g = gr.Textbox(value=DEFAULTS["g"], label=f"classifier scales g (≤ {MAX_VALUES})", scale=2)
            s = gr.Textbox(value=DEFAULTS["s"], label=f"CFG scales s (≤ {MAX_VALUES})", scale=2)
            run = gr.Button("Compare", variant="primary", scale=1)
        with gr.Row():
            with gr.Column(scale=3):
                grid = image("cg-grid")
            with gr.Column(scale=2):
                summary = gr.Markdown(elem_classes="nowrap-table")
        with gr.Row():
            tradeoff = plot()
            frechet = plot()
        with gr.Row():
            requests = plot()
        accuracy_by_t = plot()
        inputs = [label, seed, samples, g, s]
        outputs = [grid, summary, requests, accuracy_by_t, tradeoff, frechet]
        settings = SAMPLING_LANE
        gr.on([run.click, g.submit, s.submit], classifier_guidance, inputs, outputs, api_name="classifier_guidance",
              preprocess=False, **settings)
        on_first_visit(tab.select, lambda *values: classifier_guidance(*values, progress=None), inputs, outputs,
                       **settings)
