"""The game as GAN Lab draws it, from one game frame (the dict ganlab.explore.game makes): D's surface,
the real and fake points, G's gradient arrows and G's manifold. Frames in, a new go.Figure out.

The page rebuilds this figure whenever a frame changes, beside a training thread that waits for the
GIL, so a figure is a handful of traces whatever the frame holds: the arrows are one trace of
segments, the manifold one filled trace per density band plus one trace of its grid lines. The
geometry (which arrows, how long, which cells in which band) is computed here once and shared with
the GIF renderer (viz/images.py), so the replay GIF and the page draw the same picture.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Optional

import numpy as np
import plotly.graph_objects as go

from .points import finite_points, point_layout, ranges_of, surface_traces
from .style import ARROW, FAKE, MANIFOLD, NEUTRAL, REAL, _merge, title_layout

Frame = Mapping  # a game frame: {"step", "plane", "real", "fake", "arrows", "surface"?, "manifold"?, "losses"}
Ranges = tuple[list[float], list[float]]

ARROW_SHARE = 0.12  # the longest shown arrow spans this share of the plot's width: long enough to read, short of clutter
MAX_ARROWS = 300  # more arrows than this hide the points they start from
MAX_POINTS = 500  # real and fake points drawn each (the frame holds 1000)
DENSITY_BANDS = 6  # manifold cells are shaded in this many bands of density: one filled trace each
HEAD_SHARE = 0.3  # an arrow head's barbs are this share of its arrow (capped, so long arrows keep small heads)
HEAD_ANGLE = math.radians(28)


# ---------------------------------------------------------------- geometry (shared with the GIF)

def frame_ranges(*frames: Optional[Frame], pad: float = 0.08) -> Ranges:
    """Square axes covering the real and fake points of every frame: side-by-side figures share them, so a move
    reads as a move, and a square window keeps the equal-aspect plot as large as its box (a G stretched
    along one axis would otherwise shrink the plot to a strip)."""
    sets = [finite_points(f.get(k), 100_000) for f in frames if f is not None for k in ("real", "fake")]
    xr, yr = ranges_of(*sets, pad=pad)
    half = max(xr[1] - xr[0], yr[1] - yr[0]) / 2
    cx, cy = (xr[0] + xr[1]) / 2, (yr[0] + yr[1]) / 2
    return [cx - half, cx + half], [cy - half, cy + half]


@dataclass(frozen=True)
class Arrows:
    """The arrows drawn: tails at fake points, heads at tail + scale * arrow (data units)."""

    tails: np.ndarray  # (k, 2)
    tips: np.ndarray  # (k, 2)
    scale: float  # display length / raw gradient length; 0 when every arrow is zero

    def __len__(self) -> int:
        return len(self.tails)


def arrow_scale(arrows, width: float, share: float = ARROW_SHARE) -> float:
    """The factor that makes the longest arrow `share` of `width` (0 when no arrow has a length)."""
    a = np.asarray(arrows, float).reshape(-1, 2)
    lengths = np.linalg.norm(a[np.isfinite(a).all(1)], axis=1)
    longest = float(lengths.max()) if lengths.size else 0.0
    return share * width / longest if longest > 0 else 0.0


def arrow_geometry(frame: Frame, ranges: Ranges, *, max_arrows: int = MAX_ARROWS,
                   scale: Optional[float] = None) -> Arrows:
    """At most max_arrows arrows (an even stride over the fake points), scaled so the longest shown one
    spans ARROW_SHARE of the x range; `scale` given: that one (before and after share a scale, so
    sizes compare)."""
    fake = np.asarray(frame.get("fake", np.zeros((0, 2))), float).reshape(-1, 2)
    grad = np.asarray(frame.get("arrows", np.zeros((0, 2))), float).reshape(-1, 2)
    n = min(len(fake), len(grad))
    fake, grad = fake[:n], grad[:n]
    ok = np.isfinite(fake).all(1) & np.isfinite(grad).all(1)
    fake, grad = fake[ok], grad[ok]
    if len(fake) > max_arrows:
        idx = np.linspace(0, len(fake) - 1, max_arrows).round().astype(int)
        fake, grad = fake[idx], grad[idx]
    width = ranges[0][1] - ranges[0][0]
    s = arrow_scale(grad, width) if scale is None else float(scale)
    return Arrows(fake, fake + s * grad, s)


def _head_barbs(tails: np.ndarray, tips: np.ndarray, cap: float) -> tuple[np.ndarray, np.ndarray]:
    """The two barb ends of each arrow head: the arrow's back direction turned by ±HEAD_ANGLE."""
    back = tails - tips
    length = np.linalg.norm(back, axis=1, keepdims=True)
    unit = np.divide(back, length, out=np.zeros_like(back), where=length > 0)
    size = np.minimum(length * HEAD_SHARE, cap)
    c, s = math.cos(HEAD_ANGLE), math.sin(HEAD_ANGLE)
    left = np.stack([c * unit[:, 0] - s * unit[:, 1], s * unit[:, 0] + c * unit[:, 1]], 1)
    right = np.stack([c * unit[:, 0] + s * unit[:, 1], -s * unit[:, 0] + c * unit[:, 1]], 1)
    return tips + size * left, tips + size * right


def arrow_paths(arrows: Arrows, width: float) -> tuple[np.ndarray, np.ndarray]:
    """Every arrow as one polyline barb-tip-barb plus its shaft, NaN between arrows: (x, y) of one trace."""
    if not len(arrows):
        return np.zeros(0), np.zeros(0)
    left, right = _head_barbs(arrows.tails, arrows.tips, cap=0.025 * width)
    gap = np.full((len(arrows), 2), np.nan)
    # tail -> tip -> left barb, then tip -> right barb: drawn as tail, tip, left, NaN, tip, right, NaN
    seq = np.stack([arrows.tails, arrows.tips, left, gap, arrows.tips, right, gap], 1).reshape(-1, 2)
    return seq[:, 0], seq[:, 1]


@dataclass(frozen=True)
class Cells:
    """The manifold's deformed cells: corners (c, 4, 2) and the density band of each (c,)."""

    corners: np.ndarray
    bands: np.ndarray
    count: int  # cells in the grid (m * m); those with a non-finite corner are not drawn


SHADE_QUANTILE = 0.95  # densities at or above this quantile get the darkest shade


def density_bands(density, bands: int = DENSITY_BANDS) -> np.ndarray:
    """Band 0 (sparsest) .. bands - 1 (densest) of each cell, in the order of its density.

    The densities are scaled to their 95th percentile, not their maximum: a G that folds or squeezes a few
    cells to almost no area gives them a density thousands of times the rest, and shading by the maximum
    would leave every other cell in the palest band. Unreadable values: band 0.
    """
    d = np.nan_to_num(np.asarray(density, float), nan=0.0, posinf=0.0, neginf=0.0)
    positive = d[d > 0]
    top = float(np.quantile(positive, SHADE_QUANTILE)) if positive.size else 1.0
    return np.clip((d / top * bands).astype(int), 0, bands - 1)


def manifold_cells(manifold: Mapping, bands: int = DENSITY_BANDS) -> Cells:
    """Cell (i, j) has the corners (i, j), (i, j+1), (i+1, j+1), (i+1, j) of the pushed-through grid."""
    u, v = np.asarray(manifold["u"], float), np.asarray(manifold["v"], float)
    density = np.asarray(manifold["density"], float)
    m0, m1 = density.shape
    pts = np.stack([u, v], -1)  # (m0+1, m1+1, 2)
    corners = np.stack([pts[:-1, :-1], pts[:-1, 1:], pts[1:, 1:], pts[1:, :-1]], 2).reshape(-1, 4, 2)
    band = density_bands(density, bands).reshape(-1)
    ok = np.isfinite(corners).all((1, 2))
    return Cells(corners[ok], band[ok], m0 * m1)


def band_opacity(band: int, bands: int = DENSITY_BANDS) -> float:
    """GAN Lab's shading: denser cells darker; the sparsest stay visible as a faint fill."""
    return round(0.1 + 0.6 * (band + 0.5) / bands, 3)


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def grid_lines(manifold: Mapping) -> tuple[np.ndarray, np.ndarray]:
    """The grid's rows and columns as polylines, NaN between them: (x, y) of one trace."""
    u, v = np.asarray(manifold["u"], float), np.asarray(manifold["v"], float)
    lines = [np.stack([u[i], v[i]], 1) for i in range(u.shape[0])] + [np.stack([u[:, j], v[:, j]], 1)
                                                                     for j in range(u.shape[1])]
    gap = np.full((1, 2), np.nan)
    seq = np.concatenate([part for line in lines for part in (line, gap)])
    return seq[:, 0], seq[:, 1]


# ---------------------------------------------------------------- traces

def manifold_traces(manifold: Mapping, bands: int = DENSITY_BANDS) -> list[go.Scatter]:
    """One filled trace per density band (its cells as polygons, NaN between them) and the grid lines."""
    cells = manifold_cells(manifold, bands)
    traces: list[go.Scatter] = []
    gap = np.full((1, 2), np.nan)
    for band in range(bands):
        mine = cells.corners[cells.bands == band]
        if not len(mine):
            continue
        closed = np.concatenate([mine, mine[:, :1], np.broadcast_to(gap, (len(mine), 1, 2))], 1).reshape(-1, 2)
        lo, hi = band / bands, (band + 1) / bands
        traces.append(go.Scatter(x=closed[:, 0], y=closed[:, 1], mode="lines", fill="toself",
                                 fillcolor=_rgba(MANIFOLD, band_opacity(band, bands)), line=dict(width=0),
                                 name=f"G's manifold, density {lo:.2f}–{hi:.2f}", legendgroup="manifold",
                                 showlegend=False, hoverinfo="skip", meta=dict(band=band, cells=len(mine))))
    x, y = grid_lines(manifold)
    traces.append(go.Scatter(x=x, y=y, mode="lines", name="G's manifold",
                             legendgroup="manifold", line=dict(color=_rgba(MANIFOLD, 0.8), width=0.8),
                             hoverinfo="skip"))
    return traces


def arrow_trace(arrows: Arrows, width: float) -> go.Scatter:
    x, y = arrow_paths(arrows, width)
    return go.Scatter(x=x, y=y, mode="lines", name=f"G's gradient (× {arrows.scale:.3g})",
                      line=dict(color=ARROW, width=1.3), hoverinfo="skip",
                      meta=dict(arrows=len(arrows), scale=arrows.scale))


def _point_traces(frame: Frame, max_points: int, *, faint_fakes: bool = False) -> list[go.Scatter]:
    """Real and fake scatters; faint_fakes (the manifold is drawn): small, light fakes, so the cells under them show."""
    out = []
    for key, name, color, edge in (("real", "real", REAL, "#14532d"), ("fake", "fake", FAKE, "#3b0764")):
        pts = finite_points(frame.get(key), max_points)
        faint = faint_fakes and key == "fake"
        out.append(go.Scatter(x=pts[:, 0], y=pts[:, 1], mode="markers", name=name,
                              marker=dict(color=color, size=3.5 if faint else 5, opacity=0.35 if faint else 0.75,
                                          line=dict(color=edge, width=0 if faint else 0.5)),
                              hovertemplate=f"{name} (%{{x:.2f}}, %{{y:.2f}})<extra></extra>"))
    return out


# ---------------------------------------------------------------- the figure

def axis_names(plane_name: str) -> tuple[str, str]:
    """'x₀, x₁' -> ('x₀', 'x₁'); 'PCA of the real data: PC1, PC2 (81% ...)' -> ('PC1', 'PC2'); else no names."""
    text = plane_name.split(":", 1)[-1].split("(")[0]
    parts = [p.strip() for p in text.split(",")]
    return (parts[0], parts[1]) if len(parts) == 2 and all(parts) else ("", "")


def losses_text(frame: Frame) -> str:
    losses = frame.get("losses") or {}
    d, g = losses.get("d"), losses.get("g")
    return " · ".join(f"{who} loss {v:.4g}" for who, v in (("D", d), ("G", g)) if isinstance(v, (int, float)))


def game_figure(frame: Frame, *, arrows: bool = True, manifold: bool = True, title: Optional[str] = None,
                ranges: Optional[Ranges] = None, arrow_scale: Optional[float] = None, show_losses: bool = False,
                brief: bool = False,
                max_points: int = MAX_POINTS, max_arrows: int = MAX_ARROWS, height: Optional[int] = 520) -> go.Figure:
    """D's surface, G's manifold (cells shaded by density), the real and fake points and G's gradient arrows,
    in the frame's plane (named under the title), equal aspect. `ranges` and `arrow_scale`: shared with a
    figure beside this one (before and after a step, two runs), so both read on the same axes and arrow sizes;
    brief: the plane (and losses) alone under the title, for a half-width figure whose caption says the rest."""
    plane = frame.get("plane") or {}
    plane_name = str(plane.get("name", ""))
    xr, yr = ranges or frame_ranges(frame)
    width = xr[1] - xr[0]
    traces: list = []
    surface = frame.get("surface")
    if surface is not None:
        traces += surface_traces(surface)
    shown_manifold = manifold and frame.get("manifold") is not None
    if shown_manifold:
        traces += manifold_traces(frame["manifold"])
    traces += _point_traces(frame, max_points, faint_fakes=shown_manifold)
    subtitle = [f"plane: {plane_name}" if plane_name else ""]
    if arrows and frame.get("arrows") is not None:
        geometry = arrow_geometry(frame, (xr, yr), max_arrows=max_arrows, scale=arrow_scale)
        traces.append(arrow_trace(geometry, width))
        if arrow_scale is None:
            subtitle.append(f"arrows: where G's next update pushes each fake, the longest drawn "
                            f"{ARROW_SHARE:.0%} of the width")
    if shown_manifold and not brief:
        subtitle.append(f"manifold, cells darker where denser: {frame['manifold'].get('name', 'a latent grid through G')}")
    if show_losses:
        subtitle.append(losses_text(frame))
    lines = [s for s in subtitle if s]
    step = int(frame.get("step", 0))
    text = title or f"The game at step {step:,}"
    heading = title_layout(text, "<br>".join(lines))
    heading["subtitle"]["font"] = dict(color=NEUTRAL, size=11)
    layout = _merge(_base_layout(height, *axis_names(plane_name), 56 + 15 * len(lines)),
                    {"title": heading, "xaxis": {"range": list(xr)}, "yaxis": {"range": list(yr)},
                     "uirevision": plane_name or "game"})  # a zoom survives the live refreshes of one plane
    # plotly validated the shared layout once (cached); walking update_layout per figure cost ~2/3 of a build
    return go.Figure(data=traces, layout=layout, _validate=False)


@functools.lru_cache(maxsize=64)
def _base_layout(height: Optional[int], x_name: str, y_name: str, top: int) -> dict:
    """The game figure's layout but its title and ranges: equal aspect, the legend at the foot of the figure
    under the x axis's name whatever the height (two rows at half width)."""
    fig = point_layout(go.Figure(), "", [0.0, 1.0], [0.0, 1.0], height)
    fig.update_layout(margin=dict(t=top, b=100), legend=dict(yref="container", y=0.005, yanchor="bottom"))
    fig.update_xaxes(title_text=x_name or None)
    fig.update_yaxes(title_text=y_name or None)
    return fig.layout.to_plotly_json()


def arrows_caption(scale: float) -> str:
    """The scale said in words, for a caption under side-by-side figures that share it."""
    return (f"Arrows are G's gradient on each fake point, drawn × {scale:.3g} (the same scale in both): "
            "where G's next update pushes that point.")


def manifold_caption(frame: Frame) -> str:
    """What the manifold shows, for a caption under side-by-side figures (their subtitles are brief)."""
    manifold = frame.get("manifold") if frame is not None else None
    if manifold is None:
        return ""
    return f"G's manifold: {manifold.get('name', 'a latent grid')} pushed through G, cells darker where denser."


def shared_view(frames: Sequence[Optional[Frame]]) -> tuple[Ranges, float]:
    """The axes and the arrow scale for figures shown side by side: the largest arrow of all of them
    spans ARROW_SHARE of the width, so a shorter arrow on one side is a smaller push."""
    present = [f for f in frames if f is not None]
    ranges = frame_ranges(*present)
    width = ranges[0][1] - ranges[0][0]
    grads = [np.asarray(f["arrows"], float).reshape(-1, 2) for f in present if f.get("arrows") is not None]
    scale = arrow_scale(np.concatenate(grads), width) if grads else 0.0
    return ranges, scale
