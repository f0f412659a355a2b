"""Classifier guidance next to CFG: the guides' requests against the gradient computed directly, the columns against
the sampler, the request's checks, and the shipped companions served as the model (p = 0 has no ε_u to steer)."""

import pytest
import torch
from view_helpers import small_dit, synthetic_tradeoff

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
    grid, rows = cg.side_by_side(random_dit, classifier, judge(), 3, 0, 2, [4.0], [2.0])
    assert [r["method"] for r in rows] == ["classifier g = 4", "CFG s = 2"]
    assert [(r["kind"], r["scale"]) for r in rows] == [("classifier", 4.0), ("CFG", 2.0)] and rows[0]["seconds"] > 0
    direct = sample_guided(random_dit, [3, 3], [0.0], steps=DEFAULT_STEPS, seed=0,
                           guidance=Guidance(classifier=classifier, classifier_scale=4.0))[0]
    assert rows[0]["diversity"] == pytest.approx(float(((direct[0] - direct[1]) / 2).flatten().norm()), rel=1e-5)
    assert rows[0]["hits"] in (0, 1, 2) and rows[0]["n"] == 2


def test_the_cost_averages_only_the_runs_that_pay_for_guidance():
    rows = [{"kind": "classifier", "scale": g, "seconds": sec} for g, sec in ((0.0, 100.0), (4.0, 3.0), (8.0, 5.0))]
    rows += [{"kind": "CFG", "scale": s, "seconds": sec} for s, sec in ((0.0, 50.0), (1.0, 0.5), (2.0, 2.0))]
    text = cg.cost_markdown(rows)  # g = 0, s = 0 and s = 1 double nothing and run no classifier: not averaged in
    assert "4.00 s per classifier-guided run (g = 4, 8) against 2.00 s per CFG run (s = 2), 2.0x" in text
    assert "not compared" in cg.cost_markdown([r for r in rows if r["scale"] != 2.0])


def requests_with(clf_direction):
    """A `requests` result at t = 999 and 143 whose CFG request is e0; the noise-aware classifier's is
    `clf_direction`, the judge's e1 (orthogonal)."""
    e0, e1 = torch.zeros(28, 28), torch.zeros(28, 28)
    e0[0, 0], e1[0, 1] = 1.0, 1.0
    return {"t": [999, 143], "cfg": [e0, e0], "classifier": [clf_direction, clf_direction], "judge": [e1, e1],
            "judge_confidence": [0.0, 0.9]}


def test_what_seeing_noise_changes_is_read_from_the_cosines_and_the_card():
    card = {"held_out_accuracy_by_t": {"0": 0.98, "500": 0.6, "999": 0.1}}
    e0, e2 = torch.zeros(28, 28), torch.zeros(28, 28)
    e0[0, 0], e2[5, 5] = 1.0, 1.0
    aligned = cg.noise_markdown(requests_with(e0), card)  # at chance at t = 999, yet pointing CFG's way
    assert "t = 999: accuracy 0.10, cosine +1.00" in aligned and "can still point where CFG points" in aligned
    assert "t = 143" not in aligned.split("The clean-image judge")[0]  # 0.98 - (0.38 * 143 / 500): readable
    assert "cosine +0.00, +0.00 with CFG's, below the noise-aware classifier's at every step shown" in aligned
    blind = cg.noise_markdown(requests_with(e2), card)
    assert "no closer to CFG's than a random direction (t = 999: accuracy 0.10, cosine +0.00)" in blind
    assert "no lower than the noise-aware classifier's at any step shown" in blind
    for text in (aligned, blind):
        assert "nowhere useful" not in text
    assert "where it can read x_t is not known" in cg.noise_markdown(requests_with(e0), {})


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
                                      tradeoff=synthetic_tradeoff())
    assert "| classifier g = 4 |" in out["summary"] and "| CFG s = 2 |" in out["summary"]
    heatmaps = out["requests"].to_dict()["data"]
    assert len(heatmaps) == 3 * len(cg.INSPECT_STEPS)  # classifier, CFG, judge at each inspected step
    bars = out["accuracy_by_t"].to_dict()["data"][0]
    assert list(bars["y"]) == list(classifier.card["held_out_accuracy_by_t"].values())
    assert out["accuracy_by_t"].layout.xaxis.title.text == "t (0 clean → 999 noise)"
    notes = out["requests"].to_dict()["layout"]["annotations"]
    titles = [note["text"] for note in notes if ": classifier" in note["text"]]
    ts = [int(title.split(":")[0].removeprefix("t ")) for title in titles]
    assert ts == sorted(ts) and len(ts) == len(cg.INSPECT_STEPS)  # t rises along the panels, as on every axis of t
    for name in ("tradeoff", "frechet"):  # the legend beside the plot, off the x axis's title
        legend = out[name].to_dict()["layout"]["legend"]
        assert legend["orientation"] == "v" and legend["x"] > 1, name


def test_a_model_without_a_null_class_is_refused_before_sampling():
    for model in (small_dit(0.0, 2), load_pretrained(COMPANIONS["0"])):
        assert cg.cannot_guide(model) == cg.NO_NULL_CLASS
        with pytest.raises(ValueError, match="no null class and no unconditional prediction"):
            cg.classifier_guidance_view(model, LinearClassifier(), judge(), ClassifierRequest(3, 0, 2, (4.0,), (2.0,)))
