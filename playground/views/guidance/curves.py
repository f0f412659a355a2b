"""The precomputed guidance trade-off (`python -m playground.cli.tradeoff` -> assets/tradeoff.json) as figures.

Every point is `settings.per_class` samples of each of the ten digits, so its accuracy has a Wilson interval and its
diversity and Frechet distance a standard error; the views draw them as error bars and compare
methods only where those allow it (`matched_accuracy`, `separation`). The real digits' references stored with the
curves (`python -m playground.cli.tradeoff --reference-only`) are drawn beside them: the Frechet floor as a band
(`floor_band`, `floor_marks`) and the real diversity on every diversity axis (`real_diversity_marks`).
"""

import json
import math
from dataclasses import dataclass, field

from playground import plots
from playground.assets import TRADEOFF_FILE

COMMAND = "python -m playground.cli.tradeoff"
NAMES = {  # curve key -> legend name
    "cfg": "constant CFG",
    "interval": "guidance interval",
    "rescale": "CFG rescale on x0 (variant), phi 0.7",
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
# Legends never over an axis title. Accuracy against diversity: inside, bottom left, a corner no curve reaches (less
# guidance lowers accuracy and raises diversity). Frechet against the scale has no such corner: beside the plot.
LEGEND_INSIDE = {"orientation": "v", "x": 0.01, "xanchor": "left", "y": 0.02, "yanchor": "bottom",
                 "bgcolor": "rgba(255,255,255,0.85)", "font": {"size": 12}}
LEGEND_BESIDE = {"orientation": "v", "x": 1.02, "xanchor": "left", "y": 1, "yanchor": "top", "font": {"size": 12}}


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


def value_at(curve_points, metric, scale):
    """`metric` linearly interpolated at `scale` between measured points (None outside them)."""
    pairs = [(scale_of(p), p[metric]) for p in curve_points if p.get(metric) is not None]
    for (s0, v0), (s1, v1) in zip(pairs, pairs[1:], strict=False):
        if s0 <= scale <= s1:
            return v0 if s1 == s0 else v0 + (scale - s0) * (v1 - v0) / (s1 - s0)
    return None


@dataclass(frozen=True)
class Matched:
    """Where one curve's accuracy reaches a target, and what the data can say there (`matched_accuracy`).

    status: "crossed" (resolved between two measured points: the one below has its 95% Wilson interval wholly
        below the target, the one above wholly at or above it), "flat" (the crossing is not resolved: measured
        points next to it have the target inside their interval, so the curve is flat within its noise there),
        "already" (the first measured point is at or above the target, outside its interval's reach), or
        "not reached".
    scale: the interpolated scale ("crossed" only), else None.
    scales: `(lo, hi)`: the bracketing measured scales ("crossed"), or the first and last of the consecutive
        measured scales whose interval holds the target ("flat"); the first scale for "already"; None otherwise.
    values: metric -> `(value, se)`. "crossed": linear interpolation at `scale`, the SE interpolated the same way
        (an upper bound for neighbours that share their noise, as the trade-off's points do). "flat": metric ->
        `((low, se), (high, se))`, the lowest and highest measured value over `scales`. "already": the first
        point's `(value, se)`. Empty for "not reached".
    """

    status: str
    scale: float | None = None
    scales: tuple | None = None
    values: dict = field(default_factory=dict)


def holds(point, target):
    """Whether `target` lies inside the point's 95% Wilson interval of accuracy."""
    return point["accuracy_low"] <= target <= point["accuracy_high"]


def value_se(point, metric):
    """`(value, se)` of a point's metric (SE 0 where the point has none)."""
    return point[metric], point.get(f"{metric}_se") or 0.0


def matched_accuracy(curve_points, target, metrics=("diversity", "frechet")):
    """Each metric where the curve's accuracy first reaches `target`, with its uncertainty, or why it cannot be
    placed (a `Matched`). Interpolates only where the crossing is resolved by the Wilson intervals; where the curve
    is flat within its interval around the target it returns the range of the metrics over those points instead.

    `curve_points`: the points of one trade-off curve in scale order (`points(tradeoff, key)`), each with
    accuracy, accuracy_low, accuracy_high, and every metric with its `<metric>_se`.
    """
    pts = [p for p in curve_points if p.get("accuracy") is not None]
    if not pts:
        return Matched("not reached")
    below = [i for i in range(1, len(pts)) if pts[i - 1]["accuracy"] < target <= pts[i]["accuracy"]]
    if below and not holds(pts[below[0] - 1], target) and not holds(pts[below[0]], target):
        lo, hi = pts[below[0] - 1], pts[below[0]]
        s = interpolate_scale([lo, hi], "accuracy", target)
        w = (s - scale_of(lo)) / (scale_of(hi) - scale_of(lo))
        values = {m: (value_at([lo, hi], m, s), (1 - w) * value_se(lo, m)[1] + w * value_se(hi, m)[1])
                  for m in metrics}
        return Matched("crossed", s, (scale_of(lo), scale_of(hi)), values)
    near = [i for i, p in enumerate(pts) if holds(p, target)]
    if near:
        run = [near[0]]
        while run[-1] + 1 in near:
            run.append(run[-1] + 1)
        span = [pts[i] for i in run]
        values = {m: (value_se(min(span, key=lambda p: p[m]), m), value_se(max(span, key=lambda p: p[m]), m))
                  for m in metrics}
        return Matched("flat", None, (scale_of(span[0]), scale_of(span[-1])), values)
    if pts[0]["accuracy"] >= target:
        return Matched("already", None, (scale_of(pts[0]), scale_of(pts[0])),
                       {m: value_se(pts[0], m) for m in metrics})
    return Matched("not reached")


def separation(a, b):
    """How many standard errors apart two `(value, se)` are, treating them as independent: |a - b| / sqrt(se_a^2 +
    se_b^2) (inf when both SEs are 0). Points that share their starting noise are positively correlated, so this
    overstates the noise of their difference: a paired comparison would separate more."""
    se = math.hypot(a[1], b[1])
    return abs(a[0] - b[0]) / se if se else math.inf


def floor_band(tradeoff):
    """`(low, mid, high)` of the real digits' Frechet distance to the held-out digits: the range and mean over the
    disjoint training subsets the file stores (`real_floor.spread`), or `(floor, floor, floor)` from a file that
    has only the one subset; None without a floor."""
    floor = (tradeoff or {}).get("real_floor") or {}
    if floor.get("frechet") is None:
        return None
    spread = floor.get("spread")
    if not spread:
        return floor["frechet"], floor["frechet"], floor["frechet"]
    return spread["low"], spread.get("mean", floor["frechet"]), spread["high"]


def floor_text(tradeoff):
    """'real digits: 25.1-45.5, mean 36.6 over 15 subsets of 300', or 'real digits: 36.2' without a spread."""
    low, mid, high = floor_band(tradeoff)
    spread = tradeoff["real_floor"].get("spread")
    if not spread:
        return f"real digits: {mid:.1f}"
    n, size = len(spread["values"]), 10 * tradeoff["settings"]["per_class"]
    return f"real digits: {low:.1f}-{high:.1f}, mean {mid:.1f} over {n} subsets of {size}"


def real_diversity(tradeoff, digit=None):
    """`(value, se)`: the held-out real digits' diversity (`real_diversity` in the file; of one `digit` if given,
    with no SE), or None if it is missing. Diversity is read as distance from this value, not as more-is-better:
    noise and artefacts raise it too."""
    real = (tradeoff or {}).get("real_diversity")
    if not real:
        return None
    if digit is not None:
        per_digit = real.get("per_digit")
        return None if per_digit is None else (per_digit[digit], None)
    return real["value"], real.get("se") or 0.0


def diversity_from_real(value, se, tradeoff, digit=None):
    """'9.20 ± 0.06 (+0.28 from real digits' 8.92)': a diversity read against the real digits' value (of `digit`
    alone if given); just the value ± SE when the file has no real-digit diversity."""
    text = f"{value:.2f}" + ("" if se is None or math.isnan(se) else f" ± {se:.2f}")
    real = real_diversity(tradeoff, digit)
    if real is None:
        return text
    return f"{text} ({value - real[0]:+.2f} from real digits' {real[0]:.2f})"


def _coverage(tradeoff, keys, title):
    """`(note, fallback)`: a note naming the curves missing from the file (None if none is), and a message figure
    to show instead when every one of them is missing (else None)."""
    missing = [k for k in keys if not points(tradeoff, k)]
    if not missing:
        return None, None
    note = f"not in {TRADEOFF_FILE.name}: {', '.join(missing)}; run `{COMMAND}`"
    return note, plots.message_figure(note, title=title) if len(missing) == len(keys) else None


def accuracy_diversity_figure(tradeoff, keys, title="Fidelity against variety as guidance grows", height=460):
    """Accuracy (Wilson 95%) against diversity (±1 SE), one curve per method, points labelled by scale, with the real
    digits' diversity marked (`real_diversity_marks`)."""
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
    shapes, notes = real_diversity_marks(tradeoff, "x")
    subtitle = (f"{10 * per_class} samples per point (all ten digits); higher is more recognisable; diversity is "
                "read as distance from the real digits' (dashed), not more-is-better: noise and artefacts raise it; "
                "bars: 95% Wilson interval, ±1 SE" + (f" · {problem}" if problem else ""))
    return plots.figure(data, plots.layout(
        title, subtitle, height=height, xaxis={"title": "diversity (mean pixel distance within a digit)"},
        yaxis={"title": "judge accuracy", "range": [0, 1.05]}, legend=LEGEND_INSIDE,
        shapes=shapes, annotations=notes))


def real_diversity_marks(tradeoff, axis="x", xref="x", yref="y"):
    """`(shapes, annotations)` marking the real digits' diversity on the diversity axis (`axis` "x" or "y") of the
    plot whose axes are `xref`, `yref`: a dashed line at the held-out digits' value and a light band over the range
    of the training subsets of a sample set's size. Empty without a real-digit diversity in the file."""
    real = (tradeoff or {}).get("real_diversity")
    if not real:
        return [], []
    refs = {"x": xref, "y": yref}
    other = "y" if axis == "x" else "x"
    span = {f"{axis}ref": refs[axis], f"{other}ref": f"{refs[other]} domain", f"{other}0": 0, f"{other}1": 1}
    shapes = [{"type": "line", **span, f"{axis}0": real["value"], f"{axis}1": real["value"],
               "line": {"dash": "dash", "color": "#444"}}]
    if real.get("spread"):
        shapes.append({"type": "rect", **span, f"{axis}0": real["spread"]["low"], f"{axis}1": real["spread"]["high"],
                       "fillcolor": "#888", "opacity": 0.15, "line": {"width": 0}})
    note = {"text": f"real digits: {real['value']:.2f}", f"{axis}ref": refs[axis], axis: real["value"],
            f"{other}ref": f"{refs[other]} domain", other: 1, "showarrow": False,
            "font": {"size": 12, "color": "#444"}, "xanchor": "left" if axis == "x" else "right", "yanchor": "top"}
    return shapes, [note]


def frechet_figure(tradeoff, keys, title="Distance to real digits against the scale", height=420):
    """Frechet distance (±1 SE) to the held-out digits against the scale, with the real-data floor as a band."""
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
    shapes, notes = floor_marks(tradeoff)
    spread = tradeoff["real_floor"].get("spread")
    where = spread["what"] if spread else tradeoff["real_floor"]["what"]
    return plots.figure(data, plots.layout(
        title, f"lower is closer to real digits; the floor (shaded): {where}; the judge's features barely register "
        "grey speckle", height=height, xaxis={"title": "guidance scale"},
        yaxis={"title": "Frechet distance (judge features)", "rangemode": "tozero"},
        shapes=shapes, annotations=notes, legend=LEGEND_BESIDE))


def floor_marks(tradeoff, xref="x", yref="y"):
    """`(shapes, annotations)` drawing the real-digit Frechet floor as a band (`floor_band`) with its mean dotted,
    across the plot whose axes are `xref`, `yref`. Empty without a floor."""
    band = floor_band(tradeoff)
    if band is None:
        return [], []
    low, mid, high = band
    across = {"xref": f"{xref} domain", "x0": 0, "x1": 1, "yref": yref}
    shapes = [{"type": "rect", **across, "y0": low, "y1": high, "fillcolor": "#888", "opacity": 0.2,
               "line": {"width": 0}},
              {"type": "line", **across, "y0": mid, "y1": mid, "line": {"dash": "dot", "color": "#444"}}]
    note = {"text": floor_text(tradeoff), "xref": f"{xref} domain", "x": 1, "yref": yref, "y": high,
            "xanchor": "right", "yanchor": "bottom", "showarrow": False, "font": {"size": 12, "color": "#444"}}
    return shapes, [note]


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
