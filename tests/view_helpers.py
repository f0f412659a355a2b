"""Helpers the view tests share: an independent formula of DiT's embedding and the size of a figure's JSON."""

import math

import numpy as np

PAYLOAD_LIMIT = 1_500_000  # bytes of figure JSON one view may send

def dit_formula(ts, dim, max_period=10000.0):
    """DiT's embedding in float64 numpy, written independently of playground.embedding."""
    half = dim // 2
    freqs = np.exp(-math.log(max_period) * np.arange(half) / half)
    args = np.asarray(ts, dtype=np.float64)[:, None] * freqs[None]
    out = np.concatenate([np.cos(args), np.sin(args)], axis=1)
    return np.concatenate([out, np.zeros((len(ts), 1))], axis=1) if dim % 2 else out


def payload(fig):
    return len(fig.to_json())
