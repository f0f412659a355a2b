"""Classifier guidance next to CFG: the guides' requests against the gradient computed directly, the columns against
the sampler, the request's checks, and the shipped companions served as the model (p = 0 has no ε_u to steer)."""

import pytest
import torch
from view_helpers import small_dit

from playground.assets import COMPANIONS
from playground.checkpoint import load_pretrained
from playground.diffusion import DEFAULT_STEPS, alpha_sigma, row_noise, sampling_timesteps
from playground.guidance import Guidance, log_prob_gradient
from playground.noisy_classifier import load_classifier
from playground.sampling import sample_guided
from playground.views.guidance import classifier as cg
from playground.views.guidance.classifier import ClassifierRequest


class LinearClassifier(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(5)
        self.w = torch.nn.Parameter(torch.randn(10, 784) * 0.02)

    def forward(self, x, t):
        return torch.tanh(x.flatten(1)) @ self.w.T


def judge():
    torch.manual_seed(6)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10)).eval()


def test_classifier_requests_and_columns(random_dit):
    classifier = LinearClassifier()
    req = cg.requests(random_dit, classifier, judge(), 3, 0)
    k = cg.INSPECT_STEPS[0]
    t = sampling_timesteps(DEFAULT_STEPS)[k - 1]
    start = row_noise(0, 0, (1, 28, 28), DEFAULT_STEPS)[0][None]
    expected = -alpha_sigma(t)[1] * log_prob_gradient(classifier, start, t, torch.tensor([3]))[0, 0]
    torch.testing.assert_close(req["classifier"][0], expected)
    assert cg.cosine(req["cfg"][0], req["cfg"][0]) == pytest.approx(1.0)
    assert cg.cosine(req["cfg"][0], -req["cfg"][0]) == pytest.approx(-1.0)
    grid, rows, _, _ = cg.side_by_side(random_dit, classifier, judge(), 3, 0, 2, [4.0], [2.0])
    assert [r["method"] for r in rows] == ["classifier g = 4", "CFG s = 2"]
    direct = sample_guided(random_dit, [3, 3], [0.0], steps=DEFAULT_STEPS, seed=0,
                           guidance=Guidance(classifier=classifier, classifier_scale=4.0))[0]
    assert rows[0]["diversity"] == pytest.approx(float(((direct[0] - direct[1]) / 2).flatten().norm()), rel=1e-5)
    assert rows[0]["hits"] in (0, 1, 2) and rows[0]["n"] == 2


def test_classifier_accuracy_by_t_figure_reads_the_card():
    fig = cg.accuracy_by_t_figure({"held_out_accuracy_by_t": {"0": 0.98, "500": 0.6, "999": 0.1}})
    bar = fig.to_dict()["data"][0]
    assert list(bar["x"]) == [0, 500, 999] and list(bar["y"]) == [0.98, 0.6, 0.1]


def test_the_request_is_checked_once_and_by_name():
    assert cg.validate("3", 0, 2, "4, 8", "2") == ClassifierRequest(3, 0, 2, (4.0, 8.0), (2.0,))
    for args, message in (((3, 0, 2, "abc", "2"), "classifier scale g"), ((3, 0, 2, "4", "31"), "CFG scale s"),
                          ((3, 0, 1, "4", "2"), "samples"), ((3, 0, 2, "1 2 3 4 5", "2"), "classifier scale g")):
        with pytest.raises(ValueError, match=message):
            cg.validate(*args)


@pytest.mark.parametrize("rate", ["0.1", "0.5"])
def test_a_served_companion_with_a_null_class_is_guided(rate):
    model = load_pretrained(COMPANIONS[rate])
    assert cg.cannot_guide(model) is None
    classifier = load_classifier()  # the shipped noise-aware classifier, with its card
    out = cg.classifier_guidance_view(model, classifier, judge(), ClassifierRequest(3, 0, 2, (4.0,), (2.0,)),
                                      tradeoff=None)
    assert "| classifier g = 4 |" in out["summary"] and "| CFG s = 2 |" in out["summary"]
    heatmaps = out["requests"].to_dict()["data"]
    assert len(heatmaps) == 3 * len(cg.INSPECT_STEPS)  # classifier, CFG, judge at each inspected step
    bars = out["accuracy_by_t"].to_dict()["data"][0]
    assert list(bars["y"]) == list(classifier.card["held_out_accuracy_by_t"].values())


def test_a_model_without_a_null_class_is_refused_before_sampling():
    for model in (small_dit(0.0, 2), load_pretrained(COMPANIONS["0"])):
        assert cg.cannot_guide(model) == cg.NO_NULL_CLASS
        with pytest.raises(ValueError, match="no null class and no unconditional prediction"):
            cg.classifier_guidance_view(model, LinearClassifier(), judge(), ClassifierRequest(3, 0, 2, (4.0,), (2.0,)))
