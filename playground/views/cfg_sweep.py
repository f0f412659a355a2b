"""View 3, classifier-free guidance: one class sampled at several guidance scales from shared noise, judged.

`sweep_view` returns everything the tab shows; `validate_sweep` checks a request against the caps below (a client
can skip the widgets); `DEFAULTS` are the widgets' initial values (the sweep's own defaults live in
`playground.diffusion`) and `PRESETS` the one-click demos.
"""

import math
import time
from types import MappingProxyType

import numpy as np
import torch

from playground import plots
from playground.data import to_uint8
from playground.diffusion import (
    DEFAULT_LABEL,
    DEFAULT_SAMPLER,
    DEFAULT_SAMPLES,
    DEFAULT_SCALES,
    DEFAULT_STEPS,
    SAMPLERS,
)
from playground.grids import capture_steps, sweep_grid, trajectory_image
from playground.inputs import MAX_SEED, as_choice, as_int, fmt, parse_number_list
from playground.judge import classify, diversity
from playground.model import DiTConfig
from playground.sampling import sample_cfg_sweep

SCALE_RANGE = (-5.0, 30.0)
MAX_SCALES = 8  # guidance scales in one CFG sweep
MAX_SAMPLES = 8  # samples per guidance scale
MAX_STEPS = 100  # denoising steps of one sweep
MAX_IMAGE_STEPS = 3200  # scales x samples x steps in one run: bounds the CPU time of a request

DEFAULTS = MappingProxyType(
    {
        "label": DEFAULT_LABEL,
        "scales": ", ".join(f"{scale:g}" for scale in DEFAULT_SCALES),
        "samples": DEFAULT_SAMPLES,
        "seed": 0,
        "steps": DEFAULT_STEPS,
        "sampler": DEFAULT_SAMPLER,
    }
)
PRESETS = {  # one-click demos: the sweep's arguments, in the order of DEFAULTS
    "Classic trade-off": {**DEFAULTS, "label": 3, "scales": "0, 1, 2, 4, 8", "samples": 4, "seed": 0},
    "Too much guidance": {**DEFAULTS, "label": 5, "scales": "1, 4, 10, 20, 30", "samples": 4, "seed": 1},
    "Unconditional vs conditional": {**DEFAULTS, "label": 7, "scales": "0, 1", "samples": 8, "seed": 2},
    "Negative guidance": {**DEFAULTS, "label": 3, "scales": "-3, -1, 0, 1, 3", "samples": 4, "seed": 3},
}
KIND_COLOURS = {"accuracy": "#1f77b4", "confidence": "#ff7f0e", "diversity": "#2ca02c"}


def parse_scales(text):
    """The CFG scale list of the sweep, in DiT's `s` convention."""
    return parse_number_list(text, name="guidance scale", max_count=MAX_SCALES, lo=SCALE_RANGE[0], hi=SCALE_RANGE[1])


def validate_sweep(label, scales, samples, seed, steps, sampler, num_classes=DiTConfig.num_classes):
    """Checked sweep arguments, or ValueError with a message for the person at the screen."""
    label = as_int(label, "class", 0, num_classes - 1)  # the null class is not a digit to draw
    scale_list = parse_scales(scales)
    samples = as_int(samples, "samples per scale", 1, MAX_SAMPLES)
    seed = as_int(seed, "seed", 0, MAX_SEED)
    steps = as_int(steps, "steps", 1, MAX_STEPS)
    sampler = as_choice(sampler, "sampler", SAMPLERS)
    work = len(scale_list) * samples * steps
    if work > MAX_IMAGE_STEPS:
        raise ValueError(
            f"{len(scale_list)} scales × {samples} samples × {steps} steps = {work} image-steps; the limit is "
            f"{MAX_IMAGE_STEPS}. Use fewer scales, samples or steps."
        )
    return label, scale_list, samples, seed, steps, sampler


def judge_metrics(judge, samples, label):
    """Per scale: accuracy, confidence, label entropy and diversity from the judge.

    `samples`: float `[S, N, 1, 28, 28]` in [-1, 1], as `sample_cfg_sweep` returns them.
    """
    labels = torch.full((samples.shape[1],), int(label), dtype=torch.long)
    metrics = []
    for images in samples:
        scores = classify(judge, images, labels)
        spread = diversity(images, labels)
        metrics.append(
            {
                "accuracy": scores["accuracy"],
                "confidence": scores["confidence"],
                "label_entropy": scores["label_entropy"],
                "diversity": spread if math.isfinite(spread) else None,  # NaN with a single sample
            }
        )
    return metrics


def sweep_view(model, label, scales, samples, seed, steps, sampler, judge=None, judge_note=None, progress=None):
    """Sample one class at several guidance scales from shared noise; grid, judge scores, trajectory, text.

    Takes the checked arguments of `validate_sweep`. `progress(value, desc=...)`, if given, hears about each
    step (`value` = (step, total)) and the judging (1.0). Without a judge, `judge_note` says why.
    """
    progress = progress or (lambda value, desc=None: None)
    keep = set(capture_steps(steps))
    frames = {}

    def on_step(step, total, x0):
        progress((step, total), desc=f"denoising: step {step} of {total}")
        if step in keep:
            frames[step] = to_uint8(x0[:, 0]).numpy()  # row 0 at every scale: [S, H, W]

    progress((0, steps), desc="starting from noise")
    start = time.perf_counter()
    samples_out = sample_cfg_sweep(
        model, [label] * samples, scales, steps=steps, seed=seed, sampler=sampler, callback=on_step
    )
    elapsed = time.perf_counter() - start
    images = to_uint8(samples_out).numpy()  # [S, N, 28, 28]
    progress(1.0, desc="judging")
    metrics = judge_metrics(judge, samples_out, label) if judge is not None else []
    return {
        "grid": sweep_grid(images, scales),
        "metrics": metrics_figure(scales, metrics, judge_note),
        "trajectory": trajectory_image(frames, scales, steps),
        "summary": cfg_summary_markdown(label, scales, metrics, elapsed, steps, sampler, judge_note),
        "formula": cfg_explainer_markdown(scales),
    }


def cfg_explainer_markdown(scales=None):
    """The guidance formula in DiT's `s` convention, with the Ho & Salimans `w` for the chosen scales."""
    text = (
        "$$\\hat\\epsilon = \\epsilon_u + s\\,(\\epsilon_c - \\epsilon_u) = s\\,\\epsilon_c + (1-s)\\,\\epsilon_u$$\n\n"
        "One network gives both: $\\epsilon_c$ with the digit, $\\epsilon_u$ with the null label ∅ (row 10). "
        "**s = 0** unconditional · **s = 1** conditional · **s > 1** pushes past the conditional prediction, away "
        "from the unconditional one. Ho & Salimans' $(1+w)\\,\\epsilon_c - w\\,\\epsilon_u$ means **w = s − 1**."
    )
    if scales:
        pairs = ", ".join(f"s = {fmt(s)} → w = {fmt(s - 1)}" for s in scales)
        text += f"\n\nThis sweep: {pairs}."
    return text


def metrics_figure(scales, metrics, note=None):
    """Judge accuracy and confidence (left axis) and diversity (right axis) against the guidance scale."""
    if not metrics:
        return plots.message_figure(note or "The judge is not available, so there are no scores for this run.")
    order = np.argsort(scales, kind="stable")
    xs = [float(scales[i]) for i in order]
    data = []
    for key, label in (("accuracy", "judge accuracy"), ("confidence", "judge confidence")):
        data.append(
            {
                "type": "scatter",
                "x": xs,
                "y": [metrics[i][key] for i in order],
                "mode": "lines+markers",
                "name": label,
                "line": {"color": KIND_COLOURS[key], "width": 3},
                "marker": {"size": 10},
                "hovertemplate": f"s = %{{x}}<br>{label} %{{y:.3f}}<extra></extra>",
                "xaxis": "x",
                "yaxis": "y",
            }
        )
    if all(m.get("diversity") is not None for m in metrics):
        data.append(
            {
                "type": "scatter",
                "x": xs,
                "y": [metrics[i]["diversity"] for i in order],
                "mode": "lines+markers",
                "name": "diversity (right axis)",
                "line": {"color": KIND_COLOURS["diversity"], "width": 3, "dash": "dash"},
                "marker": {"size": 10, "symbol": "square"},
                "hovertemplate": "s = %{x}<br>diversity %{y:.3g}<extra></extra>",
                "xaxis": "x",
                "yaxis": "y2",
            }
        )
    pad = max((max(xs) - min(xs)) * 0.05, 0.25)
    dotted = {"color": "#888", "dash": "dot"}
    figure_layout = plots.layout(
        accuracy_headline(xs, [metrics[i]["accuracy"] for i in order]),
        note or "dotted lines: s = 0 unconditional, s = 1 conditional",
        height=420,
        margin={"l": 70, "r": 70, "t": 90, "b": 115},
        xaxis={
            "anchor": "y",
            "domain": [0.0, 0.94],
            "title": {"text": "guidance scale s"},
            "range": [min(xs) - pad, max(xs) + pad],
        },
        yaxis={"anchor": "x", "domain": [0.0, 1.0], "title": {"text": "accuracy / confidence"}, "range": [0, 1.05]},
        yaxis2={
            "anchor": "x",
            "overlaying": "y",
            "side": "right",
            "title": {"text": "diversity"},
            "showgrid": False,
            "rangemode": "tozero",
        },
        shapes=[
            {"type": "line", "x0": s, "x1": s, "xref": "x", "y0": 0, "y1": 1, "yref": "y domain", "line": dotted}
            for s in (0, 1)
            if min(xs) <= s <= max(xs)
        ],
        legend={"orientation": "h", "y": -0.3, "x": 0},
    )
    return plots.figure(data, figure_layout)


def accuracy_headline(scales, accuracy):
    """A title that states what the judge saw across the scales."""
    lo, hi = min(accuracy), max(accuracy)
    if hi - lo < 0.05:
        return f"The judge's view: accuracy is flat at {hi:.2f} across these scales"
    best = [s for s, a in zip(scales, accuracy, strict=True) if a == hi]
    where = f"s = {fmt(best[0])}" if len(best) == 1 else f"s = {', '.join(fmt(s) for s in best)}"
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
            f"| {fmt(s)} | {fmt(s - 1)} | {m['accuracy']:.2f} | {m['confidence']:.2f} | "
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
