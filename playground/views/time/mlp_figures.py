"""The figures of the MLP page: the three embeddings over t = 0..999, their similarities, PCA paths, step lengths
and the signal level the trained one tracks. `views.time.mlp` computes the statistics they draw.

Heatmap rows are bins of consecutive t, each cell the mean over its bin; raw-sinusoid columns too fast for the
displayed rows are blank (`views.time.similarity`).
"""

import numpy as np

from playground import plots
from playground.diffusion import NUM_TIMESTEPS
from playground.stats import bin_means, binned_cosine_similarity, even_indices, row_bins
from playground.views.time.similarity import bin_size_text, unresolved_columns
from playground.views.time.waves import T_TITLE, column_info

MLP_HEATMAP_ROWS = 100  # t rows per panel in the heatmaps and similarity matrices: bins, each the mean over its t
EMBEDDING_NAMES = {
    "raw": "raw sinusoid t_freq",
    "trained": "trained MLP t_emb",
    "fresh": "fresh MLP (initialisation)",
}


def panel_titles(family):
    return [f"{EMBEDDING_NAMES[name]} [{family[name].shape[1]}]" for name in family]


def mlp_heatmaps(family):
    """The three embeddings over t, rows binned (a cell = the mean over its t); raw columns too fast to draw blank."""
    bins = row_bins(len(family["raw"]), MLP_HEATMAP_ROWS)
    ts = bin_means(np.arange(len(family["raw"]), dtype=np.float64)[:, None], bins)[:, 0]
    spacing = float(np.diff(ts).max()) if len(ts) > 1 else 0.0
    blank = unresolved_columns(column_info(family["raw"].shape[1])["wavelength"], spacing)
    data, titles = [], []
    for name, emb in family.items():
        z = bin_means(emb, bins)
        if name == "raw":
            z[:, blank] = np.nan
        bound = float(np.nanmax(np.abs(z))) or 1.0
        titles.append(
            f"{EMBEDDING_NAMES[name]} [{emb.shape[1]}]<br><span style='font-size:12px'>colour ±{bound:.2g}</span>"
        )
        data.append(
            {
                "type": "heatmap",
                "z": z.astype(np.float32),
                "y": ts.astype(np.float32),
                "colorscale": "RdBu",
                "zmin": -bound,
                "zmax": bound,
                "showscale": False,
                "hoverongaps": False,
                "hovertemplate": f"{EMBEDDING_NAMES[name]}<br>mean over t ≈ %{{y:.1f}} ({bin_size_text(bins)} t)"
                "<br>dim %{x}<br>value %{z:.4f}<extra></extra>",
            }
        )
    refs, grid = plots.grid(1, 3, titles)
    for trace, ref in zip(data, refs, strict=True):
        trace.update(ref)
        plots.set_axis(grid, ref["xaxis"], title={"text": "dimension"})
        plots.set_axis(grid, ref["yaxis"], autorange="reversed", title={"text": "t" if ref["yaxis"] == "y" else ""})
    layout = plots.layout(
        "The same t, before and after the MLP",
        f"rows = bins of {bin_size_text(bins)} consecutive t, each cell the mean over its bin; each panel on its own "
        f"colour range (red −, blue +)<br>grey = {int(blank.sum())} raw columns whose wave repeats in under "
        f"{3 * spacing:.3g} steps: fewer than 3 rows ({fmt_number(spacing)} steps apart) per cycle, too fast to draw",
        height=450,
        margin={"l": 60, "r": 20, "t": 140, "b": 55},
        plot_bgcolor="#b0b0b0",
        **grid,
    )
    return plots.figure(data, layout)


def fmt_number(x):
    return f"{x:.3g}"


def centred(emb):
    """Rows minus their mean over t: only what changes with t."""
    emb = np.asarray(emb, dtype=np.float64)
    return emb - emb.mean(axis=0)


def mlp_similarities(family):
    """Cosine similarity t x t of each embedding, as is (top) and with its mean over t removed (bottom)."""
    bins = row_bins(len(family["raw"]), MLP_HEATMAP_ROWS)
    ts = bin_means(np.arange(len(family["raw"]), dtype=np.float64)[:, None], bins)[:, 0].astype(np.float32)
    titles = panel_titles(family) + [f"{EMBEDDING_NAMES[name]} minus its mean over t" for name in family]
    refs, grid = plots.grid(2, 3, titles, hspace=0.07, vspace=0.14)
    data = []
    for transform in (np.asarray, centred):
        for emb in family.values():
            ref = refs[len(data)]
            data.append(
                {
                    "type": "heatmap",
                    "z": binned_cosine_similarity(transform(emb), bins).astype(np.float32),
                    "x": ts,
                    "y": ts,
                    "coloraxis": "coloraxis",
                    "hovertemplate": "t ≈ %{y:.1f} vs t' ≈ %{x:.1f} (mean over the bins' pairs)<br>"
                    "cosine %{z:.3f}<extra></extra>",
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
                    "color": plots.COLOURS[name],
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
        "How far one step moves the embedding, against how far it moves in all",
        "step length over the RMS length of the part that varies with t (the offset every t shares does not count)",
        height=430,
        margin={"l": 80, "r": 20, "t": 90, "b": 110},
        xaxis={"title": {"text": T_TITLE}},
        yaxis={"type": "log" if spread > 20 else "linear",
               "title": {"text": "‖e(t+1) − e(t)‖ / RMS ‖e − mean‖"}},
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


def signal_figure(stats):
    """PC1 of the trained t_emb against sqrt(abar_t) and against the log-SNR, coloured by t."""
    signal = stats["signal"]
    explained = 100 * stats["ratio"]["trained"][0]
    panels = [
        ("sqrt_abar", "√ᾱ_t (signal level)", signal["corr_sqrt_abar"]),
        ("log_snr", "log-SNR log(ᾱ_t / (1 − ᾱ_t))", signal["corr_log_snr"]),
    ]
    refs, grid = plots.grid(1, 2, [f"{name}: correlation {corr:.3f}" for _, name, corr in panels], hspace=0.1)
    ts = np.arange(len(signal["pc1"]), dtype=np.float32)
    data = []
    for i, ((key, name, _), ref) in enumerate(zip(panels, refs, strict=True)):
        data.append(
            {
                "type": "scatter",
                "x": signal[key].astype(np.float32),
                "y": signal["pc1"].astype(np.float32),
                "mode": "markers",
                "marker": {"color": ts, "colorscale": "Viridis", "size": 4, "showscale": i == 1,
                           "colorbar": {"title": {"text": "t"}, "thickness": 14}},
                "hovertemplate": f"t = %{{marker.color}}<br>{name} = %{{x:.3g}}<br>PC1 = %{{y:.3g}}<extra></extra>",
                **ref,
            }
        )
        # Reversed, so that t grows to the right here too (√ᾱ_t and the log-SNR fall as t grows).
        plots.set_axis(grid, ref["xaxis"], autorange="reversed", title={"text": f"{name}, reversed: t →"})
        plots.set_axis(grid, ref["yaxis"], title={"text": "PC1 of trained t_emb" if i == 0 else ""})
    layout = plots.layout(
        f"The trained t_emb is mostly one feature: PC1 ({explained:.0f}% of its variance) tracks the signal level",
        "one point per t = 0..999; PC1's sign is chosen so it rises with √ᾱ_t",
        height=420,
        margin={"l": 70, "r": 20, "t": 110, "b": 60},
        showlegend=False,
        **grid,
    )
    return plots.figure(data, layout)
