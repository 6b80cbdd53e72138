"""The recipes ganlab recommends for each kind of image data, when a person picks an image dataset and sets no
architecture, loss or other recipe field (ganlab.config.recipes chooses one by the data's size and channels).

Values are measured with `python -m bench.quality` (docs/QUALITY.md); PROVISIONAL until the time-to-quality
study replaces them.
"""

from __future__ import annotations

from typing import Any

# small images (at most 16x16: scikit-learn's 8x8 digits): the digits preset's MLP
IMAGES_SMALL: dict[str, Any] = dict(
    arch="mlp", loss="bce", steps=4000, batch_size=128, lr_d=5e-4, lr_g=5e-4, g_hidden=[256, 256],
    d_hidden=[256, 256], activation="leaky_relu", latent_dim=32, r1_weight=1.0, ema=0.995, snapshot_every=200,
)
# 28x28 grey (MNIST, Fashion-MNIST): a DCGAN
IMAGES_28: dict[str, Any] = dict(
    arch="dcgan", loss="bce", steps=3000, batch_size=64, lr_d=2e-4, lr_g=2e-4, beta1=0.5, latent_dim=100,
    base_channels=64, ema=0.995, snapshot_every=150,
)
# 32x32 colour (CIFAR-10): a DCGAN
IMAGES_32: dict[str, Any] = dict(
    arch="dcgan", loss="bce", steps=5000, batch_size=64, lr_d=2e-4, lr_g=2e-4, beta1=0.5, latent_dim=100,
    base_channels=64, ema=0.995, snapshot_every=250,
)
# packed HDF5 images of any other size the DCGAN can make (s0 * 2^k): a DCGAN
IMAGES_ANY: dict[str, Any] = dict(
    arch="dcgan", loss="bce", steps=5000, batch_size=64, lr_d=2e-4, lr_g=2e-4, beta1=0.5, latent_dim=100,
    base_channels=64, ema=0.995, snapshot_every=250,
)
