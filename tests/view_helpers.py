"""Helpers the view and page tests share: an independent formula of DiT's embedding, the size of a figure's JSON, a
page built alone and its components."""

import math

import numpy as np

PAYLOAD_LIMIT = 1_500_000  # bytes of figure JSON one view may send

def dit_formula(ts, dim, max_period=10000.0):
    """DiT's embedding in float64 numpy, written independently of playground.embedding."""
    half = dim // 2
    freqs = np.exp(-math.log(max_period) * np.arange(half) / half)
    args = np.asarray(ts, dtype=np.float64)[:, None] * freqs[None]
    out = np.concatenate([np.cos(args), np.sin(args)], axis=1)
    return np.concatenate([out, np.zeros((len(ts), 1))], axis=1) if dim % 2 else out


def payload(fig):
    return len(fig.to_json())


def components(demo, kind):
    """`{label: component}` of every `kind` (e.g. `gr.Slider`) in a built Blocks."""
    return {b.label: b for b in demo.blocks.values() if isinstance(b, kind)}


def build_page(module, model, model_error=None):
    """A page (`playground.ui.<chapter>.<page>`) built alone in one tab, as the app builds it: (demo, openings)."""
    import gradio as gr

    with gr.Blocks() as demo, gr.Tabs(), gr.Tab("page") as tab:
        openings = module.build([tab.select], model, model_error)
    return demo, openings
