"""A sweep's figures: hyperparameters against final metrics (parallel coordinates, as W&B and TensorBoard's
HParams draw them), and one series of many trials grouped by their params with a band over seeds.

Plain data in (dicts of values, tick records), a new go.Figure out: the page reads the sweep, these only draw.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from .series import History, decimate_indices, is_number, series, smooth
from .style import NEUTRAL, RUN_COLORS, SERIES, curve_layout, no_data, series_info, series_name, template, title_layout

MAX_TICKS = 8  # a numeric axis labels each distinct value when it has at most this many (a grid's values)
LOG_SPAN = 100.0  # positive values spanning at least this factor (learning rates) get a log10 axis
METRIC_SCALE = "Viridis"
NA = "n/a"  # the tick of a metric a trial has no value for


# ---------------------------------------------------------------- parallel coordinates

@dataclass(frozen=True)
class Axis:
    """One parcoords dimension: what it shows and how the values become numbers on it."""

    label: str
    values: list[float]
    tickvals: list[float] | None = None
    ticktext: list[str] | None = None


def _fmt(v: object) -> str:
    if isinstance(v, bool) or not is_number(v):
        return str(v)
    return f"{v:.4g}" if isinstance(v, float) else f"{v}"


def _missing(v: object) -> bool:
    return v is None or (is_number(v) and not math.isfinite(float(v)))  # type: ignore[arg-type]


def axis(label: str, raw: Sequence[object]) -> Axis:
    """Categorical values (text, booleans, mixed) become 0..n-1 ticks labelled with the values (numbers first, then
    words, each sorted); numbers stay numbers, labelled at each distinct value when few, on a log10 scale when they
    span decades (learning rates), so a grid's values read as the person typed them. Missing numbers (a spread
    that is undefined when G covers no mode) sit on an "n/a" tick below the rest, so their trial still shows."""
    if any(_missing(v) for v in raw) and all(_missing(v) or is_number(v) for v in raw):
        return _with_missing(axis(label, [v for v in raw if not _missing(v)]) if not all(map(_missing, raw)) else None,
                             label, [_missing(v) for v in raw])
    if all(is_number(v) for v in raw):
        nums = [float(v) for v in raw]  # type: ignore[arg-type]
        distinct = sorted(set(nums))
        positive = distinct and distinct[0] > 0
        if positive and distinct[-1] / distinct[0] >= LOG_SPAN:
            ticks = distinct if len(distinct) <= MAX_TICKS else _decades(distinct)
            return Axis(f"{label} (log)", [math.log10(v) for v in nums], [math.log10(v) for v in ticks],
                        [_fmt(_orig(raw, v)) for v in ticks])
        if len(distinct) <= MAX_TICKS:
            return Axis(label, nums, distinct, [_fmt(_orig(raw, v)) for v in distinct])
        return Axis(label, nums)
    labels = sorted({_fmt(v) for v in raw}, key=_category_order)
    code = {text: i for i, text in enumerate(labels)}
    return Axis(label, [float(code[_fmt(v)]) for v in raw], [float(i) for i in range(len(labels))], labels)


def _with_missing(present: Axis | None, label: str, missing: list[bool]) -> Axis:
    """`present` (the axis of the values there are) with an "n/a" tick a tenth of its span below its lowest value."""
    if present is None:
        return Axis(label, [0.0] * len(missing), [0.0], [NA])
    lo, hi = min(present.values), max(present.values)
    if present.tickvals is None:  # plotly's own ticks would not know the n/a place: give ticks of our own
        ticks = list(np.linspace(lo, hi, 5)) if hi > lo else [lo]
        present = Axis(present.label, present.values, ticks, [f"{t:.3g}" for t in ticks])
    below = lo - 0.1 * ((hi - lo) or 1.0)
    it = iter(present.values)
    values = [below if m else next(it) for m in missing]
    return Axis(present.label, values, [below, *present.tickvals], [NA, *present.ticktext])  # type: ignore[list-item]


def _category_order(text: str) -> tuple[int, float, str]:
    """Numbers in numeric order before words in alphabetical order (False before True)."""
    try:
        return 0, float(text), text
    except ValueError:
        return 1, 0.0, text


def _orig(raw: Sequence[object], v: float) -> object:
    """The value as the person wrote it (an int stays an int in its tick label)."""
    return next((r for r in raw if is_number(r) and float(r) == v), v)  # type: ignore[arg-type]


def _decades(distinct: list[float]) -> list[float]:
    lo, hi = math.floor(math.log10(distinct[0])), math.ceil(math.log10(distinct[-1]))
    return [10.0 ** e for e in range(lo, hi + 1)]


def metric_key(key: str) -> str:
    """The series table's key of a metric: a sweep reports `modes_covered`, the tick records `Metric/modes_covered`."""
    return key if key in SERIES or "/" in key else f"Metric/{key}"


def metric_label(key: str) -> str:
    return series_name(metric_key(key)) if metric_key(key) in SERIES else key


def parcoords_figure(rows: Sequence[Mapping[str, object]], params: Sequence[str], metrics: Sequence[str], *,
                     color: str | None = None, title: str = "Hyperparameters → final metrics") -> go.Figure:
    """One line per trial across one axis per param, then one per metric, coloured by `color` (a metric).

    A trial without any of the metrics is left out (it has not reported yet), and the subtitle says how many; one
    that lacks some of them shows "n/a" there, and the colour scale's worse end when it lacks `color`.
    """
    keep = [r for r in rows if any(not _missing(r.get(m)) for m in metrics)] if metrics else list(rows)
    left = len(rows) - len(keep)
    subtitle = f"{len(keep)} trial{'s' if len(keep) != 1 else ''}" + (f"; {left} without final metrics yet" if left else "")
    fig = go.Figure()
    fig.update_layout(template=template(), height=420, title=title_layout(title, subtitle),
                      margin=dict(l=70, r=70, t=110, b=30), font=dict(size=12))
    if not keep or not (params or metrics):
        no_data(fig, "No finished trial with metrics yet" if not keep else "Nothing to compare: no params or metrics")
        fig.update_layout(xaxis=dict(visible=False), yaxis=dict(visible=False))
        return fig
    axes = [axis(p, [r.get(p) for r in keep]) for p in params]
    axes += [axis(metric_label(m), [r.get(m) for r in keep]) for m in metrics]
    dims = [dict(label=a.label, values=a.values,
                 **({"tickvals": a.tickvals, "ticktext": a.ticktext} if a.tickvals is not None else {}))
            for a in axes]
    line: dict = dict(color=NEUTRAL)
    present = [float(r[color]) for r in keep if not _missing(r.get(color))] if color in metrics else []  # type: ignore[arg-type]
    if present:
        reverse = series_info(metric_key(color)).lower_is_better  # the better trials are always the bright end
        worst = max(present) if reverse else min(present)
        values = [worst if _missing(r.get(color)) else float(r[color]) for r in keep]  # type: ignore[arg-type]
        line = dict(color=values, colorscale=METRIC_SCALE, reversescale=reverse, showscale=True,
                    **dict(zip(("cmin", "cmax"), _colour_range(values))),
                    colorbar=dict(title=dict(text=metric_label(color), side="right"), thickness=12))
    fig.add_trace(go.Parcoords(dimensions=dims, line=line, labelangle=0, labelside="top",
                               labelfont=dict(size=12), tickfont=dict(size=11)))
    return fig


def _colour_range(values: Sequence[float]) -> tuple[float, float]:
    """The values' range; one value alone gets a span on its side of zero (plotly would centre it, so a rate
    of 0 in every trial showed a scale from -0.5)."""
    lo, hi = min(values), max(values)
    if hi > lo:
        return lo, hi
    pad = abs(lo) * 0.1 or 1.0
    return (lo, lo + pad) if lo >= 0 else (lo - pad, lo)


# ---------------------------------------------------------------- curves with seed bands

@dataclass(frozen=True)
class Band:
    """One series over seeds at each step: the mean, the lowest and the highest seed, and how many seeds had it."""

    steps: np.ndarray
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    count: np.ndarray


def seed_band(histories: Sequence[History], key: str, *, smoothing: float = 0.0) -> Band:
    """Each seed's (smoothed) series, then per step the mean and min-max over the seeds that logged that step."""
    per_seed = []
    for h in histories:
        x, y = series(h, key)
        if x.size:
            per_seed.append((x, smooth(y, smoothing) if smoothing > 0 else y))
    if not per_seed:
        empty = np.array([], dtype=float)
        return Band(empty, empty, empty, empty, empty)
    steps = np.unique(np.concatenate([x for x, _ in per_seed]))
    grid = np.full((len(per_seed), steps.size), np.nan)
    for i, (x, y) in enumerate(per_seed):
        grid[i, np.searchsorted(steps, x)] = y
    count = np.isfinite(grid).sum(0)
    with np.errstate(all="ignore"):
        return Band(steps, np.nanmean(grid, 0), np.nanmin(grid, 0), np.nanmax(grid, 0), count.astype(float))


def band_traces(band: Band, *, name: str, color: str, seeds: int, max_points: int = 600) -> list[go.Scatter]:
    """The min-max band (two edges, the upper filled down to the lower) and the mean line; one legend entry."""
    idx = decimate_indices(band.mean, max_points)
    x = band.steps[idx]
    label = f"{name} ({seeds} seed{'s' if seeds != 1 else ''})"
    mean = go.Scatter(x=x, y=band.mean[idx], name=label, legendgroup=name, mode="lines+markers" if idx.size <= 20 else "lines",
                      line=dict(color=color, width=2.2), marker=dict(size=5, color=color),
                      customdata=np.stack([band.low[idx], band.high[idx]], axis=-1),
                      hovertemplate="mean %{y:.4g} (min %{customdata[0]:.4g}, max %{customdata[1]:.4g})")
    if seeds < 2:
        return [mean]
    low = go.Scatter(x=x, y=band.low[idx], name=f"{name} min", legendgroup=name, showlegend=False, mode="lines",
                     line=dict(color=color, width=0), hoverinfo="skip")
    high = go.Scatter(x=x, y=band.high[idx], name=f"{name} max", legendgroup=name, showlegend=False, mode="lines",
                      line=dict(color=color, width=0), fill="tonexty", fillcolor=_faint(color), hoverinfo="skip")
    return [low, high, mean]


def _faint(hex_color: str, alpha: float = 0.18) -> str:
    r, g, b = (int(hex_color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def curves_figure(groups: Mapping[str, Sequence[History]], key: str, *, smoothing: float = 0.0,
                  log_y: bool = False) -> go.Figure:
    """One series of the chosen trials: a mean line and a min-max band over seeds per group of params."""
    fig = go.Figure()
    x_max = 0.0
    drawn = 0
    for i, (name, histories) in enumerate(groups.items()):
        band = seed_band(histories, key, smoothing=smoothing)
        if not band.steps.size:
            continue
        seeds = sum(1 for h in histories if series(h, key)[0].size)
        for trace in band_traces(band, name=name, color=RUN_COLORS[i % len(RUN_COLORS)], seeds=seeds):
            fig.add_trace(trace)
        x_max = max(x_max, float(band.steps[-1]))
        drawn += 1
    if not drawn:
        no_data(fig, f"No {series_name(key)} logged by the chosen trials yet")
    subtitle = "mean over seeds, band from the lowest to the highest seed"
    if key.startswith("Loss/"):
        subtitle += "; D loss is the mean of its real and fake terms"
    fig = curve_layout(fig, title=f"{series_name(key)} by params", subtitle=subtitle, y_title=series_name(key),
                       log_y=log_y, x_max=x_max, height=400 + 22 * (drawn // 3))
    # the groups' names are long (every varied param): the legend goes under the plot, where it may wrap
    # shown for one group too: its line says which params it is
    fig.update_layout(showlegend=drawn > 0, legend=dict(orientation="h", x=0, xanchor="left", y=-0.18, yanchor="top"),
                      margin=dict(b=60 + 22 * (1 + drawn // 3)))
    return fig
