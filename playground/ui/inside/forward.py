"""The forward pass, step by step: `/inside_dit` opens one step of a real trajectory of the served DiT (tokens,
attention, adaLN-Zero, final layer, shapes). Widgets from the view's DEFAULTS fitted to the model's classes, depth,
heads and patch grid; one-click demos; the page opens on its defaults."""

import gradio as gr

from playground.diffusion import sampling_timesteps
from playground.model import DiTConfig
from playground.ui.openings import on_first_visit
from playground.ui.serving import class_count, require_model
from playground.ui.turns import SAMPLER, SAMPLING_LANE
from playground.ui.widgets import demo_buttons, digit_choices, plot, user_error, wire_demos
from playground.views.inside import forward as inside

INTRO = (
    "What the transformer **does** with t and y, read off the served DiT while it denoises a real trajectory "
    f"({inside.STEPS} {inside.SAMPLER} steps): hooks on its own modules record every tensor shown (the traced "
    "output is `model(x, t, y)` itself), and the attention weights the fused kernel never returns are recomputed "
    "from the hooked q and k."
)
NO_NULL = ("> This model has no null class (it was trained without label dropout), so it has no unconditional "
           "prediction for classifier-free guidance: its trajectories are sampled at s = 1 instead of "
           f"s = {inside.INSIDE_SCALE:g}.")
OUTPUTS = ("summary", "attention", "attention_t", "distance", "writes", "write_maps", "patchify", "final",
           "shape_walk")  # the keys of `inside_view`, in the order of the page's outputs


def inside_dit(label, seed, step, block, head, query_row, query_col):
    """The forward pass of one step of a real trajectory: patchify, attention maps, adaLN-Zero writes, final layer."""
    model = require_model()
    request = user_error(inside.validate_inside, label, seed, step, block, head, query_row, query_col, model.config)
    with SAMPLER.turn():  # the trajectory it opens is sampled
        view = inside.inside_view(model, request)
    return tuple(view[name] for name in OUTPUTS)


def step_choices():
    return [(f"{i + 1} · t = {t}", i + 1) for i, t in enumerate(sampling_timesteps(inside.STEPS))]


def index_slider(count, value, label):
    """A slider over the indices 0..count-1 (a model of one block, head or patch row still gets one, fixed at 0)."""
    return gr.Slider(0, max(count - 1, 1), value=value, step=1, label=label, interactive=count > 1)


def build(shown, model, model_error):
    """The trace's widgets, plots and demos; it opens on the defaults (nothing to open without a model)."""
    config = model.config if model is not None else DiTConfig()
    grid = config.input_size // config.patch_size
    d = inside.fitted(inside.DEFAULTS, config)
    gr.Markdown(INTRO)
    if model is None:
        gr.Markdown(f"> The model did not load: {model_error}")
    elif model.null_class is None:
        gr.Markdown(NO_NULL)
    with gr.Row():
        with gr.Column(scale=1, min_width=300):
            gr.Markdown("**One-click demos**")
            demos = demo_buttons(inside.PRESETS)
            label = gr.Radio(digit_choices(class_count(model)), value=d["label"], label="digit")
            seed = gr.Number(value=d["seed"], precision=0, minimum=0, label="seed")
            step = gr.Dropdown(step_choices(), value=d["step"], label="step of the trajectory")
            block = index_slider(config.depth, d["block"], "block")
            head = index_slider(config.num_heads, d["head"], "head")
            with gr.Row():
                row = index_slider(grid, d["query_row"], "query patch row")
                col = index_slider(grid, d["query_col"], "query patch column")
            run = gr.Button("Trace", variant="primary", elem_classes="big-run")
        with gr.Column(scale=3):
            attention, attention_t = plot(), plot()
            summary = gr.Markdown("*Tracing…*")
    distance = plot()
    writes, write_maps = plot(), plot()
    patchify, final = plot(), plot()
    with gr.Accordion("The shape walk of DiT.forward (the reference's comments, this run's shapes)", open=True):
        shape_walk = gr.Markdown()
    inputs = [label, seed, step, block, head, row, col]  # the order of DEFAULTS and of each preset
    outputs = [summary, attention, attention_t, distance, writes, write_maps, patchify, final, shape_walk]
    gr.on(triggers=[run.click, step.change, block.release, head.release, row.release, col.release, seed.submit],
          fn=inside_dit, inputs=inputs, outputs=outputs, api_name="inside_dit", preprocess=False, **SAMPLING_LANE)
    presets = {name: inside.fitted(values, config) for name, values in inside.PRESETS.items()}
    wire_demos(demos, presets, inside_dit, inputs, outputs, **SAMPLING_LANE)
    if model is None:  # nothing to compute (the note above says why)
        return []
    _, opening = on_first_visit(shown, inside_dit, inputs, outputs, **SAMPLING_LANE)
    return [opening]
