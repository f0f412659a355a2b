"""Pictures the command-line tools share with the app: labelled PIL grids, denoising frames and GIFs.

No plotly and no gradio: `python -m playground.cli.sample` and `evaluate` import this module.
"""

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from playground.diffusion import sampling_timesteps
from playground.inputs import fmt


def labelled_grid(images, col_labels, row_labels=None, cell=84, pad=6, font_size=18):
    """uint8 `[R, C, H, W]` -> PIL image with column headers (and row labels), pixels upscaled to `cell`."""
    images = np.asarray(images, dtype=np.uint8)
    n_rows, n_cols = images.shape[:2]
    font = ImageFont.load_default(size=font_size)
    header_lines = max(len(str(text).split("\n")) for text in col_labels)
    header = header_lines * (font_size + 2) + 2 * pad + 2
    label_lines = [str(label).split("\n") for label in (row_labels or [])]
    left = 0
    if row_labels:
        left = max(int(font.getlength(line)) for lines in label_lines for line in lines) + 2 * pad
    width = left + n_cols * (cell + pad) + pad
    height = header + n_rows * (cell + pad) + pad
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    for c, text in enumerate(col_labels):
        x = left + pad + c * (cell + pad) + cell / 2
        lines = str(text).split("\n")
        for i, line in enumerate(lines):
            offset = (i - (len(lines) - 1) / 2) * (font_size + 2)
            draw.text((x, header / 2 + offset), line, fill="black", font=font, anchor="mm")
    for r in range(n_rows):
        y = header + r * (cell + pad)
        if row_labels:
            lines = label_lines[r]
            for i, line in enumerate(lines):
                offset = (i - (len(lines) - 1) / 2) * (font_size + 2)
                draw.text((left - pad, y + cell / 2 + offset), line, fill="black", font=font, anchor="rm")
        for c in range(n_cols):
            tile = Image.fromarray(images[r, c]).resize((cell, cell), Image.NEAREST)
            canvas.paste(tile.convert("RGB"), (left + pad + c * (cell + pad), y))
    return canvas


def sweep_grid(samples, scales, row_labels=None, cell=84):
    """The CFG sweep as a picture: uint8 `[S, N, H, W]` -> columns = scales ("s = ..." headers), rows = samples."""
    samples = np.asarray(samples, dtype=np.uint8)
    if len(scales) != samples.shape[0] or (row_labels is not None and len(row_labels) != samples.shape[1]):
        raise ValueError(f"samples {samples.shape} do not match {len(scales)} scales / row labels")
    return labelled_grid(np.swapaxes(samples, 0, 1), [f"s = {fmt(s)}" for s in scales], row_labels, cell=cell)


def capture_steps(steps, n_frames=6):
    """Which step numbers (1-based, after that many steps) to keep for the trajectory: always the last."""
    return sorted({round(v) for v in np.linspace(1, steps, min(n_frames, steps))})


def trajectory_image(frames, scales, steps):
    """`frames`: {step: uint8 `[S, H, W]`} predicted x0 of one row -> rows = steps, columns = scales."""
    timesteps = sampling_timesteps(steps)
    order = sorted(frames)
    images = np.stack([frames[k] for k in order])
    labels = [f"step {k}/{steps}\nt = {timesteps[k - 1]}" for k in order]
    return labelled_grid(images, [f"s = {fmt(s)}" for s in scales], labels, cell=72, font_size=17)


def titled(image, title, font_size=18, pad=6):
    """`image` under a white band holding `title` (one line), as a new RGB image of the same width."""
    band = font_size + 2 * pad
    canvas = Image.new("RGB", (image.width, image.height + band), "white")
    canvas.paste(image.convert("RGB"), (0, band))
    font = ImageFont.load_default(size=font_size)
    ImageDraw.Draw(canvas).text((image.width / 2, band / 2), title, fill="black", font=font, anchor="mm")
    return canvas


def denoising_frames(x0_steps, scales, row_labels=None, cell=84):
    """One picture per step from uint8 `[steps, S, N, H, W]` (the predicted x0 after each step): the sweep grid
    (columns "s = ...") under a band "step k/steps · t = ..." (the t at which that x0 was predicted).

    Grayscale ("L"): every pixel of a grid is a grey, so the GIF's palette holds them exactly.
    """
    x0_steps = np.asarray(x0_steps, dtype=np.uint8)
    steps = len(x0_steps)
    timesteps = sampling_timesteps(steps)
    return [
        titled(sweep_grid(frame, scales, row_labels, cell=cell), f"step {k}/{steps} · t = {timesteps[k - 1]}")
        .convert("L")
        for k, frame in enumerate(x0_steps, start=1)
    ]


def save_gif(frames, path, frame_ms=250, last_ms=1500):
    """Write PIL `frames` as a looping animated GIF to `path` (a file name or a binary file); the last frame stays
    on screen `last_ms`."""
    durations = [frame_ms] * (len(frames) - 1) + [last_ms]
    frames[0].save(path, format="gif", save_all=True, append_images=frames[1:], duration=durations, loop=0,
                   optimize=False, disposal=1)
