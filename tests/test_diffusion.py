import math

import numpy as np
import pytest
import torch
from diffusers import DDPMScheduler

from playground.diffusion import (
    ALPHAS_CUMPROD,
    DDIM,
    DDPM,
    SAMPLERS,
    DPMSolver2M,
    implied_eps,
    make_sampler,
    predicted_x0,
    q_sample,
    row_noise,
    sampling_timesteps,
)
from playground.guidance import classifier_free_guidance


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


def test_predicted_x0_and_implied_eps_invert_q_sample():
    x0, noise = torch.randn(2, 1, 4, 4, dtype=torch.float64), torch.randn(2, 1, 4, 4, dtype=torch.float64)
    for t in (0, 500, 999):
        abar = ALPHAS_CUMPROD[t].item()
        x = math.sqrt(abar) * x0 + math.sqrt(1 - abar) * noise
        torch.testing.assert_close(predicted_x0(x, noise, t), x0, atol=1e-9, rtol=1e-9)
        torch.testing.assert_close(implied_eps(x, x0, t), noise, atol=1e-9, rtol=1e-9)
        # Round trip through both: eps -> x0 -> eps.
        torch.testing.assert_close(implied_eps(x, predicted_x0(x, noise, t), t), noise, atol=1e-9, rtol=1e-9)


# The sampler steps against the papers' formulas, written here in float64 from abar alone.
TIMESTEPS = [999, 666, 333, 0]


def abar_at(i):
    """abar at TIMESTEPS[i]; 1 (clean data) after the last."""
    return ALPHAS_CUMPROD[TIMESTEPS[i]].item() if i < len(TIMESTEPS) else 1.0


def state(seed):
    """Independent random (x, x0, eps, step noise) in float64: the step formulas hold for any inputs."""
    g = torch.Generator().manual_seed(seed)
    x, x0, eps = (torch.randn(2, 1, 4, 4, generator=g, dtype=torch.float64) for _ in range(3))
    return x, x0, eps, torch.randn(len(TIMESTEPS), 2, 1, 4, 4, generator=g, dtype=torch.float64)


def test_samplers_are_registered_by_name_in_order():
    assert list(SAMPLERS) == ["ddim", "ddpm", "dpm++2m"]
    assert [type(make_sampler(name, TIMESTEPS, None)) for name in SAMPLERS] == [DDIM, DDPM, DPMSolver2M]
    with pytest.raises(ValueError, match="unknown sampler 'euler'"):
        make_sampler("euler", TIMESTEPS, None)


@pytest.mark.parametrize("i", range(len(TIMESTEPS)))
def test_ddim_step_is_the_deterministic_update(i):
    x, x0, eps, _ = state(i)
    a_prev = abar_at(i + 1)
    expected = math.sqrt(a_prev) * x0 + math.sqrt(1 - a_prev) * eps  # x_prev = sqrt(abar') x0 + sqrt(1 - abar') eps
    torch.testing.assert_close(DDIM(TIMESTEPS, None).step(i, x, x0, eps), expected, atol=1e-12, rtol=0)


@pytest.mark.parametrize("i", range(len(TIMESTEPS)))
def test_ddpm_step_is_the_posterior_mean_plus_its_noise(i):
    x, x0, eps, noise = state(i)
    a, a_prev = abar_at(i), abar_at(i + 1)
    beta = 1 - a / a_prev  # Ho et al. Eq. 7, with the respaced chain's beta
    mean = math.sqrt(a_prev) * beta / (1 - a) * x0 + math.sqrt(1 - beta) * (1 - a_prev) / (1 - a) * x
    std = math.sqrt(beta * (1 - a_prev) / (1 - a))
    expected = mean + std * noise[i]  # on the last step a_prev = 1, so std = 0: x0 itself
    torch.testing.assert_close(DDPM(TIMESTEPS, noise).step(i, x, x0, eps), expected, atol=1e-12, rtol=0)
    if i == len(TIMESTEPS) - 1:
        torch.testing.assert_close(expected, x0, atol=1e-12, rtol=0)


def test_dpm_solver_2m_first_step_is_ddim_and_later_steps_use_the_previous_x0():
    x, x0, _, _ = state(0)
    lam = [0.5 * math.log(abar_at(i) / (1 - abar_at(i))) for i in range(len(TIMESTEPS) - 1)]  # log(alpha / sigma)
    solver = DPMSolver2M(TIMESTEPS, None)
    assert solver.previous_x0 is None
    close = dict(atol=1e-6, rtol=0)  # the solver takes e^-h - 1 in float32
    # Step 0 is first order: DPM-Solver++(1) is DDIM (with eps consistent with x0).
    x1 = solver.step(0, x, x0, implied_eps(x, x0, TIMESTEPS[0]))
    torch.testing.assert_close(x1, DDIM(TIMESTEPS, None).step(0, x, x0, implied_eps(x, x0, TIMESTEPS[0])), **close)
    assert solver.previous_x0 is x0
    # Step 1 extrapolates from x0 and the previous x0 (Lu et al. 2022, Alg. 2).
    _, x0_next, _, _ = state(1)
    h, h_before = lam[2] - lam[1], lam[1] - lam[0]
    r = h_before / h
    d = (1 + 1 / (2 * r)) * x0_next - 1 / (2 * r) * x0
    a_prev, a = abar_at(2), abar_at(1)
    expected = math.sqrt((1 - a_prev) / (1 - a)) * x1 - math.sqrt(a_prev) * (math.exp(-h) - 1) * d
    x2 = solver.step(1, x1, x0_next, None)
    torch.testing.assert_close(x2, expected, **close)
    assert solver.previous_x0 is x0_next
    first_order = DPMSolver2M(TIMESTEPS, None).step(1, x1, x0_next, None)  # no previous x0: D = x0
    assert not torch.allclose(x2, first_order)
    # The last step lands on the x0 estimate.
    assert DPMSolver2M(TIMESTEPS, None).step(3, x2, x0, None) is x0
