"""The batched sampling loop: against a float64 DDIM loop and the textbook one; the work it skips; what it reports."""

import math

import numpy as np
import pytest
import torch

from playground.bench.baseline import naive_sweep
from playground.diffusion import ALPHAS_CUMPROD, SAMPLERS, row_noise
from playground.guidance import Guidance, classifier_free_guidance
from playground.sampling import sample_guided


def ddim_by_hand(model, x, label, scale, steps):
    """Independent float64 DDIM (eta = 0) with x0 clipping and epsilon re-derived from the clipped x0."""
    abar = ALPHAS_CUMPROD.numpy()
    ts = np.linspace(999, 0, steps).round().astype(int)
    x = x.double()
    for i, t in enumerate(ts):
        with torch.no_grad():
            inp = torch.cat([x, x]).float()
            out = model(inp, torch.full((2,), float(t)), torch.tensor([label, 10])).double()
        eps = out[1:2] + scale * (out[0:1] - out[1:2])
        x0 = ((x - math.sqrt(1 - abar[t]) * eps) / math.sqrt(abar[t])).clamp(-1, 1)
        eps = (x - math.sqrt(abar[t]) * x0) / math.sqrt(1 - abar[t])
        a_prev = abar[ts[i + 1]] if i + 1 < len(ts) else 1.0
        x = math.sqrt(a_prev) * x0 + math.sqrt(1 - a_prev) * eps
    return x


@pytest.mark.parametrize("scale", [0.0, 1.0, 3.0])
def test_ddim_matches_independent_implementation(random_dit, scale):
    got = sample_guided(random_dit, [4], [scale], steps=6, seed=11, sampler="ddim")[0]
    start, _ = row_noise(11, 0, (1, 28, 28), 6)
    expected = ddim_by_hand(random_dit, start[None], 4, scale, 6)
    torch.testing.assert_close(got.double(), expected.clamp(-1, 1), atol=2e-4, rtol=0)


def test_scale_zero_is_unconditional_and_scale_one_conditional(random_dit):
    # With the null label as the "condition", both halves of the batch see the same input, so s = 0 and
    # s = 1 must reproduce the unconditional sample exactly, whatever the requested digit at s = 0.
    unconditional = sample_guided(random_dit, [10, 10], [1.0], steps=4, seed=0)
    assert torch.equal(sample_guided(random_dit, [3, 7], [0.0], steps=4, seed=0), unconditional)
    conditional = sample_guided(random_dit, [3, 7], [1.0], steps=4, seed=0)
    assert not torch.equal(conditional, unconditional)


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_sweep_shape_range_and_noise_contract(random_dit, sampler):
    full = sample_guided(random_dit, [1, 2, 3, 4], [0.0, 2.0, 5.0], steps=5, seed=3, sampler=sampler)
    assert full.shape == (3, 4, 1, 28, 28)
    assert full.min() >= -1 and full.max() <= 1
    # A scale's column does not depend on the other scales, nor a row on how many rows follow it
    # (up to the float rounding a batch's size changes).
    alone = sample_guided(random_dit, [1, 2], [2.0], steps=5, seed=3, sampler=sampler)
    torch.testing.assert_close(alone[0], full[1, :2], atol=1e-5, rtol=0)
    assert torch.equal(sample_guided(random_dit, [1, 2], [2.0], steps=5, seed=3, sampler=sampler), alone)
    other_seed = sample_guided(random_dit, [1, 2], [2.0], steps=5, seed=4, sampler=sampler)
    assert not torch.allclose(other_seed, alone)


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_batched_sweep_gives_the_naive_loops_images(random_dit, sampler):
    scales = [0.0, 1.0, 2.5, 6.0]
    batched = sample_guided(random_dit, [1, 8, 3], scales, steps=5, seed=2, sampler=sampler)
    naive = naive_sweep(random_dit, [1, 8, 3], scales, steps=5, seed=2, sampler=sampler)
    torch.testing.assert_close(batched, naive, atol=1e-3, rtol=0)  # batch size changes float rounding only


def test_batched_sweep_skips_the_work_it_does_not_need(random_dit):
    calls = []
    hook = random_dit.register_forward_hook(lambda module, args, out: calls.append(len(args[0])))
    try:
        sample_guided(random_dit, [1, 8, 3], [0.0, 1.0, 2.0, 5.0], steps=4, seed=0)
        batched = list(calls)
        calls.clear()
        naive_sweep(random_dit, [1, 8, 3], [2.0], steps=4, seed=0, sampler="dpm++2m")
    finally:
        hook.remove()
    # Step 1: every scale shares the starting noise, so 3 rows x (cond + uncond). Later steps: s = 0
    # needs only the unconditional half, s = 1 only the conditional one, s = 2 and 5 both.
    assert batched == [6] + [3 * 6] * 3
    assert calls == [3] * 8  # the textbook loop: two forwards of one scale's rows per step


def test_callback_sees_every_step_with_clipped_x0(random_dit):
    seen = []
    sample_guided(random_dit, [1, 2], [0.0, 4.0], steps=3, seed=0,
                  callback=lambda i, n, x0: seen.append((i, n, tuple(x0.shape), x0.abs().max().item())))
    assert [s[:3] for s in seen] == [(i, 3, (2, 2, 1, 28, 28)) for i in (1, 2, 3)]
    assert all(m <= 1 for *_, m in seen)


def recorded_steps(model, scales, guidance):
    steps = []
    sample_guided(model, [1, 2], scales, steps=4, seed=0, guidance=guidance,
                  on_step=lambda d: steps.append({k: v.clone() if torch.is_tensor(v) else v for k, v in d.items()}))
    return steps


@pytest.mark.parametrize("guidance", [Guidance(), Guidance(rescale=0.7), Guidance(rescale=0.7, rescale_space="eps")])
def test_on_step_reports_the_guided_x0_before_rescale_and_clip(random_dit, guidance):
    scales = [0.0, 1.0, 6.0]
    s = torch.tensor(scales).view(-1, 1, 1, 1, 1)
    for step in recorded_steps(random_dit, scales, guidance):
        abar = ALPHAS_CUMPROD[step["t"]].item()
        eps = classifier_free_guidance(step["eps_cond"], step["eps_other"], s)  # the guided eps, untouched
        expected = (step["x_t"] - math.sqrt(1 - abar) * eps) / math.sqrt(abar)
        torch.testing.assert_close(step["x0_guided"], expected, atol=1e-5, rtol=1e-6)


def test_clipping_changes_the_guided_x0_exactly_where_it_leaves_the_data_range(random_dit):
    steps = recorded_steps(random_dit, [0.0, 1.0, 6.0], Guidance())
    assert any((step["x0_guided"].abs() > 1).any() for step in steps)  # the check below is not vacuous
    for step in steps:
        x0_guided, x0 = step["x0_guided"], step["x0"]
        assert torch.equal(x0, x0_guided.clamp(-1, 1))
        assert torch.equal(x0 != x0_guided, x0_guided.abs() > 1)
    for step in recorded_steps(random_dit, [0.0, 1.0, 6.0], Guidance(clip=False)):
        assert torch.equal(step["x0"], step["x0_guided"])


def test_bad_sampler_and_precision(random_dit):
    with pytest.raises(ValueError, match="sampler"):
        sample_guided(random_dit, [1], [1.0], steps=2, seed=0, sampler="euler")
    with pytest.raises(ValueError, match="precision"):
        sample_guided(random_dit, [1], [1.0], steps=2, seed=0, precision="fp8")
