"""Markdown tables of the judge's evaluation, for the model card's page and `python -m playground.cli.evaluate`.

No plotly and no gradio: the command line imports this module.
"""

import math

EVALUATION_COLUMNS = (  # (row key, header) of the judge's table per guidance scale: one word each, so that
    ("samples", "samples"),  # no header has to break (the legend under the table says what each one means)
    ("accuracy", "accuracy"),
    ("confidence", "confidence"),
    ("label_entropy", "entropy"),
    ("frechet", "Frechet"),
    ("diversity", "diversity"),
    ("nearest_train_mean", "nearest"),
)
EVALUATION_LEGEND = (
    "**accuracy**: share the judge reads as the requested digit · **confidence**: the judge's mean top "
    "probability · **entropy**: of the judged labels (nats); every row asks for all ten digits equally often, so "
    "the ideal is ln {classes} = {ceiling:.3f} (0 = all read as one digit) · **Frechet**: between the judge's "
    "features of the samples and of held-out real digits (lower = closer) · **diversity**: mean pixel distance "
    "between samples of the same digit · **nearest**: mean pixel distance to the nearest training digit"
)


def evaluation_table(rows):
    """Rows of `evaluate.evaluate_scales` (or of a card) as a markdown table, metrics to 3 decimals."""

    def cell(value):
        return "-" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)

    header = "| | " + " | ".join(title for _, title in EVALUATION_COLUMNS) + " |"
    lines = [header, "|---" * (len(EVALUATION_COLUMNS) + 1) + "|"]
    for row in rows:
        lines.append(f"| {row['name']} | " + " | ".join(cell(row.get(k)) for k, _ in EVALUATION_COLUMNS) + " |")
    return "\n".join(lines)


def evaluation_markdown(evaluation, num_classes=10):
    """A card's `evaluation` entry: the command and sampler that made it, the table, its legend and notes."""
    settings = evaluation.get("settings", {})
    made_by = ", ".join(f"{k} {v}" for k, v in settings.items())
    legend = EVALUATION_LEGEND.format(classes=num_classes, ceiling=math.log(num_classes))
    parts = [f"`{evaluation.get('command', '')}` ({made_by})", evaluation_table(evaluation.get("rows", [])), legend]
    if evaluation.get("notes"):
        parts.append(evaluation["notes"])
    return "\n\n".join(parts)
