"""A faithful, small DiT (Peebles & Xie 2023): adaLN-Zero blocks, reference state-dict key names.

Shapes: N = batch, T = number of patches, D = hidden size, C = channels.
The module and parameter names match facebookresearch/DiT `models.py`, so a state dict moves between
this model and the reference implementation unchanged.
"""

import copy
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from playground.embedding import timestep_embedding


def modulate(x, shift, scale):
    """adaLN: x * (1 + scale) + shift, `x` `[N, T, D]`, per-sample `shift`/`scale` `[N, D]` broadcast over tokens.

    One fused multiply-add (`addcmul`) rather than the reference's two passes over x: the same maths, rounded once.
    """
    return torch.addcmul(shift.unsqueeze(1), x, 1 + scale.unsqueeze(1))


def gated_residual(x, gate, branch):
    """x + gate * branch, `gate` `[N, D]` broadcast over tokens; one pass (`addcmul`), like `modulate`."""
    return torch.addcmul(x, gate.unsqueeze(1), branch)


#################################################################################
#               Embedding Layers for Timesteps and Class Labels                 #
#################################################################################


class TimestepEmbedder(nn.Module):
    """Scalar timesteps `[N]` -> sinusoid `[N, 256]` -> MLP -> `[N, D]`."""

    def __init__(self, hidden_size, frequency_embedding_size=256):
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(frequency_embedding_size, hidden_size, bias=True),
            nn.SiLU(),
            nn.Linear(hidden_size, hidden_size, bias=True),
        )
        self.frequency_embedding_size = frequency_embedding_size

    def sinusoid(self, t):
        """`t_freq` `[N, 256]`: the fixed encoding the MLP reads."""
        return timestep_embedding(t, self.frequency_embedding_size)

    def forward(self, t):
        return self.mlp(self.sinusoid(t))


class LabelEmbedder(nn.Module):
    """Class labels `[N]` -> `[N, D]`. Row `num_classes` is the null class used for CFG.

    During training each label is replaced by the null class with probability `dropout_prob`, so
    one network learns both the conditional and the unconditional noise prediction.
    """

    def __init__(self, num_classes, hidden_size, dropout_prob):
        super().__init__()
        use_cfg_embedding = dropout_prob > 0
        self.embedding_table = nn.Embedding(num_classes + use_cfg_embedding, hidden_size)
        self.num_classes = num_classes
        self.dropout_prob = dropout_prob

    def token_drop(self, labels, force_drop_ids=None):
        if force_drop_ids is None:
            drop_ids = torch.rand(labels.shape[0], device=labels.device) < self.dropout_prob
        else:
            drop_ids = force_drop_ids == 1
        return torch.where(drop_ids, self.num_classes, labels)

    def forward(self, labels, train, force_drop_ids=None):
        use_dropout = self.dropout_prob > 0
        if (train and use_dropout) or (force_drop_ids is not None):
            labels = self.token_drop(labels, force_drop_ids)
        return self.embedding_table(labels)


class PatchEmbed(nn.Module):
    """Image `[N, C, H, W]` -> non-overlapping patch tokens `[N, T, D]`, T = (H / p) * (W / p)."""

    def __init__(self, img_size, patch_size, in_chans, embed_dim):
        super().__init__()
        self.num_patches = (img_size // patch_size) ** 2
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x):
        # The reference's flatten(2).transpose(1, 2) leaves the tokens strided channel by channel; every LayerNorm
        # and Linear after it would copy them back to token-major order. One copy here serves the whole forward.
        return self.proj(x).flatten(2).transpose(1, 2).contiguous()


#################################################################################
#                                 Core DiT Model                                #
#################################################################################


class Attention(nn.Module):
    """Multi-head self-attention with a fused qkv projection (timm layout: q, k, v, then heads)."""

    def __init__(self, dim, num_heads):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        n, t, d = x.shape
        qkv = self.qkv(x).reshape(n, t, 3, self.num_heads, d // self.num_heads).permute(2, 0, 3, 1, 4)
        x = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])
        return self.proj(x.transpose(1, 2).reshape(n, t, d))


class Mlp(nn.Module):
    """Token-wise feed-forward: Linear -> GELU (tanh approximation) -> Linear."""

    def __init__(self, dim, hidden_dim):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.act = nn.GELU(approximate="tanh")
        self.fc2 = nn.Linear(hidden_dim, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


MODULATION_NAMES = ("shift_msa", "scale_msa", "gate_msa", "shift_mlp", "scale_mlp", "gate_mlp")


class DiTBlock(nn.Module):
    """Transformer block whose LayerNorms are shifted, scaled and gated by the conditioning `c`.

    adaLN-Zero: the Linear that makes the six modulation vectors starts at zero, so every gate is
    zero and each block begins as the identity.
    """

    def __init__(self, hidden_size, num_heads, mlp_ratio=4.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(hidden_size, num_heads=num_heads)
        self.norm2 = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.mlp = Mlp(hidden_size, int(hidden_size * mlp_ratio))
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden_size, 6 * hidden_size, bias=True))

    def modulation(self, c):
        """`c` `[N, D]` -> dict of the six `[N, D]` tensors, in the reference's chunk order."""
        return dict(zip(MODULATION_NAMES, self.adaLN_modulation(c).chunk(6, dim=1), strict=True))

    def forward(self, x, c):
        m = self.modulation(c)  # six (N, D) tensors
        # Both branches keep x at (N, T, D); each adds its output scaled per channel by its gate.
        x = gated_residual(x, m["gate_msa"], self.attn(modulate(self.norm1(x), m["shift_msa"], m["scale_msa"])))
        x = gated_residual(x, m["gate_mlp"], self.mlp(modulate(self.norm2(x), m["shift_mlp"], m["scale_mlp"])))
        return x


class FinalLayer(nn.Module):
    """Modulated LayerNorm, then a Linear from each token to its patch of pixels `[N, T, p*p*C]`."""

    def __init__(self, hidden_size, patch_size, out_channels):
        super().__init__()
        self.norm_final = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(hidden_size, patch_size * patch_size * out_channels, bias=True)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden_size, 2 * hidden_size, bias=True))

    def forward(self, x, c):
        shift, scale = self.adaLN_modulation(c).chunk(2, dim=1)
        return self.linear(modulate(self.norm_final(x), shift, scale))


@dataclass(frozen=True)
class DiTConfig:
    """Constructor arguments, with the reference's names."""

    input_size: int = 28
    patch_size: int = 4
    in_channels: int = 1
    hidden_size: int = 192
    depth: int = 6
    num_heads: int = 3
    mlp_ratio: float = 4.0
    class_dropout_prob: float = 0.1
    num_classes: int = 10
    learn_sigma: bool = False


class DiT(nn.Module):
    """Diffusion model with a Transformer backbone: `forward(x [N, C, H, W], t [N], y [N]) -> [N, C', H, W]`.

    C' = 2C when `learn_sigma` (noise and variance), else C (noise only).
    """

    def __init__(self, **kwargs):
        super().__init__()
        self.config = DiTConfig(**kwargs)
        cfg = self.config
        if cfg.input_size % cfg.patch_size or cfg.hidden_size % 4 or cfg.hidden_size % cfg.num_heads:
            raise ValueError(f"incompatible DiT config: {cfg}")
        self.in_channels = cfg.in_channels
        self.out_channels = cfg.in_channels * 2 if cfg.learn_sigma else cfg.in_channels
        self.patch_size = cfg.patch_size
        self.num_heads = cfg.num_heads

        self.x_embedder = PatchEmbed(cfg.input_size, cfg.patch_size, cfg.in_channels, cfg.hidden_size)
        self.t_embedder = TimestepEmbedder(cfg.hidden_size)
        self.y_embedder = LabelEmbedder(cfg.num_classes, cfg.hidden_size, cfg.class_dropout_prob)
        num_patches = self.x_embedder.num_patches
        # Fixed sin-cos position embedding; a Parameter (not a buffer) only to keep the reference key.
        self.pos_embed = nn.Parameter(torch.zeros(1, num_patches, cfg.hidden_size), requires_grad=False)
        self.blocks = nn.ModuleList(
            [DiTBlock(cfg.hidden_size, cfg.num_heads, mlp_ratio=cfg.mlp_ratio) for _ in range(cfg.depth)]
        )
        self.final_layer = FinalLayer(cfg.hidden_size, cfg.patch_size, self.out_channels)
        self.initialize_weights()

    @property
    def null_class(self):
        """The label of the unconditional prediction, or None: with no label dropout (p = 0) the reference
        allocates no null row (`use_cfg_embedding = dropout_prob > 0`), so there is no such prediction."""
        return self.config.num_classes if self.y_embedder.embedding_table.num_embeddings > self.config.num_classes \
            else None

    def initialize_weights(self):
        def _basic_init(module):
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.constant_(module.bias, 0)

        self.apply(_basic_init)
        grid = int(self.x_embedder.num_patches**0.5)
        self.pos_embed.data.copy_(get_2d_sincos_pos_embed(self.pos_embed.shape[-1], grid).unsqueeze(0))

        # Patch embedding like a Linear layer (a Conv2d with kernel = stride = p).
        w = self.x_embedder.proj.weight.data
        nn.init.xavier_uniform_(w.view([w.shape[0], -1]))
        nn.init.constant_(self.x_embedder.proj.bias, 0)

        nn.init.normal_(self.y_embedder.embedding_table.weight, std=0.02)
        nn.init.normal_(self.t_embedder.mlp[0].weight, std=0.02)
        nn.init.normal_(self.t_embedder.mlp[2].weight, std=0.02)

        # adaLN-Zero: zero modulation makes every block the identity, and a zero final layer
        # makes the freshly built model output exactly zero.
        for block in self.blocks:
            nn.init.constant_(block.adaLN_modulation[-1].weight, 0)
            nn.init.constant_(block.adaLN_modulation[-1].bias, 0)
        nn.init.constant_(self.final_layer.adaLN_modulation[-1].weight, 0)
        nn.init.constant_(self.final_layer.adaLN_modulation[-1].bias, 0)
        nn.init.constant_(self.final_layer.linear.weight, 0)
        nn.init.constant_(self.final_layer.linear.bias, 0)

    def unpatchify(self, x):
        """`[N, T, p*p*C]` -> `[N, C, H, W]`."""
        c, p = self.out_channels, self.patch_size
        h = w = int(x.shape[1] ** 0.5)
        x = x.reshape(x.shape[0], h, w, p, p, c)
        x = torch.einsum("nhwpqc->nchpwq", x)
        return x.reshape(x.shape[0], c, h * p, w * p)

    def conditioning(self, t, y):
        """`c = t_emb + y_emb` `[N, D]`, the vector every block is modulated by."""
        return self.t_embedder(t) + self.y_embedder(y, self.training)

    def forward(self, x, t, y):
        """x: (N, C, H, W) images or latents, t: (N,) timesteps, y: (N,) class labels."""
        x = self.x_embedder(x) + self.pos_embed  # (N, T, D), where T = H * W / patch_size ** 2
        c = self.conditioning(t, y)  # (N, D)
        for block in self.blocks:
            x = block(x, c)  # (N, T, D)
        x = self.final_layer(x, c)  # (N, T, patch_size ** 2 * out_channels)
        return self.unpatchify(x)  # (N, out_channels, H, W)

    @torch.no_grad()
    def trace_conditioning(self, t, y):
        """The signals between a timestep/label and the blocks, for inspection (no dropout).

        Returns a dict: `t_freq` `[N, 256]`, `t_emb`, `y_emb`, `c` `[N, D]`, and `modulation`, a list
        (one per block) of dicts with the six `[N, D]` tensors `shift_msa` ... `gate_mlp`.
        """
        t_freq = self.t_embedder.sinusoid(t)
        t_emb = self.t_embedder.mlp(t_freq)
        y_emb = self.y_embedder(y, train=False)
        c = t_emb + y_emb
        return {
            "t_freq": t_freq,
            "t_emb": t_emb,
            "y_emb": y_emb,
            "c": c,
            "modulation": [block.modulation(c) for block in self.blocks],
        }

    def float64_twin(self):
        """A float64 copy that takes the same float32 inputs and returns float32: float32's own rounding error
        is what the bench and the tests hold the model's float32 samples against."""
        twin = copy.deepcopy(self).double()
        sinusoid = twin.t_embedder.sinusoid
        twin.t_embedder.sinusoid = lambda t: sinusoid(t).double()
        forward = twin.forward
        twin.forward = lambda x, t, y: forward(x.double(), t, y).float()
        return twin

    def num_parameters(self, trainable_only=False):
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    def config_dict(self):
        return asdict(self.config)


#################################################################################
#                   Sine/Cosine Positional Embedding Functions                  #
#################################################################################


def get_1d_sincos_pos_embed(embed_dim, pos):
    """Positions `[M]` -> `[M, embed_dim]`: sin half first (unlike the timestep embedding)."""
    omega = 1.0 / 10000 ** (torch.arange(embed_dim // 2, dtype=torch.float64) / (embed_dim / 2.0))
    out = pos.double().reshape(-1)[:, None] * omega[None]
    return torch.cat([torch.sin(out), torch.cos(out)], dim=1)


def get_2d_sincos_pos_embed(embed_dim, grid_size):
    """`[grid_size**2, embed_dim]`, MAE style: first half encodes the column, second half the row."""
    coords = torch.arange(grid_size, dtype=torch.float64)
    grid_w, grid_h = torch.meshgrid(coords, coords, indexing="xy")  # reference: meshgrid(w, h)
    emb_a = get_1d_sincos_pos_embed(embed_dim // 2, grid_w)
    emb_b = get_1d_sincos_pos_embed(embed_dim // 2, grid_h)
    return torch.cat([emb_a, emb_b], dim=1).float()


#################################################################################
#                                   DiT Configs                                 #
#################################################################################

# The reference sizes (ImageNet latents: input_size 32, in_channels 4, learn_sigma) ...
DIT_SIZES = {
    "S": dict(depth=12, hidden_size=384, num_heads=6),
    "B": dict(depth=12, hidden_size=768, num_heads=12),
    "L": dict(depth=24, hidden_size=1024, num_heads=16),
    "XL": dict(depth=28, hidden_size=1152, num_heads=16),
}
DiT_models = {
    f"DiT-{size}/{p}": dict(patch_size=p, **dims) for size, dims in DIT_SIZES.items() for p in (2, 4, 8)
}
# ... and ours: 28x28 MNIST pixels, 7x7 = 49 tokens.
DiT_models["DiT-Tiny/4"] = asdict(DiTConfig())
