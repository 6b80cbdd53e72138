"""Image data speed: `ganlab pack` and the HDF5 readers versus ImageFolder + DataLoader on JPEGs.

    python -m bench.data_speed [--n 2000] [--size 64] [--seconds 3] [--threads T] [--json]

Makes N CelebA-sized (178x218) JPEGs in a temp folder from scikit-learn's bundled digits
(upscaled, coloured, with a gradient and noise so JPEG has real work; offline), one
folder per digit. Then, in one run: pack images/s (all cores and one worker), and
batches/s (batch 64, on the CPU) of (a) the packed file held in memory, (b) the streaming
reader, (c) torchvision ImageFolder + DataLoader(num_workers=2) decoding the JPEGs with the
same centre crop and resize. Each reader is timed for --seconds after a short warm-up.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ganlab.data.hdf5 import load_hdf5
from ganlab.data.pack import PackOptions, pack

BATCH = 64
W, H = 178, 218  # CelebA's aligned crops


def make_jpegs(root: Path, n: int, seed: int = 0) -> None:
    """n coloured, upscaled digits as JPEGs in root/<digit>/<i>.jpg."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 1, W)[None, :, None] * np.linspace(0.6, 1, H)[:, None, None]  # (H, W, 1)
    for i in range(n):
        k = i % len(digits.images)
        a = np.asarray(Image.fromarray(digits.images[k].astype(np.float32) / 16.0, "F")
                       .resize((W, H), Image.Resampling.BICUBIC)).clip(0, 1)[..., None]
        fg, bg, tint = rng.uniform(0, 255, (3, 1, 1, 3))
        img = bg * (1 - a) + fg * a + 0.25 * (tint - 128) * ramp + rng.normal(0, 6, (H, W, 1))
        folder = root / str(digits.target[k])
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img.clip(0, 255).astype(np.uint8)).save(folder / f"{i:06d}.jpg", quality=90)


def rate(next_batch: Callable[[], object], seconds: float, warmup: int = 3) -> float:
    """Batches per second of `next_batch()`, after `warmup` untimed calls."""
    for _ in range(warmup):
        next_batch()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        next_batch()
        n += 1
    return n / (time.perf_counter() - t0)


def forever(loader) -> Iterator:
    """Batches across epochs (itertools.cycle would replay the first epoch from memory)."""
    while True:
        yield from loader


def imagefolder_loader(root: Path, size: int):
    """What a seed-style script does: decode and transform every JPEG on every epoch."""
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    tf = transforms.Compose([transforms.CenterCrop(min(W, H)), transforms.Resize(size),
                             transforms.ToTensor(), transforms.Normalize([0.5] * 3, [0.5] * 3)])
    return DataLoader(datasets.ImageFolder(str(root), tf), batch_size=BATCH, shuffle=True,
                      num_workers=2, persistent_workers=True, drop_last=True)


def run(n: int, size: int, seconds: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="ganlab-bench-") as tmp:
        jpegs, out = Path(tmp) / "jpegs", Path(tmp) / "packed.h5"
        t0 = time.perf_counter()
        make_jpegs(jpegs, n)
        res: dict = {"n": n, "size": size, "batch": BATCH, "cpus": os.cpu_count(),
                     "torch_threads": torch.get_num_threads(),
                     "make_jpegs_s": round(time.perf_counter() - t0, 2)}
        opts = PackOptions(size=size, labels="from-folders")
        one = pack(jpegs, out, opts, workers=1)
        full = pack(jpegs, out, opts)
        res.update(pack_images_per_s=round(full.images_per_s), pack_workers=full.workers,
                   pack_images_per_s_1_worker=round(one.images_per_s),
                   jpeg_mb=round(sum(f.stat().st_size for f in jpegs.rglob("*.jpg")) / 1e6, 1),
                   h5_mb=round(out.stat().st_size / 1e6, 1))
        gen = torch.Generator().manual_seed(0)
        mem = load_hdf5(out, "cpu")
        res["memory_batches_per_s"] = round(rate(lambda: mem.batch(BATCH, gen), seconds))
        with load_hdf5(out, "cpu", max_device_bytes=0) as stream:
            res["streaming_batches_per_s"] = round(rate(lambda: stream.batch(BATCH, gen), seconds))
            res["streaming_reads"] = stream.meta["reads"]
        t0 = time.perf_counter()
        it = forever(imagefolder_loader(jpegs, size))
        next(it)
        res["imagefolder_first_batch_s"] = round(time.perf_counter() - t0, 2)
        res["imagefolder_batches_per_s"] = round(rate(lambda: next(it), seconds), 1)
        it.close()  # the loader's workers go now, not at the end of the run
    base = res["imagefolder_batches_per_s"]
    res["memory_vs_imagefolder"] = round(res["memory_batches_per_s"] / base, 1)
    res["streaming_vs_imagefolder"] = round(res["streaming_batches_per_s"] / base, 1)
    res["load_avg_1m"] = round(os.getloadavg()[0], 2)  # > cpus: other work shared the cores
    return res


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="JPEGs to generate")
    ap.add_argument("--size", type=int, default=64, help="packed image side in pixels")
    ap.add_argument("--seconds", type=float, default=3.0, help="timing window per reader")
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: torch's default)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    a = ap.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    res = run(a.n, a.size, a.seconds)
    if a.json:
        print(json.dumps(res))
        return
    print(f"{res['n']} JPEGs {W}x{H} -> {res['size']}x{res['size']}, batch {BATCH}, {res['cpus']} CPUs, "
          f"torch threads {res['torch_threads']}, load average {res['load_avg_1m']}")
    print(f"pack            {res['pack_images_per_s']:>8} images/s ({res['pack_workers']} workers; "
          f"{res['pack_images_per_s_1_worker']} with 1)  {res['jpeg_mb']} MB of JPEG -> {res['h5_mb']} MB HDF5")
    print(f"hdf5 in memory  {res['memory_batches_per_s']:>8} batches/s  x{res['memory_vs_imagefolder']}")
    print(f"hdf5 streaming  {res['streaming_batches_per_s']:>8} batches/s  x{res['streaming_vs_imagefolder']}"
          f"  ({res['streaming_reads']})")
    print(f"ImageFolder     {res['imagefolder_batches_per_s']:>8} batches/s  (DataLoader, 2 workers; "
          f"first batch after {res['imagefolder_first_batch_s']} s)")


if __name__ == "__main__":
    main()
