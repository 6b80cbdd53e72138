"""One trial, wherever it runs (a Ray worker, or a plain loop): find its run, train it, record how it ended.

The trial's record (trials/<key>.json) names its run the moment the run directory exists, so a
killed trial is found again: a finished run is not trained again, an interrupted one continues
from its last checkpoint through RunSession.reopen (the same resume as everywhere), and one that
cannot be resumed starts over as a new run. Each trial computes with a fixed thread count (the
CPUs it was given), whatever thread Ray calls it in, so its losses are the same on any caller.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Optional

from ..errors import RunError
from ..session import RunSession
from ..store import Run, trained_elsewhere
from .spec import TrialSpec
from .store import SweepDir, last_metrics

METRIC_PREFIX = "Metric/"
# report(metrics) hands a trial's evaluation to the scheduler; it raises SystemExit when the scheduler stops the
# trial (Ray Tune's function API does exactly that), and the trial then ends as "pruned", with a checkpoint
Report = Callable[[dict[str, Any]], None]


class Pruned(Exception):
    """The scheduler stopped the trial early (ASHA): not a failure, the trial is done."""


def tick_report(rec: dict[str, Any]) -> Optional[dict[str, Any]]:
    """What a tick record gives the scheduler: the step and its scalar metrics (None on a tick without them)."""
    scalars = {k[len(METRIC_PREFIX):]: float(v) for k, v in rec.items()
               if k.startswith(METRIC_PREFIX) and isinstance(v, (int, float))}
    return {"step": int(rec["step"]), **scalars} if scalars else None


def open_session(sweep: SweepDir, trial: TrialSpec, data_root=None) -> Optional[RunSession]:
    """The trial's run session: its recorded run resumed, or a new run; None when the run already finished."""
    rec = sweep.record(trial.key)
    run_id = rec.get("run_id")
    if run_id and (sweep.runs_dir / run_id / "config.json").is_file():
        run = Run(sweep.runs_dir / run_id)
        status = run.status()
        if status.get("state") == "finished" or rec.get("state") == "pruned":
            return None
        if trained_elsewhere(status):  # an orphaned worker still trains it: never a second copy of the trial
            raise RunError(f"trial {trial.key}'s run {run_id} is still being trained by {status.get('owner')}; "
                           f"stop that process, then run the sweep again")
        try:
            return RunSession.reopen(run.path, data_root=data_root)
        except RunError as e:  # a run that cannot go on (its files disagree): this trial starts over
            sweep.write_record(trial.key, abandoned=[*rec.get("abandoned", []), {"run_id": run_id, "why": str(e)}])
    session = RunSession.new(trial.config, sweep.runs_dir, data_root=data_root, build_first=True)
    sweep.write_record(trial.key, run_id=session.run.id, params=trial.params, seed=trial.seed,
                       state="running")
    return session


def run_trial(sweep: SweepDir, trial: TrialSpec, *, report: Optional[Report] = None, threads: int = 1,
              data_root=None) -> dict[str, Any]:
    """Train the trial to its end (or until the scheduler prunes it) and record it; returns its record."""
    # a Ray worker runs one trial at a time (Tune reuses it for the next): the count is read when the Trainer is built
    os.environ["GANLAB_THREADS"] = str(max(1, int(threads)))
    session = open_session(sweep, trial, data_root)
    if session is None:  # done already (a rerun after a killed driver): report what it reached, train nothing
        rec = sweep.record(trial.key)
        if report is not None and rec.get("metrics"):
            _report_safely(report, {"step": trial.config.steps, **rec["metrics"]})
        return rec
    pruned = {"flag": False}

    def on_tick(rec: dict, trainer) -> None:
        scores = tick_report(rec)
        if report is None or scores is None or pruned["flag"]:
            return
        pruned["flag"] = not _report_safely(report, scores)

    out = session.run_training(should_stop=lambda: pruned["flag"], on_tick=on_tick)
    state = "pruned" if pruned["flag"] and out.state == "stopped" else out.state
    record = {"state": state, "step": out.step, "metrics": last_metrics(session.run)}
    if out.error:
        record["error"] = out.error
    sweep.write_record(trial.key, **record)
    if state == "failed":
        raise RunError(f"trial {trial.key} ({session.run.id}) failed: {out.error}")
    return sweep.record(trial.key)


def _report_safely(report: Report, scores: dict[str, Any]) -> bool:
    """report(scores); False when the scheduler said stop (SystemExit from Ray Tune's report)."""
    try:
        report(scores)
    except (SystemExit, Pruned):
        return False
    return True
