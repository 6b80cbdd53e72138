"""Live runs as background threads; pages read copies through `snapshot()`, never the trainer.

One JobManager per process (the UI gets it from st.cache_resource). A browser refresh,
a second tab or a closed tab only changes who polls; the threads go on.
"""

from __future__ import annotations

import gc
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from .config import ConfigError, RunConfig
from .data import DataError
from .paths import data_root as default_data_root
from .paths import runs_dir as default_runs_dir
from .run import LIVE_STATES, OWNER, NonFiniteWeights, Run, RunError, list_runs

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
    run: Run
    cfg: RunConfig
    resume: bool = False
    lr_scale: Optional[float] = None  # multiplies the learning rates in effect at the checkpoint, after loading it
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
        from .validate import validate_config

        validate_config(cfg, self.data_root)
        run = Run.create(self.runs_dir, cfg)
        return self._launch(Job(run, cfg))

    def resume(self, run_id: str, *, lr_scale: Optional[float] = None) -> str:
        """Continue a stopped, interrupted, failed or diverged run from its last good checkpoint.

        lr_scale (e.g. 0.5 after a divergence) multiplies the learning rates the run had at that
        checkpoint (live edits included), applied after the checkpoint is loaded, so it sticks.
        """
        if lr_scale is not None and not (0 < lr_scale <= 10):
            raise ConfigError(f"lr_scale: {lr_scale!r} must be > 0 and <= 10")
        with self._lock:
            job = self._jobs.get(run_id)
            if job and job.thread and job.thread.is_alive():
                if job.pause.is_set() and not job.diverged and lr_scale is None:
                    job.pause.clear()
                    return run_id
                raise RunError(f"{run_id} is still running")
        run = Run.open(self.runs_dir / run_id)
        cfg = run.config()
        status = run.status()
        if status.get("state") in LIVE_STATES and status.get("owner") != OWNER:
            raise RunError(f"{run_id} is being trained by another process ({status.get('owner')}); "
                           f"stop it there before resuming it here")
        if status.get("state") == "finished" and (run.last_checkpoint_step() or 0) >= cfg.steps:
            raise RunError(f"{run_id} has finished all {cfg.steps} steps; start a new run to train longer")
        return self._launch(Job(run, cfg, resume=True, lr_scale=lr_scale))

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
        from .validate import RANGES

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
        from .train import Diverged, Trainer, train

        trainer = None
        try:
            self._set(job, state="running")
            trainer = Trainer(job.cfg, data_root=self.data_root)  # model init holds checkpoint.RNG_LOCK
            if job.resume:
                if not job.run.checkpoints():  # nothing to resume from: start over, without stale records
                    job.run.truncate_history(0)
                # records past the checkpoint are replayed by the resume (train() drops them on disk)
                upto = job.run.last_checkpoint_step() or 0
                job.history = thin([r for r in job.run.history() if r["step"] <= upto], HISTORY_LIMIT)
                job.metrics = [r for r in job.run.metrics_history() if r.get("step", 0) <= upto]
            with job.lock:
                job.hparams = dict(trainer.hparams)
            state = train(job.cfg, job.run, trainer=trainer, resume=job.resume,
                          should_stop=lambda: self._should_stop(job, trainer),
                          on_tick=lambda rec, tr: self._on_tick(job, rec, tr))
            self._set(job, state=state, step=trainer.step)
        except (Diverged, NonFiniteWeights) as e:
            job.run.write_status("paused", e.step, error=str(e), diverged=True, network=e.network)
            self._set(job, state="paused", error=str(e), diverged=True)
        except (ConfigError, DataError, RunError) as e:
            self._fail(job, str(e))
        except Exception as e:  # noqa: BLE001 - a failed run must not take the app down
            step = trainer.step if trainer is not None else job.step  # job.step moves only on ticks
            detail = (f"out of memory at step {step + 1} (batch_size {job.cfg.batch_size}, device {job.cfg.device}): "
                      f"lower batch_size or the model width; other runs go on") if _is_oom(e) else f"{type(e).__name__}: {e}"
            self._fail(job, detail, tb=traceback.format_exc())
        finally:
            del trainer
            gc.collect()
            _free_cuda()

    def _fail(self, job: Job, message: str, tb: str = "") -> None:
        job.run.write_status("failed", job.step, error=message, traceback=tb[-4000:])
        self._set(job, state="failed", error=message)

    def _set(self, job: Job, **values: Any) -> None:
        with job.lock:
            for k, v in values.items():
                setattr(job, k, v)

    def _should_stop(self, job: Job, trainer) -> bool:
        """Called once per iteration: apply hparam changes, honour pause, report stop."""
        if job.lr_scale is not None:  # first call: the checkpoint (and its learning rates) is loaded now
            scale, job.lr_scale = job.lr_scale, None
            with job.lock:
                job.pending = {"lr_d": trainer.hparams["lr_d"] * scale, "lr_g": trainer.hparams["lr_g"] * scale,
                               **job.pending}
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
        from .preview import make_preview

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


def _is_oom(e: BaseException) -> bool:
    import torch

    return isinstance(e, torch.OutOfMemoryError) or "out of memory" in str(e).lower()


def _free_cuda() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
