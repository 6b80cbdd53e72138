"""The recipes ganlab recommends for each kind of image data, when a person picks an image dataset and sets no
architecture, loss or other recipe field (ganlab.config.recipes chooses one by the data's size and channels).

Measured on the 2-core box (docs/QUALITY.md, "Image recipes"): `python -m bench.quality --presets digits` and, for
MNIST, runs of these configs scored by evaluate_run (what `eval --json` prints). What the measurements said, so the
next tuning starts from them:
- On the 8x8 digits MLP the classifier FD falls at the same rate per step whatever the learning rate (5e-4 or
  1e-3), the batch (128 or 256) or a linear/cosine decay (which only slowed it); lazy R1 (every 4th step) or a
  weaker R1 (0.2) saved a quarter of each step and lost about as much per step; an EMA of 0.998 still carried the
  random start's weights at step 1,000 (0.998^1000 = 14%) and ended worse. So the step count is the lever: at
  3,000 steps (a quarter less than the old 4,000, the same work per step) the FD is 1.8-2.1x its real floor over
  5 seeds (4,000 steps: 1.8-2.2x, docs/QUALITY.md) and every class is made from the first eval on (step 500).
- The DCGAN's CPU time goes to its convolutions (profiled at 28x28: ~75% of a step, most at 14x14): base_channels sets the cost
  (32 channels: 0.4x the time of 64 per step).
- Ganlab's EMA has no warm-up: after t steps it still holds ema^t of G's initial weights, so a short run wants a
  short EMA (0.995: under 1% left after 1,000 steps).
"""

from __future__ import annotations

from typing import Any

# small images (at most 16x16: scikit-learn's 8x8 digits): an MLP with R1 on D and an EMA of G
IMAGES_SMALL: dict[str, Any] = dict(
    arch="mlp", loss="bce", steps=3000, batch_size=128, lr_d=5e-4, lr_g=5e-4, g_hidden=[256, 256],
    d_hidden=[256, 256], activation="leaky_relu", latent_dim=32, r1_weight=1.0, ema=0.995, snapshot_every=200,
)
# 28x28 grey (MNIST, Fashion-MNIST): a DCGAN of 32 channels at full size (G 64-32; the cost of a step is in its
# 14x14 convolutions) with lazy R1 on D, which takes batch norm out of D (ganlab.models.build_dcgan) and lets the
# learning rate rise far above the paper's 2e-4. Screens at 6,000 steps (MNIST seed 0, one thread; docs/QUALITY.md,
# the tenth session): with the paper's Adam betas the FD fell with every doubling of a constant lr up to 2e-3 (59
# at 5e-4, 38 at 1e-3, 28 at 2e-3); 4e-3 was unsteady (131 at step 2,000, 37.5 at the end); a linear decay to 0
# lost what it took off the mean lr. StyleGAN2's betas (0, 0.99) got there in half the steps (37 at step 3,000
# against 46) and R1 0.1 rather than 0.5 raised precision and density (0.79 / 0.52 against 0.77 / 0.48); every
# such variant levelled off at an FD of 28-30 by step 5,000. Not better: an EMA of 0.999, hinge with spectral norm,
# 100 latent islands (recall fell to 0.08), 48 channels (the same FD per step at 1.9x the time a step).
# The eleventh session (docs/QUALITY.md): G's update reuses the D update's fakes (one G forward a step, not two:
# 1.2x faster a step at 2 threads, and no worse), and batch 128 rather than 64 for 5,000 steps (about the same FD
# per image seen, twice the time a step; 640,000 images instead of 384,000 in 1.7x the run time, still inside ~5
# minutes). Not better at batch 128: lr 3e-3, constant or decaying, R1 0.2, and 4x the channels at 7x7 in D or in
# both nets (no lower FD per step at 1.3-1.5x the time); an EMA of 0.998 or 0.999 lags a G still improving.
# That study (5 seeds x threads 1 and 2): FD 19.3-28.5 against a floor of 5.45, every class, 2.5-4 minutes at 2 threads;
# about one sample in five malformed (precision 0.79-0.82). Samples drawn nearer the mean latent (truncation) or
# filtered by D (drs) were no better (bench.sampling), so the bad ones were not in regions a sampler could skip.
# The seventeenth session: depth, not width, at 7x7. One more 3x3 conv layer there in G and in D (`coarse_layers`,
# 1.4x the time a step) took the FD at step 1,000 from 70 to 12 and to 8.8 at step 3,000 (precision 0.88), where 4x
# the channels at 7x7 had bought nothing; so 3,000 steps, 0.86x the old run's time. Not better in the same screen:
# R1 0.03, lr_g 1e-3 with lr_d 2e-3, nearest-upsample + 3x3 conv in G instead of ConvTranspose (better than the
# old recipe, 28 at step 2,000, far behind the extra layer). The study (seeds 0-2 at 2 threads, 0-1 at 1): FD 6.8-8.6
# at 2 threads and 7.8 / 13.1 at 1 against a floor of 5.05 (worst 2.6x; 4 of 5 runs within 1.71x), precision 0.88-0.89,
# every class from step 1,000; 6.2-6.6 minutes at 2 threads on a box at half the AMD box's speed.
IMAGES_28: dict[str, Any] = dict(
    arch="dcgan", loss="bce", steps=3000, batch_size=128, reuse_fakes=True, lr_d=2e-3, lr_g=2e-3, beta1=0.0,
    beta2=0.99, latent_dim=100, base_channels=32, coarse_layers=1, r1_weight=0.1, r1_every=4, ema=0.995,
    snapshot_every=250,
)
# 32x32 colour (CIFAR-10): UNMEASURED on CIFAR (its files cannot be fetched here; a smoke run on coloured 32x32
# digits trains). The DCGAN paper's optimiser and loss; 32 channels at the finest layer (G 128-64-32) to keep a
# step on a CPU about twice the 28x28 recipe's, and more steps, as colour images need more than digits
IMAGES_32: dict[str, Any] = dict(
    arch="dcgan", loss="bce", steps=5000, batch_size=64, lr_d=2e-4, lr_g=2e-4, beta1=0.5, latent_dim=100,
    base_channels=32, ema=0.995, snapshot_every=250,
)
# packed HDF5 images of any other size the DCGAN can make (s0 * 2^k), e.g. 64x64: the 32x32 recipe (the width ladder
# doubles per stage from 32 channels at full size, so a 64x64 G is 256-128-64-32)
IMAGES_ANY: dict[str, Any] = dict(IMAGES_32)
