"""The trade-off curves' shared readings: matched accuracy only where the intervals resolve it, the real-digit
Frechet floor as a band, the real digits' diversity on every diversity axis, and the pixel shares that tell speckle
from saturation."""

import math

import pytest
import torch

from playground.assets import TRADEOFF_FILE
from playground.judge import pixel_shares, wilson_interval
from playground.views.guidance import curves

shipped = pytest.mark.skipif(not TRADEOFF_FILE.exists(), reason="assets/tradeoff.json is not precomputed yet")


def point(s, hits, frechet=50.0, frechet_se=4.0, div=9.0, div_se=0.05, n=300):
    low, high = wilson_interval(hits, n)
    return {"s": s, "accuracy": hits / n, "accuracy_low": low, "accuracy_high": high, "diversity": div,
            "diversity_se": div_se, "frechet": frechet, "frechet_se": frechet_se}


def test_a_crossing_resolved_by_the_intervals_is_interpolated_with_its_error():
    # 0.900 [0.86, 0.93] at s = 1 lies wholly below 0.95, 0.990 [0.97, 1.00] at s = 2 wholly above
    pts = [point(1.0, 270, 40.0, 4.0, 9.2, 0.06), point(2.0, 297, 70.0, 6.0, 8.4, 0.04)]
    m = curves.matched_accuracy(pts, 0.95)
    assert m.status == "crossed" and m.scales == (1.0, 2.0)
    w = (0.95 - 0.9) / (0.99 - 0.9)
    assert m.scale == pytest.approx(1 + w)
    value, se = m.values["frechet"]
    assert value == pytest.approx(40 + w * 30) and se == pytest.approx(4 + w * 2)  # SEs interpolated too
    assert m.values["diversity"] == pytest.approx((9.2 - w * 0.8, 0.06 - w * 0.02))


def test_no_crossing_is_interpolated_where_the_curve_is_flat_within_its_interval():
    # classifier guidance's g = 8 and 16: 0.943 [0.911, 0.964] and 0.957 [0.927, 0.975] both hold 0.95
    pts = [point(4.0, 268, 70.3, 6.3), point(8.0, 283, 73.5, 7.0), point(16.0, 287, 91.4, 8.1)]
    m = curves.matched_accuracy(pts, 0.95)
    assert m.status == "flat" and m.scale is None and m.scales == (8.0, 16.0)
    assert m.values["frechet"] == ((73.5, 7.0), (91.4, 8.1))  # the range over the flat stretch, with its errors
    # a curve that tops out at the target (autoguidance: 0.950 at s = 2 and 3) is flat there too
    top = [point(1.0, 274), point(1.5, 281, 33.3), point(2.0, 285, 32.5), point(3.0, 285, 39.8),
           point(4.0, 282, 60.2), point(6.0, 279, 130.4), point(8.0, 239, 268.9)]
    m = curves.matched_accuracy(top, 0.95)
    assert m.status == "flat" and m.scales == (1.5, 6.0)
    assert m.values["frechet"][0][0] == 32.5 and m.values["frechet"][1][0] == 130.4


def test_already_and_not_reached():
    assert curves.matched_accuracy([point(1.0, 299), point(2.0, 300)], 0.95).status == "already"
    assert curves.matched_accuracy([point(1.0, 150), point(2.0, 200)], 0.95).status == "not reached"
    assert curves.matched_accuracy([], 0.95).status == "not reached"


@shipped
def test_the_shipped_curves_cross_095_where_the_issue_says():
    run = curves.load_tradeoff()
    status = {k: curves.matched_accuracy(curves.points(run, k), 0.95).status
              for k in ("cfg", "interval", "rescale", "negative", "autoguidance", "classifier")}
    assert status == {"cfg": "crossed", "interval": "crossed", "rescale": "crossed", "negative": "crossed",
                      "autoguidance": "flat", "classifier": "flat"}
    cfg = curves.matched_accuracy(curves.points(run, "cfg"), 0.95)
    assert cfg.values["frechet"][0] == pytest.approx(42.0, abs=0.05) and 4 < cfg.values["frechet"][1] < 5


def test_separation_counts_standard_errors():
    assert curves.separation((10.0, 3.0), (2.0, 4.0)) == pytest.approx(8 / 5)
    assert curves.separation((1.0, 0.0), (1.0, 0.0)) == math.inf


def tradeoff(spread=True, real=True):
    run = {"settings": {"per_class": 30},
           "real_floor": {"frechet": 36.2, "what": "300 training digits against the held-out digits"},
           "curves": {"cfg": {"points": [point(1.0, 270), point(2.0, 297)]}}}
    if spread:
        run["real_floor"]["spread"] = {"values": [36.2, 29.3, 42.7], "low": 29.3, "high": 42.7, "mean": 36.1,
                                       "what": "3 disjoint subsets of 30 training digits of each class"}
    if real:
        run["real_diversity"] = {"value": 8.92, "se": 0.09, "per_digit": [9.0 + d / 10 for d in range(10)],
                                 "spread": {"low": 8.6, "high": 9.1}}
    return run


def test_the_real_digit_floor_is_a_band():
    fig = curves.frechet_figure(tradeoff(), ["cfg"])
    rect, line = fig.layout.shapes
    assert (rect.type, rect.y0, rect.y1) == ("rect", 29.3, 42.7) and (line.y0, line.y1) == (36.1, 36.1)
    assert "29.3-42.7" in fig.layout.annotations[0].text and "3 subsets of 300" in fig.layout.annotations[0].text
    assert curves.floor_band(tradeoff(spread=False)) == (36.2, 36.2, 36.2)  # an older file: the one subset
    assert curves.floor_band({}) is None and curves.floor_marks(None) == ([], [])


def test_the_real_digits_diversity_is_drawn_on_the_diversity_axis_and_nothing_says_more_is_better():
    fig = curves.accuracy_diversity_figure(tradeoff(), ["cfg"])
    line, band = fig.layout.shapes
    assert (line.xref, line.x0, line.x1, line.yref) == ("x", 8.92, 8.92, "y domain")
    assert (band.x0, band.x1) == (8.6, 9.1) and "real digits: 8.92" in fig.layout.annotations[0].text
    subtitle = fig.layout.title.subtitle.text
    assert "better" not in subtitle.replace("more-is-better", "") and "distance from the real digits" in subtitle
    assert curves.real_diversity_marks(tradeoff(real=False)) == ([], [])
    side = curves.real_diversity_marks(tradeoff(), "y", "x3", "y3")[0][0]
    assert (side["yref"], side["y0"], side["xref"]) == ("y3", 8.92, "x3 domain")


def test_diversity_is_read_against_the_real_value():
    assert curves.real_diversity(tradeoff()) == (8.92, 0.09) and curves.real_diversity(tradeoff(), 3) == (9.3, None)
    assert curves.diversity_from_real(9.2, 0.06, tradeoff()) == "9.20 ± 0.06 (+0.28 from real digits' 8.92)"
    assert curves.diversity_from_real(9.2, 0.06, tradeoff(real=False)) == "9.20 ± 0.06"


@shipped
def test_the_shipped_file_holds_the_real_references():
    run = curves.load_tradeoff()
    spread = run["real_floor"]["spread"]
    assert spread["values"][0] == run["real_floor"]["frechet"] and len(spread["values"]) >= 3
    assert spread["low"] < run["real_floor"]["frechet"] < spread["high"]
    assert run["real_diversity"]["value"] == pytest.approx(8.92, abs=0.01)  # the model card's held-out value
    assert 0 < run["real_pixels"]["grey"] < 0.2 and len(run["real_pixels"]["per_digit"]) == 10


def test_pixel_shares_tell_speckle_from_saturation():
    ink = torch.full((2, 1, 28, 28), -1.0)
    ink[..., 10:18, 10:18] = 1.0
    assert pixel_shares(ink) == {"grey": 0.0, "saturated": 1.0}
    speckled = ink.clone()
    speckled[..., :7, :] = 0.3  # a quarter of the pixels grey
    shares = pixel_shares(speckled)
    assert shares["grey"] == pytest.approx(0.25) and shares["saturated"] == pytest.approx(0.75)


@shipped
def test_no_legend_sits_on_an_axis_title_nor_on_a_curve():
    run = curves.load_tradeoff()
    keys = ["cfg", "interval", "rescale", "negative", "no_clip", "autoguidance", "classifier"]
    legend = curves.accuracy_diversity_figure(run, keys).layout.legend
    # inside the plot, bottom left: low accuracy with low diversity, which less guidance never reaches
    assert (legend.xanchor, legend.yanchor) == ("left", "bottom") and legend.x < 0.1 and legend.y < 0.1
    xs = [p["diversity"] for k in keys for p in curves.points(run, k)]
    left = min(xs) + 0.4 * (max(xs) - min(xs))
    assert all(p["accuracy"] > 0.4 for k in keys for p in curves.points(run, k) if p["diversity"] < left)
    beside = curves.frechet_figure(run, keys).layout.legend
    assert beside.orientation == "v" and beside.x > 1 and beside.xanchor == "left"  # right of the plot
