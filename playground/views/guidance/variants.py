"""The guidance lab: one guided step opened up (`guided_step_view`), and guidance schedules and variants side by
side on the same noise (`lab_view`), with the precomputed trade-off curves beside them.

Every sample comes from `playground.sampling.sample_guided` with a `playground.guidance.Guidance`; the
predictions of the opened step come from the model's own forward on the trajectory's x_t.
"""

import math
import time
from types import MappingProxyType

import numpy as np
import torch

from playground import plots
from playground.data import to_uint8
from playground.diffusion import ALPHAS_CUMPROD, DEFAULT_SAMPLER, DEFAULT_STEPS, alpha_sigma, sampling_timesteps
from playground.grids import labelled_grid
from playground.guidance import INTERVAL, RESCALE_PHI, Guidance, GuidanceError, in_interval
from playground.inputs import MAX_SEED, as_float, as_int, fmt
from playground.judge import classify, diversity, diversity_jackknife_se, wilson_interval
from playground.model import DiTConfig
from playground.sampling import sample_guided
from playground.views.guidance import curves

SCALE_RANGE = (-5.0, 30.0)
MAX_LAB_SAMPLES = 8  # samples per method column (7 columns: 56 images x 8 steps x 2 predictions)
STEP_DEFAULTS = MappingProxyType({"label": 3, "seed": 0, "step": 4, "scale": 4.0})
LAB_DEFAULTS = MappingProxyType({"label": 3, "seed": 0, "scale": 4.0, "samples": 4, "t_lo": INTERVAL[0],
                                 "t_hi": INTERVAL[1], "phi": RESCALE_PHI, "negative": 8})
LAB_PRESETS = {  # one-click demos, in the order of LAB_DEFAULTS
    "Guidance only in the middle keeps variety": {**LAB_DEFAULTS, "label": 2, "scale": 6.0, "samples": 6},
    "Too much guidance, tamed by rescale": {**LAB_DEFAULTS, "label": 5, "scale": 12.0, "phi": 1.0},
    "Steer a 7 away from 1": {**LAB_DEFAULTS, "label": 7, "scale": 4.0, "negative": 1, "samples": 6},
    "Without clipping: saturated blobs": {**LAB_DEFAULTS, "label": 0, "scale": 6.0},
}
DIFF_SCALE = "RdBu"  # diverging: blue negative, red positive, white zero
GRAY = [[0, "black"], [1, "white"]]


def validate_step(label, seed, step, scale, num_classes=DiTConfig.num_classes, steps=DEFAULT_STEPS):
    return (as_int(label, "digit", 0, num_classes - 1), as_int(seed, "seed", 0, MAX_SEED),
            as_int(step, "step", 1, steps), as_float(scale, "guidance scale", *SCALE_RANGE))


def validate_lab(label, seed, scale, samples, t_lo, t_hi, phi, negative, num_classes=DiTConfig.num_classes):
    label, seed = as_int(label, "digit", 0, num_classes - 1), as_int(seed, "seed", 0, MAX_SEED)
    scale = as_float(scale, "guidance scale", *SCALE_RANGE)
    samples = as_int(samples, "samples per method", 2, MAX_LAB_SAMPLES)
    t_lo, t_hi = as_int(t_lo, "interval start t_lo", 0, 999), as_int(t_hi, "interval end t_hi", 0, 999)
    if t_lo > t_hi:
        raise ValueError(f"the guidance interval needs t_lo <= t_hi; got {t_lo} > {t_hi}")
    phi = as_float(phi, "rescale phi", 0.0, 1.0)
    negative = as_int(negative, "negative class", 0, num_classes - 1)
    return label, seed, scale, samples, t_lo, t_hi, phi, negative


#################################################################################
#                              One guided step                                  #
#################################################################################


def trajectory(model, label, seed, scale, steps=DEFAULT_STEPS):
    """`(timesteps, x_t [steps, 1, 28, 28])`: the states a guided sample passes through, before each step."""
    states = []
    sample_guided(model, [label], [scale], steps=steps, seed=seed, sampler=DEFAULT_SAMPLER,
                     on_step=lambda d: states.append(d["x_t"][0, 0].clone()))
    return sampling_timesteps(steps), torch.stack(states)


@torch.no_grad()
def both_predictions(model, x, timesteps, label):
    """eps_c and eps_u `[steps, 1, 28, 28]` at every state, in one forward of the doubled batch [x; x]."""
    n = len(x)
    t = torch.as_tensor(timesteps * 2)
    y = torch.tensor([label] * n + [model.null_class] * n)
    out = model(torch.cat([x, x]), t, y)[:, : model.config.in_channels]
    return out[:n], out[n:]


def forward_with_cfg_trace(model, label, t, scale):
    """The reference's `forward_with_cfg`, line by line, with this model's shapes and numbers."""
    c = model.config
    img = f"{c.in_channels}, {c.input_size}, {c.input_size}"
    return "\n".join([
        f"**`forward_with_cfg`, as the reference writes it, for one sample at t = {t}, s = {fmt(scale)}:**",
        "```text",
        f"half = x[: len(x) // 2]            [1, {img}]   the sampler carries a doubled batch",
        f"combined = cat([half, half])        [2, {img}]",
        f"y = [{label}, {model.null_class}]                        the digit, then the null class (row "
        f"{model.null_class} of the label table)",
        f"model_out = forward(combined, t, y) [2, {model.out_channels}, {c.input_size}, {c.input_size}]"
        "   ONE forward for both predictions",
        f"eps, rest = model_out[:, :3], model_out[:, 3:]   here [2, {c.in_channels}, ...] and nothing",
        f"cond_eps, uncond_eps = split(eps, 1)       [1, {img}] each",
        f"half_eps = uncond_eps + {fmt(scale)} * (cond_eps - uncond_eps)",
        f"eps = cat([half_eps, half_eps])     [2, {img}]   both halves continue as the same guided sample",
        "return cat([eps, rest], dim=1)",
        "```",
        "The reference model predicts 8 channels (4 latent noise channels and, with `learn_sigma`, 4 variance "
        "channels). `model_out[:, :3]` guides only the first **3** of the 4 noise channels; its own comment says all "
        "could be guided and the 3 are kept for exact reproducibility of its results (diffusers' DiTPipeline guides "
        "all). The variance channels sit in `rest` and are never guided: guidance moves the mean, the predicted "
        f"variance comes from the model. This model has {c.in_channels} pixel channel and `learn_sigma="
        f"{c.learn_sigma}`, so its whole output is guided.",
    ])


def _symmetric(values):
    bound = float(values.abs().max()) or 1.0
    return -bound, bound


def guided_step_view(model, label, seed, step, scale):
    """x_t, eps_u, eps_c, their difference, the guided eps and the x0 each implies at one step of a real run."""
    if model.null_class is None:
        raise ValueError("this model has no null class (trained without label dropout): it has no eps_u to open")
    timesteps, states = trajectory(model, label, seed, scale)
    eps_c, eps_u = both_predictions(model, states, timesteps, label)
    k = step - 1
    t, x_t = timesteps[k], states[k, 0]
    alpha, sigma = alpha_sigma(t)
    direction = eps_c[k, 0] - eps_u[k, 0]
    guided = eps_u[k, 0] + scale * direction
    x0 = {name: (x_t - sigma * e) / alpha for name, e in (("ε_u", eps_u[k, 0]), ("ε_c", eps_c[k, 0]),
                                                          (f"ε̂ (s={fmt(scale)})", guided))}
    eps_range = _symmetric(torch.stack([eps_u[k, 0], eps_c[k, 0], guided]))
    panels = [("x_t", x_t, _symmetric(x_t), GRAY), ("ε_u (null label)", eps_u[k, 0], eps_range, DIFF_SCALE),
              ("ε_c (digit)", eps_c[k, 0], eps_range, DIFF_SCALE),
              (f"ε_c − ε_u (own scale ±{_symmetric(direction)[1]:.2f})", direction, _symmetric(direction), DIFF_SCALE),
              (f"ε̂ = ε_u + {fmt(scale)}(ε_c − ε_u)", guided, eps_range, DIFF_SCALE)]
    panels.append(None)
    for name, value in x0.items():
        panels.append((f"x0 from {name}, raw [{value.min():.1f}, {value.max():.1f}]", value, _symmetric(value), GRAY))
    for name, value in x0.items():
        panels.append((f"x0 from {name}, clipped", value.clamp(-1, 1), (-1, 1), GRAY))
    # Six columns: the eps row leaves its last cell empty; the raw and the clipped x0 share the second row.
    fig = plots.image_panels(panels, 6, f"Step {step} of {len(timesteps)} (t = {t}), digit {label}",
                             f"σ_t = √(1−ᾱ) = {sigma:.3f}, √ᾱ = {alpha:.3f}; ε panels share one colour scale "
                             "(blue −, red +) except the difference; raw x0 on its own range", height=560)
    norms = (eps_c - eps_u).flatten(1).norm(dim=1).numpy()
    norm_fig = _norm_figure(timesteps, norms, k, label)
    clipped_share = float((x0[list(x0)[2]].abs() > 1).float().mean())
    summary = (
        f"At t = {t} the label's direction ε_c − ε_u has norm **{norms[k]:.2f}** (ε_u's is "
        f"{eps_u[k].norm():.2f}); along this trajectory it is largest at t = {timesteps[int(norms.argmax())]} "
        f"({norms.max():.2f}) and smallest at t = {timesteps[int(norms.argmin())]} ({norms.min():.2f}). "
        f"The guided ε̂ implies an x0 with **{100 * clipped_share:.0f}%** of its pixels outside [−1, 1]; clipping "
        "them and re-deriving ε from the clipped x0 is what keeps strong guidance from saturating.")
    return {"panels": fig, "norms": norm_fig, "trace": forward_with_cfg_trace(model, label, t, scale),
            "summary": summary}


def _norm_figure(timesteps, norms, k, label):
    data = [{"type": "scatter", "mode": "lines+markers", "x": timesteps, "y": norms.round(4).tolist(),
             "name": "‖ε_c − ε_u‖", "hovertemplate": "t = %{x}<br>‖ε_c − ε_u‖ = %{y:.3f}<extra></extra>"},
            {"type": "scatter", "mode": "markers", "x": [timesteps[k]], "y": [float(norms[k])], "name": "this step",
             "marker": {"size": 14, "color": "#d62728"}}]
    return plots.figure(data, plots.layout(
        f"Where in the schedule the label matters (digit {label})", "‖ε_c − ε_u‖ over the 784 pixels at each step "
        "of this trajectory", height=360, xaxis={"title": "timestep t", "autorange": "reversed"},
        yaxis={"title": "‖ε_c − ε_u‖", "rangemode": "tozero"}, showlegend=False))


#################################################################################
#                          Schedules and variants                               #
#################################################################################


def lab_methods(scale, t_lo, t_hi, phi, negative, weak_model):
    """(column header, Guidance) of every method the lab compares, at the same scale."""
    methods = [("constant\nCFG", Guidance()), (f"interval\n[{t_lo}, {t_hi}]", Guidance(interval=(t_lo, t_hi))),
               (f"rescale x0\nphi {fmt(phi)}", Guidance(rescale=phi)),
               (f"rescale eps\nphi {fmt(phi)}", Guidance(rescale=phi, rescale_space="eps")),
               (f"negative\nclass {negative}", Guidance(negative_label=negative)),
               ("no\nclipping", Guidance(clip=False))]
    if weak_model is not None:
        methods.append(("auto-\nguidance", Guidance(guide_model=weak_model)))
    return methods


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


def lab_view(model, label, seed, scale, samples, t_lo, t_hi, phi, negative, judge=None, weak_model=None,
             tradeoff=None, progress=None):
    """One column per guidance method, the same digit and noise, with the judge's scores and the trade-off curves."""
    methods = lab_methods(scale, t_lo, t_hi, phi, negative, weak_model)
    labels = [label] * samples
    columns, rows, t0 = [], [], time.time()
    for i, (header, guidance) in enumerate(methods):
        if progress is not None:
            progress((i, len(methods)), desc=header.replace("\n", " "))
        try:
            x = sample_guided(model, labels, [scale], steps=DEFAULT_STEPS, seed=seed, sampler=DEFAULT_SAMPLER,
                                 guidance=guidance)[0]
        except GuidanceError as e:
            raise ValueError(str(e)) from e
        columns.append(x)
        row = {"method": header.replace("\n", " "), "diversity": diversity(x, labels),
               "diversity_se": diversity_jackknife_se(x, labels)}
        if judge is not None:
            predicted = classify(judge, x, labels)["predicted"]
            hits = sum(p == label for p in predicted)
            row.update(accuracy=hits / samples, interval=wilson_interval(hits, samples), predicted=predicted)
        rows.append(row)
    seconds = time.time() - t0
    images = to_uint8(torch.stack(columns, 1)).numpy()  # [N, M, 28, 28]
    grid = labelled_grid(images, [h for h, _ in methods], cell=76, font_size=15)
    rescale_gap = float((columns[2] - columns[3]).abs().max())
    return {"grid": grid, "table": _lab_table(rows, label, scale, seconds, rescale_gap),
            "interval": interval_figure(t_lo, t_hi),
            "tradeoff": curves.accuracy_diversity_figure(tradeoff, ["cfg", "interval", "rescale", "negative",
                                                                    "autoguidance"]),
            "frechet": curves.frechet_figure(tradeoff, ["cfg", "interval", "rescale", "negative", "autoguidance"]),
            "verdict": matched_accuracy_markdown(tradeoff)}


def _lab_table(rows, label, scale, seconds, rescale_gap):
    lines = [f"**Digit {label}, s = {fmt(scale)}, {len(rows)} methods, same starting noise in every column** "
             f"({seconds:.1f} s). Accuracy with its 95% Wilson interval; diversity ± jackknife SE.", "",
             "| method | judge accuracy | judge read | diversity |", "|---|---|---|---|"]
    for row in rows:
        acc = "-" if "accuracy" not in row else (
            f"{row['accuracy']:.2f} [{row['interval'][0]:.2f}, {row['interval'][1]:.2f}]")
        read = "-" if "predicted" not in row else " ".join(map(str, row["predicted"]))
        se = row["diversity_se"]
        div = f"{row['diversity']:.2f}" + ("" if math.isnan(se) else f" ± {se:.2f}")
        lines.append(f"| {row['method']} | {acc} | {read} | {div} |")
    visible = "differ visibly" if rescale_gap > 2 / 255 * 2 else "do not differ visibly"
    lines += ["", f"Rescale on x0 (Lin et al.) and on ε (diffusers' `rescale_noise_cfg`) {visible} here: their largest "
              f"pixel difference is {rescale_gap:.3f} on the [−1, 1] scale. On ε the std ratio is taken on the noise, "
              "which at high noise is nearly x_t itself, so the two differ most at strong guidance.",
              "With a handful of samples these intervals are wide: read the trade-off curves below (300 samples a "
              "point) before concluding that one method beats another."]
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
