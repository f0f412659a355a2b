"""Tab 2, with vs without the MLP: widgets from `views.mlp.DEFAULTS`, classes from the model; `/mlp_comparison`."""

import gradio as gr

from playground.ui.shared import class_count, memoised, on_first_visit, plot, require_model, user_error
from playground.views.time import mlp
from playground.views.time.mlp import DEFAULTS

INTRO = (
    "The same steps t = 0..999 three ways: the **raw sinusoid** `t_freq`, the **trained** "
    "`t_emb` of the shipped model, and a **freshly initialised** MLP (DiT's init, seeded). "
    "Then where t goes next: the adaLN-Zero shift / scale / gate of every block and of the final layer, and what "
    "the class changes in them."
)


def mlp_comparison(label, seed):
    """Raw sinusoid vs trained MLP vs fresh MLP, and the adaLN-Zero modulation it drives, for one class."""
    model = require_model()
    return _mlp_outputs(*user_error(mlp.validate_mlp_inputs, label, seed, model.null_class))


@memoised(maxsize=8)
def _mlp_outputs(label, seed):
    """The tab's outputs for checked (label, seed), memoised: the served model never changes, the view takes a few
    hundred ms of a 2-core CPU, and most visitors ask for the same few classes."""
    view = mlp.mlp_view(require_model(), label, seed)
    return (
        view["summary"],
        view["heatmaps"],
        view["similarities"],
        view["pca2d"],
        view["distinguishability"],
        view["pca3d"],
        view["modulation"],
        view["signal"],
        view["class_effect"],
    )


def build_tab(model, model_error):
    """A class (the null class last) and a seed; the figures are computed on the first visit, not at start."""
    null_class = class_count(model)  # the null class is the row after the last class
    choices = [(str(i), i) for i in range(null_class)] + [(f"∅ null class ({null_class})", null_class)]
    with gr.Tab("2 · With vs without the MLP", id="mlp") as tab:
        gr.Markdown(INTRO)
        with gr.Row():
            label = gr.Dropdown(choices, value=DEFAULTS["label"], label="class label for the blocks", scale=2)
            seed = gr.Number(value=DEFAULTS["seed"], precision=0, label="seed of the fresh MLP", scale=1)
            button = gr.Button("Compute", variant="primary", scale=1)
        summary = gr.Markdown("*Computing…*")
        heatmaps, similarities, distinct, signal, pca2d, pca3d, modulation, class_effect = (
            plot() for _ in range(8)
        )  # in page order
        outputs = [summary, heatmaps, similarities, pca2d, distinct, pca3d, modulation, signal, class_effect]
        gr.on(
            triggers=[button.click, label.change, seed.submit],
            fn=mlp_comparison,
            inputs=[label, seed],
            outputs=outputs,
            api_name="mlp_comparison",
            preprocess=False,
        )
        on_first_visit(tab.select, mlp_comparison, [label, seed], outputs)
