"""Metrics on cases with known answers; the classifier on scikit-learn's bundled 8x8 digits."""

import json
import math

import numpy as np
import pytest
import scipy.linalg
import torch

from ganlab.data.mixtures import grid25_centres, ring8_centres, sample_mixture
from ganlab.evaluation import classifier as clf
from ganlab.evaluation import metrics as m

# ---------------------------------------------------------------- mixtures


@pytest.mark.parametrize("centres,std", [(ring8_centres(), 0.02), (grid25_centres(), 0.05)])
def test_perfect_mixture_samples_cover_every_mode_evenly(centres, std):
    """True samples: all modes, hq near the 2-D 3-sigma mass 1 - exp(-4.5) = 0.989, KL near 0."""
    out = m.mixture_metrics(sample_mixture(centres, std, 20_000, seed=1), centres, std)
    assert out["modes_covered"] == out["modes_total"] == len(centres)
    assert out["high_quality_rate"] == pytest.approx(1 - math.exp(-4.5), abs=0.004)
    assert out["reverse_kl"] < 0.01
    assert out["spread"] == pytest.approx(1.0, abs=0.02), "true samples are exactly as wide as the modes"
    assert sum(out["mode_counts"]) == round(out["high_quality_rate"] * 20_000)


def test_collapsed_mixture_has_one_mode_and_kl_log_k():
    """Every sample on one centre: 1 mode, hq 1, reverse KL = log K (its maximum)."""
    c = grid25_centres()
    out = m.mixture_metrics(np.repeat(c[7:8], 2500, axis=0), c, 0.05)
    assert (out["modes_covered"], out["high_quality_rate"]) == (1, 1.0)
    assert out["reverse_kl"] == pytest.approx(math.log(25))
    assert out["mode_counts"][7] == 2500
    assert out["spread"] == 0.0, "a dot on the centre is perfect 'quality' and no spread at all"


def test_spread_scales_with_the_samples_width():
    """Half as wide as the data: spread near 0.5 (HQ stays near 1: narrow modes are never penalised by HQ)."""
    c = grid25_centres()
    out = m.mixture_metrics(sample_mixture(c, 0.025, 20_000, seed=2), c, 0.05)
    assert out["spread"] == pytest.approx(0.5 / math.sqrt(m.truncated_sq_radius(2) / 2), abs=0.02)
    assert out["high_quality_rate"] > 0.999


def test_spread_is_width_not_offset():
    """Narrow blobs 2 std off every centre: HQ is full, and spread sees the blobs' width, not the offset."""
    c = grid25_centres()
    x = sample_mixture(c + np.array([0.1, 0.0]), 0.005, 5_000, seed=3)
    out = m.mixture_metrics(x, c, 0.05)
    assert out["high_quality_rate"] == 1.0 and out["spread"] == pytest.approx(0.1, abs=0.01)


@pytest.mark.parametrize("dim", [1, 2, 3, 4, 7])
def test_truncated_radius_matches_sampling(dim):
    """E[r^2 / std^2 | r < 3 std] from the chi-square recurrence against 400,000 Gaussian draws."""
    r2 = (np.random.default_rng(dim).standard_normal((400_000, dim)) ** 2).sum(1)
    assert m.truncated_sq_radius(dim) == pytest.approx(r2[r2 < 9].mean(), rel=0.01)


def test_uniform_noise_is_low_quality():
    """Uniform points over the grid's box: almost none within 3 std (area ratio ~ 25*pi*0.15^2/100)."""
    c = grid25_centres()
    x = np.random.default_rng(0).uniform(-5, 5, size=(2500, 2))
    out = m.mixture_metrics(x, c, 0.05)
    assert out["high_quality_rate"] < 0.05


def test_no_high_quality_sample_gives_kl_none_and_valid_json():
    """An empty mode histogram has no KL: None, and NaN samples never count as high quality."""
    c = ring8_centres()
    x = np.full((10, 2), np.nan)
    out = m.mixture_metrics(x, c, 0.02)
    assert (out["modes_covered"], out["high_quality_rate"], out["reverse_kl"], out["spread"]) == (0, 0.0, None, None)
    json.dumps(out, allow_nan=False)


# ---------------------------------------------------------------- gaussian2d


def _exact_moments(mean, cov, n=500, seed=0):
    """Samples whose sample mean and (ddof=1) covariance are exactly `mean` and `cov`."""
    z = np.random.default_rng(seed).standard_normal((n, 2))
    z -= z.mean(axis=0)
    z = z @ np.linalg.inv(np.linalg.cholesky(np.cov(z, rowvar=False))).T  # whitened: cov(z) = I
    return z @ np.linalg.cholesky(cov).T + mean


A = np.array([[1.0, 2.0], [-0.1, 0.5]])
B = np.array([1.0, 2.0])
COV = A.T @ A


def test_gaussian_fit_exact_moments_is_zero():
    out = m.gaussian_fit_metrics(_exact_moments(B, COV), B, COV)
    assert out["mean_error"] == pytest.approx(0, abs=1e-9)
    assert out["cov_error"] == pytest.approx(0, abs=1e-9)
    assert out["frechet_distance"] == pytest.approx(0, abs=1e-9)


def test_gaussian_fit_shift_and_scale_have_known_distances():
    """Mean shifted by d: FD = |d|^2. Cov scaled by s^2: FD = (1 - s)^2 Tr C."""
    d = np.array([0.3, -0.4])
    out = m.gaussian_fit_metrics(_exact_moments(B + d, COV), B, COV)
    assert out["mean_error"] == pytest.approx(0.5)
    assert out["frechet_distance"] == pytest.approx(0.25)
    assert out["w2_distance"] == pytest.approx(0.5)
    out = m.gaussian_fit_metrics(_exact_moments(B, 4 * COV), B, COV)
    assert out["frechet_distance"] == pytest.approx(np.trace(COV))
    assert out["cov_error"] == pytest.approx(3 * np.linalg.norm(COV))


# ---------------------------------------------------------------- 1010


def test_pattern1010_rates():
    x = np.array([
        [0.9, 0.1, 0.85, 0.05],  # exact
        [0.6, 0.4, 0.7, 0.3],  # matches, not exact
        [0.1, 0.9, 0.1, 0.9],  # inverted
        [0.9, 0.1, 0.9, np.nan],  # diverged
    ])
    out = m.pattern1010_metrics(x)
    assert out["pattern_match_rate"] == 0.5
    assert out["pattern_exact_rate"] == 0.25
    assert m.to_json(out)["mean_sample"][3] is None


# ---------------------------------------------------------------- Fréchet distance


def test_frechet_identical_stats_is_zero_and_shift_is_squared_norm():
    rng = np.random.default_rng(0)
    f = rng.standard_normal((400, 16))
    mu, sig = m.feature_stats(f)
    assert m.frechet_distance(mu, sig, mu, sig) == pytest.approx(0, abs=1e-8)
    d = rng.standard_normal(16)
    assert m.frechet_distance(mu + d, sig, mu, sig) == pytest.approx(d @ d)


def test_frechet_matches_scipy_sqrtm_and_survives_singular_covariances():
    """Same value as the textbook sqrtm formula; finite and real for rank-deficient inputs."""
    rng = np.random.default_rng(1)
    s1, s2 = np.cov(rng.standard_normal((200, 8)), rowvar=False), np.cov(rng.standard_normal((200, 8)) * 2, rowvar=False)
    mu1, mu2 = rng.standard_normal(8), rng.standard_normal(8)
    textbook = (mu1 - mu2) @ (mu1 - mu2) + np.trace(s1 + s2 - 2 * scipy.linalg.sqrtm(s1 @ s2).real)
    assert m.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(textbook, rel=1e-6)
    dead = np.zeros((8, 8))  # every feature constant (e.g. dead ReLUs on collapsed samples)
    assert m.frechet_distance(mu1, dead, mu1, s2) == pytest.approx(np.trace(s2))
    assert math.isnan(m.frechet_distance(mu1 * np.nan, s1, mu2, s2))


# ---------------------------------------------------------------- class histograms


def test_class_histogram_identical_is_kl_zero_full_coverage():
    pred = np.repeat(np.arange(10), 30)
    out = m.class_histogram_metrics(pred, 10, np.full(10, 0.1))
    assert (out["class_coverage"], out["classes_total"], out["class_kl"]) == (10, 10, 0.0)
    assert out["class_counts"] == [30] * 10


def test_class_histogram_one_class_covers_one():
    out = m.class_histogram_metrics(np.full(500, 3), 10, np.full(10, 0.1))
    assert out["class_coverage"] == 1
    assert out["class_kl"] == pytest.approx(math.log(10))


def test_class_histogram_stray_predictions_below_threshold_do_not_count():
    """4 of 500 (< 20% of a 10% share) misread as class 5: still one class covered."""
    pred = np.concatenate([np.full(496, 3), np.full(4, 5)])
    assert m.class_histogram_metrics(pred, 10)["class_coverage"] == 1


def test_to_json_makes_strict_json():
    raw = {"a": float("inf"), "b": np.float32(0.5), "c": np.arange(3), "d": (np.int64(2), float("nan")), "e": None}
    out = m.to_json(raw)
    assert out == {"a": None, "b": 0.5, "c": [0, 1, 2], "d": [2, None], "e": None}
    json.dumps(out, allow_nan=False)


# ---------------------------------------------------------------- classifier on digits


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32).div(16).mul(2).sub(1).unsqueeze(1)  # (1797, 1, 8, 8) in [-1, 1]
    return x, torch.tensor(d.target)


@pytest.fixture(scope="module")
def one_thread():
    """Two busy cores: one thread trains faster and steadier than two fighting threads."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def cached_bundle(tmp_path_factory, digits, one_thread):
    x, y = digits
    cache = tmp_path_factory.mktemp("clf")
    return cache, clf.load_or_train_classifier(cache, "digits", x, y, 10, "cpu")


def test_classifier_learns_digits_and_fd_separates_real_from_noise(digits, cached_bundle):
    x, y = digits
    _, bundle = cached_bundle
    assert not bundle.cached and bundle.accuracy > 0.9
    assert bundle.features(x[:5]).shape == (5, 128) and bundle.predict(x[:5]).dtype == np.int64
    real = m.image_metrics(x[:900], x[900:], y[900:], 10, bundle)
    noise = m.image_metrics(torch.rand(900, 1, 8, 8) * 2 - 1, x, y, 10, bundle)
    assert real["class_coverage"] == 10 and real["class_kl"] < 0.05
    assert noise["fd"] > 10 * max(real["fd"], real["fd_real_split"])
    assert noise["mean_confidence"] < real["mean_confidence"]
    threes = m.image_metrics(x[y == 3], x, y, 10, bundle)
    assert threes["class_coverage"] == 1
    json.dumps(m.to_json(real), allow_nan=False)


def test_classifier_cache_reloads_without_training(digits, cached_bundle, monkeypatch):
    x, y = digits
    cache, first = cached_bundle
    monkeypatch.setattr(clf, "train_classifier", lambda *a, **k: pytest.fail("retrained a valid cache"))
    again = clf.load_or_train_classifier(cache, "digits", x, y, 10, "cpu")
    assert again.cached and again.accuracy == first.accuracy
    np.testing.assert_allclose(again.features(x[:20]), first.features(x[:20]), rtol=1e-6)


def test_classifier_cache_retrains_when_corrupt_or_stale(digits, tmp_path, monkeypatch):
    """Corrupt bytes, another version, or other data: retrain (stubbed) instead of failing or trusting it."""
    x, y = digits
    calls = []

    def fake_train(images, labels, num_classes, **kw):
        calls.append(1)
        model = clf.SmallCNN((1, 8, 8), num_classes)
        arch = {"in_shape": [1, 8, 8], "num_classes": num_classes, "width": 32, "feature_dim": 128}
        return clf.ClassifierBundle(model.eval(), arch, 0.5, torch.device("cpu"))

    monkeypatch.setattr(clf, "train_classifier", fake_train)
    path = clf.cache_path(tmp_path, "digits")
    path.write_bytes(b"not a checkpoint")
    clf.load_or_train_classifier(tmp_path, "digits", x, y, 10)
    assert len(calls) == 1 and torch.load(path, weights_only=True)["version"] == clf.CLASSIFIER_VERSION
    ck = torch.load(path, weights_only=True)
    torch.save({**ck, "version": 0}, path)
    clf.load_or_train_classifier(tmp_path, "digits", x, y, 10)
    assert len(calls) == 2
    clf.load_or_train_classifier(tmp_path, "digits", x[:-1], y[:-1], 10)  # other data, same key
    assert len(calls) == 3
    assert clf.load_or_train_classifier(tmp_path, "digits", x[:-1], y[:-1], 10).cached
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp files left behind


def test_cache_path_cannot_escape_its_folder(tmp_path):
    p = clf.cache_path(tmp_path, "hdf5:../../etc/x.h5")
    assert p.parent == tmp_path and p.name.startswith("classifier-hdf5_.._.._etc_x.h5-")
