"""Score the pretrained DiT with the judge at several guidance scales: a markdown table per scale.

    python -m playground.cli.evaluate --scales 0 1 2 4 8 --per-class 30 --json eval.json

For every scale: `per_class` samples of each digit, the same starting noise at every scale. Columns:
judge accuracy against the requested digit, mean confidence, entropy of the predicted labels
(ln 10 = 2.303 is full coverage), Frechet distance of judge features to the 500 held-out digits,
pixel diversity within a digit, and mean L2 distance to the nearest training digit. The last row
scores the held-out real digits themselves: what real, unseen digits get (memorisation shows as
samples much nearer the training set than that row).
"""

import argparse
import json
import sys
import time

import torch

from playground.checkpoint import CheckpointError
from playground.cli.sample import (
    MAX_IMAGES,
    add_sampling_args,
    check_sampling_args,
    guidance_or_exit,
    load_model_or_exit,
)
from playground.data import add_data_argument, load_split, to_model_range
from playground.judge import evaluate_samples, frechet_distance, load_judge
from playground.process import apply_process_settings
from playground.sampling import sample_guided
from playground.tables import evaluation_table


def evaluate_scales(model, judge, scales, per_class, steps, seed, sampler, split, precision="fp32", progress=None,
                    guidance=None):
    """One row dict per scale, then the held-out reference row (`scale` None).

    `split` is `playground.data.load_split()`. Each row holds `name`, `scale`, `samples`, `seconds`
    (sampling time) and the metrics of `judge.evaluate_samples` (Frechet against the held-out
    digits, nearest-train against the training digits). Rows 0..10*per_class-1 ask for digit
    row // per_class. `sample_guided` is called once per scale with all rows: its row noise
    depends on (seed, row index), so row i starts from the same noise at every scale, and one
    forward holds at most 2 x 10 x per_class images. `progress(row)` is called after each scale.

    The reference row's Frechet is that of 10 * per_class training digits (per_class of each)
    against the held-out digits: the floor a perfect model reaches at this sample size.
    """
    held_x, held_y = to_model_range(split["held_out"][0]), torch.as_tensor(split["held_out"][1])
    train_x, train_y = to_model_range(split["train"][0]), torch.as_tensor(split["train"][1])
    labels = torch.arange(10).repeat_interleave(per_class)
    rows = []
    for scale in scales:
        t0 = time.time()
        x = sample_guided(model, labels, [scale], steps=steps, seed=seed, sampler=sampler, precision=precision,
                             guidance=guidance)[0]
        seconds = time.time() - t0
        scores = evaluate_samples(judge, x, labels, real=held_x, train=train_x)
        rows.append({"name": f"s = {scale:g}", "scale": scale, "samples": len(labels), "seconds": seconds, **scores})
        if progress is not None:
            progress(rows[-1])
    reference = evaluate_samples(judge, held_x, held_y, train=train_x)
    same_size = torch.cat([train_x[train_y == digit][:per_class] for digit in range(10)])
    reference["frechet"] = frechet_distance(judge, same_size, held_x)
    rows.append({"name": "held-out real", "scale": None, "samples": len(held_x), "seconds": None, **reference})
    return rows


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--per-class", type=int, default=30, help=f"samples of each digit per scale, 2..{MAX_IMAGES // 10}")
    p.add_argument("--json", default=None, help="also write the settings and rows here")
    p.add_argument("--judge", default=None, help="judge .safetensors (default: the shipped judge)")
    add_data_argument(p)
    add_sampling_args(p)
    p.set_defaults(scales=[0.0, 1.0, 2.0, 4.0, 8.0])
    args = p.parse_args(argv)
    check_sampling_args(p, args)
    if not 2 <= args.per_class <= MAX_IMAGES // 10:
        p.error(f"--per-class must be in 2..{MAX_IMAGES // 10} (diversity compares samples of the same digit; "
                "10 x per-class images are sampled at once)")
    return args


def main(argv=None):
    args = parse_args(argv)
    apply_process_settings()
    model = load_model_or_exit(args.weights)
    guidance = guidance_or_exit(args, model)
    try:
        judge = load_judge(args.judge)
    except CheckpointError as e:
        raise SystemExit(f"error: {e}") from e

    def progress(row):
        print(f"{row['name']}: {row['samples']} samples in {row['seconds']:.1f}s, accuracy {row['accuracy']:.3f}",
              file=sys.stderr, flush=True)

    rows = evaluate_scales(
        model, judge, args.scales, args.per_class, args.steps, args.seed, args.sampler, load_split(args.data),
        precision=args.precision, progress=progress, guidance=guidance,
    )
    print(f"{args.sampler}, {args.steps} steps, seed {args.seed}, {args.precision}; "
          f"DiT {model.card.get('sha256', '')[:12]}, judge {judge.card['sha256'][:12]}\n")
    print(evaluation_table(rows))
    print(f"\nheld-out real: its Frechet is that of {10 * args.per_class} training digits against the held-out ones, "
          "the floor at this sample size.")
    if args.json:
        settings = {k: getattr(args, k) for k in ("scales", "per_class", "steps", "sampler", "precision", "seed",
                                                  "interval", "rescale", "negative_label", "no_clip", "guide_model",
                                                  "classifier_scale", "classifier")}
        settings.update(dit_sha256=model.card.get("sha256"), judge_sha256=judge.card["sha256"])
        with open(args.json, "w") as f:
            json.dump({"settings": settings, "rows": rows}, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    main()
