"""Training curves vs step: losses with their equilibrium, D's verdicts, gradients, W, penalties,
quality metrics, and one series across runs. History in, a new go.Figure out.

Names, colours, better directions, targets and totals come from the series table
(`style.SERIES`), never from the builder, so each series looks the same on every chart.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from .series import LR_KEYS, History, RecipeChange, decimate_indices, series, smooth, step_axis
from .style import CHANGE, NEUTRAL, REACHED, RUN_COLORS, WARN, curve_layout, no_data, series_color, series_info, series_name

Equilibrium = Mapping[str, tuple[float, str]]  # key -> (value, label), e.g. {"Loss/D": (0.693, "ln 2")}
SPARSE = 20  # a series drawn with this few points gets markers: one tick alone draws no line
MAX_CHANGE_LABELS = 12  # the newest live changes are labelled; older ones keep their line


def _mode(n: int) -> str:
    return "lines+markers" if n <= SPARSE else "lines"


def _line_traces(x: np.ndarray, y: np.ndarray, *, name: str, color: str, smoothing: float,
                 max_points: int) -> list[go.Scatter]:
    """Raw faint + smoothed bold (one legend entry), or a single line when smoothing is 0."""
    idx = decimate_indices(y, max_points)
    mode, marker = _mode(idx.size), dict(size=6, color=color)
    if smoothing <= 0:
        return [go.Scatter(x=x[idx], y=y[idx], name=name, mode=mode, legendgroup=name,
                           line=dict(color=color, width=1.6), marker=marker,
                           hovertemplate="%{y:.4g}")]
    raw = go.Scatter(x=x[idx], y=y[idx], name=name, mode="lines", legendgroup=name,
                     showlegend=False, opacity=0.25, line=dict(color=color, width=1),
                     hoverinfo="skip")
    sm = go.Scatter(x=x[idx], y=smooth(y, smoothing)[idx], name=name, mode=mode,
                    legendgroup=name, line=dict(color=color, width=2.2), marker=marker, customdata=y[idx],
                    hovertemplate="%{y:.4g} (raw %{customdata:.4g})")
    return [raw, sm]


def _value_text(key: str, v: float) -> str:
    return f"{int(v)}" if key == "k" else f"{v:.3g}"


def change_text(change: RecipeChange, *, short: bool = False) -> str:
    """'lr D 0.001 → 0.0005 · k 1 → 2' (short: the names only, for a label on a narrow chart)."""
    parts = [series_name(key).split(" (")[0] + ("" if short else f" {_value_text(key, a)} → {_value_text(key, b)}")
             for key, a, b in change.changes]
    return " · ".join(parts)


def _add_changes(fig: go.Figure, changes: Sequence[RecipeChange]) -> None:
    """A dotted vertical line at each live change of lr or k, labelled at the top (hover: before → after)."""
    if not changes:
        return
    shapes = [dict(type="line", xref="x", yref="paper", x0=c.step, x1=c.step, y0=0, y1=1, layer="below",
                   line=dict(color=CHANGE, width=1.3, dash="dot")) for c in changes]
    notes = [dict(x=c.step, xref="x", y=1, yref="paper", xanchor="left", yanchor="top", showarrow=False,
                  text=change_text(c, short=True), font=dict(color=CHANGE, size=10), bgcolor="rgba(255,255,255,0.8)",
                  hovertext=f"step {c.step:,.0f}: {change_text(c)}")
             for c in changes[-MAX_CHANGE_LABELS:]]
    fig.update_layout(shapes=list(fig.layout.shapes) + shapes, annotations=list(fig.layout.annotations) + notes)


@dataclass(frozen=True)
class Reached:
    """A quality threshold's first eval that met it (ganlab.config.thresholds.reached_at), as a chart marks it."""

    step: int
    name: str  # "hq95"
    label: str  # "every mode, 95% high quality"
    seconds: float = math.nan  # the run's training seconds at that step


def _add_reached(fig: go.Figure, reached: Sequence[Reached]) -> None:
    """A dashed teal line at each step where thresholds were first met, labelled near the bottom with their names
    (thresholds met at the same eval share one line). Labels step up the chart so near steps do not overlap, and
    sit on the inner side of their line, so one at either end of the axis stays inside the plot; the top is the
    total's and the floor's labels."""
    by_step: dict[int, list[Reached]] = {}
    for r in reached:
        by_step.setdefault(int(r.step), []).append(r)
    xs = [float(x) for trace in fig.data for x in (trace.x if trace.x is not None else ())]
    middle = (min(xs) + max(xs)) / 2 if xs else 0.0
    shapes, notes = [], []
    for i, (step, rs) in enumerate(sorted(by_step.items())):
        shapes.append(dict(type="line", xref="x", yref="paper", x0=step, x1=step, y0=0, y1=1, layer="below",
                           line=dict(color=REACHED, width=1.4, dash="dash")))
        secs = [f" after {r.seconds:,.0f} s" if math.isfinite(r.seconds) else "" for r in rs]
        notes.append(dict(x=step, xref="x", y=0.03 + 0.11 * (i % 3), yref="paper", yanchor="bottom",
                          xanchor="left" if step < middle else "right", xshift=3 if step < middle else -3,
                          showarrow=False, text="✓ " + " · ".join(r.name for r in rs), font=dict(color=REACHED, size=10),
                          bgcolor="rgba(255,255,255,0.85)",
                          hovertext="<br>".join(f"{r.label}: first met at step {step:,}{s}" for r, s in zip(rs, secs))))
    fig.update_layout(shapes=list(fig.layout.shapes) + shapes, annotations=list(fig.layout.annotations) + notes)


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
            by_value.setdefault(float(value), []).append((key, label or f"{series_name(key)} = {value:g}"))
    for value, items in by_value.items():
        text = " · ".join(dict.fromkeys(label for _, label in items))
        c = color or (series_color(items[0][0]) if len(items) == 1 else NEUTRAL)
        names = ", ".join(series_name(k) for k, _ in items)
        _add_hline(fig, value, text, c, x0, x1, name=f"equilibrium: {names}", log_y=log_y)


def series_figure(history: History, keys: Sequence[str], *, title: str, y_title: str = "",
                  subtitle: str = "", equilibrium: Equilibrium | None = None,
                  smoothing: float = 0.0, log_y: bool = False, y_range=None,
                  max_points: int = 2000, height: int | None = 320,
                  changes: Sequence[RecipeChange] = ()) -> go.Figure:
    """Any record keys vs step, in their role colours, with dashed equilibrium lines and the live changes."""
    steps = step_axis(history)
    fig = go.Figure()
    x0, x1 = math.inf, -math.inf
    for key in keys:
        x, y = series(history, key, steps)
        if x.size:
            fig.add_traces(_line_traces(x, y, name=series_name(key), color=series_color(key),
                                        smoothing=smoothing, max_points=max_points))
            x0, x1 = min(x0, float(x.min())), max(x1, float(x.max()))
    if not fig.data:
        no_data(fig)
        x0, x1 = 0.0, 100.0
    _add_equilibrium(fig, equilibrium, keys, x0, x1, log_y=log_y)
    _add_changes(fig, changes)
    fig = curve_layout(fig, title=title, subtitle=subtitle, y_title=y_title, height=height, log_y=log_y,
                 x_max=x1)
    if y_range is not None:
        fig.update_yaxes(range=list(y_range))
    return fig


def loss_figure(history: History, *, equilibrium: Equilibrium, convention: str = "",
                smoothing: float = 0.0, log_y: bool = False, max_points: int = 2000,
                height: int | None = 320, changes: Sequence[RecipeChange] = ()) -> go.Figure:
    """D and G losses vs step with the loss's equilibrium lines; the convention as subtitle."""
    return series_figure(history, ["Loss/D", "Loss/G"], title="Losses", y_title="loss",
                         subtitle=convention, equilibrium=equilibrium, smoothing=smoothing,
                         log_y=log_y, max_points=max_points, height=height, changes=changes)


def d_output_figure(history: History, *, equilibrium: Equilibrium, smoothing: float = 0.0,
                    max_points: int = 2000, height: int | None = 320,
                    changes: Sequence[RecipeChange] = (), probability: bool | None = None) -> go.Figure:
    """D(x) on real and D(G(z)) on fake vs step; probabilities get a fixed [0, 1] axis.

    probability: whether the run's loss reads D's output as a probability (ganlab.game.losses.Loss.to_prob). An
    LSGAN's scores regress to 1 and 0 and so mostly lie in [0, 1] too, but they are not probabilities; only where
    no loss is known (None) do the values decide.
    """
    if probability is None:
        values = np.concatenate([series(history, k)[1] for k in ("D/real", "D/fake")])
        probability = values.size == 0 or bool(((values >= 0) & (values <= 1)).all())
    subtitle = ("D winning: D(x) → 1, D(G(z)) → 0 · both near 0.5: D can't tell them apart"
                if probability else "Critic scores: the gap between them is what the critic has learned")
    return series_figure(history, ["D/real", "D/fake"], title="D's verdicts",
                         y_title="D output (probability)" if probability else "critic score",
                         subtitle=subtitle, equilibrium=equilibrium, smoothing=smoothing,
                         y_range=(-0.03, 1.03) if probability else None, max_points=max_points,
                         height=height, changes=changes)


def grad_norm_figure(history: History, *, smoothing: float = 0.0, log_y: bool = True,
                     max_points: int = 2000, height: int | None = 320,
                     changes: Sequence[RecipeChange] = ()) -> go.Figure:
    """L2 norms of D's and G's gradients (log axis by default: they span decades)."""
    return series_figure(history, ["Grad/D", "Grad/G"], title="Gradient norms",
                         y_title="L2 norm", subtitle="Exploding or vanishing norms warn before the losses do",
                         smoothing=smoothing, log_y=log_y, max_points=max_points, height=height, changes=changes)


def wasserstein_figure(history: History, *, smoothing: float = 0.0, max_points: int = 2000,
                       height: int | None = 320, changes: Sequence[RecipeChange] = ()) -> go.Figure:
    """The critic's Wasserstein estimate E[D(x)] - E[D(G(z))] (critic losses only)."""
    return series_figure(history, ["W"], title="Wasserstein estimate", y_title="E[D(x)] − E[D(G(z))]",
                         subtitle="Falls toward 0 as G's distribution approaches the data's",
                         smoothing=smoothing, max_points=max_points, height=height, changes=changes)


def penalty_figure(history: History, *, smoothing: float = 0.0, log_y: bool = False,
                   max_points: int = 2000, height: int | None = 320,
                   changes: Sequence[RecipeChange] = ()) -> go.Figure:
    """Gradient penalty (WGAN-GP) and R1 penalty terms vs step."""
    return series_figure(history, ["Penalty/GP", "Penalty/R1"], title="Penalties",
                         y_title="penalty", smoothing=smoothing, log_y=log_y,
                         max_points=max_points, height=height, changes=changes)


def _steps_kept(y: np.ndarray, max_points: int) -> np.ndarray:
    """A piecewise-constant series drawn exactly: the points either side of each change, plus both ends."""
    if y.size <= 2:
        return np.arange(y.size)
    moved = y[1:] != y[:-1]
    idx = np.flatnonzero(np.r_[True, moved] | np.r_[moved, True])
    return idx if idx.size <= max_points else decimate_indices(y, max_points)  # a schedule: a curve


def recipe_figure(history: History, *, changes: Sequence[RecipeChange] = (), max_points: int = 2000,
                  height: int | None = 320) -> go.Figure:
    """The learning rates (left) and k (right) the trainer used, as steps; a diamond at each live change.

    Read from the records, so it is the run's truth after a resume or a live edit, not config.json's
    start values. Smoothing never applies: these are settings, not noisy measurements. The lr axis
    turns logarithmic once the rates span more than a factor of 4 (a schedule, a 10x change).
    """
    steps = step_axis(history)
    fig = go.Figure()
    x1, ks = -math.inf, np.zeros(0)
    # lr G first and wider, lr D over it: equal rates (the usual start) must still show both lines
    for key, width in (("LR/G", 4.0), ("LR/D", 2.0), ("k", 2.0)):
        x, y = series(history, key, steps)
        if not x.size:
            continue
        idx = _steps_kept(y, max_points)
        color = series_color(key)
        fig.add_trace(go.Scatter(x=x[idx], y=y[idx], name=series_name(key), mode=_mode(x.size),
                                 yaxis="y2" if key == "k" else "y", marker=dict(size=6, color=color),
                                 line=dict(color=color, width=width, shape="hv", dash="dot" if key == "k" else None),
                                 opacity=0.8 if key == "LR/G" else 1.0,
                                 hovertemplate="%{y:.3g}" if key != "k" else "%{y:.0f}"))
        x1 = max(x1, float(x.max()))
        ks = y if key == "k" else ks
    if not fig.data:
        no_data(fig)
        x1 = 100.0
    marks = [(c.step, after, key, c) for c in changes for key, _before, after in c.changes]
    for axis, keys in (("y", LR_KEYS), ("y2", ("k",))):  # on the series that changed, at its new value
        pts = [m for m in marks if m[2] in keys]
        if pts:
            fig.add_trace(go.Scatter(x=[m[0] for m in pts], y=[m[1] for m in pts], yaxis=axis, mode="markers",
                                     name="live change", showlegend=False,
                                     marker=dict(color=CHANGE, symbol="diamond", size=12, line=dict(color="white", width=1)),
                                     hovertext=[f"step {m[0]:,.0f}: {change_text(m[3])}" for m in pts], hoverinfo="text"))
    _add_changes(fig, changes)
    fig = curve_layout(fig, title="Learning rates and k", y_title="learning rate", height=height, x_max=x1,
                 subtitle="As the trainer used them · ◆ a change made while it trained")
    lrs = np.concatenate([series(history, k, steps)[1] for k in LR_KEYS])
    lrs = lrs[lrs > 0]
    if lrs.size and lrs.max() > 4 * lrs.min():
        fig.update_yaxes(type="log", hoverformat=".3g")
    else:  # one or two close rates: a plain axis from 0, not a log axis of one value
        fig.update_yaxes(range=[0, 1.25 * float(lrs.max()) if lrs.size else 1.0], tickformat=".2~g", hoverformat=".3g")
    k_top = float(ks.max()) + 1 if ks.size else 2.0
    fig.update_layout(yaxis2=dict(title=dict(text="k: D steps per G step", font=dict(color=series_color("k"))),
                                  overlaying="y", side="right", range=[0, k_top], dtick=1, showgrid=False,
                                  zeroline=False, tickfont=dict(color=series_color("k"))),
                      margin=dict(r=60))
    return fig


def metric_figure(history: History, key: str, *, total: float | None = None, floor: float | None = None,
                  title: str | None = None, higher_is_better: bool | None = None,
                  drop_tolerance: float = 0.05, max_points: int = 2000,
                  height: int | None = 300, reached: Sequence[Reached] = ()) -> go.Figure:
    """A quality metric over time; the total, and the real-vs-real floor, as dashed lines; drops from the best
    shaded red. The floor is what two real samples of this size score: a G at it cannot be told from the data.
    `reached`: a marked line at the step each quality threshold was first met.

    A drop counts when the value falls below its best so far by more than drop_tolerance
    times the scale (the total, else the best value): on mode coverage it flags mode collapse.
    """
    x, y = series(history, key)
    info = series_info(key)
    name, target = info.name, info.target
    better_up = not info.lower_is_better if higher_is_better is None else higher_is_better
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
                                 line=dict(color=info.color, width=2), marker=dict(size=5),
                                 hovertemplate="%{y:.4g}"))
    else:
        no_data(fig, "No measurements yet")
    x0, x1 = (float(x.min()), float(x.max())) if x.size else (0.0, 100.0)
    if total is not None:
        _add_hline(fig, total, f"total = {total:g}", NEUTRAL, x0, x1, name="total")
    if target is not None:
        _add_hline(fig, target[0], target[1], NEUTRAL, x0, x1, name="target")
    if floor is not None and math.isfinite(floor):
        _add_hline(fig, floor, f"real vs real = {floor:.3g}", NEUTRAL, x0, x1, name="real-vs-real floor")
    if x.size:
        _add_reached(fig, reached)
    subtitle = "closer to the line is better" if target else "" if better_up else "lower is better"
    fig = curve_layout(fig, title=title or name[:1].upper() + name[1:], subtitle=subtitle, y_title=name,
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
        no_data(fig, "No run has this series")
        x0, x1 = 0.0, 100.0
    _add_equilibrium(fig, equilibrium, [key], x0, x1, color=NEUTRAL, log_y=log_y)
    name = series_name(key)
    return curve_layout(fig, title=title or f"{name} across runs", y_title=name,
                        height=height, log_y=log_y, x_max=x1)
