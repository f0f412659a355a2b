import math

import numpy as np
import pytest
import torch
from diffusers import DDPMScheduler

from playground.baseline import naive_sweep
from playground.diffusion import (
    ALPHAS_CUMPROD,
    SAMPLERS,
    q_sample,
    row_noise,
    sampling_timesteps,
)
from playground.guidance import classifier_free_guidance
from playground.sampling import sample_cfg_sweep


def test_schedule_matches_diffusers_linear_betas():
    ref = DDPMScheduler(num_train_timesteps=1000, beta_start=1e-4, beta_end=0.02, beta_schedule="linear")
    np.testing.assert_allclose(ALPHAS_CUMPROD.numpy(), ref.alphas_cumprod.double().numpy(), rtol=1e-5)
    assert math.isclose(ALPHAS_CUMPROD[0].item(), 1 - 1e-4)


def test_q_sample_formula():
    x0, noise = torch.rand(3, 1, 4, 4), torch.randn(3, 1, 4, 4)
    t = torch.tensor([0, 500, 999])
    abar = ALPHAS_CUMPROD[t].view(-1, 1, 1, 1)
    expected = abar.sqrt() * x0.double() + (1 - abar).sqrt() * noise.double()
    torch.testing.assert_close(q_sample(x0, t, noise).double(), expected, atol=5e-6, rtol=0)


def test_cfg_combine_endpoints_and_linearity():
    cond, uncond = torch.randn(10), torch.randn(10)
    assert torch.equal(classifier_free_guidance(cond, uncond, 0.0), uncond)
    torch.testing.assert_close(classifier_free_guidance(cond, uncond, 1.0), cond)
    torch.testing.assert_close(classifier_free_guidance(cond, uncond, 4.0), 4 * cond - 3 * uncond)


def test_timesteps_start_at_pure_noise_and_end_at_zero():
    assert sampling_timesteps(1) == [999]
    assert sampling_timesteps(4) == [999, 666, 333, 0]
    ts = sampling_timesteps(50)
    assert len(ts) == 50 and ts[0] == 999 and ts[-1] == 0 and ts == sorted(ts, reverse=True)
    for bad in (0, 1001):
        with pytest.raises(ValueError):
            sampling_timesteps(bad)


def test_row_noise_depends_only_on_seed_row_steps():
    a, _ = row_noise(7, 3, (1, 28, 28), 10)
    b, _ = row_noise(7, 3, (1, 28, 28), 10)
    c, _ = row_noise(7, 4, (1, 28, 28), 10)
    assert torch.equal(a, b) and not torch.equal(a, c)


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
    got = sample_cfg_sweep(random_dit, [4], [scale], steps=6, seed=11, sampler="ddim")[0]
    start, _ = row_noise(11, 0, (1, 28, 28), 6)
    expected = ddim_by_hand(random_dit, start[None], 4, scale, 6)
    torch.testing.assert_close(got.double(), expected.clamp(-1, 1), atol=2e-4, rtol=0)


def test_scale_zero_is_unconditional_and_scale_one_conditional(random_dit):
    # With the null label as the "condition", both halves of the batch see the same input, so s = 0 and
    # s = 1 must reproduce the unconditional sample exactly, whatever the requested digit at s = 0.
    unconditional = sample_cfg_sweep(random_dit, [10, 10], [1.0], steps=4, seed=0)
    assert torch.equal(sample_cfg_sweep(random_dit, [3, 7], [0.0], steps=4, seed=0), unconditional)
    conditional = sample_cfg_sweep(random_dit, [3, 7], [1.0], steps=4, seed=0)
    assert not torch.equal(conditional, unconditional)


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_sweep_shape_range_and_noise_contract(random_dit, sampler):
    full = sample_cfg_sweep(random_dit, [1, 2, 3, 4], [0.0, 2.0, 5.0], steps=5, seed=3, sampler=sampler)
    assert full.shape == (3, 4, 1, 28, 28)
    assert full.min() >= -1 and full.max() <= 1
    # A scale's column does not depend on the other scales, nor a row on how many rows follow it.
    alone = sample_cfg_sweep(random_dit, [1, 2], [2.0], steps=5, seed=3, sampler=sampler)
    torch.testing.assert_close(alone[0], full[1, :2], atol=1e-6, rtol=0)
    assert torch.equal(sample_cfg_sweep(random_dit, [1, 2], [2.0], steps=5, seed=3, sampler=sampler), alone)
    other_seed = sample_cfg_sweep(random_dit, [1, 2], [2.0], steps=5, seed=4, sampler=sampler)
    assert not torch.allclose(other_seed, alone)


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_batched_sweep_gives_the_naive_loops_images(random_dit, sampler):
    scales = [0.0, 1.0, 2.5, 6.0]
    batched = sample_cfg_sweep(random_dit, [1, 8, 3], scales, steps=5, seed=2, sampler=sampler)
    naive = naive_sweep(random_dit, [1, 8, 3], scales, steps=5, seed=2, sampler=sampler)
    torch.testing.assert_close(batched, naive, atol=1e-3, rtol=0)  # batch size changes float rounding only


def test_batched_sweep_skips_the_work_it_does_not_need(random_dit):
    calls = []
    hook = random_dit.register_forward_hook(lambda module, args, out: calls.append(len(args[0])))
    try:
        sample_cfg_sweep(random_dit, [1, 8, 3], [0.0, 1.0, 2.0, 5.0], steps=4, seed=0)
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
    sample_cfg_sweep(random_dit, [1, 2], [0.0, 4.0], steps=3, seed=0,
                     callback=lambda i, n, x0: seen.append((i, n, tuple(x0.shape), x0.abs().max().item())))
    assert [s[:3] for s in seen] == [(i, 3, (2, 2, 1, 28, 28)) for i in (1, 2, 3)]
    assert all(m <= 1 for *_, m in seen)


def test_bad_sampler_and_precision(random_dit):
    with pytest.raises(ValueError, match="sampler"):
        sample_cfg_sweep(random_dit, [1], [1.0], steps=2, seed=0, sampler="euler")
    with pytest.raises(ValueError, match="precision"):
        sample_cfg_sweep(random_dit, [1], [1.0], steps=2, seed=0, precision="fp8")
