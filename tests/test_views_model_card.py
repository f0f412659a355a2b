"""`playground.views.model.model`, and every kind of figure serialising to JSON with a title."""

import json

import numpy as np
from view_helpers import drawn_categories

from playground import plots
from playground.views.model import model as model_card
from playground.views.time import adaln, mlp


def test_model_card_markdown_and_label_dropout(random_dit):
    card = {
        "name": "PLACEHOLDER test",
        "config": random_dit.config_dict(),
        "data": "digits",
        "training": {"steps": 100, "global_batch": 64, "label_dropout": 0.1, "loss_log": [[50, 0.5], [100, 0.2]]},
        "evaluation": {
            "command": "python -m playground.cli.evaluate",
            "settings": {"sampler": "ddim", "steps": 50},
            "rows": [{"name": "s = 1", "accuracy": 0.75}, {"name": "s = 4", "accuracy": 0.97, "samples": 300}],
        },
    }
    text = model_card.model_card_markdown(card, random_dit)
    assert "placeholder" in text and f"{random_dit.num_parameters():,}" in text
    assert "| | samples | accuracy |" in text and "| s = 4 | 300 | 0.970 |" in text
    assert "(sampler ddim, steps 50)" in text
    assert "about **640** examples" in model_card.label_dropout_markdown(card)  # 100 * 64 * 0.1
    assert "row **10**" in model_card.label_dropout_markdown(card)
    assert "No evaluation" in model_card.model_card_markdown({**card, "evaluation": None})


def test_loss_curve_and_label_table(random_dit):
    fig = model_card.loss_curve_figure([[5, 0.9], [10, 0.4]])
    assert tuple(fig.data[0].x) == (5.0, 10.0) and tuple(fig.data[0].y) == (0.9, 0.4)
    assert "0.9 → 0.4" in fig.layout.title.text
    assert len(model_card.loss_curve_figure([]).data) == 0
    table = model_card.label_table_figure(random_dit)
    z = np.asarray(table.data[0].z)
    assert z.shape == (11, 11) and list(table.data[0].x)[-1] == "∅"
    names = [str(i) for i in range(10)] + ["∅"]  # every row drawn, the null row included
    heatmap = table.to_dict()["data"][0]
    assert drawn_categories(table, heatmap, "x") == names and drawn_categories(table, heatmap, "y") == names
    np.testing.assert_allclose(np.diag(z), 1, atol=1e-6)


def test_every_figure_serialises_to_json(random_dit):
    figures = (mlp.mlp_view(random_dit, 1)["pca3d"], adaln.adaln_view(random_dit, 0)["modulation"],
               plots.message_figure("x"))
    for fig in figures:
        assert json.loads(fig.to_json())["layout"]["title"]["text"]


def test_a_model_without_label_dropout_has_a_ten_row_table_and_says_so():
    from playground.model import DiT
    from playground.views.model.model import label_dropout_markdown, label_table_figure

    model = DiT(hidden_size=32, depth=1, num_heads=2, class_dropout_prob=0.0)
    heatmap = label_table_figure(model).to_dict()["data"][0]
    assert list(heatmap["x"]) == [str(i) for i in range(10)]  # no ∅ row
    card = {"config": model.config_dict(), "training": {"label_dropout": 0.0, "steps": 10, "global_batch": 4}}
    assert "**10 rows**" in label_dropout_markdown(card) and "11 rows" not in label_dropout_markdown(card)
    with_null = {**card, "training": {"label_dropout": 0.1, "steps": 10, "global_batch": 4}}
    assert "**11 rows**" in label_dropout_markdown(with_null)
