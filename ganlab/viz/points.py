"""2-D data as GAN Lab draws it: real and fake points over D's decision surface, latent paths,
and low-dimensional vectors (e.g. the 1010 pattern). Arrays in, a new go.Figure out.

Point charts keep an equal aspect ratio: a circle of modes must look like a circle, or a
generator that squashes it would look right.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .style import FAKE, NEUTRAL, REAL, SURFACE_SCALE, template, title_layout


def as_xy(a) -> np.ndarray:
    """An (N, 2) float array; None or empty -> (0, 2); anything else is a caller's mistake."""
    p = np.zeros((0, 2)) if a is None else np.asarray(a, dtype=float)
    if p.size == 0:
        return np.zeros((0, 2))
    if p.ndim != 2 or p.shape[1] != 2:
        raise ValueError(f"expected 2-D points of shape (N, 2), got {p.shape}")
    return p


def finite_points(a, max_points: int) -> np.ndarray:
    """(N, 2) finite float rows, strided down to at most max_points."""
    p = as_xy(a)
    p = p[np.isfinite(p).all(1)]
    return p[:: -(-len(p) // max_points)] if len(p) > max_points else p


def ranges_of(*sets: np.ndarray, pad: float = 0.08) -> tuple[list[float], list[float]]:
    pts = np.concatenate([s for s in sets if s.size] or [np.array([[-1.0, -1.0], [1.0, 1.0]])])
    lo, hi = pts.min(0), pts.max(0)
    margin = np.maximum((hi - lo) * pad, 0.1)
    return [lo[0] - margin[0], hi[0] + margin[0]], [lo[1] - margin[1], hi[1] + margin[1]]


def surface_traces(surface: Mapping) -> list:
    """D's output on a grid as a heatmap (diverging around 0.5 for probabilities) + the 0.5 contour."""
    xs, ys = np.asarray(surface["xs"], float), np.asarray(surface["ys"], float)
    z = np.asarray(surface["z"], float)  # (gy, gx)
    label = str(surface.get("label", "D(x)"))
    finite = z[np.isfinite(z)]
    prob = "critic" not in label.lower() and finite.size > 0 and finite.min() >= 0 and finite.max() <= 1
    heat = go.Heatmap(x=xs, y=ys, z=z, colorscale=SURFACE_SCALE, zsmooth=False, name=label,
                      zmin=0 if prob else None, zmax=1 if prob else None,
                      colorbar=dict(title=dict(text=label, side="right"), thickness=12, len=0.75),
                      hovertemplate="(%{x:.2f}, %{y:.2f})<br>" + label + ": %{z:.3f}<extra></extra>")
    traces: list = [heat]
    if prob and finite.min() < 0.5 < finite.max():
        traces.append(go.Contour(x=xs, y=ys, z=z, showscale=False, name="D = 0.5 boundary",
                                 contours=dict(start=0.5, end=0.5, size=1, coloring="none"),
                                 line=dict(color=NEUTRAL, width=1.5, dash="dot"),
                                 showlegend=True, hoverinfo="skip"))
    return traces


def point_layout(fig: go.Figure, title: str, xr, yr, height: int | None) -> go.Figure:
    fig.update_layout(template=template(), height=height, font=dict(size=12),
                      title=title_layout(title),
                      margin=dict(l=40, r=20, t=56, b=40), hovermode="closest",
                      legend=dict(orientation="h", x=0, y=-0.08, yanchor="top"),
                      uirevision=title)
    fig.update_xaxes(range=xr, zeroline=False, constrain="domain")  # shrink the box, not pad it
    fig.update_yaxes(range=yr, zeroline=False, scaleanchor="x", scaleratio=1, constrain="domain")
    return fig


def points_figure(real, fake, *, surface: Mapping | None = None, title: str = "Real and fake points",
                  max_points: int = 3000, height: int | None = 480) -> go.Figure:
    """GAN Lab view: real and fake points over D's output on a grid (`surface`), equal aspect.

    surface = {"xs": (gx,), "ys": (gy,), "z": (gy, gx), "label": "D(x) probability"}.
    """
    r, f = finite_points(real, max_points), finite_points(fake, max_points)
    fig = go.Figure(surface_traces(surface) if surface is not None else [])
    for pts, name, color, edge in ((r, "real", REAL, "#14532d"), (f, "fake", FAKE, "#3b0764")):
        fig.add_trace(go.Scatter(x=pts[:, 0], y=pts[:, 1], mode="markers", name=name,
                                 marker=dict(color=color, size=5, opacity=0.7,
                                             line=dict(color=edge, width=0.5)),
                                 hovertemplate=f"{name} (%{{x:.2f}}, %{{y:.2f}})<extra></extra>"))
    sets = [r, f]
    if surface is not None and not (r.size or f.size):
        xs, ys = np.asarray(surface["xs"], float), np.asarray(surface["ys"], float)
        sets = [np.array([[xs.min(), ys.min()], [xs.max(), ys.max()]])]
    xr, yr = ranges_of(*sets)
    return point_layout(fig, title, xr, yr, height)


def points_path_figure(points, *, real=None, labels: Sequence[str] | None = None,
                       title: str = "Latent path", height: int | None = 480) -> go.Figure:
    """An ordered path of generated 2-D points (e.g. an interpolation), start and end marked."""
    p = as_xy(points)
    r = finite_points(real, 3000)
    text = list(labels) if labels is not None else [f"#{i}" for i in range(len(p))]
    fig = go.Figure()
    if r.size:
        fig.add_trace(go.Scatter(x=r[:, 0], y=r[:, 1], mode="markers", name="real data",
                                 marker=dict(color=REAL, size=4, opacity=0.25), hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=p[:, 0], y=p[:, 1], mode="lines+markers", name="path", text=text,
                             line=dict(color=FAKE, width=2), marker=dict(color=FAKE, size=6),
                             hovertemplate="%{text}: (%{x:.2f}, %{y:.2f})<extra></extra>"))
    for i, name, symbol in ((0, "start", "diamond"), (-1, "end", "star")):
        if len(p):
            fig.add_trace(go.Scatter(x=[p[i, 0]], y=[p[i, 1]], mode="markers+text", name=name,
                                     text=[name], textposition="top center",
                                     marker=dict(color="#111827", size=13, symbol=symbol),
                                     hovertemplate=f"{name} {text[i]}<extra></extra>"))
    xr, yr = ranges_of(p[np.isfinite(p).all(1)], r)
    return point_layout(fig, title, xr, yr, height)


def vector_figure(samples, *, target: Sequence[float] | None = None, real=None,
                  title: str = "Generated vectors", max_rows: int = 32,
                  value_range: tuple[float, float] | None = (0.0, 1.0),
                  height: int | None = 360) -> go.Figure:
    """Low-dimensional vectors (e.g. the 1010 pattern): per-position boxes and a sample heatmap.

    The boxes show each position's distribution (real beside fake when given); the heatmap
    shows whole samples, since right marginals can still hide wrong joint patterns.
    """
    s = np.asarray(samples, dtype=float)
    s = s.reshape(len(s), -1)  # (N, D)
    pos = [f"x[{i}]" for i in range(s.shape[1])]
    shown = s[:max_rows]
    target_txt = f" · target {' '.join(f'{t:g}' for t in target)}" if target is not None else ""
    fig = make_subplots(rows=1, cols=2, column_widths=[0.55, 0.45], horizontal_spacing=0.12,
                        subplot_titles=("Distribution per position",
                                        f"First {len(shown)} samples{target_txt}"))
    for data, name, color in ((real, "real", REAL), (s, "fake", FAKE)):
        if data is None:
            continue
        d = np.asarray(data, dtype=float).reshape(-1, s.shape[1])[:2000]
        fig.add_trace(go.Box(x=np.tile(pos, len(d)), y=d.ravel(), name=name, marker_color=color,
                             boxpoints=False, offsetgroup=name), row=1, col=1)
    if target is not None:
        fig.add_trace(go.Scatter(x=pos, y=list(target), mode="markers", name="target pattern",
                                 marker=dict(color="#111827", symbol="diamond-open", size=13,
                                             line=dict(width=2))), row=1, col=1)
    lo, hi = value_range if value_range is not None else (None, None)
    fig.add_trace(go.Heatmap(z=shown, x=pos, y=np.arange(len(shown)), zmin=lo, zmax=hi,
                             colorscale=[[0, "#ffffff"], [1, FAKE]], name="samples",
                             colorbar=dict(thickness=10, len=0.8),
                             hovertemplate="sample %{y}, %{x}: %{z:.3f}<extra></extra>"), row=1, col=2)
    fig.update_layout(template=template(), height=height, boxmode="group", font=dict(size=12),
                      title=title_layout(title),
                      margin=dict(l=50, r=20, t=80, b=40), hovermode="closest",
                      legend=dict(orientation="h", x=1, xanchor="right", y=1.12, yanchor="bottom"))
    if value_range is not None:
        pad = 0.08 * (hi - lo)
        fig.update_yaxes(range=[lo - pad, hi + pad], row=1, col=1)
    fig.update_yaxes(autorange="reversed", title_text="sample", row=1, col=2)
    fig.update_annotations(font_size=13)  # the subplot titles
    return fig
