"""Classifier guidance (Dhariwal & Nichol 2021), the method CFG replaced, next to CFG on the same noise.

eps_hat = eps_u - g sqrt(1 - abar_t) grad_x log p(y | x_t, t) with the noise-aware classifier of
`playground.noisy_classifier`; by Bayes, CFG's eps_c - eps_u = -sqrt(1 - abar_t) grad log p_implicit(y | x_t),
so the two requests are in the same units and sign, and the view puts them side by side.
"""

import math
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
GRID_CELL = 108  # at the starting inputs (6 columns, 4 samples) the grid fills the page's 540 px box
INSPECT_STEPS = (1, 3, 5, 7)
READABLE = 0.5  # held-out accuracy from which the page says the classifier reads the digit at t
RANDOM_COSINE = 1 / math.sqrt(28 * 28)  # the spread of the cosine between two random directions in 784 pixels
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
    """Samples of classifier guidance at each g (s = 0) and CFG at each s, same noise: the grid, and a row per
    column with its scores and the seconds its run took.

    `progress((done, total), desc=...)` before each run, if given (the UI's progress bar).
    """
    labels = [label] * samples
    runs = [("classifier", g, Guidance(classifier=classifier, classifier_scale=g), 0.0) for g in g_values]
    runs += [("CFG", s, None, s) for s in s_values]
    columns, rows = [], []
    for kind, value, guidance, s in runs:
        name = f"{kind} {'g' if kind == 'classifier' else 's'} = {fmt(value)}"
        if progress is not None:
            progress((len(columns), len(runs)), desc=name)
        t0 = time.time()
        columns.append(sample_guided(model, labels, [s], steps=DEFAULT_STEPS, seed=seed, sampler=DEFAULT_SAMPLER,
                                     guidance=guidance)[0])
        row = {"method": name, "kind": kind, "scale": value, "seconds": time.time() - t0,
               "diversity": diversity(columns[-1], labels), "diversity_se": diversity_jackknife_se(columns[-1], labels)}
        if judge is not None:
            row.update(hits=sum(p == label for p in classify(judge, columns[-1], labels)["predicted"]), n=samples)
        rows.append(row)
    headers = [row["method"].replace(" ", "\n", 1) for row in rows]
    return labelled_grid(to_uint8(torch.stack(columns, 1)).numpy(), headers, cell=GRID_CELL, font_size=15), rows


def cost_markdown(rows):
    """The cost sentence, from the runs that pay for guidance: classifier guidance at g != 0 (a classifier forward
    and backward every step) against CFG at s not 0 or 1 (the DiT's batch doubled); CFG at s = 1 (and s = 0) runs
    one half of the batch only and g = 0 is the plain unconditional model, so neither is averaged in."""
    paid = {kind: [r for r in rows if r["kind"] == kind and r["scale"] not in free]
            for kind, free in (("classifier", (0,)), ("CFG", (0, 1)))}
    if not (paid["classifier"] and paid["CFG"]):
        return ("**Cost:** not compared: it needs a classifier scale g other than 0 and a CFG scale s other than 0 "
                "and 1 (those run one DiT batch and no classifier).")
    mean = {kind: sum(r["seconds"] for r in runs) / len(runs) for kind, runs in paid.items()}
    listed = {kind: ", ".join(fmt(r["scale"]) for r in runs) for kind, runs in paid.items()}
    return (f"**Cost:** {mean['classifier']:.2f} s per classifier-guided run (g = {listed['classifier']}) against "
            f"{mean['CFG']:.2f} s per CFG run (s = {listed['CFG']}), "
            f"{mean['classifier'] / max(mean['CFG'], 1e-9):.1f}x, each run timed once in this request: classifier "
            "guidance adds a classifier forward and a backward pass through it at every step; CFG doubles the DiT's "
            "batch instead. Runs that pay neither (CFG at s = 0 or 1, g = 0) are left out of the averages.")


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
    for i, t in sorted(enumerate(req["t"]), key=lambda it: it[1]):  # t increases to the right, as on every axis
        for name, key in (("classifier", "classifier"), ("CFG ε_c − ε_u", "cfg"), ("clean judge", "judge")):
            value = req[key][i]
            bound = float(value.abs().max()) or 1.0
            panels.append((f"t {t}: {name} (±{bound:.2g})", value, (-bound, bound), "RdBu"))
    return plots.image_panels(panels, 3 * 2, "What each guide asks ε to change by, along one run",
                              "−σ_t ∇ log p(y | x_t) for the two classifiers, ε_c − ε_u for CFG; t (0 clean → 999 "
                              "noise) rising along the panels; each on its own scale (blue −, red +)", height=520)


def accuracy_by_t_figure(card):
    by_t = card.get("held_out_accuracy_by_t", {})
    ts = [int(t) for t in by_t]
    data = [{"type": "bar", "x": ts, "y": list(by_t.values()), "marker": {"color": "#8c564b"},
             "hovertemplate": "t = %{x}: %{y:.3f}<extra></extra>"}]
    return plots.figure(data, plots.layout(
        "Where in the schedule a classifier can still read the digit", "the noise-aware classifier on the 500 "
        "held-out digits noised to each t (its model card); chance is 0.1", height=340,
        xaxis={"title": "t (0 clean → 999 noise)"}, yaxis={"title": "accuracy", "range": [0, 1]},
        shapes=[{"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": 0.1, "y1": 0.1,
                 "line": {"dash": "dot", "color": "#444"}}]))


def accuracy_at(card, t):
    """The classifier's held-out accuracy at timestep `t`, linear between the timesteps its card measured (None
    without them)."""
    by_t = card.get("held_out_accuracy_by_t", {})
    if not by_t:
        return None
    ts = sorted(int(k) for k in by_t)
    return float(np.interp(t, ts, [by_t[str(k)] for k in ts]))


def aligned(c):
    """Whether a cosine is well beyond what two random directions give (3 times their spread)."""
    return c > 3 * RANDOM_COSINE


def noise_markdown(req, card):
    """What seeing noise changes, computed from the cosines of each guide's request with CFG's and the classifier's
    card: where the classifier cannot read x_t (held-out accuracy < READABLE), does its gradient still point CFG's
    way? And the clean-image judge's, beside it."""
    cos_clf = [cosine(a, b) for a, b in zip(req["classifier"], req["cfg"], strict=True)]
    cos_judge = [cosine(a, b) for a, b in zip(req["judge"], req["cfg"], strict=True)]
    acc = [accuracy_at(card, t) for t in req["t"]]
    blind = [i for i, a in enumerate(acc) if a is not None and a < READABLE]
    where = "; ".join(f"t = {req['t'][i]}: accuracy {acc[i]:.2f}, cosine {cos_clf[i]:+.2f}" for i in blind)
    if acc[0] is None:
        clf = "Its card has no accuracy by timestep, so where it can read x_t is not known."
    elif not blind:
        clf = f"The noise-aware classifier reads at least {READABLE:.0%} of the held-out digits at every step shown."
    elif all(aligned(cos_clf[i]) for i in blind):
        clf = (f"Where the noise-aware classifier reads fewer than {READABLE:.0%} of the held-out digits (chance "
               f"0.10) its request still points CFG's way ({where}): a gradient through a classifier that cannot "
               "read x_t can still point where CFG points.")
    elif not any(aligned(cos_clf[i]) for i in blind):
        clf = (f"Where the noise-aware classifier reads fewer than {READABLE:.0%} of the held-out digits (chance "
               f"0.10) its request is no closer to CFG's than a random direction ({where}).")
    else:
        clf = (f"Where the noise-aware classifier reads fewer than {READABLE:.0%} of the held-out digits (chance "
               f"0.10) its request points CFG's way at some of these steps only ({where}).")
    lower = [t for t, a, b in zip(req["t"], cos_clf, cos_judge, strict=True) if b < a]
    compared = ("below the noise-aware classifier's at every step shown" if len(lower) == len(req["t"]) else
                "below the noise-aware classifier's at t = " + ", ".join(map(str, lower)) + " only" if lower else
                "no lower than the noise-aware classifier's at any step shown")
    return (f"**What seeing noise changes** (one run; two random directions in 784 pixels have cosines of about "
            f"±{RANDOM_COSINE:.2f}): {clf} The clean-image judge, trained without noise, gives the digit probability "
            + ", ".join(f"{c:.2f} at t = {t}" for t, c in zip(req["t"], req["judge_confidence"], strict=True))
            + "; its requests have cosine " + ", ".join(f"{c:+.2f}" for c in cos_judge)
            + f" with CFG's, {compared}.")


def summary_markdown(rows, req, card):
    lines = ["| guide | judge reads the digit | diversity |", "|---|---|---|"]
    for row in rows:
        acc = "-" if "hits" not in row else (
            f"{row['hits']}/{row['n']} [{wilson_interval(row['hits'], row['n'])[0]:.2f}, "
            f"{wilson_interval(row['hits'], row['n'])[1]:.2f}]")
        se = row["diversity_se"]
        lines.append(f"| {row['method']} | {acc} | {row['diversity']:.2f}" + ("" if np.isnan(se) else f" ± {se:.2f}")
                     + " |")
    cos_clf = [cosine(a, b) for a, b in zip(req["classifier"], req["cfg"], strict=True)]
    lines += [
        "", cost_markdown(rows), "",
        "**Same units:** cosine similarity of the noise-aware classifier's −σ_t ∇ log p(y | x_t, t) with CFG's "
        "ε_c − ε_u: " + ", ".join(f"{a:+.2f} at t = {t}" for t, a in zip(req["t"], cos_clf, strict=True)) + ".",
        "", noise_markdown(req, card), "",
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
    grid, rows = side_by_side(model, classifier, judge, r.label, r.seed, r.samples, r.g_values, r.s_values,
                              progress=progress)
    req = requests(model, classifier, judge, r.label, r.seed)
    return {
        "grid": grid, "summary": summary_markdown(rows, req, classifier.card),
        "requests": requests_figure(req), "accuracy_by_t": accuracy_by_t_figure(classifier.card),
        "tradeoff": curves.accuracy_diversity_figure(tradeoff, ["cfg", "classifier"],
                                                     title="CFG (s) and classifier guidance (g)").update_layout(
                                                         legend=curves.LEGEND_BESIDE),
        "frechet": curves.frechet_figure(tradeoff, ["cfg", "classifier"],
                                         title="Distance to real digits (s for CFG, g for the classifier)"
                                         ),
    }
