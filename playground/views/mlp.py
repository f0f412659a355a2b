"""View 2, with vs without the MLP: the raw sinusoid, the trained `t_emb` and a fresh MLP, and what c drives.

`mlp_view` returns everything the tab shows; `DEFAULTS` are its arguments' defaults and the widgets' initial values.
The embeddings of t = 0..999 and their statistics are cached by the content of the model's `t_embedder` (a SHA-256
of its weights), its config and the seed: never by the module, which the cache must not keep alive.
"""

import hashlib
import threading
from collections import OrderedDict
from types import MappingProxyType

import numpy as np
import torch

from playground import plots
from playground.diffusion import NUM_TIMESTEPS
from playground.inputs import MAX_SEED, as_int
from playground.model import MODULATION_NAMES, DiT
from playground.plots import even_indices

MLP_HEATMAP_ROWS = 100  # t rows per panel in the with/without-MLP heatmaps and similarity matrices
MODULATION_T_POINTS = 250  # t columns of the modulation heatmaps
DEFAULTS = MappingProxyType({"label": 3, "seed": 0})

EMBEDDING_NAMES = {
    "raw": "raw sinusoid t_freq",
    "trained": "trained MLP t_emb",
    "fresh": "fresh MLP (initialisation)",
}
EMBEDDING_COLOURS = plots.COLOURS

_STATS_CACHE = OrderedDict()  # (weights digest, config, seed) -> stats, least recently used first
_STATS_CACHE_SIZE = 4
_STATS_LOCK = threading.Lock()


def validate_mlp_inputs(label, seed, num_classes):
    """Checked class label (0..num_classes, the last one the null class) and seed of the fresh MLP."""
    return as_int(label, "class label", 0, num_classes), as_int(seed, "seed", 0, MAX_SEED)


def fresh_timestep_embedder(config, seed=0):
    """A `TimestepEmbedder` with the reference initialisation: taken from a freshly built, seeded DiT."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return DiT(**config).eval().t_embedder


def embedding_family(model, seed=0, ts=None):
    """{'raw', 'trained', 'fresh'}: `[T, .]` numpy embeddings of every integer t (or `ts`)."""
    ts = torch.arange(NUM_TIMESTEPS, dtype=torch.float32) if ts is None else torch.as_tensor(ts, dtype=torch.float32)
    fresh = fresh_timestep_embedder(model.config_dict(), seed)
    with torch.no_grad():
        raw = model.t_embedder.sinusoid(ts)
        return {"raw": raw.numpy(), "trained": model.t_embedder.mlp(raw).numpy(), "fresh": fresh.mlp(raw).numpy()}


def embedder_digest(model):
    """SHA-256 of the weights of `model.t_embedder`: what the embedding statistics depend on, besides the seed."""
    digest = hashlib.sha256()
    for name, tensor in model.t_embedder.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().float().contiguous().numpy().tobytes())
    return digest.hexdigest()


def family_stats(model, seed=0):
    """Embeddings of t = 0..999 and their statistics, computed once per (t_embedder weights, config, seed)."""
    key = (embedder_digest(model), tuple(sorted(model.config_dict().items())), int(seed))
    with _STATS_LOCK:
        if key in _STATS_CACHE:
            _STATS_CACHE.move_to_end(key)
            return _STATS_CACHE[key]
    family = embedding_family(model, seed)
    stats = {"family": family, "pca": {}, "ratio": {}, "steps": {}}
    for name, emb in family.items():
        stats["pca"][name], stats["ratio"][name] = pca(emb, k=3)
        stats["steps"][name] = neighbour_distinguishability(emb)
    with _STATS_LOCK:
        _STATS_CACHE[key] = stats
        while len(_STATS_CACHE) > _STATS_CACHE_SIZE:
            _STATS_CACHE.popitem(last=False)
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


def panel_titles(family):
    return [f"{EMBEDDING_NAMES[name]} [{family[name].shape[1]}]" for name in family]


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
    refs, grid = plots.grid(1, 3, titles)
    for trace, ref in zip(data, refs, strict=True):
        trace.update(ref)
        plots.set_axis(grid, ref["xaxis"], title={"text": "dimension"})
        plots.set_axis(grid, ref["yaxis"], autorange="reversed", title={"text": "t" if ref["yaxis"] == "y" else ""})
    layout = plots.layout(
        "The same t, before and after the MLP",
        "rows = t (every 10th step), each panel on its own colour range (red −, blue +)",
        height=430,
        margin={"l": 60, "r": 20, "t": 120, "b": 55},
        **grid,
    )
    return plots.figure(data, layout)


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
    titles = panel_titles(family) + [f"{EMBEDDING_NAMES[name]} minus its mean over t" for name in family]
    refs, grid = plots.grid(2, 3, titles, hspace=0.07, vspace=0.14)
    data = []
    for transform in (np.asarray, centred):
        for emb in family.values():
            ref = refs[len(data)]
            data.append(
                {
                    "type": "heatmap",
                    "z": plots.cosine_similarity_matrix(transform(emb)[rows]).astype(np.float32),
                    "x": ts,
                    "y": ts,
                    "coloraxis": "coloraxis",
                    "hovertemplate": "t = %{y} vs t' = %{x}<br>cosine %{z:.3f}<extra></extra>",
                    **ref,
                }
            )
            first_column = ref["yaxis"] in ("y", "y4")
            plots.set_axis(grid, ref["yaxis"], autorange="reversed", title={"text": "t" if first_column else ""})
            plots.set_axis(grid, ref["xaxis"], title={"text": "t'" if len(data) > 3 else ""})
    layout = plots.layout(
        "Which steps look alike (cosine similarity, t × t)",
        "top: the vectors as the network gets them; bottom: after removing their mean over t "
        "(a constant offset makes every t look alike). Blue = alike, red = opposite.",
        height=720,
        margin={"l": 60, "r": 20, "t": 110, "b": 55},
        coloraxis={"colorscale": "RdBu", "cmin": -1, "cmax": 1, "colorbar": {"title": {"text": "cos"}}},
        **grid,
    )
    return plots.figure(data, layout)


def pca_figure(stats, dims=2):
    """PCA trajectories over t = 0..999, coloured by t: 2-D scatter panels or 3-D scenes."""
    family = stats["family"]
    titles = [
        f"{title}: top {dims} PCs explain {100 * stats['ratio'][name][:dims].sum():.0f}%"
        for title, name in zip(panel_titles(family), family, strict=True)
    ]
    refs, grid = plots.grid(1, 3, titles, scenes=dims == 3)
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
            plots.set_axis(grid, refs[i]["xaxis"], title={"text": pct[0]})
            plots.set_axis(grid, refs[i]["yaxis"], title={"text": pct[1]})
        data.append(trace)
    label = "3-D" if dims == 3 else "2-D"
    layout = plots.layout(
        f"The path t = 0 → 999 takes, projected on its top principal components ({label})",
        "colour = t; the % is the share of variance each axis explains",
        height=460 if dims == 3 else 430,
        margin={"l": 60, "r": 20, "t": 110, "b": 55},
        showlegend=False,
        **grid,
    )
    return plots.figure(data, layout)


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
    layout = plots.layout(
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
    return plots.figure(data, layout)


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
    refs, grid = plots.grid(2, 3, list(MODULATION_NAMES), hspace=0.06, vspace=0.2)
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
        plots.set_axis(
            grid,
            refs[i]["yaxis"],
            tickvals=list(range(depth)),
            autorange="reversed",
            title={"text": "block" if i % 3 == 0 else ""},
        )
        plots.set_axis(grid, refs[i]["xaxis"], title={"text": "t" if i >= 3 else ""})
    layout = plots.layout(
        f"How hard c = t_emb + y_emb drives each block's adaLN-Zero (class {label_name})",
        "mean |shift|, |scale|, |gate| over the hidden units; gates start at exactly 0 (adaLN-Zero)",
        height=520,
        margin={"l": 70, "r": 20, "t": 110, "b": 55},
        coloraxis={"colorscale": "Viridis", "colorbar": {"title": {"text": "mean |·|"}}},
        **grid,
    )
    return plots.figure(data, layout)


def times_more(a, b):
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
    far = {name: float(plots.cosine_similarity_matrix(emb[[0, -1]])[0, 1]) for name, emb in family.items()}
    offset = {name: offset_share(emb) for name, emb in family.items()}
    lines = [
        (
            f"- **Neighbouring steps:** at t < 100 the trained MLP makes t and t+1 "
            f"**{times_more(early['trained'], early['raw'])} distinguishable** than the raw sinusoid "
            f"(step / typical norm {early['trained']:.3g} vs {early['raw']:.3g}); at t ≥ 900 "
            f"{times_more(late['trained'], late['raw'])} ({late['trained']:.3g} vs {late['raw']:.3g}). "
            f"The untrained MLP: {times_more(early['fresh'], early['raw'])} at t < 100. "
            "The raw sinusoid moves by the same amount at every t (a rotation of each cos/sin pair), "
            "so its curve is flat."
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


def mlp_view(model, label=DEFAULTS["label"], seed=DEFAULTS["seed"]):
    """Everything the with/without-MLP tab shows, for class `label` (`model.null_class` = the null class)."""
    label, seed = validate_mlp_inputs(label, seed, model.null_class)
    label_name = f"∅ (null, {label})" if label == model.null_class else str(label)
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
