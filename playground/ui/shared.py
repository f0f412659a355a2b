"""What every tab of the UI shares: the model and the judge (loaded once per process), the server's caps, the
look, and the widgets and error handling the tabs have in common."""

import functools
import os
import threading
import time
from contextlib import contextmanager
from functools import lru_cache

import gradio as gr

from playground.checkpoint import CheckpointError, load_pretrained
from playground.judge import load_judge
from playground.model import DiTConfig

WEIGHTS_ENV = "PLAYGROUND_WEIGHTS"  # path of the DiT .safetensors to serve instead of the shipped one
VIEW_CONCURRENCY = 2  # requests of each view that draws no samples that run at once
# gradio's queue holds every view's waiting requests together and, once full, turns all of them away: the views
# that draw no samples would be refused because sweeps filled it. So sampling requests do not wait in it (their
# lane has no limit) but in `SAMPLER`'s turns below, which refuse the excess at once; the queue stays short.
QUEUE_MAX_SIZE = 256  # a bound on waiting requests, reached only by a flood: 50 busy visitors use about 10
SAMPLING_LANE = {"concurrency_limit": None, "concurrency_id": "sampling"}  # event settings of sampling requests

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


class Turns:
    """At most `running` requests run at once and `waiting` more wait for a turn; beyond that a request is refused
    at once with a message. On 2 CPU cores a second concurrent sweep would only halve the speed of both."""

    def __init__(self, what, running, waiting):
        self.what, self.max_running, self.max_waiting = what, running, waiting
        self.running = self.waiting = 0
        self._changed = threading.Condition()

    @contextmanager
    def turn(self):
        with self._changed:
            if self.running >= self.max_running and self.waiting >= self.max_waiting:
                raise gr.Error(f"Busy: {self.what} is running {self.running} request(s) and {self.waiting} more are "
                               "waiting, the most this server holds. Please try again in a few seconds; the views "
                               "that draw no samples still answer meanwhile.", title="Busy")
            self.waiting += 1
            try:
                self._changed.wait_for(lambda: self.running < self.max_running)
            finally:
                self.waiting -= 1
            self.running += 1
        try:
            yield
        finally:
            with self._changed:
                self.running -= 1
                self._changed.notify()


# Every request that runs the sampler takes a turn here (after its inputs are checked, so a bad input is still
# answered with what is wrong). The live slider has turns of its own, so a running sweep does not hold it up.
SAMPLER = Turns("the sampler", running=1, waiting=3)
LIVE = Turns("the live slider", running=1, waiting=1)


def class_count(model):
    """The classes the model draws (its config's), or the default config's when no model loaded."""
    return model.config.num_classes if model is not None else DiTConfig.num_classes


def memoised(maxsize):
    """`lru_cache(maxsize)` for a view of the served model (which never changes): the last results are kept.
    Arguments a client sent that cannot be a key (a list where a number belongs) skip the cache and reach the view,
    whose validator names the field."""

    def wrap(fn):
        cached = lru_cache(maxsize=maxsize)(fn)

        @functools.wraps(fn)
        def call(*args, **kwargs):
            try:
                hash((args, tuple(kwargs.items())))
            except TypeError:
                return fn(*args, **kwargs)
            return cached(*args, **kwargs)

        return call

    return wrap


def user_error(fn, *args, **kwargs):
    """`fn(*args, **kwargs)`, with its ValueError (bad input) shown to the person as a `gr.Error`."""
    try:
        return fn(*args, **kwargs)
    except ValueError as e:
        raise gr.Error(str(e), title="Please check the input") from e


# What the tabs open on: `OPENINGS` lists each opener with the values its inputs start with; `opening` keeps each
# result, and `warm_openings` computes them all once the server answers, so a tab opens on a kept result.
OPENINGS = []


@lru_cache(maxsize=32)
def opening(fn, values):
    """`fn(*values)`, kept: the opening views are pure functions of their inputs and of the served model."""
    return tuple(fn(*values))


OPENINGS_READY = "Tab openings ready"  # the line the server prints when they are computed


def warm_openings():
    """Compute every registered opening (each takes its sampler turn like a visitor's request); a refused or failed
    one is computed on its first visit instead. Prints how long it took."""
    start, ready = time.perf_counter(), 0
    for fn, values in OPENINGS:
        try:
            opening(fn, values)
            ready += 1
        except gr.Error:
            pass
    print(f"{OPENINGS_READY}: {ready} of {len(OPENINGS)} computed in {time.perf_counter() - start:.1f} s", flush=True)


def on_first_visit(trigger, fn, inputs, outputs, **event_settings):
    """Fill `outputs` with `fn(*inputs)` the first time `trigger` fires in a browser session (`tab.select`, or an
    event's `.then`); later firings keep what is shown. A per-session flag in `gr.State` remembers the visit.
    At the inputs' starting values the result is the kept `opening`. Returns the event, so another can follow."""
    visited = gr.State(False)
    OPENINGS.append((fn, tuple(component.value for component in inputs)))

    def first_visit(already, *values):
        if already:
            return [gr.skip()] * len(outputs) + [True]
        return [*opening(fn, values), True]

    return trigger(first_visit, [visited, *inputs], [*outputs, visited], api_visibility="private", **event_settings)


def wire_demos(buttons, presets, fn, inputs, outputs, **event_settings):
    """One-click demos: each of `buttons` (`{name: gr.Button}`) fills `inputs` with `presets[name]`'s values (in
    the inputs' order), then runs `fn` on them. Returns the runs' events, so more can follow (`.success`)."""
    return [button.click(lambda preset=presets[name]: tuple(preset.values()), outputs=inputs,
                         api_visibility="private", queue=False)
            .then(fn, inputs, outputs, api_visibility="private", **event_settings)
            for name, button in buttons.items()]


def plot(**kwargs):
    return gr.Plot(show_label=False, **kwargs)


def image(elem_id):
    # No button overlay: it would hide the last column's header.
    return gr.Image(show_label=False, type="pil", format="png", interactive=False, height=380, elem_id=elem_id,
                    buttons=[])
