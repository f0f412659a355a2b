"""Why label dropout: the stand-in null row, the companions' sweep on the same noise, the request's checks, the
verdicts computed from the curves, and the page's view on the shipped companions with each served as the model."""

import numpy as np
import pytest
import torch
from view_helpers import drawn_categories, small_dit, synthetic_tradeoff

from playground.assets import COMPANIONS
from playground.checkpoint import load_pretrained
from playground.data import to_uint8
from playground.diffusion import DEFAULT_STEPS, sampling_timesteps
from playground.sampling import sample_guided
from playground.views.guidance import curves
from playground.views.guidance import dropout as ld
from playground.views.guidance.dropout import DropoutRequest


@pytest.fixture(scope="module")
def random_companions():
    return {rate: small_dit(float(rate), i) for i, rate in enumerate(ld.RATES)}


@pytest.fixture(scope="module")
def companions():
    return {rate: load_pretrained(COMPANIONS[rate]) for rate in ld.RATES}


def test_stand_in_null_row_is_appended_and_nothing_else_changes(random_companions):
    p0 = random_companions["0"]
    assert p0.null_class is None
    vector = torch.arange(32, dtype=torch.float32)
    copy = ld.with_stand_in_null(p0, vector)
    table = copy.y_embedder.embedding_table.weight
    assert table.shape == (11, 32) and torch.equal(table[10], vector) and copy.null_class == 10
    assert torch.equal(table[:10], p0.y_embedder.embedding_table.weight)
    assert torch.equal(ld.stand_ins(p0)["row mean"], p0.y_embedder.embedding_table.weight.mean(0).detach())


def test_every_row_of_every_label_table_is_drawn(random_companions):
    fig = ld.table_figure(random_companions)
    heatmaps = fig.to_dict()["data"]
    expected = [[str(i) for i in range(10)] + (["∅"] if m.null_class is not None else [])
                for m in random_companions.values()]
    assert [list(h["y"]) for h in heatmaps] == expected and "∅" in expected[-1]
    for heatmap, names in zip(heatmaps, expected, strict=True):
        assert drawn_categories(fig, heatmap, "x") == names and drawn_categories(fig, heatmap, "y") == names


def test_companion_sweep_samples_p0_only_at_one(random_companions):
    sweeps = ld.companion_sweep(random_companions, 5, 2, [1.0, 3.0], 2)
    assert sweeps["0"][1] is None and sweeps["0"][0].shape == (2, 1, 28, 28)
    direct = sample_guided(random_companions["0.5"], [5, 5], [1.0, 3.0], steps=DEFAULT_STEPS, seed=2)
    assert torch.equal(sweeps["0.5"][1], direct[1])


def test_the_grid_is_wide_a_column_per_companion_and_scale_a_row_per_sample(random_companions):
    scales = [1.0, 3.0]
    sweeps = ld.companion_sweep(random_companions, 5, 2, scales, 2)
    cell = 56  # twice 28: each sample's pixels become 2x2 blocks, computed here independently with np.kron
    grid = np.asarray(ld.sweep_grid_image(sweeps, scales, 2, cell=cell))
    boxes, (width, height) = ld.sweep_cell_boxes(3, 2, 2, cell)
    assert grid.shape == (height, width, 3) and (grid == grid[..., :1]).all()  # greys only
    assert set(boxes) == {(g, c, r) for g in range(3) for c in range(2) for r in range(2)}
    lefts = [boxes[g, c, 0][0] for g in range(3) for c in range(2)]  # grouped by companion, then scale
    gaps = np.diff(lefts)
    assert (gaps == cell + ld.SWEEP_PAD).sum() == 3 and (gaps == cell + ld.SWEEP_PAD + ld.GROUP_GAP).sum() == 2
    assert all(boxes[g, c, r][1] == ld.SWEEP_HEADER + r * (cell + ld.SWEEP_PAD) for g, c, r in boxes)
    covered = np.zeros((height, width), bool)
    for (g, c, r), (x, y) in boxes.items():
        shown, sample = grid[y:y + cell, x:x + cell, 0], sweeps[ld.RATES[g]][c]
        if sample is None:  # p = 0 at s = 3: the grey cell that says why, in its own pixels
            assert g == 0 and c == 1 and np.array_equal(shown, ld.refused_tile(cell))
        else:  # every sample's pixels, exactly
            expected = np.kron(to_uint8(sample[r]).numpy().reshape(28, 28), np.ones((2, 2), np.uint8))
            assert np.array_equal(shown, expected)
        covered[y:y + cell, x:x + cell] = True
    assert (grid[ld.SWEEP_HEADER:][~covered[ld.SWEEP_HEADER:]] == 255).all()  # white between the cells
    tile = ld.refused_tile(cell)
    assert (tile == ld.REFUSED_GREY).mean() > 0.6 and (tile > ld.REFUSED_GREY).sum() > 50  # grey, with its text
    # the two-level header: a "p = ..." over each group (wider text for "p = 0.1" than "p = 0"), an "s = ..." over
    # each column
    ink = [np.flatnonzero((grid[:ld.GROUP_BAND - 4, boxes[g, 0, 0][0]:boxes[g, 1, 0][0] + cell, 0] < 128).any(0))
           for g in range(3)]
    assert all(len(i) for i in ink) and np.ptp(ink[0]) < np.ptp(ink[1])
    for x, _ in (boxes[g, c, 0] for g in range(3) for c in range(2)):
        assert (grid[ld.GROUP_BAND:ld.SWEEP_HEADER, x:x + cell, 0] < 128).any()


def test_at_the_default_scales_the_grid_fills_the_page_width():
    scales = ld.parse_scales(ld.DEFAULTS["scales"])
    cell = ld.sweep_cell(len(scales))
    width, height = ld.sweep_cell_boxes(len(ld.RATES), len(scales), ld.DEFAULTS["samples"], cell)[1]
    # rounding the cell down loses under a pixel per column
    assert ld.SWEEP_WIDTH - 3 * len(scales) < width <= ld.SWEEP_WIDTH and width > 3 * height
    assert ld.sweep_cell(12) == ld.MIN_SWEEP_CELL and ld.sweep_cell(1) == ld.MAX_SWEEP_CELL  # bounded both ways


def test_the_companion_table_reads_diversity_against_the_real_digits():
    tradeoff = {**synthetic_tradeoff(), "real_diversity": {"value": 8.92, "se": 0.09}}
    table = ld.companion_table(tradeoff)
    against_real = curves.diversity_from_real(10.5, 0.1, tradeoff)  # the trade-off helper's reading
    assert "8.92" in against_real and "+1.58" in against_real
    assert f"| companion, label dropout 0.5 | 1 | 0.400 [0.35, 0.45] | {against_real} | 95.0 ± 2.0 |" in table
    assert "not more-is-better" in table and "real digits: 36.0" in table


def test_the_request_is_checked_once_and_by_name():
    assert ld.validate("3", 0, "1, 4", 2) == DropoutRequest(label=3, seed=0, scales=(1.0, 4.0), samples=2)
    with pytest.raises(ValueError, match="samples per model and scale"):
        ld.validate(3, 0, "1, 4", 9)
    with pytest.raises(ValueError, match="guidance scale"):
        ld.validate(3, 0, "1, abc", 2)
    with pytest.raises(ValueError, match="digit must be between 0 and 3"):
        ld.validate(7, 0, "1", 1, num_classes=4)


def point(s, acc, low, high, div=9.0, fre=40.0, div_se=0.05, fre_se=4.0):
    return {"s": s, "accuracy": acc, "accuracy_low": low, "accuracy_high": high, "diversity": div,
            "diversity_se": div_se, "frechet": fre, "frechet_se": fre_se}


def with_fixed_scale(tradeoff):
    """`synthetic_tradeoff` with the companions measured at the verdict's scale, and p = 0.1's best accuracy at a
    larger one (the verdict must not pick a maximum of noisy points)."""
    measured = tradeoff["curves"]
    measured["companion_p0.1"]["points"] += [point(4.0, 0.93, 0.90, 0.95), point(8.0, 0.97, 0.94, 0.98)]
    measured["companion_p0.5"]["points"] += [point(4.0, 0.81, 0.76, 0.85)]
    return tradeoff


def test_label_dropout_verdict_is_computed_from_the_curves():
    text = ld.verdict(with_fixed_scale(synthetic_tradeoff()), {"zeros": (1, 4)})
    assert "0.400 [0.35, 0.45] against 0.650 [0.60, 0.70]" in text
    assert "do not overlap" in text  # 0.45 < 0.60
    assert "zeros: 1/4 read as the digit" in text
    overlapping = with_fixed_scale(synthetic_tradeoff())
    overlapping["curves"]["companion_p0.5"]["points"][0].update(accuracy=0.62, accuracy_low=0.57, accuracy_high=0.67)
    assert "within the sampling noise" in ld.verdict(overlapping, {})
    assert "missing" in ld.verdict(synthetic_tradeoff(), {})  # no point at the verdict's scale: nothing to read


def test_the_verdict_says_what_its_intervals_cover_and_reads_a_fixed_scale():
    text = ld.verdict(with_fixed_scale(synthetic_tradeoff()), {})
    # one training run per p: the intervals are sampling noise, not the spread between runs
    assert "sampling noise of 300 samples from one training run per p, not the spread between training runs" in text
    assert "half the training steps" not in text and "half of p = 0.5's training examples" in text  # per example
    # the value at s = 4 with its interval, not the maximum over the curve (0.970 at s = 8)
    assert "at s = 4 the p = 0.1 and p = 0.5 models score 0.930 [0.90, 0.95] and 0.810 [0.76, 0.85]" in text
    assert "0.970" not in text
    # it is classifier-free guidance that needs the null row, not guidance
    assert "What classifier-free guidance needs from label dropout" in text and "only label dropout" not in text


def matched_tradeoff(auto):
    """CFG crossing 0.95 between s = 1 and 1.5 with both intervals clear of it; `auto` as autoguidance's points."""
    cfg = [point(1.0, 0.90, 0.86, 0.93, 9.2, 36.0), point(1.5, 0.98, 0.96, 0.99, 8.8, 48.0, fre_se=5.0)]
    return {"settings": {"per_class": 30}, "real_floor": {"frechet": 36.0, "what": "300 training digits"},
            "real_diversity": {"value": 8.92, "se": 0.09}, "curves": {"cfg": {"points": cfg},
                                                                      "autoguidance": {"points": auto}}}


def test_autoguidance_at_matched_accuracy_shows_errors_and_no_crossing_where_flat():
    flat = [point(1.0, 0.90, 0.86, 0.93), point(2.0, 0.95, 0.92, 0.97, 8.93, 32.5),
            point(3.0, 0.95, 0.92, 0.97, 9.01, 39.8), point(4.0, 0.80, 0.75, 0.84)]
    text = ld.autoguidance_markdown(matched_tradeoff(flat))
    # CFG: 0.95 is 5/8 of the way from s = 1 to 1.5; values and SEs interpolated there
    diversity = curves.diversity_from_real(8.95, 0.05, matched_tradeoff(flat))
    assert f"| CFG (null class) | 1.31 (between s = 1 and 1.5) | {diversity} | 43.5 ± 4.6 |" in text
    # autoguidance's accuracy holds 0.95 within its interval at s = 2 and 3: no interpolated scale, the span instead
    assert "| autoguidance (p 0.1 companion) | not resolved: accuracy within its interval of the target over " \
           "s = 2–3 | 8.93 ± 0.05 to 9.01 ± 0.05 (real digits' 8.92) | 32.5 ± 4.0 to 39.8 ± 4.0 |" in text
    assert "| 2.00 |" not in text and "not separated" in text and "show neither claim" in text


def test_diversity_is_read_as_distance_from_the_real_digits():
    # autoguidance crosses cleanly with a far higher diversity (further from real) and a far lower Frechet
    crossing = [point(1.0, 0.90, 0.86, 0.93, 10.4, 20.0, fre_se=1.0), point(2.0, 0.99, 0.97, 1.0, 10.6, 20.0,
                                                                             fre_se=1.0)]
    text = ld.autoguidance_markdown(matched_tradeoff(crossing))
    assert "diversity (read as distance from the real digits' value): CFG closer to the real digits' 8.92" in text
    assert "more variety" not in text and "Frechet: autoguidance closer to real digits" in text
    assert "Here autoguidance lowers the Frechet distance." in text


@pytest.mark.parametrize("served_rate", ld.RATES)
def test_the_view_on_the_shipped_companions_with_each_served(companions, served_rate):
    served = load_pretrained(COMPANIONS[served_rate])
    out = ld.label_dropout_view(companions, served, DropoutRequest(label=3, seed=0, scales=(1.0, 4.0), samples=1))
    live = out["live"].splitlines()
    assert "| p = 0 | - | no CFG (no null row) |" in live  # no judge given: no scores, p = 0 at s = 4 refused
    assert "| p = 0.5 | - | - |" in live
    heatmaps = out["null"].to_dict()["data"]
    assert len(heatmaps) == 2 * 2 * len(ld.INSPECT_STEPS)  # eps_c and eps_u of the two companions with a null row
    states = []
    sample_guided(served, [3], [1.0], steps=DEFAULT_STEPS, seed=0, on_step=lambda d: states.append(d["x_t"][0, 0]))
    k = ld.INSPECT_STEPS[0] - 1  # t increases to the right: the first inspected step (the noisiest) ends each row
    with torch.no_grad():  # the p = 0.1 companion's eps_u on the served model's state at the first inspected step
        eps_u = companions["0.1"](states[k][None], torch.tensor([sampling_timesteps(DEFAULT_STEPS)[k]]),
                                  torch.tensor([companions["0.1"].null_class]))
    last = 2 * len(ld.INSPECT_STEPS) - 1  # the p = 0.1 row: eps_c, eps_u per step
    np.testing.assert_allclose(heatmaps[last]["z"], eps_u[0, 0].numpy(), atol=1e-3)
    assert "the served model's run at s = 1" in out["null"].to_json()
    titles = [note["text"] for note in out["null"].to_dict()["layout"]["annotations"] if ": ε_c" in note["text"]]
    ts = [int(title.split("t ")[1].split(":")[0]) for title in titles[:len(ld.INSPECT_STEPS)]]
    assert ts == sorted(ts) and len(set(ts)) == len(ts)  # t rises to the right, as on every axis of t
    legend = out["curves"].to_dict()["layout"]["legend"]
    assert legend["orientation"] == "v" and legend["x"] > 1  # beside the plot, off the x axis's title
