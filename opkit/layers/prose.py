"""The five-part multimodal transformer of PROSE (data and symbol encoders, fusion, two decoders)."""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["PROSENetwork", "CrossAttentionLayer", "sinusoidal_positions"]


def sinusoidal_positions(n, d, device=None, dtype=torch.float32):
    """Sinusoidal position codes, ``(n, d)`` (Vaswani et al.).

    Parameters
    ----------
    n, d : int
    device, dtype : optional

    Returns
    -------
    torch.Tensor
    """
    pos = torch.arange(n, device=device, dtype=dtype)[:, None]
    freq = torch.exp(torch.arange(0, d, 2, device=device, dtype=dtype) * (-math.log(10000.0) / d))
    out = torch.zeros(n, d, device=device, dtype=dtype)
    out[:, 0::2] = torch.sin(pos * freq)
    out[:, 1::2] = torch.cos(pos * freq)[:, : d // 2]
    return out


class CrossAttentionLayer(nn.Module):
    """Pre-norm cross-attention then feed-forward, no self-attention (queries are independent).

    Parameters
    ----------
    d_model, n_heads, dim_feedforward : int
    dropout : float
    """

    def __init__(self, d_model, n_heads, dim_feedforward, dropout=0.0):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.attn = nn.MultiheadAttention(d_model, n_heads, dropout=dropout, batch_first=True)
        self.ff = nn.Sequential(nn.Linear(d_model, dim_feedforward), nn.GELU(), nn.Linear(dim_feedforward, d_model))

    def forward(self, q, memory, memory_padding_mask=None):
        """Queries ``q`` (B, Q, d) attend to ``memory`` (B, M, d); True in the mask = padding."""
        h = self.norm1(q)
        q = q + self.attn(h, memory, memory, key_padding_mask=memory_padding_mask, need_weights=False)[0]
        return q + self.ff(self.norm2(q))


def _encoder(d, heads, ff, layers, dropout):
    layer = nn.TransformerEncoderLayer(d, heads, ff, dropout, activation="gelu", batch_first=True, norm_first=True)
    return nn.TransformerEncoder(layer, layers, enable_nested_tensor=False) if layers else None


def _mlp(n_in, d):
    return nn.Sequential(nn.Linear(n_in, d), nn.GELU(), nn.Linear(d, d))


class PROSENetwork(nn.Module):
    """Data embedder and encoder, symbol encoder, fusion, data decoder at query times, causal symbol decoder.

    Parameters
    ----------
    d_max : int
        State components the data tokens hold (zero-padded).
    vocab_size : int
    d_model, n_heads, dim_feedforward : int
    n_layers : tuple of 5 int
        Layers of the data encoder, symbol encoder, fusion, data decoder and
        symbol decoder.
    max_symbols : int
        Longest token sequence (positions of the symbol encoder/decoder).
    use_skeleton : bool
        Build the symbol encoder (False: the data-only ablation).
    dropout : float

    Notes
    -----
    A data token is ``(t_i, u(t_i))`` (time and zero-padded state,
    normalised by the caller), embedded by Linear-GELU-Linear, with no
    positional code. One extra token carries each sample's normalisation
    statistics. The data decoder embeds each query time alike and attends
    to the fused data tokens, all query times at once; the symbol decoder
    attends to every fused token.
    """

    def __init__(self, d_max, vocab_size, d_model=64, n_heads=4, dim_feedforward=256, n_layers=(1, 1, 2, 2, 2),
                 max_symbols=128, use_skeleton=True, dropout=0.0):
        super().__init__()
        n_data, n_sym, n_fuse, n_ddec, n_sdec = (int(n) for n in n_layers)
        self.d_max, self.max_symbols, self.use_skeleton = int(d_max), int(max_symbols), bool(use_skeleton)
        d = int(d_model)
        self.data_embed = _mlp(1 + self.d_max, d)
        self.stats_embed = _mlp(2 * self.d_max, d)
        self.data_encoder = _encoder(d, n_heads, dim_feedforward, n_data, dropout)
        self.token_embed = nn.Embedding(vocab_size, d, padding_idx=0)
        self.symbol_encoder = _encoder(d, n_heads, dim_feedforward, n_sym, dropout) if self.use_skeleton else None
        self.modality = nn.Parameter(torch.zeros(2, d))
        self.fusion = _encoder(d, n_heads, dim_feedforward, n_fuse, dropout)
        self.query_embed = _mlp(1, d)
        self.data_decoder = nn.ModuleList(CrossAttentionLayer(d, n_heads, dim_feedforward, dropout) for _ in range(n_ddec))
        self.data_norm = nn.LayerNorm(d)
        self.data_head = nn.Linear(d, self.d_max)
        layer = nn.TransformerDecoderLayer(d, n_heads, dim_feedforward, dropout, activation="gelu", batch_first=True,
                                           norm_first=True)
        self.symbol_decoder = nn.TransformerDecoder(layer, n_sdec)
        self.symbol_norm = nn.LayerNorm(d)
        self.symbol_head = nn.Linear(d, vocab_size)
        self.register_buffer("positions", sinusoidal_positions(self.max_symbols, d), persistent=False)

    def _symbols(self, ids):
        n = ids.shape[1]
        if n > self.max_symbols:
            raise ValueError(f"a token sequence of {n} tokens is longer than the network's max_symbols={self.max_symbols}")
        return self.token_embed(ids) + self.positions[:n].to(ids.device)

    def encode(self, data, stats, skeleton=None):
        """Fused tokens and their padding mask.

        Parameters
        ----------
        data : torch.Tensor, (B, N, 1 + d_max)
        stats : torch.Tensor, (B, 2 * d_max)
        skeleton : torch.Tensor of int64, (B, L), optional
            Skeleton ids (0 = padding).

        Returns
        -------
        fused : torch.Tensor, (B, 1 + N [+ L], d)
        mask : torch.Tensor of bool, same leading shape (True = padding)
        n_data : int
            Data tokens (statistics token included) at the front.
        """
        x = torch.cat([self.stats_embed(stats)[:, None], self.data_embed(data)], 1)
        if self.data_encoder is not None:
            x = self.data_encoder(x)
        x = x + self.modality[0]
        mask = torch.zeros(x.shape[:2], dtype=torch.bool, device=x.device)
        n_data = x.shape[1]
        if self.use_skeleton and skeleton is not None and skeleton.shape[1]:
            smask = skeleton == 0
            s = self._symbols(skeleton)
            if self.symbol_encoder is not None:
                s = self.symbol_encoder(s, src_key_padding_mask=smask)
            x, mask = torch.cat([x, s + self.modality[1]], 1), torch.cat([mask, smask], 1)
        if self.fusion is not None:
            x = self.fusion(x, src_key_padding_mask=mask)
        return x, mask, n_data

    def decode_data(self, fused, n_data, query_times):
        """States at ``query_times`` (B, Q) from the fused data tokens: (B, Q, d_max)."""
        q = self.query_embed(query_times[..., None])
        memory = fused[:, :n_data]
        for layer in self.data_decoder:
            q = layer(q, memory)
        return self.data_head(self.data_norm(q))

    def decode_symbols(self, fused, mask, ids):
        """Next-token logits (B, L, vocab) of the teacher-forced ``ids`` (B, L), causally masked."""
        n = ids.shape[1]
        causal = torch.triu(torch.ones(n, n, dtype=torch.bool, device=ids.device), 1)
        h = self.symbol_decoder(self._symbols(ids), fused, tgt_mask=causal, tgt_key_padding_mask=ids == 0,
                                memory_key_padding_mask=mask)
        return self.symbol_head(self.symbol_norm(h))

    def forward(self, data, stats, query_times, skeleton=None, target_ids=None):
        """``{"state": (B, Q, d_max)}`` plus ``"logits"`` when ``target_ids`` (teacher forcing) are given."""
        fused, mask, n_data = self.encode(data, stats, skeleton)
        out = {"state": self.decode_data(fused, n_data, query_times)}
        if target_ids is not None:
            out["logits"] = self.decode_symbols(fused, mask, target_ids)
        return out
