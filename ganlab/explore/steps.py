"""Step-by-step mode's record of one manual step: the game before and after it, and what moved.

A student presses "one D step" and should see that only D's surface moved, "one G step" and see
that only the fake points moved: `describe_step` measures both from the two frames and says it
in a sentence, with each loss before → after.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import torch

from ..data import to_unit
from ..game.losses import d_prob
from ..training import Trainer
from .game import eval_mode, game_frame, has_game, lift

STILL = 1e-12  # a change at most this large is no change: frames of an unchanged net are bit-identical


@dataclass(frozen=True)
class StepView:
    """One manual step of a paused run, as the Monitor page shows it."""

    part: str  # "d" | "g" | "iteration"
    before: dict  # a game frame (point data of 2+ dimensions), else {"step", "losses", "samples"}
    after: dict  # the same, after the step; its surface is on the before frame's grid, so the two compare
    moved: str  # one or two sentences naming what moved and by how much
    step_before: int
    step_after: int
    d_steps_done: int  # D steps of the iteration taken, counting this one ("d") or ended by it ("g", "iteration")
    k: int  # the iteration's D steps per G step


# ------------------------------------------------------------------ frames
def step_frame(trainer: Trainer, like: Optional[dict] = None) -> dict[str, Any]:
    """The frame a manual step shows; like: the before frame, whose grid the after frame's surface is read on
    (a grid that follows the points would make an unchanged D look moved). Changes nothing in the trainer."""
    if not has_game(trainer):
        return plain_frame(trainer)
    frame = game_frame(trainer)
    grid = (like or {}).get("surface")
    if "surface" in frame and grid is not None:
        frame["surface"] = {**frame["surface"], "xs": grid["xs"], "ys": grid["ys"],
                            "z": surface_on(trainer, grid["xs"], grid["ys"], frame["plane"])}
    return frame


@torch.no_grad()
def surface_on(trainer: Trainer, xs: np.ndarray, ys: np.ndarray, plane: dict[str, Any]) -> np.ndarray:
    """D's output (as the charts show it) on the grid xs × ys of the plane, (len(ys), len(xs)) float32."""
    gx, gy = np.meshgrid(xs, ys)
    pts = lift(np.stack([gx.ravel(), gy.ravel()], 1), plane)
    x = torch.from_numpy(pts).to(trainer.device).view(-1, *trainer.spec.shape)
    with eval_mode(trainer.D) as d:
        out = d_prob(trainer.loss, d(x).float())
    return out.reshape(len(ys), len(xs)).cpu().numpy()


@torch.no_grad()
def plain_frame(trainer: Trainer) -> dict[str, Any]:
    """An image run's (or 1-D points') frame: the fixed batch as G draws it and both losses on it against as many
    fixed real samples, with D and G in eval mode (no batch-norm statistic or spectral-norm vector moves)."""
    fake = trainer.generate(trainer.fixed_z, trainer.fixed_y)
    frame: dict[str, Any] = {"step": int(trainer.step), "samples": to_unit(fake, trainer.spec)}
    take = getattr(trainer.data, "take", None)
    if take is not None:
        real, real_y = take(len(fake), seed=1)
        real_y = real_y if trainer.num_classes else None
        n = min(len(real), len(fake))
        fake_y = None if trainer.fixed_y is None else trainer.fixed_y[:n]
        with eval_mode(trainer.D) as d:
            real_out, fake_out = d(real[:n], None if real_y is None else real_y[:n]).float(), d(fake[:n], fake_y).float()
        d_loss = trainer.loss.d_loss(real_out, fake_out, margin=trainer.cfg.margin, real_x=real[:n].float(),
                                     fake_x=fake[:n].float())
        frame["losses"] = {"d": float(d_loss), "g": float(trainer.loss.g_loss(fake_out))}
    return frame


# ------------------------------------------------------------------ the sentence
def _num(x: float) -> str:
    return f"{x:.3f}" if 1e-3 <= abs(x) < 1e4 else f"{x:.3g}"


def _size(x: float) -> str:
    return f"{x:.2g}"


def _surface_change(before: dict, after: dict) -> Optional[str]:
    b, a = before.get("surface"), after.get("surface")
    if b is None or a is None or np.shape(b["z"]) != np.shape(a["z"]):
        return None
    delta = np.abs(np.asarray(a["z"], np.float64) - np.asarray(b["z"], np.float64))
    if not delta.size or float(delta.max()) <= STILL:
        return "D's surface did not move"
    return f"D's surface moved by {_size(float(delta.mean()))} on average (at most {_size(float(delta.max()))})"


def _points_change(before: dict, after: dict) -> Optional[str]:
    if "fake" in before and "fake" in after and np.shape(before["fake"]) == np.shape(after["fake"]):
        shift = np.linalg.norm(np.asarray(after["fake"], np.float64) - np.asarray(before["fake"], np.float64), axis=1)
        if not shift.size or float(shift.max()) <= STILL:
            return "the fake points did not move"
        return f"the fake points moved by {_size(float(shift.mean()))} on average (at most {_size(float(shift.max()))})"
    if "samples" in before and "samples" in after and np.shape(before["samples"]) == np.shape(after["samples"]):
        delta = np.abs(np.asarray(after["samples"], np.float64) - np.asarray(before["samples"], np.float64))
        if not delta.size or float(delta.max()) <= STILL:
            return "G's samples did not change"
        return f"G's samples changed by {_size(float(delta.mean()))} per value on average (at most {_size(float(delta.max()))})"
    return None


def _losses(before: dict, after: dict) -> Optional[str]:
    b, a = before.get("losses"), after.get("losses")
    if not b or not a:
        return None
    return f"D's loss {_num(b['d'])} → {_num(a['d'])}, G's {_num(b['g'])} → {_num(a['g'])}."


def _heading(part: str, d_steps_done: int, k: int) -> str:
    if part == "d":
        return f"D step {d_steps_done} of {k}"
    if part == "g":
        if d_steps_done == 0:
            return f"G step, with none of the iteration's {k} D steps taken"
        return "G step" + ("" if d_steps_done == k else f", after {d_steps_done} of the iteration's {k} D steps")
    return f"One iteration ({k} D step{'s' if k != 1 else ''} and a G step)"


def describe_step(part: str, before: dict, after: dict, d_steps_done: int, k: int) -> str:
    """What one manual step moved, in plain words: D's surface (mean and largest change on the grid), the fake
    points (mean and largest displacement), and each loss before → after."""
    moved = [m for m in (_surface_change(before, after), _points_change(before, after)) if m]
    text = _heading(part, d_steps_done, k) + (": " + "; ".join(moved) + "." if moved else ".")
    losses = _losses(before, after)
    return f"{text} {losses}" if losses else text
