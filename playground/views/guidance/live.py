"""The guidance page, live: one column re-sampled as a scale slider moves, the sweep streamed step by step, and the
sweep's denoising exported for slides (animated GIF of the predicted x0, final grid as PNG).

`live_column` samples one guidance scale with the default sampler and steps from the sweep's noise (a `LiveRequest`
is a one-scale `SweepRequest`), so its bytes equal that scale's column of a sweep with the same seed and samples.
`stream_sweep` runs `cfg.sweep_view` in a worker thread and yields the grid of the predicted x0 after every step,
then the sweep's own result. `export_files` writes the GIF and PNG of a sweep. No gradio here.
"""

import contextvars
import hashlib
import queue
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from playground.cache import Cache
from playground.data import to_uint8
from playground.diffusion import DEFAULT_SAMPLER, DEFAULT_STEPS
from playground.grids import denoising_frames, labelled_grid, save_gif, sweep_grid, titled
from playground.inputs import MAX_SEED, as_float, as_int, fmt
from playground.judge import classify
from playground.model import DiTConfig
from playground.views.guidance import cfg

LIVE_SCALE = 4.0  # the slider's first value: one of the default sweep's scales, so the page opens on its column
LIVE_STEP = 0.1
# The frames of the last streamed sweeps, by request, for the export that follows each of them.
FRAMES = Cache("streamed sweep frames", max_items=4)
EXPORT_DIR = Path(tempfile.gettempdir()) / "dit-playground-exports"


@dataclass(frozen=True)
class LiveRequest:
    """A checked live column (`validate_live`): `samples` rows of digit `label` at guidance scale `scale`, from the
    noise of `seed`."""

    label: int
    scale: float
    samples: int
    seed: int

    def as_sweep(self):
        """The one-scale sweep this column is: the default sampler and steps, x0 clipped."""
        return cfg.SweepRequest(self.label, (self.scale,), self.samples, self.seed, DEFAULT_STEPS, DEFAULT_SAMPLER)

    def check(self, model):
        """Raise `GuidanceError` if `model` cannot guide at this scale."""
        self.as_sweep().check(model)


def validate_live(label, scale, samples, seed, num_classes=DiTConfig.num_classes):
    """The `LiveRequest` of these inputs, or ValueError, naming the field, for the person at the screen."""
    label = as_int(label, "class", 0, num_classes - 1)
    scale = as_float(scale, "guidance scale", *cfg.SCALE_RANGE)
    samples = as_int(samples, "samples", 1, cfg.MAX_SAMPLES)
    seed = as_int(seed, "seed", 0, MAX_SEED)
    return LiveRequest(label, scale, samples, seed)


def sample_column(model, request):
    """uint8 `[samples, H, W]` of a `LiveRequest`."""
    return to_uint8(cfg.sample_sweep(model, request.as_sweep())[0]).numpy()


def judge_reads(judge, images):
    """The judge's digit for each uint8 `[N, H, W]` image (None without a judge)."""
    if judge is None:
        return None
    x = torch.as_tensor(np.asarray(images), dtype=torch.float32).unsqueeze(1) / 127.5 - 1
    return classify(judge, x, torch.zeros(len(x), dtype=torch.long))["predicted"]


def column_view(images, label, scale, judge=None, seconds=None):
    """`{"image", "line"}` of a sampled column: the samples side by side under "s = ...", each headed by the
    judge's reading, and a line that counts how many the judge reads as `label`."""
    reads = judge_reads(judge, images)
    heads = [f"reads {r}" for r in reads] if reads else [f"#{i + 1}" for i in range(len(images))]
    image = titled(labelled_grid(np.asarray(images)[None], heads, cell=72, font_size=16),
                   f"s = {fmt(scale)} (w = {fmt(scale - 1)})")
    if reads:
        hits = sum(r == label for r in reads)
        line = f"**s = {fmt(scale)}**: the judge reads {hits} of {len(reads)} as {label} ({' '.join(map(str, reads))})"
    else:
        line = f"**s = {fmt(scale)}**: no judge loaded, so no reading"
    if seconds is not None:
        line += f" · sampled in {seconds * 1000:.0f} ms ({DEFAULT_SAMPLER}, {DEFAULT_STEPS} steps)"
    return {"image": image, "line": line}


def live_column(model, request, judge=None):
    """The live column of a `LiveRequest`: `{"image", "line", "images"}` (uint8 `[samples, H, W]`)."""
    start = time.perf_counter()
    images = sample_column(model, request)
    return {**column_view(images, request.label, request.scale, judge, time.perf_counter() - start),
            "images": images}


class _Stopped(Exception):
    """Raised in the worker when the stream's reader went away (the person left or a new request replaced it)."""


def stream_sweep(model, request, judge=None, judge_note=None, progress=None):
    """Yield `("step", grid)` after each denoising step (the sweep grid of the predicted x0; steps that arrive
    while the reader is busy are skipped, the newest wins), then `("done", out)` with `sweep_view`'s result plus
    "x0_steps", uint8 `[steps, S, N, H, W]`, for the `SweepRequest` `request`.

    The sweep runs in a worker thread (with this context, so gradio's progress bar still hears it); its samples
    are those of the unstreamed `sweep_view`. Closing the generator stops the worker at its next step.
    """
    updates, stop = queue.Queue(), threading.Event()

    def on_x0(step, total, x0):
        if stop.is_set():
            raise _Stopped
        updates.put(("step", to_uint8(x0).numpy()))

    def work():
        try:
            out = cfg.sweep_view(model, request, judge=judge, judge_note=judge_note, progress=progress, on_x0=on_x0)
            updates.put(("done", out))
        except BaseException as e:  # noqa: BLE001 - handed to the reader, which raises it
            updates.put(("error", e))

    worker = threading.Thread(target=contextvars.copy_context().run, args=(work,), daemon=True)
    worker.start()
    x0_steps = []
    try:
        while True:
            kind, value = updates.get()
            while kind == "step" and not updates.empty():  # frames that piled up: keep them all, show the newest
                x0_steps.append(value)
                kind, value = updates.get()
            if kind == "error":
                raise value
            if kind == "done":
                yield "done", {**value, "x0_steps": np.stack(x0_steps)}
                return
            x0_steps.append(value)
            yield "step", sweep_grid(value, request.scales)
    finally:
        stop.set()


def keep_frames(request, out):
    """Keep a streamed sweep's frames and samples (`stream_sweep`'s "done") for `export_files`."""
    FRAMES.put(request, (out["x0_steps"], out["images"]))


def sweep_frames(model, request):
    """`(x0_steps, images)` of a `SweepRequest`: uint8 predicted x0 `[steps, S, N, H, W]` and samples
    `[S, N, H, W]`; kept from a streamed sweep of this request if there was one, else sampled (the same bytes)."""
    kept = FRAMES.peek(request)
    if kept is not None:
        return kept
    x0_steps = []
    x = cfg.sample_sweep(model, request, callback=lambda k, n, x0: x0_steps.append(to_uint8(x0).numpy()))
    return np.stack(x0_steps), to_uint8(x).numpy()


def gif_frames(x0_steps, images, scales, row_labels=None, cell=84):
    """The GIF's frames: the predicted x0 after each step, the last step showing the final samples (the same
    numbers up to the last step's rounding), so the last frame's grid is the PNG's."""
    x0_steps = np.concatenate([np.asarray(x0_steps)[:-1], np.asarray(images)[None]])
    return denoising_frames(x0_steps, scales, row_labels, cell=cell)


def export_files(model, request, directory=EXPORT_DIR):
    """Write the denoising GIF and final-grid PNG of a `SweepRequest` into `directory`; returns their two paths."""
    x0_steps, images = sweep_frames(model, request)
    digest = hashlib.sha1(repr(request).encode()).hexdigest()[:8]
    sampler = request.sampler.replace("+", "p")
    stem = f"cfg_{request.label}_seed{request.seed}_{request.steps}{sampler}_{digest}"
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    gif, png = directory / f"{stem}.gif", directory / f"{stem}.png"
    save_gif(gif_frames(x0_steps, images, request.scales), gif)
    sweep_grid(images, request.scales).save(png, format="png")
    return [str(gif), str(png)]
