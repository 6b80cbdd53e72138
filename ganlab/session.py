"""One run session for every caller: create or resume a run, train it, and end it in one known state.

The CLI, the dashboard's JobManager (and sweeps) all go through `RunSession`, so resume, lr
scaling, divergence and failures behave the same everywhere:

- a new run is validated, then its run directory is written; a resumed one is refused while
  another process trains it, and when it has nothing left to train;
- a resume loads the newest good checkpoint and drops the records past it (they are trained
  again); with no checkpoint yet it starts over from step 0 without the stale records;
- `lr_scale` multiplies the learning rates the checkpoint had, after loading it;
- divergence, of a loss or of the weights, ends as `paused` with the reason (resume with a
  lower learning rate); any other failure ends as `failed` with one sentence (out of memory
  says what to lower), the traceback kept in status.json for a bug report.
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
from .config.validate import validate_config
from .errors import ConfigError, Diverged, GanlabError, RunError
from .evaluation.evaluate import tick_metrics
from .store import LIVE_STATES, OWNER, Run
from .training import Trainer, train

MAX_LR_SCALE = 10.0


@dataclass(frozen=True)
class Outcome:
    """How a session ended: the state written to status.json and the sentence a person reads."""

    state: str  # finished | stopped | paused (diverged) | failed
    step: int
    error: Optional[str] = None
    diverged: bool = False


def check_lr_scale(lr_scale: Optional[float]) -> None:
    if lr_scale is not None and not (0 < lr_scale <= MAX_LR_SCALE):
        raise ConfigError(f"lr_scale: {lr_scale!r} must be > 0 and <= {MAX_LR_SCALE:g}")


class RunSession:
    """A run directory, its config and (once built) its Trainer; `run()` trains it to an Outcome."""

    def __init__(self, run: Run, cfg: RunConfig, *, resume: bool = False, lr_scale: Optional[float] = None,
                 data_root=None, download: bool = False):
        self.run, self.cfg, self.resume = run, cfg, resume
        self.lr_scale, self.data_root, self.download = lr_scale, data_root, download
        self.trainer: Optional[Trainer] = None
        self.resumed_from = 0  # the checkpoint step a resume continues from (0: from the start)
        self._built = False  # the trainer stands at the resumed step: build() again is a no-op

    # ------------------------------------------------------------ opening
    @classmethod
    def new(cls, cfg: RunConfig, runs_dir, *, data_root=None, download: bool = False,
            build_first: bool = False) -> RunSession:
        """Validate cfg and create its run directory. build_first: load the data and build the nets before
        the directory exists, so a missing dataset is an error and not a failed run (the CLI's choice)."""
        validate_config(cfg, data_root)
        trainer = Trainer(cfg, data_root=data_root, download=download) if build_first else None
        session = cls(Run.create(runs_dir, cfg), cfg, data_root=data_root, download=download)
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
        cfg = run.config()
        status = run.status()  # a dead owner already reads as interrupted
        if status.get("state") in LIVE_STATES and status.get("owner") != OWNER:
            raise RunError(f"{run.id} is being trained by another process ({status.get('owner')}); "
                           f"stop it there before resuming it here")
        if steps is not None and steps != cfg.steps:
            cfg = cfg.replace(steps=steps)
            validate_config(cfg, data_root)
            run.write_config(cfg)
        if status.get("state") == "finished" and (run.last_checkpoint_step() or 0) >= cfg.steps:
            raise RunError(f"{run.id} has finished all {cfg.steps} steps; resume it with more steps "
                           f"(--steps) or start a new run")
        return cls(run, cfg, resume=True, lr_scale=lr_scale, data_root=data_root, download=download)

    # ------------------------------------------------------------ training
    def build(self) -> Trainer:
        """The Trainer, at the resumed checkpoint's step with its learning rates (times lr_scale); once."""
        if self._built:
            return self.trainer
        if self.trainer is None:
            self.trainer = Trainer(self.cfg, data_root=self.data_root, download=self.download)
        trainer = self.trainer
        if self.resume:
            if self.run.checkpoints():
                trainer.load_state_dict(self.run.load_checkpoint(map_location=trainer.device))
            self.run.truncate_history(trainer.step)  # records past the checkpoint are trained again
            self.resumed_from = trainer.step
            if self.lr_scale is not None:
                trainer.set_hparams(lr_d=trainer.hparams["lr_d"] * self.lr_scale,
                                    lr_g=trainer.hparams["lr_g"] * self.lr_scale)
        self._built = True
        return trainer

    def run_training(self, *, should_stop: Callable[[], bool] = lambda: False,
                     on_tick: Optional[Callable[[dict, Trainer], None]] = None,
                     on_ready: Optional[Callable[[Trainer], None]] = None) -> Outcome:
        """Build (if not yet), train, and end in one state; never raises for a failed run.

        on_ready(trainer) runs once the trainer stands at its first step (after a resume's checkpoint).
        """
        try:
            trainer = self.build()
            if on_ready is not None:
                on_ready(trainer)
            state = train(self.cfg, self.run, trainer=trainer, should_stop=should_stop, on_tick=on_tick,
                          evaluate=lambda tr, run: tick_metrics(tr, run, data_root=self.data_root))
            return Outcome(state, trainer.step)
        except Diverged as e:  # a loss, or a checkpoint's weights (NonFiniteWeights)
            self.run.write_status("paused", e.step, error=str(e), diverged=True, network=e.network)
            return Outcome("paused", e.step, str(e), diverged=True)
        except GanlabError as e:
            return self._fail(str(e))
        except Exception as e:  # noqa: BLE001 - a failed run must not take the app (or other runs) down
            return self._fail(self._sentence(e), traceback.format_exc())
        finally:
            self.trainer, self._built = None, False
            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()

    # ------------------------------------------------------------ failures
    def _step(self) -> int:
        return self.trainer.step if self.trainer is not None else self.resumed_from

    def _sentence(self, e: BaseException) -> str:
        if isinstance(e, torch.OutOfMemoryError) or "out of memory" in str(e).lower():
            return (f"out of memory at step {self._step() + 1} (batch_size {self.cfg.batch_size}, device "
                    f"{self.cfg.device}): lower batch_size or the model width; other runs go on")
        return f"{type(e).__name__}: {e}"

    def _fail(self, message: str, tb: str = "") -> Outcome:
        step = self._step()
        self.run.write_status("failed", step, error=message, traceback=tb[-4000:])
        return Outcome("failed", step, message)
