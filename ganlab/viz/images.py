"""Sample images: one grid of a batch, its PNG and an animated GIF of several, and a grid as a figure.

Grids are plain uint8 arrays so the same one can go to st.image, a download button or a GIF;
small images (8x8 digits) are enlarged by whole pixels so they stay sharp, not blurred.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from .style import template, title_layout


def image_grid(images, *, nrow: int | None = None, padding: int = 2, pad_value: float = 1.0,
               min_tile: int = 32) -> np.ndarray:
    """(N, C, H, W) floats in [0, 1] -> one (H', W', 3) uint8 grid, nrow images per row.

    Grayscale is repeated to RGB; tiles smaller than min_tile px are enlarged by an integer
    nearest-neighbour factor (8x8 digits -> 32x32) before padding is added.
    """
    x = np.asarray(images, dtype=float)
    if x.ndim == 3:
        x = x[:, None]  # (N, H, W) -> (N, 1, H, W)
    if x.ndim != 4 or len(x) == 0 or x.shape[1] not in (1, 3, 4):
        raise ValueError(f"expected (N, C, H, W) with N > 0 and C in 1, 3, 4; got shape {x.shape}")
    x = np.repeat(x, 3, axis=1) if x.shape[1] == 1 else x[:, :3]  # (N, 3, H, W)
    n, _, h, w = x.shape
    k = max(1, -(-min_tile // min(h, w)))  # integer upscale factor
    x = x.repeat(k, axis=2).repeat(k, axis=3)
    h, w = h * k, w * k
    ncol = min(nrow or math.ceil(math.sqrt(n)), n)
    nrows = -(-n // ncol)
    grid = np.full((nrows * (h + padding) + padding, ncol * (w + padding) + padding, 3), pad_value)
    for i, img in enumerate(x):
        r, c = divmod(i, ncol)
        top, left = padding + r * (h + padding), padding + c * (w + padding)
        grid[top:top + h, left:left + w] = img.transpose(1, 2, 0)  # (H, W, 3)
    return (np.clip(np.nan_to_num(grid), 0.0, 1.0) * 255 + 0.5).astype(np.uint8)


def grid_png_bytes(grid: np.ndarray) -> bytes:
    """A (H, W, 3) uint8 array as PNG bytes (for downloads and st.image)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.asarray(grid, dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def gif_bytes(frames: Sequence[np.ndarray], *, duration_ms: int = 100, loop: int = 0) -> bytes:
    """An animated GIF of equal-size (H, W, 3) uint8 frames (time-lapse, interpolation)."""
    from PIL import Image

    if not len(frames):
        raise ValueError("gif_bytes needs at least one frame")
    if len({np.shape(f) for f in frames}) != 1:
        raise ValueError("all GIF frames must have the same shape")
    images = [Image.fromarray(np.asarray(f, dtype=np.uint8)) for f in frames]
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:],
                   duration=duration_ms, loop=loop)
    return buf.getvalue()


def image_figure(grid: np.ndarray, *, title: str = "", height: int | None = None) -> go.Figure:
    """A grid image as a figure without axes (sent as an embedded PNG, not a pixel array)."""
    src = "data:image/png;base64," + base64.b64encode(grid_png_bytes(grid)).decode("ascii")
    fig = go.Figure(go.Image(source=src, hoverinfo="skip"))
    top = 40 if title else 10
    fig.update_layout(template=template(), margin=dict(l=10, r=10, t=top, b=10),
                      height=height or int(min(800, max(200, grid.shape[0] + top + 20))),
                      title=title_layout(title) if title else None)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, scaleanchor="x")
    return fig


# ---------------------------------------------------------------- labelled strips (downloads)

def tiles_of(images) -> list[np.ndarray]:
    """(N, C, H, W) floats in [0, 1] -> N (H, W, 3) uint8 images at their own size (no border)."""
    x = np.asarray(images, dtype=float)
    return [image_grid(x[i:i + 1], padding=0, min_tile=1) for i in range(len(x))]


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)  # Pillow's scalable font (FreeType)
    except (TypeError, OSError):  # an old Pillow or no FreeType: the small bitmap font
        return ImageFont.load_default()


def labelled_strip(tiles: Sequence[np.ndarray], labels: Sequence[str] = (), *, title: str = "",
                   min_size: int = 128, max_cols: int = 10, padding: int = 8, font_size: int = 15) -> np.ndarray:
    """Tiles side by side (wrapping after max_cols), each enlarged by whole pixels (nearest neighbour)
    to at least min_size px, its label under it and a title line on top: a PNG that reads on its own.

    The on-page strips are small with captions beside them in HTML; a downloaded one has neither the
    page's zoom nor its captions, so both go into the pixels.
    """
    from PIL import Image, ImageDraw

    if not len(tiles):
        raise ValueError("a strip needs at least one image")
    if len(labels) not in (0, len(tiles)):
        raise ValueError(f"{len(labels)} labels for {len(tiles)} images")
    arrs = [np.asarray(t, dtype=np.uint8) for t in tiles]
    h, w = max(a.shape[0] for a in arrs), max(a.shape[1] for a in arrs)
    k = max(1, -(-min_size // min(h, w)))  # integer upscale: sharp pixels, never blurred
    big = [a.repeat(k, axis=0).repeat(k, axis=1) for a in arrs]
    font = _font(font_size)
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))

    def text_size(text: str) -> tuple[int, int]:
        left, top, right, bottom = measure.textbbox((0, 0), text, font=font)
        return right - left, bottom - top

    label_h = max((text_size(t)[1] for t in labels), default=0)
    cell_w = max(w * k, *(text_size(t)[0] + 4 for t in labels)) if labels else w * k
    cell_h = h * k + (label_h + 8 if labels else 0)
    ncol = min(len(big), max_cols)
    nrows = -(-len(big) // ncol)
    title_h = text_size(title)[1] + 12 if title else 0
    width = max(ncol * (cell_w + padding) + padding, text_size(title)[0] + 2 * padding if title else 0)
    canvas = Image.new("RGB", (width, title_h + nrows * (cell_h + padding) + padding), "white")
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.text((padding, 6), title, fill=(17, 24, 39), font=font)
    for i, img in enumerate(big):
        r, c = divmod(i, ncol)
        left, top = padding + c * (cell_w + padding), title_h + padding + r * (cell_h + padding)
        canvas.paste(Image.fromarray(img), (left + (cell_w - img.shape[1]) // 2, top))
        if labels:
            tw, _ = text_size(labels[i])
            draw.text((left + (cell_w - tw) // 2, top + h * k + 4), labels[i], fill=(55, 65, 81), font=font)
    return np.asarray(canvas)


def labelled_strip_png(tiles: Sequence[np.ndarray], labels: Sequence[str] = (), **kwargs) -> bytes:
    """`labelled_strip` as PNG bytes, for a download button."""
    return grid_png_bytes(labelled_strip(tiles, labels, **kwargs))
