"""The MLP page: the raw sinusoid, the trained `t_emb` and a fresh MLP of a chosen seed, side by side. It also
builds `/mlp_comparison`, which answers for the MLP page and the adaLN page together."""

import gradio as gr

from playground.cache import Cache
from playground.ui.openings import on_first_visit
from playground.ui.serving import require_model
from playground.ui.time import adaln as adaln_page
from playground.ui.widgets import fold, plot, user_error
from playground.views.time import adaln, mlp

INTRO = (
    "The same steps t = 0..999 three ways: the **raw sinusoid** `t_freq`, the **trained** `t_emb` of the served "
    "model, and a **freshly initialised** MLP (DiT's init, seeded)."
)
CAPTION = ("**After the MLP, t is about one number that follows the signal level:** the trained path (middle) runs "
           "mostly along PC1, which tracks √ᾱ_t (below).")
FINDING = ("pca2d", "signal")  # the page's hero, drawn first
DETAILS = ("summary", "heatmaps", "similarities", "distinguishability", "pca3d")  # in its fold, in order
ENDPOINT_OUTPUTS = ("summary", "heatmaps", "similarities", "pca2d", "distinguishability", "pca3d", "modulation",
                    "signal", "class_effect")  # `/mlp_comparison`'s, as clients know them
VIEWS = Cache("MLP views", max_items=8)  # the view for a seed of the served model


@VIEWS.memoise
def mlp_outputs(seed):
    """`mlp_view` for a checked seed and the served model (which never changes, so the seed is the key)."""
    return mlp.mlp_view(require_model(), seed)


def mlp_finding(seed):
    """The page's finding for one seed of the fresh MLP: the figures of `FINDING`, in order."""
    view = mlp_outputs(user_error(mlp.validate_seed, seed))
    return tuple(view[name] for name in FINDING)


def mlp_details(seed):
    """The rest of the page for one seed of the fresh MLP: the summary and the figures of `DETAILS`, in order."""
    view = mlp_outputs(user_error(mlp.validate_seed, seed))
    return tuple(view[name] for name in DETAILS)


def mlp_comparison(label, seed):
    """Raw sinusoid vs trained MLP vs fresh MLP, and the adaLN-Zero modulation it drives, for one class."""
    model = require_model()
    label = user_error(adaln.validate_label, label, model)
    seed = user_error(mlp.validate_seed, seed)
    curves, blocks = mlp_outputs(seed), adaln_page.adaln_outputs(label)
    # One summary, as the endpoint always answered: the MLP's sentences, then the class's.
    views = {**curves, **blocks, "summary": curves["summary"] + "\n" + blocks["summary"]}
    return tuple(views[name] for name in ENDPOINT_OUTPUTS)


def comparison_endpoint(model, seed, figures):
    """`/mlp_comparison(label, seed)`: an event with no trigger, so only clients call it (the two pages run their
    own private events). Its inputs and outputs are this page's seed and figures, and hidden components of the
    kinds the rest had when one page showed them all (the class dropdown, the summary, the adaLN figures), so the
    API describes it as before."""
    with gr.Group(visible=False):
        label = adaln_page.class_control(model)
        summary, modulation, class_effect = gr.Markdown(), plot(), plot()
    outputs = {**figures, "summary": summary, "modulation": modulation, "class_effect": class_effect}
    gr.on(triggers=[], fn=mlp_comparison, inputs=[label, seed], outputs=[outputs[name] for name in ENDPOINT_OUTPUTS],
          api_name="mlp_comparison", preprocess=False)


def build(shown, model, model_error):
    """The finding first (the 2-D PCA paths, then PC1 against the signal level) with the fresh MLP's seed beside
    its caption; the sentences and the other figures in a fold. Opens on the default seed."""
    if model is None:  # said above the pictures, not in the fold
        gr.Markdown(f"The model did not load: {model_error}")
    with gr.Row(equal_height=True):
        gr.Markdown(CAPTION, scale=4)
        seed = gr.Number(value=mlp.DEFAULTS["seed"], precision=0, label="seed of the fresh MLP", scale=1,
                         min_width=160)
        button = gr.Button("Compute", variant="primary", scale=1, min_width=100)
    figures = {name: plot() for name in FINDING}
    with fold():
        gr.Markdown(INTRO)
        summary = gr.Markdown("*Computing…*" if model is not None else "")
        figures.update({name: plot() for name in DETAILS[1:]})
    hero, rest = [figures[name] for name in FINDING], [summary, *(figures[name] for name in DETAILS[1:])]
    gr.on(triggers=[button.click, seed.submit, seed.blur], fn=mlp_finding, inputs=[seed], outputs=hero,
          api_visibility="private").then(mlp_details, inputs=[seed], outputs=rest, api_visibility="private")
    comparison_endpoint(model, seed, figures)
    if model is None:
        return []
    # Two events, the finding's first in the queue, so the hero is not held back by the fold's five figures.
    _, finding = on_first_visit(shown, mlp_finding, [seed], hero)
    _, details = on_first_visit(shown, mlp_details, [seed], rest)
    return [finding, details]
