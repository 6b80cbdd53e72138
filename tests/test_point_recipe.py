"""The generic point recipe (ganlab/config/recipes_points.py) and standardised coordinates (ganlab/models/scaling.py).

The recipe must not know the answer: applied to any point data it gives one config (the dataset aside). The
standardisation must be invisible from outside the nets: G's points and D's surface in the data's coordinates,
checkpoints that rebuild the same G, and nothing changed for a config that leaves it off.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ganlab.config import RunConfig
from ganlab.config.recipes_points import POINTS
from ganlab.data import DATASETS, load_dataset
from ganlab.evaluation.evaluate import evaluate_run
from ganlab.models import build_models, scaling
from ganlab.store import Run
from ganlab.store.checkpoint import generator_from_checkpoint, load_checkpoint_file
from ganlab.training import Trainer, train

RING8 = DATASETS.get("ring8").spec
TINY = dict(steps=30, log_every=10, snapshot_every=10, checkpoint_every=30, num_fixed=8, device="cpu")


def test_the_recipe_knows_nothing_of_the_data():
    """No dataset, mode count, island count or size per mixture: the same values for a 5-ring and a 7x7 grid."""
    from ganlab.config.recipes import apply_recipe

    a = apply_recipe({"dataset": "ring:5"}, load_dataset("ring:5", "cpu").spec).to_dict()
    b = apply_recipe({"dataset": "grid:7,spacing=1,std=0.03"}, load_dataset("grid:7,spacing=1,std=0.03", "cpu").spec).to_dict()
    assert a.pop("dataset") == "ring:5" and b.pop("dataset") == "grid:7,spacing=1,std=0.03"
    assert a == b and a["recipe"] == "points"
    assert "dataset" not in POINTS and "preset" not in POINTS
    assert POINTS["standardize"] is True  # the scale of the data is measured, not assumed


def test_moments_of_unit_data_are_the_identity():
    x = torch.randn(200_000, 3, generator=torch.Generator().manual_seed(0))
    mean, std = scaling.moments(x)
    torch.testing.assert_close(mean, torch.zeros(3), atol=0.01, rtol=0)
    torch.testing.assert_close(std, torch.ones(3), atol=0.01, rtol=0)
    a = scaling.Affine(3)
    torch.testing.assert_close(a(x[:5]), x[:5])  # unset, the map is the identity


def test_a_constant_coordinate_is_left_unscaled():
    x = torch.stack([torch.arange(10.0), torch.full((10,), 7.0)], 1)
    mean, std = scaling.moments(x)
    assert std[1] == 1.0 and mean[1] == 7.0 and torch.isfinite(std).all()


def _standardised_pair(x: torch.Tensor):
    cfg = RunConfig(dataset="ring8", g_hidden=(8,), d_hidden=(8,), latent_dim=2, standardize=True)
    g, d = build_models(cfg, RING8)
    scaling.fit(g, d, x)
    return g, d


def test_d_sees_standardised_points_and_g_makes_points_at_the_datas_scale():
    """G's net and D's net work on unit data; what goes in and out of G and D is in the data's coordinates."""
    x = torch.randn(5000, 2) * torch.tensor([30.0, 0.5]) + torch.tensor([100.0, -4.0])
    g, d = _standardised_pair(x)
    s = d.scale_in(x)
    torch.testing.assert_close(s.mean(0), torch.zeros(2), atol=1e-3, rtol=0)
    torch.testing.assert_close(s.std(0), torch.ones(2), atol=1e-3, rtol=0)
    torch.testing.assert_close(g.unscale(s), x, atol=1e-3, rtol=1e-5)  # G's output map undoes D's input map
    torch.testing.assert_close(d(x), d.net(s).view(-1))
    out = g(torch.randn(4000, 2)).detach()
    assert abs(out[:, 0].mean() - 100.0) < 30.0 and abs(out[:, 1].mean() + 4.0) < 0.5  # near the data, not near 0


def test_r1_is_measured_in_ds_coordinates():
    """The penalty's weight means the same on any scale: the gradient is taken on the standardised points."""
    from ganlab.game.penalties import r1_penalty

    x = torch.randn(64, 2) * 50.0
    _, d = _standardised_pair(x)
    fn, s = scaling.in_d_coordinates(d, d, x)
    torch.testing.assert_close(fn(s), d(x))
    sx = s.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(d.net(sx).sum(), sx)
    torch.testing.assert_close(r1_penalty(fn, s), grad.square().sum(1).mean())
    plain = RunConfig(dataset="ring8", g_hidden=(8,), d_hidden=(8,))
    _, d_plain = build_models(plain, RING8)
    fn, same = scaling.in_d_coordinates(d_plain, d_plain, x)
    assert same is x and fn is d_plain  # off: untouched


def test_configs_that_leave_it_off_build_the_same_nets():
    """Every preset keeps its weights and checkpoints: no new parameter or buffer unless standardize is set."""
    torch.manual_seed(0)
    g0, d0 = build_models(RunConfig(dataset="ring8"), RING8)
    torch.manual_seed(0)
    g1, d1 = build_models(RunConfig(dataset="ring8", standardize=True), RING8)
    assert set(g1.state_dict()) - set(g0.state_dict()) == {"unscale.scale", "unscale.shift"}
    assert set(d1.state_dict()) - set(d0.state_dict()) == {"scale_in.scale", "scale_in.shift"}
    assert g0.unscale is None and d0.scale_in is None
    images = DATASETS.get("digits").spec
    g2, d2 = build_models(RunConfig(dataset="digits", standardize=True), images)
    assert g2.unscale is None and d2.scale_in is None  # images are never standardised


@pytest.fixture(scope="module")
def recipe_run(tmp_path_factory):
    cfg = RunConfig.from_dict({**POINTS, **TINY, "dataset": "ring8"})
    run = Run.create(tmp_path_factory.mktemp("runs"), cfg)
    trainer = Trainer(cfg)
    assert train(cfg, run, trainer=trainer) == "finished"
    return run, trainer


def test_the_recipe_trains_and_scores_on_ring8(recipe_run):
    run, trainer = recipe_run
    m = evaluate_run(run)
    assert m["modes_total"] == 8 and 0.0 <= m["high_quality_rate"] <= 1.0
    mean, std = scaling.moments(trainer.data.x)
    torch.testing.assert_close(trainer.G.unscale.scale, std)  # fitted to ring8: radius 2 gives std ~1.41 per axis
    assert 1.3 < float(std[0]) < 1.5


def test_a_checkpoint_rebuilds_the_same_standardised_g(recipe_run):
    run, trainer = recipe_run
    (ckpt,) = sorted(run.checkpoints_dir.glob("*.pt"))
    g, cfg, _ = generator_from_checkpoint(load_checkpoint_file(ckpt))
    assert cfg.standardize
    z = torch.randn(100, cfg.latent_dim)
    np.testing.assert_allclose(g(z).detach().numpy(), trainer.generate(z).numpy(), atol=1e-5)


def test_g_starts_a_little_spread_about_the_datas_mean_and_leaves_the_global_rng_alone():
    """scaling.spread_start: the first samples are centred on the data with START_SPREAD of its std, so islands
    leave the mean in their own directions (at PyTorch's init they sat in one spot ~0.0075 wide)."""
    x = torch.randn(5000, 2) * torch.tensor([3.0, 0.5]) + torch.tensor([10.0, -4.0])
    cfg = RunConfig.from_dict({**POINTS, "dataset": "ring8"})
    torch.manual_seed(0)
    g, d = build_models(cfg, RING8)
    state = torch.random.get_rng_state()
    scaling.fit(g, d, x)
    assert torch.equal(state, torch.random.get_rng_state())
    with torch.no_grad():
        s = d.scale_in(g(torch.randn(20_000, cfg.latent_dim)))
    torch.testing.assert_close(s.mean(0), torch.zeros(2), atol=0.01, rtol=0)
    torch.testing.assert_close(s.std(0), torch.full((2,), scaling.START_SPREAD), atol=0.01, rtol=0)
