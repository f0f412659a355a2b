"""The model card page: what the model draws (every digit, plain and guided), its card (config, parameters,
training, evaluation), loss curve and label table.

Everything here is read from, or sampled with, the loaded model and its card; the page has no inputs, so no caps.
"""

import numpy as np

from playground import plots, stats
from playground.data import to_uint8
from playground.diffusion import DEFAULT_SAMPLER, DEFAULT_STEPS
from playground.grids import labelled_grid
from playground.inputs import fmt
from playground.sampling import sample_guided
from playground.tables import evaluation_markdown

DRAWN_SCALES = (1.0, 4.0)  # plain conditional, and the scale the reference samples its pictures at
DRAWN_PER_DIGIT = 2
DRAWN_SEED = 0
TOOLBAR_PX = 34  # the height of the toolbar plotly draws over a figure's top right corner


def drawn_scales(model):
    """The scales the page draws at: s = 1 only for a model without a null class (it cannot be guided)."""
    return DRAWN_SCALES if model.null_class is not None else DRAWN_SCALES[:1]


def drawings_caption(model):
    """The line over the grid: what it shows, and for a model without a null class why it shows s = 1 only."""
    scales = " and ".join(f"s = {fmt(s)}" for s in drawn_scales(model))
    line = (f"**What this model draws:** every digit, {DRAWN_PER_DIGIT} samples each, at {scales} "
            "(same noise per scale), beside how its training loss fell.")
    if model.null_class is None:
        line += " Only s = 1: trained without label dropout, it has no null class to guide with."
    return line


def drawings_grid(model, per_digit=DRAWN_PER_DIGIT, seed=DRAWN_SEED):
    """Samples of every digit (columns) at each of `drawn_scales` (rows of `per_digit` samples), the shipped
    sampler at its default steps: a PIL grid."""
    digits = range(model.config.num_classes)
    labels = [d for d in digits for _ in range(per_digit)]
    scales = drawn_scales(model)
    x = sample_guided(model, labels, list(scales), steps=DEFAULT_STEPS, seed=seed, sampler=DEFAULT_SAMPLER)
    pixels = to_uint8(x).numpy().reshape(len(scales), len(digits), per_digit, *x.shape[-2:])
    rows = pixels.transpose(0, 2, 1, 3, 4).reshape(len(scales) * per_digit, len(digits), *x.shape[-2:])
    row_labels = [f"s = {fmt(s)}" for s in scales for _ in range(per_digit)]
    return labelled_grid(rows, [str(d) for d in digits], row_labels, cell=56, font_size=16)


def parameter_breakdown(model):
    """{top-level module: parameter count}."""
    groups = {}
    for name, p in model.named_parameters():
        top = name.split(".")[0]
        groups[top] = groups.get(top, 0) + p.numel()
    return groups


def model_card_markdown(card, model=None, with_evaluation=True):
    """The card in words; `with_evaluation=False` leaves the evaluation to `evaluation_section_markdown`."""
    cfg = card.get("config", {})
    training = card.get("training", {})
    parts = [f"## {card.get('name', 'DiT checkpoint')}"]
    if "PLACEHOLDER" in str(card.get("name", "")):
        parts.append(
            "> ⚠️ **This checkpoint is a placeholder** (a few training steps: it makes noise, not digits). "
            "Everything on these pages is computed live, so the views update when the release checkpoint arrives."
        )
    if cfg:
        tokens = (cfg.get("input_size", 0) // max(cfg.get("patch_size", 1), 1)) ** 2
        parts.append(
            "**Config:** "
            + ", ".join(f"`{k}={v}`" for k, v in cfg.items())
            + f" → {tokens} tokens of {cfg.get('patch_size')}×{cfg.get('patch_size')} pixels."
        )
    n_params = card.get("parameters")
    if model is not None:
        n_params = model.num_parameters()
        groups = parameter_breakdown(model)
        parts.append(
            f"**Parameters:** {n_params:,} — "
            + ", ".join(f"{name} {count:,}" for name, count in sorted(groups.items(), key=lambda kv: -kv[1]))
        )
    elif n_params:
        parts.append(f"**Parameters:** {n_params:,}")
    if card.get("weights"):
        parts.append(f"**Weights:** {card['weights']}")
    if card.get("data"):
        parts.append(f"**Training data:** {card['data']}")
    if training:
        facts = [
            ("steps", training.get("steps")),
            ("global batch", training.get("global_batch")),
            ("optimizer", training.get("optimizer")),
            ("EMA decay", training.get("ema_decay")),
            ("label dropout", training.get("label_dropout")),
            ("objective", training.get("objective")),
            ("wall time", f"{training['wall_time_s'] / 60:.1f} min" if "wall_time_s" in training else None),
            ("hardware", training.get("hardware")),
            ("final loss", training.get("final_loss")),
        ]
        parts.append(
            "**Training:** "
            + "; ".join(f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}" for k, v in facts if v is not None)
            + "."
        )
    if with_evaluation:
        parts.append(evaluation_section_markdown(card))
    return "\n\n".join(parts)


def evaluation_section_markdown(card):
    """The card's evaluation: the judge's table per guidance scale over all the digits, with its legend."""
    if not card.get("evaluation"):
        return "*No evaluation in this card yet.*"
    num_classes = card.get("config", {}).get("num_classes", 10)
    return "### Evaluation\n\n" + evaluation_markdown(card["evaluation"], num_classes)


def loss_curve_figure(loss_log):
    """The training loss logged in the card, on a log axis."""
    if not loss_log:
        return plots.message_figure("This model card has no loss log.")
    steps, losses = zip(*[(float(a), float(b)) for a, b in loss_log], strict=True)
    curve = {
        "type": "scatter",
        "x": steps,
        "y": losses,
        "mode": "lines+markers" if len(steps) < 60 else "lines",
        "line": {"width": 3, "color": "#1f77b4"},
        "hovertemplate": "step %{x}<br>loss %{y:.4f}<extra></extra>",
    }
    height = 400
    figure_layout = plots.layout(
        f"Training loss: {losses[0]:.3g} → {losses[-1]:.3g}",
        f"noise-prediction error over {int(steps[-1]):,} training steps",
        height=height,
        margin={"l": 70, "r": 30, "t": 90 + TOOLBAR_PX, "b": 60},
        xaxis={"title": {"text": "training step"}},
        yaxis={"title": {"text": "epsilon MSE"}, "type": "log"},
    )
    figure_layout["title"]["y"] = 1 - TOOLBAR_PX / height  # the title starts under plotly's toolbar, not beneath it
    return plots.figure([curve], figure_layout)


def label_table_figure(model):
    """Cosine similarity between the rows of the label-embedding table, null row included."""
    table = model.y_embedder.embedding_table.weight.detach().numpy()
    num_classes = model.config.num_classes
    names = [str(i) for i in range(num_classes)] + (["∅"] if len(table) > num_classes else [])
    heatmap = {
        "type": "heatmap",
        "z": stats.cosine_similarity_matrix(table).astype(np.float32),
        "x": names,
        "y": names,
        "colorscale": "RdBu",
        "zmin": -1,
        "zmax": 1,
        "colorbar": {"title": {"text": "cos"}},
        "hovertemplate": "label %{y} vs %{x}<br>cosine %{z:.3f}<extra></extra>",
    }
    figure_layout = plots.layout(
        f"The label table: {num_classes} digits" + (" + the null class ∅" if len(table) > num_classes else
                                                     ", no null class (trained without label dropout)"),
        "cosine similarity between rows of y_embedder.embedding_table",
        height=430,
        xaxis={"type": "category", "title": {"text": "label row"}},
        yaxis={"type": "category", "autorange": "reversed", "title": {"text": "label row"}, "scaleanchor": "x"},
    )
    return plots.figure([heatmap], figure_layout)


def label_dropout_markdown(card):
    cfg = card.get("config", {})
    training = card.get("training", {})
    num_classes = cfg.get("num_classes", 10)
    p = training.get("label_dropout", cfg.get("class_dropout_prob", 0.1))
    if not p:
        return (
            f"### No null class: this model was trained without label dropout\n\n"
            f"With `class_dropout_prob = 0` the reference `LabelEmbedder` allocates no null row "
            f"(`use_cfg_embedding = dropout_prob > 0`): the label table has **{num_classes} rows**, one per digit. "
            "The network never learned an unconditional prediction, so classifier-free guidance cannot run on it; "
            "it samples at s = 1 (plain conditional) only."
        )
    text = (
        f"### How one network learned ∅, the unconditional model\n\n"
        f"The label table has **{num_classes + 1} rows**: one per digit and row **{num_classes}**, the null class ∅. "
        f"During training each label was replaced by ∅ with probability **{p}** (label dropout), so the same "
        "network learned to predict the noise with the digit (ε_c) and without it (ε_u). At sampling time, guidance "
        f"runs the batch twice, once with the digit and once with label {num_classes}, and mixes the two predictions."
    )
    if training.get("steps") and training.get("global_batch"):
        seen = training["steps"] * training["global_batch"]
        text += f" Over {seen:,} training examples that is about **{round(seen * p):,}** examples with ∅."
    return text
