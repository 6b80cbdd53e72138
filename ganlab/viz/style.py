"""The look every figure shares: role colours, the one series table, the template and the layout helpers.

One colour per role on every chart (real vs fake as in GAN Lab, D vs G), and one table of series
facts (legend name, colour, better direction, target, total) that the chart builders, the chart
registry and the overlay's series picker all read, so a series is described in one place.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Optional

import plotly.graph_objects as go
import plotly.io as pio

REAL = "#16a34a"  # green
FAKE = "#9333ea"  # purple
D_COLOR = "#2563eb"  # blue
G_COLOR = "#ea580c"  # orange
NEUTRAL = "#6b7280"  # grey: reference lines and totals
WARN = "#dc2626"  # red: regressions such as mode collapse
CHANGE = "#b45309"  # amber: a live change of the recipe (lr, k), a vertical line on every training curve
REACHED = "#0f766e"  # teal: the step a quality threshold was first met, a vertical line on the metric charts
RUN_COLORS = ("#2563eb", "#ea580c", "#16a34a", "#9333ea", "#0891b2", "#db2777",
              "#ca8a04", "#4b5563", "#65a30d", "#7c3aed")  # overlay: one per run
ARROW = "#be185d"  # G's gradient arrows on the fake points (dark pink: reads over both surface colours)
MANIFOLD = FAKE  # G's manifold: the latent grid's cells pushed through G, shaded by density
# D's decision surface: fake-looking regions purple, real-looking green, undecided white.
SURFACE_SCALE = [[0.0, "#d8b4fe"], [0.5, "#ffffff"], [1.0, "#86efac"]]


@dataclass(frozen=True)
class Series:
    """What a record key means on a chart."""

    name: str  # legend and axis name
    color: str
    lower_is_better: bool = False  # metrics: a fall is good news, not a drop to flag
    target: Optional[tuple[float, str]] = None  # a right value rather than a direction: (value, label)
    total: Optional[str] = None  # record key of the count this one is out of: a dashed line; a drop warns
    floor: Optional[str] = None  # record key of the same metric between two real sets: what a perfect G scores


SERIES: Mapping[str, Series] = {
    "Loss/D": Series("D loss", D_COLOR),
    "Loss/G": Series("G loss", G_COLOR),
    "D/real": Series("D(x) on real", REAL),
    "D/fake": Series("D(G(z)) on fake", FAKE),
    "Grad/D": Series("‖∇D‖", D_COLOR),
    "Grad/G": Series("‖∇G‖", G_COLOR),
    "W": Series("W estimate", D_COLOR),
    "Penalty/GP": Series("gradient penalty", "#0891b2"),
    "Penalty/R1": Series("R1 penalty", "#db2777"),
    "Speed/steps_per_s": Series("steps/s", NEUTRAL),
    "LR/D": Series("lr D", D_COLOR),  # the learning rates in use (the schedule's factor included)
    "LR/G": Series("lr G", G_COLOR),
    "k": Series("k", "#0f766e"),  # D steps per G step (the recipe chart's right axis says so)
    # GAN Lab's grid metric: real and fake 2-D points (the game's plane) in 30x30 histograms, natural log
    "Div/KL": Series("KL(real ‖ fake), 30×30 histogram", FAKE, lower_is_better=True),
    "Div/JS": Series("JS(real, fake), 30×30 histogram", "#0891b2", lower_is_better=True),
    "Metric/modes_covered": Series("modes covered", REAL, total="Metric/modes_total"),
    "Metric/modes_total": Series("modes in the data", NEUTRAL),
    "Metric/class_coverage": Series("class coverage", REAL, total="Metric/classes_total"),
    "Metric/classes_total": Series("classes in the data", NEUTRAL),
    "Metric/high_quality_rate": Series("high-quality rate", REAL),
    "Metric/spread": Series("mode width / data's", REAL, target=(1.0, "data's width = 1")),
    "Metric/fd": Series("feature distance", FAKE, lower_is_better=True, floor="Metric/fd_real_split"),
    # k-NN fidelity and diversity in the classifier's features (Kynkäänniemi et al. 2019, Naeem et al. 2020)
    "Metric/precision": Series("precision (fidelity)", REAL),
    "Metric/recall": Series("recall (diversity)", REAL),
    "Metric/density": Series("density", REAL, target=(1.0, "real data's density = 1")),
    "Metric/coverage": Series("coverage", REAL),
    # any point data: distribution distances to held-out points, each beside its real-vs-real floor
    "Metric/sliced_wasserstein": Series("sliced Wasserstein distance", FAKE, lower_is_better=True,
                                        floor="Metric/sliced_wasserstein_floor"),
    "Metric/energy_distance": Series("energy distance", FAKE, lower_is_better=True, floor="Metric/energy_distance_floor"),
    "Metric/fd_real_split": Series("feature distance, real vs real", NEUTRAL),
    "Metric/sliced_wasserstein_floor": Series("sliced Wasserstein, real vs real", NEUTRAL),
    "Metric/energy_distance_floor": Series("energy distance, real vs real", NEUTRAL),
    "Metric/w2_distance": Series("W2 to the data's Gaussian", FAKE, lower_is_better=True),
    "Metric/pattern_match_rate": Series("1010 match rate", REAL),
    "Metric/pattern_exact_rate": Series("exact 1010 rate", REAL),
}


def series_info(key: str) -> Series:
    """The table's entry; an unknown key gets its last path part as its name, in grey."""
    return SERIES.get(key) or Series(key.split("/")[-1].replace("_", " "), NEUTRAL)


def series_name(key: str) -> str:
    return series_info(key).name


def series_color(key: str) -> str:
    return series_info(key).color


# plotly_white's layout without its per-trace-type defaults (every figure here sets its traces' colours):
# assigning the full template validates and deep-copies its nested per-trace defaults, which cProfile
# showed as most of a chart's build time on the dashboard's server, while the trainer waits for the
# GIL (bench.ui_overhead). Built on first use, not at import.
@functools.cache
def template() -> go.layout.Template:
    return go.layout.Template(layout=pio.templates["plotly_white"].layout)


def title_layout(text: str, subtitle: str = "") -> dict:
    """Bold title at the top left, with an optional grey subtitle line under it."""
    return dict(text=f"<b>{text}</b>", x=0.01, xanchor="left", y=0.97, yanchor="top",
                subtitle=dict(text=subtitle, font=dict(color=NEUTRAL, size=12)))


def curve_layout(fig: go.Figure, *, title: str, subtitle: str = "", x_title: str = "step",
                 y_title: str = "", height: int | None = 320, log_y: bool = False,
                 x_max: float = 0.0) -> go.Figure:
    """The layout of a value-vs-step chart: legend above at the right, unified hover, kept zoom.

    Returns a NEW figure (use the return value): fig's traces and the layout it has so far (shapes,
    annotations), under the shared layout. Plotly's update_layout walks its property tree on every
    call, ~25 ms a chart, which the Monitor page pays every refresh while the trainer waits for the
    GIL (bench.speed's overhead workload). The shared part is validated by plotly once per set of
    arguments (cached), and the figure is then assembled from plain dicts without validating again;
    tests/test_plots.py checks that every chart still passes plotly's validation.
    """
    so_far = {k: v for k, v in fig.layout.to_plotly_json().items() if k != "template"}  # ours replaces it
    layout = _merge(so_far, _curve_layout_json(title, subtitle, x_title, y_title, height, log_y, x_max >= 1e4))
    return go.Figure(data=fig.data, layout=layout, _validate=False)


@functools.lru_cache(maxsize=256)
def _curve_layout_json(title: str, subtitle: str, x_title: str, y_title: str, height: int | None,
                       log_y: bool, long_x: bool) -> dict:
    fig = go.Figure()
    fig.update_layout(
        template=template(), height=height, font=dict(size=12),
        title=title_layout(title, subtitle),
        margin=dict(l=60, r=20, t=78 if subtitle else 56, b=45),
        legend=dict(orientation="h", x=1, xanchor="right", y=1.0, yanchor="bottom"),
        hovermode="x unified", uirevision=title,  # keep zoom / hidden traces across live reruns
        showlegend=True,  # even for one series: the legend names it
    )
    fig.update_xaxes(title_text=x_title, tickformat="~s" if long_x else ",~g", hoverformat=",.0f",
                     zeroline=False)  # 25k, 1.2M for long runs; 2,000 for short ones
    fig.update_yaxes(title_text=y_title, type="log" if log_y else "linear", hoverformat=".4g")
    if log_y:  # labels at 1, 2 and 5 of each decade: plotly's default labels every digit, which overlap
        fig.update_yaxes(dtick="D2", tickformat="~g")  # 0.1, 2, 5, 10 (the default printed 0.1000)
    return fig.layout.to_plotly_json()


def _merge(base: Mapping, over: Mapping) -> dict:
    """base with over's keys on top, nested dicts merged into fresh dicts (the cached layout is never changed)."""
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), Mapping) else v
    return out


def no_data(fig: go.Figure, text: str = "No data yet: waiting for the first tick") -> None:
    fig.add_annotation(text=text, x=0.5, y=0.85, xref="paper", yref="paper",
                       showarrow=False, font=dict(color=NEUTRAL, size=13))
