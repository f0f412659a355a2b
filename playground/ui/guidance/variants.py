"""The page "Variants": guidance schedules and variants on the same noise (`/guidance_lab`), one column each, with
the judge's reading beside the precomputed trade-off curves."""

import gradio as gr

from playground.assets import AUTOGUIDE_WEAK
from playground.checkpoint import CheckpointError
from playground.ui.openings import on_first_visit
from playground.ui.serving import checkpoint, class_count, get_judge, require_model
from playground.ui.turns import SAMPLER, SAMPLING_LANE
from playground.ui.widgets import demo_buttons, digit_choices, fold, image, plot, user_error, wire_demos
from playground.views.guidance import variants as view
from playground.views.guidance.cfg import SCALE_RANGE
from playground.views.guidance.curves import load_tradeoff
from playground.views.guidance.variants import LAB_DEFAULTS, LAB_PRESETS, MAX_LAB_SAMPLES

PROGRESS = gr.Progress()  # gradio passes this default instance to the handler (its documented idiom)
CAPTION = ("**Same noise, seven ways to guide:** one column per method at the same s; the curves under them show "
           "what each trades between recognisable and varied.")
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


def _controls(choices):
    """The three primary controls and, folded, "More settings": `(inputs in the order of LAB_DEFAULTS, run
    button)`."""
    gr.Markdown(CAPTION)
    label = gr.Dropdown(choices, value=LAB_DEFAULTS["label"], label="digit")
    scale = gr.Number(value=LAB_DEFAULTS["scale"], label=f"scale s, in {list(SCALE_RANGE)}")
    run = gr.Button("Compare", variant="primary", elem_classes="big-run")
    with fold("More settings"):
        seed = gr.Number(value=LAB_DEFAULTS["seed"], precision=0, minimum=0, label="seed")
        samples = gr.Slider(2, MAX_LAB_SAMPLES, value=LAB_DEFAULTS["samples"], step=1, label="samples")
        with gr.Row():
            t_lo = gr.Number(value=LAB_DEFAULTS["t_lo"], precision=0, label="interval t_lo")
            t_hi = gr.Number(value=LAB_DEFAULTS["t_hi"], precision=0, label="interval t_hi")
        phi = gr.Slider(0, 1, value=LAB_DEFAULTS["phi"], step=0.05, label="rescale φ")
        negative = gr.Dropdown(choices, value=LAB_DEFAULTS["negative"], label="negative class")
    return [label, seed, scale, samples, t_lo, t_hi, phi, negative], run


def build(shown, model, model_error):
    """The grid of methods beside the controls with the one-click demos under it, the trade-off curves under them,
    the judge's tables and the interval on the noise schedule in a fold; it opens on `LAB_DEFAULTS` (nothing
    without a model)."""
    with gr.Row():
        with gr.Column(scale=1, min_width=250):
            inputs, run = _controls(digit_choices(class_count(model)))
        with gr.Column(scale=4):
            grid = image("lab-grid", height=470)
            with gr.Row():
                preset_buttons = demo_buttons(LAB_PRESETS)
    with gr.Row():
        tradeoff = plot()
        frechet = plot()
    with fold("The numbers behind it"):
        gr.Markdown(INTRO)
        table = gr.Markdown(elem_classes="nowrap-table")
        verdict = gr.Markdown(elem_classes="nowrap-head")
        interval = plot()
    outputs = [grid, table, interval, tradeoff, frechet, verdict]
    label, seed, scale, samples, t_lo, t_hi, phi, negative = inputs
    # Every control acts when its value is committed: numbers on Enter or leaving the box (never per keystroke),
    # sliders on release, menus on a person's choice (`.input`: a demo filling them runs once, by its own event).
    # "always_last": settings changed during a run are run once it ends, not dropped.
    commits = [run.click, label.input, negative.input, samples.release, phi.release,
               *(event for box in (seed, scale, t_lo, t_hi) for event in (box.submit, box.blur))]
    gr.on(commits, guidance_lab, inputs, outputs, api_name="guidance_lab", preprocess=False,
          trigger_mode="always_last", **SAMPLING_LANE)
    wire_demos(preset_buttons, LAB_PRESETS, guidance_lab, inputs, outputs, **SAMPLING_LANE)
    if model is None:
        return []
    _, opening = on_first_visit(shown, _opening, inputs, outputs, **SAMPLING_LANE)
    return [opening]
