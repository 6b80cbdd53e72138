"""Glue between runs and metrics: sample a run's G, score it with the metric family its dataset names."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Optional

import numpy as np
import torch

from ..data import DataSpec, load_dataset, metric_family, to_unit
from ..errors import RunError
from ..models.latents import z_batch
from ..paths import cache_dir
from ..registry import Registry
from ..store import Run
from ..store.checkpoint import generator_from_checkpoint
from . import distances, metrics
from .classifier import load_or_train_classifier
from .prdc import prdc
from .samplers import sample

DEFAULT_N = {"points": 2500, "images": 2000}
EVAL_N = (10, 50_000)  # samples a metric may draw: fewer say nothing, more take minutes and gigabytes for images
MAX_SAMPLE_BYTES = 4 * 2**30  # generate_from_run's largest answer (float32): refused before G runs, not out of memory

# (samples (N, ...) float on any device, the loaded dataset, its name, the data root) -> metrics dict
MetricFamily = Callable[[torch.Tensor, Any, Any], dict[str, Any]]
METRIC_FAMILIES: Registry[MetricFamily] = Registry("metric family")


def _points(x: torch.Tensor) -> np.ndarray:
    return x.float().cpu().numpy()


METRIC_FAMILIES.add("mixture", lambda x, ds, name, root: metrics.mixture_metrics(
    _points(x), np.asarray(ds.meta["centres"]), ds.meta["std"]),
    "Gaussian mixtures with known centres: modes covered, high-quality rate, reverse KL, mode spread")
METRIC_FAMILIES.add("gaussian", lambda x, ds, name, root: metrics.gaussian_fit_metrics(
    _points(x), np.asarray(ds.meta["mean"]), np.asarray(ds.meta["cov"])),
    "One Gaussian: how far G's mean and covariance are from the data's")
METRIC_FAMILIES.add("pattern", lambda x, ds, name, root: metrics.pattern1010_metrics(_points(x)),
                    "The 1010 pattern: the share of samples high-low-high-low")


POINT_METRIC_N = 2000  # G's samples, and at most as many held-out points, the distribution metrics compare


def held_out_points(ds, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(held-out real points, training points for the floor): a points file's held-out split, or for other point
    data two disjoint seeded draws; at most POINT_METRIC_N and n of each."""
    held = getattr(ds, "held_out", None)
    if held is not None:
        g = torch.Generator(device="cpu").manual_seed(0)
        real = held[torch.randperm(len(held), generator=g)[:POINT_METRIC_N].to(held.device)]
        return _points(real), _points(ds.take(n, seed=0)[0])
    both = _points(ds.take(POINT_METRIC_N + n, seed=0)[0])
    k = min(POINT_METRIC_N, len(both) // 2)
    return both[:k], both[k:k + n]


def _point_metrics(fake: torch.Tensor, ds, name: str, data_root) -> dict[str, Any]:
    fake = _points(fake[:POINT_METRIC_N])
    real, reference = held_out_points(ds, len(fake))
    return distances.distribution_metrics(fake, real, reference)


METRIC_FAMILIES.add("points", _point_metrics,
                    "Any point data: sliced Wasserstein and energy distance to held-out points (and 30x30 histogram "
                    "KL/JS in 2-D), each beside its real-vs-real floor")


def _classifier_metrics(fake: torch.Tensor, ds, name: str, data_root) -> dict[str, Any]:
    real, real_y = ds.take(min(len(ds), 10_000), seed=0)
    real, real_y = real.cpu(), real_y.cpu()
    bundle = load_or_train_classifier(cache_dir(data_root), name, real, real_y, ds.spec.num_classes)
    n = min(len(real), max(len(fake), 2000))
    out = metrics.image_metrics(fake.cpu(), real[:n], real_y[:n], ds.spec.num_classes, bundle)
    out.update(prdc(bundle.features(real[:n]), bundle.features(fake.cpu())))  # fidelity and diversity apart
    return out


METRIC_FAMILIES.add("classifier", _classifier_metrics,
                    "Labelled images: class coverage and balance, and a Fréchet distance in the features of a "
                    "classifier trained on the dataset")


def _labels(n: int, num_classes: int, label: Optional[int]) -> Optional[torch.Tensor]:
    if num_classes == 0:
        if label is not None:
            raise RunError("--label was given, but this run is not conditional")
        return None
    if label is not None and not 0 <= label < num_classes:
        raise RunError(f"--label must be between 0 and {num_classes - 1} for this run")
    return torch.full((n,), label, dtype=torch.long) if label is not None else torch.arange(n) % num_classes


def generate_from_run(run: Run, n: int, *, seed: int = 0, label: Optional[int] = None,
                      sampler: str = "raw") -> np.ndarray:
    """Points (n, D) as float32, images (n, C, H, W) in [0, 1], from the last checkpoint alone.

    Row i comes from latent seed `seed + i` (raw sampler), the same z the Latent page shows for that seed.
    """
    state = run.load_checkpoint()
    g, cfg, spec = generator_from_checkpoint(state)
    per_sample = 4 * int(np.prod(spec.shape))
    if n * per_sample > MAX_SAMPLE_BYTES:
        raise RunError(f"{n:,} samples of shape {tuple(spec.shape)} would take {n * per_sample / 2**30:.1f} GiB; "
                       f"ask for at most {MAX_SAMPLE_BYTES // per_sample:,} at a time")
    y = _labels(n, spec.num_classes if cfg.conditional else 0, label)
    x, _ = sample(sampler, g, cfg, n, seed, y, state)
    return to_unit(x, spec).astype(np.float32)


def evaluate_run(run: Run, *, n: Optional[int] = None, seed: int = 0, data_root=None,
                 sampler: str = "raw") -> dict[str, Any]:
    if n is not None and not EVAL_N[0] <= n <= EVAL_N[1]:
        raise RunError(f"n must be between {EVAL_N[0]} and {EVAL_N[1]:,} samples (default: "
                       f"{DEFAULT_N['points']} for points, {DEFAULT_N['images']} for images), got {n}")
    state = run.load_checkpoint()
    g, cfg, spec = generator_from_checkpoint(state)
    n = DEFAULT_N[spec.kind] if n is None else n
    x, info = sample(sampler, g, cfg, n, seed, _labels(n, spec.num_classes if cfg.conditional else 0, None), state)
    out = {"run": run.id, "step": int(state["step"]), "dataset": cfg.dataset, "n": n, **info}
    out.update(metrics_for(cfg.dataset, x, spec, device="cpu", data_root=data_root, seed=cfg.seed))
    return out


def metrics_for(dataset_name: str, x: torch.Tensor, spec: DataSpec, *, device, data_root=None, seed: int = 0,
                dataset=None) -> dict[str, Any]:
    """The metrics of the family the dataset names (ganlab.data's entry); {} when it names none."""
    family = metric_family(dataset_name, spec)
    if not family:
        return {}
    ds = dataset if dataset is not None else load_dataset(dataset_name, device, seed=seed, root=data_root)
    return METRIC_FAMILIES.get(family)(x, ds, dataset_name, data_root)


def evaluate_trainer(trainer, *, n: Optional[int] = None, data_root=None) -> dict[str, Any]:
    """Metrics of a live trainer's G (its EMA when enabled) on fixed seeds; uses no training RNG."""
    spec = trainer.spec
    n = n or DEFAULT_N[spec.kind]
    y = _labels(n, trainer.num_classes, None)
    z = z_batch(range(30_000, 30_000 + n), trainer.cfg.latent_dim, trainer.cfg.latent_dist, trainer.device)
    x = trainer.generate(z, None if y is None else y.to(trainer.device))
    return metrics_for(trainer.cfg.dataset, x, spec, device=trainer.device, data_root=data_root,
                       seed=trainer.cfg.seed, dataset=trainer.data)


def scalar_metrics(m: dict[str, Any]) -> dict[str, float]:
    """The numeric entries of a metrics dict as `Metric/<name>` keys for a tick record."""
    return {f"Metric/{k}": float(v) for k, v in m.items()
            if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)}


def tick_metrics(trainer, run: Run, *, data_root=None) -> dict[str, float]:
    """The training loop's `evaluate`: the full record to metrics.jsonl, the scalars into the tick record."""
    m = evaluate_trainer(trainer, data_root=data_root)
    # time: the run's training seconds at this step (the tick record's clock), so a row says when as well as where
    run.append_metrics({"step": trainer.step, "time": round(trainer.elapsed, 4), **metrics.to_json(m)})
    return scalar_metrics(m)
