"""Untrusted image bytes -> one (C, size, size) uint8 array, or the reason it was skipped.

Only a fixed list of Pillow decoders is tried (no EPS, which runs Ghostscript, and no
rarely used plugins). An image with more pixels than `max_pixels`, or than Pillow's own
`Image.MAX_IMAGE_PIXELS`, is refused with DecompressionBombError before its pixels are
decoded: `Image.open` only reads the header, so the size is known and checked before
`load()`. Pillow itself raises DecompressionBombError above twice its limit, inside open.

Why a size check and not `warnings.simplefilter("error", DecompressionBombWarning)`: a
filter set at import changes the warning policy of the whole process (the dashboard's
server), and `warnings.catch_warnings()` around each decode is no better here: it swaps
the module-global `warnings.filters` list on enter and puts back what it saw on exit,
so two decodes that overlap on the thread pool restore each other's lists out of order.
One thread's "error" filter is then gone while it decodes, and the last one to exit can
leave it installed for good (Python 3.11 does exactly this). The size check uses no
global state, so decodes stay thread-safe. Between Pillow's limit and twice it, Pillow
still emits its DecompressionBombWarning, which goes through the process's own filters
(shown once, by default), and then the check here refuses the image all the same.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageOps

from .options import PackOptions

PIL_FORMATS = ("PNG", "JPEG", "BMP", "GIF", "WEBP", "TIFF", "PPM")  # no EPS (Ghostscript) & co.


def _check_pixels(w: int, h: int, opts: PackOptions) -> None:
    """Refuse an image over max_pixels or over Pillow's limit, from the size in its header."""
    n = w * h
    if n > opts.max_pixels:
        raise Image.DecompressionBombError(f"{w}x{h} = {n} pixels, over max_pixels = {opts.max_pixels}")
    limit = Image.MAX_IMAGE_PIXELS  # read per call: the user (or a test) may change it
    if limit and n > limit:
        raise Image.DecompressionBombError(f"{w}x{h} = {n} pixels, over Pillow's limit "
                                           f"Image.MAX_IMAGE_PIXELS = {limit}")


def _drop_alpha(im: Image.Image) -> Image.Image:
    """Composite anything with transparency onto white."""
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info:
        im = im.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", im.size, (255, 255, 255, 255)), im).convert("RGB")
    return im


def _to_8bit(im: Image.Image) -> Image.Image:
    """16-bit and float grayscale (PNG, TIFF) scaled to 0..255 instead of clipped."""
    if im.mode.startswith("I") or im.mode == "F":
        a = np.asarray(im, dtype=np.float64)
        top = 255.0 if a.max(initial=0) <= 255 else 65535.0
        im = Image.fromarray(np.clip(a * (255.0 / top), 0, 255).astype(np.uint8), "L")
    return im


def decode_image(data: bytes, opts: PackOptions) -> np.ndarray:
    """Encoded image bytes -> (C, size, size) uint8; raises on anything unreadable."""
    s, mode = opts.size, "L" if opts.channels == 1 else "RGB"
    with Image.open(io.BytesIO(data), formats=PIL_FORMATS) as im:  # lazy: the header only
        _check_pixels(*im.size, opts)
        im.draft(mode, (s, s))  # JPEG only: decode at the smallest scale that is still >= size
        im = ImageOps.exif_transpose(im)  # phone photos: apply the orientation tag
        im = _drop_alpha(_to_8bit(im)).convert(mode)
        if opts.crop == "center":  # crop first: resizing with a box would blend in pixels beyond it
            w, h = im.size
            m = min(w, h)
            im = im.crop(((w - m) // 2, (h - m) // 2, (w - m) // 2 + m, (h - m) // 2 + m))
        a = np.asarray(im.resize((s, s), Image.Resampling.BICUBIC))
    return np.ascontiguousarray(a[None] if a.ndim == 2 else a.transpose(2, 0, 1))  # (C, H, W)


def _decode_or_reason(data: bytes, opts: PackOptions) -> np.ndarray | str:
    """The decoded image, or why it was skipped (a short sentence)."""
    try:
        return decode_image(data, opts)
    except Image.UnidentifiedImageError:
        return "not an image, or a format ganlab does not read"
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:  # warning: under -W error
        return f"decompression bomb: {e}"[:300]
    except Exception as e:  # untrusted bytes: Pillow raises many kinds; each one skips a file
        return f"unreadable ({type(e).__name__}: {e})"[:300]
