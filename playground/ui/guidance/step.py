"""The page "One step": one step of a real guided run opened up (`/guided_step`): x_t, the two predictions, the
label's direction, the guided ε̂ and the x0 each implies, and the reference's `forward_with_cfg` with this model's
shapes."""

import gradio as gr

from playground.diffusion import DEFAULT_STEPS, sampling_timesteps
from playground.ui.openings import on_first_visit
from playground.ui.serving import class_count, require_model
from playground.ui.turns import SAMPLER, SAMPLING_LANE
from playground.ui.widgets import digit_choices, fold, plot, user_error
from playground.views.guidance import step as view
from playground.views.guidance.step import STEP_DEFAULTS

CAPTION = ("**One guided step:** the label's direction ε_c − ε_u, times s, turns the prediction ε_u into the "
           "guided ε̂, and each ε implies its own clean x0.")
INTRO = (
    "**What one guided step computes.** The sampler runs a real guided trajectory; pick one of its steps to see the "
    "state x_t it starts from, the model's two predictions for it, the label's direction ε_c − ε_u, DiT's guided "
    "ε̂ = ε_u + s·(ε_c − ε_u), and the clean image x0 each of them implies."
)


def guided_step(label, seed, step, scale):
    """x_t, ε_u, ε_c, ε_c − ε_u, the guided ε and the x0 each implies, at one step of a real trajectory."""
    model = require_model()
    request = user_error(view.validate_step, label, seed, step, scale, num_classes=class_count(model))
    with SAMPLER.turn():
        out = user_error(view.guided_step_view, model, request)
    return out["panels"], out["norms"], out["summary"], out["trace"]


def build(shown, model, model_error):
    """The step's panels beside its three primary controls (the seed in "More settings"), the numbers and the
    reference's code in folds; it opens on `STEP_DEFAULTS`, or says why the served model has no guided step to open
    (then it opens on nothing)."""
    timesteps = sampling_timesteps(DEFAULT_STEPS)
    reason = None if model is None else view.cannot_open(model)
    with gr.Row():
        with gr.Column(scale=1, min_width=240):
            gr.Markdown(CAPTION)
            if reason is not None:
                gr.Markdown(f"> ⚠️ {reason}")
            label = gr.Dropdown(digit_choices(class_count(model)), value=STEP_DEFAULTS["label"], label="digit")
            step = gr.Slider(1, DEFAULT_STEPS, value=STEP_DEFAULTS["step"], step=1, label="sampler step",
                             info=f"1 = t {timesteps[0]} … {DEFAULT_STEPS} = t {timesteps[-1]}")
            scale = gr.Number(value=STEP_DEFAULTS["scale"], label="guidance scale s")
            with fold("More settings"):
                seed = gr.Number(value=STEP_DEFAULTS["seed"], precision=0, minimum=0, label="seed")
        with gr.Column(scale=4):
            panels = plot()
    with fold("The numbers behind it"):
        gr.Markdown(INTRO)
        summary = gr.Markdown()
        norms = plot()
    with fold("The reference's code: forward_with_cfg"):
        trace = gr.Markdown(elem_classes="scroll-x")
    inputs, outputs = [label, seed, step, scale], [panels, norms, summary, trace]
    # Number boxes act when committed (Enter or leaving the box), never per keystroke.
    gr.on([step.release, label.change, seed.submit, seed.blur, scale.submit, scale.blur], guided_step, inputs,
          outputs, api_name="guided_step", preprocess=False, **SAMPLING_LANE)
    if model is None or reason is not None:
        return []
    _, opening = on_first_visit(shown, guided_step, inputs, outputs, **SAMPLING_LANE)
    return [opening]
