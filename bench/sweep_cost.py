"""What Ray costs a sweep: the same trials one after another in this process, then through ganlab.sweeps on Ray.

    python -m bench.sweep_cost [--preset ring8] [--trials 8] [--steps 300] [--json]

The trials are a sweep's (a grid over seeds of one preset), each trained exactly as a sweep trial
is (ganlab.sweeps.trial.run_trial: a RunSession, one CPU thread, one evaluation at the end), so the
two columns do the same work: first in a plain loop in this process, then by run_sweep on Ray's
embedded local cluster with one trial per CPU. The figures: both wall times and their ratio, the
Ray cluster's start-up, and the per-trial overhead: the trial-slot seconds Ray spent beyond the
sequential trials' own time (Ray's wall time after start-up, times the trials it ran at once,
minus the sequential total, per trial): process start, imports, scheduling. On a busy machine
only the ratio means anything; run it on an idle one for absolute figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from typing import Any, Optional

from ganlab.config.presets import preset_config
from ganlab.sweeps import SweepDir, SweepSpec, load_sweep, run_sweep
from ganlab.sweeps.driver import cluster_resources, start_ray
from ganlab.sweeps.trial import run_trial


def sweep_spec(preset: str, trials: int, steps: int) -> SweepSpec:
    base = preset_config(preset).replace(steps=steps, eval_every=steps, device="cpu").to_dict()
    return SweepSpec(base=base, seeds=list(range(trials)))


def sequential(spec: SweepSpec, runs_dir: str) -> float:
    """Every trial in this process, one after another, as a sweep trial trains (one thread)."""
    sweep = SweepDir.for_spec(runs_dir, spec)
    t0 = time.perf_counter()
    for trial in spec.trials():
        run_trial(sweep, trial, threads=1)
    return time.perf_counter() - t0


def on_ray(spec: SweepSpec, runs_dir: str) -> tuple[float, float, int]:
    """(wall seconds including Ray's start, Ray's start alone, trials at once)."""
    t0 = time.perf_counter()
    start_ray()
    started = time.perf_counter() - t0
    cpus, _ = cluster_resources()
    sweep_id = run_sweep(spec, runs_dir)
    wall = time.perf_counter() - t0
    info = load_sweep(runs_dir, sweep_id)
    bad = [t for t in info.trials if t.state != "finished"]
    if bad:
        raise SystemExit(f"{len(bad)} trials did not finish on Ray: {bad[0]}")
    return wall, started, min(cpus, len(info.trials))


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.sweep_cost", description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="ring8")
    ap.add_argument("--trials", type=int, default=8)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    spec = sweep_spec(a.preset, a.trials, a.steps)
    with tempfile.TemporaryDirectory(prefix="ganlab-sweep-cost-") as tmp:
        seq = sequential(spec, os.path.join(tmp, "sequential"))
        ray_wall, ray_start, at_once = on_ray(spec, os.path.join(tmp, "ray"))
    import ray

    ray.shutdown()
    n = a.trials
    overhead = ((ray_wall - ray_start) * at_once - seq) / n
    out: dict[str, Any] = {
        "command": " ".join(["python -m bench.sweep_cost", *sys.argv[1:]]) if argv is None else
        " ".join(["python -m bench.sweep_cost", *argv]),
        "preset": a.preset, "trials": n, "steps": a.steps, "cpu": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(), "load_1min": round(os.getloadavg()[0], 2),
        "sequential_s": round(seq, 2), "sequential_per_trial_s": round(seq / n, 2),
        "ray_s": round(ray_wall, 2), "ray_start_s": round(ray_start, 2), "ray_trials_at_once": at_once,
        "ratio_ray_over_sequential": round(ray_wall / seq, 3),
        "ratio_without_start": round((ray_wall - ray_start) / seq, 3),
        "per_trial_overhead_s": round(overhead, 2),
    }
    if a.json:
        print(json.dumps(out))
        return 0
    print(f"$ {out['command']}")
    print(f"{n} trials of {a.preset} at {a.steps} steps, {out['cpus']} CPUs (1-min load {out['load_1min']})")
    print(f"  sequential, one process : {seq:7.1f} s  ({seq / n:.1f} s per trial)")
    print(f"  Ray, {at_once} at once          : {ray_wall:7.1f} s  (cluster start {ray_start:.1f} s)")
    print(f"  ratio Ray / sequential  : {out['ratio_ray_over_sequential']:.2f} (without the start: "
          f"{out['ratio_without_start']:.2f})")
    print(f"  per-trial overhead      : {overhead:.1f} s of a trial slot (process start, imports, scheduling)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
