"""The CFG page's live parts, without gradio: the live column, the streamed sweep, the GIF/PNG export and the frames
kept for it."""

import dataclasses
import re

import numpy as np
import pytest
from PIL import Image, ImageSequence

from playground.diffusion import DEFAULT_SAMPLER, DEFAULT_STEPS
from playground.views.guidance import cfg as cfg_sweep
from playground.views.guidance import live

SWEEP = cfg_sweep.SweepRequest(3, (0.0, 2.5, 7.0), 3, 5, DEFAULT_STEPS, DEFAULT_SAMPLER, True)


@pytest.fixture(scope="module")
def sweep(random_dit):
    return cfg_sweep.sweep_view(random_dit, SWEEP)


def test_the_live_column_is_that_scales_column_of_the_sweep(random_dit, sweep):
    for k, scale in enumerate(SWEEP.scales):
        request = live.LiveRequest(SWEEP.label, scale, SWEEP.samples, SWEEP.seed)
        assert request.as_sweep() == dataclasses.replace(SWEEP, scales=(scale,))
        out = live.live_column(random_dit, request)
        assert out["images"].dtype == np.uint8 and out["images"].shape == (SWEEP.samples, 28, 28)
        assert out["images"].tobytes() == sweep["images"][k].tobytes()
    assert "no judge" in out["line"] and f"{DEFAULT_STEPS} steps" in out["line"]
    assert out["image"].width > out["image"].height  # the samples side by side


def test_validate_live_returns_a_frozen_request_and_names_the_bad_field():
    request = live.validate_live("3", "4.5", 4, 0)
    assert request == live.LiveRequest(label=3, scale=4.5, samples=4, seed=0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.scale = 1.0
    for args, message in [((10, 1, 4, 0), "class"), ((3, 99, 4, 0), "guidance scale"), ((3, "x", 4, 0), "scale"),
                          ((3, 1, 0, 0), "samples"), ((3, 1, 4, -1), "seed")]:
        with pytest.raises(ValueError, match=message):
            live.validate_live(*args)
    with pytest.raises(ValueError, match="class"):
        live.validate_live(4, 1, 4, 0, num_classes=4)


def without_timing(text):
    return re.sub(r"sampled in [\d.]+ s", "sampled in ? s", text)


def test_the_streamed_sweep_ends_on_the_unstreamed_result(random_dit, sweep):
    updates = list(live.stream_sweep(random_dit, SWEEP))
    kinds = [kind for kind, _ in updates]
    assert kinds[-1] == "done" and set(kinds[:-1]) == {"step"} and 1 <= len(kinds) - 1 <= DEFAULT_STEPS
    final = updates[-1][1]
    assert final["images"].tobytes() == sweep["images"].tobytes()
    for key in ("grid", "trajectory"):
        assert np.array_equal(np.asarray(final[key]), np.asarray(sweep[key]))
    assert final["formula"] == sweep["formula"] and without_timing(final["summary"]) == without_timing(sweep["summary"])
    assert final["metrics"].to_json() == sweep["metrics"].to_json()
    assert final["x0_steps"].shape == (DEFAULT_STEPS, 3, 3, 28, 28)
    assert all(grid.size == sweep["grid"].size for kind, grid in updates[:-1])


def test_a_failing_sweep_raises_in_the_reader(random_dit):
    with pytest.raises(ValueError, match="sampler"):
        list(live.stream_sweep(random_dit, dataclasses.replace(SWEEP, sampler="euler")))


def gif_frames(path):
    with Image.open(path) as gif:
        return [frame.convert("L") for frame in ImageSequence.Iterator(gif)]


def test_the_export_gif_has_a_frame_per_step_ending_on_the_png(random_dit, tmp_path):
    gif, png = live.export_files(random_dit, dataclasses.replace(SWEEP, steps=3, sampler="ddpm"), directory=tmp_path)
    frames = gif_frames(gif)
    assert len(frames) == 3 and len({frame.size for frame in frames}) == 1
    final = np.asarray(Image.open(png).convert("L"))
    last = np.asarray(frames[-1])
    band = last.shape[0] - final.shape[0]  # the "step k/steps · t = ..." band over the grid
    assert band > 0 and last.shape[1] == final.shape[1] and np.array_equal(last[band:], final)
    assert not np.array_equal(np.asarray(frames[0])[band:], final)  # the first step is still noisy


def test_the_export_after_a_streamed_sweep_reuses_its_frames(random_dit, tmp_path):
    request = dataclasses.replace(SWEEP, steps=2, sampler="ddim", clip=False)
    fresh = live.export_files(random_dit, request, directory=tmp_path / "fresh")
    *_, (_, out) = live.stream_sweep(random_dit, request)
    live.keep_frames(request, out)
    assert live.sweep_frames(random_dit, request)[0] is out["x0_steps"]
    kept = live.export_files(random_dit, request, directory=tmp_path / "kept")
    for a, b in zip(fresh, kept, strict=True):
        assert open(a, "rb").read() == open(b, "rb").read()
    assert [p.rsplit("/", 1)[1] for p in fresh] == [p.rsplit("/", 1)[1] for p in kept]  # named by the request


def test_only_the_last_streamed_sweeps_are_kept(random_dit):
    requests = [dataclasses.replace(SWEEP, seed=seed, steps=1) for seed in range(live.FRAMES.max_items + 1)]
    for request in requests:
        live.keep_frames(request, {"x0_steps": np.full((1, 3, 3, 28, 28), request.seed, np.uint8),
                                   "images": np.zeros((3, 3, 28, 28), np.uint8)})
    assert live.FRAMES.peek(requests[0]) is None  # the oldest went out
    assert live.sweep_frames(random_dit, requests[-1])[0][0, 0, 0, 0, 0] == requests[-1].seed  # kept, not sampled
    x0_steps, images = live.sweep_frames(random_dit, requests[0])  # sampled again: real frames, not the stand-in
    assert x0_steps.shape == (1, 3, 3, 28, 28) and len(np.unique(x0_steps)) > 1 and len(np.unique(images)) > 1
