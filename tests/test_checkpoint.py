import json
import pickle

import pytest
import torch

from playground.checkpoint import (
    DEFAULT_DIT,
    CheckpointError,
    card_path,
    load_dit,
    load_pretrained,
    save_weights,
    sha256,
)
from playground.model import DiT


@pytest.fixture
def saved(tmp_path, random_dit):
    path = tmp_path / "m.safetensors"
    save_weights(random_dit.state_dict(), path, {"config": random_dit.config_dict()})
    return path


def test_round_trip_is_bit_exact(saved, random_dit):
    loaded = load_dit(saved)
    for key, value in random_dit.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    assert json.loads(card_path(saved).read_text())["sha256"] == sha256(saved)
    x, t, y = torch.randn(2, 1, 28, 28), torch.tensor([3.0, 900.0]), torch.tensor([1, 10])
    assert torch.equal(loaded(x, t, y), random_dit(x, t, y))


def test_file_is_safetensors_not_pickle(saved):
    with pytest.raises(pickle.UnpicklingError):
        pickle.loads(saved.read_bytes())


def test_missing_weights_names_the_file(tmp_path):
    with pytest.raises(CheckpointError, match=r"nothing\.safetensors is missing.*git checkout"):
        load_dit(tmp_path / "nothing.safetensors")


def test_truncated_weights_are_refused(saved):
    saved.write_bytes(saved.read_bytes()[: saved.stat().st_size // 2])
    with pytest.raises(CheckpointError, match=r"m\.safetensors does not match its model card"):
        load_dit(saved)
    with pytest.raises(CheckpointError, match="cannot be read as safetensors"):
        load_dit(saved, verify=False)


def test_tampered_byte_is_refused(saved):
    data = bytearray(saved.read_bytes())
    data[-5] ^= 0xFF
    saved.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="SHA-256"):
        load_dit(saved)


def test_missing_or_corrupt_card(saved):
    card_path(saved).write_text("{not json")
    with pytest.raises(CheckpointError, match=r"m\.json is not valid JSON"):
        load_dit(saved)
    card_path(saved).unlink()
    with pytest.raises(CheckpointError, match=r"m\.json is missing"):
        load_dit(saved)


def test_wrong_shape_names_the_keys(tmp_path, random_dit):
    path = tmp_path / "other.safetensors"
    save_weights(DiT(hidden_size=32, depth=2, num_heads=2).state_dict(), path, {"config": random_dit.config_dict()})
    with pytest.raises(CheckpointError, match=r"other\.safetensors does not fit DiT \(wrong shape: "):
        load_dit(path)


def test_missing_keys_named(tmp_path, random_dit):
    path = tmp_path / "part.safetensors"
    state = {k: v for k, v in random_dit.state_dict().items() if not k.startswith("blocks.1.")}
    save_weights(state, path, {"config": random_dit.config_dict()})
    with pytest.raises(CheckpointError, match=r"missing: blocks\.1\."):
        load_dit(path)


def test_shipped_checkpoint_loads_and_its_card_is_complete():
    model = load_pretrained()
    card = model.card
    assert card["sha256"] == sha256(DEFAULT_DIT)
    assert model.config_dict() == card["config"]
    assert card["parameters"] == model.num_parameters()
    for key in ("command", "steps", "wall_time_s", "hardware", "final_loss", "seed", "loss_log"):
        assert key in card["training"], key
    assert DEFAULT_DIT.stat().st_size <= 40e6
