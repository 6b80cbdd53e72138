"""ganlab.models.prior: K islands carved out of N(0, I), so G can leave gaps between modes."""

import numpy as np
import pytest
import torch

from ganlab.config import ConfigError, RunConfig
from ganlab.config.validate import validate_config
from ganlab.data import DATASETS
from ganlab.explore.explorer import load_generator
from ganlab.models import build_models
from ganlab.models.prior import LatentMixture
from ganlab.store import Run
from ganlab.store.checkpoint import generator_from_checkpoint, load_checkpoint_file
from ganlab.training import train


def test_islands_are_equally_likely_and_the_inner_latent_stays_standard_normal():
    """The split is measure-preserving: k ~ U{0..K-1}, z~ ~ N(0, I), and the two are independent."""
    prior = LatentMixture(3, 7)
    z = torch.randn(200_000, 3, generator=torch.Generator().manual_seed(0))
    k, inner = prior.split(z)
    share = torch.bincount(k, minlength=7).float() / len(k)
    assert torch.allclose(share, torch.full((7,), 1 / 7), atol=0.005)
    assert inner.mean(0).abs().max() < 0.01 and (inner.std(0) - 1).abs().max() < 0.01
    assert torch.equal(inner[:, 1:], z[:, 1:]), "only the first coordinate is re-used"
    for island in (0, 3, 6):  # within one island, z~_0 is N(0, 1) again
        z0 = inner[k == island, 0]
        assert abs(z0.mean()) < 0.03 and abs(z0.std() - 1) < 0.03


def test_the_island_is_the_slab_of_z0_it_falls_in():
    """Island k holds the z_0 between the k/K and (k+1)/K quantiles of N(0, 1): neighbours in z_0 are neighbours."""
    prior = LatentMixture(2, 4)
    z0 = torch.tensor([-3.0, -0.7, -0.6, 0.1, 0.6, 0.7, 3.0])  # quartiles of N(0, 1) at -0.674, 0, 0.674
    k, _ = prior.split(torch.stack([z0, torch.zeros(7)], 1))
    assert k.tolist() == [0, 0, 1, 2, 2, 3, 3]


def test_g_sees_the_scaled_inner_latent_and_the_islands_one_hot_code():
    prior = LatentMixture(2, 5)
    with torch.no_grad():
        prior.log_sigma.copy_(torch.log(torch.arange(1, 11, dtype=torch.float32).reshape(5, 2)))
    z = torch.randn(64, 2, generator=torch.Generator().manual_seed(1))
    out = prior(z)
    k, inner = prior.split(z)
    assert out.shape == (64, 2 + 5) and prior.out_dim == 7
    assert torch.equal(out[:, 2:].argmax(1), k) and torch.equal(out[:, 2:].sum(1), torch.ones(64))
    torch.testing.assert_close(out[:, :2], inner * prior.log_sigma.exp()[k])


def test_extreme_latents_stay_finite():
    prior = LatentMixture(2, 25)
    z = torch.tensor([[-40.0, 0.0], [40.0, 1.0], [0.0, -1e6], [8.2, 0.0]])
    out = prior(z)
    assert torch.isfinite(out).all()
    assert out[0, 2:].argmax() == 0 and out[1, 2:].argmax() == 24


@pytest.mark.parametrize("arch,dataset", [("mlp", "grid25"), ("linear", "gaussian2d"), ("dcgan", "digits")])
def test_every_generator_takes_the_prior(arch, dataset):
    cfg = RunConfig(dataset=dataset, arch=arch, latent_dim=4, latent_mixture=6, base_channels=8,
                    g_hidden=(16,), d_hidden=(16,))
    g, _ = build_models(cfg, DATASETS.get(dataset).spec)
    assert isinstance(g.prior, LatentMixture) and g.prior.components == 6
    out = g(torch.randn(5, 4))
    assert out.shape == (5, *DATASETS.get(dataset).spec.shape)
    names = {n for n, _ in g.named_parameters()}
    assert "prior.log_sigma" in names, "the islands' scales train with G (and its EMA and checkpoint)"


def test_without_islands_g_is_unchanged():
    g, _ = build_models(RunConfig(dataset="ring8", g_hidden=(8,), d_hidden=(8,)), DATASETS.get("ring8").spec)
    assert g.prior is None and not any(n.startswith("prior") for n, _ in g.named_parameters())


def test_island_count_is_validated():
    with pytest.raises(ConfigError, match="latent_mixture"):
        validate_config(RunConfig(latent_mixture=-1))
    validate_config(RunConfig(dataset="ring8", latent_mixture=8))


def test_a_run_with_islands_checkpoints_and_explores(tmp_path):
    """Train, reload from the checkpoint, and walk the explorer: seeds are still identities."""
    cfg = RunConfig(dataset="grid25", arch="mlp", steps=20, batch_size=32, latent_dim=2, latent_mixture=25,
                    g_hidden=(16,), d_hidden=(16,), log_every=10, snapshot_every=10, checkpoint_every=20,
                    num_fixed=8, device="cpu")
    run = Run.create(tmp_path, cfg)
    assert train(cfg, run) == "finished"
    (ckpt,) = sorted(run.checkpoints_dir.glob("*.pt"))
    g, loaded, _ = generator_from_checkpoint(load_checkpoint_file(ckpt))
    assert loaded.latent_mixture == 25 and g.prior.components == 25
    ex = load_generator(run)
    a = ex.from_seeds([3, 4, 5])
    np.testing.assert_allclose(ex.from_seeds([4])[0], a[1], atol=1e-6)
    path = ex.interpolate(3, 5, 9, "slerp")
    assert np.isfinite(np.asarray(path)).all()


@pytest.mark.parametrize("classes", [0, 3])
def test_the_island_lookup_gives_the_dense_layers_numbers_and_gradients(classes):
    """IslandLinear picks the island's weight column instead of multiplying a one-hot code: same outputs and
    gradients (to rounding) as nn.Linear on the dense [scaled z~, one-hot island, class] input."""
    import torch.nn.functional as F

    from ganlab.models.common import g_input
    from ganlab.models.mlp import MLPGenerator
    from ganlab.models.prior import IslandLinear

    torch.manual_seed(0)
    g = MLPGenerator(2, (2,), [32, 32], "relu", "none", torch.nn.Identity(), classes, LatentMixture(2, 300))
    first = g.net[0][0]
    assert isinstance(first, IslandLinear) and first.weight.shape == (32, 2 + 300 + classes)
    z = torch.randn(300, 2)
    y = torch.randint(0, 3, (300,)) if classes else None
    fast = first(g.first_input(z, y))
    dense = F.linear(g_input(z, y, classes, g.prior), first.weight, first.bias)
    torch.testing.assert_close(fast, dense, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(first(g_input(z, y, classes, g.prior)), dense)  # a plain tensor: nn.Linear's path
    grads = []
    for out in (lambda: first(g.first_input(z, y)), lambda: F.linear(g_input(z, y, classes, g.prior), first.weight, first.bias)):
        g.zero_grad()
        out().square().sum().backward()
        grads.append([p.grad.clone() for p in (first.weight, first.bias, g.prior.log_sigma)])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    assert grads[0][0][:, 2:302].abs().sum(0).gt(0).sum() == len(torch.unique(g.prior.split(z)[0]))  # used islands only


def test_islands_start_apart_whatever_their_count():
    """Each island's column starts at the same scale for 100 or 1,000 islands (nn.Linear's own bound shrinks with K);
    a few islands keep nn.Linear's wider draw, and G's first layer stays a plain Linear below LOOKUP_MIN_ISLANDS."""
    from ganlab.models.mlp import MLPGenerator
    from ganlab.models.prior import ISLAND_INIT, LOOKUP_MIN_ISLANDS, IslandLinear

    for k in (100, 1000):
        g = MLPGenerator(2, (2,), [16], "relu", "none", torch.nn.Identity(), 0, LatentMixture(2, k))
        w = g.net[0][0].weight.detach()[:, 2:2 + k]
        assert ISLAND_INIT * 0.9 < float(w.abs().max()) <= ISLAND_INIT
        assert isinstance(g.net[0][0], IslandLinear) == (k >= LOOKUP_MIN_ISLANDS)
    torch.manual_seed(0)
    few = MLPGenerator(2, (2,), [16], "relu", "none", torch.nn.Identity(), 0, LatentMixture(2, 25))
    torch.manual_seed(0)
    plain = torch.nn.Linear(2 + 25, 16)
    assert type(few.net[0][0]) is torch.nn.Linear and torch.equal(few.net[0][0].weight, plain.weight)
