"""Gaussian diffusion in pixel space: the noise schedule, the training loss, x0 <-> eps, and the samplers.

Conventions: images live in [-1, 1]; the model predicts the noise epsilon; t runs 0..999 with
linear betas 1e-4..0.02 (as in DiT). The loop that calls the samplers, batched over guidance scales,
is `playground.sampling`; how predictions are guided is `playground.guidance`.
"""

import torch
import torch.nn.functional as F

NUM_TIMESTEPS = 1000
# The app's default: DPM-Solver++(2M) at 8 steps scores within a point of DDIM at 50 on the judge
# (`python -m playground.bench` prints both) at a sixth of the cost. The reference path:
DEFAULT_SAMPLER, DEFAULT_STEPS = "dpm++2m", 8
REFERENCE_SAMPLER, REFERENCE_STEPS = "ddim", 50


def linear_alphas_cumprod(num_timesteps=NUM_TIMESTEPS, beta_start=1e-4, beta_end=0.02):
    """abar_t = prod_{s<=t} (1 - beta_s), `[num_timesteps]` in float64."""
    betas = torch.linspace(beta_start, beta_end, num_timesteps, dtype=torch.float64)
    return torch.cumprod(1.0 - betas, dim=0)


ALPHAS_CUMPROD = linear_alphas_cumprod()


def q_sample(x0, t, noise):
    """Forward process: x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) noise, for integer `t` `[N]`."""
    abar = ALPHAS_CUMPROD.to(x0.device)[t].float().view(-1, 1, 1, 1)
    return abar.sqrt() * x0 + (1 - abar).sqrt() * noise


def training_loss(model, x0, y, generator=None):
    """Plain epsilon-MSE at uniformly drawn timesteps (DiT without learned sigma)."""
    t = torch.randint(0, NUM_TIMESTEPS, (x0.shape[0],), device=x0.device, generator=generator)
    noise = torch.randn(x0.shape, device=x0.device, generator=generator)
    eps = model(q_sample(x0, t, noise), t, y)[:, : x0.shape[1]]
    return F.mse_loss(eps, noise)


def sampling_timesteps(steps):
    """`steps` integer timesteps from 999 down to 0, evenly spaced (so the first sees pure noise)."""
    if not 1 <= steps <= NUM_TIMESTEPS:
        raise ValueError(f"steps must be in 1..{NUM_TIMESTEPS}, got {steps}")
    return torch.linspace(NUM_TIMESTEPS - 1, 0, steps).round().long().tolist()


def row_noise(seed, row, shape, steps):
    """Starting noise `[C, H, W]` and per-step noise `[steps, C, H, W]` of sample `row`.

    Drawn from a generator of its own, so a row's noise depends only on (seed, row, steps):
    never on the scales or on how many other rows are sampled.
    """
    generator = torch.Generator().manual_seed((seed * 1_000_003 + row) % 2**63)
    x_start = torch.randn(shape, generator=generator)
    return x_start, torch.randn((steps, *shape), generator=generator)


def alpha_sigma(t):
    """(sqrt(abar_t), sqrt(1 - abar_t)) at integer timestep t; t = -1 stands for clean data (1, 0)."""
    abar = ALPHAS_CUMPROD[t].item() if t >= 0 else 1.0
    return abar**0.5, (1 - abar) ** 0.5


def half_log_snr(t):
    """lambda_t = log(alpha_t / sigma_t), DPM-Solver's time variable (half the log signal-to-noise ratio)."""
    alpha, sigma = alpha_sigma(t)
    return torch.log(torch.tensor(alpha / sigma, dtype=torch.float64)).item()


def predicted_x0(x, eps, t):
    """The clean image x_t and eps imply: x0 = (x_t - sigma_t eps) / alpha_t (inverting `q_sample`)."""
    alpha, sigma = alpha_sigma(t)
    return (x - sigma * eps) / alpha


def implied_eps(x, x0, t):
    """The noise x_t and x0 imply: eps = (x_t - alpha_t x0) / sigma_t (the inverse of `predicted_x0`)."""
    alpha, sigma = alpha_sigma(t)
    return (x - alpha * x0) / sigma


#################################################################################
#            Samplers: x at timesteps[i] -> x at timesteps[i + 1]                #
#################################################################################


class Sampler:
    """A walk down `timesteps`; `step(i, x, x0, eps)` takes x from timesteps[i] to timesteps[i + 1].

    x0 is the (clipped) prediction at timesteps[i] and eps the noise consistent with it; after the last
    timestep comes clean data (t = -1). `step_noise` `[steps, *x.shape]` is the fresh noise of each step,
    for the samplers that draw any. Call `step` for i = 0, 1, ... in order: a multistep sampler keeps
    state between calls, so use a new sampler per sample.
    """

    def __init__(self, timesteps, step_noise):
        self.timesteps, self.step_noise = timesteps, step_noise

    def t_at(self, i):
        """timesteps[i]; -1 (clean data) outside 0..len - 1."""
        return self.timesteps[i] if 0 <= i < len(self.timesteps) else -1


class DDIM(Sampler):
    """DDIM with eta = 0 (Song et al. 2021, Eq. 12): deterministic."""

    def step(self, i, x, x0, eps):
        alpha_prev, sigma_prev = alpha_sigma(self.t_at(i + 1))
        return alpha_prev * x0 + sigma_prev * eps  # (1) x_prev = sqrt(abar_prev) x0 + sqrt(1 - abar_prev) eps


class DDPM(Sampler):
    """Ancestral DDPM step of the respaced chain (Ho et al. 2020, Eqs. 6-7), posterior variance."""

    def step(self, i, x, x0, eps):
        t_prev = self.t_at(i + 1)
        (alpha, sigma), (alpha_prev, sigma_prev) = alpha_sigma(self.t_at(i)), alpha_sigma(t_prev)
        beta = 1 - (alpha / alpha_prev) ** 2  # (1) beta of the respaced step: 1 - abar_t / abar_prev
        # (2) posterior mean: (sqrt(abar_prev) beta x0 + sqrt(abar_t / abar_prev) (1 - abar_prev) x_t) / (1 - abar_t)
        mean = (alpha_prev * beta * x0 + (alpha / alpha_prev) * sigma_prev**2 * x) / sigma**2
        # (3) plus noise of the posterior's std sqrt(beta (1 - abar_prev) / (1 - abar_t)); none on the last step
        return mean + (beta**0.5 * sigma_prev / sigma) * self.step_noise[i] if t_prev >= 0 else mean


class DPMSolver2M(Sampler):
    """DPM-Solver++(2M) (Lu et al. 2022, Alg. 2): multistep in lambda on x0 predictions.

    `previous_x0` is the x0 of the step before (None until the first step has run): the second-order
    update extrapolates from it.
    """

    def __init__(self, timesteps, step_noise):
        super().__init__(timesteps, step_noise)
        self.previous_x0 = None

    def step(self, i, x, x0, eps):
        t, t_prev, t_before = self.t_at(i), self.t_at(i + 1), self.t_at(i - 1)
        previous_x0, self.previous_x0 = self.previous_x0, x0
        if t_prev < 0:  # the last step lands on clean data: x = the (first-order) x0 estimate
            return x0
        alpha_prev, sigma_prev = alpha_sigma(t_prev)
        _, sigma = alpha_sigma(t)
        h = half_log_snr(t_prev) - half_log_snr(t)  # (1) step size in lambda
        if previous_x0 is None:  # (2) first step: first order, D = x0
            d = x0
        else:  # (3) second order: D = (1 + 1/2r) x0 - (1/2r) x0_before, r = h_before / h
            r = (half_log_snr(t) - half_log_snr(t_before)) / h
            d = (1 + 1 / (2 * r)) * x0 - (1 / (2 * r)) * previous_x0
        # (4) x_prev = (sigma_prev / sigma) x - alpha_prev (e^-h - 1) D
        return (sigma_prev / sigma) * x - alpha_prev * torch.expm1(torch.tensor(-h)).item() * d


# The samplers by name, in the order the app lists them; a new sampler is a class above and a line here.
SAMPLERS = {"ddim": DDIM, "ddpm": DDPM, "dpm++2m": DPMSolver2M}


def make_sampler(name, timesteps, step_noise):
    """A fresh `SAMPLERS[name]` over `timesteps` (see `Sampler`); ValueError for an unknown name."""
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler {name!r}; choose one of {list(SAMPLERS)}")
    return SAMPLERS[name](timesteps, step_noise)
