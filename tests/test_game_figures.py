"""viz.game (issue #17): the game figure's arrows, manifold and plane; the divergence chart; the replay GIF."""

from __future__ import annotations

import io
import math

import numpy as np
import plotly.graph_objects as go
import pytest
from PIL import Image

from ganlab.viz import charts, game, images
from ganlab.viz.series import count_values
from tests.helpers.game_frames import make_frame


def _trace(fig, prefix: str):
    return [t for t in fig.data if (t.name or "").startswith(prefix)]


def _segments(xs, ys) -> list[np.ndarray]:
    """The NaN-separated polylines of a trace."""
    pts = np.stack([np.asarray(xs, float), np.asarray(ys, float)], 1)
    breaks = np.flatnonzero(np.isnan(pts[:, 0]))
    parts = [part[~np.isnan(part[:, 0])] for part in np.split(pts, breaks)]
    return [part for part in parts if len(part)]


def test_arrows_are_few_scaled_to_a_share_of_the_width_and_point_along_the_gradient():
    frame = make_frame()
    fig = game.game_figure(frame, arrows=True, manifold=False)
    (trace,) = _trace(fig, "G's gradient")
    assert trace.meta["arrows"] == game.MAX_ARROWS  # 1000 fakes, at most 300 arrows
    parts = _segments(trace.x, trace.y)
    shafts = parts[0::2]  # tail, tip, left barb; then tip, right barb
    assert len(shafts) == game.MAX_ARROWS
    width = fig.layout.xaxis.range[1] - fig.layout.xaxis.range[0]
    lengths = np.array([np.linalg.norm(s[1] - s[0]) for s in shafts])
    assert math.isclose(lengths.max(), game.ARROW_SHARE * width, rel_tol=1e-6)
    scale = trace.meta["scale"]
    assert f"× {scale:.3g}" in trace.name  # the legend states the scale
    # each shaft starts at a fake point and points along that point's arrow, scaled by the one factor
    fake, grad = np.asarray(frame["fake"], float), np.asarray(frame["arrows"], float)
    for shaft in shafts[:20]:
        i = int(np.argmin(np.linalg.norm(fake - shaft[0], axis=1)))
        assert np.allclose(shaft[0], fake[i], atol=1e-6)
        assert np.allclose(shaft[1] - shaft[0], scale * grad[i], atol=1e-6)
    assert "longest drawn 12% of the width" in fig.layout.title.subtitle.text


def test_zero_and_non_finite_arrows_draw_nothing_wrong():
    frame = make_frame(n=50)
    frame["arrows"] = np.zeros_like(frame["arrows"])
    frame["arrows"][3] = np.nan
    geometry = game.arrow_geometry(frame, game.frame_ranges(frame))
    assert len(geometry) == 49 and geometry.scale == 0.0 and np.allclose(geometry.tips, geometry.tails)
    assert not _trace(game.game_figure(frame, arrows=False), "G's gradient")  # the toggle removes them


def test_manifold_traces_hold_every_cell_in_a_handful_of_traces():
    frame = make_frame(cells=20)
    fig = game.game_figure(frame, arrows=False, manifold=True)
    bands = _trace(fig, "G's manifold, density")
    assert len(bands) <= game.DENSITY_BANDS and len(fig.data) <= 12  # not one trace per cell
    assert sum(t.meta["cells"] for t in bands) == 20 * 20
    for t in bands:  # each band's trace holds its cells as closed 5-point polygons
        polygons = _segments(t.x, t.y)
        assert len(polygons) == t.meta["cells"] and all(len(p) == 5 and np.allclose(p[0], p[-1]) for p in polygons)
        assert t.fill == "toself"
    # the polygons are the pushed-through grid's cells: cell (0, 0) has the grid's first corners
    cells = game.manifold_cells(frame["manifold"])
    u, v = frame["manifold"]["u"], frame["manifold"]["v"]
    assert np.allclose(cells.corners[0], [[u[0, 0], v[0, 0]], [u[0, 1], v[0, 1]], [u[1, 1], v[1, 1]], [u[1, 0], v[1, 0]]])
    (lines,) = [t for t in fig.data if t.name == "G's manifold"]
    assert len(_segments(lines.x, lines.y)) == 2 * 21  # every row and column of vertices
    assert not _trace(game.game_figure(frame, manifold=False), "G's manifold")


def test_denser_cells_are_shaded_darker():
    frame = make_frame(cells=10)
    fig = game.game_figure(frame, arrows=False, manifold=True)
    bands = sorted(_trace(fig, "G's manifold, density"), key=lambda t: t.meta["band"])
    alphas = [float(t.fillcolor.rsplit(",", 1)[1].rstrip(")")) for t in bands]
    assert alphas == sorted(alphas) and len(set(alphas)) == len(alphas)
    density = frame["manifold"]["density"]
    densest, sparsest = np.unravel_index(density.argmax(), density.shape), np.unravel_index(density.argmin(), density.shape)
    assert game.density_bands(density)[densest] == game.DENSITY_BANDS - 1
    assert game.density_bands(density)[sparsest] < game.density_bands(density)[densest]
    assert bands[-1].meta["band"] == game.DENSITY_BANDS - 1  # the densest cells are in the darkest trace


def test_a_few_squeezed_cells_do_not_wash_out_the_shading():
    """One cell 1000x denser than the rest (a fold): the others still spread over the bands, in density order."""
    rng = np.random.default_rng(0)
    density = rng.uniform(0.0, 0.001, (20, 20))
    density[3, 4] = 1.0
    b = game.density_bands(density)
    assert b[3, 4] == game.DENSITY_BANDS - 1 and len(np.unique(b)) == game.DENSITY_BANDS
    order = np.argsort(density.ravel(), kind="stable")
    assert (np.diff(b.ravel()[order]) >= 0).all()  # denser is never paler


def test_the_plane_is_named_and_labels_the_axes():
    pca = "PCA of the real data: PC1, PC2 (81% of the variance)"
    fig = game.game_figure(make_frame(plane_name=pca))
    assert f"plane: {pca}" in fig.layout.title.subtitle.text
    assert (fig.layout.xaxis.title.text, fig.layout.yaxis.title.text) == ("PC1", "PC2")
    fig = game.game_figure(make_frame(step=1234))
    assert "plane: x₀, x₁" in fig.layout.title.subtitle.text and "step 1,234" in fig.layout.title.text
    assert "z₀, z₁ over [-2.5, 2.5]" in fig.layout.title.subtitle.text  # the manifold's slice is named too
    assert fig.layout.yaxis.scaleanchor == "x"  # equal aspect: a ring stays a ring
    no_surface = game.game_figure(make_frame(surface=False))  # a conditional run: D needs a label
    assert "heatmap" not in [t.type for t in no_surface.data]


def test_side_by_side_figures_share_axes_and_arrow_scale():
    before, after = make_frame(step=10), make_frame(step=11, shift=0.5)
    after["arrows"] = after["arrows"] * 0.5
    ranges, scale = game.shared_view([before, after])
    figs = [game.game_figure(f, ranges=ranges, arrow_scale=scale) for f in (before, after)]
    assert figs[0].layout.xaxis.range == figs[1].layout.xaxis.range
    assert [_trace(f, "G's gradient")[0].meta["scale"] for f in figs] == [scale, scale]
    fake_x = np.concatenate([before["fake"][:, 0], after["fake"][:, 0]])
    assert ranges[0][0] < fake_x.min() and ranges[0][1] > fake_x.max()
    assert "× " in game.arrows_caption(scale)


def test_the_game_figure_is_valid_plotly():
    spec = game.game_figure(make_frame(), show_losses=True).to_plotly_json()
    assert go.Figure(spec).to_plotly_json() == spec


def test_replay_gif_has_one_frame_per_game_frame_on_the_same_axes():
    frames = [make_frame(step=100 * i, shift=0.2 * i, n=200, cells=8) for i in range(3)]
    gif = images.game_gif(frames, size=160)
    im = Image.open(io.BytesIO(gif))
    assert gif.startswith(b"GIF8") and im.n_frames == 3 and im.size == (160, 160)
    with_arrows = images.game_image(frames[0], size=160)
    without = images.game_image(frames[0], size=160, arrows=False, manifold=False)
    assert with_arrows.shape == (160, 160, 3) and (with_arrows != without).any()
    with pytest.raises(ValueError):
        images.game_gif([])


def test_divergence_chart_is_registered_with_the_game_curves_under_the_contract_names():
    entry = charts.CHARTS.entry("div")
    assert entry.obj.keys == ("Div/KL", "Div/JS") and entry.obj.section == "training"
    # the first row (losses, D's verdicts) as before; the divergence right after it, first in the second row
    assert charts.CHARTS.names().index("div") == charts.CHARTS.names().index("dout") + 1
    image_run = [{"step": 10, "Loss/D": 0.7, "Loss/G": 0.7}]
    assert "div" not in [e.name for e in charts.visible(count_values(image_run))]
    h = [{"step": 10 * i, "Loss/D": 0.7, "Loss/G": 0.7, "Div/KL": 2.0 / i, "Div/JS": 0.5 / i} for i in range(1, 6)]
    assert "div" in [e.name for e in charts.visible(count_values(h))]
    fig = entry.obj.build(charts.ChartInput(h))
    names = [t.name for t in fig.data]
    assert "KL(real ‖ fake), 30×30 histogram" in names and "JS(real, fake), 30×30 histogram" in names
    assert any(a.text.startswith("ln 2") for a in fig.layout.annotations)  # JS's ceiling, labelled
    assert {"Div/KL", "Div/JS"} <= set(charts.line_keys())  # the overlay can compare runs on them
