import os

import pytest
import torch

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
