"""What looking the island up (ganlab.models.prior.IslandLinear) buys over multiplying its one-hot code.

    python -m bench.islands [--islands 100,1000] [--batch 512] [--threads 1] [--rounds 7] [--json]

One point G of the point recipe (MLP 2x256, a 2-D latent) per island count. Each round times G's forward and
backward over the same latent batch both ways, side by side: through G (its first layer takes an IslandInput and
picks the island's weight column) and through the dense path (the [scaled z~, one-hot island] tensor into the same
layer, which then is plain nn.Linear). The figure is the median over rounds of the per-round ratio, so machine noise
hits both alike. Both give the same numbers to rounding (tests/test_latent_mixture.py).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from ganlab.models.common import g_input
from ganlab.models.mlp import MLPGenerator
from ganlab.models.prior import LatentMixture


def _ms_per_call(fn, calls: int) -> float:
    t = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - t) / calls * 1e3


def measure(islands: int, batch: int, rounds: int, calls: int = 50) -> dict:
    torch.manual_seed(0)
    g = MLPGenerator(2, (2,), [256, 256], "relu", "none", torch.nn.Identity(), 0, LatentMixture(2, islands))
    z = torch.randn(batch, 2)

    def lookup() -> None:
        g.zero_grad(set_to_none=True)
        g.net(g.first_input(z, None)).sum().backward()

    def dense() -> None:
        g.zero_grad(set_to_none=True)
        g.net(g_input(z, None, 0, g.prior)).sum().backward()

    lookup(), dense()  # warm-up
    fast, slow = [], []
    for r in range(rounds):
        pair = (lookup, dense) if r % 2 == 0 else (dense, lookup)
        times = {f: _ms_per_call(f, calls) for f in pair}
        fast.append(times[lookup])
        slow.append(times[dense])
    ratio = statistics.median(s / f for f, s in zip(fast, slow))
    return {"islands": islands, "batch": batch, "lookup_ms": round(statistics.median(fast), 3),
            "dense_ms": round(statistics.median(slow), 3), "speedup": round(ratio, 2)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.islands", description=__doc__.split("\n\n")[0])
    p.add_argument("--islands", default="100,1000", help="comma list of island counts (default 100,1000)")
    p.add_argument("--batch", type=int, default=512)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    rows = [measure(int(k), a.batch, a.rounds) for k in a.islands.split(",")]
    if a.json:
        print(json.dumps(rows))
        return 0
    print(f"G (MLP 2x256) forward + backward, batch {a.batch}, {a.threads} thread(s), median of {a.rounds} rounds")
    print("| islands | dense one-hot (ms) | lookup (ms) | speed-up |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['islands']} | {r['dense_ms']:.2f} | {r['lookup_ms']:.2f} | {r['speedup']:.2f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
