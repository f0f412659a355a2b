"""Why label dropout: three companion DiTs that differ only in `class_dropout_prob` (0, 0.1, 0.5), side by side.

Faithful to the reference, the p = 0 model has no null row in its label table, so it has no unconditional
prediction and classifier-free guidance cannot run on it; the "stand-ins" section appends a made-up null
row (a zero vector, or the mean of the ten digit rows) to show what the tempting shortcuts do. That
section is an experiment, not DiT. Autoguidance (Karras et al. 2024) guides with a weaker model of the same
conditioning instead of the null class; its precomputed curve is compared with CFG's at matched accuracy.
"""

from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from playground import plots
from playground.data import to_uint8
from playground.diffusion import DEFAULT_SAMPLER, DEFAULT_STEPS, alpha_sigma, sampling_timesteps
from playground.grids import labelled_grid
from playground.inputs import MAX_SEED, as_int, fmt
from playground.judge import classify, wilson_interval
from playground.model import DiT, DiTConfig
from playground.sampling import sample_guided
from playground.views.guidance import curves
from playground.views.guidance.cfg import parse_scales

RATES = ("0", "0.1", "0.5")  # the companions' label-dropout rates, as in their file names
MAX_DROPOUT_SAMPLES = 4  # samples per model and scale
INSPECT_STEPS = (1, 4, 7)  # sampler steps whose eps_c / eps_u the view opens
DEFAULTS = MappingProxyType({"label": 3, "seed": 0, "scales": "1, 2, 4", "samples": 2})
STAND_IN_SCALE = 4.0
REFUSED_GREY = 60  # the cell of a scale the p = 0 model cannot run
REFUSED_TEXT = ("no CFG:", "no null", "row")
# The sweep's picture, wide: SWEEP_WIDTH is the page's width at a 1280 px window, so at the default three scales the
# nine cells fill it; a header band per companion ("p = ...") over a band per scale ("s = ...").
SWEEP_WIDTH = 1200
MIN_SWEEP_CELL, MAX_SWEEP_CELL = 40, 160
SWEEP_PAD, GROUP_GAP = 6, 24
GROUP_FONT, SCALE_FONT = 18, 15
GROUP_BAND, SCALE_BAND = GROUP_FONT + 2 * SWEEP_PAD + 2, SCALE_FONT + 2 * SWEEP_PAD
SWEEP_HEADER = GROUP_BAND + SCALE_BAND
NO_CFG = "no CFG (no null row)"  # the live table's cell where the grid shows REFUSED_TEXT
VERDICT_SCALE = 4.0  # the fixed scale the verdict reads the guided companions at (the reference samples at 4)


@dataclass(frozen=True)
class DropoutRequest:
    """The digit, the seed, the guidance scales every companion is swept over, and samples per model and scale."""

    label: int
    seed: int
    scales: tuple[float, ...]
    samples: int


def validate(label, seed, scales, samples, num_classes=DiTConfig.num_classes):
    """The request, checked; `ValueError` naming the field that is wrong."""
    return DropoutRequest(as_int(label, "digit", 0, num_classes - 1), as_int(seed, "seed", 0, MAX_SEED),
                          tuple(parse_scales(scales)),
                          as_int(samples, "samples per model and scale", 1, MAX_DROPOUT_SAMPLES))


def with_stand_in_null(model, vector):
    """A copy of a model without a null row, with `vector` appended as row `num_classes` (NOT DiT: an experiment)."""
    config = {**model.config_dict(), "class_dropout_prob": 0.5}  # any p > 0 allocates the extra row
    copy = DiT(**config)
    state = dict(model.state_dict())
    state["y_embedder.embedding_table.weight"] = torch.cat([state["y_embedder.embedding_table.weight"],
                                                            vector[None]])
    copy.load_state_dict(state)
    return copy.eval()


def stand_ins(model):
    """The two tempting substitutes for a missing null row: zeros, and the mean of the label rows."""
    table = model.y_embedder.embedding_table.weight.detach()
    return {"zeros": torch.zeros(table.shape[1]), "row mean": table.mean(0)}


def companion_sweep(models, label, seed, scales, samples):
    """`{rate: [S, N, 1, 28, 28] or None per scale}`: every companion at every scale it can sample, same noise."""
    labels = [label] * samples
    out = {}
    for rate, model in models.items():
        runnable = [s for s in scales if model.null_class is not None or s == 1]
        images = sample_guided(model, labels, runnable, steps=DEFAULT_STEPS, seed=seed,
                                  sampler=DEFAULT_SAMPLER) if runnable else None
        out[rate] = [images[runnable.index(s)] if s in runnable else None for s in scales]
    return out


def upscaled(x, cell):
    """float `[N, 1, 28, 28]` -> uint8 `[N, cell, cell]`, nearest-neighbour, as `labelled_grid` would scale it."""
    return np.stack([np.asarray(Image.fromarray(a).resize((cell, cell), Image.NEAREST))
                     for a in to_uint8(x).numpy().reshape(len(x), 28, 28)])


def refused_tile(cell):
    """uint8 `[cell, cell]`: the grey cell of a scale a model cannot run, saying why in its own pixels."""
    tile = Image.new("L", (cell, cell), REFUSED_GREY)
    font = ImageFont.load_default(size=max(cell // 5, 8))
    for i, line in enumerate(REFUSED_TEXT):
        y = cell / 2 + (i - (len(REFUSED_TEXT) - 1) / 2) * (cell // 4)
        ImageDraw.Draw(tile).text((cell / 2, y), line, fill=255, font=font, anchor="mm")
    return np.asarray(tile)


def sweep_cell(n_scales, groups=3):
    """The cell size that makes the wide grid `SWEEP_WIDTH` wide: one column per (companion, scale)."""
    n = groups * n_scales
    return int(min(MAX_SWEEP_CELL, max(MIN_SWEEP_CELL, (SWEEP_WIDTH - SWEEP_PAD - (groups - 1) * GROUP_GAP) // n
                                           - SWEEP_PAD)))


def sweep_cell_boxes(groups, n_scales, samples, cell):
    """`{(group, scale index, sample): (left, top)}` of every cell of the wide grid, and its `(width, height)`: a
    header band per group over one column per scale, one row per sample."""
    group_width = n_scales * (cell + SWEEP_PAD)
    boxes = {(g, c, r): (SWEEP_PAD + g * (group_width + GROUP_GAP) + c * (cell + SWEEP_PAD),
                         SWEEP_HEADER + r * (cell + SWEEP_PAD))
             for g in range(groups) for c in range(n_scales) for r in range(samples)}
    width = SWEEP_PAD + groups * group_width + (groups - 1) * GROUP_GAP
    return boxes, (width, SWEEP_HEADER + samples * (cell + SWEEP_PAD))


def sweep_grid_image(sweeps, scales, samples, cell=None):
    """The companions side by side, wide: a group of columns per companion (header "p = ...") with a column per
    scale ("s = ..."), a row per sample (the same noise along a row); where a model cannot run CFG (p = 0, s != 1)
    a grey cell that says so."""
    cell = sweep_cell(len(scales), len(sweeps)) if cell is None else cell
    boxes, size = sweep_cell_boxes(len(sweeps), len(scales), samples, cell)
    canvas = Image.new("L", size, 255)
    draw = ImageDraw.Draw(canvas)
    group_font, scale_font = (ImageFont.load_default(size=n) for n in (GROUP_FONT, SCALE_FONT))
    refused = refused_tile(cell)
    for g, (rate, per_scale) in enumerate(sweeps.items()):
        left, right = boxes[g, 0, 0][0], boxes[g, len(scales) - 1, 0][0] + cell
        draw.text(((left + right) / 2, GROUP_BAND / 2), f"p = {rate}", fill=0, font=group_font, anchor="mm")
        draw.line([(left, GROUP_BAND - 2), (right - 1, GROUP_BAND - 2)], fill=140, width=2)
        for c, (s, x) in enumerate(zip(scales, per_scale, strict=True)):
            draw.text((boxes[g, c, 0][0] + cell / 2, GROUP_BAND + SCALE_BAND / 2), f"s = {fmt(s)}", fill=0,
                      font=scale_font, anchor="mm")
            tiles = upscaled(x, cell) if x is not None else [refused] * samples
            for r, tile in enumerate(tiles):
                canvas.paste(Image.fromarray(tile), boxes[g, c, r])
    return canvas.convert("RGB")


def sweep_scores(judge, sweeps, label, scales):
    """`{rate: [(hits, n) or None per scale]}` from the judge."""
    scores = {}
    for rate, per_scale in sweeps.items():
        scores[rate] = []
        for x in per_scale:
            if x is None or judge is None:
                scores[rate].append(None)
                continue
            predicted = classify(judge, x, [label] * len(x))["predicted"]
            scores[rate].append((sum(p == label for p in predicted), len(x)))
    return scores


@torch.no_grad()
def null_predictions(models, served, label, seed):
    """eps_c and eps_u of each companion with a null row, on the same x_t (the served model's run at s = 1)."""
    states = []
    sample_guided(served, [label], [1.0], steps=DEFAULT_STEPS, seed=seed, sampler=DEFAULT_SAMPLER,
                     on_step=lambda d: states.append(d["x_t"][0, 0].clone()))
    timesteps = sampling_timesteps(DEFAULT_STEPS)
    x = torch.stack([states[k - 1] for k in INSPECT_STEPS])
    t = torch.tensor([timesteps[k - 1] for k in INSPECT_STEPS])
    out = {}
    for rate, model in models.items():
        if model.null_class is None:
            continue
        eps_c = model(x, t, torch.full((len(x),), label))
        eps_u = model(x, t, torch.full((len(x),), model.null_class))
        out[rate] = (eps_c, eps_u)
    return t.tolist(), out


def null_figure(timesteps, predictions):
    panels = []
    for rate, (eps_c, eps_u) in predictions.items():
        for i, t in sorted(enumerate(timesteps), key=lambda it: it[1]):  # t increases to the right, as on every axis
            _, sigma = alpha_sigma(t)
            bound = float(torch.stack([eps_c[i], eps_u[i]]).abs().max())
            gap = float((eps_c[i] - eps_u[i]).norm())
            panels += [(f"p {rate}, t {t}: ε_c", eps_c[i, 0], (-bound, bound), "RdBu"),
                       (f"ε_u (‖ε_c−ε_u‖ {gap:.2f})", eps_u[i, 0], (-bound, bound), "RdBu")]
    return plots.image_panels(panels, 2 * len(timesteps), "What the null class learned: ε_c next to ε_u",
                              "the same x_t for both companions (the served model's run at s = 1), t (0 clean → 999 "
                              "noise) rising to the right; blue −, red +",
                              height=420)


def table_figure(models):
    """Cosine similarity between the rows of each companion's label table (the null row last, where there is one)."""
    refs, grid_layout = plots.grid(1, len(models), [f"p = {rate}: {m.y_embedder.embedding_table.num_embeddings} rows"
                                                    for rate, m in models.items()], hspace=0.08)
    data = []
    for ref, model in zip(refs, models.values(), strict=True):
        table = model.y_embedder.embedding_table.weight.detach().double()
        unit = table / table.norm(dim=1, keepdim=True)
        names = [str(i) for i in range(model.config.num_classes)] + (["∅"] if model.null_class is not None else [])
        data.append({"type": "heatmap", "z": (unit @ unit.T).numpy().round(3).tolist(), "x": names, "y": names,
                     "zmin": -1, "zmax": 1, "colorscale": "RdBu", "reversescale": True, "showscale": False, **ref,
                     "hovertemplate": "rows %{y} · %{x}: cos %{z:.2f}<extra></extra>"})
        # categorical: plotly reads '0'...'9' as numbers and would drop the '∅' row from a linear axis
        plots.set_axis(grid_layout, ref["xaxis"], type="category")
        plots.set_axis(grid_layout, ref["yaxis"], type="category", autorange="reversed", scaleanchor=ref["xaxis"])
    return plots.figure(data, plots.layout("The label table: cosine similarity between its rows",
                                           "p = 0 has ten rows and no ∅; the others learned a null row ∅",
                                           height=400, **grid_layout))


def stand_in_results(p0_model, judge, label, seed, samples):
    """Samples and judge scores of the p = 0 model guided with a made-up null row, at STAND_IN_SCALE."""
    images, scores, candidates = [], {}, stand_ins(p0_model)
    for name, vector in candidates.items():
        x = sample_guided(with_stand_in_null(p0_model, vector), [label] * samples, [STAND_IN_SCALE],
                             steps=DEFAULT_STEPS, seed=seed, sampler=DEFAULT_SAMPLER)[0]
        images.append(to_uint8(x).numpy().reshape(samples, 28, 28))
        if judge is not None:
            predicted = classify(judge, x, [label] * samples)["predicted"]
            scores[name] = (sum(p == label for p in predicted), samples)
    headers = [f"null row =\n{name}" for name in candidates]
    grid = labelled_grid(np.stack(images, 1), headers, cell=96, font_size=14)
    return grid, scores


def companion_table(tradeoff, scales=(1.0, 2.0, 4.0)):
    """Per companion and scale, from the precomputed all-class curves: accuracy, diversity (against the real digits'
    value) and Frechet with their uncertainty."""
    if tradeoff is None:
        return f"*No trade-off file: run `{curves.COMMAND}`.*"
    n = 10 * tradeoff["settings"]["per_class"]
    lines = [f"**All ten digits, {n} samples per cell** (`{curves.COMMAND}`): accuracy [95% Wilson], diversity ± SE "
             "(read as its distance from the real digits' value, not more-is-better: noise raises it too), "
             f"Frechet ± SE; {curves.floor_text(tradeoff)}.", "",
             "| model | s | accuracy | diversity | Frechet |", "|---|---|---|---|---|"]
    for key in ("companion_p0", "companion_p0.1", "companion_p0.5", "cfg"):
        for point in curves.points(tradeoff, key):
            if point["s"] in scales:
                lines.append(f"| {curves.NAMES[key] if key != 'cfg' else 'release model (p 0.1, larger)'} | "
                             f"{fmt(point['s'])} | {curves.fmt_point(point, 'accuracy')} | "
                             f"{curves.diversity_from_real(point['diversity'], point.get('diversity_se'), tradeoff)} | "
                             f"{curves.fmt_point(point, 'frechet')} |")
    return "\n".join(lines)


def verdict(tradeoff, stand_in_scores):
    """The sentences the page exists for, computed from the curves and the stand-in run."""
    get = {key: {p["s"]: p for p in curves.points(tradeoff, f"companion_p{key}")} for key in RATES}
    p1, p5, p0 = get["0.1"].get(1.0), get["0.5"].get(1.0), get["0"].get(1.0)
    g1, g5 = get["0.1"].get(VERDICT_SCALE), get["0.5"].get(VERDICT_SCALE)
    if not (p1 and p5 and p0 and g1 and g5):
        return f"*The companions' curves are missing: run `{curves.COMMAND}`.*"
    n = 10 * tradeoff["settings"]["per_class"]
    separated = p5["accuracy_high"] < p1["accuracy_low"] or p1["accuracy_high"] < p5["accuracy_low"]
    parts = [
        "**What classifier-free guidance needs from label dropout:** the null class ∅, an unconditional prediction "
        "learned by the same network. The p = 0 model has none, so CFG cannot run on it and it samples at s = 1 only "
        f"(accuracy {curves.fmt_point(p0, 'accuracy')}); at s = {fmt(VERDICT_SCALE)} the p = 0.1 and p = 0.5 models "
        f"score {curves.fmt_point(g1, 'accuracy')} and {curves.fmt_point(g5, 'accuracy')}. Other guides need no null "
        "row: a negative class and autoguidance guide with a second conditional prediction, and classifier guidance "
        "steers an unconditional prediction that a separately trained model could supply.",
        f"**What a high rate costs the conditional model:** at s = 1, p = 0.5 scores "
        f"{curves.fmt_point(p5, 'accuracy')} against {curves.fmt_point(p1, 'accuracy')} for p = 0.1 — "
        + (f"the intervals do not overlap. They cover the sampling noise of {n} samples from one training run per p, "
           "not the spread between training runs, so they show that these two models differ; that the rate is the "
           "cause (∅ replaced the digit in about half of p = 0.5's training examples, a tenth of p = 0.1's) is the "
           "likely reading, not one a single run per p can prove."
           if separated else f"the intervals overlap: on {n} samples from one training run per p the difference is "
           "within the sampling noise."),
        f"Frechet at s = 1 (lower is closer to real digits): p = 0 {curves.fmt_point(p0, 'frechet')}, "
        f"p = 0.1 {curves.fmt_point(p1, 'frechet')}, p = 0.5 {curves.fmt_point(p5, 'frechet')}; "
        f"{curves.floor_text(tradeoff)}.",
    ]
    if stand_in_scores:
        read = ", ".join(f"{name}: {hits}/{n}" for name, (hits, n) in stand_in_scores.items())
        parts.append(f"Stand-ins on the p = 0 model at s = {fmt(STAND_IN_SCALE)} (an input the network never saw): "
                     f"{read} read as the digit.")
    return "\n\n".join(parts)


def matched_span(matched, metric, real=None):
    """`((low, se), (high, se))` of `metric` at matched accuracy (a `curves.Matched`; a resolved crossing is a span
    of one value), or of its distance from `real` when given."""
    value = matched.values[metric]
    low, high = value if matched.status == "flat" else (value, value)
    if real is None:
        return low, high
    near, far = sorted([(abs(v - real), se) for v, se in (low, high)])
    return ((0.0, near[1]) if low[0] <= real <= high[0] else near), far


def contrast(cfg_span, auto_span, lower):
    """How CFG's span stands against autoguidance's, `lower` naming what the lower value means: who is lower by at
    least 2 SE (independent SEs), or that the data do not separate them."""
    (c_lo, c_hi), (a_lo, a_hi) = cfg_span, auto_span
    for name, (below, above) in (("CFG", (c_hi, a_lo)), ("autoguidance", (a_hi, c_lo))):
        if below[0] < above[0] and curves.separation(below, above) >= 2:
            return f"{name} {lower} ({curves.separation(below, above):.1f} SE)"
    if c_lo == c_hi and a_lo == a_hi:
        return f"not separated ({curves.separation(c_lo, a_lo):.1f} SE)"
    return "not separated: " + ("CFG's value" if c_lo == c_hi else "CFG's span") + " is within 2 SE of " + (
        "autoguidance's value" if a_lo == a_hi else "autoguidance's span")


def matched_cells(matched, tradeoff):
    """The table cells (where the target is reached, diversity, Frechet) of one curve's `curves.Matched`."""
    if matched.status == "not reached":
        return "not reached", "-", "-"
    lo, hi = matched.scales
    if matched.status == "flat":
        (d_lo, d_hi), (f_lo, f_hi) = matched.values["diversity"], matched.values["frechet"]
        real = curves.real_diversity(tradeoff)
        return (f"not resolved: accuracy within its interval of the target over s = {fmt(lo)}–{fmt(hi)}",
                f"{d_lo[0]:.2f} ± {d_lo[1]:.2f} to {d_hi[0]:.2f} ± {d_hi[1]:.2f}"
                + ("" if real is None else f" (real digits' {real[0]:.2f})"),
                f"{f_lo[0]:.1f} ± {f_lo[1]:.1f} to {f_hi[0]:.1f} ± {f_hi[1]:.1f}")
    where = (f"{matched.scale:.2f} (between s = {fmt(lo)} and {fmt(hi)})" if matched.status == "crossed" else
             f"already at the first measured s = {fmt(lo)}")
    fre = matched.values["frechet"]
    return where, curves.diversity_from_real(*matched.values["diversity"], tradeoff), f"{fre[0]:.1f} ± {fre[1]:.1f}"


def autoguidance_markdown(tradeoff, target=0.95):
    """CFG against autoguidance on the release model at matched accuracy, with the errors, and no interpolated scale
    where a curve is flat within its interval around the target (`curves.matched_accuracy`)."""
    cfg, auto = curves.points(tradeoff, "cfg"), curves.points(tradeoff, "autoguidance")
    if not (cfg and auto):
        return f"*Autoguidance or CFG curve missing: run `{curves.COMMAND}`.*"
    matched = {"CFG (null class)": curves.matched_accuracy(cfg, target),
               "autoguidance (p 0.1 companion)": curves.matched_accuracy(auto, target)}
    lines = [f"**Autoguidance vs CFG at matched accuracy {target:.2f}** ({10 * tradeoff['settings']['per_class']} "
             "samples per measured point; a scale is interpolated only where the Wilson intervals resolve the "
             "crossing). The weak model is the p = 0.1 companion: the same conditioning and data as the release "
             "model, but smaller (1.28M against 4.18M parameters), the kind of 'bad version of itself' Karras et al. "
             "guide with.", "", "| guide | accuracy reaches the target at s | diversity ± SE | Frechet ± SE |",
             "|---|---|---|---|"]
    lines += [f"| {name} | " + " | ".join(matched_cells(m, tradeoff)) + " |" for name, m in matched.items()]
    m_cfg, m_auto = matched.values()
    if "not reached" in (m_cfg.status, m_auto.status):
        return "\n".join(lines)
    real = curves.real_diversity(tradeoff)
    diversity = ("not compared (no real-digit diversity in the file)" if real is None else
                 contrast(matched_span(m_cfg, "diversity", real[0]), matched_span(m_auto, "diversity", real[0]),
                          f"closer to the real digits' {real[0]:.2f}"))
    frechet = contrast(matched_span(m_cfg, "frechet"), matched_span(m_auto, "frechet"), "closer to real digits")
    shown = [claim for claim, text in (("keeps more of the real digits' variety", diversity),
                                       ("lowers the Frechet distance", frechet)) if text.startswith("autoguidance")]
    flat = [f"{name}'s accuracy stays within its interval of {target:.2f} from s = {fmt(m.scales[0])} to "
            f"{fmt(m.scales[1])}, so matched accuracy picks no one point of it: the table gives its span there"
            for name, m in (("CFG", m_cfg), ("autoguidance", m_auto)) if m.status == "flat"]
    lines += ["", "Karras et al. report that autoguidance keeps variety where CFG loses it and lowers FID. Here"
              + (" " + "; ".join(flat) + "." if flat else ",") + " At matched accuracy, diversity (read as "
              f"distance from the real digits' value): {diversity}; Frechet: {frechet}. "
              + ("Here autoguidance " + " and ".join(shown) + "." if shown else
                 "At this accuracy these curves show neither claim.")
              + " (SEs treated as independent; the curves share their starting noise, so a paired comparison "
              "would separate more.)"]
    return "\n".join(lines)


def label_dropout_view(models, served, request, judge=None, tradeoff=None):
    """Everything the page shows: the companions (`{rate: model}`) swept live, their null class on the served
    model's trajectory, their label tables, the p = 0 model's stand-ins, the verdicts from the curves."""
    label, seed, scales, samples = request.label, request.seed, list(request.scales), request.samples
    sweeps = companion_sweep(models, label, seed, scales, samples)
    scores = sweep_scores(judge, sweeps, label, scales)
    live = ["| model | " + " | ".join(f"s = {fmt(s)}" for s in scales) + " |", "|---" * (len(scales) + 1) + "|"]
    for rate, per_scale in scores.items():
        cells = [NO_CFG if sweeps[rate][i] is None else "-" if sc is None else
                 f"{sc[0]}/{sc[1]} [{wilson_interval(*sc)[0]:.2f}, {wilson_interval(*sc)[1]:.2f}]"
                 for i, sc in enumerate(per_scale)]
        live.append(f"| p = {rate} | " + " | ".join(cells) + " |")
    timesteps, predictions = null_predictions(models, served, label, seed)
    stand_in_grid, stand_in_scores = stand_in_results(models["0"], judge, label, seed, samples)
    return {
        "grid": sweep_grid_image(sweeps, scales, samples),
        "live": f"**This digit, {samples} sample(s) per cell:** judge reads / samples [95% Wilson]\n\n"
                + "\n".join(live),
        "verdict": verdict(tradeoff, stand_in_scores), "table": companion_table(tradeoff),
        "null": null_figure(timesteps, predictions), "rows": table_figure(models),
        "stand_ins": stand_in_grid,
        "curves": curves.accuracy_diversity_figure(tradeoff, ["companion_p0.1", "companion_p0.5", "companion_p0",
                                                              "cfg", "autoguidance"],
                                                   title="Companions, CFG and autoguidance").update_layout(
                                                       legend=curves.LEGEND_BESIDE),  # five curves: room beside
        "autoguidance": autoguidance_markdown(tradeoff),
    }
