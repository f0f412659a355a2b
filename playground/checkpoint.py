"""Weights on disk: `safetensors` tensors plus a JSON model card beside them (never pickle).

The card (`name.json` next to `name.safetensors`) records the config, data, training run,
evaluation table and the SHA-256 of the weights file, which is checked on every load.
"""

import hashlib
import json
import platform
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from playground.assets import DEFAULT_DIT

RESTORE_HINT = "restore it with `git checkout -- assets/` (or retrain: see its model card / the README)"


class CheckpointError(RuntimeError):
    """A weights file or its card is missing, damaged or does not fit the model."""


def hardware(device):
    """What a model card records as the hardware a run used."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{cpu_name()} CPU, {torch.get_num_threads()} threads"


def cpu_name():
    """The CPU's model name where Linux tells it (`platform.processor()` is empty there), else its architecture."""
    try:
        names = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                 if line.startswith("model name")]
    except OSError:  # not Linux
        names = []
    return (names[0] if names else "") or platform.processor() or platform.machine()


def card_path(weights_path):
    return Path(weights_path).with_suffix(".json")


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_weights(state_dict, path, card):
    """Write `path` (.safetensors) and its card; returns the card with `sha256` filled in."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file({k: v.detach().contiguous().cpu() for k, v in state_dict.items()}, tmp)
    tmp.replace(path)  # atomic: a crash never leaves half a weights file under the real name
    card = {**card, "weights_file": path.name, "sha256": sha256(path)}
    write_card(path, card)
    return card


def write_card(path, card):
    tmp = card_path(path).with_suffix(".json.tmp")
    tmp.write_text(json.dumps(card, indent=2) + "\n")
    tmp.replace(card_path(path))


def read_card(path):
    cpath = card_path(path)
    if not cpath.is_file():
        raise CheckpointError(f"model card {cpath} is missing; {RESTORE_HINT}")
    try:
        return json.loads(cpath.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"model card {cpath} is not valid JSON ({e}); {RESTORE_HINT}") from e


def load_weights(path, verify=True):
    """`(state_dict, card)`; raises CheckpointError naming the file if anything is off."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"weights file {path} is missing; {RESTORE_HINT}")
    card = read_card(path)
    if verify:
        expected, actual = card.get("sha256"), sha256(path)
        if expected != actual:
            raise CheckpointError(
                f"weights file {path} does not match its model card (SHA-256 {actual[:12]}..., card says "
                f"{str(expected)[:12]}...): it is truncated, modified or from another run; {RESTORE_HINT}"
            )
    try:
        state_dict = load_file(path)
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"weights file {path} cannot be read as safetensors ({e}); {RESTORE_HINT}") from e
    return state_dict, card


def load_state_into(module, state_dict, path):
    """Strict load with a message that names the file and the offending keys or shapes."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    wrong = sorted(k for k in set(own) & set(state_dict) if own[k].shape != state_dict[k].shape)
    if missing or unexpected or wrong:
        detail = "; ".join(
            f"{what}: {', '.join(keys[:4])}{' ...' if len(keys) > 4 else ''}"
            for what, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong))
            if keys
        )
        raise CheckpointError(f"weights file {path} does not fit {type(module).__name__} ({detail}); {RESTORE_HINT}")
    module.load_state_dict(state_dict)
    return module


def load_frozen(module, path):
    """`module` with the weights at `path` (SHA-checked, strictly loaded), its card attached, eval mode, frozen."""
    state_dict, card = load_weights(path)
    load_state_into(module, state_dict, path)
    module.card = card
    return module.eval().requires_grad_(False)


def load_dit(path, verify=True):
    """A DiT in eval mode, built from the card's config and loaded from `path`."""
    from playground.model import DiT

    state_dict, card = load_weights(path, verify=verify)
    try:
        model = DiT(**card["config"])
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"model card {card_path(path)} has no usable config ({e}); {RESTORE_HINT}") from e
    load_state_into(model, state_dict, path)
    model.card = card
    return model.eval()


def load_pretrained(path=None):
    """The shipped pretrained tiny DiT (or the checkpoint at `path`)."""
    return load_dit(path or DEFAULT_DIT)
