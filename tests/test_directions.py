"""Latent directions (SeFa, GANSpace, a class boundary), truncation and latents by name (issue #18)."""

import numpy as np
import pytest
import torch

from ganlab.config import RunConfig
from ganlab.data import dataset_spec
from ganlab.errors import RunError
from ganlab.explore import latent as latent_ops
from ganlab.explore.directions import DIRECTION_METHODS, class_boundary, layer_activations, pca_directions, sample_latents, sefa
from ganlab.explore.explorer import load_generator
from ganlab.explore.truncation import truncate, truncation_sweep
from ganlab.models import build_models
from ganlab.store import Run
from tests.helpers import latent

SMALL = dict(loss="bce", steps=10, batch_size=16, latent_dim=12, num_fixed=4, device="cpu")


def _g(**kw):
    cfg = RunConfig(**{**SMALL, **kw})
    torch.manual_seed(0)
    g, _ = build_models(cfg, dataset_spec(cfg.dataset))
    return g.eval(), cfg


def _same_up_to_sign(a: np.ndarray, b: np.ndarray) -> None:
    for u, v in zip(a, b):
        assert abs(float(u @ v)) == pytest.approx(1.0, abs=1e-6)


@pytest.fixture(scope="module")
def uncond():
    return load_generator(Run.open(latent.digits_run()), data_root=latent.data_root())


@pytest.fixture(scope="module")
def cond():
    return load_generator(Run.open(latent.digits_run(conditional=True)), data_root=latent.data_root())


# ---------------------------------------------------------------- SeFa


@pytest.mark.parametrize("kw, columns", [
    (dict(dataset="digits", arch="mlp", g_hidden=(32,)), lambda g: g.net[0][0].weight),
    (dict(dataset="digits", arch="mlp", g_hidden=(32,), conditional=True), lambda g: g.net[0][0].weight[:, :12]),
    (dict(dataset="digits", arch="dcgan", base_channels=8),
     lambda g: g.net[0].weight.reshape(g.net[0].weight.shape[0], -1).T[:, :12]),
    (dict(dataset="ring8", arch="linear"), lambda g: g.net[0][0].weight),
])
def test_sefa_is_the_eigendecomposition_of_the_first_weight(kw, columns):
    """SeFa = the top eigenvectors of AᵀA on the latent columns (class columns dropped), eigenvalues sorted."""
    g, _ = _g(**kw)
    a = columns(g).detach().double().numpy()
    values, vectors = np.linalg.eigh(a.T @ a)
    d = sefa(g, 5)
    assert d.vectors.shape == (5, 12) and d.score_name == "eigenvalue" and d.names[0] == "SeFa 1"
    np.testing.assert_allclose(d.scores, values[::-1][:5], rtol=1e-8)
    assert np.all(np.diff(d.scores) <= 0)
    _same_up_to_sign(d.vectors, vectors[:, ::-1][:, :5].T)
    np.testing.assert_allclose(np.linalg.norm(d.vectors, axis=1), 1.0, atol=1e-9)


def test_sefa_with_latent_islands_is_per_island():
    """With a latent mixture, island k's first layer sees sigma_k * z~: SeFa factorises A_z diag(sigma_k)."""
    g, _ = _g(dataset="ring8", arch="mlp", g_hidden=(16,), latent_mixture=4)
    with torch.no_grad():
        g.prior.log_sigma.copy_(torch.randn_like(g.prior.log_sigma))
    for island in (0, 3):
        a = g.net[0][0].weight.detach().double().numpy()[:, :12] * g.prior.log_sigma[island].detach().exp().double().numpy()
        values, vectors = np.linalg.eigh(a.T @ a)
        d = sefa(g, 3, island=island)
        np.testing.assert_allclose(d.scores, values[::-1][:3], rtol=1e-8)
        _same_up_to_sign(d.vectors, vectors[:, ::-1][:, :3].T)
        assert f"island {island}" in d.layer
    with pytest.raises(ValueError, match="island 4 does not exist"):
        sefa(g, 3, island=4)


# ---------------------------------------------------------------- GANSpace


def test_pca_directions_reproduce_the_activation_pca(uncond):
    """Explained-variance ratios equal numpy's PCA of the same activations, and stepping along direction i
    moves the (linear) early layer along PC i."""
    g, cfg = uncond.g, uncond.cfg
    d = pca_directions(g, cfg, 4, n=1500, seed=3)
    acts = layer_activations(g, "net.0.0", sample_latents(cfg, 1500, seed=3))
    centred = acts - acts.mean(0)
    eig = np.linalg.eigvalsh(np.cov(centred, rowvar=False))[::-1]
    np.testing.assert_allclose(d.scores, (eig / eig.sum())[:4], rtol=1e-6)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    z = sample_latents(cfg, 50, seed=9)
    base = layer_activations(g, "net.0.0", z)
    for i in range(4):
        moved = layer_activations(g, "net.0.0", z + 2.0 * torch.from_numpy(d.vectors[i]).float())
        change = (moved - base).mean(0)
        assert abs(np.corrcoef(change, vt[i])[0, 1]) > 0.99
    assert d.layer == "net.0.0 output" and d.names[:2] == ["PC 1", "PC 2"]


def test_pca_on_a_conditional_run_and_a_named_layer(cond):
    """Class offsets are centred away, another layer can be named, an unknown one is a sentence."""
    d = pca_directions(cond.g, cond.cfg, 3, n=500, layer="net.0.2")
    assert d.vectors.shape == (3, 16) and np.all(np.diff(d.scores) <= 0) and d.layer == "net.0.2 output"
    with pytest.raises(ValueError, match="no layer 'nope'"):
        pca_directions(cond.g, cond.cfg, 3, n=100, layer="nope")


# ---------------------------------------------------------------- class boundary


def _two_common_classes(ex) -> tuple[int, int]:
    pred = ex.classifier.predict(ex.generate(ex.z(range(2000, 3000))) * 2 - 1)
    a, b = np.argsort(np.bincount(pred, minlength=10))[::-1][:2]
    return int(a), int(b)


def test_boundary_walk_raises_the_classifiers_belief_in_b(uncond):
    """The boundary between two classes G makes separates them on held-out z, and walking along it from
    samples read as a makes the classifier believe b more."""
    a, b = _two_common_classes(uncond)
    d = uncond.directions("boundary", 1, a=a, b=b)
    assert d.method == "boundary" and d.names == [f"{a} → {b}"] and d.score_name == "accuracy"
    assert d.scores[0] > 0.8
    seeds = [s for s, p in zip(range(5000, 5400), uncond.classifier.predict(
        uncond.generate(uncond.z(range(5000, 5400))) * 2 - 1)) if p == a][:10]
    probs = np.array([uncond.classifier.outputs(uncond.along(s, d.vectors[0], [0.0, 2.0]) * 2 - 1)[1] for s in seeds])
    log_odds = np.log(probs[:, :, b] + 1e-9) - np.log(probs[:, :, a] + 1e-9)  # (seeds, 2): b over a
    assert log_odds[:, 1].mean() > log_odds[:, 0].mean() + 3.0
    assert probs[:, 1, b].mean() > probs[:, 0, b].mean() + 0.1
    assert uncond.directions("boundary", 1, a=a, b=b) is d  # cached for this checkpoint


def test_boundary_refuses_conditional_runs_and_bad_classes(cond, uncond):
    """A conditional run takes the class as input; classes must exist and differ."""
    with pytest.raises(RunError, match="conditional"):
        class_boundary(cond.g, cond.cfg, cond.classifier, 1, 2)
    with pytest.raises(ValueError, match="class 12 does not exist"):
        class_boundary(uncond.g, uncond.cfg, uncond.classifier, 1, 12)
    with pytest.raises(ValueError, match="two different classes"):
        class_boundary(uncond.g, uncond.cfg, uncond.classifier, 3, 3)
    with pytest.raises(RunError, match="no labels"):
        class_boundary(uncond.g, uncond.cfg, None, 1, 2)
    assert DIRECTION_METHODS.names() == ["sefa", "pca", "boundary"]


# ---------------------------------------------------------------- truncation


def test_psi_zero_is_the_mean_latents_sample_and_one_changes_nothing(uncond, cond):
    """psi = 0: every image of the grid is G(mean latent); psi = 1: the grid as before."""
    mean_sample = uncond.generate(torch.zeros(1, 16))
    _, grid0 = uncond.random_grid(0, 12, psi=0.0)
    np.testing.assert_allclose(grid0, np.repeat(mean_sample, 12, axis=0), atol=1e-6)
    _, grid1 = uncond.random_grid(0, 12, psi=1.0)
    np.testing.assert_array_equal(grid1, uncond.random_grid(0, 12)[1])
    assert np.abs(uncond.random_grid(0, 12, psi=0.5)[1] - grid1).max() > 1e-3
    strip = uncond.interpolate(1, 2, 4, psi=0.0)
    np.testing.assert_allclose(strip, np.repeat(mean_sample, 4, axis=0), atol=1e-6)
    arithmetic = cond.arithmetic("3 + 4", label=2, psi=0.0)
    np.testing.assert_allclose(arithmetic.result[0], cond.generate(torch.zeros(1, 16), torch.tensor([2]))[0], atol=1e-6)
    with pytest.raises(ValueError, match="psi must be a number from 0 to 2"):
        uncond.random_grid(0, 4, psi=2.5)


def test_truncation_keeps_each_latent_in_its_island():
    """With latent islands, psi pulls z~ to the island's centre and never moves z across a border."""
    g, _ = _g(dataset="ring8", arch="mlp", g_hidden=(16,), latent_mixture=5)
    z = torch.randn(200, 12, generator=torch.Generator().manual_seed(1))
    k, inner = g.prior.split(z)
    for psi in (0.0, 0.3):
        k2, inner2 = g.prior.split(truncate(z, psi, g=g))
        assert torch.equal(k, k2)
        torch.testing.assert_close(inner2, psi * inner, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(truncate(z, 0.5), 0.5 * z)
    torch.testing.assert_close(truncate(z, 0.0, mean=torch.ones(12)), torch.ones(200, 12))


def test_truncation_sweep_on_a_digits_run(uncond):
    """Per psi the four numbers and FD, each in range; psi = 0 (one image) has no recall at all."""
    rows = truncation_sweep(uncond, [0.0, 0.7, 1.0], n=300, data_root=latent.data_root())
    assert [r["psi"] for r in rows] == [0.0, 0.7, 1.0]
    for r in rows:
        assert all(0.0 <= r[k] <= 1.0 for k in ("precision", "recall", "coverage"))
        assert r["density"] >= 0 and np.isfinite(r["fd"])
    assert rows[0]["recall"] < 0.05 and rows[2]["recall"] > rows[0]["recall"]


def test_truncation_sweep_on_points():
    """A point run's sweep measures the balls in the data's own coordinates, beside the mixture metrics."""
    ex = load_generator(Run.open(latent.ring_run()))
    rows = truncation_sweep(ex, [0.5, 1.0], n=300)
    assert {"precision", "recall", "density", "coverage", "modes_covered"} <= set(rows[0])


# ---------------------------------------------------------------- latents by name, along


def test_expressions_name_latents_from_a_bank(uncond):
    """'p1 - p1 + 5' is seed 5; names are letters then digits; an unknown name is a sentence."""
    assert latent_ops.parse_expression("p1 - p2 + 7") == [("p1", 1.0), ("p2", -1.0), (7, 1.0)]
    assert latent_ops.parse_expression("12 + 7 - 3") == [(12, 1.0), (7, 1.0), (3, -1.0)]
    with pytest.raises(ValueError, match="not seed arithmetic"):
        latent_ops.parse_expression("p1p2")
    bank = {"p1": torch.randn(1, 16)}
    out = uncond.arithmetic("p1 - p1 + 5", bank=bank)
    np.testing.assert_allclose(out.result, uncond.from_seeds([5]), atol=1e-5)
    assert out.text() == "p1 - p1 + 5"
    np.testing.assert_allclose(out.operands[0], uncond.from_seeds([bank["p1"]])[0], atol=1e-6)
    with pytest.raises(ValueError, match="not seed arithmetic: 'q2' is no seed and names no latent"):
        uncond.arithmetic("q2 + 1", bank=bank)


def test_every_seed_taking_method_takes_a_latent(uncond):
    """A (1, dim) latent stands where a seed does; a wrong shape or NaN is a sentence."""
    z5 = uncond.z([5])
    np.testing.assert_allclose(uncond.from_seeds([z5]), uncond.from_seeds([5]), atol=1e-6)
    np.testing.assert_allclose(uncond.interpolate(z5, 9, 3), uncond.interpolate(5, 9, 3), atol=1e-6)
    np.testing.assert_allclose(uncond.walk(z5, 2, [0.0, 1.0]), uncond.walk(5, 2, [0.0, 1.0]), atol=1e-6)
    np.testing.assert_allclose(uncond.along(z5, np.eye(16)[2], [0.0]), uncond.from_seeds([5]), atol=1e-6)
    with pytest.raises(ValueError, match=r"a latent must be \(1, 16\)"):
        uncond.from_seeds([torch.zeros(1, 3)])
    with pytest.raises(ValueError, match="NaN"):
        uncond.from_seeds([torch.full((1, 16), float("nan"))])
    with pytest.raises(ValueError, match="a direction is 16 finite numbers"):
        uncond.along(5, np.ones(3), [0.0])
