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


def small_dit(class_dropout_prob, seed):
    """A one-block DiT with random (non-zero) weights; `class_dropout_prob` 0 gives it no null class."""
    import torch

    from playground.model import DiT

    torch.manual_seed(seed)
    model = DiT(hidden_size=32, depth=1, num_heads=2, class_dropout_prob=class_dropout_prob)
    with torch.no_grad():
        for param in model.parameters():
            if param.requires_grad:
                param.normal_(0, 0.05)
    return model.eval()


def synthetic_tradeoff():
    """A trade-off file (`playground.cli.tradeoff`'s format) with round numbers: CFG, autoguidance, the companions."""

    def point(s, acc, div, fre):
        return {"s": s, "accuracy": acc, "accuracy_low": acc - 0.05, "accuracy_high": min(1, acc + 0.05),
                "diversity": div, "diversity_se": 0.1, "frechet": fre, "frechet_se": 2.0, "confidence": 0.9}

    cfg = [point(1.0, 0.9, 9.0, 40.0), point(2.0, 1.0, 8.0, 70.0)]
    auto = [point(1.0, 0.9, 9.0, 40.0), point(3.0, 1.0, 8.5, 50.0)]
    comp = {"companion_p0": [point(1.0, 0.6, 10.0, 90.0)],
            "companion_p0.1": [point(1.0, 0.65, 10.0, 80.0), point(2.0, 0.9, 9.0, 60.0)],
            "companion_p0.5": [point(1.0, 0.40, 10.5, 95.0), point(2.0, 0.8, 9.5, 70.0)]}
    return {"settings": {"per_class": 30}, "real_floor": {"frechet": 36.0, "what": "300 training digits"},
            "curves": {"cfg": {"points": cfg}, "autoguidance": {"points": auto},
                       **{k: {"points": v} for k, v in comp.items()}}}


def drawn_categories(fig, trace, axis):
    """The names of `trace`'s `axis` ("x" or "y") that plotly draws: all of them on a categorical axis; on an axis
    left to plotly's auto-type (category only when non-numeric names outnumber numeric ones two to one) a linear axis,
    where a name that is not a number is dropped."""
    ref = trace.get(f"{axis}axis", axis)
    props = fig.to_dict()["layout"].get(f"{axis}axis{ref[1:]}", {})
    names = [str(n) for n in trace[axis]]

    def numeric(name):
        try:
            float(name)
        except ValueError:
            return False
        return True

    kind = props.get("type") or ("category" if sum(not numeric(n) for n in names) > 2 * sum(map(numeric, names))
                                 else "linear")
    return names if kind == "category" else [n for n in names if numeric(n)]


def in_closed_fold(block):
    """Whether `block` sits inside an Accordion that starts closed (a page's fold)."""
    import gradio as gr

    while block is not None:
        if isinstance(block, gr.Accordion) and block.open is False:
            return True
        block = block.parent
    return False
