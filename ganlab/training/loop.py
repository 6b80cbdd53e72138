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
from ..errors import RunError
from .gate import StepGate
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
Watch = Callable[[Trainer], dict[str, float]]  # scalars for every tick record (the session's divergence metrics)
Frame = Callable[[Trainer], dict]  # a game frame (ganlab.explore.game) for snapshot ticks
# an eval tick's record -> why the run should end here (stop_at met: ganlab.evaluation.thresholds), or None
StopOn = Callable[[dict], Optional[str]]


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
          evaluate: Optional[Evaluate] = None, watch: Optional[Watch] = None, frame: Optional[Frame] = None,
          gate: Optional[StepGate] = None, stop_on: Optional[StopOn] = None) -> str:
    """Train from the trainer's step until cfg.steps or should_stop(); returns 'finished' or 'stopped'.

    Creating, resuming and failing a run are ganlab.session's: this is the loop alone. `evaluate`
    scores G on eval ticks (the session passes ganlab.evaluation's); a config with eval_every needs it.
    watch(trainer)'s scalars join every tick record; on snapshot ticks frame(trainer) is appended to
    the run (`append_game`) when the run can store it. gate: while should_stop() waits on a pause, it
    may serve manual steps through it (ganlab.jobs does); they run on this thread, with this loop's
    tick handling. stop_on(record) on eval ticks: a sentence ends the run there as "finished", with a checkpoint and
    the sentence as status.json's `stopped_early` (cfg.stop_at, which the session turns into stop_on).
    """
    trainer = trainer or Trainer(cfg)
    if cfg.eval_every and evaluate is None:
        raise ValueError("eval_every > 0 needs an evaluate function (ganlab.session.RunSession passes one)")
    if threading.current_thread() is not threading.main_thread():
        sys.setswitchinterval(min(sys.getswitchinterval(), BACKGROUND_SWITCH_INTERVAL_S))
    ticks = _Ticks(cfg, run, trainer, on_tick=on_tick, evaluate=evaluate, watch=watch, frame=frame, stop_on=stop_on)
    # the run's thread count, set once for the whole loop: switching it at every step (what train_step does
    # for a caller at another count) measured up to 2x slower on the MLP once a 2-thread pool exists
    with Threads(trainer.threads):
        if gate is None:
            return _loop(cfg, run, should_stop=should_stop, trainer=trainer, ticks=ticks)
        gate.open(lambda part: _manual_step(cfg, run, trainer, ticks, part))
        ended = "the run has ended"
        try:
            state = _loop(cfg, run, should_stop=should_stop, trainer=trainer, ticks=ticks)
            ended = f"the run has {state}"
            return state
        finally:
            gate.close(ended)


class _Ticks:
    """A tick's work, the same after a normal iteration and after one ended by a manual step:
    one record (with watch's scalars), evaluation, samples and game frames, checkpoints, on_tick."""

    def __init__(self, cfg: RunConfig, run: RunSink, trainer: Trainer, *, on_tick, evaluate: Optional[Evaluate],
                 watch: Optional[Watch], frame: Optional[Frame], stop_on: Optional[StopOn] = None):
        self.cfg, self.run, self.trainer = cfg, run, trainer
        self.stop_on, self.stopped_early = stop_on, None  # stopped_early: the sentence, once stop_on said one
        self.on_tick, self.evaluate, self.watch = on_tick, evaluate, watch
        self.frame = frame if frame is not None and hasattr(run, "append_game") else None
        self.tick_t = self.status_t = time.perf_counter()
        self.tick_step = trainer.step

    def tick(self, status: bool = True) -> None:
        """The tick at the trainer's step (the caller knows it is one); status: write "running" at most once a second."""
        cfg, run, trainer = self.cfg, self.run, self.trainer
        rec = trainer.collect()  # the tick's one sync; raises Diverged
        now = time.perf_counter()
        trainer.elapsed += now - self.tick_t
        rec.update({"time": round(trainer.elapsed, 4),
                    "Speed/steps_per_s": (trainer.step - self.tick_step) / max(now - self.tick_t, 1e-9)})
        self.tick_t, self.tick_step = now, trainer.step
        s = trainer.step
        if cfg.eval_every and (s % cfg.eval_every == 0 or s >= cfg.steps):
            t_eval = time.perf_counter()
            rec.update(self.evaluate(trainer, run))
            self.tick_t += time.perf_counter() - t_eval  # the run's clock is training time: time to quality, steps/s
            if self.stop_on is not None and s < cfg.steps:
                self.stopped_early = self.stop_on(rec)
        if self.watch is not None:
            rec.update(self.watch(trainer))
        run.append_stats(rec)
        if s % cfg.snapshot_every == 0 or s >= cfg.steps:
            run.append_samples(s, trainer.fixed_samples())
            if self.frame is not None:
                run.append_game(s, self.frame(trainer))
        if s % cfg.checkpoint_every == 0 or s >= cfg.steps or self.stopped_early:
            run.save_checkpoint(trainer.state_dict(), s, cfg.keep_checkpoints)
        if self.on_tick is not None:
            self.on_tick(rec, trainer)
        if status and now - self.status_t > 1.0:  # an fsync'd file: at most once a second, not once a tick
            run.write_status("running", s)
            self.status_t = now


def _loop(cfg: RunConfig, run: RunSink, *, should_stop: Callable[[], bool], trainer: Trainer, ticks: _Ticks) -> str:
    run.write_status("running", trainer.step)
    step0 = trainer.step
    state = "finished"
    while trainer.step < cfg.steps:
        if should_stop():
            state = "stopped"
            break
        if trainer.step >= cfg.steps or ticks.stopped_early:  # a manual iteration, taken while should_stop() waited,
            break                                               # ended the run or met its stop_at
        trainer.train_step(measure=_is_tick(trainer.step + 1, cfg))
        if _is_tick(trainer.step, cfg):
            ticks.tick()
            if ticks.stopped_early:
                break
    if state == "stopped" and (trainer.iteration is not None
                               or (trainer.step > step0 and trainer.step != run.last_checkpoint_step())):
        # a stop inside an iteration keeps the D steps taken (see Trainer.state_dict), even at a checkpoint's step
        run.save_checkpoint(trainer.state_dict(), trainer.step, cfg.keep_checkpoints)
    if ticks.stopped_early:
        run.write_status(state, trainer.step, stopped_early=ticks.stopped_early)
    else:
        run.write_status(state, trainer.step)
    return state


def _manual_step(cfg: RunConfig, run: RunSink, trainer: Trainer, ticks: _Ticks, part: str) -> Optional[str]:
    """One manual part on the training thread; None when taken, else why not. An iteration it ends is ticked
    as a normal one would be; status.json then says "paused" at the step it stands at."""
    if trainer.step >= cfg.steps:
        return f"the run has trained all its {cfg.steps:,} steps; train it for more steps to step on"
    try:
        ended = trainer.take_part(part, measure=_is_tick(trainer.step + 1, cfg))
    except RunError as e:  # refused before anything changed
        return str(e)
    if ended and _is_tick(trainer.step, cfg):
        ticks.tick(status=False)
    run.write_status("paused", trainer.step)
    return None
