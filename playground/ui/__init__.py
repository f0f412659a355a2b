"""The Gradio layer of the DiT Playground: one tab per view of `playground.views`, one builder per tab.

Named API endpoints (simple inputs, so `gradio_client` can call them): `/timestep_embedding`,
`/mlp_comparison`, `/cfg_sweep`. They skip gradio's preprocessing, so every value a client sends, in range
or not, reaches the views' validators and a bad one gets a message naming the field. The model
(`$PLAYGROUND_WEIGHTS`, default the shipped checkpoint) and the judge are loaded once per process and shared
by every request (`playground.ui.shared`).
"""

import os
import threading

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no network at runtime; before gradio is imported

import gradio as gr  # noqa: E402

from playground.ui import (  # noqa: E402
    cfg_sweep_tab,
    classifier_guidance_tab,
    embedding_tab,
    guidance_lab_tab,
    inside_tab,
    label_dropout_tab,
    mlp_tab,
    model_card_tab,
)
from playground.ui.shared import (  # noqa: E402
    CSS,
    OPENINGS,
    QUEUE_MAX_SIZE,
    THEME,
    VIEW_CONCURRENCY,
    get_judge,
    get_model,
    warm_openings,
)

# In the order a learner reads DiT: time, inside the transformer, class and guidance, the model card.
# Each has build_tab(model, model_error).
TABS = (embedding_tab, mlp_tab, inside_tab, cfg_sweep_tab, guidance_lab_tab, label_dropout_tab,
        classifier_guidance_tab, model_card_tab)
INTRO = (
    "# DiT Playground\n"
    "How a Diffusion Transformer (Peebles & Xie, 2023) is told **when** it is in the denoising schedule (step t) "
    "and **what** to draw (the class): a small DiT trained on MNIST, on CPU."
)
# gradio keeps a copy of the page's config and the last outputs of every session it has seen (about 3 MB each
# here), for the life of the process unless capped: the least recently used sessions beyond the cap are dropped
# (a dropped session that comes back gets a fresh copy; only its first-visit flags are lost).
SESSIONS_KEPT = 32
LAUNCH_KWARGS = {"theme": THEME, "css": CSS, "show_error": True, "state_session_capacity": SESSIONS_KEPT}


def build_app():
    """The four-tab Blocks app (queue configured); launch with `launch_app` or `.launch(**LAUNCH_KWARGS)`."""
    model, model_error = get_model()
    get_judge()  # load once now, not on the first sweep
    OPENINGS.clear()  # the openings of the app built last: the one a process serves
    with gr.Blocks(title="DiT Playground", fill_width=True) as demo:
        gr.Markdown(INTRO, elem_id="title")
        if model is None:
            gr.Markdown(f"> ⚠️ **The model did not load:** {model_error}")
        with gr.Tabs():
            for tab in TABS:
                tab.build_tab(model, model_error)
    demo.queue(max_size=QUEUE_MAX_SIZE, default_concurrency_limit=VIEW_CONCURRENCY)
    return demo


def launch_app(host="127.0.0.1", port=7860, **kwargs):
    """Build and launch; extra keyword arguments go to `Blocks.launch` (e.g. prevent_thread_lock=True). Once the
    server answers, the tabs' opening results are computed in the background (`shared.warm_openings`)."""
    demo = build_app()
    demo.launch(server_name=host, server_port=port, **{**LAUNCH_KWARGS, **kwargs, "prevent_thread_lock": True})
    threading.Thread(target=warm_openings, name="warm-openings", daemon=True).start()
    if not kwargs.get("prevent_thread_lock"):
        demo.block_thread()
    return demo
