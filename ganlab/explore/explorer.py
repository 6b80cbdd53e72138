"""Exploring a trained G: seeds, interpolation, arithmetic, walks; numpy out, in display form."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

import numpy as np
import torch

from ..config import RunConfig
from ..data import to_unit
from ..data.base import DataSpec
from ..errors import RunError
from ..store import Run
from ..store.checkpoint import generator_from_checkpoint
from . import features, latent, neighbours, projection, space
from .directions import Directions, find_directions
from .truncation import truncate

MAX_SAMPLES = 1024  # most samples one call generates (a page asks for a strip or a grid)
Label = Optional[int]
Latent = Union[int, torch.Tensor]  # a seed, or a latent itself (1, latent_dim), e.g. a projected image's


@dataclass(frozen=True)
class Arithmetic:
    """Seed arithmetic: each operand's own sample beside the sample of the weighted sum."""

    terms: list[tuple[Union[int, str], float]]  # (seed or latent name, weight), e.g. [(12, 1.0), ("p1", -1.0)]
    operands: np.ndarray  # (K, ...) G(z(seed)) of each term's seed, unweighted
    result: np.ndarray  # (1, ...) G(sum of weight * z(seed))
    operand_norms: np.ndarray  # (K,) |z(seed)|
    result_norm: float  # |sum|: a + b is ~1.4x longer than a typical z, a - b + c ~1.7x
    typical_norm: float  # sqrt(latent_dim) for N(0, I); what G saw in training

    def text(self) -> str:
        """'12 + 7 - 3' (weights other than 1 written as 0.5*12)."""
        out = ""
        for i, (seed, w) in enumerate(self.terms):
            sign = "-" if w < 0 else "+"
            mag = abs(w)
            term = f"{seed}" if mag == 1 else f"{mag:g}*{seed}"
            out += (f"- {term}" if sign == "-" else term) if i == 0 else f" {sign} {term}"
        return out


class Explorer:
    """A generator rebuilt from one checkpoint, answering in display form.

    Images come back as (N, C, H, W) floats in [0, 1], points as (N, D). A seed is a
    latent's identity (`ganlab.models.latents.z_batch`): the same seed gives the same sample on
    every machine. Conditional runs need a class for every sample; a class may also be
    a mix of two (soft one-hot labels), which G never saw in training.
    """

    def __init__(self, g: torch.nn.Module, cfg: RunConfig, spec: DataSpec, step: int,
                 checkpoint: Optional[Path] = None, device: str | torch.device = "cpu", run_id: str = "",
                 data_root=None):
        self.g, self.cfg, self.spec, self.step = g, cfg, spec, int(step)
        self.checkpoint, self.device, self.run_id = checkpoint, torch.device(device), run_id
        self.num_classes = spec.num_classes if cfg.conditional else 0
        self.data_root = data_root
        self._directions: dict[tuple, Directions] = {}  # per checkpoint: an explorer is one checkpoint's G
        self._training: Optional[tuple[np.ndarray, np.ndarray, float]] = None  # images, their features, copy distance

    # ------------------------------------------------------------ facts
    @property
    def latent_dim(self) -> int:
        return self.cfg.latent_dim

    @property
    def kind(self) -> str:
        return self.spec.kind

    @property
    def conditional(self) -> bool:
        return self.num_classes > 0

    def class_name(self, label: int) -> str:
        names = self.spec.class_names
        return names[label] if 0 <= label < len(names) else str(label)

    # ------------------------------------------------------------ core
    def z(self, seeds: Sequence[Latent]) -> torch.Tensor:
        """(len(seeds), latent_dim) on the explorer's device; each entry a seed or a (1, dim) latent."""
        if all(not isinstance(s, torch.Tensor) for s in seeds):
            for s in seeds:
                _check_seed(s)
            return latent.z_batch(list(seeds), self.latent_dim, self.cfg.latent_dist, self.device)
        return torch.cat([self.latent(s) for s in seeds])

    def latent(self, seed: Latent) -> torch.Tensor:
        """(1, latent_dim): a seed's z, or the given latent checked for shape and finiteness."""
        if not isinstance(seed, torch.Tensor):
            return self.z([seed])
        v = seed.detach().float().reshape(1, -1) if seed.numel() == self.latent_dim else None
        if v is None:
            raise ValueError(f"a latent must be (1, {self.latent_dim}) for this run, got {tuple(seed.shape)}")
        if not torch.isfinite(v).all():
            raise ValueError("the latent holds NaN or infinite values")
        return v.to(self.device)

    def _labels(self, n: int, labels) -> Optional[torch.Tensor]:
        """Integer labels (n,) for G, or None for an unconditional run; checks every value."""
        if not self.conditional:
            if labels is not None:
                raise ValueError("this run is not conditional: it takes no class")
            return None
        if labels is None:
            raise ValueError(f"this run is conditional: choose a class (0-{self.num_classes - 1})")
        vals = [labels] * n if isinstance(labels, (int, np.integer)) else list(labels)
        if len(vals) != n:
            raise ValueError(f"{len(vals)} classes for {n} samples")
        for v in vals:
            if not (isinstance(v, (int, np.integer)) and 0 <= v < self.num_classes):
                raise ValueError(f"class {v!r} does not exist; this run has classes 0-{self.num_classes - 1}")
        return torch.tensor([int(v) for v in vals], device=self.device)

    @torch.no_grad()
    def generate(self, z: torch.Tensor, y: Optional[torch.Tensor] = None, psi: float = 1.0) -> np.ndarray:
        """G(z, y) in display form; y is None, integer labels (N,) or soft labels (N, classes).

        psi < 1 pulls each z toward the mean latent first (the truncation trick, ganlab.explore.truncation).
        """
        if len(z) > MAX_SAMPLES:
            raise ValueError(f"at most {MAX_SAMPLES} samples at once, asked for {len(z)}")
        if self.conditional and y is None:
            raise ValueError(f"this run is conditional: choose a class (0-{self.num_classes - 1})")
        z = truncate(z.to(self.device), psi, g=self.g)
        x = self.g(z, None if y is None else y.to(self.device)).float()
        return to_unit(x, self.spec).astype(np.float32)

    # ------------------------------------------------------------ views
    def from_seeds(self, seeds: Sequence[Latent], labels=None, psi: float = 1.0) -> np.ndarray:
        """One sample per seed (or latent); `labels`: one class for all, or one per seed (conditional runs)."""
        seeds = list(seeds)
        if not seeds:
            raise ValueError("no seeds given")
        return self.generate(self.z(seeds), self._labels(len(seeds), labels), psi)

    def interpolate(self, seed_a: Latent, seed_b: Latent, steps: int, method: str = "slerp",
                    label_a: Label = None, label_b: Label = None, psi: float = 1.0) -> np.ndarray:
        """`steps` samples from seed_a's to seed_b's, both ends included.

        z follows a straight line (lerp) or a great circle (slerp). In a conditional run
        the class input moves linearly from one-hot(label_a) to one-hot(label_b) at the
        same time; with seed_a == seed_b only the class changes.
        """
        if method not in ("lerp", "slerp"):
            raise ValueError(f"method must be 'lerp' or 'slerp', got {method!r}")
        if not 2 <= int(steps) <= MAX_SAMPLES:
            raise ValueError(f"an interpolation needs 2 to {MAX_SAMPLES} steps, got {steps}")
        za, zb = self.z([seed_a, seed_b])
        path = latent.interpolate(za, zb, int(steps), method)  # (steps, latent_dim)
        if torch.equal(za, zb):
            path = za.reshape(1, -1).repeat(int(steps), 1)  # exactly constant, not slerp's rounding
        ends = self._labels(2, None if label_a is None and label_b is None else [label_a, label_b])
        y = None
        if ends is not None:  # soft labels (steps, classes): one-hot(a) -> one-hot(b)
            onehot = torch.nn.functional.one_hot(ends, self.num_classes).float()
            y = latent.lerp(onehot[0], onehot[1], torch.linspace(0, 1, int(steps), device=self.device))
        return self.generate(path, y, psi)

    def arithmetic(self, expression: str, label: Label = None, bank: Optional[dict[str, torch.Tensor]] = None,
                   psi: float = 1.0) -> Arithmetic:
        """'12 + 7 - 3' or 'p1 - p2 + 7': every operand's sample and the sample of the weighted latent sum.

        Names (letters then digits) are looked up in `bank` (name -> (1, dim) latent, e.g. projected images).
        """
        terms = latent.parse_expression(expression)
        if len(terms) > 16:
            raise ValueError("at most 16 seeds in one expression")
        seeds = [s for s, _ in terms]
        for s in seeds:
            if not isinstance(s, str):
                _check_seed(s)
        bank = {k: self.latent(torch.as_tensor(v)) for k, v in (bank or {}).items() if k in seeds}
        z = latent.operand_latents(seeds, self.latent_dim, self.cfg.latent_dist, self.device, bank)
        total = latent.combine(terms, self.latent_dim, self.cfg.latent_dist, self.device, bank)  # (1, dim)
        operands = self.generate(z, self._labels(len(seeds), label), psi)
        result = self.generate(total, self._labels(1, label), psi)
        typical = math.sqrt(self.latent_dim) if self.cfg.latent_dist == "normal" else math.sqrt(self.latent_dim / 3)
        return Arithmetic(terms, operands, result, z.norm(dim=1).cpu().numpy(),
                          float(total.norm()), typical)

    def walk(self, seed: Latent, dim: int, values: Sequence[float], label: Label = None, psi: float = 1.0) -> np.ndarray:
        """Seed's z with coordinate `dim` set to each value in turn (len(values) samples)."""
        if not 1 <= len(values) <= MAX_SAMPLES:
            raise ValueError(f"a walk needs 1 to {MAX_SAMPLES} values")
        if not 0 <= int(dim) < self.latent_dim:
            raise ValueError(f"dimension {dim} does not exist; z has {self.latent_dim} dimensions "
                             f"(0-{self.latent_dim - 1})")
        v = torch.as_tensor(np.asarray(values, dtype=np.float32), device=self.device)
        z = latent.dimension_walk(self.z([seed]), int(dim), v)
        return self.generate(z, self._labels(len(v), label), psi)

    def random_grid(self, first_seed: int, n: int, label: Label = None, psi: float = 1.0) -> tuple[list[int], np.ndarray]:
        """Seeds first_seed .. first_seed + n - 1 and their samples (reuse the seeds above)."""
        _check_seed(first_seed)
        if not 1 <= int(n) <= MAX_SAMPLES:
            raise ValueError(f"a grid holds 1 to {MAX_SAMPLES} samples, asked for {n}")
        seeds = list(range(int(first_seed), int(first_seed) + int(n)))
        return seeds, self.from_seeds(seeds, label, psi)

    # ------------------------------------------------------------ research tools (issue #18)
    @property
    def classifier(self):
        """The dataset's classifier (labelled images), trained once and cached; None otherwise."""
        return features.run_classifier(self.cfg.dataset, self.spec, self.data_root)

    def directions(self, method: str, k: int = 10, **options) -> Directions:
        """Directions by `method` (ganlab.explore.directions.DIRECTION_METHODS), cached for this checkpoint."""
        key = (method, int(k), tuple(sorted(options.items())))
        if key not in self._directions:
            needs = method == "boundary"
            self._directions[key] = find_directions(method, self.g, self.cfg, int(k),
                                                    classifier=self.classifier if needs else None, **options)
        return self._directions[key]

    def along(self, z: Latent, direction, steps: Sequence[float], label: Label = None, psi: float = 1.0) -> np.ndarray:
        """z (or a seed's z) moved by each step times the unit direction (latent_dim,); len(steps) samples.

        With a latent mixture the move is made inside z's island (ganlab.explore.space).
        """
        if not 1 <= len(steps) <= MAX_SAMPLES:
            raise ValueError(f"a strip needs 1 to {MAX_SAMPLES} steps")
        d = torch.as_tensor(np.asarray(direction, dtype=np.float32)).reshape(-1)
        if d.numel() != self.latent_dim or not torch.isfinite(d).all():
            raise ValueError(f"a direction is {self.latent_dim} finite numbers for this run, got shape "
                             f"{tuple(np.shape(direction))}")
        t = torch.as_tensor(np.asarray(steps, dtype=np.float32), device=self.device)
        path = space.move(self.g, self.latent(z), d.to(self.device), t)
        return self.generate(path, self._labels(len(t), label), psi)

    def project(self, target, progress: Optional[projection.Progress] = None, label: Label = None,
                **options) -> projection.Projection:
        """The latents whose samples match `target` (display form: images in [0, 1], or points), with the
        run's classifier as the feature distance when the data has one (ganlab.explore.projection)."""
        return projection.project(self.g, self.cfg, self.spec, target, feature_fn=features.feature_fn(self.classifier),
                                  label=label, progress=progress, **options)

    def training_set(self) -> tuple[np.ndarray, np.ndarray, float]:
        """(training samples in display form, their features, the copy distance), computed once."""
        if self._training is None:
            x = features.training_images(self.cfg.dataset, self.data_root)
            fn = features.numpy_features(self.classifier, self.spec)
            f = neighbours._features(x, fn)
            self._training = (x, f, neighbours.copy_distance(f))
        return self._training

    def neighbours(self, samples, k: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(indices (N, k), distances (N, k), those training samples (N, k, ...)): each sample's nearest
        training samples, in the classifier's features for labelled images (pixels, or raw points, otherwise)."""
        x, f, _ = self.training_set()
        fn = features.numpy_features(self.classifier, self.spec)
        idx, dist = neighbours.nearest_training(samples, x, k, fn, dataset_features=f)
        return idx, dist, x[idx]

    def copies(self, distances: np.ndarray) -> np.ndarray:
        """(N,) bool: samples nearer to a training sample than 99% of training samples are to each other."""
        return neighbours.copies(distances, self.training_set()[2])


def _check_seed(seed) -> None:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) < 2**32:
        raise ValueError(f"a seed is a whole number from 0 to {2**32 - 1}, got {seed!r}")


def parse_seed(text: str) -> int:
    """'42' -> 42; anything else is a ValueError with a sentence."""
    t = str(text).strip()
    if not t.isdigit():
        raise ValueError(f"{text!r} is not a seed; a seed is a whole number like 42")
    seed = int(t)
    _check_seed(seed)
    return seed


def load_generator(run: Run, checkpoint: Optional[Path] = None, device: str = "cpu", data_root=None) -> Explorer:
    """G rebuilt from the run's newest checkpoint alone (a live run: its latest one)."""
    if checkpoint is None and not run.checkpoints():
        raise RunError(f"{run.id} has no checkpoint yet: one is written every "
                       f"{_every(run)} steps and at the end of training")
    state = run.load_checkpoint(checkpoint, map_location=device)
    g, cfg, spec = generator_from_checkpoint(state, device)
    path = checkpoint or run.checkpoint_path(int(state["step"]))
    return Explorer(g, cfg, spec, int(state["step"]), path, device, run.id, data_root)


def _every(run: Run) -> str:
    try:
        return str(run.config().checkpoint_every)
    except RunError:
        return "checkpoint_every"
