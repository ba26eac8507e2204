"""scOT, the scalable operator transformer of Poseidon, in plain torch.

A SwinV2 U-Net for 2-D fields: a patch embedding, four encoder stages of
shifted-window cosine attention with patch merging, ConvNeXt blocks on the skip
connections, a mirrored decoder with patch unmerging and a patch recovery
(transposed convolution + 5x5 mixing convolution). Every LayerNorm may be
conditioned on the lead time ``time`` (``use_conditioning``): its scale and shift
are affine functions of ``time``.

The module tree and so the state-dict keys follow the Hugging Face layout of
the published Poseidon checkpoints (``embeddings.patch_embeddings.projection``,
``encoder.layers.<i>.blocks.<j>.attention.self.query``, ...,
``decoder.layers.0`` = the bottleneck stage, ``residual_blocks.<i>.<j>``,
``patch_recovery``), so their ``model.safetensors`` loads with ``strict=True``.
Their ``config.json`` (``model_type`` "swinv2") is read by
:meth:`ScOTConfig.from_json`; ``transformers`` is not needed.

Differences from the published code, none of which changes the output of a
loaded checkpoint: attention masks and relative-position tables are built once
per block (buffers, not persisted) instead of at every call; the
relative-coordinate table of a 1x1 window is zero instead of 0/0 = NaN; the
fresh initialisation of a time-conditioned LayerNorm starts from the identity
map (scale 1) rather than a scale of about 0.02 * time; drop path is not
implemented (inference and the fine-tuning recipe do not use it); the
time-conditioned LayerNorm normalises with :func:`torch.nn.functional.layer_norm`
(the published one computes the variance as E[x^2] - E[x]^2, equal up to
rounding).

Checked from outside: a checkpoint written by the published implementation
(camlab-ethz/poseidon, random weights) loads strictly and gives its forward
output to about 1e-6 relative in float32, Poseidon-T and a small
configuration alike, and opkit's checkpoints load into the published model
just as well (``benchmarks/scot_peer.py``; the small case is the fixture
``tests/data/scot_peer_small``).
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ScOT", "ScOTConfig", "spectral_resample", "POSEIDON_SIZES"]

#: Architecture of the published Poseidon sizes (embedding width and depths).
POSEIDON_SIZES = {
    "T": dict(embed_dim=48, depths=(4, 4, 4, 4)),
    "B": dict(embed_dim=96, depths=(8, 8, 8, 8)),
    "L": dict(embed_dim=192, depths=(8, 8, 8, 8)),
}


@dataclasses.dataclass
class ScOTConfig:
    """Hyperparameters of :class:`ScOT`, with the field names of the published ``config.json``.

    Parameters
    ----------
    image_size : int, default=128
        Side of the (square) grid the network works on; other square inputs
        are resampled spectrally to it and back.
    patch_size : int, default=4
    num_channels, num_out_channels : int, default=4
        Input and output channels.
    embed_dim : int, default=48
        Token width of the first stage; stage ``i`` has ``embed_dim * 2**i``.
    depths : tuple of int, default=(4, 4, 4, 4)
        SwinV2 blocks per stage (encoder and decoder alike).
    num_heads : tuple of int, default=(3, 6, 12, 24)
    skip_connections : tuple of int, default=(2, 2, 2, 0)
        ConvNeXt blocks on the skip of each stage (0: identity).
    window_size : int, default=16
        Attention window, clamped to the grid of a stage.
    mlp_ratio : float, default=4.0
    qkv_bias : bool, default=True
        Bias of the query and value projections (the key has none).
    layer_norm_eps : float, default=1e-5
    use_conditioning : bool, default=True
        Time-conditioned LayerNorms (``<n>.weight`` and ``<n>.bias`` are
        ``Linear(1, d)``); otherwise plain LayerNorms.
    learn_residual : bool, default=False
        Add the input to the output (only with ``use_conditioning``).
    residual_model : {"convnext", "resnet"}, default="convnext"
    initializer_range : float, default=0.02
    use_absolute_embeddings : bool, default=False
    hidden_act : str, default="gelu"
    pretrained_window_sizes : tuple of int, default=(0, 0, 0, 0)
    p : int, default=1
        Exponent of the published training loss (kept for the round trip).
    channel_slice_list_normalized_loss : list of int or None
        Channel boundaries of the variable groups of the loss.
    """

    image_size: int = 128
    patch_size: int = 4
    num_channels: int = 4
    num_out_channels: int = 4
    embed_dim: int = 48
    depths: tuple = (4, 4, 4, 4)
    num_heads: tuple = (3, 6, 12, 24)
    skip_connections: tuple = (2, 2, 2, 0)
    window_size: int = 16
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    layer_norm_eps: float = 1e-5
    use_conditioning: bool = True
    learn_residual: bool = False
    residual_model: str = "convnext"
    initializer_range: float = 0.02
    use_absolute_embeddings: bool = False
    hidden_act: str = "gelu"
    pretrained_window_sizes: tuple = (0, 0, 0, 0)
    p: int = 1
    channel_slice_list_normalized_loss: list | None = None

    def __post_init__(self):
        self.depths = tuple(int(d) for d in self.depths)
        self.num_heads = tuple(int(h) for h in self.num_heads)
        self.skip_connections = tuple(int(s) for s in self.skip_connections)
        if self.pretrained_window_sizes is None:
            self.pretrained_window_sizes = (0,) * len(self.depths)
        self.pretrained_window_sizes = tuple(int(w) for w in self.pretrained_window_sizes)
        if len(self.num_heads) != len(self.depths):
            raise ValueError(f"ScOTConfig: num_heads {self.num_heads} and depths {self.depths} differ in length")
        if self.image_size % self.patch_size:
            raise ValueError(f"ScOTConfig: image_size={self.image_size} is not a multiple of "
                             f"patch_size={self.patch_size}")
        for i, heads in enumerate(self.num_heads):
            if (self.embed_dim * 2**i) % heads:
                raise ValueError(f"ScOTConfig: stage {i} width {self.embed_dim * 2**i} is not a "
                                 f"multiple of num_heads[{i}]={heads}")
        if self.residual_model not in ("convnext", "resnet"):
            raise ValueError(f"ScOTConfig: residual_model must be 'convnext' or 'resnet', got "
                             f"{self.residual_model!r}")
        if self.hidden_act != "gelu":
            raise ValueError(f"ScOTConfig: only hidden_act='gelu' is supported, got {self.hidden_act!r}")
        if not self.use_conditioning:
            self.learn_residual = False

    @classmethod
    def from_dict(cls, values: dict) -> "ScOTConfig":
        """The configuration from a ``config.json`` dict (unknown Hugging Face keys are ignored).

        Parameters
        ----------
        values : dict

        Returns
        -------
        ScOTConfig

        Raises
        ------
        ValueError
            A ``model_type`` other than "swinv2".
        """
        model_type = values.get("model_type", "swinv2")
        if model_type != "swinv2":
            raise ValueError(f"config.json: model_type must be 'swinv2' (scOT), got {model_type!r}")
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in values.items() if k in names}
        for key in ("image_size", "patch_size", "window_size"):
            if isinstance(kwargs.get(key), (list, tuple)):
                first, *rest = kwargs[key]
                if any(r != first for r in rest):
                    raise ValueError(f"config.json: {key}={kwargs[key]} is not square")
                kwargs[key] = first
        return cls(**kwargs)

    @classmethod
    def from_json(cls, path) -> "ScOTConfig":
        """Read a ``config.json`` (a file, or a folder holding one).

        Parameters
        ----------
        path : str or os.PathLike

        Returns
        -------
        ScOTConfig
        """
        path = Path(path)
        if path.is_dir():
            path = path / "config.json"
        with open(path) as handle:
            return cls.from_dict(json.load(handle))

    def to_dict(self) -> dict:
        """A ``config.json`` dict in the published layout (``model_type`` "swinv2").

        Returns
        -------
        dict
        """
        values = {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self).items()}
        values.update(model_type="swinv2", architectures=["ScOT"], num_layers=len(self.depths),
                      hidden_size=int(self.embed_dim * 2 ** (len(self.depths) - 1)))
        return values

    def to_json(self, path) -> None:
        """Write :meth:`to_dict` as JSON to ``path``.

        Parameters
        ----------
        path : str or os.PathLike
        """
        with open(path, "w") as handle:
            json.dump(self.to_dict(), handle, indent=2)


# -- building blocks -------------------------------------------------------------------------
class TimeLayerNorm(nn.Module):
    """LayerNorm over the last dim whose scale and shift are affine in the lead time.

    ``y = (W_g t + b_g) * norm(x) + (W_b t + b_b)``; the two ``Linear(1, d)``
    are ``weight`` and ``bias`` (published key names).

    Parameters
    ----------
    dim : int
    eps : float, default=1e-5
    """

    def __init__(self, dim, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Linear(1, dim)
        self.bias = nn.Linear(1, dim)

    def forward(self, x, time):
        if time is None:
            raise ValueError("this scOT conditions its LayerNorms on time: pass time of shape (batch,)")
        x = F.layer_norm(x, x.shape[-1:], eps=self.eps)
        t = time.reshape(-1, 1).to(x.dtype)
        shape = (t.shape[0],) + (1,) * (x.dim() - 2) + (x.shape[-1],)
        return self.weight(t).view(shape) * x + self.bias(t).view(shape)


class PlainLayerNorm(nn.LayerNorm):
    """:class:`torch.nn.LayerNorm` that accepts (and ignores) ``time``."""

    def forward(self, x, time=None):
        return super().forward(x)


def _norm(config, dim, eps=1e-5):
    return TimeLayerNorm(dim, eps) if config.use_conditioning else PlainLayerNorm(dim, eps=eps)


#: Logit added between tokens of different regions of a shifted window. Swin's
#: mask is -100, but the Hugging Face Swinv2 attention under the published scOT
#: (transformers 4.29.2, as pinned, to 4.35.2 at least) adds it twice. It is not
#: a hard mask: cosine logits reach 100 + 16, so -100 and -200 give different
#: outputs where a head's logit scale is near its clamp, and the published
#: checkpoints were trained with -200.
_SHIFT_MASK = -200.0


def _windows(x, w):
    """(B, H, W, C) -> (B, nW, w*w, C), windows in row-major order."""
    b, h, wd, c = x.shape
    x = x.view(b, h // w, w, wd // w, w, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(b, (h // w) * (wd // w), w * w, c)


def _unwindows(x, w, h, wd):
    """Inverse of :func:`_windows`."""
    b, c = x.shape[0], x.shape[-1]
    x = x.view(b, h // w, wd // w, w, w, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(b, h, wd, c)


class _SelfAttention(nn.Module):
    """Cosine window attention with the continuous relative-position bias of SwinV2."""

    def __init__(self, config, dim, heads, window, pretrained_window):
        super().__init__()
        self.heads = heads
        self.window = window
        self.logit_scale = nn.Parameter(torch.log(10 * torch.ones(heads, 1, 1)))
        self.continuous_position_bias_mlp = nn.Sequential(
            nn.Linear(2, 512, bias=True), nn.ReLU(inplace=True), nn.Linear(512, heads, bias=False))
        offsets = torch.arange(-(window - 1), window, dtype=torch.float32)
        table = torch.stack(torch.meshgrid(offsets, offsets, indexing="ij"), dim=-1)
        if pretrained_window > 0:
            table = table / (pretrained_window - 1)
        elif window > 1:  # a 1x1 window has only the offset 0 (published: 0/0 = NaN)
            table = table / (window - 1)
        table = table * 8
        table = torch.sign(table) * torch.log2(table.abs() + 1.0) / math.log2(8)
        self.register_buffer("relative_coords_table", table.reshape(-1, 2), persistent=False)
        coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")).flatten(1)
        rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (window - 1)
        self.register_buffer("relative_position_index", rel[..., 0] * (2 * window - 1) + rel[..., 1],
                             persistent=False)
        self.query = nn.Linear(dim, dim, bias=config.qkv_bias)
        self.key = nn.Linear(dim, dim, bias=False)
        self.value = nn.Linear(dim, dim, bias=config.qkv_bias)

    def position_bias(self):
        """(heads, N, N): 16 * sigmoid of the bias MLP on the relative coordinates."""
        table = self.continuous_position_bias_mlp(self.relative_coords_table)
        n = self.window * self.window
        bias = table[self.relative_position_index.reshape(-1)].view(n, n, self.heads)
        return 16 * torch.sigmoid(bias.permute(2, 0, 1))

    def forward(self, x, mask):
        # x: (B, nW, N, C); mask: (nW, N, N) or None
        b, nw, n, c = x.shape
        d = c // self.heads
        qb = self.query.bias
        bias = None if qb is None else torch.cat([qb, torch.zeros_like(qb), self.value.bias])
        qkv = F.linear(x, torch.cat([self.query.weight, self.key.weight, self.value.weight]), bias)
        qkv = qkv.view(b, nw, n, 3, self.heads, d).permute(3, 0, 1, 4, 2, 5)  # 3, B, nW, h, N, d
        q, k, v = F.normalize(qkv[0], dim=-1), F.normalize(qkv[1], dim=-1), qkv[2]
        scale = torch.clamp(self.logit_scale, max=math.log(100.0)).exp()  # (h, 1, 1)
        q = q * scale
        attn_bias = self.position_bias().to(x.dtype)  # (h, N, N)
        if mask is not None:
            attn_bias = attn_bias.unsqueeze(0) + mask.unsqueeze(1)  # (nW, h, N, N)
        else:
            attn_bias = attn_bias.unsqueeze(0).expand(nw, -1, -1, -1)
        out = F.scaled_dot_product_attention(
            q.reshape(b, nw * self.heads, n, d), k.reshape(b, nw * self.heads, n, d),
            v.reshape(b, nw * self.heads, n, d), attn_mask=attn_bias.reshape(1, nw * self.heads, n, n),
            scale=1.0)
        return out.view(b, nw, self.heads, n, d).transpose(2, 3).reshape(b, nw, n, c)


class _SelfOutput(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.dense = nn.Linear(dim, dim)


class _Attention(nn.Module):
    def __init__(self, config, dim, heads, window, pretrained_window):
        super().__init__()
        self.self = _SelfAttention(config, dim, heads, window, pretrained_window)
        self.output = _SelfOutput(dim)

    def forward(self, x, mask):
        return self.output.dense(self.self(x, mask))


class _Dense(nn.Module):
    def __init__(self, d_in, d_out):
        super().__init__()
        self.dense = nn.Linear(d_in, d_out)


class SwinBlock(nn.Module):
    """A SwinV2 block (res-post-norm): ``x + LN(WA(x))``, then ``x + LN(MLP(x))``.

    Parameters
    ----------
    config : ScOTConfig
    dim : int
    resolution : int
        Side of the (square) token grid.
    heads : int
    shifted : bool
        Whether this block shifts its windows (half a window, when the grid is
        larger than the window).
    pretrained_window : int, default=0
    """

    def __init__(self, config, dim, resolution, heads, shifted, pretrained_window=0):
        super().__init__()
        self.resolution = resolution
        self.window = window = min(resolution, config.window_size)
        self.shift = config.window_size // 2 if (shifted and resolution > window) else 0
        self.attention = _Attention(config, dim, heads, window, pretrained_window)
        self.layernorm_before = _norm(config, dim, config.layer_norm_eps)
        self.intermediate = _Dense(dim, int(config.mlp_ratio * dim))
        self.output = _Dense(int(config.mlp_ratio * dim), dim)
        self.layernorm_after = _norm(config, dim, config.layer_norm_eps)
        padded = -(-resolution // window) * window
        self.register_buffer("attn_mask", self._mask(padded), persistent=False)

    def _mask(self, size):
        if not self.shift:
            return None
        w, s = self.window, self.shift
        region = torch.zeros(1, size, size, 1)
        count = 0
        for hs in (slice(0, -w), slice(-w, -s), slice(-s, None)):
            for ws in (slice(0, -w), slice(-w, -s), slice(-s, None)):
                region[:, hs, ws, :] = count
                count += 1
        ids = _windows(region, w)[0, :, :, 0]  # (nW, N)
        diff = ids.unsqueeze(1) - ids.unsqueeze(2)
        return torch.where(diff != 0, torch.tensor(_SHIFT_MASK), torch.tensor(0.0))

    def forward(self, x, time):
        """``x`` (B, H, W, C) -> (B, H, W, C)."""
        b, h, wd, c = x.shape
        w = self.window
        y = x
        pad_r, pad_b = (w - wd % w) % w, (w - h % w) % w
        if pad_r or pad_b:
            y = F.pad(y, (0, 0, 0, pad_r, 0, pad_b))
        hp, wp = y.shape[1], y.shape[2]
        if self.shift:
            y = torch.roll(y, shifts=(-self.shift, -self.shift), dims=(1, 2))
        mask = None if self.attn_mask is None else self.attn_mask.to(x.dtype)
        y = _unwindows(self.attention(_windows(y, w), mask), w, hp, wp)
        if self.shift:
            y = torch.roll(y, shifts=(self.shift, self.shift), dims=(1, 2))
        if pad_r or pad_b:
            y = y[:, :h, :wd, :]
        x = x + self.layernorm_before(y, time)
        y = self.output.dense(F.gelu(self.intermediate.dense(x)))
        return x + self.layernorm_after(y, time)


class _PatchMerging(nn.Module):
    def __init__(self, config, dim):
        super().__init__()
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = _norm(config, 2 * dim)

    def forward(self, x, time):
        h, w = x.shape[1], x.shape[2]
        if h % 2 or w % 2:
            x = F.pad(x, (0, 0, 0, w % 2, 0, h % 2))
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], dim=-1)
        return self.norm(self.reduction(x), time)


class _PatchUnmerging(nn.Module):
    def __init__(self, config, dim, out_size):
        super().__init__()
        self.out_size = out_size
        self.upsample = nn.Linear(dim, 2 * dim, bias=False)
        self.mixup = nn.Linear(dim // 2, dim // 2, bias=False)
        self.norm = _norm(config, dim // 2)

    def forward(self, x, time):
        b, h, w, c = x.shape
        x = self.upsample(x).view(b, h, w, 2, 2, c // 2).permute(0, 1, 3, 2, 4, 5)
        x = x.reshape(b, 2 * h, 2 * w, c // 2)[:, :self.out_size, :self.out_size]
        return self.mixup(self.norm(x, time))


class _EncodeStage(nn.Module):
    def __init__(self, config, i, resolution, last):
        super().__init__()
        dim = config.embed_dim * 2**i
        self.blocks = nn.ModuleList([
            SwinBlock(config, dim, resolution, config.num_heads[i], j % 2 == 1, config.pretrained_window_sizes[i])
            for j in range(config.depths[i])])
        self.downsample = None if last else _PatchMerging(config, dim)

    def forward(self, x, time):
        inputs = x
        for block in self.blocks:
            x = block(x, time)
        skip = x
        if self.downsample is not None:
            x = self.downsample(x + inputs, time)
        return x, skip


class _DecodeStage(nn.Module):
    def __init__(self, config, i, resolution, out_size):
        super().__init__()
        dim = config.embed_dim * 2**i
        depth = config.depths[i]
        self.blocks = nn.ModuleList([
            SwinBlock(config, dim, resolution, config.num_heads[i], j % 2 == 1, config.pretrained_window_sizes[i])
            for j in reversed(range(depth))])
        self.upsample = _PatchUnmerging(config, dim, out_size) if i > 0 else None

    def forward(self, x, time):
        for block in self.blocks:
            x = block(x, time)
        if self.upsample is not None:
            x = self.upsample(x, time)
        return x


class ConvNeXtBlock(nn.Module):
    """ConvNeXt block on a skip connection: dwconv 7x7, LN, MLP x4, layer scale, residual.

    Parameters
    ----------
    config : ScOTConfig
    dim : int
    """

    def __init__(self, config, dim):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = _norm(config, dim, config.layer_norm_eps)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.weight = nn.Parameter(1e-6 * torch.ones(dim))

    def forward(self, x, time):
        y = self.dwconv(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        y = self.pwconv2(F.gelu(self.pwconv1(self.norm(y, time))))
        return x + self.weight * y


class ResNetBlock(nn.Module):
    """Two 3x3 conv + BatchNorm layers with a leaky ReLU and a residual (``residual_model="resnet"``).

    Parameters
    ----------
    config : ScOTConfig
    dim : int
    """

    def __init__(self, config, dim):
        super().__init__()
        self.conv1 = nn.Conv2d(dim, dim, 3, padding=1)
        self.conv2 = nn.Conv2d(dim, dim, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(dim)
        self.bn2 = nn.BatchNorm2d(dim)

    def forward(self, x, time):
        y = x.permute(0, 3, 1, 2)
        y = self.bn2(self.conv2(F.leaky_relu(self.bn1(self.conv1(y)))))
        return x + y.permute(0, 2, 3, 1)


class _PatchEmbeddings(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.patch_size = config.patch_size
        self.projection = nn.Conv2d(config.num_channels, config.embed_dim, config.patch_size, config.patch_size)


class _Embeddings(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.patch_embeddings = _PatchEmbeddings(config)
        grid = config.image_size // config.patch_size
        self.position_embeddings = (nn.Parameter(torch.zeros(1, grid * grid, config.embed_dim))
                                    if config.use_absolute_embeddings else None)
        self.norm = _norm(config, config.embed_dim)

    def forward(self, x, time):
        x = self.patch_embeddings.projection(x).permute(0, 2, 3, 1)  # (B, h, w, C)
        x = self.norm(x, time)
        if self.position_embeddings is not None:
            x = x + self.position_embeddings.view(1, x.shape[1], x.shape[2], -1)
        return x


class _Encoder(nn.Module):
    def __init__(self, config, grid):
        super().__init__()
        n = len(config.depths)
        self.layers = nn.ModuleList([_EncodeStage(config, i, grid // 2**i, i == n - 1) for i in range(n)])


class _Decoder(nn.Module):
    def __init__(self, config, grid):
        super().__init__()
        n = len(config.depths)
        self.layers = nn.ModuleList([_DecodeStage(config, i, grid // 2**i, grid // 2 ** max(i - 1, 0))
                                     for i in reversed(range(n))])


class _PatchRecovery(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.image_size = config.image_size
        self.projection = nn.ConvTranspose2d(config.embed_dim, config.num_out_channels,
                                             config.patch_size, stride=config.patch_size)
        self.mixup = nn.Conv2d(config.num_out_channels, config.num_out_channels, 5, padding=2, bias=False)

    def forward(self, x):
        x = self.projection(x.permute(0, 3, 1, 2))[:, :, :self.image_size, :self.image_size]
        return self.mixup(x)


def spectral_resample(x, size):
    """Resample the last two (square) dims of ``x`` to ``size`` by truncating or zero-padding the FFT.

    The convention of the published scOT: truncation keeps the frequencies
    ``-size/2 .. size/2 - 1``; padding centres the spectrum and pads it
    symmetrically.

    Parameters
    ----------
    x : torch.Tensor
        (..., n, n), real.
    size : int

    Returns
    -------
    torch.Tensor
        (..., size, size).
    """
    n = x.shape[-1]
    if x.shape[-2] != n:
        raise ValueError(f"spectral_resample needs a square grid, got {tuple(x.shape[-2:])}")
    if n == size:
        return x
    spec = torch.fft.fft2(x, norm="forward")
    if size < n:
        freqs = torch.fft.fftfreq(n, d=1 / n)
        keep = torch.nonzero((freqs >= -size / 2) & (freqs <= size / 2 - 1)).flatten().to(x.device)
        spec = spec.index_select(-2, keep).index_select(-1, keep)
    else:
        pad = (size - n) // 2
        spec = torch.fft.fftshift(spec, dim=(-2, -1))
        spec = torch.complex(F.pad(spec.real, (pad, pad, pad, pad)), F.pad(spec.imag, (pad, pad, pad, pad)))
        spec = torch.fft.ifftshift(spec, dim=(-2, -1))
    return torch.fft.ifft2(spec, norm="forward").real


class ScOT(nn.Module):
    """The scalable operator transformer, called as ``net(x, time)``.

    Parameters
    ----------
    config : ScOTConfig or dict
        A dict is read as a ``config.json``.

    Examples
    --------
    >>> import torch
    >>> net = ScOT(ScOTConfig(image_size=32, embed_dim=24, depths=(1, 1, 1, 1),
    ...                       window_size=4, skip_connections=(1, 1, 1, 0)))
    >>> net(torch.zeros(2, 4, 32, 32), torch.ones(2)).shape
    torch.Size([2, 4, 32, 32])
    """

    def __init__(self, config):
        super().__init__()
        if isinstance(config, dict):
            config = ScOTConfig.from_dict(config)
        self.config = config
        grid = config.image_size // config.patch_size
        self.embeddings = _Embeddings(config)
        self.encoder = _Encoder(config, grid)
        self.decoder = _Decoder(config, grid)
        self.patch_recovery = _PatchRecovery(config)
        block = ConvNeXtBlock if config.residual_model == "convnext" else ResNetBlock
        skips = list(config.skip_connections) + [0] * max(0, len(config.depths) - len(config.skip_connections))
        self.residual_blocks = nn.ModuleList([
            nn.ModuleList([block(config, config.embed_dim * 2**i) for _ in range(depth)])
            if depth > 0 else nn.ModuleList([nn.Identity()])
            for i, depth in enumerate(skips)])
        self.reset_parameters()

    def reset_parameters(self):
        """Fresh weights: normal(0, ``initializer_range``) for linear and conv weights, zero biases.

        LayerNorms start as the identity (a time-conditioned one with scale 1
        and shift 0 at every time); attention logit scales at ln 10; ConvNeXt
        layer scales at 1e-6.
        """
        std = self.config.initializer_range
        for module in self.modules():
            if isinstance(module, TimeLayerNorm):
                for lin in (module.weight, module.bias):
                    nn.init.normal_(lin.weight, std=std)
                nn.init.ones_(module.weight.bias)
                nn.init.zeros_(module.bias.bias)
            elif isinstance(module, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.normal_(module.weight, std=std)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, (nn.LayerNorm, nn.BatchNorm2d)):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        # TimeLayerNorm's inner Linears were visited after their parent: set them again.
        for module in self.modules():
            if isinstance(module, TimeLayerNorm):
                nn.init.ones_(module.weight.bias)
                nn.init.zeros_(module.bias.bias)

    def forward(self, x, time=None):
        """Advance normalised fields by lead time ``time``.

        Parameters
        ----------
        x : torch.Tensor
            (batch, num_channels, H, H), any square grid (resampled spectrally
            to ``image_size`` and back).
        time : torch.Tensor
            (batch,) lead times (required with ``use_conditioning``).

        Returns
        -------
        torch.Tensor
            (batch, num_out_channels, H, H).
        """
        config = self.config
        if x.dim() != 4 or x.shape[1] != config.num_channels:
            raise ValueError(f"scOT input must be (batch, {config.num_channels}, H, W), got {tuple(x.shape)}")
        if x.shape[-1] != x.shape[-2]:
            raise ValueError(f"scOT needs a square grid, got H, W = {tuple(x.shape[-2:])}")
        if time is not None:
            time = torch.as_tensor(time, dtype=x.dtype, device=x.device).reshape(-1)
            if time.shape[0] == 1 and x.shape[0] > 1:
                time = time.expand(x.shape[0])
            if time.shape[0] != x.shape[0]:
                raise ValueError(f"scOT: time has {time.shape[0]} entries for a batch of {x.shape[0]}")
        size = x.shape[-1]
        pixels = spectral_resample(x, config.image_size)
        h = self.embeddings(pixels, time)
        skips = []
        for stage in self.encoder.layers:
            h, skip = stage(h, time)
            skips.append(skip)
        for i, blocks in enumerate(self.residual_blocks[:len(skips)]):
            for block in blocks:
                if not isinstance(block, nn.Identity):
                    skips[i] = block(skips[i], time)
        h = skips[-1]
        for k, stage in enumerate(self.decoder.layers):
            if k:
                h = h + skips[len(skips) - 1 - k]
            h = stage(h, time)
        out = self.patch_recovery(h)
        if config.learn_residual:
            out = out + pixels[:, :config.num_out_channels]
        return spectral_resample(out, size)
