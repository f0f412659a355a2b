"""Sinusoidal timestep embeddings: DiT's, and the diffusers variants for comparison.

A scalar step index t is spread over `dim` numbers: cos/sin of t at geometrically spaced
frequencies, from 1 rad/step (fast) down to about 1/max_period rad/step (slow). Fast columns tell
neighbouring steps apart, slow ones say roughly where in 0..999 we are.
"""

import math

import torch

# name -> (cos half first?, downscale_freq_shift)
FLAVOURS = {
    "dit": (True, 0),  # facebookresearch/DiT TimestepEmbedder.timestep_embedding
    "diffusers": (False, 1),  # diffusers get_timestep_embedding defaults: sin first, shift 1
    "diffusers-dit": (True, 1),  # diffusers' own DiT port (flip_sin_to_cos=True, shift 1)
}


def frequencies(dim, max_period=10000.0, downscale_freq_shift=0):
    """Angular frequencies in rad/step, `[dim // 2]`, from 1 down towards 1/max_period."""
    half = dim // 2
    denominator = half - downscale_freq_shift
    if half and denominator <= 0:
        raise ValueError(f"dim={dim} is too small for downscale_freq_shift={downscale_freq_shift}")
    # Same operation order as the reference (multiply, then divide) so float32 results match bit for bit.
    return torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32) / denominator)


def timestep_embedding(t, dim, max_period=10000.0, flavour="dit"):
    """Embed step indices `t` `[B]` (fractional allowed) as `[B, dim]`.

    "dit" is exactly DiT's: `cat([cos(t * f), sin(t * f)])`, with a zero column appended for odd dim.
    """
    if flavour not in FLAVOURS:
        raise ValueError(f"unknown flavour {flavour!r}; choose one of {sorted(FLAVOURS)}")
    cos_first, shift = FLAVOURS[flavour]
    t = torch.as_tensor(t)
    freqs = frequencies(dim, max_period, shift).to(t.device)
    args = t[:, None].float() * freqs[None]
    halves = [torch.cos(args), torch.sin(args)] if cos_first else [torch.sin(args), torch.cos(args)]
    embedding = torch.cat(halves, dim=-1)
    if dim % 2:
        embedding = torch.cat([embedding, embedding.new_zeros(len(embedding), 1)], dim=-1)
    return embedding
