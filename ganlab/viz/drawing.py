"""The drawing board of the Data page: a fixed square to click, stroke and box-select on, and the points drawn.

Plotly reports a click only on a point, so the square is covered by a faint grid of points (trace 0)
that a click anywhere lands on; the drawn points (trace 1) take no clicks, so drawing over them
still sprays at the grid point under the cursor.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from .points import finite_points, point_layout
from .style import NEUTRAL, REAL

GRID_STEP = 0.1
# the page's tool -> Plotly's dragmode. Streamlit turns click-to-select off while a lasso or box drag is on
# (clickmode "event"), so clicks need their own tool: "pan", which fixed axes make a no-op drag.
DRAG_MODES = {"click": "pan", "brush": "lasso", "fill": "lasso", "box": "select"}


def _grid(square: tuple[float, float], step: float) -> tuple[np.ndarray, np.ndarray]:
    ticks = np.round(np.arange(square[0], square[1] + step / 2, step), 6)
    gx, gy = np.meshgrid(ticks, ticks)
    return gx.ravel(), gy.ravel()


def drawing_figure(points, *, square: tuple[float, float] = (-3.0, 3.0), tool: str = "click",
                   height: int = 560, max_points: int = 20_000) -> go.Figure:
    """The square with its click grid and the drawn points, equal aspect, dragging as `tool` does."""
    gx, gy = _grid(square, GRID_STEP)
    p = finite_points(points, max_points)
    fig = go.Figure([
        go.Scatter(x=gx, y=gy, mode="markers", name="click grid", showlegend=False,
                   marker=dict(color=NEUTRAL, size=4, opacity=0.06),
                   selected=dict(marker=dict(opacity=0.06)), unselected=dict(marker=dict(opacity=0.06)),
                   hovertemplate="(%{x:.1f}, %{y:.1f})<extra>click: a blob here</extra>"),
        go.Scatter(x=p[:, 0], y=p[:, 1], mode="markers", name=f"drawn points ({len(p):,})", hoverinfo="skip",
                   marker=dict(color=REAL, size=5, opacity=0.75, line=dict(color="#14532d", width=0.5)),
                   selected=dict(marker=dict(opacity=0.75)), unselected=dict(marker=dict(opacity=0.75))),
    ])
    lo, hi = square
    point_layout(fig, f"Your data: {len(p):,} points", [lo, hi], [lo, hi], height)
    fig.update_layout(dragmode=DRAG_MODES.get(tool, "pan"), showlegend=True, uirevision="drawing",
                      newselection=dict(line=dict(color=REAL, width=2)), activeselection=dict(fillcolor=REAL, opacity=0.15))
    fig.update_xaxes(fixedrange=True, dtick=1)
    fig.update_yaxes(fixedrange=True, dtick=1)
    return fig
