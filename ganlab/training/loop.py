"""The loop: train steps, and on each tick one record, snapshots, checkpoints and the caller's callbacks.

`train(cfg, run, should_stop=..., on_tick=...)` is the same call in a UI thread, a test
and the CLI: it never knows a GUI exists. It writes through `run` (a ganlab.store.Run, or
anything with the same methods), so the training layer needs nothing from the layers above it.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import Any, Optional, Protocol

import numpy as np

from ..config import RunConfig
from .threads import Threads
from .trainer import Trainer


class RunSink(Protocol):
    """What the loop writes a run through (ganlab.store.Run is the one implementation)."""

    def write_status(self, state: str, step: int, **extra: Any) -> None: ...
    def append_stats(self, record: dict[str, Any]) -> None: ...
    def append_samples(self, step: int, samples: np.ndarray) -> None: ...
    def save_checkpoint(self, state: dict[str, Any], step: int, keep: int) -> Any: ...
    def last_checkpoint_step(self) -> Optional[int]: ...


# (trainer, run) -> scalar metrics for the tick record; it may write its full record to the run
Evaluate = Callable[[Trainer, Any], dict[str, float]]


def _is_tick(step: int, cfg: RunConfig) -> bool:
    # checkpoints fall on ticks, so a resumed run's records match the uninterrupted run's
    return (step % cfg.log_every == 0 or step % cfg.checkpoint_every == 0 or step >= cfg.steps
            or (cfg.eval_every > 0 and step % cfg.eval_every == 0))


# A run in a background thread shares the GIL with the UI's threads, and the trainer drops and retakes
# the GIL around every kernel: hundreds of times a step. While a page builds figures, each retake waits
# up to the switch interval. Python's 5 ms made a Monitor client cost 0-25% of a d2l run in-process;
# with the real page open in Chromium (python -m bench.ui_overhead, ring8, 3 pairs on this 2-core box),
# 1 ms gave 0.84-0.89 of headless speed and 0.1 ms 0.90-0.96. Process-wide and never raised back.
BACKGROUND_SWITCH_INTERVAL_S = 1e-4


def train(cfg: RunConfig, run: RunSink, *, should_stop: Callable[[], bool] = lambda: False,
          on_tick: Optional[Callable[[dict, Trainer], None]] = None, trainer: Optional[Trainer] = None,
          evaluate: Optional[Evaluate] = None) -> str:
    """Train from the trainer's step until cfg.steps or should_stop(); returns 'finished' or 'stopped'.

    Creating, resuming and failing a run are ganlab.session's: this is the loop alone. `evaluate`
    scores G on eval ticks (the session passes ganlab.evaluation's); a config with eval_every needs it.
    """
    trainer = trainer or Trainer(cfg)
    if cfg.eval_every and evaluate is None:
        raise ValueError("eval_every > 0 needs an evaluate function (ganlab.session.RunSession passes one)")
    if threading.current_thread() is not threading.main_thread():
        sys.setswitchinterval(min(sys.getswitchinterval(), BACKGROUND_SWITCH_INTERVAL_S))
    # the run's thread count, set once for the whole loop: switching it at every step (what train_step does
    # for a caller at another count) measured up to 2x slower on the MLP once a 2-thread pool exists
    with Threads(trainer.threads):
        return _loop(cfg, run, should_stop=should_stop, on_tick=on_tick, trainer=trainer, evaluate=evaluate)


def _loop(cfg: RunConfig, run: RunSink, *, should_stop: Callable[[], bool], on_tick, trainer: Trainer,
          evaluate: Optional[Evaluate]) -> str:
    run.write_status("running", trainer.step)
    t0, step0 = time.perf_counter(), trainer.step
    tick_t, tick_step, status_t = t0, trainer.step, t0
    state = "finished"
    while trainer.step < cfg.steps:
        if should_stop():
            state = "stopped"
            break
        nxt = trainer.step + 1
        trainer.train_step(measure=_is_tick(nxt, cfg))
        if not _is_tick(trainer.step, cfg):
            continue
        rec = trainer.collect()  # the tick's one sync; raises Diverged
        now = time.perf_counter()
        trainer.elapsed += now - tick_t
        rec.update({"time": round(trainer.elapsed, 4),
                    "Speed/steps_per_s": (trainer.step - tick_step) / max(now - tick_t, 1e-9)})
        tick_t, tick_step = now, trainer.step
        s = trainer.step
        if cfg.eval_every and (s % cfg.eval_every == 0 or s >= cfg.steps):
            rec.update(evaluate(trainer, run))
        run.append_stats(rec)
        if s % cfg.snapshot_every == 0 or s >= cfg.steps:
            run.append_samples(s, trainer.fixed_samples())
        if s % cfg.checkpoint_every == 0 or s >= cfg.steps:
            run.save_checkpoint(trainer.state_dict(), s, cfg.keep_checkpoints)
        if on_tick is not None:
            on_tick(rec, trainer)
        if now - status_t > 1.0:  # an fsync'd file: at most once a second, not once a tick
            run.write_status("running", s)
            status_t = now
    if state == "stopped" and trainer.step > step0 and trainer.step != run.last_checkpoint_step():
        run.save_checkpoint(trainer.state_dict(), trainer.step, cfg.keep_checkpoints)
    run.write_status(state, trainer.step)
    return state
