"""With vs without the MLP: the raw sinusoid, the trained `t_emb` and a fresh MLP, over t = 0..999.

`validate_seed` checks the seed of the fresh MLP once; `mlp_view` returns everything the page shows for it;
`DEFAULTS` are the widgets' initial values. The embeddings of t = 0..999 and their statistics are kept by the
content of the model's `t_embedder` (`weights_digest`), its config and the seed: never by the module, which the
cache must not keep alive.
"""

from types import MappingProxyType

import numpy as np
import torch

from playground.cache import Cache, weights_digest
from playground.diffusion import ALPHAS_CUMPROD, NUM_TIMESTEPS
from playground.inputs import MAX_SEED, as_int
from playground.model import DiT
from playground.views.time.mlp_figures import (
    centred,
    distinguishability_figure,
    mlp_heatmaps,
    mlp_similarities,
    pca_figure,
    signal_figure,
)

DEFAULTS = MappingProxyType({"seed": 0})
STATS = Cache("MLP statistics", max_items=4)  # (t_embedder digest, config, seed) -> family_stats


def validate_seed(seed):
    """The checked seed of the fresh MLP, or ValueError naming it."""
    return as_int(seed, "seed", 0, MAX_SEED)


def fresh_timestep_embedder(config, seed=0):
    """A `TimestepEmbedder` with the reference initialisation: taken from a freshly built, seeded DiT."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return DiT(**config).eval().t_embedder


def embedding_family(model, seed=0, ts=None):
    """{'raw', 'trained', 'fresh'}: `[T, .]` numpy embeddings of every integer t (or `ts`)."""
    ts = torch.arange(NUM_TIMESTEPS, dtype=torch.float32) if ts is None else torch.as_tensor(ts, dtype=torch.float32)
    fresh = fresh_timestep_embedder(model.config_dict(), seed)
    with torch.no_grad():
        raw = model.t_embedder.sinusoid(ts)
        return {"raw": raw.numpy(), "trained": model.t_embedder.mlp(raw).numpy(), "fresh": fresh.mlp(raw).numpy()}


def family_stats(model, seed=0):
    """Embeddings of t = 0..999 and their statistics, computed once per (t_embedder weights, config, seed)."""
    key = (weights_digest(model.t_embedder), tuple(sorted(model.config_dict().items())), int(seed))
    return STATS.get(key, lambda: compute_family_stats(model, seed))


def compute_family_stats(model, seed):
    family = embedding_family(model, seed)
    stats = {"family": family, "pca": {}, "ratio": {}, "steps": {}}
    for name, emb in family.items():
        stats["pca"][name], stats["ratio"][name] = pca(emb, k=3)
        stats["steps"][name] = neighbour_distinguishability(emb)
    stats["signal"] = signal_level(stats["pca"]["trained"][:, 0])
    return stats


def pca(emb, k=3):
    """`(projection [T, k], explained variance ratio [D])` of the centred rows of `emb`."""
    centred = np.asarray(emb, dtype=np.float64) - np.mean(emb, axis=0)
    var, vectors = (v.numpy() for v in torch.linalg.eigh(torch.from_numpy(centred.T @ centred)))
    var, vectors = np.clip(var[::-1], 0, None), vectors[:, ::-1]
    ratio = var / var.sum() if var.sum() > 0 else np.zeros_like(var)
    return centred @ vectors[:, :k], ratio


def components_for(ratio, fraction=0.9):
    """How many principal components explain `fraction` of the variance."""
    return int(np.searchsorted(np.cumsum(ratio), fraction - 1e-12) + 1)


def varying_rms(emb):
    """RMS length of the part of the rows that varies with t (rows minus their mean over t)."""
    return float(np.sqrt(np.mean(np.sum(centred(emb) ** 2, axis=1))))


def neighbour_distinguishability(emb):
    """`||e(t+1) - e(t)||` over the RMS length of the part that varies with t (`varying_rms`): `[T - 1]`.

    How far the curve moves per step, measured against how far it wanders in all: a constant offset, which every t
    shares, does not count.
    """
    emb = np.asarray(emb, dtype=np.float64)
    steps = np.linalg.norm(np.diff(emb, axis=0), axis=1)
    return steps / max(varying_rms(emb), 1e-12)


def log_snr(t=None):
    """log(abar_t / (1 - abar_t)) of the training schedule, float64 `[1000]` (or at integer `t`)."""
    abar = ALPHAS_CUMPROD.double().numpy()
    out = np.log(abar / (1 - abar))
    return out if t is None else out[np.asarray(t, dtype=int)]


def signal_level(pc1):
    """PC1 of the trained t_emb over t = 0..999 against the signal level: oriented so it rises with sqrt(abar_t).

    Returns {'pc1', 'sqrt_abar', 'log_snr', 'corr_sqrt_abar', 'corr_log_snr'} (Pearson correlations).
    """
    sqrt_abar = np.sqrt(ALPHAS_CUMPROD.double().numpy())
    pc1 = np.asarray(pc1, dtype=np.float64)
    if np.corrcoef(pc1, sqrt_abar)[0, 1] < 0:
        pc1 = -pc1  # a principal axis has no sign of its own
    snr = log_snr()
    return {
        "pc1": pc1,
        "sqrt_abar": sqrt_abar,
        "log_snr": snr,
        "corr_sqrt_abar": float(np.corrcoef(pc1, sqrt_abar)[0, 1]),
        "corr_log_snr": float(np.corrcoef(pc1, snr)[0, 1]),
    }


def offset_share(emb):
    """Share of the mean squared norm that is the constant offset (the mean over t): 0..1."""
    emb = np.asarray(emb, dtype=np.float64)
    total = float(np.mean(np.sum(emb**2, axis=1)))
    return float(np.sum(emb.mean(axis=0) ** 2)) / total if total > 0 else 0.0


def times_more(a, b):
    """'3.2× more' / '2.1× less' for a/b."""
    if b <= 0 or a <= 0:
        return "not comparably"
    ratio = a / b
    factor = ratio if ratio >= 1 else 1 / ratio
    amount = f"{factor:.2g}" if factor < 10 else f"{factor:,.0f}"
    return f"{amount}× {'more' if ratio >= 1 else 'less'}"


def mlp_summary(stats):
    """The page's sentences, computed from the live numbers: one step against the path, the signal level, how
    curled each curve is, and the constant offset."""
    family = stats["family"]
    early = {name: float(v[:100].mean()) for name, v in stats["steps"].items()}
    late = {name: float(v[-100:].mean()) for name, v in stats["steps"].items()}
    ratios = stats["ratio"]
    eff = {name: components_for(r, 0.9) for name, r in ratios.items()}
    offset = {name: offset_share(emb) for name, emb in family.items()}
    offset_norm = float(np.linalg.norm(family["trained"].mean(axis=0)))
    signal = stats["signal"]
    lines = [
        (
            f"- **One step against the whole path:** at t < 100 a step moves the trained t_emb "
            f"{early['trained']:.3g} of the RMS length of its t-varying part, the raw sinusoid {early['raw']:.3g} "
            f"({times_more(early['trained'], early['raw'])}); at t ≥ 900 {late['trained']:.3g} vs {late['raw']:.3g} "
            f"({times_more(late['trained'], late['raw'])}). This is how far the curve moves per step, not whether "
            "two steps can be told apart. The raw sinusoid moves the same amount at every t (a rotation of each "
            "cos/sin pair), so its curve is flat."
        ),
        (
            f"- **The trained t_emb is about one feature, the signal level:** its first principal component explains "
            f"{100 * ratios['trained'][0]:.0f} % of its variance over t = 0..999 and follows √ᾱ_t with correlation "
            f"{signal['corr_sqrt_abar']:.3f} (the log-SNR: {signal['corr_log_snr']:.3f}). The MLP turns "
            f"{family['raw'].shape[1]} waves into roughly one number: how much image is left in x_t."
        ),
        (
            f"- **Curves, all three:** each embedding is a 1-D curve (one point per t); PCA counts the linear "
            f"dimensions the curve spans, i.e. how curled it is. For 90 % of the variance: raw {eff['raw']} of "
            f"{family['raw'].shape[1]}, trained {eff['trained']} of {family['trained'].shape[1]}, fresh "
            f"{eff['fresh']} of {family['fresh'].shape[1]}."
        ),
        (
            f"- **Constant offset:** the mean over t is {100 * offset['trained']:.0f} % of the trained t_emb's squared "
            f"length (norm {offset_norm:.3g}; raw {100 * offset['raw']:.0f} %, fresh {100 * offset['fresh']:.0f} "
            "%): the same at every step, it acts as a bias. The step information rides on the varying part "
            "(bottom row of the similarity plot)."
        ),
    ]
    return "\n".join(lines)


def mlp_view(model, seed=DEFAULTS["seed"]):
    """Everything the MLP page shows, with a fresh MLP of (checked) `seed`: dict of figures and markdown."""
    stats = family_stats(model, seed)
    return {
        "heatmaps": mlp_heatmaps(stats["family"]),
        "similarities": mlp_similarities(stats["family"]),
        "pca2d": pca_figure(stats, dims=2),
        "pca3d": pca_figure(stats, dims=3),
        "distinguishability": distinguishability_figure(stats),
        "signal": signal_figure(stats),
        "summary": mlp_summary(stats),
    }
