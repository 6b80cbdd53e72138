"""Monitor's charts, one registry entry each: the series it draws, how to build it, when it shows.

The Monitor page draws whatever `CHARTS` holds, section by section (the game's curves, then the
quality metrics with the mode-collapse warning above them), in registry order two to a row, so a
new chart is one `CHARTS.add(...)` and can never be dropped by a fixed column list. Every series the engine
writes into a tick record either goes to a chart here or is in `NOT_CHARTED` with the reason
(tests/test_charts.py trains a run and checks both), so a new series cannot go unseen by accident.
Names, colours and totals of the series are `style.SERIES`'s, not repeated here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Optional

import plotly.graph_objects as go

from ..config.thresholds import THRESHOLDS, reached_at
from ..registry import Entry, Registry
from . import curves
from .curves import Equilibrium
from .series import History, RecipeChange
from .style import series_color, series_info, series_name

SECTIONS = ("training", "quality")  # the page draws the sections in this order, each two charts to a row


@dataclass(frozen=True)
class ChartInput:
    """What a chart's builder may read: the history, the page's options and the run's loss facts."""

    history: History
    smoothing: float = 0.0
    log_y: bool = False  # the page's "log-scale losses" toggle
    max_points: int = 2000
    equilibrium: Equilibrium = field(default_factory=dict)  # the loss's equilibrium lines
    convention: str = ""  # how the losses are averaged (the loss chart's subtitle)
    d_probability: Optional[bool] = None  # the loss reads D's output as a probability (None: not known)
    totals: Mapping[str, Optional[float]] = field(default_factory=dict)  # total key -> its latest value
    changes: tuple[RecipeChange, ...] = ()  # live changes of lr / k (series.recipe_changes): a line on each curve
    reached: tuple[curves.Reached, ...] = ()  # quality thresholds first met (reached_marks): a line on each metric chart


Counts = Mapping[str, int]  # record key -> how many records carry a number for it


def always(counts: Counts, keys: tuple[str, ...]) -> bool:
    """From the first rerun on: before the first tick the empty chart says it is waiting for it."""
    return True


def any_key(counts: Counts, keys: tuple[str, ...]) -> bool:
    """Once one of its series has a value: no empty W chart for a BCE run, no metrics without eval_every."""
    return any(counts.get(k, 0) for k in keys)


@dataclass(frozen=True)
class Chart:
    keys: tuple[str, ...]  # the record keys it draws as lines
    build: Callable[[ChartInput], go.Figure]
    section: str = "training"
    shows: Callable[[Counts, tuple[str, ...]], bool] = any_key
    # False: the figure changes only when a record carries one of its keys (metrics: eval ticks),
    # so the page rebuilds it only then; the builder must then ignore smoothing and log_y
    every_tick: bool = True

    def __post_init__(self):
        if self.section not in SECTIONS:  # a chart in no section would have nowhere to go on the page
            raise ValueError(f"chart section {self.section!r} is not one of {SECTIONS}")
        if not self.keys:
            raise ValueError("a chart draws at least one record key")

    @property
    def totals(self) -> tuple[str, ...]:
        """The total and floor keys of its series (drawn as dashed lines), from the series table."""
        return tuple(t for k in self.keys for t in (series_info(k).total, series_info(k).floor) if t)

    @property
    def draws(self) -> tuple[str, ...]:
        """Every record key that shows on it: its lines and their totals."""
        return self.keys + self.totals

    def visible(self, counts: Counts) -> bool:
        return self.shows(counts, self.keys)


JS_MAX = (math.log(2), "ln 2: JS's maximum, no overlap at all")


def divergence_figure(c: ChartInput) -> go.Figure:
    """KL(real ‖ fake) on the left axis, JS(real, fake) on the right with its ceiling ln 2: both fall to 0 as G
    matches the data. Two axes, because KL runs to ~10 nats while G misses a mode and JS never passes 0.69."""
    fig = curves.series_figure(c.history, ["Div/KL", "Div/JS"], title="Divergence of real and fake",
                               y_title="KL (nats)", subtitle="30×30 histograms of the points' plane · lower is better",
                               equilibrium={"Div/JS": JS_MAX}, smoothing=c.smoothing, max_points=c.max_points,
                               changes=c.changes, height=340)
    js = series_name("Div/JS")
    for trace in fig.data:
        if trace.name == js or (trace.name or "").startswith(f"equilibrium: {js}"):
            trace.yaxis = "y2"
    for note in fig.layout.annotations:
        if (note.text or "").startswith("ln 2"):
            note.yref = "y2"
    # the series' names are long: the legend goes under the chart, clear of the subtitle and the axis name
    return fig.update_layout(
        yaxis2=dict(title=dict(text="JS (nats)", font=dict(color=series_color("Div/JS"))), overlaying="y", side="right",
                    range=[0, JS_MAX[0] * 1.08], tick0=0, dtick=0.2, tickformat=".1f", showgrid=False, zeroline=False,
                    tickfont=dict(color=series_color("Div/JS"))),
        yaxis=dict(rangemode="tozero"), legend=dict(x=0, xanchor="left", y=-0.3, yanchor="top"), margin=dict(b=95, r=60))


CHARTS: Registry[Chart] = Registry("chart")  # the name is the figure cache's name and the key `chart_<name>`

CHARTS.add("loss", Chart(("Loss/D", "Loss/G"), lambda c: curves.loss_figure(
    c.history, equilibrium=c.equilibrium, convention=c.convention, smoothing=c.smoothing, log_y=c.log_y,
    max_points=c.max_points, changes=c.changes), shows=always),
    "D's and G's losses against the loss's equilibrium: the first thing to read")
CHARTS.add("dout", Chart(("D/real", "D/fake"), lambda c: curves.d_output_figure(
    c.history, equilibrium=c.equilibrium, smoothing=c.smoothing, max_points=c.max_points, changes=c.changes,
    probability=c.d_probability),
    shows=always),
    "D's mean verdict on real and on fake: who is winning the game")
CHARTS.add("div", Chart(("Div/KL", "Div/JS"), lambda c: divergence_figure(c)),
           "KL and JS between 30×30 histograms of real and fake points (GAN Lab's grid metric), for point runs")
CHARTS.add("grad", Chart(("Grad/D", "Grad/G"), lambda c: curves.grad_norm_figure(
    c.history, smoothing=c.smoothing, max_points=c.max_points, changes=c.changes), shows=always),
    "Gradient norms: exploding or vanishing gradients show here before the losses move")
CHARTS.add("recipe", Chart(("LR/D", "LR/G", "k"), lambda c: curves.recipe_figure(
    c.history, changes=c.changes, max_points=c.max_points)),
    "The learning rates and k the trainer used, each live change marked: what the header's values were over time")
CHARTS.add("W", Chart(("W",), lambda c: curves.wasserstein_figure(
    c.history, smoothing=c.smoothing, max_points=c.max_points, changes=c.changes)),
    "The critic's Wasserstein estimate (critic losses only)")
CHARTS.add("pen", Chart(("Penalty/GP", "Penalty/R1"), lambda c: curves.penalty_figure(
    c.history, smoothing=c.smoothing, max_points=c.max_points, changes=c.changes)),
    "Gradient penalty and R1 terms (when the recipe has them)")

def metric_chart(key: str) -> Chart:
    """A quality metric over the eval ticks, with its total (from the series table) as a dashed line."""
    total_key, floor_key = series_info(key).total, series_info(key).floor
    return Chart((key,), lambda c: curves.metric_figure(
        c.history, key, total=c.totals.get(total_key) if total_key else None,
        floor=c.totals.get(floor_key) if floor_key else None, max_points=c.max_points, reached=c.reached),
        section="quality", every_tick=False)


def reached_marks(history: History) -> tuple[curves.Reached, ...]:
    """The quality thresholds (ganlab.config.thresholds) the run's eval ticks met, each at the first step it was met."""
    out = []
    for name, (step, seconds) in reached_at(history).items():
        threshold = next(t for f in THRESHOLDS.values() for t in f if t.name == name)
        out.append(curves.Reached(step, name, threshold.label, seconds))
    return tuple(out)


for _key, _why in (
        ("Metric/modes_covered", "Mixtures: modes with at least one good sample; a fall is mode collapse"),
        ("Metric/class_coverage", "Labelled images: classes G makes at a fair rate; a fall is mode collapse"),
        ("Metric/high_quality_rate", "Mixtures: the share of samples within 3 std of a mode"),
        ("Metric/spread", "Mixtures: how wide G's modes are against the data's (1 is right)"),
        ("Metric/fd", "Labelled images: Fréchet distance in the dataset classifier's features, beside its real floor"),
        ("Metric/precision", "Labelled images: the share of fakes inside the real data's k-NN manifold (fidelity)"),
        ("Metric/recall", "Labelled images: the share of real images inside the fakes' k-NN manifold (diversity)"),
        ("Metric/density", "Labelled images: how crowded real neighbourhoods are with fakes (1 = as real data)"),
        ("Metric/coverage", "Labelled images: the share of real neighbourhoods holding a fake: falls with collapse"),
        ("Metric/sliced_wasserstein", "Point data: sliced Wasserstein distance to held-out points, beside its floor"),
        ("Metric/energy_distance", "Point data: energy distance to held-out points, beside its floor"),
        ("Metric/w2_distance", "One Gaussian: W2 distance between G's Gaussian fit and the data's"),
        ("Metric/pattern_match_rate", "1010 pattern: the share of samples that read high-low-high-low"),
        ("Metric/pattern_exact_rate", "1010 pattern: the share of samples inside the data's own ranges")):
    CHARTS.add(_key, metric_chart(_key), _why)
del _key, _why

# Record keys the engine writes that no chart draws, each with the reason: a key in neither place
# fails tests/test_charts.py, so a new series is a decision, not an accident.
_SAME_EVERY_EVAL = "the same at every evaluation (a fact of the set-up, not of G); in metrics.jsonl"
NOT_CHARTED: Mapping[str, str] = {
    "step": "the x axis of every chart",
    "time": "wall-clock seconds: the status line's speed and ETA are read from it",
    "Speed/steps_per_s": "the status line's progress bar shows it, with the ETA",
    "Metric/reverse_kl": "balance among the modes: the coverage chart already shows modes being lost; "
                         "in metrics.jsonl and `ganlab eval`",
    "Metric/class_kl": "balance among the classes: the coverage chart already shows classes being lost; "
                       "in metrics.jsonl and `ganlab eval`",
    "Metric/mean_error": "the mean's part of the W2 distance, which is charted; in metrics.jsonl",
    "Metric/cov_error": "the covariance's part of the W2 distance, which is charted; in metrics.jsonl",
    "Metric/frechet_distance": "the square of the W2 distance, which is charted",
    "Metric/mean_confidence": "how readable fakes are to the classifier: the feature distance and class "
                              "coverage say more; in metrics.jsonl",
    "Metric/hist_kl": "the Div chart draws the same histogram KL at every tick, not only at evaluations",
    "Metric/hist_js": "the Div chart draws the same histogram JS at every tick, not only at evaluations",
    "Metric/hist_kl_floor": "the histogram KL's floor on real data, " + _SAME_EVERY_EVAL,
    "Metric/hist_js_floor": "the histogram JS's floor on real data, " + _SAME_EVERY_EVAL,
    "Metric/n_fake": "how many fakes were scored, " + _SAME_EVERY_EVAL,
    "Metric/n_held_out": "how many held-out points were scored against, " + _SAME_EVERY_EVAL,
    "Metric/n_reference": "how many training points the floors use, " + _SAME_EVERY_EVAL,
    "Metric/classifier_accuracy": "the scoring classifier's accuracy, " + _SAME_EVERY_EVAL,
    "Metric/real_mean_confidence": "the classifier's confidence on real images, " + _SAME_EVERY_EVAL,
    "Metric/coverage_min_share": "the class coverage threshold, " + _SAME_EVERY_EVAL,
    "Metric/num_samples": "how many samples were scored, " + _SAME_EVERY_EVAL,
    "Metric/num_fake": "how many fakes were scored, " + _SAME_EVERY_EVAL,
    "Metric/num_real": "how many real images were scored, " + _SAME_EVERY_EVAL,
}


def _entries(charts: Optional[Iterable[Entry[Chart]]]) -> Iterable[Entry[Chart]]:
    return CHARTS if charts is None else charts  # read at call time: a test may swap CHARTS


def drawn_keys(charts: Optional[Iterable[Entry[Chart]]] = None) -> list[str]:
    """Every record key some chart shows (lines and totals), in registry order."""
    return list(dict.fromkeys(k for e in _entries(charts) for k in e.obj.draws))


def line_keys(charts: Optional[Iterable[Entry[Chart]]] = None) -> list[str]:
    """The series drawn as lines, in registry order: what the overlay can compare across runs."""
    return list(dict.fromkeys(k for e in _entries(charts) for k in e.obj.keys))


def visible(counts: Counts, charts: Optional[Iterable[Entry[Chart]]] = None) -> list[Entry[Chart]]:
    """The charts to draw now, in registry order."""
    return [e for e in _entries(charts) if e.obj.visible(counts)]
