"""Precision, recall, density and coverage (ganlab.evaluation.prdc) on cases whose answer is known."""

import numpy as np
import pytest

from ganlab.evaluation.prdc import prdc

CENTRES = np.array([[np.cos(a) * 10, np.sin(a) * 10] for a in 2 * np.pi * np.arange(10) / 10])


def clusters(n_per: int, seed: int, modes=range(10)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([CENTRES[m] + 0.5 * rng.standard_normal((n_per, 2)) for m in modes])


def test_identical_sets_are_perfect():
    """Every fake sits on a real: precision, recall and coverage are 1; density counts each ball's k + 1 members."""
    x = clusters(50, 0)
    m = prdc(x, x.copy(), k=5)
    assert m["precision"] == m["recall"] == m["coverage"] == 1.0
    assert m["density"] == pytest.approx(6 / 5)


def test_two_draws_of_one_distribution_score_near_one():
    """Independent samples of the same mixture: density about 1 (its expectation), the others high."""
    m = prdc(clusters(100, 0), clusters(100, 1), k=5)
    assert m["precision"] > 0.9 and m["recall"] > 0.9 and m["coverage"] > 0.9
    assert m["density"] == pytest.approx(1.0, abs=0.15)


def test_one_missing_mode_costs_a_tenth_of_recall_and_coverage():
    """Nine of ten clusters made: recall and coverage fall by about 1/10; precision does not."""
    real = clusters(100, 0)
    full = prdc(real, clusters(100, 1), k=5)
    missing = prdc(real, clusters(111, 1, modes=range(9)), k=5)
    assert full["recall"] - missing["recall"] == pytest.approx(0.1, abs=0.04)
    assert full["coverage"] - missing["coverage"] == pytest.approx(0.1, abs=0.04)
    assert missing["precision"] > 0.9


def test_a_collapsed_generator_has_no_recall():
    """Every fake the same point on one mode: precise, but recall about 0 and coverage a few reals."""
    real = clusters(100, 0)
    m = prdc(real, np.repeat(CENTRES[:1], 500, axis=0), k=5)
    assert m["precision"] == 1.0
    assert m["recall"] < 0.02 and m["coverage"] < 0.1


def test_noise_has_no_precision():
    """Fakes spread far from every cluster: precision and density about 0."""
    real = clusters(100, 0)
    noise = np.random.default_rng(3).uniform(-40, 40, (1000, 2))
    noise = noise[np.min(np.linalg.norm(noise[:, None] - CENTRES[None], axis=2), axis=1) > 3]
    m = prdc(real, noise, k=5)
    assert m["precision"] < 0.02 and m["density"] < 0.02


def test_non_finite_fakes_are_in_no_ball_and_shapes_are_checked():
    """A NaN fake counts against precision; mismatched widths and too few samples are ValueErrors."""
    x = clusters(20, 0)
    fake = x.copy()
    fake[:20] = np.nan
    assert prdc(x, fake, k=5)["precision"] == pytest.approx(0.9)
    with pytest.raises(ValueError, match="must be"):
        prdc(x, x[:, :1])
    with pytest.raises(ValueError, match="needs more than"):
        prdc(x, x[:5], k=5)


def test_eval_reports_prdc_for_an_image_run():
    """`eval` on a labelled image run carries the four numbers, measured in the classifier's features."""
    from ganlab.evaluation.evaluate import evaluate_run
    from ganlab.store import Run
    from tests.helpers import latent

    m = evaluate_run(Run.open(latent.digits_run()), n=300, data_root=latent.data_root())
    for key in ("precision", "recall", "coverage"):
        assert 0.0 <= m[key] <= 1.0
    assert m["density"] >= 0.0 and m["precision"] > 0.0
