"""Score one finished run's G under other ways of sampling it, side by side: truncation psis and the drs sampler.

    python -m bench.sampling RUN_DIR [--psis 1,0.9,0.8,0.7] [--drs] [-n 2000] [--json]

A cheap test of where a run's bad samples come from before screening a new recipe. If they sit in latent
regions G rarely trained (between modes, in the prior's tails), truncation toward the mean latent or
discriminator rejection sampling should raise precision and lower the FD; if they do not, G is uniformly
imperfect and only training can mend it. Every row scores n samples on latent seeds 30,000 on (the seeds of the
in-training evaluation), with the metrics `eval --json` prints for the run's data.
"""

from __future__ import annotations

import argparse
import json
import sys

from ganlab.errors import GanlabError
from ganlab.evaluation.evaluate import evaluate_run, scalar_metrics
from ganlab.explore.explorer import load_generator
from ganlab.explore.truncation import SWEEP_SEED, check_psi, truncation_sweep
from ganlab.store import Run

SHOWN = ("fd", "precision", "recall", "density", "coverage", "class_kl", "modes_covered", "high_quality_rate",
         "acceptance_rate")


def rows_for(run_dir: str, psis: list[float], drs: bool, n: int) -> list[dict]:
    run = Run.open(run_dir)
    rows = [{"sampler": f"psi {r['psi']:g}", **r} for r in truncation_sweep(load_generator(run), psis, n=n)]
    if drs:
        m = evaluate_run(run, n=n, seed=SWEEP_SEED, sampler="drs")
        rows.append({"sampler": "drs", **{k.removeprefix("Metric/"): v for k, v in scalar_metrics(m).items()}})
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.sampling", description=__doc__.split("\n\n")[0])
    p.add_argument("run_dir")
    p.add_argument("--psis", default="1,0.9,0.8,0.7", help="comma list of truncation psis (1: G's own prior)")
    p.add_argument("--drs", action="store_true", help="also score discriminator rejection sampling")
    p.add_argument("-n", type=int, default=2000, help="samples a row scores")
    p.add_argument("--json", action="store_true", help="print the rows as one JSON list")
    a = p.parse_args(argv)
    try:
        psis = [check_psi(t) for t in a.psis.split(",") if t.strip()]
        rows = rows_for(a.run_dir, psis, a.drs, a.n)
    except (GanlabError, ValueError) as e:
        print(f"bench.sampling: {e}", file=sys.stderr)
        return 2
    if a.json:
        print(json.dumps(rows))
        return 0
    for r in rows:
        print(r["sampler"].ljust(8), "  ".join(f"{k} {r[k]:.4g}" for k in SHOWN if k in r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
