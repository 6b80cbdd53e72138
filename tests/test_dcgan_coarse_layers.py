"""coarse_layers: extra 3x3 conv layers at the DCGAN's coarsest size, in G and in D. The default (0) builds the nets
as before; each layer keeps the size and width there; the config builds, validates, summarises and checks them."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from ganlab.config import RunConfig
from ganlab.config.recipes import Recipe
from ganlab.config.validate import validate_config
from ganlab.data import dataset_spec
from ganlab.errors import ConfigError
from ganlab.models import build_models
from ganlab.models.dcgan import DCGANDiscriminator, DCGANGenerator
from ganlab.store.checkpoint import config_mismatch


def _kinds(net: nn.Module) -> list[str]:
    return [type(m).__name__ for m in net.net]


def test_the_default_builds_the_nets_as_before():
    g = DCGANGenerator(100, 1, 28, 32, nn.Tanh())
    d = DCGANDiscriminator(1, 28, 32, batch_norm=False)
    assert _kinds(g) == ["ConvTranspose2d", "BatchNorm2d", "ReLU"] * 2 + ["ConvTranspose2d", "Tanh"]
    assert _kinds(d) == ["Conv2d", "LeakyReLU"] * 2 + ["Conv2d"]


@pytest.mark.parametrize("size, coarse, width", [(28, 7, 64), (32, 4, 128)])
def test_each_layer_keeps_the_coarsest_size_and_width_in_g_and_d(size, coarse, width):
    g = DCGANGenerator(100, 1, size, 32, nn.Tanh(), coarse_layers=2)
    d = DCGANDiscriminator(1, size, 32, batch_norm=True, coarse_layers=2)
    convs = [m for m in g.net if isinstance(m, nn.Conv2d)]  # ConvTranspose2d is not a Conv2d
    assert len(convs) == 2 and all(c.kernel_size == (3, 3) and c.in_channels == c.out_channels == width
                                   for c in convs)
    assert _kinds(g)[3:9] == ["Conv2d", "BatchNorm2d", "ReLU"] * 2  # right after the first (coarsest) block
    h = g.net[:3](torch.randn(2, 100, 1, 1))
    assert tuple(g.net[:9](torch.randn(2, 100, 1, 1)).shape) == tuple(h.shape) == (2, width, coarse, coarse)
    assert _kinds(d)[-7:] == ["Conv2d", "BatchNorm2d", "LeakyReLU"] * 2 + ["Conv2d"]  # before the head
    x = g(torch.randn(2, 100))
    assert tuple(x.shape) == (2, 1, size, size) and tuple(d(x).shape) == (2,)
    plain_d = DCGANDiscriminator(1, size, 32, batch_norm=False, coarse_layers=1)
    assert "BatchNorm2d" not in _kinds(plain_d)  # no batch norm in D means none in its coarse layers either


def test_the_config_builds_them_and_validation_names_the_field():
    cfg = RunConfig(dataset="digits", arch="dcgan", base_channels=8, latent_dim=8, coarse_layers=1)
    g, d = build_models(cfg, dataset_spec("digits"))
    assert sum(isinstance(m, nn.Conv2d) for m in g.modules()) == 1
    assert sum(isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3) for m in d.modules()) == 1
    for bad in (-1, 9):
        with pytest.raises(ConfigError, match="coarse_layers"):
            validate_config(cfg.replace(coarse_layers=bad))


def test_a_checkpoint_of_other_coarse_layers_is_refused_by_name():
    cfg = RunConfig(dataset="digits", arch="dcgan", coarse_layers=1)
    assert "coarse_layers (config.json 1, checkpoint 0)" in config_mismatch(cfg, {"config": cfg.replace(
        coarse_layers=0).to_dict()})


def test_a_recipe_summary_says_how_many():
    def summary(n: int) -> str:
        return Recipe("x", "images", {"arch": "dcgan", "coarse_layers": n}, "test images").summary()
    assert summary(0).startswith("DCGAN, BCE")
    assert summary(1).startswith("DCGAN with 1 more 3x3 conv layer at the coarsest size, BCE")
    assert summary(2).startswith("DCGAN with 2 more 3x3 conv layers at the coarsest size, BCE")
