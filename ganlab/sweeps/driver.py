"""The sweep driver: the trials not done yet, on Ray Tune, one CPU each; the sweep directory kept current.

Ray Tune schedules (concurrency follows the CPUs and GPUs the cluster has, or --max-concurrent),
retries a trial whose worker was lost, and with `scheduler="asha"` stops the weak trials early on
the metric each trial reports at its evaluations. Everything else is ganlab's: each trial is an
ordinary run directory (ganlab.sweeps.trial), and what is done is read from the run directories,
not from Tune's own state, so a killed driver's sweep resumes by running the same command again.
Tune's experiment files go to the sweep directory's tune/ while it runs, and are removed at the end.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional

from ..errors import RunError, UsageError
from ..store import Run, TrainingLock
from .launch import child_env
from .spec import SweepSpec, TrialSpec
from .store import DONE_STATES, SweepDir, TrialInfo
from .trial import run_trial

CPUS_PER_TRIAL = 1
MAX_TRIAL_RETRIES = 2  # a lost worker's trial is tried again (it resumes from its run's checkpoint)
ASHA_REDUCTION = 3
SETTLE_S = 60.0  # how long the end of a sweep waits for a stopped trial's worker to finish writing its run
TELL_WAIT_S = 10.0  # the same wait, shorter, before a trial's line is printed (Tune's loop waits meanwhile)
TUNE_DIR = "tune"  # Tune's experiment files, inside the sweep directory while the driver runs
# Tune's own loggers (CSV, JSON, TensorBoard) would only duplicate the run directories; its console output is ours
QUIET_ENV = {"TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1", "RAY_AIR_NEW_OUTPUT": "0", "TUNE_WARN_EXCESSIVE_EXPERIMENT_"
             "CHECKPOINT_SYNC_THRESHOLD_S": "1000000", "RAY_DEDUP_LOGS": "0", "RAY_USAGE_STATS_ENABLED": "0"}


def ray_temp_dir() -> str:
    return os.path.join(tempfile.gettempdir(), "ray")


def start_ray(address: Optional[str] = None, num_cpus: Optional[int] = None) -> bool:
    """Connect to Ray: the cluster at `address`, else an embedded local one; False when one was already up."""
    try:
        import ray
    except ImportError:
        raise UsageError("sweeps run on Ray Tune, which is not installed here: pip install 'ray[tune]==2.60.0' "
                         "(it is in requirements.txt)") from None

    if ray.is_initialized():
        return False
    os.environ.update({k: v for k, v in QUIET_ENV.items() if k not in os.environ})
    os.environ["PYTHONPATH"] = child_env()["PYTHONPATH"]  # the local cluster's workers import ganlab from here
    options: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.ERROR, "log_to_driver": False,
                               "configure_logging": True}
    if address:  # every node imports ganlab from the same path (shared storage, as the runs dir is)
        ray.init(address=address, runtime_env={"env_vars": {"PYTHONPATH": os.environ["PYTHONPATH"]}}, **options)
    else:
        ray.init(num_cpus=num_cpus, _temp_dir=ray_temp_dir(), **options)
    return True


def cluster_resources() -> tuple[int, int]:
    """(CPUs, GPUs) the connected Ray cluster has."""
    import ray

    res = ray.cluster_resources()
    return int(res.get("CPU", 1)), int(res.get("GPU", 0))


def trial_resources(spec: SweepSpec, cpus: int, gpus: int) -> dict[str, float]:
    """One CPU per trial; with GPUs (and a config that may use them) every trial gets an equal share of them."""
    gpu = 0.0
    if gpus and str(spec.base.get("device", "auto")) != "cpu":
        gpu = min(1.0, gpus / max(1, cpus // CPUS_PER_TRIAL))
    return {"cpu": CPUS_PER_TRIAL, "gpu": gpu}


def train_trial(config: dict, *, sweep_path: str, trials: dict[str, TrialSpec], data_root: Optional[str],
                threads: int) -> None:
    """Tune's trainable: one trial on a worker, reporting each evaluation to Tune."""
    from ray import tune

    run_trial(SweepDir(sweep_path), trials[config["key"]], report=tune.report, threads=threads,
              data_root=data_root)


def asha(spec: SweepSpec, steps: int, eval_every: int):
    """Ray Tune's ASHA on the trials' evaluations (rungs from the first one). A trial that reaches the last step
    is left to end by itself (stop_last_trials=False): a STOP at max_t left a reused worker hanging."""
    from ray.tune.schedulers import ASHAScheduler

    grace = max(1, eval_every or steps // 4)
    return ASHAScheduler(time_attr="step", metric=spec.metric, mode=spec.mode, max_t=max(steps, grace),
                         grace_period=min(grace, steps), reduction_factor=ASHA_REDUCTION, stop_last_trials=False)


class _TrialLines:
    """A Tune callback that tells the caller (the CLI's one line per trial) as each trial ends."""

    def __new__(cls, sweep: SweepDir, by_key: dict[str, TrialSpec], on_trial_end: Callable[[TrialInfo], None]):
        from ray.tune import Callback

        class TrialLines(Callback):
            def on_trial_complete(self, iteration, trials, trial, **info):  # noqa: ARG002 - Tune passes them by name
                self._tell(trial)

            def on_trial_error(self, iteration, trials, trial, **info):  # noqa: ARG002
                self._tell(trial)

            def _tell(self, trial) -> None:
                key = trial.config.get("key")
                if key not in by_key:
                    return
                info = sweep.trial_info(by_key[key])
                if info.run_id and info.state == "running":  # its worker is still saving the stop's checkpoint
                    lock = _wait_for_lock(sweep.runs_dir / info.run_id, TELL_WAIT_S)
                    if lock is not None:
                        lock.release()
                    info = sweep.trial_info(by_key[key])
                on_trial_end(info)

        return TrialLines()


def run_sweep(spec: SweepSpec, runs_dir, address: Optional[str] = None, *,
              on_trial_end: Optional[Callable[[TrialInfo], None]] = None,
              on_start: Optional[Callable[[SweepDir, list[TrialInfo]], None]] = None) -> str:
    """Run every trial of the sweep that is not done yet and return the sweep's id (blocking).

    on_start(sweep, trials) is told the sweep's trials as they stand before anything runs (the CLI
    says how many it skips); on_trial_end(trial) as each trial ends.
    """
    sweep = SweepDir.for_spec(runs_dir, spec)
    fd = sweep.lock_driver()
    try:
        trials = spec.trials()
        infos = [sweep.trial_info(t) for t in trials]
        sweep.write_trials(infos)
        if on_start is not None:
            on_start(sweep, infos)
        pending = [t for t, i in zip(trials, infos) if i.state not in DONE_STATES]
        sweep.write_driver("running", started=time.time(), error="", trials=len(trials), pending=len(pending))
        try:
            if pending:
                _tune(spec, sweep, pending, address, on_trial_end)
        except KeyboardInterrupt:
            sweep.write_trials([sweep.trial_info(t) for t in trials])
            sweep.write_driver("interrupted", ended=time.time(), error="stopped by the user")
            raise
        except BaseException as e:
            sweep.write_trials([sweep.trial_info(t) for t in trials])
            sweep.write_driver("failed", ended=time.time(), error=str(e).strip().splitlines()[0][:500] if str(e) else
                               type(e).__name__)
            raise
        final = [sweep.trial_info(t) for t in trials]
        sweep.write_trials(final)
        bad = [t for t in final if t.state not in DONE_STATES]
        error = f"{len(bad)} of {len(final)} trials did not finish ({', '.join(sorted({t.state for t in bad}))})" if bad else ""
        sweep.write_driver("failed" if bad else "finished", ended=time.time(), error=error)
        return sweep.id
    finally:
        os.close(fd)


def _tune(spec: SweepSpec, sweep: SweepDir, pending: list[TrialSpec], address: Optional[str],
          on_trial_end: Optional[Callable[[TrialInfo], None]]) -> None:
    from ray import tune

    start_ray(address)
    cpus, gpus = cluster_resources()
    by_key = {t.key: t for t in pending}
    steps = max(t.config.steps for t in pending)
    eval_every = min((t.config.eval_every for t in pending if t.config.eval_every), default=0)
    trainable = tune.with_resources(
        tune.with_parameters(train_trial, sweep_path=str(sweep.path), trials=by_key,
                             data_root=spec.data_root or None, threads=CPUS_PER_TRIAL),
        trial_resources(spec, cpus, gpus))
    storage = sweep.path / TUNE_DIR  # beside the runs: on a cluster that is the shared storage every node sees
    shutil.rmtree(storage, ignore_errors=True)  # a killed driver's: Tune's state is not what resumes a sweep
    callbacks = [_TrialLines(sweep, by_key, on_trial_end)] if on_trial_end is not None else []
    tuner = tune.Tuner(
        trainable,
        param_space={"key": tune.grid_search(list(by_key))},
        tune_config=tune.TuneConfig(scheduler=asha(spec, steps, eval_every) if spec.scheduler == "asha" else None,
                                    max_concurrent_trials=spec.max_concurrent or None, reuse_actors=True,
                                    trial_name_creator=lambda t: str(t.config["key"]),
                                    trial_dirname_creator=lambda t: str(t.config["key"])),
        run_config=tune.RunConfig(name=sweep.id, storage_path=str(storage), verbose=0, callbacks=callbacks,
                                  failure_config=tune.FailureConfig(max_failures=MAX_TRIAL_RETRIES)),
    )
    try:
        with warnings.catch_warnings(), _quiet_tune():
            warnings.simplefilter("ignore")
            results = tuner.fit()
        for result in results:
            _settle(sweep, by_key.get(result.config.get("key")), result)
    finally:
        shutil.rmtree(storage, ignore_errors=True)


@contextlib.contextmanager
def _quiet_tune():
    """Tune logs each trial error with its traceback; the sweep says how each trial ended in one line instead
    (the trial's sentence is in its record and its run's status.json)."""
    tune_log = logging.getLogger("ray.tune")
    level = tune_log.level
    tune_log.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        tune_log.setLevel(level)


def _settle(sweep: SweepDir, trial: Optional[TrialSpec], result) -> None:
    """After Tune: a trial the scheduler stopped is recorded as pruned, its run's status as stopped. Tune may
    be done with a trial while its worker is still saving the stop's checkpoint: its run's lock says when that
    ends; a worker Tune ended before it wrote its status leaves that to this."""
    if trial is None or result.error is not None:
        return
    info = sweep.trial_info(trial)
    if not info.run_id:
        return
    lock = _wait_for_lock(sweep.runs_dir / info.run_id)
    try:
        info = sweep.trial_info(trial)
        reached = int((result.metrics or {}).get("step", 0) or 0)
        if info.state in DONE_STATES or reached >= trial.config.steps:
            return
        metrics = {k: float(v) for k, v in (result.metrics or {}).items()
                   if k != "step" and isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                   and k in info.metrics}
        sweep.write_record(trial.key, state="pruned", step=reached, metrics=metrics or info.metrics)
        run = Run(sweep.runs_dir / info.run_id)
        if lock is not None and run.status().get("state") in ("interrupted", "running", "created"):
            run.write_status("stopped", run.last_checkpoint_step() or 0, error="stopped early by the ASHA scheduler")
    finally:
        if lock is not None:
            lock.release()


def _wait_for_lock(run_dir: Path, wait_s: float = 0.0) -> Optional[TrainingLock]:
    """The run's training lock once its trainer lets go of it (None after wait_s, SETTLE_S by default)."""
    deadline = time.monotonic() + (wait_s or SETTLE_S)
    while True:
        try:
            return TrainingLock.acquire(run_dir)
        except RunError:
            if time.monotonic() > deadline:
                return None
            time.sleep(0.1)
