"""`playground.views.time.adaln` (item 8): the adaLN-Zero modulation of the blocks and the final layer, what the
class changes, the multiplier 1 + scale and the trained gates, against the model's own forward pieces; time against
class; a model without a null class (p = 0)."""

import math

import numpy as np
import pytest
import torch
from view_helpers import small_dit

from playground.assets import COMPANIONS
from playground.checkpoint import load_pretrained
from playground.model import DiT
from playground.views.time import adaln


def test_modulation_matches_the_model_pieces(random_dit):
    ts = torch.tensor([0.0, 250.0, 999.0])
    values = adaln.modulation(random_dit, [3], ts)
    trace = random_dit.trace_conditioning(ts, torch.full((3,), 3))
    for b, block in enumerate(trace["modulation"]):
        np.testing.assert_allclose(values["attention", "scale"][b], block["scale_msa"].numpy(), atol=1e-6)
        np.testing.assert_allclose(values["MLP", "gate"][b], block["gate_mlp"].numpy(), atol=1e-6)
    with torch.no_grad():
        shift, scale = random_dit.final_layer.adaLN_modulation(trace["c"]).chunk(2, dim=1)
    np.testing.assert_allclose(values["final", "shift"][0], shift.numpy(), atol=1e-6)
    np.testing.assert_allclose(values["final", "scale"][0], scale.numpy(), atol=1e-6)
    several = adaln.modulation(random_dit, [0, 1, 2], ts)
    each = [adaln.modulation(random_dit, [d], ts)["MLP", "shift"] for d in range(3)]
    np.testing.assert_allclose(several["MLP", "shift"], np.mean(each, axis=0), atol=1e-6)  # affine in SiLU(c)


def test_measures_plot_the_multiplier_and_the_class_difference(random_dit):
    view = adaln.conditioning_view(random_dit, 3, "3")
    values = view["values"]
    fig = view["modulation"]
    multiplier = fig.data[1]  # attention: mean of 1 + scale
    expected = (1 + values["attention", "scale"]).mean(axis=-1).reshape(2, 250, 4).mean(axis=-1)
    np.testing.assert_allclose(np.asarray(multiplier.z, dtype=np.float64), expected, atol=1e-5)
    assert len(fig.data) == 8  # 3 + 3 block panels, the final layer's shift and multiplier
    reference = adaln.modulation(random_dit, [random_dit.null_class])
    diff = values["MLP", "gate"] - reference["MLP", "gate"]
    rel = np.sqrt((diff**2).mean(-1)) / np.sqrt((reference["MLP", "gate"] ** 2).mean(-1))
    np.testing.assert_allclose(np.asarray(view["class_effect"].data[5].z, dtype=np.float64),
                               100 * rel.reshape(2, 250, 4).mean(-1), rtol=1e-4, atol=1e-4)
    assert view["change"]["MLP", "gate"] == pytest.approx(rel.mean(), rel=1e-6)
    null = adaln.conditioning_view(random_dit, random_dit.null_class, "∅")
    assert null["reference_name"] == "the mean over the digits" and all(v > 0 for v in null["change"].values())


def test_gate_subtitle_reports_the_trained_gates(random_dit):
    view = adaln.conditioning_view(random_dit, 3, "3")
    gates = np.abs(view["values"]["attention", "gate"]).mean(axis=(1, 2))
    subtitle = view["modulation"].layout.title.subtitle.text
    assert f"attention {gates.min():.2f}–{gates.max():.2f}" in subtitle
    fresh = DiT(**random_dit.config_dict()).eval()  # adaLN-Zero: a fresh model's gates are exactly 0
    fresh_view = adaln.conditioning_view(fresh, 3, "3")
    assert all(np.all(g == 0) for g in fresh_view["gates"].values())
    sentence = adaln.conditioning_sentence(view, "3")
    assert f"{100 * max(v for k, v in view['change'].items() if k[0] == 'final'):.0f} % in the final layer" in sentence


def test_labels_are_checked_against_the_models_classes(random_dit):
    assert adaln.validate_label("10", random_dit) == 10  # the null class is a choice
    with pytest.raises(ValueError, match="class label must be between 0 and 10, got 11"):
        adaln.validate_label(11, random_dit)
    with pytest.raises(ValueError, match="class label must be a whole number, got 'three'"):
        adaln.validate_label("three", random_dit)
    p0 = small_dit(0.0, seed=0)
    assert p0.null_class is None and adaln.validate_label(9, p0) == 9
    with pytest.raises(ValueError, match="between 0 and 9, got 10.* has no null class"):
        adaln.validate_label(10, p0)


def test_time_against_class_on_the_shipped_model(shipped):
    """The class part is ‖y_emb(3) − y_emb(∅)‖ (for ∅, the digits' mean distance to it), the time part the RMS
    length of t_emb minus its mean over t; both as the summary states them."""
    with torch.no_grad():
        t_emb = shipped.t_embedder(torch.arange(1000.0)).double().numpy()
        table = shipped.y_embedder.embedding_table.weight.double().numpy()
    rms = math.sqrt(np.mean(np.sum((t_emb - t_emb.mean(0)) ** 2, axis=1)))
    class_part = np.linalg.norm(table[3] - table[10])
    parts = adaln.time_and_class(shipped, 3, adaln.trained_embedding(shipped))
    assert parts["varying"] == pytest.approx(rms, rel=1e-5) and parts["class"] == pytest.approx(class_part, rel=1e-6)
    assert parts["ends"] == pytest.approx(np.linalg.norm(t_emb[-1] - t_emb[0]), rel=1e-5)
    assert rms / class_part > 3  # the part of t_emb that varies is larger than the class part (not its offset)
    view = adaln.adaln_view(shipped, 3)
    time_line, class_line = view["summary"].split("\n")
    assert f"{rms:.3g}" in time_line and f"‖y_emb(3) − y_emb(∅)‖ is {class_part:.3g}" in time_line
    assert class_line.startswith("- **What the class changes** (class 3 vs the null class ∅)")
    null = adaln.time_and_class(shipped, 10, adaln.trained_embedding(shipped))
    assert null["class"] == pytest.approx(np.linalg.norm(table[:10] - table[10], axis=1).mean(), rel=1e-6)
    assert "∅ (null, 10)" in adaln.adaln_view(shipped, 10)["summary"]


def check_no_null_class(model):
    """A model without a null class: every class is measured against the mean over the digits."""
    view = adaln.adaln_view(model, 3)
    with torch.no_grad():
        table = model.y_embedder.embedding_table.weight.double().numpy()
    assert len(table) == 10
    time_line, class_line = view["summary"].split("\n")
    class_part = np.linalg.norm(table[3] - table.mean(axis=0))
    assert f"‖y_emb(3) − the digits' mean y_emb‖ is {class_part:.3g}" in time_line
    assert "(class 3 vs the mean over the digits)" in class_line
    assert view["class_effect"].layout.title.text == "<b>What the class changes: class 3 minus the mean over the " \
                                                     "digits</b>"
    values = adaln.modulation(model, [3])
    reference = adaln.modulation(model, list(range(10)))
    rel = adaln.relative_change(values["attention", "shift"], reference["attention", "shift"])
    np.testing.assert_allclose(np.asarray(view["class_effect"].data[0].z, dtype=np.float64),
                               100 * rel.reshape(len(rel), 250, 4).mean(-1), rtol=1e-4, atol=1e-4)


def test_a_model_without_a_null_class_is_compared_with_the_digits_mean():
    check_no_null_class(small_dit(0.0, seed=1))


def test_the_p0_companion_is_compared_with_the_digits_mean():
    model = load_pretrained(COMPANIONS["0"]).eval()
    assert model.null_class is None and len(model.blocks) == 4
    check_no_null_class(model)


def test_t_grows_to_the_right_under_the_bottom_panels(random_dit):
    view = adaln.conditioning_view(random_dit, 3, "3")
    for fig in (view["modulation"], view["class_effect"]):
        titled = [axis for name, axis in fig.layout.to_plotly_json().items() if name.startswith("xaxis")
                  and axis.get("title", {}).get("text")]
        assert titled and all(axis["title"]["text"] == "t (0 clean → 999 noise)" for axis in titled)
        assert all(axis.get("autorange") != "reversed" for name, axis in fig.layout.to_plotly_json().items()
                   if name.startswith("xaxis"))
        assert all(np.all(np.diff(np.asarray(trace.x, dtype=np.float64)) > 0) for trace in fig.data)
