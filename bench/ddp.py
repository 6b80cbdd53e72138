"""DDP with N CPU processes against one process at the same global batch: speed as a ratio, and the losses' agreement.

    python -m bench.ddp [--preset digits] [--steps 300] [--nproc 2] [--log-every 10] [--repeats 2]

Runs, one after another in this invocation, on the same config and seed:
  - one process with 1 intra-op thread (the comparison for agreement: each DDP rank computes with 1 thread too);
  - one process with every CPU (what `python -m ganlab train` does alone on this machine);
  - `torchrun --nproc_per_node=N -m ganlab train` (each rank 1/N of the CPUs, gloo).
Steps/s is each run's own training clock (stats.jsonl's last `time`: start-up and process launch excluded) and
also the wall time of the whole command. Agreement: the largest absolute and relative difference of each logged
loss column between the DDP run and the 1-thread single run, over every logged row and over the first 20 steps.
Timings on a shared box are noisy: the kinds run interleaved, best of --repeats; compare the ratios of one
invocation, not figures across invocations. Agreement is deterministic (the same figures every time).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COLUMNS = ("Loss/D", "Loss/G", "D/real", "D/fake")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train_args(preset: str, steps: int, log_every: int, runs: Path) -> list[str]:
    return ["train", "--preset", preset, "--steps", str(steps), "--runs-dir", str(runs), "--quiet",
            "--set", f"log_every={log_every}", "--set", f"checkpoint_every={steps}"]


def run(cmd: list[str], threads: str | None) -> float:
    env = dict(os.environ)
    env.pop("GANLAB_THREADS", None)
    if threads is not None:
        env["GANLAB_THREADS"] = threads
    t = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if out.returncode != 0:
        sys.exit(f"bench.ddp: {' '.join(cmd[:6])}... exited {out.returncode}:\n{out.stderr[-2000:]}")
    return wall


def rows(runs: Path) -> list[dict]:
    (path,) = runs.glob("*/stats.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def agreement(a: list[dict], b: list[dict], upto: int | None = None) -> dict[str, tuple[float, float]]:
    """column -> (max abs difference, max relative difference) over the rows both logged (steps <= upto)."""
    out = {}
    pairs = [(x, y) for x, y in zip(a, b, strict=True) if upto is None or x["step"] <= upto]
    for c in COLUMNS:
        diffs = [(abs(x[c] - y[c]), abs(x[c] - y[c]) / max(abs(x[c]), 1e-12)) for x, y in pairs]
        out[c] = (max(d[0] for d in diffs), max(d[1] for d in diffs))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="digits")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--nproc", type=int, default=2)
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument("--repeats", type=int, default=2, help="runs of each kind, interleaved; the best is reported")
    a = p.parse_args()
    py = sys.executable
    cpus = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory(prefix="bench-ddp-") as tmp:
        root = Path(tmp)
        kinds = {  # key -> (label, command for a runs dir, GANLAB_THREADS)
            "one": ("single, 1 thread", lambda d: [py, "-m", "ganlab", *train_args(a.preset, a.steps, a.log_every, d)], "1"),
            "all": (f"single, {cpus} threads", lambda d: [py, "-m", "ganlab", *train_args(a.preset, a.steps, a.log_every, d)],
                    None),
            "ddp": (f"torchrun x{a.nproc}", lambda d: [py, "-m", "torch.distributed.run", f"--nproc_per_node={a.nproc}",
                                                       f"--master_port={free_port()}", "-m", "ganlab",
                                                       *train_args(a.preset, a.steps, a.log_every, d)], None),
        }
        results: dict[str, tuple[list[dict], float, float]] = {}  # key -> (rows, best train s, best wall s)
        for i in range(a.repeats):  # interleaved, best of: a shared box's load drifts between runs
            for key, (_, cmd, threads) in kinds.items():
                d = root / f"{key}{i}"
                wall = run(cmd(d), threads)
                r = rows(d)
                best = results.get(key, (r, float("inf"), float("inf")))
                results[key] = (r, min(best[1], r[-1]["time"]), min(best[2], wall))
        base = results["one"][1]
        print(f"{a.preset}, {a.steps} steps, the preset's global batch, {cpus} CPUs, best of {a.repeats} interleaved "
              f"({time.strftime('%Y-%m-%d')}, load average {os.getloadavg()[0]:.1f})")
        print(f"{'run':>22} {'train s':>8} {'steps/s':>8} {'ratio':>6} {'wall s':>7}")
        for key, (label, _, _) in kinds.items():
            _, t, wall = results[key]
            print(f"{label:>22} {t:8.2f} {a.steps / t:8.1f} {base / t:6.2f} {wall:7.1f}")
        for label, upto in (("every logged row", None), ("steps <= 20", 20)):
            agree = agreement(results["one"][0], results["ddp"][0], upto)
            text = ", ".join(f"{c} {d:.1e} ({r:.1e} rel)" for c, (d, r) in agree.items())
            print(f"DDP vs single (1 thread), {label}: max |diff| {text}")


if __name__ == "__main__":
    main()
