"""The recipe ganlab recommends for point data of any dimension, when a person picks a point dataset and sets
no architecture, loss or other recipe field (ganlab.config.recipes applies it).

It must not know the answer: nothing here depends on the dataset (no mode count, no latent-island count,
batch size or width chosen per named mixture). Values are measured with `python -m bench.quality`
(docs/QUALITY.md); PROVISIONAL until the time-to-quality study replaces them.
"""

from __future__ import annotations

from typing import Any

POINTS: dict[str, Any] = dict(
    arch="mlp", loss="bce", steps=4000, batch_size=256, lr_d=1e-3, lr_g=1e-3, beta1=0.5, g_hidden=[256, 256, 256],
    d_hidden=[256, 256], activation="relu", latent_dim=2, r1_weight=0.1, ema=0.99, snapshot_every=100,
)
