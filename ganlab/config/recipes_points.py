"""The recipe ganlab recommends for point data of any dimension, when a person picks a point dataset and sets
no architecture, loss or other recipe field (ganlab.config.recipes applies it).

It must not know the answer: nothing here depends on the dataset (no mode count, no batch size or width chosen
per named mixture). What makes it fast and sharp on mixtures it was never told about (bench.quality, docs/QUALITY.md):
- 1,000 latent islands (ganlab/models/prior.py), a count fixed here whatever the data: a connected latent leaves G
  bridges between modes (ring8 at 3,000 steps without islands: 80% HQ); with islands each mode gets its own and the
  gaps stay empty. Each island carries 1/K of G's mass, so a mode can only hold a whole number of them: with 100
  islands the 7x7 grid's 49 modes got 2 or 3 each (a 50% imbalance D never stopped pushing on) and it stalled at
  40-47 modes and 59-87% HQ; with 1,000 (about 20 a mode) the imbalance is a few percent. G's first layer looks the
  island up instead of multiplying its one-hot code (prior.IslandLinear), so 1,000 cost little more than 100.
- LSGAN's loss with R1 0.3: with 1,000 islands, BCE (R1 0.1) reached every mode but left islands 3-10 stds off the
  7x7 grid's modes (79-95% HQ); LSGAN with R1 0.3 held 95-98% (seed screens in docs/QUALITY.md, ninth session).
- batch 512: half the 7x7 grid's misses of batch 256 (about 10 real points per mode per batch there).
- the data standardised inside G and D (ganlab/models/scaling.py), so a ring of radius 1 and a grid 12 units wide
  look alike to the nets and the learning rates and R1's weight mean the same on both; G starts 0.1 std wide about
  the data's mean (scaling.START_SPREAD), so the islands leave in their own directions (at PyTorch's init they sat
  in one spot and the 5-mode ring collapsed onto 1-3 modes).
- a linear lr decay to 0 over 2,000 steps: the islands settle on the modes as the steps shrink.
Measured (docs/QUALITY.md, ninth session; seeds x 1 and 2 threads): every mode at >= 97% HQ in every run on rings of
5, 8, 10, 12 and 16 modes (radius 1-5, std 0.02-0.1) and grids of 3x3, 4x4, 5x5 and 7x7 at spacing 1 and std 0.03.
Known limits: on the Intel box of the ninth session the 7x7 grid at spacing 2 and std 0.05 ended one mode short in
2 of 10 runs (48/49, 94.6% and 95.5% HQ, after reaching every mode); on the AMD box of the twelfth session every one
of 110 runs over the family (5 seeds x 1 and 2 threads) ended with every mode at >= 96% HQ, that grid's worst
96.4%; the thirteenth session reproduced the Intel box's 2 misses to the digit. On the 5-mode ring the modes are
unevenly filled (reverse KL 0.34-0.67).
Tried and not taken (docs/QUALITY.md, the thirteenth session): 2,000 islands keep every mode of the 7x7 grid in all
10 runs (worst 97.1%) but lose one of the 5-mode ring's in 2 (its islands leave G's starting cloud together and R1
freezes the imbalance); R1 0.6 with them keeps every mode of the family in all 110 runs but widens the grids' modes
below the bar (the tight 7x7 grid 92.3%, grid25 96.6%).
"""

from __future__ import annotations

from typing import Any

POINTS: dict[str, Any] = dict(
    arch="mlp", loss="lsgan", steps=2000, batch_size=512, lr_d=1e-3, lr_g=1e-3, beta1=0.5, g_hidden=[256, 256],
    d_hidden=[256, 256], activation="relu", latent_dim=2, latent_mixture=1000, lr_schedule="linear", r1_weight=0.3,
    ema=0.99, standardize=True, snapshot_every=100,
)
