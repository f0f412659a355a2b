"""Tab "Guidance lab": one guided step opened up (`/guided_step`), and guidance schedules and variants on the
same noise (`/guidance_lab`), beside the precomputed trade-off curves."""

from functools import lru_cache

import gradio as gr

from playground.assets import AUTOGUIDE_WEAK
from playground.checkpoint import CheckpointError, load_pretrained
from playground.diffusion import DEFAULT_STEPS, sampling_timesteps
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
    wire_demos,
)
from playground.views.guidance import variants as view
from playground.views.guidance.curves import load_tradeoff
from playground.views.guidance.variants import LAB_DEFAULTS, LAB_PRESETS, MAX_LAB_SAMPLES, SCALE_RANGE, STEP_DEFAULTS

PROGRESS = gr.Progress()
INTRO = (
    "**What one guided step computes, and what changes when guidance is applied only part of the time, rescaled, "
    "pointed away from another digit, left unclipped, or taken from a weaker model.** DiT's scale s throughout: "
    "ε̂ = ε_o + s·(ε_c − ε_o), where ε_o is the null-class prediction ε_u for CFG."
)


@lru_cache(maxsize=1)
def weak_model():
    """Autoguidance's weaker model (the label-dropout-0.1 companion), or None if it does not load."""
    try:
        return load_pretrained(AUTOGUIDE_WEAK)
    except CheckpointError:
        return None


def guided_step(label, seed, step, scale):
    """x_t, ε_u, ε_c, ε_c − ε_u, the guided ε and the x0 each implies, at one step of a real trajectory."""
    model = require_model()
    args = user_error(view.validate_step, label, seed, step, scale, num_classes=class_count(model))
    with SAMPLER.turn():
        out = user_error(view.guided_step_view, model, *args)
    return out["panels"], out["norms"], out["summary"], out["trace"]


def guidance_lab(label, seed, scale, samples, t_lo, t_hi, phi, negative, progress=PROGRESS):
    """One column per guidance method at the same scale and noise; the judge's reading; the trade-off curves."""
    model = require_model()
    args = user_error(view.validate_lab, label, seed, scale, samples, t_lo, t_hi, phi, negative,
                      num_classes=class_count(model))
    judge, _ = get_judge()
    with SAMPLER.turn():
        out = user_error(view.lab_view, model, *args, judge=judge, weak_model=weak_model(),
                         tradeoff=load_tradeoff(), progress=progress)
    return out["grid"], out["table"], out["interval"], out["tradeoff"], out["frechet"], out["verdict"]


def build_tab(model, model_error):
    choices = [(str(i), i) for i in range(class_count(model))]
    timesteps = sampling_timesteps(DEFAULT_STEPS)
    with gr.Tab("5 · Guidance lab", id="lab") as tab:
        gr.Markdown(INTRO)
        gr.Markdown("### 1 · One guided step, opened up")
        with gr.Row():
            step_label = gr.Dropdown(choices, value=STEP_DEFAULTS["label"], label="digit", scale=1)
            step_seed = gr.Number(value=STEP_DEFAULTS["seed"], precision=0, minimum=0, label="seed", scale=1)
            step = gr.Slider(1, DEFAULT_STEPS, value=STEP_DEFAULTS["step"], step=1, scale=3,
                             label=f"sampler step (1 = t {timesteps[0]} … {DEFAULT_STEPS} = t {timesteps[-1]})")
            step_scale = gr.Number(value=STEP_DEFAULTS["scale"], label="guidance scale s", scale=1)
        step_summary = gr.Markdown()
        panels = plot()
        with gr.Row():
            norms = plot()
            trace = gr.Markdown()
        step_inputs = [step_label, step_seed, step, step_scale]
        step_outputs = [panels, norms, step_summary, trace]
        gr.on([step.release, step_label.change, step_seed.submit, step_scale.submit], guided_step, step_inputs,
              step_outputs, api_name="guided_step", preprocess=False, **SAMPLING_LANE)

        gr.Markdown("### 2 · Guidance schedules and variants, on the same noise")
        with gr.Row():
            with gr.Column(scale=1, min_width=300):
                gr.Markdown("**One-click demos**")
                preset_buttons = {name: gr.Button(name, size="md") for name in LAB_PRESETS}
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
        settings = SAMPLING_LANE
        run.click(guidance_lab, inputs, outputs, api_name="guidance_lab", preprocess=False, **settings)
        wire_demos(preset_buttons, LAB_PRESETS, guidance_lab, inputs, outputs, **settings)
        def both_sections(*values):
            n = len(step_inputs)
            return (*guided_step(*values[:n]), *guidance_lab(*values[n:], progress=None))

        on_first_visit(tab.select, both_sections, [*step_inputs, *inputs], [*step_outputs, *outputs], **settings)
