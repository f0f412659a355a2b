"""Which t look alike, and how the t rows are shown: contiguous bins, each cell the mean over its t.

Shared by the embedding and MLP views. A heatmap of more t than it has rows shows bin means (a wave too fast for a bin
averages towards 0 instead of folding into a false slow wave), and a column whose wave the displayed rows sample fewer
than 3 times per cycle is drawn blank.
"""

import numpy as np

from playground import plots
from playground.inputs import fmt
from playground.stats import bin_means, binned_cosine_similarity, row_bins

MAX_HEATMAP_ROWS = 200  # t rows sent to the browser; more are shown as bins (each the mean over its t)


def display_rows(ts, max_rows=MAX_HEATMAP_ROWS):
    """How the t rows are shown: contiguous bins (each cell = the mean over its bin), their centres and spacing.

    Returns `(bins, centres, spacing)`: spacing is the largest step in t between neighbouring displayed rows
    (0 for a single row), what decides which waves the picture can still draw.
    """
    bins = row_bins(len(ts), max_rows)
    centres = bin_means(np.asarray(ts, dtype=np.float64)[:, None], bins)[:, 0]
    spacing = float(np.diff(centres).max()) if len(centres) > 1 else 0.0
    return bins, centres, spacing


def unresolved_columns(wavelength, spacing):
    """Columns whose wave is sampled fewer than 3 times per cycle at the displayed row spacing: drawn blank."""
    return np.asarray(wavelength) < 3 * spacing


def bin_size_text(bins):
    sizes = sorted({len(b) for b in bins})
    return "–".join(str(s) for s in sizes)


def similarity_figure(ts, emb, title, subtitle=None, height=440):
    """The t x t cosine similarity; more t than `MAX_HEATMAP_ROWS` are binned (a cell = the mean over its pairs)."""
    bins, centres, _ = display_rows(ts)
    binned = len(bins) < len(ts)
    where = f"mean over the t around t = %{{y:.4g}} and t' = %{{x:.4g}} ({bin_size_text(bins)} each)" if binned \
        else "t = %{y:.4g} vs t' = %{x:.4g}"
    heatmap = {
        "type": "heatmap",
        "z": binned_cosine_similarity(emb, bins).astype(np.float32),
        "x": centres.astype(np.float32),
        "y": centres.astype(np.float32),
        "colorscale": "RdBu",
        "zmin": -1,
        "zmax": 1,
        "colorbar": {"title": {"text": "cos"}, "thickness": 14, "len": 0.8},
        "hovertemplate": where + "<br>cosine similarity %{z:.3f}<extra></extra>",
    }
    layout = plots.layout(
        title,
        subtitle,
        height=height,
        xaxis={"title": {"text": "t'"}},
        yaxis={"title": {"text": "t"}, "autorange": "reversed", "scaleanchor": "x"},
    )
    return plots.figure([heatmap], layout)


def similarity_by_gap(ts, emb):
    """`(gaps [n-1], similarity [n-1])`: the cosine similarity of two t `k·Δt` apart on the even grid `ts`.

    For these sinusoids it depends on the gap alone (cos a·cos b + sin a·sin b = cos(a − b), and every row has the
    same norm), so the similarities to the first t are those of every pair at that gap.
    """
    emb = np.asarray(emb, dtype=np.float64)
    unit = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
    return np.asarray(ts[1:], dtype=np.float64) - float(ts[0]), unit[1:] @ unit[0]


def separation_gap(gaps, highest, threshold=0.5):
    """What holds for every gap: `(first, stable, peak_gap, peak)`.

    first: the first gap whose similarity drops below `threshold` (None if none); stable: the smallest gap from
    which every larger gap in the range stays below it (None if the largest gap does not); peak, peak_gap: the
    highest similarity at a gap beyond `first`, where the curve climbs back.
    """
    below = highest < threshold
    if not below.any():
        return None, None, None, None
    first = int(np.argmax(below))
    above_later = np.flatnonzero(~below)
    stable = None if not below[-1] else (int(above_later[-1]) + 1 if len(above_later) else 0)
    after = highest[first:]
    peak_at = first + int(np.argmax(after))
    return float(gaps[first]), None if stable is None else float(gaps[stable]), float(gaps[peak_at]), \
        float(highest[peak_at])


def similarity_headline(ts, emb, threshold=0.5):
    """Title and subtitle for the t x t similarity: which gaps, all of them, leave two steps looking different."""
    if len(ts) < 2:
        return "Only one t: nothing to compare", "add more t values"
    gaps, highest = similarity_by_gap(ts, emb)
    first, stable, peak_gap, peak = separation_gap(gaps, highest, threshold)
    subtitle = f"cosine similarity of t_freq rows; t and the next t ({fmt(gaps[0])} later): {highest[0]:.3f}"
    if first is None:
        return f"Every pair of t here looks alike (similarity ≥ {threshold})", subtitle
    if stable is None:
        title = f"No gap is safe: similarity < {threshold} at {fmt(first)}, then back above"
    else:
        title = f"Gaps ≥ {fmt(stable)} always look different (similarity < {threshold})"
    if stable != first:
        subtitle += f"<br>first below {threshold} at a gap of {fmt(first)}, back up to {peak:.3f} at {fmt(peak_gap)}"
        if stable is not None:
            subtitle += f"; below at every gap from {fmt(stable)} to {fmt(gaps[-1])}"
    return title, subtitle
