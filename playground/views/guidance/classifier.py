"""Classifier guidance (Dhariwal & Nichol 2021), the method CFG replaced, next to CFG on the same noise.

eps_hat = eps_u - g sqrt(1 - abar_t) grad_x log p(y | x_t, t) with the noise-aware classifier of
`playground.noisy_classifier`; by Bayes, CFG's eps_c - eps_u = -sqrt(1 - abar_t) grad log p_implicit(y | x_t),
so the two requests are in the same units and sign, and the view puts them side by side.
"""

import time
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import torch

from playground import plots
from playground.data import to_uint8
from playground.diffusion import DEFAULT_SAMPLER, DEFAULT_STEPS, alpha_sigma, sampling_timesteps
from playground.grids import labelled_grid
from playground.guidance import Guidance, log_prob_gradient
from playground.inputs import MAX_SEED, as_int, fmt, parse_number_list
from playground.judge import classify, diversity, diversity_jackknife_se, wilson_interval
from playground.model import DiTConfig
from playground.sampling import sample_guided
from playground.views.guidance import curves

MAX_VALUES = 4  # classifier scales g, and CFG scales s, per request
MAX_CG_SAMPLES = 6
INSPECT_STEPS = (1, 3, 5, 7)
DEFAULTS = MappingProxyType({"label": 3, "seed": 0, "samples": 4, "g": "2, 8, 16", "s": "1, 2, 4"})


NO_NULL_CLASS = ("This model was trained without label dropout, so it has no null class and no unconditional "
                 "prediction ε_u: classifier guidance steers ε_u, and CFG needs it too. Serve a model trained with "
                 "label dropout to compare them.")


@dataclass(frozen=True)
class ClassifierRequest:
    """The digit, the seed, samples per column, the classifier scales g and the CFG scales s to compare."""

    label: int
    seed: int
    samples: int
    g_values: tuple[float, ...]
    s_values: tuple[float, ...]


def validate(label, seed, samples, g, s, num_classes=DiTConfig.num_classes):
    """The request, checked; `ValueError` naming the field that is wrong."""
    return ClassifierRequest(
        as_int(label, "digit", 0, num_classes - 1), as_int(seed, "seed", 0, MAX_SEED),
        as_int(samples, "samples", 2, MAX_CG_SAMPLES),
        tuple(parse_number_list(g, name="classifier scale g", max_count=MAX_VALUES, lo=0, hi=100)),
        tuple(parse_number_list(s, name="CFG scale s", max_count=MAX_VALUES, lo=-5, hi=30)))


def cannot_guide(model):
    """Why this page has nothing to show for `model` (in plain words), or None when it can compare the guides."""
    return NO_NULL_CLASS if model.null_class is None else None


def side_by_side(model, classifier, judge, label, seed, samples, g_values, s_values, progress=None):
    """Samples of classifier guidance at each g (s = 0) and CFG at each s, same noise; scores; seconds per sweep.

    `progress((done, total), desc=...)` before each run, if given (the UI's progress bar).
    """
    labels = [label] * samples
    columns, rows = [], []
    total = len(g_values) + len(s_values)
    t0 = time.time()
    for g in g_values:
        if progress is not None:
            progress((len(columns), total), desc=f"classifier guidance, g = {fmt(g)}")
        columns.append(sample_guided(model, labels, [0.0], steps=DEFAULT_STEPS, seed=seed, sampler=DEFAULT_SAMPLER,
                                        guidance=Guidance(classifier=classifier, classifier_scale=g))[0])
    cg_seconds = (time.time() - t0) / len(g_values)
    t0 = time.time()
    for s in s_values:
        if progress is not None:
            progress((len(columns), total), desc=f"CFG, s = {fmt(s)}")
        columns.append(sample_guided(model, labels, [s], steps=DEFAULT_STEPS, seed=seed,
                                        sampler=DEFAULT_SAMPLER)[0])
    cfg_seconds = (time.time() - t0) / len(s_values)
    headers = [f"classifier\ng = {fmt(g)}" for g in g_values] + [f"CFG\ns = {fmt(s)}" for s in s_values]
    for header, x in zip(headers, columns, strict=True):
        row = {"method": header.replace("\n", " "), "diversity": diversity(x, labels),
               "diversity_se": diversity_jackknife_se(x, labels)}
        if judge is not None:
            hits = sum(p == label for p in classify(judge, x, labels)["predicted"])
            row.update(hits=hits, n=samples)
        rows.append(row)
    grid = labelled_grid(to_uint8(torch.stack(columns, 1)).numpy(), headers, cell=76, font_size=15)
    return grid, rows, cg_seconds, cfg_seconds


def requests(model, classifier, judge, label, seed):
    """At a few steps of a real run (CFG s = 1): what each guide asks eps to change by, `[steps, 28, 28]` each.

    classifier: -sigma grad log p(y | x_t, t); CFG: eps_c - eps_u; judge: -sigma grad log p_judge(y | x_t),
    the clean-image judge read through the noise it never saw.
    """
    states = []
    sample_guided(model, [label], [1.0], steps=DEFAULT_STEPS, seed=seed, sampler=DEFAULT_SAMPLER,
                     on_step=lambda d: states.append(d["x_t"][0, 0].clone()))
    timesteps = sampling_timesteps(DEFAULT_STEPS)
    out = {"t": [], "classifier": [], "cfg": [], "judge": [], "judge_confidence": []}
    y = torch.tensor([label])
    for k in INSPECT_STEPS:
        t, x = timesteps[k - 1], states[k - 1][None]
        sigma = alpha_sigma(t)[1]
        with torch.no_grad():
            eps = model(torch.cat([x, x]), torch.tensor([t, t]), torch.tensor([label, model.null_class]))
        out["t"].append(t)
        out["cfg"].append((eps[0] - eps[1])[0])
        out["classifier"].append(-sigma * log_prob_gradient(classifier, x, t, y)[0, 0])
        out["judge"].append(-sigma * log_prob_gradient(lambda z, _t: judge(z), x, t, y)[0, 0])
        with torch.no_grad():
            out["judge_confidence"].append(judge(x).softmax(-1)[0, label].item())
    return out


def cosine(a, b):
    return float((a.flatten() @ b.flatten()) / (a.norm() * b.norm()).clamp(min=1e-12))


def requests_figure(req):
    panels = []
    for i, t in enumerate(req["t"]):
        for name, key in (("classifier", "classifier"), ("CFG ε_c − ε_u", "cfg"), ("clean judge", "judge")):
            value = req[key][i]
            bound = float(value.abs().max()) or 1.0
            panels.append((f"t {t}: {name} (±{bound:.2g})", value, (-bound, bound), "RdBu"))
    return plots.image_panels(panels, 3 * 2, "What each guide asks ε to change by, along one run",
                              "−σ_t ∇ log p(y | x_t) for the two classifiers, ε_c − ε_u for CFG; each on its own "
                              "scale (blue −, red +)", height=520)


def accuracy_by_t_figure(card):
    by_t = card.get("held_out_accuracy_by_t", {})
    ts = [int(t) for t in by_t]
    data = [{"type": "bar", "x": ts, "y": list(by_t.values()), "marker": {"color": "#8c564b"},
             "hovertemplate": "t = %{x}: %{y:.3f}<extra></extra>"}]
    return plots.figure(data, plots.layout(
        "Where in the schedule a classifier can still read the digit", "the noise-aware classifier on the 500 "
        "held-out digits noised to each t (its model card); chance is 0.1", height=340,
        xaxis={"title": "timestep t"}, yaxis={"title": "accuracy", "range": [0, 1]},
        shapes=[{"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": 0.1, "y1": 0.1,
                 "line": {"dash": "dot", "color": "#444"}}]))


def summary_markdown(rows, req, cg_seconds, cfg_seconds, card):
    lines = ["| guide | judge reads the digit | diversity |", "|---|---|---|"]
    for row in rows:
        acc = "-" if "hits" not in row else (
            f"{row['hits']}/{row['n']} [{wilson_interval(row['hits'], row['n'])[0]:.2f}, "
            f"{wilson_interval(row['hits'], row['n'])[1]:.2f}]")
        se = row["diversity_se"]
        lines.append(f"| {row['method']} | {acc} | {row['diversity']:.2f}" + ("" if np.isnan(se) else f" ± {se:.2f}")
                     + " |")
    cos_clf = [cosine(a, b) for a, b in zip(req["classifier"], req["cfg"], strict=True)]
    cos_judge = [cosine(a, b) for a, b in zip(req["judge"], req["cfg"], strict=True)]
    by_t = card.get("held_out_accuracy_by_t", {})
    readable = [int(t) for t, a in by_t.items() if a >= 0.5]
    lines += [
        "",
        f"**Cost:** {cg_seconds:.2f} s per classifier-guided sweep against {cfg_seconds:.2f} s per CFG sweep "
        f"({cg_seconds / max(cfg_seconds, 1e-9):.1f}x), measured in this request: classifier guidance adds a "
        "classifier forward and a backward pass through it at every step; CFG doubles the DiT's batch instead.",
        "",
        "**Same units, same sign:** cosine similarity with CFG's ε_c − ε_u at t = "
        + ", ".join(f"{t}: classifier {a:+.2f}, judge {b:+.2f}" for t, a, b in zip(req["t"], cos_clf, cos_judge,
                                                                                    strict=True)) + ".",
        "",
        "**Why the guide must see noise:** the clean-image judge gives the digit probability "
        + ", ".join(f"{c:.2f} at t = {t}" for t, c in zip(req["t"], req["judge_confidence"], strict=True))
        + f"; the noise-aware classifier reads held-out digits with at least 50% accuracy up to t = "
        f"{max(readable) if readable else 0} (its card). A gradient through a classifier that cannot read x_t points "
        "nowhere useful.",
        "",
        "Gradients of one MNIST classifier partly transfer to another, so classifier guidance can raise the judge's "
        "accuracy without making better digits: read the Frechet distance (right) beside the accuracy.",
    ]
    return "\n".join(lines)


def classifier_guidance_view(model, classifier, judge, request, tradeoff=None, progress=None):
    """Classifier guidance at each g next to CFG at each s on the same noise, what each guide asks of ε along one
    run, where the classifier can read the digit, and the trade-off curves. `ValueError` (in plain words) for a
    model without a null class."""
    if (reason := cannot_guide(model)) is not None:
        raise ValueError(reason)
    r = request
    grid, rows, cg_seconds, cfg_seconds = side_by_side(model, classifier, judge, r.label, r.seed, r.samples,
                                                       r.g_values, r.s_values, progress=progress)
    req = requests(model, classifier, judge, r.label, r.seed)
    return {
        "grid": grid, "summary": summary_markdown(rows, req, cg_seconds, cfg_seconds, classifier.card),
        "requests": requests_figure(req), "accuracy_by_t": accuracy_by_t_figure(classifier.card),
        "tradeoff": curves.accuracy_diversity_figure(tradeoff, ["cfg", "classifier"],
                                                     title="CFG (s) and classifier guidance (g)"),
        "frechet": curves.frechet_figure(tradeoff, ["cfg", "classifier"],
                                         title="Distance to real digits (s for CFG, g for the classifier)"),
    }
