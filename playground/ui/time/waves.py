"""The waves page: how t becomes cos/sin waves (widgets from `views.time.waves.DEFAULTS` and its caps;
`/timestep_embedding`), and the flavour check: the served model sampled under each embedding flavour
(`/flavour_check`)."""

import gradio as gr

from playground.cache import Cache
from playground.embedding import FLAVOURS
from playground.ui.openings import on_first_visit
from playground.ui.serving import get_judge, get_model, require_model
from playground.ui.turns import SAMPLER, SAMPLING_LANE, VIEW_CONCURRENCY
from playground.ui.widgets import fold, image, plot, user_error
from playground.views.time import flavours
from playground.views.time import waves as embedding
from playground.views.time.inspector import MAX_INSPECT_T
from playground.views.time.waves import DEFAULTS, MAX_DIM, MAX_MAX_PERIOD, MAX_T_POINTS, MIN_MAX_PERIOD

CHECK_NOT_RUN = ("*The default check could not run just now (the message says why). Press Run the check, or it "
                 "runs again the next time this page is shown.*")
VIEWS = Cache("timestep embedding views", max_items=8)  # the view for a request and the served model

CAPTION = "**Each step t becomes cos/sin waves:** fast ones separate neighbouring steps, slow ones locate t in 0..999."
FLAVOUR_CAPTION = "**Does the flavour matter?** The trained model draws every digit under each:"
HELP = (
    "DiT receives the step **t as one number per image**. Before any learning happens, it spreads that number "
    "over cos and sin waves whose frequencies shrink geometrically (`t_freq`, 256 numbers). The heatmap's rows "
    "are t, its columns the waves (an odd dim adds a zero column). Hover any cell for its frequency and wavelength."
)

CONFUSIONS = """
- **`t` is `[B]`, one step per image.** In training each image in a batch has its own random step; `[4, 4, 4, 4]`
  means four images all at step 4. There is no extra t or sequence axis: `t_freq` is `[B, 256]` and `t_emb` is
  `[B, hidden]`. "Position" here means the position in the noise schedule, not a token position.
- **Why not feed t directly?** A single number gives the network one feature that changes by 0.1 % per step. The
  waves give it features at every time scale at once: fast ones separate neighbouring steps, slow ones locate t
  in 0..999, and every row has the same length, so no step dominates by magnitude.
- **The waves are fixed, the MLP is learned.** `timestep_embedding` has no weights; `Linear → SiLU → Linear` after
  it is trained with the rest of the model. The next page shows what training did to it.
- **Cos or sin first?** DiT puts the cos half first; diffusers' default puts sin first and spaces the frequencies
  slightly differently (`downscale_freq_shift=1`); diffusers' DiT port keeps cos first with the shifted spacing.
  Which mismatch hurts a trained model is an empirical question: the flavour check above samples ours under each.
"""
FLAVOUR_INTRO = (
    "### Does the flavour matter to a trained model?\n"
    "Our checkpoint was trained with DiT's embedding. Here it samples every digit under each flavour (its "
    "`t_embedder` reads that flavour's `t_freq`), from the same noise, and the judge reads the digits."
)


def flavour_check(per_digit, seed):
    """The served model sampled under each embedding flavour from the same noise, judged: samples and table."""
    request = user_error(flavours.validate_flavour_inputs, per_digit, seed)
    model = require_model()
    if model.null_class is None:
        raise gr.Error(flavours.NO_NULL_CLASS)
    judge, judge_note = get_judge()
    if judge is None:
        raise gr.Error(judge_note)
    with SAMPLER.turn():
        view = flavours.flavour_view(model, judge, request)
    return view["grid"], view["summary"]


def timestep_embedding(dim, max_period, t_start, t_end, n_t, flavour, inspect_t):
    """Heatmap of the waves, a few of them against t, their t x t similarity, the one-batch inspector and notes."""
    return embedding_outputs(user_error(embedding.validate_embedding_inputs, dim, max_period, t_start, t_end, n_t,
                                        flavour, inspect_t))


@VIEWS.memoise
def embedding_outputs(request):
    """The page's outputs for a checked request (the served model never changes, so the request is the key)."""
    model, error = get_model()
    view = embedding.embedding_view(
        request,
        embedder=model.t_embedder if model is not None else None,
        embedder_note=None if model is not None else f"`t_emb` needs the trained model, which did not load: {error}",
    )
    return view["heatmap"], view["dims"], view["similarity"], view["inspector"], view["notes"]


def flavour_note(model, model_error):
    """What the flavour table says before its first result, or why there will be none."""
    if model is None:
        return f"*The flavour check needs the trained model, which did not load: {model_error}*"
    if model.null_class is None:
        return f"*{flavours.NO_NULL_CLASS}*"
    return "*Sampling under each flavour…*"


def embedding_controls():
    """The three knobs beside the heatmap, then the rest in "More settings": (dim, n_t, flavour, t_start, t_end,
    max_period)."""
    dim = gr.Slider(2, MAX_DIM, value=DEFAULTS["dim"], step=1, label="dim")
    n_t = gr.Slider(1, MAX_T_POINTS, value=DEFAULTS["n_t"], step=1, label="how many t")
    flavour = gr.Radio(list(FLAVOURS), value=DEFAULTS["flavour"], label="flavour")
    with fold("More settings"):
        with gr.Row():
            t_start = gr.Number(value=DEFAULTS["t_start"], label="t start", min_width=90)
            t_end = gr.Number(value=DEFAULTS["t_end"], label="t end", min_width=90)
        max_period = gr.Number(
            value=DEFAULTS["max_period"], label="max_period", minimum=MIN_MAX_PERIOD, maximum=MAX_MAX_PERIOD
        )
        gr.Markdown(
            f"Caps: dim ≤ {MAX_DIM}, up to {MAX_T_POINTS} t, up to {MAX_INSPECT_T} inspector "
            f"values. Each view runs {VIEW_CONCURRENCY} requests at a time.",
            elem_classes="caps",
        )
    return dim, n_t, flavour, t_start, t_end, max_period


def embedding_details():
    """The fold under the flavour check: the help, the two other figures, the inspector, the notes, and how the
    check works."""
    with fold():
        gr.Markdown(HELP)
        with gr.Row():
            with gr.Column():
                dims_plot = plot()
            with gr.Column():
                sim_plot = plot()
        with gr.Row():
            with gr.Column(scale=3):
                inspect_t = gr.Textbox(
                    value=DEFAULTS["inspect_t"],
                    label=f"t for the inspector: one value per image in the batch (up to {MAX_INSPECT_T}), press "
                    "Enter",
                )
                inspector = gr.Markdown("*Computing…*")
            with gr.Column(scale=2):
                notes = gr.Markdown()
        gr.Markdown(FLAVOUR_INTRO)
        gr.Markdown(
            f"Guidance s = {' and '.join(f'{s:g}' for s in flavours.SCALES)}; {flavours.STEPS} "
            f"{flavours.SAMPLER} steps; 3 flavours × 2 scales × 10 digits × samples per digit. The "
            "default check runs in the background when the app starts.",
            elem_classes="caps",
        )
    return dims_plot, sim_plot, inspect_t, inspector, notes


def flavour_section(model, model_error):
    """The flavour check: its grid with the Run button and a "More settings" fold under it, beside its wider table
    (its intro and caps go in the page's fold)."""
    gr.Markdown(FLAVOUR_CAPTION)
    with gr.Row():
        with gr.Column(scale=2):
            grid = image("flavour-grid")
            with gr.Row():
                run = gr.Button("Run the check", variant="primary", scale=1, min_width=180)
                with gr.Column(scale=1, min_width=200), fold("More settings"):
                    per_digit = gr.Slider(
                        1, flavours.MAX_PER_DIGIT, value=flavours.DEFAULTS["per_digit"], step=1,
                        label="samples per digit and scale",
                    )
                    flavour_seed = gr.Number(value=flavours.DEFAULTS["seed"], precision=0, label="seed", minimum=0)
        with gr.Column(scale=3):
            table = gr.Markdown(flavour_note(model, model_error))
    return grid, table, per_digit, flavour_seed, run


def build(shown, model, model_error):
    """The heatmap with its three knobs (the rest in a fold), the flavour check right under it, then folds with the
    other figures, the inspector, the notes and the confusions. The page opens on the embedding at its defaults
    and (when the served model can run it) the default check."""
    gr.Markdown(CAPTION)
    with gr.Row():
        with gr.Column(scale=1, min_width=230):
            dim, n_t, flavour, t_start, t_end, max_period = embedding_controls()
        with gr.Column(scale=4):
            heatmap = plot()
    grid, table, per_digit, flavour_seed, run = flavour_section(model, model_error)
    dims_plot, sim_plot, inspect_t, inspector, notes = embedding_details()
    with fold("Common confusions about the timestep embedding"):
        gr.Markdown(CONFUSIONS)
    run.click(flavour_check, inputs=[per_digit, flavour_seed], outputs=[grid, table], api_name="flavour_check",
              preprocess=False, **SAMPLING_LANE)
    knobs = [dim, max_period, t_start, t_end, n_t, flavour, inspect_t]
    figures = [heatmap, dims_plot, sim_plot, inspector, notes]
    gr.on(
        triggers=[dim.release, max_period.submit, max_period.blur, t_start.submit, t_start.blur, t_end.submit,
                  t_end.blur, n_t.release, flavour.change, inspect_t.submit],
        fn=timestep_embedding,
        inputs=knobs,
        outputs=figures,
        api_name="timestep_embedding",
        preprocess=False,
        show_progress="minimal",
    )
    _, opening = on_first_visit(shown, timestep_embedding, knobs, figures)
    if model is None or model.null_class is None:
        return [opening]
    event, check = on_first_visit(shown, flavour_check, [per_digit, flavour_seed], [grid, table], **SAMPLING_LANE)
    # A refused or failed first check keeps nothing, so the next visit tries again; meanwhile the table says so.
    event.failure(lambda: CHECK_NOT_RUN, outputs=[table], api_visibility="private", queue=False)
    return [opening, check]
