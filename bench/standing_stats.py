"""Does G's EMA need its own batch-norm statistics? A run's G scored with the stored stats and with standing ones.

    python -m bench.standing_stats RUN_DIR [--batches 32] [--batch 256] [--json]

The trainer's EMA averages G's weights but copies G's batch-norm running stats (ganlab.training.trainer
`_update_ema`): stats of the live G's activations, not of the averaged weights'. BigGAN's "standing statistics"
re-estimate them from the sampled G itself. This tool does that for the checkpoint's G (EMA and live): it resets
every batch norm's running stats, averages them over `--batches` batches of latent seeds 100,000 on (in train
mode, no gradient), and scores both versions on three latent batches (the classifier metrics of `eval --json`:
seeds 0-1,999, 30,000-31,999 and 50,000-59,999). The measured answer (docs/QUALITY.md, twelfth session): the FD
moved by under 0.6, so the copied stats are not what holds MNIST's FD above its floor.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from typing import Any

import torch

from ganlab.errors import GanlabError
from ganlab.evaluation.evaluate import metrics_for
from ganlab.evaluation.samplers import sample_generator
from ganlab.models.latents import z_batch
from ganlab.store.checkpoint import generator_from_checkpoint
from ganlab.store.run import Run

LATENT_BATCHES = ((0, 2000), (30_000, 2000), (50_000, 10_000))
KEYS = ("fd", "precision", "recall", "density", "coverage")


def standing(g: torch.nn.Module, latent_dim: int, dist: str, batches: int, batch: int) -> torch.nn.Module:
    """A copy of G, in eval mode, whose batch norms hold the mean stats of `batches` batches of its own activations."""
    g = copy.deepcopy(g)
    for m in g.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # a cumulative mean over the batches, not a running one
    g.train()
    with torch.no_grad():
        for i in range(batches):
            g(z_batch(range(100_000 + i * batch, 100_000 + (i + 1) * batch), latent_dim, dist, "cpu"))
    return g.eval()


def score(g: torch.nn.Module, cfg, spec, start: int, n: int) -> dict[str, float]:
    with torch.no_grad():
        x = sample_generator(g, cfg, n, start, None)  # what `eval --json`'s raw sampler draws for seeds start..
    m = metrics_for(cfg.dataset, x, spec, device="cpu", seed=cfg.seed)
    return {k: round(float(m[k]), 3) for k in KEYS if k in m}


def measure(run_dir: str, batches: int, batch: int) -> list[dict[str, Any]]:
    state = Run(run_dir).load_checkpoint()
    rows = []
    for ema in (True, False):
        g, cfg, spec = generator_from_checkpoint(state, ema=ema)
        for stats, net in (("stored", g), ("standing", standing(g, cfg.latent_dim, cfg.latent_dist, batches, batch))):
            for start, n in LATENT_BATCHES:
                rows.append({"g": "ema" if ema else "live", "stats": stats, "seeds": f"{start}+{n}",
                             **score(net, cfg, spec, start, n)})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.standing_stats", description=__doc__.splitlines()[0])
    ap.add_argument("run_dir")
    ap.add_argument("--batches", type=int, default=32)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    try:
        rows = measure(a.run_dir, a.batches, a.batch)
    except (GanlabError, OSError) as e:
        print(f"bench.standing_stats: {e}", file=sys.stderr)
        return 2
    for r in rows:
        print(json.dumps(r) if a.json else "  ".join(f"{k}={v}" for k, v in r.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
