"""Plotly figure builders for every dashboard chart: data in, a new go.Figure out (numpy + plotly only).

History records are the per-tick dicts of stats.jsonl (`step`, `time`, `Loss/D`, ...); any
key may be missing or None. Long series are smoothed on every point, then decimated so a
10^6-step run draws as fast as a short one. Nothing here imports torch or streamlit.
"""

from __future__ import annotations

import base64
import functools
import io
import math
from typing import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
from plotly.subplots import make_subplots

History = Sequence[Mapping[str, object]]
Equilibrium = Mapping[str, tuple[float, str]]  # key -> (value, label), e.g. {"Loss/D": (0.693, "ln 2")}

# One colour per role on every chart: real vs fake (as in GAN Lab), D vs G.
REAL = "#16a34a"  # green
FAKE = "#9333ea"  # purple
D_COLOR = "#2563eb"  # blue
G_COLOR = "#ea580c"  # orange
NEUTRAL = "#6b7280"  # grey: reference lines and totals
WARN = "#dc2626"  # red: regressions such as mode collapse
RUN_COLORS = ("#2563eb", "#ea580c", "#16a34a", "#9333ea", "#0891b2", "#db2777",
              "#ca8a04", "#4b5563", "#65a30d", "#7c3aed")  # overlay: one per run

# Record key -> (legend name, colour); unknown keys get their last path part and grey.
SERIES = {
    "Loss/D": ("D loss", D_COLOR),
    "Loss/G": ("G loss", G_COLOR),
    "D/real": ("D(x) on real", REAL),
    "D/fake": ("D(G(z)) on fake", FAKE),
    "Grad/D": ("‖∇D‖", D_COLOR),
    "Grad/G": ("‖∇G‖", G_COLOR),
    "W": ("W estimate", D_COLOR),
    "Penalty/GP": ("gradient penalty", "#0891b2"),
    "Penalty/R1": ("R1 penalty", "#db2777"),
    "Speed/steps_per_s": ("steps/s", NEUTRAL),
    "Metric/modes_covered": ("modes covered", REAL),
    "Metric/high_quality_rate": ("high-quality rate", REAL),
    "Metric/spread": ("mode width / data's", REAL),
    "Metric/class_coverage": ("class coverage", REAL),
    "Metric/fd": ("feature distance", FAKE),
}
LOWER_IS_BETTER = frozenset({"Metric/fd"})
# metrics with a right value rather than a better direction: a dashed target line, no "drop" shading
TARGETS = {"Metric/spread": (1.0, "data's width = 1")}
# D's decision surface: fake-looking regions purple, real-looking green, undecided white.
SURFACE_SCALE = [[0.0, "#d8b4fe"], [0.5, "#ffffff"], [1.0, "#86efac"]]


def _name(key: str) -> str:
    return SERIES.get(key, (key.split("/")[-1].replace("_", " "), None))[0]


def _color(key: str) -> str:
    return SERIES.get(key, ("", NEUTRAL))[1]


# ---------------------------------------------------------------- series maths (pure numpy)

def _column(history: History, key: str) -> np.ndarray:
    """One key as floats; missing, None and non-numbers become NaN."""
    raw = [r.get(key) for r in history]
    try:
        return np.array(raw, dtype=float)  # fast path: numbers and None (-> NaN)
    except (TypeError, ValueError):
        return np.array([_to_float(v) for v in raw], dtype=float)


def _to_float(v: object) -> float:
    try:
        return float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


def _steps(history: History) -> np.ndarray:
    s = _column(history, "step")
    return np.where(np.isfinite(s), s, np.arange(len(s), dtype=float))


def series(history: History, key: str, steps: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) of one key, keeping only records where the value is a finite number."""
    steps = _steps(history) if steps is None else steps
    values = _column(history, key)
    keep = np.isfinite(values)
    return steps[keep], values[keep]


def decimate_indices(values: np.ndarray, max_points: int = 2000) -> np.ndarray:
    """Sorted indices to draw: first, last, and each bucket's min and max (at most max_points)."""
    if max_points < 4:
        raise ValueError(f"max_points must be at least 4, got {max_points}")
    v = np.asarray(values, dtype=float)
    n = v.size
    if n <= max_points:
        return np.arange(n)
    bs = -(-n // ((max_points - 2) // 2))  # bucket size
    nb = -(-n // bs)  # buckets; the last may be short (padded with +-inf, never picked)
    lo = np.full(nb * bs, np.inf)
    hi = np.full(nb * bs, -np.inf)
    lo[:n] = np.where(np.isnan(v), np.inf, v)
    hi[:n] = np.where(np.isnan(v), -np.inf, v)
    base = np.arange(nb) * bs
    idx = np.concatenate([[0, n - 1], base + lo.reshape(nb, bs).argmin(1),
                          base + hi.reshape(nb, bs).argmax(1)])
    return np.unique(idx[idx < n])


def decimate(steps, values, max_points: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """Min/max-preserving decimation: spikes survive, first and last points are kept."""
    steps, values = np.asarray(steps), np.asarray(values, dtype=float)
    idx = decimate_indices(values, max_points)
    return steps[idx], values[idx]


def _ema(x: np.ndarray, w: float) -> np.ndarray:
    """Zero-started EMA y_t = w*y_{t-1} + (1-w)*x_t in ~2*sqrt(n) vector steps, not n scalar ones."""
    n = x.size
    width = max(1, math.isqrt(n))
    rows = -(-n // width)
    m = np.zeros(rows * width)
    m[:n] = x
    m = m.reshape(rows, width)  # (rows, width): each row is a consecutive chunk
    part = np.empty_like(m)  # EMA within each row, as if it started from 0
    acc = np.zeros(rows)
    for j in range(width):
        acc = w * acc + (1 - w) * m[:, j]
        part[:, j] = acc
    carry = np.zeros(rows)  # true EMA value at the end of the previous row
    decay = w ** width
    for k in range(1, rows):
        carry[k] = decay * carry[k - 1] + part[k - 1, -1]
    out = part + carry[:, None] * w ** np.arange(1, width + 1)
    return out.ravel()[:n]


def smooth(values, weight: float) -> np.ndarray:
    """TensorBoard's debiased EMA smoothing; weight in [0, 1), 0 returns an unchanged copy.

    Non-finite values are skipped (and returned as they were).
    """
    if not 0.0 <= weight < 1.0:
        raise ValueError(f"smoothing weight must be in [0, 1), got {weight}")
    v = np.array(values, dtype=float)  # a copy: the input is never touched
    finite = np.isfinite(v)
    if weight == 0.0 or not finite.any():
        return v
    x = v[finite]
    v[finite] = _ema(x, weight) / (1.0 - weight ** np.arange(1, x.size + 1))  # debias
    return v


# ---------------------------------------------------------------- shared figure pieces

def _title(title: str, subtitle: str = "") -> dict:
    """Bold title at the top left, with an optional grey subtitle line under it."""
    return dict(text=f"<b>{title}</b>", x=0.01, xanchor="left", y=0.97, yanchor="top",
                subtitle=dict(text=subtitle, font=dict(color=NEUTRAL, size=12)))


# plotly_white's layout without its per-trace-type defaults (every figure here sets its traces' colours):
# assigning the full template validates and deep-copies its nested per-trace defaults, which cProfile
# showed as most of a chart's build time on the dashboard's server, while the trainer waits for the
# GIL (bench.ui_overhead). Built on first use, not at import.
@functools.cache
def _template() -> go.layout.Template:
    return go.layout.Template(layout=pio.templates["plotly_white"].layout)


def _layout(fig: go.Figure, *, title: str, subtitle: str = "", x_title: str = "step",
            y_title: str = "", height: int | None = 320, log_y: bool = False,
            x_max: float = 0.0) -> go.Figure:
    fig.update_layout(
        template=_template(), height=height, font=dict(size=12),
        title=_title(title, subtitle),
        margin=dict(l=60, r=20, t=78 if subtitle else 56, b=45),
        legend=dict(orientation="h", x=1, xanchor="right", y=1.0, yanchor="bottom"),
        hovermode="x unified", uirevision=title,  # keep zoom / hidden traces across live reruns
        showlegend=True,  # even for one series: the legend names it
    )
    fig.update_xaxes(title_text=x_title, tickformat="~s" if x_max >= 1e4 else ",~g", hoverformat=",.0f",
                     zeroline=False)  # 25k, 1.2M for long runs; 2,000 for short ones
    fig.update_yaxes(title_text=y_title, type="log" if log_y else "linear", hoverformat=".4g")
    if log_y:  # labels at 1, 2 and 5 of each decade: plotly's default labels every digit, which overlap
        fig.update_yaxes(dtick="D2", tickformat="~g")  # 0.1, 2, 5, 10 (the default printed 0.1000)
    return fig


def _no_data(fig: go.Figure, text: str = "No data yet: waiting for the first tick") -> None:
    fig.add_annotation(text=text, x=0.5, y=0.85, xref="paper", yref="paper",
                       showarrow=False, font=dict(color=NEUTRAL, size=13))


def _line_traces(x: np.ndarray, y: np.ndarray, *, name: str, color: str, smoothing: float,
                 max_points: int) -> list[go.Scatter]:
    """Raw faint + smoothed bold (one legend entry), or a single line when smoothing is 0."""
    idx = decimate_indices(y, max_points)
    if smoothing <= 0:
        return [go.Scatter(x=x[idx], y=y[idx], name=name, mode="lines", legendgroup=name,
                           line=dict(color=color, width=1.6),
                           hovertemplate="%{y:.4g}")]
    raw = go.Scatter(x=x[idx], y=y[idx], name=name, mode="lines", legendgroup=name,
                     showlegend=False, opacity=0.25, line=dict(color=color, width=1),
                     hoverinfo="skip")
    sm = go.Scatter(x=x[idx], y=smooth(y, smoothing)[idx], name=name, mode="lines",
                    legendgroup=name, line=dict(color=color, width=2.2), customdata=y[idx],
                    hovertemplate="%{y:.4g} (raw %{customdata:.4g})")
    return [raw, sm]


def _add_hline(fig: go.Figure, y: float, text: str, color: str, x0: float, x1: float, *,
               name: str, log_y: bool = False) -> None:
    """A dashed reference line (a trace, so hover and autorange see it) and its label at the left."""
    fig.add_trace(go.Scatter(x=[x0, x1], y=[y, y], mode="lines", name=name, showlegend=False,
                             line=dict(color=color, width=1.3, dash="dash"), hoverinfo="skip"))
    if log_y and y <= 0:
        return  # nothing to label where a log axis cannot show the line
    fig.add_annotation(text=text, x=0.01, xref="paper", xanchor="left", yanchor="bottom",
                       y=math.log10(y) if log_y else y, yref="y", showarrow=False,
                       font=dict(color=color, size=11), bgcolor="rgba(255,255,255,0.8)")


def _add_equilibrium(fig: go.Figure, equilibrium: Equilibrium | None, keys: Sequence[str],
                     x0: float, x1: float, *, color: str | None = None, log_y: bool = False) -> None:
    """One labelled line per distinct value among `keys`; keys sharing a value share a grey line."""
    by_value: dict[float, list[tuple[str, str]]] = {}
    for key in keys:
        if equilibrium and key in equilibrium:
            entry = equilibrium[key]
            value, label = entry if isinstance(entry, (tuple, list)) else (entry, "")
            by_value.setdefault(float(value), []).append((key, label or f"{_name(key)} = {value:g}"))
    for value, items in by_value.items():
        text = " · ".join(dict.fromkeys(label for _, label in items))
        c = color or (_color(items[0][0]) if len(items) == 1 else NEUTRAL)
        names = ", ".join(_name(k) for k, _ in items)
        _add_hline(fig, value, text, c, x0, x1, name=f"equilibrium: {names}", log_y=log_y)


# ---------------------------------------------------------------- training curves

def series_figure(history: History, keys: Sequence[str], *, title: str, y_title: str = "",
                  subtitle: str = "", equilibrium: Equilibrium | None = None,
                  smoothing: float = 0.0, log_y: bool = False, y_range=None,
                  max_points: int = 2000, height: int | None = 320) -> go.Figure:
    """Any record keys vs step, in their role colours, with dashed equilibrium lines."""
    steps = _steps(history)
    fig = go.Figure()
    x0, x1 = math.inf, -math.inf
    for key in keys:
        x, y = series(history, key, steps)
        if x.size:
            fig.add_traces(_line_traces(x, y, name=_name(key), color=_color(key),
                                        smoothing=smoothing, max_points=max_points))
            x0, x1 = min(x0, float(x.min())), max(x1, float(x.max()))
    if not fig.data:
        _no_data(fig)
        x0, x1 = 0.0, 100.0
    _add_equilibrium(fig, equilibrium, keys, x0, x1, log_y=log_y)
    _layout(fig, title=title, subtitle=subtitle, y_title=y_title, height=height, log_y=log_y,
            x_max=x1)
    if y_range is not None:
        fig.update_yaxes(range=list(y_range))
    return fig


def loss_figure(history: History, *, equilibrium: Equilibrium, convention: str = "",
                smoothing: float = 0.0, log_y: bool = False, max_points: int = 2000,
                height: int | None = 320) -> go.Figure:
    """D and G losses vs step with the loss's equilibrium lines; the convention as subtitle."""
    return series_figure(history, ["Loss/D", "Loss/G"], title="Losses", y_title="loss",
                         subtitle=convention, equilibrium=equilibrium, smoothing=smoothing,
                         log_y=log_y, max_points=max_points, height=height)


def d_output_figure(history: History, *, equilibrium: Equilibrium, smoothing: float = 0.0,
                    max_points: int = 2000, height: int | None = 320) -> go.Figure:
    """D(x) on real and D(G(z)) on fake vs step; probabilities get a fixed [0, 1] axis."""
    values = np.concatenate([series(history, k)[1] for k in ("D/real", "D/fake")])
    prob = values.size == 0 or bool(((values >= 0) & (values <= 1)).all())
    subtitle = ("D winning: D(x) → 1, D(G(z)) → 0 · both near 0.5: D can't tell them apart"
                if prob else "Critic scores: the gap between them is what the critic has learned")
    return series_figure(history, ["D/real", "D/fake"], title="D's verdicts",
                         y_title="D output (probability)" if prob else "critic score",
                         subtitle=subtitle, equilibrium=equilibrium, smoothing=smoothing,
                         y_range=(-0.03, 1.03) if prob else None, max_points=max_points,
                         height=height)


def grad_norm_figure(history: History, *, smoothing: float = 0.0, log_y: bool = True,
                     max_points: int = 2000, height: int | None = 320) -> go.Figure:
    """L2 norms of D's and G's gradients (log axis by default: they span decades)."""
    return series_figure(history, ["Grad/D", "Grad/G"], title="Gradient norms",
                         y_title="L2 norm", subtitle="Exploding or vanishing norms warn before the losses do",
                         smoothing=smoothing, log_y=log_y, max_points=max_points, height=height)


def wasserstein_figure(history: History, *, smoothing: float = 0.0, max_points: int = 2000,
                       height: int | None = 320) -> go.Figure:
    """The critic's Wasserstein estimate E[D(x)] - E[D(G(z))] (critic losses only)."""
    return series_figure(history, ["W"], title="Wasserstein estimate", y_title="E[D(x)] − E[D(G(z))]",
                         subtitle="Falls toward 0 as G's distribution approaches the data's",
                         smoothing=smoothing, max_points=max_points, height=height)


def penalty_figure(history: History, *, smoothing: float = 0.0, log_y: bool = False,
                   max_points: int = 2000, height: int | None = 320) -> go.Figure:
    """Gradient penalty (WGAN-GP) and R1 penalty terms vs step."""
    return series_figure(history, ["Penalty/GP", "Penalty/R1"], title="Penalties",
                         y_title="penalty", smoothing=smoothing, log_y=log_y,
                         max_points=max_points, height=height)


def metric_figure(history: History, key: str, *, total: float | None = None,
                  title: str | None = None, higher_is_better: bool | None = None,
                  drop_tolerance: float = 0.05, max_points: int = 2000,
                  height: int | None = 300) -> go.Figure:
    """A quality metric over time; the total as a dashed line; drops from the best shaded red.

    A drop counts when the value falls below its best so far by more than drop_tolerance
    times the scale (the total, else the best value): on mode coverage it flags mode collapse.
    """
    x, y = series(history, key)
    name, color = _name(key), _color(key)
    target = TARGETS.get(key)
    better_up = key not in LOWER_IS_BETTER if higher_is_better is None else higher_is_better
    fig = go.Figure()
    if x.size:
        peak = np.maximum.accumulate(y) if better_up else y
        scale = total if total else float(np.abs(peak).max()) or 1.0
        watch = better_up and target is None
        dropped = (y < peak - drop_tolerance * scale) if watch else np.zeros(y.size, bool)
        idx = decimate_indices(y, max_points)
        mode = "lines+markers" if idx.size <= 200 else "lines"
        if dropped.any():
            fig.add_traces(_drop_traces(x, y, peak, dropped, idx))
        fig.add_trace(go.Scatter(x=x[idx], y=y[idx], name=name, mode=mode,
                                 line=dict(color=color, width=2), marker=dict(size=5),
                                 hovertemplate="%{y:.4g}"))
    else:
        _no_data(fig, "No measurements yet")
    x0, x1 = (float(x.min()), float(x.max())) if x.size else (0.0, 100.0)
    if total is not None:
        _add_hline(fig, total, f"total = {total:g}", NEUTRAL, x0, x1, name="total")
    if target is not None:
        _add_hline(fig, target[0], target[1], NEUTRAL, x0, x1, name="target")
    subtitle = "closer to the line is better" if target else "" if better_up else "lower is better"
    _layout(fig, title=title or name[:1].upper() + name[1:], subtitle=subtitle, y_title=name,
            height=height, x_max=x1)
    if total is not None and better_up:
        fig.update_yaxes(range=[0, total * 1.08])
    return fig


def _drop_traces(x, y, peak, dropped, idx) -> list[go.Scatter]:
    """Best-so-far line, red fill down to the current value where it dropped, onset markers."""
    onset = dropped & ~np.concatenate([[False], dropped[:-1]])
    best = go.Scatter(x=x[idx], y=peak[idx], name="best so far", mode="lines", showlegend=False,
                      line=dict(color=WARN, width=1, dash="dot"), opacity=0.5, hoverinfo="skip")
    fill = go.Scatter(x=x[idx], y=np.where(dropped, y, peak)[idx], mode="lines",
                      name="drop from best (mode collapse?)", fill="tonexty",
                      fillcolor="rgba(220,38,38,0.15)", line=dict(width=0), hoverinfo="skip")
    marks = go.Scatter(x=x[onset], y=y[onset], mode="markers", name="dropped",
                       marker=dict(color=WARN, symbol="x", size=9), customdata=peak[onset],
                       hovertemplate="dropped to %{y:.4g} from best %{customdata:.4g}")
    return [best, fill, marks]


def overlay_figure(histories: Mapping[str, History], key: str, *, smoothing: float = 0.0,
                   equilibrium: Equilibrium | None = None, log_y: bool = False,
                   title: str | None = None, max_points: int = 2000,
                   height: int | None = 320) -> go.Figure:
    """One key from several runs on one chart (legend = run label) to compare them."""
    fig = go.Figure()
    x0, x1 = math.inf, -math.inf
    for i, (label, history) in enumerate(histories.items()):
        x, y = series(history, key)
        if x.size:
            fig.add_traces(_line_traces(x, y, name=str(label), color=RUN_COLORS[i % len(RUN_COLORS)],
                                        smoothing=smoothing, max_points=max_points))
            x0, x1 = min(x0, float(x.min())), max(x1, float(x.max()))
    if not fig.data:
        _no_data(fig, "No run has this series")
        x0, x1 = 0.0, 100.0
    _add_equilibrium(fig, equilibrium, [key], x0, x1, color=NEUTRAL, log_y=log_y)
    return _layout(fig, title=title or f"{_name(key)} across runs", y_title=_name(key),
                   height=height, log_y=log_y, x_max=x1)


# ---------------------------------------------------------------- 2-D data and D's surface

def _as_xy(a) -> np.ndarray:
    """An (N, 2) float array; None or empty -> (0, 2); anything else is a caller's mistake."""
    p = np.zeros((0, 2)) if a is None else np.asarray(a, dtype=float)
    if p.size == 0:
        return np.zeros((0, 2))
    if p.ndim != 2 or p.shape[1] != 2:
        raise ValueError(f"expected 2-D points of shape (N, 2), got {p.shape}")
    return p


def _points(a, max_points: int) -> np.ndarray:
    """(N, 2) finite float rows, strided down to at most max_points."""
    p = _as_xy(a)
    p = p[np.isfinite(p).all(1)]
    return p[:: -(-len(p) // max_points)] if len(p) > max_points else p


def _ranges(*sets: np.ndarray, pad: float = 0.08) -> tuple[list[float], list[float]]:
    pts = np.concatenate([s for s in sets if s.size] or [np.array([[-1.0, -1.0], [1.0, 1.0]])])
    lo, hi = pts.min(0), pts.max(0)
    margin = np.maximum((hi - lo) * pad, 0.1)
    return [lo[0] - margin[0], hi[0] + margin[0]], [lo[1] - margin[1], hi[1] + margin[1]]


def _surface_traces(surface: Mapping) -> list:
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


def _point_layout(fig: go.Figure, title: str, xr, yr, height: int | None) -> go.Figure:
    fig.update_layout(template=_template(), height=height, font=dict(size=12),
                      title=_title(title),
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
    r, f = _points(real, max_points), _points(fake, max_points)
    fig = go.Figure(_surface_traces(surface) if surface is not None else [])
    for pts, name, color, edge in ((r, "real", REAL, "#14532d"), (f, "fake", FAKE, "#3b0764")):
        fig.add_trace(go.Scatter(x=pts[:, 0], y=pts[:, 1], mode="markers", name=name,
                                 marker=dict(color=color, size=5, opacity=0.7,
                                             line=dict(color=edge, width=0.5)),
                                 hovertemplate=f"{name} (%{{x:.2f}}, %{{y:.2f}})<extra></extra>"))
    sets = [r, f]
    if surface is not None and not (r.size or f.size):
        xs, ys = np.asarray(surface["xs"], float), np.asarray(surface["ys"], float)
        sets = [np.array([[xs.min(), ys.min()], [xs.max(), ys.max()]])]
    xr, yr = _ranges(*sets)
    return _point_layout(fig, title, xr, yr, height)


def points_path_figure(points, *, real=None, labels: Sequence[str] | None = None,
                       title: str = "Latent path", height: int | None = 480) -> go.Figure:
    """An ordered path of generated 2-D points (e.g. an interpolation), start and end marked."""
    p = _as_xy(points)
    r = _points(real, 3000)
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
    xr, yr = _ranges(p[np.isfinite(p).all(1)], r)
    return _point_layout(fig, title, xr, yr, height)


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
    fig.update_layout(template=_template(), height=height, boxmode="group", font=dict(size=12),
                      title=_title(title),
                      margin=dict(l=50, r=20, t=80, b=40), hovermode="closest",
                      legend=dict(orientation="h", x=1, xanchor="right", y=1.12, yanchor="bottom"))
    if value_range is not None:
        pad = 0.08 * (hi - lo)
        fig.update_yaxes(range=[lo - pad, hi + pad], row=1, col=1)
    fig.update_yaxes(autorange="reversed", title_text="sample", row=1, col=2)
    fig.update_annotations(font_size=13)  # the subplot titles
    return fig


# ---------------------------------------------------------------- images

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
    fig.update_layout(template=_template(), margin=dict(l=10, r=10, t=top, b=10),
                      height=height or int(min(800, max(200, grid.shape[0] + top + 20))),
                      title=_title(title) if title else None)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, scaleanchor="x")
    return fig


# ---------------------------------------------------------------- progress

def speed_text(history: History, total_steps: int, *, window: int = 20) -> tuple[float, float | None, float]:
    """(steps per second, seconds left or None when unknown, fraction done in [0, 1]).

    Uses the last record's `Speed/steps_per_s`, else the step rate over the last `window` ticks.
    """
    recs = []  # the last window + 1 records that carry a step, oldest first
    for r in reversed(history):  # from the end: O(window), not O(run length), per tick
        if np.isfinite(_to_float(r.get("step"))):
            recs.insert(0, r)
            if len(recs) > window:
                break
    if not recs:
        return 0.0, None, 0.0
    last, first = recs[-1], recs[0]
    step = _to_float(last["step"])
    sps = _to_float(last.get("Speed/steps_per_s"))
    if not (np.isfinite(sps) and sps > 0):
        dt = _to_float(last.get("time")) - _to_float(first.get("time"))
        ds = step - _to_float(first["step"])
        if not (dt > 0 and ds > 0):  # NaN-safe: a single tick measures from step 0, time 0
            dt, ds = _to_float(last.get("time")), step
        sps = ds / dt if dt > 0 and ds > 0 else 0.0
    fraction = min(max(step / total_steps, 0.0), 1.0) if total_steps > 0 else 0.0
    left = max(total_steps - step, 0.0)
    eta = 0.0 if left == 0 else (left / sps if sps > 0 else None)
    return float(sps), eta, fraction


def format_duration(seconds: float | None) -> str:
    """'2 h 05 min', '3 min 07 s', '42 s'; '—' when unknown."""
    if seconds is None or not np.isfinite(seconds):
        return "—"
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    return f"{s // 60} min {s % 60:02d} s" if s >= 60 else f"{s} s"
