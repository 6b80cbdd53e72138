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
from .config.validate import RANGES, validate_config
from .data.download import files_problem
from .errors import ConfigError, GanlabError, RunError
from .explore.preview import make_preview
from .explore.steps import StepView, describe_step, step_frame
from .paths import data_root as default_data_root
from .paths import runs_dir as default_runs_dir
from .session import RunSession, check_lr_scale, resume_refusal
from .store import Run, list_runs, trained_elsewhere
from .store.tail import reached_step
from .training.gate import StepFunction, StepGate
from .training.trainer import PARTS

HISTORY_LIMIT = 4000  # records kept in memory per run; older ones are thinned (disk keeps all)
PREVIEW_INTERVAL = 0.5  # seconds between live previews (G on the fixed batch, D's surface)
READY_TIMEOUT = 20.0  # seconds a Resume click waits for the trainer to stand at its first step (data, checkpoint)
STEP_TIMEOUT = 10.0  # seconds a manual step's click waits for the paused trainer to take it
PAUSE_POLL = 0.05  # seconds a paused run waits between looks at its flags and its manual-step requests


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
    current_step: int = 0  # the trainer's step now (every iteration); `step` is the last tick's, as `history` ends
    step_view: Optional[StepView] = None  # the last manual step's before, after and what moved
    iteration: tuple[int, int] = (0, 1)  # (D steps taken in the current iteration, k)
    stopped_early: Optional[str] = None  # a finished run that met its stop_at: the sentence saying so


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
    live_step: int = 0  # the trainer's step, set each iteration (an int store: no lock, no host sync)
    ready: threading.Event = field(default_factory=threading.Event)  # the trainer stands at its first step, or it ended
    gate: StepGate = field(default_factory=StepGate)  # manual steps, taken by the paused trainer's thread
    step_view: Optional[StepView] = None
    iteration: tuple[int, int] = (0, 1)  # as of the last pause or manual step
    stopped_early: Optional[str] = None

    @property
    def run(self) -> Run:
        return self.session.run

    @property
    def cfg(self) -> RunConfig:
        return self.session.cfg


@dataclass(frozen=True)
class Resumed:
    """What a Resume click did, as the sentence a person reads. ok False: it failed before training."""

    run_id: str
    ok: bool
    message: str


def resume_point_text(checkpoint: Optional[int], reached: int, steps: Optional[int] = None) -> str:
    """Where a resume starts and what it trains again: the steps past the checkpoint are not kept."""
    if not checkpoint:
        text = "from step 0: no checkpoint yet"
        if reached > 0:
            text += f", so steps 1–{reached:,} will be trained again"
    else:
        text = f"from the checkpoint at step {checkpoint:,}"
        if reached > checkpoint:
            text += f"; steps {checkpoint + 1:,}–{reached:,} will be trained again"
    if steps is not None:
        text += f", on to step {steps:,}"
    return text


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

    def resume(self, run_id: str, *, lr_scale: Optional[float] = None, steps: Optional[int] = None) -> str:
        """Continue a stopped, interrupted, failed or diverged run from its last good checkpoint.

        lr_scale (e.g. 0.5 after a divergence) multiplies the learning rates the run had at that
        checkpoint (live edits included), applied after the checkpoint is loaded, so it sticks.
        steps: a new total, more than the run has trained (a finished run trains on); written to config.json.
        """
        check_lr_scale(lr_scale)
        path = self.run_path(run_id)
        with self._lock:
            job = self._jobs.get(run_id)
            if job and job.thread and job.thread.is_alive():
                if job.pause.is_set() and not job.diverged and lr_scale is None and steps is None:
                    job.pause.clear()
                    return run_id
                raise RunError(f"{run_id} is still running")
        if steps is not None:
            self._check_more_steps(Run(path), steps)
        problem = self._cannot_train(Run(path), steps)
        if problem:  # refused now, with the sentence the page shows, rather than failing a second after it starts
            raise ConfigError(problem)
        session = RunSession.reopen(path, steps=steps, lr_scale=lr_scale, data_root=self.data_root)
        return self._launch(Job(session))

    def resume_and_report(self, run_id: str, *, lr_scale: Optional[float] = None, steps: Optional[int] = None,
                          timeout: float = READY_TIMEOUT) -> Resumed:
        """Resume, wait until the trainer stands at its first step, and say what happened.

        A resume can fail a moment after its thread starts (an unreadable checkpoint): a page that
        said "Resumed" at once would contradict the run, so it waits for the outcome of the start.
        The sentence names the step it really continues from, and the steps it trains again.
        """
        path = self.run_path(run_id)
        with self._lock:
            before = self._jobs.get(run_id)
        run = Run(path)
        planned, reached = run.last_checkpoint_step(), reached_step(run)
        rid = self.resume(run_id, lr_scale=lr_scale, steps=steps)
        job = self._job(rid)
        if job is before:  # a paused run in this process: it simply goes on
            return Resumed(rid, True, f"{rid} continues at step {job.step:,}, where it paused.")
        job.ready.wait(timeout)
        snap = self.snapshot(rid)
        if snap is not None and snap.state == "failed":
            return Resumed(rid, False, f"{rid} did not resume: {snap.error}")
        if not job.ready.is_set():
            return Resumed(rid, True, f"Resuming {rid} {resume_point_text(planned, reached, steps)}; "
                                      f"it is still loading its data and checkpoint.")
        return Resumed(rid, True, f"Resumed {rid} {resume_point_text(job.session.resumed_from, reached, steps)}.")

    def resume_blocker(self, run_id: str, *, steps: Optional[int] = None) -> Optional[str]:
        """Why Resume cannot work now, as the sentence a page shows instead of the button; None: it can.

        The checks a resume would fail a second after it started, made before: the run's data and
        config on this machine, a run that trains now (here or elsewhere), a run with nothing left.
        """
        try:
            run = Run(self.run_path(run_id))
            cfg = run.config()
        except RunError as e:
            return str(e)
        with self._lock:
            job = self._jobs.get(run_id)
        if job is not None and job.thread is not None and job.thread.is_alive():
            if job.pause.is_set() and not job.diverged and steps is None:
                return None
            return f"{run_id} is training now; stop it before resuming it"
        if steps is not None:
            try:
                self._check_more_steps(run, steps)
            except ConfigError as e:
                return str(e)
        refusal = resume_refusal(run, cfg if steps is None else cfg.replace(steps=steps), run.status())
        return refusal or self._cannot_train(run, steps)

    def resume_plan(self, run_id: str, *, steps: Optional[int] = None) -> str:
        """Where Resume would continue, said before the click ("from the checkpoint at step 5,000; ...")."""
        path = self.run_path(run_id)
        with self._lock:
            job = self._jobs.get(run_id)
        if job is not None and job.thread is not None and job.thread.is_alive() and job.pause.is_set():
            return f"at step {job.step:,}, where it paused"
        run = Run(path)
        return resume_point_text(run.last_checkpoint_step(), reached_step(run), steps)

    def run_path(self, run_id: str) -> Path:
        """The directory of one run of this store. Anything else is refused: a path, '..', a link that leads out."""
        if not isinstance(run_id, str) or run_id in ("", ".", "..") or any(c in run_id for c in "/\\\0"):
            raise RunError(f"{run_id!r} is not a run name; pick a run from the Runs list")
        path = self.runs_dir / run_id
        if path.is_symlink() or not path.is_dir() or not (path / "config.json").is_file():
            raise RunError(f"{run_id} is not a run in {self.runs_dir}; pick one from the Runs list")
        return path

    def _cannot_train(self, run: Run, steps: Optional[int]) -> Optional[str]:
        """What this machine lacks to train the run (its data files, its device), as a sentence; None: nothing."""
        try:
            cfg = run.config()
            if steps is not None:
                cfg = cfg.replace(steps=steps)
            validate_config(cfg, self.data_root)
        except (ConfigError, RunError) as e:
            return f"{run.id} cannot train on this machine: {e}"
        missing = files_problem(cfg.dataset, self.data_root)
        if missing:
            return f"{run.id} cannot train on this machine: its data files are missing. {missing}"
        return None

    @staticmethod
    def _check_more_steps(run: Run, steps: int) -> None:
        done = run.last_checkpoint_step() or 0
        if isinstance(steps, bool) or not isinstance(steps, int) or steps <= done:
            raise ConfigError(f"steps: {steps!r} must be a whole number above the {done:,} steps {run.id} has trained")

    def _launch(self, job: Job) -> str:
        job.thread = threading.Thread(target=self._work, args=(job,), name=f"ganlab-{job.run.id}", daemon=True)
        with self._lock:  # check and register at once: two Resume clicks (two tabs) start one thread
            old = self._jobs.get(job.run.id)
            if old is not None and old.thread is not None and old.thread.is_alive():
                job.session.close()  # its training lock: the old thread's session is still ending
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

    def step_once(self, run_id: str, part: str, timeout: float = STEP_TIMEOUT) -> StepView:
        """Take one part of the paused run's iteration ("d", "g" or "iteration") and show what it changed.

        The paused trainer's thread takes it (the trainer is not thread-safe): the game before, the step
        through the loop (an iteration it ends is ticked as any other), the game after. Blocks until then,
        at most `timeout` s; a RunError says why when the run is not paused here, has ended or diverged.
        """
        if part not in PARTS:
            raise RunError(f"{part!r} is not a step; take one of {', '.join(repr(p) for p in PARTS)}")
        job = self._job(run_id)
        if job.diverged:
            raise RunError(f"{run_id} diverged; resume it with a lower learning rate before stepping it")
        if job.thread is None or not job.thread.is_alive() or job.state not in ("running", "paused"):
            raise RunError(f"{run_id} has {job.state if job.state != 'created' else 'not started'}; "
                           f"only a paused live run takes single steps")
        if not job.pause.is_set() or job.stop.is_set():
            raise RunError(f"{run_id} is not paused; pause it to take single steps")
        try:
            out = job.gate.submit(lambda step: self._manual_step(job, part, step), timeout)
        except RunError:
            raise
        except GanlabError as e:  # a divergence: the run ends paused, as after a normal step
            raise RunError(f"{run_id}: {e}") from None
        except Exception as e:  # noqa: BLE001 - the run ends failed (its status says why); the page gets a sentence
            raise RunError(f"{run_id} failed while taking the step ({type(e).__name__}: {e}); see its status") from None
        if isinstance(out, str):  # refused before anything changed
            raise RunError(out)
        return out

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
            iteration = job.iteration if job.state == "paused" else (0, int(job.hparams.get("d_steps", job.cfg.d_steps)))
            return JobSnapshot(job.run.id, job.state, job.step, job.cfg.steps, job.cfg, tuple(job.history),
                               job.preview, dict(job.hparams), job.error, job.diverged, tuple(job.metrics), job.started,
                               current_step=max(job.live_step, job.step), step_view=job.step_view, iteration=iteration,
                               stopped_early=job.stopped_early)

    def live_ids(self) -> list[str]:
        return [j.run.id for j in self._all() if j.state in ("created", "running", "paused")]

    def is_live(self, run_id: str) -> bool:
        return run_id in self.live_ids()

    def runs(self) -> list[Run]:
        return list_runs(self.runs_dir)

    def delete(self, run_id: str) -> None:
        """Remove a run's directory: only a run of this store, and never one that trains (here or elsewhere)."""
        run = Run(self.run_path(run_id))
        with self._lock:
            job = self._jobs.get(run_id)
        if job is not None and job.thread is not None and job.thread.is_alive():
            raise RunError(f"{run_id} is still training; stop it before deleting it")
        if trained_elsewhere(run.status()):
            raise RunError(f"{run_id} is being trained by another process; stop it there before deleting it")
        run.delete()
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
                                       on_ready=lambda tr: self._ready(job, tr), gate=job.gate)
        self._set(job, state=out.state, step=out.step, error=out.error, diverged=out.diverged,
                  stopped_early=out.stopped_early)
        job.ready.set()  # a start that failed before its first step: whoever waits reads the failure

    def _ready(self, job: Job, trainer) -> None:
        """The trainer stands at its first step: show the records up to it (the session has dropped the rest)."""
        self._set(job, history=thin(job.run.history(), HISTORY_LIMIT), metrics=job.run.metrics_history(),
                  hparams=dict(trainer.hparams), step=trainer.step)
        job.ready.set()

    def _set(self, job: Job, **values: Any) -> None:
        with job.lock:
            for k, v in values.items():
                setattr(job, k, v)

    def _should_stop(self, job: Job, trainer) -> bool:
        """Called once per iteration: note the step (progress between ticks), apply hparam changes, honour pause.

        While paused, the thread takes the manual steps handed to its gate; a manual iteration that
        trains the last step ends the pause, so the run finishes.
        """
        job.live_step = trainer.step
        if job.pending:
            self._apply_pending(job, trainer)
        if job.pause.is_set() and not job.stop.is_set():
            job.run.write_status("paused", trainer.step)
            self._set(job, state="paused", iteration=trainer.iteration_progress())
            while job.pause.is_set() and not job.stop.is_set() and trainer.step < job.cfg.steps:
                if job.pending:
                    self._apply_pending(job, trainer)
                    self._set(job, iteration=trainer.iteration_progress())
                job.gate.serve(PAUSE_POLL)
            why = "was stopped" if job.stop.is_set() else "was unpaused" if not job.pause.is_set() else "finished"
            job.gate.refuse_waiting(f"{job.run.id} {why} before it took the step")
            if not job.stop.is_set():
                job.run.write_status("running", trainer.step)
                self._set(job, state="running")
        return job.stop.is_set()

    def _apply_pending(self, job: Job, trainer) -> None:
        with job.lock:
            changes, job.pending = job.pending, {}
        trainer.set_hparams(**changes)
        with job.lock:
            job.hparams = dict(trainer.hparams)

    def _manual_step(self, job: Job, part: str, step: StepFunction) -> StepView | str:
        """On the training thread: the frame before, the loop's step, the frame after; a str when refused."""
        trainer = job.session.trainer
        step_before, (done, k) = trainer.step, trainer.iteration_progress()
        before = step_frame(trainer)
        refusal = step(part)
        if refusal is not None:
            return refusal
        after = step_frame(trainer, like=before)
        done = {"d": done + 1, "g": done, "iteration": k}[part]
        view = StepView(part, before, after, describe_step(part, before, after, done, k), step_before, trainer.step,
                        done, k)
        self._set(job, step_view=view, iteration=trainer.iteration_progress(), live_step=trainer.step,
                  preview=make_preview(trainer))
        return view

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

