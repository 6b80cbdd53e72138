"""Latent and Data page helpers: the cached generator, sample strips with captions, small figures."""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Optional

import numpy as np
import pandas  # noqa: F401 - before plotly: its lazy `get_module("pandas")` can return a module another
import plotly.graph_objects as go  # thread is still importing ("partially initialized module 'pandas'")
import streamlit as st

from ..data.base import DataSpec
from ..data.overview import DatasetOverview, dataset_overview
from ..explore.explorer import Explorer, load_generator
from ..store import Run, RunError
from ..viz import images
from ..viz.style import D_COLOR, FAKE, REAL
from .text import literal

MAX_GIF_FRAMES = 120  # time-lapse frames kept (evenly spaced) so a long run's GIF stays small


# ---------------------------------------------------------------- cached engine objects

def explorer_for(run: Run) -> Explorer:
    """G from the run's newest checkpoint, rebuilt once per (run, checkpoint file, mtime)."""
    for _ in range(3):  # a live run may rotate the newest checkpoint away between list and stat
        ckpts = run.checkpoints()
        if not ckpts:
            return load_generator(run)  # raises RunError: no checkpoint yet
        try:
            mtime = ckpts[-1].stat().st_mtime_ns
        except OSError:
            continue
        return _explorer(str(run.path), str(ckpts[-1]), mtime)
    raise RunError(f"{run.id}: its checkpoints keep changing; try again in a moment")


@st.cache_resource(max_entries=4, show_spinner="Loading the generator from its checkpoint…")
def _explorer(run_dir: str, checkpoint: str, mtime_ns: int) -> Explorer:
    return load_generator(Run(run_dir), Path(checkpoint))


def _stamp(path: Path) -> tuple:
    try:
        s = path.stat()
        return (s.st_size, s.st_mtime_ns)
    except OSError:
        return (0, 0)


def overview_for(name: str, root: Path) -> DatasetOverview:
    """A dataset's overview, recomputed only when a packed file changes."""
    stamp = _stamp(Path(name[5:])) if name.startswith("hdf5:") else ()
    return _overview(name, str(root), stamp)


@st.cache_resource(max_entries=8, show_spinner="Loading the dataset…")
def _overview(name: str, root: str, stamp: tuple) -> DatasetOverview:
    return dataset_overview(name, root=root, n=64)


# ---------------------------------------------------------------- images

def tiles(x: np.ndarray, min_tile: int = 64) -> list[np.ndarray]:
    """(N, C, H, W) in [0, 1] -> N (H', W', 3) uint8 images, small ones enlarged (nearest)."""
    return [images.image_grid(x[i:i + 1], padding=2, min_tile=min_tile) for i in range(len(x))]  # white edge


def strip_png(x: np.ndarray, labels: Sequence[str] = (), title: str = "") -> bytes:
    """A download that reads on its own: each image enlarged by whole pixels to >= 128 px, its caption
    under it and a title (the run, what it shows, G's step) on top (ganlab.viz.images.labelled_strip)."""
    return images.labelled_strip_png(images.tiles_of(x), list(labels), title=title)


def show_strip(x: np.ndarray, captions: Sequence[str], width: int = 96, row: int = 820) -> None:
    """Images side by side, each with its caption (a seed, a t, a value); up to ~12 fit one
    `row` px wide line (narrower tiles), more wrap as a grid."""
    n = min(len(x), 12)
    st.image(tiles(x), caption=[literal(c) for c in captions], width=max(48, min(width, row // max(n, 1) - 8)))


def gif_of(x: np.ndarray, duration_ms: int = 120, bounce: bool = True) -> bytes:
    """An animated GIF stepping through the samples (and back, when bounce)."""
    frames = tiles(x, min_tile=128)
    if bounce and len(frames) > 2:
        frames = frames + frames[-2:0:-1]
    return images.gif_bytes(frames, duration_ms=duration_ms)


def timelapse_gif(run: Run, nrow: int = 8) -> bytes:
    """The fixed-z sample grid at every snapshot of samples.h5, as a GIF (images runs)."""
    steps, samples = run.read_samples()
    if len(steps) == 0:
        raise RunError(f"{run.id} has no sample snapshots yet")
    keep = np.unique(np.linspace(0, len(steps) - 1, min(len(steps), MAX_GIF_FRAMES)).round().astype(int))
    frames = [images.image_grid(samples[i].astype(np.float32) / 255.0, nrow=nrow) for i in keep]
    return images.gif_bytes(frames, duration_ms=150)


def png_name(run_id: str, what: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{run_id}-{what}") + ".png"


def points_csv(points: np.ndarray, labels: Sequence[str]) -> bytes:
    """Generated points as CSV: label, x0, x1, ..."""
    buf = io.StringIO()
    buf.write("label," + ",".join(f"x{i}" for i in range(points.shape[1])) + "\n")
    for lab, p in zip(labels, points):
        buf.write(f"{lab}," + ",".join(f"{v:.6g}" for v in p) + "\n")
    return buf.getvalue().encode()


# ---------------------------------------------------------------- figures

def labelled_points_figure(points: np.ndarray, labels: Sequence[str], *, real=None, title: str,
                           result: Optional[np.ndarray] = None, result_label: str = "") -> go.Figure:
    """Generated 2-D points with their seeds written beside them, over the real data; an
    optional result point (seed arithmetic) drawn large."""
    p = np.asarray(points, float).reshape(-1, 2)
    traces = []
    if real is not None and len(real):
        r = np.asarray(real, float)
        traces.append(go.Scatter(x=r[:, 0], y=r[:, 1], mode="markers", name="real data",
                                 marker=dict(color=REAL, size=4, opacity=0.25), hoverinfo="skip"))
    traces.append(go.Scatter(x=p[:, 0], y=p[:, 1], mode="markers+text", name="seeds", text=list(labels),
                             textposition="top center", marker=dict(color=FAKE, size=8),
                             hovertemplate="%{text}: (%{x:.2f}, %{y:.2f})<extra></extra>"))
    if result is not None:
        q = np.asarray(result, float).reshape(-1, 2)
        traces.append(go.Scatter(x=q[:, 0], y=q[:, 1], mode="markers+text", name="result",
                                 text=[result_label], textposition="bottom center",
                                 marker=dict(color="#111827", size=15, symbol="star"),
                                 hovertemplate=f"{result_label}: (%{{x:.2f}}, %{{y:.2f}})<extra></extra>"))
    fig = go.Figure(traces)
    fig.update_layout(template="plotly_white", height=460, title=dict(text=title, x=0, xanchor="left"),
                      margin=dict(l=40, r=20, t=56, b=40),
                      legend=dict(orientation="h", x=0, y=-0.08, yanchor="top"))
    fig.update_yaxes(scaleanchor="x", scaleratio=1, zeroline=False)
    fig.update_xaxes(zeroline=False)
    return fig


def label_histogram(counts: np.ndarray, spec: DataSpec, title: str = "Images per class") -> go.Figure:
    names = [spec.class_names[i] if i < len(spec.class_names) else str(i) for i in range(len(counts))]
    fig = go.Figure(go.Bar(x=names, y=counts, marker_color=D_COLOR,
                           hovertemplate="%{x}: %{y}<extra></extra>"))
    fig.update_layout(template="plotly_white", height=300, title=dict(text=title, x=0, xanchor="left"),
                      margin=dict(l=40, r=20, t=48, b=40), yaxis_title="images", xaxis_type="category")
    return fig
