"""`playground.views.inside.decided`: interventions are hooks, with nothing to change they change nothing, and each
experiment changes what it says it changes."""

import threading

import numpy as np
import pytest
import torch

from playground.diffusion import sampling_timesteps
from playground.model import DiT
from playground.sampling import sample_guided
from playground.views.inside import cuts
from playground.views.inside import decided as cf
from playground.views.inside import decided_figures as figs
from playground.views.inside import trace as tr
from playground.views.inside.decided import CounterfactualRequest, Intervention

STEPS = cf.STEPS


def plain(model, label, seed=3, samples=2, scale=4.0):
    return sample_guided(model, [label] * samples, [scale], steps=STEPS, seed=seed, sampler=cf.SAMPLER)[0]


def quiet(value, desc=None):
    pass


@pytest.fixture(scope="module")
def no_null_dit():
    """A small DiT trained (here: initialised) without label dropout: no null row, like the p = 0 companion."""
    torch.manual_seed(1)
    model = DiT(hidden_size=32, depth=2, num_heads=2, class_dropout_prob=0.0)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.normal_(0, 0.05)
    assert model.null_class is None
    return model.eval()


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


def request(experiment, **changes):
    values = {**cf.DEFAULTS, "experiment": experiment, "samples": 2, "cut_kind": "zero gates", "cut_blocks": ""}
    return cf.validate_counterfactual(**(values | changes))


@pytest.mark.parametrize("experiment", cf.EXPERIMENTS)
def test_view_answers_each_experiment(random_dit, experiment):
    """The view's picture is exactly the experiment's runs, and they change what the experiment changes: a switch
    at step 0 is a plain run of the other digit, at the last step a plain run of the digit drawn, in between
    neither; cutting no block changes nothing, cutting any block changes the samples; lying by an offset of 0
    changes nothing, by 300 every step but the first (999 + 300 is clipped back to 999)."""
    r = request(experiment)
    calls = []
    image, _, summary = cf.counterfactual_view(random_dit, r, progress=lambda value, desc=None: calls.append(desc))
    if experiment == "switch the label":
        finals = cf.switch_runs(random_dit, r, quiet)
        assert image.tobytes() == cf.switch_picture(finals).tobytes() and image.width > (STEPS + 1) * 64
        assert len(finals) == len(calls) == STEPS + 1
        assert torch.equal(finals[0], plain(random_dit, 8, seed=0))  # k = 0: the other digit from the start
        assert torch.equal(finals[-1], plain(random_dit, 3, seed=0))  # k = STEPS: never switched
        assert not any(torch.equal(f, finals[0]) or torch.equal(f, finals[-1]) for f in finals[1:-1])
    elif experiment == "cut a route":
        runs, control = cf.cut_runs(random_dit, r, quiet), cf.control_runs(random_dit, r, quiet)
        assert image.tobytes() == cf.cut_picture(runs, control).tobytes()
        assert list(runs) == list(control) == ["plain", "cut none", "block 0", "block 1", "all 2"]
        assert len(calls) == 10  # zeroing gates: each cut again at s = 0
        assert torch.equal(runs["plain"], plain(random_dit, 3, seed=0)) and torch.equal(runs["cut none"], runs["plain"])
        assert not any(torch.equal(runs[n], runs["plain"]) for n in ("block 0", "block 1", "all 2"))
        for kind in cf.CUT_KINDS:
            cut = cf.cut_runs(random_dit, request(experiment, cut_kind=kind, cut_blocks="1"), quiet)
            assert torch.equal(cut["cut 1"], cut["block 1"]) and not torch.equal(cut["cut 1"], cut["plain"])
    else:
        honest, lied = cf.lie_runs(random_dit, r, quiet)  # DEFAULTS: t' = t + 300
        assert image.tobytes() == cf.lie_picture(honest, lied, "t' = t + 300").tobytes() and len(calls) == 2
        assert torch.equal(honest["final"], plain(random_dit, 3, seed=0))
        assert torch.equal(lied["x0"][0], honest["x0"][0])  # at t = 999 the lie is clipped to the truth
        assert not any(torch.equal(lied["x0"][i], honest["x0"][i]) for i in range(1, STEPS))
        assert not torch.equal(lied["final"], honest["final"])
        assert "differ from the plain run's by RMS 0.00 at the first step" in summary
        same, told = cf.lie_runs(random_dit, request(experiment, t_value=0), quiet)
        assert torch.equal(told["x0"], same["x0"]) and torch.equal(told["final"], same["final"])


def test_zero_gates_are_compared_with_unconditional_samples(random_dit):
    """Zeroing gates removes whole blocks, so the view runs the same cuts at s = 0 (the null label, the same noise)
    and shows them beside the conditional ones: in the picture, in the figure (grey bars), and in a sentence
    computed from both, which reads the cut as "needed", never as "carries the class". A null-label cut has no
    control: it leaves unconditional samples untouched, bit for bit."""
    r = request("cut a route", cut_blocks="1")
    runs, control = cf.cut_runs(random_dit, r, quiet), cf.control_runs(random_dit, r, quiet)
    unconditional = sample_guided(random_dit, [3] * 2, [0.0], steps=STEPS, seed=0, sampler=cf.SAMPLER)[0]
    assert torch.equal(control["plain"], unconditional)
    assert not torch.equal(control["block 0"], control["plain"])  # the cut changes unconditional samples too
    image, figure, summary = cf.counterfactual_view(random_dit, r)
    assert image.tobytes() == cf.cut_picture(runs, control).tobytes()  # a row per sample, then one per control
    assert image.height > cf.cut_picture(runs).height
    change, without = cuts.rms_per_sample(runs), cuts.rms_per_sample(control)
    for b in (0, 1):
        assert f"{b}: {cuts.with_se(change[f'block {b}'] - without[f'block {b}'], sign='+')}" in summary
    bars = {trace.name: trace for trace in figure.data if trace.type == "bar"}
    assert list(bars) == ["3s at s = 4", "unconditional (s = 0)"]
    np.testing.assert_allclose(bars["unconditional (s = 0)"].y, [without[n].mean() for n in runs], rtol=1e-6)
    assert "not which carry the class" in summary and "so they carry the class" not in summary
    assert figure.layout.title.text == "<b>Zero blocks' gates: which blocks do the samples need?</b>"
    null = request("cut a route", cut_kind="null label", cut_blocks="1")
    assert cf.control_runs(random_dit, null, quiet) is None
    assert all(torch.equal(f, unconditional) for f in cf.cut_runs(random_dit, null, quiet, scale=0.0).values())


def test_the_control_sentence_follows_the_paired_numbers():
    """Per block, with the label minus without, paired over the samples: within 2 SE -> "about as much", else more
    one way; with one sample, no comparison at all."""
    singles = ["block 0", "block 1", "block 2"]
    change = {"plain": np.zeros(4), "block 0": np.array([0.9, 0.8, 0.9, 0.8]),
              "block 1": np.array([0.5, 0.6, 0.4, 0.5]), "block 2": np.array([0.3, 0.2, 0.3, 0.2])}
    control = {"plain": np.zeros(4), "block 0": np.array([0.5, 0.4, 0.5, 0.4]),
               "block 1": np.array([0.6, 0.4, 0.5, 0.5]), "block 2": np.array([0.6, 0.5, 0.6, 0.5])}
    line = cuts.control_line(change, control, singles, 2, 4.0)
    assert "0: +0.40 ± 0.00, 1: +0.00 ± 0.07, 2: -0.30 ± 0.00" in line
    assert "Within 2 SE (about as much either way): block(s) 1; more with the label: 0; more without: 2." in line
    assert "RMS 0.45–0.55 and the 2s at s = 4 by 0.25–0.85 (means over 4 samples)" in line
    one = cuts.control_line({n: v[:1] for n, v in change.items()}, {n: v[:1] for n, v in control.items()},
                            singles, 2, 4.0)
    assert "not compared block by block" in one and "Within" not in one
    assert cuts.extremes(change, singles) == "; block 0 changes them most; block 2 changes them least"
    assert "within 2 SE of each other" in cuts.extremes({**change, "block 2": np.array([0.5, 0.6, 0.5, 0.4])}, singles)


@pytest.mark.parametrize("kind", cf.CUT_KINDS)
def test_only_the_null_label_cut_says_carries(kind):
    reads = {"plain": [3, 3], "cut 0": [3, 5], "block 0": [3, 5], "block 1": [3, 3], "all 2": [5, 5]}
    line = cuts.judge_line(reads, ["block 0", "block 1"], 3, "a 3", kind)
    assert "0: 1/2, 1: 2/2" in line and "some of these 2 samples" in line
    assert ("carry the class" in line) == (kind == "null label")
    assert ("the digit needs them" in line) == (kind == "zero gates")


def test_when_the_digit_is_decided_names_its_samples_and_scale_and_the_sampler():
    """The step is the latest over these samples at this s, said so; DPM-Solver++(2M)'s reuse of the step before's
    x0 is noted only for that sampler, and not when the step it would leak into is the last (which returns its x0)."""
    r = request("switch the label", scale=2.5)
    reads = [[8, 8], [8, 8], [3, 8], [8, 3], [3, 3], [3, 3], [3, 3], [3, 3], [3, 3]]  # decided by step 4
    line = cf.decided_line(reads, r, "dpm++2m")
    assert line.startswith("- **For these 2 samples, at s = 2.5, the digit is decided by step 4:**")
    assert "latest of the samples' own steps (4, 3)" in line
    assert "the x0 made with '3' at t = 571 still acts in the update at t = 428" in line
    assert "extrapolates" not in cf.decided_line(reads, r, "ddim")
    late = [[8, 8]] * 7 + [[3, 3], [3, 3]]  # decided by step 7: its update is the last one
    assert "decided by step 7" in cf.decided_line(late, r, "dpm++2m")
    assert "extrapolates" not in cf.decided_line(late, r, "dpm++2m")
    assert "for these 2 samples, at s = 2.5" in cf.decided_line([[8, 8]] * 9, r, "dpm++2m")


def test_view_with_the_judge(random_dit):
    from playground.judge import load_judge

    r = cf.validate_counterfactual("switch the label", 3, 8, 0, 2, 4.0, "offset", 0, "null label", "")
    _, fig, summary = cf.counterfactual_view(random_dit, r, judge=load_judge())
    assert "The judge reads" in summary and fig.data[0].type == "heatmap"
    assert fig.data[0].z.shape == (2, STEPS + 1)


def test_a_model_without_a_null_class_runs_unguided_and_cuts_by_gates(no_null_dit):
    """Its defaults and every demo it is offered are valid requests (s = 1, zero gates), and they run."""
    config = no_null_dit.config
    d = cf.fitted(cf.DEFAULTS, config, has_null=False)
    assert (d["scale"], d["cut_kind"], d["cut_blocks"]) == (1.0, "zero gates", "0, 1")  # depth 2: blocks 0, 1
    demos = cf.presets(config, has_null=False)
    assert "Which blocks carry the class? (null label)" not in demos and len(demos) == 5
    assert demos["Zero the gates of the last 2 blocks"]["cut_blocks"] == "0, 1"
    requests = [cf.validate_counterfactual(**values, config=config, has_null=False) for values in demos.values()]
    assert {r.scale for r in requests} == {1.0}
    r = cf.validate_counterfactual(**d, config=config, has_null=False)
    finals = cf.switch_runs(no_null_dit, r, quiet)
    assert torch.equal(finals[0], plain(no_null_dit, 8, seed=0, samples=4, scale=1.0))
    _, _, summary = cf.counterfactual_view(no_null_dit, cf.validate_counterfactual(
        **(d | {"experiment": "cut a route"}), config=config, has_null=False))
    assert "Cut a route (zero gates: the block adds nothing), 3s, s = 1" in summary and cuts.NO_CONTROL in summary
    for changes in ({"scale": 4.0}, {"experiment": "cut a route", "cut_kind": "null label"}):
        with pytest.raises(ValueError, match="This model has no null class"):
            cf.validate_counterfactual(**(d | changes), config=config, has_null=False)


def test_presets_fit_the_model():
    """DiT-Tiny/4 (6 blocks) gets the demos as written; a 4-block model gets its own last 3 blocks and a 4-class
    model classes it draws, the class to switch to kept apart from the one drawn."""
    tiny = cf.presets(DiT().config)
    assert tiny["Zero the gates of the last 3 blocks"]["cut_blocks"] == "3, 4, 5"
    assert tiny["When is a 3 decided? (3 → 8)"] == dict(cf.DEFAULTS)
    small = DiT(hidden_size=32, depth=4, num_heads=4, num_classes=4).config
    demos = cf.presets(small)
    assert demos["Zero the gates of the last 3 blocks"]["cut_blocks"] == "1, 2, 3"
    assert (demos["When is a 3 decided? (3 → 8)"]["label"], demos["When is a 3 decided? (3 → 8)"]["other_label"]) \
        == (3, 0)
    for values in tiny.values():
        assert isinstance(cf.validate_counterfactual(**values), CounterfactualRequest)
    for values in demos.values():
        assert isinstance(cf.validate_counterfactual(**values, config=small), CounterfactualRequest)


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
    assert out == CounterfactualRequest("cut a route", 3, 8, 0, 4, 4.0, "offset", 0, "zero gates", (0, 2))
    assert cf.validate_counterfactual("cut a route", 3, 8, 0, 4, 4, "offset", 0, "zero gates", " ").cut_blocks == ()
    with pytest.raises(ValueError, match="no null class"):
        cf.validate_counterfactual("cut a route", 3, 8, 0, 4, 1, "offset", 0, "null label", "0", has_null=False)


def test_the_lie_is_plotted_against_t_increasing_to_the_right():
    ts = sampling_timesteps(STEPS)
    told = [min(t + 300, 999) for t in ts]
    figure = figs.lie_figure(ts, told, np.arange(STEPS, dtype=np.float32))
    true_t, seen, bars = figure.data
    assert list(true_t.x) == list(true_t.y) == list(seen.x) == list(bars.x) == [int(t) for t in ts]
    assert list(seen.y) == told and list(bars.customdata) == list(range(1, STEPS + 1))
    for axis in (figure.layout.xaxis, figure.layout.xaxis2):
        assert axis.title.text == "t (0 clean → 999 noise)" and axis.autorange != "reversed"
        assert axis.range[0] < axis.range[1]
