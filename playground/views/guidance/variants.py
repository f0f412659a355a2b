"""Guidance schedules and variants side by side on the same noise: constant CFG, a guidance interval, CFG rescale
(on x0 and on ε), a negative class, no clipping and autoguidance, each a column of samples, with the judge's reading
and the precomputed trade-off curves beside them.

Every sample comes from `playground.sampling.sample_guided` with a `playground.guidance.Guidance`. A method the
served model cannot run (CFG without a null class, autoguidance of the weak model by itself) is left out and the
table says why.
"""

import math
import time
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import torch

from playground import plots
from playground.cache import weights_digest
from playground.data import to_uint8
from playground.diffusion import ALPHAS_CUMPROD, DEFAULT_SAMPLER, DEFAULT_STEPS, sampling_timesteps
from playground.grids import labelled_grid
from playground.guidance import INTERVAL, RESCALE_PHI, Guidance, GuidanceError, in_interval
from playground.inputs import MAX_SEED, as_float, as_int, fmt
from playground.judge import classify, diversity, diversity_jackknife_se, wilson_interval
from playground.model import DiTConfig
from playground.sampling import sample_guided
from playground.views.guidance import curves
from playground.views.guidance.cfg import SCALE_RANGE

MAX_LAB_SAMPLES = 8  # samples per method column (7 columns: 56 images x 8 steps x 2 predictions)
LAB_DEFAULTS = MappingProxyType({"label": 3, "seed": 0, "scale": 4.0, "samples": 4, "t_lo": INTERVAL[0],
                                 "t_hi": INTERVAL[1], "phi": RESCALE_PHI, "negative": 8})
LAB_PRESETS = {  # one-click demos, in the order of LAB_DEFAULTS
    "Guidance only in the middle keeps variety": {**LAB_DEFAULTS, "label": 2, "scale": 6.0, "samples": 6},
    "Too much guidance, tamed by rescale": {**LAB_DEFAULTS, "label": 5, "scale": 12.0, "phi": 1.0},
    "Steer a 7 away from 1": {**LAB_DEFAULTS, "label": 7, "scale": 4.0, "negative": 1, "samples": 6},
    "Without clipping: saturated blobs": {**LAB_DEFAULTS, "label": 0, "scale": 6.0},
}
TRADEOFF_KEYS = ["cfg", "interval", "rescale", "negative", "autoguidance"]  # the curves drawn beside the columns
SELF_GUIDED = ("autoguidance is left out: the served model is the p = 0.1 companion, the very model autoguidance "
               "guides with, and a companion served as the main model cannot be autoguided by itself.")
NO_WEAK_MODEL = "autoguidance is left out: its weaker model (the p = 0.1 companion) did not load."


@dataclass(frozen=True)
class LabRequest:
    """One comparison: the digit, seed, scale s and samples per method; the guidance interval [t_lo, t_hi]; the
    rescale phi; the class the negative-class column guides away from."""

    label: int
    seed: int
    scale: float
    samples: int
    t_lo: int
    t_hi: int
    phi: float
    negative: int


def validate_lab(label, seed, scale, samples, t_lo, t_hi, phi, negative, num_classes=DiTConfig.num_classes):
    """The request, checked; `ValueError` naming the field that is wrong."""
    label, seed = as_int(label, "digit", 0, num_classes - 1), as_int(seed, "seed", 0, MAX_SEED)
    scale = as_float(scale, "guidance scale", *SCALE_RANGE)
    samples = as_int(samples, "samples per method", 2, MAX_LAB_SAMPLES)
    t_lo, t_hi = as_int(t_lo, "interval start t_lo", 0, 999), as_int(t_hi, "interval end t_hi", 0, 999)
    if t_lo > t_hi:
        raise ValueError(f"the guidance interval needs t_lo <= t_hi; got {t_lo} > {t_hi}")
    phi = as_float(phi, "rescale phi", 0.0, 1.0)
    negative = as_int(negative, "negative class", 0, num_classes - 1)
    return LabRequest(label, seed, scale, samples, t_lo, t_hi, phi, negative)


def same_weights(a, b):
    """Whether two modules hold the same weights (the same checkpoint, whichever path loaded it)."""
    return a is b or weights_digest(a) == weights_digest(b)


def lab_methods(request, model, weak_model):
    """`(methods, notes)`: (key, column header, Guidance) of every method the lab can run on `model` at the
    request's scale, and a sentence for each one it cannot, saying why."""
    r = request
    candidates = [("cfg", "constant\nCFG", Guidance()),
                  ("interval", f"interval\n[{r.t_lo}, {r.t_hi}]", Guidance(interval=(r.t_lo, r.t_hi))),
                  ("rescale_x0", f"rescale x0\nphi {fmt(r.phi)}", Guidance(rescale=r.phi)),
                  ("rescale_eps", f"rescale eps\nphi {fmt(r.phi)}", Guidance(rescale=r.phi, rescale_space="eps")),
                  ("negative", f"negative\nclass {r.negative}", Guidance(negative_label=r.negative)),
                  ("no_clip", "no\nclipping", Guidance(clip=False))]
    notes = []
    if weak_model is None:
        notes.append(NO_WEAK_MODEL)
    elif same_weights(model, weak_model):
        notes.append(SELF_GUIDED)
    else:
        candidates.append(("autoguidance", "auto-\nguidance", Guidance(guide_model=weak_model)))
    methods, refused = [], {}
    for key, header, guidance in candidates:
        try:
            guidance.check(model, [r.scale])
            methods.append((key, header, guidance))
        except GuidanceError as e:  # a limit of this model: the same reason may hold for several methods
            refused.setdefault(str(e), []).append(header.replace("\n", " "))
    notes += [f"{', '.join(names)}: left out, because {reason}" for reason, names in refused.items()]
    return methods, notes


def interval_figure(t_lo, t_hi, steps=DEFAULT_STEPS):
    """log-SNR over t with the guidance interval shaded and the sampler's steps marked, sigma on hover."""
    t = np.arange(1000)
    abar = ALPHAS_CUMPROD.numpy()
    log_snr = np.log(abar / (1 - abar))
    sigma = np.sqrt((1 - abar) / abar)
    on = [s for s in sampling_timesteps(steps) if in_interval(s, (t_lo, t_hi))]
    off = [s for s in sampling_timesteps(steps) if not in_interval(s, (t_lo, t_hi))]
    data = [{"type": "scatter", "mode": "lines", "x": t.tolist(), "y": log_snr.round(4).tolist(), "name": "log-SNR",
             "customdata": sigma.round(4).tolist(), "line": {"color": "#555"},
             "hovertemplate": "t = %{x}<br>log-SNR λ = %{y:.2f}<br>σ = %{customdata:.3f}<extra></extra>"}]
    for name, ts, colour in (("guided steps", on, "#d62728"), ("s = 1 steps", off, "#1f77b4")):
        data.append({"type": "scatter", "mode": "markers", "x": ts, "y": [float(log_snr[s]) for s in ts],
                     "name": name, "marker": {"size": 12, "color": colour}})
    shade = [{"type": "rect", "xref": "x", "yref": "paper", "x0": t_lo - 0.5, "x1": t_hi + 0.5, "y0": 0, "y1": 1,
              "fillcolor": "#d62728", "opacity": 0.12, "line": {"width": 0}}]
    sig_lo = math.sqrt((1 - abar[t_lo - 1]) / abar[t_lo - 1]) if t_lo > 0 else 0.0
    return plots.figure(data, plots.layout(
        f"{len(on)} of {steps} steps guided: t ∈ [{t_lo}, {t_hi}]",
        f"the paper's σ ∈ ({sig_lo:.2f}, {sigma[t_hi]:.2f}], σ_t = √((1−ᾱ)/ᾱ); log-SNR λ = log(ᾱ/(1−ᾱ))",
        height=360, shapes=shade, xaxis={"title": "timestep t"}, yaxis={"title": "log-SNR λ"},
        legend={"orientation": "h", "y": -0.3}))


def lab_view(model, request, judge=None, weak_model=None, tradeoff=None, progress=None):
    """One column per guidance method the model can run, the same digit and noise, with the judge's scores, the
    interval on the noise schedule and the trade-off curves; the table names any method left out and why."""
    methods, notes = lab_methods(request, model, weak_model)
    labels = [request.label] * request.samples
    columns, rows, t0 = {}, [], time.time()
    for i, (key, header, guidance) in enumerate(methods):
        if progress is not None:
            progress((i, len(methods)), desc=header.replace("\n", " "))
        x = sample_guided(model, labels, [request.scale], steps=DEFAULT_STEPS, seed=request.seed,
                          sampler=DEFAULT_SAMPLER, guidance=guidance)[0]
        columns[key] = x
        row = {"method": header.replace("\n", " "), "diversity": diversity(x, labels),
               "diversity_se": diversity_jackknife_se(x, labels)}
        if judge is not None:
            predicted = classify(judge, x, labels)["predicted"]
            hits = sum(p == request.label for p in predicted)
            row.update(accuracy=hits / request.samples, interval=wilson_interval(hits, request.samples),
                       predicted=predicted)
        rows.append(row)
    seconds = time.time() - t0
    images = to_uint8(torch.stack(list(columns.values()), 1)).numpy()  # [N, M, 28, 28]
    grid = labelled_grid(images, [header for _, header, _ in methods], cell=76, font_size=15)
    rescale_gap = (float((columns["rescale_x0"] - columns["rescale_eps"]).abs().max())
                   if {"rescale_x0", "rescale_eps"} <= columns.keys() else None)
    return {"grid": grid, "table": _lab_table(rows, request, seconds, rescale_gap, notes),
            "interval": interval_figure(request.t_lo, request.t_hi),
            "tradeoff": curves.accuracy_diversity_figure(tradeoff, TRADEOFF_KEYS),
            "frechet": curves.frechet_figure(tradeoff, TRADEOFF_KEYS),
            "verdict": matched_accuracy_markdown(tradeoff)}


def _lab_table(rows, request, seconds, rescale_gap, notes):
    lines = [f"**Digit {request.label}, s = {fmt(request.scale)}, {len(rows)} methods, same starting noise in every "
             f"column** ({seconds:.1f} s). Accuracy with its 95% Wilson interval; diversity ± jackknife SE.", "",
             "| method | judge accuracy | judge read | diversity |", "|---|---|---|---|"]
    for row in rows:
        acc = "-" if "accuracy" not in row else (
            f"{row['accuracy']:.2f} [{row['interval'][0]:.2f}, {row['interval'][1]:.2f}]")
        read = "-" if "predicted" not in row else " ".join(map(str, row["predicted"]))
        se = row["diversity_se"]
        div = f"{row['diversity']:.2f}" + ("" if math.isnan(se) else f" ± {se:.2f}")
        lines.append(f"| {row['method']} | {acc} | {read} | {div} |")
    lines += [line for note in notes for line in ("", f"**Not shown:** {note}")]
    lines.append("")
    if rescale_gap is not None:
        visible = "differ visibly" if rescale_gap > 2 / 255 * 2 else "do not differ visibly"
        lines.append(f"Rescale on x0 (Lin et al.) and on ε (diffusers' `rescale_noise_cfg`) {visible} here: their "
                     f"largest pixel difference is {rescale_gap:.3f} on the [−1, 1] scale. On ε the std ratio is taken "
                     "on the noise, which at high noise is nearly x_t itself, so the two differ most at strong "
                     "guidance.")
    lines.append("With a handful of samples these intervals are wide: read the trade-off curves below (300 samples a "
                 "point) before concluding that one method beats another.")
    return "\n".join(lines)


def matched_accuracy_markdown(tradeoff, target=0.95):
    """Each method's diversity and Frechet where its accuracy first reaches `target` (scale interpolated)."""
    if tradeoff is None:
        return f"*No trade-off file: run `{curves.COMMAND}`.*"
    lines = [f"**At matched accuracy {target:.2f}** (scale interpolated between measured points; "
             f"{10 * tradeoff['settings']['per_class']} samples per point):", "",
             "| method | scale reaching it | diversity there | Frechet there |", "|---|---|---|---|"]
    for key in ("cfg", "interval", "rescale", "negative", "autoguidance", "classifier"):
        pts = curves.points(tradeoff, key)
        s = curves.interpolate_scale(pts, "accuracy", target)
        if s is None:
            first = pts[0] if pts else None
            where = (f"already at its first point, {curves.scale_of(first):g}" if first and
                     first["accuracy"] >= target else "not reached")
            lines.append(f"| {curves.NAMES[key]} | {where} | - | - |")
            continue
        div, fre = curves.value_at(pts, "diversity", s), curves.value_at(pts, "frechet", s)
        lines.append(f"| {curves.NAMES[key]} | {fmt(round(s, 2))} | {div:.2f} | {fre:.1f} |")
    return "\n".join(lines)
