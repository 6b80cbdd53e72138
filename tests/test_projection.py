"""Projection of images and points into a trained G's latent space, and nearest training neighbours (issue #18)."""

import numpy as np
import pytest
import torch

from ganlab.explore.explorer import load_generator
from ganlab.explore.neighbours import copies, copy_distance, nearest_training
from ganlab.explore.projection import project
from ganlab.store import Run
from tests.helpers import latent

STEPS = 150


@pytest.fixture(scope="module")
def uncond():
    return load_generator(Run.open(latent.digits_run()), data_root=latent.data_root())


@pytest.fixture(scope="module")
def cond():
    return load_generator(Run.open(latent.digits_run(conditional=True)), data_root=latent.data_root())


def _rmse_of_random_latents(ex, targets: np.ndarray, n: int = 1000, seed: int = 77, label=None) -> np.ndarray:
    """(len(targets), n): pixel RMSE in [0, 1] of G(z) for n random z against each target."""
    z = torch.randn(n, ex.latent_dim, generator=torch.Generator().manual_seed(seed))
    y = None if label is None else torch.full((n,), label)
    x = ex.generate(z, y)
    return np.sqrt(((x[None] - targets[:, None]) ** 2).reshape(len(targets), n, -1).mean(-1))


def test_projecting_gs_own_samples_beats_95_percent_of_random_latents(uncond):
    """For G's own samples the z found makes an image closer to the target than 95% of 1,000 random z."""
    targets = uncond.from_seeds([901, 902, 903, 904])
    seen = []
    p = uncond.project(targets, progress=lambda step, steps, err: seen.append((step, steps)), steps=STEPS)
    random = _rmse_of_random_latents(uncond, targets)
    assert p.z.shape == (4, 16) and p.recon.shape == (4, 1, 8, 8) and p.labels is None
    for i in range(4):
        assert p.error[i] < np.quantile(random[i], 0.05)
    np.testing.assert_allclose(p.error, np.sqrt(((p.recon - targets) ** 2).reshape(4, -1).mean(1)), atol=1e-5)
    np.testing.assert_allclose(uncond.from_seeds([torch.from_numpy(p.z[:1])]), p.recon[:1], atol=1e-5)
    assert seen[0] == (1, STEPS) and seen[-1] == (STEPS, STEPS) and len(seen) == STEPS
    assert p.feature_error is not None and len(p.history) == STEPS + 1 and p.history[-1] <= p.history[0]


def test_held_out_real_digits_beat_the_best_of_1000_random_latents(uncond):
    """Real images G never trained on: each projection is closer than the best of 1,000 random z."""
    _, held, _ = latent.digits_split()
    targets = held[:6]
    p = uncond.project(targets, steps=STEPS)
    best_random = _rmse_of_random_latents(uncond, targets).min(1)
    assert np.all(p.error < best_random), (p.error, best_random)
    assert np.all(p.error <= p.baseline)


def test_a_conditional_run_tries_every_class_and_says_which(cond):
    """No class given: every class is tried and the closest kept (its label returned); a given class is kept."""
    _, held, labels = latent.digits_split()
    targets = held[6:10]
    p = cond.project(targets, steps=60)
    assert p.label_rule == "best of every class" and p.labels.shape == (4,)
    assert np.all(p.error <= p.baseline)
    np.testing.assert_allclose(cond.from_seeds([torch.from_numpy(p.z[:1])], labels=int(p.labels[0])), p.recon[:1],
                               atol=1e-5)
    given = cond.project(targets[:2], steps=20, label=3)
    assert given.label_rule == "given" and list(given.labels) == [3, 3]
    with pytest.raises(ValueError, match="class 10 does not exist"):
        cond.project(targets[:1], steps=1, label=10)


def test_a_point_projects_onto_gs_output():
    """Points: G's own sample is found again almost exactly; a point far off lands on G's nearest output."""
    ex = load_generator(Run.open(latent.ring_run()))
    own = ex.from_seeds([5, 6])
    p = ex.project(own, steps=100)
    assert p.recon.shape == (2, 2) and np.all(p.error < 0.05) and p.feature_error is None
    far = project(ex.g, ex.cfg, ex.spec, np.array([[30.0, 30.0]]), steps=50)
    assert far.error[0] <= far.baseline[0]


@pytest.mark.parametrize("bad, match", [
    (np.zeros((2, 1, 4, 4)), r"must be \(N, 1, 8, 8\)"),
    (np.full((1, 1, 8, 8), np.nan), "NaN"),
    (np.full((1, 1, 8, 8), 2.0), r"in \[0, 1\]"),
])
def test_bad_targets_are_sentences(uncond, bad, match):
    with pytest.raises(ValueError, match=match):
        uncond.project(bad, steps=1)


# ---------------------------------------------------------------- nearest neighbours


def test_a_training_image_is_its_own_nearest_neighbour(uncond):
    """In the classifier's features, each training image's nearest training image is itself, at distance 0."""
    train, _, _ = uncond.training_set()
    idx, dist, images = uncond.neighbours(train[:20], k=3)
    assert idx.shape == dist.shape == (20, 3) and images.shape == (20, 3, 1, 8, 8)
    np.testing.assert_allclose(dist[:, 0], 0.0, atol=1e-4)
    np.testing.assert_array_equal(images[:, 0], train[:20])  # itself or an exact duplicate
    assert np.all(np.diff(dist, axis=1) >= 0)


def test_a_planted_copy_among_samples_is_flagged(uncond):
    """A training image slipped into a grid of G's samples is flagged as a copy; G's samples mostly are not."""
    train, _, _ = uncond.training_set()
    samples = uncond.from_seeds(range(100, 130))
    samples[7] = train[123]
    idx, dist, _ = uncond.neighbours(samples)
    flags = uncond.copies(dist)
    assert flags[7] and idx[7, 0] == 123 or np.array_equal(train[idx[7, 0]], train[123])
    assert flags.sum() <= 3


def test_nearest_training_in_raw_coordinates():
    """Without a feature function, points (or pixels) are compared as they are."""
    bank = np.array([[0.0, 0.0], [1.0, 0.0], [5.0, 5.0]])
    idx, dist = nearest_training(np.array([[0.9, 0.1], [4.0, 4.0]]), bank, k=2)
    np.testing.assert_array_equal(idx, [[1, 0], [2, 1]])
    np.testing.assert_allclose(dist[0], [np.hypot(0.1, 0.1), np.hypot(0.9, 0.1)], rtol=1e-6)
    assert copy_distance(bank) > 0 and list(copies(dist, 0.2)) == [True, False]
    with pytest.raises(ValueError, match="k must be between 1 and 3"):
        nearest_training(bank, bank, k=4)
