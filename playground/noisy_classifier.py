"""A noise-aware classifier p(y | x_t, t), the guide of classifier guidance (Dhariwal & Nichol 2021).

Classifier guidance needs a classifier that can read a digit through the noise of every step, so it
is trained on noised digits x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps at uniformly drawn t (the
DiT's own schedule), and told t. It is deliberately unlike the judge that scores the results
(`playground.judge`: clean digits, ReLU, max-pooling, no time input): a residual CNN with
GroupNorm, SiLU (smooth, so its input gradients are smooth), strided downsampling, global average
pooling, and the timestep entering every block as a FiLM scale and shift.

Train: `python -m playground.cli.train_classifier --out assets/noisy_classifier.safetensors`.
"""


import torch
import torch.nn.functional as F
from torch import nn

from playground.assets import DEFAULT_CLASSIFIER
from playground.checkpoint import load_frozen
from playground.diffusion import q_sample
from playground.embedding import timestep_embedding

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
