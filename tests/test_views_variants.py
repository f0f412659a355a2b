"""Guidance schedules and variants: the columns are the sampler's samples, the request is checked by name, a method
the served model cannot run is left out with the reason, and the matched-accuracy table reads the curves."""

import numpy as np
import pytest
import torch
from view_helpers import synthetic_tradeoff

from playground.assets import AUTOGUIDE_WEAK, COMPANIONS
from playground.checkpoint import load_pretrained
from playground.diffusion import DEFAULT_STEPS, sampling_timesteps
from playground.guidance import Guidance
from playground.model import DiT
from playground.sampling import sample_guided
from playground.views.guidance import curves
from playground.views.guidance import variants as lab
from playground.views.guidance.variants import LabRequest

ALL_KEYS = ["cfg", "interval", "rescale_x0", "rescale_eps", "negative", "no_clip", "autoguidance"]


def request(**changes):
    return LabRequest(**{"label": 2, "seed": 1, "scale": 3.0, "samples": 2, "t_lo": 300, "t_hi": 700, "phi": 0.5,
                         "negative": 7, **changes})


@pytest.fixture(scope="module")
def companions():
    return {rate: load_pretrained(path) for rate, path in COMPANIONS.items()}


def grid_columns(grid, cell=76):
    return np.asarray(grid.convert("L")).shape[1] // cell


def test_every_column_is_the_samplers_sample_of_its_method(random_dit):
    weak = DiT(hidden_size=32, depth=1, num_heads=2).eval()  # any model with the same classes can guide
    methods, notes = lab.lab_methods(request(), random_dit, weak)
    assert [key for key, _, _ in methods] == ALL_KEYS and notes == []
    assert [header.split("\n")[0] for _, header, _ in methods] == ["constant", "interval", "rescale x0",
                                                                  "rescale eps", "negative", "no", "auto-"]
    guidance = dict((key, g) for key, _, g in methods)
    assert guidance["interval"] == Guidance(interval=(300, 700)) and guidance["negative"] == Guidance(negative_label=7)
    assert guidance["rescale_eps"] == Guidance(rescale=0.5, rescale_space="eps")
    out = lab.lab_view(random_dit, request(), weak_model=weak)
    assert grid_columns(out["grid"]) == 7
    interval = sample_guided(random_dit, [2, 2], [3.0], steps=DEFAULT_STEPS, seed=1, guidance=guidance["interval"])[0]
    plain = sample_guided(random_dit, [2, 2], [3.0], steps=DEFAULT_STEPS, seed=1)[0]
    assert not torch.equal(interval, plain)  # some steps fall outside [300, 700]
    guided = [t for t in sampling_timesteps(DEFAULT_STEPS) if 300 <= t <= 700]
    assert out["interval"].to_dict()["layout"]["title"]["text"].startswith(f"<b>{len(guided)} of {DEFAULT_STEPS}")
    assert "**Digit 2, s = 3, 7 methods" in out["table"] and "Not shown" not in out["table"]
    assert "Rescale on x0 (Lin et al.) and on ε" in out["table"]


def test_a_model_without_a_null_class_keeps_only_what_needs_none(companions):
    p0, weak = companions["0"], companions["0.1"]
    methods, notes = lab.lab_methods(request(), p0, weak)
    assert [key for key, _, _ in methods] == ["negative", "autoguidance"]
    assert len(notes) == 1 and notes[0].startswith("constant CFG, interval [300, 700], rescale x0 phi 0.5, "
                                                   "rescale eps phi 0.5, no clipping: left out, because")
    assert "no null class" in notes[0]
    out = lab.lab_view(p0, request(), weak_model=weak)
    assert grid_columns(out["grid"]) == 2 and "2 methods" in out["table"]
    assert "**Not shown:** constant CFG" in out["table"] and "Rescale on x0" not in out["table"]
    negative = sample_guided(p0, [2, 2], [3.0], steps=DEFAULT_STEPS, seed=1, guidance=Guidance(negative_label=7))[0]
    assert negative.shape == (2, 1, 28, 28)
    at_one = lab.lab_methods(request(scale=1.0), p0, weak)[0]  # s = 1 needs no unconditional prediction
    assert [key for key, _, _ in at_one] == ALL_KEYS


def test_the_weak_companion_served_is_not_autoguided_by_itself(companions):
    served = load_pretrained(str(AUTOGUIDE_WEAK))  # loaded apart from the weak model: another object, same weights
    assert served is not companions["0.1"] and lab.same_weights(served, companions["0.1"])
    methods, notes = lab.lab_methods(request(), served, companions["0.1"])
    assert "autoguidance" not in [key for key, _, _ in methods] and notes == [lab.SELF_GUIDED]
    assert "cannot be autoguided by itself" in lab.SELF_GUIDED
    table = lab.lab_view(served, request(), weak_model=companions["0.1"])["table"]
    assert f"**Not shown:** {lab.SELF_GUIDED}" in table and "6 methods" in table
    methods, notes = lab.lab_methods(request(), companions["0.5"], companions["0.1"])
    assert [key for key, _, _ in methods] == ALL_KEYS and not lab.same_weights(companions["0.5"], companions["0.1"])
    assert lab.lab_methods(request(), companions["0.5"], None)[1] == [lab.NO_WEAK_MODEL]


def test_a_weak_model_of_other_classes_is_left_out_with_the_reason(random_dit):
    four = DiT(hidden_size=32, depth=1, num_heads=2, num_classes=4).eval()
    methods, notes = lab.lab_methods(request(), random_dit, four)
    assert "autoguidance" not in [key for key, _, _ in methods]
    assert notes == ["auto- guidance: left out, because the guide model must have the same classes and image size "
                     "as the main model"]


def test_the_request_is_checked_once_and_by_name():
    assert lab.validate_lab("3", 0, "4", 4, 100, 600, 0.7, 8) == LabRequest(3, 0, 4.0, 4, 100, 600, 0.7, 8)
    for args, message in (((3, 0, 4, 4, 600, 100, 0.7, 8), "t_lo <= t_hi"), ((3, 0, 4, 4, 100, 600, 1.5, 8), "phi"),
                          ((3, 0, 4, 99, 100, 600, 0.7, 8), "samples per method"),
                          ((3, 0, 4, 4, 100, 1000, 0.7, 8), "interval end t_hi"),
                          ((3, 0, 4, 4, 100, 600, 0.7, 10), "negative class")):
        with pytest.raises(ValueError, match=message):
            lab.validate_lab(*args)
    with pytest.raises(ValueError, match="negative class must be between 0 and 3"):
        lab.validate_lab(3, 0, 4, 4, 100, 600, 0.7, 8, num_classes=4)


def test_matched_accuracy_is_read_from_the_curves():
    pts = synthetic_tradeoff()["curves"]["cfg"]["points"]
    assert curves.interpolate_scale(pts, "accuracy", 0.95) == pytest.approx(1.5)  # 0.9 at 1, 1.0 at 2
    assert curves.value_at(pts, "diversity", 1.5) == pytest.approx(8.5)
    assert curves.interpolate_scale(pts, "accuracy", 0.5) is None
    table = lab.matched_accuracy_markdown(synthetic_tradeoff())
    assert "| constant CFG | 1.5 | 8.50 | 55.0 |" in table
    assert "| autoguidance (weak: p 0.1 companion) | 2 | 8.75 | 45.0 |" in table
    assert "| guidance interval | not reached | - | - |" in table  # no such curve in the file
    assert lab.matched_accuracy_markdown(None) == f"*No trade-off file: run `{curves.COMMAND}`.*"


def test_matched_scale_is_only_an_upward_crossing():
    falling = [{"s": 1.0, "accuracy": 0.8}, {"s": 2.0, "accuracy": 0.97}, {"s": 4.0, "accuracy": 0.85}]
    assert curves.interpolate_scale(falling, "accuracy", 0.9) == pytest.approx(1 + 0.1 / 0.17)
    assert curves.interpolate_scale(falling, "accuracy", 0.75) is None  # above it from the first point
