"""The Sweeps page's figures on known inputs: seed bands are the min and max over seeds, the mean their mean;
parallel coordinates get one axis per param and metric, categorical params as labelled integer ticks."""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
import pytest

from ganlab.viz.sweeps import axis, curves_figure, parcoords_figure, seed_band


def history(values, start=10, every=10, key="Loss/D"):
    return [{"step": start + i * every, key: v} for i, v in enumerate(values)]


def test_seed_band_is_min_mean_max_over_seeds_per_step():
    seeds = [history([1.0, 2.0, 3.0]), history([3.0, 0.0, 6.0]), history([2.0, 1.0, 0.0])]
    band = seed_band(seeds, "Loss/D")
    assert band.steps.tolist() == [10, 20, 30]
    assert band.low.tolist() == [1.0, 0.0, 0.0]
    assert band.high.tolist() == [3.0, 2.0, 6.0]
    assert band.mean.tolist() == pytest.approx([2.0, 1.0, 3.0])
    assert band.count.tolist() == [3, 3, 3]


def test_seed_band_handles_a_seed_that_logged_fewer_steps():
    """A trial still running (or stopped early by the scheduler) has a shorter series: later steps use the others."""
    band = seed_band([history([1.0, 5.0, 9.0]), history([3.0])], "Loss/D")
    assert band.steps.tolist() == [10, 20, 30]
    assert band.count.tolist() == [2, 1, 1]
    assert band.mean.tolist() == pytest.approx([2.0, 5.0, 9.0])
    assert band.low.tolist() == [1.0, 5.0, 9.0] and band.high.tolist() == [3.0, 5.0, 9.0]


def test_seed_band_skips_missing_values_and_empty_histories():
    records = [{"step": 10, "Loss/D": 1.0}, {"step": 20}, {"step": 30, "Loss/D": None}, {"step": 40, "Loss/D": 4.0}]
    band = seed_band([records, []], "Loss/D")
    assert band.steps.tolist() == [10, 40] and band.mean.tolist() == [1.0, 4.0]
    assert seed_band([[], []], "Loss/D").steps.size == 0


def test_curves_figure_draws_a_filled_band_between_the_extreme_seeds():
    groups = {"loss=bce": [history([1.0, 2.0]), history([3.0, 0.0])], "loss=hinge": [history([5.0, 5.0])]}
    fig = curves_figure(groups, "Loss/D")
    go.Figure(fig.to_dict())  # plotly validates it
    by_name = {t.name: t for t in fig.data}
    low, high, mean = by_name["loss=bce min"], by_name["loss=bce max"], by_name["loss=bce (2 seeds)"]
    assert list(low.y) == [1.0, 0.0] and list(high.y) == [3.0, 2.0] and list(mean.y) == [2.0, 1.0]
    assert high.fill == "tonexty" and fig.data.index(high) == fig.data.index(low) + 1  # filled down to the low edge
    assert "loss=hinge (1 seed)" in by_name and "loss=hinge min" not in by_name  # one seed: no band to draw
    assert low.line.color == high.line.color == mean.line.color != by_name["loss=hinge (1 seed)"].line.color


def test_curves_figure_says_when_nothing_was_logged():
    fig = curves_figure({"loss=bce": [history([1.0])]}, "Metric/modes_covered")
    assert not fig.data and "No modes covered logged" in fig.layout.annotations[0].text


def test_parcoords_has_one_axis_per_param_and_metric_with_labelled_categories():
    rows = [{"loss": "hinge", "lr_d": 1e-4, "d_steps": 1, "spectral_norm": False, "modes_covered": 8.0},
            {"loss": "bce", "lr_d": 1e-3, "d_steps": 2, "spectral_norm": True, "modes_covered": 6.0},
            {"loss": "bce", "lr_d": 1e-2, "d_steps": 1, "spectral_norm": False, "modes_covered": 7.0}]
    fig = parcoords_figure(rows, ["loss", "lr_d", "d_steps", "spectral_norm"], ["modes_covered"],
                           color="modes_covered")
    go.Figure(fig.to_dict())
    (pc,) = fig.data
    assert isinstance(pc, go.Parcoords)
    dims = {d.label: d for d in pc.dimensions}
    assert list(dims) == ["loss", "lr_d (log)", "d_steps", "spectral_norm", "modes covered"]
    loss = dims["loss"]
    assert list(loss.ticktext) == ["bce", "hinge"] and list(loss.tickvals) == [0, 1] and list(loss.values) == [1, 0, 0]
    assert list(dims["spectral_norm"].ticktext) == ["False", "True"] and list(dims["spectral_norm"].values) == [0, 1, 0]
    lr = dims["lr_d (log)"]
    assert list(lr.values) == pytest.approx([-4, -3, -2]) and list(lr.ticktext) == ["0.0001", "0.001", "0.01"]
    assert list(dims["d_steps"].ticktext) == ["1", "2"] and list(dims["d_steps"].values) == [1, 2, 1]
    assert list(dims["modes covered"].values) == [8, 6, 7]
    assert list(pc.line.color) == [8, 6, 7] and pc.line.showscale


def test_parcoords_leaves_out_trials_without_metrics_and_says_so():
    rows = [{"loss": "bce", "fd": 2.0}, {"loss": "hinge", "fd": None}, {"loss": "wgan"}]
    fig = parcoords_figure(rows, ["loss"], ["fd"], color="fd")
    (pc,) = fig.data
    assert list(pc.dimensions[0].ticktext) == ["bce"]
    assert "1 trial; 2 without final metrics yet" in fig.layout.title.subtitle.text
    assert pc.line.reversescale, "lower feature distance is better: the better end of the scale stays bright"
    empty = parcoords_figure(rows[1:], ["loss"], ["fd"])
    assert not empty.data and "No finished trial" in empty.layout.annotations[0].text


def test_numeric_axis_with_many_values_keeps_plotly_ticks():
    a = axis("lr", [0.1 * i for i in range(1, 20)])
    assert a.tickvals is None and a.values[0] == pytest.approx(0.1)
    wide = axis("lr", [10.0 ** -e for e in np.linspace(1, 5, 12)])
    assert wide.label == "lr (log)" and wide.ticktext == ["1e-05", "0.0001", "0.001", "0.01", "0.1"]
    assert all(math.isfinite(v) for v in wide.values)


def test_parcoords_puts_a_missing_metric_on_an_na_tick_below_the_values():
    """A collapsed G has no spread: its trial still shows, at "n/a", and takes the worse end of the colour scale."""
    rows = [{"loss": "bce", "modes_covered": 0.0, "spread": None},
            {"loss": "hinge", "modes_covered": 8.0, "spread": 1.0},
            {"loss": "wgan", "modes_covered": 6.0, "spread": 2.0}]
    fig = parcoords_figure(rows, ["loss"], ["modes_covered", "spread"], color="spread")
    (pc,) = fig.data
    spread = pc.dimensions[2]
    assert spread.ticktext[0] == "n/a" and spread.values[0] == pytest.approx(0.9) == spread.tickvals[0]
    assert list(spread.values[1:]) == [1.0, 2.0] and list(spread.ticktext[1:]) == ["1", "2"]
    assert list(pc.line.color) == [1.0, 1.0, 2.0], "no spread: coloured as the worst spread"
    assert "3 trials" in fig.layout.title.subtitle.text and "without" not in fig.layout.title.subtitle.text
    assert axis("x", [None, None]).ticktext == ["n/a"]
    many = axis("x", [None, *[float(i) for i in range(20)]])
    assert many.ticktext[0] == "n/a" and len(many.tickvals) == 6 and many.values[0] < 0


def test_parcoords_colour_scale_of_one_value_stays_on_its_side_of_zero():
    rows = [{"loss": "bce", "high_quality_rate": 0.0}, {"loss": "hinge", "high_quality_rate": 0.0}]
    (pc,) = parcoords_figure(rows, ["loss"], ["high_quality_rate"], color="high_quality_rate").data
    assert (pc.line.cmin, pc.line.cmax) == (0.0, 1.0)
    (pc,) = parcoords_figure([{**rows[0], "high_quality_rate": 0.5}, {**rows[1], "high_quality_rate": 0.9}], ["loss"],
                             ["high_quality_rate"], color="high_quality_rate").data
    assert (pc.line.cmin, pc.line.cmax) == (0.5, 0.9)
