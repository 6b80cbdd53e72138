"""What projection takes in: an .npy of images or points, or image files, checked and shaped like the run's data.

Image files go through the packer's safe decoder (a fixed list of Pillow formats, a pixel cap read from the
header before any pixel is decoded), centre-cropped and resized to the run's size, converted to its channels.
Every problem is a DataError with one sentence, so the CLI and the page can show it as it is.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..data.base import DataSpec
from ..errors import DataError

MAX_FILE_BYTES = 32 * 2**20  # one image file or .npy; a projection target is a few images, not a dataset
MAX_TARGETS = 256


def _shape_text(spec: DataSpec) -> str:
    return "(N, " + ", ".join(map(str, spec.shape)) + ")"


def check_targets(x: np.ndarray, spec: DataSpec, where: str = "the targets") -> np.ndarray:
    """x as float32 of the run's shape (a single sample gains the batch axis), finite, images in [0, 1]."""
    if x.dtype.kind not in "fiub":
        raise DataError(f"{where} holds {x.dtype} values; give numbers")
    if x.ndim == len(spec.shape):
        x = x[None]
    if x.ndim != len(spec.shape) + 1 or tuple(x.shape[1:]) != tuple(spec.shape):
        raise DataError(f"{where} has shape {tuple(x.shape)}; this run's {spec.kind} are {_shape_text(spec)}")
    if not 1 <= len(x) <= MAX_TARGETS:
        raise DataError(f"{where} holds {len(x)} samples; project 1 to {MAX_TARGETS} at a time")
    x = x.astype(np.float32)
    if not np.isfinite(x).all():
        raise DataError(f"{where} holds NaN or infinite values")
    if spec.kind == "images" and (x.min() < 0 or x.max() > 1):
        raise DataError(f"{where} has values from {x.min():.3g} to {x.max():.3g}; images must be in [0, 1] "
                        f"(divide 8-bit pixels by 255)")
    return x


def _read_bytes(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise DataError(f"{path} is {size / 2**20:.0f} MB; give files under {MAX_FILE_BYTES // 2**20} MB")
        return path.read_bytes()
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror or e}") from None


def targets_from_npy(path: str | os.PathLike, spec: DataSpec) -> np.ndarray:
    """An .npy of (N, C, H, W) images in [0, 1] or (N, D) points; never unpickles."""
    import io

    data = _read_bytes(Path(path))
    try:
        x = np.load(io.BytesIO(data), allow_pickle=False)
    except Exception:  # noqa: BLE001 - untrusted bytes: numpy raises many kinds, each is "not an .npy"
        raise DataError(f"{path} is not a readable .npy array (object arrays are refused)") from None
    return check_targets(np.asarray(x), spec, str(path))


def image_from_bytes(data: bytes, name: str, spec: DataSpec, *, ask: str = "give",
                     points_hint: str = "give an .npy of (N, D) points") -> np.ndarray:
    """One encoded image (PNG, JPEG, ...) as (C, H, W) float32 in [0, 1] at the run's size and channels.

    ask: the verb the error sentences use ("give" on the CLI, "upload" on the page); points_hint: what a point
    run takes instead."""
    from PIL import Image

    from ..data.pack.decode import decode_image
    from ..data.pack.options import PackOptions

    if spec.kind != "images":
        raise DataError(f"this run makes points, not images: {points_hint}")
    c, h, w = spec.shape
    try:
        pixels = decode_image(data, PackOptions(size=h, channels=c, crop="center"))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise DataError(f"{name} has too many pixels to open safely; {ask} a smaller image") from None
    except Exception:  # noqa: BLE001 - untrusted bytes: Pillow raises many kinds, each is "not an image"
        raise DataError(f"{name} is not an image ganlab can read; {ask} a PNG or JPEG file") from None
    if pixels.shape[1:] != (h, w):  # a non-square run: squash the square crop to its shape
        im = Image.fromarray(pixels.transpose(1, 2, 0).squeeze()).resize((w, h))
        pixels = np.asarray(im)
        pixels = pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)
    return pixels.astype(np.float32) / 255.0


def load_targets(paths: Sequence[str | os.PathLike], spec: DataSpec) -> np.ndarray:
    """One .npy, or one or more image files, as the run's (N, ...) targets."""
    paths = [Path(p) for p in paths]
    if not paths:
        raise DataError("give an .npy file or image files to project")
    for p in paths:
        if not p.is_file():
            raise DataError(f"{p} does not exist" if not p.exists() else f"{p} is not a file")
    if any(p.suffix.lower() == ".npy" for p in paths):
        if len(paths) > 1:
            raise DataError("give one .npy file, or image files, not both")
        return targets_from_npy(paths[0], spec)
    if len(paths) > MAX_TARGETS:
        raise DataError(f"{len(paths)} images; project 1 to {MAX_TARGETS} at a time")
    return np.stack([image_from_bytes(_read_bytes(p), str(p), spec) for p in paths])
