"""The recipe ganlab recommends for point data of any dimension, when a person picks a point dataset and sets
no architecture, loss or other recipe field (ganlab.config.recipes applies it).

It must not know the answer: nothing here depends on the dataset (no mode count, no batch size or width chosen
per named mixture). What makes it fast and sharp on mixtures it was never told about (bench.quality, docs/QUALITY.md):
- 100 latent islands (ganlab/models/prior.py), a count fixed here whatever the data: a connected latent leaves G
  bridges between modes (ring8 at 3,000 steps without islands: 80% HQ); with islands each mode gets its own few and
  the gaps stay empty (ring8 and grid25 at 100% HQ by step 750-1,250).
- the data standardised inside G and D (ganlab/models/scaling.py), so a ring of radius 1 and a grid 12 units wide
  look alike to the nets and the learning rates and R1's weight mean the same on both.
- a linear lr decay to 0 over 2,000 steps: the islands settle on the modes as the steps shrink.
Known limits (seed 0-1 screens): the 7x7 grid (49 modes) stalls at 40-47 covered modes and 60-87% HQ even at
3,000-4,000 steps; ring:16 (radius 2, std 0.02) ends at 92.5-96.2% HQ and grid:5,spacing=1,std=0.03 at 91.6-99.8%.
"""

from __future__ import annotations

from typing import Any

POINTS: dict[str, Any] = dict(
    arch="mlp", loss="bce", steps=2000, batch_size=256, lr_d=1e-3, lr_g=1e-3, beta1=0.5, g_hidden=[256, 256],
    d_hidden=[256, 256], activation="relu", latent_dim=2, latent_mixture=100, lr_schedule="linear", r1_weight=0.1,
    ema=0.99, standardize=True, snapshot_every=100,
)
