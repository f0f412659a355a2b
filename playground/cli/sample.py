"""Sample digits from the pretrained DiT at several guidance scales and save a labelled grid.

    python -m playground.cli.sample --labels 3 --n 8 --scales 0 1 4 7 --steps 50 --seed 0 --out grid.png
    python -m playground.cli.sample --labels 3 --n 4 --scales 0 1 4 --gif denoising.gif  # for slides

Columns are guidance scales (DiT's s: 0 unconditional, 1 conditional), rows are samples; a row
starts from the same noise in every column, so only the guidance changes along it.
"""

import argparse
import math
import sys
from pathlib import Path

import numpy as np

from playground.checkpoint import CheckpointError, load_pretrained
from playground.data import to_uint8
from playground.diffusion import DEFAULT_SAMPLER, DEFAULT_STEPS, NUM_TIMESTEPS, SAMPLERS
from playground.grids import denoising_frames, save_gif, sweep_grid
from playground.guidance import Guidance, GuidanceError
from playground.noisy_classifier import load_classifier
from playground.process import apply_process_settings
from playground.sampling import sample_guided

MAX_IMAGES = 2000  # images in one sampling batch (scales x rows; twice that through the network): bounds memory
MAX_ZOOM = 16  # pixel upscaling of the grid: 28 x 16 = 448 pixels a digit


def add_sampling_args(p):
    """The sampling options shared by `sample` and `evaluate`."""
    p.add_argument("--scales", type=float, nargs="+", default=[0.0, 1.0, 4.0, 7.0], help="guidance scales (DiT's s)")
    p.add_argument("--steps", type=int, default=DEFAULT_STEPS, help=f"sampling steps, 1..{NUM_TIMESTEPS}")
    p.add_argument("--sampler", choices=SAMPLERS, default=DEFAULT_SAMPLER)
    p.add_argument("--precision", choices=("fp32", "bf16"), default="fp32", help="bf16 autocast (faster only with AMX)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--weights", default=None, help="DiT .safetensors (default: the shipped checkpoint)")
    g = p.add_argument_group("guidance variants (playground.guidance; each combines with --scales)")
    g.add_argument("--interval", type=int, nargs=2, metavar=("T_LO", "T_HI"), default=None,
                   help="guide only at timesteps T_LO <= t <= T_HI (both included), plain conditional elsewhere")
    g.add_argument("--rescale", type=float, default=0.0, metavar="PHI", help="CFG rescale's phi in [0, 1], on x0")
    g.add_argument("--negative-label", type=int, default=None, metavar="K",
                   help="guide away from digit K instead of the null class")
    g.add_argument("--no-clip", action="store_true", help="step with the raw x0 (shows what clipping prevents)")
    g.add_argument("--guide-model", default=None, metavar="PATH",
                   help="autoguidance: a weaker DiT .safetensors in place of the null class (--scales: its scale)")
    g.add_argument("--classifier-scale", type=float, default=0.0, metavar="G",
                   help="classifier guidance of strength G on top of --scales (--scales 0: pure classifier guidance)")
    g.add_argument("--classifier", default=None, metavar="PATH",
                   help="noise-aware classifier .safetensors (default: the shipped one)")


def check_sampling_args(p, args):
    """Reject what `add_sampling_args` cannot: exits via `p.error` (status 2, message on stderr)."""
    if not all(math.isfinite(s) for s in args.scales):
        p.error(f"--scales must be finite numbers, got {args.scales}")
    if not 1 <= args.steps <= NUM_TIMESTEPS:
        p.error(f"--steps must be in 1..{NUM_TIMESTEPS}, got {args.steps}")
    if not (math.isfinite(args.rescale) and math.isfinite(args.classifier_scale)):
        p.error("--rescale and --classifier-scale must be finite numbers")


def load_model_or_exit(path):
    """The DiT at `path` (default: shipped), or exit with the checkpoint error's message."""
    try:
        return load_pretrained(path)
    except CheckpointError as e:
        raise SystemExit(f"error: {e}") from e


def guidance_or_exit(args, model):
    """The `Guidance` the options ask for, checked against `model` and the scales, or exit with the reason."""
    try:
        guidance = Guidance(
            interval=tuple(args.interval) if args.interval else None, rescale=args.rescale,
            negative_label=args.negative_label, clip=not args.no_clip,
            guide_model=load_pretrained(args.guide_model) if args.guide_model else None,
            classifier=load_classifier(args.classifier) if args.classifier_scale else None,
            classifier_scale=args.classifier_scale,
        )
        guidance.check(model, args.scales)
    except (CheckpointError, GuidanceError) as e:
        raise SystemExit(f"error: {e}") from e
    return guidance


def progress(step, steps, x0):
    print(f"\rstep {step}/{steps}", end="\n" if step == steps else "", file=sys.stderr, flush=True)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--labels", type=int, nargs="+", default=list(range(10)), help="digits to draw, 0..9")
    p.add_argument("--n", type=int, default=1,
                   help=f"samples per label (rows = len(labels) * n; scales x rows <= {MAX_IMAGES})")
    p.add_argument("--out", default="grid.png", help="PNG grid")
    p.add_argument("--npy", default=None, help="also save uint8 [len(scales), len(labels) * n, 28, 28]")
    p.add_argument("--gif", default=None, metavar="PATH",
                   help="also save the denoising as an animated GIF: the grid of the predicted x0 at each step")
    p.add_argument("--zoom", type=int, default=3, help=f"pixel upscaling in the grid, 1..{MAX_ZOOM}")
    add_sampling_args(p)
    args = p.parse_args(argv)
    check_sampling_args(p, args)
    if not all(0 <= y <= 9 for y in args.labels):
        p.error(f"--labels must be digits 0..9, got {args.labels}")
    if args.n < 1 or not 1 <= args.zoom <= MAX_ZOOM:
        p.error(f"--n must be >= 1 and --zoom in 1..{MAX_ZOOM}")
    if len(args.scales) * len(args.labels) * args.n > MAX_IMAGES:
        p.error(f"{len(args.scales)} scales x {len(args.labels) * args.n} rows is over {MAX_IMAGES} images; "
                "use fewer --scales, --labels or --n")
    return args


def main(argv=None):
    args = parse_args(argv)
    apply_process_settings()
    model = load_model_or_exit(args.weights)
    guidance = guidance_or_exit(args, model)
    labels = [y for y in args.labels for _ in range(args.n)]
    x0_steps = []

    def on_step(step, steps, x0):
        progress(step, steps, x0)
        if args.gif:
            x0_steps.append(to_uint8(x0).numpy())

    x = sample_guided(
        model, labels, args.scales, steps=args.steps, seed=args.seed, sampler=args.sampler,
        precision=args.precision, guidance=guidance, callback=on_step,
    )
    samples = to_uint8(x).numpy()  # [S, N, 28, 28]
    try:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        sweep_grid(samples, args.scales, row_labels=labels, cell=28 * args.zoom).save(args.out, format="png")
        print(f"wrote {args.out}", file=sys.stderr)
        if args.npy:
            np.save(args.npy, samples)
            print(f"wrote {args.npy}", file=sys.stderr)
        if args.gif:
            Path(args.gif).parent.mkdir(parents=True, exist_ok=True)
            x0_steps[-1] = samples  # the last frame shows the samples the PNG shows (the last x0 up to rounding)
            save_gif(denoising_frames(x0_steps, args.scales, row_labels=labels, cell=28 * args.zoom), args.gif)
            print(f"wrote {args.gif}", file=sys.stderr)
    except OSError as e:
        raise SystemExit(f"error: cannot write {e.filename or args.out}: {e.strerror or e}") from e


if __name__ == "__main__":
    main()
