"""One run session for every caller: create or resume a run, train it, and end it in one known state.

The CLI, the dashboard's JobManager (and sweeps) all go through `RunSession`, so resume, lr
scaling, divergence and failures behave the same everywhere:

- a session holds its run's training lock (ganlab.store.lock) from new()/reopen() until
  run_training() returns: a second resume of the run, from another process or this one, is a
  RunError before it touches a file; a killed trainer's lock is dropped by the kernel;
- a new run is validated, then its run directory is written; a resumed one is refused when it
  has nothing left to train, or when its config.json no longer describes its checkpoint's nets;
- a resume loads the newest good checkpoint and drops the records past it (they are trained
  again); with no checkpoint yet it starts over from step 0 without the stale records;
- `lr_scale` multiplies the learning rates the checkpoint had, after loading it;
- divergence, of a loss or of the weights, ends as `paused` with the reason (resume with a
  lower learning rate); any other failure ends as `failed` with one sentence (out of memory
  says what to lower, a full disk says so and that the last good checkpoint is kept), the
  traceback kept in status.json for a bug report. When even that status cannot be written
  (the disk is full), the Outcome still carries the sentence to the caller.
"""

from __future__ import annotations

import gc
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch

from .config import RunConfig
from .config.thresholds import EarlyStop
from .config.validate import validate_config
from .data import metric_family
from .errors import DISK_FULL_ERRNOS, ConfigError, Diverged, GanlabError, RunError
from .evaluation.evaluate import tick_metrics
from .explore.game import divergence_watch, game_frame, has_game
from .store import Run, TrainingLock, trained_elsewhere
from .store.checkpoint import config_mismatch
from .training import Trainer, distributed, resolve_device, train

MAX_LR_SCALE = 10.0


@dataclass(frozen=True)
class Outcome:
    """How a session ended: the state written to status.json and the sentence a person reads."""

    state: str  # finished | stopped | paused (diverged) | failed
    step: int
    error: Optional[str] = None
    diverged: bool = False
    stopped_early: Optional[str] = None  # a finished run that met cfg.stop_at: the sentence saying so


def resume_refusal(run: Run, cfg: RunConfig, status: dict) -> Optional[str]:
    """Why the run's own files say it cannot be resumed now, as one sentence; None: they allow it.

    RunSession.reopen refuses with it, and JobManager.resume_blocker shows it instead of a Resume
    button, so the two never disagree. cfg is the config the resume would train (a new total applied).
    The training lock is the other half of the check, taken by reopen itself.
    """
    if trained_elsewhere(status):  # e.g. on another host: no flock there
        return (f"{run.id} is being trained by another process ({status.get('owner')}); stop it there, "
                f"or resume it here once it ends")
    if status.get("state") == "finished" and (run.last_checkpoint_step() or 0) >= cfg.steps:
        return (f"{run.id} has finished all {cfg.steps:,} steps; train it for more steps (--steps on the command "
                f"line, Train N more steps on the Runs page) or start a new run")
    return None


def check_lr_scale(lr_scale: Optional[float]) -> None:
    if lr_scale is not None and not (0 < lr_scale <= MAX_LR_SCALE):
        raise ConfigError(f"lr_scale: {lr_scale!r} must be > 0 and <= {MAX_LR_SCALE:g}")


def game_hooks(trainer: Trainer) -> dict[str, Callable]:
    """What a point run with 2 or more dimensions adds to every tick (Div/KL, Div/JS of 30x30 histograms) and
    to every snapshot (a game frame in game.h5): issue #17's loop hooks. Neither draws from the training RNG."""
    if not has_game(trainer):
        return {}
    return {"watch": divergence_watch, "frame": game_frame}


def early_stop(cfg: RunConfig, trainer: Trainer) -> Optional[EarlyStop]:
    """The loop's stop_on for cfg.stop_at (validate() checked the name against the dataset's metric family)."""
    return EarlyStop(metric_family(cfg.dataset, trainer.spec), cfg.stop_at) if cfg.stop_at else None


class RunSession:
    """A run directory, its config and (once built) its Trainer; `run()` trains it to an Outcome."""

    def __init__(self, run: Run, cfg: RunConfig, *, resume: bool = False, lr_scale: Optional[float] = None,
                 data_root=None, download: bool = False, lock: Optional[TrainingLock] = None):
        self.run, self.cfg, self.resume = run, cfg, resume
        self.lr_scale, self.data_root, self.download = lr_scale, data_root, download
        self.trainer: Optional[Trainer] = None
        self.resumed_from = 0  # the checkpoint step a resume continues from (0: from the start)
        self._built = False  # the trainer stands at the resumed step: build() again is a no-op
        self._lock = lock  # the run's training lock; new()/reopen() take it, run_training() takes it if not yet
        self.stop_at_met = False  # a resumed run that ended at its stop_at trains on to cfg.steps

    # ------------------------------------------------------------ opening
    @classmethod
    def new(cls, cfg: RunConfig, runs_dir, *, data_root=None, download: bool = False,
            build_first: bool = False) -> RunSession:
        """Validate cfg and create its run directory. build_first: load the data and build the nets before
        the directory exists, so a missing dataset is an error and not a failed run (the CLI's choice)."""
        cfg = distributed.prepared(cfg)  # world_size; under torchrun, what cannot be data-parallel is refused here
        validate_config(cfg, data_root)
        trainer = Trainer(cfg, data_root=data_root, download=download) if build_first else None
        run, lock = Run.create_locked(runs_dir, cfg)
        session = cls(run, cfg, data_root=data_root, download=download, lock=lock)
        session.trainer = trainer
        return session

    @classmethod
    def reopen(cls, path: str | Path, *, steps: Optional[int] = None, lr_scale: Optional[float] = None,
               data_root=None, download: bool = False) -> RunSession:
        """A stopped, interrupted, failed or diverged run, to continue from its last good checkpoint.

        steps: a new total (to train a finished run longer); it is written to config.json.
        """
        check_lr_scale(lr_scale)
        run = Run.open(path)
        lock = run.lock_training()  # before anything is read: the check and the claim are one step
        try:
            run.remove_stale_temp_files()  # a killed trainer's half-written files; nobody else writes here now
            cfg = run.config()
            new_total = steps is not None and steps != cfg.steps
            if new_total:
                cfg = cfg.replace(steps=steps)
            rewrite = new_total or cfg.world_size != distributed.size()
            cfg = distributed.prepared(cfg)  # the processes that train it now; under torchrun, the refusals
            status = run.status()
            refusal = resume_refusal(run, cfg, status)  # a dead owner already reads as interrupted
            if refusal:
                raise RunError(refusal)
            if rewrite:
                validate_config(cfg, data_root)
                run.write_config(cfg)
        except BaseException:
            lock.release()
            raise
        session = cls(run, cfg, resume=True, lr_scale=lr_scale, data_root=data_root, download=download, lock=lock)
        # it met its stop_at already: resuming it asks for more training, so the threshold no longer ends it
        session.stop_at_met = bool(status.get("stopped_early"))
        return session

    def close(self) -> None:
        """End the session without training (a caller that gives up after new()/reopen()): frees the run."""
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    # ------------------------------------------------------------ training
    def build(self) -> Trainer:
        """The Trainer, at the resumed checkpoint's step with its learning rates (times lr_scale); once."""
        if self._built:
            return self.trainer
        state = self._resume_state() if self.resume else None  # before the nets: a mismatch costs no build
        if self.trainer is None:
            self.trainer = Trainer(self.cfg, data_root=self.data_root, download=self.download)
        trainer = self.trainer
        if self.resume:
            if state is not None:
                try:
                    trainer.load_state_dict(state)
                except (RuntimeError, KeyError, ValueError, TypeError) as e:
                    raise RunError(f"{self.run.id}: its checkpoint at step {state['step']} does not load into the nets "
                                   f"config.json describes ({str(e).strip().splitlines()[0][:200]}); "
                                   f"start a new run") from None
            self.run.truncate_history(trainer.step)  # records past the checkpoint are trained again
            self.resumed_from = trainer.step
            if self.lr_scale is not None:
                trainer.set_hparams(lr_d=trainer.hparams["lr_d"] * self.lr_scale,
                                    lr_g=trainer.hparams["lr_g"] * self.lr_scale)
        self._built = True
        return trainer

    def _resume_state(self) -> Optional[dict]:
        """The newest good checkpoint, checked against config.json (None: no checkpoint, train from step 0)."""
        if not self.run.checkpoints():
            return None
        state = self.run.load_checkpoint(map_location=resolve_device(self.cfg.device))
        mismatch = config_mismatch(self.cfg, state)
        if mismatch:
            raise RunError(f"{self.run.id}: config.json disagrees with its checkpoint at step {state['step']} on "
                           f"{mismatch}; put the checkpoint's values back in config.json, or start a new run")
        return state

    def run_training(self, *, should_stop: Callable[[], bool] = lambda: False,
                     on_tick: Optional[Callable[[dict, Trainer], None]] = None,
                     on_ready: Optional[Callable[[Trainer], None]] = None, gate=None) -> Outcome:
        """Build (if not yet), train, and end in one state; never raises for a failed run.

        on_ready(trainer) runs once the trainer stands at its first step (after a resume's checkpoint).
        gate: a ganlab.training.gate.StepGate through which a paused run takes manual steps (the JobManager's).
        The run's training lock is released when this returns, however it ends.
        """
        if self._lock is None:  # a session made by hand, not by new()/reopen()
            try:
                self._lock = self.run.lock_training()
            except RunError as e:  # another session trains it: its status.json is that session's to write
                return Outcome("failed", self._step(), str(e))
        try:
            trainer = self.build()
            if on_ready is not None:
                on_ready(trainer)
            early = None if self.stop_at_met else early_stop(self.cfg, trainer)
            state = train(self.cfg, self.run, trainer=trainer, should_stop=should_stop, on_tick=on_tick,
                          evaluate=lambda tr, run: tick_metrics(tr, run, data_root=self.data_root), gate=gate,
                          stop_on=early, **game_hooks(trainer))
            return Outcome(state, trainer.step, stopped_early=early.reason if early is not None else None)
        except Diverged as e:  # a loss, or a checkpoint's weights (NonFiniteWeights)
            message = self._record("paused", e.step, str(e), diverged=True, network=e.network)
            return Outcome("paused", e.step, message, diverged=True)
        except GanlabError as e:
            return self._fail(str(e))
        except Exception as e:  # noqa: BLE001 - a failed run must not take the app (or other runs) down
            return self._fail(self._sentence(e), traceback.format_exc())
        finally:
            self.trainer, self._built = None, False
            self.close()
            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()

    # ------------------------------------------------------------ failures
    def _step(self) -> int:
        return self.trainer.step if self.trainer is not None else self.resumed_from

    def _sentence(self, e: BaseException) -> str:
        if distributed.current() is not None and distributed.peer_lost(e):  # a torchrun rank died: say so, not gloo's text
            return distributed.peer_lost_sentence(self._step(), self.run.last_checkpoint_step())
        if isinstance(e, torch.OutOfMemoryError) or "out of memory" in str(e).lower():
            return (f"out of memory at step {self._step() + 1} (batch_size {self.cfg.batch_size}, device "
                    f"{self.cfg.device}): lower batch_size or the model width; other runs go on")
        if isinstance(e, OSError) and e.errno in DISK_FULL_ERRNOS:
            return self._disk_full(e)
        return f"{type(e).__name__}: {e}"

    def _disk_full(self, e: OSError) -> str:
        where = f" writing {Path(e.filename).name}" if e.filename else ""
        kept = self.run.last_checkpoint_step()
        kept_text = f"the last good checkpoint (step {kept}) is kept" if kept else "no checkpoint had been written yet"
        return (f"the disk is full ({e.strerror}{where}) at step {self._step()}: free space in {self.run.path.parent} "
                f"and resume; {kept_text}")

    def _record(self, state: str, step: int, message: str, **extra) -> str:
        """Write the final status; when the disk refuses even that, the caller still gets the sentence."""
        try:
            self.run.write_status(state, step, error=message, **extra)
        except OSError as e:
            return f"{message} (status.json could not be written either: {e.strerror or e})"
        return message

    def _fail(self, message: str, tb: str = "") -> Outcome:
        step = self._step()
        return Outcome("failed", step, self._record("failed", step, message, traceback=tb[-4000:]))
