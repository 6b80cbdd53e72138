"""Latent and Data page helpers: the cached generator, sample strips with captions, small figures, and the
latent inputs every Latent panel shares (psi, a seed or a kept latent's name, a class)."""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

import numpy as np
import pandas  # noqa: F401 - before plotly: its lazy `get_module("pandas")` can return a module another
import plotly.graph_objects as go  # thread is still importing ("partially initialized module 'pandas'")
import streamlit as st
import torch

from ..data import load_dataset, to_unit
from ..data.base import DataSpec
from ..data.overview import DatasetOverview, dataset_overview
from ..errors import DataError, UsageError
from ..explore.explorer import Explorer, load_generator, parse_seed
from ..explore.targets import image_from_bytes
from ..explore.truncation import PSI_RANGE  # 0: every z is the mean latent, 1: the prior, > 1 exaggerates
from ..store import Run, RunError
from ..viz import images
from ..viz.style import D_COLOR, FAKE, REAL
from .text import literal

MAX_GIF_FRAMES = 120  # time-lapse frames kept (evenly spaced) so a long run's GIF stays small
PSI_KEY = "lat_psi"
KEPT_KEY = "lat_kept"  # session_state: {run id: {"p1": KeptLatent, ...}}, per tab
KEPT_PREFIX = "p"
MAX_UPLOAD_BYTES = 20 * 2**20  # an uploaded target image; the decoder caps its pixels too
LatentRef = Union[int, torch.Tensor]  # what Explorer methods take where a seed goes


# ---------------------------------------------------------------- cached engine objects

def explorer_for(run: Run, data_root: Optional[str] = None) -> Explorer:
    """G from the run's newest checkpoint, rebuilt once per (run, checkpoint file, mtime, data root); the data
    root is where the research tools find the run's dataset and classifier."""
    for _ in range(3):  # a live run may rotate the newest checkpoint away between list and stat
        ckpts = run.checkpoints()
        if not ckpts:
            return load_generator(run)  # raises RunError: no checkpoint yet
        try:
            mtime = ckpts[-1].stat().st_mtime_ns
        except OSError:
            continue
        return _explorer(str(run.path), str(ckpts[-1]), mtime, data_root)
    raise RunError(f"{run.id}: its checkpoints keep changing; try again in a moment")


@st.cache_resource(max_entries=4, show_spinner="Loading the generator from its checkpoint…")
def _explorer(run_dir: str, checkpoint: str, mtime_ns: int, data_root: Optional[str] = None) -> Explorer:
    return load_generator(Run(run_dir), Path(checkpoint), data_root=data_root)


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


# ---------------------------------------------------------------- latent inputs shared by every panel

def class_select(ex: Explorer, label: str, key: str, default: int = 0) -> Optional[int]:
    """A class picker for conditional runs (None for the others)."""
    if not ex.conditional:
        return None
    return st.selectbox(label, list(range(ex.num_classes)), index=min(default, ex.num_classes - 1), key=key,
                        format_func=lambda c: f"{c}: {ex.class_name(c)}" if ex.class_name(c) != str(c) else str(c))


def class_select_narrow(ex: Explorer, label: str, key: str, default: int = 0) -> Optional[int]:
    with st.columns([1, 3])[0]:
        return class_select(ex, label, key, default)


def psi_slider() -> float:
    """The page's one truncation psi: every panel draws its latents through it."""
    lo, hi = PSI_RANGE
    return float(st.slider(
        "Truncation ψ", lo, hi, 1.0, 0.05, key=PSI_KEY,
        help="Every latent is pulled toward the mean latent before G draws it: z̄ + ψ (z − z̄). "
             "ψ = 1 is the prior G was trained on; smaller ψ gives more typical, cleaner and more alike "
             "samples (fidelity up, diversity down); ψ = 0 draws the mean latent for every seed."))


def check_psi(values: Sequence[float]) -> list[float]:
    """psi values a person typed, each inside PSI_RANGE (a UsageError with the range otherwise)."""
    lo, hi = PSI_RANGE
    out = []
    for v in values:
        if not (np.isfinite(v) and lo <= v <= hi):
            raise UsageError(f"ψ = {v:g} is out of range: use values from {lo:g} (the mean latent) to {hi:g}")
        out.append(float(v))
    return out


def parse_psis(text: str, limit: int = 12) -> list[float]:
    """'0.25, 0.5, 1' -> [0.25, 0.5, 1.0]; anything else is a UsageError that says what to type."""
    parts = [p.strip() for p in str(text).replace(";", ",").split(",") if p.strip()]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise UsageError(f"{literal(text)!s} is not a list of ψ values: write numbers separated by commas, "
                         "like 0.25, 0.5, 0.75, 1") from None
    if not 2 <= len(values) <= limit:
        raise UsageError(f"give 2 to {limit} ψ values separated by commas, like 0.25, 0.5, 0.75, 1")
    return sorted(set(check_psi(values)))


@dataclass(frozen=True)
class KeptLatent:
    """A latent a person kept (a projected image or point): usable by name wherever a seed goes."""

    z: np.ndarray  # (1, latent_dim) float32
    label: Optional[int]  # the class the projection chose (conditional runs)
    source: str  # "dataset image 17", "upload cat.png", "point (0.31, 1.20)"
    error: float  # the projection's error, in the unit the Projection panel shows

    def tensor(self) -> torch.Tensor:
        return torch.from_numpy(np.asarray(self.z, dtype=np.float32).reshape(1, -1))


def kept_latents(run_id: str) -> dict[str, KeptLatent]:
    """This tab's kept latents of one run (a z only means something to the G it was projected for)."""
    return st.session_state.setdefault(KEPT_KEY, {}).setdefault(run_id, {})


def keep_latent(run_id: str, latent: KeptLatent) -> str:
    """Store a latent under the next free name p1, p2, ... and return the name."""
    kept = kept_latents(run_id)
    i = 1
    while f"{KEPT_PREFIX}{i}" in kept:
        i += 1
    name = f"{KEPT_PREFIX}{i}"
    kept[name] = latent
    return name


def latent_bank(kept: dict[str, KeptLatent]) -> dict[str, torch.Tensor]:
    """Names -> (1, dim) latents, as Explorer.arithmetic's bank takes them."""
    return {name: k.tensor() for name, k in kept.items()}


def unknown_latent(text: str, kept: dict[str, KeptLatent]) -> str:
    """The sentence for a name that is neither a seed nor a kept latent."""
    have = ", ".join(kept)
    where = (f"or one of the kept latents ({have})" if have else
             "or keep a projected latent on the Projection tool first (it becomes p1)")
    return f"{literal(text)} is neither a seed nor a kept latent: type a whole number like 42 {where}"


def latent_ref(text: str, kept: dict[str, KeptLatent]) -> LatentRef:
    """'42' -> seed 42; 'p1' -> that kept latent's z (1, dim); a UsageError with a sentence otherwise."""
    t = str(text).strip()
    if t.isdigit():
        try:
            return parse_seed(t)
        except ValueError as e:
            raise UsageError(f"{e}") from None
    if t in kept:
        return kept[t].tensor()
    raise UsageError(unknown_latent(t, kept))


def ref_caption(text: str) -> str:
    """How a strip names its latent: 'seed 42' or 'p1'."""
    t = str(text).strip()
    return f"seed {t}" if t.isdigit() else t


def latent_input(label: str, key: str, default: Union[int, str], kept: dict[str, KeptLatent],
                 help: str = "") -> tuple[Optional[LatentRef], str]:
    """A seed or a kept latent's name; (the latent or None after showing why, the caption to print)."""
    names = f" or a kept latent ({', '.join(kept)})" if kept else ""
    text = st.text_input(label, str(default), key=key,
                         help=help or f"A seed{names}. A seed is a latent's identity: the same seed always gives "
                                      "the same z. Keep a projected image on the Projection tool to use it here by name.")
    try:
        return latent_ref(text, kept), ref_caption(text)
    except UsageError as e:
        st.error(str(e))
        return None, ref_caption(text)


def latent_vector(ex: Explorer, ref: LatentRef) -> torch.Tensor:
    """(1, latent_dim) of a seed or a kept latent (before truncation)."""
    return ref.reshape(1, -1) if isinstance(ref, torch.Tensor) else ex.z([int(ref)])


# ---------------------------------------------------------------- projection targets

def target_from_upload(data: bytes, name: str, spec: DataSpec) -> np.ndarray:
    """An uploaded PNG/JPEG as the run's images see it: (1, C, H, W) floats in [0, 1], centre-cropped and
    resized with Pillow; a DataError with a sentence for anything else (never a traceback)."""
    if spec.kind == "images" and len(data) > MAX_UPLOAD_BYTES:
        raise DataError(f"{literal(name)} is {len(data) / 2**20:.0f} MB; upload an image under "
                        f"{MAX_UPLOAD_BYTES // 2**20} MB")
    return image_from_bytes(data, literal(name), spec, ask="upload", points_hint="type or click a point instead")[None]


@st.cache_resource(max_entries=4, show_spinner="Loading the run's dataset…")
def dataset_arrays(name: str, root: str) -> tuple[np.ndarray, Optional[np.ndarray]]:
    """The run's whole dataset in display form (images in [0, 1], points as they are) and its labels, in the
    dataset's own order: index i is the training image the Nearest neighbours tool calls #i."""
    ds = load_dataset(name, "cpu", seed=0, root=root)
    x = getattr(ds, "x", None)
    if x is None:  # a streamed dataset: a fixed sample stands in for it
        x, y = ds.take(min(len(ds), 10_000), seed=0)
    else:
        y = getattr(ds, "y", None)
    to_float = getattr(ds, "to_float", None)  # packed images are stored as uint8
    unit = to_unit(to_float(x) if to_float is not None else x, ds.spec)
    unit.flags.writeable = False
    return unit, (None if y is None else y.cpu().numpy())
