"""What every tab of the UI shares: the model and the judge (loaded once per process), the server's caps, the
look, and the widgets and error handling the tabs have in common."""

import os
from functools import lru_cache

import gradio as gr

from playground.checkpoint import CheckpointError, load_pretrained
from playground.judge import load_judge
from playground.model import DiTConfig

WEIGHTS_ENV = "PLAYGROUND_WEIGHTS"  # path of the DiT .safetensors to serve instead of the shipped one
SAMPLING_CONCURRENCY = 1  # sweeps run one at a time (2 CPU cores)
VIEW_CONCURRENCY = 2  # requests of each other view that run at once
QUEUE_MAX_SIZE = 16  # requests waiting in the queue, all views together; more are turned away

THEME = gr.themes.Soft(text_size="lg")
CSS = """
.gradio-container {max-width: 100% !important; padding-top: 4px !important;}
#title h1 {font-size: 26px; margin: 2px 0 0 0;}
#title p {margin: 2px 0 4px 0;}
.caps {font-size: 14px !important; color: #555;}
.big-run {font-size: 20px !important;}
.nowrap-table th, .nowrap-table td {white-space: nowrap;}
"""
LATEX = [{"left": "$$", "right": "$$", "display": True}, {"left": "$", "right": "$", "display": False}]


@lru_cache(maxsize=1)
def get_model():
    """`(model, None)` or `(None, reason)`: the app still starts (and explains) without weights."""
    path = os.environ.get(WEIGHTS_ENV)
    try:
        return load_pretrained(path), None
    except CheckpointError as e:
        hint = f" ({WEIGHTS_ENV} is set to {path}; unset it to serve the shipped weights)" if path else ""
        return None, f"{e}{hint}"


@lru_cache(maxsize=1)
def get_judge():
    """`(judge, None)` or `(None, reason)`; the sweep works without a judge."""
    try:
        return load_judge(), None
    except CheckpointError as e:  # an optional scorer that fails to load must not take the app down
        return None, f"The judge could not be loaded: {e}"


def require_model():
    """The served model, or a `gr.Error` that says why it did not load."""
    model, error = get_model()
    if model is None:
        raise gr.Error(f"The model could not be loaded: {error}")
    return model


def class_count(model):
    """The classes the model draws (its config's), or the default config's when no model loaded."""
    return model.config.num_classes if model is not None else DiTConfig.num_classes


def user_error(fn, *args, **kwargs):
    """`fn(*args, **kwargs)`, with its ValueError (bad input) shown to the person as a `gr.Error`."""
    try:
        return fn(*args, **kwargs)
    except ValueError as e:
        raise gr.Error(str(e), title="Please check the input") from e


def on_first_visit(trigger, fn, inputs, outputs, **event_settings):
    """Fill `outputs` with `fn(*inputs)` the first time `trigger` fires in a browser session (`tab.select`, or an
    event's `.then`); later firings keep what is shown. A per-session flag in `gr.State` remembers the visit.
    Returns the event, so another can follow with `.then`."""
    visited = gr.State(False)

    def first_visit(already, *values):
        if already:
            return [gr.skip()] * len(outputs) + [True]
        return [*fn(*values), True]

    return trigger(first_visit, [visited, *inputs], [*outputs, visited], api_visibility="private", **event_settings)


def plot(**kwargs):
    return gr.Plot(show_label=False, **kwargs)


def image(elem_id):
    # No button overlay: it would hide the last column's header.
    return gr.Image(show_label=False, type="pil", format="png", interactive=False, height=380, elem_id=elem_id,
                    buttons=[])
