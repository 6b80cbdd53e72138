"""What a training step of a recipe costs under variants of it, side by side.

    python -m bench.step_cost [--dataset mnist] [--variant "NAME:FIELD=VALUE,FIELD=VALUE" ...] [--threads 1,2]
                              [--steps 30] [--rounds 5] [--json]

The first variant is always the dataset's recipe as it stands ("recipe"); each --variant is that recipe under
its fields (ganlab.config.recipes, as `ganlab train --set` would give them). Every round times `--steps` training
steps of each variant in turn, alternating the order, and a variant's figure is the median of its rounds, beside
the median over rounds of its time over the recipe's (so machine noise hits both alike). Per-sample figures say
what a bigger batch buys: on a CPU a step's fixed costs (Python, autograd, thread wake-ups) weigh more at a small
batch. All variants of a thread count share one loaded dataset; a trainer computes with the count given here.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from typing import Any, Optional

from ganlab.config import parse_set
from ganlab.config.recipes import apply_recipe
from ganlab.config.validate import validate_config
from ganlab.data import dataset_spec, load_dataset
from ganlab.errors import GanlabError
from ganlab.training import Trainer


def parse_variant(text: str) -> tuple[str, dict[str, Any]]:
    """'NAME:field=v,field=v' -> (NAME, fields); a value cannot hold a comma (use another variant flag)."""
    name, sep, rest = text.partition(":")
    if not sep or not name.strip():
        raise ValueError(f"--variant wants NAME:FIELD=VALUE[,FIELD=VALUE], got {text!r}")
    return name.strip(), parse_set([p for p in rest.split(",") if p.strip()])


def _ms_per_step(trainer: Trainer, steps: int) -> float:
    t = time.perf_counter()
    for _ in range(steps):
        trainer.train_step()
    return (time.perf_counter() - t) / steps * 1e3


def measure(dataset: str, variants: list[tuple[str, dict[str, Any]]], threads: int, steps: int,
            rounds: int) -> list[dict[str, Any]]:
    spec = dataset_spec(dataset)
    data = load_dataset(dataset, "cpu", seed=0)
    trainers = []
    for _, fields in variants:
        cfg = apply_recipe({"dataset": dataset, "device": "cpu", **fields}, spec)
        trainer = Trainer(cfg, dataset=data)
        trainer.threads = threads  # this benchmark's count, whoever runs it
        _ms_per_step(trainer, 5)  # warm-up: allocator, oneDNN primitives
        trainers.append(trainer)
    times: list[list[float]] = [[] for _ in variants]
    for r in range(rounds):
        order = range(len(variants)) if r % 2 == 0 else reversed(range(len(variants)))
        for i in order:
            times[i].append(_ms_per_step(trainers[i], steps))
    rows = []
    for (name, fields), trainer, ts in zip(variants, trainers, times):
        ms = statistics.median(ts)
        batch = trainer.cfg.batch_size
        rows.append({"variant": name, "fields": fields, "threads": threads, "batch_size": batch,
                     "ms_per_step": round(ms, 2), "us_per_sample": round(ms * 1e3 / batch, 1),
                     "vs_recipe": round(statistics.median(t / b for t, b in zip(ts, times[0])), 3)})
    return rows


def _table(rows: list[dict[str, Any]]) -> str:
    lines = ["| variant | threads | batch | ms a step | us a sample | time a step / the recipe's |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['variant']} | {r['threads']} | {r['batch_size']} | {r['ms_per_step']:.1f} | "
                     f"{r['us_per_sample']:.0f} | {r['vs_recipe']:.2f}x |")
    return "\n".join(lines)


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.step_cost", description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="mnist")
    p.add_argument("--variant", action="append", default=[], help="NAME:FIELD=VALUE,... over the recipe (repeatable)")
    p.add_argument("--threads", default="1,2", help="comma list of thread counts (default 1,2)")
    p.add_argument("--steps", type=int, default=30, help="steps a variant a round (default 30)")
    p.add_argument("--rounds", type=int, default=5, help="alternating rounds (default 5)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    a = p.parse_args(argv)
    try:
        variants = [("recipe", {}), *(parse_variant(v) for v in a.variant)]
        threads = [int(t) for t in a.threads.split(",") if t.strip()]
        spec = dataset_spec(a.dataset)
        for _, fields in variants:
            validate_config(apply_recipe({"dataset": a.dataset, **fields}, spec))
    except (GanlabError, ValueError) as e:
        p.error(str(e))
    if not threads or min(threads) < 1 or a.steps < 1 or a.rounds < 1:
        p.error("--threads, --steps and --rounds must be positive")
    rows = [r for n in threads for r in measure(a.dataset, variants, n, a.steps, a.rounds)]
    print("\n".join(json.dumps(r) for r in rows) if a.json else _table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
