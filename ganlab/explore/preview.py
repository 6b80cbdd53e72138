"""What a live page shows of a run at a tick: fixed-z samples and, for point data, the game's frame.

2-D data keeps its own keys ("real", "fake", "surface"); point data of 2 or more dimensions also gets
"game" (ganlab.explore.game.game_frame), which reuses the 2-D preview's fakes and surface.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..data import to_unit
from ..training import Trainer
from .fixed import POINTS, preview_fake_labels, preview_inputs
from .game import GRID, d_surface, game_frame, has_game

_preview_inputs = preview_inputs  # the name other modules and the contract of issue #17 use

__all__ = ["GRID", "POINTS", "d_surface", "make_preview", "points_preview"]


@torch.no_grad()
def make_preview(trainer: Trainer) -> dict[str, Any]:
    """Plain numpy arrays (safe to hand to another thread); uses no training RNG."""
    out: dict[str, Any] = {"step": trainer.step, "kind": trainer.spec.kind,
                           "samples": to_unit(trainer.generate(trainer.fixed_z, trainer.fixed_y), trainer.spec)}
    if trainer.fixed_y is not None:
        out["labels"] = trainer.fixed_y.cpu().numpy()
    if trainer.spec.kind == "points" and trainer.spec.shape == (2,):
        out.update(points_preview(trainer))
    if has_game(trainer):
        out["game"] = game_frame(trainer, fake=out.get("fake"), surface=out.get("surface"))
    return out


@torch.no_grad()
def points_preview(trainer: Trainer) -> dict[str, Any]:
    z, real = preview_inputs(trainer, POINTS)
    # the playing G (not its EMA): the game view's points are the ones D judges and G's next step moves
    fake = trainer.generate(z, preview_fake_labels(trainer, POINTS), player=True).cpu().numpy()
    out = {"fake": fake, "real": real}
    if trainer.num_classes == 0:
        out["surface"] = d_surface(trainer, np.concatenate([real, fake]))
    return out
