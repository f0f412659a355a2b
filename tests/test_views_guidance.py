"""The guidance lab, label-dropout and classifier-guidance views: their numbers against direct computations."""

import numpy as np
import pytest
import torch

from playground.diffusion import DEFAULT_STEPS, alpha_sigma, row_noise, sampling_timesteps
from playground.guidance import Guidance, log_prob_gradient
from playground.model import DiT
from playground.sampling import sample_guided
from playground.views.guidance import classifier as cg
from playground.views.guidance import curves
from playground.views.guidance import dropout as ld
from playground.views.guidance import variants as lab


def random_dit(p, seed):
    torch.manual_seed(seed)
    model = DiT(hidden_size=32, depth=1, num_heads=2, class_dropout_prob=p)
    with torch.no_grad():
        for param in model.parameters():
            if param.requires_grad:
                param.normal_(0, 0.05)
    return model.eval()


def synthetic_tradeoff():
    def point(s, acc, div, fre):
        return {"s": s, "accuracy": acc, "accuracy_low": acc - 0.05, "accuracy_high": min(1, acc + 0.05),
                "diversity": div, "diversity_se": 0.1, "frechet": fre, "frechet_se": 2.0, "confidence": 0.9}

    cfg = [point(1.0, 0.9, 9.0, 40.0), point(2.0, 1.0, 8.0, 70.0)]
    auto = [point(1.0, 0.9, 9.0, 40.0), point(3.0, 1.0, 8.5, 50.0)]
    comp = {"companion_p0": [point(1.0, 0.6, 10.0, 90.0)],
            "companion_p0.1": [point(1.0, 0.65, 10.0, 80.0), point(2.0, 0.9, 9.0, 60.0)],
            "companion_p0.5": [point(1.0, 0.40, 10.5, 95.0), point(2.0, 0.8, 9.5, 70.0)]}
    return {"settings": {"per_class": 30}, "real_floor": {"frechet": 36.0, "what": "300 training digits"},
            "curves": {"cfg": {"points": cfg}, "autoguidance": {"points": auto},
                       **{k: {"points": v} for k, v in comp.items()}}}


def test_interpolation_of_the_curves():
    pts = synthetic_tradeoff()["curves"]["cfg"]["points"]
    assert curves.interpolate_scale(pts, "accuracy", 0.95) == pytest.approx(1.5)
    assert curves.value_at(pts, "diversity", 1.5) == pytest.approx(8.5)
    assert curves.interpolate_scale(pts, "accuracy", 0.5) is None
    table = lab.matched_accuracy_markdown(synthetic_tradeoff())
    assert "| constant CFG | 1.5 | 8.50 | 55.0 |" in table
    assert "| autoguidance (weak: p 0.1 companion) | 2 | 8.75 | 45.0 |" in table


def test_guided_step_opens_the_real_trajectory(random_dit):
    timesteps, states = lab.trajectory(random_dit, 4, 3, 2.0)
    assert timesteps == sampling_timesteps(DEFAULT_STEPS) and states.shape == (DEFAULT_STEPS, 1, 28, 28)
    torch.testing.assert_close(states[0], row_noise(3, 0, (1, 28, 28), DEFAULT_STEPS)[0])  # step 1 sees pure noise
    eps_c, eps_u = lab.both_predictions(random_dit, states, timesteps, 4)
    k = 3
    with torch.no_grad():
        alone_c = random_dit(states[k:k + 1], torch.tensor([timesteps[k]]), torch.tensor([4]))
        alone_u = random_dit(states[k:k + 1], torch.tensor([timesteps[k]]), torch.tensor([10]))
    torch.testing.assert_close(eps_c[k:k + 1], alone_c, atol=1e-5, rtol=0)
    torch.testing.assert_close(eps_u[k:k + 1], alone_u, atol=1e-5, rtol=0)
    view = lab.guided_step_view(random_dit, 4, 3, k + 1, 2.0)
    panels = {trace_index: np.array(trace["z"]) for trace_index, trace in enumerate(view["panels"].to_dict()["data"])}
    guided = (eps_u[k, 0] + 2.0 * (eps_c[k, 0] - eps_u[k, 0])).numpy()
    np.testing.assert_allclose(panels[4], guided, atol=1e-3)  # the fifth panel is the guided eps
    alpha, sigma = alpha_sigma(timesteps[k])
    np.testing.assert_allclose(panels[7], (states[k, 0] - sigma * torch.as_tensor(guided)).numpy() / alpha, atol=2e-3)
    norms = view["norms"].to_dict()["data"][0]["y"]
    np.testing.assert_allclose(norms, (eps_c - eps_u).flatten(1).norm(dim=1).numpy(), atol=1e-3)


def test_guided_step_refuses_a_model_without_null_class():
    with pytest.raises(ValueError, match="no null class"):
        lab.guided_step_view(random_dit(0.0, 1), 1, 0, 1, 2.0)


def test_lab_columns_are_the_samplers_samples(random_dit):
    weak = random_dit  # any model with the same classes serves as the guide
    out = lab.lab_view(random_dit, 2, 1, 3.0, 2, 300, 700, 0.5, 7, weak_model=weak)
    grid = np.asarray(out["grid"].convert("L"))
    assert grid.shape[1] > 7 * 76  # seven method columns
    methods = lab.lab_methods(3.0, 300, 700, 0.5, 7, weak)
    assert [h.split("\n")[0] for h, _ in methods] == ["constant", "interval", "rescale x0", "rescale eps", "negative",
                                                      "no", "auto-"]
    interval = methods[1][1]
    direct = sample_guided(random_dit, [2, 2], [3.0], steps=DEFAULT_STEPS, seed=1, guidance=interval)[0]
    plain = sample_guided(random_dit, [2, 2], [3.0], steps=DEFAULT_STEPS, seed=1)[0]
    assert not torch.equal(direct, plain)  # 3 of 8 steps fall outside [300, 700]
    guided = [s for s in sampling_timesteps(DEFAULT_STEPS) if 300 <= s <= 700]
    assert out["interval"].to_dict()["layout"]["title"]["text"].startswith(f"<b>{len(guided)} of {DEFAULT_STEPS}")


def test_lab_validation():
    with pytest.raises(ValueError, match="t_lo <= t_hi"):
        lab.validate_lab(3, 0, 4, 4, 600, 100, 0.7, 8)
    with pytest.raises(ValueError, match="phi"):
        lab.validate_lab(3, 0, 4, 4, 100, 600, 1.5, 8)
    with pytest.raises(ValueError, match="samples"):
        lab.validate_lab(3, 0, 4, 99, 100, 600, 0.7, 8)
    assert lab.validate_step("3", "0", "8", "4.5") == (3, 0, 8, 4.5)


@pytest.fixture(scope="module")
def companions():
    return {rate: random_dit(float(rate), i) for i, rate in enumerate(ld.RATES)}


def test_stand_in_null_row_is_appended_and_nothing_else_changes(companions):
    p0 = companions["0"]
    assert p0.null_class is None
    vector = torch.arange(32, dtype=torch.float32)
    copy = ld.with_stand_in_null(p0, vector)
    table = copy.y_embedder.embedding_table.weight
    assert table.shape == (11, 32) and torch.equal(table[10], vector) and copy.null_class == 10
    assert torch.equal(table[:10], p0.y_embedder.embedding_table.weight)
    assert torch.equal(ld.stand_ins(p0)["row mean"], p0.y_embedder.embedding_table.weight.mean(0).detach())


def test_companion_sweep_samples_p0_only_at_one(companions):
    sweeps = ld.companion_sweep(companions, 5, 2, [1.0, 3.0], 2)
    assert sweeps["0"][1] is None and sweeps["0"][0].shape == (2, 1, 28, 28)
    direct = sample_guided(companions["0.5"], [5, 5], [1.0, 3.0], steps=DEFAULT_STEPS, seed=2)
    assert torch.equal(sweeps["0.5"][1], direct[1])


def test_label_dropout_verdict_is_computed_from_the_curves():
    text = ld.verdict(synthetic_tradeoff(), {"zeros": (1, 4)})
    assert "0.400 [0.35, 0.45] against 0.650 [0.60, 0.70]" in text
    assert "do not overlap" in text  # 0.45 < 0.60
    overlapping = synthetic_tradeoff()
    overlapping["curves"]["companion_p0.5"]["points"][0].update(accuracy=0.62, accuracy_low=0.57, accuracy_high=0.67)
    assert "within the noise" in ld.verdict(overlapping, {})
    auto = ld.autoguidance_markdown(synthetic_tradeoff())
    assert "| CFG (null class) | 1.50 | 8.50 | 55.0 |" in auto
    assert "| autoguidance (p 0.1 companion) | 2.00 | 8.75 |" in auto


class LinearClassifier(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(5)
        self.w = torch.nn.Parameter(torch.randn(10, 784) * 0.02)

    def forward(self, x, t):
        return torch.tanh(x.flatten(1)) @ self.w.T


def test_classifier_requests_and_columns(random_dit):
    classifier, judge = LinearClassifier(), torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))
    req = cg.requests(random_dit, classifier, judge, 3, 0)
    k = cg.INSPECT_STEPS[0]
    t = sampling_timesteps(DEFAULT_STEPS)[k - 1]
    start = row_noise(0, 0, (1, 28, 28), DEFAULT_STEPS)[0][None]
    expected = -alpha_sigma(t)[1] * log_prob_gradient(classifier, start, t, torch.tensor([3]))[0, 0]
    torch.testing.assert_close(req["classifier"][0], expected)
    assert cg.cosine(req["cfg"][0], req["cfg"][0]) == pytest.approx(1.0)
    grid, rows, _, _ = cg.side_by_side(random_dit, classifier, judge, 3, 0, 2, [4.0], [2.0])
    assert [r["method"] for r in rows] == ["classifier g = 4", "CFG s = 2"]
    direct = sample_guided(random_dit, [3, 3], [0.0], steps=DEFAULT_STEPS, seed=0,
                              guidance=Guidance(classifier=classifier, classifier_scale=4.0))[0]
    assert rows[0]["diversity"] == pytest.approx(float(((direct[0] - direct[1]) / 2).flatten().norm()), rel=1e-5)
    assert rows[0]["hits"] in (0, 1, 2) and rows[0]["n"] == 2


def test_classifier_accuracy_by_t_figure_reads_the_card():
    fig = cg.accuracy_by_t_figure({"held_out_accuracy_by_t": {"0": 0.98, "500": 0.6, "999": 0.1}})
    bar = fig.to_dict()["data"][0]
    assert list(bar["x"]) == [0, 500, 999] and list(bar["y"]) == [0.98, 0.6, 0.1]


def test_matched_scale_is_only_an_upward_crossing():
    falling = [{"s": 1.0, "accuracy": 0.8}, {"s": 2.0, "accuracy": 0.97}, {"s": 4.0, "accuracy": 0.85}]
    assert curves.interpolate_scale(falling, "accuracy", 0.9) == pytest.approx(1 + 0.1 / 0.17)
    assert curves.interpolate_scale(falling, "accuracy", 0.75) is None  # above it from the first point
    assert ld.compare(0.3, 0.2, "more", "less") == "no clear difference (1.5 SE)"
    assert ld.compare(-0.5, 0.2, "more", "less") == "less (2.5 SE)"
