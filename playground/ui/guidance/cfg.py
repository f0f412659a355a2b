"""The classifier-free guidance page: a sweep of guidance scales (`/cfg_sweep`, its widgets from
`views.guidance.cfg.DEFAULTS` and its caps, one-click demos), a slider that re-samples one column (`/live_column`),
and the precomputed all-class trade-off (`assets/tradeoff.json`). The page opens on the default sweep, computed
once per process (`ui.openings`); a model that cannot be guided opens without it and says why."""

import functools
import os
import tempfile
import uuid
from pathlib import Path

import gradio as gr

from playground.diffusion import SAMPLERS
from playground.guidance import GuidanceError
from playground.ui.openings import on_first_visit
from playground.ui.serving import class_count, get_judge, get_model, require_model
from playground.ui.turns import LIVE, SAMPLER, SAMPLING_LANE
from playground.ui.widgets import LATEX, demo_buttons, digit_choices, image, plot, user_error, wire_demos
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
# Why a plain CFG request can be refused: a model without a null class has no unconditional prediction.
UNGUIDED_LIVE_LINE = "This model cannot be guided (the note under the samples says why): only s = 1 samples here."


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
    """The last sweep's denoising as a GIF and its final grid as a PNG (files for the download box)."""
    return live.export_files(*checked_sweep(label, scales, samples, seed, steps, sampler, clip))


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


def initial_column(first, request):
    """The live column at `live.LIVE_SCALE`, cut from the opening sweep `first` (the same bytes), when the sweep
    has that scale."""
    if live.LIVE_SCALE not in request.scales:
        return {"image": None, "line": LIVE_PROMPT}
    images = first["images"][request.scales.index(live.LIVE_SCALE)]
    return live.column_view(images, request.label, live.LIVE_SCALE, get_judge()[0])


def cfg_opening(model, *values):
    """What the page opens on for `model` (None: no weights) at its inputs' `values` (the defaults, or a link's):
    the sweep's grid, metrics, trajectory, summary and formula, its live column and line, and the precomputed
    all-class trade-off and its text. Without a sweep the summary and the live line say why."""
    with SAMPLER.turn():
        first, request, note = initial_sweep(model, values)
    tradeoff = cfg_tradeoff.tradeoff_view()
    if first is None:
        line = NO_MODEL_NOTE if model is None else UNGUIDED_LIVE_LINE
        sweep, column = [None, None, None, note, view.cfg_explainer_markdown()], {"image": None, "line": line}
    else:
        sweep = [first[key] for key in ("grid", "metrics", "trajectory", "summary", "formula")]
        column = initial_column(first, request)
    if model is not None:
        sweep[3] += RUN_NOTE
    return (*sweep, column["image"], column["line"], tradeoff["figure"], tradeoff["markdown"])


def sweep_controls(model):
    """The sweep's knobs, in the order of `DEFAULTS` and of each preset; the demo buttons; the run button."""
    gr.Markdown("**One-click demos**")
    demos = demo_buttons(PRESETS)
    label = gr.Radio(digit_choices(class_count(model)), value=DEFAULTS["label"], label="digit to draw")
    scales = gr.Textbox(
        value=DEFAULTS["scales"],
        label=f"guidance scales s (up to {MAX_SCALES}, each in [{SCALE_RANGE[0]:g}, {SCALE_RANGE[1]:g}])",
    )
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
    run = gr.Button("Sample", variant="primary", elem_classes="big-run")
    gr.Markdown(
        f"Caps per run: {MAX_SCALES} scales, {MAX_SAMPLES} samples, {MAX_STEPS} steps, "
        f"{MAX_IMAGE_STEPS} image-steps. Sampling runs {SAMPLER.max_running} request at a time with "
        f"{SAMPLER.max_waiting} waiting; when busy, more are turned away with a message.",
        elem_classes="caps",
    )
    return [label, scales, samples, seed, steps, sampler, clip], demos, run


def live_controls():
    """The live slider, its line and its column."""
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=300):
            scale = gr.Slider(
                *SCALE_RANGE, value=live.LIVE_SCALE, step=live.LIVE_STEP, elem_id="cfg-live-scale",
                label="Drag the scale: one column, re-sampled as you move (same digit, seed, noise)",
            )
            line = gr.Markdown(LIVE_PROMPT, elem_id="cfg-live-line")
        column = image("cfg-live-column", height=150)
    return scale, column, line


def sweep_results():
    """The sweep's outputs (grid, metrics, trajectory, summary; the formula sits over the page), the export box,
    and the all-class trade-off under them."""
    with gr.Row():
        with gr.Column():
            gr.Markdown("**Samples**: columns = guidance scale s; rows share their starting noise")
            grid = image("cfg-grid")
        with gr.Column():
            gr.Markdown("**Denoising** (row 1): the predicted clean image x0 at a few steps")
            trajectory = image("cfg-trajectory")
    exports = gr.File(label="For slides: the last sweep's denoising (GIF) and final grid (PNG)",
                      file_count="multiple", interactive=False, elem_id="cfg-exports", height=140)
    metrics = plot()
    summary = gr.Markdown("*Sampling the default sweep…*" + RUN_NOTE, elem_id="cfg-summary")
    gr.Markdown(
        "**Beyond one digit and a few samples:** the live sweep above judges one digit from at most "
        f"{MAX_SAMPLES} samples per scale, too few for a distribution-level score. The same sampler on "
        "all ten digits, precomputed:"
    )
    tradeoff, tradeoff_text = plot(), gr.Markdown()
    return [grid, metrics, trajectory, summary], exports, [tradeoff, tradeoff_text]


def wire(inputs, outputs, exports, demos, run, live_parts):
    """The sweep (`/cfg_sweep`, also on Enter in the scales box and behind each demo), each followed by its export;
    the live slider (`/live_column`)."""
    scales, (live_scale, live_image, live_line) = inputs[1], live_parts
    export = {"fn": export_sweep, "inputs": inputs, "outputs": exports, "api_visibility": "private",
              "show_progress": "minimal", "concurrency_limit": 1, "concurrency_id": "export"}
    gr.on(triggers=[run.click, scales.submit], fn=cfg_sweep, inputs=inputs, outputs=outputs, api_name="cfg_sweep",
          preprocess=False, **SAMPLING_LANE).success(**export)
    live_scale.input(  # while dragging: the newest value wins, values that came in meanwhile are dropped
        live_column,
        [inputs[0], live_scale, inputs[2], inputs[3]],  # label, scale, samples, seed
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


def build(shown, model, model_error):
    """The sweep's knobs and demos on the left; the live slider, samples, denoising, judge scores and the
    trade-off on the right; the formula over them. Opens on the default sweep (`cfg_opening`)."""
    formula = gr.Markdown(view.cfg_explainer_markdown(), latex_delimiters=LATEX)
    with gr.Row():
        with gr.Column(scale=1, min_width=320):
            inputs, demos, run = sweep_controls(model)
        with gr.Column(scale=3):
            live_scale, live_image, live_line = live_controls()
            (grid, metrics, trajectory, summary), exports, tradeoff = sweep_results()
    with gr.Accordion("Common confusions about guidance", open=False):
        gr.Markdown(CONFUSIONS.replace("{CLIP}", CLIP_NOTE))
    outputs = [grid, metrics, trajectory, summary, formula]
    _, opening = on_first_visit(shown, functools.partial(cfg_opening, model), inputs,
                                [*outputs, live_image, live_line, *tradeoff], **SAMPLING_LANE)
    wire(inputs, outputs, exports, demos, run, (live_scale, live_image, live_line))
    return [opening]
