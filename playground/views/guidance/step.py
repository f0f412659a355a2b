"""One guided step opened up: at one step of a real guided trajectory, x_t, the two predictions ε_u and ε_c, the
label's direction ε_c − ε_u, the guided ε̂ and the x0 each implies, and the reference's `forward_with_cfg` written
out with this model's shapes.

The states come from `playground.sampling.sample_guided` (the run this step belongs to); the predictions from
the model's own forward on those states, both halves in one batch as the reference computes them.
"""

from dataclasses import dataclass
from types import MappingProxyType

import torch

from playground import plots
from playground.diffusion import DEFAULT_SAMPLER, DEFAULT_STEPS, alpha_sigma, predicted_x0, sampling_timesteps
from playground.inputs import MAX_SEED, as_float, as_int, fmt
from playground.model import DiTConfig
from playground.sampling import sample_guided
from playground.views.guidance.cfg import SCALE_RANGE

STEP_DEFAULTS = MappingProxyType({"label": 3, "seed": 0, "step": 4, "scale": 4.0})
DIFF_SCALE = "RdBu"  # diverging: blue negative, red positive, white zero
GRAY = [[0, "black"], [1, "white"]]
T_AXIS = "t (0 clean → 999 noise)"  # t increases to the right on every axis of t in the app
NO_NULL_CLASS = ("This model was trained without label dropout, so it has no null class and no unconditional "
                 "prediction ε_u: there is no guided step to open. Serve a model trained with label dropout.")


@dataclass(frozen=True)
class StepRequest:
    """One step to open: the digit, the seed of the run, the sampler step (1 = the first) and the scale s."""

    label: int
    seed: int
    step: int
    scale: float


def validate_step(label, seed, step, scale, num_classes=DiTConfig.num_classes, steps=DEFAULT_STEPS):
    """The request, checked; `ValueError` naming the field that is wrong."""
    return StepRequest(as_int(label, "digit", 0, num_classes - 1), as_int(seed, "seed", 0, MAX_SEED),
                       as_int(step, "step", 1, steps), as_float(scale, "guidance scale", *SCALE_RANGE))


def cannot_open(model):
    """Why this page has nothing to show for `model` (in plain words), or None when it can open a step."""
    return NO_NULL_CLASS if model.null_class is None else None


def trajectory(model, label, seed, scale, steps=DEFAULT_STEPS):
    """`(timesteps, x_t [steps, 1, 28, 28])`: the states a guided sample passes through, before each step."""
    states = []
    sample_guided(model, [label], [scale], steps=steps, seed=seed, sampler=DEFAULT_SAMPLER,
                  on_step=lambda d: states.append(d["x_t"][0, 0].clone()))
    return sampling_timesteps(steps), torch.stack(states)


@torch.no_grad()
def both_predictions(model, x, timesteps, label):
    """eps_c and eps_u `[steps, 1, 28, 28]` at every state, in one forward of the doubled batch [x; x]."""
    n = len(x)
    t = torch.as_tensor(timesteps * 2)
    y = torch.tensor([label] * n + [model.null_class] * n)
    out = model(torch.cat([x, x]), t, y)[:, : model.config.in_channels]
    return out[:n], out[n:]


def forward_with_cfg_trace(model, label, t, scale):
    """The reference's `forward_with_cfg`, line by line, with this model's shapes and numbers."""
    c = model.config
    img = f"{c.in_channels}, {c.input_size}, {c.input_size}"
    return "\n".join([
        f"**`forward_with_cfg`, as the reference writes it, for one sample at t = {t}, s = {fmt(scale)}:**",
        "```text",
        f"half = x[: len(x) // 2]            [1, {img}]   the sampler carries a doubled batch",
        f"combined = cat([half, half])        [2, {img}]",
        f"y = [{label}, {model.null_class}]                        the digit, then the null class (row "
        f"{model.null_class} of the label table)",
        f"model_out = forward(combined, t, y) [2, {model.out_channels}, {c.input_size}, {c.input_size}]"
        "   ONE forward for both predictions",
        f"eps, rest = model_out[:, :3], model_out[:, 3:]   here [2, {c.in_channels}, ...] and nothing",
        f"cond_eps, uncond_eps = split(eps, 1)       [1, {img}] each",
        f"half_eps = uncond_eps + {fmt(scale)} * (cond_eps - uncond_eps)",
        f"eps = cat([half_eps, half_eps])     [2, {img}]   both halves continue as the same guided sample",
        "return cat([eps, rest], dim=1)",
        "```",
        "The reference model predicts 8 channels (4 latent noise channels and, with `learn_sigma`, 4 variance "
        "channels). `model_out[:, :3]` guides only the first **3** of the 4 noise channels; its own comment says all "
        "could be guided and the 3 are kept for exact reproducibility of its results (diffusers' DiTPipeline guides "
        "all). The variance channels sit in `rest` and are never guided: guidance moves the mean, the predicted "
        f"variance comes from the model. This model has {c.in_channels} pixel channel and `learn_sigma="
        f"{c.learn_sigma}`, so its whole output is guided.",
    ])


def _symmetric(values):
    bound = float(values.abs().max()) or 1.0
    return -bound, bound


def guided_step_view(model, request):
    """x_t, eps_u, eps_c, their difference, the guided eps and the x0 each implies at one step of a real run;
    the norm of the label's direction along the run; a summary; the reference's code with this model's shapes.
    `ValueError` (in plain words) for a model without a null class."""
    if (reason := cannot_open(model)) is not None:
        raise ValueError(reason)
    label, scale = request.label, request.scale
    timesteps, states = trajectory(model, label, request.seed, scale)
    eps_c, eps_u = both_predictions(model, states, timesteps, label)
    k = request.step - 1
    t, x_t = timesteps[k], states[k, 0]
    alpha, sigma = alpha_sigma(t)
    direction = eps_c[k, 0] - eps_u[k, 0]
    guided = eps_u[k, 0] + scale * direction
    x0 = {name: predicted_x0(x_t, e, t) for name, e in (("ε_u", eps_u[k, 0]), ("ε_c", eps_c[k, 0]),
                                                         (f"ε̂ (s={fmt(scale)})", guided))}
    eps_range = _symmetric(torch.stack([eps_u[k, 0], eps_c[k, 0], guided]))
    panels = [("x_t", x_t, _symmetric(x_t), GRAY), ("ε_u (null label)", eps_u[k, 0], eps_range, DIFF_SCALE),
              ("ε_c (digit)", eps_c[k, 0], eps_range, DIFF_SCALE),
              (f"ε_c − ε_u (±{_symmetric(direction)[1]:.2f})", direction, _symmetric(direction), DIFF_SCALE),
              (f"ε̂ = ε_u + {fmt(scale)}(ε_c − ε_u)", guided, eps_range, DIFF_SCALE)]
    panels.append(None)
    for name, value in x0.items():
        panels.append((f"x0 from {name}<br>raw [{value.min():.1f}, {value.max():.1f}]", value, _symmetric(value), GRAY))
    for name, value in x0.items():  # two-line captions: one line would run into the next panel's at 1280 px
        panels.append((f"x0 from {name}<br>clipped to [−1, 1]", value.clamp(-1, 1), (-1, 1), GRAY))
    # Six columns: the eps row leaves its last cell empty; the raw and the clipped x0 share the second row.
    fig = plots.image_panels(panels, 6, f"Step {request.step} of {len(timesteps)} (t = {t}), digit {label}",
                             f"σ_t = √(1−ᾱ) = {sigma:.3f}, √ᾱ = {alpha:.3f}; ε panels share one colour scale "
                             "(blue −, red +) except the difference (its own, ± shown); raw x0 on its own range",
                             height=560)
    norms = (eps_c - eps_u).flatten(1).norm(dim=1).numpy()
    clipped_share = float((x0[list(x0)[2]].abs() > 1).float().mean())
    summary = (
        f"At t = {t} the label's direction ε_c − ε_u has norm **{norms[k]:.2f}** (ε_u's is "
        f"{eps_u[k].norm():.2f}); along this trajectory it is largest at t = {timesteps[int(norms.argmax())]} "
        f"({norms.max():.2f}) and smallest at t = {timesteps[int(norms.argmin())]} ({norms.min():.2f}). "
        f"The guided ε̂ implies an x0 with **{100 * clipped_share:.0f}%** of its pixels outside [−1, 1]; the sampler "
        "clips them back into the data range and re-derives ε from the clipped x0, as the reference DDIM does. What "
        "the clip changes over a whole run is measured in the guidance lab's \"no clipping\" column.")
    return {"panels": fig, "norms": _norm_figure(timesteps, norms, k, label),
            "trace": forward_with_cfg_trace(model, label, t, scale), "summary": summary}


def _norm_figure(timesteps, norms, k, label):
    data = [{"type": "scatter", "mode": "lines+markers", "x": timesteps, "y": norms.round(4).tolist(),
             "name": "‖ε_c − ε_u‖", "hovertemplate": "t = %{x}<br>‖ε_c − ε_u‖ = %{y:.3f}<extra></extra>"},
            {"type": "scatter", "mode": "markers", "x": [timesteps[k]], "y": [float(norms[k])], "name": "this step",
             "marker": {"size": 14, "color": "#d62728"}}]
    return plots.figure(data, plots.layout(
        f"Where in the schedule the label matters (digit {label})", "‖ε_c − ε_u‖ over the 784 pixels at each step "
        "of this trajectory", height=360, xaxis={"title": T_AXIS},
        yaxis={"title": "‖ε_c − ε_u‖", "rangemode": "tozero"}, showlegend=False))
