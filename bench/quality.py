"""Quality study: train presets over seeds (and, on the 2-D mixtures, over losses) and print one table.

    python -m bench.quality                                   # ring8, grid25, digits x seeds 0,1,2
    python -m bench.quality --presets ring8 --losses bce,hinge,wgan-gp --seeds 0
    python -m bench.quality --presets all --seeds 0 --jobs 2 --json
    python -m bench.quality --quick                           # a smoke run: 1 seed, a quarter of the steps

Each row is one real run: `ganlab.training.train` writes a run directory under a temporary
runs dir, and the metrics come from `ganlab.evaluation.evaluate.evaluate_run` on its last checkpoint,
exactly what `python -m ganlab eval RUN_DIR --json` prints (2,500 points / 2,000 images,
seeds 0..n-1). Columns:

  modes    covered / total mixture modes (a mode needs one sample within 3 std of its centre)
  HQ       high-quality rate: samples within 3 std of their nearest centre (a perfect
           sampler scores 98.9% in 2-D)
  rKL      reverse KL of the mode histogram against uniform (0 = perfectly balanced)
  spread   pooled within-mode std of the HQ samples (each about its own mode's mean) over what true
           samples inside the same disc have: 1 = as wide as the data's modes; near 0 = G puts each
           mode on a dot, which HQ alone would reward (ganlab.evaluation.metrics.mixture_metrics)
  classes  class coverage from ganlab's own classifier (images)
  FD       classifier-feature Fréchet distance to real images, and `floor`: the FD between
           two halves of the real data (a perfect generator sits near the floor)
  conf     mean classifier confidence on the fakes (real digits score about 0.99)
  other    d2l Gaussian: |mean error| and W2 to the true Gaussian; 1010: pattern match rate;
           2-D mixtures with a sigmoid loss: the same G through discriminator rejection sampling
           (`--sampler drs`): modes, HQ, rKL and the share of G's samples D kept
  train_s  wall-clock seconds of training (evaluation excluded), one thread per run

With `--losses`, every mixture preset is also trained with each listed loss and the preset's
other settings unchanged (so a row for wgan-gp on ring8 uses ring8's nets and learning rates,
which were tuned for the preset's own loss: expect such rows to be worse).
Runs use one CPU thread each and `--jobs` of them at a time (default 2).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any, Optional

DEFAULT_PRESETS = "ring8,grid25,digits"
MIXTURES = {"ring8", "grid25"}
QUICK_FRACTION = 0.25


def plan(presets: list[str], seeds: list[int], losses: list[str], quick: bool,
         overrides: Optional[dict[str, Any]] = None) -> list[dict[str, Any]]:
    """One job per (preset, loss, seed); extra losses only for the 2-D mixture presets."""
    from ganlab.config.presets import preset_config

    jobs = []
    for name in presets:
        cfg = preset_config(name).replace(**(overrides or {}))
        extra = [loss for loss in losses if loss != cfg.loss] if cfg.dataset in MIXTURES else []
        for loss in [cfg.loss, *extra]:
            for seed in seeds:
                over: dict[str, Any] = {**(overrides or {}), "seed": seed, "loss": loss}
                if quick:
                    over["steps"] = max(1, int(cfg.steps * QUICK_FRACTION))
                jobs.append({"preset": name, "overrides": over})
    return jobs


def run_one(job: dict[str, Any], runs_root: str) -> dict[str, Any]:
    """Train one run in this process (one thread) and evaluate its last checkpoint."""
    import torch

    torch.set_num_threads(1)
    os.environ["GANLAB_THREADS"] = "1"  # one thread per run: --jobs runs share the cores
    from ganlab.config.presets import preset_config
    from ganlab.config.validate import validate_config
    from ganlab.evaluation.evaluate import evaluate_run
    from ganlab.evaluation.metrics import to_json
    from ganlab.evaluation.samplers import drs_problem
    from ganlab.game.losses import LOSSES
    from ganlab.store import Run
    from ganlab.training import Diverged, Trainer, train

    cfg = preset_config(job["preset"]).replace(**job["overrides"], device="cpu", eval_every=0,
                                               checkpoint_every=10 ** 8, keep_checkpoints=1)
    validate_config(cfg)
    row: dict[str, Any] = {"preset": job["preset"], "loss": cfg.loss, "seed": cfg.seed, "steps": cfg.steps}
    run = Run.create(runs_root, cfg)
    t0 = time.perf_counter()
    try:
        train(cfg, run, trainer=Trainer(cfg))
    except Diverged as e:
        row.update({"train_s": time.perf_counter() - t0, "error": str(e)})
        return row
    row["train_s"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    row.update(to_json(evaluate_run(run)))
    row["eval_s"] = time.perf_counter() - t1
    if cfg.dataset in MIXTURES and drs_problem(LOSSES.get(cfg.loss)) is None:  # the same G filtered by its D
        drs = to_json(evaluate_run(run, sampler="drs"))
        row["drs"] = {k: drs[k] for k in ("modes_covered", "high_quality_rate", "reverse_kl", "acceptance_rate")}
    return row


def _fmt(v: Any, spec: str = "") -> str:
    return "-" if v is None else format(v, spec)


def row_cells(r: dict[str, Any]) -> list[str]:
    if "error" in r:
        return [r["preset"], r["loss"], str(r["seed"]), str(r["steps"]), "diverged", "", "", "", "", "", "", "", "",
                f"{r['train_s']:.0f}"]
    modes = f"{r['modes_covered']}/{r['modes_total']}" if "modes_total" in r else ""
    hq = f"{100 * r['high_quality_rate']:.1f}%" if "high_quality_rate" in r else ""
    rkl = _fmt(r.get("reverse_kl"), ".3f") if "modes_total" in r else ""
    spread = _fmt(r.get("spread"), ".2f") if "modes_total" in r else ""
    classes = f"{r['class_coverage']}/{r['classes_total']}" if "class_coverage" in r else ""
    fd = _fmt(r.get("fd"), ".2f") if "fd" in r else ""
    floor = _fmt(r.get("fd_real_split"), ".2f") if "fd_real_split" in r else ""
    conf = _fmt(r.get("mean_confidence"), ".3f") if "mean_confidence" in r else ""
    other = ""
    if "mean_error" in r:
        other = f"mean err {r['mean_error']:.3f}, W2 {_fmt(r.get('w2_distance'), '.3f')}"
    elif "pattern_match_rate" in r:
        other = f"1010 match {100 * r['pattern_match_rate']:.1f}%, exact {100 * r['pattern_exact_rate']:.1f}%"
    elif "drs" in r:
        d = r["drs"]
        other = (f"drs: {d['modes_covered']}/{r['modes_total']}, HQ {100 * d['high_quality_rate']:.1f}%, "
                 f"rKL {_fmt(d['reverse_kl'], '.3f')}, kept {100 * d['acceptance_rate']:.0f}%")
    return [r["preset"], r["loss"], str(r["seed"]), str(r["steps"]), modes, hq, rkl, spread, classes, fd, floor,
            conf, other, f"{r['train_s']:.0f}"]


HEADER = ["preset", "loss", "seed", "steps", "modes", "HQ", "rKL", "spread", "classes", "FD", "floor", "conf", "other",
          "train_s"]


def summaries(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (preset, loss): worst case over seeds, which is what 'every seed' claims rest on."""
    out = []
    for key in dict.fromkeys((r["preset"], r["loss"]) for r in rows):
        rs = [r for r in rows if (r["preset"], r["loss"]) == key]
        ok = [r for r in rs if "error" not in r]
        s: dict[str, Any] = {"preset": key[0], "loss": key[1], "seeds": len(rs), "diverged": len(rs) - len(ok),
                             "mean_train_s": sum(r["train_s"] for r in rs) / len(rs)}
        if ok and "modes_total" in ok[0]:
            s.update({"min_modes": min(r["modes_covered"] for r in ok), "modes_total": ok[0]["modes_total"],
                      "min_hq": min(r["high_quality_rate"] for r in ok)})
        if ok and "class_coverage" in ok[0]:
            s.update({"min_classes": min(r["class_coverage"] for r in ok), "classes_total": ok[0]["classes_total"],
                      "max_fd": max(r["fd"] for r in ok), "fd_floor": ok[0]["fd_real_split"]})
        out.append(s)
    return out


def summary_line(s: dict[str, Any]) -> str:
    parts = [f"{s['preset']} / {s['loss']}: {s['seeds']} seed(s)"]
    if "min_modes" in s:
        parts.append(f"min modes {s['min_modes']}/{s['modes_total']}, min HQ {100 * s['min_hq']:.1f}%")
    if "min_classes" in s:
        parts.append(f"min classes {s['min_classes']}/{s['classes_total']}, max FD {s['max_fd']:.2f} "
                     f"(real floor {s['fd_floor']:.2f})")
    if s["diverged"]:
        parts.append(f"{s['diverged']} diverged")
    parts.append(f"mean train {s['mean_train_s']:.0f} s")
    return ", ".join(parts)


def table(rows: list[dict[str, Any]]) -> str:
    cells = [HEADER] + [row_cells(r) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(HEADER))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |" for row in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def parse_args(argv: Optional[list[str]]) -> argparse.Namespace:
    from ganlab.config import ConfigError, parse_set
    from ganlab.config.presets import PRESETS
    from ganlab.game.losses import LOSSES

    p = argparse.ArgumentParser(prog="python -m bench.quality", description=__doc__.splitlines()[0])
    p.add_argument("--presets", default=DEFAULT_PRESETS, help=f"comma list or 'all' (default {DEFAULT_PRESETS})")
    p.add_argument("--seeds", default=None, help="comma list (default 0,1,2; --quick: 0)")
    p.add_argument("--losses", default="", help="extra losses for the 2-D mixture presets: comma list or 'all'")
    p.add_argument("--jobs", type=int, default=2, help="runs at once, one thread each (default 2)")
    p.add_argument("--quick", action="store_true", help=f"{QUICK_FRACTION * 100:.0f}%% of each preset's steps, seed 0")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="override a config field in every run, e.g. --set steps=8000 (repeatable)")
    p.add_argument("--json", action="store_true", help="print rows and summaries as one JSON object")
    p.add_argument("--runs-dir", help="keep the runs here (default: a temporary directory, removed after)")
    a = p.parse_args(argv)
    try:
        a.overrides = parse_set(a.set)
    except ConfigError as e:
        p.error(str(e))
    a.presets = PRESETS.names() if a.presets == "all" else [s for s in a.presets.split(",") if s]
    a.losses = LOSSES.names() if a.losses == "all" else [s for s in a.losses.split(",") if s]
    bad = [n for n in a.presets if n not in PRESETS] + [n for n in a.losses if n not in LOSSES]
    if bad:
        p.error(f"unknown preset/loss {', '.join(bad)}; presets: {', '.join(PRESETS.names())}; "
                f"losses: {', '.join(LOSSES.names())}")
    try:
        a.seeds = [int(s) for s in (a.seeds or ("0" if a.quick else "0,1,2")).split(",") if s]
    except ValueError:
        p.error("--seeds must be a comma list of whole numbers, e.g. 0,1,2")
    if a.jobs < 1:
        p.error("--jobs must be at least 1")
    return a


def main(argv: Optional[list[str]] = None) -> int:
    a = parse_args(argv)
    jobs = plan(a.presets, a.seeds, a.losses, a.quick, a.overrides)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ganlab-quality-") as tmp:
        root = a.runs_dir or tmp
        os.makedirs(root, exist_ok=True)
        if not a.json:
            print(f"{len(jobs)} runs, {a.jobs} at a time, runs in {root}", file=sys.stderr, flush=True)
        with ProcessPoolExecutor(max_workers=a.jobs, mp_context=get_context("spawn")) as pool:
            futures = [pool.submit(run_one, job, root) for job in jobs]
            rows = []
            for fut in futures:
                rows.append(fut.result())
                if not a.json:
                    print("  done: " + " ".join(row_cells(rows[-1])[:4]), file=sys.stderr, flush=True)
    wall = time.perf_counter() - t0
    sums = summaries(rows)
    if a.json:
        print(json.dumps({"rows": rows, "summaries": sums, "wall_s": wall, "quick": a.quick, "jobs": a.jobs}))
        return 0
    print(table(rows))
    print()
    for s in sums:
        print(summary_line(s))
    print(f"\nwall time {wall:.0f} s for {len(rows)} runs ({a.jobs} at a time){' [quick]' if a.quick else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
