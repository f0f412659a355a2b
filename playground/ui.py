"""The Gradio layer of the DiT Playground: four tabs over the pure builders in `playground.figures`.

Named API endpoints (simple inputs, so `gradio_client` can call them):
`/timestep_embedding`, `/mlp_comparison`, `/cfg_sweep`. They skip gradio's preprocessing, so every
value a client sends, in range or not, reaches our validators and a bad one gets a message naming the
field. The model (`$PLAYGROUND_WEIGHTS`, default the shipped checkpoint) and the judge are loaded once
per process and shared by every request.
"""

import math
import os
import reprlib

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no network at runtime

import time
from functools import lru_cache

import gradio as gr
import torch

from playground import figures as F
from playground.checkpoint import CheckpointError, load_pretrained
from playground.data import to_uint8
from playground.diffusion import (
    DEFAULT_LABEL,
    DEFAULT_SAMPLER,
    DEFAULT_SAMPLES,
    DEFAULT_SCALES,
    DEFAULT_STEPS,
    SAMPLERS,
    sample_cfg_sweep,
)
from playground.judge import classify, diversity, load_judge

WEIGHTS_ENV = "PLAYGROUND_WEIGHTS"  # path of the DiT .safetensors to serve instead of the shipped one

# --- CFG sweep defaults (the sweep itself: playground.diffusion) and caps (enforced by the validators) --
DEFAULT_SCALES_TEXT = ", ".join(f"{scale:g}" for scale in DEFAULT_SCALES)
DEFAULT_SEED = 0
MAX_SAMPLES = 8  # samples per guidance scale
MAX_STEPS = 100  # denoising steps of one sweep
MAX_IMAGE_STEPS = 3200  # scales x samples x steps in one run: bounds the CPU time of a request
SAMPLING_CONCURRENCY = 1  # sweeps run one at a time (2 CPU cores)
VIEW_CONCURRENCY = 2  # requests of each other view that run at once
QUEUE_MAX_SIZE = 16  # requests waiting in the queue, all views together; more are turned away

# --- Timestep-embedding defaults ------------------------------------------------------------------
EMBEDDING_DEFAULTS = {
    "dim": 256,
    "max_period": 10000.0,
    "t_start": 0.0,
    "t_end": 999.0,
    "n_t": 1000,
    "flavour": "dit",
    "inspect_t": "4, 4, 4, 4",
}
MLP_DEFAULT_LABEL = 3

PRESETS = {
    "Classic trade-off": {
        "label": 3,
        "scales": "0, 1, 2, 4, 8",
        "samples": 4,
        "seed": 0,
        "steps": DEFAULT_STEPS,
        "sampler": DEFAULT_SAMPLER,
    },
    "Too much guidance": {
        "label": 5,
        "scales": "1, 4, 10, 20, 30",
        "samples": 4,
        "seed": 1,
        "steps": DEFAULT_STEPS,
        "sampler": DEFAULT_SAMPLER,
    },
    "Unconditional vs conditional": {
        "label": 7,
        "scales": "0, 1",
        "samples": 8,
        "seed": 2,
        "steps": DEFAULT_STEPS,
        "sampler": DEFAULT_SAMPLER,
    },
    "Negative guidance": {
        "label": 3,
        "scales": "-3, -1, 0, 1, 3",
        "samples": 4,
        "seed": 3,
        "steps": DEFAULT_STEPS,
        "sampler": DEFAULT_SAMPLER,
    },
}

THEME = gr.themes.Soft(text_size="lg")
CSS = """
.gradio-container {max-width: 100% !important; padding-top: 4px !important;}
#title h1 {font-size: 26px; margin: 2px 0 0 0;}
#title p {margin: 2px 0 4px 0;}
.caps {font-size: 14px !important; color: #555;}
.big-run {font-size: 20px !important;}
"""
PROGRESS = gr.Progress()  # gradio passes this default instance to the handler (its documented idiom)
LATEX = [{"left": "$$", "right": "$$", "display": True}, {"left": "$", "right": "$", "display": False}]


# --- Shared, loaded once ----------------------------------------------------------------------------


@lru_cache(maxsize=1)
def get_model():
    """`(model, None)` or `(None, reason)`: the app still starts (and explains) without weights."""
    path = os.environ.get(WEIGHTS_ENV)
    try:
        return load_pretrained(path), None
    except CheckpointError as e:
        hint = f" ({WEIGHTS_ENV} is set to {path}; unset it to serve the shipped weights)" if path else ""
        return None, f"{e}{hint}"


@lru_cache(maxsize=1)
def get_judge():
    """`(judge, None)` or `(None, reason)`; the sweep works without a judge."""
    try:
        return load_judge(), None
    except CheckpointError as e:  # an optional scorer that fails to load must not take the app down
        return None, f"The judge could not be loaded: {e}"


def _require_model():
    model, error = get_model()
    if model is None:
        raise gr.Error(f"The model could not be loaded: {error}")
    return model


def _user_error(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except ValueError as e:
        raise gr.Error(str(e), title="Please check the input") from e


# --- Endpoint functions (plain arguments in, component values out) -----------------------------------


def timestep_embedding_view(dim, max_period, t_start, t_end, n_t, flavour, inspect_t):
    """Heatmap, a few columns vs t, t x t similarity, the one-batch inspector and notes."""
    model, error = get_model()
    view = _user_error(
        F.embedding_view,
        dim,
        max_period,
        t_start,
        t_end,
        n_t,
        flavour,
        inspect_t,
        embedder=model.t_embedder if model is not None else None,
        embedder_note=None if model is not None else f"`t_emb` needs the trained model, which did not load: {error}",
    )
    return view["heatmap"], view["dims"], view["similarity"], view["inspector"], view["notes"]


def mlp_comparison(label, seed):
    """Raw sinusoid vs trained MLP vs fresh MLP, and the adaLN-Zero modulation it drives, for one class."""
    model = _require_model()
    view = _user_error(F.mlp_view, model, label, seed)
    return (
        view["summary"],
        view["heatmaps"],
        view["similarities"],
        view["pca2d"],
        view["distinguishability"],
        view["pca3d"],
        view["modulation"],
    )


def judge_scores(samples, label):
    """Per scale: accuracy, confidence, label entropy and diversity from the judge; `(list, note)`.

    `samples`: float `[S, N, 1, 28, 28]` in [-1, 1], as `sample_cfg_sweep` returns them.
    """
    judge, error = get_judge()
    if judge is None:
        return [], error
    labels = torch.full((samples.shape[1],), int(label), dtype=torch.long)
    metrics = []
    for images in samples:
        scores = classify(judge, images, labels)
        spread = diversity(images, labels)
        metrics.append(
            {
                "accuracy": scores["accuracy"],
                "confidence": scores["confidence"],
                "label_entropy": scores["label_entropy"],
                "diversity": spread if math.isfinite(spread) else None,  # NaN with a single sample
            }
        )
    return metrics, None


def validate_sweep(label, scales, samples, seed, steps, sampler):
    """Checked sweep arguments, or ValueError with a message for the person at the screen."""
    label = F._as_int(label, "class", 0, 9)
    scale_list = F.parse_scales(scales)
    samples = F._as_int(samples, "samples per scale", 1, MAX_SAMPLES)
    seed = F._as_int(seed, "seed", 0, 2**31 - 1)
    steps = F._as_int(steps, "steps", 1, MAX_STEPS)
    if sampler not in SAMPLERS:
        raise ValueError(f"Unknown sampler {reprlib.repr(sampler)}; choose one of {', '.join(SAMPLERS)}.")
    work = len(scale_list) * samples * steps
    if work > MAX_IMAGE_STEPS:
        raise ValueError(
            f"{len(scale_list)} scales × {samples} samples × {steps} steps = {work} image-steps; the limit is "
            f"{MAX_IMAGE_STEPS}. Use fewer scales, samples or steps."
        )
    return label, scale_list, samples, seed, steps, sampler


def cfg_sweep(label, scales, samples, seed, steps, sampler, progress=PROGRESS):
    """Sample one class at several guidance scales from shared noise; grid, judge scores, trajectory."""
    label, scale_list, samples, seed, steps, sampler = _user_error(
        validate_sweep, label, scales, samples, seed, steps, sampler
    )
    model = _require_model()
    keep = set(F.capture_steps(steps))
    frames = {}

    def on_step(step, total, x0):
        progress((step, total), desc=f"denoising: step {step} of {total}")
        if step in keep:
            frames[step] = to_uint8(x0[:, 0]).numpy()  # row 0 at every scale: [S, H, W]

    progress((0, steps), desc="starting from noise")
    start = time.perf_counter()
    samples_out = sample_cfg_sweep(
        model, [label] * samples, scale_list, steps=steps, seed=seed, sampler=sampler, callback=on_step
    )
    elapsed = time.perf_counter() - start
    images = to_uint8(samples_out).numpy()  # [S, N, 28, 28]
    progress(1.0, desc="judging")
    metrics, note = judge_scores(samples_out, label)
    return (
        F.sweep_grid(images, scale_list),
        F.metrics_figure(scale_list, metrics, note),
        F.trajectory_image(frames, scale_list, steps),
        F.cfg_summary_markdown(label, scale_list, metrics, elapsed, steps, sampler, note),
        F.cfg_explainer_markdown(scale_list),
    )


# --- Text ----------------------------------------------------------------------------------------------

INTRO = (
    "# DiT Playground\n"
    "How a Diffusion Transformer (Peebles & Xie, 2023) is told **when** it is in the denoising schedule (step t) "
    "and **what** to draw (the class): a small DiT trained on MNIST, on CPU."
)

EMBEDDING_HELP = (
    "DiT receives the step **t as one number per image**. Before any learning happens, it spreads that number "
    "over cos and sin waves whose frequencies shrink geometrically (`t_freq`, 256 numbers). Rows below are t, "
    "columns are the waves (an odd dim adds a zero column). Hover any cell for its frequency and wavelength."
)

EMBEDDING_CONFUSIONS = """
- **`t` is `[B]`, one step per image.** In training each image in a batch has its own random step; `[4, 4, 4, 4]`
  means four images all at step 4. There is no extra t or sequence axis: `t_freq` is `[B, 256]` and `t_emb` is
  `[B, hidden]`. "Position" here means the position in the noise schedule, not a token position.
- **Why not feed t directly?** A single number gives the network one feature that changes by 0.1 % per step. The
  waves give it features at every time scale at once: fast ones separate neighbouring steps, slow ones locate t
  in 0..999, and every row has the same length, so no step dominates by magnitude.
- **The waves are fixed, the MLP is learned.** `timestep_embedding` has no weights; `Linear → SiLU → Linear` after
  it is trained with the rest of the model. The next tab shows what training did to it.
- **Cos or sin first?** DiT puts the cos half first; diffusers' default puts sin first and spaces the frequencies
  slightly differently (`downscale_freq_shift=1`). Weights trained with one must be run with the same one.
"""

CFG_CONFUSIONS = """
- **No classifier in classifier-free guidance.** Classifier guidance steers sampling with the gradient of a
  separate classifier trained on noisy images. CFG drops it: during training the label is replaced by the null
  class ∅ 10 % of the time, so one network learns both the conditional ε_c and the unconditional ε_u.
- **Two ways to write the same mix.** `s·ε_c + (1−s)·ε_u` equals `ε_u + s·(ε_c − ε_u)`: start from the
  unconditional prediction and move s times along the direction the label adds. s = 1 is the plain
  conditional model; s > 1 exaggerates what makes the sample look like the class.
- **Which s is "typical" depends on the convention and the data.** DiT's `sample.py` uses s = 4 for pictures and
  s = 1.5 for its FID numbers; Ho & Salimans' w is s − 1, so s = 4 is w = 3. More guidance: more recognisable,
  less varied; too much: bold, saturated, all alike.
- **Cost:** each step runs the network on the batch twice (with the label and with ∅), as one doubled batch.
- **Channels:** the reference DiT guides only 3 of its 4 latent channels (a leftover it keeps for exact
  reproducibility); here there is a single pixel channel, so the whole image is guided.
"""


# --- Layout -----------------------------------------------------------------------------------------


def _plot(**kwargs):
    return gr.Plot(show_label=False, **kwargs)


def _image(elem_id):
    # No button overlay: it would hide the last column's header.
    return gr.Image(show_label=False, type="pil", format="png", interactive=False, height=380, elem_id=elem_id,
                    buttons=[])


def build_app():
    """The four-tab Blocks app (queue configured); launch with `launch_app` or `.launch(**LAUNCH_KWARGS)`."""
    model, model_error = get_model()
    get_judge()  # load once now, not on the first sweep
    label_choices = [(str(i), i) for i in range(10)]
    initial = timestep_embedding_view(**EMBEDDING_DEFAULTS)

    with gr.Blocks(title="DiT Playground", fill_width=True) as demo:
        gr.Markdown(INTRO, elem_id="title")
        if model is None:
            gr.Markdown(f"> ⚠️ **The model did not load:** {model_error}")
        with gr.Tabs():
            # ---------------------------------------------------------------- 1. timestep embedding
            with gr.Tab("1 · Timestep embedding", id="embedding"):
                gr.Markdown(EMBEDDING_HELP)
                with gr.Row():
                    with gr.Column(scale=1, min_width=230):
                        dim = gr.Slider(2, F.MAX_DIM, value=256, step=1, label="dim")
                        n_t = gr.Slider(1, F.MAX_T_POINTS, value=1000, step=1, label="how many t")
                        with gr.Row():
                            t_start = gr.Number(value=0, label="t start", min_width=90)
                            t_end = gr.Number(value=999, label="t end", min_width=90)
                        max_period = gr.Number(
                            value=10000, label="max_period", minimum=F.MIN_MAX_PERIOD, maximum=F.MAX_MAX_PERIOD
                        )
                        flavour = gr.Radio(list(F.FLAVOURS), value="dit", label="flavour")
                        gr.Markdown(
                            f"Caps: dim ≤ {F.MAX_DIM}, up to {F.MAX_T_POINTS} t, up to {F.MAX_INSPECT_T} inspector "
                            f"values. Each view runs {VIEW_CONCURRENCY} requests at a time.",
                            elem_classes="caps",
                        )
                    with gr.Column(scale=4):
                        heatmap = _plot(value=initial[0])
                with gr.Row():
                    with gr.Column():
                        dims_plot = _plot(value=initial[1])
                    with gr.Column():
                        sim_plot = _plot(value=initial[2])
                with gr.Row():
                    with gr.Column(scale=3):
                        inspect_t = gr.Textbox(
                            value=EMBEDDING_DEFAULTS["inspect_t"],
                            label=(
                                f"t for the inspector: one value per image in the batch (up to {F.MAX_INSPECT_T}), "
                                "press Enter"
                            ),
                        )
                        inspector = gr.Markdown(initial[3])
                    with gr.Column(scale=2):
                        notes = gr.Markdown(initial[4])
                with gr.Accordion("Common confusions about the timestep embedding", open=False):
                    gr.Markdown(EMBEDDING_CONFUSIONS)
                emb_inputs = [dim, max_period, t_start, t_end, n_t, flavour, inspect_t]
                gr.on(
                    triggers=[
                        dim.release,
                        max_period.submit,
                        t_start.submit,
                        t_end.submit,
                        n_t.release,
                        flavour.change,
                        inspect_t.submit,
                    ],
                    fn=timestep_embedding_view,
                    inputs=emb_inputs,
                    outputs=[heatmap, dims_plot, sim_plot, inspector, notes],
                    api_name="timestep_embedding",
                    preprocess=False,
                    show_progress="minimal",
                )

            # ---------------------------------------------------------------- 2. with vs without the MLP
            with gr.Tab("2 · With vs without the MLP", id="mlp") as mlp_tab:
                gr.Markdown(
                    "The same steps t = 0..999 three ways: the **raw sinusoid** `t_freq`, the **trained** "
                    "`t_emb` of the shipped model, and a **freshly initialised** MLP (DiT's init, seeded). "
                    "Then where t goes next: the adaLN-Zero shift / scale / gate of every block."
                )
                with gr.Row():
                    mlp_label = gr.Dropdown(
                        label_choices + [("∅ null class (10)", 10)],
                        value=MLP_DEFAULT_LABEL,
                        label="class label for the blocks",
                        scale=2,
                    )
                    fresh_seed = gr.Number(value=0, precision=0, label="seed of the fresh MLP", scale=1)
                    mlp_button = gr.Button("Compute", variant="primary", scale=1)
                mlp_summary = gr.Markdown("*Computing…*")
                mlp_heat = _plot()
                mlp_sim = _plot()
                distinct = _plot()
                pca2d = _plot()
                pca3d = _plot()
                modulation = _plot()
                mlp_outputs = [mlp_summary, mlp_heat, mlp_sim, pca2d, distinct, pca3d, modulation]
                gr.on(
                    triggers=[mlp_button.click, mlp_label.change, fresh_seed.submit],
                    fn=mlp_comparison,
                    inputs=[mlp_label, fresh_seed],
                    outputs=mlp_outputs,
                    api_name="mlp_comparison",
                    preprocess=False,
                )
                mlp_loaded = gr.State(False)

                def first_visit(loaded, label, seed):
                    if loaded:
                        return [gr.skip()] * len(mlp_outputs) + [True]
                    return [*mlp_comparison(label, seed), True]

                mlp_tab.select(
                    first_visit,
                    [mlp_loaded, mlp_label, fresh_seed],
                    mlp_outputs + [mlp_loaded],
                    api_visibility="private",
                )

            # ---------------------------------------------------------------- 3. CFG sweep
            with gr.Tab("3 · Classifier-free guidance", id="cfg"):
                formula = gr.Markdown(F.cfg_explainer_markdown(), latex_delimiters=LATEX)
                with gr.Row():
                    with gr.Column(scale=1, min_width=320):
                        gr.Markdown("**One-click demos**")
                        preset_buttons = {name: gr.Button(name, size="md") for name in PRESETS}
                        cfg_label = gr.Radio(label_choices, value=DEFAULT_LABEL, label="digit to draw")
                        cfg_scales = gr.Textbox(
                            value=DEFAULT_SCALES_TEXT,
                            label=(
                                f"guidance scales s (up to {F.MAX_SCALES}, each in [{F.SCALE_RANGE[0]:g}, "
                                f"{F.SCALE_RANGE[1]:g}])"
                            ),
                        )
                        cfg_samples = gr.Slider(
                            1, MAX_SAMPLES, value=DEFAULT_SAMPLES, step=1, label="samples per scale (rows)"
                        )
                        with gr.Row():
                            cfg_seed = gr.Number(value=DEFAULT_SEED, precision=0, label="seed", minimum=0)
                            cfg_sampler = gr.Dropdown(list(SAMPLERS), value=DEFAULT_SAMPLER, label="sampler")
                        cfg_steps = gr.Slider(1, MAX_STEPS, value=DEFAULT_STEPS, step=1, label="denoising steps")
                        run = gr.Button("Sample", variant="primary", elem_classes="big-run")
                        gr.Markdown(
                            f"Caps per run: {F.MAX_SCALES} scales, {MAX_SAMPLES} samples, {MAX_STEPS} steps, "
                            f"{MAX_IMAGE_STEPS} image-steps. Sweeps run {SAMPLING_CONCURRENCY} at a time; at most "
                            f"{QUEUE_MAX_SIZE} requests wait in the queue.",
                            elem_classes="caps",
                        )
                    with gr.Column(scale=3):
                        with gr.Row():
                            with gr.Column():
                                gr.Markdown("**Samples**: columns = guidance scale s; rows share their starting noise")
                                grid = _image("cfg-grid")
                            with gr.Column():
                                gr.Markdown("**Denoising** (row 1): the predicted clean image x0 at a few steps")
                                trajectory = _image("cfg-trajectory")
                        metrics_plot = _plot()
                        cfg_summary = gr.Markdown(
                            "Pick a one-click demo or press **Sample**. Each run takes a few seconds per "
                            "scale on CPU; the bar over the images counts the denoising steps."
                        )
                with gr.Accordion("Common confusions about guidance", open=False):
                    gr.Markdown(CFG_CONFUSIONS)
                cfg_inputs = [cfg_label, cfg_scales, cfg_samples, cfg_seed, cfg_steps, cfg_sampler]
                cfg_outputs = [grid, metrics_plot, trajectory, cfg_summary, formula]
                gr.on(
                    triggers=[run.click, cfg_scales.submit],
                    fn=cfg_sweep,
                    inputs=cfg_inputs,
                    outputs=cfg_outputs,
                    api_name="cfg_sweep",
                    preprocess=False,
                    concurrency_limit=SAMPLING_CONCURRENCY,
                    concurrency_id="sampling",
                )
                for name, button in preset_buttons.items():
                    preset = PRESETS[name]
                    button.click(
                        lambda p=preset: (p["label"], p["scales"], p["samples"], p["seed"], p["steps"], p["sampler"]),
                        outputs=cfg_inputs,
                        api_visibility="private",
                        queue=False,
                    ).then(
                        cfg_sweep,
                        cfg_inputs,
                        cfg_outputs,
                        api_visibility="private",
                        concurrency_limit=SAMPLING_CONCURRENCY,
                        concurrency_id="sampling",
                    )

            # ---------------------------------------------------------------- 4. the model
            with gr.Tab("4 · The model", id="model"):
                if model is None:
                    gr.Markdown(f"The model did not load: {model_error}")
                else:
                    card = model.card
                    with gr.Row():
                        with gr.Column(scale=3):
                            gr.Markdown(F.model_card_markdown(card, model))
                            gr.Markdown(F.label_dropout_markdown(card))
                        with gr.Column(scale=2):
                            _plot(value=F.loss_curve_figure(card.get("training", {}).get("loss_log")))
                            _plot(value=F.label_table_figure(model))

    demo.queue(max_size=QUEUE_MAX_SIZE, default_concurrency_limit=VIEW_CONCURRENCY)
    return demo


LAUNCH_KWARGS = {"theme": THEME, "css": CSS, "show_error": True}


def launch_app(host="127.0.0.1", port=7860, **kwargs):
    """Build and launch; extra keyword arguments go to `Blocks.launch` (e.g. prevent_thread_lock=True)."""
    demo = build_app()
    demo.launch(server_name=host, server_port=port, **{**LAUNCH_KWARGS, **kwargs})
    return demo
