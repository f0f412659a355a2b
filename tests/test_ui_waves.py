"""The waves page (`playground.ui.time.waves`): widgets from the view's defaults and caps, the two endpoints' inputs
and lanes, what the page opens on, and what it says when the served model cannot run the flavour check."""

import gradio as gr
import pytest
from view_helpers import build_page, components, in_closed_fold, small_dit

from playground.ui.serving import WEIGHTS_ENV
from playground.ui.time import waves as page
from playground.ui.turns import SAMPLING_LANE, VIEW_CONCURRENCY
from playground.views.time import flavours
from playground.views.time import waves as view
from playground.views.time.inspector import MAX_INSPECT_T

KNOBS = ["dim", "max_period", "t start", "t end", "how many t", "flavour"]


def endpoint(demo, name):
    (fn,) = [fn for fn in demo.fns.values() if fn.api_name == name]
    return fn


def test_widgets_start_at_the_views_defaults_and_show_the_caps():
    demo, _ = build_page(page, None, "no weights here")
    sliders, numbers = components(demo, gr.Slider), components(demo, gr.Number)
    assert (sliders["dim"].value, sliders["dim"].maximum) == (view.DEFAULTS["dim"], view.MAX_DIM)
    assert (sliders["how many t"].value, sliders["how many t"].maximum) == (view.DEFAULTS["n_t"], view.MAX_T_POINTS)
    assert numbers["max_period"].value == view.DEFAULTS["max_period"]
    assert (numbers["t start"].value, numbers["t end"].value) == (view.DEFAULTS["t_start"], view.DEFAULTS["t_end"])
    assert sliders["samples per digit and scale"].value == flavours.DEFAULTS["per_digit"]
    assert sliders["samples per digit and scale"].maximum == flavours.MAX_PER_DIGIT
    caps = " ".join(b.value for b in demo.blocks.values() if isinstance(b, gr.Markdown) and "caps" in (b.elem_classes
                                                                                                       or []))
    for text in (f"dim ≤ {view.MAX_DIM}", f"up to {view.MAX_T_POINTS} t", f"up to {MAX_INSPECT_T} inspector",
                 f"runs {VIEW_CONCURRENCY} requests at a time", "Guidance s = 1 and 4"):
        assert text in caps


def test_the_heatmap_and_the_flavour_grid_open_the_page_with_three_knobs_the_rest_folded(shipped):
    demo, _ = build_page(page, shipped)
    embedding = endpoint(demo, "timestep_embedding")
    heatmap, *details = embedding.outputs
    assert not in_closed_fold(heatmap) and all(in_closed_fold(b) for b in details)
    grid = endpoint(demo, "flavour_check").outputs[0]
    assert not in_closed_fold(grid) and grid.elem_id == "flavour-grid"
    knobs = {b.label: in_closed_fold(b) for b in embedding.inputs}
    assert [label for label, folded in knobs.items() if not folded] == ["dim", "how many t", "flavour"]
    folds = [b for b in demo.blocks.values() if isinstance(b, gr.Accordion)]
    assert folds and all(b.open is False for b in folds)


def test_number_knobs_act_when_committed_not_per_keystroke():
    demo, _ = build_page(page, None, "no weights here")
    embedding = endpoint(demo, "timestep_embedding")
    numbers = [b for b in embedding.inputs if isinstance(b, gr.Number)]
    assert [b.label for b in numbers] == ["max_period", "t start", "t end"]
    for number in numbers:
        events = {event for block, event in embedding.targets if block == number._id}
        assert events == {"submit", "blur"}, number.label


def test_the_endpoints_keep_their_inputs_and_the_check_samples_in_its_lane():
    demo, _ = build_page(page, None, "no weights here")
    embedding = endpoint(demo, "timestep_embedding")
    assert [b.label for b in embedding.inputs][:6] == KNOBS and embedding.inputs[6].label.startswith("t for the")
    assert [type(b) for b in embedding.outputs] == [gr.Plot, gr.Plot, gr.Plot, gr.Markdown, gr.Markdown]
    assert embedding.preprocess is False and embedding.concurrency_id != SAMPLING_LANE["concurrency_id"]
    check = endpoint(demo, "flavour_check")
    assert [b.label for b in check.inputs] == ["samples per digit and scale", "seed"]
    assert [type(b) for b in check.outputs] == [gr.Image, gr.Markdown] and check.preprocess is False
    assert (check.concurrency_id, check.concurrency_limit) == (SAMPLING_LANE["concurrency_id"], None)
    named = {fn.api_name for fn in demo.fns.values() if fn.api_visibility != "private"}
    assert named == {"timestep_embedding", "flavour_check"}  # first visits stay out of the API


def test_the_page_opens_on_the_default_view_and_the_default_check(shipped):
    demo, openings = build_page(page, shipped)
    embedding, check = openings
    assert embedding.fn is page.timestep_embedding
    assert embedding.values == tuple(view.DEFAULTS[k] for k in ("dim", "max_period", "t_start", "t_end", "n_t",
                                                                 "flavour", "inspect_t"))
    heatmap, _, _, inspector, notes = embedding.result()
    expected = view.embedding_view(view.validate_embedding_inputs(), embedder=shipped.t_embedder)
    assert heatmap.to_json() == expected["heatmap"].to_json()
    assert (inspector, notes) == (expected["inspector"], expected["notes"])
    assert "`t_emb`" in inspector  # the served model's MLP is in the inspector
    assert check.fn is page.flavour_check and check.values == (flavours.DEFAULTS["per_digit"],
                                                                flavours.DEFAULTS["seed"])
    first_check = next(fn for fn in demo.fns.values() if fn.fn.__name__ == "first_visit"
                       and any(isinstance(b, gr.Image) for b in fn.outputs))
    assert (first_check.concurrency_id, first_check.concurrency_limit) == (SAMPLING_LANE["concurrency_id"], None)
    assert page.timestep_embedding(*embedding.values)[0] is heatmap  # the view is kept for its request


def test_a_bad_knob_is_named_and_nothing_is_kept():
    kept = len(page.VIEWS)
    with pytest.raises(gr.Error, match="dim must be between 2 and 1024, got 2000"):
        page.timestep_embedding(2000, 10000, 0, 999, 10, "dit", "4")
    with pytest.raises(gr.Error, match="at most 8"):
        page.timestep_embedding(8, 10000, 0, 999, 10, "dit", "1 2 3 4 5 6 7 8 9")
    assert len(page.VIEWS) == kept


def test_without_weights_the_page_opens_on_the_waves_and_says_why_there_is_no_check():
    demo, openings = build_page(page, None, "no weights here")
    (embedding,) = openings
    table = next(b for b in demo.blocks.values() if isinstance(b, gr.Markdown) and "flavour check" in (b.value or ""))
    assert table.value == "*The flavour check needs the trained model, which did not load: no weights here*"
    assert embedding.fn is page.timestep_embedding


def test_a_model_without_a_null_class_gets_no_check_and_is_told_why(monkeypatch):
    from playground.assets import COMPANIONS

    demo, openings = build_page(page, small_dit(0.0, seed=0))
    assert len(openings) == 1
    assert any(b.value == f"*{flavours.NO_NULL_CLASS}*" for b in demo.blocks.values() if isinstance(b, gr.Markdown))
    monkeypatch.setenv(WEIGHTS_ENV, str(COMPANIONS["0"]))
    with pytest.raises(gr.Error, match="no null class"):
        page.flavour_check(1, 0)
    with pytest.raises(gr.Error, match="samples per digit"):  # the request is checked first
        page.flavour_check(0, 0)
