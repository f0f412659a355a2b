"""Classifier-free guidance: one class sampled at several guidance scales from shared noise, judged.

`validate_sweep` checks a request against the caps below (a client can skip the widgets) and returns a
`SweepRequest`; `sweep_view` takes it and returns everything the page shows. `DEFAULTS` are the widgets' initial
values, the sweep the page opens on, and `PRESETS` the one-click demos. The distribution-level picture from the
all-class run that `python -m playground.cli.tradeoff` precomputes is `views.guidance.cfg_tradeoff`.
"""

import math
import time
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import torch

from playground import plots
from playground.data import to_uint8
from playground.diffusion import DEFAULT_SAMPLER, DEFAULT_STEPS, SAMPLERS
from playground.grids import capture_steps, sweep_grid, trajectory_image
from playground.guidance import Guidance
from playground.inputs import MAX_SEED, as_choice, as_int, fmt, parse_number_list
from playground.judge import GREY, classify, diversity, pixel_shares, wilson_interval
from playground.model import DiTConfig
from playground.sampling import sample_guided
from playground.views.guidance import curves

SCALE_RANGE = (-5.0, 30.0)
MAX_SCALES = 8  # guidance scales in one CFG sweep
MAX_SAMPLES = 8  # samples per guidance scale
MAX_STEPS = 100  # denoising steps of one sweep
MAX_IMAGE_STEPS = 3200  # scales x samples x steps in one run: bounds the CPU time of a request
# The sweep the page opens on (and `python -m playground.bench` times): a digit, drawn this many times per scale,
# at these guidance scales.
DEFAULT_LABEL, DEFAULT_SAMPLES, DEFAULT_SCALES = 3, 4, (0.0, 1.0, 2.0, 4.0, 7.0, 10.0)

DEFAULTS = MappingProxyType(
    {
        "label": DEFAULT_LABEL,
        "scales": ", ".join(f"{scale:g}" for scale in DEFAULT_SCALES),
        "samples": DEFAULT_SAMPLES,
        "seed": 0,
        "steps": DEFAULT_STEPS,
        "sampler": DEFAULT_SAMPLER,
        "clip": True,  # clip x0 to [-1, 1] and re-derive eps at every step (the reference's DDIM)
    }
)
PRESETS = {  # one-click demos: the sweep's arguments, in the order of DEFAULTS
    "Classic trade-off": {**DEFAULTS, "label": 3, "scales": "0, 1, 2, 4, 8", "samples": 4, "seed": 0},
    "Too much guidance": {**DEFAULTS, "label": 5, "scales": "1, 4, 10, 20, 30", "samples": 4, "seed": 1},
    "Unconditional vs conditional": {**DEFAULTS, "label": 7, "scales": "0, 1", "samples": 8, "seed": 2},
    "Negative guidance": {**DEFAULTS, "label": 3, "scales": "-3, -1, 0, 1, 3", "samples": 4, "seed": 3},
    "Without clipping x0": {**DEFAULTS, "label": 3, "scales": "1, 4, 8, 15, 30", "samples": 4, "seed": 0,
                            "clip": False},
}
KIND_COLOURS = {"accuracy": "#1f77b4", "confidence": "#ff7f0e", "diversity": "#2ca02c"}


def parse_scales(text):
    """The CFG scale list of the sweep, in DiT's `s` convention."""
    return parse_number_list(text, name="guidance scale", max_count=MAX_SCALES, lo=SCALE_RANGE[0], hi=SCALE_RANGE[1])


def as_bool(value, name):
    """`value` as a bool: True/False (or 1/0, "true"/"false" from a client that sends text)."""
    if isinstance(value, bool):
        return value
    if value in (0, 1) and not isinstance(value, float):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValueError(f"{name} must be true or false, got {value!r}.")


@dataclass(frozen=True)
class SweepRequest:
    """A checked sweep (`validate_sweep`): `samples` rows of digit `label` at each of `scales`, from the noise of
    `seed`, `steps` steps of `sampler`; `clip`: clip x0 to [-1, 1] and re-derive eps at each step."""

    label: int
    scales: tuple
    samples: int
    seed: int
    steps: int
    sampler: str
    clip: bool = True

    def guidance(self):
        return Guidance(clip=self.clip)

    def check(self, model):
        """Raise `GuidanceError` (a ValueError) if `model` cannot run this sweep's guidance (e.g. a model without
        a null class asked for a scale other than 1)."""
        self.guidance().check(model, self.scales)


def validate_sweep(label, scales, samples, seed, steps, sampler, clip=True, num_classes=DiTConfig.num_classes):
    """The `SweepRequest` of these inputs, or ValueError with a message, naming the field, for the person at the
    screen."""
    label = as_int(label, "class", 0, num_classes - 1)  # the null class is not a digit to draw
    scale_list = parse_scales(scales)
    samples = as_int(samples, "samples per scale", 1, MAX_SAMPLES)
    seed = as_int(seed, "seed", 0, MAX_SEED)
    steps = as_int(steps, "steps", 1, MAX_STEPS)
    sampler = as_choice(sampler, "sampler", SAMPLERS)
    clip = as_bool(clip, "clip x0")
    work = len(scale_list) * samples * steps
    if work > MAX_IMAGE_STEPS:
        raise ValueError(
            f"{len(scale_list)} scales × {samples} samples × {steps} steps = {work} image-steps; the limit is "
            f"{MAX_IMAGE_STEPS}. Use fewer scales, samples or steps."
        )
    return SweepRequest(label, tuple(scale_list), samples, seed, steps, sampler, clip)


def sample_sweep(model, request, callback=None, on_step=None):
    """`sample_guided` on `request`: float samples `[S, N, 1, H, W]` in [-1, 1] (hooks as it takes them)."""
    return sample_guided(model, [request.label] * request.samples, request.scales, steps=request.steps,
                         seed=request.seed, sampler=request.sampler, guidance=request.guidance(), callback=callback,
                         on_step=on_step)


def judge_metrics(judge, samples, label):
    """Per scale: accuracy with its 95% Wilson interval, confidence, label entropy, diversity, judged labels.

    `samples`: float `[S, N, 1, 28, 28]` in [-1, 1], as `sample_guided` returns them.
    """
    n = samples.shape[1]
    labels = torch.full((n,), int(label), dtype=torch.long)
    metrics = []
    for images in samples:
        scores = classify(judge, images, labels)
        spread = diversity(images, labels)
        hits = sum(int(p == int(label)) for p in scores["predicted"])
        low, high = wilson_interval(hits, n)
        metrics.append(
            {
                "accuracy": scores["accuracy"],
                "accuracy_low": low,
                "accuracy_high": high,
                "confidence": scores["confidence"],
                "label_entropy": scores["label_entropy"],
                "diversity": spread if math.isfinite(spread) else None,  # NaN with a single sample
                "predicted": scores["predicted"],
            }
        )
    return metrics


def entropy_ceiling(n, num_classes=DiTConfig.num_classes):
    """The largest entropy (nats) a histogram of `n` judged labels over `num_classes` can have: ln min(n, classes).

    A sweep draws one digit with at most `MAX_SAMPLES` samples, so ln 10 is out of its reach; its ideal is 0.
    """
    return math.log(max(1, min(int(n), num_classes)))


def mix_weights(scale):
    """(weight of eps_c, weight of eps_u) in the guided prediction s * eps_c + (1 - s) * eps_u."""
    return float(scale), 1.0 - float(scale)


def best_scale(scales, metrics):
    """The scale whose accuracy is highest with a 95% interval above every other scale's, else None.

    With 4 samples a scale at 4/4 has the interval [0.51, 1]: it beats only a scale at 0/4, so most sweeps
    name no best scale, and the view must not pretend otherwise.
    """
    if len(metrics) < 2:
        return None
    top = max(range(len(metrics)), key=lambda i: metrics[i]["accuracy"])
    others = [m for i, m in enumerate(metrics) if i != top]
    if all(metrics[top]["accuracy_low"] > m["accuracy_high"] for m in others):
        return scales[top]
    return None


def guided_x0_peak(count):
    """An `on_step` hook that records, per scale, the largest |x0| of the guided prediction before any clip (the
    sampler's "x0_guided"). Returns `(hook, peaks)`: after sampling, `peaks[k]` is that maximum over every step,
    row and pixel of scale k of `count`. The data lie in [-1, 1]; this is what clipping x0 pulls back at each step.
    """
    peaks = [0.0] * count

    def hook(step):
        for k, peak in enumerate(step["x0_guided"].abs().flatten(1).amax(1).tolist()):
            peaks[k] = max(peaks[k], peak)

    return hook, peaks


def real_grey(label, tradeoff=None):
    """The held-out real digits' share of grey pixels for `label` (`real_pixels` of the trade-off file), or None."""
    tradeoff = curves.load_tradeoff() if tradeoff is None else tradeoff
    per_digit = ((tradeoff or {}).get("real_pixels") or {}).get("per_digit")
    return None if per_digit is None or label >= len(per_digit) else per_digit[label]["grey"]


def sweep_view(model, request, judge=None, judge_note=None, progress=None, on_x0=None):
    """Sample one class at several guidance scales from shared noise; grid, judge scores, trajectory, text.

    `request`: a `SweepRequest`. `progress(value, desc=...)`, if given, hears about each step (`value` = (step,
    total)) and the judging (1.0). Without a judge, `judge_note` says why. `on_x0(step, total, x0)`, if given, sees
    the predicted x0 `[S, N, C, H, W]` after each step (the streamed grid); "images" holds the uint8 samples
    `[S, N, H, W]`.
    """
    progress = progress or (lambda value, desc=None: None)
    scales, steps = request.scales, request.steps
    keep = set(capture_steps(steps))
    frames = {}

    def on_step(step, total, x0):
        progress((step, total), desc=f"denoising: step {step} of {total}")
        if step in keep:
            frames[step] = to_uint8(x0[:, 0]).numpy()  # row 0 at every scale: [S, H, W]
        if on_x0 is not None:
            on_x0(step, total, x0)

    peak_hook, peaks = guided_x0_peak(len(scales))
    progress((0, steps), desc="starting from noise")
    start = time.perf_counter()
    samples_out = sample_sweep(model, request, callback=on_step, on_step=peak_hook)
    elapsed = time.perf_counter() - start
    images = to_uint8(samples_out).numpy()  # [S, N, 28, 28]
    progress(1.0, desc="judging")
    metrics = judge_metrics(judge, samples_out, request.label) if judge is not None else []
    run = {"label": request.label, "samples": request.samples, "steps": steps, "sampler": request.sampler,
           "clip": request.clip, "seconds": elapsed, "x0_peak": peaks,
           "grey": [pixel_shares(x)["grey"] for x in samples_out], "real_grey": real_grey(request.label)}
    return {
        "grid": sweep_grid(images, scales),
        "metrics": metrics_figure(scales, metrics, judge_note),
        "trajectory": trajectory_image(frames, scales, steps),
        "summary": cfg_summary_markdown(scales, metrics, run, judge_note),
        "formula": cfg_explainer_markdown(scales),
        "images": images,
    }


CLIP_NOTE = (
    "**Clip x0:** at every step the predicted clean image x̂0 is clipped to the data range [-1, 1] and ε is "
    "re-derived from the clipped x̂0 (the reference DDIM's clip; diffusers' `use_clipped_model_output`). Guidance "
    "pushes x̂0 far outside that range (the table's peak x̂0). What the clip changes here is measured, not assumed: "
    "the \"Without clipping x0\" demo counts the grey pixels (speckle) and the judge's reading at each s with the "
    "clip off, and the guidance lab sets the unclipped curve beside clipped CFG's. DiT's own `sample.py` runs in a "
    "VAE's latent space with `clip_denoised=False`, where there is no pixel range to clip to."
)
NEGATIVE_NOTE = (
    "**Negative scales** push away from the digit: with s < 0, "
    "$\\hat\\epsilon - \\epsilon_u = s\\,(\\epsilon_c - \\epsilon_u)$ "
    "points opposite to what the label adds, and the weight on $\\epsilon_c$ is negative. That is not a negative "
    "prompt, which keeps s > 1 and replaces $\\epsilon_u$ by another class's prediction: "
    "$\\epsilon_{neg} + s\\,(\\epsilon_c - \\epsilon_{neg})$ moves towards the digit and away from that class."
)


def cfg_explainer_markdown(scales=None):
    """The guidance formula in DiT's `s` convention, with the Ho & Salimans `w` and the mix weights of the scales."""
    text = (
        "$$\\hat\\epsilon = \\epsilon_u + s\\,(\\epsilon_c - \\epsilon_u) = s\\,\\epsilon_c + (1-s)\\,\\epsilon_u$$\n\n"
        "One network gives both: $\\epsilon_c$ with the digit, $\\epsilon_u$ with the null label ∅ (row 10). "
        "**s = 0** unconditional · **s = 1** conditional · **s > 1** pushes past the conditional prediction, away "
        "from the unconditional one · **s < 0** pushes away from the digit itself. Ho & Salimans' "
        "$(1+w)\\,\\epsilon_c - w\\,\\epsilon_u$ means **w = s − 1**; diffusers' `guidance_scale` is s."
    )
    if scales:
        pairs = []
        for s in scales:
            c, u = mix_weights(s)
            pairs.append(f"s = {fmt(s)} → w = {fmt(s - 1)} ({fmt(c)}·ε_c {'−' if u < 0 else '+'} {fmt(abs(u))}·ε_u)")
        text += f"\n\nThis sweep: {', '.join(pairs)}."
        if any(s < 0 for s in scales):
            text += "\n\n" + NEGATIVE_NOTE
    return text


def metric_trace(xs, ys, name, kind, hover, yaxis="y", line=None, marker=None, **bars):
    """One line of the judge chart in the colour of `kind`; `bars`: its error_y and customdata, if any."""
    return {"type": "scatter", "x": xs, "y": ys, **bars, "mode": "lines+markers", "name": name,
            "line": {"color": KIND_COLOURS[kind], "width": 3, **(line or {})}, "marker": {"size": 10, **(marker or {})},
            "hovertemplate": hover, "xaxis": "x", "yaxis": yaxis}


def metric_traces(xs, ordered, with_diversity):
    """Accuracy with its Wilson bars and confidence on the left axis, diversity (if any) on the right."""
    wilson = {"type": "data", "symmetric": False, "array": [m["accuracy_high"] - m["accuracy"] for m in ordered],
              "arrayminus": [m["accuracy"] - m["accuracy_low"] for m in ordered], "thickness": 2, "width": 6}
    data = [
        metric_trace(xs, [m["accuracy"] for m in ordered], "judge accuracy (95% interval)", "accuracy",
                     "s = %{x}<br>accuracy %{y:.2f} [%{customdata[0]:.2f}, %{customdata[1]:.2f}]<extra></extra>",
                     error_y=wilson, customdata=[[m["accuracy_low"], m["accuracy_high"]] for m in ordered]),
        metric_trace(xs, [m["confidence"] for m in ordered], "judge confidence", "confidence",
                     "s = %{x}<br>judge confidence %{y:.3f}<extra></extra>"),
    ]
    if with_diversity:
        data.append(metric_trace(xs, [m["diversity"] for m in ordered], "diversity (right axis)", "diversity",
                                 "s = %{x}<br>diversity %{y:.3g}<extra></extra>", line={"dash": "dash"},
                                 marker={"symbol": "square"}, yaxis="y2"))
    return data


def metrics_layout(xs, ordered, note):
    """The judge chart's layout: the headline, dotted lines at s = 0 and s = 1, diversity's axis on the right."""
    n = len(ordered[0].get("predicted", [])) or None
    pad = max((max(xs) - min(xs)) * 0.05, 0.25)
    dotted = {"color": "#888", "dash": "dot"}
    subtitle = f"bars: 95% Wilson intervals from {n} sample{'s' if n != 1 else ''} per scale" if n else None
    return plots.layout(
        accuracy_headline(xs, ordered),
        note or subtitle or "dotted lines: s = 0 unconditional, s = 1 conditional",
        height=420,
        margin={"l": 70, "r": 70, "t": 90, "b": 115},
        xaxis={"anchor": "y", "domain": [0.0, 0.94], "title": {"text": "guidance scale s (dotted: s = 0 and s = 1)"},
               "range": [min(xs) - pad, max(xs) + pad]},
        yaxis={"anchor": "x", "domain": [0.0, 1.0], "title": {"text": "accuracy / confidence"}, "range": [0, 1.05]},
        yaxis2={"anchor": "x", "overlaying": "y", "side": "right", "title": {"text": "diversity"}, "showgrid": False,
                "rangemode": "tozero"},
        shapes=[
            {"type": "line", "x0": s, "x1": s, "xref": "x", "y0": 0, "y1": 1, "yref": "y domain", "line": dotted}
            for s in (0, 1)
            if min(xs) <= s <= max(xs)
        ],
        legend={"orientation": "h", "y": -0.3, "x": 0},
    )


def metrics_figure(scales, metrics, note=None):
    """Judge accuracy with 95% Wilson intervals and confidence (left axis), diversity (right axis) against s."""
    if not metrics:
        return plots.message_figure(note or "The judge is not available, so there are no scores for this run.")
    order = np.argsort(scales, kind="stable")
    xs = [float(scales[i]) for i in order]
    ordered = [metrics[i] for i in order]
    with_diversity = all(m.get("diversity") is not None for m in metrics)
    return plots.figure(metric_traces(xs, ordered, with_diversity), metrics_layout(xs, ordered, note))


def accuracy_headline(scales, metrics):
    """A title that states what the judge saw across the scales, and names a best scale only if it is one.

    `metrics` in the order of `scales`, each with accuracy and its 95% interval.
    """
    accuracy = [m["accuracy"] for m in metrics]
    lo, hi = min(accuracy), max(accuracy)
    if hi - lo < 0.05:
        return f"The judge's view: accuracy is flat at {hi:.2f} across these scales"
    best = best_scale(scales, metrics)
    if best is not None:
        return f"The judge's view: accuracy {lo:.2f} to {hi:.2f}, highest at s = {fmt(best)}, clear of the others"
    return f"The judge's view: accuracy {lo:.2f} to {hi:.2f}; the 95% intervals overlap, so no scale is clearly best"


def cfg_summary_markdown(scales, metrics, run, judge_note=None):
    """The run in words and a table. `run`: label, samples, steps, sampler, clip, seconds, x0_peak and grey (the share
    of grey pixels, `pixel_shares`) per scale."""
    n = run["samples"]
    lines = [
        (
            f"**Class {run['label']}**, {len(scales)} scales, {run['steps']} {run['sampler']} steps, sampled in "
            f"{run['seconds']:.1f} s. Every row starts from the same noise at every scale, so a row shows what "
            "guidance alone changes."
        )
    ]
    peaks = run.get("x0_peak")
    if metrics or peaks:
        header = ["s", "w"]  # short headers and no confidence (it is in the chart): no cell breaks at 1280 px
        if metrics:
            header += ["accuracy [95%]", "judge read", "entropy", "diversity"]
        header.append("peak x̂0")
        rows = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
        for k, s in enumerate(scales):
            cells = [fmt(s), fmt(s - 1)]
            if metrics:
                m = metrics[k]
                cells += [
                    f"{m['accuracy']:.2f} [{m['accuracy_low']:.2f}, {m['accuracy_high']:.2f}]",
                    " ".join(str(p) for p in sorted(m.get("predicted", []))),
                    f"{m['label_entropy']:.2f}",
                    f"{m['diversity']:.3g}" if m.get("diversity") is not None else "–",
                ]
            cells.append(f"{peaks[k]:.1f}" if peaks else "–")
            rows.append("| " + " | ".join(cells) + " |")
        lines.append("\n".join(rows))
    if peaks:
        top = max(range(len(scales)), key=lambda k: peaks[k])
        if run["clip"]:
            lines.append(
                "Peak x̂0: the largest absolute pixel of the guided x̂0 over all steps, before clipping; the data "
                f"lie in [-1, 1]. It reaches {peaks[top]:.1f} at s = {fmt(scales[top])}: clipping x̂0 (on) pulls it "
                "back at every step and ε is re-derived from the clipped x̂0."
            )
        else:
            lines.append(
                f"**Clipping is off:** the steps use the raw x̂0, whose largest pixel reaches {peaks[top]:.1f} at "
                f"s = {fmt(scales[top])} (the data lie in [-1, 1]). Tick the box to rerun from the same noise with "
                "the clip and compare the columns at large s: the grey pixels (speckle) and what the judge reads."
            )
    if run.get("grey"):
        real = run.get("real_grey")
        lines.append(
            f"Grey pixels (in (−{GREY}, {GREY}), neither ink nor background"
            + (f"; held-out real {run['label']}s: {real:.0%}" if real is not None else "") + "): "
            + ", ".join(f"s = {fmt(s)} {g:.0%}" for s, g in zip(scales, run["grey"], strict=True)) + "."
        )
    if metrics:
        ceiling = entropy_ceiling(n)
        lines.append(
            f"Accuracy: share of the {n} samples the judge reads as {run['label']}, with its 95% Wilson interval. "
            f"Judge read: the digit the judge saw in each sample. Entropy (nats) of those readings: 0 = all "
            f"read as one digit, the ideal here since one digit is asked for; with {n} sample{'s' if n != 1 else ''} "
            f"it can be at most ln {min(n, 10)} = {ceiling:.2f} (the all-ten-digit reading belongs to the model "
            "card's evaluation). Diversity: mean pixel distance between samples of the same scale (lower = more "
            "alike; – with one sample). w = s − 1, Ho & Salimans' scale."
            + (" At s = 0 the label is ignored, so accuracy there is about chance." if 0 in scales else "")
            + (" At s < 0 guidance pushes away from the digit: see what the judge reads instead." if any(
                s < 0 for s in scales) else "")
        )
    if judge_note:
        lines.append(judge_note)
    return "\n\n".join(lines)
