"""ganlab.viz: pure figure builders (traces present, inputs untouched, fast on long runs)."""

from __future__ import annotations

import copy
import io
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


# ---------------------------------------------------------------- the recipe over time, sparse runs, progress

def _recipe_history() -> list[dict]:
    """lr D halved at step 50, k 1 -> 2 at step 70 (as "Change lr / k" leaves them in the records)."""
    return [{"step": i * 10, "time": i * 0.1, "LR/D": 1e-3 if i < 5 else 5e-4, "LR/G": 2e-4, "k": 1 if i < 7 else 2,
             "Loss/D": 0.7, "Loss/G": 0.8, "D/real": 0.5, "D/fake": 0.5} for i in range(1, 12)]


def test_recipe_changes_are_read_off_the_records():
    """Each live change at the first record that has it; a schedule's decay is no change, an edit under it is."""
    changes = series.recipe_changes(_recipe_history())
    assert [(c.step, c.changes) for c in changes] == [(50.0, (("LR/D", 1e-3, 5e-4),)), (70.0, (("k", 1.0, 2.0),))]
    assert series.recipe_changes(_recipe_history()[:1]) == []  # one record: nothing to compare
    decay = [{"step": s, "LR/D": 1e-3 * (1 - s / 1000), "LR/G": 1e-3 * (1 - s / 1000), "k": 1} for s in range(10, 500, 10)]
    assert len(series.recipe_changes(decay)) > 40  # the records alone: every tick moves
    base = lambda step: 1 - step / 1000  # noqa: E731 - the schedule's factor at the record's step
    assert series.recipe_changes(decay, base=base) == []
    decay[20]["LR/D"] = decay[20]["LR/G"] = None  # a record without them is skipped, not a change
    for r in decay[30:]:
        r["LR/D"] *= 0.5  # halved live under the schedule
    assert [(c.step, [k for k, *_ in c.changes]) for c in series.recipe_changes(decay, base=base)] == [(310.0, ["LR/D"])]


def test_recipe_chart_marks_each_change_and_the_curves_show_it_as_a_line():
    """lr (log axis) and k (right axis) as steps, a diamond where each changed; the loss chart's vertical lines."""
    h = _recipe_history()
    changes = series.recipe_changes(h)
    fig = curves.recipe_figure(h, changes=changes)
    by_name = {t.name: t for t in fig.data if t.name != "live change"}
    assert set(by_name) == {"lr D", "lr G", "k"}
    assert by_name["k"].yaxis == "y2" and by_name["lr D"].line.shape == "hv"
    assert fig.layout.yaxis.type == "log" and fig.layout.yaxis2.overlaying == "y"  # 2e-4 to 1e-3: a log axis
    assert tuple(fig.layout.yaxis2.range) == (0, 3.0)  # k up to 2, with room above
    same = curves.recipe_figure([{**r, "LR/G": 1e-3} for r in h])
    assert same.layout.yaxis.type != "log" and same.layout.yaxis.range[0] == 0  # close rates: a plain axis from 0
    marks = [t for t in fig.data if t.name == "live change"]
    assert [(list(t.x), list(t.y), t.yaxis) for t in marks] == [([50.0], [5e-4], "y"), ([70.0], [2.0], "y2")]
    assert "lr D 0.001 → 0.0005" in marks[0].hovertext[0]
    loss = curves.loss_figure(h, equilibrium=BCE_EQ, changes=changes)
    assert [s.x0 for s in loss.layout.shapes] == [50.0, 70.0]
    assert {"lr D", "k"} <= {a.text for a in loss.layout.annotations} and "ln 2" in _texts(loss)
    assert len(curves.loss_figure(h, equilibrium=BCE_EQ).layout.shapes) == 0  # no changes: no lines


def test_a_series_of_one_point_is_drawn_with_markers():
    """A run stopped after its first tick shows that tick: one point draws no line, so every chart adds markers."""
    one = [{"step": 50, "time": 1.0, "Loss/D": 0.7, "Loss/G": 0.9, "D/real": 0.6, "D/fake": 0.4, "Grad/D": 1.0,
            "Grad/G": 0.5, "LR/D": 1e-3, "LR/G": 1e-3, "k": 1}]
    figs = [curves.loss_figure(one, equilibrium=BCE_EQ), curves.loss_figure(one, equilibrium={}, smoothing=0.6),
            curves.d_output_figure(one, equilibrium=BCE_EQ), curves.grad_norm_figure(one),
            curves.overlay_figure({"a": one}, "Loss/D")]
    for fig in figs:
        shown = [t for t in fig.data if len(t.x or ()) == 1 and t.showlegend is not False]
        assert shown and all("markers" in t.mode for t in shown), fig.layout.title.text
    long = curves.loss_figure(_history(), equilibrium=BCE_EQ)
    assert {t.mode for t in long.data if t.name == "D loss"} == {"lines"}  # a long run stays plain lines


def test_live_speed_readings_and_the_status_line():
    """Speed from readings of the live step between ticks; a paused run says paused, not its last speed."""
    r = progress.add_reading((), 100.0, 0)
    assert progress.reading_rate(r) is None  # one reading: no speed yet
    r = progress.add_reading(progress.add_reading(r, 102.0, 30), 104.0, 60)
    assert progress.reading_rate(r) == 15.0
    assert progress.add_reading(r, 130.0, 400) == ((130.0, 400),)  # older than the window: dropped
    assert progress.add_reading(r, 105.0, 10) == ((105.0, 10),)  # a resume went back: start afresh
    assert progress.status_line("running", 60, 1000, sps=15.0, active=True) == \
        "**running** · step 60 / 1,000 · 15.0 steps/s · ETA 1 min 03 s"
    assert progress.status_line("running", 60, 1000, sps=0.21, active=True).endswith("0.21 steps/s · ETA 1 h 14 min")
    paused = progress.status_line("paused", 60, 1000, sps=15.0, active=True)
    assert paused.endswith("speed: paused · ETA: paused") and "15" not in paused
    assert "starting" in progress.status_line("running", 0, 1000, sps=None, active=True)
    assert progress.status_line("finished", 1000, 1000, sps=120.0, active=False).endswith("120 steps/s · ETA —")


def test_labelled_strip_is_readable_on_its_own():
    """Ten 8x8 digits: enlarged by whole pixels to >= 128 px each, a label under each and a title on top."""
    from PIL import Image

    x = np.random.default_rng(0).random((10, 1, 8, 8))
    tiles = images.tiles_of(x)
    assert tiles[0].shape == (8, 8, 3)
    strip = images.labelled_strip(tiles, [f"step {s:,}" for s in range(1000, 11000, 1000)], title="run · G at step 2,000")
    assert strip.shape[1] >= 10 * 128 and strip.shape[0] >= 128 + 30
    tile = strip[strip.shape[0] // 2 - 60: strip.shape[0] // 2, 8:136]
    assert len(np.unique(tile.reshape(-1, 3), axis=0)) <= 64  # nearest neighbour: only the source's grey levels
    assert (strip[:20] < 128).any() and (strip[-20:] < 128).any()  # ink in the title line and the label line
    png = images.labelled_strip_png(tiles, [str(i) for i in range(10)])
    assert Image.open(io.BytesIO(png)).size[0] >= 1280
    with pytest.raises(ValueError):
        images.labelled_strip(tiles, ["only one label"])


def test_every_chart_is_valid_plotly_though_assembled_without_validation():
    """style.curve_layout assembles figures from plain dicts (plotly's validation is most of a chart's cost
    on the Monitor page); plotly must still accept each one as it is, for live, resumed and empty runs."""
    import plotly.graph_objects as go

    from ganlab.game.losses import CONVENTION, LOSSES
    from ganlab.viz import charts
    from ganlab.viz.series import recipe_changes

    for n in (0, 1, 60):
        h = [{"step": 25 * i, "Loss/D": 0.7, "Loss/G": 0.8, "D/real": 0.6, "D/fake": 0.4, "Grad/D": 1.0, "Grad/G": 2.0,
              "LR/D": 1e-3 if i < n // 2 else 5e-4, "LR/G": 1e-3, "k": 1, "W": 0.1, "Penalty/R1": 0.2,
              "Metric/modes_covered": 7.0} for i in range(1, n + 1)]
        for log_y in (False, True):
            inp = charts.ChartInput(h, smoothing=0.6, log_y=log_y, equilibrium=LOSSES.get("bce").equilibrium,
                                    convention=CONVENTION, changes=tuple(recipe_changes(h)))
            for entry in charts.CHARTS:
                spec = entry.obj.build(inp).to_plotly_json()
                assert go.Figure(spec).to_plotly_json() == spec, entry.name  # validates every property


def test_d_output_figure_takes_the_losss_word_over_the_values():
    """An LSGAN's scores sit in [0, 1] as they regress to 1 and 0, but they are not probabilities: the loss says so."""
    h = _history()
    assert curves.d_output_figure(h, equilibrium=BCE_EQ).layout.yaxis.title.text == "D output (probability)"
    fig = curves.d_output_figure(h, equilibrium=BCE_EQ, probability=False)
    assert fig.layout.yaxis.title.text == "critic score" and fig.layout.yaxis.range is None
    from ganlab.game.losses import LOSSES
    from ganlab.viz.charts import CHARTS, ChartInput
    lsgan = CHARTS.get("dout").build(ChartInput(h, d_probability=LOSSES.get("lsgan").to_prob))
    assert lsgan.layout.yaxis.title.text == "critic score"
    bce = CHARTS.get("dout").build(ChartInput(h, d_probability=LOSSES.get("bce").to_prob))
    assert bce.layout.yaxis.title.text == "D output (probability)"
