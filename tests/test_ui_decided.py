"""The page of when the digit is decided (`playground.ui.inside.decided`): widgets from the view's DEFAULTS fitted to
the served model, one documented endpoint, what the page opens on, and every shipped companion run, the one without
a null class saying plainly what it cannot show."""

import gradio as gr
import pytest
from view_helpers import build_page, components

from playground.assets import COMPANIONS
from playground.checkpoint import load_pretrained
from playground.model import DiT
from playground.ui.inside import decided as page
from playground.ui.serving import WEIGHTS_ENV
from playground.views.inside import decided as cf


def markdowns(demo):
    return [b.value for b in demo.blocks.values() if isinstance(b, gr.Markdown)]


def buttons(demo):
    return [b.value for b in demo.blocks.values() if isinstance(b, gr.Button)]


def test_widgets_follow_the_defaults_and_the_config():
    model = DiT(hidden_size=32, depth=3, num_heads=2, num_classes=4).eval()
    demo, (opening,) = build_page(page, model)
    assert components(demo, gr.Slider)["samples"].maximum == cf.MAX_SAMPLES
    assert components(demo, gr.Radio)["experiment"].value == cf.DEFAULTS["experiment"]
    dropdowns = components(demo, gr.Dropdown)
    assert [value for _, value in dropdowns["digit drawn"].choices] == [0, 1, 2, 3]
    assert (dropdowns["digit drawn"].value, dropdowns["switch to"].value) == (3, 0)  # 8 is not a class here
    assert components(demo, gr.Textbox)["blocks (0..2)"].value == cf.DEFAULTS["cut_blocks"]
    assert components(demo, gr.Slider)["guidance scale s"].interactive is not False
    assert opening.fn is page.counterfactual
    assert opening.values == tuple(cf.fitted(cf.DEFAULTS, model.config).values())
    assert buttons(demo)[:len(cf.presets(model.config))] == list(cf.presets(model.config))


def fold_of(component):
    parent = component.parent
    while parent is not None and not isinstance(parent, gr.Accordion):
        parent = parent.parent
    return parent


def test_only_the_chosen_experiments_parameters_are_shown():
    """At the start only the switch's digit is shown; choosing an experiment (by hand or by a demo) shows its own
    parameters and hides the others'."""
    demo, _ = build_page(page, DiT(hidden_size=32, depth=3, num_heads=2, num_classes=10).eval())
    own = {"switch to", "cut by", "blocks (0..2)", "lie: t' =", "offset / constant"}
    shown = {b.label for b in demo.blocks.values() if getattr(b, "label", None) in own and b.visible}
    assert shown == {"switch to"}
    (toggle,) = [fn for fn in demo.fns.values() if fn.fn is page.shown_parameters]
    assert [(demo.blocks[b].label, event) for b, event in toggle.targets] == [("experiment", "change")]
    labels = [b.label for b in toggle.outputs]
    for experiment, expected in [("cut a route", {"cut by", "blocks (0..2)"}),
                                 ("lie about t", {"lie: t' =", "offset / constant"}),
                                 ("switch the label", {"switch to"})]:
        updates = page.shown_parameters(experiment)
        assert {label for label, update in zip(labels, updates, strict=True) if update["visible"]} == expected


def test_folds_start_closed_and_the_digit_and_committed_numbers_run():
    demo, _ = build_page(page, DiT(hidden_size=32, depth=3, num_heads=2).eval())
    folds = [b for b in demo.blocks.values() if isinstance(b, gr.Accordion)]
    assert len(folds) == 2 and all(fold.open is False for fold in folds)
    (endpoint,) = [fn for fn in demo.fns.values() if fn.api_name == "counterfactual"]
    picture, figure, summary = endpoint.outputs
    assert fold_of(picture) is None and fold_of(figure) is None and fold_of(summary) is not None
    assert page.INTRO in markdowns(demo) and len(page.CAPTION.split()) <= 30
    triggers = {(demo.blocks[b].label, event) for b, event in endpoint.targets}
    assert {("digit drawn", "input"), ("switch to", "input"), ("experiment", "input"), ("seed", "submit"),
            ("seed", "blur"), ("offset / constant", "submit"), ("offset / constant", "blur"),
            ("blocks (0..2)", "blur")} <= triggers
    assert not any(event == "change" for _, event in triggers)  # a demo's fill-in starts no run of its own
    first_screen = [b.label for b in demo.blocks.values() if isinstance(b, gr.components.FormComponent)
                    and b.label and b.visible and fold_of(b) is None]
    assert first_screen == ["experiment", "digit drawn", "switch to"]


def test_the_intro_says_what_each_cut_can_show():
    """Only the null-label cut shows which blocks carry the class; zeroing gates removes whole blocks."""
    assert "handing blocks the null label shows which carry the class" in page.INTRO
    assert "zeroing their gates removes whole blocks and so shows which the samples need" in page.INTRO
    assert "cutting a route shows which blocks carry the class" not in page.INTRO


def test_one_documented_endpoint_and_every_other_event_private():
    demo, _ = build_page(page, DiT(hidden_size=32, depth=1, num_heads=2).eval())
    public = [fn for fn in demo.fns.values() if fn.api_visibility != "private"]
    assert [fn.api_name for fn in public] == ["counterfactual"]
    (endpoint,) = public
    assert endpoint.preprocess is False and len(endpoint.inputs) == len(cf.DEFAULTS) and len(endpoint.outputs) == 3


def test_without_a_model_the_page_says_why_and_opens_on_nothing(monkeypatch):
    demo, openings = build_page(page, None, "no weights here")
    assert openings == [] and "> The model did not load: no weights here" in markdowns(demo)
    monkeypatch.setenv(WEIGHTS_ENV, "/nonexistent/dit.safetensors")
    with pytest.raises(gr.Error, match="could not be loaded"):
        page.counterfactual(*cf.DEFAULTS.values())


@pytest.mark.parametrize("p", list(COMPANIONS))
def test_every_companion_builds_and_opens(p, monkeypatch):
    """Served with `PLAYGROUND_WEIGHTS`, each companion (4 blocks) gets its own blocks and demos and a first visit
    that runs; the p = 0 one (no null class) runs unguided, offers no null-label cut and says why."""
    path = COMPANIONS[p]
    if not path.exists():
        pytest.skip(f"{path.name} is absent")
    model = load_pretrained(path)
    monkeypatch.setenv(WEIGHTS_ENV, str(path))
    demo, (opening,) = build_page(page, model)
    has_null = model.null_class is not None
    assert components(demo, gr.Textbox)["blocks (0..3)"].value == "0, 1, 2"
    assert "Zero the gates of the last 3 blocks" in buttons(demo)
    scale, kinds = components(demo, gr.Slider)["guidance scale s"], components(demo, gr.Dropdown)["cut by"]
    assert (page.NO_NULL in markdowns(demo), scale.value, scale.interactive is False) == (
        (False, cf.DEFAULTS["scale"], False) if has_null else (True, 1.0, True))
    assert [value for value, _ in kinds.choices] == (list(cf.CUT_KINDS) if has_null else ["zero gates"])
    assert ("Which blocks carry the class? (null label)" in buttons(demo)) == has_null
    image, figure, summary = opening.fn(*opening.values)
    assert image.width > (cf.STEPS + 1) * 64 and figure.data[0].type == "heatmap"
    assert "Switch 3 → 8 at step k" in summary and f"s = {scale.value:g}, seed 0" in summary
    if not has_null:
        with pytest.raises(gr.Error, match="This model has no null class"):
            page.counterfactual("cut a route", 3, 8, 0, 1, 1.0, "offset", 0, "null label", "0")
        with pytest.raises(gr.Error, match="This model has no null class"):
            page.counterfactual("lie about t", 3, 8, 0, 1, 4.0, "offset", 300, "zero gates", "")
