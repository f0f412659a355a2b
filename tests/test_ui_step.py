"""The page "One step": one documented endpoint with its inputs in order, private internals, an opening that is the
endpoint at the starting inputs, and a served model without a null class said in plain words."""

import gradio as gr
import pytest
from view_helpers import build_page, components

from playground.assets import COMPANIONS
from playground.ui import serving
from playground.ui.guidance import step as page
from playground.ui.widgets import CSS
from playground.views.guidance import step as view
from playground.views.guidance.step import STEP_DEFAULTS, StepRequest


def serve(monkeypatch, rate):
    monkeypatch.setenv(serving.WEIGHTS_ENV, str(COMPANIONS[rate]))
    return serving.require_model()


def markdown(demo):
    return "\n".join(b.value or "" for b in demo.blocks.values() if isinstance(b, gr.Markdown))


def endpoint(demo):
    [fn] = [fn for fn in demo.fns.values() if fn.api_visibility != "private"]
    return fn


def test_one_endpoint_and_an_opening_at_the_starting_inputs(monkeypatch):
    model = serve(monkeypatch, "0.5")
    demo, openings = build_page(page, model)
    fn = endpoint(demo)
    assert fn.api_name == "guided_step" and not fn.preprocess and fn.concurrency_id == "sampling"
    assert [type(c) for c in fn.inputs] == [gr.Dropdown, gr.Number, gr.Slider, gr.Number]
    assert [c.value for c in fn.inputs] == list(STEP_DEFAULTS.values())
    assert view.NO_NULL_CLASS not in markdown(demo)
    [opening] = openings
    assert opening.fn is page.guided_step and opening.values == tuple(STEP_DEFAULTS.values())
    panels, norms, summary, trace = opening.fn(*opening.values)  # the served model, as a visitor gets it
    expected = view.guided_step_view(model, StepRequest(**STEP_DEFAULTS))
    assert (summary, trace) == (expected["summary"], expected["trace"])
    assert panels.to_json() == expected["panels"].to_json()


def test_a_bad_input_names_its_field(monkeypatch):
    serve(monkeypatch, "0.1")
    with pytest.raises(gr.Error, match="step must be between 1 and 8"):
        page.guided_step(3, 0, 99, 4.0)


def test_a_served_model_without_a_null_class_is_said_not_raised(monkeypatch):
    p0 = serve(monkeypatch, "0")
    demo, openings = build_page(page, p0)
    assert openings == []  # nothing to open: the page says why instead
    assert view.NO_NULL_CLASS in markdown(demo)
    assert endpoint(demo).api_name == "guided_step"  # the API keeps its endpoint, which answers in words
    with pytest.raises(gr.Error, match="no null class and no unconditional prediction"):
        page.guided_step(3, 0, 4, 4.0)


def test_without_a_model_the_page_builds_and_opens_on_nothing():
    demo, openings = build_page(page, None, "no weights here")
    assert openings == [] and endpoint(demo).api_name == "guided_step"
    digits = components(demo, gr.Dropdown)["digit"]
    assert [value for _, value in digits.choices] == list(range(10))


def ancestors(block):
    while block.parent is not None:
        block = block.parent
        yield block


def test_the_panels_open_beside_three_controls_and_the_rest_is_folded(monkeypatch):
    demo, _ = build_page(page, serve(monkeypatch, "0.5"))
    folds = components(demo, gr.Accordion)
    assert set(folds) == {"More settings", "The numbers behind it", "The reference's code: forward_with_cfg"}
    assert not any(fold.open for fold in folds.values())
    fn = endpoint(demo)
    panels, norms, summary, trace = fn.outputs
    assert not any(isinstance(a, gr.Accordion) for a in ancestors(panels))  # the hero, on the first screen
    beside = panels.parent.parent.children[0]  # the column left of the panels
    shown = [b for b in demo.blocks.values() if beside in ancestors(b) and isinstance(b, gr.components.Component)
             and not any(isinstance(a, gr.Accordion) for a in ancestors(b))]
    assert [type(b) for b in shown] == [gr.Markdown, gr.Dropdown, gr.Slider, gr.Number]
    assert shown[0].value == page.CAPTION and len(page.CAPTION.split()) <= 30
    assert folds["More settings"] in ancestors(components(demo, gr.Number)["seed"])
    assert folds["The numbers behind it"] in ancestors(norms) and folds["The numbers behind it"] in ancestors(summary)
    assert folds["The reference's code: forward_with_cfg"] in ancestors(trace)
    assert "scroll-x" in trace.elem_classes and ".scroll-x pre {max-width: 100%; overflow-x: auto;" in CSS
    assert page.INTRO in markdown(demo)  # today's intro, one click away


def test_the_digit_the_step_and_committed_numbers_resample(monkeypatch):
    demo, _ = build_page(page, serve(monkeypatch, "0.5"))
    fn = endpoint(demo)
    label, seed, step, scale = fn.inputs
    triggers = {(demo.blocks[block_id], event) for block_id, event in fn.targets}
    assert triggers == {(label, "change"), (step, "release"), (seed, "submit"), (seed, "blur"), (scale, "submit"),
                        (scale, "blur")}  # a number acts on Enter or leaving its box, never per keystroke
