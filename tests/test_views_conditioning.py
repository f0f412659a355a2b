"""`playground.views.time.adaln` (item 8): the adaLN-Zero modulation of the blocks and the final layer, what the
class changes, the multiplier 1 + scale and the trained gates, against the model's own forward pieces."""

import numpy as np
import pytest
import torch

from playground.model import DiT
from playground.views.time import adaln as conditioning


def test_modulation_matches_the_model_pieces(random_dit):
    ts = torch.tensor([0.0, 250.0, 999.0])
    values = conditioning.modulation(random_dit, [3], ts)
    trace = random_dit.trace_conditioning(ts, torch.full((3,), 3))
    for b, block in enumerate(trace["modulation"]):
        np.testing.assert_allclose(values["attention", "scale"][b], block["scale_msa"].numpy(), atol=1e-6)
        np.testing.assert_allclose(values["MLP", "gate"][b], block["gate_mlp"].numpy(), atol=1e-6)
    with torch.no_grad():
        shift, scale = random_dit.final_layer.adaLN_modulation(trace["c"]).chunk(2, dim=1)
    np.testing.assert_allclose(values["final", "shift"][0], shift.numpy(), atol=1e-6)
    np.testing.assert_allclose(values["final", "scale"][0], scale.numpy(), atol=1e-6)
    several = conditioning.modulation(random_dit, [0, 1, 2], ts)
    each = [conditioning.modulation(random_dit, [d], ts)["MLP", "shift"] for d in range(3)]
    np.testing.assert_allclose(several["MLP", "shift"], np.mean(each, axis=0), atol=1e-6)  # affine in SiLU(c)


def test_measures_plot_the_multiplier_and_the_class_difference(random_dit):
    view = conditioning.conditioning_view(random_dit, 3, "3")
    values = view["values"]
    fig = view["modulation"]
    multiplier = fig.data[1]  # attention: mean of 1 + scale
    expected = (1 + values["attention", "scale"]).mean(axis=-1).reshape(2, 250, 4).mean(axis=-1)
    np.testing.assert_allclose(np.asarray(multiplier.z, dtype=np.float64), expected, atol=1e-5)
    assert len(fig.data) == 8  # 3 + 3 block panels, the final layer's shift and multiplier
    reference = conditioning.modulation(random_dit, [random_dit.null_class])
    diff = values["MLP", "gate"] - reference["MLP", "gate"]
    rel = np.sqrt((diff**2).mean(-1)) / np.sqrt((reference["MLP", "gate"] ** 2).mean(-1))
    np.testing.assert_allclose(np.asarray(view["class_effect"].data[5].z, dtype=np.float64),
                               100 * rel.reshape(2, 250, 4).mean(-1), rtol=1e-4, atol=1e-4)
    assert view["change"]["MLP", "gate"] == pytest.approx(rel.mean(), rel=1e-6)
    null = conditioning.conditioning_view(random_dit, random_dit.null_class, "∅")
    assert null["reference_name"] == "the mean over the digits" and all(v > 0 for v in null["change"].values())


def test_gate_subtitle_reports_the_trained_gates(random_dit):
    view = conditioning.conditioning_view(random_dit, 3, "3")
    gates = np.abs(view["values"]["attention", "gate"]).mean(axis=(1, 2))
    subtitle = view["modulation"].layout.title.subtitle.text
    assert f"attention {gates.min():.2f}–{gates.max():.2f}" in subtitle
    fresh = DiT(**random_dit.config_dict()).eval()  # adaLN-Zero: a fresh model's gates are exactly 0
    fresh_view = conditioning.conditioning_view(fresh, 3, "3")
    assert all(np.all(g == 0) for g in fresh_view["gates"].values())
    sentence = conditioning.conditioning_sentence(view, "3")
    assert f"{100 * max(v for k, v in view['change'].items() if k[0] == 'final'):.0f} % in the final layer" in sentence
