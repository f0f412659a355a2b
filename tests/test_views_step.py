"""One guided step opened up: the panels against the model's own predictions and the sampler's step, the request's
checks, and the shipped companions (with and without a null class) served as the model."""

import numpy as np
import pytest
import torch
from view_helpers import small_dit

from playground.assets import COMPANIONS
from playground.checkpoint import load_pretrained
from playground.diffusion import ALPHAS_CUMPROD, DEFAULT_STEPS, row_noise, sampling_timesteps
from playground.sampling import sample_guided
from playground.views.guidance import step as view
from playground.views.guidance.step import StepRequest


def x0_formula(x, eps, t):
    """x0 = (x_t − sqrt(1 − abar) eps) / sqrt(abar), written here from the schedule alone."""
    abar = float(ALPHAS_CUMPROD[t])
    return (x - (1 - abar) ** 0.5 * eps) / abar**0.5


def heatmaps(fig):
    return [np.array(trace["z"]) for trace in fig.to_dict()["data"]]


@pytest.fixture(scope="module")
def companions():
    return {rate: load_pretrained(path) for rate, path in COMPANIONS.items()}


def test_the_step_is_the_real_trajectory_and_its_predictions(random_dit):
    timesteps, states = view.trajectory(random_dit, 4, 3, 2.0)
    assert timesteps == sampling_timesteps(DEFAULT_STEPS) and states.shape == (DEFAULT_STEPS, 1, 28, 28)
    torch.testing.assert_close(states[0], row_noise(3, 0, (1, 28, 28), DEFAULT_STEPS)[0])  # step 1 sees pure noise
    eps_c, eps_u = view.both_predictions(random_dit, states, timesteps, 4)
    k = 3
    with torch.no_grad():
        alone_c = random_dit(states[k:k + 1], torch.tensor([timesteps[k]]), torch.tensor([4]))
        alone_u = random_dit(states[k:k + 1], torch.tensor([timesteps[k]]), torch.tensor([random_dit.null_class]))
    torch.testing.assert_close(eps_c[k:k + 1], alone_c, atol=1e-5, rtol=0)
    torch.testing.assert_close(eps_u[k:k + 1], alone_u, atol=1e-5, rtol=0)
    out = view.guided_step_view(random_dit, StepRequest(label=4, seed=3, step=k + 1, scale=2.0))
    panels = heatmaps(out["panels"])
    guided = eps_u[k, 0] + 2.0 * (eps_c[k, 0] - eps_u[k, 0])
    np.testing.assert_allclose(panels[4], guided.numpy(), atol=1e-4)  # the fifth panel is the guided eps
    np.testing.assert_allclose(panels[5], x0_formula(states[k, 0], eps_u[k, 0], timesteps[k]).numpy(), atol=1e-4)
    np.testing.assert_allclose(panels[7], x0_formula(states[k, 0], guided, timesteps[k]).numpy(), atol=1e-4)
    np.testing.assert_allclose(panels[10], x0_formula(states[k, 0], guided, timesteps[k]).clamp(-1, 1).numpy(),
                               atol=1e-4)
    norms = out["norms"].to_dict()["data"][0]["y"]
    np.testing.assert_allclose(norms, (eps_c - eps_u).flatten(1).norm(dim=1).numpy(), atol=1e-3)
    assert f"norm **{norms[k]:.2f}**" in out["summary"]
    xaxis = out["norms"].layout.xaxis  # t increases to the right, as on every axis of t in the app
    assert xaxis.autorange in (None, True) and xaxis.title.text == "t (0 clean → 999 noise)"
    # one step cannot show what the clip does to a run: the summary points to where it is measured, no claim
    assert "saturat" not in out["summary"] and "the guidance lab's \"no clipping\" column" in out["summary"]


def test_the_opened_x0_is_the_one_the_sampler_stepped_from(companions):
    model, request = companions["0.5"], StepRequest(label=7, seed=2, step=5, scale=3.0)
    seen = []
    sample_guided(model, [7], [3.0], steps=DEFAULT_STEPS, seed=2, on_step=lambda d: seen.append(d["x0_guided"]))
    panels = heatmaps(view.guided_step_view(model, request)["panels"])
    np.testing.assert_allclose(panels[7], seen[request.step - 1][0, 0, 0].numpy(), atol=2e-4)


def test_the_trace_names_this_models_null_row_and_shapes(companions):
    trace = view.forward_with_cfg_trace(companions["0.1"], 3, 578, 4.0)
    assert "y = [3, 10]" in trace and "row 10 of the label table" in trace
    assert "combined = cat([half, half])        [2, 1, 28, 28]" in trace and "half_eps = uncond_eps + 4 *" in trace


def test_a_model_without_a_null_class_is_refused_in_plain_words(companions):
    for model in (small_dit(0.0, 1), companions["0"]):
        assert view.cannot_open(model) == view.NO_NULL_CLASS
        with pytest.raises(ValueError, match="no null class and no unconditional prediction"):
            view.guided_step_view(model, StepRequest(1, 0, 1, 2.0))
    assert view.cannot_open(companions["0.1"]) is None


def test_the_request_is_checked_once_and_by_name():
    assert view.validate_step("3", "0", "8", "4.5") == StepRequest(label=3, seed=0, step=8, scale=4.5)
    for args, field in (((3, 0, 9, 4.0), "step"), ((3, 0, 0, 4.0), "step"), ((3, 0, 4, 31), "guidance scale"),
                        ((3, -1, 4, 4.0), "seed"), (("x", 0, 4, 4.0), "digit")):
        with pytest.raises(ValueError, match=f"^{field}"):
            view.validate_step(*args)
    with pytest.raises(ValueError, match="digit must be between 0 and 3"):
        view.validate_step(4, 0, 4, 4.0, num_classes=4)
    with pytest.raises(AttributeError):  # frozen: a view cannot change what was checked
        view.validate_step(3, 0, 4, 4.0).step = 99
