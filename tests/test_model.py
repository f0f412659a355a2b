import numpy as np
import pytest
import torch

from playground.model import MODULATION_NAMES, DiT, DiT_models, get_2d_sincos_pos_embed, modulate

REFERENCE_BLOCK_KEYS = [
    "attn.qkv.weight", "attn.qkv.bias", "attn.proj.weight", "attn.proj.bias",
    "mlp.fc1.weight", "mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias",
    "adaLN_modulation.1.weight", "adaLN_modulation.1.bias",
]
REFERENCE_KEYS = [
    "pos_embed", "x_embedder.proj.weight", "x_embedder.proj.bias",
    "t_embedder.mlp.0.weight", "t_embedder.mlp.0.bias", "t_embedder.mlp.2.weight", "t_embedder.mlp.2.bias",
    "y_embedder.embedding_table.weight",
    "final_layer.linear.weight", "final_layer.linear.bias",
    "final_layer.adaLN_modulation.1.weight", "final_layer.adaLN_modulation.1.bias",
]


def test_state_dict_keys_are_the_references():
    model = DiT(depth=3)
    expected = set(REFERENCE_KEYS) | {f"blocks.{i}.{k}" for i in range(3) for k in REFERENCE_BLOCK_KEYS}
    assert set(model.state_dict()) == expected


def test_shapes_follow_the_config():
    model = DiT(hidden_size=96, depth=2, num_heads=3, learn_sigma=True)
    sd = model.state_dict()
    assert sd["y_embedder.embedding_table.weight"].shape == (11, 96)  # 10 classes + null
    assert sd["t_embedder.mlp.0.weight"].shape == (96, 256)
    assert sd["blocks.0.adaLN_modulation.1.weight"].shape == (6 * 96, 96)
    assert sd["final_layer.linear.weight"].shape == (4 * 4 * 2, 96)
    out = model(torch.randn(5, 1, 28, 28), torch.rand(5) * 999, torch.arange(5))
    assert out.shape == (5, 2, 28, 28)
    assert model.config.hidden_size == 96 and model.config_dict()["learn_sigma"] is True


def test_fresh_model_outputs_exactly_zero():
    torch.manual_seed(1)
    model = DiT()
    out = model(torch.randn(4, 1, 28, 28), torch.tensor([0, 10, 500, 999]), torch.tensor([0, 3, 9, 10]))
    assert torch.count_nonzero(out) == 0


def test_position_embedding_matches_mae_formula_and_is_frozen():
    def mae_numpy(dim, grid_size):  # the reference's numpy construction, written independently
        gh = np.arange(grid_size, dtype=np.float64)
        gw = np.arange(grid_size, dtype=np.float64)
        grid = np.stack(np.meshgrid(gw, gh), axis=0).reshape(2, 1, grid_size, grid_size)

        def one_d(d, pos):
            omega = 1.0 / 10000 ** (np.arange(d // 2, dtype=np.float64) / (d / 2.0))
            out = np.einsum("m,d->md", pos.reshape(-1), omega)
            return np.concatenate([np.sin(out), np.cos(out)], axis=1)

        return np.concatenate([one_d(dim // 2, grid[0]), one_d(dim // 2, grid[1])], axis=1)

    np.testing.assert_allclose(get_2d_sincos_pos_embed(192, 7).numpy(), mae_numpy(192, 7), atol=1e-6)
    model = DiT()
    assert not model.pos_embed.requires_grad
    np.testing.assert_allclose(model.pos_embed[0].numpy(), mae_numpy(192, 7), atol=1e-6)


def test_modulate_formula():
    x, shift, scale = torch.randn(2, 3, 4), torch.randn(2, 4), torch.randn(2, 4)
    torch.testing.assert_close(modulate(x, shift, scale), x * (1 + scale[:, None]) + shift[:, None])


def shipped_inputs(n):
    g = torch.Generator().manual_seed(n)
    return torch.randn(n, 1, 28, 28, generator=g), torch.randint(0, 1000, (n,), generator=g), torch.arange(n) % 11


@pytest.mark.parametrize("n", [1, 8, 40])
def test_a_float32_forward_is_within_float32_rounding_of_float64(shipped, n):
    x, t, y = shipped_inputs(n)
    with torch.no_grad():
        out = shipped(x, t, y)
        exact = shipped.float64_twin()(x, t, y).double()
    assert out.dtype == torch.float32
    assert 0 < (out.double() - exact).abs().max() < 1e-5  # rounding, not a different function (outputs are O(1))


def test_no_grad_gives_the_same_bytes_as_autograd(shipped):
    # one kernel path whatever the mode: what a training step computes is what sampling computes
    x, t, y = shipped_inputs(4)
    with torch.enable_grad():
        with_grad = shipped(x, t, y)
    with torch.no_grad():
        assert torch.equal(shipped(x, t, y), with_grad.detach())
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert shipped(x, t, y).dtype == torch.bfloat16



def test_label_dropout_and_null_class():
    model = DiT()
    labels = torch.tensor([1, 2, 3, 4])
    dropped = model.y_embedder.token_drop(labels, force_drop_ids=torch.tensor([1, 0, 1, 0]))
    assert dropped.tolist() == [10, 2, 10, 4]
    model.y_embedder.dropout_prob = 1.0
    table = model.y_embedder.embedding_table.weight
    assert torch.equal(model.y_embedder(labels, train=True), table[[10] * 4])
    assert torch.equal(model.y_embedder(labels, train=False), table[labels])  # no dropout in eval
    assert DiT(class_dropout_prob=0).y_embedder.embedding_table.num_embeddings == 10


def test_trace_conditioning_is_what_forward_uses(random_dit):
    t, y = torch.tensor([0.0, 250.0, 999.0]), torch.tensor([0, 5, 10])
    tr = random_dit.trace_conditioning(t, y)
    torch.testing.assert_close(tr["t_emb"], random_dit.t_embedder(t))
    torch.testing.assert_close(tr["c"], tr["t_emb"] + tr["y_emb"])
    assert tr["t_freq"].shape == (3, 256) and tr["c"].shape == (3, 64)
    assert len(tr["modulation"]) == 2 and tuple(tr["modulation"][0]) == MODULATION_NAMES
    chunks = random_dit.blocks[1].adaLN_modulation(tr["c"]).chunk(6, dim=1)
    torch.testing.assert_close(tr["modulation"][1]["gate_mlp"], chunks[5])
    torch.testing.assert_close(tr["modulation"][1]["shift_msa"], chunks[0])


def test_block_with_zero_modulation_is_identity():
    model = DiT(depth=1)
    x = torch.randn(2, 49, 192)
    assert torch.equal(model.blocks[0](x, torch.randn(2, 192)), x)


def test_reference_configs_and_bad_config():
    assert DiT_models["DiT-XL/2"] == dict(patch_size=2, depth=28, hidden_size=1152, num_heads=16)
    assert DiT_models["DiT-S/4"]["hidden_size"] == 384
    with pytest.raises(ValueError, match="incompatible"):
        DiT(patch_size=5)
