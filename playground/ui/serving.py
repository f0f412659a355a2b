"""What the app serves: the DiT (`$PLAYGROUND_WEIGHTS`, default the shipped one), the judge, and the frozen
checkpoints some pages add (the companions, the noise-aware classifier), each loaded once per process."""

import os

import gradio as gr

from playground.cache import Cache
from playground.checkpoint import CheckpointError, load_pretrained
from playground.judge import load_judge
from playground.model import DiTConfig
from playground.noisy_classifier import load_classifier

WEIGHTS_ENV = "PLAYGROUND_WEIGHTS"  # path of the DiT .safetensors to serve instead of the shipped one
LOADERS = {"dit": load_pretrained, "judge": load_judge, "classifier": load_classifier}
CHECKPOINTS = Cache("checkpoints", max_items=8)  # the served DiT, the judge, three companions, the classifier


def checkpoint(kind, path=None):
    """The frozen model of `kind` ("dit", "judge" or "classifier") at `path` (None: the shipped one), loaded once.
    Raises `CheckpointError` naming the damaged or missing file (nothing is kept then)."""
    return CHECKPOINTS.get((kind, None if path is None else str(path)), lambda: LOADERS[kind](path))


def get_model():
    """`(model, None)` or `(None, reason)`: the app still starts (and explains) without weights."""
    path = os.environ.get(WEIGHTS_ENV)
    try:
        return checkpoint("dit", path), None
    except CheckpointError as e:
        hint = f" ({WEIGHTS_ENV} is set to {path}; unset it to serve the shipped weights)" if path else ""
        return None, f"{e}{hint}"


def get_judge():
    """`(judge, None)` or `(None, reason)`; the pages work without a judge, and say so."""
    try:
        return checkpoint("judge"), None
    except CheckpointError as e:  # an optional scorer that fails to load must not take the app down
        return None, f"The judge could not be loaded: {e}"


def require_model():
    """The served model, or a `gr.Error` that says why it did not load."""
    model, error = get_model()
    if model is None:
        raise gr.Error(f"The model could not be loaded: {error}")
    return model


def require(kind, path=None, what="A model"):
    """`checkpoint(kind, path)`, or a `gr.Error` naming `what` did not load and why."""
    try:
        return checkpoint(kind, path)
    except CheckpointError as e:
        raise gr.Error(f"{what} did not load: {e}") from e


def class_count(model):
    """The classes the model draws (its config's), or the default config's when no model loaded."""
    return model.config.num_classes if model is not None else DiTConfig.num_classes
