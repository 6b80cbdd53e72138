"""Sweeps: many trials of one base config on Ray Tune, each an ordinary run directory (issue #19).

- `SweepSpec(base, grid, seeds, samples, ranges, scheduler, metric, mode)`; `.trials()` is a
  deterministic list of `TrialSpec(key, params, seed, config)` (spec.py);
- `run_sweep(spec, runs_dir, address=None) -> sweep id`: blocking, on Ray's embedded local cluster
  or the one at `address`; runs only the trials not done yet (driver.py);
- `launch(spec, runs_dir) -> (sweep id, Popen)`: the same in a detached `python -m ganlab sweep`
  process, for the Sweeps page (Ray never runs inside the Streamlit server) (launch.py);
- `list_sweeps(runs_dir)`, `load_sweep(runs_dir, sweep_id) -> SweepInfo` with its `TrialInfo`s (store.py).

Importing this package does not import Ray; only run_sweep does.
"""

from __future__ import annotations

from .launch import launch
from .spec import SweepSpec, TrialSpec, parse_grid, parse_range, parse_seeds, trial_key
from .store import SWEEPS_DIR, SweepDir, SweepInfo, TrialInfo, list_sweeps, load_sweep


def run_sweep(spec: SweepSpec, runs_dir, address=None, **options) -> str:
    """Run the sweep's missing trials on Ray and return its id (see ganlab.sweeps.driver.run_sweep)."""
    from .driver import run_sweep as run

    return run(spec, runs_dir, address=address, **options)


__all__ = ["SWEEPS_DIR", "SweepDir", "SweepInfo", "SweepSpec", "TrialInfo", "TrialSpec", "launch", "list_sweeps",
           "load_sweep", "parse_grid", "parse_range", "parse_seeds", "run_sweep", "trial_key"]
