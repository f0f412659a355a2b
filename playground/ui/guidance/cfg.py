"""Tab 3, classifier-free guidance: widgets from `views.cfg_sweep.DEFAULTS` and its caps, one-click presets;
`/cfg_sweep`. The tab opens on the default sweep, computed once when the app is built (about a second), and
shows the precomputed all-class trade-off (`assets/tradeoff.json`) under the live sweep."""

import functools
import os
import tempfile
import uuid
from pathlib import Path

import gradio as gr

from playground.diffusion import SAMPLERS
from playground.guidance import Guidance, GuidanceError
from playground.ui.shared import (
    LATEX,
    LIVE,
    SAMPLER,
    SAMPLING_LANE,
    class_count,
    get_judge,
    get_model,
    on_first_visit,
    plot,
    require_model,
    user_error,
    wire_demos,
)
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
  are s, i.e. w = 6.5 and 4-6. More guidance: more recognisable, less varied; too much: bold, saturated, all alike.
- **Negative scale ≠ negative prompt.** s < 0 keeps ε_u as the anchor and reverses the label's direction:
  ε_u + s·(ε_c − ε_u) with s < 0 moves away from the digit. A negative prompt (or negative class) keeps s > 1 and
  replaces ε_u by the prediction for another label, ε_neg + s·(ε_c − ε_neg): towards the digit, away from that
  other label.
- {CLIP}
- **Cost:** each step runs the network on the batch twice (with the label and with ∅), as one doubled batch.
- **Channels:** the reference DiT guides only 3 of its 4 latent channels (a leftover it keeps for exact
  reproducibility); here there is a single pixel channel, so the whole image is guided.
"""


def cfg_sweep(label, scales, samples, seed, steps, sampler, clip=True, progress=PROGRESS):
    """Sample one class at several guidance scales from shared noise; grid, judge scores, trajectory.

    A generator: the grid of the predicted x0 after each step (the other outputs left as they are), then the
    sweep's grid, metrics, trajectory, summary and formula (what a client's `predict` returns).
    `clip` (last, optional: clients of the six-input endpoint still work) clips x0 and re-derives eps.
    """
    model, _ = get_model()
    args = user_error(
        view.validate_sweep, label, scales, samples, seed, steps, sampler, clip, num_classes=class_count(model)
    )
    model = require_model()
    user_error(Guidance(clip=args[-1]).check, model, args[1])  # e.g. a model without a null class asked to guide
    judge, judge_note = get_judge()
    with SAMPLER.turn(), tempfile.TemporaryDirectory(prefix="playground-frames-") as frames:
        for kind, out in live.stream_sweep(model, args, judge=judge, judge_note=judge_note, progress=progress):
            if kind == "step":
                if os.environ.get(STREAM_ENV) != "0":
                    yield fast_png(out, frames), gr.skip(), gr.skip(), gr.skip(), gr.skip()
            else:
                live.keep_frames(args, out)
                yield out["grid"], out["metrics"], out["trajectory"], out["summary"], out["formula"]


def fast_png(image, directory):
    """`image` saved as a PNG file in `directory` at zlib level 1; its path, for gradio to serve. A frame of noisy
    pixels takes 16 ms at gradio's default level and 4 ms at level 1, for the same size: 8 frames a sweep."""
    path = Path(directory) / f"{uuid.uuid4().hex}.png"
    image.save(path, format="png", compress_level=1)
    return str(path)


def export_sweep(label, scales, samples, seed, steps, sampler, clip=True):
    """The last sweep's denoising as a GIF and its final grid as a PNG (files for the download box)."""
    model, _ = get_model()
    args = user_error(
        view.validate_sweep, label, scales, samples, seed, steps, sampler, clip, num_classes=class_count(model)
    )
    return live.export_files(require_model(), *args)


def live_column(label, scale, samples, seed):
    """One guidance scale re-sampled (default sampler and steps, the sweep's noise): the column and the judge's
    reading."""
    model, _ = get_model()
    args = user_error(live.validate_live, label, scale, samples, seed, num_classes=class_count(model))
    user_error(Guidance().check, require_model(), [args[1]])
    with LIVE.turn():
        out = live.live_column(require_model(), *args, judge=get_judge()[0])
    return out["image"], out["line"]


def initial_column(model, first):
    """The live column at `live.LIVE_SCALE`, cut from the opening sweep (the same bytes): `{"image", "line"}`."""
    scales = list(view.parse_scales(DEFAULTS["scales"]))
    if model is None or "images" not in first or live.LIVE_SCALE not in scales:
        return {"image": None, "line": "Drag the slider to sample one column."}
    images = first["images"][scales.index(live.LIVE_SCALE)][: DEFAULTS["samples"]]
    return live.column_view(images, DEFAULTS["label"], live.LIVE_SCALE, get_judge()[0])


def initial_sweep(model):
    """The default sweep's outputs, so the tab opens on a result (None without a model)."""
    if model is None:
        return None
    judge, judge_note = get_judge()
    args = view.validate_sweep(*DEFAULTS.values(), num_classes=class_count(model))
    try:
        return view.sweep_view(model, *args, judge=judge, judge_note=judge_note)
    except GuidanceError:  # a model without a null class cannot run the default sweep: open empty
        return None


RUN_NOTE = "\n\nEach run takes a few seconds per scale on CPU; the bar over the images counts the steps."


def cfg_opening(model):
    """What the tab opens on for `model` (None: no weights), computed once (`shared.opening`, warmed when the
    server starts rather than while it starts): the default sweep's grid, metrics, trajectory, summary and formula,
    its live column, and the precomputed all-class trade-off and its text."""
    with SAMPLER.turn():
        first = initial_sweep(model) or {}
    column, tradeoff = initial_column(model, first), cfg_tradeoff.tradeoff_view()
    return (first.get("grid"), first.get("metrics"), first.get("trajectory"),
            first.get("summary", "Pick a one-click demo or press **Sample**.") + RUN_NOTE,
            first.get("formula", view.cfg_explainer_markdown()), column["image"], column["line"],
            tradeoff["figure"], tradeoff["markdown"])


def opening_image(elem_id, value):
    """`shared.image`, showing `value` from the start (shared.image takes no value)."""
    return gr.Image(value=value, show_label=False, type="pil", format="png", interactive=False, height=380,
                    elem_id=elem_id, buttons=[])


def build_tab(model, model_error):
    """The sweep's knobs and presets on the left; samples, denoising, judge scores and the formula on the right."""
    choices = [(str(i), i) for i in range(class_count(model))]
    with gr.Tab("4 · Classifier-free guidance", id="cfg") as tab:
        formula = gr.Markdown(view.cfg_explainer_markdown(), latex_delimiters=LATEX)
        with gr.Row():
            with gr.Column(scale=1, min_width=320):
                gr.Markdown("**One-click demos**")
                preset_buttons = {name: gr.Button(name, size="md") for name in PRESETS}
                label = gr.Radio(choices, value=DEFAULTS["label"], label="digit to draw")
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
            with gr.Column(scale=3):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=2, min_width=300):
                        live_scale = gr.Slider(
                            *SCALE_RANGE, value=live.LIVE_SCALE, step=live.LIVE_STEP, elem_id="cfg-live-scale",
                            label="Drag the scale: one column, re-sampled as you move (same digit, seed, noise)",
                        )
                        live_line = gr.Markdown("Drag the slider to sample one column.", elem_id="cfg-live-line")
                    live_image = gr.Image(value=None, show_label=False, type="pil", format="png",
                                          interactive=False, height=150, elem_id="cfg-live-column", buttons=[])
                with gr.Row():
                    with gr.Column():
                        gr.Markdown("**Samples**: columns = guidance scale s; rows share their starting noise")
                        grid = opening_image("cfg-grid", None)
                    with gr.Column():
                        gr.Markdown("**Denoising** (row 1): the predicted clean image x0 at a few steps")
                        trajectory = opening_image("cfg-trajectory", None)
                exports = gr.File(label="For slides: the last sweep's denoising (GIF) and final grid (PNG)",
                                  file_count="multiple", interactive=False, elem_id="cfg-exports", height=140)
                metrics_plot = plot()
                summary = gr.Markdown("*Sampling the default sweep…*" + RUN_NOTE, elem_id="cfg-summary")
                gr.Markdown(
                    "**Beyond one digit and a few samples:** the live sweep above judges one digit from at most "
                    f"{MAX_SAMPLES} samples per scale, too few for a distribution-level score. The same sampler on "
                    "all ten digits, precomputed:"
                )
                tradeoff_plot = plot()
                tradeoff_text = gr.Markdown()
        with gr.Accordion("Common confusions about guidance", open=False):
            gr.Markdown(CONFUSIONS.replace("{CLIP}", CLIP_NOTE))
        inputs = [label, scales, samples, seed, steps, sampler, clip]  # the order of DEFAULTS and of each preset
        outputs = [grid, metrics_plot, trajectory, summary, formula]
        opened = [*outputs, live_image, live_line, tradeoff_plot, tradeoff_text]
        on_first_visit(tab.select, functools.partial(cfg_opening, model), [], opened, **SAMPLING_LANE)
        export = {"fn": export_sweep, "inputs": inputs, "outputs": exports, "api_visibility": "private",
                  "show_progress": "minimal", "concurrency_limit": 1, "concurrency_id": "export"}
        gr.on(
            triggers=[run.click, scales.submit],
            fn=cfg_sweep,
            inputs=inputs,
            outputs=outputs,
            api_name="cfg_sweep",
            preprocess=False,
            **SAMPLING_LANE,
        ).success(**export)
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
        for run_demo in wire_demos(preset_buttons, PRESETS, cfg_sweep, inputs, outputs, **SAMPLING_LANE):
            run_demo.success(**export)
