"""Game frames made by hand in the contract's format (issue #17), for figure and page tests that must not train."""

from __future__ import annotations

import numpy as np


def make_frame(step: int = 100, *, n: int = 1000, cells: int = 20, seed: int = 0, surface: bool = True,
               plane_name: str = "x₀, x₁", shift: float = 0.0) -> dict:
    """Ring-like real points, fakes in a blob pulled toward them (arrows), a warped manifold, D's surface."""
    rng = np.random.default_rng(seed)
    angle = 2 * np.pi * rng.integers(0, 8, n) / 8
    real = (np.stack([np.cos(angle), np.sin(angle)], 1) * 2 + 0.05 * rng.standard_normal((n, 2))).astype(np.float32)
    fake = (0.5 * rng.standard_normal((n, 2)) + shift).astype(np.float32)
    arrows = (real - fake) * 0.01 * (1 + np.arange(n)[:, None] / n)  # the last point's arrow is the longest
    g = np.linspace(-2.5, 2.5, cells + 1, dtype=np.float32)
    zu, zv = np.meshgrid(g, g)
    u, v = (zu + 0.1 * zv**2).astype(np.float32), zv.astype(np.float32)
    centre = np.linspace(-1, 1, cells)
    density = np.exp(-(centre[None, :] ** 2 + centre[:, None] ** 2)).astype(np.float32)
    density /= density.max()
    frame = {
        "step": step,
        "plane": {"name": plane_name, "origin": np.zeros(2, np.float32), "basis": np.eye(2, dtype=np.float32)},
        "real": real, "fake": fake, "arrows": arrows.astype(np.float32),
        "manifold": {"u": u, "v": v, "density": density, "dims": (0, 1),
                     "name": "z₀, z₁ over [-2.5, 2.5], other coordinates 0 (the prior's mean)"},
        "losses": {"d": 0.69 + step * 1e-4, "g": 0.71 - step * 1e-4},
    }
    if surface:
        xs = np.linspace(-3, 3, 64, dtype=np.float32)
        ys = np.linspace(-3, 3, 64, dtype=np.float32)
        r = np.hypot(*np.meshgrid(xs, ys))
        frame["surface"] = {"xs": xs, "ys": ys, "z": (1 / (1 + np.exp(4 * (np.abs(r - 2) - 0.5)))).astype(np.float32),
                            "label": "D(x) probability", "probability": True}
    return frame
