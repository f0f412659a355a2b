"""The classifier-free guidance page: a sweep of guidance scales (`/cfg_sweep`, its widgets from
`views.guidance.cfg.DEFAULTS` and its caps, one-click demos), a slider that re-samples one column (`/live_column`)
of the sweep's digit, and the precomputed all-class trade-off (`assets/tradeoff.json`) under them, with a caption
computed from it. The page opens on the default sweep, computed once per process (`ui.openings`); a model that
cannot be guided opens without it and says why."""

import functools
import os
import tempfile
import uuid
from dataclasses import replace
from pathlib import Path

import gradio as gr

from playground.assets import TRADEOFF_FILE
from playground.diffusion import SAMPLERS
from playground.guidance import GuidanceError
from playground.inputs import fmt
from playground.ui.openings import on_first_visit
from playground.ui.serving import class_count, get_judge, get_model, require_model
from playground.ui.turns import LIVE, SAMPLER, SAMPLING_LANE
from playground.ui.widgets import LATEX, demo_buttons, digit_choices, fold, image, plot, user_error, wire_demos
from playground.views.guidance import cfg as view
from playground.views.guidance import cfg_tradeoff, live
from playground.views.guidance.cfg import (
    CLIP_NOTE,
    DEFAULTS,
    MAX_IMAGE_STEPS,
    MAX_SAMPLES,
    MAX_SCALES,
    MAX_STEPS,
    PRESETS,
    SCALE_RANGE,
)

STREAM_ENV = "PLAYGROUND_STREAM_SWEEP"  # "0": the sweep sends only its result (scripts/measure_live.py compares)
PROGRESS = gr.Progress()  # gradio passes this default instance to the handler (its documented idiom)

CONFUSIONS = """
- **No classifier in classifier-free guidance.** Classifier guidance steers sampling with the gradient of a
  separate classifier trained on noisy images. CFG drops it: during training the label is replaced by the null
  class ∅ 10 % of the time, so one network learns both the conditional ε_c and the unconditional ε_u.
- **Two ways to write the same mix.** `s·ε_c + (1−s)·ε_u` equals `ε_u + s·(ε_c − ε_u)`: start from the
  unconditional prediction and move s times along the direction the label adds. s = 1 is the plain
  conditional model; s > 1 exaggerates what makes the sample look like the class.
- **Which s is "typical" depends on the convention and the data.** DiT's `sample.py` uses s = 4 for pictures and
  s = 1.5 for its FID numbers; Ho & Salimans' w is s − 1, so s = 4 is w = 3. diffusers' `guidance_scale` is this
  s (DiT's and Stable Diffusion's pipelines alike): Stable Diffusion's default 7.5 and the "5-7" you read about
  are s, i.e. w = 6.5 and 4-6. More guidance: more recognisable and less varied; past a point, the set of digits
  drifts from real handwriting (the all-digit trade-off on this page measures where, with its error bars).
- **Negative scale ≠ negative prompt.** s < 0 keeps ε_u as the anchor and reverses the label's direction:
  ε_u + s·(ε_c − ε_u) with s < 0 moves away from the digit. A negative prompt (or negative class) keeps s > 1 and
  replaces ε_u by the prediction for another label, ε_neg + s·(ε_c − ε_neg): towards the digit, away from that
  other label.
- {CLIP}
- **Cost:** each step runs the network on the batch twice (with the label and with ∅), as one doubled batch.
- **Channels:** the reference DiT guides only 3 of its 4 latent channels (a leftover it keeps for exact
  reproducibility); here there is a single pixel channel, so the whole image is guided.
"""
RUN_NOTE = "\n\nEach run takes a few seconds per scale on CPU; the bar over the images counts the steps."
NO_MODEL_NOTE = "No model is loaded, so there is nothing to sample."
LIVE_PROMPT = "Drag the slider to sample one column."
LIVE_FOLLOWS = "The column follows the grid: the next sweep draws it again."
# Why a plain CFG request can be refused: a model without a null class has no unconditional prediction.
UNGUIDED_LIVE_LINE = ("This model has no null class, so it has no unconditional prediction and classifier-free "
                      "guidance cannot run: only s = 1 samples here (scales `1`).")


def checked_sweep(label, scales, samples, seed, steps, sampler, clip):
    """`(model, SweepRequest)` of a sweep's inputs, or a `gr.Error` saying what is wrong: a bad input (checked
    even without a model), no model, or guidance this model cannot run (e.g. no null class)."""
    model, _ = get_model()
    request = user_error(
        view.validate_sweep, label, scales, samples, seed, steps, sampler, clip, num_classes=class_count(model)
    )
    model = require_model()
    user_error(request.check, model)
    return model, request


def cfg_sweep(label, scales, samples, seed, steps, sampler, clip=True, progress=PROGRESS):
    """Sample one class at several guidance scales from shared noise; grid, judge scores, trajectory.

    A generator: the grid of the predicted x0 after each step (the other outputs left as they are), then the
    sweep's grid, metrics, trajectory, summary and formula (what a client's `predict` returns).
    `clip` (last, optional: clients of the six-input endpoint still work) clips x0 and re-derives eps.
    """
    model, request = checked_sweep(label, scales, samples, seed, steps, sampler, clip)
    judge, judge_note = get_judge()
    with SAMPLER.turn(), tempfile.TemporaryDirectory(prefix="playground-frames-") as frames:
        for kind, out in live.stream_sweep(model, request, judge=judge, judge_note=judge_note, progress=progress):
            if kind == "step":
                if os.environ.get(STREAM_ENV) != "0":
                    yield fast_png(out, frames), gr.skip(), gr.skip(), gr.skip(), gr.skip()
            else:
                live.keep_frames(request, out)
                yield out["grid"], out["metrics"], out["trajectory"], out["summary"], out["formula"]


def fast_png(image, directory):
    """`image` saved as a PNG file in `directory`, its path for gradio to serve. zlib level 1: a frame of noisy
    pixels hardly compresses at any level, and gradio's default level spends several times as long on it."""
    path = Path(directory) / f"{uuid.uuid4().hex}.png"
    image.save(path, format="png", compress_level=1)
    return str(path)


def export_sweep(label, scales, samples, seed, steps, sampler, clip=True):
    """The last sweep's denoising as a GIF and its final grid as a PNG, shown in the download box (hidden until
    then)."""
    return gr.update(value=live.export_files(*checked_sweep(label, scales, samples, seed, steps, sampler, clip)),
                     visible=True)


def live_column(label, scale, samples, seed):
    """One guidance scale re-sampled (default sampler and steps, the sweep's noise): the column and the judge's
    reading."""
    model, _ = get_model()
    request = user_error(live.validate_live, label, scale, samples, seed, num_classes=class_count(model))
    model = require_model()
    user_error(request.check, model)
    with LIVE.turn():
        out = live.live_column(model, request, judge=get_judge()[0])
    return out["image"], out["line"]


def initial_sweep(model, values):
    """`(outputs, request, None)` of the sweep of `values` (the page's inputs), or `(None, None, why there is none)`:
    no model, or one that cannot be guided (a model without a null class). A bad value raises its `gr.Error`."""
    if model is None:
        return None, None, NO_MODEL_NOTE
    request = user_error(view.validate_sweep, *values, num_classes=class_count(model))
    try:
        request.check(model)
    except GuidanceError as e:
        return None, None, f"**No sweep to open on this model:** {e}"
    judge, judge_note = get_judge()
    return view.sweep_view(model, request, judge=judge, judge_note=judge_note), request, None


def tradeoff_caption(path=TRADEOFF_FILE):
    """The page's idea in one line, computed from the precomputed all-class curve (`cfg_tradeoff.tradeoff_facts`):
    how accuracy moves with s, and where the distance to real digits is lowest; or why there is no curve."""
    run, reason = cfg_tradeoff.load_tradeoff(path)
    if run is None:
        return reason
    f = cfg_tradeoff.tradeoff_facts(run)
    first, last = f["first"], f["last"]
    rises = "rises" if last["accuracy"] > first["accuracy"] else "moves"
    after = "then grows" if f["rise_is_real"] else f"at s = {fmt(f['last_s'])} within the noise"
    return (f"**All ten digits:** as s grows, accuracy {rises} ({first['accuracy']:.0%} → {last['accuracy']:.0%}) "
            f"while the distance to real digits is lowest near s = {fmt(f['best_s'])}, {after}.")


def column_of(request, images, scale):
    """The live column at `scale` cut from a sweep's samples `images` (the same bytes), or None when the sweep lacks
    that scale or samples it otherwise than the live column does (sampler, steps, clip)."""
    column = live.LiveRequest(request.label, scale, request.samples, request.seed).as_sweep()
    if images is None or scale not in request.scales or replace(request, scales=(scale,)) != column:
        return None
    return live.column_view(images[request.scales.index(scale)], request.label, scale, get_judge()[0])


def sampled_column(model, request, scale):
    """The live column of the sweep `request`'s digit, samples and seed at `scale`, sampled; a line saying why not
    when `model` cannot guide at that scale."""
    column = live.LiveRequest(request.label, scale, request.samples, request.seed)
    try:
        column.check(model)
    except GuidanceError:
        return {"image": None, "line": UNGUIDED_LIVE_LINE}
    with LIVE.turn():
        return live.live_column(model, column, judge=get_judge()[0])


def cfg_opening(model, *values):
    """What the page opens on for `model` (None: no weights) at its inputs' `values` (the sweep's, as the defaults
    or a link set them, then the live slider's scale): the sweep's grid, metrics, trajectory, summary and formula,
    its live column and line (the same digit, samples and seed), and the precomputed all-class trade-off and its
    text. Without a sweep the summary and the live line say why."""
    *values, scale = values
    with SAMPLER.turn():
        first, request, note = initial_sweep(model, values)
    tradeoff = cfg_tradeoff.tradeoff_view()
    if first is None:
        line = NO_MODEL_NOTE if model is None else UNGUIDED_LIVE_LINE
        sweep, column = [None, None, None, note, view.cfg_explainer_markdown()], {"image": None, "line": line}
    else:
        sweep = [first[key] for key in ("grid", "metrics", "trajectory", "summary", "formula")]
        column = column_of(request, first["images"], scale) or sampled_column(model, request, scale)
    if model is not None:
        sweep[3] += RUN_NOTE
    return (*sweep, column["image"], column["line"], tradeoff["figure"], tradeoff["markdown"])


def follow_sweep(label, scales, samples, seed, steps, sampler, clip, scale):
    """The live column once a sweep is drawn: the sweep's digit, samples and seed at the slider's `scale`, cut
    from the sweep when it holds that column, else sampled. So the column never shows another digit than the grid."""
    model, request = checked_sweep(label, scales, samples, seed, steps, sampler, clip)
    kept = live.FRAMES.peek(request)
    column = column_of(request, None if kept is None else kept[1], float(scale))
    column = column or sampled_column(model, request, float(scale))
    return column["image"], column["line"]


def clear_column():
    """The live column emptied when the sweep's digit, samples or seed change, until the next sweep redraws it."""
    return None, LIVE_FOLLOWS


def sweep_controls(model):
    """The sweep's primary knobs (digit, scales, the run button) and demos; the others, in the order of `DEFAULTS`
    and of each preset, in "More settings"."""
    label = gr.Radio(digit_choices(class_count(model)), value=DEFAULTS["label"], label="digit to draw")
    scales = gr.Textbox(
        value=DEFAULTS["scales"],
        label=f"guidance scales s (up to {MAX_SCALES}, each in [{SCALE_RANGE[0]:g}, {SCALE_RANGE[1]:g}])",
    )
    run = gr.Button("Sample", variant="primary", elem_classes="big-run")
    gr.Markdown("**One-click demos**")
    demos = demo_buttons(PRESETS)
    with fold("More settings"):
        samples = gr.Slider(1, MAX_SAMPLES, value=DEFAULTS["samples"], step=1, label="samples per scale (rows)")
        with gr.Row():
            seed = gr.Number(value=DEFAULTS["seed"], precision=0, label="seed", minimum=0)
            sampler = gr.Dropdown(list(SAMPLERS), value=DEFAULTS["sampler"], label="sampler")
        steps = gr.Slider(1, MAX_STEPS, value=DEFAULTS["steps"], step=1, label="denoising steps")
        clip = gr.Checkbox(
            value=DEFAULTS["clip"],
            label="clip x0 to [-1, 1] and re-derive ε",
            info="untick to see strong guidance without it (the 'Without clipping x0' demo)",
        )
        gr.Markdown(
            f"Caps per run: {MAX_SCALES} scales, {MAX_SAMPLES} samples, {MAX_STEPS} steps, "
            f"{MAX_IMAGE_STEPS} image-steps. Sampling runs {SAMPLER.max_running} request at a time with "
            f"{SAMPLER.max_waiting} waiting; when busy, more are turned away with a message.",
            elem_classes="caps",
        )
    return [label, scales, samples, seed, steps, sampler, clip], demos, run


def live_controls():
    """The live slider, its column and its line."""
    scale = gr.Slider(
        *SCALE_RANGE, value=live.LIVE_SCALE, step=live.LIVE_STEP, elem_id="cfg-live-scale",
        label="live s", info="drag: one column re-sampled as you move (the grid's digit and noise)",
    )
    column = image("cfg-live-column", height=160)
    line = gr.Markdown(LIVE_PROMPT, elem_id="cfg-live-line")
    return scale, column, line


def numbers_behind():
    """The sweep's judge scores, summary and formula, and the all-class curve's sentence, in a fold."""
    with fold("The numbers behind it"):
        gr.Markdown("**Samples** (the grid): columns = guidance scale s; rows share their starting noise.")
        metrics = plot()
        summary = gr.Markdown("*Sampling the default sweep…*" + RUN_NOTE, elem_id="cfg-summary",
                              elem_classes="nowrap-head")
        formula = gr.Markdown(view.cfg_explainer_markdown(), latex_delimiters=LATEX)
        gr.Markdown(
            "**Beyond one digit and a few samples:** the live sweep judges one digit from at most "
            f"{MAX_SAMPLES} samples per scale, too few for a distribution-level score. The same sampler on "
            "all ten digits, precomputed (the curve under the samples):"
        )
        tradeoff_text = gr.Markdown()
    return metrics, summary, formula, tradeoff_text


def wire(inputs, outputs, exports, demos, run, live_parts):
    """The sweep (`/cfg_sweep`: the button, Enter in the scales box, a new digit, each demo), each followed by its
    export and by the live column redrawn to match; the live slider (`/live_column`)."""
    label, scales, samples, seed = inputs[:4]
    live_scale, live_image, live_line = live_parts
    private = {"api_visibility": "private", "show_progress": "minimal"}
    export = {"fn": export_sweep, "inputs": inputs, "outputs": exports, "concurrency_limit": 1,
              "concurrency_id": "export", **private}
    follow = {"fn": follow_sweep, "inputs": [*inputs, live_scale], "outputs": [live_image, live_line],
              "concurrency_limit": None, "concurrency_id": "live", **private}
    # Only a person's edits (not a demo's or a link's fill-in, whose own sweep follows) clear the column.
    gr.on([label.input, samples.input, seed.input], clear_column, None, [live_image, live_line], queue=False,
          **private)
    sweep = gr.on(triggers=[run.click, scales.submit, label.input], fn=cfg_sweep, inputs=inputs, outputs=outputs,
                  api_name="cfg_sweep", preprocess=False, **SAMPLING_LANE)
    sweep.success(**export)
    sweep.success(**follow)
    live_scale.input(  # while dragging: the newest value wins, values that came in meanwhile are dropped
        live_column,
        [label, live_scale, samples, seed],
        [live_image, live_line],
        api_name="live_column",
        preprocess=False,
        trigger_mode="always_last",
        show_progress="hidden",
        concurrency_limit=None,  # waits in LIVE's turns, not in the sweeps'
        concurrency_id="live",
    )
    for run_demo in wire_demos(demos, PRESETS, cfg_sweep, inputs, outputs, **SAMPLING_LANE):
        run_demo.success(**export)
        run_demo.success(**follow)


def build(shown, model, model_error):
    """A one-line caption over the sweep's grid (its knobs and demos to the left, the live slider and its column to
    the right) and the all-class trade-off right under them (then the files for slides, once a sweep made them);
    the judge scores, summary, formula, denoising and the common confusions in folds. Opens on the default sweep
    (`cfg_opening`)."""
    gr.Markdown(tradeoff_caption(), elem_id="cfg-caption")
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=220):
            inputs, demos, run = sweep_controls(model)
        with gr.Column(scale=4):
            with gr.Row(equal_height=False):
                with gr.Column(scale=6, min_width=420):
                    grid = image("cfg-grid", height=490)
                with gr.Column(scale=2, min_width=230):
                    live_scale, live_image, live_line = live_controls()
            tradeoff = plot()
            exports = gr.File(label="For slides: the last sweep's denoising (GIF) and final grid (PNG)",
                              visible=False, file_count="multiple", interactive=False, elem_id="cfg-exports",
                              height=140)  # hidden until a sweep fills it
    with fold("Denoising, step by step"):
        gr.Markdown("**Denoising** (row 1): the predicted clean image x0 at a few steps")
        trajectory = image("cfg-trajectory")
    metrics, summary, formula, tradeoff_text = numbers_behind()
    with fold("Common confusions about guidance"):
        gr.Markdown(CONFUSIONS.replace("{CLIP}", CLIP_NOTE))
    outputs = [grid, metrics, trajectory, summary, formula]
    _, opening = on_first_visit(shown, functools.partial(cfg_opening, model), [*inputs, live_scale],
                                [*outputs, live_image, live_line, tradeoff, tradeoff_text], **SAMPLING_LANE)
    wire(inputs, outputs, exports, demos, run, (live_scale, live_image, live_line))
    return [opening]
