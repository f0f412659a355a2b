"""Pure builders behind the DiT Playground views: numbers in; plotly figures, images and text out.

Nothing here imports gradio, so every view can be tested and timed on its own. The model, the
embedding and the samplers come from the other modules and are never re-implemented here.
Bad user input raises `ValueError` with a message meant for the person at the screen; the UI layer
turns it into a `gr.Error`.
"""

import math
import re
import reprlib
import textwrap
from functools import lru_cache

import numpy as np
import plotly.graph_objects as go
import torch
from PIL import Image, ImageDraw, ImageFont
from plotly.subplots import make_subplots

from playground.diffusion import NUM_TIMESTEPS, sampling_timesteps
from playground.embedding import FLAVOURS, frequencies, timestep_embedding
from playground.model import MODULATION_NAMES, DiT

# ---------------------------------------------------------------------------------------------
# Limits (shown in the UI) and shared styling
# ---------------------------------------------------------------------------------------------

MAX_HEATMAP_ROWS = 200  # t rows sent to the browser; more are evenly downsampled (and we say so)
MAX_HEATMAP_COLS = 256  # dimension columns sent to the browser
MAX_DIM = 1024  # frequency-embedding size: columns of the embedding view
MIN_MAX_PERIOD, MAX_MAX_PERIOD = 2.0, 1e6
T_LIMITS = (-10_000.0, 100_000.0)
MAX_T_POINTS = 2000  # t rows of the embedding view
MAX_INSPECT_T = 8  # t values in the one-batch inspector
SCALE_RANGE = (-5.0, 30.0)
MAX_SCALES = 8  # guidance scales in one CFG sweep
MLP_HEATMAP_ROWS = 100  # t rows per panel in the with/without-MLP heatmaps and similarity matrices
MODULATION_T_POINTS = 250

FLAVOUR_NOTES = {
    "dit": "DiT (facebookresearch): cos half first, frequencies exp(-ln(P)·k/half)",
    "diffusers": "diffusers default: sin half first, frequencies exp(-ln(P)·k/(half-1))",
    "diffusers-dit": "diffusers' DiT port: cos half first, frequencies exp(-ln(P)·k/(half-1))",
}
FLAVOUR_SHORT = {
    "dit": "DiT: cos half first",
    "diffusers": "diffusers: sin half first, shift 1",
    "diffusers-dit": "diffusers' DiT port: cos first, shift 1",
}
EMBEDDING_NAMES = {
    "raw": "raw sinusoid t_freq",
    "trained": "trained MLP t_emb",
    "fresh": "fresh MLP (initialisation)",
}
EMBEDDING_COLOURS = {"raw": "#636efa", "trained": "#ef553b", "fresh": "#00a080"}
KIND_COLOURS = {"accuracy": "#1f77b4", "confidence": "#ff7f0e", "diversity": "#2ca02c"}

FONT = {"size": 15, "family": "Helvetica, Arial, sans-serif"}
TITLE_SIZE = 19
# A small template: plotly's own ones are deep-copied into every figure, which costs ~15 ms each.
_AXIS = {"gridcolor": "#e5e5e5", "zerolinecolor": "#c8c8c8", "linecolor": "#888", "automargin": True}
TEMPLATE = go.layout.Template(
    layout={
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "xaxis": _AXIS,
        "yaxis": _AXIS,
        "colorway": list(EMBEDDING_COLOURS.values()) + ["#ab63fa", "#ffa15a", "#19d3f3"],
    }
)


def _figure(data=None):
    return go.Figure(data, layout={"template": TEMPLATE})


def _subplots(**kwargs):
    return make_subplots(figure=_figure(), **kwargs)


def _title(title, subtitle=None):
    """A bold, left-aligned title that states the point, with an optional grey subtitle."""
    title_dict = {"text": f"<b>{title}</b>", "x": 0.01, "xanchor": "left", "y": 0.985, "yanchor": "top",
                  "font": {"size": TITLE_SIZE}}
    if subtitle:
        title_dict["subtitle"] = {"text": subtitle, "font": {"size": 14, "color": "#555"}}
    return title_dict


def _style(fig, title, subtitle=None, height=440, margin=None):
    """Shared look for a shared screen: large fonts, a title that states the point, white background."""
    fig.update_layout(
        font=FONT,
        title=_title(title, subtitle),
        height=height,
        margin=margin or {"l": 70, "r": 30, "t": 90 if subtitle else 60, "b": 60},
        hoverlabel={"font_size": 15},
    )
    return fig


def _layout(title, subtitle=None, height=440, margin=None, **extra):
    """The `_style` look as a plain layout dict, for figures built in one pass (much faster to validate)."""
    return {
        "template": TEMPLATE,
        "font": FONT,
        "title": _title(title, subtitle),
        "height": height,
        "margin": margin or {"l": 70, "r": 30, "t": 90 if subtitle else 60, "b": 60},
        "hoverlabel": {"font": {"size": 15}},
        **extra,
    }


def _one_pass(data, layout):
    """A plotly Figure built from plain dicts in one go: one validation instead of one per update call."""
    return go.Figure({"data": data, "layout": layout})


def message_figure(text, title="Nothing to show", height=300):
    """An empty figure that says why there is nothing to plot (never a blank box)."""
    fig = _figure()
    wrapped = "<br>".join(textwrap.wrap(str(text), 60))
    fig.add_annotation(text=wrapped, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False, font={"size": 16})
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _style(fig, title, height=height)


def even_indices(n, max_n):
    """At most `max_n` evenly spread indices into range(n), always including the first and last."""
    if n <= max_n:
        return np.arange(n)
    return np.unique(np.round(np.linspace(0, n - 1, max_n)).astype(int))


def _fmt(x):
    return f"{x:.4g}"


def _steps(x):
    """A wavelength in steps: 6.28, 129, 1,010, 58,470."""
    return f"{x:.3g}" if x < 100 else f"{x:,.0f}"


def _fmt_vec(values, head=3, tail=1):
    values = [float(v) for v in np.asarray(values).ravel()]
    if len(values) <= head + tail + 1:
        return "[" + ", ".join(_fmt(v) for v in values) + "]"
    return "[" + ", ".join(_fmt(v) for v in values[:head]) + ", …, " + ", ".join(_fmt(v) for v in values[-tail:]) + "]"


# ---------------------------------------------------------------------------------------------
# Input parsing
# ---------------------------------------------------------------------------------------------


def parse_number_list(text, *, name, max_count, lo, hi):
    """'0, 1, 2.5' (commas, semicolons or spaces) -> [0.0, 1.0, 2.5]; ValueError with a readable reason."""
    if text is None or not str(text).strip():
        raise ValueError(f"Enter at least one {name}, e.g. 0, 1, 4.")
    tokens = [tok for tok in re.split(r"[,;\s]+", str(text).strip().strip("[]()")) if tok]
    if not tokens:
        raise ValueError(f"Enter at least one {name}, e.g. 0, 1, 4.")
    if len(tokens) > max_count:
        raise ValueError(f"{len(tokens)} values given for the {name}; at most {max_count} are allowed.")
    values = []
    for tok in tokens:
        try:
            value = float(tok)
        except ValueError:
            message = f"{reprlib.repr(tok)} is not a number (each {name} must be a number like 4 or 2.5)."
            raise ValueError(message) from None
        if not math.isfinite(value):
            raise ValueError(f"{reprlib.repr(tok)} is not a finite number; every {name} must be finite.")
        if not lo <= value <= hi:
            raise ValueError(f"{name} {_fmt(value)} is outside the allowed range [{_fmt(lo)}, {_fmt(hi)}].")
        values.append(value)
    return values


def parse_scales(text):
    """The CFG scale list of the sweep, in DiT's `s` convention."""
    return parse_number_list(text, name="guidance scale", max_count=MAX_SCALES, lo=SCALE_RANGE[0], hi=SCALE_RANGE[1])


def _as_int(value, name, lo, hi):
    try:
        as_float = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{name} must be a whole number, got {reprlib.repr(value)}.") from None
    if not math.isfinite(as_float) or as_float != int(as_float):
        raise ValueError(f"{name} must be a whole number, got {reprlib.repr(value)}.")
    if not lo <= as_float <= hi:
        raise ValueError(f"{name} must be between {lo} and {hi}, got {as_float:.10g}.")
    return int(as_float)


def _as_float(value, name, lo, hi):
    try:
        value = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{name} must be a number, got {reprlib.repr(value)}.") from None
    if not math.isfinite(value) or not lo <= value <= hi:
        raise ValueError(f"{name} must be a finite number between {_fmt(lo)} and {_fmt(hi)}, got {value}.")
    return value


def validate_embedding_inputs(dim, max_period, t_start, t_end, n_t, flavour):
    """Checked and converted knobs of the timestep-embedding view."""
    if not isinstance(flavour, str) or flavour not in FLAVOURS:
        raise ValueError(f"Unknown flavour {reprlib.repr(flavour)}; choose one of {', '.join(FLAVOURS)}.")
    min_dim = 2 + 2 * FLAVOURS[flavour][1]  # the diffusers flavours divide by half - 1
    dim = _as_int(dim, "dim", min_dim, MAX_DIM)
    max_period = _as_float(max_period, "max_period", MIN_MAX_PERIOD, MAX_MAX_PERIOD)
    t_start = _as_float(t_start, "t start", *T_LIMITS)
    t_end = _as_float(t_end, "t end", *T_LIMITS)
    n_t = _as_int(n_t, "number of t", 1, MAX_T_POINTS)
    if t_end < t_start:
        raise ValueError(f"t end ({_fmt(t_end)}) must not be below t start ({_fmt(t_start)}).")
    return dim, max_period, t_start, t_end, n_t, flavour


# ---------------------------------------------------------------------------------------------
# View 1: the timestep embedding
# ---------------------------------------------------------------------------------------------


def t_grid(t_start, t_end, n_t):
    """`n_t` evenly spaced t from start to end (integers when the spacing allows), float64."""
    ts = np.linspace(t_start, t_end, n_t)
    return np.round(ts) if np.allclose(ts, np.round(ts)) else ts


def embedding_matrix(ts, dim, max_period=10000.0, flavour="dit"):
    """`timestep_embedding` as numpy `[len(ts), dim]`."""
    return timestep_embedding(torch.as_tensor(np.asarray(ts, dtype=np.float64)), dim, max_period, flavour).numpy()


def column_info(dim, max_period=10000.0, flavour="dit"):
    """Per column of the embedding: kind ('cos'/'sin'/'zero'), frequency index k, omega (rad/step), wavelength."""
    cos_first, shift = FLAVOURS[flavour]
    half = dim // 2
    omega_half = frequencies(dim, max_period, shift).double().numpy()
    first, second = ("cos", "sin") if cos_first else ("sin", "cos")
    kinds = [first] * half + [second] * half
    k = np.concatenate([np.arange(half), np.arange(half)])
    omega = np.concatenate([omega_half, omega_half])
    if dim % 2:
        kinds.append("zero")
        k = np.append(k, -1)
        omega = np.append(omega, 0.0)
    with np.errstate(divide="ignore"):
        wavelength = np.where(omega > 0, 2 * np.pi / np.where(omega > 0, omega, 1), np.inf)
    return {"kind": kinds, "k": k, "omega": omega, "wavelength": wavelength, "half": half}


def _column_label(info, j):
    kind = info["kind"][j]
    if kind == "zero":
        return f"dim {j} (zero pad: odd dim)<br>always 0"
    return (
        f"dim {j} ({kind}, frequency #{info['k'][j]})<br>"
        f"ω = {info['omega'][j]:.4g} rad/step, one cycle every {_steps(info['wavelength'][j])} steps"
    )


def embedding_heatmap(ts, emb, dim, max_period, flavour):
    """Heatmap of t (rows) x dimension (columns), halves marked, hover with frequency and wavelength."""
    info = column_info(dim, max_period, flavour)
    rows, cols = even_indices(len(ts), MAX_HEATMAP_ROWS), even_indices(emb.shape[1], MAX_HEATMAP_COLS)
    names = [_column_label(info, j) for j in cols]
    heatmap = {
        "type": "heatmap",
        "z": emb[np.ix_(rows, cols)].astype(np.float32),
        "x": names,
        "y": np.asarray(ts)[rows].astype(np.float32),
        "colorscale": "RdBu",
        "zmin": -1,
        "zmax": 1,
        "colorbar": {"title": {"text": "value"}, "thickness": 14, "len": 0.8},
        "hovertemplate": "t = %{y:.4g}<br>%{x}<br>value = %{z:.3f}<extra></extra>",
    }
    tick_at = even_indices(len(cols), 9)
    half = info["half"]
    segments = [(info["kind"][0], 0, half), (info["kind"][half], half, 2 * half)]
    if dim % 2:
        segments.append(("zero", 2 * half, dim))
    shapes, annotations = [], []
    for kind, start, stop in segments:
        positions = np.flatnonzero((cols >= start) & (cols < stop))
        if not len(positions):
            continue
        left, right = positions[0] - 0.5, positions[-1] + 0.5
        if start > 0:
            shapes.append(
                {
                    "type": "line",
                    "x0": left,
                    "x1": left,
                    "xref": "x",
                    "y0": 0,
                    "y1": 1,
                    "yref": "paper",
                    "line": {"color": "black", "width": 3, "dash": "dash"},
                }
            )
        label = "zero" if kind == "zero" else f"{kind} half: fast → slow"
        annotations.append(
            {
                "x": (left + right) / 2,
                "y": 1.0,
                "xref": "x",
                "yref": "paper",
                "yanchor": "bottom",
                "showarrow": False,
                "text": f"<b>{label}</b>",
                "font": {"size": 15},
            }
        )
    shown = "" if len(rows) == len(ts) else f" · {len(rows)} of {len(ts)} t rows shown"
    if len(cols) < emb.shape[1]:
        shown += f" · {len(cols)} of {emb.shape[1]} columns shown"
    layout = _layout(
        f"Each t becomes {dim} numbers: cos/sin waves, fast (left) to slow (right)",
        f"{FLAVOUR_SHORT[flavour]} · max_period {max_period:g}{shown} · hover for frequencies",
        height=470,
        margin={"l": 80, "r": 20, "t": 100, "b": 60},
        xaxis={
            "type": "category",
            "tickmode": "array",
            "tickvals": [names[i] for i in tick_at],
            "ticktext": [str(cols[i]) for i in tick_at],
            "title": {"text": "dimension (column of t_freq)"},
        },
        yaxis={"autorange": "reversed", "title": {"text": "t (one row = one t_freq vector)"}},
        shapes=shapes,
        annotations=annotations,
    )
    return _one_pass([heatmap], layout)


def pick_frequencies(wavelengths, span, n_lines=4):
    """Frequency indices whose wavelengths are about span/8, span, 8 span and the slowest one.

    The fastest columns (6.28 steps per cycle) would fill a whole t range as a solid band.
    """
    span = max(float(span), 1.0)
    targets = [span / 8, span, 8 * span, float(wavelengths[-1])][: max(n_lines, 1)]
    picks = [int(np.argmin(np.abs(np.log(wavelengths) - np.log(target)))) for target in targets]
    return np.unique(picks)


def dimension_lines(t_start, t_end, dim, max_period, flavour, n_lines=4):
    """A few frequencies (cos solid, sin dotted) against densely sampled t: fast ones tell steps apart."""
    info = column_info(dim, max_period, flavour)
    half = info["half"]
    ts = np.linspace(t_start, t_end, MAX_T_POINTS) if t_end > t_start else np.array([t_start])
    emb = embedding_matrix(ts, dim, max_period, flavour)
    ks = pick_frequencies(info["wavelength"][:half], t_end - t_start, n_lines)
    cos_offset = 0 if info["kind"][0] == "cos" else half
    palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
    n, gap = len(ks), 0.09
    data, annotations, axes = [], [], {}
    for row, k in enumerate(ks):
        axis = "" if row == 0 else str(row + 1)
        top = 1 - row / n
        axes[f"yaxis{axis}"] = {
            "domain": [max(top - 1 / n + gap, 0), top],
            "range": [-1.15, 1.15],
            "tickvals": [-1, 0, 1],
            "anchor": "x",
        }
        for col, dash, kind in ((cos_offset + k, "solid", "cos"), (half - cos_offset + k, "dot", "sin")):
            data.append(
                {
                    "type": "scatter",
                    "x": ts.astype(np.float32),
                    "y": emb[:, col].astype(np.float32),
                    "xaxis": "x",
                    "yaxis": f"y{axis}",
                    "mode": "lines",
                    "line": {"color": palette[row % len(palette)], "dash": dash, "width": 1.6},
                    "name": f"dim {col} ({kind})",
                    "hovertemplate": f"dim {col} ({kind})<br>t = %{{x:.1f}}<br>value = %{{y:.3f}}<extra></extra>",
                }
            )
        annotations.append(
            {
                "text": f"frequency #{k}: one cycle every {_steps(info['wavelength'][k])} steps "
                f"(dims {cos_offset + k} cos, {half - cos_offset + k} sin)",
                "x": 0.5,
                "xref": "paper",
                "xanchor": "center",
                "y": top,
                "yref": "paper",
                "yanchor": "bottom",
                "showarrow": False,
                "font": {"size": 13},
            }
        )
    layout = _layout(
        "Fast columns separate steps, slow ones locate t",
        f"solid = cos, dotted = sin; the fastest (#0) repeats every {_steps(info['wavelength'][0])} steps",
        height=470,
        margin={"l": 50, "r": 20, "t": 95, "b": 50},
        showlegend=False,
        xaxis={"title": {"text": "t"}, "anchor": f"y{n if n > 1 else ''}"},
        annotations=annotations,
        **axes,
    )
    return _one_pass(data, layout)


def cosine_similarity_matrix(emb):
    """`[T, T]` cosine similarity between the rows of `emb`."""
    emb = np.asarray(emb, dtype=np.float64)
    unit = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
    return unit @ unit.T


def similarity_figure(ts, emb, title, subtitle=None, height=440):
    rows = even_indices(len(ts), MAX_HEATMAP_ROWS)
    ts_shown = np.asarray(ts)[rows].astype(np.float32)
    heatmap = {
        "type": "heatmap",
        "z": cosine_similarity_matrix(np.asarray(emb)[rows]).astype(np.float32),
        "x": ts_shown,
        "y": ts_shown,
        "colorscale": "RdBu",
        "zmin": -1,
        "zmax": 1,
        "colorbar": {"title": {"text": "cos"}, "thickness": 14, "len": 0.8},
        "hovertemplate": "t = %{y:.4g} vs t' = %{x:.4g}<br>cosine similarity %{z:.3f}<extra></extra>",
    }
    layout = _layout(
        title,
        subtitle,
        height=height,
        xaxis={"title": {"text": "t'"}},
        yaxis={"title": {"text": "t"}, "autorange": "reversed", "scaleanchor": "x"},
    )
    return _one_pass([heatmap], layout)


def similarity_headline(ts, emb, threshold=0.5):
    """Title and subtitle for the t x t similarity: how far apart two steps must be to look different."""
    if len(ts) < 2:
        return "Only one t: nothing to compare", "add more t values"
    emb = np.asarray(emb, dtype=np.float64)
    unit = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
    from_first = unit[1:] @ unit[0]  # similarity of t[0] with every later t
    gaps = np.asarray(ts[1:], dtype=np.float64) - float(ts[0])
    subtitle = f"cosine similarity of t_freq rows; t and the next t ({_fmt(gaps[0])} later): {from_first[0]:.3f}"
    below = np.flatnonzero(from_first < threshold)
    if not len(below):
        return f"Every t here looks alike (similarity ≥ {threshold} to t = {_fmt(ts[0])})", subtitle
    return f"Steps ≥ {_fmt(gaps[below[0]])} apart look different (similarity < {threshold})", subtitle


def flavour_differences(ts, dim, max_period):
    """{flavour: (max abs difference, mean abs difference)} of each diffusers variant against DiT's."""
    reference = embedding_matrix(ts, dim, max_period, "dit")
    out = {}
    for flavour in FLAVOURS:
        if flavour == "dit":
            continue
        try:
            diff = np.abs(embedding_matrix(ts, dim, max_period, flavour) - reference)
        except ValueError:
            continue  # dim too small for that variant
        out[flavour] = (float(diff.max()), float(diff.mean()))
    return out


def flavour_sentence(ts, dim, max_period, flavour):
    diffs = flavour_differences(ts, dim, max_period)
    span = f"t in {_fmt(ts[0])}..{_fmt(ts[-1])}, dim {dim}"
    parts = []
    for name, (mx, mean) in diffs.items():
        mark = "**" if name == flavour else ""
        parts.append(f"{mark}{FLAVOUR_NOTES[name]}{mark}: up to {mx:.3g} in one element, {mean:.3g} on average")
    if not parts:
        return f"The diffusers variants need dim ≥ 4 to compare ({span})."
    return (
        f"**How far the diffusers variants are from DiT's embedding** ({span}, absolute difference): "
        + "; ".join(parts)
        + ". A checkpoint trained with one variant sees different numbers under another: the embedding "
        "must match the one used in training."
    )


def parse_inspect_t(text):
    return parse_number_list(text, name="t value", max_count=MAX_INSPECT_T, lo=T_LIMITS[0], hi=T_LIMITS[1])


def inspector_markdown(t_values, dim, max_period, flavour, embedder=None, embedder_note=None):
    """Walk one batch of t through the shapes, with the actual numbers of its first (and last) row."""
    t = torch.tensor(t_values, dtype=torch.float32)
    batch = len(t_values)
    shown = [0] if t_values[-1] == t_values[0] else [0, batch - 1]

    def per_row(fmt):
        return "<br>".join(f"row {i} (t = {_fmt(t_values[i])}): {fmt(i)}" for i in shown)

    cos_first, shift = FLAVOURS[flavour]
    half = dim // 2
    freqs = frequencies(dim, max_period, shift)
    args = t[:, None] * freqs[None]
    t_freq = timestep_embedding(t, dim, max_period, flavour)
    first, second = ("cos", "sin") if cos_first else ("sin", "cos")
    pad = " + one zero column (odd dim)" if dim % 2 else ""
    rows = [
        ("`t`", f"`[{batch}]`", "one number per sample (no sequence axis)", _fmt_vec(t, 8, 0)),
        (
            "`freqs`",
            f"`[{half}]`",
            f"exp(−ln {max_period:g} · k / {half - shift}), k = 0..{half - 1}",
            _fmt_vec(freqs),
        ),
        (
            "`args`",
            f"`[{batch}, {half}]`",
            "`t[:, None] * freqs[None]` (radians)",
            per_row(lambda i: _fmt_vec(args[i])),
        ),
        (
            "`t_freq`",
            f"`[{batch}, {dim}]`",
            f"`cat([{first}(args), {second}(args)])`{pad}",
            per_row(
                lambda i: (
                    f"{first} {_fmt_vec(t_freq[i, :half], 2, 1)} {second} "
                    f"{_fmt_vec(t_freq[i, half : 2 * half], 2, 1)}"
                    + (f" zero {_fmt(t_freq[i, -1])}" if dim % 2 else "")
                )
            ),
        ),
    ]
    notes = []
    if embedder is not None:
        fdim = embedder.frequency_embedding_size
        hidden = embedder.mlp[2].out_features
        matches = (dim, float(max_period), flavour) == (fdim, 10000.0, "dit")
        with torch.no_grad():
            model_freq = t_freq if matches else embedder.sinusoid(t)
            hidden_act = embedder.mlp[1](embedder.mlp[0](model_freq))
            t_emb = embedder.mlp[2](hidden_act)
        if not matches:
            notes.append(
                f"The shipped model's MLP reads its own t_freq (dim {fdim}, max_period 10000, DiT flavour), so "
                f"`t_emb` below is computed from that, not from your knobs."
            )
        rows += [
            (
                "`hidden`",
                f"`[{batch}, {hidden}]`",
                f"`SiLU(Linear({fdim}→{hidden}))` (trained)",
                per_row(lambda i: _fmt_vec(hidden_act[i])),
            ),
            (
                "`t_emb`",
                f"`[{batch}, {hidden}]`",
                f"`Linear({hidden}→{hidden})` (trained)",
                per_row(lambda i: f"{_fmt_vec(t_emb[i])}, norm {float(t_emb[i].norm()):.4g}"),
            ),
        ]
        notes.append(
            f"Next, `c = t_emb + y_emb` (`[{batch}, {hidden}]`) goes to every block, where "
            f"`adaLN_modulation(c)` makes `[{batch}, {6 * hidden}]` = six `[{batch}, {hidden}]` vectors "
            "(shift, scale, gate for attention and for the MLP)."
        )
    elif embedder_note:
        notes.append(embedder_note)
    if batch > 1 and all(v == t_values[0] for v in t_values):
        notes.insert(0, "Every sample has the same t, so every row is identical. Try `0, 4, 500, 999`.")
    elif batch > 1:
        notes.insert(0, "Each row is computed from its own t alone: rows never mix.")
    table = "| step | shape | what | numbers |\n|---|---|---|---|\n" + "\n".join(
        f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows
    )
    return "### One batch of t through the embedder\n\n" + table + "\n\n" + "\n\n".join(notes)


def embedding_view(
    dim=256,
    max_period=10000.0,
    t_start=0.0,
    t_end=999.0,
    n_t=1000,
    flavour="dit",
    inspect_t="4, 4, 4, 4",
    embedder=None,
    embedder_note=None,
):
    """Everything the timestep-embedding tab shows: dict of figures and markdown."""
    dim, max_period, t_start, t_end, n_t, flavour = validate_embedding_inputs(
        dim, max_period, t_start, t_end, n_t, flavour
    )
    t_values = parse_inspect_t(inspect_t)
    ts = t_grid(t_start, t_end, n_t)
    emb = embedding_matrix(ts, dim, max_period, flavour)
    info = column_info(dim, max_period, flavour)
    sim_rows = even_indices(n_t, MAX_HEATMAP_ROWS)
    sim_title, sim_sub = similarity_headline(ts, emb)
    notes = [
        (
            f"**Shapes:** t `[{n_t}]` → t_freq `[{n_t}, {dim}]`. Wavelengths run from "
            f"{_steps(info['wavelength'][0])} steps (column 0) to {_steps(info['wavelength'][info['half'] - 1])} steps "
            f"(column {info['half'] - 1}): the fast columns tell neighbouring steps apart, the slow ones say "
            "roughly where in the schedule t is."
        ),
        flavour_sentence(ts, dim, max_period, flavour),
    ]
    if len(sim_rows) < n_t or emb.shape[1] > MAX_HEATMAP_COLS:
        notes.append(
            f"*Downsampled for display:* the heatmaps show {len(sim_rows)} of {n_t} t rows and "
            f"{min(dim, MAX_HEATMAP_COLS)} of {dim} columns (evenly spaced); all statistics use every value."
        )
    return {
        "heatmap": embedding_heatmap(ts, emb, dim, max_period, flavour),
        "dims": dimension_lines(t_start, t_end, dim, max_period, flavour),
        "similarity": similarity_figure(ts, emb, sim_title, sim_sub, height=470),
        "inspector": inspector_markdown(t_values, dim, max_period, flavour, embedder, embedder_note),
        "notes": "\n\n".join(notes),
    }


# ---------------------------------------------------------------------------------------------
# View 2: with vs without the MLP, and into the blocks
# ---------------------------------------------------------------------------------------------


@lru_cache(maxsize=4)
def _fresh_dit(config_items, seed):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return DiT(**dict(config_items)).eval()


def fresh_timestep_embedder(config, seed=0):
    """A `TimestepEmbedder` with the reference initialisation: taken from a freshly built, seeded DiT."""
    return _fresh_dit(tuple(sorted(config.items())), int(seed)).t_embedder


def embedding_family(model, seed=0, ts=None):
    """{'raw', 'trained', 'fresh'}: `[T, .]` numpy embeddings of every integer t (or `ts`)."""
    ts = torch.arange(NUM_TIMESTEPS, dtype=torch.float32) if ts is None else torch.as_tensor(ts, dtype=torch.float32)
    fresh = fresh_timestep_embedder(model.config_dict(), seed)
    with torch.no_grad():
        raw = model.t_embedder.sinusoid(ts)
        return {"raw": raw.numpy(), "trained": model.t_embedder.mlp(raw).numpy(), "fresh": fresh.mlp(raw).numpy()}


@lru_cache(maxsize=4)
def family_stats(model, seed=0):
    """Embeddings of t = 0..999 and their statistics, computed once per (model, seed)."""
    family = embedding_family(model, seed)
    stats = {"family": family, "pca": {}, "ratio": {}, "steps": {}}
    for name, emb in family.items():
        stats["pca"][name], stats["ratio"][name] = pca(emb, k=3)
        stats["steps"][name] = neighbour_distinguishability(emb)
    return stats


def pca(emb, k=3):
    """`(projection [T, k], explained variance ratio [D])` of the centred rows of `emb`."""
    centred = np.asarray(emb, dtype=np.float64) - np.mean(emb, axis=0)
    var, vectors = (v.numpy() for v in torch.linalg.eigh(torch.from_numpy(centred.T @ centred)))
    var, vectors = np.clip(var[::-1], 0, None), vectors[:, ::-1]
    ratio = var / var.sum() if var.sum() > 0 else np.zeros_like(var)
    return centred @ vectors[:, :k], ratio


def components_for(ratio, fraction=0.9):
    """How many principal components explain `fraction` of the variance."""
    return int(np.searchsorted(np.cumsum(ratio), fraction - 1e-12) + 1)


def participation_ratio(ratio):
    """(sum of variances)^2 / sum of squared variances: an effective number of dimensions."""
    return float(ratio.sum() ** 2 / np.sum(ratio**2)) if np.sum(ratio**2) > 0 else 0.0


def neighbour_distinguishability(emb):
    """`||e(t+1) - e(t)||` divided by the median `||e(t)||`, for consecutive rows: `[T - 1]`."""
    emb = np.asarray(emb, dtype=np.float64)
    steps = np.linalg.norm(np.diff(emb, axis=0), axis=1)
    return steps / max(float(np.median(np.linalg.norm(emb, axis=1))), 1e-12)


def _panel_titles(family):
    return [f"{EMBEDDING_NAMES[name]} [{family[name].shape[1]}]" for name in family]


def _grid(n_rows, n_cols, titles, hspace=0.06, vspace=0.14, scenes=False):
    """Axes (or 3-D scenes) of an n_rows x n_cols grid, as layout entries plus per-cell trace references.

    Returns `(refs, layout)`: `refs[i]` is `{"xaxis": "x2", "yaxis": "y2"}` (or `{"scene": "scene2"}`) for
    cell i in row-major order; `layout` holds the axis domains and one title annotation per cell.
    """
    width = (1 - hspace * (n_cols - 1)) / n_cols
    height = (1 - vspace * (n_rows - 1)) / n_rows
    refs, layout, annotations = [], {}, []
    for i in range(n_rows * n_cols):
        r, c = divmod(i, n_cols)
        suffix = "" if i == 0 else str(i + 1)
        x0, y1 = c * (width + hspace), 1 - r * (height + vspace)
        x0, x1, y0, y1 = (min(max(round(v, 6), 0.0), 1.0) for v in (x0, x0 + width, y1 - height, y1))
        if scenes:
            layout[f"scene{suffix}"] = {"domain": {"x": [x0, x1], "y": [y0, y1]}}
            refs.append({"scene": f"scene{suffix}"})
        else:
            layout[f"xaxis{suffix}"] = {"domain": [x0, x1], "anchor": f"y{suffix}"}
            layout[f"yaxis{suffix}"] = {"domain": [y0, y1], "anchor": f"x{suffix}"}
            refs.append({"xaxis": f"x{suffix}", "yaxis": f"y{suffix}"})
        if i < len(titles):
            annotations.append(
                {
                    "text": titles[i],
                    "x": (x0 + x1) / 2,
                    "y": y1,
                    "xref": "paper",
                    "yref": "paper",
                    "xanchor": "center",
                    "yanchor": "bottom",
                    "showarrow": False,
                    "font": {"size": 14},
                }
            )
    layout["annotations"] = annotations
    return refs, layout


def _axis(layout, ref, **props):
    """Merge axis properties into the grid layout entry of `ref` ('x2' -> layout['xaxis2'])."""
    name = ref[0] + "axis" + ref[1:]
    layout[name] = {**layout[name], **props}


def mlp_heatmaps(family):
    rows = even_indices(len(family["raw"]), MLP_HEATMAP_ROWS)
    ts = rows.astype(np.float32)
    data, titles = [], []
    for name, emb in family.items():
        z = emb[rows].astype(np.float32)
        bound = float(np.abs(z).max()) or 1.0
        titles.append(
            f"{EMBEDDING_NAMES[name]} [{emb.shape[1]}]<br><span style='font-size:12px'>colour ±{bound:.2g}</span>"
        )
        data.append(
            {
                "type": "heatmap",
                "z": z,
                "y": ts,
                "colorscale": "RdBu",
                "zmin": -bound,
                "zmax": bound,
                "showscale": False,
                "hovertemplate": f"{EMBEDDING_NAMES[name]}<br>t = %{{y}}<br>dim %{{x}}<br>"
                "value %{z:.4f}<extra></extra>",
            }
        )
    refs, grid = _grid(1, 3, titles)
    for trace, ref in zip(data, refs, strict=True):
        trace.update(ref)
        _axis(grid, ref["xaxis"], title={"text": "dimension"})
        _axis(grid, ref["yaxis"], autorange="reversed", title={"text": "t" if ref["yaxis"] == "y" else ""})
    layout = _layout(
        "The same t, before and after the MLP",
        "rows = t (every 10th step), each panel on its own colour range (red −, blue +)",
        height=430,
        margin={"l": 60, "r": 20, "t": 120, "b": 55},
        **grid,
    )
    return _one_pass(data, layout)


def centred(emb):
    """Rows minus their mean over t: only what changes with t."""
    emb = np.asarray(emb, dtype=np.float64)
    return emb - emb.mean(axis=0)


def offset_share(emb):
    """Share of the mean squared norm that is the constant offset (the mean over t): 0..1."""
    emb = np.asarray(emb, dtype=np.float64)
    total = float(np.mean(np.sum(emb**2, axis=1)))
    return float(np.sum(emb.mean(axis=0) ** 2)) / total if total > 0 else 0.0


def mlp_similarities(family):
    """Cosine similarity t x t of each embedding, as is (top) and with its mean over t removed (bottom)."""
    rows = even_indices(len(family["raw"]), MLP_HEATMAP_ROWS)
    ts = rows.astype(np.float32)
    titles = _panel_titles(family) + [f"{EMBEDDING_NAMES[name]} minus its mean over t" for name in family]
    refs, grid = _grid(2, 3, titles, hspace=0.07, vspace=0.14)
    data = []
    for transform in (np.asarray, centred):
        for emb in family.values():
            ref = refs[len(data)]
            data.append(
                {
                    "type": "heatmap",
                    "z": cosine_similarity_matrix(transform(emb)[rows]).astype(np.float32),
                    "x": ts,
                    "y": ts,
                    "coloraxis": "coloraxis",
                    "hovertemplate": "t = %{y} vs t' = %{x}<br>cosine %{z:.3f}<extra></extra>",
                    **ref,
                }
            )
            first_column = ref["yaxis"] in ("y", "y4")
            _axis(grid, ref["yaxis"], autorange="reversed", title={"text": "t" if first_column else ""})
            _axis(grid, ref["xaxis"], title={"text": "t'" if len(data) > 3 else ""})
    layout = _layout(
        "Which steps look alike (cosine similarity, t × t)",
        "top: the vectors as the network gets them; bottom: after removing their mean over t "
        "(a constant offset makes every t look alike). Blue = alike, red = opposite.",
        height=720,
        margin={"l": 60, "r": 20, "t": 110, "b": 55},
        coloraxis={"colorscale": "RdBu", "cmin": -1, "cmax": 1, "colorbar": {"title": {"text": "cos"}}},
        **grid,
    )
    return _one_pass(data, layout)


def pca_figure(stats, dims=2):
    """PCA trajectories over t = 0..999, coloured by t: 2-D scatter panels or 3-D scenes."""
    family = stats["family"]
    titles = [
        f"{title}: top {dims} PCs explain {100 * stats['ratio'][name][:dims].sum():.0f}%"
        for title, name in zip(_panel_titles(family), family, strict=True)
    ]
    refs, grid = _grid(1, 3, titles, scenes=dims == 3)
    data = []
    for i, name in enumerate(family):
        proj, ratio = stats["pca"][name], stats["ratio"][name]
        keep = even_indices(len(proj), 500 if dims == 3 else 1000)
        ts = keep.astype(np.float32)
        marker = {
            "color": ts,
            "colorscale": "Viridis",
            "size": 3 if dims == 3 else 5,
            "cmin": 0,
            "cmax": NUM_TIMESTEPS - 1,
            "showscale": i == 2,
            "colorbar": {"title": {"text": "t"}, "thickness": 14},
        }
        pct = [f"PC{j + 1} ({100 * ratio[j]:.0f}%)" if j < len(ratio) else f"PC{j + 1}" for j in range(3)]
        trace = {"x": proj[keep, 0].astype(np.float32), "y": proj[keep, 1].astype(np.float32), "marker": marker}
        if dims == 3:
            trace.update(
                type="scatter3d",
                z=proj[keep, 2].astype(np.float32),
                mode="markers",
                hovertemplate="t = %{marker.color}<extra></extra>",
                **refs[i],
            )
            grid[refs[i]["scene"]].update(
                {
                    axis: {"title": {"text": f"PC{j + 1}"}, "showticklabels": False}
                    for j, axis in enumerate(("xaxis", "yaxis", "zaxis"))
                }
            )
        else:
            trace.update(
                type="scatter",
                mode="lines+markers",
                line={"color": "rgba(120,120,120,0.35)", "width": 1},
                hovertemplate="t = %{marker.color}<br>(%{x:.3g}, %{y:.3g})<extra></extra>",
                **refs[i],
            )
            _axis(grid, refs[i]["xaxis"], title={"text": pct[0]})
            _axis(grid, refs[i]["yaxis"], title={"text": pct[1]})
        data.append(trace)
    label = "3-D" if dims == 3 else "2-D"
    layout = _layout(
        f"The path t = 0 → 999 takes, projected on its top principal components ({label})",
        "colour = t; the % is the share of variance each axis explains",
        height=460 if dims == 3 else 430,
        margin={"l": 60, "r": 20, "t": 110, "b": 55},
        showlegend=False,
        **grid,
    )
    return _one_pass(data, layout)


def distinguishability_figure(stats):
    data = []
    for name in ("trained", "fresh", "raw"):  # the flat raw line last, so it is drawn on top
        steps = stats["steps"][name]
        data.append(
            {
                "type": "scatter",
                "x": np.arange(len(steps), dtype=np.float32),
                "y": steps.astype(np.float32),
                "mode": "lines",
                "name": EMBEDDING_NAMES[name],
                "line": {
                    "color": EMBEDDING_COLOURS[name],
                    "width": 3 if name == "raw" else 1.5,
                    "dash": "dash" if name == "raw" else "solid",
                },
                "hovertemplate": f"{EMBEDDING_NAMES[name]}<br>t = %{{x}} → %{{x}}+1<br>"
                "step / typical norm = %{y:.3g}<extra></extra>",
            }
        )
    values = np.concatenate(list(stats["steps"].values()))
    spread = values.max() / max(values.min(), 1e-12)
    layout = _layout(
        "How far one step moves the embedding",
        "higher = neighbouring steps easier to tell apart",
        height=430,
        margin={"l": 80, "r": 20, "t": 90, "b": 110},
        xaxis={"title": {"text": "t"}},
        yaxis={"type": "log" if spread > 20 else "linear", "title": {"text": "‖e(t+1) − e(t)‖ / median ‖e‖"}},
        legend={"orientation": "h", "y": -0.22, "x": 0},
        shapes=[
            {
                "type": "rect",
                "x0": 0,
                "x1": 100,
                "xref": "x",
                "y0": 0,
                "y1": 1,
                "yref": "paper",
                "fillcolor": "#999",
                "opacity": 0.12,
                "line": {"width": 0},
            }
        ],
        annotations=[
            {"text": "t < 100", "x": 2, "xref": "x", "xanchor": "left", "y": 1, "yref": "paper", "showarrow": False}
        ],
    )
    return _one_pass(data, layout)


def modulation_strength(model, label, ts):
    """Mean |value| of each adaLN-Zero modulation vector: `[6 kinds, depth, len(ts)]`, plus the trace."""
    ts = torch.as_tensor(ts, dtype=torch.float32)
    trace = model.trace_conditioning(ts, torch.full((len(ts),), int(label), dtype=torch.long))
    strength = np.stack(
        [
            np.stack([np.abs(block[kind].numpy()).mean(axis=1) for block in trace["modulation"]])
            for kind in MODULATION_NAMES
        ]
    )
    return strength, trace


def modulation_figure(ts, strength, label_name):
    depth = strength.shape[1]
    ts = np.asarray(ts, dtype=np.float32)
    refs, grid = _grid(2, 3, list(MODULATION_NAMES), hspace=0.06, vspace=0.2)
    data = []
    for i, kind in enumerate(MODULATION_NAMES):
        data.append(
            {
                "type": "heatmap",
                "z": strength[i].astype(np.float32),
                "x": ts,
                "y": np.arange(depth),
                "coloraxis": "coloraxis",
                "hovertemplate": f"{kind}<br>block %{{y}}, t = %{{x}}<br>mean |value| = %{{z:.4g}}<extra></extra>",
                **refs[i],
            }
        )
        _axis(
            grid,
            refs[i]["yaxis"],
            tickvals=list(range(depth)),
            autorange="reversed",
            title={"text": "block" if i % 3 == 0 else ""},
        )
        _axis(grid, refs[i]["xaxis"], title={"text": "t" if i >= 3 else ""})
    layout = _layout(
        f"How hard c = t_emb + y_emb drives each block's adaLN-Zero (class {label_name})",
        "mean |shift|, |scale|, |gate| over the hidden units; gates start at exactly 0 (adaLN-Zero)",
        height=520,
        margin={"l": 70, "r": 20, "t": 110, "b": 55},
        coloraxis={"colorscale": "Viridis", "colorbar": {"title": {"text": "mean |·|"}}},
        **grid,
    )
    return _one_pass(data, layout)


def _times(a, b):
    """'3.2× more' / '2.1× less' for a/b."""
    if b <= 0 or a <= 0:
        return "not comparably"
    ratio = a / b
    factor = ratio if ratio >= 1 else 1 / ratio
    amount = f"{factor:.2g}" if factor < 10 else f"{factor:,.0f}"
    return f"{amount}× {'more' if ratio >= 1 else 'less'}"


def mlp_summary(stats, strength, trace, label_name):
    """A few sentences computed from the live numbers."""
    family = stats["family"]
    early = {name: float(v[:100].mean()) for name, v in stats["steps"].items()}
    late = {name: float(v[-100:].mean()) for name, v in stats["steps"].items()}
    ratios = stats["ratio"]
    eff = {name: components_for(r, 0.9) for name, r in ratios.items()}
    pr = {name: participation_ratio(r) for name, r in ratios.items()}
    far = {name: float(cosine_similarity_matrix(emb[[0, -1]])[0, 1]) for name, emb in family.items()}
    offset = {name: offset_share(emb) for name, emb in family.items()}
    lines = [
        (
            f"- **Neighbouring steps:** at t < 100 the trained MLP makes t and t+1 "
            f"**{_times(early['trained'], early['raw'])} distinguishable** than the raw sinusoid "
            f"(step / typical norm {early['trained']:.3g} vs {early['raw']:.3g}); at t ≥ 900 "
            f"{_times(late['trained'], late['raw'])} ({late['trained']:.3g} vs {late['raw']:.3g}). "
            f"The untrained MLP: {_times(early['fresh'], early['raw'])} at t < 100. The raw sinusoid moves by the same "
            "amount at every t (a rotation of each cos/sin pair), so its curve is flat."
        ),
        (
            f"- **Effective dimensionality** over t = 0..999 (principal components for 90 % of the variance): "
            f"raw {eff['raw']} of {family['raw'].shape[1]}, trained {eff['trained']} of {family['trained'].shape[1]}, "
            f"fresh {eff['fresh']} (participation ratio {pr['raw']:.1f} / {pr['trained']:.1f} / {pr['fresh']:.1f}). "
            "Fewer components = the MLP squeezes the 256 waves onto a low-dimensional curve."
        ),
        (
            f"- **First vs last step** (t = 0 vs t = 999) cosine similarity: raw {far['raw']:.2f}, "
            f"trained {far['trained']:.2f}, fresh {far['fresh']:.2f}."
        ),
        f"- **Constant offset:** the mean over t is {100 * offset['trained']:.0f} % of the trained t_emb's squared "
        f"length (raw {100 * offset['raw']:.0f} %, fresh {100 * offset['fresh']:.0f} %). "
        + (
            "Most of the trained vector is the same at every step; the step information rides on a smaller "
            "varying part (bottom row of the similarity plot)."
            if offset["trained"] > 0.5
            else "Most of the trained vector changes with t."
        ),
    ]
    t_norm = trace["t_emb"].norm(dim=1).numpy()
    y_norm = float(trace["y_emb"][0].norm())
    means = strength.mean(axis=(1, 2))
    top = int(np.argmax(means))
    per_t = strength[top].mean(axis=0)
    lines.append(
        f"- **Into the blocks** (class {label_name}): ‖t_emb‖ ranges {t_norm.min():.3g}–{t_norm.max():.3g} over t "
        f"while ‖y_emb‖ = {y_norm:.3g}, so in c = t_emb + y_emb the {'time' if t_norm.mean() > y_norm else 'class'} "
        f"part is larger. The strongest modulation is **{MODULATION_NAMES[top]}** (mean |value| {means[top]:.3g}); "
        f"across t it varies from {per_t.min():.3g} to {per_t.max():.3g} (averaged over blocks)."
    )
    return "\n".join(lines)


def mlp_view(model, label=3, seed=0):
    """Everything the with/without-MLP tab shows, for class `label` (num_classes = the null class)."""
    num_classes = model.config.num_classes
    label = _as_int(label, "class label", 0, num_classes)
    seed = _as_int(seed, "seed", 0, 2**31 - 1)
    label_name = f"∅ (null, {label})" if label == num_classes else str(label)
    stats = family_stats(model, seed)
    ts = np.round(np.linspace(0, NUM_TIMESTEPS - 1, MODULATION_T_POINTS))
    strength, trace = modulation_strength(model, label, ts)
    return {
        "heatmaps": mlp_heatmaps(stats["family"]),
        "similarities": mlp_similarities(stats["family"]),
        "pca2d": pca_figure(stats, dims=2),
        "pca3d": pca_figure(stats, dims=3),
        "distinguishability": distinguishability_figure(stats),
        "modulation": modulation_figure(ts, strength, label_name),
        "summary": mlp_summary(stats, strength, trace, label_name),
    }


# ---------------------------------------------------------------------------------------------
# View 3: the CFG sweep
# ---------------------------------------------------------------------------------------------


def cfg_explainer_markdown(scales=None):
    """The guidance formula in DiT's `s` convention, with the Ho & Salimans `w` for the chosen scales."""
    text = (
        "$$\\hat\\epsilon = \\epsilon_u + s\\,(\\epsilon_c - \\epsilon_u) = s\\,\\epsilon_c + (1-s)\\,\\epsilon_u$$\n\n"
        "One network gives both: $\\epsilon_c$ with the digit, $\\epsilon_u$ with the null label ∅ (row 10). "
        "**s = 0** unconditional · **s = 1** conditional · **s > 1** pushes past the conditional prediction, away "
        "from the unconditional one. Ho & Salimans' $(1+w)\\,\\epsilon_c - w\\,\\epsilon_u$ means **w = s − 1**."
    )
    if scales:
        pairs = ", ".join(f"s = {_fmt(s)} → w = {_fmt(s - 1)}" for s in scales)
        text += f"\n\nThis sweep: {pairs}."
    return text


def _font(size):
    return ImageFont.load_default(size=size)


def labelled_grid(images, col_labels, row_labels=None, cell=84, pad=6, font_size=18):
    """uint8 `[R, C, H, W]` -> PIL image with column headers (and row labels), pixels upscaled to `cell`."""
    images = np.asarray(images, dtype=np.uint8)
    n_rows, n_cols = images.shape[:2]
    font = _font(font_size)
    header = font_size + 2 * pad + 4
    label_lines = [str(label).split("\n") for label in (row_labels or [])]
    left = 0
    if row_labels:
        left = max(int(font.getlength(line)) for lines in label_lines for line in lines) + 2 * pad
    width = left + n_cols * (cell + pad) + pad
    height = header + n_rows * (cell + pad) + pad
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    for c, text in enumerate(col_labels):
        x = left + pad + c * (cell + pad) + cell / 2
        draw.text((x, header / 2), str(text), fill="black", font=font, anchor="mm")
    for r in range(n_rows):
        y = header + r * (cell + pad)
        if row_labels:
            lines = label_lines[r]
            for i, line in enumerate(lines):
                offset = (i - (len(lines) - 1) / 2) * (font_size + 2)
                draw.text((left - pad, y + cell / 2 + offset), line, fill="black", font=font, anchor="rm")
        for c in range(n_cols):
            tile = Image.fromarray(images[r, c]).resize((cell, cell), Image.NEAREST)
            canvas.paste(tile.convert("RGB"), (left + pad + c * (cell + pad), y))
    return canvas


def sweep_grid(samples, scales, row_labels=None, cell=84):
    """The CFG sweep as a picture: uint8 `[S, N, H, W]` -> columns = scales ("s = ..." headers), rows = samples."""
    samples = np.asarray(samples, dtype=np.uint8)
    if len(scales) != samples.shape[0] or (row_labels is not None and len(row_labels) != samples.shape[1]):
        raise ValueError(f"samples {samples.shape} do not match {len(scales)} scales / row labels")
    return labelled_grid(np.swapaxes(samples, 0, 1), [f"s = {_fmt(s)}" for s in scales], row_labels, cell=cell)


def capture_steps(steps, n_frames=6):
    """Which step numbers (1-based, after that many steps) to keep for the trajectory: always the last."""
    return sorted({round(v) for v in np.linspace(1, steps, min(n_frames, steps))})


def trajectory_image(frames, scales, steps):
    """`frames`: {step: uint8 `[S, H, W]`} predicted x0 of one row -> rows = steps, columns = scales."""
    timesteps = sampling_timesteps(steps)
    order = sorted(frames)
    images = np.stack([frames[k] for k in order])
    labels = [f"step {k}/{steps}\nt = {timesteps[k - 1]}" for k in order]
    return labelled_grid(images, [f"s = {_fmt(s)}" for s in scales], labels, cell=72, font_size=17)


def metrics_figure(scales, metrics, note=None):
    """Judge accuracy and confidence (left axis) and diversity (right axis) against the guidance scale."""
    if not metrics:
        return message_figure(note or "The judge is not available, so there are no scores for this run.")
    order = np.argsort(scales, kind="stable")
    xs = [float(scales[i]) for i in order]
    fig = _subplots(specs=[[{"secondary_y": True}]])
    for key, label in (("accuracy", "judge accuracy"), ("confidence", "judge confidence")):
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=[metrics[i][key] for i in order],
                mode="lines+markers",
                name=label,
                line={"color": KIND_COLOURS[key], "width": 3},
                marker={"size": 10},
                hovertemplate=f"s = %{{x}}<br>{label} %{{y:.3f}}<extra></extra>",
            ),
            secondary_y=False,
        )
    if all(m.get("diversity") is not None for m in metrics):
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=[metrics[i]["diversity"] for i in order],
                mode="lines+markers",
                name="diversity (right axis)",
                line={"color": KIND_COLOURS["diversity"], "width": 3, "dash": "dash"},
                marker={"size": 10, "symbol": "square"},
                hovertemplate="s = %{x}<br>diversity %{y:.3g}<extra></extra>",
            ),
            secondary_y=True,
        )
    fig.update_yaxes(title_text="accuracy / confidence", range=[0, 1.05], secondary_y=False)
    fig.update_yaxes(title_text="diversity", secondary_y=True, showgrid=False, rangemode="tozero")
    pad = max((max(xs) - min(xs)) * 0.05, 0.25)
    fig.update_xaxes(title_text="guidance scale s", range=[min(xs) - pad, max(xs) + pad])
    for s in (0, 1):
        if min(xs) <= s <= max(xs):
            fig.add_vline(x=s, line={"color": "#888", "dash": "dot"})
    fig.update_layout(legend={"orientation": "h", "y": -0.3, "x": 0})
    note = note or "dotted lines: s = 0 unconditional, s = 1 conditional"
    return _style(
        fig,
        accuracy_headline(xs, [metrics[i]["accuracy"] for i in order]),
        note,
        height=420,
        margin={"l": 70, "r": 70, "t": 90, "b": 115},
    )


def accuracy_headline(scales, accuracy):
    """A title that states what the judge saw across the scales."""
    lo, hi = min(accuracy), max(accuracy)
    if hi - lo < 0.05:
        return f"The judge's view: accuracy is flat at {hi:.2f} across these scales"
    best = [s for s, a in zip(scales, accuracy, strict=True) if a == hi]
    where = f"s = {_fmt(best[0])}" if len(best) == 1 else f"s = {', '.join(_fmt(s) for s in best)}"
    return f"The judge's view: accuracy {lo:.2f} to {hi:.2f}, highest at {where}"


def cfg_summary_markdown(label, scales, metrics, elapsed_s, steps, sampler, judge_note=None):
    lines = [
        (
            f"**Class {label}**, {len(scales)} scales, {steps} {sampler} steps, sampled in {elapsed_s:.1f} s. "
            "Every row starts from the same noise at every scale, so a row shows what guidance alone changes."
        )
    ]
    if metrics:
        header = (
            "| s | w = s − 1 | judge accuracy | confidence | entropy of judged labels | pixel diversity |\n"
            "|---|---|---|---|---|---|"
        )
        rows = [
            f"| {_fmt(s)} | {_fmt(s - 1)} | {m['accuracy']:.2f} | {m['confidence']:.2f} | "
            f"{m.get('label_entropy', float('nan')):.2f} | "
            + (f"{m['diversity']:.3g}" if m.get("diversity") is not None else "– (needs 2 samples)")
            + " |"
            for s, m in zip(scales, metrics, strict=True)
        ]
        lines.append("\n".join([header, *rows]))
        lines.append(
            "Accuracy: share of samples the judge reads as the requested digit. Entropy (nats) of the judged "
            "labels: 0 = all read as one digit, ln 10 = 2.30 = spread over all ten. Diversity: mean pixel distance "
            "between samples of the same scale (lower = more alike)."
            + (" At s = 0 the label is ignored, so accuracy there is about chance." if 0 in scales else "")
        )
    if judge_note:
        lines.append(judge_note)
    return "\n\n".join(lines)


# ---------------------------------------------------------------------------------------------
# View 4: the model card
# ---------------------------------------------------------------------------------------------


EVALUATION_COLUMNS = (  # (row key, header) of the judge's table per guidance scale
    ("samples", "samples"),
    ("accuracy", "accuracy"),
    ("confidence", "confidence"),
    ("label_entropy", "label entropy (nats)"),
    ("frechet", "Frechet (judge features)"),
    ("diversity", "diversity"),
    ("nearest_train_mean", "nearest train digit"),
)


def evaluation_table(rows):
    """Rows of `evaluate.evaluate_scales` (or of a card) as a markdown table, metrics to 3 decimals."""

    def cell(value):
        return "-" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)

    header = "| | " + " | ".join(title for _, title in EVALUATION_COLUMNS) + " |"
    lines = [header, "|---" * (len(EVALUATION_COLUMNS) + 1) + "|"]
    for row in rows:
        lines.append(f"| {row['name']} | " + " | ".join(cell(row.get(k)) for k, _ in EVALUATION_COLUMNS) + " |")
    return "\n".join(lines)


def evaluation_markdown(evaluation):
    """The card's `evaluation` entry: the command and sampler that made it, the table, its notes."""
    settings = evaluation.get("settings", {})
    made_by = ", ".join(f"{k} {v}" for k, v in settings.items())
    parts = [f"`{evaluation.get('command', '')}` ({made_by})", evaluation_table(evaluation.get("rows", []))]
    if evaluation.get("notes"):
        parts.append(evaluation["notes"])
    return "\n\n".join(parts)


def parameter_breakdown(model):
    groups = {}
    for name, p in model.named_parameters():
        top = name.split(".")[0]
        groups[top] = groups.get(top, 0) + p.numel()
    return groups


def model_card_markdown(card, model=None):
    cfg = card.get("config", {})
    training = card.get("training", {})
    parts = [f"## {card.get('name', 'DiT checkpoint')}"]
    if "PLACEHOLDER" in str(card.get("name", "")):
        parts.append(
            "> ⚠️ **This checkpoint is a placeholder** (a few training steps: it makes noise, not digits). "
            "Everything on these tabs is computed live, so the views update when the release checkpoint arrives."
        )
    if cfg:
        tokens = (cfg.get("input_size", 0) // max(cfg.get("patch_size", 1), 1)) ** 2
        parts.append(
            "**Config:** "
            + ", ".join(f"`{k}={v}`" for k, v in cfg.items())
            + f" → {tokens} tokens of {cfg.get('patch_size')}×{cfg.get('patch_size')} pixels."
        )
    n_params = card.get("parameters")
    if model is not None:
        n_params = model.num_parameters()
        groups = parameter_breakdown(model)
        parts.append(
            f"**Parameters:** {n_params:,} — "
            + ", ".join(f"{name} {count:,}" for name, count in sorted(groups.items(), key=lambda kv: -kv[1]))
        )
    elif n_params:
        parts.append(f"**Parameters:** {n_params:,}")
    if card.get("weights"):
        parts.append(f"**Weights:** {card['weights']}")
    if card.get("data"):
        parts.append(f"**Training data:** {card['data']}")
    if training:
        facts = [
            ("steps", training.get("steps")),
            ("global batch", training.get("global_batch")),
            ("optimizer", training.get("optimizer")),
            ("EMA decay", training.get("ema_decay")),
            ("label dropout", training.get("label_dropout")),
            ("objective", training.get("objective")),
            ("wall time", f"{training['wall_time_s'] / 60:.1f} min" if "wall_time_s" in training else None),
            ("hardware", training.get("hardware")),
            ("final loss", training.get("final_loss")),
        ]
        parts.append(
            "**Training:** "
            + "; ".join(f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}" for k, v in facts if v is not None)
            + "."
        )
    if card.get("evaluation"):
        parts.append("### Evaluation\n\n" + evaluation_markdown(card["evaluation"]))
    else:
        parts.append("*No evaluation in this card yet.*")
    return "\n\n".join(parts)


def loss_curve_figure(loss_log):
    if not loss_log:
        return message_figure("This model card has no loss log.")
    steps, losses = zip(*[(float(a), float(b)) for a, b in loss_log], strict=True)
    fig = _figure(
        go.Scatter(
            x=steps,
            y=losses,
            mode="lines+markers" if len(steps) < 60 else "lines",
            line={"width": 3, "color": "#1f77b4"},
            hovertemplate="step %{x}<br>loss %{y:.4f}<extra></extra>",
        )
    )
    fig.update_xaxes(title_text="training step")
    fig.update_yaxes(title_text="epsilon MSE", type="log")
    return _style(
        fig,
        f"Training loss: {losses[0]:.3g} → {losses[-1]:.3g} over {int(steps[-1]):,} steps",
        "noise-prediction error, logged during training",
        height=400,
    )


def label_table_figure(model):
    """Cosine similarity between the rows of the label-embedding table, null row included."""
    table = model.y_embedder.embedding_table.weight.detach().numpy()
    names = [str(i) for i in range(model.config.num_classes)] + (["∅"] if len(table) > model.config.num_classes else [])
    sim = cosine_similarity_matrix(table).astype(np.float32)
    fig = _figure(
        go.Heatmap(
            z=sim,
            x=names,
            y=names,
            colorscale="RdBu",
            zmin=-1,
            zmax=1,
            colorbar={"title": {"text": "cos"}},
            hovertemplate="label %{y} vs %{x}<br>cosine %{z:.3f}<extra></extra>",
        )
    )
    fig.update_xaxes(type="category", title_text="label row")
    fig.update_yaxes(type="category", autorange="reversed", title_text="label row", scaleanchor="x")
    return _style(
        fig,
        "The label table: 10 digits + the null class ∅",
        "cosine similarity between rows of y_embedder.embedding_table",
        height=430,
    )


def label_dropout_markdown(card):
    cfg = card.get("config", {})
    training = card.get("training", {})
    num_classes = cfg.get("num_classes", 10)
    p = training.get("label_dropout", cfg.get("class_dropout_prob", 0.1))
    text = (
        f"### How one network learned ∅, the unconditional model\n\n"
        f"The label table has **{num_classes + 1} rows**: one per digit and row **{num_classes}**, the null class ∅. "
        f"During training each label was replaced by ∅ with probability **{p}** (label dropout), so the same "
        "network learned to predict the noise with the digit (ε_c) and without it (ε_u). At sampling time, guidance "
        f"runs the batch twice, once with the digit and once with label {num_classes}, and mixes the two predictions."
    )
    if training.get("steps") and training.get("global_batch"):
        seen = training["steps"] * training["global_batch"]
        text += f" Over {seen:,} training examples that is about **{round(seen * p):,}** examples with ∅."
    return text
