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

Memory: a decode's peak is about 8 bytes per source pixel at most (4 for the decoded RGB(A)
image, 4 for one converted copy), whatever the mode, so `budget.PixelBudget` can bound the
memory of all decoding threads together. For that, every whole-image step makes at most one
new image and drops the one before (`_step`); the centre crop comes first, so pixels outside
it are never converted; 16-bit, 32-bit and float images become 8-bit strip by strip in
integer (or float32) arithmetic, never through a float64 copy of the whole image; alpha is
composited on white strip by strip; and a grayscale image meant for RGB is resized first and
converted at the output size. exif_transpose runs in place (it copies the image otherwise).
"""


from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Optional

import numpy as np
from PIL import Image, ImageOps

from .budget import PixelBudget, holding
from .options import PackOptions

PIL_FORMATS = ("PNG", "JPEG", "BMP", "GIF", "WEBP", "TIFF", "PPM")  # no EPS (Ghostscript) & co.
WIDE_MODES = ("I", "I;16", "I;16L", "I;16B", "I;16N", "F")  # more than 8 bits a sample
ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
STRIP_PIXELS = 1 << 20  # pixels converted at a time: a few MB of temporaries, whatever the image


def _check_pixels(w: int, h: int, opts: PackOptions) -> None:
    """Refuse an image over max_pixels or over Pillow's limit, from the size in its header."""
    n = w * h
    if n > opts.max_pixels:
        raise Image.DecompressionBombError(f"{w}x{h} = {n} pixels, over max_pixels = {opts.max_pixels}")
    limit = Image.MAX_IMAGE_PIXELS  # read per call: the user (or a test) may change it
    if limit and n > limit:
        raise Image.DecompressionBombError(f"{w}x{h} = {n} pixels, over Pillow's limit "
                                           f"Image.MAX_IMAGE_PIXELS = {limit}")


def _step(old: Image.Image, new: Image.Image) -> Image.Image:
    """`new` in place of `old`, whose pixels are freed now rather than when the decode ends."""
    if new is not old:
        old.close()
    return new


def _strips(w: int, h: int) -> Iterator[tuple[int, int, int, int]]:
    rows = max(1, STRIP_PIXELS // max(1, w))
    for top in range(0, h, rows):
        yield 0, top, w, min(h, top + rows)


def _by_strips(im: Image.Image, mode: str, convert: Callable[[Image.Image], Image.Image]) -> Image.Image:
    """`convert` applied strip by strip into one new image: only the output is whole-size."""
    out = Image.new(mode, im.size)
    for box in _strips(*im.size):
        out.paste(convert(im.crop(box)), box[:2])
    return out


def _center_square(im: Image.Image) -> Image.Image:
    """The largest centred square (the image itself when it is square already)."""
    w, h = im.size
    m = min(w, h)
    return im if w == h else im.crop(((w - m) // 2, (h - m) // 2, (w - m) // 2 + m, (h - m) // 2 + m))


def _to_8bit(im: Image.Image) -> Image.Image:
    """16-bit, 32-bit and float grayscale (PNG, TIFF) scaled to 0..255 instead of clipped.

    Values up to 255 are kept as they are; otherwise 0..65535 maps onto 0..255 (v // 257,
    exactly v * 255 / 65535 rounded down) and anything outside the range is clipped.
    """
    if im.mode not in WIDE_MODES:
        return im
    lo, hi = im.getextrema()  # no copy of the pixels
    wide = hi > 255

    def strip(part: Image.Image) -> Image.Image:
        a = np.asarray(part)
        if a.dtype.kind == "f":
            a = np.clip(a * np.float32(1 / 257 if wide else 1), 0, 255)
        else:
            a = np.clip(a, 0, 65535 if wide else 255)
            if wide:
                a = a // 257
        return Image.fromarray(a.astype(np.uint8), "L")

    return _by_strips(im, "L", strip)


def _drop_alpha(im: Image.Image) -> Image.Image:
    """Composite anything with transparency onto white."""
    if im.mode not in ALPHA_MODES and "transparency" not in im.info:
        return im

    def strip(part: Image.Image) -> Image.Image:
        part = part.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", part.size, (255, 255, 255, 255)), part).convert("RGB")

    return _by_strips(im, "RGB", strip)


def _decode(im: Image.Image, opts: PackOptions) -> np.ndarray:
    s, mode = opts.size, "L" if opts.channels == 1 else "RGB"
    im.draft(mode, (s, s))  # JPEG only: decode at the smallest scale that is still >= size
    ImageOps.exif_transpose(im, in_place=True)  # phone photos: apply the orientation tag
    if opts.crop == "center":  # crop first: resizing with a box would blend in pixels beyond it
        im = _step(im, _center_square(im))
    im = _step(im, _to_8bit(im))
    im = _step(im, _drop_alpha(im))
    gray_to_rgb = mode == "RGB" and im.mode in ("1", "L")  # resize one channel, then make three
    im = _step(im, im.convert("L" if gray_to_rgb else mode))
    im = _step(im, im.resize((s, s), Image.Resampling.BICUBIC))
    im = _step(im, im.convert(mode))  # gray -> RGB at the output size (else a tiny copy)
    a = np.asarray(im)
    return np.ascontiguousarray(a[None] if a.ndim == 2 else a.transpose(2, 0, 1))  # (C, H, W)


def decode_image(data: bytes, opts: PackOptions, *, budget: Optional[PixelBudget] = None) -> np.ndarray:
    """Encoded image bytes -> (C, size, size) uint8; raises on anything unreadable.

    The pixels are decoded while `budget` holds the image's pixel count (from its header).
    """
    im = Image.open(io.BytesIO(data), formats=PIL_FORMATS)  # lazy: the header only
    try:
        w, h = im.size
        _check_pixels(w, h, opts)
        with holding(budget, w * h):
            return _decode(im, opts)
    finally:
        im.close()


def _decode_or_reason(data: bytes, opts: PackOptions, budget: Optional[PixelBudget] = None) -> np.ndarray | str:
    """The decoded image, or why it was skipped (a short sentence)."""
    try:
        return decode_image(data, opts, budget=budget)
    except Image.UnidentifiedImageError:
        return "not an image, or a format ganlab does not read"
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:  # warning: under -W error
        return f"decompression bomb: {e}"[:300]
    except Exception as e:  # untrusted bytes: Pillow raises many kinds; each one skips a file
        return f"unreadable ({type(e).__name__}: {e})"[:300]
