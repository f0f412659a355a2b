"""The page "Label dropout": one documented endpoint, a private opening, the grid across the page over three
controls and the rest in folds that start closed, the digit and a committed seed re-sampling, the companions from the
one checkpoint loader (a missing one named in plain words), and the page working with each companion served as the
model."""

import gradio as gr
import pytest
from view_helpers import build_page, components

from playground.assets import COMPANIONS
from playground.ui import serving
from playground.ui.guidance import dropout as page
from playground.views.guidance import dropout as view
from playground.views.guidance.dropout import DEFAULTS, RATES


def serve(monkeypatch, rate):
    monkeypatch.setenv(serving.WEIGHTS_ENV, str(COMPANIONS[rate]))
    return serving.require_model()


def test_one_endpoint_and_an_opening_at_the_starting_inputs(monkeypatch):
    demo, openings = build_page(page, serve(monkeypatch, "0"))
    public = [fn for fn in demo.fns.values() if fn.api_visibility != "private"]
    assert [fn.api_name for fn in public] == ["label_dropout"] and not public[0].preprocess
    assert [type(c) for c in public[0].inputs] == [gr.Dropdown, gr.Number, gr.Textbox, gr.Slider]
    assert [c.value for c in public[0].inputs] == list(DEFAULTS.values()) and len(public[0].outputs) == 9
    [opening] = openings
    assert opening.fn is page.label_dropout and opening.values == tuple(DEFAULTS.values())
    assert build_page(page, None, "no weights here")[1] == []


def test_the_grid_opens_across_the_page_over_three_controls_and_the_rest_is_folded(monkeypatch):
    demo, _ = build_page(page, serve(monkeypatch, "0.1"))
    folds = components(demo, gr.Accordion)
    assert folds and not any(fold.open for fold in folds.values())
    assert {"More settings", "The numbers behind it"} <= set(folds)
    grid = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "dropout-grid")
    assert not any(isinstance(a, gr.Row | gr.Column | gr.Accordion) for a in ancestors(grid))  # the page's width
    siblings = grid.parent.children
    under = siblings[siblings.index(grid) + 1]  # the row right under the grid
    assert isinstance(under, gr.Row)
    shown = [b for b in demo.blocks.values() if under in ancestors(b) and isinstance(b, gr.components.Component)]
    assert [type(b) for b in shown] == [gr.Markdown, gr.Dropdown, gr.Textbox, gr.Button]
    assert shown[0].value == page.CAPTION and len(page.CAPTION.split()) <= 30
    # at the starting inputs the grid is no taller than its box, so it is drawn at its full (the page's) width
    scales = view.parse_scales(DEFAULTS["scales"])
    _, (width, height) = view.sweep_cell_boxes(len(RATES), len(scales), DEFAULTS["samples"],
                                               view.sweep_cell(len(scales)))
    assert grid.height == page.GRID_HEIGHT and height <= page.GRID_HEIGHT < height + 20
    for name in ("seed", "samples"):
        assert folds["More settings"] in ancestors(components(demo, gr.Number | gr.Slider)[name])
    outputs = next(fn for fn in demo.fns.values() if fn.api_name == "label_dropout").outputs
    assert all(any(isinstance(a, gr.Accordion) for a in ancestors(o)) for o in outputs if o is not grid)


def ancestors(block):
    while block.parent is not None:
        block = block.parent
        yield block


def test_the_digit_and_a_committed_seed_resample(monkeypatch):
    demo, _ = build_page(page, serve(monkeypatch, "0.1"))
    label, seed = components(demo, gr.Dropdown)["digit"], components(demo, gr.Number)["seed"]
    triggers = {(demo.blocks[block_id], event) for fn in demo.fns.values() if fn.fn is page.label_dropout
                for block_id, event in fn.targets}
    assert {(label, "input"), (seed, "submit"), (seed, "blur")} <= triggers
    assert (seed, "change") not in triggers  # not a sampling run per keystroke


def test_the_intro_says_which_guidance_needs_the_null_row_and_how_dropout_is_drawn():
    assert "*classifier-free* guidance cannot run on it" in page.INTRO and "cannot be guided" not in page.INTRO
    assert "half its examples" in page.INTRO and "half its steps" not in page.INTRO  # a Bernoulli per example


@pytest.mark.parametrize("rate", RATES)
def test_each_companion_served_shows_the_three(monkeypatch, rate):
    serve(monkeypatch, rate)
    grid, live, *_ = page.label_dropout(3, 0, "1, 4", 1)
    assert "| p = 0 |" in live and "no CFG (no null row)" in live.split("| p = 0 |")[1].split("\n")[0]
    _, size = view.sweep_cell_boxes(len(RATES), 2, 1, view.sweep_cell(2))  # a column per companion and scale
    assert grid.size == size and size[0] > 3 * size[1]
    for path in COMPANIONS.values():  # loaded once, by the app's one loader
        assert ("dit", str(path)) in serving.CHECKPOINTS


def test_a_missing_companion_is_named(monkeypatch, tmp_path):
    serve(monkeypatch, "0.1")
    monkeypatch.setitem(COMPANIONS, "0.5", tmp_path / "gone.safetensors")
    with pytest.raises(gr.Error, match="The label-dropout 0.5 companion did not load"):
        page.label_dropout(3, 0, "1, 4", 1)
    with pytest.raises(gr.Error, match="samples per model and scale"):
        page.label_dropout(3, 0, "1, 4", 9)
