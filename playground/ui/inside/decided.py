"""When is the digit decided? The page opens on the counterfactuals' grid: the served DiT run from the same noise
with one thing about t or y changed by hooks (switch the label at step k, cut a route, lie about t), the judge reading
the finished digits in the plot under it. Only the chosen experiment's parameters are shown; the sentences and the
settings beyond the digit sit in folds. `/counterfactual` answers for the page. Widgets from the view's DEFAULTS
fitted to the model (its classes, its depth, and whether it has a null class); one-click demos; the page opens on its
defaults."""

import gradio as gr

from playground.cache import Cache
from playground.model import DiTConfig
from playground.ui.openings import on_first_visit
from playground.ui.serving import class_count, get_judge, get_model, require_model
from playground.ui.turns import SAMPLER, SAMPLING_LANE
from playground.ui.widgets import demo_buttons, digit_choices, fold, image, plot, user_error, wire_demos
from playground.views.inside import decided as cf

PROGRESS = gr.Progress()  # gradio passes this default instance to the handler (its documented idiom)

CAPTION = ("**When is the digit settled?** The same noise, the label switched at step k: where the first digit "
           "survives, it was settled before k.")
INTRO = (
    "**Counterfactuals**: the same noise, with one thing about t or y changed by a hook on the served DiT, and the "
    "judge reading the finished digit. Switching the label at step k shows when the digit is decided, for the "
    "samples drawn at the s chosen; handing blocks the null label shows which carry the class, while zeroing their "
    "gates removes whole blocks and so shows which the samples need (beside the same cuts on unconditional "
    "samples); lying about t shows what the network does with the step it is told."
)
NO_NULL = ("> This model has no null class (it was trained without label dropout), so it has no unconditional "
           "prediction for classifier-free guidance: every run uses s = 1, and a route can be cut only by zeroing "
           "gates (with no unconditional run to compare), not by handing blocks the null label.")


VIEWS = Cache("counterfactual views", max_items=4)  # a request's result: a commit that changes nothing is free
SHOWN = {  # each experiment's own parameters (the others are hidden while it is chosen)
    "switch the label": ("other_label",), "cut a route": ("cut_kind", "cut_blocks"),
    "lie about t": ("t_mode", "t_value")}


def counterfactual(experiment, label, other_label, seed, samples, scale, t_mode, t_value, cut_kind, cut_blocks,
                   progress=PROGRESS):
    """One intervention (switch the label at every step k / cut a route / lie about t) beside the plain run."""
    model, _ = get_model()
    request = user_error(cf.validate_counterfactual, experiment, label, other_label, seed, samples, scale, t_mode,
                         t_value, cut_kind, cut_blocks, config=model.config if model is not None else None,
                         has_null=model is None or model.null_class is not None)
    model = require_model()
    judge, _ = get_judge()

    def run():
        with SAMPLER.turn():
            return cf.counterfactual_view(model, request, judge=judge, progress=progress)

    return VIEWS.get((model, request), run)


def shown_parameters(experiment):
    """Visibility updates of the experiments' own parameters, in `SHOWN`'s order: only `experiment`'s are shown."""
    return [gr.update(visible=name in SHOWN.get(experiment, ())) for names in SHOWN.values() for name in names]


def build(shown, model, model_error):
    """The grid beside the experiment, the digit and that experiment's parameters and the demos, the judge's plot
    under it, the rest in folds; it opens on the defaults (nothing to open without a model)."""
    config = model.config if model is not None else DiTConfig()
    has_null = model is None or model.null_class is not None
    d = cf.fitted(cf.DEFAULTS, config, has_null)
    presets = cf.presets(config, has_null)
    digits = digit_choices(class_count(model))
    gr.Markdown(CAPTION)
    if model is None:
        gr.Markdown(f"> The model did not load: {model_error}")
    elif not has_null:
        gr.Markdown(NO_NULL)
    visible = lambda name: name in SHOWN[d["experiment"]]  # noqa: E731
    with gr.Row():
        with gr.Column(scale=1, min_width=260):
            experiment = gr.Radio(list(cf.EXPERIMENTS), value=d["experiment"], label="experiment")
            with gr.Row():
                label = gr.Dropdown(digits, value=d["label"], label="digit drawn", min_width=90)
                other = gr.Dropdown(digits, value=d["other_label"], label="switch to", min_width=90,
                                    visible=visible("other_label"))
                kinds = cf.CUT_KINDS if has_null else ("zero gates",)
                cut_kind = gr.Dropdown(list(kinds), value=d["cut_kind"], label="cut by", min_width=90,
                                       visible=visible("cut_kind"))
                t_mode = gr.Dropdown(list(cf.T_MODES), value=d["t_mode"], label="lie: t' =", min_width=90,
                                     visible=visible("t_mode"))
            cut_blocks = gr.Textbox(value=d["cut_blocks"], label=f"blocks (0..{config.depth - 1})", min_width=90,
                                    visible=visible("cut_blocks"))
            t_value = gr.Number(value=d["t_value"], precision=0, label="offset / constant", min_width=90,
                                visible=visible("t_value"))
            demos = demo_buttons(presets)
        with gr.Column(scale=4):
            picture = image("counterfactual-grid")
            figure = plot()
    with fold("More settings"):
        with gr.Row():
            seed = gr.Number(value=d["seed"], precision=0, minimum=0, label="seed", min_width=90)
            samples = gr.Slider(1, cf.MAX_SAMPLES, value=d["samples"], step=1, label="samples", min_width=90)
            scale = gr.Slider(*cf.SCALE_RANGE, value=d["scale"], step=0.5, label="guidance scale s",
                              interactive=has_null)
        run = gr.Button("Run", variant="primary")
        gr.Markdown(f"{cf.STEPS} {cf.SAMPLER} steps per run; the label switch runs {cf.STEPS + 1} trajectories, "
                    f"the cut {config.depth + 3} (zeroing gates, as many again at s = 0). Runs go "
                    f"{SAMPLER.max_running} at a time.", elem_classes="caps")
    with fold("The numbers behind it"):
        gr.Markdown(INTRO)
        summary = gr.Markdown("*Running…*")
    inputs = [experiment, label, other, seed, samples, scale, t_mode, t_value, cut_kind, cut_blocks]  # DEFAULTS' order
    outputs = [picture, figure, summary]
    own = {"other_label": other, "cut_kind": cut_kind, "cut_blocks": cut_blocks, "t_mode": t_mode,
           "t_value": t_value}
    experiment.change(shown_parameters, experiment, [own[name] for names in SHOWN.values() for name in names],
                      api_visibility="private", queue=False)
    # `.input`, not `.change`: a demo or a link sets these too, and each change would start a run of its own.
    triggers = [run.click, experiment.input, label.input, other.input, cut_kind.input, t_mode.input,
                cut_blocks.submit, cut_blocks.blur, t_value.submit, t_value.blur, seed.submit, seed.blur,
                samples.release, scale.release]
    gr.on(triggers=triggers, fn=counterfactual, inputs=inputs, outputs=outputs,
          api_name="counterfactual", preprocess=False, **SAMPLING_LANE)
    wire_demos(demos, presets, counterfactual, inputs, outputs, **SAMPLING_LANE)
    if model is None:  # nothing to compute (the note above says why)
        return []
    _, opening = on_first_visit(shown, counterfactual, inputs, outputs, **SAMPLING_LANE)
    return [opening]
