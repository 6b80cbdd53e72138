"""Which quality metrics a sweep can compare trials on: the scalars each metric family reports.

Checked before Ray starts, so `--metric fd` on ring8 is one sentence, not a sweep whose
scheduler never sees its metric. tests/test_sweeps.py checks the table against a real evaluation.
"""

from __future__ import annotations

from ..config import RunConfig
from ..data import dataset_spec, metric_family
from ..errors import ConfigError

FAMILY_METRICS: dict[str, tuple[str, ...]] = {
    "mixture": ("modes_covered", "modes_total", "high_quality_rate", "reverse_kl", "spread", "num_samples"),
    "gaussian": ("mean_error", "cov_error", "frechet_distance", "w2_distance"),
    "pattern": ("pattern_match_rate", "pattern_exact_rate", "num_samples"),
    "points": ("sliced_wasserstein", "sliced_wasserstein_floor", "energy_distance", "energy_distance_floor",
               "hist_kl", "hist_kl_floor", "hist_js", "hist_js_floor", "n_fake", "n_held_out", "n_reference"),
    "classifier": ("class_coverage", "classes_total", "class_kl", "coverage_min_share", "fd", "fd_real_split",
                   "classifier_accuracy", "mean_confidence", "real_mean_confidence", "num_fake", "num_real", "precision",
                   "recall", "density", "coverage"),
}
# which way each is better, for a --metric given without --mode
LOWER_IS_BETTER = {"reverse_kl", "spread", "mean_error", "cov_error", "frechet_distance", "w2_distance",
                   "sliced_wasserstein", "energy_distance", "hist_kl", "hist_js", "class_kl", "fd"}


def family_of(cfg: RunConfig, data_root=None) -> str:
    return metric_family(cfg.dataset, dataset_spec(cfg.dataset, data_root))


def check_metric(metric: str, cfgs: list[RunConfig], data_root=None) -> None:
    """A ConfigError unless every trial's dataset reports `metric`."""
    for family in sorted({family_of(c, data_root) for c in cfgs}):
        names = FAMILY_METRICS.get(family, ())
        if metric not in names:
            what = f"its metric family {family!r} reports: {', '.join(names)}" if names else "it has no quality metrics"
            raise ConfigError(f"--metric {metric!r} is not reported for {cfgs[0].dataset}; {what}")


def default_mode(metric: str) -> str:
    return "min" if metric in LOWER_IS_BETTER else "max"
