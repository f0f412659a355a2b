"""The precomputed guidance trade-off (`python -m playground.cli.tradeoff` -> assets/tradeoff.json) as figures.

Every point is `settings.per_class` samples of each of the ten digits, so its accuracy has a Wilson interval and its
diversity and Frechet distance a standard error; the views draw them as error bars and compare
methods only where those allow it.
"""

import json
import math

from playground import plots
from playground.assets import TRADEOFF_FILE

COMMAND = "python -m playground.cli.tradeoff"
NAMES = {  # curve key -> legend name
    "cfg": "constant CFG",
    "interval": "guidance interval",
    "rescale": "CFG rescale (phi 0.7)",
    "negative": "negative class",
    "no_clip": "CFG without clipping",
    "autoguidance": "autoguidance (weak: p 0.1 companion)",
    "classifier": "classifier guidance (g)",
    "companion_p0": "companion, label dropout 0",
    "companion_p0.1": "companion, label dropout 0.1",
    "companion_p0.5": "companion, label dropout 0.5",
}
COLOURS = {"cfg": "#1f77b4", "interval": "#2ca02c", "rescale": "#ff7f0e", "negative": "#9467bd",
           "no_clip": "#7f7f7f", "autoguidance": "#d62728", "classifier": "#8c564b",
           "companion_p0": "#17becf", "companion_p0.1": "#e377c2", "companion_p0.5": "#bcbd22"}


def load_tradeoff(path=TRADEOFF_FILE):
    """The JSON written by `python -m playground.cli.tradeoff`, or None if it is missing or unreadable."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError):
        return None


def points(tradeoff, key):
    """The points of one curve (empty if the file or the curve is missing)."""
    return (tradeoff or {}).get("curves", {}).get(key, {}).get("points", [])


def scale_of(point):
    return point.get("s", point.get("g"))


def interpolate_scale(curve_points, metric, target):
    """The scale (linear between measured points) where `metric` first rises to `target`, or None.

    None also when the first measured point is already at or above `target`: where below it the curve
    crossed is not measured.
    """
    pairs = [(scale_of(p), p[metric]) for p in curve_points if p.get(metric) is not None]
    if not pairs or pairs[0][1] >= target:
        return None
    for (s0, v0), (s1, v1) in zip(pairs, pairs[1:], strict=False):
        if v0 < target <= v1:
            return s0 + (target - v0) * (s1 - s0) / (v1 - v0)
    return None


def nearest_point(curve_points, scale):
    """The measured point closest to `scale` (for the uncertainty of an interpolated value)."""
    return min(curve_points, key=lambda p: abs(scale_of(p) - scale))


def value_at(curve_points, metric, scale):
    """`metric` linearly interpolated at `scale` between measured points (None outside them)."""
    pairs = [(scale_of(p), p[metric]) for p in curve_points if p.get(metric) is not None]
    for (s0, v0), (s1, v1) in zip(pairs, pairs[1:], strict=False):
        if s0 <= scale <= s1:
            return v0 if s1 == s0 else v0 + (scale - s0) * (v1 - v0) / (s1 - s0)
    return None


def _coverage(tradeoff, keys, title):
    """`(note, fallback)`: a note naming the curves missing from the file (None if none is), and a message figure
    to show instead when every one of them is missing (else None)."""
    missing = [k for k in keys if not points(tradeoff, k)]
    if not missing:
        return None, None
    note = f"not in {TRADEOFF_FILE.name}: {', '.join(missing)}; run `{COMMAND}`"
    return note, plots.message_figure(note, title=title) if len(missing) == len(keys) else None


def accuracy_diversity_figure(tradeoff, keys, title="Fidelity against variety as guidance grows", height=460):
    """Accuracy (Wilson 95%) against diversity (±1 SE), one curve per method, points labelled by scale."""
    problem, fallback = _coverage(tradeoff, keys, title)
    if fallback is not None:
        return fallback
    data = []
    for key in keys:
        pts = points(tradeoff, key)
        if not pts:
            continue
        acc = [p["accuracy"] for p in pts]
        data.append({
            "type": "scatter", "mode": "lines+markers+text", "name": NAMES.get(key, key),
            "x": [p["diversity"] for p in pts], "y": acc,
            "text": [f"{'g' if 'g' in p else 's'}={scale_of(p):g}" for p in pts], "textposition": "top center",
            "textfont": {"size": 11, "color": COLOURS.get(key)},
            "line": {"color": COLOURS.get(key)},
            "error_y": {"type": "data", "symmetric": False,
                        "array": [p["accuracy_high"] - a for p, a in zip(pts, acc, strict=True)],
                        "arrayminus": [a - p["accuracy_low"] for p, a in zip(pts, acc, strict=True)]},
            "error_x": {"type": "data", "array": [p.get("diversity_se") or 0 for p in pts]},
            "hovertemplate": "%{text}<br>diversity %{x:.2f}<br>accuracy %{y:.3f}<extra>" + NAMES.get(key, key)
                             + "</extra>",
        })
    per_class = tradeoff["settings"]["per_class"]
    subtitle = (f"{10 * per_class} samples per point (all ten digits); up and right is better; "
                f"bars: 95% Wilson interval, ±1 SE" + (f" · {problem}" if problem else ""))
    return plots.figure(data, plots.layout(
        title, subtitle, height=height, xaxis={"title": "diversity (mean pixel distance within a digit)"},
        yaxis={"title": "judge accuracy", "range": [0, 1.05]}, legend={"orientation": "h", "y": -0.2}))


def frechet_figure(tradeoff, keys, title="Distance to real digits against the scale", height=420):
    """Frechet distance (±1 SE) to the held-out digits against the scale, with the real-data floor."""
    _, fallback = _coverage(tradeoff, keys, title)
    if fallback is not None:
        return fallback
    data = []
    for key in keys:
        pts = points(tradeoff, key)
        if pts:
            data.append({
                "type": "scatter", "mode": "lines+markers", "name": NAMES.get(key, key),
                "x": [scale_of(p) for p in pts], "y": [p["frechet"] for p in pts],
                "line": {"color": COLOURS.get(key)},
                "error_y": {"type": "data", "array": [p.get("frechet_se") or 0 for p in pts]},
            })
    floor = tradeoff["real_floor"]["frechet"]
    shapes = [{"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": floor, "y1": floor,
               "line": {"dash": "dot", "color": "#444"}}]
    note = {"text": f"real digits: {floor:.1f}", "xref": "paper", "x": 1, "y": floor, "xanchor": "right",
            "yanchor": "bottom", "showarrow": False, "font": {"size": 13}}
    return plots.figure(data, plots.layout(
        title, "lower is closer to real digits; " + tradeoff["real_floor"]["what"] + " give the floor",
        height=height, xaxis={"title": "guidance scale"}, yaxis={"title": "Frechet distance (judge features)",
                                                                  "rangemode": "tozero"},
        shapes=shapes, annotations=[note], legend={"orientation": "h", "y": -0.25}))


def best_point(curve_points, metric="frechet"):
    """The point with the lowest `metric`, and whether its ±2 SE interval overlaps any other point's."""
    if not curve_points:
        return None, None
    best = min(curve_points, key=lambda p: p[metric])
    se = best.get(f"{metric}_se") or 0
    overlaps = [p for p in curve_points if p is not best
                and p[metric] - 2 * (p.get(f"{metric}_se") or 0) <= best[metric] + 2 * se]
    return best, overlaps


def fmt_point(point, metric, digits=1):
    """'36.7 ± 2.1' from a point's metric and its standard error (or its Wilson interval for accuracy)."""
    value = point[metric]
    if metric == "accuracy":
        return f"{value:.3f} [{point['accuracy_low']:.2f}, {point['accuracy_high']:.2f}]"
    se = point.get(f"{metric}_se")
    return f"{value:.{digits}f}" + (f" ± {se:.{digits}f}" if se is not None and not math.isnan(se) else "")
