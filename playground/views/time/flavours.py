"""Does the embedding flavour matter? Our checkpoint sampled under each flavour, judged (the waves page's check).

The checkpoint was trained with DiT's embedding. A private copy of the model gets a forward hook on its
`t_embedder` that recomputes `t_emb = mlp(timestep_embedding(t, 256, flavour=f))`; the served model is never
touched. Every flavour starts from the same noise; the judge says how often the requested digit came out.
`validate_flavour_inputs` checks a request once, into a `FlavourRequest`.
"""

import copy
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from playground.cache import Cache, weights_digest
from playground.data import to_uint8
from playground.diffusion import NUM_TIMESTEPS
from playground.embedding import FLAVOURS, timestep_embedding
from playground.grids import labelled_grid
from playground.inputs import MAX_SEED, as_int, fmt
from playground.judge import classify, wilson_interval
from playground.sampling import sample_guided
from playground.views.time.waves import flavour_differences

SCALES = (1.0, 4.0)  # guidance scales each flavour is sampled at
STEPS = 8  # DPM-Solver++(2M) steps: enough for recognisable digits, cheap on 2 cores
SAMPLER = "dpm++2m"
MAX_PER_DIGIT = 10  # samples per digit and scale: 10 digits x 10 = 100 per cell at most
DEFAULTS = MappingProxyType({"per_digit": 2, "seed": 0})
WHAT_DIFFERS = {
    "dit": "none (trained with it)",
    "diffusers-dit": "frequency shift 1",
    "diffusers": "sin first, shift 1",
}

NO_NULL_CLASS = (
    "This model was trained without label dropout, so it has no null class and no unconditional prediction: the "
    f"check's guided samples (s = {fmt(max(SCALES))}) cannot be drawn, so the check does not run on it."
)
CHECKS = Cache("flavour checks", max_items=4)  # (model digest, judge digest, request) -> run_check's result


@dataclass(frozen=True)
class FlavourRequest:
    """Checked arguments of the flavour check: samples per digit and scale, and the seed of their noise."""

    per_digit: int
    seed: int


def validate_flavour_inputs(per_digit=DEFAULTS["per_digit"], seed=DEFAULTS["seed"]):
    """A `FlavourRequest`, or ValueError naming the field."""
    return FlavourRequest(as_int(per_digit, "samples per digit", 1, MAX_PER_DIGIT), as_int(seed, "seed", 0, MAX_SEED))


def flavoured_model(model, flavour):
    """A copy of `model` whose t_embedder reads `timestep_embedding(t, dim, flavour=flavour)` (a forward hook)."""
    twin = copy.deepcopy(model).eval()
    embedder = twin.t_embedder

    def hook(module, inputs, output):
        return module.mlp(timestep_embedding(inputs[0], module.frequency_embedding_size, flavour=flavour))

    embedder.register_forward_hook(hook)
    return twin


def run_check(model, judge, per_digit, seed):
    """{flavour: {'samples' [S, N, 1, H, W], 'hits' [S], 'n'}}: every flavour from the same noise and labels."""
    labels = [digit for digit in range(model.config.num_classes) for _ in range(per_digit)]
    out = {}
    for flavour in FLAVOURS:
        samples = sample_guided(
            flavoured_model(model, flavour), labels, list(SCALES), steps=STEPS, seed=seed, sampler=SAMPLER
        )
        hits = [round(classify(judge, samples[i], labels)["accuracy"] * len(labels)) for i in range(len(SCALES))]
        out[flavour] = {"samples": samples, "hits": hits, "n": len(labels)}
    return out


def flavour_check(model, judge, request):
    """The check's result for these weights and `request`, kept; a second caller of the same check waits for the
    first one's result."""
    key = (weights_digest(model), weights_digest(judge), request)
    return CHECKS.get(key, lambda: run_check(model, judge, request.per_digit, request.seed))


def flavour_grid(result):
    """Rows = flavour x scale, columns = digits: the first sample of each digit."""
    rows, names = [], []
    for flavour, r in result.items():
        per_digit = r["n"] // 10
        for i, scale in enumerate(SCALES):
            rows.append(to_uint8(r["samples"][i, ::per_digit]).numpy())
            names.append(f"{flavour}, s = {fmt(scale)}")
    n_cols = rows[0].shape[0]
    return labelled_grid(np.stack(rows), [str(d) for d in range(n_cols)], names, cell=56, pad=4, font_size=16)


def intervals(r):
    return [wilson_interval(h, r["n"]) for h in r["hits"]]


def verdict(r, base):
    """How a flavour's accuracy compares with DiT's, from the Wilson intervals at each scale."""
    mine, theirs = intervals(r), intervals(base)
    below = [i for i in range(len(SCALES)) if mine[i][1] < theirs[i][0]]
    above = [i for i in range(len(SCALES)) if mine[i][0] > theirs[i][1]]
    if below:
        where = " and ".join(f"s = {fmt(SCALES[i])}" for i in below)
        return f"clearly worse than DiT's own embedding at {where} (the 95 % intervals do not overlap)"
    if above:
        return "better than DiT's own embedding (the 95 % intervals do not overlap)"
    return "no difference from DiT's own embedding that these samples can show (the 95 % intervals overlap)"


def flavour_markdown(result, differences, per_digit, seed):
    """The judge's accuracy per flavour and scale, with intervals, and one computed sentence per flavour."""
    base = result["dit"]
    n = base["n"]
    head = " | ".join(f"s = {fmt(s)}" for s in SCALES)
    lines = [
        f"**The judge's accuracy** ({n} samples per cell: {per_digit} per digit, {STEPS} {SAMPLER} steps, seed "
        f"{seed}, the same noise for every flavour; [95 % Wilson interval])",
        "",
        f"| flavour | what differs from training | {head} |",
        "|---|---|" + "---|" * len(SCALES),
    ]
    for flavour, r in result.items():
        cells = " | ".join(
            f"{h / n:.2f} [{lo:.2f}, {hi:.2f}]" for h, (lo, hi) in zip(r["hits"], intervals(r), strict=True)
        )
        lines.append(f"| {flavour} | {WHAT_DIFFERS[flavour]} | {cells} |")
    lines.append("")
    for flavour, r in result.items():
        if flavour == "dit":
            continue
        accuracy = " / ".join(f"{h / n:.2f}" for h in r["hits"])
        base_accuracy = " / ".join(f"{h / n:.2f}" for h in base["hits"])
        mx, mean = differences.get(flavour, (float("nan"), float("nan")))
        lines.append(
            f"- **{flavour}** changes t_freq by up to {mx:.3g} in one element ({mean:.3g} on average) and scores "
            f"{accuracy} at s = {' / '.join(fmt(s) for s in SCALES)} against {base_accuracy} with DiT's: "
            f"{verdict(r, base)}."
        )
    return "\n".join(lines)


def flavour_view(model, judge, request):
    """The flavour check as the page shows it: the samples (a PIL grid) and the judged table with its sentences."""
    result = flavour_check(model, judge, request)
    ts = np.arange(NUM_TIMESTEPS, dtype=np.float64)
    differences = flavour_differences(ts, model.t_embedder.frequency_embedding_size, 10000.0)
    return {"grid": flavour_grid(result),
            "summary": flavour_markdown(result, differences, request.per_digit, request.seed)}
