"""Poseidon-T speed: opkit's scOT against the published implementation, side by side.

Forward (``torch.no_grad``, eval mode) and forward + backward of Poseidon-T
(C = 48, depths 4 4 4 4, 20.8M parameters) at 128^2, batch 4, on
``--threads`` threads (default 2), both networks holding the same random
weights. Repeats alternate between the two so that a machine shared with
other jobs loads both alike; printed are the median times and the ratio
opkit / published (below 1: opkit is faster).

The published scOT (github camlab-ethz/poseidon, ``scOT/model.py``) is an
optional peer, never a dependency of opkit: it is imported from
``--peer-src`` (the folder holding ``scOT/``), with ``transformers`` from the
running environment or from ``--peer-site`` (a site-packages folder appended
to ``sys.path``, e.g. of a venv with transformers 4.35.2). Without them only
opkit is timed, and the script says why.

Usage::

    python benchmarks/bench_scot_peer.py --peer-src /tmp/peer_src \\
        --peer-site /tmp/peer/lib/python3.11/site-packages [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from scot_peer import CONFIGS, import_peer, random_state

from opkit.layers.scot import ScOT, ScOTConfig


def timed(fn):
    """Seconds of one call of ``fn``."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--peer-src", default=None)
    parser.add_argument("--peer-site", default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    config = CONFIGS["T"]
    nets = {"opkit": ScOT(ScOTConfig.from_dict(config))}
    state = random_state(nets["opkit"].state_dict(), 1)
    nets["opkit"].load_state_dict(state)
    try:
        PeerScOT, PeerConfig = import_peer(args.peer_src, args.peer_site)
    except ImportError as err:
        print(f"published scOT unavailable, timing opkit only: {err}")
    else:
        peer = PeerScOT(PeerConfig(**config))
        peer.load_state_dict(state, strict=True)
        nets["published"] = peer
    calls = {"opkit": lambda net, x, t: net(x, t),
             "published": lambda net, x, t: net(pixel_values=x, time=t).output}

    n = config["image_size"]
    x = torch.randn(args.batch, config["num_channels"], n, n)
    t = torch.rand(args.batch)

    def forward(name):
        net = nets[name].eval()
        with torch.no_grad():
            calls[name](net, x, t)

    def forward_backward(name):
        net = nets[name].train()
        net.zero_grad(set_to_none=True)
        calls[name](net, x, t).square().mean().backward()

    with torch.no_grad():
        outs = {name: calls[name](net.eval(), x, t) for name, net in nets.items()}
    if "published" in outs:
        ref = outs["published"]
        rel = ((outs["opkit"] - ref).abs().max() / ref.abs().max()).item()
        print(f"outputs agree: max|opkit - published| / max|published| = {rel:.2e}")

    print(f"Poseidon-T, batch {args.batch}, {n}^2, {args.threads} threads, {args.repeats} repeats "
          f"(median s; the machine may be shared, the ratio is the figure to read)")
    for label, fn in (("forward", forward), ("forward+backward", forward_backward)):
        for name in nets:  # warm-up
            fn(name)
        times = {name: [] for name in nets}
        for _ in range(args.repeats):
            for name in nets:
                times[name].append(timed(lambda: fn(name)))
        med = {name: statistics.median(v) for name, v in times.items()}
        line = "  ".join(f"{name} {med[name]:.3f} s" for name in nets)
        if "published" in med:
            line += f"  ratio opkit:published {med['opkit'] / med['published']:.2f}"
        print(f"{label:>17}: {line}")


if __name__ == "__main__":
    main()
