"""Live runs as background threads; pages read copies through `snapshot()`, never the trainer.

One JobManager per process (the UI gets it from st.cache_resource). A browser refresh,
a second tab or a closed tab only changes who polls; the threads go on.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from .config import RunConfig
from .config.validate import RANGES
from .errors import ConfigError, RunError
from .explore.preview import make_preview
from .paths import data_root as default_data_root
from .paths import runs_dir as default_runs_dir
from .session import RunSession, check_lr_scale
from .store import Run, list_runs

HISTORY_LIMIT = 4000  # records kept in memory per run; older ones are thinned (disk keeps all)
PREVIEW_INTERVAL = 0.5  # seconds between live previews (G on the fixed batch, D's surface)


@dataclass(frozen=True)
class JobSnapshot:
    """An immutable copy of a live run's state, safe to read from any thread."""

    run_id: str
    state: str  # created | running | paused | finished | stopped | failed
    step: int
    steps: int
    config: RunConfig
    history: tuple[dict, ...]
    preview: Optional[dict]
    hparams: dict
    error: Optional[str] = None
    diverged: bool = False
    metrics: tuple[dict, ...] = ()
    started: float = 0.0


@dataclass
class Job:
    session: RunSession
    thread: Optional[threading.Thread] = None
    stop: threading.Event = field(default_factory=threading.Event)
    pause: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    state: str = "created"
    step: int = 0
    history: list = field(default_factory=list)
    metrics: list = field(default_factory=list)
    preview: Optional[dict] = None
    hparams: dict = field(default_factory=dict)
    pending: dict = field(default_factory=dict)  # hparam changes for the trainer's next iteration
    error: Optional[str] = None
    diverged: bool = False
    started: float = field(default_factory=time.time)
    last_preview: float = 0.0

    @property
    def run(self) -> Run:
        return self.session.run

    @property
    def cfg(self) -> RunConfig:
        return self.session.cfg


def thin(history: list, limit: int) -> list:
    """Keep the newest half at full resolution and every other record of the older half."""
    if len(history) <= limit:
        return history
    half = len(history) // 2
    return history[:half:2] + history[half:]


class JobManager:
    """Starts, pauses, resumes and stops runs in threads; thread-safe."""

    def __init__(self, runs_dir: str | Path | None = None, data_root: str | Path | None = None):
        self.runs_dir = default_runs_dir(runs_dir)
        self.data_root = default_data_root(data_root)
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    # ---------------------------------------------------------------- control
    def start(self, cfg: RunConfig) -> str:
        """Validate, create the run directory, start the thread; returns the run id."""
        return self._launch(Job(RunSession.new(cfg, self.runs_dir, data_root=self.data_root)))

    def resume(self, run_id: str, *, lr_scale: Optional[float] = None) -> str:
        """Continue a stopped, interrupted, failed or diverged run from its last good checkpoint.

        lr_scale (e.g. 0.5 after a divergence) multiplies the learning rates the run had at that
        checkpoint (live edits included), applied after the checkpoint is loaded, so it sticks.
        """
        check_lr_scale(lr_scale)
        with self._lock:
            job = self._jobs.get(run_id)
            if job and job.thread and job.thread.is_alive():
                if job.pause.is_set() and not job.diverged and lr_scale is None:
                    job.pause.clear()
                    return run_id
                raise RunError(f"{run_id} is still running")
        session = RunSession.reopen(self.runs_dir / run_id, lr_scale=lr_scale, data_root=self.data_root)
        return self._launch(Job(session))

    def _launch(self, job: Job) -> str:
        job.thread = threading.Thread(target=self._work, args=(job,), name=f"ganlab-{job.run.id}", daemon=True)
        with self._lock:  # check and register at once: two Resume clicks (two tabs) start one thread
            old = self._jobs.get(job.run.id)
            if old is not None and old.thread is not None and old.thread.is_alive():
                raise RunError(f"{job.run.id} is still running")
            self._jobs[job.run.id] = job
            job.thread.start()
        return job.run.id

    def pause(self, run_id: str) -> None:
        self._job(run_id).pause.set()

    def unpause(self, run_id: str) -> None:
        self._job(run_id).pause.clear()

    def stop(self, run_id: str) -> None:
        job = self._job(run_id)
        job.stop.set()
        job.pause.clear()

    def set_hparams(self, run_id: str, **changes: Any) -> None:
        """lr_d, lr_g, d_steps: applied before the trainer's next iteration."""
        for k, v in changes.items():
            if k not in ("lr_d", "lr_g", "d_steps"):
                raise ConfigError(f"{k} cannot be changed while a run trains; only lr_d, lr_g and d_steps")
            lo, hi, incl = RANGES[k]
            if not ((v >= lo if incl else v > lo) and v <= hi):
                raise ConfigError(f"{k}: {v!r} is out of range ({'>=' if incl else '>'} {lo} and <= {hi})")
        job = self._job(run_id)
        with job.lock:
            job.pending.update(changes)

    def wait(self, run_id: str, timeout: Optional[float] = None) -> str:
        job = self._job(run_id)
        if job.thread:
            job.thread.join(timeout)
        return job.state

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop every live run (each saves a checkpoint) and wait for the threads."""
        for job in self._all():
            job.stop.set()
            job.pause.clear()
        for job in self._all():
            if job.thread:
                job.thread.join(timeout)

    # ---------------------------------------------------------------- reading
    def snapshot(self, run_id: str) -> Optional[JobSnapshot]:
        with self._lock:
            job = self._jobs.get(run_id)
        if job is None:
            return None
        with job.lock:
            return JobSnapshot(job.run.id, job.state, job.step, job.cfg.steps, job.cfg, tuple(job.history),
                               job.preview, dict(job.hparams), job.error, job.diverged, tuple(job.metrics), job.started)

    def live_ids(self) -> list[str]:
        return [j.run.id for j in self._all() if j.state in ("created", "running", "paused")]

    def is_live(self, run_id: str) -> bool:
        return run_id in self.live_ids()

    def runs(self) -> list[Run]:
        return list_runs(self.runs_dir)

    def delete(self, run_id: str) -> None:
        if self.is_live(run_id):
            raise RunError(f"{run_id} is still training; stop it before deleting it")
        Run.open(self.runs_dir / run_id).delete()
        with self._lock:
            self._jobs.pop(run_id, None)

    def _job(self, run_id: str) -> Job:
        with self._lock:
            job = self._jobs.get(run_id)
        if job is None:
            raise RunError(f"{run_id} is not a live run in this app")
        return job

    def _all(self) -> list[Job]:
        with self._lock:
            return list(self._jobs.values())

    # ---------------------------------------------------------------- the thread
    def _work(self, job: Job) -> None:
        """The run's thread: the session trains it and ends it in one state (never raises)."""
        self._set(job, state="running")
        out = job.session.run_training(should_stop=lambda: self._should_stop(job, job.session.trainer),
                                       on_tick=lambda rec, tr: self._on_tick(job, rec, tr),
                                       on_ready=lambda tr: self._ready(job, tr))
        self._set(job, state=out.state, step=out.step, error=out.error, diverged=out.diverged)

    def _ready(self, job: Job, trainer) -> None:
        """The trainer stands at its first step: show the records up to it (the session has dropped the rest)."""
        self._set(job, history=thin(job.run.history(), HISTORY_LIMIT), metrics=job.run.metrics_history(),
                  hparams=dict(trainer.hparams), step=trainer.step)

    def _set(self, job: Job, **values: Any) -> None:
        with job.lock:
            for k, v in values.items():
                setattr(job, k, v)

    def _should_stop(self, job: Job, trainer) -> bool:
        """Called once per iteration: apply hparam changes, honour pause, report stop."""
        if job.pending:
            with job.lock:
                changes, job.pending = job.pending, {}
            trainer.set_hparams(**changes)
            with job.lock:
                job.hparams = dict(trainer.hparams)
        if job.pause.is_set() and not job.stop.is_set():
            job.run.write_status("paused", trainer.step)
            self._set(job, state="paused")
            while job.pause.is_set() and not job.stop.is_set():
                time.sleep(0.05)
            job.run.write_status("running", trainer.step)
            self._set(job, state="running")
        return job.stop.is_set()

    def _on_tick(self, job: Job, rec: dict, trainer) -> None:
        preview = None
        now = time.monotonic()
        if now - job.last_preview >= PREVIEW_INTERVAL or trainer.step >= job.cfg.steps:
            preview = make_preview(trainer)
            job.last_preview = now
        with job.lock:
            job.step = rec["step"]
            while job.history and job.history[-1]["step"] >= rec["step"]:  # resumed from an older checkpoint
                job.history.pop()
            job.history.append(rec)
            job.history = thin(job.history, HISTORY_LIMIT)
            if preview is not None:
                job.preview = preview

