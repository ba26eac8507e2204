"""Cross-check opkit's scOT against the published Poseidon implementation (an optional peer).

The published scOT (github camlab-ethz/poseidon, module ``scOT/model.py``,
built on Hugging Face ``transformers``' Swinv2) is *not* part of opkit and is
never imported by it: this script imports it from a checkout given with
``--peer-src`` (the folder that holds ``scOT/``), in a separate environment
that has ``transformers`` (``--peer-src`` is only needed by the ``peer-*``
commands). Nothing of the published code is copied here.

Both implementations use the same state-dict keys, so one rule draws the
random weights of either from the key names (:func:`random_state`): every
tensor is drawn, with scales that keep activations of order one (LayerNorm
scales near one, attention logit scales around ln 10, ConvNeXt layer scales of
order 0.5 so the skip blocks matter). That network is compared in float32.

A second check runs in float64 with every attention logit scale near its clamp
at ln 100 (:func:`harsh_logit_scales`), where cosine logits grow to the size of
the shifted-window mask, so that the mask's value is tested too (in float32
such a random network amplifies rounding errors beyond 1e-4, in float64 the
two implementations agree to about 1e-11).

Commands (each folder gets ``config.json`` + ``model.safetensors`` in the
published layout and ``io.safetensors`` with ``x``, ``time``, ``output``, and
``x_resampled``, ``output_resampled`` for an input on another grid)::

    # the published code writes a checkpoint and its forward output
    /path/peer/python benchmarks/scot_peer.py peer-write --peer-src /tmp/peer_src --config small --out DIR
    # opkit loads it strictly and compares
    python benchmarks/scot_peer.py opkit-check DIR
    # and the other way round
    python benchmarks/scot_peer.py opkit-write --config small --out DIR2
    /path/peer/python benchmarks/scot_peer.py peer-check --peer-src /tmp/peer_src DIR2

``--config`` is ``T`` (Poseidon-T: 128^2, C = 48, depths 4 4 4 4, window 16)
or ``small`` (48^2, patch 4, C = 12, depths 2 2 2, window 4: shifted windows in
two stages, a padded 6^2 grid, a clamped 3^2 window, 3 -> 2 channels with
``learn_residual``). The printed figure is max |opkit - published| / max
|published| over the output.
"""

from __future__ import annotations

import argparse
import math
import sys
import warnings
from pathlib import Path

import torch

CONFIGS = {
    "T": dict(image_size=128, patch_size=4, num_channels=4, num_out_channels=4, embed_dim=48,
              depths=[4, 4, 4, 4], num_heads=[3, 6, 12, 24], skip_connections=[2, 2, 2, 0], window_size=16,
              mlp_ratio=4.0, qkv_bias=True, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
              drop_path_rate=0.0, hidden_act="gelu", use_absolute_embeddings=False, initializer_range=0.02,
              layer_norm_eps=1e-5, p=1, channel_slice_list_normalized_loss=[0, 1, 3, 4],
              residual_model="convnext", use_conditioning=True, learn_residual=False),
    "small": dict(image_size=48, patch_size=4, num_channels=3, num_out_channels=2, embed_dim=12,
                  depths=[2, 2, 2], num_heads=[2, 4, 8], skip_connections=[1, 1, 0], window_size=4,
                  mlp_ratio=4.0, qkv_bias=True, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                  drop_path_rate=0.0, hidden_act="gelu", use_absolute_embeddings=False, initializer_range=0.02,
                  layer_norm_eps=1e-5, p=1, channel_slice_list_normalized_loss=None,
                  residual_model="convnext", use_conditioning=True, learn_residual=True),
}
#: Batch and the side of the second (resampled) input of each configuration.
INPUTS = {"T": dict(batch=2, other=96), "small": dict(batch=2, other=64)}
_NORMS = ("norm", "layernorm_before", "layernorm_after")


def random_state(state, seed):
    """Random values for every tensor of a scOT state dict, drawn from the key names alone.

    Parameters
    ----------
    state : dict of str to torch.Tensor
        The state dict of either implementation (same keys and shapes).
    seed : int

    Returns
    -------
    dict of str to torch.Tensor
        float32 tensors, drawn in sorted-key order from one seeded generator.
    """
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for key in sorted(state):
        shape = state[key].shape
        noise = torch.randn(shape, generator=gen, dtype=torch.float32)
        parts = key.split(".")
        if parts[-1] == "logit_scale":
            value = math.log(10.0) + 0.5 * noise
        elif len(parts) >= 3 and parts[-3] in _NORMS and parts[-2] in ("weight", "bias"):
            # time-conditioned LayerNorm: <n>.weight.{weight,bias} (scale), <n>.bias.{...} (shift)
            value = 1.0 + 0.1 * noise if parts[-2:] == ["weight", "bias"] else 0.2 * noise
        elif parts[0] == "residual_blocks" and parts[-1] == "weight" and len(shape) == 1:
            value = 0.5 * noise  # ConvNeXt layer scale
        elif len(shape) >= 2:
            value = noise / math.sqrt(shape[1:].numel())
        else:
            value = 0.1 * noise
        out[key] = value.contiguous()
    return out


def harsh_logit_scales(state, seed):
    """Attention logit scales above the clamp (ln 100 + 0.5 |N(0, 1)|: a scale of 100), for the float64 check.

    The float64 check also zeroes the relative-position MLP's output layer
    (:func:`harsh_state`), so the bias is the constant 8 and cosine logits
    alone decide how close masked pairs come.

    Parameters
    ----------
    state : dict of str to torch.Tensor
    seed : int

    Returns
    -------
    dict of str to torch.Tensor
        The ``*.logit_scale`` entries only.
    """
    gen = torch.Generator().manual_seed(seed + 2)
    return {key: (math.log(100.0) + 0.5 * torch.randn(state[key].shape, generator=gen).abs()).contiguous()
            for key in sorted(state) if key.endswith("logit_scale")}


def harsh_state(state, logit_scales):
    """``state`` with ``logit_scales`` put in and every ``continuous_position_bias_mlp.2.weight`` zeroed.

    Parameters
    ----------
    state : dict of str to torch.Tensor
    logit_scales : dict of str to torch.Tensor

    Returns
    -------
    dict of str to torch.Tensor
    """
    out = dict(state)
    out.update(logit_scales)
    for key in out:
        if key.endswith("continuous_position_bias_mlp.2.weight"):
            out[key] = torch.zeros_like(out[key])
    return out


def make_inputs(name, seed):
    """Seeded input, lead times and a second input on another grid for configuration ``name``."""
    config, spec = CONFIGS[name], INPUTS[name]
    gen = torch.Generator().manual_seed(seed + 1)
    b, c, n = spec["batch"], config["num_channels"], config["image_size"]
    x = torch.randn(b, c, n, n, generator=gen)
    time = torch.rand(b, generator=gen)
    m = spec["other"]
    x_other = torch.randn(b, c, m, m, generator=gen)
    return x, time, x_other


def _save_io(out, x, time, x_other, model, forward, seed):
    """Forward ``model`` on the inputs (float32), then in float64 with harsh logit scales; write io."""
    from safetensors.torch import save_file

    harsh = harsh_logit_scales(model.state_dict(), seed)
    with torch.no_grad():
        y, y_other = forward(x, time), forward(x_other, time)
        saved = {k: v.clone() for k, v in model.state_dict().items()}
        model.load_state_dict(harsh_state(saved, harsh))
        model.double()
        y64 = forward(x.double(), time.double())
        model.float()
        model.load_state_dict(saved)
    io = {"x": x, "time": time, "output": y.contiguous(), "x_resampled": x_other,
          "output_resampled": y_other.contiguous(), "output_float64_harsh": y64.contiguous()}
    io.update({f"harsh.{k}": v for k, v in harsh.items()})
    save_file(io, str(Path(out) / "io.safetensors"))


def _compare(folder, model, forward):
    """Worst relative difference of ``forward`` against the outputs stored in ``folder``."""
    from safetensors.torch import load_file

    io = load_file(str(Path(folder) / "io.safetensors"))
    worst = {}
    with torch.no_grad():
        for xk, yk in (("x", "output"), ("x_resampled", "output_resampled"), ("x", "output_float64_harsh")):
            ref = io[yk]
            if yk.endswith("harsh"):
                scales = {k[len("harsh."):]: v for k, v in io.items() if k.startswith("harsh.")}
                model.load_state_dict(harsh_state(model.state_dict(), scales))
                model.double()
                got = forward(io[xk].double(), io["time"].double())
            else:
                got = forward(io[xk], io["time"])
            if not torch.isfinite(got).all():
                raise SystemExit(f"{folder}: non-finite output for {xk}")
            rel = ((got - ref).abs().max() / ref.abs().max()).item()
            print(f"{folder}: {xk} {tuple(io[xk].shape)} -> {yk}: max|diff| / max|ref| = {rel:.3e}")
            worst[yk] = rel
    return worst


def import_peer(src, site=None):
    """The published ``ScOT`` and ``ScOTConfig`` classes, imported from a checkout.

    Parameters
    ----------
    src : str or os.PathLike
        Folder holding ``scOT/model.py`` of camlab-ethz/poseidon.
    site : str or os.PathLike, optional
        A site-packages folder with ``transformers``, appended to ``sys.path``.

    Returns
    -------
    tuple of type
        ``(ScOT, ScOTConfig)``.

    Raises
    ------
    ImportError
        No ``scOT/model.py`` under ``src``, or it does not import.
    """
    if src is None or not (Path(src) / "scOT" / "model.py").is_file():
        raise ImportError(f"the peer source must be a folder holding scOT/model.py of camlab-ethz/poseidon, "
                          f"got {src}")
    if site is not None:
        sys.path.append(str(site))
    sys.path.insert(0, str(Path(src)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            from scOT.model import ScOT, ScOTConfig  # the published implementation, an optional peer
        except ImportError as err:
            raise ImportError(f"the published scOT under {src} does not import ({err}); it needs transformers "
                              f"(4.35.2 was used)") from err
    return ScOT, ScOTConfig


def _peer_import(src):
    try:
        return import_peer(src)
    except ImportError as err:
        raise SystemExit(str(err)) from err


def peer_write(args):
    """The published scOT with random weights writes its checkpoint and forward output."""
    ScOT, ScOTConfig = _peer_import(args.peer_src)
    torch.manual_seed(args.seed)
    model = ScOT(ScOTConfig(**CONFIGS[args.config])).eval()
    model.load_state_dict(random_state(model.state_dict(), args.seed), strict=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out), safe_serialization=True)
    x, time, x_other = make_inputs(args.config, args.seed)
    _save_io(out, x, time, x_other, model, lambda a, t: model(pixel_values=a, time=t).output, args.seed)
    print(f"wrote {out} ({sum(p.numel() for p in model.parameters())} parameters, "
          f"{len(model.state_dict())} tensors)")


def peer_check(args):
    """The published scOT loads a checkpoint strictly and reproduces its ``io.safetensors``."""
    from safetensors.torch import load_file

    ScOT, ScOTConfig = _peer_import(args.peer_src)
    config = ScOTConfig.from_pretrained(args.folder)
    model = ScOT(config).eval()
    model.load_state_dict(load_file(str(Path(args.folder) / "model.safetensors")), strict=True)
    worst = _compare(args.folder, model, lambda a, t: model(pixel_values=a, time=t).output)
    return worst


def opkit_write(args):
    """opkit's scOT with random weights writes its checkpoint and forward output."""
    from safetensors.torch import save_file

    from opkit.layers.scot import ScOT, ScOTConfig

    config = ScOTConfig.from_dict(CONFIGS[args.config])
    net = ScOT(config).eval()
    net.load_state_dict(random_state(net.state_dict(), args.seed + 100), strict=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    config.to_json(out / "config.json")
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(out / "model.safetensors"))
    x, time, x_other = make_inputs(args.config, args.seed + 100)
    _save_io(out, x, time, x_other, net, net, args.seed + 100)
    print(f"wrote {out} ({sum(p.numel() for p in net.parameters())} parameters)")


def opkit_check(args):
    """opkit's scOT loads a checkpoint strictly and reproduces its ``io.safetensors``."""
    from opkit.layers.scot import ScOT, ScOTConfig
    from opkit.persistence import load_foreign_weights

    net = ScOT(ScOTConfig.from_json(args.folder)).eval()
    unused = load_foreign_weights(net, Path(args.folder) / "model.safetensors")
    if unused:
        raise SystemExit(f"{args.folder}: keys not used by opkit's scOT: {unused[:5]}")
    worst = _compare(args.folder, net, net)
    # how decisive the float64 check is: the same network with Swin's single -100 mask
    from safetensors.torch import load_file

    from opkit.layers.scot import SwinBlock

    io = load_file(str(Path(args.folder) / "io.safetensors"))
    blocks = [m for m in net.modules() if isinstance(m, SwinBlock) and m.attn_mask is not None]
    with torch.no_grad():
        for block in blocks:
            block.attn_mask /= 2
        single = net(io["x"].double(), io["time"].double())
        for block in blocks:
            block.attn_mask *= 2
    ref = io["output_float64_harsh"]
    print(f"{args.folder}: with a single -100 mask the float64 check would be off by "
          f"{((single - ref).abs().max() / ref.abs().max()).item():.3e}")
    return worst


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("peer-write", "opkit-write"):
        p = sub.add_parser(name)
        p.add_argument("--config", choices=sorted(CONFIGS), required=True)
        p.add_argument("--out", required=True)
        p.add_argument("--seed", type=int, default=1)
    for name in ("peer-check", "opkit-check"):
        p = sub.add_parser(name)
        p.add_argument("folder")
    for p in (sub.choices["peer-write"], sub.choices["peer-check"]):
        p.add_argument("--peer-src", required=True)
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    {"peer-write": peer_write, "peer-check": peer_check, "opkit-write": opkit_write,
     "opkit-check": opkit_check}[args.command](args)


if __name__ == "__main__":
    main()
