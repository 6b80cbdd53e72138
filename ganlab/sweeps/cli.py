"""`python -m ganlab sweep ...` and `python -m ganlab sweeps`: the sweep commands, on ganlab.cli's boundary.

`sweep` takes every flag `train` takes (its parser is built from train's), so the base config is
built by the same function `train` uses (ganlab.cli passes it in: this module never imports the
CLI). Every input is checked before Ray starts: a bad field or value, an empty grid, a --range on
a field that is not a number, a scheduler without a metric, a metric the dataset does not report.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..config import RunConfig
from ..config.validate import validate_config
from ..errors import ConfigError, UsageError
from ..paths import runs_dir
from ..store.files import read_json_object
from .metrics import check_metric, default_mode
from .spec import SweepSpec, parse_grid, parse_range, parse_seeds
from .store import SweepDir, SweepInfo, TrialInfo, default_metric, list_sweeps

# train flags a sweep has no use for: each trial is a new run, trained quietly on a worker
NOT_FOR_SWEEPS = ("lr_scale", "download")


def add_parsers(sub, train: argparse.ArgumentParser) -> None:
    """`sweep` (train's flags plus the sweep's own) and `sweeps` on the CLI's subparsers."""
    s = sub.add_parser("sweep", parents=[train], conflict_handler="resolve",
                       help="run many trials (a grid, seeds, random search) on Ray; each is a run directory")
    s.add_argument("--grid", action="append", default=[], metavar="FIELD=V1,V2",
                   help="a RunConfig field and its values (repeatable; list fields separate values with ;)")
    s.add_argument("--seeds", help="seeds, e.g. 0,1,2 or 0-4: every combination once per seed")
    s.add_argument("--samples", type=int, default=0, help="random search: this many draws from the --range fields")
    s.add_argument("--range", action="append", default=[], metavar="FIELD=LO:HI[:log|:int]",
                   help="a number field the random search draws from (repeatable)")
    s.add_argument("--sample-seed", type=int, default=0, help="the random search's seed (the same seed, the same draws)")
    s.add_argument("--scheduler", default="", help="asha: stop weak trials early on --metric (Ray Tune's ASHAScheduler)")
    s.add_argument("--metric", default="", help="the quality metric to compare on, e.g. high_quality_rate or fd")
    s.add_argument("--mode", default="", help="max or min: which way --metric is better (default: the metric's own)")
    s.add_argument("--max-concurrent", type=int, default=0, help="trials at once (default: one per CPU Ray sees)")
    s.add_argument("--address", help="join the Ray cluster at this address (default: start a local one)")
    s.add_argument("--resume", metavar="SWEEP_ID", help="run what is missing of an earlier sweep (see `ganlab sweeps`)")
    s.add_argument("--spec-file", help="a sweep spec JSON (what the Sweeps page writes) instead of the flags")

    ls = sub.add_parser("sweeps", help="list sweeps: id, what varies, trials done, state, best metric")
    ls.add_argument("--runs-dir")


# ------------------------------------------------------------------ building the spec
def _base(a: argparse.Namespace, build_config: Callable[[argparse.Namespace], RunConfig]) -> dict:
    """train's config for the flags given (SweepSpec then makes sure every trial is scored)."""
    return build_config(argparse.Namespace(**{**vars(a), "resume": None, "lr_scale": None})).to_dict()


def spec_from_args(a: argparse.Namespace, build_config: Callable[[argparse.Namespace], RunConfig]) -> SweepSpec:
    for name in NOT_FOR_SWEEPS:
        if getattr(a, name, None):
            raise UsageError(f"--{name.replace('_', '-')} does not go with sweep: "
                             + ("each trial is a new run" if name == "lr_scale" else
                                "download the dataset first with `python -m ganlab train --download ...`"))
    if a.spec_file or a.resume:
        given = [f for f in ("grid", "range", "seeds", "samples", "scheduler", "metric", "preset", "config", "set", "dataset",
                             "arch", "loss", "steps", "batch_size", "seed", "device")
                 if getattr(a, f, None)]
        if given:
            source = "--spec-file" if a.spec_file else "--resume"
            raise UsageError(f"--{given[0].replace('_', '-')} cannot go with {source}: the sweep's spec says what it runs")
        if a.spec_file:
            return SweepSpec.from_dict(read_json_object(Path(a.spec_file)))
        return SweepDir.open(runs_dir(a.runs_dir), a.resume).spec()
    mode = a.mode or default_mode(a.metric)
    return SweepSpec(base=_base(a, build_config), grid=parse_grid(a.grid), seeds=parse_seeds(a.seeds),
                     samples=a.samples, ranges=parse_range(a.range), scheduler=a.scheduler, metric=a.metric, mode=mode,
                     sample_seed=a.sample_seed, max_concurrent=a.max_concurrent, data_root=a.data_root or "")


def check_spec(spec: SweepSpec) -> None:
    """Every trial's config through the config's own checks, and the metric against the data: before Ray."""
    trials = spec.trials()
    if not trials:
        raise ConfigError("this sweep has no trials; give --grid values or --samples")
    data_root = spec.data_root or None
    for t in trials:
        validate_config(t.config, data_root)
    if spec.metric:
        check_metric(spec.metric, [t.config for t in trials], data_root)


# ------------------------------------------------------------------ the commands
def cmd_sweep(a: argparse.Namespace, build_config: Callable[[argparse.Namespace], RunConfig]) -> int:
    spec = spec_from_args(a, build_config)
    check_spec(spec)
    root = runs_dir(a.runs_dir)
    from . import run_sweep

    def on_start(sweep: SweepDir, trials: list[TrialInfo]) -> None:
        done = sum(t.state in ("finished", "pruned") for t in trials)
        skipped = f", {done} already done" if done else ""
        print(f"sweep {sweep.id}: {len(trials)} trials{skipped}; runs in {root}", flush=True)

    def on_trial_end(t: TrialInfo) -> None:
        print(trial_line(t, spec.metric), flush=True)

    sweep_id = run_sweep(spec, root, a.address, on_start=on_start, on_trial_end=on_trial_end)
    info = SweepDir.open(root, sweep_id).info()
    print(table(info))
    if info.state != "finished":
        print(f"sweep {sweep_id} {info.state}: {info.error}; run the same command again (or --resume {sweep_id}) "
              f"to finish what is missing")
        return 1
    return 0


def cmd_sweeps(a: argparse.Namespace) -> int:
    for info in list_sweeps(runs_dir(a.runs_dir)):
        best = info.best()
        metric = info.metric
        best_text = f"best {metric} {_value(best.metrics[metric])} ({best.run_id})" if best else "-"
        print(f"{info.id}\t{info.spec.summary()}\t{info.done}/{len(info.trials)} done\t{info.state}\t{best_text}")
    return 0


# ------------------------------------------------------------------ output
def _value(v: Any) -> str:
    if isinstance(v, float) and math.isfinite(v) and v != int(v):
        return f"{v:.4g}"
    return str(int(v)) if isinstance(v, float) and math.isfinite(v) else str(v)


def _params(t: TrialInfo) -> str:
    return " ".join(f"{k}={v}" for k, v in t.params.items()) or "-"


def trial_line(t: TrialInfo, metric: str = "") -> str:
    metric = metric or default_metric([t])
    score = f" {metric} {_value(t.metrics[metric])}" if metric in t.metrics else ""
    return f"{t.key} {t.state} {t.run_id or '-'} {_params(t)} seed {t.seed} step {t.step}/{t.steps}{score}"


def table(info: SweepInfo) -> str:
    """The sweep's trials, best first on its metric (trials without a value last)."""
    metric = info.metric
    sign = -1 if info.spec.mode == "max" else 1

    def order(t: TrialInfo):
        v = t.metrics.get(metric)
        ok = isinstance(v, (int, float)) and math.isfinite(v)
        return (not ok, sign * v if ok else 0.0, t.key)

    rows = [("trial", "state", "run", "params", "seed", "step", metric or "metric")]
    rows += [(t.key, t.state, t.run_id or "-", _params(t), str(t.seed), f"{t.step}/{t.steps}",
              _value(t.metrics[metric]) if metric in t.metrics else "-") for t in sorted(info.trials, key=order)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)
