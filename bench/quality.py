"""Quality study: how good each recipe gets, on every seed and thread count, and how soon.

    python -m bench.quality                                        # ring8, grid25, digits presets; 5 seeds x 1,2 threads
    python -m bench.quality --presets none --datasets ring:5,grid:7,spiral   # the default recipe on each dataset
    python -m bench.quality --presets ring8-v0 --datasets ring8 --compare default,ring8-v0
    python -m bench.quality --presets ring8 --losses bce,hinge,wgan-gp --seeds 0 --threads 1
    python -m bench.quality --quick                                # a smoke run: 1 seed, 1 thread, a quarter of the steps
    python -m bench.quality --datasets ring8 --record              # write the expected times the Train page shows

What is trained, one row per (recipe, dataset, loss, seed, thread count):
  --presets   named presets (ganlab.config.presets) and the baselines kept here (BASELINES: the ring8 and
              grid25 presets as they were before the time-to-quality study, so a change can be measured
              against them in the same invocation); `none` for no preset rows
  --datasets  the default recipe on each dataset: the config `python -m ganlab train --dataset X --seed S`
              builds, through the CLI's own config builder (ganlab.cli), so the row is what a person gets
  --threads   each run's torch intra-op threads (GANLAB_THREADS): 1 is the dashboard's count on this 2-core
              box, 2 the CLI's. Runs go cores // threads at a time unless --jobs says otherwise.

Each row is one real run through ganlab.session.RunSession (what the CLI and the dashboard run), under a
temporary runs dir. Quality is measured twice:
  during training  metrics every `eval_every` steps (EVAL_EVERY per metric family unless --eval-every:
                   mixture 100, points 250, classifier 500 steps: ~1%, ~13% and ~32% more wall time), from
                   which each threshold of ganlab.evaluation.thresholds gets the step and the training
                   seconds (evaluation excluded) at which it was first met: the `reached` column, e.g.
                   `hq95@2600/31s`
  at the end       `python -m ganlab eval RUN_DIR --json`'s figures on the last checkpoint (2,500 points /
                   2,000 images, seeds 0..n-1):
  modes    covered / total mixture modes (a mode needs one sample within 3 std of its centre)
  HQ       high-quality rate: samples within 3 std of their nearest centre (a perfect sampler: 98.9% in 2-D)
  rKL      reverse KL of the mode histogram against uniform (0 = perfectly balanced)
  spread   pooled within-mode std of the HQ samples over what true samples inside the same disc have
  classes  class coverage from ganlab's own classifier (images)
  FD       classifier-feature Fréchet distance to real images, `floor` the FD between two halves of the real data
  SW       points: sliced Wasserstein to held-out points over its real-vs-real floor (1.0x = perfect)
  other    d2l Gaussian: mean error and W2; 1010: match rate; 2-D mixtures with a sigmoid loss: the same G
           through discriminator rejection sampling (modes, HQ, rKL, share kept)
  train_s  training seconds (the run's own clock, evaluation excluded)

The summary is the worst case per (recipe, dataset, loss) over seeds x threads: min modes, min HQ, max FD,
max SW ratio, and per threshold the latest step and seconds it was reached (or how many runs never did).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import tempfile
import time
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timezone
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Optional

from ganlab.config.recipes_points import POINTS  # a plain dict: no torch

DEFAULT_PRESETS = "ring8,grid25,digits"
DEFAULT_SEEDS = "0,1,2,3,4"
DEFAULT_THREADS = "1,2"
QUICK_FRACTION = 0.25
DEFAULT_LABEL = "default"  # the rows of the default recipe (--datasets), whatever recipe it names
# 0 for the other families: final figures only. One eval costs about 1.4 training steps on a mixture, 33 on other point
# data (energy distance on 2,000 points) and 160 on digits (classifier features, FD, PRDC), measured side by side on
# the 2-core box with one thread: these cadences add ~1%, ~13% and ~32% wall time, and none of it to train_s.
EVAL_EVERY = {"mixture": 100, "points": 250, "classifier": 500}
RECORD_PATH = Path(__file__).resolve().parents[1] / "ganlab" / "config" / "expected_times.json"

# The mixture presets as they were before the time-to-quality study (commit ff3fb7c): H5 changes the presets
# themselves, so the old recipe stays measurable here, e.g. --presets ring8-v0 --compare default,ring8-v0.
_MIXTURE_V0 = dict(arch="mlp", loss="bce", batch_size=256, lr_d=1e-3, lr_g=1e-3, beta1=0.5, g_hidden=[256, 256],
                   d_hidden=[256, 256], activation="relu", latent_dim=2, r1_weight=0.1, ema=0.99, snapshot_every=100)
BASELINES: dict[str, dict[str, Any]] = {
    "ring8-v0": dict(_MIXTURE_V0, dataset="ring8", steps=12000, g_hidden=[256, 256, 256]),
    "grid25-v0": dict(_MIXTURE_V0, dataset="grid25", steps=10000, g_hidden=[256, 256, 256], d_hidden=[256, 256, 256],
                      lr_g=5e-4, ema=0.999, latent_mixture=25, lr_schedule="linear"),
    # the point recipe from the ninth to the thirteenth session (1,000 islands, R1 0.3 throughout), on its presets'
    # data; on any other: --set latent_mixture=1000 --set r1_weight=0.3 --set r1_schedule=constant
    "ring8-v1": dict(POINTS, dataset="ring8", latent_mixture=1000, r1_weight=0.3, r1_schedule="constant"),
    "grid25-v1": dict(POINTS, dataset="grid25", latent_mixture=1000, r1_weight=0.3, r1_schedule="constant"),
    # the digits preset before the image recipes' study (commit ff3fb7c), e.g. --presets digits,digits-v0
    "digits-v0": dict(dataset="digits", arch="mlp", loss="bce", steps=4000, batch_size=128, lr_d=5e-4, lr_g=5e-4,
                      g_hidden=[256, 256], d_hidden=[256, 256], activation="leaky_relu", latent_dim=32, r1_weight=1.0,
                      ema=0.995, snapshot_every=200),
}


# ---------------------------------------------------------------- the plan
def _base_config(job: dict[str, Any]):
    """The RunConfig a job trains, before the bench's own bookkeeping fields."""
    from ganlab.config import RunConfig
    from ganlab.config.presets import preset_config

    over = job["overrides"]
    if job["source"] == "recipe":
        return recipe_config(job["dataset"], over)
    if job["source"] == "baseline":
        return RunConfig.from_dict({**BASELINES[job["name"]], "preset": job["name"], **over})
    return preset_config(job["name"]).replace(**over)


def recipe_config(dataset: str, given: dict[str, Any]):
    """What `python -m ganlab train --dataset X --set k=v ...` builds (the CLI's own builder, recipe included)."""
    from ganlab import cli

    argv = ["train", "--dataset", dataset]
    for k, v in given.items():
        argv += ["--set", f"{k}={','.join(map(str, v)) if isinstance(v, (list, tuple)) else v}"]
    return cli._train_config(cli.build_parser().parse_args(argv))


def recipe_name(cfg) -> str:
    """The recipe a default-recipe config carries (H4's RunConfig.recipe), else DEFAULT_LABEL."""
    return getattr(cfg, "recipe", "") or DEFAULT_LABEL


def plan(presets: list[str], seeds: list[int], losses: list[str], quick: bool,
         overrides: Optional[dict[str, Any]] = None, *, datasets: Iterable[str] = (),
         threads: Iterable[int] = (1,)) -> list[dict[str, Any]]:
    """One job per (preset or baseline or dataset's default recipe, loss, seed, thread count); extra losses only
    for the 2-D mixture rows (their other settings unchanged)."""
    from ganlab.config.presets import PRESETS

    sources = [("baseline" if name in BASELINES else "preset", name, None) for name in presets]
    sources += [("recipe", DEFAULT_LABEL, d) for d in datasets]
    jobs = []
    for source, name, dataset in sources:
        if source == "preset" and name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}")
        base = {"source": source, "name": name, "dataset": dataset, "overrides": dict(overrides or {})}
        cfg = _base_config(base)
        extra = [loss for loss in losses if loss != cfg.loss] if _family(cfg) == "mixture" and source != "recipe" else []
        for loss in [cfg.loss, *extra]:
            for t in threads:
                for seed in seeds:
                    over: dict[str, Any] = {**(overrides or {}), "seed": seed}
                    if loss != cfg.loss:
                        over["loss"] = loss
                    if quick:
                        over["steps"] = max(1, int(cfg.steps * QUICK_FRACTION))
                    jobs.append({**base, "dataset": cfg.dataset, "threads": int(t), "overrides": over})
    return jobs


def _family(cfg) -> str:
    from ganlab.data import dataset_spec, metric_family

    return metric_family(cfg.dataset, dataset_spec(cfg.dataset))


def job_config(job: dict[str, Any], eval_every: Optional[int] = None):
    """The job's config with the bench's cadence: metrics every EVAL_EVERY[family] steps (unless given), one
    checkpoint at the end (a run stopped early by stop_at writes its own)."""
    from ganlab.config.validate import validate_config

    cfg = _base_config(job)
    every = EVAL_EVERY.get(_family(cfg), 0) if eval_every is None else eval_every
    cfg = cfg.replace(device="cpu", eval_every=every, checkpoint_every=10 ** 8, keep_checkpoints=1)
    validate_config(cfg)
    return cfg


# ---------------------------------------------------------------- one run
def run_one(job: dict[str, Any], runs_root: str, eval_every: Optional[int] = None) -> dict[str, Any]:
    """Train one job in this process at its thread count; its reached-at marks and its last checkpoint's figures."""
    import torch

    threads = job.get("threads", 1)
    torch.set_num_threads(threads)
    os.environ["GANLAB_THREADS"] = str(threads)
    from ganlab.evaluation.evaluate import evaluate_run
    from ganlab.evaluation.metrics import to_json
    from ganlab.evaluation.samplers import drs_problem
    from ganlab.evaluation.thresholds import reached_at
    from ganlab.game.losses import LOSSES
    from ganlab.session import RunSession

    cfg = job_config(job, eval_every)
    family = _family(cfg)
    label = recipe_name(cfg) if job["source"] == "recipe" else job["name"]
    row: dict[str, Any] = {"recipe": label, "source": job["source"], "dataset": cfg.dataset, "family": family,
                           "loss": cfg.loss, "seed": cfg.seed, "threads": threads, "steps": cfg.steps,
                           "eval_every": cfg.eval_every}
    session = RunSession.new(cfg, runs_root)
    t0 = time.perf_counter()
    out = session.run_training()
    row["wall_s"] = time.perf_counter() - t0
    history = session.run.history()
    row["train_s"] = float(history[-1]["time"]) if history else row["wall_s"]
    row["step"] = out.step
    row["reached"] = {name: list(v) for name, v in reached_at(history, family).items()}
    if out.state not in ("finished", "stopped"):
        row["error"] = out.error or out.state
        return row
    t1 = time.perf_counter()
    row.update(to_json(evaluate_run(session.run)))
    row["eval_s"] = time.perf_counter() - t1
    if family == "mixture" and drs_problem(LOSSES.get(cfg.loss)) is None:  # the same G filtered by its D
        drs = to_json(evaluate_run(session.run, sampler="drs"))
        row["drs"] = {k: drs[k] for k in ("modes_covered", "high_quality_rate", "reverse_kl", "acceptance_rate")}
    return row


# ---------------------------------------------------------------- the table
def _fmt(v: Any, spec: str = "") -> str:
    return "-" if v is None else format(v, spec)


def _ratio(r: dict[str, Any], key: str, floor_key: str) -> Optional[float]:
    v, f = r.get(key), r.get(floor_key)
    if not isinstance(v, (int, float)) or not isinstance(f, (int, float)) or not math.isfinite(v):
        return None
    return v / max(f, 1e-12)


def reached_text(reached: dict[str, Any]) -> str:
    """`modes@400/3s hq95@2600/31s`: each threshold met, at the step and training seconds it first was."""
    return " ".join(f"{name}@{step}/{secs:.0f}s" for name, (step, secs) in reached.items()) or "none"


def row_cells(r: dict[str, Any]) -> list[str]:
    head = [r["recipe"], r["dataset"], r["loss"], str(r["seed"]), str(r.get("threads", 1)), str(r["steps"])]
    if "error" in r:
        return head + ["diverged" if "diverg" in r["error"] else "failed"] + [""] * 9 + [
            reached_text(r.get("reached", {})), f"{r['train_s']:.0f}"]
    has_modes = "modes_total" in r
    modes = f"{r['modes_covered']}/{r['modes_total']}" if has_modes else ""
    hq = f"{100 * r['high_quality_rate']:.1f}%" if "high_quality_rate" in r else ""
    rkl = _fmt(r.get("reverse_kl"), ".3f") if has_modes else ""
    spread = _fmt(r.get("spread"), ".2f") if has_modes else ""
    classes = f"{r['class_coverage']}/{r['classes_total']}" if "class_coverage" in r else ""
    fd = _fmt(r.get("fd"), ".2f") if "fd" in r else ""
    floor = _fmt(r.get("fd_real_split"), ".2f") if "fd_real_split" in r else ""
    sw = _ratio(r, "sliced_wasserstein", "sliced_wasserstein_floor")
    sw_text = f"{sw:.2f}x" if sw is not None else ("nan" if "sliced_wasserstein" in r else "")
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
    return head + [modes, hq, rkl, spread, classes, fd, floor, sw_text, conf, other,
                   reached_text(r.get("reached", {})), f"{r['train_s']:.0f}"]


HEADER = ["recipe", "dataset", "loss", "seed", "thr", "steps", "modes", "HQ", "rKL", "spread", "classes", "FD", "floor",
          "SW", "conf", "other", "reached (step/train s)", "train_s"]


def table(rows: list[dict[str, Any]]) -> str:
    cells = [HEADER] + [row_cells(r) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(HEADER))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |" for row in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


# ---------------------------------------------------------------- worst cases, comparisons
def _key(r: dict[str, Any]) -> tuple[str, str, str]:
    return r["recipe"], r["dataset"], r["loss"]


def _threshold_names(rows: list[dict[str, Any]]) -> list[str]:
    from ganlab.evaluation.thresholds import thresholds_for

    families = dict.fromkeys(r.get("family", "") for r in rows)
    return [t.name for f in families for t in thresholds_for(f)]


def summaries(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (recipe, dataset, loss): the worst case over seeds x threads, which is what 'every seed' claims rest on."""
    out = []
    for key in dict.fromkeys(map(_key, rows)):
        rs = [r for r in rows if _key(r) == key]
        ok = [r for r in rs if "error" not in r]
        s: dict[str, Any] = {"recipe": key[0], "dataset": key[1], "loss": key[2], "runs": len(rs),
                             "seeds": sorted({r["seed"] for r in rs}), "threads": sorted({r.get("threads", 1) for r in rs}),
                             "failed": len(rs) - len(ok), "mean_train_s": sum(r["train_s"] for r in rs) / len(rs)}
        if ok and "modes_total" in ok[0]:
            s.update({"min_modes": min(r["modes_covered"] for r in ok), "modes_total": ok[0]["modes_total"],
                      "min_hq": min(r["high_quality_rate"] for r in ok)})
        if ok and "class_coverage" in ok[0]:
            s.update({"min_classes": min(r["class_coverage"] for r in ok), "classes_total": ok[0]["classes_total"],
                      "max_fd": max(r["fd"] for r in ok), "fd_floor": ok[0]["fd_real_split"]})
        ratios = [_ratio(r, "sliced_wasserstein", "sliced_wasserstein_floor") for r in ok if "sliced_wasserstein" in r]
        if ratios:
            s["max_sw_ratio"] = math.inf if None in ratios else max(ratios)
        reached: dict[str, Any] = {}
        for name in _threshold_names(rs):
            hits = [r["reached"][name] for r in rs if name in r.get("reached", {})]
            reached[name] = {"runs": len(hits), "of": len(rs),
                             "latest_step": max((h[0] for h in hits), default=None),
                             "latest_s": max((h[1] for h in hits), default=None),
                             "mean_s": sum(h[1] for h in hits) / len(hits) if hits else None}
        s["reached"] = reached
        out.append(s)
    return out


def summary_line(s: dict[str, Any]) -> str:
    parts = [f"{s['recipe']} on {s['dataset']} / {s['loss']}: {s['runs']} run(s) (seeds {_span(s['seeds'])}, "
             f"threads {','.join(map(str, s['threads']))})"]
    if "min_modes" in s:
        parts.append(f"min modes {s['min_modes']}/{s['modes_total']}, min HQ {100 * s['min_hq']:.1f}%")
    if "min_classes" in s:
        parts.append(f"min classes {s['min_classes']}/{s['classes_total']}, max FD {s['max_fd']:.2f} "
                     f"(real floor {s['fd_floor']:.2f})")
    if "max_sw_ratio" in s:
        parts.append(f"max SW {s['max_sw_ratio']:.2f}x its floor")
    if s["failed"]:
        parts.append(f"{s['failed']} failed or diverged")
    parts.append(f"mean train {s['mean_train_s']:.0f} s")
    marks = []
    for name, r in s.get("reached", {}).items():
        if r["runs"] == r["of"]:
            marks.append(f"{name} by step {r['latest_step']} / {r['latest_s']:.0f} s")
        else:
            marks.append(f"{name} in {r['runs']}/{r['of']}")
    if marks:
        parts.append("every run reached " + "; ".join(marks) if all("by step" in m for m in marks)
                     else "reached: " + "; ".join(marks))
    return ", ".join(parts)


def _span(seeds: list[int]) -> str:
    return f"{seeds[0]}-{seeds[-1]}" if len(seeds) > 2 and seeds == list(range(seeds[0], seeds[-1] + 1)) else \
        ",".join(map(str, seeds))


def _matches(label: str, r: dict[str, Any]) -> bool:
    return r["recipe"] == label or (label == DEFAULT_LABEL and r["source"] == "recipe")


def compare(rows: list[dict[str, Any]], a: str, b: str) -> list[dict[str, Any]]:
    """Per dataset both labels ran on, and per threshold: mean training seconds to it for A over B (only where every
    run of both reached it), and the same ratio for the whole run ("end")."""
    out = []
    datasets = dict.fromkeys(r["dataset"] for r in rows)
    for d in datasets:
        ra = [r for r in rows if r["dataset"] == d and _matches(a, r)]
        rb = [r for r in rows if r["dataset"] == d and _matches(b, r)]
        if not ra or not rb:
            continue
        entry: dict[str, Any] = {"dataset": d, "a": a, "b": b, "runs": [len(ra), len(rb)], "thresholds": {}}
        ea, eb = (sum(r["train_s"] for r in rs) / len(rs) for rs in (ra, rb))
        for name in dict.fromkeys(_threshold_names(ra + rb)):
            ha = [r["reached"][name][1] for r in ra if name in r.get("reached", {})]
            hb = [r["reached"][name][1] for r in rb if name in r.get("reached", {})]
            t: dict[str, Any] = {"reached": [len(ha), len(hb)]}
            if len(ha) == len(ra) and len(hb) == len(rb):
                ma, mb = sum(ha) / len(ha), sum(hb) / len(hb)
                t.update({"mean_s": [ma, mb], "ratio": ma / mb if mb > 0 else None})
            if len(ha) == len(ra) and eb > 0:  # A's time to it against B's whole run (issue #21's measure)
                t["vs_b_run"] = (sum(ha) / len(ha)) / eb
            entry["thresholds"][name] = t
        entry["end"] = {"mean_s": [ea, eb], "ratio": ea / eb if eb > 0 else None}
        out.append(entry)
    return out


def compare_lines(entries: list[dict[str, Any]]) -> list[str]:
    lines = []
    for e in entries:
        parts = []
        for name, t in e["thresholds"].items():
            if t.get("ratio") is not None:
                parts.append(f"{name} {t['mean_s'][0]:.0f} s / {t['mean_s'][1]:.0f} s = {t['ratio']:.2f}x")
            else:
                parts.append(f"{name} reached by {t['reached'][0]}/{e['runs'][0]} vs {t['reached'][1]}/{e['runs'][1]}")
        end = e["end"]
        parts.append(f"end {end['mean_s'][0]:.0f} s / {end['mean_s'][1]:.0f} s = {_fmt(end['ratio'], '.2f')}x")
        whole = [f"{name} {t['vs_b_run']:.2f}x" for name, t in e["thresholds"].items() if t.get("vs_b_run") is not None]
        if whole:
            parts.append(f"{e['a']}'s time to each threshold over {e['b']}'s whole run: {', '.join(whole)}")
        lines.append(f"{e['a']} vs {e['b']} on {e['dataset']} (mean training seconds): " + "; ".join(parts))
    return lines


# ---------------------------------------------------------------- --record
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _round(seconds: float) -> float:
    return round(float(seconds), 1)


def expected_entries(rows: list[dict[str, Any]], *, date: str, cpu: str, load: Optional[float] = None
                     ) -> list[dict[str, Any]]:
    """One entry per (recipe, dataset, loss, thread count): the headline threshold's mean and worst training
    seconds over the seeds (None when a seed never reached it) and the mean seconds to the last step."""
    from ganlab.evaluation.thresholds import HEADLINE, resolve

    out = []
    keys = dict.fromkeys((*_key(r), r.get("threads", 1)) for r in rows)
    for recipe, dataset, loss, threads in keys:
        rs = [r for r in rows if (*_key(r), r.get("threads", 1)) == (recipe, dataset, loss, threads)]
        family = rs[0].get("family", "")
        headline = HEADLINE.get(family, "")
        threshold = resolve(family, headline) if headline else None
        hits = [r["reached"][headline] for r in rs if headline in r.get("reached", {})]
        every = bool(hits) and len(hits) == len(rs)
        out.append({
            "recipe": recipe, "source": rs[0]["source"], "dataset": dataset, "family": family, "loss": loss,
            "threads": threads, "steps": rs[0]["steps"], "seeds": len(rs),
            "threshold": headline, "threshold_label": threshold.label if threshold else "",
            "reached": len(hits),
            "seconds_to_threshold": _round(sum(h[1] for h in hits) / len(hits)) if every else None,
            "worst_seconds_to_threshold": _round(max(h[1] for h in hits)) if every else None,
            "worst_step_to_threshold": max(h[0] for h in hits) if every else None,
            "seconds_to_end": _round(sum(r["train_s"] for r in rs) / len(rs)),
            "date": date, "cpu": cpu, "load_average": load,  # a busy machine's seconds are longer: say how busy
        })
    return out


def record(rows: list[dict[str, Any]], path: Path = RECORD_PATH) -> list[dict[str, Any]]:
    """Merge this study's entries into the JSON ganlab.config.timing reads: an entry for the same (recipe, dataset,
    loss, threads) is replaced, the others are kept (studies of other recipes recorded before)."""
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    new = expected_entries([r for r in rows if "error" not in r or r.get("reached")], date=date, cpu=cpu_model(),
                           load=round(os.getloadavg()[0], 1) if hasattr(os, "getloadavg") else None)
    try:
        old = json.loads(path.read_text()).get("measured", [])
    except (OSError, ValueError, AttributeError):
        old = []

    def key(e: dict[str, Any]) -> tuple:
        return e["recipe"], e["dataset"], e["loss"], e["threads"]

    fresh = {key(e) for e in new}
    merged = [e for e in old if isinstance(e, dict) and key(e) not in fresh] + new
    doc = {"about": "training seconds to each recipe's headline quality threshold and to its last step, measured by "
                    "`python -m bench.quality --record` (ganlab.config.timing reads it)", "measured": merged}
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    os.replace(tmp, path)
    return new


# ---------------------------------------------------------------- command line
def _ints(text: str, flag: str, p: argparse.ArgumentParser) -> list[int]:
    try:
        values = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        p.error(f"{flag} must be a comma list of whole numbers, e.g. 0,1,2")
    if not values:
        p.error(f"{flag} needs at least one value")
    return values


def parse_args(argv: Optional[list[str]]) -> argparse.Namespace:
    from ganlab.config import ConfigError, parse_set
    from ganlab.config.presets import PRESETS
    from ganlab.data import DataError, dataset_spec
    from ganlab.game.losses import LOSSES

    p = argparse.ArgumentParser(prog="python -m bench.quality", description=__doc__.splitlines()[0])
    p.add_argument("--presets", default=None, help=f"comma list, 'all' or 'none' (default {DEFAULT_PRESETS}; with "
                   f"--datasets: none); baselines: {', '.join(BASELINES)}")
    p.add_argument("--datasets", default="", help="the default recipe on each of these datasets (comma list; a family "
                   "with parameters keeps its commas inside, e.g. ring:12,radius=3 is one dataset; separate with ';' "
                   "then)")
    p.add_argument("--seeds", default=None, help=f"comma list (default {DEFAULT_SEEDS}; --quick: 0)")
    p.add_argument("--threads", default=None, help=f"thread counts, each run at each (default {DEFAULT_THREADS}; "
                   "--quick: 1)")
    p.add_argument("--losses", default="", help="extra losses for the 2-D mixture presets: comma list or 'all'")
    p.add_argument("--jobs", type=int, default=0, help="runs at once (default: CPU cores // the runs' thread count)")
    p.add_argument("--eval-every", type=int, default=None,
                   help="steps between metrics during training (default per family: " +
                        ", ".join(f"{k} {v}" for k, v in EVAL_EVERY.items()) + ")")
    p.add_argument("--quick", action="store_true", help=f"{QUICK_FRACTION * 100:.0f}%% of each run's steps, seed 0, "
                   "1 thread")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="override a config field in every run, e.g. --set steps=8000 (repeatable)")
    p.add_argument("--compare", action="append", default=[], metavar="A,B",
                   help="print mean training seconds to each threshold of recipe A over recipe B, and over B's whole "
                   f"run, on each dataset both ran on ('{DEFAULT_LABEL}' = the default recipe; repeatable)")
    p.add_argument("--record", action="store_true", help=f"write the expected times to {RECORD_PATH.name} "
                   "(ganlab.config.timing; the Train page shows them)")
    p.add_argument("--json", action="store_true", help="print rows and summaries as one JSON object")
    p.add_argument("--runs-dir", help="keep the runs here (default: a temporary directory, removed after)")
    a = p.parse_args(argv)
    try:
        a.overrides = parse_set(a.set)
    except ConfigError as e:
        p.error(str(e))
    a.datasets = split_datasets(a.datasets)
    presets = a.presets if a.presets is not None else ("none" if a.datasets else DEFAULT_PRESETS)
    known = [*PRESETS.names(), *BASELINES]
    a.presets = (PRESETS.names() if presets == "all" else [] if presets == "none"
                 else [s for s in presets.split(",") if s])
    a.losses = LOSSES.names() if a.losses == "all" else [s for s in a.losses.split(",") if s]
    bad = [n for n in a.presets if n not in known] + [n for n in a.losses if n not in LOSSES]
    if bad:
        p.error(f"unknown preset/loss {', '.join(bad)}; presets: {', '.join(known)}; losses: {', '.join(LOSSES.names())}")
    for d in a.datasets:
        try:
            dataset_spec(d)
        except DataError as e:
            p.error(str(e))
    if not a.presets and not a.datasets:
        p.error("nothing to train: give --presets or --datasets")
    a.seeds = _ints(a.seeds or ("0" if a.quick else DEFAULT_SEEDS), "--seeds", p)
    a.threads = _ints(a.threads or ("1" if a.quick else DEFAULT_THREADS), "--threads", p)
    if min(a.threads) < 1:
        p.error("--threads must be at least 1")
    if a.jobs < 0:
        p.error("--jobs must be at least 1")
    if a.eval_every is not None and a.eval_every < 0:
        p.error("--eval-every must be 0 (final figures only) or more")
    a.compare = [[s for s in pair.split(",") if s] for pair in a.compare]
    if any(len(pair) != 2 for pair in a.compare):
        p.error("--compare takes two recipe names, e.g. default,ring8-v0")
    return a


def split_datasets(text: str) -> list[str]:
    """`ring:5,grid:7,mnist` -> three names; a family's own `k=v` parameters stay with it (`ring:12,radius=3`)."""
    if ";" in text:
        return [s.strip() for s in text.split(";") if s.strip()]
    out: list[str] = []
    for part in (s.strip() for s in text.split(",")):
        if not part:
            continue
        if "=" in part and out:
            out[-1] += "," + part
        else:
            out.append(part)
    return out


def _workers(jobs: int, threads: int) -> int:
    if jobs:
        return jobs
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    return max(1, cores // threads)


def _die_with_parent(parent: int) -> None:
    """Pool initializer: a worker ends when the driver does. A driver that is killed (Ctrl-C in another shell, a
    timeout's SIGTERM, SIGKILL) never runs the pool's shutdown, and a spawned worker would train on unseen, loading
    the box under the next measurement. Linux's PR_SET_PDEATHSIG sends the worker SIGTERM when its parent goes;
    elsewhere the worker keeps the old behaviour."""
    import ctypes
    import signal

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # not Linux
        return
    prctl(1, int(signal.SIGTERM))  # 1 = PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the driver died before the signal was armed
        os._exit(1)


def run_all(jobs: list[dict[str, Any]], root: str, *, workers: int = 0, eval_every: Optional[int] = None,
            progress=None) -> list[dict[str, Any]]:
    """Every job, each thread count in its own pool (runs at 2 threads go one at a time on 2 cores), rows in plan
    order."""
    rows: dict[int, dict[str, Any]] = {}
    for threads in dict.fromkeys(j["threads"] for j in jobs):
        idx = [i for i, j in enumerate(jobs) if j["threads"] == threads]
        with ProcessPoolExecutor(max_workers=_workers(workers, threads), mp_context=get_context("spawn"),
                                 initializer=_die_with_parent, initargs=(os.getpid(),)) as pool:
            futures = {i: pool.submit(run_one, jobs[i], root, eval_every) for i in idx}
            for i, fut in futures.items():
                rows[i] = fut.result()
                if progress is not None:
                    progress(rows[i])
    return [rows[i] for i in range(len(jobs))]


def main(argv: Optional[list[str]] = None) -> int:
    a = parse_args(argv)
    jobs = plan(a.presets, a.seeds, a.losses, a.quick, a.overrides, datasets=a.datasets, threads=a.threads)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ganlab-quality-") as tmp:
        root = a.runs_dir or tmp
        os.makedirs(root, exist_ok=True)
        if not a.json:
            print(f"{len(jobs)} runs ({', '.join(f'{t} thread(s): {_workers(a.jobs, t)} at a time' for t in a.threads)}), "
                  f"runs in {root}", file=sys.stderr, flush=True)
        show = None if a.json else (lambda r: print("  done: " + " ".join(row_cells(r)[:6]), file=sys.stderr, flush=True))
        rows = run_all(jobs, root, workers=a.jobs, eval_every=a.eval_every, progress=show)
    wall = time.perf_counter() - t0
    sums = summaries(rows)
    comp = [entry for pair in a.compare for entry in compare(rows, *pair)]
    recorded = record(rows) if a.record else []
    if a.json:
        print(json.dumps({"rows": rows, "summaries": sums, "compare": comp, "recorded": recorded, "wall_s": wall,
                          "quick": a.quick, "jobs": a.jobs, "threads": a.threads, "cpu": cpu_model()}))
        return 0
    print(table(rows))
    print()
    for s in sums:
        print(summary_line(s))
    for line in compare_lines(comp):
        print(line)
    if recorded:
        print(f"recorded {len(recorded)} expected time(s) in {RECORD_PATH}")
    print(f"\nwall time {wall:.0f} s for {len(rows)} runs on {cpu_model()}{' [quick]' if a.quick else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
