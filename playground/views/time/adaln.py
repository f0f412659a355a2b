"""Where c = t_emb + y_emb goes: the adaLN-Zero modulation of every block and of the final layer.

Each block's `adaLN_modulation = Sequential(SiLU, Linear)` turns c into shift, scale and gate for attention and for
the MLP; the final layer's into a shift and scale. A block computes `x · (1 + scale) + shift`, so the picture shows
the multiplier `1 + scale`. `modulation_figure` shows what the conditioning sets for one class; `class_effect_figure`
what the class changes: its modulation minus the null class's, or, for the null class and in a model without one
(trained with no label dropout), minus the digits' mean. `validate_label` checks a class once; `adaln_view` returns
everything the page shows for it.
"""

from types import MappingProxyType

import numpy as np
import torch

from playground import plots
from playground.diffusion import NUM_TIMESTEPS
from playground.inputs import as_int
from playground.model import MODULATION_NAMES
from playground.stats import bin_means, row_bins
from playground.views.time.mlp import times_more, varying_rms
from playground.views.time.waves import T_TITLE

DEFAULTS = MappingProxyType({"label": 3})
NO_NULL_CLASS = (
    "This model was trained without label dropout, so it has **no null class ∅**: the classes are the digits "
    "alone, and what a class changes is measured against the mean over the digits."
)
HSPACE = 0.1  # between the panels' columns, room for each column's colour bar
MODULATION_T_POINTS = 250  # t columns of the modulation heatmaps: bins of 4 steps, each the mean over its t
SUBLAYERS = {"attention": "msa", "MLP": "mlp"}  # a block's two sublayers and their suffix in MODULATION_NAMES
MEASURES = {  # column of the figure -> (what it summarises, how the cell summarises the hidden units)
    "shift": "RMS of shift over the hidden units",
    "multiplier": "mean of 1 + scale over the hidden units",
    "gate": "mean |gate| over the hidden units",
}


@torch.no_grad()
def modulation(model, labels, ts=None, t_emb=None):
    """{(sublayer, kind): `[rows, T, D]`} at every t, averaged over `labels` (one label or several): rows = blocks,
    or 1 for the final layer; kind 'shift', 'scale' or 'gate'; sublayer 'attention', 'MLP' or 'final' (no gate).

    Each `adaLN_modulation` is `Linear(SiLU(c))`, affine in SiLU(c): averaging SiLU(c) over the labels first gives
    the labels' mean modulation exactly, and every block and the final layer come from one matrix product.
    `t_emb` `[T, D]`, if given, is the model's t_emb at those t (saves recomputing it).
    """
    ts = torch.arange(NUM_TIMESTEPS, dtype=torch.float32) if ts is None else torch.as_tensor(ts, dtype=torch.float32)
    labels = torch.as_tensor(labels, dtype=torch.long).reshape(-1)
    t_emb = model.t_embedder(ts) if t_emb is None else torch.as_tensor(t_emb, dtype=torch.float32)
    c = t_emb[None] + model.y_embedder(labels, train=False)[:, None]  # [L, T, D]
    silu = torch.nn.functional.silu(c).mean(dim=0)
    layers = [block.adaLN_modulation[-1] for block in model.blocks] + [model.final_layer.adaLN_modulation[-1]]
    weight = torch.cat([layer.weight for layer in layers])
    bias = torch.cat([layer.bias for layer in layers])
    out = torch.addmm(bias, silu, weight.T).double().numpy()  # [T, depth·6D + 2D]
    depth, hidden = len(model.blocks), c.shape[-1]
    blocks = out[:, : depth * 6 * hidden].reshape(len(ts), depth, 6, hidden).transpose(2, 1, 0, 3)  # [6, depth, T, D]
    final = out[:, depth * 6 * hidden :].reshape(len(ts), 2, hidden).transpose(1, 0, 2)[:, None]  # [2, 1, T, D]
    values = {}
    for sublayer, suffix in SUBLAYERS.items():
        for kind in ("shift", "scale", "gate"):
            values[sublayer, kind] = blocks[MODULATION_NAMES.index(f"{kind}_{suffix}")]
    values["final", "shift"], values["final", "scale"] = final[0], final[1]
    return values


def validate_label(label, model):
    """The checked class: a digit of `model`, or its null class (the last label) when it has one."""
    if model.null_class is not None:
        return as_int(label, "class label", 0, model.null_class)
    try:
        return as_int(label, "class label", 0, model.config.num_classes - 1)
    except ValueError as e:
        raise ValueError(f"{e} This model has no null class (it was trained without label dropout).") from None


def label_name(model, label):
    return f"∅ (null, {label})" if label == model.null_class else str(label)


def reference_modulation(model, label, t_emb=None):
    """What the class is compared with: the null class for a digit; for the null class, and for any class of a
    model that has none, the mean over the digits."""
    if model.null_class is not None and label != model.null_class:
        return modulation(model, [model.null_class], t_emb=t_emb), "the null class ∅"
    return modulation(model, list(range(model.config.num_classes)), t_emb=t_emb), "the mean over the digits"


def rms(x, axis=-1):
    return np.sqrt(np.mean(np.square(x, dtype=np.float64), axis=axis))


def measure(kind, values):
    """The per-(row, t) summary a cell shows: RMS shift, mean multiplier 1 + scale, mean |gate|."""
    if kind == "shift":
        return rms(values)
    if kind == "scale":
        return np.mean(1.0 + values, axis=-1, dtype=np.float64)
    return np.mean(np.abs(values), axis=-1, dtype=np.float64)


def relative_change(values, reference):
    """RMS over the hidden units of (values − reference), as a share of the reference's RMS: `[rows, T]`."""
    return rms(values - reference) / np.maximum(rms(reference), 1e-12)


def binned_columns(values, bins):
    """Bin means over t (the last axis): each column the mean over the t it stands for."""
    return bin_means(np.moveaxis(values, -1, 0), bins).T if values.ndim == 2 else bin_means(values, bins)


def gate_summary(values):
    """{sublayer: mean |gate| per block `[depth]`} over t and hidden units."""
    return {sublayer: np.abs(values[sublayer, "gate"]).mean(axis=(1, 2)) for sublayer in SUBLAYERS}


def _panels(cells, title, subtitle, coloraxes, height=500):
    """3 x 3 heatmaps: rows attention / MLP / final layer, columns shift / multiplier / gate (none in the final)."""
    names = [f"{sublayer}: {measure_name}" for sublayer in (*SUBLAYERS, "final layer") for measure_name in MEASURES]
    names[-1] = "final layer: no gate"
    refs, grid = plots.grid(3, 3, names, hspace=HSPACE, vspace=0.13)
    data = []
    for i, ((sublayer, _), cell) in enumerate(cells.items()):
        ref = refs[i]
        z, centres, hover, customdata = cell
        rows = np.arange(z.shape[0])
        data.append(
            {
                "type": "heatmap",
                "z": z.astype(np.float32),
                "x": centres.astype(np.float32),
                "y": rows,
                "coloraxis": coloraxes[i % 3][0],
                "hovertemplate": hover,
                **({"customdata": customdata} if customdata is not None else {}),
                **ref,
            }
        )
        final = sublayer == "final"
        plots.set_axis(
            grid,
            ref["yaxis"],
            tickvals=[0] if final else list(rows),
            ticktext=["final"] if final else [str(r) for r in rows],
            autorange="reversed",
            title={"text": "block" if i % 3 == 0 and not final else ""},
        )
        plots.set_axis(grid, ref["xaxis"], title={"text": T_TITLE if i >= 6 else ""})
    hidden = {"visible": False}
    plots.set_axis(grid, refs[8]["xaxis"], **hidden)
    plots.set_axis(grid, refs[8]["yaxis"], **hidden)
    axes = {}
    width = (1 - 2 * HSPACE) / 3
    for c, (name, colour) in enumerate(coloraxes):
        x_right = c * (width + HSPACE) + width + 0.005
        axes[name] = {**colour, "colorbar": {**colour.get("colorbar", {}), "x": x_right, "xanchor": "left",
                                             "thickness": 10, "len": 0.9}}
    layout = plots.layout(
        title, subtitle, height=height, margin={"l": 70, "r": 40, "t": 115, "b": 55}, **axes, **grid
    )
    return plots.figure(data, layout)


def modulation_figure(values, label_name, gates, bins, centres):
    """What c sets for one class: RMS shift, mean multiplier 1 + scale (1 = unchanged) and mean |gate|, per block."""
    cells = {}
    for sublayer in (*SUBLAYERS, "final"):
        for kind in ("shift", "scale", "gate"):
            if (sublayer, kind) not in values:
                continue
            v = values[sublayer, kind]
            z = binned_columns(measure(kind, v), bins)
            customdata, extra = None, ""
            if kind == "scale":
                lo, hi = (binned_columns(f(1.0 + v, axis=-1), bins) for f in (np.min, np.max))
                customdata = np.stack([lo, hi], axis=-1).astype(np.float32)
                extra = "<br>units range %{customdata[0]:.2f} … %{customdata[1]:.2f}"
            label = {"shift": "RMS shift", "scale": "mean 1 + scale", "gate": "mean |gate|"}[kind]
            hover = f"{sublayer} · row %{{y}} · t ≈ %{{x:.0f}}<br>{label} = %{{z:.3f}}{extra}<extra></extra>"
            cells[sublayer, kind] = (z, centres, hover, customdata)
    multipliers = np.concatenate([cells[s, "scale"][0].ravel() for s in (*SUBLAYERS, "final")])
    spread = max(float(np.abs(multipliers - 1).max()), 1e-6)
    coloraxes = [
        ("coloraxis", {"colorscale": "Viridis", "colorbar": {"title": {"text": "RMS"}}}),
        ("coloraxis2", {"colorscale": "RdBu", "cmid": 1.0, "cmin": 1 - spread, "cmax": 1 + spread,
                        "colorbar": {"title": {"text": "×"}}}),
        ("coloraxis3", {"colorscale": "Viridis", "colorbar": {"title": {"text": "|gate|"}}}),
    ]
    subtitle = (
        "adaLN-Zero starts every gate at 0 (each block the identity); trained, mean |gate| per block is "
        + ", ".join(f"{sublayer} {g.min():.2f}–{g.max():.2f}" for sublayer, g in gates.items())
        + ": every block writes into the residual stream<br>multiplier 1 + scale: 1 = unchanged, < 1 shrinks, "
        "> 1 amplifies"
    )
    title = f"adaLN-Zero: what c = t_emb + y_emb sets in each block and the final layer (class {label_name})"
    return _panels(cells, title, subtitle, coloraxes)


def class_effect_figure(change, label_name, reference_name, bins, centres):
    """What the class changes: RMS(class − reference) as % of the reference's RMS, per block, sublayer and kind."""
    cells = {}
    for (sublayer, kind), rel in change.items():
        z = 100 * binned_columns(rel, bins)
        hover = (f"{sublayer} {kind} · row %{{y}} · t ≈ %{{x:.0f}}<br>class − reference: %{{z:.1f}} % of its "
                 "RMS<extra></extra>")
        cells[sublayer, kind] = (z, centres, hover, None)
    top = max(float(np.max(c[0])) for c in cells.values())
    colour = ("coloraxis", {"colorscale": "Magma", "cmin": 0, "cmax": top, "colorbar": {"title": {"text": "%"}}})
    return _panels(
        cells,
        f"What the class changes: class {label_name} minus {reference_name}",
        "RMS over the hidden units of the difference, as % of the reference's RMS (the multiplier's column compares "
        "scale itself)",
        [colour, colour, colour],
    )


def conditioning_view(model, label, label_name, t_emb=None):
    """The two modulation figures and the numbers the summary quotes; `t_emb`: the model's at t = 0..999, if known."""
    values = modulation(model, [label], t_emb=t_emb)
    reference, reference_name = reference_modulation(model, label, t_emb)
    bins = row_bins(NUM_TIMESTEPS, MODULATION_T_POINTS)
    centres = bin_means(np.arange(NUM_TIMESTEPS, dtype=np.float64)[:, None], bins)[:, 0]
    change = {key: relative_change(values[key], reference[key]) for key in values}
    gates = gate_summary(values)
    return {
        "modulation": modulation_figure(values, label_name, gates, bins, centres),
        "class_effect": class_effect_figure(change, label_name, reference_name, bins, centres),
        "change": {key: float(np.mean(rel)) for key, rel in change.items()},
        "gates": gates,
        "reference_name": reference_name,
        "values": values,
    }


def conditioning_sentence(view, label_name):
    """The summary's line on the blocks, from the numbers of `conditioning_view`."""
    change = view["change"]
    blocks = {key: v for key, v in change.items() if key[0] != "final"}
    top = max(blocks, key=blocks.get)
    final = max(v for key, v in change.items() if key[0] == "final")
    multipliers = {s: measure("scale", view["values"][s, "scale"]).mean() for s in (*SUBLAYERS, "final")}
    return (
        f"- **What the class changes** (class {label_name} vs {view['reference_name']}): on average "
        f"{100 * min(blocks.values()):.0f}–{100 * max(blocks.values()):.0f} % of a block's shift / scale / gate "
        f"(RMS of the difference over the RMS of the reference; most in the {top[0]} {top[1]}, "
        f"{100 * blocks[top]:.0f} %), {100 * final:.0f} % in the final layer. The mean multiplier 1 + scale is "
        + ", ".join(f"{multipliers[s]:.2f} ({s})" for s in (*SUBLAYERS, "final"))
        + " averaged over t and blocks."
    )



def trained_embedding(model):
    """The model's t_emb at t = 0..999, numpy `[1000, hidden]`."""
    with torch.no_grad():
        return model.t_embedder(torch.arange(NUM_TIMESTEPS, dtype=torch.float32)).numpy()


def time_and_class(model, label, trained):
    """The t-varying part of the trained t_emb `trained` against the class part: y_emb(label) minus the null
    class's (for the null class, the digits' mean distance to it; with no null class, minus the digits' mean)."""
    with torch.no_grad():
        table = model.y_embedder.embedding_table.weight.double().numpy()
    null, digits = model.null_class, table[: model.config.num_classes]
    if null is None:
        class_part = float(np.linalg.norm(table[label] - digits.mean(axis=0)))
        words = f"the class part ‖y_emb({label}) − the digits' mean y_emb‖"
    elif label == null:
        class_part = float(np.linalg.norm(digits - table[null], axis=1).mean())
        words = "the digits' mean ‖y_emb(digit) − y_emb(∅)‖"
    else:
        class_part = float(np.linalg.norm(table[label] - table[null]))
        words = f"the class part ‖y_emb({label_name(model, label)}) − y_emb(∅)‖"
    return {
        "varying": varying_rms(trained),
        "ends": float(np.linalg.norm(trained[-1] - trained[0])),
        "class": class_part,
        "class_words": words,
    }


def time_and_class_sentence(parts):
    """The summary's line on time against class, from the numbers of `time_and_class`."""
    return (
        f"- **Time against class in c = t_emb + y_emb:** the part of t_emb that varies with t has RMS length "
        f"{parts['varying']:.3g} (t = 0 and t = 999 are {parts['ends']:.3g} apart); {parts['class_words']} is "
        f"{parts['class']:.3g}, so the time part is {times_more(parts['varying'], parts['class'])} than the "
        "class part."
    )


def adaln_view(model, label=DEFAULTS["label"]):
    """Everything the adaLN page shows for a (checked) class `label`: the modulation, what the class changes and
    two sentences (time against class, what the class changes in the blocks)."""
    name = label_name(model, label)
    trained = trained_embedding(model)
    conditioning = conditioning_view(model, label, name, trained)
    lines = [time_and_class_sentence(time_and_class(model, label, trained)), conditioning_sentence(conditioning, name)]
    return {
        "modulation": conditioning["modulation"],
        "class_effect": conditioning["class_effect"],
        "summary": "\n".join(lines),
    }
