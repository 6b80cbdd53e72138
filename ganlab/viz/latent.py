"""The Latent page's research figures: direction paths over 2-D data, fidelity against diversity as psi
moves, and the click target for projecting a 2-D point. Arrays in, a new go.Figure out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Optional

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .points import as_xy, finite_points, point_layout, ranges_of
from .style import NEUTRAL, REAL, RUN_COLORS, WARN, template, title_layout

# what each truncation_sweep key means on the chart: (legend name, colour); the order is the legend's
SWEEP_SERIES: Mapping[str, tuple[str, str]] = {
    "precision": ("precision (fidelity)", "#2563eb"),
    "recall": ("recall (diversity)", "#ea580c"),
    "coverage": ("coverage", REAL),
    "density": ("density", "#9333ea"),
    "high_quality_rate": ("high-quality rate", "#0891b2"),
    "modes_share": ("modes covered (share)", "#db2777"),
}
# the distance on the right axis, lower is better: the classifier's FD for image runs, the modes' KL for mixtures
SWEEP_DISTANCES: Mapping[str, str] = {"fd": "FD (lower is better)", "reverse_kl": "reverse KL of the modes (lower is better)"}

def direction_paths_figure(real, paths: Sequence[np.ndarray], names: Sequence[str], *, title: str,
                           scores: Sequence[str] = (), height: Optional[int] = 520) -> go.Figure:
    """Each direction as the path G draws from the start latent along it, over the real points.

    paths[i]: (steps, 2) samples at evenly spaced steps, the start latent's sample in the middle row;
    every path shares that start, drawn once as a black diamond; an arrow head marks each path's + end.
    """
    r = finite_points(real, 3000)
    ps = [as_xy(p) for p in paths]
    if len(names) != len(ps):
        raise ValueError(f"{len(names)} names for {len(ps)} paths")
    fig = go.Figure()
    if r.size:
        fig.add_trace(go.Scatter(x=r[:, 0], y=r[:, 1], mode="markers", name="real data",
                                 marker=dict(color=REAL, size=4, opacity=0.22), hoverinfo="skip"))
    for i, (p, name) in enumerate(zip(ps, names)):
        color = RUN_COLORS[i % len(RUN_COLORS)]
        legend = f"{name} · {scores[i]}" if i < len(scores) and scores[i] else name
        fig.add_trace(go.Scatter(x=p[:, 0], y=p[:, 1], mode="lines+markers", name=legend,
                                 line=dict(color=color, width=2.5), marker=dict(color=color, size=5),
                                 text=[f"{name}, step {j - len(p) // 2:+d}" for j in range(len(p))],
                                 hovertemplate="%{text}: (%{x:.2f}, %{y:.2f})<extra></extra>"))
        if len(p) >= 2:
            fig.add_annotation(x=p[-1, 0], y=p[-1, 1], ax=p[-2, 0], ay=p[-2, 1], xref="x", yref="y",
                               axref="x", ayref="y", showarrow=True, arrowhead=2, arrowsize=1.4,
                               arrowwidth=2, arrowcolor=color, text="")
    if ps and len(ps[0]):
        s = ps[0][len(ps[0]) // 2]
        fig.add_trace(go.Scatter(x=[s[0]], y=[s[1]], mode="markers+text", name="start", text=["start"],
                                 textposition="top center", marker=dict(color="#111827", size=13, symbol="diamond"),
                                 hovertemplate="start: (%{x:.2f}, %{y:.2f})<extra></extra>"))
    finite = [p[np.isfinite(p).all(1)] for p in ps]
    xr, yr = ranges_of(r, *finite)
    return point_layout(fig, title, xr, yr, height)


def truncation_figure(rows: Sequence[Mapping], *, title: str = "Fidelity vs diversity",
                      subtitle: str = "", height: Optional[int] = 380) -> go.Figure:
    """truncation_sweep's rows against psi: the [0, 1] rates on the left axis, a distance (FD) on the right.

    Keys the sweep did not return are left out, so an image run and a mixture run each show their own.
    """
    rows = [dict(r) for r in sorted(rows, key=lambda r: float(r["psi"]))]
    for r in rows:  # a mixture's modes as a share, so they sit on the rates' axis
        if r.get("modes_total"):
            r["modes_share"] = float(r.get("modes_covered", 0)) / float(r["modes_total"])
    psi = [float(r["psi"]) for r in rows]

    def column(key: str) -> Optional[list]:
        vals = [r.get(key) for r in rows]
        if not any(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
            return None
        return [float(v) if isinstance(v, (int, float)) and np.isfinite(v) else None for v in vals]

    distance = next(((k, name) for k, name in SWEEP_DISTANCES.items() if column(k) is not None), None)
    fig = make_subplots(specs=[[{"secondary_y": distance is not None}]])
    top = 1.0
    for key, (name, color) in SWEEP_SERIES.items():
        vals = column(key)
        if vals is not None:
            top = max([top] + [v for v in vals if v is not None])  # density can pass 1 (fakes crowd dense regions)
            fig.add_trace(go.Scatter(x=psi, y=vals, mode="lines+markers", name=name, line=dict(color=color, width=2),
                                     hovertemplate=f"{name}: %{{y:.3f}}<extra></extra>"), secondary_y=False)
    if distance is not None:
        key, name = distance
        fig.add_trace(go.Scatter(x=psi, y=column(key), mode="lines+markers", name=name,
                                 line=dict(color=NEUTRAL, width=2, dash="dash"), marker=dict(symbol="square"),
                                 hovertemplate=f"{name}: %{{y:.3g}}<extra></extra>"), secondary_y=True)
        fig.update_yaxes(title_text=name, secondary_y=True, showgrid=False, rangemode="tozero")
    fig.add_vline(x=1.0, line=dict(color=NEUTRAL, width=1, dash="dot"))
    fig.add_annotation(x=1.0, y=1.0, yref="paper", text="ψ = 1: no truncation", showarrow=False,
                       xanchor="right", yanchor="bottom", font=dict(color=NEUTRAL, size=11))
    fig.update_layout(template=template(), height=height, font=dict(size=12), title=title_layout(title, subtitle),
                      margin=dict(l=60, r=70, t=78 if subtitle else 60, b=45), hovermode="x unified",
                      legend=dict(orientation="h", x=0, y=-0.18, yanchor="top"))
    fig.update_xaxes(title_text="ψ (0: every z is the mean latent · 1: the prior as trained)", zeroline=False)
    fig.update_yaxes(title_text="rate (higher is better)", range=[0, top * 1.05], secondary_y=False)
    return fig


def click_grid(real, n: int = 41, pad: float = 0.15) -> np.ndarray:
    """(n*n, 2) points evenly covering the data's box: a click on a faint grid point is a click 'anywhere'
    (Plotly selections only report points of a trace)."""
    r = finite_points(real, 3000)
    xr, yr = ranges_of(r, pad=pad)
    gx, gy = np.meshgrid(np.linspace(*xr, n), np.linspace(*yr, n))
    return np.stack([gx.ravel(), gy.ravel()], 1)


def projection_points_figure(real, *, target=None, recon=None, title: str, height: Optional[int] = 480) -> go.Figure:
    """2-D projection: the real points and a faint click grid (both selectable), the target point and G's
    reconstruction of it, with a line from one to the other."""
    r = finite_points(real, 3000)
    grid = click_grid(r)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=grid[:, 0], y=grid[:, 1], mode="markers", name="click anywhere",
                             marker=dict(color=NEUTRAL, size=7, opacity=0.06), showlegend=False,
                             hovertemplate="project (%{x:.2f}, %{y:.2f})<extra></extra>"))
    if r.size:
        fig.add_trace(go.Scatter(x=r[:, 0], y=r[:, 1], mode="markers", name="real data",
                                 marker=dict(color=REAL, size=5, opacity=0.35),
                                 hovertemplate="real (%{x:.2f}, %{y:.2f})<extra></extra>"))
    t, q = as_xy(target), as_xy(recon)
    if t.size and q.size:
        fig.add_trace(go.Scatter(x=[t[0, 0], q[0, 0]], y=[t[0, 1], q[0, 1]], mode="lines", showlegend=False,
                                 line=dict(color=NEUTRAL, width=1.5, dash="dot"), hoverinfo="skip"))
    for pts, name, color, symbol in ((t, "target", WARN, "star"), (q, "G(projected z)", "#111827", "diamond")):
        if pts.size:
            fig.add_trace(go.Scatter(x=pts[:, 0], y=pts[:, 1], mode="markers", name=name,
                                     marker=dict(color=color, size=15, symbol=symbol, line=dict(color="white", width=1)),
                                     hovertemplate=f"{name} (%{{x:.2f}}, %{{y:.2f}})<extra></extra>"))
    xr, yr = ranges_of(r, grid, t, q)
    fig = point_layout(fig, title, xr, yr, height)
    fig.update_layout(clickmode="event+select", dragmode="pan")
    return fig
