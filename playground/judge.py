"""The judge: a small frozen MNIST CNN that scores generated digits, and the metrics built on it.

Inception-feature FID means nothing on 28x28 digits, so samples are judged by a classifier trained
only on the 4,500 training digits (never on the 500 held out): accuracy against the requested label,
confidence, coverage of the ten classes, and a Frechet distance on its penultimate features. Pixel
metrics need no network: diversity within a class, distance to the nearest training digit
(memorisation), and the shares of grey and of saturated pixels (speckle against saturation). Images
everywhere are float `[N, 1, 28, 28]` in [-1, 1]; pixel distances are L2 over the 784 pixels on the
[0, 1] scale.

Train: `python -m playground.cli.train_judge --out assets/judge.safetensors --epochs 8 --seed 0`.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from playground.assets import DEFAULT_JUDGE
from playground.checkpoint import load_frozen

CHUNK = 500  # images per forward / distance block: bounds memory for large sample sets


class Judge(nn.Module):
    """Two conv blocks and an MLP head: `[N, 1, 28, 28]` -> features `[N, 128]` -> logits `[N, 10]`.

    No BatchNorm or dropout, so train and eval mode compute the same function.
    """

    def __init__(self):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.fc = nn.Linear(64 * 7 * 7, 128)
        self.head = nn.Linear(128, 10)

    def features(self, x):
        """`[N, 1, 28, 28]` in [-1, 1] -> penultimate features `[N, 128]` (post-ReLU)."""
        return F.relu(self.fc(self.conv(x).flatten(1)))

    def forward(self, x):
        return self.head(self.features(x))


def load_judge(path=None):
    """The shipped judge (or the one at `path`) in eval mode; SHA-checked and strictly loaded."""
    return load_frozen(Judge(), path or DEFAULT_JUDGE)


@torch.no_grad()
def _chunked(fn, x):
    """`fn` over `x` in chunks of CHUNK rows, concatenated."""
    return torch.cat([fn(x[i : i + CHUNK]) for i in range(0, len(x), CHUNK)])


def _unit(images):
    """[-1, 1] `[N, 1, 28, 28]` -> [0, 1] pixel vectors `[N, 784]` in float64."""
    return ((images.double() + 1) / 2).flatten(1)


#################################################################################
#                                   Metrics                                     #
#################################################################################


def classify(judge, images, labels):
    """How recognisable the samples are, `images` `[N, 1, 28, 28]`, requested `labels` `[N]`.

    accuracy: fraction the judge assigns to the requested label.
    confidence: mean probability the judge gives to its own predicted class (mean max-softmax).
    label_entropy: entropy (nats) of the histogram of predicted labels; ln 10 = 2.303 is perfect
        coverage of all ten classes, 0 means every sample looks like the same digit.
    predicted: the judge's label for each sample (list of N ints).
    """
    probs = _chunked(lambda x: judge(x).softmax(-1), images.float())
    confidence, predicted = probs.max(-1)
    return {
        "accuracy": (predicted == torch.as_tensor(labels)).float().mean().item(),
        "confidence": confidence.mean().item(),
        "label_entropy": histogram_entropy(predicted),
        "predicted": predicted.tolist(),
    }


def histogram_entropy(predicted, num_classes=10):
    """Entropy in nats of the label histogram of `predicted` `[N]` (0 * ln 0 counts as 0)."""
    p = torch.bincount(torch.as_tensor(predicted), minlength=num_classes).double()
    p = p[p > 0] / p.sum()
    return (p * (1 / p).log()).sum().item()  # sum p ln(1/p): no -0.0 for a single label


def diversity(images, labels):
    """Mean pairwise L2 pixel distance ([0, 1] scale) between samples of the same requested label.

    Averaged first over the pairs within a label, then over labels with >= 2 samples (NaN if none).
    Low values mean the model draws the same digit again and again.
    """
    x, labels = _unit(images), torch.as_tensor(labels)
    per_label = []
    for label in labels.unique():
        group = x[labels == label]
        if len(group) >= 2:
            d = torch.cdist(group, group)
            per_label.append(d.sum() / (len(group) * (len(group) - 1)))  # the diagonal is zero
    return torch.stack(per_label).mean().item() if per_label else math.nan


GREY = 0.9  # a pixel in (-GREY, GREY) is neither ink nor background: grey
SATURATED = 0.99  # |x| above this is at the end of the data range


def pixel_shares(images):
    """`{"grey", "saturated"}`: the share of pixels of `images` (a tensor in [-1, 1]) in (-0.9, 0.9), neither ink
    nor background, and at |x| > 0.99, the ends of the range. Speckle raises the first; saturation the second."""
    return {"grey": ((images > -GREY) & (images < GREY)).float().mean().item(),
            "saturated": (images.abs() > SATURATED).float().mean().item()}


def wilson_interval(successes, n, z=1.96):
    """The 95% Wilson score interval (Wilson 1927) of a proportion: sound at 0 and 1 and for small n."""
    if n == 0:
        return math.nan, math.nan
    p, z2 = successes / n, z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def diversity_standard_error(images, labels, folds=5):
    """Standard error of `diversity` by batch means: each digit's samples dealt into `folds` disjoint folds.

    Each fold's diversity is an unbiased estimate of the same mean pairwise distance, so the spread of
    the fold means over sqrt(folds) is its standard error. NaN when a fold has < 2 samples of a digit.
    """
    labels = torch.as_tensor(labels)
    rank = torch.zeros_like(labels)
    for label in labels.unique():
        rank[labels == label] = torch.arange(int((labels == label).sum()))
    per_fold = [diversity(images[rank % folds == k], labels[rank % folds == k]) for k in range(folds)]
    return torch.tensor(per_fold).std().item() / math.sqrt(folds)


def diversity_jackknife_se(images, labels):
    """Jackknife standard error of `diversity` for a handful of samples (leave one sample out at a time).

    sqrt((n - 1) / n * sum_i (d_(-i) - mean d_(-i))^2); NaN with fewer than 3 samples of every digit.
    """
    labels = torch.as_tensor(labels)
    if len(labels) < 3:
        return math.nan
    keep = torch.ones(len(labels), dtype=torch.bool)
    left_out = []
    for i in range(len(labels)):
        keep[i] = False
        left_out.append(diversity(images[keep], labels[keep]))
        keep[i] = True
    values = torch.tensor(left_out, dtype=torch.float64)
    if torch.isnan(values).any():
        return math.nan
    n = len(values)
    return math.sqrt((n - 1) / n * (values - values.mean()).square().sum().item())


def judge_features(judge, images):
    """The judge's penultimate features of `images` `[N, 1, 28, 28]`, `[N, 128]` in float64: what the Frechet
    distance compares."""
    return _chunked(judge.features, images.float()).double()


def frechet_from_features(f1, f2):
    """Frechet distance between Gaussians fitted to two feature sets `[N, D]`, `[M, D]` (float64)."""
    mu1, mu2 = f1.mean(0), f2.mean(0)
    s1, s2 = torch.cov(f1.T), torch.cov(f2.T)
    root1 = _sqrtm_psd(s1)
    cross = torch.linalg.eigvalsh(root1 @ s2 @ root1).clamp(min=0).sqrt().sum()
    return ((mu1 - mu2).square().sum() + s1.trace() + s2.trace() - 2 * cross).clamp(min=0).item()


def frechet_bootstrap_se(judge, images, labels, real_images, resamples=30, seed=0):
    """Standard deviation of the Frechet distance over resamples of the samples (with replacement, per digit)."""
    f1 = judge_features(judge, images)
    f2 = judge_features(judge, real_images)
    labels, gen = torch.as_tensor(labels), torch.Generator().manual_seed(seed)
    groups = [torch.nonzero(labels == label).flatten() for label in labels.unique()]
    values = []
    for _ in range(resamples):
        idx = torch.cat([g[torch.randint(len(g), (len(g),), generator=gen)] for g in groups])
        values.append(frechet_from_features(f1[idx], f2))
    return torch.tensor(values).std().item()


def _sqrtm_psd(m):
    """Square root of a symmetric positive semi-definite matrix via its eigendecomposition."""
    eigenvalues, vectors = torch.linalg.eigh(m)
    return (vectors * eigenvalues.clamp(min=0).sqrt()) @ vectors.T


def frechet_distance(judge, images, real_images):
    """Frechet distance between Gaussians fitted to the judge features of two image sets.

    |mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2), in float64; the middle matrix is
    symmetric, so both square roots are eigendecompositions (no scipy). 0 for identical sets.
    The value shrinks with more samples, so compare sets of equal size.
    """
    f1, f2 = judge_features(judge, images), judge_features(judge, real_images)
    return frechet_from_features(f1, f2)


def nearest_train_distance(images, train_images):
    """L2 pixel distance ([0, 1] scale) from each sample to its nearest training digit.

    Returns `{"mean", "median"}` over the samples. Compare with the held-out real digits' values:
    samples much closer to the training set than real unseen digits are are being memorised.
    """
    train = _unit(train_images)
    nearest = _chunked(lambda x: torch.cdist(_unit(x), train).min(1).values, images)
    return {"mean": nearest.mean().item(), "median": nearest.median().item()}


def evaluate_samples(judge, images, labels, real=None, train=None):
    """All scalar metrics of `images` `[N, 1, 28, 28]` requested as `labels` `[N]`, with their uncertainty.

    `accuracy_low`/`accuracy_high`: 95% Wilson interval; `diversity_se`, `frechet_se`: standard errors
    (batch means; bootstrap). `frechet` needs `real` (e.g. the held-out digits), the `nearest_train_*`
    keys need `train` (the training digits), both float `[M, 1, 28, 28]` in [-1, 1].
    """
    scores = classify(judge, images, labels)
    hits = sum(int(p == y) for p, y in zip(scores.pop("predicted"), torch.as_tensor(labels).tolist(), strict=True))
    scores["accuracy_low"], scores["accuracy_high"] = wilson_interval(hits, len(images))
    scores["diversity"] = diversity(images, labels)
    scores["diversity_se"] = diversity_standard_error(images, labels)
    if real is not None:
        scores["frechet"] = frechet_distance(judge, images, real)
        scores["frechet_se"] = frechet_bootstrap_se(judge, images, labels, real)
    if train is not None:
        nearest = nearest_train_distance(images, train)
        scores["nearest_train_mean"], scores["nearest_train_median"] = nearest["mean"], nearest["median"]
    return scores
