"""Image recipes: each kind's recipe builds models that take its data and trains, and the presets say what docs/QUALITY.md says.

The recipes' quality and speed are measured by bench.quality (docs/QUALITY.md); these tests keep them runnable and
their values honest, cheaply: a few steps on tiny packed files.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ganlab.config.presets import PRESETS, preset_config
from ganlab.config.recipes import apply_recipe, recipe_for
from ganlab.config.recipes_images import IMAGES_28, IMAGES_32, IMAGES_ANY, IMAGES_SMALL
from ganlab.config.validate import validate_config
from ganlab.data import dataset_spec
from ganlab.data.pack import pack_arrays
from ganlab.training import Trainer, train


class _Sink:
    """A run that keeps nothing: the tests look at the trainer, not at files."""

    def __getattr__(self, name):
        return lambda *a, **k: None


def _packed(tmp_path, channels: int, size: int, n: int = 96) -> str:
    """An `hdf5:` dataset of n random-blob images, 10 labels, the shape of the kind under test."""
    rng = np.random.default_rng(0)
    x = (rng.random((n, channels, size, size)) * 255).astype(np.uint8)
    path = tmp_path / f"img{channels}x{size}.h5"
    pack_arrays(x, np.arange(n) % 10, [str(i) for i in range(10)], str(path), "test")
    return f"hdf5:{path}"


KINDS = [  # (recipe, its values, (channels, size) of the data: None = scikit-learn's digits)
    ("images-small", IMAGES_SMALL, None),
    ("images-28", IMAGES_28, (1, 28)),
    ("images-32", IMAGES_32, (3, 32)),
    ("images-any", IMAGES_ANY, (3, 64)),
]


@pytest.mark.parametrize("name, values, shape", KINDS, ids=[k[0] for k in KINDS])
def test_each_image_kinds_recipe_builds_models_for_its_data_and_trains(tmp_path, name, values, shape):
    dataset = "digits" if shape is None else _packed(tmp_path, *shape)
    spec = dataset_spec(dataset)
    assert recipe_for(spec).name == name
    given = {"dataset": dataset, "steps": 2, "batch_size": 8, "device": "cpu", "log_every": 1, "snapshot_every": 1,
             "checkpoint_every": 10**6, "num_fixed": 4}  # a few small steps: the models are the recipe's
    cfg = apply_recipe(given, spec)
    validate_config(cfg)
    for k, v in values.items():
        assert k in given or getattr(cfg, k) == (tuple(v) if isinstance(v, list) else v), k
    trainer = Trainer(cfg)
    ticks: list[dict] = []
    assert train(cfg, _Sink(), trainer=trainer, on_tick=lambda rec, tr: ticks.append(rec)) == "finished"
    assert len(ticks) == 2 and all(math.isfinite(t["Loss/D"]) and math.isfinite(t["Loss/G"]) for t in ticks)
    z = torch.randn(3, cfg.latent_dim)
    assert tuple(trainer.generate(z).shape) == (3, *spec.shape)


def test_the_digits_preset_is_the_small_image_recipe_with_the_measured_values():
    """docs/QUALITY.md quotes these: the old preset's nets and optimiser, 3,000 steps instead of 4,000."""
    values = {k: v for k, v in PRESETS.get("digits").values.items() if k not in ("dataset", "preset")}
    assert values == IMAGES_SMALL
    cfg = preset_config("digits")
    assert (cfg.arch, cfg.steps, cfg.batch_size, cfg.lr_d, cfg.lr_g, cfg.r1_weight, cfg.r1_every, cfg.ema) == \
        ("mlp", 3000, 128, 5e-4, 5e-4, 1.0, 1, 0.995)
    cgan = preset_config("cgan")
    assert cgan.conditional and cgan.replace(conditional=False, preset="digits") == cfg


def test_the_dcgan_recipes_widths_fit_a_cpu():
    """32 channels at full size for every DCGAN recipe; on 28x28 lazy R1 (no batch norm in D) at lr 2e-3, and one
    more 3x3 conv layer at 7x7 in G and D for 3,000 steps (docs/QUALITY.md, the seventeenth session)."""
    assert (IMAGES_28["arch"], IMAGES_28["base_channels"], IMAGES_28["steps"], IMAGES_28["ema"]) == ("dcgan", 32, 3000, 0.995)
    assert IMAGES_28["coarse_layers"] == 1 and "coarse_layers" not in IMAGES_32
    assert (IMAGES_28["batch_size"], IMAGES_28["reuse_fakes"]) == (128, True)
    assert (IMAGES_28["r1_weight"], IMAGES_28["r1_every"], IMAGES_28["lr_d"], IMAGES_28["lr_g"]) == (0.1, 4, 2e-3, 2e-3)
    assert (IMAGES_28["beta1"], IMAGES_28["beta2"]) == (0.0, 0.99)
    assert IMAGES_32["base_channels"] == IMAGES_ANY["base_channels"] == 32 and IMAGES_32["steps"] == 5000
