"""Guidance schedules and variants: the columns are the sampler's samples, the request is checked by name, a method
the served model cannot run is left out with the reason, and the matched-accuracy table reads the curves."""

import numpy as np
import pytest
import torch
from view_helpers import synthetic_tradeoff

from playground.assets import AUTOGUIDE_WEAK, COMPANIONS, TRADEOFF_FILE
from playground.checkpoint import load_pretrained
from playground.diffusion import DEFAULT_STEPS, sampling_timesteps
from playground.guidance import Guidance
from playground.judge import pixel_shares
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


def grid_columns(grid, cell=lab.GRID_CELL):
    return np.asarray(grid.convert("L")).shape[1] // cell


def test_every_column_is_the_samplers_sample_of_its_method(random_dit):
    weak = DiT(hidden_size=32, depth=1, num_heads=2).eval()  # any model with the same classes can guide
    methods, notes = lab.lab_methods(request(), random_dit, weak)
    assert [key for key, _, _ in methods] == ALL_KEYS and notes == []
    assert [header.split("\n")[0] for _, header, _ in methods] == ["constant", "interval", "rescale x0",
                                                                  "rescale ε", "negative", "no", "auto-"]
    # Lin et al. rescale the model output: for this ε-model that is the ε column; x0 is the variant
    assert [header.split("\n")[1] for _, header, _ in methods[2:4]] == ["(variant) φ 0.5", "(Lin) φ 0.5"]
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
    layout = out["interval"].layout  # t to the right; log-SNR falls with t, so the legend takes the empty top right
    assert layout.xaxis.autorange in (None, True) and layout.xaxis.title.text == "t (0 clean → 999 noise)"
    assert (layout.legend.x, layout.legend.y, layout.legend.xanchor, layout.legend.yanchor) == (0.99, 0.99, "right",
                                                                                                "top")
    assert "**Digit 2, s = 3, 7 methods" in out["table"] and "Not shown" not in out["table"]
    assert "Rescale on ε (Lin et al.'s rescale of the model output, literal for an ε-model" in out["table"]
    assert "and on x0 (a variant)" in out["table"] and lab.RESCALE_CONTEXT in out["table"]
    assert "zero-terminal-SNR" in lab.RESCALE_CONTEXT and "**Clipping x0**" in out["table"]


def test_a_model_without_a_null_class_keeps_only_what_needs_none(companions):
    p0, weak = companions["0"], companions["0.1"]
    methods, notes = lab.lab_methods(request(), p0, weak)
    assert [key for key, _, _ in methods] == ["negative", "autoguidance"]
    assert len(notes) == 1 and notes[0].startswith("constant CFG, interval [300, 700], rescale x0 (variant) φ 0.5, "
                                                   "rescale ε (Lin) φ 0.5, no clipping: left out, because")
    assert "no null class" in notes[0]
    out = lab.lab_view(p0, request(), weak_model=weak)
    assert grid_columns(out["grid"]) == 2 and "2 methods" in out["table"]
    assert "**Not shown:** constant CFG" in out["table"] and "Rescale on" not in out["table"]
    assert "**Clipping x0**" not in out["table"]  # no unclipped column to read
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
    # 0.95 ends both s = 1's interval [0.85, 0.95] and s = 2's [0.95, 1]: not resolved, so nothing is interpolated
    assert ("| constant CFG | not resolved: within the interval from s = 1 to 2 | 8.00 ± 0.10 … 9.00 ± 0.10 | "
            "40.0 ± 2.0 … 70.0 ± 2.0 |") in table and "CFG's crossing is not resolved" in table
    assert "| guidance interval | not in the file | - | - |" in table
    assert lab.matched_accuracy_markdown(None) == f"*No trade-off file: run `{curves.COMMAND}`.*"


@pytest.mark.skipif(not TRADEOFF_FILE.exists(), reason="assets/tradeoff.json is not precomputed yet")
def test_the_matched_accuracy_table_shows_errors_and_no_crossing_where_the_curve_is_flat():
    table = lab.matched_accuracy_markdown(curves.load_tradeoff())
    # the four crossings at 0.95 with their standard errors (38.1 / 42.0 / 41.7 / 42.7 differ by < 1 SE)
    for name, frechet in (("constant CFG", "42.0 ± 4.4"), ("guidance interval", "38.1 ± 4.2"),
                          ("CFG rescale on x0 (variant), phi 0.7", "41.7 ± 4.4"), ("negative class", "42.7 ± 4.4")):
        row = next(line for line in table.splitlines() if line.startswith(f"| {name} |"))
        assert row.endswith(f"| {frechet} |") and "s ≈ 1.2" in row
    # autoguidance sits at 0.950 at s = 2 and 3, classifier guidance holds 0.95 in its interval at g = 8 and 16
    auto = next(line for line in table.splitlines() if line.startswith("| autoguidance"))
    assert "not resolved: within the interval from s = 1.5 to 6" in auto and "≈" not in auto
    classifier = next(line for line in table.splitlines() if line.startswith("| classifier guidance"))
    assert "from g = 8 to 16" in classifier and "73.5 ± 7.0 … 91.4 ± 8.1" in classifier
    assert "the evidence does not separate them" in table and "Beyond 2 SE" not in table
    assert "Not compared (no resolved crossing): autoguidance" in table
    assert "real digits: 8.92" in table and "real digits: 25.1-45.5" in table  # references beside both columns


def test_the_verdict_names_a_gap_beyond_two_standard_errors():
    def crossed(frechet, se):
        return curves.Matched("crossed", 1.3, (1.0, 1.5), {"frechet": (frechet, se), "diversity": (9.0, 0.05)})
    text = lab._matched_verdict({"cfg": crossed(42.0, 4.0), "interval": crossed(20.0, 4.0),
                                 "negative": crossed(45.0, 4.0)})
    assert "negative class within 2 SE of CFG's" in text and "guidance interval (lower, 3.9 SE)" in text


@pytest.mark.skipif(not TRADEOFF_FILE.exists(), reason="assets/tradeoff.json is not precomputed yet")
def test_the_rescale_and_clip_sentences_are_computed_from_the_curves():
    run = curves.load_tradeoff()
    text = lab.rescale_markdown(None, run)
    # rescale (x0, phi 0.7) is above CFG at every s > 1, never by 2 SE: the data do not show it helping
    assert "higher than CFG's at 6 of the 6 scales above 1" in text and "at most 1.8 SE" in text
    assert "do not show rescale bringing samples closer" in text
    lower = {**run, "curves": {**run["curves"], "rescale": {"points": [
        {**p, "frechet": p["frechet"] - 40} for p in run["curves"]["rescale"]["points"]]}}}
    assert "closer to real digits at s = " in lab.rescale_markdown(None, lower)
    clip = lab._clip_curves(run)
    assert clip.startswith("Over all digits at s = 4")
    assert "lower without the clip (101.3 ± 4.7 against 130.7 ± 6.0, 3.9 SE apart)" in clip
    assert "the intervals overlap" in clip and "barely register grey speckle" in clip


def test_the_clip_sentence_says_speckle_only_when_the_columns_show_it():
    def row(key, grey, saturated):
        return {"key": key, "grey": grey, "saturated": saturated}
    speckle = lab.clip_markdown([row("cfg", 0.18, 0.68), row("no_clip", 0.27, 0.54)], None, request(label=0))
    assert "27% of the pixels are grey and 54% at |x| > 0.99, against 18% and 68% with it" in speckle
    assert "grey speckle, not saturation" in speckle
    same = lab.clip_markdown([row("cfg", 0.18, 0.68), row("no_clip", 0.15, 0.70)], None, request(label=0))
    assert "speckle, not saturation" not in same and "no more speckle" in same


def test_preset_names_promise_only_what_they_set_or_show():
    names = " ".join(lab.LAB_PRESETS)
    assert not any(word in names for word in ("tamed", "saturated", "keeps variety"))
    assert "Without clipping x0: speckle at large s" in lab.LAB_PRESETS
    assert "no_clip" in lab.TRADEOFF_KEYS  # the unclipped curve the lab computes is drawn


@pytest.mark.skipif(not TRADEOFF_FILE.exists(), reason="assets/tradeoff.json is not precomputed yet")
def test_the_clipping_preset_shows_speckle_on_the_release_model(shipped):
    preset = lab.LAB_PRESETS["Without clipping x0: speckle at large s"]
    run = {key: sample_guided(shipped, [preset["label"]] * preset["samples"], [preset["scale"]], steps=DEFAULT_STEPS,
                              seed=preset["seed"], guidance=g)[0] for key, g in (("cfg", Guidance()),
                                                                                ("no_clip", Guidance(clip=False)))}
    on, off = pixel_shares(run["cfg"]), pixel_shares(run["no_clip"])
    assert off["grey"] > on["grey"] and off["saturated"] < on["saturated"]


def test_matched_scale_is_only_an_upward_crossing():
    falling = [{"s": 1.0, "accuracy": 0.8}, {"s": 2.0, "accuracy": 0.97}, {"s": 4.0, "accuracy": 0.85}]
    assert curves.interpolate_scale(falling, "accuracy", 0.9) == pytest.approx(1 + 0.1 / 0.17)
    assert curves.interpolate_scale(falling, "accuracy", 0.75) is None  # above it from the first point
