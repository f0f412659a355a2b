"""The adaLN page (`playground.ui.time.adaln`): classes from the model (the null class last, where there is one),
what the page opens on, and the p = 0 companion, which has no null class, served through the page and through
`/mlp_comparison`."""

import gradio as gr
import pytest
from view_helpers import build_page, components, in_closed_fold, small_dit

from playground.assets import COMPANIONS
from playground.model import DiT
from playground.ui.openings import KEPT
from playground.ui.serving import WEIGHTS_ENV
from playground.ui.time import adaln as page
from playground.ui.time import mlp as mlp_page
from playground.views.time import adaln


def notes(demo):
    return [b.value for b in demo.blocks.values() if isinstance(b, gr.Markdown)]


def test_class_choices_come_from_the_model_config():
    model = DiT(hidden_size=32, depth=1, num_heads=2, num_classes=4).eval()
    demo, _ = build_page(page, model)
    choices = components(demo, gr.Dropdown)["class label for the blocks"].choices
    assert choices == [("0", 0), ("1", 1), ("2", 2), ("3", 3), ("∅ null class (4)", 4)] and model.null_class == 4
    assert adaln.NO_NULL_CLASS not in notes(demo)


def test_a_model_without_a_null_class_offers_the_digits_and_says_so():
    demo, _ = build_page(page, small_dit(0.0, seed=0))
    assert [value for _, value in components(demo, gr.Dropdown)["class label for the blocks"].choices] == list(
        range(10))
    assert adaln.NO_NULL_CLASS in notes(demo) and "no null class" in adaln.NO_NULL_CLASS


def test_the_page_opens_on_the_default_class_and_its_event_is_private(shipped):
    demo, openings = build_page(page, shipped)
    (opening,) = openings
    assert opening.fn is page.adaln_page and opening.values == (adaln.DEFAULTS["label"],)
    summary, modulation, class_effect = opening.result()
    view = adaln.adaln_view(shipped, 3)
    assert summary == view["summary"] and class_effect.to_json() == view["class_effect"].to_json()
    assert "class 3 minus the null class ∅" in class_effect.layout.title.text
    assert all(fn.api_visibility == "private" for fn in demo.fns.values())
    plots = [b for b in demo.blocks.values() if isinstance(b, gr.Plot)]
    assert [in_closed_fold(b) for b in plots] == [False, False]  # the two figures open the page
    (summary_block,) = [b for b in demo.blocks.values() if isinstance(b, gr.Markdown) and b.value == "*Computing…*"]
    assert in_closed_fold(summary_block)  # the sentences wait in a fold that starts closed
    with pytest.raises(gr.Error, match="class label must be between 0 and 10, got 12"):
        page.adaln_page(12)


def test_without_weights_the_page_says_so_and_opens_on_nothing():
    demo, openings = build_page(page, None, "no weights here")
    assert openings == [] and "The model did not load: no weights here" in notes(demo)


@pytest.fixture
def served_p0(monkeypatch):
    """The p = 0 companion served; the pages' kept views (kept per input, for one served model) are cleared around."""
    kept = (page.VIEWS, mlp_page.VIEWS, KEPT)
    for cache in kept:
        cache.clear()
    monkeypatch.setenv(WEIGHTS_ENV, str(COMPANIONS["0"]))
    yield
    for cache in kept:
        cache.clear()


def test_the_p0_companion_is_served_in_plain_words(served_p0):
    """The issue's report: `'<=' not supported between 'float' and 'NoneType'` on this model, now an answer."""
    summary, _, class_effect = page.adaln_page(3)
    assert "(class 3 vs the mean over the digits)" in summary
    assert "class 3 minus the mean over the digits" in class_effect.layout.title.text
    with pytest.raises(gr.Error, match="between 0 and 9, got 10.*no null class"):
        page.adaln_page(10)
    answer = mlp_page.mlp_comparison(3, 0)
    assert len(answer) == 9 and answer[0].endswith(summary)
    with pytest.raises(gr.Error, match="no null class"):
        mlp_page.mlp_comparison(10, 0)
