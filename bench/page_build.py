"""What one Monitor refresh costs in Python: every visible chart of the registry built and serialised.

    python -m bench.page_build [--records 4000] [--repeats 5] [--profile]

The page rebuilds its charts every CHARTS_S seconds while a run trains, holding the GIL the
training thread needs (bench.speed's `overhead` workload measures the effect on steps/s). This
times the rebuild alone, on a synthetic history of `--records` ticks with one live lr change, as CPU
ms per refresh; `--profile` prints where the time goes (cProfile, cumulative).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time

import numpy as np


def history(n: int) -> list[dict]:
    rng = np.random.default_rng(0)
    return [{"step": 25 * i, "time": 0.01 * i, "Loss/D": 0.69 + 0.01 * rng.standard_normal(),
             "Loss/G": 0.7 + 0.01 * rng.standard_normal(), "D/real": 0.5, "D/fake": 0.5, "Grad/D": 1.0, "Grad/G": 1.0,
             "LR/D": 1e-3 if i < n // 2 else 5e-4, "LR/G": 1e-3, "k": 1, "Speed/steps_per_s": 1000.0}
            for i in range(1, n + 1)]


def chart_figures(h, loss: str = "bce") -> list:
    """Every chart of the registry that Monitor shows for this history, built as views/monitor.py builds them
    (smoothing at the page's default 0.6); bench.speed's Monitor client calls it too."""
    from ganlab.game.losses import CONVENTION, LOSSES
    from ganlab.ui.clocks import MAX_POINTS
    from ganlab.viz import charts
    from ganlab.viz.series import count_values, recipe_changes

    inp = charts.ChartInput(h, smoothing=0.6, max_points=MAX_POINTS, equilibrium=LOSSES.get(loss).equilibrium,
                            convention=CONVENTION, changes=tuple(recipe_changes(h)))
    return [e.obj.build(inp) for e in charts.visible(count_values(h))]


def refresh(h: list[dict]) -> int:
    figs = chart_figures(h)
    for f in figs:
        f.to_json()  # Streamlit sends each figure as JSON
    return len(figs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=4000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--profile", action="store_true")
    a = ap.parse_args()
    h = history(a.records)
    n = refresh(h)  # imports and caches, as a page's first run
    t0 = time.thread_time()
    for _ in range(a.repeats):
        refresh(h)
    print(f"{n} charts from {a.records} records: {(time.thread_time() - t0) / a.repeats * 1000:.1f} CPU ms per refresh")
    if a.profile:
        pr = cProfile.Profile()
        pr.enable()
        refresh(h)
        pr.disable()
        pstats.Stats(pr).sort_stats("cumulative").print_stats(20)


if __name__ == "__main__":
    main()
