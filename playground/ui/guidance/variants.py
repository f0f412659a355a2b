"""The page "Variants": guidance schedules and variants on the same noise (`/guidance_lab`), one column each, with
the judge's reading beside the precomputed trade-off curves."""

import gradio as gr

from playground.assets import AUTOGUIDE_WEAK
from playground.checkpoint import CheckpointError
from playground.ui.openings import on_first_visit
from playground.ui.serving import checkpoint, class_count, get_judge, require_model
from playground.ui.turns import SAMPLER, SAMPLING_LANE
from playground.ui.widgets import demo_buttons, digit_choices, image, plot, user_error, wire_demos
from playground.views.guidance import variants as view
from playground.views.guidance.cfg import SCALE_RANGE
from playground.views.guidance.curves import load_tradeoff
from playground.views.guidance.variants import LAB_DEFAULTS, LAB_PRESETS, MAX_LAB_SAMPLES

PROGRESS = gr.Progress()  # gradio passes this default instance to the handler (its documented idiom)
INTRO = (
    "**What changes when guidance is applied only part of the time, rescaled, pointed away from another digit, "
    "left unclipped, or taken from a weaker model**, each from the same starting noise. DiT's scale s throughout: "
    "ε̂ = ε_o + s·(ε_c − ε_o), where ε_o is the null-class prediction ε_u for CFG."
)


def _weak_model():
    """Autoguidance's weaker model, or None when it does not load (the comparison then says so)."""
    try:
        return checkpoint("dit", AUTOGUIDE_WEAK)
    except CheckpointError:
        return None


def guidance_lab(label, seed, scale, samples, t_lo, t_hi, phi, negative, progress=PROGRESS):
    """One column per guidance method at the same scale and noise; the judge's reading; the trade-off curves."""
    model = require_model()
    request = user_error(view.validate_lab, label, seed, scale, samples, t_lo, t_hi, phi, negative,
                         num_classes=class_count(model))
    judge, _ = get_judge()
    with SAMPLER.turn():
        out = view.lab_view(model, request, judge=judge, weak_model=_weak_model(), tradeoff=load_tradeoff(),
                            progress=progress)
    return out["grid"], out["table"], out["interval"], out["tradeoff"], out["frechet"], out["verdict"]


def _opening(*values):
    """The comparison at the page's starting inputs, without a progress bar (nobody is waiting on it)."""
    return guidance_lab(*values, progress=None)


def build(shown, model, model_error):
    """The comparison's controls, one-click demos and results; it opens on `LAB_DEFAULTS` (nothing without a
    model)."""
    choices = digit_choices(class_count(model))
    gr.Markdown(INTRO)
    with gr.Row():
        with gr.Column(scale=1, min_width=300):
            gr.Markdown("**One-click demos**")
            preset_buttons = demo_buttons(LAB_PRESETS)
            label = gr.Dropdown(choices, value=LAB_DEFAULTS["label"], label="digit")
            with gr.Row():
                seed = gr.Number(value=LAB_DEFAULTS["seed"], precision=0, minimum=0, label="seed")
                scale = gr.Number(value=LAB_DEFAULTS["scale"], label=f"scale s, in {list(SCALE_RANGE)}")
            samples = gr.Slider(2, MAX_LAB_SAMPLES, value=LAB_DEFAULTS["samples"], step=1, label="samples")
            with gr.Row():
                t_lo = gr.Number(value=LAB_DEFAULTS["t_lo"], precision=0, label="interval t_lo")
                t_hi = gr.Number(value=LAB_DEFAULTS["t_hi"], precision=0, label="interval t_hi")
            phi = gr.Slider(0, 1, value=LAB_DEFAULTS["phi"], step=0.05, label="rescale φ")
            negative = gr.Dropdown(choices, value=LAB_DEFAULTS["negative"], label="negative class")
            run = gr.Button("Compare", variant="primary", elem_classes="big-run")
        with gr.Column(scale=3):
            grid = image("lab-grid")
            table = gr.Markdown(elem_classes="nowrap-table")
    with gr.Row():
        interval = plot()
        verdict = gr.Markdown(elem_classes="nowrap-table")
    with gr.Row():
        tradeoff = plot()
        frechet = plot()
    inputs = [label, seed, scale, samples, t_lo, t_hi, phi, negative]  # the order of LAB_DEFAULTS
    outputs = [grid, table, interval, tradeoff, frechet, verdict]
    run.click(guidance_lab, inputs, outputs, api_name="guidance_lab", preprocess=False, **SAMPLING_LANE)
    wire_demos(preset_buttons, LAB_PRESETS, guidance_lab, inputs, outputs, **SAMPLING_LANE)
    if model is None:
        return []
    _, opening = on_first_visit(shown, _opening, inputs, outputs, **SAMPLING_LANE)
    return [opening]
