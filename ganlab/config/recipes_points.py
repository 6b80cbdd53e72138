"""The recipe ganlab recommends for point data of any dimension, when a person picks a point dataset and sets
no architecture, loss or other recipe field (ganlab.config.recipes applies it).

It must not know the answer: nothing here depends on the dataset (no mode count, no batch size or width chosen
per named mixture). What makes it fast and sharp on mixtures it was never told about (bench.quality, docs/QUALITY.md):
- 2,000 latent islands (ganlab/models/prior.py), a count fixed here whatever the data: a connected latent leaves G
  bridges between modes (ring8 at 3,000 steps without islands: 80% HQ); with islands each mode gets its own and the
  gaps stay empty. Each island carries 1/K of G's mass, so a mode can only hold a whole number of them: with 100
  islands the 7x7 grid's 49 modes got 2 or 3 each (a 50% imbalance D never stopped pushing on) and it stalled at
  40-47 modes and 59-87% HQ; with 1,000 (about 20 a mode) islands kept moving between neighbouring modes late in
  the run, and on the Intel box one mode emptied in 2 of 10 runs; with 2,000 (about 40 a mode) none did. G's first
  layer looks the island up instead of multiplying its one-hot code (prior.IslandLinear), so 2,000 cost little more
  than 100.
- LSGAN's loss with R1 falling from 1.0 to 0.1 over the run (a cosine: r1_schedule, r1_end_factor). The islands
  leave G's small starting cloud together, and a weak R1 there (0.3) let them overfill one mode of the 5-mode ring
  and froze it so: with 2,000 islands it ended a mode short in 2 of 10 runs. A strong R1 spreads them (1.0: 5/5 in
  every run) but a strong R1 to the end widens every mode (the tight 7x7 grid at 92-94% HQ), so it falls once the
  modes are found. With 1,000 islands, BCE (R1 0.1) reached every mode but left islands 3-10 stds off the 7x7 grid's
  modes (79-95% HQ); LSGAN held 95-98% (seed screens in docs/QUALITY.md, ninth and fourteenth sessions).
- batch 512: half the 7x7 grid's misses of batch 256 (about 10 real points per mode per batch there).
- the data standardised inside G and D (ganlab/models/scaling.py), so a ring of radius 1 and a grid 12 units wide
  look alike to the nets and the learning rates and R1's weight mean the same on both; G starts 0.1 std wide about
  the data's mean (scaling.START_SPREAD), so the islands leave in their own directions (at PyTorch's init they sat
  in one spot and the 5-mode ring collapsed onto 1-3 modes).
- a linear lr decay to 0 over 2,000 steps: the islands settle on the modes as the steps shrink.
Measured (docs/QUALITY.md, the fifteenth session, on the Intel box where 1,000 islands and R1 0.3 missed; 5 seeds x
1 and 2 threads, 110 runs): every mode in every run, at >= 95% HQ (the worst 95.6%), on rings of 5, 8, 10, 12 and
16 modes (radius 1-5, std 0.02-0.1) and grids of 3x3, 4x4, 5x5 and 7x7 (spacing 1-3, std 0.03-0.1); the 7x7 grids
are the thin margin. The 5-mode ring's modes are evenly filled (reverse KL 0.02-0.22; 0.34-0.67 before).
Known limits: not yet measured on the AMD box, where the previous recipe (1,000 islands, R1 0.3) held every run of
the family at >= 96%. A run trains about 15% longer than with the previous recipe (ring8 and grid25 side by side,
one seed, 2 threads: 32 s against 28 s, 30 s against 26 s) and reaches 95% HQ 100-200 steps later.
"""

from __future__ import annotations

from typing import Any

POINTS: dict[str, Any] = dict(
    arch="mlp", loss="lsgan", steps=2000, batch_size=512, lr_d=1e-3, lr_g=1e-3, beta1=0.5, g_hidden=[256, 256],
    d_hidden=[256, 256], activation="relu", latent_dim=2, latent_mixture=2000, lr_schedule="linear", r1_weight=1.0,
    r1_schedule="cosine", r1_end_factor=0.1,
    ema=0.99, standardize=True, snapshot_every=100,
)
