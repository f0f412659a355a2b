"""The page "Classifier guidance": the noise-aware classifier's gradient steering the unconditional model, next to
CFG on the same noise, with what each guide asks for and what a guide that saw noise in training changes
(`/classifier_guidance`)."""

import gradio as gr

from playground.ui.openings import on_first_visit
from playground.ui.serving import class_count, get_judge, require, require_model
from playground.ui.turns import SAMPLER, SAMPLING_LANE
from playground.ui.widgets import digit_choices, fold, image, plot, user_error
from playground.views.guidance import classifier as view
from playground.views.guidance.classifier import DEFAULTS, MAX_CG_SAMPLES, MAX_VALUES
from playground.views.guidance.curves import load_tradeoff

PROGRESS = gr.Progress()  # gradio passes this default instance to the handler (its documented idiom)
INTRO = (
    "Before CFG, **classifier guidance** (Dhariwal & Nichol 2021) steered an unconditional model with the gradient "
    "of a separate classifier trained on *noisy* images: ε̂ = ε_u − g·√(1−ᾱ_t)·∇ log p(y | x_t, t). CFG made that "
    "classifier unnecessary: by Bayes' rule its ε_c − ε_u is −√(1−ᾱ_t) times the gradient of an implicit "
    "classifier's log-probability, ∇ log p(y | x_t) (Ho & Salimans 2022), learned by the same network. "
    "The classifier here (`assets/noisy_classifier.json`) is a small FiLM-conditioned CNN, unlike the judge."
)
GRID_HEIGHT = 540  # the hero's height: a third of the first screen and more at 1280x720, the page under 2 screens
CAPTION = ("**Same noise, two ways to steer toward a digit:** a noise-aware classifier's gradient (scale g) on the "
           "unconditional model, beside CFG (scale s).")


def classifier_guidance(label, seed, samples, g, s, progress=PROGRESS):
    """Classifier guidance at each g and CFG at each s from the same noise; the guides' requests; the curves."""
    model = require_model()
    request = user_error(view.validate, label, seed, samples, g, s, num_classes=class_count(model))
    judge, judge_error = get_judge()
    if judge is None:
        raise gr.Error(judge_error)
    guide = require("classifier", what="The noise-aware classifier")
    with SAMPLER.turn():
        out = user_error(view.classifier_guidance_view, model, guide, judge, request, tradeoff=load_tradeoff(),
                         progress=progress)
    return out["grid"], out["summary"], out["requests"], out["accuracy_by_t"], out["tradeoff"], out["frechet"]


def _opening(*values):
    """The comparison at the page's starting inputs, without a progress bar (nobody is waiting on it)."""
    return classifier_guidance(*values, progress=None)


def build(shown, model, model_error):
    """The grid of both guides beside its primary controls, everything else in folds; it opens on `DEFAULTS`, or
    says why the served model cannot be guided this way (then it opens on nothing)."""
    reason = None if model is None else view.cannot_guide(model)
    with gr.Row():
        with gr.Column(scale=3):
            grid = image("cg-grid", height=GRID_HEIGHT)
        with gr.Column(scale=2):
            gr.Markdown(CAPTION if reason is None else f"> ⚠️ {reason}")
            label = gr.Dropdown(digit_choices(class_count(model)), value=DEFAULTS["label"], label="digit")
            g = gr.Textbox(value=DEFAULTS["g"], label=f"classifier scales g (≤ {MAX_VALUES})")
            run = gr.Button("Compare", variant="primary")
    with fold("More settings"):
        with gr.Row():
            s = gr.Textbox(value=DEFAULTS["s"], label=f"CFG scales s (≤ {MAX_VALUES})")
            seed = gr.Number(value=DEFAULTS["seed"], precision=0, minimum=0, label="seed")
            samples = gr.Slider(2, MAX_CG_SAMPLES, value=DEFAULTS["samples"], step=1, label="samples")
    with fold("The numbers behind it"):
        gr.Markdown(INTRO)
        summary = gr.Markdown(elem_classes="nowrap-table")
    with fold("Accuracy against variety, and distance to real digits"):
        with gr.Row():
            tradeoff = plot()
            frechet = plot()
    with fold("What each guide asks of ε, and where the classifier can read the digit"):
        requests = plot()
        accuracy_by_t = plot()
    inputs = [label, seed, samples, g, s]
    outputs = [grid, summary, requests, accuracy_by_t, tradeoff, frechet]
    gr.on([run.click, g.submit, s.submit], classifier_guidance, inputs, outputs, api_name="classifier_guidance",
          preprocess=False, **SAMPLING_LANE)
    # .input, not .change: a link that sets the digit opens the page on it already (its first visit)
    gr.on([label.input, seed.submit, seed.blur], classifier_guidance, inputs, outputs, api_visibility="private",
          **SAMPLING_LANE)
    if model is None or reason is not None:
        return []
    _, opening = on_first_visit(shown, _opening, inputs, outputs, **SAMPLING_LANE)
    return [opening]
