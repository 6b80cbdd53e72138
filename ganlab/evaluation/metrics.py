"""Quality metrics for generated samples: pure functions, numpy in, plain dicts out (pass them through to_json).

Values are Python ints, floats, strings, lists or None; a float is nan only when the samples
themselves are not finite (a diverged generator), and to_json turns it into None.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Optional

import numpy as np

if TYPE_CHECKING:  # the classifier pulls in torch; metrics on points do not need it
    from .classifier import ClassifierBundle

HQ_STDS = 3.0  # a sample is "high quality" within this many std of its nearest centre (VEEGAN, PacGAN)
CLASS_MIN_SHARE = 0.2  # a class is covered with at least this fraction of its data share of predictions
FD_KIND = "classifier-feature FD (ganlab's own classifier on this dataset; not Inception FID)"


# ---------------------------------------------------------------- 2-D mixtures

def _chi2_cdf(dof: int, x: float) -> float:
    """P(chi^2_dof < x) by the recurrence P_{k+2} = P_k - (x/2)^(k/2) e^(-x/2) / Gamma(k/2 + 1)."""
    p, k = (math.erf(math.sqrt(x / 2)), 1) if dof % 2 else (1.0 - math.exp(-x / 2), 2)
    while k < dof:
        p -= math.exp((k / 2) * math.log(x / 2) - x / 2 - math.lgamma(k / 2 + 1))
        k += 2
    return p


def truncated_sq_radius(dim: int, n_std: float = HQ_STDS) -> float:
    """E[|x - c|^2 / std^2 | |x - c| < n_std std] for x ~ N(c, std^2 I_dim): the spread of true HQ samples.

    |x - c|^2 / std^2 is chi^2 with `dim` degrees of freedom, and E[chi^2_d ; chi^2_d < a] =
    d P(chi^2_{d+2} < a). In 2-D with 3 std this is 1.899 (2 without the cut).
    """
    a = float(n_std) ** 2
    return dim * _chi2_cdf(dim + 2, a) / _chi2_cdf(dim, a)


def mixture_metrics(samples: np.ndarray, centres: Sequence, std: float, n_std: float = HQ_STDS) -> dict:
    """Mode coverage, high-quality rate and reverse KL of a Gaussian mixture, as in PacGAN.

    Why these three: a collapsed generator can put every sample exactly on a mode (high
    quality 1.0) while visiting one mode of eight; coverage and balance catch that.

    Definitions (PacGAN, Lin et al. 2018, Sec. 4.1, following VEEGAN; 2,500 samples there):
      - a sample is *high quality* when its Euclidean distance to the nearest centre is
        below `n_std` * std (3 std). For a 2-D isotropic Gaussian that holds for
        1 - exp(-9/2) = 98.9% of true samples (0.997 is the 1-D figure);
      - `mode_counts[k]`: high-quality samples whose nearest centre is k;
      - a mode is *covered* when it has at least one high-quality sample;
      - `reverse_kl` = KL(p || u) = sum_k p_k log(p_k K), where p = mode_counts / sum(mode_counts)
        is the generated mode histogram and u the true (uniform) mode distribution. It is 0 for
        perfect balance and log K when every high-quality sample sits on one mode.
        None when no sample is high quality: the histogram is empty and the divergence is
        undefined (coverage 0 and high_quality_rate 0 already say how bad it is).
      - `spread` (ganlab's, not PacGAN's): how wide G's modes are against the data's. The pooled
        within-mode standard deviation of the high-quality samples (each about its own mode's
        sample mean, so an off-centre blob is not mistaken for a wide one), over what true samples
        inside the same radius have. 1 is the data's width; a G that puts each mode on a dot
        scores 1.0 in high quality but near 0 here, so the two together say "on the modes *and* as
        wide as them". None when no mode has two high-quality samples.
    Non-finite samples (a diverged G) count as samples that are not high quality.
    """
    x = np.asarray(samples, dtype=np.float64)
    c = np.asarray(centres, dtype=np.float64)
    if x.ndim != 2 or c.ndim != 2 or x.shape[1] != c.shape[1]:
        raise ValueError(f"samples {x.shape} and centres {c.shape} must be (N, D) and (K, D)")
    if len(x) == 0:
        raise ValueError("mixture_metrics needs at least one sample")
    k = len(c)
    finite = np.isfinite(x).all(axis=1)
    d2 = ((x[finite, None, :] - c[None, :, :]) ** 2).sum(axis=2)  # (N_finite, K)
    nearest = d2.argmin(axis=1)
    hq = np.sqrt(d2[np.arange(len(nearest)), nearest]) < n_std * std
    counts = np.bincount(nearest[hq], minlength=k)
    return {
        "modes_covered": int((counts > 0).sum()),
        "modes_total": int(k),
        "high_quality_rate": float(hq.sum() / len(x)),
        "reverse_kl": _kl_to_reference(counts, np.full(k, 1.0 / k)),
        "spread": _mode_spread(x[finite][hq], nearest[hq], counts, std, n_std),
        "mode_counts": [int(v) for v in counts],
        "num_samples": int(len(x)),
    }


def _mode_spread(x: np.ndarray, mode: np.ndarray, counts: np.ndarray, std: float, n_std: float) -> Optional[float]:
    """Pooled within-mode std of HQ samples / the std of true samples cut at n_std (see mixture_metrics)."""
    dof = int((counts[counts >= 2] - 1).sum())
    if dof == 0:
        return None
    means = np.zeros((len(counts), x.shape[1]))
    np.add.at(means, mode, x)
    means /= np.maximum(counts, 1)[:, None]
    ss = float(((x - means[mode]) ** 2).sum())  # modes with one sample add 0 here and 0 to dof
    return float(np.sqrt(ss / dof / (std ** 2 * truncated_sq_radius(x.shape[1], n_std))))


def _kl_to_reference(counts: np.ndarray, q: np.ndarray) -> Optional[float]:
    """KL(counts/sum || q) in nats; None when counts are empty or q misses mass that p has."""
    n = counts.sum()
    if n == 0:
        return None
    p = counts / n
    on = p > 0
    if np.any(q[on] <= 0):
        return None  # infinite: generated mass where the reference has none
    return float(max(np.sum(p[on] * np.log(p[on] / q[on])), 0.0))


# ---------------------------------------------------------------- d2l's Gaussian


def gaussian_fit_metrics(samples: np.ndarray, mean: Sequence, cov: Sequence) -> dict:
    """How far the samples' Gaussian fit is from the true N(mean, cov) (d2l: N(b, A^T A)).

    A linear G can only produce a Gaussian, so its first two moments are the whole story:
    `mean_error` = |m_hat - m| (Euclidean), `cov_error` = ||C_hat - C|| (Frobenius), and
    `frechet_distance` = |m_hat - m|^2 + Tr(C_hat + C - 2 (C_hat C)^(1/2)), the squared
    2-Wasserstein distance between the fitted and true Gaussians (`w2_distance` is its root).
    """
    x = np.asarray(samples, dtype=np.float64)
    m = np.asarray(mean, dtype=np.float64)
    c = np.asarray(cov, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != len(m) or c.shape != (len(m), len(m)):
        raise ValueError(f"samples {x.shape}, mean {m.shape}, cov {c.shape} do not fit together")
    m_hat, c_hat = feature_stats(x)
    fd = frechet_distance(m_hat, c_hat, m, c)
    return {
        "mean_error": float(np.linalg.norm(m_hat - m)),
        "cov_error": float(np.linalg.norm(c_hat - c)),
        "frechet_distance": fd,
        "w2_distance": math.sqrt(fd) if math.isfinite(fd) else float("nan"),
        "sample_mean": m_hat.tolist(),
        "sample_cov": c_hat.tolist(),
    }


# ---------------------------------------------------------------- the 1010 pattern


def pattern1010_metrics(samples: np.ndarray, high: Sequence = (0.8, 1.0), low: Sequence = (0.0, 0.2)) -> dict:
    """Fraction of 4-vectors that read as high-low-high-low (Make Your Own GAN's 1010 pattern).

    `pattern_match_rate`: elements 0 and 2 above 0.5 and elements 1 and 3 below 0.5 (the
    pattern is recognisable). `pattern_exact_rate`: every element inside the data's own
    range, `high` for 0 and 2, `low` for 1 and 3 (the sample could have come from the data).
    """
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != 4 or len(x) == 0:
        raise ValueError(f"1010 samples must be (N, 4) with N >= 1, got {x.shape}")
    his, los = x[:, [0, 2]], x[:, [1, 3]]
    match = (his > 0.5).all(axis=1) & (los < 0.5).all(axis=1)
    exact = ((his >= high[0]) & (his <= high[1])).all(axis=1) & ((los >= low[0]) & (los <= low[1])).all(axis=1)
    return {
        "pattern_match_rate": float(match.mean()),
        "pattern_exact_rate": float(exact.mean()),
        "mean_sample": x.mean(axis=0).tolist(),
        "num_samples": int(len(x)),
    }


# ---------------------------------------------------------------- GAN Lab's grid divergence

# probability mass added to every bin before normalising: KL stays finite (at most ln(1/1e-6) = 13.8 per unit of
# mass in a cell G leaves empty). GAN Lab adds 1e-4 to each of its 900 cells, 9% of the mass spread evenly,
# which holds the JS of two disjoint distributions at 0.63 instead of ln 2 = 0.69; 1e-6 (0.09% in all) keeps 0.69.
HISTOGRAM_EPS = 1e-6


def histogram_bounds(real: np.ndarray, pad: float = 0.1) -> tuple[tuple[float, float], tuple[float, float]]:
    """((x_lo, x_hi), (y_lo, y_hi)): the finite real points' bounding box, each side padded by `pad` of its span
    (a span of 0, one point or a line, is padded by 0.5 either side)."""
    x = np.asarray(real, dtype=np.float64)
    x = x[np.isfinite(x).all(axis=1)]
    if len(x) == 0:
        raise ValueError("the histogram's bounds need at least one finite real point")
    lo, hi = x.min(axis=0), x.max(axis=0)
    margin = np.where(hi > lo, (hi - lo) * pad, 0.5)
    return (float(lo[0] - margin[0]), float(hi[0] + margin[0])), (float(lo[1] - margin[1]), float(hi[1] + margin[1]))


def _grid_histogram(x: np.ndarray, bins: int, bounds) -> np.ndarray:
    """Probabilities of bins × bins cells plus one last cell for every point outside the box (or not finite)."""
    (x0, x1), (y0, y1) = bounds
    finite = np.isfinite(x).all(axis=1)
    fx = np.where(finite, (x[:, 0] - x0) / (x1 - x0), -1.0)
    fy = np.where(finite, (x[:, 1] - y0) / (y1 - y0), -1.0)
    inside = (fx >= 0) & (fx <= 1) & (fy >= 0) & (fy <= 1)
    ix = np.minimum((fx[inside] * bins).astype(np.int64), bins - 1)  # a point on the far edge is in the last bin
    iy = np.minimum((fy[inside] * bins).astype(np.int64), bins - 1)
    counts = np.bincount(iy * bins + ix, minlength=bins * bins + 1).astype(np.float64)
    counts[-1] = (~inside).sum()
    p = counts / len(x) + HISTOGRAM_EPS
    return p / p.sum()


def histogram_divergence(real: np.ndarray, fake: np.ndarray, bins: int = 30, bounds=None) -> dict:
    """KL(real ‖ fake) and JS(real, fake) of 2-D histograms, natural log: GAN Lab's grid metric, done as written.

    GAN Lab (demo/ganlab_evaluators.ts) bins points of its unit square into 30×30 cells, adds 1e-4 to
    every cell, and sums in log2. Its real histogram is built with `trueAtlas.splice(i * 2, i * 2 + 2)`
    inside the loop over the points: splice removes what it returns, so each call reads from an array
    already shortened by the calls before it, with a length that grows with i; the histogram it builds
    is of a few scattered points, not of the data. Here every real and every fake point is counted
    once (np.bincount on a copy, nothing is modified), over `bounds` ((x_lo, x_hi), (y_lo, y_hi);
    default the real points' bounding box padded 10%), with one more cell for points outside the box,
    so fakes that leave the data's box still count against them. Every cell gets HISTOGRAM_EPS (1e-6)
    of mass before normalising, so KL stays finite; JS is then in [0, ln 2].
    """
    p_x, q_x = (np.asarray(a, dtype=np.float64) for a in (real, fake))
    for name, a in (("real", p_x), ("fake", q_x)):
        if a.ndim != 2 or a.shape[1] != 2 or len(a) == 0:
            raise ValueError(f"histogram_divergence: {name} points must be (N, 2) with N >= 1, got {a.shape}")
    bounds = histogram_bounds(p_x) if bounds is None else bounds
    p, q = _grid_histogram(p_x, bins, bounds), _grid_histogram(q_x, bins, bounds)
    m = 0.5 * (p + q)
    kl = lambda a, b: float(np.sum(a * np.log(a / b)))  # noqa: E731 - every cell > 0 after smoothing
    return {"KL": max(kl(p, q), 0.0), "JS": min(max(0.5 * kl(p, m) + 0.5 * kl(q, m), 0.0), math.log(2.0))}


# ---------------------------------------------------------------- Fréchet distance


def feature_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (F,) and unbiased covariance (F, F) of (N, F) features, in float64 (N >= 2)."""
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or len(f) < 2:
        raise ValueError(f"feature_stats needs (N, F) features with N >= 2, got {f.shape}")
    return f.mean(axis=0), np.atleast_2d(np.cov(f, rowvar=False))


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """|mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)): the squared W2 distance of two Gaussians.

    Numerics: Tr (S1 S2)^(1/2) is computed as the sum of square roots of the eigenvalues of
    the symmetric PSD matrix S1^(1/2) S2 S1^(1/2), which has the same eigenvalues as S1 S2.
    Unlike scipy.linalg.sqrtm on the non-symmetric product, this stays real and needs no
    eps-offset retry when a covariance is singular (dead ReLU features, collapsed samples);
    eigenvalues below zero from rounding are clipped, and so is a result of -1e-12.
    Returns nan when an input is not finite (a diverged generator).
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    s1, s2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (len(mu1), len(mu1)):
        raise ValueError(f"shapes do not match: mu {mu1.shape} {mu2.shape}, sigma {s1.shape} {s2.shape}")
    if not all(np.isfinite(a).all() for a in (mu1, mu2, s1, s2)):
        return float("nan")
    s1_half = _psd_sqrt(s1)
    inner = s1_half @ s2 @ s1_half
    ev = np.linalg.eigvalsh((inner + inner.T) / 2)
    tr_covmean = np.sqrt(np.clip(ev, 0.0, None)).sum()
    diff = mu1 - mu2
    fd = diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_covmean
    return float(max(fd, 0.0))


def _psd_sqrt(s: np.ndarray) -> np.ndarray:
    """Symmetric square root of a PSD matrix via eigh (negative rounding noise clipped)."""
    w, v = np.linalg.eigh((s + s.T) / 2)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


# ---------------------------------------------------------------- class histograms


def class_histogram_metrics(pred_labels: np.ndarray, num_classes: int, data_class_freq: Optional[Sequence] = None,
                            min_share: float = CLASS_MIN_SHARE) -> dict:
    """Which classes the generator produces, judged by a classifier's predicted labels.

    `class_coverage`: classes whose predicted share is at least `min_share` (0.2) of their
    share in the data, e.g. >= 2% of samples for a balanced 10-class set. The threshold is
    well above "one sample" on purpose: the classifier confuses a few percent of images
    (real digits-3 are read as 5 about 1% of the time), so a generator that makes only
    3s must not get credit for 5s; a class made at a fifth of its rate or more counts.
    `classes_total`: classes present in the data. `class_kl`: KL(pred || data) in nats on
    the predicted-class histogram (0 = same class balance as the data); None when there are
    no predictions or when predicted mass falls on a class the data lacks (infinite).
    """
    pred = np.asarray(pred_labels).astype(np.int64).ravel()
    if pred.size and (pred.min() < 0 or pred.max() >= num_classes):
        raise ValueError(f"predicted labels must lie in [0, {num_classes}), got {pred.min()}..{pred.max()}")
    q = np.full(num_classes, 1.0 / num_classes) if data_class_freq is None else np.asarray(data_class_freq, np.float64)
    if q.shape != (num_classes,) or q.sum() <= 0:
        raise ValueError(f"data_class_freq must be {num_classes} non-negative numbers with a positive sum")
    q = q / q.sum()
    counts = np.bincount(pred, minlength=num_classes)
    p = counts / max(len(pred), 1)
    covered = (counts > 0) & (q > 0) & (p >= min_share * q)
    return {
        "class_coverage": int(covered.sum()),
        "classes_total": int((q > 0).sum()),
        "class_kl": _kl_to_reference(counts, q),
        "class_counts": [int(v) for v in counts],
        "coverage_min_share": float(min_share),
    }


# ---------------------------------------------------------------- images


def image_metrics(fake_images: Any, real_images: Any, real_labels: Any, num_classes: int,
                  bundle: ClassifierBundle, split_seed: int = 0) -> dict:
    """Class coverage, class balance and a Fréchet distance in ganlab's own classifier's features.

    `fd` is a domain-specific FD: the features are the penultimate layer of a small CNN that
    ganlab trained on this dataset (see ganlab.evaluation.classifier). It is NOT Inception FID and is not
    comparable to published FID numbers; compare it only with runs on the same dataset and
    classifier. `fd_real_split` is the FD between two random halves of the real images: the
    floor a perfect generator would reach at that (half) sample size, so read `fd` against it
    (FD is biased upward at small N, so the floor is a little pessimistic for `fd`).
    `mean_confidence` is the mean max softmax on fakes (low = samples the classifier cannot
    read; 0 when no fake is finite); `real_mean_confidence` is the same on real images.
    Images: float in [-1, 1], (N, C, H, W), numpy or torch.
    """
    f_feat, f_prob = bundle.outputs(fake_images)
    r_feat, r_prob = bundle.outputs(real_images)
    labels = np.asarray(_to_numpy(real_labels)).astype(np.int64).ravel()
    if len(labels) != len(r_feat) or len(r_feat) < 4 or len(f_feat) < 2:
        raise ValueError("image_metrics needs >= 2 fake images and >= 4 real images with one label each")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"real labels must lie in [0, {num_classes})")
    data_freq = np.bincount(labels, minlength=num_classes)
    ok = np.isfinite(f_prob).all(axis=1)  # non-finite fakes (diverged G) are read as no class at all
    out = class_histogram_metrics(f_prob[ok].argmax(axis=1), num_classes, data_freq)
    perm = np.random.default_rng(split_seed).permutation(len(r_feat))
    half = len(perm) // 2
    out.update({
        "fd": frechet_distance(*feature_stats(f_feat), *feature_stats(r_feat)),
        "fd_real_split": frechet_distance(*feature_stats(r_feat[perm[:half]]),
                                          *feature_stats(r_feat[perm[half:2 * half]])),
        "fd_kind": FD_KIND,
        "classifier_accuracy": float(bundle.accuracy),
        "mean_confidence": float(f_prob[ok].max(axis=1).mean()) if ok.any() else 0.0,
        "real_mean_confidence": float(r_prob.max(axis=1).mean()),
        "num_fake": int(len(f_feat)),
        "num_real": int(len(r_feat)),
    })
    return out


def _to_numpy(x: Any) -> np.ndarray:
    return x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)


# ---------------------------------------------------------------- JSON


def to_json(metrics: Any) -> Any:
    """A copy of `metrics` that json.dumps accepts as strict JSON: NaN and +-inf become None,
    numpy scalars and arrays become Python numbers and lists, tuples become lists."""
    if isinstance(metrics, dict):
        return {str(k): to_json(v) for k, v in metrics.items()}
    if isinstance(metrics, (list, tuple)):
        return [to_json(v) for v in metrics]
    if isinstance(metrics, np.ndarray):
        return to_json(metrics.tolist())
    if isinstance(metrics, (bool, np.bool_)):
        return bool(metrics)
    if isinstance(metrics, (int, np.integer)):
        return int(metrics)
    if isinstance(metrics, (float, np.floating)):
        v = float(metrics)
        return v if math.isfinite(v) else None
    return metrics
