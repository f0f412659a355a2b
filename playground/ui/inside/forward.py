"""Tab: inside the DiT. `/inside_dit` opens the forward pass on a real trajectory (tokens, attention, adaLN-Zero,
final layer, shapes); `/counterfactual` intervenes on t or y with hooks. Widgets from the views' DEFAULTS and caps,
one-click demos for each; the tab computes its defaults on the first visit."""

import gradio as gr

from playground.diffusion import sampling_timesteps
from playground.model import DiTConfig
from playground.ui.shared import (
    SAMPLER,
    SAMPLING_LANE,
    class_count,
    get_judge,
    get_model,
    image,
    on_first_visit,
    plot,
    require_model,
    user_error,
    wire_demos,
)
from playground.views.inside import decided as cf
from playground.views.inside import forward as inside

PROGRESS = gr.Progress()  # gradio passes this default instance to the handler (its documented idiom)

INTRO = (
    "What the transformer **does** with t and y, read off the shipped DiT-Tiny/4 while it denoises a real "
    f"trajectory ({inside.STEPS} {inside.SAMPLER} steps): hooks on its own modules record every tensor shown "
    "(the traced output is `model(x, t, y)` itself), and the attention weights the fused kernel never returns are "
    "recomputed from the hooked q and k. Then **counterfactuals**: the same noise, with one thing about t or y "
    "changed by a hook, and the judge reading the finished digit."
)


def inside_dit(label, seed, step, block, head, query_row, query_col):
    """The forward pass of one step of a real trajectory: patchify, attention maps, adaLN-Zero writes, final layer."""
    model = require_model()
    args = user_error(inside.validate_inside, label, seed, step, block, head, query_row, query_col, model.config)
    with SAMPLER.turn():  # the trajectory it opens is sampled
        view = inside.inside_view(model, *args)
    return (view["summary"], view["attention"], view["attention_t"], view["distance"], view["writes"],
            view["write_maps"], view["patchify"], view["final"], view["shape_walk"])


def counterfactual(experiment, label, other_label, seed, samples, scale, t_mode, t_value, cut_kind, cut_blocks,
                   progress=PROGRESS):
    """One intervention (switch the label at every step k / cut a route / lie about t) beside the plain run."""
    model, _ = get_model()
    args = user_error(cf.validate_counterfactual, experiment, label, other_label, seed, samples, scale, t_mode,
                      t_value, cut_kind, cut_blocks, config=model.config if model is not None else None,
                      has_null=model is None or model.null_class is not None)
    model = require_model()
    judge, _ = get_judge()
    with SAMPLER.turn():
        return cf.counterfactual_view(model, *args, judge=judge, progress=progress)


def step_choices():
    return [(f"{i + 1} · t = {t}", i + 1) for i, t in enumerate(sampling_timesteps(inside.STEPS))]


def in_range(defaults, config):
    """The defaults, with any class beyond this model's classes moved to its last class."""
    last = config.num_classes - 1
    return {k: min(v, last) if k in ("label", "other_label") else v for k, v in defaults.items()}


def forward_pass_section(config, digits):
    grid = config.input_size // config.patch_size
    d = in_range(inside.DEFAULTS, config)
    with gr.Row():
        with gr.Column(scale=1, min_width=300):
            gr.Markdown("**One-click demos**")
            demos = {name: gr.Button(name, size="md") for name in inside.PRESETS}
            label = gr.Radio(digits, value=d["label"], label="digit")
            seed = gr.Number(value=d["seed"], precision=0, minimum=0, label="seed")
            step = gr.Dropdown(step_choices(), value=d["step"], label="step of the trajectory")
            block = gr.Slider(0, config.depth - 1, value=d["block"], step=1, label="block")
            head = gr.Slider(0, config.num_heads - 1, value=d["head"], step=1, label="head")
            with gr.Row():
                row = gr.Slider(0, grid - 1, value=d["query_row"], step=1, label="query patch row")
                col = gr.Slider(0, grid - 1, value=d["query_col"], step=1, label="query patch column")
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
    wire_demos(demos, inside.PRESETS, inside_dit, inputs, outputs, **SAMPLING_LANE)
    return inputs, outputs


def counterfactual_section(config, digits):
    d = in_range(cf.DEFAULTS, config)
    with gr.Row():
        with gr.Column(scale=1, min_width=300):
            gr.Markdown("**One-click demos**")
            demos = {name: gr.Button(name, size="md") for name in cf.PRESETS}
            experiment = gr.Radio(list(cf.EXPERIMENTS), value=d["experiment"], label="experiment")
            run = gr.Button("Run", variant="primary", elem_classes="big-run")
            with gr.Row():
                label = gr.Dropdown(digits, value=d["label"], label="digit drawn", min_width=90)
                other = gr.Dropdown(digits, value=d["other_label"], label="switch to", min_width=90)
            with gr.Row():
                seed = gr.Number(value=d["seed"], precision=0, minimum=0, label="seed", min_width=90)
                samples = gr.Slider(1, cf.MAX_SAMPLES, value=d["samples"], step=1, label="samples", min_width=90)
            scale = gr.Slider(*cf.SCALE_RANGE, value=d["scale"], step=0.5, label="guidance scale s")
            with gr.Row():
                cut_kind = gr.Dropdown(list(cf.CUT_KINDS), value=d["cut_kind"], label="cut by", min_width=90)
                cut_blocks = gr.Textbox(value=d["cut_blocks"], label=f"blocks (0..{config.depth - 1})", min_width=90)
            with gr.Row():
                t_mode = gr.Dropdown(list(cf.T_MODES), value=d["t_mode"], label="lie: t' =", min_width=90)
                t_value = gr.Number(value=d["t_value"], precision=0, label="offset / constant", min_width=90)
            gr.Markdown(f"{cf.STEPS} {cf.SAMPLER} steps per run; the label switch runs {cf.STEPS + 1} trajectories, "
                        f"the cut {config.depth + 3}. Runs go {SAMPLER.max_running} at a time.", elem_classes="caps")
        with gr.Column(scale=3):
            summary = gr.Markdown("*Running…*")
            picture = image("counterfactual-grid")
            figure = plot()
    inputs = [experiment, label, other, seed, samples, scale, t_mode, t_value, cut_kind, cut_blocks]  # DEFAULTS' order
    outputs = [picture, figure, summary]
    gr.on(triggers=[run.click, cut_blocks.submit], fn=counterfactual, inputs=inputs, outputs=outputs,
          api_name="counterfactual", preprocess=False, **SAMPLING_LANE)
    wire_demos(demos, cf.PRESETS, counterfactual, inputs, outputs, **SAMPLING_LANE)
    return inputs, outputs


def build_tab(model, model_error):
    """Two sections; both compute their defaults on the first visit (the app starts without waiting for them)."""
    config = model.config if model is not None else DiTConfig()
    digits = [(str(i), i) for i in range(class_count(model))]
    with gr.Tab("3 · Inside the DiT", id="inside") as tab:
        gr.Markdown(INTRO)
        if model is None:
            gr.Markdown(f"> The model did not load: {model_error}")
        with gr.Tabs():
            with gr.Tab("Forward pass, step by step", id="inside-forward"):
                forward_inputs, forward_outputs = forward_pass_section(config, digits)
            with gr.Tab("Conditioning counterfactuals", id="inside-counterfactual"):
                cf_inputs, cf_outputs = counterfactual_section(config, digits)
        if model is not None:  # without a model there is nothing to compute (the note above says why)
            forward = on_first_visit(tab.select, inside_dit, forward_inputs, forward_outputs, **SAMPLING_LANE)
            on_first_visit(forward.then, counterfactual, cf_inputs, cf_outputs,
                           **SAMPLING_LANE)
