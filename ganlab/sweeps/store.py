"""A sweep on disk: `<runs dir>/sweeps/<id>/` beside the runs its trials trained.

    spec.json      the SweepSpec (written once; the id is its hash)
    trials.json    trial key -> run id, params, seed, state, final metrics (the driver's summary)
    driver.json    the driver's pid, owner, state and times
    trials/<key>.json  one trial's own record, written by whoever trains it (a Ray worker): its run id the
                   moment the run exists, its end state and metrics when it ends
    driver.lock    flock held by the driver, so two drivers never run one sweep

Every file is replaced atomically, each by one writer, so a SIGKILL of the driver or of a worker
leaves the previous version whole. Readers trust the run directories over any record: a trial's
live state and step come from its run's status.json, so a killed trial reads as interrupted.
"""

from __future__ import annotations

import fcntl
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from ..errors import RunError
from ..store import OWNER, Run, owner_alive
from ..store.files import atomic_write_json, read_json_object
from .spec import SweepSpec

SWEEPS_DIR = "sweeps"  # under the runs dir; ganlab.store.list_runs never lists it as a run
DONE_STATES = ("finished", "pruned")  # a trial in one of these is not run again
TRIAL_STATES = ("pending", "running", "finished", "pruned", "stopped", "paused", "failed", "interrupted")


@dataclass
class TrialInfo:
    key: str
    params: dict[str, Any]
    seed: int
    run_id: str = ""
    run_path: str = ""
    state: str = "pending"  # one of TRIAL_STATES; pruned: ASHA stopped it early
    step: int = 0
    steps: int = 0
    metrics: dict[str, float] = field(default_factory=dict)  # the last evaluation's scalar metrics


@dataclass
class SweepInfo:
    id: str
    spec: SweepSpec
    state: str  # running | finished | failed | interrupted (driver gone) | created (never started)
    created: float
    trials: list[TrialInfo]
    path: Optional[Path] = None
    error: str = ""

    @property
    def done(self) -> int:
        return sum(t.state in DONE_STATES for t in self.trials)

    @property
    def metric(self) -> str:
        """The metric trials are ranked by: the spec's, else the first headline metric any trial reports."""
        return self.spec.metric or default_metric(self.trials)

    def scored(self) -> list[TrialInfo]:
        """The trials that report the sweep's metric, best first; ties keep the trials' order."""
        metric = self.metric
        scored = [t for t in self.trials if metric and _finite(t.metrics.get(metric))]
        return sorted(scored, key=lambda t: t.metrics[metric], reverse=self.spec.mode == "max")

    def best(self) -> Optional[TrialInfo]:
        """The trial with the best value of the spec's metric (None without a metric or values)."""
        scored = self.scored()
        return scored[0] if scored else None


def _finite(v: Any) -> bool:
    """A value to rank by: a number, not NaN or infinite (a diverged trial's metric ranks with the unscored)."""
    return isinstance(v, (int, float)) and math.isfinite(v)


def default_metric(trials: list[TrialInfo]) -> str:
    """A metric to sort by when the spec names none: the first headline metric any trial reports."""
    for name in ("high_quality_rate", "modes_covered", "fd", "sliced_wasserstein", "class_coverage"):
        if any(name in t.metrics for t in trials):
            return name
    return ""


def sweeps_root(runs_dir: str | os.PathLike) -> Path:
    return Path(runs_dir) / SWEEPS_DIR


class SweepDir:
    """The one object that knows a sweep directory's paths; each file has one writer."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def runs_dir(self) -> Path:
        return self.path.parent.parent

    def file(self, name: str) -> Path:
        return self.path / name

    def trial_file(self, key: str) -> Path:
        return self.path / "trials" / f"{key}.json"

    # ------------------------------------------------------------ opening
    @classmethod
    def for_spec(cls, runs_dir: str | os.PathLike, spec: SweepSpec) -> SweepDir:
        """The sweep's directory, created with its spec.json when new; the same spec finds the same one."""
        sweep = cls(sweeps_root(runs_dir) / spec.sweep_id())
        (sweep.path / "trials").mkdir(parents=True, exist_ok=True)
        if not sweep.file("spec.json").is_file():
            atomic_write_json(sweep.file("spec.json"), spec.to_dict())
            atomic_write_json(sweep.file("driver.json"), {"state": "created", "created": time.time()})
        return sweep

    @classmethod
    def open(cls, runs_dir: str | os.PathLike, sweep_id: str) -> SweepDir:
        sweep = cls(sweeps_root(runs_dir) / sweep_id)
        if not sweep_id or "/" in sweep_id or not sweep.file("spec.json").is_file():
            known = ", ".join(s.id for s in list_sweep_dirs(runs_dir)[:5]) or "none yet"
            raise RunError(f"no sweep {sweep_id!r} in {sweeps_root(runs_dir)} (sweeps there: {known}); "
                           f"`python -m ganlab sweeps` lists them")
        return sweep

    def spec(self) -> SweepSpec:
        return SweepSpec.from_dict(read_json_object(self.file("spec.json")))

    # ------------------------------------------------------------ the driver
    def lock_driver(self) -> int:
        """An exclusive flock on driver.lock (the kernel drops it when the driver dies), or a RunError."""
        fd = os.open(self.file("driver.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RunError(f"sweep {self.id} is already running (its driver holds {self.file('driver.lock')}); "
                           f"wait for it, or stop that process first") from None
        return fd

    def driver(self) -> dict[str, Any]:
        try:
            return read_json_object(self.file("driver.json"))
        except RunError:
            return {}

    def write_driver(self, state: str, **extra: Any) -> None:
        old = self.driver()
        atomic_write_json(self.file("driver.json"), {**old, "state": state, "pid": os.getpid(), "owner": OWNER,
                                                    "time": time.time(), **extra})

    # ------------------------------------------------------------ trials
    def record(self, key: str) -> dict[str, Any]:
        """A trial's own record ({} when it never started)."""
        path = self.trial_file(key)
        if not path.is_file():
            return {}
        try:
            return read_json_object(path)
        except RunError:
            return {}

    def write_record(self, key: str, **fields: Any) -> None:
        atomic_write_json(self.trial_file(key), {**self.record(key), **fields, "time": time.time()})

    def write_trials(self, trials: list[TrialInfo]) -> None:
        atomic_write_json(self.file("trials.json"), {t.key: {
            "run_id": t.run_id, "params": t.params, "seed": t.seed, "state": t.state, "step": t.step,
            "steps": t.steps, "metrics": t.metrics} for t in trials})

    def trial_info(self, trial) -> TrialInfo:
        """A trial as it stands: its record, its run directory's live state (the truth when they differ)."""
        rec = self.record(trial.key)
        info = TrialInfo(trial.key, dict(trial.params), trial.seed, steps=trial.config.steps,
                         metrics=dict(rec.get("metrics") or {}))
        run_id = rec.get("run_id") or ""
        if not run_id:
            return info
        run = Run(self.runs_dir / run_id)
        info.run_id, info.run_path = run_id, str(run.path)
        if not run.config_path.is_file():  # the run was deleted: the trial is to do again
            info.run_id = info.run_path = ""
            return info
        status = run.status()
        info.state, info.step = status.get("state", "interrupted"), int(status.get("step", 0))
        if info.state == "created":
            info.state = "running"
        if rec.get("state") == "pruned" and info.state != "running":
            info.state = "pruned"
        if not info.metrics or info.state in ("running", "interrupted"):
            info.metrics = last_metrics(run) or info.metrics
        return info

    def info(self) -> SweepInfo:
        spec = self.spec()
        trials = [self.trial_info(t) for t in spec.trials()]
        driver = self.driver()
        state = str(driver.get("state") or "created")
        if state == "running" and not owner_alive(str(driver.get("owner", ""))):
            state = "interrupted"
        return SweepInfo(self.id, spec, state, float(driver.get("created") or _mtime(self.file("spec.json"))), trials,
                         path=self.path, error=str(driver.get("error") or ""))


def last_metrics(run: Run) -> dict[str, float]:
    """The scalar metrics of a run's last evaluation (metrics.jsonl), {} before the first."""
    try:
        rows = run.metrics_history()
    except (OSError, RunError):
        return {}
    if not rows:
        return {}
    return {k: float(v) for k, v in rows[-1].items()
            if k not in ("step", "time") and isinstance(v, (int, float)) and not isinstance(v, bool)}


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def list_sweep_dirs(runs_dir: str | os.PathLike) -> list[SweepDir]:
    root = sweeps_root(runs_dir)
    try:
        entries = [p for p in root.iterdir() if (p / "spec.json").is_file()]
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as e:
        raise RunError(f"the sweeps folder {root} cannot be listed ({e.strerror}); check that it is readable") from None
    return [SweepDir(p) for p in sorted(entries, key=lambda p: _mtime(p / "spec.json"), reverse=True)]


def list_sweeps(runs_dir: str | os.PathLike) -> list[SweepInfo]:
    """Every sweep under the runs dir, newest first; an unreadable one is skipped, never fatal."""
    out = []
    for sweep in list_sweep_dirs(runs_dir):
        try:
            out.append(sweep.info())
        except (RunError, ValueError, OSError):
            continue
    return out


def load_sweep(runs_dir: str | os.PathLike, sweep_id: str) -> SweepInfo:
    return SweepDir.open(runs_dir, sweep_id).info()
