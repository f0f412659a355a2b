"""The MLP page (`playground.ui.time.mlp`) and `/mlp_comparison`, which it builds for itself and the adaLN page: one
endpoint with the inputs and outputs clients know, answering what the two pages show; each page's own events
update only that page."""

import asyncio
import json

import gradio as gr
import pytest
from view_helpers import build_page, components, in_closed_fold

from playground.ui.serving import WEIGHTS_ENV
from playground.ui.time import adaln as adaln_page
from playground.ui.time import mlp as page
from playground.views.time import adaln, mlp

OUTPUTS = [gr.Markdown] + [gr.Plot] * 8


def chapter(model, model_error=None):
    """The two pages in their tabs, as the app builds the chapter: (demo, {tab label: tab})."""
    with gr.Blocks() as demo, gr.Tabs():
        with gr.Tab("mlp") as mlp_tab:
            page.build([mlp_tab.select], model, model_error)
        with gr.Tab("adaln") as adaln_tab:
            adaln_page.build([adaln_tab.select], model, model_error)
    return demo, {"mlp": mlp_tab, "adaln": adaln_tab}


def tab_of(block):
    while not isinstance(block, gr.Tab):
        block = block.parent
    return block


def shown(block):
    while block is not None:
        if block.visible is False:
            return False
        block = block.parent
    return True


def call(demo, fn, *inputs):
    """What gradio sends a client for `fn(*inputs)` (outputs postprocessed: plots as Plotly JSON)."""
    return asyncio.run(demo.process_api(fn, list(inputs), state=None))["data"]


def test_the_endpoint_exists_once_with_its_inputs_and_outputs(shipped):
    demo, _ = chapter(shipped)
    (fn,) = [fn for fn in demo.fns.values() if fn.api_name == "mlp_comparison"]
    assert fn.targets == [] and fn.api_visibility == "public" and fn.preprocess is False  # clients only
    assert [(type(b), b.label) for b in fn.inputs] == [(gr.Dropdown, "class label for the blocks"),
                                                       (gr.Number, "seed of the fresh MLP")]
    assert [value for _, value in fn.inputs[0].choices] == list(range(11)) and fn.inputs[0].value == 3
    assert [type(b) for b in fn.outputs] == OUTPUTS
    api = demo.get_api_info()["named_endpoints"]["/mlp_comparison"]
    assert [p["parameter_name"] for p in api["parameters"]] == ["label", "seed"]
    assert [p["parameter_default"] for p in api["parameters"]] == [3, 0]
    assert {fn.api_name for fn in demo.fns.values() if fn.api_visibility != "private"} == {"mlp_comparison"}


def test_the_endpoint_answers_the_two_pages_views_as_plotly_json(shipped):
    demo, _ = chapter(shipped)
    (fn,) = [fn for fn in demo.fns.values() if fn.api_name == "mlp_comparison"]
    summary, *plots = call(demo, fn, 10, 0)
    curves, blocks = mlp.mlp_view(shipped, 0), adaln.adaln_view(shipped, 10)
    assert summary == curves["summary"] + "\n" + blocks["summary"]  # the MLP's four lines, then the class's two
    lines = summary.splitlines()
    assert len(lines) == 6 and "(class ∅ (null, 10) vs the mean over the digits)" in lines[5]
    views = {**curves, **blocks}
    for plot, name in zip(plots, page.ENDPOINT_OUTPUTS[1:], strict=True):
        assert plot["type"] == "plotly" and json.loads(plot["plot"]) == json.loads(views[name].to_json()), name


def test_the_endpoint_names_a_bad_field():
    with pytest.raises(gr.Error, match="class label must be between 0 and 10, got 11"):
        page.mlp_comparison(11, 0)
    with pytest.raises(gr.Error, match="seed must be between 0 and 2147483647, got -1"):
        page.mlp_comparison(3, -1)


def test_each_pages_events_update_only_that_page(shipped):
    demo, tabs = chapter(shipped)
    private = [fn for fn in demo.fns.values() if fn.api_visibility == "private" and fn.outputs]
    assert private
    for fn in private:
        pages = {tab_of(b) for b in fn.outputs if not isinstance(b, gr.State)}
        assert len(pages) == 1, fn.fn
    seed_events = [fn for fn in private if any(b.label == "seed of the fresh MLP" for b in fn.inputs)]
    assert {tab_of(b) for fn in seed_events for b in fn.outputs if not isinstance(b, gr.State)} == {tabs["mlp"]}


def test_the_page_opens_on_the_finding_first_and_the_rest_in_a_fold(shipped):
    demo, openings = build_page(page, shipped)
    finding, details = openings
    assert (finding.fn, details.fn) == (page.mlp_finding, page.mlp_details)
    assert finding.values == details.values == (mlp.DEFAULTS["seed"],)
    view = mlp.mlp_view(shipped, 0)
    pca2d, signal = finding.result()
    assert pca2d.to_json() == view["pca2d"].to_json() and signal.to_json() == view["signal"].to_json()
    summary, heatmaps, *_, pca3d = details.result()
    assert summary == view["summary"] and heatmaps.to_json() == view["heatmaps"].to_json()
    assert pca3d.to_json() == view["pca3d"].to_json()
    assert shown(components(demo, gr.Number)["seed of the fresh MLP"])
    plots = [b for b in demo.blocks.values() if isinstance(b, gr.Plot) and shown(b)]
    assert len(plots) == 6  # the MLP's figures; the adaLN ones are the endpoint's, hidden
    # The two figures of the finding open the page; the four others and the sentences wait in a closed fold.
    assert [in_closed_fold(b) for b in plots].count(False) == 2
    summary_block = next(b for b in demo.blocks.values() if isinstance(b, gr.Markdown) and b.value == "*Computing…*")
    assert in_closed_fold(summary_block)
    assert not shown(components(demo, gr.Dropdown)["class label for the blocks"])


def test_a_committed_seed_redraws_the_finding_then_the_rest(shipped):
    demo, _ = build_page(page, shipped)
    seed = components(demo, gr.Number)["seed of the fresh MLP"]
    (run,) = [fn for fn in demo.fns.values() if fn.fn is page.mlp_finding]
    assert {(seed._id, "submit"), (seed._id, "blur")} <= set(run.targets)  # Enter or leaving the box, no keystroke
    assert (seed._id, "change") not in run.targets
    (then,) = [fn for fn in demo.fns.values() if fn.fn is page.mlp_details]
    assert then.trigger_after == run._id
    pca2d, _ = page.mlp_finding(1)
    assert pca2d.to_json() == mlp.mlp_view(shipped, 1)["pca2d"].to_json()  # seed 1's fresh MLP
    assert pca2d.to_json() != page.mlp_finding(0)[0].to_json()


def test_without_weights_the_page_says_so_and_the_endpoint_names_the_file(monkeypatch):
    demo, openings = build_page(page, None, "no weights here")
    assert openings == []
    assert any(b.value == "The model did not load: no weights here" for b in demo.blocks.values()
               if isinstance(b, gr.Markdown))
    assert [fn.api_name for fn in demo.fns.values() if fn.api_visibility == "public"] == ["mlp_comparison"]
    monkeypatch.setenv(WEIGHTS_ENV, "/nowhere/dit.safetensors")
    with pytest.raises(gr.Error, match="/nowhere/dit.safetensors"):
        page.mlp_comparison(3, 0)
