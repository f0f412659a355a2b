"""The real app, launched as `python app.py --port N`, driven through its named API with gradio_client."""

import json
import re

import numpy as np
import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError
from live_app import REPO, running_app
from PIL import Image

from playground.checkpoint import load_pretrained
from playground.views.guidance.cfg import MAX_SAMPLES, MAX_STEPS, SweepRequest, validate_sweep
from playground.views.time import adaln, mlp
from playground.views.time import waves as embedding

pytestmark = pytest.mark.slow
PAYLOAD_LIMIT = 1_500_000
EMBEDDING_DEFAULTS = (256, 10000, 0, 999, 1000, "dit", "4, 4, 4, 4")


@pytest.fixture(scope="module")
def shipped_model():
    return load_pretrained()


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    with running_app(tmp_path_factory.mktemp("app") / "app.log") as url:
        yield Client(url, verbose=False, download_files=str(tmp_path_factory.mktemp("downloads")))


def plot_json(value):
    assert value["type"] == "plotly"
    assert len(value["plot"]) < PAYLOAD_LIMIT
    return json.loads(value["plot"])


def test_the_three_named_endpoints_take_simple_inputs(client):
    api = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert {"/timestep_embedding", "/mlp_comparison", "/cfg_sweep", "/flavour_check"} <= set(api)
    names = {k: [p["parameter_name"] for p in v["parameters"]] for k, v in api.items()}
    assert names["/timestep_embedding"] == ["dim", "max_period", "t_start", "t_end", "n_t", "flavour", "inspect_t"]
    assert names["/mlp_comparison"] == ["label", "seed"]
    assert names["/flavour_check"] == ["per_digit", "seed"]
    assert names["/cfg_sweep"] == ["label", "scales", "samples", "seed", "steps", "sampler", "clip"]
    assert names["/live_column"] == ["label", "scale", "samples", "seed"]
    clip = api["/cfg_sweep"]["parameters"][-1]
    assert clip["parameter_has_default"] and clip["parameter_default"] is True  # six-input clients still work


def test_timestep_embedding_defaults(client, shipped_model):
    heatmap, dims, similarity, inspector, notes = client.predict(*EMBEDDING_DEFAULTS, api_name="/timestep_embedding")
    fig = plot_json(heatmap)
    assert fig["data"][0]["type"] == "heatmap"
    assert "256 numbers" in fig["layout"]["title"]["text"]
    assert sum(len(p["plot"]) for p in (heatmap, dims, similarity)) < PAYLOAD_LIMIT
    assert plot_json(similarity)["data"][0]["type"] == "heatmap"
    assert len(plot_json(dims)["data"]) == 8
    # the server answers what the view computes in-process (its values are checked in test_views_embedding.py)
    view = embedding.embedding_view(embedding.validate_embedding_inputs(*EMBEDDING_DEFAULTS),
                                    embedder=shipped_model.t_embedder)
    assert (inspector, notes) == (view["inspector"], view["notes"])


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        ((7, 10000, 0, 50, 1, "dit", "3"), "zero"),  # odd dim, a single t
        ((1024, 10000, 0, 999, 2000, "dit", "0, 999"), "256 of 1024 columns"),  # the caps
        ((256, 10000, 0, 999, 100, "diffusers", "1, 2, 3, 4, 5, 6, 7, 8"), "sin half first"),
        ((64, 50, -20.5, 20.5, 40, "diffusers-dit", "-3.5"), "max_period 50"),
    ],
)
def test_timestep_embedding_edges(client, args, expect):
    heatmap, dims, similarity, inspector, notes = client.predict(*args, api_name="/timestep_embedding")
    fig = plot_json(heatmap)
    text = json.dumps(fig["layout"]) + inspector + notes
    assert expect in text
    plot_json(dims)
    plot_json(similarity)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((3, 10000, 0, 999, 100, "diffusers", "4"), "dim must be between 4"),
        ((256, 10000, 500, 10, 100, "dit", "4"), "must not be below"),
        ((256, 10000, 0, 999, 100, "dit", "four"), "'four' is not a number"),
        ((256, 10000, 0, 999, 100, "dit", ""), "at least one t value"),
    ],
)
def test_timestep_embedding_rejects_bad_input(client, args, message):
    with pytest.raises(AppError, match=message):
        client.predict(*args, api_name="/timestep_embedding")


@pytest.mark.parametrize("label", [3, 10])
def test_mlp_comparison(client, shipped_model, label):
    summary, *plots = client.predict(label, 0, api_name="/mlp_comparison")
    # the MLP page's summary, then the adaLN page's (their values: test_views_mlp.py, test_views_adaln.py)
    expected = mlp.mlp_view(shipped_model, 0)["summary"] + "\n" + adaln.adaln_view(shipped_model, label)["summary"]
    assert summary == expected
    figs = [plot_json(p) for p in plots]
    assert sum(len(p["plot"]) for p in plots) < PAYLOAD_LIMIT
    assert len(figs) == 8 and len(figs[0]["data"]) == 3  # 3 heatmaps
    assert len(figs[5]["data"]) == 8 and len(figs[7]["data"]) == 8  # modulation, class effect: 6 block panels + 2 final
    assert len(figs[6]["data"]) == 2  # PC1 against sqrt(abar_t) and the log-SNR
    assert ("∅ (null, 10)" in summary) == (label == 10)  # the class named in the summary


def test_mlp_comparison_rejects_a_bad_seed(client):
    with pytest.raises(AppError, match="seed"):
        client.predict(3, -1, api_name="/mlp_comparison")


def test_cfg_sweep_small_run(client):
    grid, metrics, trajectory, summary, formula = client.predict(7, "0, 1, 4", 2, 0, 4, "ddim", api_name="/cfg_sweep")
    grid_image, trajectory_image = Image.open(grid), Image.open(trajectory)
    assert grid_image.width > grid_image.height  # 3 columns of scales, 2 rows of samples
    assert trajectory_image.height > trajectory_image.width / 2  # 4 captured steps as rows
    fig = plot_json(metrics)
    assert "Class 7" in summary and "4 ddim steps" in summary
    if fig["data"]:  # the judge scored it
        assert [trace["x"] for trace in fig["data"]][0] == [0.0, 1.0, 4.0]
        assert "| 4 | 3 |" in summary
    assert "s = 4 → w = 3" in formula


def test_cfg_sweep_is_reproducible_and_single_values_work(client):
    first = client.predict(2, "5", 1, 11, 2, "dpm++2m", api_name="/cfg_sweep")
    second = client.predict(2, "5", 1, 11, 2, "dpm++2m", api_name="/cfg_sweep")
    assert np.array_equal(np.asarray(Image.open(first[0])), np.asarray(Image.open(second[0])))
    # diversity is undefined for one sample: the judge's plot has no diversity line
    assert [trace["name"] for trace in plot_json(first[1])["data"]] == [
        "judge accuracy (95% interval)",
        "judge confidence",
    ]
    third = client.predict(2, "5", 1, 12, 2, "ddpm", api_name="/cfg_sweep")
    assert Image.open(third[0]).size == Image.open(first[0]).size


def test_cfg_sweep_clip_is_optional_and_reaches_the_sampler(client):
    six = client.predict(3, "1, 20", 2, 0, 4, "ddim", api_name="/cfg_sweep")
    on = client.predict(3, "1, 20", 2, 0, 4, "ddim", True, api_name="/cfg_sweep")
    off = client.predict(3, "1, 20", 2, 0, 4, "ddim", False, api_name="/cfg_sweep")
    pixels = [np.asarray(Image.open(out[0])) for out in (six, on, off)]
    assert np.array_equal(pixels[0], pixels[1]) and not np.array_equal(pixels[1], pixels[2])
    assert "Clipping is off" in off[3] and "Clipping is off" not in on[3]
    with pytest.raises(AppError, match="clip x0"):
        client.predict(3, "1", 1, 0, 2, "ddim", "maybe", api_name="/cfg_sweep")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((3, "", 4, 0, 20, "ddim"), "at least one guidance scale"),
        ((3, "1, two", 4, 0, 20, "ddim"), "'two' is not a number"),
        ((3, "nan", 4, 0, 20, "ddim"), "not a finite number"),
        ((3, "100", 4, 0, 20, "ddim"), "outside the allowed range"),
        ((3, "0 1 2 3 4 5 6 7 8", 4, 0, 20, "ddim"), "at most 8"),
        # our validators answer, not the sliders' own range check (the endpoints skip gradio's preprocessing)
        ((3, "1", MAX_SAMPLES + 1, 0, 20, "ddim"), f"samples per scale must be between 1 and {MAX_SAMPLES}"),
        ((3, "1", 4, 0, 0, "ddim"), "steps must be between 1 and"),
        ((3, "1", 4, 0, MAX_STEPS + 1, "ddim"), f"steps must be between 1 and {MAX_STEPS}"),
        ((3, "1", 2.5, 0, 20, "ddim"), "whole number"),
        ((3, "0 1 2 3 4 5 6 7", 8, 0, 100, "ddim"), "image-steps"),
    ],
)
def test_cfg_sweep_rejects_bad_input(client, args, message):
    with pytest.raises(AppError, match=message):
        client.predict(*args, api_name="/cfg_sweep")


def test_live_column_answers_and_rejects_a_bad_scale(client):
    image, line = client.predict(3, 4, 2, 0, api_name="/live_column")  # its bytes: test_views_live.py
    column = np.asarray(Image.open(image).convert("L"))
    assert column.shape[1] > column.shape[0] and "**s = 4**" in line and "8 steps" in line
    with pytest.raises(AppError, match="guidance scale"):
        client.predict(3, 99, 2, 0, api_name="/live_column")


def test_validate_sweep_is_a_plain_function():
    assert validate_sweep(3, "0, 1", 2, 5, 10, "ddim") == SweepRequest(3, (0.0, 1.0), 2, 5, 10, "ddim", True)
    with pytest.raises(ValueError, match="Unknown sampler"):
        validate_sweep(3, "1", 2, 5, 10, "euler")
    with pytest.raises(ValueError, match="class"):
        validate_sweep(10, "1", 2, 5, 10, "ddim")  # the null class is not a digit to draw


def test_guided_step_endpoint(client):
    panels, norms, summary, trace = client.predict(3, 0, 4, 4.0, api_name="/guided_step")
    heatmaps = [t for t in plot_json(panels)["data"] if t["type"] == "heatmap"]
    assert len(heatmaps) == 11 and all(np.array(h["z"]).shape == (28, 28) for h in heatmaps)
    assert len(plot_json(norms)["data"][0]["y"]) == 8  # one norm per sampler step
    with pytest.raises(AppError, match="step"):
        client.predict(3, 0, 99, 4.0, api_name="/guided_step")


def test_guidance_lab_endpoint(client):
    grid, table, interval, tradeoff, frechet, verdict = client.predict(3, 0, 4.0, 2, 82, 578, 0.7, 8,
                                                                        api_name="/guidance_lab")
    width, height = Image.open(grid).size
    assert width > 7 * 76 and height > 2 * 76  # seven methods, two samples
    assert sum(line.startswith("| ") for line in table.splitlines()) == 1 + 7  # a header and one row per method
    assert len(plot_json(interval)["data"]) == 3
    with pytest.raises(AppError, match="t_lo <= t_hi"):
        client.predict(3, 0, 4.0, 2, 600, 100, 0.7, 8, api_name="/guidance_lab")


def test_label_dropout_endpoint(client):
    grid, live, *_ = client.predict(3, 0, "1, 4", 1, api_name="/label_dropout")
    width, height = Image.open(grid).size
    assert height > 3 * 64  # three companions, one sample each
    assert live.count("no CFG") == 1  # p = 0 at s = 4 only
    with pytest.raises(AppError, match="samples"):
        client.predict(3, 0, "1, 4", 9, api_name="/label_dropout")


def test_classifier_guidance_endpoint(client):
    grid, summary, *plots_out = client.predict(3, 0, 2, "4", "2", api_name="/classifier_guidance")
    width, _ = Image.open(grid).size
    assert width > 2 * 76
    assert summary.count("\n| ") == 2  # one row per guide
    with pytest.raises(AppError, match="classifier scale"):
        client.predict(3, 0, 2, "abc", "2", api_name="/classifier_guidance")


def test_inside_dit_endpoint(client, shipped_model):
    from playground.views.inside import forward as inside

    api = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert [p["parameter_name"] for p in api["/inside_dit"]["parameters"]] == list(inside.DEFAULTS)
    summary, *plots, shape_walk = client.predict(3, 0, 4, 2, 0, 3, 3, api_name="/inside_dit")
    view = inside.inside_view(shipped_model, inside.validate_inside(3, 0, 4, 2, 0, 3, 3))
    assert (summary, shape_walk) == (view["summary"], view["shape_walk"])  # values: test_views_forward.py
    figs = [plot_json(p) for p in plots]
    assert sum(len(p["plot"]) for p in plots) < PAYLOAD_LIMIT
    assert len(figs) == 7 and len(figs[0]["data"]) == 36  # x_t + the query's map, for 6 blocks x 3 heads
    with pytest.raises(AppError, match="step must be between 1 and 8"):
        client.predict(3, 0, 9, 2, 0, 3, 3, api_name="/inside_dit")


def test_counterfactual_endpoint(client):
    from playground.views.inside import decided as cf

    api = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert [p["parameter_name"] for p in api["/counterfactual"]["parameters"]] == [
        "experiment", "label", "other_label", "seed", "samples", "scale", "t_mode", "t_value", "cut_kind",
        "cut_blocks"] == list(cf.DEFAULTS)
    picture, plot, summary = client.predict("switch the label", 3, 8, 0, 1, 4.0, "offset", 0, "null label", "",
                                            api_name="/counterfactual")
    assert Image.open(picture).width > 9 * 64  # one column per switch step k = 0..8
    assert "Switch 3 → 8 at step k" in summary
    assert plot_json(plot)["data"][0]["type"] == "heatmap"
    with pytest.raises(AppError, match="outside the allowed range"):
        client.predict("cut a route", 3, 8, 0, 1, 4.0, "offset", 0, "null label", "0, 9", api_name="/counterfactual")


def test_the_api_lists_exactly_the_endpoints_the_readme_documents(client):
    documented = set(re.findall(r'api_name="(/\w+)"', (REPO / "README.md").read_text()))
    api = client.view_api(print_info=False, return_format="dict")
    assert len(documented) == 11 and set(api["named_endpoints"]) == documented
    assert not api["unnamed_endpoints"]  # every internal event is private
