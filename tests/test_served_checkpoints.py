"""Every shipped DiT checkpoint can be served: launched with `PLAYGROUND_WEIGHTS` set to a companion (4 blocks, 4
heads; the p = 0 one without a null class), every documented endpoint either answers or says in plain words what
this model cannot do, never with a Python error's text. The default checkpoint is covered by test_app_client.py."""

import json

import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError
from live_app import running_app

from playground.assets import COMPANIONS
from playground.checkpoint import card_path
from playground.ui.serving import WEIGHTS_ENV

pytestmark = pytest.mark.slow
ENDPOINTS = {  # every endpoint the README documents, with small inputs (the README gives their order)
    "/timestep_embedding": (64, 10000, 0, 999, 50, "dit", "4"),
    "/flavour_check": (1, 0),
    "/mlp_comparison": (3, 0),
    "/inside_dit": (3, 0, 4, 3, 3, 3, 3),  # the companions' last block and head
    "/counterfactual": ("switch the label", 3, 8, 0, 1, 4.0, "offset", 300, "null label", "0, 1, 2"),
    "/cfg_sweep": (3, "1, 4", 1, 0, 2, "ddim"),
    "/live_column": (3, 4.0, 1, 0),
    "/guided_step": (3, 0, 4, 4.0),
    "/guidance_lab": (3, 0, 4.0, 2, 82, 578, 0.7, 8),
    "/label_dropout": (3, 0, "1, 4", 1),
    "/classifier_guidance": (3, 0, 2, "4", "2"),
}
GUIDING = ("/cfg_sweep", "/live_column", "/guided_step", "/classifier_guidance")  # refuse without a null class
# What a Python error says: a message with any of these is an exception's text, not one written for a person.
PYTHON_ERROR_TEXT = ("Traceback", "not supported between instances", "NoneType", "object has no attribute",
                     "object is not", "unexpected keyword argument", "positional argument", "index out of range",
                     "out of bounds", "size mismatch", "must match the size", "cannot be multiplied", "unhashable type",
                     "invalid literal", "KeyError", "division by zero", "Error(")


@pytest.fixture(scope="module", params=sorted(COMPANIONS), ids=lambda p: f"p{p}")
def served(request, tmp_path_factory):
    """`(p, client)`: the app launched once serving the companion trained with label-dropout rate p."""
    folder = tmp_path_factory.mktemp(f"p{request.param}")
    with running_app(folder / "app.log", env={WEIGHTS_ENV: str(COMPANIONS[request.param])}) as url:
        yield request.param, Client(url, verbose=False, download_files=str(folder))


def plain_words(message):
    return message.strip() and not [text for text in PYTHON_ERROR_TEXT if text in message]


def test_the_companion_is_served(served):
    p, client = served
    config = json.dumps(client.config)
    assert "The model did not load" not in config and "could not be loaded" not in config
    card = json.loads(card_path(COMPANIONS[p]).read_text())
    assert f"## {card['name']}" in config and f"label dropout {p} " in card["name"]  # its card is on the model page


@pytest.mark.parametrize("api", list(ENDPOINTS))
def test_every_endpoint_answers_or_says_why_in_plain_words(served, api):
    p, client = served
    if p == "0" and api in GUIDING:  # no null class: nothing to guide from
        with pytest.raises(AppError, match="null class") as error:
            client.predict(*ENDPOINTS[api], api_name=api)
        assert plain_words(error.value.message), error.value.message
        return
    try:
        answer = client.predict(*ENDPOINTS[api], api_name=api)
    except AppError as error:
        assert plain_words(error.message), error.message
        return
    assert answer is not None and answer != ()


def test_the_lab_runs_what_the_model_can_and_names_what_it_left_out(served):
    p, client = served
    shown = json.dumps(client.predict(*ENDPOINTS["/guidance_lab"], api_name="/guidance_lab"))
    if p == "0":  # every CFG-based column needs the null class; the negative class and autoguidance do not
        assert "left out, because" in shown and "no null class" in shown
    elif p == "0.1":  # the weak model autoguidance uses is this very companion
        assert "autoguidance is left out" in shown
    else:
        assert "left out" not in shown


def test_every_companion_samples_at_one_and_still_serves(served):
    _, client = served  # at s = 1 the sweep is plain conditional sampling: even p = 0 draws it
    out = client.predict(3, "1", 2, 0, 8, "dpm++2m", api_name="/cfg_sweep")
    assert out[0] and "**Class 3**" in out[3]
    assert "### One batch" in client.predict(*ENDPOINTS["/timestep_embedding"], api_name="/timestep_embedding")[3]
