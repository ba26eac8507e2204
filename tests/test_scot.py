"""scOT network: published key layout and counts, strict loading, forward, masks, resampling."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from opkit.layers.scot import ScOT, ScOTConfig, SwinBlock, spectral_resample
from opkit.persistence import load_foreign_weights

TINY = dict(image_size=16, patch_size=2, num_channels=3, num_out_channels=2, embed_dim=12,
            depths=(2, 1, 1, 2), num_heads=(3, 3, 3, 3), skip_connections=(1, 1, 1, 0), window_size=4)


def published_config(**changes):
    """A config.json as the published Poseidon-T writes it (Hugging Face extras included)."""
    values = {
        "_name_or_path": "camlab-ethz/Poseidon-T", "architectures": ["ScOT"], "model_type": "swinv2",
        "transformers_version": "4.29.2", "torch_dtype": "float32", "image_size": 128, "patch_size": 4,
        "num_channels": 4, "num_out_channels": 4, "embed_dim": 48, "depths": [4, 4, 4, 4],
        "num_heads": [3, 6, 12, 24], "skip_connections": [2, 2, 2, 0], "window_size": 16, "mlp_ratio": 4.0,
        "qkv_bias": True, "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0,
        "drop_path_rate": 0.0, "hidden_act": "gelu", "use_absolute_embeddings": False,
        "initializer_range": 0.02, "layer_norm_eps": 1e-05, "p": 1,
        "channel_slice_list_normalized_loss": [0, 1, 3, 4], "residual_model": "convnext",
        "use_conditioning": True, "learn_residual": False, "num_layers": 4, "hidden_size": 384,
        "pretrained_window_sizes": [0, 0, 0, 0],
    }
    values.update(changes)
    return values


def test_poseidon_t_counts_from_config(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(published_config()))
    net = ScOT(ScOTConfig.from_json(tmp_path))
    state = net.state_dict()
    assert len(state) == 844
    assert sum(v.numel() for v in state.values()) == 20_774_444
    assert sum(p.numel() for p in net.parameters()) == 20_774_444
    # Hugging Face names, decoder.layers.0 the bottleneck (width 8C), time-conditioned norms
    assert state["decoder.layers.0.blocks.0.attention.self.query.weight"].shape == (384, 384)
    assert "encoder.layers.0.blocks.0.attention.self.key.bias" not in state
    assert state["embeddings.norm.weight.weight"].shape == (48, 1)
    assert state["residual_blocks.2.1.weight"].shape == (192,)
    assert state["decoder.layers.2.upsample.mixup.weight"].shape == (48, 48)  # stage 1 -> 0
    assert not any(k.startswith("decoder.layers.3.upsample") for k in state)
    assert state["patch_recovery.mixup.weight"].shape == (4, 4, 5, 5)
    assert not any("attn_mask" in k or "relative_" in k for k in state)  # cached, not persisted


def test_config_round_trip_and_bad_type(tmp_path):
    config = ScOTConfig(**TINY)
    config.to_json(tmp_path / "config.json")
    assert ScOTConfig.from_json(tmp_path / "config.json") == config
    with pytest.raises(ValueError, match="model_type"):
        ScOTConfig.from_dict({"model_type": "bert"})
    with pytest.raises(ValueError, match="num_heads"):
        ScOTConfig(embed_dim=10, num_heads=(3, 6, 12, 24))


def test_strict_load_of_foreign_safetensors(tmp_path):
    from safetensors.torch import save_file

    torch.manual_seed(0)
    source = ScOT(ScOTConfig(**TINY))
    state = {k: torch.randn_like(v) * 0.1 for k, v in source.state_dict().items()}
    save_file(state, str(tmp_path / "model.safetensors"))
    net = ScOT(ScOTConfig(**TINY))
    assert load_foreign_weights(net, tmp_path / "model.safetensors") == []
    for key, value in net.state_dict().items():
        assert torch.equal(value, state[key]), key
    bad = dict(state)
    bad["encoder.layers.0.blocks.0.attention.self.key.bias"] = torch.zeros(12)
    save_file(bad, str(tmp_path / "bad.safetensors"))
    with pytest.raises(ValueError):
        load_foreign_weights(ScOT(ScOTConfig(**TINY)), tmp_path / "bad.safetensors")


@pytest.mark.parametrize("size", [16, 8, 32])
def test_forward_shapes_finite_with_1x1_last_stage(size):
    torch.manual_seed(1)
    net = ScOT(ScOTConfig(**TINY))  # token grids 8, 4, 2, 1: the last window is 1x1
    assert net.encoder.layers[3].blocks[0].window == 1
    x = torch.randn(3, 3, size, size)
    y = net(x, torch.rand(3))
    assert y.shape == (3, 2, size, size)
    assert torch.isfinite(y).all()
    with pytest.raises(ValueError, match="time"):
        net(x, None)
    with pytest.raises(ValueError, match="square"):
        net(torch.randn(1, 3, 16, 8), torch.ones(1))


def literal_attention(block, x, mask):
    """The published window attention written out step by step (separate q, k, v; explicit softmax)."""
    att = block.attention.self
    b, nw, n, c = x.shape
    heads, d = att.heads, c // att.heads
    x = x.reshape(b * nw, n, c)
    q = att.query(x).view(b * nw, n, heads, d).transpose(1, 2)
    k = att.key(x).view(b * nw, n, heads, d).transpose(1, 2)
    v = att.value(x).view(b * nw, n, heads, d).transpose(1, 2)
    scores = F.normalize(q, dim=-1) @ F.normalize(k, dim=-1).transpose(-2, -1)
    scores = scores * torch.clamp(att.logit_scale, max=math.log(100)).exp()
    table = att.continuous_position_bias_mlp(att.relative_coords_table)
    bias = table[att.relative_position_index.view(-1)].view(n, n, heads).permute(2, 0, 1)
    scores = scores + 16 * torch.sigmoid(bias).unsqueeze(0)
    if mask is not None:
        scores = (scores.view(b, nw, heads, n, n) + mask.unsqueeze(1).unsqueeze(0)).view(-1, heads, n, n)
    out = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, nw, n, c)
    return block.attention.output.dense(out)


def test_fused_attention_matches_literal_formula():
    torch.manual_seed(2)
    config = ScOTConfig(**TINY)
    block = SwinBlock(config, 12, 8, 3, shifted=True)
    with torch.no_grad():
        for p in block.parameters():
            p.normal_(0, 0.3)
    assert block.shift == 2 and block.attn_mask.shape == (4, 16, 16)
    # regions of a shifted window never attend to each other
    assert set(block.attn_mask.unique().tolist()) == {-200.0, 0.0}  # published: -100 added twice
    x = torch.randn(2, 4, 16, 12)
    torch.testing.assert_close(block.attention(x, block.attn_mask), literal_attention(block, x, block.attn_mask),
                               rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(block.attention(x, None), literal_attention(block, x, None), rtol=1e-5, atol=1e-5)


def test_time_conditioning_is_used():
    torch.manual_seed(3)
    net = ScOT(ScOTConfig(**TINY))
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    x = torch.randn(1, 3, 16, 16)
    assert not torch.allclose(net(x, torch.tensor([0.1])), net(x, torch.tensor([0.9])))


def test_spectral_resample_is_exact_on_band_limited_fields():
    n = np.arange(16) / 16
    xx, yy = np.meshgrid(n, n, indexing="ij")
    field = torch.tensor(np.sin(2 * np.pi * xx) * np.cos(4 * np.pi * yy) + 0.3, dtype=torch.float64)[None, None]
    up = spectral_resample(field, 64)
    m = np.arange(64) / 64
    xx, yy = np.meshgrid(m, m, indexing="ij")
    np.testing.assert_allclose(up[0, 0].numpy(), np.sin(2 * np.pi * xx) * np.cos(4 * np.pi * yy) + 0.3, atol=1e-12)
    torch.testing.assert_close(spectral_resample(up, 16), field)


PEER = Path(__file__).parent / "data" / "scot_peer_small"


def test_published_scot_checkpoint_matches():
    """A checkpoint and outputs written by the published scOT (see tests/data/scot_peer_small/README.md)."""
    from safetensors.torch import load_file

    net = ScOT(ScOTConfig.from_json(PEER)).eval()
    assert load_foreign_weights(net, PEER / "model.safetensors") == []  # strict: no missing or unexpected key
    io = load_file(str(PEER / "io.safetensors"))

    def rel(got, ref):
        return ((got - ref).abs().max() / ref.abs().max()).item()

    with torch.no_grad():
        assert rel(net(io["x"], io["time"]), io["output"]) <= 1e-4
        assert rel(net(io["x_resampled"], io["time"]), io["output_resampled"]) <= 1e-4
        # float64, logit scales above the clamp, constant position bias: the mask value decides
        state = dict(net.state_dict())
        state.update({k[len("harsh."):]: v for k, v in io.items() if k.startswith("harsh.")})
        for key in state:
            if key.endswith("continuous_position_bias_mlp.2.weight"):
                state[key] = torch.zeros_like(state[key])
        net.load_state_dict(state)
        net.double()
        x, time = io["x"].double(), io["time"].double()
        assert rel(net(x, time), io["output_float64_harsh"]) <= 1e-8
        blocks = [m for m in net.modules() if isinstance(m, SwinBlock) and m.attn_mask is not None]
        assert len(blocks) == 4  # shifted blocks of stages 0 and 1, encoder and decoder
        for block in blocks:
            block.attn_mask /= 2  # Swin's single -100
        assert rel(net(x, time), io["output_float64_harsh"]) > 1e-2
