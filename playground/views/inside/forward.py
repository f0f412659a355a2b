"""View: the forward pass, step by step. One real sampling trajectory, and the served model's own tensors at each
of its steps.

`inside_view` samples a digit (`STEPS` steps of `SAMPLER`, s = INSIDE_SCALE, or s = 1 for a model without a null
class), keeps x_t at every step, and traces the model's conditional forward on all of them in one batch
(`trace.trace_forward`: hooks on the model, its output is `model(x, t, y)` itself). The mean attention distance is
averaged over `DISTANCE_IMAGES` samples of the digit, traced the same way. Figures (`forward_figures`) and sentences
are computed from those tensors only. `validate_inside` checks a request once, into an
`InsideRequest`; `DEFAULTS` are the widgets' initial values and `PRESETS` the one-click demos, both for DiT-Tiny/4's
config (`fitted` moves them into another model's ranges).
"""

from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import torch

from playground.diffusion import predicted_x0, sampling_timesteps
from playground.inputs import MAX_SEED, as_int
from playground.model import DiT, DiTConfig
from playground.sampling import sample_guided
from playground.stats import cosine_similarity_matrix
from playground.views.inside import forward_figures as figs
from playground.views.inside import trace as tr

STEPS = 8  # sampling steps of the trajectory (DPM-Solver++(2M))
SAMPLER = "dpm++2m"
INSIDE_SCALE = 4.0  # guidance scale of the trajectory (DiT's sample.py default)
DISTANCE_IMAGES = 4  # samples of the digit the mean attention distance averages over (one batch: cheap)
FLAT_PX = 0.25  # a curve moving less than this (or than 2 standard errors, if more) counts as flat
DEFAULTS = MappingProxyType(
    {"label": 3, "seed": 0, "step": 4, "block": 2, "head": 0, "query_row": 3, "query_col": 3}
)
PRESETS = {  # one-click demos, arguments in the order of DEFAULTS
    "A 3 half-way, centre patch": dict(DEFAULTS),
    "Pure noise (t = 999)": {**DEFAULTS, "label": 7, "seed": 1, "step": 1, "block": 0, "query_row": 1,
                             "query_col": 3},
    "An almost clean 8 (t = 0)": {**DEFAULTS, "label": 8, "seed": 2, "step": STEPS, "block": 5, "head": 1,
                                  "query_row": 2, "query_col": 3},
}


@dataclass(frozen=True)
class InsideRequest:
    """Checked arguments of `inside_view`: a digit, the seed of its trajectory, a step (1..STEPS), the block and
    head whose attention is shown, and the query patch (row, column)."""

    label: int
    seed: int
    step: int
    block: int
    head: int
    query_row: int
    query_col: int


def validate_inside(label, seed, step, block, head, query_row, query_col, config=None):
    """An `InsideRequest` for a model of `config` (default: DiT-Tiny/4's), or ValueError naming the field."""
    config = config or DiTConfig()
    grid = config.input_size // config.patch_size
    return InsideRequest(
        label=as_int(label, "class", 0, config.num_classes - 1),  # the null class is not a digit to draw
        seed=as_int(seed, "seed", 0, MAX_SEED),
        step=as_int(step, "step", 1, STEPS),
        block=as_int(block, "block", 0, config.depth - 1),
        head=as_int(head, "head", 0, config.num_heads - 1),
        query_row=as_int(query_row, "query row", 0, grid - 1),
        query_col=as_int(query_col, "query column", 0, grid - 1),
    )


def fitted(values, config):
    """`values` (DEFAULTS or a preset) with the class, block, head and query patch moved into the ranges of a
    model of `config` (each to its last one where it lies beyond)."""
    last_patch = config.input_size // config.patch_size - 1
    last = {"label": config.num_classes - 1, "block": config.depth - 1, "head": config.num_heads - 1,
            "query_row": last_patch, "query_col": last_patch}
    return {k: min(v, last[k]) if k in last else v for k, v in values.items()}


def trajectory(model, label, seed):
    """x_t `[STEPS, C, H, W]` at every step of a real guided run, the sampler's eps_c there, and the sample."""
    xs, eps_cond = [], []

    def keep(state):
        xs.append(state["x_t"][0, 0].clone())
        eps_cond.append(state["eps_cond"][0, 0].clone())

    scale = INSIDE_SCALE if model.null_class is not None else 1.0  # no null row: no classifier-free guidance
    final = sample_guided(model, [label], [scale], steps=STEPS, seed=seed, sampler=SAMPLER, on_step=keep)
    return torch.stack(xs), torch.stack(eps_cond), final[0, 0], scale


@torch.no_grad()
def attention_distances(model, label, seed, scale):
    """Mean attention distance `[STEPS, DISTANCE_IMAGES, depth, heads]` in pixels, traced at every step of one
    guided run of DISTANCE_IMAGES rows of `label` (row 0 starts from the shown trajectory's noise; batched, its last
    bits may differ, so the shown trajectory is its own run)."""
    xs = []
    sample_guided(model, [label] * DISTANCE_IMAGES, [scale], steps=STEPS, seed=seed, sampler=SAMPLER,
                  on_step=lambda state: xs.append(state["x_t"][0].clone()))
    x = torch.stack(xs).flatten(0, 1)  # step-major: [STEPS * DISTANCE_IMAGES, C, H, W]
    t = torch.tensor(sampling_timesteps(STEPS), dtype=torch.float32).repeat_interleave(DISTANCE_IMAGES)
    rec = tr.trace_forward(model, x, t, torch.full((len(x),), label, dtype=torch.long))
    distances = tr.patch_distances(model.config.input_size // model.patch_size, model.patch_size)
    per_block = [tr.mean_attention_distance(tr.attention_weights(b["qkv"], model.num_heads), distances)
                 for b in rec["blocks"]]
    return np.stack(per_block, 1).reshape(STEPS, DISTANCE_IMAGES, len(model.blocks), model.num_heads)


def curve_shape(curve, tol):
    """How a curve ordered noisy -> clean moves, judged on every point: "flat" (it spans at most `tol`),
    "narrows" / "widens" (it never moves the other way by more than `tol`), "U" / "∩" (one turn at an inner
    extreme, each side monotone within `tol`), else "mixed"."""
    c = np.asarray(curve, dtype=np.float64)

    def rise(v):  # the largest increase from any point to a later one
        return max((v[j] - v[:j].min() for j in range(1, len(v))), default=0.0)

    def fall(v):
        return rise(-v)

    lo, hi = int(np.argmin(c)), int(np.argmax(c))
    if c[hi] - c[lo] <= tol:
        return "flat"
    if rise(c) <= tol:
        return "narrows"
    if fall(c) <= tol:
        return "widens"
    if 0 < lo < len(c) - 1 and rise(c[: lo + 1]) <= tol and fall(c[lo:]) <= tol:
        return "U"
    if 0 < hi < len(c) - 1 and fall(c[: hi + 1]) <= tol and rise(c[hi:]) <= tol:
        return "∩"
    return "mixed"


def trend_words(curve, ts, tol):
    """`curve_shape` in words, with the points it rests on (`ts`: the timesteps of the curve's points)."""
    c = np.asarray(curve, dtype=np.float64)
    lo, hi = int(np.argmin(c)), int(np.argmax(c))
    at = lambda i: f"{c[i]:.1f} px at t = {ts[i]}"  # noqa: E731
    return {
        "flat": f"flat, within {c.min():.1f}–{c.max():.1f} px from noisy to clean",
        "narrows": f"more local as the image gets cleaner, {at(0)} to {at(-1)}",
        "widens": f"wider as the image gets cleaner, {at(0)} to {at(-1)}",
        "U": f"U-shaped: {at(0)}, down to {at(lo)}, back up to {at(-1)}",
        "∩": f"∩-shaped: {at(0)}, up to {at(hi)}, back down to {at(-1)}",
        "mixed": f"no single trend: it moves both ways by more than {tol:.2f} px ({c.min():.1f}–{c.max():.1f} px)",
    }[curve_shape(c, tol)]


def trend_tolerance(se):
    """The change a distance curve must exceed to count: FLAT_PX, or twice its largest standard error if more."""
    return max(FLAT_PX, 2 * float(np.max(se)))


@torch.no_grad()
def fresh_block_changes(model, x, t, y):
    """A freshly initialised DiT of the same config (seeded, global RNG untouched) on the same inputs:
    per block max |x_out - x_in| and max |gate|, and max |output|. adaLN-Zero makes them all exactly 0."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        fresh = DiT(**model.config_dict()).eval()
    rec = tr.trace_forward(fresh, x, t, y)
    change = [float((b["x_out"] - b["x_in"]).abs().max()) for b in rec["blocks"]]
    gate = [float(max(b["modulation"]["gate_msa"].abs().max(), b["modulation"]["gate_mlp"].abs().max()))
            for b in rec["blocks"]]
    return {"change": change, "gate": gate, "out": float(rec["out"].abs().max())}


def position_facts(model):
    """The 2-D sin-cos table's structure, measured: which half varies with column / row, and sin-first vs cos-first."""
    pos = model.pos_embed[0].detach().double()
    d = pos.shape[1]
    grid = int(round(pos.shape[0] ** 0.5))
    cube = pos.reshape(grid, grid, d)  # [row, col, D]
    first, second = cube[..., : d // 2], cube[..., d // 2 :]
    t0 = model.t_embedder.sinusoid(torch.zeros(1))[0].double()
    quarter = d // 4
    return {
        "d": d,
        "first_across_rows": float((first - first[:1]).abs().max()),  # same column, different rows
        "first_across_cols": float((first - first[:, :1]).abs().max()),
        "second_across_cols": float((second - second[:, :1]).abs().max()),
        "second_across_rows": float((second - second[:1]).abs().max()),
        "origin_sin": float(pos[0, :quarter].abs().max()),  # patch (0, 0): sin(0) = 0 first ...
        "origin_cos": float((pos[0, quarter : 2 * quarter] - 1).abs().max()),  # ... then cos(0) = 1
        "t0_first": float(t0[: t0.shape[0] // 2].mean()),  # timestep embedding at t = 0: cos(0) = 1 first
        "t_dim": t0.shape[0],
    }


def _argmax_cell(values, grid):
    return divmod(int(np.argmax(values)), grid)


def inside_summary(s):
    """Sentences from the numbers of `inside_view` (`s` holds them)."""
    g, (qr, qc), b, h, k = s["grid"], s["query"], s["block"], s["head"], s["step"]
    w = s["weights"][k - 1, b, h, qr * g + qc]
    top = _argmax_cell(w, g)
    dist, se, uniform = s["distance"], s["distance_se"], s["uniform"]  # [steps, depth, heads] mean, its SE; px
    here = dist[k - 1]
    lo, hi = np.unravel_index(np.argmin(here), here.shape), np.unravel_index(np.argmax(here), here.shape)
    wider = int((here > uniform).sum())
    tol = trend_tolerance(se[:, b, h])
    writes_attn, writes_mlp, stream = s["writes_attn"], s["writes_mlp"], s["stream"]  # [steps, depth]
    rel = (writes_attn + writes_mlp) / stream
    pos, fresh = s["position"], s["fresh"]
    gates = s["gates"]  # [depth, 2] mean |gate_msa|, |gate_mlp| at this step
    lines = [
        f"- **This x_t** is step {k} of {STEPS} (t = {s['ts'][k - 1]}) of a real {SAMPLER} run of a {s['label']} "
        f"(s = {s['scale']:g}, seed {s['seed']}). The traced forward's ε equals the sampler's ε_c at this step to "
        f"max |Δ| = {s['eps_match']:.1e} (different batch, same model).",
        f"- **Attention, block {b} head {h}:** patch (row {qr}, col {qc}) puts its largest weight, {w.max():.3f}, on "
        f"patch (row {top[0]}, col {top[1]}) (a uniform head would give each of the {g * g} patches "
        f"{1 / (g * g):.3f}); {np.sort(w)[::-1][:5].sum():.0%} of its attention goes to its top 5 patches.",
        f"- **Mean attention distance** (mean over {s['images']} samples of this digit and seed, the first from "
        f"the shown one's noise) at this step runs from {here[lo]:.1f} px (block {lo[0]}, head {lo[1]}) to "
        f"{here[hi]:.1f} px (block {hi[0]}, head {hi[1]}); attending uniformly to all {g * g} patches gives "
        f"{uniform:.1f} px, "
        + (f"and {wider} of the {here.size} heads attend wider than that. " if wider
           else "and every head attends more locally. ")
        + f"For block {b} head {h}, judged on all {STEPS} steps (a change under {tol:.2f} px, the larger of "
        f"{FLAT_PX:g} px and 2 standard errors, counts as none): {trend_words(dist[:, b, h], s['ts'], tol)}.",
        f"- **adaLN-Zero at work (step {k}):** the largest attention write is block "
        f"{int(np.argmax(writes_attn[k - 1]))} ({writes_attn[k - 1].max():.2f} per token), the largest MLP write "
        f"block {int(np.argmax(writes_mlp[k - 1]))} ({writes_mlp[k - 1].max():.2f}). Relative to the stream each "
        f"block reads, the blocks add {rel[0].min():.0%}–{rel[0].max():.0%} at t = {s['ts'][0]} and "
        f"{rel[-1].min():.0%}–{rel[-1].max():.0%} at t = {s['ts'][-1]}.",
        f"- **Gates at initialisation vs trained:** a freshly initialised DiT of this config, on the same x_t, has "
        f"max |gate| = {max(fresh['gate']):g} and max |x_out − x_in| = {max(fresh['change']):g} in every block and "
        f"outputs max |ε| = {fresh['out']:g}: "
        + ("each block starts as the identity and the model predicts zero noise. "
           if max(fresh["change"]) == 0 and fresh["out"] == 0 else "its blocks are not the identity. ")
        + "Trained, at this step: "
        + ", ".join(f"block {i} |gate_msa| {a:.2f} / |gate_mlp| {m:.2f}" for i, (a, m) in enumerate(gates))
        + " (mean over the hidden units).",
        f"- **Position embedding:** its first {pos['d'] // 2} numbers are the same for every patch of a column "
        f"(max difference across rows {pos['first_across_rows']:.1g}, across columns "
        f"{pos['first_across_cols']:.2f}), the last {pos['d'] // 2} the same along a row "
        f"({pos['second_across_cols']:.1g} vs {pos['second_across_rows']:.2f}): first half = column, second = row. "
        f"At patch (0, 0) numbers 0–{pos['d'] // 4 - 1} are {pos['origin_sin']:.1g} = sin 0 and the next "
        f"{pos['d'] // 4} are 1 ± {pos['origin_cos']:.1g} = cos 0 (sin first), while the timestep embedding at t = 0 "
        f"has mean {pos['t0_first']:.2f} in its first {pos['t_dim'] // 2} numbers (cos 0 = 1: cos first).",
        f"- **Final layer:** mean |shift| {s['final_shift']:.2f}, 1 + scale from {s['final_scale'][0]:.2f} to "
        f"{s['final_scale'][1]:.2f}; its Linear turns each token into {s['patch_numbers']} numbers, unpatchify lays "
        f"them out as a {s['p']}×{s['p']} patch: ε has std {s['eps_std']:.2f} (pure noise has 1), the implied x0 "
        f"(x_t − σ ε) / α spans {s['x0_range'][0]:.2f} to {s['x0_range'][1]:.2f}.",
    ]
    return "\n".join(lines)


@torch.no_grad()
def inside_view(model, request):
    """Everything the page shows for one `InsideRequest` (checked for `model.config` by `validate_inside`)."""
    label, seed, step, block, head = request.label, request.seed, request.step, request.block, request.head
    query_row, query_col = request.query_row, request.query_col
    model.eval()
    ts = sampling_timesteps(STEPS)
    xs, eps_cond, _, scale = trajectory(model, label, seed)
    t = torch.tensor(ts, dtype=torch.float32)
    y = torch.full((STEPS,), label, dtype=torch.long)
    rec = tr.trace_forward(model, xs, t, y)
    p, g = model.patch_size, model.config.input_size // model.patch_size
    heads = model.num_heads
    weights = torch.stack([tr.attention_weights(b["qkv"], heads) for b in rec["blocks"]], 1).numpy()
    distances = attention_distances(model, label, seed, scale)  # [steps, images, depth, heads]
    distance, distance_se = distances.mean(1), distances.std(1, ddof=1) / np.sqrt(DISTANCE_IMAGES)
    uniform = tr.uniform_attention_distance(g, p)
    writes = [tr.branch_writes(b) for b in rec["blocks"]]
    writes_attn = np.stack([w["attn"].mean(1) for w in writes], 1)  # [steps, depth]
    writes_mlp = np.stack([w["mlp"].mean(1) for w in writes], 1)
    stream = np.stack([w["stream"].mean(1) for w in writes], 1)
    k = step - 1
    x_k, eps_k = xs[k, 0].numpy(), rec["out"][k, 0].numpy()
    x0_k = predicted_x0(x_k, eps_k, ts[k])
    pos = model.pos_embed[0].detach().numpy()
    tokens16 = xs[k : k + 1].unfold(2, p, p).unfold(3, p, p).reshape(g * g, p * p).numpy()  # row-major patches
    fresh = fresh_block_changes(model, xs[k : k + 1], t[k : k + 1], y[k : k + 1])
    final = rec["final"]
    numbers = {
        "grid": g, "p": p, "query": (query_row, query_col), "block": block, "head": head, "step": step,
        "label": label, "seed": seed, "scale": scale, "ts": ts, "weights": weights, "distance": distance,
        "distance_se": distance_se, "uniform": uniform, "images": DISTANCE_IMAGES,
        "writes_attn": writes_attn, "writes_mlp": writes_mlp, "stream": stream, "fresh": fresh,
        "position": position_facts(model),
        "gates": np.array([[float(b["modulation"]["gate_msa"][k].abs().mean()),
                            float(b["modulation"]["gate_mlp"][k].abs().mean())] for b in rec["blocks"]]),
        "eps_match": float((rec["out"][:, : model.in_channels] - eps_cond).abs().max()),
        "final_shift": float(final["shift"][k].abs().mean()),
        "final_scale": (float(1 + final["scale"][k].min()), float(1 + final["scale"][k].max())),
        "patch_numbers": final["patches"].shape[-1], "eps_std": float(eps_k.std()),
        "x0_range": (float(x0_k.min()), float(x0_k.max())),
    }
    query = query_row * g + query_col
    step_names = [f"step {i + 1}, t = {t_i}" for i, t_i in enumerate(ts)]
    return {
        "shape_walk": tr.shape_walk(model, rec, xs, f"N = the {STEPS} steps of the trajectory in one batch"),
        "summary": inside_summary(numbers),
        "path": figs.path_figure(x_k, tokens16, rec["blocks"][0]["x_in"][k].numpy(),
                                 rec["blocks"][-1]["x_out"][k].numpy(), final["patches"][k].numpy(), eps_k,
                                 len(model.blocks), step_names[k]),
        "patchify": figs.patchify_figure(x_k, tokens16, rec["tokens"][k].numpy(), pos,
                                         cosine_similarity_matrix(pos), (query_row, query_col), p, step_names[k]),
        "attention": figs.attention_grid_figure(x_k, weights[k, :, :, query], (query_row, query_col), p,
                                                step_names[k]),
        "attention_t": figs.attention_over_t_figure(xs[:, 0].numpy(), weights[:, block, head, query],
                                                    (query_row, query_col), p, step_names, block, head),
        "distance": figs.distance_figure(ts, distance, distance_se, uniform, DISTANCE_IMAGES),
        "writes": figs.writes_figure(ts, writes_attn, writes_mlp, stream),
        "write_maps": figs.write_maps_figure(np.stack([w["attn"][k] for w in writes]),
                                             np.stack([w["mlp"][k] for w in writes]), g, step_names[k]),
        "final": figs.final_figure(x_k, final["patches"][k].numpy(), eps_k, x0_k, step_names[k]),
    }
