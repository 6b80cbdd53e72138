"""What each torch-internal shortcut of ganlab.training.fastpath buys, on the workloads of bench/speed.py.

    python -m bench.fastpath [--quick] [--json] [--workloads gauss2d,mlp28,...] [--rounds N]

For each workload (gauss2d, mlp28, dcgan32; dcgan64 too without --quick) ganlab's Trainer is
built several times in one process, each with a different set of shortcuts (GANLAB_FASTPATH, read
at the build): all on, all off, and all on but one, for each shortcut. The variants alternate in
rounds (A B C, C B A, ...), so machine noise hits all of them alike, and each figure is a median
over rounds. A shortcut's gain is steps/s with all on over steps/s with all on but it, as the
median of the per-round ratios (each round's segments ran side by side). Steps/s are given by the
wall clock and per CPU-second of the process. All variants give the same numbers
(tests/test_fastpath.py), so only the time differs. The shortcuts save Python time, which one
intra-op thread shows as well as two: on a shared machine `GANLAB_THREADS=1` keeps the neighbours'
load from stalling a second thread.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Optional

from bench.speed import WL, GanlabLoop, machine
from ganlab.training import fastpath, resolve_device

WORKLOADS = ("gauss2d", "mlp28", "dcgan32", "dcgan64")


@contextmanager
def _switch(names: frozenset[str]) -> Iterator[None]:
    """GANLAB_FASTPATH set to exactly these shortcuts while a Trainer is built."""
    prev = os.environ.get(fastpath.ENV)
    os.environ[fastpath.ENV] = ",".join(sorted(names)) or "0"
    try:
        yield
    finally:
        if prev is None:
            os.environ.pop(fastpath.ENV, None)
        else:
            os.environ[fastpath.ENV] = prev


def variants() -> dict[str, frozenset[str]]:
    """{variant: its shortcuts}: all on, all off, and all on but one ("-step"), for each shortcut."""
    every = frozenset(fastpath.SHORTCUTS)
    return {"on": every, "off": frozenset(), **{f"-{n}": every - {n} for n in fastpath.SHORTCUTS}}


def _median(xs: list[float]) -> float:
    return float(statistics.median(xs)) if xs else float("nan")


def measure(wl_name: str, dev, *, rounds: int, segment_s: float) -> dict[str, Any]:
    """Alternating rounds over one Trainer per variant; medians of steps/s and of the per-round ratios to "on"."""
    wl = WL[wl_name]
    loops = {}
    for k, names in variants().items():
        with _switch(names):
            loops[k] = GanlabLoop(wl, dev)
        loops[k].run(2 if wl.min_steps > 1 else 1)  # warm-up: allocator, oneDNN plans, the first optimizer step
    used = {k: sorted(loop.trainer.fast.on) for k, loop in loops.items()}
    wall: dict[str, list[float]] = {k: [] for k in loops}
    cpu: dict[str, list[float]] = {k: [] for k in loops}  # steps per CPU-second of this process
    n_steps = {k: wl.min_steps for k in loops}
    order = list(loops)
    for r in range(rounds):
        for k in (order if r % 2 == 0 else order[::-1]):
            c0 = time.process_time()
            wall[k].append(loops[k].run(n_steps[k]))
            cpu[k].append(n_steps[k] / max(time.process_time() - c0, 1e-9))
            n_steps[k] = max(wl.min_steps, int(segment_s * wall[k][-1]))
    return {"workload": wl_name, "rounds": rounds, "shortcuts_in_use": used,
            "steps_per_s": {k: _median(v) for k, v in wall.items()},
            "cpu_steps_per_s": {k: _median(v) for k, v in cpu.items()},
            "best_steps_per_s": {k: max(v) for k, v in wall.items()},  # the least disturbed segment of each
            **_gains(wall, "wall"), **_gains(cpu, "cpu")}


def _gains(rates: dict[str, list[float]], clock: str) -> dict[str, Any]:
    """Each variant's "on" / it: the median of the per-round ratios (each round's segments ran side by side), and their range."""
    ratios = {k: [a / b for a, b in zip(rates["on"], v)] for k, v in rates.items() if k != "on"}
    return {f"on_over_{clock}": {k: _median(v) for k, v in ratios.items()},
            f"spread_{clock}": {k: [round(min(v), 3), round(max(v), 3)] for k, v in ratios.items()}}


def _cell(r: dict, k: str, clock: str) -> str:
    lo, hi = r[f"spread_{clock}"][k]
    return f"{r[f'on_over_{clock}'][k]:6.3f}x [{lo:.2f}-{hi:.2f}]"


def _table(rows: list[dict]) -> str:
    """on/off per workload, then each shortcut's gain; by the wall clock and per CPU-second.

    A ratio is the median of the per-round ratios [their range]: steps/s with all on over steps/s without.
    """
    lines = [f"{'workload':9} {'on steps/s':>11} {'off steps/s':>12} {'wall: on/off [range]':>22} "
             f"{'cpu: on/off [range]':>22}"]
    for r in rows:
        s = r["steps_per_s"]
        lines.append(f"{r['workload']:9} {s['on']:11.2f} {s['off']:12.2f} {_cell(r, 'off', 'wall'):>22} "
                     f"{_cell(r, 'off', 'cpu'):>22}")
    lines += ["", "each shortcut: all on / all on but it (best: the ratio of each variant's fastest segment)",
              f"{'workload':9} {'shortcut':10} {'wall [range]':>22} {'cpu [range]':>22} {'best':>7}"]
    for r in rows:
        best = r["best_steps_per_s"]
        for k in r["on_over_wall"]:
            if k != "off":
                lines.append(f"{r['workload']:9} {k[1:]:10} {_cell(r, k, 'wall'):>22} {_cell(r, k, 'cpu'):>22} "
                             f"{best['on'] / best[k]:6.3f}x")
    return "\n".join(lines)


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.fastpath", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer, shorter rounds and no dcgan64 (a few minutes on 2 cores)")
    ap.add_argument("--json", action="store_true", help="one JSON object per line per workload and setting")
    ap.add_argument("--workloads", default=None, help=f"comma-separated, from {','.join(WORKLOADS)}")
    ap.add_argument("--rounds", type=int, default=None, help="alternating rounds (default 15, dcgan 3; --quick 6, dcgan 2)")
    ap.add_argument("--device", default="auto", help="cpu | cuda | auto (default)")
    a = ap.parse_args(argv)
    names = ([w.strip() for w in a.workloads.split(",") if w.strip()] if a.workloads
             else [w for w in WORKLOADS if not (a.quick and w == "dcgan64")])
    if any(w not in WORKLOADS for w in names) or (a.rounds is not None and a.rounds < 1):
        print(f"error: workloads come from {', '.join(WORKLOADS)}; --rounds must be at least 1", file=sys.stderr)
        return 2
    dev = resolve_device(a.device)
    info = {**machine(dev), "load_avg_start": os.getloadavg()[0]}
    rows = []
    for name in names:
        slow = WL[name].min_steps == 1  # the conv nets: a step takes a large part of a second on a CPU
        rounds = a.rounds or ((2 if slow else 6) if a.quick else (3 if slow else 15))
        row = measure(name, dev, rounds=rounds, segment_s=0.3 if a.quick else 0.5)
        row.update(machine=info, load_avg=os.getloadavg()[0])
        rows.append(row)
        if a.json:
            print(json.dumps(row), flush=True)
    if not a.json:
        print(f"device: {info.get('gpu', info['cpu'])} ({info['cores']} cores), torch {info['torch']}, "
              f"load average {info['load_avg_start']:.1f} at start, {os.getloadavg()[0]:.1f} at the end")
        print(_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
