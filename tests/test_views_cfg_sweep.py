"""`playground.views.cfg_sweep` and the grids of `playground.grids`: parsing, pictures, judge chart, text."""

import numpy as np
import pytest
from PIL import Image

from playground import grids
from playground.diffusion import sampling_timesteps
from playground.views import cfg_sweep


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0, 1, 2, 4, 7, 10", [0, 1, 2, 4, 7, 10]), ("1.5 -2", [1.5, -2]), ("[4; 7]", [4, 7]), (" 30 ", [30])],
)
def test_parse_scales_accepts_lists(text, expected):
    assert cfg_sweep.parse_scales(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "at least one"),
        ("   ", "at least one"),
        (None, "at least one"),
        (",,", "at least one"),
        ("1, abc", "'abc' is not a number"),
        ("nan", "not a finite number"),
        ("1, inf", "not a finite number"),
        ("31", "outside the allowed range"),
        ("-5.5", "outside the allowed range"),
        (", ".join(["1"] * (cfg_sweep.MAX_SCALES + 1)), f"at most {cfg_sweep.MAX_SCALES}"),
    ],
)
def test_parse_scales_rejects_bad_input_with_a_reason(text, message):
    with pytest.raises(ValueError, match=message):
        cfg_sweep.parse_scales(text)


def test_labelled_grid_places_tiles_under_headers():
    images = np.zeros((2, 3, 28, 28), dtype=np.uint8)
    images[1, 2] = 200
    grid = grids.labelled_grid(images, ["a", "b", "c"], ["row 1", "row 2"], cell=56, pad=4, font_size=14)
    arr = np.asarray(grid)
    header = 14 + 2 * 4 + 4
    left = grid.size[0] - (3 * (56 + 4) + 4)
    assert grid.size[1] == header + 2 * (56 + 4) + 4 and left > 0
    x0, y0 = left + 4 + 2 * (56 + 4), header + 1 * (56 + 4)
    assert np.all(arr[y0 : y0 + 56, x0 : x0 + 56] == 200)
    assert np.all(arr[header : header + 56, left + 4 : left + 60] == 0)


def test_capture_steps_and_trajectory_image():
    assert grids.capture_steps(20) == [1, 5, 9, 12, 16, 20]
    assert grids.capture_steps(3) == [1, 2, 3]
    assert grids.capture_steps(1) == [1]
    frames = {k: np.full((2, 28, 28), 10 * k, dtype=np.uint8) for k in grids.capture_steps(20)}
    image = grids.trajectory_image(frames, [0.0, 4.0], 20)
    assert isinstance(image, Image.Image)
    assert image.size[1] == 17 + 12 + 4 + 6 * (72 + 6) + 6  # header + 6 rows of 72 px cells
    assert sampling_timesteps(20)[0] == 999  # the first row is labelled t = 999


def test_metrics_figure_plots_the_given_numbers():
    metrics = [
        {"accuracy": 0.2, "confidence": 0.5, "label_entropy": 1.0, "diversity": 9.0},
        {"accuracy": 0.9, "confidence": 0.8, "label_entropy": 0.1, "diversity": 7.0},
    ]
    fig = cfg_sweep.metrics_figure([4.0, 0.0], metrics[::-1])  # sorted by scale for the chart
    assert [tuple(t.x) for t in fig.data] == [(0.0, 4.0)] * 3
    assert tuple(fig.data[0].y) == (0.2, 0.9) and tuple(fig.data[2].y) == (9.0, 7.0)
    assert "highest at s = 4" in fig.layout.title.text
    flat = cfg_sweep.metrics_figure([0.0, 1.0], [dict(metrics[0]), dict(metrics[0])])
    assert "flat" in flat.layout.title.text
    empty = cfg_sweep.metrics_figure([1.0], [], note="no judge here")
    assert len(empty.data) == 0 and "no judge here" in empty.layout.annotations[0].text


def test_cfg_text_uses_dits_convention():
    text = cfg_sweep.cfg_explainer_markdown([0.0, 1.0, 4.0])
    assert "s = 0 → w = -1" in text and "s = 4 → w = 3" in text and "w = s − 1" in text
    summary = cfg_sweep.cfg_summary_markdown(3, [0.0, 4.0], [], 1.0, 20, "ddim", "judge missing")
    assert "Class 3" in summary and "judge missing" in summary
