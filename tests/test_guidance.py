"""Guidance variants against independent float64 DDIM loops written out here, and the refusals."""

import math

import numpy as np
import pytest
import torch

from playground.diffusion import ALPHAS_CUMPROD, row_noise
from playground.guidance import Guidance, GuidanceError, in_interval, log_prob_gradient, rescale_guided
from playground.model import DiT
from playground.sampling import sample_guided

STEPS, SEED, LABEL = 6, 5, 4


def eps_of(model, x, t, label):
    with torch.no_grad():
        return model(x.float(), torch.full((len(x),), t), torch.full((len(x),), label)).double()


def hand_ddim(x, guided_eps, clip=True, rescale_phi=0.0):
    """Float64 DDIM (eta = 0); `guided_eps(x, t) -> (eps, eps_cond)`; optional rescale of x0, then clip."""
    abar = ALPHAS_CUMPROD.numpy()
    ts = np.linspace(999, 0, STEPS).round().astype(int)
    x = x.double()
    for i, t in enumerate(ts):
        eps, eps_cond = guided_eps(x, int(t))
        x0 = (x - math.sqrt(1 - abar[t]) * eps) / math.sqrt(abar[t])
        if rescale_phi:
            x0_pos = (x - math.sqrt(1 - abar[t]) * eps_cond) / math.sqrt(abar[t])
            ratio = x0_pos.flatten(1).std(1) / x0.flatten(1).std(1)
            x0 = rescale_phi * x0 * ratio.view(-1, 1, 1, 1) + (1 - rescale_phi) * x0
        if clip:
            x0 = x0.clamp(-1, 1)
        eps = (x - math.sqrt(abar[t]) * x0) / math.sqrt(1 - abar[t])
        a_prev = abar[ts[i + 1]] if i + 1 < len(ts) else 1.0
        x = math.sqrt(a_prev) * x0 + math.sqrt(1 - a_prev) * eps
    return x.clamp(-1, 1)


def start():
    return row_noise(SEED, 0, (1, 28, 28), STEPS)[0][None]


def ours(model, scale, guidance):
    return sample_guided(model, [LABEL], [scale], steps=STEPS, seed=SEED, sampler="ddim", guidance=guidance)[0]


def test_interval_guides_only_inside_both_ends_included(random_dit):
    lo, hi = 400, 799  # the 6 DDIM steps are 999, 799, 599, 400, 200, 0: 799 and 400 are inside
    assert [in_interval(t, (lo, hi)) for t in (999, 799, 599, 400, 200, 0)] == [False, True, True, True, False, False]

    def guided(x, t):
        c, u = eps_of(random_dit, x, t, LABEL), eps_of(random_dit, x, t, 10)
        return (u + 3.0 * (c - u) if lo <= t <= hi else c), c

    got = ours(random_dit, 3.0, Guidance(interval=(lo, hi)))
    torch.testing.assert_close(got.double(), hand_ddim(start(), guided), atol=2e-4, rtol=0)


def test_full_interval_is_the_plain_sweep_byte_for_byte(random_dit):
    plain = sample_guided(random_dit, [1, 2], [0.0, 2.0, 5.0], steps=5, seed=1)
    full = sample_guided(random_dit, [1, 2], [0.0, 2.0, 5.0], steps=5, seed=1, guidance=Guidance(interval=(0, 999)))
    assert torch.equal(plain, full)


def test_rescale_formula_and_sampling(random_dit):
    guided, positive = torch.randn(3, 1, 5, 5), torch.randn(3, 1, 5, 5) * 0.3
    out = rescale_guided(guided, positive, 0.7)
    expected = [0.7 * g * (p.std() / g.std()) + 0.3 * g for g, p in zip(guided, positive, strict=True)]
    torch.testing.assert_close(out, torch.stack(expected))
    torch.testing.assert_close(rescale_guided(guided, positive, 1.0).flatten(1).std(1), positive.flatten(1).std(1))

    def cfg(x, t):
        c, u = eps_of(random_dit, x, t, LABEL), eps_of(random_dit, x, t, 10)
        return u + 4.0 * (c - u), c

    got = ours(random_dit, 4.0, Guidance(rescale=0.7))
    torch.testing.assert_close(got.double(), hand_ddim(start(), cfg, rescale_phi=0.7), atol=2e-4, rtol=0)
    assert not torch.equal(got, ours(random_dit, 4.0, Guidance()))
    assert not torch.equal(ours(random_dit, 4.0, Guidance(rescale=0.7, rescale_space="eps")), got)


def test_negative_class_replaces_the_null_prediction(random_dit):
    def guided(x, t):
        c, neg = eps_of(random_dit, x, t, LABEL), eps_of(random_dit, x, t, 7)
        return neg + 2.0 * (c - neg), c

    got = ours(random_dit, 2.0, Guidance(negative_label=7))
    torch.testing.assert_close(got.double(), hand_ddim(start(), guided), atol=2e-4, rtol=0)


def test_autoguidance_uses_the_weak_models_conditional_prediction(random_dit):
    torch.manual_seed(1)
    weak = DiT(hidden_size=32, depth=1, num_heads=2).eval()
    with torch.no_grad():
        for p in weak.parameters():
            if p.requires_grad:
                p.normal_(0, 0.05)

    def guided(x, t):
        c, w = eps_of(random_dit, x, t, LABEL), eps_of(weak, x, t, LABEL)
        return w + 2.5 * (c - w), c

    got = ours(random_dit, 2.5, Guidance(guide_model=weak))
    torch.testing.assert_close(got.double(), hand_ddim(start(), guided), atol=2e-4, rtol=0)
    # A model guided by itself is its plain conditional sample, whatever the scale (up to batch-size rounding).
    self_guided = ours(random_dit, 6.0, Guidance(guide_model=random_dit))
    torch.testing.assert_close(self_guided, ours(random_dit, 1.0, Guidance()), atol=1e-4, rtol=0)


def test_no_clip_steps_with_the_raw_prediction(random_dit):
    def cfg(x, t):
        c, u = eps_of(random_dit, x, t, LABEL), eps_of(random_dit, x, t, 10)
        return u + 5.0 * (c - u), c

    got = ours(random_dit, 5.0, Guidance(clip=False))
    torch.testing.assert_close(got.double(), hand_ddim(start(), cfg, clip=False), atol=2e-4, rtol=0)
    assert not torch.equal(got, ours(random_dit, 5.0, Guidance()))


class TinyClassifier(torch.nn.Module):
    """A smooth time-conditioned classifier: logits = W tanh(x) + t-dependent bias."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(2)
        self.w = torch.nn.Parameter(torch.randn(10, 784) * 0.05)
        self.b = torch.nn.Parameter(torch.randn(10) * 0.1)

    def forward(self, x, t):
        return torch.tanh(x.flatten(1)) @ self.w.T + self.b * (t.float()[:, None] / 1000)


def test_log_prob_gradient_matches_finite_differences():
    classifier = TinyClassifier().double()
    x, labels = torch.randn(2, 1, 28, 28, dtype=torch.float64), torch.tensor([3, 8])
    grad = log_prob_gradient(classifier, x, 500, labels)

    def log_p(z):
        return classifier(z, torch.full((2,), 500)).log_softmax(-1).gather(1, labels[:, None]).sum()

    for flat in (0, 300, 783):
        bump = torch.zeros_like(x).flatten(1)
        bump[:, flat] = 1e-6
        bump = bump.view_as(x)
        for row in range(2):
            only = torch.zeros_like(x)
            only[row] = bump[row]
            numeric = (log_p(x + only) - log_p(x - only)) / 2e-6
            assert numeric.item() == pytest.approx(grad[row].flatten()[flat].item(), rel=1e-5, abs=1e-8)


def test_classifier_guidance_in_epsilon_form(random_dit):
    classifier, g = TinyClassifier(), 3.0
    abar = ALPHAS_CUMPROD.numpy()

    def guided(x, t):
        u = eps_of(random_dit, x, t, 10)
        grad = log_prob_gradient(classifier, x.float(), t, torch.tensor([LABEL])).double()
        return u - g * math.sqrt(1 - abar[t]) * grad, eps_of(random_dit, x, t, LABEL)

    got = ours(random_dit, 0.0, Guidance(classifier=classifier, classifier_scale=g))
    torch.testing.assert_close(got.double(), hand_ddim(start(), guided), atol=2e-4, rtol=0)
    zero = ours(random_dit, 2.0, Guidance(classifier=classifier, classifier_scale=0.0))
    assert torch.equal(zero, ours(random_dit, 2.0, Guidance()))


@pytest.fixture(scope="module")
def no_null_dit():
    torch.manual_seed(3)
    model = DiT(hidden_size=64, depth=2, num_heads=2, class_dropout_prob=0.0)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.normal_(0, 0.05)
    return model.eval()


def test_model_without_label_dropout_samples_at_one_and_refuses_guidance(no_null_dit):
    assert no_null_dit.null_class is None and no_null_dit.y_embedder.embedding_table.num_embeddings == 10
    out = sample_guided(no_null_dit, [1, 9], [1.0], steps=4, seed=0)
    assert out.shape == (1, 2, 1, 28, 28) and torch.isfinite(out).all()
    for scales in ([0.0], [1.0, 4.0]):
        with pytest.raises(GuidanceError, match="no null class"):
            sample_guided(no_null_dit, [1], scales, steps=4, seed=0)
    # Guidance that needs no null row still runs: a negative class.
    assert sample_guided(no_null_dit, [1], [3.0], steps=4, seed=0, guidance=Guidance(negative_label=7)).shape[0] == 1


@pytest.mark.parametrize("guidance, message", [
    (Guidance(interval=(500, 100)), "interval"),
    (Guidance(interval=(0, 1000)), "interval"),
    (Guidance(rescale=1.5), "phi"),
    (Guidance(rescale_space="v"), "rescale_space"),
    (Guidance(negative_label=10), "negative class"),
    (Guidance(negative_label=(3,)), "negative class"),  # a per-digit map needs one class per digit
    (Guidance(classifier_scale=2.0), "needs a classifier"),
])
def test_meaningless_settings_are_refused(random_dit, guidance, message):
    with pytest.raises(GuidanceError, match=message):
        sample_guided(random_dit, [1], [2.0], steps=2, seed=0, guidance=guidance)


def test_autoguidance_refuses_other_replacements(random_dit):
    for extra in ({"negative_label": 3}, {"classifier": TinyClassifier(), "classifier_scale": 1.0}):
        with pytest.raises(GuidanceError, match="choose one"):
            guidance = Guidance(guide_model=random_dit, **extra)
            sample_guided(random_dit, [1], [2.0], steps=2, seed=0, guidance=guidance)
