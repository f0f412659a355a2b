"""The page "Variants": one documented endpoint with its inputs in the order of `LAB_DEFAULTS`, one-click demos and
the opening kept private, autoguidance's weak model from the one checkpoint loader, and the weak companion served as
the model said in the output instead of guided by itself."""

import gradio as gr
import pytest
from view_helpers import build_page, components

from playground.assets import AUTOGUIDE_WEAK, COMPANIONS
from playground.ui import serving
from playground.ui.guidance import variants as page
from playground.views.guidance import variants as view
from playground.views.guidance.cfg import SCALE_RANGE
from playground.views.guidance.variants import LAB_DEFAULTS, LAB_PRESETS


def serve(monkeypatch, rate):
    monkeypatch.setenv(serving.WEIGHTS_ENV, str(COMPANIONS[rate]))
    return serving.require_model()


def test_one_endpoint_its_demos_and_the_opening_are_wired(monkeypatch):
    demo, openings = build_page(page, serve(monkeypatch, "0.5"))
    public = [fn for fn in demo.fns.values() if fn.api_visibility != "private"]
    assert [fn.api_name for fn in public] == ["guidance_lab"] and not public[0].preprocess
    fn = public[0]
    assert [c.value for c in fn.inputs] == list(LAB_DEFAULTS.values()) and len(fn.outputs) == 6
    assert [type(c) for c in fn.inputs] == [gr.Dropdown, gr.Number, gr.Number, gr.Slider, gr.Number, gr.Number,
                                            gr.Slider, gr.Dropdown]
    buttons = [b.value for b in demo.blocks.values() if isinstance(b, gr.Button)]
    assert sorted(buttons) == sorted([*LAB_PRESETS, "Compare"])
    fills = [f for f in demo.fns.values() if f.fn is not None and f.outputs == fn.inputs and f.inputs == []]
    assert all(f.api_visibility == "private" for f in demo.fns.values() if f is not fn)
    assert sorted(f.fn() for f in fills) == sorted(tuple(p.values()) for p in LAB_PRESETS.values())
    [opening] = openings
    assert opening.fn is page._opening and opening.values == tuple(LAB_DEFAULTS.values())
    assert build_page(page, None, "no weights here")[1] == []


def test_the_weak_model_comes_from_the_one_loader(monkeypatch):
    assert page._weak_model() is serving.checkpoint("dit", AUTOGUIDE_WEAK)
    monkeypatch.setattr(page, "AUTOGUIDE_WEAK", AUTOGUIDE_WEAK.with_name("missing.safetensors"))
    assert page._weak_model() is None  # the comparison then says autoguidance is left out


def test_the_weak_companion_served_is_not_guided_by_itself(monkeypatch):
    serve(monkeypatch, "0.1")
    grid, table, interval, tradeoff, frechet, verdict = page.guidance_lab(3, 0, 4.0, 2, 82, 578, 0.7, 8,
                                                                          progress=None)
    assert f"**Not shown:** {view.SELF_GUIDED}" in table and "6 methods" in table
    assert "| auto- guidance |" not in table and "| constant CFG |" in table
    assert grid.size[0] < 7 * view.GRID_CELL  # six columns, no autoguidance


def test_a_bad_input_names_its_field(monkeypatch):
    serve(monkeypatch, "0")
    with pytest.raises(gr.Error, match="t_lo <= t_hi"):
        page.guidance_lab(3, 0, 4.0, 2, 600, 100, 0.7, 8, progress=None)


def ancestors(block):
    while block.parent is not None:
        block = block.parent
        yield block


def folded(block):
    return any(isinstance(a, gr.Accordion) for a in ancestors(block))


def test_the_grid_opens_beside_three_controls_the_curves_under_it_the_rest_folded(monkeypatch):
    demo, _ = build_page(page, serve(monkeypatch, "0.5"))
    folds = components(demo, gr.Accordion)
    assert set(folds) == {"More settings", "The numbers behind it"} and not any(f.open for f in folds.values())
    [fn] = [fn for fn in demo.fns.values() if fn.api_name == "guidance_lab"]
    grid, table, interval, tradeoff, frechet, verdict = fn.outputs
    assert [folded(o) for o in fn.outputs] == [False, True, True, False, False, True]  # grid and curves shown
    beside = grid.parent.parent.children[0]  # the column left of the grid
    shown = [b for b in demo.blocks.values() if beside in ancestors(b) and isinstance(b, gr.components.Component)
             and not folded(b)]
    controls = [b for b in shown if not isinstance(b, gr.Markdown)]
    assert [b.label or b.value for b in controls] == ["digit", f"scale s, in {list(SCALE_RANGE)}", "Compare"]
    assert shown[0].value == page.CAPTION and len(page.CAPTION.split()) <= 30
    under = [b for b in demo.blocks.values() if isinstance(b, gr.Button) and grid.parent in ancestors(b)]
    assert sorted(b.value for b in under) == sorted(LAB_PRESETS)  # the one-click demos, right under the grid
    assert all(folds["More settings"] in ancestors(c) for c in fn.inputs if c not in controls)
    assert page.INTRO in [b.value for b in demo.blocks.values() if isinstance(b, gr.Markdown)]
    assert tradeoff.parent is frechet.parent  # the two curves side by side, under the grid
    assert "nowrap-head" in verdict.elem_classes  # headers whole, the table scrolls in its box if it must


def test_every_control_acts_when_committed_and_a_demo_runs_once(monkeypatch):
    demo, _ = build_page(page, serve(monkeypatch, "0.5"))
    [fn] = [fn for fn in demo.fns.values() if fn.api_name == "guidance_lab"]
    label, seed, scale, samples, t_lo, t_hi, phi, negative = fn.inputs
    triggers = {(demo.blocks[block_id], event) for block_id, event in fn.targets}
    numbers = {(box, event) for box in (seed, scale, t_lo, t_hi) for event in ("submit", "blur")}
    run = next(b for b in demo.blocks.values() if isinstance(b, gr.Button) and b.value == "Compare")
    assert triggers - numbers == {(label, "input"), (negative, "input"), (samples, "release"), (phi, "release"),
                                  (run, "click")}  # menus on a person's choice: a demo's fill-in runs nothing
    assert numbers <= triggers  # Enter or leaving the box, never a run per keystroke
    assert fn.trigger_mode == "always_last"  # a setting changed during a run is run after it, not dropped
