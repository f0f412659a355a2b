"""The one-batch inspector of the waves page: a batch of t walked through the shapes, with its numbers.

`t [B]` -> `freqs` -> `args` -> `t_freq [B, dim]`, then (with a model) the trained MLP's `hidden` and `t_emb`.
"""

import numpy as np
import torch

from playground.embedding import FLAVOURS, frequencies, timestep_embedding
from playground.inputs import fmt, parse_number_list

MAX_INSPECT_T = 8  # t values in the one-batch inspector
T_LIMITS = (-10_000.0, 100_000.0)  # the t range every view accepts


def parse_inspect_t(text):
    """The inspector's batch of t: one value per image."""
    return parse_number_list(text, name="t value", max_count=MAX_INSPECT_T, lo=T_LIMITS[0], hi=T_LIMITS[1])


def fmt_vector(values, head=3, tail=1):
    """'[a, b, c, …, z]': the first `head` and last `tail` numbers of a vector."""
    values = [float(v) for v in np.asarray(values).ravel()]
    if len(values) <= head + tail + 1:
        return "[" + ", ".join(fmt(v) for v in values) + "]"
    return "[" + ", ".join(fmt(v) for v in values[:head]) + ", …, " + ", ".join(fmt(v) for v in values[-tail:]) + "]"


def embedding_rows(t, dim, max_period, flavour, per_row):
    """The table's rows from `t` to `t_freq` (step, shape, what, numbers), and `t_freq` itself."""
    batch = len(t)
    cos_first, shift = FLAVOURS[flavour]
    half = dim // 2
    freqs = frequencies(dim, max_period, shift)
    args = t[:, None] * freqs[None]
    t_freq = timestep_embedding(t, dim, max_period, flavour)
    first, second = ("cos", "sin") if cos_first else ("sin", "cos")
    pad = " + one zero column (odd dim)" if dim % 2 else ""
    rows = [
        ("`t`", f"`[{batch}]`", "one number per sample (no sequence axis)", fmt_vector(t, 8, 0)),
        (
            "`freqs`",
            f"`[{half}]`",
            f"exp(−ln {max_period:g} · k / {half - shift}), k = 0..{half - 1}",
            fmt_vector(freqs),
        ),
        (
            "`args`",
            f"`[{batch}, {half}]`",
            "`t[:, None] * freqs[None]` (radians)",
            per_row(lambda i: fmt_vector(args[i])),
        ),
        (
            "`t_freq`",
            f"`[{batch}, {dim}]`",
            f"`cat([{first}(args), {second}(args)])`{pad}",
            per_row(
                lambda i: (
                    f"{first} {fmt_vector(t_freq[i, :half], 2, 1)} {second} "
                    f"{fmt_vector(t_freq[i, half : 2 * half], 2, 1)}"
                    + (f" zero {fmt(t_freq[i, -1])}" if dim % 2 else "")
                )
            ),
        ),
    ]
    return rows, t_freq


def mlp_rows(t, t_freq, knobs, embedder, per_row):
    """The table's rows through the trained MLP (`hidden`, `t_emb`) and the notes that go with them. `knobs`:
    the view's `(dim, max_period, flavour)`; the MLP reads its own t_freq when they are not the model's."""
    batch = len(t)
    fdim = embedder.frequency_embedding_size
    hidden = embedder.mlp[2].out_features
    matches = (knobs[0], float(knobs[1]), knobs[2]) == (fdim, 10000.0, "dit")
    with torch.no_grad():
        model_freq = t_freq if matches else embedder.sinusoid(t)
        hidden_act = embedder.mlp[1](embedder.mlp[0](model_freq))
        t_emb = embedder.mlp[2](hidden_act)
    notes = []
    if not matches:
        notes.append(
            f"The shipped model's MLP reads its own t_freq (dim {fdim}, max_period 10000, DiT flavour), so "
            f"`t_emb` below is computed from that, not from your knobs."
        )
    rows = [
        (
            "`hidden`",
            f"`[{batch}, {hidden}]`",
            f"`SiLU(Linear({fdim}→{hidden}))` (trained)",
            per_row(lambda i: fmt_vector(hidden_act[i])),
        ),
        (
            "`t_emb`",
            f"`[{batch}, {hidden}]`",
            f"`Linear({hidden}→{hidden})` (trained)",
            per_row(lambda i: f"{fmt_vector(t_emb[i])}, norm {float(t_emb[i].norm()):.4g}"),
        ),
    ]
    notes.append(
        f"Next, `c = t_emb + y_emb` (`[{batch}, {hidden}]`) goes to every block, where "
        f"`adaLN_modulation(c)` makes `[{batch}, {6 * hidden}]` = six `[{batch}, {hidden}]` vectors "
        "(shift, scale, gate for attention and for the MLP)."
    )
    return rows, notes


def inspector_markdown(t_values, dim, max_period, flavour, embedder=None, embedder_note=None):
    """Walk one batch of t through the shapes, with the actual numbers of its first (and last) row."""
    t = torch.tensor(t_values, dtype=torch.float32)
    batch = len(t_values)
    shown = [0] if t_values[-1] == t_values[0] else [0, batch - 1]

    def per_row(describe):
        return "<br>".join(f"row {i} (t = {fmt(t_values[i])}): {describe(i)}" for i in shown)

    rows, t_freq = embedding_rows(t, dim, max_period, flavour, per_row)
    notes = []
    if embedder is not None:
        more_rows, notes = mlp_rows(t, t_freq, (dim, max_period, flavour), embedder, per_row)
        rows += more_rows
    elif embedder_note:
        notes.append(embedder_note)
    if batch > 1 and all(v == t_values[0] for v in t_values):
        notes.insert(0, "Every sample has the same t, so every row is identical. Try `0, 4, 500, 999`.")
    elif batch > 1:
        notes.insert(0, "Each row is computed from its own t alone: rows never mix.")
    table = "| step | shape | what | numbers |\n|---|---|---|---|\n" + "\n".join(
        f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows
    )
    return "### One batch of t through the embedder\n\n" + table + "\n\n" + "\n\n".join(notes)
