"""The page "Label dropout": one documented endpoint, a private opening, the companions from the one checkpoint
loader (a missing one named in plain words), and the page working with each companion served as the model."""

import gradio as gr
import pytest
from view_helpers import build_page

from playground.assets import COMPANIONS
from playground.ui import serving
from playground.ui.guidance import dropout as page
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


def test_the_intro_says_which_guidance_needs_the_null_row_and_how_dropout_is_drawn():
    assert "*classifier-free* guidance cannot run on it" in page.INTRO and "cannot be guided" not in page.INTRO
    assert "half its examples" in page.INTRO and "half its steps" not in page.INTRO  # a Bernoulli per example


@pytest.mark.parametrize("rate", RATES)
def test_each_companion_served_shows_the_three(monkeypatch, rate):
    serve(monkeypatch, rate)
    grid, live, *_ = page.label_dropout(3, 0, "1, 4", 1)
    assert "| p = 0 |" in live and "no CFG (no null row)" in live.split("| p = 0 |")[1].split("\n")[0]
    assert grid.size[1] > 3 * 64  # a row of cells per companion
    for path in COMPANIONS.values():  # loaded once, by the app's one loader
        assert ("dit", str(path)) in serving.CHECKPOINTS


def test_a_missing_companion_is_named(monkeypatch, tmp_path):
    serve(monkeypatch, "0.1")
    monkeypatch.setitem(COMPANIONS, "0.5", tmp_path / "gone.safetensors")
    with pytest.raises(gr.Error, match="The label-dropout 0.5 companion did not load"):
        page.label_dropout(3, 0, "1, 4", 1)
    with pytest.raises(gr.Error, match="samples per model and scale"):
        page.label_dropout(3, 0, "1, 4", 9)
