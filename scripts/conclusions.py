"""Re-measure the figures the pages' conclusions rest on: `python scripts/conclusions.py PART [ARGS]`.

Parts (each prints its figures; none is run by CI):
- `guidance NAME:S ...`: 30 samples of each digit (the app's sampler, seed 0) per run, e.g. `cfg:4 no_clip:4`;
  accuracy with its Wilson interval, diversity and Frechet distance (to the 500 held-out digits) with their
  standard errors, the share of pixels at |x| > 0.99 and of grey pixels (-0.9 < x < 0.9); then, for each run with
  a CFG run at the same scale, the paired bootstrap of the Frechet difference (the same rows resampled for both).
  NAME is one of cfg, no_clip, rescale_x0_1, rescale_eps_1, rescale_x0_07.
- `cuts`: one block's gates zeroed, RMS change from the plain run, conditional (s = 4, every digit, 8 samples)
  against the unconditional control (s = 0).
- `decided`: the step at which each sample of the 3 -> 8 switch is decided, 16 samples at s = 4 and at s = 1.5.
- `attention`: the uniform-attention baseline and block 2 head 0's mean attention distance over the trajectory.
- `cosines`: the cosine of the noise-aware classifier's and the judge's requests with CFG's direction, at the
  inspected steps, for every digit and 3 seeds.
"""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import numpy as np  # noqa: E402
import torch  # noqa: E402

from playground.checkpoint import load_pretrained  # noqa: E402
from playground.judge import load_judge  # noqa: E402

QUIET = lambda *args, **kwargs: None  # noqa: E731  (a progress callback that says nothing)


def guidance_runs(runs):
    from playground.data import load_split, to_model_range
    from playground.diffusion import DEFAULT_SAMPLER, DEFAULT_STEPS
    from playground.guidance import Guidance
    from playground.judge import evaluate_samples, frechet_from_features, judge_features
    from playground.sampling import sample_guided

    guidances = {"cfg": Guidance(), "no_clip": Guidance(clip=False), "rescale_x0_1": Guidance(rescale=1.0),
                 "rescale_eps_1": Guidance(rescale=1.0, rescale_space="eps"), "rescale_x0_07": Guidance(rescale=0.7)}
    judge, model = load_judge(), load_pretrained()
    held = to_model_range(load_split()["held_out"][0])
    labels = torch.arange(10).repeat_interleave(30)
    real, features = judge_features(judge, held), {}
    for name, scale in (run.split(":") for run in runs):
        t0 = time.time()
        x = sample_guided(model, labels, [float(scale)], steps=DEFAULT_STEPS, seed=0, sampler=DEFAULT_SAMPLER,
                          guidance=guidances[name])[0]
        sc = evaluate_samples(judge, x, labels, real=held)
        features[name, scale] = judge_features(judge, x)
        print(f"{name} s={scale}: accuracy {sc['accuracy']:.3f} [{sc['accuracy_low']:.3f}, {sc['accuracy_high']:.3f}]"
              f" diversity {sc['diversity']:.2f} ± {sc['diversity_se']:.2f} Frechet {sc['frechet']:.1f} ± "
              f"{sc['frechet_se']:.1f} |x|>0.99 {(x.abs() > 0.99).float().mean():.3f} grey "
              f"{((x > -0.9) & (x < 0.9)).float().mean():.3f} ({time.time() - t0:.0f} s)", flush=True)
    gen, groups = torch.Generator().manual_seed(0), [torch.nonzero(labels == d).flatten() for d in range(10)]
    for (name, scale), f in features.items():
        if name == "cfg" or ("cfg", scale) not in features:
            continue
        base, diffs = features["cfg", scale], []
        for _ in range(100):
            idx = torch.cat([g[torch.randint(len(g), (len(g),), generator=gen)] for g in groups])
            diffs.append(frechet_from_features(f[idx], real) - frechet_from_features(base[idx], real))
        se, point = torch.tensor(diffs).std(), frechet_from_features(f, real) - frechet_from_features(base, real)
        print(f"paired: {name} - cfg at s={scale}: {point:+.1f} (bootstrap SE {se:.1f}, {point / se:+.1f} SE)")


def cuts():
    from playground.views.inside import cuts, decided

    model, uncond, cond = load_pretrained().eval(), None, []
    for label in range(10):
        request = decided.validate_counterfactual("cut a route", label, (label + 1) % 10, 0, 8, 4.0, "offset", 0,
                                                  "zero gates", "")
        change = cuts.rms_per_sample(decided.cut_runs(model, request, QUIET))
        if uncond is None:
            uncond = cuts.rms_per_sample(decided.control_runs(model, request, QUIET))
        cond.append([change[f"block {b}"].mean() for b in range(model.config.depth)])
    cond = np.array(cond)  # [label, block]
    print("unconditional (s = 0), per block, 8 samples:",
          np.round([uncond[f"block {b}"].mean() for b in range(model.config.depth)], 2))
    for b in range(model.config.depth):
        print(f"conditional (s = 4), block {b}: {cond[:, b].min():.2f}-{cond[:, b].max():.2f} over the digits")


def decided_steps():
    from playground.views.inside import decided

    model, judge = load_pretrained().eval(), load_judge()
    for scale in (4.0, 1.5):
        steps = []
        for seed in (0, 1):
            request = decided.validate_counterfactual("switch the label", 3, 8, seed, 8, scale, "offset", 0,
                                                      "null label", "")
            reads = [decided.readings(judge, f, 3) for f in decided.switch_runs(model, request, QUIET)]
            steps += decided.decided_step(reads, 3)[1]
        print(f"s = {scale}: the decided step of each of 16 samples (seeds 0, 1 x 8):", steps)


def attention():
    from playground.views.inside import forward, trace

    model = load_pretrained().eval()
    print("uniform attention, 7x7 grid of 4-px patches:", round(trace.uniform_attention_distance(7, 4), 2), "px")
    d = forward.attention_distances(model, 3, 0, forward.INSIDE_SCALE)  # [steps, images, depth, heads]
    print("block 2 head 0, mean over the images per step:", np.round(d[:, :, 2, 0].mean(1), 1),
          "largest SE", round(float(d[:, :, 2, 0].std(1, ddof=1).max() / np.sqrt(d.shape[1])), 2))


def cosines():
    from playground.noisy_classifier import load_classifier
    from playground.views.guidance import classifier

    model, guide, judge, rows = load_pretrained(), load_classifier(), load_judge(), []
    for label in range(10):
        for seed in range(3):
            r = classifier.requests(model, guide, judge, label, seed)
            rows.append([[classifier.cosine(a, b) for a, b in zip(r[k], r["cfg"], strict=True)]
                         for k in ("classifier", "judge")])
    rows = np.array(rows)
    print("t", r["t"])
    print("classifier: mean", rows[:, 0].mean(0).round(2), "min", rows[:, 0].min(0).round(2))
    print("judge: mean", rows[:, 1].mean(0).round(2), "min", rows[:, 1].min(0).round(2))


PARTS = {"guidance": guidance_runs, "cuts": cuts, "decided": decided_steps, "attention": attention,
         "cosines": cosines}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in PARTS:
        sys.exit(f"usage: python scripts/conclusions.py {{{','.join(PARTS)}}} [NAME:S ...]")
    torch.set_num_threads(2)
    PARTS[sys.argv[1]](*([sys.argv[2:]] if sys.argv[1] == "guidance" else []))
