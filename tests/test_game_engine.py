"""ganlab.explore.game: the game's pictures (issue #17) are exact and move nothing; the grid divergence is sound.

Arrows are checked against central finite differences of n·L_G on a float64 copy of D, for every
registered loss; the manifold against G evaluated on the grid, a linear G's uniform density, and a
G that folds or collapses its grid; the plane of 3-D data against a known PCA.
"""

import copy
import math

import numpy as np
import pytest
import torch

from ganlab.config import RunConfig
from ganlab.data.base import DataSpec, TensorDataset
from ganlab.errors import UsageError
from ganlab.evaluation.metrics import histogram_divergence
from ganlab.explore.fixed import POINTS, preview_inputs
from ganlab.explore.game import (
    cell_density,
    d_surface,
    data_plane,
    divergence_watch,
    g_gradients,
    game_frame,
    latent_manifold,
    lift,
)
from ganlab.explore.preview import make_preview
from ganlab.game.losses import LOSSES
from ganlab.models.latents import z_batch
from ganlab.training import Trainer

TINY = dict(dataset="ring8", arch="mlp", loss="bce", steps=20, batch_size=32, latent_dim=2, g_hidden=(16,),
            d_hidden=(16, 16), num_fixed=8, device="cpu", activation="tanh")


def _trainer(steps: int = 3, data=None, **changes) -> Trainer:
    trainer = Trainer(RunConfig(**{**TINY, **changes}), dataset=data)
    for _ in range(steps):
        trainer.train_step()
    return trainer


# ------------------------------------------------------------------ arrows
def _n_times_g_loss(trainer: Trainer, d64: torch.nn.Module, x: np.ndarray) -> float:
    with torch.no_grad():
        out = d64(torch.from_numpy(x))
        return float(trainer.loss.g_loss(out) * out.numel())


@pytest.mark.parametrize("loss", LOSSES.names())
def test_arrows_are_the_finite_difference_gradient_of_the_sum_of_g_losses(loss):
    """For every loss: g_gradients' grad equals central differences of n·L_G(fake) w.r.t. each fake coordinate."""
    trainer = _trainer(loss=loss, margin=0.5, clip_value=1.0)  # wgan: 0.01-clipped weights make a flat critic
    d64 = copy.deepcopy(trainer.D).double().eval()
    z = z_batch(range(8), trainer.cfg.latent_dim)
    fake, grad = g_gradients(trainer, z)
    assert fake.shape == grad.shape == (8, 2)
    np.testing.assert_allclose(fake, trainer.generate(z, player=True).numpy(), rtol=0, atol=0)
    x0, eps = fake.astype(np.float64), 1e-5
    numeric = np.zeros_like(x0)
    for i in range(len(x0)):
        for j in range(2):
            hi, lo = x0.copy(), x0.copy()
            hi[i, j] += eps
            lo[i, j] -= eps
            numeric[i, j] = (_n_times_g_loss(trainer, d64, hi) - _n_times_g_loss(trainer, d64, lo)) / (2 * eps)
    assert np.abs(numeric).max() > 1e-3  # a D whose G loss is flat would make this test vacuous
    np.testing.assert_allclose(grad, numeric, rtol=2e-3, atol=2e-4 * np.abs(numeric).max())


def _state(trainer: Trainer) -> dict:
    """Everything a frame could move: every tensor of the trainer's state, D's .grad, RNGs, training flags."""
    state = copy.deepcopy(trainer.state_dict())
    state["D.grad"] = [None if p.grad is None else p.grad.clone() for p in trainer.D.parameters()]
    state["G.grad"] = [None if p.grad is None else p.grad.clone() for p in trainer.G.parameters()]
    state["requires_grad"] = [p.requires_grad for p in (*trainer.D.parameters(), *trainer.G.parameters())]
    state["modes"] = [m.training for m in (*trainer.D.modules(), *trainer.G.modules())]
    state["buffers"] = [b.clone() for b in (*trainer.D.buffers(), *trainer.G.buffers())]  # spectral-norm u, v too
    state["torch_rng"], state["gen"] = torch.get_rng_state(), trainer.gen.get_state()
    return state


def _assert_same(a, b, where="state"):
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            _assert_same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    else:
        assert a == b, where


@pytest.mark.parametrize("changes", [dict(norm="batch", d_norm="batch"), dict(loss="hinge", spectral_norm=True),
                                     dict(loss="wgan-gp", ema=0.0, latent_dim=1)],
                         ids=["batch-norm", "spectral-norm", "wgan-gp-no-ema"])
def test_a_frame_moves_nothing_in_the_trainer(changes):
    """No weight, grad, BatchNorm buffer, spectral-norm vector, optimizer, RNG or train/eval flag changes;
    and training after a frame gives exactly what training without it gives."""
    trainer, twin = _trainer(**changes), _trainer(**changes)
    before = _state(trainer)
    frame = make_preview(trainer)["game"]
    divergence_watch(trainer)
    assert frame["arrows"].shape == (POINTS, 2) and np.isfinite(frame["arrows"]).all()
    _assert_same(before, _state(trainer))
    for t in (trainer, twin):
        t.train_step()
    _assert_same(_state(twin), _state(trainer))


def test_the_frame_reports_the_runs_losses_on_its_points():
    """losses: D's and G's loss (the run's own functions) on the frame's real and fake points."""
    trainer = _trainer(loss="lsgan")
    frame = game_frame(trainer)
    z, real = preview_inputs(trainer, POINTS)
    with torch.no_grad():
        d = copy.deepcopy(trainer.D).eval()
        fake = trainer.generate(z, player=True)
        real_out, fake_out = d(torch.tensor(real)), d(fake)
        want_d = float(trainer.loss.d_loss(real_out, fake_out))
        want_g = float(trainer.loss.g_loss(fake_out))
    assert frame["losses"]["d"] == pytest.approx(want_d, rel=1e-5)
    assert frame["losses"]["g"] == pytest.approx(want_g, rel=1e-5)
    np.testing.assert_allclose(frame["fake"], fake.numpy(), atol=1e-6)


# ------------------------------------------------------------------ the manifold
def test_manifold_vertices_are_g_on_the_latent_grid():
    """(cells+1)² vertices over ±2.5σ of dims (0, 1), other coordinates at base; the playing G, never its EMA."""
    trainer = _trainer(latent_dim=4)
    cells = 4
    for dims, base in (((0, 1), None), ((2, 0), [0.3, -0.2, 0.0, 1.0])):
        m = latent_manifold(trainer, cells=cells, dims=dims, base=base)
        ticks = np.linspace(-2.5, 2.5, cells + 1)
        z = np.zeros((cells + 1, cells + 1, 4), np.float32) + np.asarray(base or [0.0] * 4, np.float32)
        for i in range(cells + 1):
            for j in range(cells + 1):
                z[i, j, dims[0]], z[i, j, dims[1]] = ticks[j], ticks[i]
        want = trainer.generate(torch.from_numpy(z.reshape(-1, 4)), player=True).numpy()
        np.testing.assert_allclose(m["u"].ravel(), want[:, 0], atol=1e-6)
        np.testing.assert_allclose(m["v"].ravel(), want[:, 1], atol=1e-6)
        assert m["u"].shape == (cells + 1, cells + 1) and m["density"].shape == (cells, cells)
        assert m["dims"] == dims and m["density"].max() == pytest.approx(1.0)
    assert latent_manifold(trainer)["name"] == ("z₀, z₁ over [-2.5, 2.5] (±2.5σ of the prior), "
                                                "other coordinates 0 (the prior's mean)")
    with pytest.raises(UsageError, match="one or two distinct latent coordinates"):
        latent_manifold(trainer, dims=(1, 1))


def test_a_one_dimensional_latent_gives_a_curve():
    trainer = _trainer(latent_dim=1, latent_dist="uniform")
    m = latent_manifold(trainer, cells=10)
    assert m["u"].shape == m["v"].shape == (1, 11) and m["density"].shape == (1, 10) and m["dims"] == (0,)
    z = torch.linspace(-1, 1, 11)[:, None]
    np.testing.assert_allclose(np.stack([m["u"][0], m["v"][0]], 1), trainer.generate(z, player=True).numpy(), atol=1e-6)
    assert m["name"].startswith("z₀ over [-1, 1]")


@pytest.mark.parametrize("dist", ["uniform", "normal"])
def test_a_linear_g_has_uniform_density_up_to_the_priors_mass(dist):
    """G(z) = Az + b scales every cell's area by |det A|: density is the prior's mass per latent cell, normalised."""
    trainer = _trainer(dataset="gaussian2d", arch="linear", latent_dim=2, latent_dist=dist)
    m = latent_manifold(trainer, cells=6)
    if dist == "uniform":
        np.testing.assert_allclose(m["density"], 1.0, rtol=1e-4)
    else:
        ticks = np.linspace(-2.5, 2.5, 7)
        mass = np.diff([0.5 * (1 + math.erf(t / math.sqrt(2))) for t in ticks])
        want = np.outer(mass, mass)
        np.testing.assert_allclose(m["density"], want / want.max(), rtol=1e-3)
    assert m["degenerate"] == 0 and m["folded"] == 0


class _Map(torch.nn.Module):
    """A hand-written G: z -> fn(z) (eval/train modes do nothing)."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, z, y=None):
        return self.fn(z)


def _with_g(fn) -> Trainer:
    trainer = _trainer(steps=0, ema=0.0, latent_dim=2, latent_dist="uniform")
    trainer.G = _Map(fn)
    return trainer


def test_a_g_that_folds_its_grid_is_counted():
    """(|z₀|, z₁) maps the two halves of the grid onto one: half the cells are flipped (folded), none degenerate,
    and each keeps its true density (absolute area); (max(z₀, 0), z₁) collapses half the cells onto a line."""
    fold = latent_manifold(_with_g(lambda z: torch.stack([z[:, 0].abs(), z[:, 1]], 1)), cells=4)
    assert fold["folded"] == 8 and fold["degenerate"] == 0
    np.testing.assert_allclose(fold["density"], 1.0, rtol=1e-5)
    collapse = latent_manifold(_with_g(lambda z: torch.stack([z[:, 0].clamp(min=0), z[:, 1]], 1)), cells=4)
    assert collapse["degenerate"] == 8 and collapse["folded"] == 0
    np.testing.assert_allclose(collapse["density"], 1.0, rtol=1e-5)  # degenerate cells read 1, the rest uniform
    point = latent_manifold(_with_g(lambda z: torch.zeros_like(z)), cells=4)
    assert point["degenerate"] == 16


def test_cell_density_of_a_stretched_grid():
    """A grid stretched 3x on its right half: those cells have a third of the density."""
    u, v = np.meshgrid(np.array([0, 1, 2, 5, 8], float), np.arange(3, dtype=float))
    density, degenerate, folded = cell_density(u, v, np.ones((2, 4)))
    np.testing.assert_allclose(density, [[1, 1, 1 / 3, 1 / 3]] * 2)
    assert (degenerate, folded) == (0, 0)


def test_a_mixture_prior_names_what_the_grid_is_in():
    trainer = _trainer(latent_dim=3, latent_mixture=4)
    assert "z₀ also picks one of 4 latent islands" in latent_manifold(trainer)["name"]
    assert "inside latent island 2 of 4" in latent_manifold(trainer, dims=(1, 2))["name"]


# ------------------------------------------------------------------ planes and the preview
@pytest.fixture(scope="module")
def three_d(tmp_path_factory):
    """3-D points whose variance lies almost all in a tilted plane."""
    rng = np.random.RandomState(0)
    a = rng.randn(2000, 2) * [3.0, 1.0]
    rot = np.linalg.qr(rng.randn(3, 3))[0]
    x = (np.c_[a, 0.05 * rng.randn(2000)] @ rot.T + [1.0, -2.0, 0.5]).astype(np.float32)
    path = tmp_path_factory.mktemp("points") / "tilted.npy"
    np.save(path, x)
    return path, rot


def test_higher_dimensional_points_are_drawn_in_their_pca_plane(three_d):
    """Orthonormal basis spanning the data's plane, named with its variance share; D's surface is D at
    origin + u·b₀ + v·b₁; arrows are the negative gradient projected on the plane."""
    path, rot = three_d
    trainer = _trainer(dataset=f"points:{path}")
    plane = data_plane(trainer)
    b = plane["basis"]
    np.testing.assert_allclose(b @ b.T, np.eye(2), atol=1e-5)
    np.testing.assert_allclose(np.abs(b @ rot[:, :2]), np.eye(2), atol=0.02)  # PC1, PC2: the plane's own axes
    assert plane["name"] == "PCA of the real data: PC1, PC2 (100% of the variance)"
    frame = make_preview(trainer)["game"]
    assert "surface" in frame and "fake" not in make_preview(trainer)  # the 2-D preview keys stay 2-D only
    s = frame["surface"]
    pick = [(3, 5), (40, 17), (63, 0)]
    uv = np.array([[s["xs"][j], s["ys"][i]] for i, j in pick], np.float32)
    with torch.no_grad():
        d = copy.deepcopy(trainer.D).eval()
        want = torch.sigmoid(d(torch.from_numpy(lift(uv, plane)))).numpy()
    np.testing.assert_allclose([s["z"][i, j] for i, j in pick], want, atol=1e-5)
    z, _ = preview_inputs(trainer, POINTS)
    fake, grad = g_gradients(trainer, z)
    np.testing.assert_allclose(frame["arrows"], -grad @ b.T, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(frame["fake"], (fake - plane["origin"]) @ b.T, atol=1e-5)
    assert frame["manifold"]["u"].shape == (21, 21)


def test_the_preview_carries_the_game_for_point_data_only():
    """ring8: "game" beside the old keys, reusing the preview's surface; conditional: no surface; images: no game."""
    trainer = _trainer()
    preview = make_preview(trainer)
    frame = preview["game"]
    assert {"real", "fake", "surface", "samples"} <= preview.keys()
    assert frame["surface"] is preview["surface"]
    np.testing.assert_array_equal(frame["fake"], preview["fake"])
    assert frame["plane"]["name"] == "x₀, x₁" and frame["real"].shape == frame["fake"].shape == (POINTS, 2)
    assert set(frame) == {"step", "plane", "real", "fake", "arrows", "surface", "manifold", "losses"}
    rng = np.random.RandomState(0)
    labelled = TensorDataset("two-blobs", DataSpec(kind="points", shape=(2,), num_classes=2, unbounded=True),
                             torch.from_numpy(rng.randn(500, 2).astype(np.float32)), torch.arange(500) % 2)
    cond = make_preview(_trainer(data=labelled, conditional=True))["game"]
    assert "surface" not in cond and cond["arrows"].shape == (POINTS, 2) and "class 0" in cond["manifold"]["name"]
    images = _trainer(steps=1, dataset="digits", conditional=False)
    assert "game" not in make_preview(images)


def test_d_surface_keeps_its_2d_signature():
    trainer = _trainer()
    s = d_surface(trainer, np.array([[0.0, 0.0], [1.0, 1.0]], np.float32))
    assert s["z"].shape == (64, 64) and s["probability"] and s["xs"][0] < 0 < 1 < s["xs"][-1]


# ------------------------------------------------------------------ the grid divergence
def _ring(n: int, modes, seed: int = 0) -> np.ndarray:
    rng = np.random.RandomState(seed)
    k = rng.choice(modes, n)
    angle = 2 * np.pi * k / 8
    return np.c_[np.cos(angle), np.sin(angle)] * 2 + 0.05 * rng.randn(n, 2)


def test_identical_samples_diverge_by_nothing():
    x = _ring(2000, range(8))
    assert histogram_divergence(x, x.copy()) == {"KL": 0.0, "JS": 0.0}


def test_disjoint_supports_give_js_near_ln2():
    real = _ring(2000, range(8))
    div = histogram_divergence(real, real + 100.0)
    assert 0.99 * math.log(2) < div["JS"] <= math.log(2) and div["KL"] > 5
    inside = histogram_divergence(real, real * 0.05)  # inside the box, every fake in cells real leaves empty
    assert inside["JS"] > 0.95 * math.log(2)


def test_a_missing_mode_raises_kl():
    real, full, seven = _ring(4000, range(8), 0), _ring(4000, range(8), 1), _ring(4000, range(7), 1)
    a, b = histogram_divergence(real, full), histogram_divergence(real, seven)
    assert b["KL"] > a["KL"] + 0.5 and b["JS"] > a["JS"]


def test_js_is_symmetric_and_the_order_of_points_does_not_matter():
    real, fake = _ring(1500, range(8), 0), _ring(1000, range(5), 1)
    bounds = ((-3.0, 3.0), (-3.0, 3.0))
    forth, back = histogram_divergence(real, fake, bounds=bounds), histogram_divergence(fake, real, bounds=bounds)
    assert forth["JS"] == pytest.approx(back["JS"], rel=1e-12)
    perm = np.random.RandomState(3)
    shuffled = histogram_divergence(real[perm.permutation(len(real))], fake[perm.permutation(len(fake))])
    assert shuffled == pytest.approx(histogram_divergence(real, fake), rel=1e-12)


def test_every_real_point_counts_and_non_finite_fakes_count_outside():
    """GAN Lab's splice loop drops most real points; here moving any one real point changes the histogram."""
    real = _ring(400, range(8))
    moved = real.copy()
    moved[-1] = [0.0, 0.0]  # the last point: GAN Lab's loop never reads it
    assert histogram_divergence(real, moved)["KL"] > 0
    bad = real.copy()
    bad[:200] = np.nan
    assert histogram_divergence(real, bad)["JS"] > 0.1
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        histogram_divergence(real, np.zeros((0, 2)))


def test_the_watch_scores_fresh_fakes_against_fixed_real_points():
    """Div/KL and Div/JS: the same for the same G, lower once G moves toward the data."""
    trainer = _trainer(steps=0)
    first = divergence_watch(trainer)
    assert set(first) == {"Div/KL", "Div/JS"} and first == divergence_watch(trainer)
    assert 0 < first["Div/JS"] <= math.log(2)


def test_the_game_draws_the_playing_g_not_its_ema():
    """With an EMA, the fakes, arrows and manifold are the G that D judges and a G step moves; the fixed samples
    (what `ganlab sample` gives) stay the EMA's."""
    trainer = _trainer(steps=30, ema=0.99)
    frame = game_frame(trainer)
    z = z_batch(range(20_000, 20_000 + len(frame["fake"])), trainer.cfg.latent_dim)
    player, ema = trainer.generate(z, player=True).numpy(), trainer.generate(z).numpy()
    assert np.abs(player - ema).max() > 1e-3  # 30 steps at ema 0.99: the two Gs are apart
    np.testing.assert_allclose(frame["fake"], player, rtol=0, atol=1e-6)
    np.testing.assert_allclose(make_preview(trainer)["fake"], player, rtol=0, atol=1e-6)
