"""ganlab.viz: pure figure builders (traces present, inputs untouched, fast on long runs)."""

from __future__ import annotations

import copy
import math
import time

import numpy as np
import plotly.graph_objects as go
import pytest

from ganlab.viz import curves, images, points, progress, series

BCE_EQ = {
    "Loss/D": (0.693, "ln 2 ≈ 0.693: D can't tell real from fake"),
    "Loss/G": (0.693, "ln 2 ≈ 0.693: D can't tell real from fake"),
    "D/real": (0.5, "D(x) = 0.5"),
    "D/fake": (0.5, "D(G(z)) = 0.5"),
}


def _history(n: int = 300) -> list[dict]:
    rng = np.random.default_rng(0)
    h = []
    for i in range(n):
        h.append({"step": i * 10, "time": i * 0.1, "Loss/D": 0.7 + 0.1 * rng.standard_normal(),
                  "Loss/G": 1.0 - i / n, "D/real": 0.7, "D/fake": 0.3, "Grad/D": 2.0,
                  "Grad/G": 0.1, "W": 1.0 - i / n, "Speed/steps_per_s": 100.0})
    h[3]["Loss/D"] = None  # tolerated: a record without a value
    del h[4]["Loss/G"]
    for i in range(0, n, 30):
        h[i]["Metric/modes_covered"] = 8 if i < n // 2 else 3  # collapse half way
    return h


def _names(fig: go.Figure) -> list[str]:
    return [t.name for t in fig.data]


def _texts(fig: go.Figure) -> str:
    return " | ".join(a.text for a in fig.layout.annotations)


# ---------------------------------------------------------------- decimate / smooth

def test_decimate_keeps_ends_spikes_and_bounds_count():
    """Min/max decimation: first and last points survive, a lone spike survives, count bounded."""
    n = 100_000
    steps = np.arange(n)
    values = np.sin(steps / 1000.0)
    values[54_321] = 50.0
    xs, ys = series.decimate(steps, values, max_points=500)
    assert len(xs) <= 500 and len(xs) == len(ys)
    assert xs[0] == 0 and xs[-1] == n - 1
    assert ys.max() == 50.0 and 54_321 in xs
    assert np.all(np.diff(xs) > 0)


def test_decimate_short_series_is_unchanged():
    """A series already under the budget is returned whole."""
    xs, ys = series.decimate([1, 2, 3], [4.0, 5.0, 6.0], max_points=10)
    assert xs.tolist() == [1, 2, 3] and ys.tolist() == [4.0, 5.0, 6.0]


def test_smooth_weight_zero_is_identity_and_a_copy():
    """Weight 0 returns the same values in a new array."""
    v = np.array([1.0, 5.0, -2.0, 3.0])
    out = series.smooth(v, 0.0)
    assert np.array_equal(out, v) and out is not v


def test_smooth_matches_tensorboard_loop():
    """The vectorised EMA equals TensorBoard's debiased per-point loop."""
    rng = np.random.default_rng(1)
    v = rng.standard_normal(1037)
    w, last, ref = 0.9, 0.0, []
    for i, x in enumerate(v):
        last = last * w + (1 - w) * x
        ref.append(last / (1 - w ** (i + 1)))
    assert np.allclose(series.smooth(v, w), ref)
    assert np.allclose(series.smooth(np.full(50, 3.0), 0.99), 3.0)  # constants stay put
    with pytest.raises(ValueError):
        series.smooth(v, 1.0)


# ---------------------------------------------------------------- curves

def test_loss_figure_draws_equilibrium_line_with_label_and_convention():
    """Given an equilibrium, one shared dashed line at ln 2 with its label; convention as subtitle."""
    fig = curves.loss_figure(_history(), equilibrium=BCE_EQ, convention="D loss = mean of its real and fake terms")
    assert isinstance(fig, go.Figure)
    assert {"D loss", "G loss"} <= set(_names(fig))
    eq = [t for t in fig.data if t.name.startswith("equilibrium")]
    assert len(eq) == 1 and eq[0].y == (0.693, 0.693) and eq[0].line.dash == "dash"
    assert "ln 2 ≈ 0.693" in _texts(fig)
    assert "mean of its real and fake terms" in fig.layout.title.subtitle.text


def test_loss_figure_without_equilibrium_invents_nothing():
    """Losses with no equilibrium pass {}: no reference line, no label."""
    fig = curves.loss_figure(_history(), equilibrium={})
    assert not any(n.startswith("equilibrium") for n in _names(fig))
    assert _texts(fig) == ""


def test_smoothing_adds_faint_raw_trace_under_one_legend_entry():
    """smoothing > 0: raw (faint, no legend) + smoothed (bold) per series."""
    fig = curves.loss_figure(_history(), equilibrium={}, smoothing=0.8)
    d = [t for t in fig.data if t.name == "D loss"]
    assert len(d) == 2 and [t.showlegend for t in d] == [False, None]
    assert d[0].opacity < 1 and d[1].line.width > d[0].line.width


def test_log_y_sets_log_axis_and_labels_in_log_units():
    """A log axis puts the equilibrium label at log10(value) (Plotly's annotation rule)."""
    fig = curves.loss_figure(_history(), equilibrium=BCE_EQ, log_y=True)
    assert fig.layout.yaxis.type == "log"
    assert math.isclose(fig.layout.annotations[0].y, math.log10(0.693))


def test_d_output_figure_has_both_outputs_and_half_line():
    """D(x), D(G(z)) and one 0.5 line; probability axis fixed to [0, 1]."""
    fig = curves.d_output_figure(_history(), equilibrium=BCE_EQ)
    names = _names(fig)
    assert "D(x) on real" in names and "D(G(z)) on fake" in names
    eq = [t for t in fig.data if t.name.startswith("equilibrium")]
    assert len(eq) == 1 and eq[0].y[0] == 0.5
    assert "D(x) = 0.5" in _texts(fig) and "D(G(z)) = 0.5" in _texts(fig)
    assert fig.layout.yaxis.range[0] < 0 < 1 < fig.layout.yaxis.range[1]


def test_other_series_figures_and_empty_history():
    """Gradient, Wasserstein and penalty charts build; an empty history says it is waiting."""
    h = _history()
    assert {"‖∇D‖", "‖∇G‖"} <= set(_names(curves.grad_norm_figure(h)))
    assert curves.grad_norm_figure(h).layout.yaxis.type == "log"
    assert _names(curves.wasserstein_figure(h)) == ["W estimate"]
    assert len(curves.penalty_figure(h).data) == 0  # no penalty keys: nothing drawn, no crash
    empty = curves.loss_figure([], equilibrium=BCE_EQ)
    assert "No data yet" in _texts(empty)


def test_metric_figure_total_line_and_collapse_marker():
    """Modes covered: a dashed total line, and the drop from 8 to 3 is flagged."""
    fig = curves.metric_figure(_history(), "Metric/modes_covered", total=8, title="Modes covered")
    names = _names(fig)
    assert "modes covered" in names and "total" in names
    assert "dropped" in names and "total = 8" in _texts(fig)
    marks = next(t for t in fig.data if t.name == "dropped")
    assert list(marks.y) == [3.0]


def test_metric_figure_steady_metric_has_no_warning():
    """A metric that never falls from its best gets no drop traces."""
    h = [{"step": i, "Metric/class_coverage": min(1.0, i / 10)} for i in range(20)]
    names = _names(curves.metric_figure(h, "Metric/class_coverage"))
    assert names == ["class coverage"]


def test_overlay_figure_one_curve_per_run():
    """Several runs on one chart, each its own colour, with the equilibrium line."""
    fig = curves.overlay_figure({"run-a": _history(), "run-b": _history(50)}, "Loss/D",
                                smoothing=0.5, equilibrium=BCE_EQ)
    runs = [t for t in fig.data if t.name in ("run-a", "run-b") and t.showlegend is None]
    assert [t.name for t in runs] == ["run-a", "run-b"]
    assert runs[0].line.color != runs[1].line.color
    assert any(n.startswith("equilibrium") for n in _names(fig))


def test_long_history_builds_fast_and_bounded():
    """A 10^6-record history builds its loss chart quickly with at most max_points per trace."""
    h = [{"step": i, "Loss/D": 0.7, "Loss/G": 0.7 + (i % 7) * 0.01} for i in range(1_000_000)]
    t0 = time.perf_counter()
    fig = curves.loss_figure(h, equilibrium=BCE_EQ, smoothing=0.9, max_points=2000)
    assert time.perf_counter() - t0 < 3.0
    assert all(len(t.x) <= 2000 for t in fig.data)


def test_figures_do_not_mutate_inputs():
    """Histories, equilibria, arrays and surfaces are left exactly as given."""
    h, eq = _history(), dict(BCE_EQ)
    h0, eq0 = copy.deepcopy(h), copy.deepcopy(eq)
    curves.loss_figure(h, equilibrium=eq, smoothing=0.9)
    curves.metric_figure(h, "Metric/modes_covered", total=8)
    curves.overlay_figure({"a": h}, "Loss/G", smoothing=0.5, equilibrium=eq)
    assert h == h0 and eq == eq0
    real, fake = np.ones((5, 2)), np.zeros((5, 2))
    z = np.full((3, 4), 0.5)
    points.points_figure(real, fake, surface={"xs": np.arange(4.0), "ys": np.arange(3.0), "z": z, "label": "p"})
    assert (real == 1).all() and (fake == 0).all() and (z == 0.5).all()


def test_speed_text_progress():
    """Speed from the record, ETA from what is left, fraction clamped to [0, 1]."""
    h = _history()
    sps, eta, frac = progress.speed_text(h, total_steps=6000)
    assert sps == 100.0 and math.isclose(frac, 2990 / 6000)
    assert math.isclose(eta, (6000 - 2990) / 100.0)
    assert progress.speed_text([], 100) == (0.0, None, 0.0)
    no_speed = [{"step": 0, "time": 0.0}, {"step": 50, "time": 2.0}]
    assert progress.speed_text(no_speed, 100) == (25.0, 2.0, 0.5)
    assert progress.format_duration(3725) == "1 h 02 min" and progress.format_duration(None) == "—"


# ---------------------------------------------------------------- 2-D points and vectors

def test_points_figure_with_probability_surface():
    """Heatmap of D, the 0.5 boundary, real and fake scatters; equal aspect; range covers both."""
    xs, ys = np.linspace(-3, 3, 20), np.linspace(-2, 2, 10)
    z = 1 / (1 + np.exp(-xs[None, :] * np.ones((10, 1))))  # (gy, gx)
    real, fake = np.array([[2.0, 1.0], [2.5, 1.5]]), np.array([[-4.0, -1.0], [np.nan, 0.0]])
    fig = points.points_figure(real, fake, surface={"xs": xs, "ys": ys, "z": z, "label": "D(x) probability"})
    kinds = [t.type for t in fig.data]
    assert kinds[:2] == ["heatmap", "contour"] and _names(fig)[-2:] == ["real", "fake"]
    heat = fig.data[0]
    assert (heat.zmin, heat.zmax) == (0, 1)
    assert len(fig.data[-1].x) == 1  # the NaN fake row is dropped
    assert fig.layout.yaxis.scaleanchor == "x"
    xr = fig.layout.xaxis.range
    assert xr[0] < -4.0 and xr[1] > 2.5


def test_points_figure_critic_surface_has_no_probability_scale():
    """A critic score surface is not pinned to [0, 1] and gets no 0.5 boundary."""
    z = np.linspace(-5, 5, 12).reshape(3, 4)
    fig = points.points_figure(np.zeros((3, 2)), np.ones((3, 2)),
                               surface={"xs": np.arange(4.0), "ys": np.arange(3.0), "z": z, "label": "critic score"})
    assert fig.data[0].zmin is None and "contour" not in [t.type for t in fig.data]


def test_points_path_figure_marks_start_and_end():
    """An ordered path with start and end markers and the labels as hover text."""
    path = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 0.0]])
    fig = points.points_path_figure(path, real=np.zeros((4, 2)), labels=["a", "b", "c"])
    names = _names(fig)
    assert names == ["real data", "path", "start", "end"]
    assert fig.data[2].x == (0.0,) and fig.data[3].x == (2.0,)
    assert list(fig.data[1].text) == ["a", "b", "c"]


def test_vector_figure_marks_target_pattern():
    """Per-position boxes for real and fake, the target pattern, and a heatmap of samples."""
    s = np.tile([0.9, 0.1, 0.8, 0.2], (40, 1))
    fig = points.vector_figure(s, target=[1, 0, 1, 0], real=np.tile([1.0, 0, 1, 0], (40, 1)), max_rows=16)
    assert _names(fig) == ["real", "fake", "target pattern", "samples"]
    assert list(fig.data[2].y) == [1, 0, 1, 0]
    assert np.asarray(fig.data[3].z).shape == (16, 4)


# ---------------------------------------------------------------- images

def test_image_grid_shape_math_and_upscaling():
    """10 digits of 1x8x8, 5 per row, padding 2: tiles upscaled x4 to 32 px, 2 rows."""
    imgs = np.random.default_rng(0).random((10, 1, 8, 8))
    grid = images.image_grid(imgs, nrow=5, padding=2)
    assert grid.shape == (2 * (32 + 2) + 2, 5 * (32 + 2) + 2, 3) and grid.dtype == np.uint8
    assert (grid[0] == 255).all()  # pad_value 1.0 -> white border
    assert (grid[2:34, 2:34, 0] == grid[2:34, 2:34, 1]).all()  # grayscale -> equal channels
    rgb = images.image_grid(np.zeros((3, 3, 32, 32)), padding=0)
    assert rgb.shape == (64, 64, 3)  # nrow defaults to ceil(sqrt(3)) = 2, no upscale at 32 px
    with pytest.raises(ValueError):
        images.image_grid(np.zeros((0, 1, 8, 8)))


def test_png_gif_and_image_figure():
    """PNG and GIF bytes carry their magic numbers; the image figure hides its axes."""
    grid = images.image_grid(np.random.default_rng(0).random((4, 1, 8, 8)))
    assert images.grid_png_bytes(grid).startswith(b"\x89PNG")
    frames = [grid, 255 - grid, grid]
    assert images.gif_bytes(frames, duration_ms=50).startswith(b"GIF8")
    with pytest.raises(ValueError):
        images.gif_bytes([grid, grid[:10]])
    fig = images.image_figure(grid, title="samples")
    assert fig.data[0].type == "image" and fig.data[0].source.startswith("data:image/png;base64,")
    assert fig.layout.xaxis.visible is False


def test_points_reject_wrong_shapes():
    """Points that are not (N, 2) raise instead of being silently reshaped."""
    with pytest.raises(ValueError):
        points.points_figure(np.zeros((4, 3)), None)
    assert len(points.points_figure(None, np.zeros((0, 2))).data) == 2  # empty sets are fine


def test_spread_chart_has_a_target_line_and_no_drop_shading():
    """Mode width has a right value (the data's, 1), not a better direction: narrowing is not shaded as collapse."""
    h = [{"step": i * 100, "Metric/spread": v} for i, v in enumerate([0.5, 1.3, 1.2, 0.4, 0.3])]
    fig = curves.metric_figure(h, "Metric/spread")
    names = _names(fig)
    assert "target" in names and "dropped" not in names and "best so far" not in names
