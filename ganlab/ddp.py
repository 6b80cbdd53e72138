"""`torchrun --nproc_per_node=N -m ganlab train ...`: one run trained by N processes (the CLI's DDP entry).

Rank 0 is the CLI as in a single process: it builds or resumes the run through RunSession (every
refusal, the run directory, status.json, stats.jsonl, samples, checkpoints) and prints the one-line
summary. It then sends its config and the trainer's whole state to the other ranks, which build the
same Trainer, load that state and train beside it while writing nothing; rank 0's checkpoints are
those of a single-process run, so `--resume` works with torchrun or without it.

Every decision is taken together: a refusal on rank 0 reaches the others before anyone trains (they
exit 2 without a word, rank 0 prints the line); each iteration asks every rank whether to stop
(distributed.agree_stop), so a Ctrl-C or SIGTERM stops them all at one step; an early stop (stop_at)
is computed on every rank from the same weights; and a rank that leaves for any other reason tells
the others (distributed.finish) rather than leaving them waiting.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from typing import Any, Optional

from .config import RunConfig
from .errors import Diverged, GanlabError, RunError
from .evaluation.evaluate import tick_metrics
from .session import RunSession, early_stop
from .training import Trainer, distributed, train

EXIT_USAGE, EXIT_FAILED, EXIT_STOPPED = 2, 1, 130
REFUSED = "refused"  # what rank 0 sends when the run cannot start; it prints the reason itself


class NullRun:
    """The run sink of a rank other than 0: it keeps nothing, so only rank 0 writes the run directory.

    It does count the checkpoints rank 0 writes (last_checkpoint_step): the loop decides from it whether a stop
    saves one, and taking a data-parallel trainer's state is collective, so every rank must decide alike.
    """

    def __init__(self, checkpoint: Optional[int] = None):
        self.checkpoint = checkpoint

    def write_status(self, state: str, step: int, **extra: Any) -> None:
        pass

    def append_stats(self, record: dict[str, Any]) -> None:
        pass

    def append_metrics(self, record: dict[str, Any]) -> None:
        pass

    def append_samples(self, step: int, samples: Any) -> None:
        pass

    def save_checkpoint(self, state: dict[str, Any], step: int, keep: int) -> None:
        self.checkpoint = step

    def last_checkpoint_step(self) -> Optional[int]:
        return self.checkpoint


def train_command(open_session: Callable[[], RunSession], train_session: Callable[[RunSession], int],
                  *, data_root=None, download: bool = False) -> int:
    """The `train` command on one rank of a torchrun launch; returns its exit code.

    open_session: rank 0's RunSession, built (the CLI's new-run or resume path: it raises what it refuses);
    train_session: the CLI's training of it (signals, progress, the summary line).
    """
    world = distributed.init()
    try:
        if world.rank0:
            return _lead(open_session, train_session)
        return _follow(world, data_root=data_root, download=download)
    finally:
        distributed.destroy()


def _lead(open_session: Callable[[], RunSession], train_session: Callable[[RunSession], int]) -> int:
    session: Optional[RunSession] = None
    try:
        session = open_session()
        trainer = session.build()  # a resume's checkpoint loaded: the state every rank starts from
        message = {"config": session.cfg.to_dict(), "state": trainer.state_dict(),
                   "checkpoint": session.run.last_checkpoint_step(),
                   "data_root": None if session.data_root is None else str(session.data_root), "download": session.download}
    except BaseException:
        if session is not None:
            session.close()
        distributed.share(REFUSED)  # the others exit 2; the CLI's boundary prints the reason once, here
        raise
    try:
        distributed.share(message)
        if not distributed.all_ok(True):
            raise RunError("another process of this torchrun launch could not build the run (its error is above); "
                           "nothing was trained")
    except BaseException:
        session.close()
        raise
    try:
        distributed.attach(trainer)
        return train_session(session)
    finally:
        session.close()
        distributed.finish()


def _follow(world: distributed.World, *, data_root=None, download: bool = False) -> int:
    msg = distributed.share(None)
    if msg == REFUSED:
        return EXIT_USAGE
    cfg = RunConfig.from_dict(msg["config"])
    root = msg["data_root"] if msg["data_root"] is not None else data_root
    try:
        trainer = Trainer(cfg, data_root=root, download=msg["download"] or download)
        trainer.load_state_dict(msg["state"])
        ok = True
    except Exception as e:  # noqa: BLE001 - told to rank 0, which ends the launch with one sentence
        _say(world, e)
        ok = False
    if not distributed.all_ok(ok):
        return EXIT_USAGE
    distributed.attach(trainer)
    stop = {"flag": False}
    previous = {sig: signal.signal(sig, lambda *_: stop.__setitem__("flag", True)) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        state = train(cfg, NullRun(msg["checkpoint"]), trainer=trainer, should_stop=distributed.agreed(lambda: stop["flag"]),
                      evaluate=lambda tr, run: tick_metrics(tr, run, data_root=root), stop_on=early_stop(cfg, trainer))
        code = 0 if state == "finished" or distributed.others_left() else EXIT_STOPPED
    except Diverged:
        code = EXIT_FAILED  # every rank saw it at the same tick (the logged means are global): rank 0 says so
    except Exception as e:  # noqa: BLE001 - one line, then the others are told this rank has gone
        _say(world, e)
        code = EXIT_FAILED
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        distributed.finish()
    return code


def _say(world: distributed.World, e: BaseException) -> None:
    """A rank other than 0 failed on its own: one line naming the rank (rank 0 records the run's state)."""
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    what = text if isinstance(e, GanlabError) else f"{type(e).__name__}: {text}"
    print(f"ganlab: error: rank {world.rank}: {what}", file=sys.stderr)
