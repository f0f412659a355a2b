"""Why label dropout: the stand-in null row, the companions' sweep on the same noise, the request's checks, the
verdicts computed from the curves, and the page's view on the shipped companions with each served as the model."""

import numpy as np
import pytest
import torch
from view_helpers import small_dit, synthetic_tradeoff

from playground.assets import COMPANIONS
from playground.checkpoint import load_pretrained
from playground.diffusion import DEFAULT_STEPS, sampling_timesteps
from playground.sampling import sample_guided
from playground.views.guidance import dropout as ld
from playground.views.guidance.dropout import DropoutRequest


@pytest.fixture(scope="module")
def random_companions():
    return {rate: small_dit(float(rate), i) for i, rate in enumerate(ld.RATES)}


@pytest.fixture(scope="module")
def companions():
    return {rate: load_pretrained(COMPANIONS[rate]) for rate in ld.RATES}


def test_stand_in_null_row_is_appended_and_nothing_else_changes(random_companions):
    p0 = random_companions["0"]
    assert p0.null_class is None
    vector = torch.arange(32, dtype=torch.float32)
    copy = ld.with_stand_in_null(p0, vector)
    table = copy.y_embedder.embedding_table.weight
    assert table.shape == (11, 32) and torch.equal(table[10], vector) and copy.null_class == 10
    assert torch.equal(table[:10], p0.y_embedder.embedding_table.weight)
    assert torch.equal(ld.stand_ins(p0)["row mean"], p0.y_embedder.embedding_table.weight.mean(0).detach())


def test_companion_sweep_samples_p0_only_at_one(random_companions):
    sweeps = ld.companion_sweep(random_companions, 5, 2, [1.0, 3.0], 2)
    assert sweeps["0"][1] is None and sweeps["0"][0].shape == (2, 1, 28, 28)
    direct = sample_guided(random_companions["0.5"], [5, 5], [1.0, 3.0], steps=DEFAULT_STEPS, seed=2)
    assert torch.equal(sweeps["0.5"][1], direct[1])


def test_the_request_is_checked_once_and_by_name():
    assert ld.validate("3", 0, "1, 4", 2) == DropoutRequest(label=3, seed=0, scales=(1.0, 4.0), samples=2)
    with pytest.raises(ValueError, match="samples per model and scale"):
        ld.validate(3, 0, "1, 4", 9)
    with pytest.raises(ValueError, match="guidance scale"):
        ld.validate(3, 0, "1, abc", 2)
    with pytest.raises(ValueError, match="digit must be between 0 and 3"):
        ld.validate(7, 0, "1", 1, num_classes=4)


def test_label_dropout_verdict_is_computed_from_the_curves():
    text = ld.verdict(synthetic_tradeoff(), {"zeros": (1, 4)})
    assert "0.400 [0.35, 0.45] against 0.650 [0.60, 0.70]" in text
    assert "do not overlap" in text  # 0.45 < 0.60
    assert "zeros: 1/4 read as the digit" in text
    overlapping = synthetic_tradeoff()
    overlapping["curves"]["companion_p0.5"]["points"][0].update(accuracy=0.62, accuracy_low=0.57, accuracy_high=0.67)
    assert "within the noise" in ld.verdict(overlapping, {})
    auto = ld.autoguidance_markdown(synthetic_tradeoff())
    assert "| CFG (null class) | 1.50 | 8.50 | 55.0 |" in auto
    assert "| autoguidance (p 0.1 companion) | 2.00 | 8.75 |" in auto
    assert ld.compare(0.3, 0.2, "more", "less") == "no clear difference (1.5 SE)"
    assert ld.compare(-0.5, 0.2, "more", "less") == "less (2.5 SE)"


@pytest.mark.parametrize("served_rate", ld.RATES)
def test_the_view_on_the_shipped_companions_with_each_served(companions, served_rate):
    served = load_pretrained(COMPANIONS[served_rate])
    out = ld.label_dropout_view(companions, served, DropoutRequest(label=3, seed=0, scales=(1.0, 4.0), samples=1))
    live = out["live"].splitlines()
    assert "| p = 0 | - | cannot guide (no null row) |" in live  # no judge given: no scores, p = 0 at s = 4 refused
    assert "| p = 0.5 | - | - |" in live
    heatmaps = out["null"].to_dict()["data"]
    assert len(heatmaps) == 2 * 2 * len(ld.INSPECT_STEPS)  # eps_c and eps_u of the two companions with a null row
    states = []
    sample_guided(served, [3], [1.0], steps=DEFAULT_STEPS, seed=0, on_step=lambda d: states.append(d["x_t"][0, 0]))
    k = ld.INSPECT_STEPS[-1] - 1
    with torch.no_grad():  # the p = 0.1 companion's eps_u on the served model's state at the last inspected step
        eps_u = companions["0.1"](states[k][None], torch.tensor([sampling_timesteps(DEFAULT_STEPS)[k]]),
                                  torch.tensor([companions["0.1"].null_class]))
    last = 2 * len(ld.INSPECT_STEPS) - 1  # the p = 0.1 row: eps_c, eps_u per step
    np.testing.assert_allclose(heatmaps[last]["z"], eps_u[0, 0].numpy(), atol=1e-3)
    assert "the served model's run at s = 1" in out["null"].to_json()
