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


# ---------------------------------------------------------------- the game's replay as a GIF

def _hex_rgb(color: str) -> tuple[int, int, int]:
    h = color.lstrip("#")
    return tuple(int(h[i:i + 2], 16) for i in (0, 2, 4))  # type: ignore[return-value]


def _surface_rgb(surface, xs_px: np.ndarray, ys_px: np.ndarray) -> np.ndarray:
    """D's surface under every pixel (nearest grid value), in the page's diverging scale; white off the grid."""
    from .style import SURFACE_SCALE

    xs, ys = np.asarray(surface["xs"], float), np.asarray(surface["ys"], float)
    z = np.asarray(surface["z"], float)
    finite = z[np.isfinite(z)]
    prob = bool(surface.get("probability", finite.size and finite.min() >= 0 and finite.max() <= 1))
    lo, hi = (0.0, 1.0) if prob or not finite.size else (float(finite.min()), float(finite.max()))
    t = np.clip((np.nan_to_num(z, nan=(lo + hi) / 2) - lo) / max(hi - lo, 1e-12), 0, 1)
    ix = np.rint(np.interp(xs_px, xs, np.arange(len(xs)), left=-1, right=-1)).astype(int)
    iy = np.rint(np.interp(ys_px, ys, np.arange(len(ys)), left=-1, right=-1)).astype(int)
    stops = np.array([s for s, _ in SURFACE_SCALE])
    colors = np.array([_hex_rgb(c) for _, c in SURFACE_SCALE], float)
    tt = t[np.clip(iy, 0, None)[:, None], np.clip(ix, 0, None)[None, :]]
    rgb = np.stack([np.interp(tt, stops, colors[:, k]) for k in range(3)], -1)
    rgb[(iy < 0)[:, None] | (ix < 0)[None, :]] = 255.0
    return rgb.astype(np.uint8)


def game_image(frame, *, arrows: bool = True, manifold: bool = True, ranges=None, arrow_scale=None,
               size: int = 420, label: str = "") -> np.ndarray:
    """One game frame drawn with Pillow as the page's figure draws it (surface, manifold, points, arrows),
    square, equal aspect, its step (or `label`) written in the corner: a GIF frame without a browser."""
    from PIL import Image, ImageDraw

    from . import game
    from .style import ARROW, FAKE, MANIFOLD, REAL

    xr, yr = ranges or game.frame_ranges(frame)
    half = max(xr[1] - xr[0], yr[1] - yr[0]) / 2  # a square window around the ranges' centre: equal aspect
    cx, cy = (xr[0] + xr[1]) / 2, (yr[0] + yr[1]) / 2
    x0, y0, span = cx - half, cy - half, 2 * half

    def px(p: np.ndarray) -> np.ndarray:
        p = np.asarray(p, float).reshape(-1, 2)
        return np.stack([(p[:, 0] - x0) / span * size, (1 - (p[:, 1] - y0) / span) * size], 1)

    centres = x0 + (np.arange(size) + 0.5) / size * span
    surface = frame.get("surface")
    base = (_surface_rgb(surface, centres, centres[::-1]) if surface is not None
            else np.full((size, size, 3), 255, np.uint8))
    canvas = Image.fromarray(base).convert("RGBA")
    if manifold and frame.get("manifold") is not None:
        layer = Image.new("RGBA", canvas.size, (0, 0, 0, 0))
        draw = ImageDraw.Draw(layer)
        cells = game.manifold_cells(frame["manifold"])
        r, g, b = _hex_rgb(MANIFOLD)
        for corners, band in zip(cells.corners, cells.bands):
            draw.polygon([tuple(q) for q in px(corners)], fill=(r, g, b, int(255 * game.band_opacity(int(band)))),
                         outline=(r, g, b, 110))
        canvas = Image.alpha_composite(canvas, layer)
    draw = ImageDraw.Draw(canvas)
    for key, color in (("real", REAL), ("fake", FAKE)):
        pts = frame.get(key)
        if pts is None:
            continue
        for x, y in px(np.asarray(pts)[: game.MAX_POINTS * 2: 2] if len(pts) > game.MAX_POINTS else pts):
            if np.isfinite(x) and np.isfinite(y):
                draw.ellipse((x - 2, y - 2, x + 2, y + 2), fill=_hex_rgb(color))
    if arrows and frame.get("arrows") is not None:
        geometry = game.arrow_geometry(frame, (xr, yr), scale=arrow_scale)
        xs, ys = game.arrow_paths(geometry, xr[1] - xr[0])
        path = px(np.stack([xs, ys], 1))
        for a, b_ in zip(path[:-1], path[1:]):
            if np.isfinite(a).all() and np.isfinite(b_).all():
                draw.line((tuple(a), tuple(b_)), fill=_hex_rgb(ARROW), width=1)
    text = label or f"step {int(frame.get('step', 0)):,}"
    font = _font(15)
    left, top, right, bottom = draw.textbbox((6, 4), text, font=font)
    draw.rectangle((left - 3, top - 2, right + 3, bottom + 2), fill=(255, 255, 255))
    draw.text((6, 4), text, fill=(17, 24, 39), font=font)
    return np.asarray(canvas.convert("RGB"))


def game_gif(frames, *, arrows: bool = True, manifold: bool = True, size: int = 420, duration_ms: int = 200) -> bytes:
    """The replay as an animated GIF: every frame on the same axes and the same arrow scale, so motion is motion."""
    from . import game

    frames = list(frames)
    if not frames:
        raise ValueError("a replay GIF needs at least one frame")
    ranges, scale = game.shared_view(frames)
    return gif_bytes([game_image(f, arrows=arrows, manifold=manifold, ranges=ranges, arrow_scale=scale, size=size)
                      for f in frames], duration_ms=duration_ms)
