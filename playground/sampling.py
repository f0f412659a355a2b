"""The batched sampling loop: every guidance scale of a sweep advances together, one forward per step.

The per-step maths lives elsewhere: the samplers and x0 <-> eps in `playground.diffusion`, the
guidance combines in `playground.guidance`. This loop only decides which predictions each step needs,
batches them into one forward, and calls the two.
"""

import torch

from playground.diffusion import (
    DEFAULT_SAMPLER,
    alpha_sigma,
    implied_eps,
    make_sampler,
    predicted_x0,
    row_noise,
    sampling_timesteps,
)
from playground.guidance import (
    Guidance,
    classifier_free_guidance,
    classifier_guidance,
    in_interval,
    log_prob_gradient,
    rescale_guided,
)

PRECISIONS = ("fp32", "bf16")


def denoised(x, eps, eps_cond, t, guidance):
    """x0 implied by the guided eps, rescaled and clipped per `guidance`, and the eps consistent with it."""
    if guidance.rescale and guidance.rescale_space == "eps":
        eps = rescale_guided(eps, eps_cond, guidance.rescale)
    x0 = predicted_x0(x, eps, t)
    if guidance.rescale and guidance.rescale_space == "x0":
        x0 = rescale_guided(x0, predicted_x0(x, eps_cond, t), guidance.rescale)
    if guidance.clip:
        # Clip x0 to the data range, then make eps consistent with the clipped x0 (as the reference DDIM
        # does), so the step moves towards the x0 it clipped to. Unclipped strong guidance leaves grey speckle.
        x0 = x0.clamp(-1, 1)
    if guidance.clip or (guidance.rescale and guidance.rescale_space == "x0"):
        eps = implied_eps(x, x0, t)
    return x0, eps


def starting_noise(seed, n_rows, n_scales, shape, steps, device):
    """`(x_T [S*N, C, H, W], per-step noise [steps, S*N, C, H, W])`, scale-major: row i's noise (`row_noise`) is
    the same at every scale."""
    noises = [row_noise(seed, row, shape, steps) for row in range(n_rows)]
    x = torch.stack([start for start, _ in noises]).repeat(n_scales, 1, 1, 1).to(device)
    step_noise = torch.stack([per_step for _, per_step in noises], 1).repeat(1, n_scales, 1, 1, 1).to(device)
    return x, step_noise


@torch.no_grad()
def sample_guided(model, labels, scales, *, steps, seed, sampler=DEFAULT_SAMPLER, precision="fp32",
                  guidance=None, callback=None, on_step=None):
    """Guided samples for every (scale, label) pair: `[len(scales), len(labels), C, H, W]` in [-1, 1].

    One model forward per step serves every scale and row: the conditional inputs (label y) and
    those guided away from (null label, negative class) together; s = 0 needs no conditional and
    s = 1 no other prediction, so those are not computed. Row i starts from the same noise at every
    scale, so the first step computes each row once per half, whatever the scales (later steps batch
    them: on some CPUs a column's last bits move with its batch). `guidance` (default: constant CFG, clipped)
    is checked against the model first. `callback(step, steps, x0 [S, N, C, H, W])` after each step;
    `on_step(dict)` also gets i, t, x_t, eps_cond, eps_other, x0_guided (the x0 of the guided eps, before any
    rescale or clip) and the eps and x0 the sampler steps with (for the views that open a step).
    Runs on the model's device; the noise is drawn on the CPU (the same on every device) and the
    samples come back on the CPU.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    guidance = guidance or Guidance()
    guidance.check(model, scales)
    cfg = model.config
    shape = (cfg.in_channels, cfg.input_size, cfg.input_size)
    n_scales, n_rows = len(scales), len(labels)
    timesteps = sampling_timesteps(steps)
    device = next(model.parameters()).device
    x, step_noise = starting_noise(seed, n_rows, n_scales, shape, steps, device)
    stepper = make_sampler(sampler, timesteps, step_noise)

    y = torch.as_tensor(labels, dtype=torch.long).repeat(n_scales).to(device)
    s = torch.as_tensor(scales, dtype=torch.float32).repeat_interleave(n_rows).to(device).view(-1, 1, 1, 1)
    y_other = guidance.other_labels(model, y)
    computes_other = guidance.guide_model is not None or y_other is not None
    model.eval()

    def predict(net, x_in, y_in, t):
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
            return net(x_in, torch.full((len(x_in),), t, device=device), y_in)[:, : cfg.in_channels].float()

    def pair(x, t, need_cond, need_other):
        """(eps_c, eps_o) over all rows; rows that do not need one hold 0 (the combine multiplies it away exactly)."""
        eps_cond, eps_other = torch.zeros_like(x), torch.zeros_like(x)
        if guidance.guide_model is None:  # both halves from the main model, in one forward
            # y_other is None only for a model without a null row, where `check` allowed no scale that needs it.
            other = (x[need_other], y_other[need_other]) if y_other is not None else (x[:0], y[:0])
            halves = [(x[need_cond], y[need_cond]), other]
            x_in, y_in = (torch.cat(parts) for parts in zip(*halves, strict=True))
            eps_cond[need_cond], eps_other[need_other] = predict(model, x_in, y_in, t).split(
                [len(h[0]) for h in halves])
        else:  # autoguidance: eps_o from the weaker model, same labels
            eps_cond[need_cond] = predict(model, x[need_cond], y[need_cond], t)
            eps_other[need_other] = predict(guidance.guide_model, x[need_other], y[need_other], t)
        return eps_cond, eps_other

    for i, t in enumerate(timesteps):
        guided = in_interval(t, guidance.interval)
        s_t = s if guided else torch.ones_like(s)
        if i == 0:  # every scale starts from the same noise: predict each row once, then share it
            row_mask = torch.arange(len(x), device=device) < n_rows  # the first scale's rows
            eps_cond, eps_other = pair(x, t, row_mask, row_mask & computes_other)
            eps_cond, eps_other = (e[:n_rows].repeat(n_scales, 1, 1, 1) for e in (eps_cond, eps_other))
        else:
            need_cond = (s_t != 0).flatten() | bool(guidance.rescale and guided)
            need_other = (s_t != 1).flatten()
            eps_cond, eps_other = pair(x, t, need_cond, need_other)
        eps = classifier_free_guidance(eps_cond, eps_other, s_t)
        if guidance.uses_classifier and guided:
            grad = log_prob_gradient(guidance.classifier, x, t, y)
            eps = classifier_guidance(eps, grad, guidance.classifier_scale, alpha_sigma(t)[1])
        if on_step is not None:  # the x0 the guidance alone implies, before `denoised` rescales and clips it
            x0_guided = predicted_x0(x, eps, t)
        x0, eps = denoised(x, eps, eps_cond, t, guidance)
        if on_step is not None:
            view = lambda v: v.view(n_scales, n_rows, *shape)  # noqa: E731
            on_step({"i": i, "t": t, "x_t": view(x), "eps_cond": view(eps_cond), "eps_other": view(eps_other),
                     "eps": view(eps), "x0_guided": view(x0_guided), "x0": view(x0)})
        x = stepper.step(i, x, x0, eps)
        if callback is not None:
            callback(i + 1, steps, x0.view(n_scales, n_rows, *shape))
    return x.clamp(-1, 1).view(n_scales, n_rows, *shape).cpu()
