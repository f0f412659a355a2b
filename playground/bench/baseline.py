"""The textbook CFG loop, kept apart from the production sampler: the baseline `python -m playground.bench` times
the batched sweep against, and the tests compare its images with.
"""

import torch

from playground.diffusion import make_sampler, row_noise, sampling_timesteps
from playground.guidance import Guidance, classifier_free_guidance
from playground.sampling import denoised


@torch.no_grad()
def naive_sweep(model, labels, scales, steps, seed, sampler):
    """The textbook loop the batched sweep is measured against, `[len(scales), len(labels), C, H, W]`.

    One scale at a time, and at every step the conditional and the unconditional prediction as two
    forwards of `len(labels)` images each; the same noise, sampler steps and clipping as the sweep.
    """
    cfg, device = model.config, next(model.parameters()).device
    shape, timesteps = (cfg.in_channels, cfg.input_size, cfg.input_size), sampling_timesteps(steps)
    noises = [row_noise(seed, row, shape, steps) for row in range(len(labels))]
    y = torch.as_tensor(labels, dtype=torch.long, device=device)
    null = torch.full_like(y, model.null_class)
    columns = []
    for scale in scales:
        x = torch.stack([start for start, _ in noises]).to(device)
        stepper = make_sampler(sampler, timesteps, torch.stack([per_step for _, per_step in noises], 1).to(device))
        for i, t in enumerate(timesteps):
            t_batch = torch.full((len(x),), t, device=device)
            eps_cond, eps_uncond = model(x, t_batch, y), model(x, t_batch, null)
            eps = classifier_free_guidance(eps_cond, eps_uncond, scale)
            x0, eps = denoised(x, eps, eps_cond, t, Guidance())
            x = stepper.step(i, x, x0, eps)
        columns.append(x.clamp(-1, 1).cpu())
    return torch.stack(columns)
