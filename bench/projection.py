"""Projection quality: how close G can remake real images it never trained on, against random latents.

    python -m bench.projection                    # train the digits preset on digits minus 200 held-out images
    python -m bench.projection --train-steps 1000 --images 32 --steps 200
    python -m bench.projection --run RUN_DIR      # an existing image run; targets from its own dataset

Without --run, the digits preset is trained (one CPU thread per op as torch chooses) on scikit-learn's
digits with the last 200 of a fixed shuffle packed out of its dataset, and those 200 are the targets:
real images G never saw. With --run the targets come from the run's own dataset (seen in training,
said so in the output). For each target, `error` is the pixel RMSE in [0, 1] units of G(z) for the z
that ganlab.explore.projection finds; `random` is the best pixel RMSE among 1,000 random latents
(N(0, I), a fixed seed). Reported: mean error, mean random baseline, mean and worst error / random
(below 1: the projection beats the best of 1,000 random z), the share of targets that beat it, and
seconds per image (the projection alone, all targets in one batch).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

HELD_OUT = 200
RANDOM_Z = 1000


def held_out_digits(folder: Path) -> tuple[str, np.ndarray]:
    """(the training split's dataset name, held-out images in [0, 1]) with the split packed under `folder`."""
    from ganlab.data.images import digits_arrays
    from ganlab.data.pack import pack_arrays

    x, y = digits_arrays()
    order = np.random.default_rng(0).permutation(len(x))
    path = folder / "digits-train.h5"
    pack_arrays(x[order[:-HELD_OUT]], y[order[:-HELD_OUT]], [str(i) for i in range(10)], path, source="bench:digits")
    return f"hdf5:{path}", x[order[-HELD_OUT:]].astype(np.float32) / 255.0


def train_digits(folder: Path, dataset: str, steps: int) -> Path:
    from ganlab.config.presets import preset_config
    from ganlab.store import Run
    from ganlab.training import train

    cfg = preset_config("digits").replace(dataset=dataset, steps=steps, device="cpu",
                                          checkpoint_every=steps, snapshot_every=steps)
    run = Run.create(folder / "runs", cfg)
    t0 = time.perf_counter()
    assert train(cfg, run) == "finished"
    print(f"trained {run.id}: {steps} steps in {time.perf_counter() - t0:.0f} s")
    return run.path


def random_baseline(ex, targets: np.ndarray, n: int = RANDOM_Z, seed: int = 12345) -> np.ndarray:
    """(N,) the best pixel RMSE among n random latents, per target (unconditional: one pass; conditional: every class)."""
    z = torch.randn(n, ex.latent_dim, generator=torch.Generator().manual_seed(seed))
    best = np.full(len(targets), np.inf)
    for label in (range(ex.num_classes) if ex.conditional else [None]):
        x = np.concatenate([ex.generate(zz, None if label is None else torch.full((len(zz),), label))
                            for zz in z.split(500)])
        rmse = np.sqrt(((x[None] - targets[:, None]) ** 2).reshape(len(targets), n, -1).mean(-1))
        best = np.minimum(best, rmse.min(1))
    return best


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.projection", description=__doc__.splitlines()[0])
    p.add_argument("--run", help="an existing image run directory (default: train the digits preset)")
    p.add_argument("--train-steps", type=int, default=4000, help="steps for the trained digits run (preset: 4000)")
    p.add_argument("--images", type=int, default=64, help="targets to project")
    p.add_argument("--steps", type=int, default=200, help="projection steps")
    p.add_argument("--data-root", help="where the classifier cache goes (default: a temporary folder)")
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)

    from ganlab.data import load_dataset, to_unit
    from ganlab.explore.explorer import load_generator
    from ganlab.store import Run

    with tempfile.TemporaryDirectory(prefix="bench-projection-") as tmp:
        folder = Path(tmp)
        root = a.data_root or str(folder / "data")
        if a.run:
            ex = load_generator(Run.open(a.run), data_root=root)
            ds = load_dataset(ex.cfg.dataset, "cpu", root=root)
            targets = to_unit(ds.take(a.images, seed=1)[0], ds.spec)
            source = f"{a.images} images of the run's dataset {ex.cfg.dataset} (seen in training)"
        else:
            dataset, held = held_out_digits(folder)
            ex = load_generator(Run.open(train_digits(folder, dataset, a.train_steps)), data_root=root)
            targets = held[:a.images]
            source = f"{len(targets)} held-out digits (not in the run's training data)"
        _ = ex.classifier  # trained (or loaded) before the clock starts
        t0 = time.perf_counter()
        proj = ex.project(targets, steps=a.steps)
        seconds = time.perf_counter() - t0
        random = random_baseline(ex, targets)
    ratio = proj.error / random
    out = {"run": ex.run_id, "targets": source, "steps": a.steps, "mean_error": float(proj.error.mean()),
           "mean_random_best_of_1000": float(random.mean()), "mean_ratio": float(ratio.mean()),
           "worst_ratio": float(ratio.max()), "beat_random": float((ratio < 1).mean()),
           "seconds_per_image": seconds / len(targets)}
    if a.json:
        print(json.dumps(out))
    else:
        for k, v in out.items():
            print(f"{k:>26}: {v:.4g}" if isinstance(v, float) else f"{k:>26}: {v}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
