"""`playground.views.inside.decided`: interventions are hooks, and with nothing to change they change nothing."""

import threading

import pytest
import torch

from playground.diffusion import sampling_timesteps
from playground.sampling import sample_guided
from playground.views.inside import decided as cf
from playground.views.inside import trace as tr
from playground.views.inside.decided import Intervention

STEPS = cf.STEPS


def plain(model, label, seed=3, samples=2, scale=4.0):
    return sample_guided(model, [label] * samples, [scale], steps=STEPS, seed=seed, sampler=cf.SAMPLER)[0]


def no_hooks_left(model):
    return not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


@pytest.mark.parametrize("intervention", [None, Intervention(), Intervention(null_blocks=()),
                                          Intervention(zero_gate_blocks=()), Intervention(switch_to=5,
                                                                                           switch_at=STEPS)])
def test_nothing_to_change_changes_nothing(random_dit, intervention):
    out = cf.run(random_dit, 2, 3, 2, 4.0, intervention)
    assert torch.equal(out["final"], plain(random_dit, 2))  # bit for bit the plain run (and k = steps: label 2's)
    assert out["x0"].shape == (STEPS, 2, 1, 28, 28)
    assert no_hooks_left(random_dit)


def test_switching_at_step_zero_is_the_new_labels_run(random_dit):
    out = cf.run(random_dit, 2, 3, 2, 4.0, Intervention(switch_to=7, switch_at=0))
    assert torch.equal(out["final"], plain(random_dit, 7))
    middle = cf.run(random_dit, 2, 3, 2, 4.0, Intervention(switch_to=7, switch_at=4))["final"]
    assert not torch.equal(middle, plain(random_dit, 7)) and not torch.equal(middle, plain(random_dit, 2))


def test_hooks_do_what_they_say(random_dit):
    ts = sampling_timesteps(STEPS)
    x = torch.randn(2, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    t = torch.full((2,), float(ts[3]))
    y = torch.tensor([4, random_dit.null_class])
    with torch.no_grad():
        cond_c = random_dit.conditioning(t, y)
        null_c = random_dit.conditioning(t, torch.full_like(y, random_dit.null_class))
        with cf.intervened(random_dit, Intervention(null_blocks=(1,), zero_gate_blocks=(0,)), ts):
            rec = tr.trace_forward(random_dit, x, t, y)
        b0, b1 = rec["blocks"]
        assert torch.equal(b0["c"], cond_c) and torch.equal(b0["x_out"], b0["x_in"])  # gates zeroed: identity
        assert torch.equal(b1["c"], null_c)  # the conditional row got the null label, in this block only
        with cf.intervened(random_dit, Intervention(t_constant=999), ts):
            lied = tr.trace_forward(random_dit, x, t, y)
        assert torch.equal(lied["t_emb"], random_dit.t_embedder(torch.full((2,), 999.0)))
        with cf.intervened(random_dit, Intervention(t_offset=900), ts):
            clipped = tr.trace_forward(random_dit, x, t, y)
        assert torch.equal(clipped["t_emb"], random_dit.t_embedder(torch.full((2,), 999.0)))  # 571 + 900 -> 999
    assert no_hooks_left(random_dit)


def test_hooks_leave_other_threads_forwards_alone(random_dit):
    """The app shares one model: a request's interventions and traces must not touch a forward run meanwhile by
    another request, in another thread (the load test caught a trace recording a concurrent sweep's tensors)."""
    ts = sampling_timesteps(STEPS)
    x = torch.randn(3, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    t, y = torch.full((3,), float(ts[2])), torch.tensor([1, 2, 3])
    recorded, seen = [], {}

    def other_request():
        with torch.no_grad():
            seen["out"] = random_dit(x, t, y)

    with torch.no_grad():
        untouched = random_dit(x, t, y)
        with cf.intervened(random_dit, Intervention(t_constant=999, zero_gate_blocks=(0, 1)), ts), \
                tr.hooked([(random_dit.register_forward_hook, lambda module, args, out: recorded.append(len(out)))]):
            other = threading.Thread(target=other_request)
            other.start()
            other.join()
            here = random_dit(x, t, y)
    assert torch.equal(seen["out"], untouched)  # the other thread's forward ran as if no hook were there
    assert not torch.equal(here, untouched)  # while this thread's own forward was intervened on
    assert recorded == [3]  # and recorded: once, this thread's own


def test_hooks_are_removed_after_an_error(random_dit):
    with pytest.raises(RuntimeError), cf.intervened(random_dit, Intervention(zero_gate_blocks=(0, 1)),
                                                    sampling_timesteps(STEPS)):
        raise RuntimeError("boom")
    assert no_hooks_left(random_dit)


def test_decided_step():
    reads = [[8, 8], [8, 8], [3, 8], [8, 3], [3, 3], [3, 3]]  # k = 0..5
    assert cf.decided_step(reads, 3) == (4, [4, 3])
    assert cf.decided_step([[3], [3]], 3) == (0, [0])
    assert cf.decided_step([[8, 3], [8, 5]], 3) == (None, [None, None])


def test_runs_are_deterministic(random_dit):
    a = cf.run(random_dit, 1, 9, 2, 3.0, Intervention(null_blocks=(0,)))
    b = cf.run(random_dit, 1, 9, 2, 3.0, Intervention(null_blocks=(0,)))
    assert torch.equal(a["final"], b["final"]) and torch.equal(a["x0"], b["x0"])


@pytest.mark.parametrize("experiment", cf.EXPERIMENTS)
def test_view_answers_each_experiment(random_dit, experiment):
    args = cf.validate_counterfactual(experiment, 3, 8, 0, 1, 4.0, "offset", 300, "null label", "0")
    calls = []
    image, fig, summary = cf.counterfactual_view(random_dit, *args, judge=None,
                                                 progress=lambda value, desc=None: calls.append(desc))
    assert image.width > image.height and calls
    assert summary
    if experiment == "switch the label":
        assert image.width > 9 * 64  # one column per k = 0..8


def test_view_with_the_judge(random_dit):
    from playground.judge import load_judge

    args = cf.validate_counterfactual("switch the label", 3, 8, 0, 2, 4.0, "offset", 0, "null label", "")
    _, fig, summary = cf.counterfactual_view(random_dit, *args, judge=load_judge())
    assert "The judge reads" in summary and fig.data[0].type == "heatmap"
    assert fig.data[0].z.shape == (2, STEPS + 1)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("swap", 3, 8, 0, 4, 4, "offset", 300, "null label", ""), "Unknown experiment"),
        (("switch the label", 3, 3, 0, 4, 4, "offset", 300, "null label", ""), "must differ"),
        (("switch the label", 10, 3, 0, 4, 4, "offset", 300, "null label", ""), "class must be between 0 and 9"),
        (("cut a route", 3, 8, 0, 9, 4, "offset", 300, "null label", ""), "samples must be between 1 and 8"),
        (("cut a route", 3, 8, 0, 4, 0.5, "offset", 300, "null label", ""), "guidance scale"),
        (("lie about t", 3, 8, 0, 4, 4, "offset", 1000, "null label", ""), "t offset must be between -999 and 999"),
        (("lie about t", 3, 8, 0, 4, 4, "constant", -1, "null label", ""), "t constant must be between 0 and 999"),
        (("lie about t", 3, 8, 0, 4, 4, "sideways", 1, "null label", ""), "Unknown t mode"),
        (("cut a route", 3, 8, 0, 4, 4, "offset", 0, "null label", "7"), "outside the allowed range"),
        (("cut a route", 3, 8, 0, 4, 4, "offset", 0, "null label", "1.5"), "whole numbers"),
        (("cut a route", 3, 8, 0, 4, 4, "offset", 0, "null label", "one"), "not a number"),
        (("cut a route", 3, 8, 0, 4, 4, "offset", 0, "snip", "1"), "Unknown way to cut"),
    ],
)
def test_counterfactual_validation(args, message):
    with pytest.raises(ValueError, match=message):
        cf.validate_counterfactual(*args)


def test_validation_cleans_the_blocks():
    out = cf.validate_counterfactual("cut a route", 3, 8, 0, 4, 4, "offset", 0, "zero gates", "2, 0 2")
    assert out[-1] == (0, 2) and out[-2] == "zero gates"
    assert cf.validate_counterfactual("cut a route", 3, 8, 0, 4, 4, "offset", 0, "zero gates", " ")[-1] == ()
    with pytest.raises(ValueError, match="no null class"):
        cf.validate_counterfactual("cut a route", 3, 8, 0, 4, 1, "offset", 0, "null label", "0", has_null=False)
