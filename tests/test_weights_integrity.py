"""Weights: a damaged checkpoint is named and the app still serves what needs no model; nothing is unpickled."""

import json
import re
import shutil

import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError
from live_app import REPO, running_app

from playground.assets import DEFAULT_DIT
from playground.checkpoint import card_path
from playground.ui.serving import WEIGHTS_ENV

SWEEP = (3, "1", 1, 0, 2, "ddim")  # /cfg_sweep: tiny
CHEAP_EMB = (64, 10000, 0, 999, 50, "dit", "4")  # /timestep_embedding


@pytest.mark.slow
def test_damaged_weights_are_named_and_the_app_still_serves(tmp_path):
    weights = tmp_path / DEFAULT_DIT.name
    shutil.copy(card_path(DEFAULT_DIT), card_path(weights))
    weights.write_bytes(DEFAULT_DIT.read_bytes()[: DEFAULT_DIT.stat().st_size // 2])  # truncated copy
    with running_app(tmp_path / "app.log", env={WEIGHTS_ENV: str(weights)}) as url:
        client = Client(url, verbose=False, download_files=str(tmp_path))
        assert "The model did not load" in json.dumps(client.config)
        for api, args in (("/cfg_sweep", SWEEP), ("/mlp_comparison", (3, 0))):
            with pytest.raises(AppError) as error:
                client.predict(*args, api_name=api)
            assert str(weights) in error.value.message and "git checkout" in error.value.message
            assert WEIGHTS_ENV in error.value.message
        inspector = client.predict(*CHEAP_EMB, api_name="/timestep_embedding")[3]
        assert "needs the trained model, which did not load" in inspector


def test_nothing_is_ever_unpickled():
    unsafe = re.compile(r"torch\.load\(|pickle\.loads?\(|allow_pickle\s*=\s*True|weights_only\s*=\s*False")
    assert unsafe.search("state = torch.load(path)") and unsafe.search("np.load(f, allow_pickle=True)")
    sources = [REPO / "app.py", *sorted((REPO / "playground").rglob("*.py")), *sorted((REPO / "scripts").glob("*.py"))]
    assert len(sources) > 40 and REPO / "playground" / "ui" / "guidance" / "cfg.py" in sources  # sub-packages too
    found = [f"{path.relative_to(REPO)}: {m.group()}" for path in sources for m in unsafe.finditer(path.read_text())]
    assert not found
