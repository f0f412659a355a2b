"""Bad input: one clear message each on the launched app (also for NaN in raw JSON), then the server still serves;
caps shown in the UI and enforced by the validators (a client can bypass the sliders)."""

import json
import re
import reprlib
import urllib.request

import gradio as gr
import pytest
from gradio_client.exceptions import AppError
from live_app import REPO

from playground.ui.app import build_app
from playground.ui.turns import QUEUE_MAX_SIZE, SAMPLER, SAMPLING_LANE, VIEW_CONCURRENCY
from playground.views.guidance.cfg import MAX_IMAGE_STEPS, MAX_SAMPLES, MAX_SCALES, MAX_STEPS, validate_sweep
from playground.views.time import inspector
from playground.views.time import waves as embedding

USER_ERROR = "Please check the input"  # the title of the gr.Error our validators raise
EMB = (256, 10000, 0, 999, 100, "dit", "4")  # /timestep_embedding
SWEEP = (3, "1", 1, 0, 2, "ddim")  # /cfg_sweep: tiny
CHEAP_EMB = (64, 10000, 0, 999, 50, "dit", "4")


def with_arg(args, i, value):
    return tuple(value if j == i else a for j, a in enumerate(args))


BAD_INPUTS = [  # (endpoint, arguments, the message we wrote); test_app_client.py covers other sweep cases
    ("/timestep_embedding", with_arg(EMB, 0, "abc"), "dim must be a whole number, got 'abc'"),
    ("/timestep_embedding", with_arg(EMB, 0, "nan"), "dim must be a whole number, got 'nan'"),
    ("/timestep_embedding", with_arg(EMB, 0, -4), "dim must be between 2 and 1024, got -4"),
    ("/timestep_embedding", with_arg(EMB, 0, 10**9), "dim must be between 2 and 1024, got 1000000000"),
    ("/timestep_embedding", with_arg(EMB, 0, 10**400), "dim must be a whole number, got 1000"),
    ("/timestep_embedding", with_arg(EMB, 1, "inf"), "max_period must be a finite number between 2 and 1e\\+06"),
    ("/timestep_embedding", with_arg(EMB, 2, None), "t start must be a number, got None"),
    ("/timestep_embedding", with_arg(EMB, 4, 0), "number of t must be between 1 and 2000, got 0"),
    ("/timestep_embedding", with_arg(EMB, 4, 10**6), "number of t must be between 1 and 2000"),
    ("/timestep_embedding", with_arg(EMB, 5, "openai"), "Unknown flavour 'openai'; choose one of dit"),
    ("/timestep_embedding", with_arg(EMB, 5, ["dit"]), "Unknown flavour \\['dit'\\]"),
    ("/timestep_embedding", with_arg(EMB, 6, " , "), "Enter at least one t value"),
    ("/timestep_embedding", with_arg(EMB, 6, "1 2 3 4 5 6 7 8 9"), "9 values given for the t value; at most 8"),
    ("/timestep_embedding", with_arg(EMB, 6, "4 " + "x" * 10**5), re.escape(f"{reprlib.repr('x' * 10**5)} is not")),
    ("/mlp_comparison", (11, 0), "class label must be between 0 and 10, got 11"),
    ("/mlp_comparison", ("three", 0), "class label must be a whole number, got 'three'"),
    ("/mlp_comparison", (3, -1), "seed must be between 0 and 2147483647, got -1"),
    ("/mlp_comparison", (3, "inf"), "seed must be a whole number, got 'inf'"),
    ("/cfg_sweep", with_arg(SWEEP, 0, 10), "class must be between 0 and 9, got 10"),
    ("/cfg_sweep", with_arg(SWEEP, 0, "x"), "class must be a whole number, got 'x'"),
    ("/cfg_sweep", with_arg(SWEEP, 1, "inf"), "'inf' is not a finite number"),
    ("/cfg_sweep", with_arg(SWEEP, 1, "-6"), "guidance scale -6 is outside the allowed range \\[-5, 30\\]"),
    ("/cfg_sweep", with_arg(SWEEP, 2, "many"), "samples per scale must be a whole number, got 'many'"),
    ("/cfg_sweep", with_arg(SWEEP, 3, 2**31), "seed must be between 0 and 2147483647, got 2147483648"),
    ("/cfg_sweep", with_arg(SWEEP, 4, -5), "steps must be between 1 and 100, got -5"),
    ("/cfg_sweep", with_arg(SWEEP, 4, 10**9), "steps must be between 1 and 100, got 1000000000"),
    ("/cfg_sweep", with_arg(SWEEP, 5, "euler"), "Unknown sampler 'euler'; choose one of ddim"),
]


@pytest.fixture(scope="module")
def demo():
    return build_app()[0]


def raw_call(url, api, body):
    """POST a raw JSON body to the queue API (as a non-Python client can) and read the event stream."""
    request = urllib.request.Request(f"{url}gradio_api/call{api}", body.encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        event_id = json.load(response)["event_id"]
    with urllib.request.urlopen(f"{url}gradio_api/call{api}/{event_id}", timeout=60) as response:
        return response.read().decode()


# --- On the launched app: one clear message each, then the server still serves ------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(("api", "args", "message"), BAD_INPUTS, ids=[f"{a}-{m[:30]}" for a, _, m in BAD_INPUTS])
def test_bad_input_gets_our_message(client, api, args, message):
    with pytest.raises(AppError, match=message) as error:
        client.predict(*args, api_name=api)
    assert error.value.title == USER_ERROR


@pytest.mark.slow
def test_nan_as_a_json_number_gets_our_message(app_url):
    stream = raw_call(app_url, "/cfg_sweep", '{"data": [3, "1", 1, 0, NaN, "ddim", true]}')
    assert "event: error" in stream and "steps must be a whole number, got nan" in stream


@pytest.mark.slow
def test_server_still_serves_after_bad_input(client):
    summary = client.predict(*SWEEP, api_name="/cfg_sweep")[3]
    assert "**Class 3**" in summary
    assert "### One batch" in client.predict(*CHEAP_EMB, api_name="/timestep_embedding")[3]


# --- Caps: shown in the UI, enforced by the validators -------------------------------------------------------------


def test_caps_are_shown_in_the_ui(demo):
    sliders = {b.label: b.maximum for b in demo.blocks.values() if isinstance(b, gr.Slider)}
    assert sliders["dim"] == embedding.MAX_DIM and sliders["how many t"] == embedding.MAX_T_POINTS
    assert sliders["samples per scale (rows)"] == MAX_SAMPLES and sliders["denoising steps"] == MAX_STEPS
    shown = " ".join(
        b.value for b in demo.blocks.values() if isinstance(b, gr.Markdown) and "caps" in (b.elem_classes or [])
    )
    for text in (
        f"dim ≤ {embedding.MAX_DIM}",
        f"up to {embedding.MAX_T_POINTS} t",
        f"up to {inspector.MAX_INSPECT_T} inspector values",
        f"runs {VIEW_CONCURRENCY} requests at a time",
        f"{MAX_SCALES} scales, {MAX_SAMPLES} samples, {MAX_STEPS} steps, {MAX_IMAGE_STEPS} image-steps",
        f"Sampling runs {SAMPLER.max_running} request at a time with {SAMPLER.max_waiting} waiting",
    ):
        assert text in shown


def test_every_named_endpoint_reaches_our_validators_in_its_own_lane(demo):
    assert demo._queue.max_size == QUEUE_MAX_SIZE
    assert demo._queue.default_concurrency_limit == VIEW_CONCURRENCY
    public = {fn.api_name: fn for fn in demo.fns.values() if fn.api_visibility == "public"}
    assert set(public) == {"timestep_embedding", "flavour_check", "mlp_comparison", "inside_dit", "counterfactual",
                           "cfg_sweep", "live_column", "guided_step", "guidance_lab", "label_dropout",
                           "classifier_guidance"}
    assert not any(fn.preprocess for fn in public.values())  # every value reaches our validators
    # Requests that sample wait in SAMPLER's turns (or LIVE's), not in gradio's queue, whose cap is shared by every
    # view: those that draw no samples run in lanes of their own and are never refused because sweeps piled up.
    sampling = {"flavour_check", "inside_dit", "counterfactual", "cfg_sweep", "guided_step", "guidance_lab",
                "label_dropout", "classifier_guidance"}
    for name, fn in public.items():
        if name in sampling:
            assert (fn.concurrency_id, fn.concurrency_limit) == (SAMPLING_LANE["concurrency_id"], None), name
        elif name == "live_column":
            assert (fn.concurrency_id, fn.concurrency_limit) == ("live", None)
        else:
            assert fn.concurrency_id != SAMPLING_LANE["concurrency_id"] and fn.concurrency_limit == "default", name


def test_the_public_endpoints_are_the_ones_the_readme_documents(demo):
    documented = set(re.findall(r'api_name="/(\w+)"', (REPO / "README.md").read_text()))
    public = {fn.api_name for fn in demo.fns.values() if fn.api_visibility == "public"}
    assert len(documented) == 11 and public == documented


def test_each_cap_admits_its_value_and_refuses_one_more():
    embedding.validate_embedding_inputs(embedding.MAX_DIM, 10000, 0, 999, embedding.MAX_T_POINTS, "dit")
    with pytest.raises(ValueError, match="dim must be between"):
        embedding.validate_embedding_inputs(embedding.MAX_DIM + 1, 10000, 0, 999, 10, "dit")
    with pytest.raises(ValueError, match="number of t must be between"):
        embedding.validate_embedding_inputs(8, 10000, 0, 999, embedding.MAX_T_POINTS + 1, "dit")
    assert len(inspector.parse_inspect_t(" ".join(["4"] * inspector.MAX_INSPECT_T))) == inspector.MAX_INSPECT_T
    with pytest.raises(ValueError, match=f"at most {inspector.MAX_INSPECT_T}"):
        inspector.parse_inspect_t(" ".join(["4"] * (inspector.MAX_INSPECT_T + 1)))
    validate_sweep(3, "1", MAX_SAMPLES, 0, MAX_STEPS, "ddim")
    for args, message in (
        ((3, "1", MAX_SAMPLES + 1, 0, 1, "ddim"), "samples per scale must be between"),
        ((3, "1", 1, 0, MAX_STEPS + 1, "ddim"), "steps must be between"),
        ((3, " ".join(["1"] * (MAX_SCALES + 1)), 1, 0, 1, "ddim"), f"at most {MAX_SCALES}"),
        ((3, "1 2 3 4 5", MAX_SAMPLES, 0, MAX_STEPS, "ddim"), f"the limit is {MAX_IMAGE_STEPS}"),
    ):
        with pytest.raises(ValueError, match=message):
            validate_sweep(*args)
