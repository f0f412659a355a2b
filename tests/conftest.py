import os

import pytest
import torch
from gradio_client import Client
from live_app import running_app

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(scope="session")
def random_dit():
    """A small real DiT with random (non-zero) weights, so every path carries signal."""
    from playground.model import DiT

    torch.manual_seed(0)
    model = DiT(hidden_size=64, depth=2, num_heads=2)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.normal_(0, 0.05)
    return model.eval()


@pytest.fixture(scope="session")
def shipped():
    """The release checkpoint, as the app loads it (eval mode)."""
    from playground.checkpoint import load_pretrained

    return load_pretrained().eval()


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    """The real app (`python app.py`) on a free local port, for one test module."""
    with running_app(tmp_path_factory.mktemp("app") / "app.log") as url:
        yield url


@pytest.fixture(scope="module")
def client(app_url, tmp_path_factory):
    """A `gradio_client` of `app_url`'s app."""
    return Client(app_url, verbose=False, download_files=str(tmp_path_factory.mktemp("downloads")))
