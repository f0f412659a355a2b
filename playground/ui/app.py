"""The app: one top-level tab per chapter, one tab per page inside it (`playground.chapters`), each page built by
`playground.ui.<chapter>.<page>.build`."""

import importlib
import threading

import gradio as gr

from playground.chapters import CHAPTERS
from playground.ui import links, openings
from playground.ui.serving import get_judge, get_model
from playground.ui.turns import QUEUE_MAX_SIZE, VIEW_CONCURRENCY
from playground.ui.widgets import CSS, THEME

TITLE = "**DiT Playground** · how a Diffusion Transformer is told **when** (the step t) and **what** (the class)"
# gradio keeps a copy of the page's config and the last outputs of every session it has seen (about 3 MB each
# here), for the life of the process unless capped: the least recently used sessions beyond the cap are dropped
# (a dropped session that comes back gets a fresh copy; only its first-visit flags are lost).
SESSIONS_KEPT = 32
LAUNCH_KWARGS = {"theme": THEME, "css": CSS, "show_error": True, "state_session_capacity": SESSIONS_KEPT,
                 "js": links.PRESENTER_JS}


def page_module(chapter, page):
    return importlib.import_module(f"playground.ui.{chapter.id}.{page.id}")


def build_chapters(demo, loaded, model, model_error):
    """Inside `demo`'s context: the tab bar of chapters, each a bar of its pages. `loaded`: the trigger that says the
    app has loaded (a link's inputs set), which opens the very first page. Returns `(openings, inputs)`: what the
    pages open on, and each page's endpoint inputs by parameter name (`{page id: {name: component}}`)."""
    opened, inputs = [], {}
    with gr.Tabs():
        for c, chapter in enumerate(CHAPTERS):
            with gr.Tab(chapter.label, id=chapter.id) as chapter_tab, gr.Tabs():
                for p, page in enumerate(chapter.pages):
                    with gr.Tab(page.label, id=page.id) as page_tab:
                        # A page is shown when its tab is picked, when its chapter is picked with it first, and
                        # (the very first page) when the app has loaded.
                        shown = [page_tab.select]
                        if p == 0:
                            shown += [chapter_tab.select] + ([loaded] if c == 0 else [])
                        before = set(demo.fns)
                        opened += page_module(chapter, page).build(shown, model, model_error)
                        inputs[page.id] = links.endpoint_inputs(fn for i, fn in demo.fns.items() if i not in before)
    return opened, inputs


def build_app():
    """`(demo, openings)`: the Blocks app, its queue configured, and what its pages open on (for `openings.warm`).
    Launch with `launch_app`, or `demo.launch(**LAUNCH_KWARGS)`."""
    model, model_error = get_model()
    get_judge()  # load once now, not on the first sweep
    with gr.Blocks(title="DiT Playground", fill_width=True) as demo:
        bar = links.title_bar(TITLE)
        if model is None:
            gr.Markdown(f"> ⚠️ **The model did not load:** {model_error}")
        opened, inputs = build_chapters(demo, bar.linked.change, model, model_error)
        links.wire(demo, bar, inputs)
    demo.queue(max_size=QUEUE_MAX_SIZE, default_concurrency_limit=VIEW_CONCURRENCY)
    return demo, opened


def launch_app(host="127.0.0.1", port=7860, **kwargs):
    """Build and launch; extra keyword arguments go to `Blocks.launch` (e.g. prevent_thread_lock=True). Once the
    server answers, the pages' openings are computed in the background (`openings.warm`)."""
    demo, opened = build_app()
    demo.launch(server_name=host, server_port=port, **{**LAUNCH_KWARGS, **kwargs, "prevent_thread_lock": True})
    threading.Thread(target=openings.warm, args=(opened,), name="warm-openings", daemon=True).start()
    if not kwargs.get("prevent_thread_lock"):
        demo.block_thread()
    return demo
