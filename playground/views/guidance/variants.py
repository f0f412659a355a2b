"""Guidance schedules and variants side by side on the same noise: constant CFG, a guidance interval, CFG rescale
(on ε, Lin et al.'s form for an ε-model, and on x0, a variant), a negative class, no clipping and autoguidance, each
a column of samples, with the judge's reading and the precomputed trade-off curves beside them.

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
from playground.judge import GREY, SATURATED, classify, diversity, diversity_jackknife_se, pixel_shares, wilson_interval
from playground.model import DiTConfig
from playground.sampling import sample_guided
from playground.views.guidance import curves
from playground.views.guidance.cfg import SCALE_RANGE

GRID_CELL = 96  # pixels a sample takes in the grid: legible from the back of a room
CURVE_HEIGHT = 400  # the two trade-off curves under the grid: the page stays within two screens
MAX_LAB_SAMPLES = 8  # samples per method column (7 columns: 56 images x 8 steps x 2 predictions)
LAB_DEFAULTS = MappingProxyType({"label": 3, "seed": 0, "scale": 4.0, "samples": 4, "t_lo": INTERVAL[0],
                                 "t_hi": INTERVAL[1], "phi": RESCALE_PHI, "negative": 8})
LAB_PRESETS = {  # one-click demos, in the order of LAB_DEFAULTS; each name says what it sets, not an outcome
    "Guidance only in the middle, at s = 6": {**LAB_DEFAULTS, "label": 2, "scale": 6.0, "samples": 6},
    "Strong guidance (s = 12) against full rescale (φ = 1)": {**LAB_DEFAULTS, "label": 5, "scale": 12.0, "phi": 1.0},
    "Steer a 7 away from 1": {**LAB_DEFAULTS, "label": 7, "scale": 4.0, "negative": 1, "samples": 6},
    "Without clipping x0: speckle at large s": {**LAB_DEFAULTS, "label": 0, "scale": 6.0},
}
TRADEOFF_KEYS = ["cfg", "interval", "rescale", "negative", "no_clip", "autoguidance"]  # the curves beside the columns
MATCHED_KEYS = ("cfg", "interval", "rescale", "negative", "no_clip", "autoguidance", "classifier")
TERMINAL_SNR = float(ALPHAS_CUMPROD[-1] / (1 - ALPHAS_CUMPROD[-1]))  # abar/(1 - abar) at t = 999: not zero
RESCALE_CONTEXT = (
    "Lin et al. (2024, §3.4) rescale the model's output; their model predicts v, with a zero-terminal-SNR schedule, "
    "and rescale counters the over-exposure that strong guidance gives it. For an ε-model like this one the literal "
    "form rescales ε (diffusers' `rescale_noise_cfg`); rescaling x0 is a variant. This model is neither v-prediction "
    f"nor zero-terminal-SNR: it predicts ε, with a linear schedule whose last step keeps an SNR of {TERMINAL_SNR:.0e}, "
    "so the paper's reason for rescale does not carry over as such: judge it by the trade-off curves.")
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
                  ("rescale_x0", f"rescale x0\n(variant) φ {fmt(r.phi)}", Guidance(rescale=r.phi)),
                  ("rescale_eps", f"rescale ε\n(Lin) φ {fmt(r.phi)}", Guidance(rescale=r.phi, rescale_space="eps")),
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
        height=360, shapes=shade, xaxis={"title": "t (0 clean → 999 noise)"}, yaxis={"title": "log-SNR λ"},
        # log-SNR falls with t, so the top right corner is empty: the legend sits there, off the axis titles.
        legend={"x": 0.99, "xanchor": "right", "y": 0.99, "yanchor": "top", "bgcolor": "rgba(255,255,255,0.85)"}))


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
        row = {"key": key, "method": header.replace("\n", " "), "diversity": diversity(x, labels),
               "diversity_se": diversity_jackknife_se(x, labels), **pixel_shares(x)}
        if judge is not None:
            predicted = classify(judge, x, labels)["predicted"]
            hits = sum(p == request.label for p in predicted)
            row.update(accuracy=hits / request.samples, interval=wilson_interval(hits, request.samples),
                       predicted=predicted)
        rows.append(row)
    seconds = time.time() - t0
    images = to_uint8(torch.stack(list(columns.values()), 1)).numpy()  # [N, M, 28, 28]
    # The grid's font has no Greek letters: its headers spell them out.
    headers = [header.replace("φ", "phi").replace("ε", "eps") for _, header, _ in methods]
    grid = labelled_grid(images, headers, cell=GRID_CELL, font_size=15)
    rescale_gap = (float((columns["rescale_x0"] - columns["rescale_eps"]).abs().max())
                   if {"rescale_x0", "rescale_eps"} <= columns.keys() else None)
    parts = [_lab_table(rows, request, seconds, notes, tradeoff)]
    if "no_clip" in columns:
        parts.append(clip_markdown(rows, tradeoff, request))
    if {"rescale_x0", "rescale_eps"} & columns.keys():
        parts.append(rescale_markdown(rescale_gap, tradeoff))
    return {"grid": grid, "table": "\n\n".join(parts), "interval": interval_figure(request.t_lo, request.t_hi),
            "tradeoff": curves.accuracy_diversity_figure(tradeoff, TRADEOFF_KEYS, height=CURVE_HEIGHT),
            "frechet": curves.frechet_figure(tradeoff, TRADEOFF_KEYS, height=CURVE_HEIGHT),
            "verdict": matched_accuracy_markdown(tradeoff)}


def _lab_table(rows, request, seconds, notes, tradeoff):
    real = curves.real_diversity(tradeoff, request.label)
    real_grey = ((tradeoff or {}).get("real_pixels") or {}).get("per_digit")
    lines = [f"**Digit {request.label}, s = {fmt(request.scale)}, {len(rows)} methods, same starting noise in every "
             f"column** ({seconds:.1f} s). Accuracy with its 95% Wilson interval; diversity ± jackknife SE, read "
             "against real digits' (closer is more like handwriting; noise and speckle raise it); grey pixels: share "
             f"in (−{GREY}, {GREY}), neither ink nor background.", "",
             "| method | judge accuracy | judge read | diversity"
             + (f" (real {request.label}s: {real[0]:.2f})" if real else "") + " | grey pixels"
             + (f" (real: {real_grey[request.label]['grey']:.0%})" if real_grey else "") + " |",
             "|---|---|---|---|---|"]
    for row in rows:
        acc = "-" if "accuracy" not in row else (
            f"{row['accuracy']:.2f} [{row['interval'][0]:.2f}, {row['interval'][1]:.2f}]")
        read = "-" if "predicted" not in row else " ".join(map(str, row["predicted"]))
        se = row["diversity_se"]
        div = f"{row['diversity']:.2f}" + ("" if math.isnan(se) else f" ± {se:.2f}")
        lines.append(f"| {row['method']} | {acc} | {read} | {div} | {row['grey']:.0%} |")
    lines += [line for note in notes for line in ("", f"**Not shown:** {note}")]
    lines += ["", "With a handful of samples these intervals are wide: read the trade-off curves below (300 samples a "
              "point) before concluding that one method beats another."]
    return "\n".join(lines)


def clip_markdown(rows, tradeoff, request):
    """What clipping x0 changes, computed: grey and saturated pixels of the clipped and unclipped columns against
    real digits of the same class, and the curves' accuracy and Frechet with and without the clip."""
    by_key = {row["key"]: row for row in rows}
    text = ("**Clipping x0** to [−1, 1] (and re-deriving ε from it, as the reference DDIM does) is on in every column "
            "but \"no clipping\".")
    if {"cfg", "no_clip"} <= by_key.keys():
        on, off = by_key["cfg"], by_key["no_clip"]
        real = (((tradeoff or {}).get("real_pixels") or {}).get("per_digit") or [None] * 10)[request.label]
        ref = f" (real {request.label}s: {real['grey']:.0%} and {real['saturated']:.0%})" if real else ""
        text += (f" Here, without it, {off['grey']:.0%} of the pixels are grey and {off['saturated']:.0%} at "
                 f"|x| > {SATURATED}, against {on['grey']:.0%} and {on['saturated']:.0%} with it{ref}: "
                 + ("grey speckle, not saturation." if off["grey"] > on["grey"] and off["saturated"] <= on["saturated"]
                    else "no more speckle than with the clip at this scale."))
    return text + " " + _clip_curves(tradeoff)


def _clip_curves(tradeoff):
    on, off = curves.points(tradeoff, "cfg"), curves.points(tradeoff, "no_clip")
    shared = {curves.scale_of(p) for p in on} & {curves.scale_of(p) for p in off}
    if not shared:
        return f"(No clipped-against-unclipped curves: run `{curves.COMMAND}`.)"
    s = max(shared)
    a = next(p for p in on if curves.scale_of(p) == s)
    b = next(p for p in off if curves.scale_of(p) == s)
    z = curves.separation(curves.value_se(b, "frechet"), curves.value_se(a, "frechet"))
    lower = "lower" if b["frechet"] < a["frechet"] else "higher"
    fre = (f"{lower} without the clip ({curves.fmt_point(b, 'frechet')} against {curves.fmt_point(a, 'frechet')}, "
           f"{z:.1f} SE apart)" if z >= 2 else f"within the noise ({curves.fmt_point(b, 'frechet')} against "
           f"{curves.fmt_point(a, 'frechet')})")
    apart = b["accuracy_high"] < a["accuracy_low"] or a["accuracy_high"] < b["accuracy_low"]
    return (f"Over all digits at s = {fmt(s)}, the largest scale both curves measure "
            f"({10 * tradeoff['settings']['per_class']} samples each), the judge's accuracy is "
            f"{curves.fmt_point(b, 'accuracy')} without the clip against {curves.fmt_point(a, 'accuracy')} with it ("
            + ("the intervals do not overlap" if apart else "the intervals overlap: the judge reads as many digits")
            + f"), and the Frechet distance is {fre}. The judge's features barely register grey speckle, so a lower "
            "Frechet distance does not mean cleaner digits. Past that scale the curves say nothing: the CFG page's "
            "\"Without clipping x0\" demo sweeps to s = 30 with the judge's reading at each scale (rerun it with "
            "the clip ticked to compare).")


def rescale_markdown(rescale_gap, tradeoff):
    """Rescale on ε (Lin et al.'s form for this ε-model) against rescale on x0 (a variant) in this run, and what
    the trade-off's rescale curve (x0, φ from the file) shows against CFG, computed; then the paper's setting."""
    lines = []
    if rescale_gap is not None:
        visible = "differ visibly" if rescale_gap > 2 / 255 * 2 else "do not differ visibly"
        lines.append(f"Rescale on ε (Lin et al.'s rescale of the model output, literal for an ε-model; diffusers' "
                     f"`rescale_noise_cfg`) and on x0 (a variant) {visible} here: their largest pixel difference is "
                     f"{rescale_gap:.3f} on the [−1, 1] scale. On ε the std ratio is taken on the noise, which at high "
                     "noise is nearly x_t itself, so the two differ most at strong guidance.")
    cfg = {curves.scale_of(p): p for p in curves.points(tradeoff, "cfg")}
    pairs = [(curves.scale_of(p), p, cfg[curves.scale_of(p)]) for p in curves.points(tradeoff, "rescale")
             if curves.scale_of(p) in cfg and curves.scale_of(p) > 1]
    if pairs:
        gaps = [(s, r["frechet"] - c["frechet"], curves.separation(curves.value_se(r, "frechet"),
                                                                   curves.value_se(c, "frechet")))
                for s, r, c in pairs]
        higher = [s for s, gap, _ in gaps if gap > 0]
        closer = [s for s, gap, z in gaps if gap < 0 and z >= 2]
        top = max(z for _, _, z in gaps)
        lines.append(
            f"In the trade-off curves (rescale on x0, φ = {fmt(tradeoff.get('rescale_phi', RESCALE_PHI))}, "
            f"{10 * tradeoff['settings']['per_class']} samples a point), rescale's Frechet distance is higher than "
            f"CFG's at {len(higher)} of the {len(gaps)} scales above 1"
            + (f" (s = {', '.join(fmt(s) for s in higher)})" if higher else "")
            + f", the gap at most {top:.1f} SE at any one s (as independent estimates; the two share their noise, "
            "so a paired comparison would say more): "
            + (f"rescale is closer to real digits at s = {', '.join(fmt(s) for s in closer)}." if closer else
               "the data here do not show rescale bringing samples closer to real digits.")
        )
    lines.append(RESCALE_CONTEXT)
    return "\n\n".join(lines)


def _matched_scale(m, x):
    """Where the target is reached, in words: the interpolated scale and its bracket, or why there is none."""
    if m.status == "crossed":
        return f"{x} ≈ {m.scale:.2f} (between {fmt(m.scales[0])} and {fmt(m.scales[1])})"
    if m.status == "flat":
        return f"not resolved: within the interval from {x} = {fmt(m.scales[0])} to {fmt(m.scales[1])}"
    if m.status == "already":
        return f"already at its first point, {x} = {fmt(m.scales[0])}"
    return "not reached"


def _matched_cell(m, metric, digits):
    """A metric at matched accuracy: 'value ± SE' where the crossing is resolved, 'low ± SE … high ± SE' over the
    flat stretch where it is not, '-' where the target is not reached."""
    def one(v):
        return f"{v[0]:.{digits}f} ± {v[1]:.{digits}f}"
    if m.status in ("crossed", "already"):
        return one(m.values[metric])
    if m.status == "flat":
        low, high = m.values[metric]
        return f"{one(low)} … {one(high)}"
    return "-"


def matched_accuracy_markdown(tradeoff, target=0.95):
    """Each method's diversity and Frechet (± SE) where its accuracy reaches `target` (`curves.matched_accuracy`),
    the scale interpolated only where the Wilson intervals resolve the crossing; and which Frechet differences
    from CFG's are beyond 2 standard errors."""
    if tradeoff is None:
        return f"*No trade-off file: run `{curves.COMMAND}`.*"
    real = curves.real_diversity(tradeoff)
    lines = [f"**At matched accuracy {target:.2f}** ({10 * tradeoff['settings']['per_class']} samples per measured "
             "point; ± 1 SE, interpolated between the two points around the crossing; where the accuracy stays within "
             "its 95% interval of the target over several points, the crossing is not resolved and the range over "
             "them is shown instead):", "",
             "| method | scale reaching it | diversity there" + (f" (real digits: {real[0]:.2f})" if real else "")
             + f" | Frechet there ({curves.floor_text(tradeoff)}) |", "|---|---|---|---|"]
    matched = {}
    for key in MATCHED_KEYS:
        pts = curves.points(tradeoff, key)
        if not pts:
            lines.append(f"| {curves.NAMES[key]} | not in the file | - | - |")
            continue
        m = matched[key] = curves.matched_accuracy(pts, target)
        where = _matched_scale(m, "g" if "g" in pts[0] else "s")
        lines.append(f"| {curves.NAMES[key]} | {where} | {_matched_cell(m, 'diversity', 2)} | "
                     f"{_matched_cell(m, 'frechet', 1)} |")
    return "\n".join(lines + ["", _matched_verdict(matched)])


def _matched_verdict(matched):
    """Which methods' Frechet distance at matched accuracy differs from CFG's by more than 2 SE, in words."""
    base = matched.get("cfg")
    if base is None or base.status != "crossed":
        return "CFG's crossing is not resolved, so the others are not compared with it."
    others = {k: m for k, m in matched.items() if k != "cfg" and m.status == "crossed"}
    apart = {k: curves.separation(m.values["frechet"], base.values["frechet"]) for k, m in others.items()}
    unresolved = [curves.NAMES[k] for k, m in matched.items() if m.status != "crossed"]
    side = {k: "lower" if m.values["frechet"][0] < base.values["frechet"][0] else "higher" for k, m in others.items()}
    apart_names = [f"{curves.NAMES[k]} ({side[k]}, {z:.1f} SE)" for k, z in apart.items() if z >= 2]
    close = [curves.NAMES[k] for k, z in apart.items() if z < 2]
    text = ""
    if close:
        text += (f"Frechet at matched accuracy: {', '.join(close)} within 2 SE of CFG's (largest gap "
                 f"{max(apart[k] for k in apart if apart[k] < 2):.1f} SE): the evidence does not separate them. ")
    if apart_names:
        text += f"Beyond 2 SE of CFG's: {', '.join(apart_names)}. "
    if unresolved:
        text += f"Not compared (no resolved crossing): {', '.join(unresolved)}."
    return text.strip()
