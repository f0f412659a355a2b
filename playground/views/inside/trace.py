"""Read a DiT's own tensors during one `model(x, t, y)`: forward hooks, nothing re-implemented.

`trace_forward` registers hooks on the model's submodules, calls the model once and returns what they saw, with
`out` the forward's own return value (so it is `DiT.forward` bit for bit). The fused attention
(`F.scaled_dot_product_attention`) returns no weights, so `attention_weights` recomputes softmax(q kᵀ / √d) from
the hooked q and k; `attention_output` applies them to v, which tests compare with the hooked input of
`attn.proj`. Everything else here is arithmetic on hooked tensors (distances, norms, shapes).
"""

import contextlib
import threading

import numpy as np
import torch

from playground.model import MODULATION_NAMES


@contextlib.contextmanager
def hooked(registrations):
    """Register each `(module.register_..._hook, hook)` pair for the block; all removed on exit, even after an error.

    The hooks act only on forwards run by this thread: the app shares one model between requests, and another
    request's forward (a sweep, a second trace) would otherwise pass through them, be recorded or be intervened on.
    """
    owner = threading.get_ident()

    def this_thread_only(hook):
        return lambda *args: hook(*args) if threading.get_ident() == owner else None

    handles = [register(this_thread_only(hook)) for register, hook in registrations]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def _keep(store, key):
    def hook(module, args, output):
        store[key] = output.detach()

    return hook


def _keep_input(store, *keys):
    def hook(module, args):
        for key, value in zip(keys, args, strict=False):
            store[key] = value.detach()

    return hook


@torch.no_grad()
def trace_forward(model, x, t, y):
    """One `model(x, t, y)` with hooks. Returns a dict:

    `out` `[N, C', H, W]` (the forward's own return), `conv` `[N, D, H/p, W/p]` (the patch conv), `tokens`
    `[N, T, D]` (x_embedder, before pos_embed), `t_emb`, `y_emb` `[N, D]`, `final` (final layer: `x_in`, `shift`,
    `scale`, `patches` `[N, T, p*p*C']`) and `blocks`, one dict per block: `x_in`, `c`, `modulation` (the six
    `[N, D]` chunks of its adaLN_modulation output), `qkv` `[N, T, 3D]`, `attn_heads` `[N, T, D]` (the input of
    attn.proj), `attn_out`, `x_mid` (after the attention residual), `mlp_out`, `x_out`.
    """
    rec = {"final": {}}
    blocks = [{} for _ in model.blocks]
    registrations = [
        (model.x_embedder.proj.register_forward_hook, _keep(rec, "conv")),
        (model.x_embedder.register_forward_hook, _keep(rec, "tokens")),
        (model.t_embedder.register_forward_hook, _keep(rec, "t_emb")),
        (model.y_embedder.register_forward_hook, _keep(rec, "y_emb")),
        (model.final_layer.register_forward_pre_hook, _keep_input(rec["final"], "x_in")),
        (model.final_layer.adaLN_modulation.register_forward_hook, _keep(rec["final"], "modulation")),
        (model.final_layer.linear.register_forward_hook, _keep(rec["final"], "patches")),
    ]
    for block, store in zip(model.blocks, blocks, strict=True):
        registrations += [
            (block.register_forward_pre_hook, _keep_input(store, "x_in", "c")),
            (block.register_forward_hook, _keep(store, "x_out")),
            (block.adaLN_modulation.register_forward_hook, _keep(store, "modulation")),
            (block.attn.qkv.register_forward_hook, _keep(store, "qkv")),
            (block.attn.proj.register_forward_pre_hook, _keep_input(store, "attn_heads")),
            (block.attn.register_forward_hook, _keep(store, "attn_out")),
            (block.norm2.register_forward_pre_hook, _keep_input(store, "x_mid")),
            (block.mlp.register_forward_hook, _keep(store, "mlp_out")),
        ]
    was_training = model.training
    model.eval()
    try:
        with hooked(registrations):
            rec["out"] = model(x, t, y)
    finally:
        model.train(was_training)
    for store in blocks:
        store["modulation"] = dict(zip(MODULATION_NAMES, store["modulation"].chunk(6, dim=1), strict=True))
    shift, scale = rec["final"].pop("modulation").chunk(2, dim=1)
    rec["final"].update(shift=shift, scale=scale)
    rec["blocks"] = blocks
    return rec


def split_heads(qkv, num_heads):
    """The hooked fused `[N, T, 3D]` -> q, k, v `[N, heads, T, D/heads]` (timm's layout: q, k, v, then heads)."""
    n, t, three_d = qkv.shape
    d = three_d // 3
    q, k, v = qkv.reshape(n, t, 3, num_heads, d // num_heads).permute(2, 0, 3, 1, 4)
    return q, k, v


def attention_weights(qkv, num_heads):
    """softmax(q kᵀ / √d_head) `[N, heads, T, T]` from the hooked qkv: the weights the fused kernel never returns."""
    q, k, _ = split_heads(qkv, num_heads)
    return (q @ k.transpose(-2, -1) * q.shape[-1] ** -0.5).softmax(dim=-1)


def attention_output(weights, qkv, num_heads):
    """weights @ v, merged back to `[N, T, D]`: what attn.proj receives (tests compare it with the hooked input)."""
    _, _, v = split_heads(qkv, num_heads)
    n, _, t, _ = v.shape
    return (weights @ v).transpose(1, 2).reshape(n, t, -1)


def patch_distances(grid, patch_size):
    """`[T, T]` Euclidean distance in pixels between the centres of the grid x grid patches (row-major)."""
    rows, cols = np.divmod(np.arange(grid * grid), grid)
    return np.hypot(rows[:, None] - rows[None], cols[:, None] - cols[None]) * patch_size


def uniform_attention_distance(grid, patch_size):
    """The mean attention distance of a head that attends uniformly to every patch (itself included): the mean
    distance in pixels between all pairs of patch centres (14.4 px on DiT-Tiny/4's 7x7 grid of 4-px patches)."""
    return float(patch_distances(grid, patch_size).mean())


def mean_attention_distance(weights, distances):
    """`[N, heads]`: sum_j w_ij d_ij averaged over the queries i, in pixels (ViT's "attention distance")."""
    w = weights.double().numpy()
    return (w * distances[None, None]).sum(-1).mean(-1)


def branch_writes(block):
    """What one block adds to the residual stream: per token ‖gate ⊙ branch‖ `[N, T]` for attention and MLP,
    and the token's own ‖x_in‖ `[N, T]` for scale."""
    m = block["modulation"]
    attn = (m["gate_msa"].unsqueeze(1) * block["attn_out"]).norm(dim=-1)
    mlp = (m["gate_mlp"].unsqueeze(1) * block["mlp_out"]).norm(dim=-1)
    return {"attn": attn.numpy(), "mlp": mlp.numpy(), "stream": block["x_in"].norm(dim=-1).numpy()}


def shape_walk(model, rec, x, n_label):
    """`DiT.forward` line by line, each with the reference's comment and this run's shapes (from the trace)."""
    p, heads = model.patch_size, model.num_heads
    n, c, h, w = x.shape
    blk = rec["blocks"][0]
    d = blk["x_in"].shape[-1]
    t_count = blk["x_in"].shape[1]
    shape = lambda v: "(" + ", ".join(str(s) for s in v.shape) + ")"  # noqa: E731
    q, _, _ = split_heads(blk["qkv"], heads)
    weights_shape = (n, heads, t_count, t_count)
    rows = [
        ("# x: (N, C, H, W), t: (N,), y: (N,)", f"x {shape(x)}, t ({n},), y ({n},): {n_label}"),
        ("x = self.x_embedder.proj(x)", f"(N, D, H/p, W/p) = {shape(rec['conv'])}: conv {p}×{p}, stride {p}"),
        ("x = x.flatten(2).transpose(1, 2)", f"(N, T, D) = {shape(rec['tokens'])}: T = {h}·{w}/{p}² = {t_count}"),
        ("x = x + self.pos_embed", f"(N, T, D) = {shape(blk['x_in'])}: pos_embed {shape(model.pos_embed)}"),
        ("t = self.t_embedder(t)", f"(N, D) = {shape(rec['t_emb'])}: sinusoid 256 → MLP → {d}"),
        ("y = self.y_embedder(y, self.training)",
         f"(N, D) = {shape(rec['y_emb'])}: a table of {model.y_embedder.embedding_table.num_embeddings} rows"),
        ("c = t + y", f"(N, D) = {shape(blk['c'])}"),
        ("for block in self.blocks:", f"{len(model.blocks)} blocks, each:"),
        ("    adaLN_modulation(c).chunk(6)",
         f"6 × (N, D) = {shape(blk['modulation']['shift_msa'])}: shift, scale, gate ×2"),
        ("    attn.qkv(modulate(norm1(x), …))", f"(N, T, 3D) = {shape(blk['qkv'])} → q, k, v {tuple(q.shape)} each"),
        (f"    softmax(q kᵀ / √{q.shape[-1]})", f"(N, heads, T, T) = {weights_shape}"),
        ("    x = x + gate_msa · attn(…)", f"(N, T, D) = {shape(blk['x_mid'])}"),
        ("    x = x + gate_mlp · mlp(…)",
         f"(N, T, D) = {shape(blk['x_out'])}: MLP hidden {model.blocks[0].mlp.fc1.out_features}"),
        ("x = self.final_layer(x, c)",
         f"(N, T, patch_size ** 2 * out_channels) = {shape(rec['final']['patches'])}"),
        ("x = self.unpatchify(x)", f"(N, out_channels, H, W) = {shape(rec['out'])}"),
    ]
    width = max(len(code) for code, _ in rows) + 2
    lines = [code if code.startswith("#") else f"{code:<{width}}# {note}" for code, note in rows]
    lines[0] = f"{rows[0][0]}   {rows[0][1]}"
    return "```python\n" + "\n".join(lines) + "\n```"
