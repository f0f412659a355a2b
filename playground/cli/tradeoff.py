"""The guidance trade-off, precomputed: fidelity against variety as the scale grows, one curve per method.

    python -m playground.cli.tradeoff --out assets/tradeoff.json

For every method and scale: `--per-class` samples of each of the ten digits (the app's sampler and
steps, seed 0: the same starting noise for every method and scale), scored by the judge: accuracy
with its 95% Wilson interval, confidence, diversity and the Frechet distance to the 500 held-out
digits, each with a standard error. Ho & Salimans' figure, reproduced on MNIST: does a method move
the whole curve, or slide along it? The app's guidance views read the JSON; rerun this command when
a guidance method lands. `--resume` keeps the methods already in `--out` (same settings).

    python -m playground.cli.tradeoff --reference-only --out assets/tradeoff.json

recomputes only the real-digit references of an existing file (no sampling, seconds): the Frechet floor of
`--per-class` training digits of each class against the held-out digits, its spread over every disjoint subset
of that size, and the held-out digits' own diversity, the value the views read diversity against.
"""

import argparse
import json
import math
import sys
import time

import torch

from playground.assets import AUTOGUIDE_WEAK, COMPANIONS, TRADEOFF_FILE
from playground.checkpoint import CheckpointError, load_pretrained
from playground.data import add_data_argument, load_split, to_model_range
from playground.diffusion import DEFAULT_SAMPLER, DEFAULT_STEPS, alpha_sigma
from playground.guidance import INTERVAL, RESCALE_PHI, Guidance
from playground.judge import (
    GREY,
    SATURATED,
    diversity,
    diversity_standard_error,
    evaluate_samples,
    frechet_distance,
    load_judge,
    pixel_shares,
)
from playground.noisy_classifier import load_classifier
from playground.sampling import sample_guided

CFG_SCALES = (0.0, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0)
CLASSIFIER_SCALES = (0.0, 1.0, 2.0, 4.0, 8.0, 16.0)  # g, on the unconditional model (s = 0)
MAX_SUBSETS = 15  # disjoint training subsets for the floor's spread: all of them at 30 per class (450 // 30)


def methods(negative_of):
    """name -> (x axis, scales, weights path or None for the release model, scale -> Guidance)."""
    return {
        "cfg": ("s", CFG_SCALES, None, lambda s: Guidance()),
        "interval": ("s", CFG_SCALES[1:], None, lambda s: Guidance(interval=INTERVAL)),
        "rescale": ("s", CFG_SCALES[1:], None, lambda s: Guidance(rescale=RESCALE_PHI)),  # on x0: the variant
        "negative": ("s", CFG_SCALES[1:], None, lambda s: Guidance(negative_label=tuple(negative_of))),
        "no_clip": ("s", (1.0, 2.0, 4.0), None, lambda s: Guidance(clip=False)),
        "autoguidance": ("s", CFG_SCALES[1:], None, lambda s: Guidance(guide_model=load_pretrained(AUTOGUIDE_WEAK))),
        "classifier": ("g", CLASSIFIER_SCALES, None,
                       lambda g: Guidance(classifier=load_classifier(), classifier_scale=g)),
        "companion_p0": ("s", (1.0,), COMPANIONS["0"], lambda s: Guidance()),
        "companion_p0.1": ("s", CFG_SCALES, COMPANIONS["0.1"], lambda s: Guidance()),
        "companion_p0.5": ("s", CFG_SCALES, COMPANIONS["0.5"], lambda s: Guidance()),
    }


METHODS = tuple(methods(list(range(10))))


def edm_sigma(t):
    """sigma_t = sqrt((1 - abar_t) / abar_t), the noise level in EDM's terms (Karras et al. 2022)."""
    alpha, sigma = alpha_sigma(t)
    return sigma / alpha


def nearest_other_digit(judge, images, labels):
    """For each digit, the other digit whose mean judge feature is closest: the negative class it is guided from."""
    with torch.no_grad():
        features = judge.features(images)
    means = torch.stack([features[labels == d].mean(0) for d in range(10)])
    distance = torch.cdist(means, means) + torch.eye(10) * 1e9
    return distance.argmin(1).tolist()


def curve(name, spec, judge, held_x, per_class, seed):
    """One method's points: samples of every digit at each scale, scored with their uncertainty."""
    x_axis, scales, weights, guidance_at = spec
    model = load_pretrained(weights)
    labels = torch.arange(10).repeat_interleave(per_class)
    points = []
    for scale in scales:
        guidance = guidance_at(scale)
        t0 = time.time()
        s = 0.0 if x_axis == "g" else scale  # classifier guidance: on the unconditional prediction
        x = sample_guided(model, labels, [s], steps=DEFAULT_STEPS, seed=seed, sampler=DEFAULT_SAMPLER,
                             guidance=guidance)[0]
        seconds = time.time() - t0
        scores = evaluate_samples(judge, x, labels, real=held_x)
        scores = {k: None if math.isnan(v) else round(v, 5) for k, v in scores.items()}  # JSON has no NaN
        points.append({x_axis: scale, "seconds": round(seconds, 2), **scores})
        print(f"{name} {x_axis}={scale:g}: accuracy {scores['accuracy']:.3f} diversity {scores['diversity']:.2f} "
              f"Frechet {scores['frechet']:.1f} ({seconds:.0f}s)", file=sys.stderr, flush=True)
    return {"x": x_axis, "weights": weights.name if weights else "dit_mnist.safetensors", "points": points}


def real_references(judge, train, held, per_class):
    """`{"real_floor", "real_diversity", "real_pixels"}`: what real digits score, for the views to draw beside
    every curve.

    real_floor: the Frechet distance of the first `per_class` training digits of each class against the held-out
    digits (a sample set's size), and its spread over the disjoint subsets of that size (`spread`, at most
    MAX_SUBSETS): the floor is a band, not a line. real_diversity: the held-out digits' diversity with its standard
    error, per digit, and the range over the same training subsets; mean pairwise distance does not depend on the
    set's size, so samples compare with it.
    real_pixels: the held-out digits' shares of grey and of saturated pixels (`pixel_shares`).
    """
    (train_x, train_y), (held_x, held_y) = train, held
    per_digit = [train_x[train_y == d] for d in range(10)]
    subsets = [torch.cat([x[k * per_class: (k + 1) * per_class] for x in per_digit])
               for k in range(min(MAX_SUBSETS, min(len(x) for x in per_digit) // per_class))]
    labels = torch.arange(10).repeat_interleave(per_class)
    floors = [round(frechet_distance(judge, subset, held_x), 3) for subset in subsets]
    spreads = [round(diversity(subset, labels), 4) for subset in subsets]
    what = f"{len(subsets)} disjoint subsets of {per_class} training digits of each class"
    return {
        "real_floor": {"frechet": floors[0], "what": f"{len(subsets[0])} training digits against the held-out digits",
                       "spread": {"values": floors, "low": min(floors), "high": max(floors),
                                  "mean": round(sum(floors) / len(floors), 3),
                                  "sd": round(float(torch.tensor(floors).std()), 3),
                                  "what": f"{what} against the same held-out digits"}},
        "real_diversity": {"value": round(diversity(held_x, held_y), 4),
                           "se": round(diversity_standard_error(held_x, held_y), 4),
                           "per_digit": [round(diversity(held_x[held_y == d], held_y[held_y == d]), 4)
                                         for d in range(10)],
                           "what": f"the {len(held_x)} held-out digits",
                           "spread": {"low": min(spreads), "high": max(spreads), "what": what}},
        "real_pixels": {**{k: round(v, 4) for k, v in pixel_shares(held_x).items()},
                        "per_digit": [{k: round(v, 4) for k, v in pixel_shares(held_x[held_y == d]).items()}
                                      for d in range(10)],
                        "what": f"the {len(held_x)} held-out digits: share of pixels grey (|x| < {GREY}) and at "
                                f"|x| > {SATURATED}"},
    }


def update_references(args):
    """`--reference-only`: rewrite the real-digit references of `--out` in place, leaving its curves as they are."""
    try:
        with open(args.out) as f:
            result = json.load(f)
        per_class = result["settings"]["per_class"]
    except (OSError, json.JSONDecodeError, KeyError) as e:
        raise SystemExit(f"error: --reference-only needs an existing trade-off file at {args.out}: {e}") from e
    split = load_split(args.data)
    train = to_model_range(split["train"][0]), torch.as_tensor(split["train"][1])
    held = to_model_range(split["held_out"][0]), torch.as_tensor(split["held_out"][1])
    try:
        judge = load_judge()
    except CheckpointError as e:
        raise SystemExit(f"error: {e}") from e
    result.update(real_references(judge, train, held, per_class))
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    print(f"updated the real-digit references of {args.out}", file=sys.stderr)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=str(TRADEOFF_FILE))
    p.add_argument("--per-class", type=int, default=30, help="samples of each digit per point, 2..100")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    p.add_argument("--resume", action="store_true", help="keep the curves already in --out")
    p.add_argument("--report", action="store_true", help="print the tables of --out as markdown; compute nothing")
    p.add_argument("--reference-only", action="store_true",
                   help="recompute only the real-digit references (floor, its spread, diversity) of an existing --out")
    add_data_argument(p)
    args = p.parse_args(argv)
    if not 2 <= args.per_class <= 100:
        p.error(f"--per-class must be in 2..100, got {args.per_class}")
    return args


def report(result):
    """Markdown tables of a trade-off file: per curve and scale, the scores with their uncertainty."""
    floor, spread = result["real_floor"], result["real_floor"].get("spread")
    real = result.get("real_diversity")
    lines = [f"`{result['command']}` ({result['settings']['per_class']} samples of each digit per point, "
             f"{result['settings']['sampler']} {result['settings']['steps']} steps, seed {result['settings']['seed']}; "
             f"real digits' Frechet floor {floor['frechet']:.1f}"
             + (f", {spread['low']:.1f}-{spread['high']:.1f} over {len(spread['values'])} subsets" if spread else "")
             + (f"; held-out digits' diversity {real['value']:.2f} ± {real['se']:.2f}" if real else "") + ")", ""]
    for name, curve_ in result["curves"].items():
        lines += [f"**{name}** ({curve_['weights']})", "",
                  f"| {curve_['x']} | accuracy [95% Wilson] | confidence | diversity ± SE | Frechet ± SE |",
                  "|---|---|---|---|---|"]
        for p in curve_["points"]:
            se = p["diversity_se"]
            lines.append(f"| {p[curve_['x']]:g} | {p['accuracy']:.3f} [{p['accuracy_low']:.3f}, "
                         f"{p['accuracy_high']:.3f}] | {p['confidence']:.3f} | {p['diversity']:.2f}"
                         + ("" if se is None else f" ± {se:.2f}") + f" | {p['frechet']:.1f} ± {p['frechet_se']:.1f} |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    if args.report:
        try:
            with open(args.out) as f:
                print(report(json.load(f)))
        except (OSError, json.JSONDecodeError, KeyError) as e:
            raise SystemExit(f"error: cannot read {args.out}: {e}") from e
        return
    if args.reference_only:
        update_references(args)
        return
    torch.manual_seed(0)
    try:
        judge = load_judge()
    except CheckpointError as e:
        raise SystemExit(f"error: {e}") from e
    split = load_split(args.data)
    held_x, held_y = to_model_range(split["held_out"][0]), torch.as_tensor(split["held_out"][1])
    train_x, train_y = to_model_range(split["train"][0]), torch.as_tensor(split["train"][1])
    negative_of = nearest_other_digit(judge, held_x, held_y)
    settings = {"per_class": args.per_class, "seed": args.seed, "sampler": DEFAULT_SAMPLER, "steps": DEFAULT_STEPS}
    result = {"settings": settings, "curves": {}}
    if args.resume:
        try:
            with open(args.out) as f:
                previous = json.load(f)
            if previous.get("settings") == settings:
                result = previous
        except (OSError, json.JSONDecodeError):
            pass
    result.update(
        command="python -m playground.cli.tradeoff " + " ".join(sys.argv[1:] if argv is None else argv),
        interval={"t": INTERVAL, "sigma_lo": round(edm_sigma(INTERVAL[0] - 1), 3),
                  "sigma_hi": round(edm_sigma(INTERVAL[1]), 3)},
        rescale_phi=RESCALE_PHI, negative_of=negative_of, autoguidance_weak=AUTOGUIDE_WEAK.name,
        **real_references(judge, (train_x, train_y), (held_x, held_y), args.per_class),
    )
    specs = methods(negative_of)
    for name in args.methods:
        if name in result["curves"]:
            continue
        result["curves"][name] = curve(name, specs[name], judge, held_x, args.per_class, args.seed)
        with open(args.out, "w") as f:  # after every curve, so an interrupted run resumes
            json.dump(result, f, indent=1)
            f.write("\n")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
