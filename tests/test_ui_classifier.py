"""The page "Classifier guidance": one documented endpoint, a private opening, the grid beside three controls and the
rest in folds that start closed, the digit and a committed seed re-running the comparison, the classifier from the
one checkpoint loader, and a served model without a null class said in the page and in the endpoint's answer."""

import gradio as gr
import pytest
from view_helpers import build_page, components

from playground.assets import COMPANIONS
from playground.ui import serving
from playground.ui.guidance import classifier as page
from playground.views.guidance import classifier as view
from playground.views.guidance.classifier import DEFAULTS


def serve(monkeypatch, rate):
    monkeypatch.setenv(serving.WEIGHTS_ENV, str(COMPANIONS[rate]))
    return serving.require_model()


def markdown(demo):
    return "\n".join(b.value or "" for b in demo.blocks.values() if isinstance(b, gr.Markdown))


def public(demo):
    return [fn for fn in demo.fns.values() if fn.api_visibility != "private"]


def test_one_endpoint_and_an_opening_at_the_starting_inputs(monkeypatch):
    demo, openings = build_page(page, serve(monkeypatch, "0.5"))
    [fn] = public(demo)
    assert fn.api_name == "classifier_guidance" and not fn.preprocess and len(fn.outputs) == 6
    assert [type(c) for c in fn.inputs] == [gr.Dropdown, gr.Number, gr.Slider, gr.Textbox, gr.Textbox]
    assert [c.value for c in fn.inputs] == list(DEFAULTS.values())
    [opening] = openings
    assert opening.fn is page._opening and opening.values == tuple(DEFAULTS.values())
    assert view.NO_NULL_CLASS not in markdown(demo)


def ancestors(block):
    while block.parent is not None:
        block = block.parent
        yield block


def beside_the_grid(demo):
    grid = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "cg-grid")
    column = grid.parent.parent.children[1]
    return grid, [b for b in demo.blocks.values() if column in ancestors(b) and isinstance(b, gr.components.Component)]


def test_the_grid_opens_beside_three_controls_and_the_rest_is_folded(monkeypatch):
    demo, _ = build_page(page, serve(monkeypatch, "0.5"))
    grid, shown = beside_the_grid(demo)
    assert grid.height == page.GRID_HEIGHT >= 540  # the hero: at least a third of the 1280x720 first screen
    columns = len(DEFAULTS["g"].split(",")) + len(DEFAULTS["s"].split(","))  # filled by the grid at the start
    header = 2 * (15 + 2) + 2 * 6 + 2  # labelled_grid's two-line headers ("classifier\ng = 2")
    assert page.GRID_HEIGHT - 40 <= header + DEFAULTS["samples"] * (view.GRID_CELL + 6) + 6 <= page.GRID_HEIGHT
    assert columns * (view.GRID_CELL + 6) + 6 <= 720  # and fits the column beside the controls at 1280 px
    assert [type(b) for b in shown] == [gr.Markdown, gr.Dropdown, gr.Textbox, gr.Button]
    assert shown[0].value == page.CAPTION and len(page.CAPTION.split()) <= 30
    assert shown[2].label.startswith("classifier scales g")
    folds = components(demo, gr.Accordion)
    assert {"More settings", "The numbers behind it"} <= set(folds) and not any(f.open for f in folds.values())
    settings = [b for b in demo.blocks.values() if folds["More settings"] in ancestors(b) and hasattr(b, "label")]
    assert {b.label for b in settings} >= {"seed", "samples"} and any(b.label.startswith("CFG scales s")
                                                                       for b in settings)
    [fn] = public(demo)
    assert all(any(isinstance(a, gr.Accordion) for a in ancestors(o)) for o in fn.outputs if o is not grid)
    triggers = {(demo.blocks[block_id], event) for f in demo.fns.values() if f.fn is page.classifier_guidance
                for block_id, event in f.targets}
    label, seed = components(demo, gr.Dropdown)["digit"], components(demo, gr.Number)["seed"]
    assert {(label, "input"), (seed, "submit"), (seed, "blur")} <= triggers and (seed, "change") not in triggers


@pytest.mark.parametrize("rate", ["0.1", "0.5"])
def test_a_served_companion_with_a_null_class_is_guided(monkeypatch, rate):
    serve(monkeypatch, rate)
    grid, summary, *figures = page.classifier_guidance(3, 0, 2, "4", "2", progress=None)
    assert "| classifier g = 4 |" in summary and "| CFG s = 2 |" in summary and len(figures) == 4
    assert ("classifier", None) in serving.CHECKPOINTS  # the one loader keeps it


def test_the_intro_says_what_cfg_s_difference_is():
    # Ho & Salimans: eps_c - eps_u = -sigma_t grad log p_implicit(y | x_t): proportional to the gradient, not it
    assert "ε_c − ε_u is −√(1−ᾱ_t) times the gradient of an implicit classifier's log-probability" in page.INTRO
    assert "is the gradient of an implicit classifier" not in page.INTRO


def test_a_served_model_without_a_null_class_is_said_not_raised(monkeypatch):
    demo, openings = build_page(page, serve(monkeypatch, "0"))
    assert openings == [] and view.NO_NULL_CLASS in beside_the_grid(demo)[1][0].value  # where the caption is
    assert [fn.api_name for fn in public(demo)] == ["classifier_guidance"]
    with pytest.raises(gr.Error, match="no null class and no unconditional prediction"):
        page.classifier_guidance(3, 0, 2, "4", "2", progress=None)
    with pytest.raises(gr.Error, match="classifier scale g"):
        page.classifier_guidance(3, 0, 2, "abc", "2", progress=None)
