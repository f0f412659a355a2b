"""The timestep embedding: how one number t becomes `dim` cos/sin waves, and what the MLP reads.

`validate_embedding_inputs` checks a request once, into an `EmbeddingRequest`; `embedding_view` returns everything
the page shows for it. `DEFAULTS` are the widgets' initial values; the `MAX_*` caps bound the work of one request
and are shown next to the widgets.
"""

from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import torch

from playground import plots
from playground.embedding import FLAVOURS, frequencies, timestep_embedding
from playground.inputs import as_choice, as_float, as_int, fmt
from playground.stats import bin_means, even_indices
from playground.views.time.inspector import T_LIMITS, inspector_markdown, parse_inspect_t
from playground.views.time.similarity import (
    MAX_HEATMAP_ROWS,
    bin_size_text,
    display_rows,
    similarity_figure,
    similarity_headline,
    unresolved_columns,
)

MAX_DIM = 1024  # frequency-embedding size: columns of the embedding view
MIN_MAX_PERIOD, MAX_MAX_PERIOD = 2.0, 1e6
MAX_T_POINTS = 2000  # t rows of the embedding view
MAX_HEATMAP_COLS = 256  # dimension columns sent to the browser

T_TITLE = "t (0 clean → 999 noise)"  # the title of every horizontal t axis: app-wide, t increases to the right
DEFAULTS = MappingProxyType(
    {
        "dim": 256,
        "max_period": 10000.0,
        "t_start": 0.0,
        "t_end": 999.0,
        "n_t": 1000,
        "flavour": "dit",
        "inspect_t": "4, 4, 4, 4",
    }
)

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


@dataclass(frozen=True)
class EmbeddingRequest:
    """Checked knobs of the embedding view: `dim` waves of `flavour` up to `max_period`, `n_t` values of t from
    `t_start` to `t_end`, and the inspector's batch `inspect_t` (one t per image)."""

    dim: int
    max_period: float
    t_start: float
    t_end: float
    n_t: int
    flavour: str
    inspect_t: tuple[float, ...]


def validate_embedding_inputs(dim=DEFAULTS["dim"], max_period=DEFAULTS["max_period"], t_start=DEFAULTS["t_start"],
                              t_end=DEFAULTS["t_end"], n_t=DEFAULTS["n_t"], flavour=DEFAULTS["flavour"],
                              inspect_t=DEFAULTS["inspect_t"]):
    """An `EmbeddingRequest`, or ValueError naming the field."""
    flavour = as_choice(flavour, "flavour", FLAVOURS)
    min_dim = 2 + 2 * FLAVOURS[flavour][1]  # the diffusers flavours divide by half - 1
    dim = as_int(dim, "dim", min_dim, MAX_DIM)
    max_period = as_float(max_period, "max_period", MIN_MAX_PERIOD, MAX_MAX_PERIOD)
    t_start = as_float(t_start, "t start", *T_LIMITS)
    t_end = as_float(t_end, "t end", *T_LIMITS)
    n_t = as_int(n_t, "number of t", 1, MAX_T_POINTS)
    if t_end < t_start:
        raise ValueError(f"t end ({fmt(t_end)}) must not be below t start ({fmt(t_start)}).")
    return EmbeddingRequest(dim, max_period, t_start, t_end, n_t, flavour, tuple(parse_inspect_t(inspect_t)))


def fmt_steps(x):
    """A wavelength in steps: 6.28, 129, 1,010, 58,470."""
    return f"{x:.3g}" if x < 100 else f"{x:,.0f}"


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


def column_label(info, j):
    kind = info["kind"][j]
    if kind == "zero":
        return f"dim {j} (zero pad: odd dim)<br>always 0"
    return (
        f"dim {j} ({kind}, frequency #{info['k'][j]})<br>"
        f"ω = {info['omega'][j]:.4g} rad/step, one cycle every {fmt_steps(info['wavelength'][j])} steps"
    )


def binned_embedding(ts, emb, wavelength, max_rows=MAX_HEATMAP_ROWS):
    """The heatmap's cells `[rows, dim]`: bin means of `emb`, NaN (blank) in the columns too fast to draw."""
    bins, centres, spacing = display_rows(ts, max_rows)
    z = bin_means(emb, bins)
    z[:, unresolved_columns(wavelength, spacing)] = np.nan
    return z, centres, bins, spacing


def half_marks(info, cols, dim):
    """`(shapes, annotations)` of the heatmap: a dashed line where each half (and the zero pad) starts among the
    shown columns `cols`, and its name above it."""
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
    return shapes, annotations


def shown_text(bins, binned, n_cols, dim, blank, spacing):
    """What the heatmap's subtitle says of its display: bins of t, columns left out, columns too fast to draw."""
    shown = f" · {len(bins)} rows, each the mean of {bin_size_text(bins)} t" if binned else ""
    if n_cols < dim:
        shown += f" · {n_cols} of {dim} columns shown"
    if blank.any():
        shown += (
            f"<br>grey: {int(blank.sum())} columns whose wave repeats in under {fmt_steps(3 * spacing)} steps "
            f"(fewer than 3 rows per cycle at {fmt(spacing)} steps per row): too fast to draw"
        )
    return shown


def embedding_heatmap(ts, emb, dim, max_period, flavour):
    """Heatmap of t (rows) x dimension (columns), halves marked, hover with frequency and wavelength.

    More t than `MAX_HEATMAP_ROWS` are shown as bins (each cell the mean over its t), and columns whose wave the
    displayed rows sample fewer than 3 times per cycle are blank (grey), so no cell draws a wave that is not there.
    """
    info = column_info(dim, max_period, flavour)
    cols = even_indices(emb.shape[1], MAX_HEATMAP_COLS)
    z, centres, bins, spacing = binned_embedding(ts, emb[:, cols], info["wavelength"][cols])
    names = [column_label(info, j) for j in cols]
    binned = len(bins) < len(ts)
    row_text = f"mean over {bin_size_text(bins)} t around t = %{{y:.4g}}" if binned else "t = %{y:.4g}"
    heatmap = {
        "type": "heatmap",
        "z": z.astype(np.float32),
        "x": names,
        "y": centres.astype(np.float32),
        "colorscale": "RdBu",
        "zmin": -1,
        "zmax": 1,
        "colorbar": {"title": {"text": "value"}, "thickness": 14, "len": 0.8},
        "hoverongaps": False,
        "hovertemplate": f"{row_text}<br>%{{x}}<br>value = %{{z:.3f}}<extra></extra>",
    }
    tick_at = even_indices(len(cols), 9)
    shapes, annotations = half_marks(info, cols, dim)
    shown = shown_text(bins, binned, len(cols), emb.shape[1], np.isnan(z[0]), spacing)
    first, second = info["kind"][0], info["kind"][info["half"]]
    layout = plots.layout(
        f"Each t becomes {dim} numbers: a {first} half and a {second} half, each fast (left) to slow (right)",
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
        yaxis={"autorange": "reversed", "title": {"text": "t (one row = one t_freq vector)" if not binned else "t"}},
        plot_bgcolor="#b0b0b0",  # what blank (too fast) columns show
        shapes=shapes,
        annotations=annotations,
    )
    return plots.figure([heatmap], layout)


def pick_frequencies(wavelengths, span, n_lines=4, min_wavelength=0.0):
    """Frequency indices whose wavelengths are about span/8, span, 8 span and the slowest one.

    The fastest columns (6.28 steps per cycle) would fill a whole t range as a solid band; waves shorter than
    `min_wavelength` (3 samples per cycle of the drawn line) are never picked, so no line shows a folded wave.
    """
    span = max(float(span), 1.0)
    wavelengths = np.asarray(wavelengths, dtype=np.float64)
    allowed = np.flatnonzero(wavelengths >= min_wavelength)
    if not len(allowed):
        return allowed
    targets = [span / 8, span, 8 * span, float(wavelengths[-1])][: max(n_lines, 1)]
    log_w = np.log(wavelengths[allowed])
    picks = [int(allowed[np.argmin(np.abs(log_w - np.log(target)))]) for target in targets]
    return np.unique(picks)


def dimension_lines(t_start, t_end, dim, max_period, flavour, n_lines=4):
    """A few frequencies (cos solid, sin dotted) against densely sampled t: fast ones tell steps apart."""
    info = column_info(dim, max_period, flavour)
    half = info["half"]
    ts = np.linspace(t_start, t_end, MAX_T_POINTS) if t_end > t_start else np.array([t_start])
    emb = embedding_matrix(ts, dim, max_period, flavour)
    spacing = float(ts[1] - ts[0]) if len(ts) > 1 else 0.0
    ks = pick_frequencies(info["wavelength"][:half], t_end - t_start, n_lines, min_wavelength=3 * spacing)
    if not len(ks):
        return plots.message_figure(
            f"Every wave repeats in under {fmt_steps(3 * spacing)} steps: {MAX_T_POINTS} points over this t range "
            "would draw folded (false) waves. Narrow the t range.",
            title="Too fast to draw",
        )
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
                "text": f"frequency #{k}: one cycle every {fmt_steps(info['wavelength'][k])} steps "
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
    layout = plots.layout(
        "Fast columns separate steps, slow ones locate t",
        f"solid = cos, dotted = sin; the fastest (#0) repeats every {fmt_steps(info['wavelength'][0])} steps",
        height=470,
        margin={"l": 50, "r": 20, "t": 95, "b": 50},
        showlegend=False,
        xaxis={"title": {"text": T_TITLE}, "anchor": f"y{n if n > 1 else ''}"},
        annotations=annotations,
        **axes,
    )
    return plots.figure(data, layout)


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
    span = f"t in {fmt(ts[0])}..{fmt(ts[-1])}, dim {dim}"
    parts = []
    for name, (mx, mean) in diffs.items():
        mark = "**" if name == flavour else ""
        parts.append(f"{mark}{FLAVOUR_NOTES[name]}{mark}: up to {mx:.3g} in one element, {mean:.3g} on average")
    if not parts:
        return f"The diffusers variants need dim ≥ 4 to compare ({span})."
    return (
        f"**How far the diffusers variants are from DiT's embedding** ({span}, absolute difference): "
        + "; ".join(parts)
        + ". A checkpoint trained with one variant sees different numbers under another; whether that matters "
        "is measured in the flavour check below."
    )


def embedding_view(request, embedder=None, embedder_note=None):
    """Everything the page shows for an `EmbeddingRequest`: dict of figures and markdown. `embedder`: the served
    model's `t_embedder`, for the inspector's last rows (else `embedder_note` says why there are none)."""
    dim, max_period, flavour = request.dim, request.max_period, request.flavour
    t_start, t_end, n_t = request.t_start, request.t_end, request.n_t
    ts = t_grid(t_start, t_end, n_t)
    emb = embedding_matrix(ts, dim, max_period, flavour)
    info = column_info(dim, max_period, flavour)
    bins, _, spacing = display_rows(ts)
    blank = int(unresolved_columns(info["wavelength"][even_indices(dim, MAX_HEATMAP_COLS)], spacing).sum())
    sim_title, sim_sub = similarity_headline(ts, emb)
    notes = [
        (
            f"**Shapes:** t `[{n_t}]` → t_freq `[{n_t}, {dim}]`. Wavelengths run from "
            f"{fmt_steps(info['wavelength'][0])} steps (column 0) to "
            f"{fmt_steps(info['wavelength'][info['half'] - 1])} steps "
            f"(column {info['half'] - 1}): the fast columns tell neighbouring steps apart, the slow ones say "
            "roughly where in the schedule t is."
        ),
        flavour_sentence(ts, dim, max_period, flavour),
    ]
    shown = []
    if len(bins) < n_t:
        shown.append(
            f"the heatmaps show {len(bins)} rows, each the **mean** over {bin_size_text(bins)} consecutive t (a wave "
            "too fast for its bin averages towards 0 instead of folding into a false slow wave)"
        )
    if dim > MAX_HEATMAP_COLS:
        shown.append(f"{MAX_HEATMAP_COLS} of {dim} columns (evenly spaced)")
    if blank:
        shown.append(
            f"{blank} columns are grey: their waves repeat in under {fmt_steps(3 * spacing)} steps, fewer than 3 "
            f"displayed rows ({fmt(spacing)} steps apart) per cycle"
        )
    if shown:
        notes.append("*For display:* " + "; ".join(shown) + ". The headlines and the inspector use every value.")
    return {
        "heatmap": embedding_heatmap(ts, emb, dim, max_period, flavour),
        "dims": dimension_lines(t_start, t_end, dim, max_period, flavour),
        "similarity": similarity_figure(ts, emb, sim_title, sim_sub, height=470),
        "inspector": inspector_markdown(request.inspect_t, dim, max_period, flavour, embedder, embedder_note),
        "notes": "\n\n".join(notes),
    }
