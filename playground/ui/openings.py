"""What the pages open on: each page's first visit shows the result of its views at their starting inputs, computed
once per process (in the background once the server answers, or by the first visitor) and kept."""

import time
from dataclasses import dataclass

import gradio as gr

from playground.cache import Cache

OPENINGS_READY = "Page openings ready"  # the line the server prints when they are computed
KEPT = Cache("openings", max_items=64)


@dataclass(frozen=True)
class Opening:
    """`fn(*values)`: what a page shows on its first visit (a pure function of the inputs and the served model)."""

    fn: object
    values: tuple

    def result(self):
        return KEPT.get((self.fn, self.values), lambda: tuple(self.fn(*self.values)))


def warm(openings):
    """Compute every opening (each takes its sampler turn like a visitor's request); a refused or failed one is
    computed on its first visit instead. Prints how long it took."""
    start, ready = time.perf_counter(), 0
    for opening in openings:
        try:
            opening.result()
            ready += 1
        except gr.Error:
            pass
    print(f"{OPENINGS_READY}: {ready} of {len(openings)} computed in {time.perf_counter() - start:.1f} s", flush=True)


def on_first_visit(triggers, fn, inputs, outputs, **event_settings):
    """Fill `outputs` with `fn(*inputs)` the first time one of `triggers` fires in a browser session (a page shown,
    or an event's `.then`); later firings keep what is shown. A per-session flag in `gr.State` remembers the visit.
    At the inputs' starting values the result is the kept opening. Returns `(event, opening)`: the event, so another
    can follow, and the opening, for the app to compute in the background."""
    visited = gr.State(False)
    opening = Opening(fn, tuple(component.value for component in inputs))

    def first_visit(already, *values):
        if already:
            return [gr.skip()] * len(outputs) + [True]
        kept = opening if tuple(values) == opening.values else Opening(fn, tuple(values))
        return [*kept.result(), True]

    event = gr.on(triggers, first_visit, [visited, *inputs], [*outputs, visited], api_visibility="private",
                  **event_settings)
    return event, opening
