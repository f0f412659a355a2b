"""View: when is the digit decided? A real trajectory, the same noise, and one thing about t or y changed.

The interventions are hooks on the served model (never edits of it), installed by `intervened` around
`sampling.sample_guided`, which runs unchanged:
- lie about t: a forward pre-hook on the DiT hands the network t' (t + offset, clipped to 0..999, or a constant)
  instead of t; the sampler still steps with the true t;
- switch the label: the same pre-hook hands the conditional rows (not the null rows of guidance) another label
  from step k on;
- cut a route: chosen blocks get c = t_emb + y_emb(null) instead of t_emb + y_emb(y) (a pre-hook on each block; the
  class reaches the network only through adaLN), or their adaLN gates are zeroed (a hook on their adaLN_modulation
  output), so they add nothing to the residual stream: the whole block is gone, whatever the label, so a zero-gates
  cut is run again on unconditional samples (s = 0) as its control.
A model without a null class (trained without label dropout) has neither classifier-free guidance nor a null label to
cut with: it runs at s = 1 and cuts by zeroing gates, without the control. `validate_counterfactual` checks a request
once, into a `CounterfactualRequest`; `counterfactual_view` runs its experiment beside the plain run and has the judge
read the finished digits. `DEFAULTS` are the widgets' initial values (for DiT-Tiny/4; `fitted` moves them into another
model's ranges) and `presets` the one-click demos.
"""

import contextlib
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import torch

from playground.diffusion import NUM_TIMESTEPS, sampling_timesteps
from playground.inputs import MAX_SEED, as_choice, as_float, as_int, parse_number_list
from playground.judge import classify
from playground.model import DiTConfig
from playground.sampling import sample_guided
from playground.views.inside import cuts
from playground.views.inside import decided_figures as figs
from playground.views.inside.trace import hooked

STEPS = 8
SAMPLER = "dpm++2m"
EXPERIMENTS = ("switch the label", "cut a route", "lie about t")
T_MODES = ("offset", "constant")
CUT_KINDS = ("null label", "zero gates")
MAX_SAMPLES = 8
SCALE_RANGE = (1.0, 10.0)  # s >= 1: the conditional prediction, where the label goes, is always computed
DEFAULTS = MappingProxyType(
    {"experiment": EXPERIMENTS[0], "label": 3, "other_label": 8, "seed": 0, "samples": 4, "scale": 4.0,
     "t_mode": "offset", "t_value": 300, "cut_kind": CUT_KINDS[0], "cut_blocks": "0, 1, 2"}
)
NO_NULL = "This model has no null class: use guidance scale 1 and cut by zeroing gates."


@dataclass(frozen=True)
class CounterfactualRequest:
    """Checked arguments of one experiment: which one, the digit drawn (and the one to switch to), seed, samples,
    guidance scale, the lie about t (mode and value) and the cut (kind and block indices, sorted, no repeats)."""

    experiment: str
    label: int
    other_label: int
    seed: int
    samples: int
    scale: float
    t_mode: str
    t_value: int
    cut_kind: str
    cut_blocks: tuple


def fitted(values, config, has_null=True):
    """`values` (DEFAULTS or a demo's) for a model of `config`: classes beyond its last moved to it (the class to
    switch to kept apart from the one drawn), blocks it lacks dropped, and without a null class s = 1 and a cut by
    zeroing gates."""
    last = config.num_classes - 1
    label, other = min(values["label"], last), min(values["other_label"], last)
    if other == label:
        other = (label + 1) % config.num_classes
    blocks = ", ".join(b for b in values["cut_blocks"].split(", ") if b and int(b) < config.depth)
    changed = {"label": label, "other_label": other, "cut_blocks": blocks}
    if not has_null:
        changed |= {"scale": 1.0, "cut_kind": "zero gates"}
    return {**values, **changed}


def presets(config, has_null=True):
    """The one-click demos for a model of `config`, arguments in the order of DEFAULTS. Without a null class the
    demo that cuts by the null label is left out (the others run at s = 1)."""
    last_three = range(max(config.depth - 3, 0), config.depth)
    demos = {
        "When is a 3 decided? (3 → 8)": dict(DEFAULTS),
        "When is a 1 decided? (1 → 7)": {**DEFAULTS, "label": 1, "other_label": 7, "seed": 1},
        "Which blocks carry the class? (null label)": {**DEFAULTS, "experiment": "cut a route", "label": 5},
        f"Zero the gates of the last {len(last_three)} blocks": {
            **DEFAULTS, "experiment": "cut a route", "label": 2, "cut_kind": "zero gates",
            "cut_blocks": ", ".join(map(str, last_three))},
        "Lie: tell it t + 300": {**DEFAULTS, "experiment": "lie about t", "label": 7},
        "Lie: always t = 999": {**DEFAULTS, "experiment": "lie about t", "label": 4, "t_mode": "constant",
                                "t_value": 999},
    }
    return {name: fitted(values, config, has_null) for name, values in demos.items()
            if has_null or (values["experiment"], values["cut_kind"]) != ("cut a route", "null label")}


@dataclass(frozen=True)
class Intervention:
    """What to change in a run; the default changes nothing. Steps are 0-based indices into the timesteps."""

    t_offset: int | None = None  # network sees clip(t + offset, 0, 999)
    t_constant: int | None = None  # network sees this t at every step
    switch_to: int | None = None  # conditional rows get this label ...
    switch_at: int = 0  # ... from this step on (STEPS: never)
    null_blocks: tuple = ()  # these blocks get c = t_emb + y_emb(null) on the conditional rows
    zero_gate_blocks: tuple = ()  # these blocks' gate_msa and gate_mlp are zero (all rows)


@contextlib.contextmanager
def intervened(model, intervention, timesteps):
    """Hooks that apply `intervention` to every forward of `model` inside the block; removed on exit."""
    step_of = {float(t): i for i, t in enumerate(timesteps)}
    null = model.null_class
    state = {}

    def inputs(module, args):
        x, t, y = args
        i = step_of[float(t[0])]
        cond = y != null if null is not None else torch.ones_like(y, dtype=torch.bool)
        if intervention.switch_to is not None and i >= intervention.switch_at:
            y = torch.where(cond, torch.full_like(y, intervention.switch_to), y)
        if intervention.t_constant is not None:
            t = torch.full_like(t, float(intervention.t_constant))
        elif intervention.t_offset is not None:
            t = (t + intervention.t_offset).clamp(0, NUM_TIMESTEPS - 1)
        state["cond"] = cond
        if intervention.null_blocks:
            state["null_emb"] = model.y_embedder(torch.full_like(y, null), False)
        return x, t, y

    def keep_t_emb(module, args, output):
        state["t_emb"] = output

    def null_label(module, args):
        x, c = args
        return x, torch.where(state["cond"][:, None], state["t_emb"] + state["null_emb"], c)

    def zero_gates(module, args, output):
        d = output.shape[1] // 6
        output = output.clone()
        output[:, 2 * d : 3 * d] = 0  # gate_msa (chunk order: shift, scale, gate; shift, scale, gate)
        output[:, 5 * d :] = 0  # gate_mlp
        return output

    registrations = [(model.register_forward_pre_hook, inputs)]
    if intervention.null_blocks:
        registrations.append((model.t_embedder.register_forward_hook, keep_t_emb))
        registrations += [(model.blocks[b].register_forward_pre_hook, null_label) for b in intervention.null_blocks]
    registrations += [(model.blocks[b].adaLN_modulation.register_forward_hook, zero_gates)
                for b in intervention.zero_gate_blocks]
    with hooked(registrations):
        yield


@torch.no_grad()
def run(model, label, seed, samples, scale, intervention=None):
    """One guided trajectory (STEPS steps of SAMPLER) of `samples` rows of `label` with `intervention` hooked in.

    Returns `final` `[samples, C, H, W]` and `x0` `[STEPS, samples, C, H, W]`, the guided x0 at every step.
    """
    x0s = []
    keep = lambda state: x0s.append(state["x0"][0].clone())  # noqa: E731
    with intervened(model, intervention or Intervention(), sampling_timesteps(STEPS)):
        final = sample_guided(model, [label] * samples, [scale], steps=STEPS, seed=seed, sampler=SAMPLER,
                                 on_step=keep)
    return {"final": final[0], "x0": torch.stack(x0s)}


def parse_blocks(text, depth):
    """'0, 2' -> (0, 2); '' -> () (cut nothing); ValueError for anything that is not a block index."""
    if text is None or not str(text).strip():
        return ()
    values = parse_number_list(text, name="block", max_count=depth, lo=0, hi=depth - 1)
    if any(v != int(v) for v in values):
        raise ValueError(f"Blocks are whole numbers 0..{depth - 1}, got {text!r}.")
    return tuple(sorted({int(v) for v in values}))


def validate_counterfactual(experiment, label, other_label, seed, samples, scale, t_mode, t_value, cut_kind,
                            cut_blocks, config=None, has_null=True):
    """A `CounterfactualRequest` for a model of `config` (default: DiT-Tiny/4's) that has (`has_null`) or lacks a
    null class, or ValueError with a message naming the field."""
    config = config or DiTConfig()
    experiment = as_choice(experiment, "experiment", EXPERIMENTS)
    label = as_int(label, "class", 0, config.num_classes - 1)
    other_label = as_int(other_label, "class to switch to", 0, config.num_classes - 1)
    if experiment == "switch the label" and other_label == label:
        raise ValueError(f"The class to switch to must differ from the class drawn ({label}).")
    seed = as_int(seed, "seed", 0, MAX_SEED)
    samples = as_int(samples, "samples", 1, MAX_SAMPLES)
    scale = as_float(scale, "guidance scale", *SCALE_RANGE)
    t_mode = as_choice(t_mode, "t mode", T_MODES)
    last = NUM_TIMESTEPS - 1
    t_value = as_int(t_value, f"t {t_mode}", -last if t_mode == "offset" else 0, last)
    cut_kind = as_choice(cut_kind, "way to cut", CUT_KINDS)
    blocks = parse_blocks(cut_blocks, config.depth)
    if not has_null and (scale != 1 or (experiment == "cut a route" and cut_kind == "null label")):
        raise ValueError(NO_NULL)
    return CounterfactualRequest(experiment, label, other_label, seed, samples, scale, t_mode, t_value, cut_kind,
                                 blocks)


def readings(judge, images, label):
    """The judge's digit for each image (None without a judge)."""
    if judge is None:
        return None
    return classify(judge, images, torch.full((len(images),), label))["predicted"]


def decided_step(reads, label):
    """`reads[k][s]`: digit read when the switch comes at step k (k = 0..STEPS). The smallest k from which every
    later switch leaves every sample a `label`, per sample and for all; None where even k = STEPS is not one."""
    stays_all = np.asarray(reads) == label  # [STEPS + 1, samples]
    per_sample = []
    for stays in stays_all.T:
        k = len(stays)
        while k > 0 and stays[k - 1]:
            k -= 1
        per_sample.append(None if k == len(stays) else k)
    overall = None if any(k is None for k in per_sample) else max(per_sample)
    return overall, per_sample


def a(digit):
    """'a 3' / 'an 8'."""
    return f"{'an' if digit == 8 else 'a'} {digit}"


def roughness(images):
    """Mean |difference| between neighbouring pixels per image `[N]`: low for clean strokes, high with noise left."""
    return ((images[..., 1:, :] - images[..., :-1, :]).abs().mean(dim=(1, 2, 3))
            + (images[..., 1:] - images[..., :-1]).abs().mean(dim=(1, 2, 3))) / 2


def count_text(reads, label):
    return f"{sum(r == label for r in reads)}/{len(reads)}"


def sample_names(samples):
    return [f"sample {s + 1}" for s in range(samples)]


def switch_runs(model, r, progress):
    """The finished samples `[samples, C, H, W]` when `r.label` switches to `r.other_label` at step k, for
    k = 0..STEPS (k = 0: from the start, a plain run of the other digit; k = STEPS: never, a plain run of `r.label`)."""
    finals = []
    for k in range(STEPS + 1):
        progress((k, STEPS + 1), desc=f"switch {r.label} → {r.other_label} at step {k}")
        switch = Intervention(switch_to=r.other_label, switch_at=k)
        finals.append(run(model, r.label, r.seed, r.samples, r.scale, switch)["final"])
    return finals


def switch_picture(finals):
    """One column per switch step k, one row per sample."""
    return figs.image_grid(torch.stack(finals, 1), [f"k={k}" for k in range(len(finals))],
                           sample_names(len(finals[0])))


def decided_line(reads, r, sampler):
    """The sentence of when the digit is decided, for these samples at this s, from `reads[k][s]` (see
    `decided_step`) of `r`'s runs with `sampler`."""
    label, other, ts = r.label, r.other_label, sampling_timesteps(STEPS)
    overall, per_sample = decided_step(reads, label)
    these = f"these {r.samples} sample{'s' if r.samples > 1 else ''}, at s = {r.scale:g}"
    if overall is None:
        return f"- Not every plain run reads as {a(label)} for {these}, so when it is decided is not defined here."
    new_until = [k for k in range(STEPS + 1) if all(x == other for x in reads[k])]
    seen = "only t = " + str(ts[0]) if overall == 1 else f"t = {ts[0]}…{ts[overall - 1]}"
    leak = (f" {sampler} extrapolates each update from the x0 of the step before too, so the x0 made with "
            f"'{label}' at t = {ts[overall - 1]} still acts in the update at t = {ts[overall]}."
            if sampler == "dpm++2m" and 0 < overall < STEPS - 1 else "")  # its last step returns its own x0
    return (
        f"- **For {these}, the digit is decided by step {overall}:** from k = {overall} on every sample stays "
        f"{a(label)}; " + ("the label never mattered after the first step." if overall == 0
                           else f"the network had seen '{label}' at {seen} ({overall} of {STEPS} steps).") + leak
        + f" It is the latest of the samples' own steps ({', '.join(str(k) for k in per_sample)}): other samples, "
        "or another s, can settle at another step. "
        + (f"Every sample becomes {a(other)} while the switch comes by step {max(new_until)}."
           if new_until and new_until == list(range(max(new_until) + 1))
           else f"The switch turns every sample into {a(other)} at k = "
           + (", ".join(map(str, new_until)) if new_until else "no k") + "."))


def switch_experiment(model, judge, r, progress):
    label, other = r.label, r.other_label
    finals = switch_runs(model, r, progress)
    reads = [readings(judge, final, label) for final in finals]
    image = switch_picture(finals)
    if reads[0] is None:
        return image, figs.no_judge_figure(), "The judge did not load, so no digit is read."
    lines = [f"- **Switch {label} → {other} at step k** (k = 0: {a(other)} from the start; k = {STEPS}: never "
             f"switched, a plain {label}; {SAMPLER}, {STEPS} steps, s = {r.scale:g}, seed {r.seed}). The judge reads "
             + ", ".join(f"k={k}: {'·'.join(str(x) for x in reads[k])}" for k in range(STEPS + 1)) + ".",
             decided_line(reads, r, SAMPLER)]
    return image, figs.switch_figure(reads, label, other), "\n".join(lines)


def cut_runs(model, r, progress, scale=None):
    """`{name: finished samples}` at `scale` (default `r.scale`): the plain run, the chosen cut (`r.cut_blocks`,
    "cut none" when empty), each block cut alone, and every block cut."""
    depth, blocks = len(model.blocks), r.cut_blocks
    scale = r.scale if scale is None else scale
    sets = {"plain": (), f"cut {', '.join(map(str, blocks)) or 'none'}": blocks}
    sets |= {f"block {b}": (b,) for b in range(depth)} | {f"all {depth}": tuple(range(depth))}
    runs = {}
    for i, (name, chosen) in enumerate(sets.items()):
        progress((i, len(sets)), desc=f"{r.cut_kind}, s = {scale:g}: {name}")
        where = {"null_blocks": chosen} if r.cut_kind == "null label" else {"zero_gate_blocks": chosen}
        runs[name] = run(model, r.label, r.seed, r.samples, scale, Intervention(**where))["final"]
    return runs


def control_runs(model, r, progress):
    """A zero-gates cut's control: the same cuts on unconditional samples (s = 0, the null label; `cut_runs`), or
    None (a null-label cut leaves unconditional rows alone, and a model without a null class has none)."""
    if r.cut_kind != "zero gates" or model.null_class is None:
        return None
    return cut_runs(model, r, progress, scale=0.0)


def cut_picture(runs, control=None):
    """One column per run of `cut_runs`, one row per sample, then one per sample of the `control` runs."""
    names = list(runs)
    rows = [torch.stack([runs[n] for n in names], 1)]
    labels = sample_names(len(runs["plain"]))
    if control is not None:
        rows.append(torch.stack([control[n] for n in names], 1))
        labels += [f"s = 0\n{name}" for name in labels]
    return figs.image_grid(torch.cat(rows), names, labels)


def cut_experiment(model, judge, r, progress):
    label, depth = r.label, len(model.blocks)
    runs = cut_runs(model, r, progress)
    control = control_runs(model, r, progress)
    names, singles = list(runs), [f"block {b}" for b in range(depth)]
    image = cut_picture(runs, control)
    change = cuts.rms_per_sample(runs)
    control_change = cuts.rms_per_sample(control) if control is not None else None
    how = "the null label instead of the digit" if r.cut_kind == "null label" else "zero gates: the block adds nothing"
    lines = [f"- **Cut a route ({how}), {label}s, s = {r.scale:g}, seed {r.seed}, {r.samples} samples.** Pixel "
             "change from the plain run (RMS on [−1, 1], mean ± SE over the samples) when one block alone is cut: "
             + ", ".join(f"{n.removeprefix('block ')}: {cuts.with_se(change[n])}" for n in singles)
             + cuts.extremes(change, singles) + "."]
    if control is not None:
        lines.append(cuts.control_line(change, control_change, singles, label, r.scale))
    elif r.cut_kind == "zero gates":
        lines.append(cuts.NO_CONTROL)
    reads = {n: readings(judge, runs[n], label) for n in names}
    fraction = None
    if reads["plain"] is not None:
        fraction = {n: sum(x == label for x in reads[n]) / r.samples for n in names}
        lines.append(cuts.judge_line(reads, singles, label, a(label), r.cut_kind))
    figure = figs.cut_figure(names, fraction, change, control_change, label, r,
                             chance=1 / model.config.num_classes)
    return image, figure, "\n".join(lines)


def told_name(r):
    """What the network is told, in words: "t' = t + 300" or "t' = 999"."""
    if r.t_mode == "offset":
        return f"t' = t {'+' if r.t_value >= 0 else '−'} {abs(r.t_value)}"
    return f"t' = {r.t_value}"


def lie_runs(model, r, progress):
    """The plain run and the run told `told_name(r)` at every step (outputs of `run`)."""
    lie = Intervention(t_offset=r.t_value) if r.t_mode == "offset" else Intervention(t_constant=r.t_value)
    progress((0, 2), desc="plain run")
    plain = run(model, r.label, r.seed, r.samples, r.scale)
    progress((1, 2), desc=f"told {told_name(r)}")
    return plain, run(model, r.label, r.seed, r.samples, r.scale, lie)


def lie_picture(plain, lied, told):
    """For up to 3 samples, a row of the plain run and a row of the lied one: x0 at every step, then the final."""
    rows, names = [], []
    for s in range(min(len(plain["final"]), 3)):
        for name, out in (("plain", plain), (told, lied)):
            rows.append(torch.cat([out["x0"][:, s], out["final"][s : s + 1]]))
            names.append(f"{name}\nsample {s + 1}")
    headers = [f"x0 t={t}" for t in sampling_timesteps(STEPS)] + ["final"]
    return figs.image_grid(torch.stack(rows), headers, names)


def lie_experiment(model, judge, r, progress):
    label, ts = r.label, sampling_timesteps(STEPS)
    plain, lied = lie_runs(model, r, progress)
    told = [min(max(t + r.t_value, 0), NUM_TIMESTEPS - 1) if r.t_mode == "offset" else r.t_value for t in ts]
    image = lie_picture(plain, lied, told_name(r))
    rms = (lied["x0"] - plain["x0"]).pow(2).mean(dim=(1, 2, 3, 4)).sqrt().numpy()
    rough = {n: roughness(out["final"]).mean().item() for n, out in (("plain", plain), ("lied", lied))}
    worst = int(np.argmax(rms))
    lines = [f"- **Lie about t ({told_name(r)}, clipped to 0..{NUM_TIMESTEPS - 1}; the sampler still uses the true "
             f"t), {label}s, s = {r.scale:g}, seed {r.seed}.** The network was told "
             + ", ".join(f"{true}→{seen}" for true, seen in zip(ts, told, strict=True))
             + f". Its x0 predictions differ from the plain run's by RMS {rms[0]:.2f} at the first step, "
             f"{rms[-1]:.2f} at the last, most at step {worst + 1} (t = {ts[worst]}: {rms[worst]:.2f}).",
             f"- **Final images:** neighbouring pixels differ by {rough['lied']:.2f} on average vs "
             f"{rough['plain']:.2f} plain ("
             + ("rougher: noise the network did not remove" if rough["lied"] > rough["plain"]
                else "smoother than the plain run") + ")."]
    reads_plain, reads_lied = readings(judge, plain["final"], label), readings(judge, lied["final"], label)
    if reads_plain is not None:
        lines[-1] += (f" The judge reads {'·'.join(map(str, reads_lied))} ({count_text(reads_lied, label)} "
                      f"{label}s) vs {'·'.join(map(str, reads_plain))} plain ({count_text(reads_plain, label)}).")
    return image, figs.lie_figure(ts, told, rms), "\n".join(lines)


EXPERIMENT_VIEWS = {"switch the label": switch_experiment, "cut a route": cut_experiment,
                    "lie about t": lie_experiment}


def counterfactual_view(model, request, judge=None, progress=None):
    """(image, plotly figure, markdown) of the experiment of a `CounterfactualRequest` (see `validate_counterfactual`)
    beside its plain run; `judge` (optional) reads the finished digits, `progress(value, desc=...)` hears of each
    run."""
    progress = progress or (lambda value, desc=None: None)
    model.eval()
    return EXPERIMENT_VIEWS[request.experiment](model, judge, request, progress)
