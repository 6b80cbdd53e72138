"""What a pack is asked to do (`PackOptions`) and what it did (`PackReport`).

Their own module so that the readers, the decoder and the writer can all name them without
importing the package that ties them together (no import circle).
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image

from ..base import DataError


@dataclass(frozen=True)
class PackOptions:
    """How images are turned into the packed tensor, and the caps on untrusted input."""

    size: int = 64  # output side in pixels (images are square)
    channels: int = 3  # 3 (RGB) | 1 (grayscale)
    crop: str = "center"  # "center": largest centred square, then resize | "none": squash to square
    labels: str = "none"  # "none" | "from-folders": class = first folder under SRC
    max_files: int = 1_000_000  # most image files (folder) or members (archive) looked at
    max_total_bytes: int = 8 * 2**30  # folder: bytes of image files; archive: uncompressed size
    max_pixels: int = 40_000_000  # most pixels in one source image (w * h); more is refused
    max_file_bytes: int = 256 * 2**20  # most bytes in one image file; a bigger one is skipped
    max_pixels_in_flight: int = 80_000_000  # most source pixels decoding at once (~8 bytes each); one may exceed it alone
    max_bytes_in_flight: int = 256 * 2**20  # most encoded bytes read ahead of the decoders (one file always passes)

    def validate(self) -> None:
        if not 4 <= self.size <= 1024:
            raise DataError(f"size must be between 4 and 1024 pixels, got {self.size}")
        if self.channels not in (1, 3):
            raise DataError(f"channels must be 1 or 3, got {self.channels}")
        if self.crop not in ("center", "none"):
            raise DataError(f"crop must be 'center' or 'none', got {self.crop!r}")
        if self.labels not in ("none", "from-folders"):
            raise DataError(f"labels must be 'none' or 'from-folders', got {self.labels!r}")
        caps = ("max_files", "max_total_bytes", "max_pixels", "max_file_bytes", "max_pixels_in_flight",
                "max_bytes_in_flight")
        if min(getattr(self, c) for c in caps) < 1:
            raise DataError(f"{', '.join(caps)} must be positive")
        if Image.MAX_IMAGE_PIXELS and self.max_pixels > Image.MAX_IMAGE_PIXELS:
            raise DataError(f"max_pixels can be at most Pillow's limit, {Image.MAX_IMAGE_PIXELS}")


@dataclass(frozen=True)
class PackReport:
    """What `pack` did; the CLI prints it, the UI shows it."""

    out_path: str
    n_images: int
    n_skipped: int
    skipped: list[tuple[str, str]]  # (name relative to SRC, reason), every one of them
    class_names: tuple[str, ...]
    seconds: float
    images_per_s: float
    workers: int = 1
