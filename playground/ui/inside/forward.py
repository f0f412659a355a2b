"""The forward pass, step by step: the page opens on the data's path through the served DiT at one step of a real
trajectory (pixels -> tokens -> blocks -> tokens -> noise), with where a patch looks in every block and head right
under it; the sentences, the shape walk and the other figures sit in folds. `/inside_dit` answers for the rest of
the page. Widgets from the view's DEFAULTS fitted to the model's classes, depth, heads and patch grid; one-click
demos; the page opens on its defaults."""

import gradio as gr

from playground.cache import Cache
from playground.diffusion import sampling_timesteps
from playground.model import DiTConfig
from playground.ui.openings import on_first_visit
from playground.ui.serving import class_count, require_model
from playground.ui.turns import SAMPLER, SAMPLING_LANE
from playground.ui.widgets import demo_buttons, digit_choices, fold, plot, user_error, wire_demos
from playground.views.inside import forward as inside

CAPTION = ("**One step of a real trajectory through the model:** x_t is cut into tokens, the blocks rewrite them "
           "(told t and y), the tokens become the noise ε.")
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
           "shape_walk")  # the keys of `inside_view`, in the order of `/inside_dit`'s outputs
VIEWS = Cache("forward-pass views", max_items=4)  # the view of a request: the hero and the endpoint share one run


def view_of(label, seed, step, block, head, query_row, query_col):
    """`inside_view` of the checked request on the served model, kept by (model, request): the served model is one
    object for the life of the process, so its weights need no hashing on every request."""
    model = require_model()
    request = user_error(inside.validate_inside, label, seed, step, block, head, query_row, query_col, model.config)

    def trace():
        with SAMPLER.turn():  # the trajectory it opens is sampled
            return inside.inside_view(model, request)

    return VIEWS.get((model, request), trace)


def data_path(label, seed, step, block, head, query_row, query_col):
    """The page's picture: the data's path through the model at one step (drawn first; the endpoint follows)."""
    return (view_of(label, seed, step, block, head, query_row, query_col)["path"],)  # one output, as a tuple


def inside_dit(label, seed, step, block, head, query_row, query_col):
    """The forward pass of one step of a real trajectory: patchify, attention maps, adaLN-Zero writes, final layer."""
    view = view_of(label, seed, step, block, head, query_row, query_col)
    return tuple(view[name] for name in OUTPUTS)


def step_choices():
    return [(f"{i + 1} · t = {t}", i + 1) for i, t in enumerate(sampling_timesteps(inside.STEPS))]


def index_slider(count, value, label):
    """A slider over the indices 0..count-1 (a model of one block, head or patch row still gets one, fixed at 0)."""
    return gr.Slider(0, max(count - 1, 1), value=value, step=1, label=label, interactive=count > 1)


def build(shown, model, model_error):
    """The data's path beside the digit, the step and the demos, attention under it, the rest in folds; it opens on
    the defaults (nothing to open without a model)."""
    config = model.config if model is not None else DiTConfig()
    grid = config.input_size // config.patch_size
    d = inside.fitted(inside.DEFAULTS, config)
    gr.Markdown(CAPTION)
    if model is None:
        gr.Markdown(f"> The model did not load: {model_error}")
    elif model.null_class is None:
        gr.Markdown(NO_NULL)
    with gr.Row():
        with gr.Column(scale=1, min_width=240):
            label = gr.Dropdown(digit_choices(class_count(model)), value=d["label"], label="digit")
            step = gr.Dropdown(step_choices(), value=d["step"], label="step of the trajectory")
            demos = demo_buttons(inside.PRESETS)
        with gr.Column(scale=4):
            path = plot(elem_id="forward-path")
    attention = plot()
    with fold("More settings"):
        with gr.Row():
            seed = gr.Number(value=d["seed"], precision=0, minimum=0, label="seed")
            block = index_slider(config.depth, d["block"], "block")
            head = index_slider(config.num_heads, d["head"], "head")
        with gr.Row():
            row = index_slider(grid, d["query_row"], "query patch row")
            col = index_slider(grid, d["query_col"], "query patch column")
        run = gr.Button("Trace", variant="primary")
    with fold("The numbers behind it"):
        gr.Markdown(INTRO)
        summary = gr.Markdown("*Tracing…*")
        gr.Markdown("**The shape walk of DiT.forward** (the reference's comments, this run's shapes)")
        shape_walk = gr.Markdown()
    with fold("One head from noisy to clean, and how far heads look"):
        attention_t, distance = plot(), plot()
    with fold("adaLN-Zero: what each block writes"):
        writes, write_maps = plot(), plot()
    with fold("Patchify and the final layer, in detail"):
        patchify, final = plot(), plot()
    inputs = [label, seed, step, block, head, row, col]  # the order of DEFAULTS and of each preset
    outputs = [summary, attention, attention_t, distance, writes, write_maps, patchify, final, shape_walk]
    # the digit by `.input`: a demo or a link sets it too, and runs the page itself
    triggers = [run.click, label.input, step.change, block.release, head.release, row.release, col.release,
                seed.submit, seed.blur]
    gr.on(triggers=triggers, fn=data_path, inputs=inputs, outputs=[path], api_visibility="private",
          **SAMPLING_LANE).success(inside_dit, inputs, outputs, api_name="inside_dit", preprocess=False,
                                   **SAMPLING_LANE)
    presets = {name: inside.fitted(values, config) for name, values in inside.PRESETS.items()}
    for event in wire_demos(demos, presets, data_path, inputs, [path], **SAMPLING_LANE):
        event.success(inside_dit, inputs, outputs, api_visibility="private", **SAMPLING_LANE)
    if model is None:  # nothing to compute (the note above says why)
        return []
    # both share one run of the view (`VIEWS`), each kept apart by its opening
    _, hero = on_first_visit(shown, data_path, inputs, [path], **SAMPLING_LANE)
    _, rest = on_first_visit(shown, inside_dit, inputs, outputs, **SAMPLING_LANE)
    return [hero, rest]
