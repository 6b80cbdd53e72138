"""Manual steps for a paused run: other threads hand work to the training thread and wait for it.

The trainer is not thread-safe, so a page never steps it: it submits a task, and the training
thread, waiting while paused, runs it with the loop's own step function (`train(..., gate=)`
opens the gate with it), so an iteration ended by hand is ticked like any other.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Optional

from ..errors import RunError

# the loop's step function: takes one part ("d" | "g" | "iteration"), returns None when it was taken
# or the sentence saying why it was refused (nothing changed then)
StepFunction = Callable[[str], Optional[str]]


@dataclass
class _Task:
    work: Callable[[StepFunction], Any]
    done: threading.Event = field(default_factory=threading.Event)
    taken: bool = False
    result: Any = None
    error: Optional[BaseException] = None


class StepGate:
    """One task at a time between a paused loop and the threads that want a step taken."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._task: Optional[_Task] = None
        self._step: Optional[StepFunction] = None  # set while the loop runs
        self._ended = "the run has not started training yet"

    # ------------------------------------------------------------ the loop's side
    def open(self, step: StepFunction) -> None:
        with self._cond:
            self._step = step

    def close(self, why: str) -> None:
        """The loop ended: a task waiting now, or submitted later, fails with `why`."""
        with self._cond:
            self._step, self._ended = None, why
        self.refuse_waiting(why)

    def refuse_waiting(self, why: str) -> None:
        """Fail a task not taken yet (the run was unpaused or stopped before it took it)."""
        with self._cond:
            task = self._task if self._task is not None and not self._task.taken else None
            if task is not None:
                self._task = None
        if task is not None:
            task.error = RunError(why)
            task.done.set()

    def serve(self, timeout: float) -> bool:
        """On the training thread, while paused: run the task handed in within `timeout` s, if any.

        True when one ran. An exception from it reaches the submitter and is raised here too: it ends
        the run as it would have ended a normal step (a divergence, a full disk).
        """
        with self._cond:
            if self._task is None:
                self._cond.wait(timeout)
            task, step = self._task, self._step
            if task is None or step is None:
                return False
            task.taken = True
        try:
            task.result = task.work(step)
        except BaseException as e:
            task.error = e
            raise
        finally:
            with self._cond:
                self._task = None
            task.done.set()
        return True

    # ------------------------------------------------------------ the other threads' side
    def submit(self, work: Callable[[StepFunction], Any], timeout: float) -> Any:
        """Run work(step) on the training thread and return its result; RunError when it cannot.

        A task not taken within `timeout` s is withdrawn (it never runs later); one taken but not done
        goes on, and the RunError says so.
        """
        task = _Task(work)
        with self._cond:
            if self._step is None:
                raise RunError(self._ended)
            if self._task is not None:
                raise RunError("a step is being taken now; wait for it to finish")
            self._task = task
            self._cond.notify_all()
        if not task.done.wait(timeout):
            with self._cond:
                if not task.taken:
                    self._task = None
                    raise RunError(f"the run did not take the step within {timeout:g} s; pause it and try again")
            if not task.done.is_set():
                raise RunError(f"the step is taking more than {timeout:g} s; it goes on, and the page shows it when it ends")
        if task.error is not None:
            raise task.error
        return task.result
