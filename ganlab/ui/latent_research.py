"""The Latent page's research tools: directions, fidelity vs diversity (truncation), projection of a real
image or point, and nearest training images (memorisation). One is drawn at a time, on demand: each costs
more than the classic tabs above it, and a rerun of the page should not pay for the ones nobody looks at.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Optional

import numpy as np
import streamlit as st

from ..errors import GanlabError
from ..explore.directions import DIRECTION_METHODS
from ..explore.explorer import Explorer
from ..explore.truncation import truncation_sweep
from ..store import Run
from ..viz import latent as latent_viz
from .common import show_errors
from .latent_widgets import (
    KeptLatent,
    class_select,
    dataset_arrays,
    keep_latent,
    kept_latents,
    latent_input,
    parse_psis,
    png_name,
    show_strip,
    strip_png,
    target_from_upload,
    tiles,
)
from .monitor import real_points
from .text import literal

CHART = {"config": {"displaylogo": False}}
TOOL_KEY = "lat_tool"
SWEEP_KEY = "lat_sweep_result"  # session_state: (inputs, rows) of the last truncation sweep
PROJECTION_KEY = "lat_projection"  # session_state: the last projection and what it was of
CLICK_KEY = "lat_proj_click"  # the 2-D projection figure's selection
MAX_DIRECTIONS = 10
DEFAULT_PSIS = "0, 0.25, 0.5, 0.75, 1"
PROJECTION_STEPS = (50, 100, 200, 500, 1000)
SWEEP_SIZES = (200, 500, 1000)
METHOD_LABELS = {"sefa": "SeFa (closed form)", "pca": "PCA of a layer (GANSpace)", "boundary": "Class boundary (InterFaceGAN)"}
METHOD_TEXT = {
    "sefa": "SeFa (Shen & Zhou 2021): the top eigenvectors of AᵀA, A being G's first weight on z. Closed form, "
            "no samples: the directions that weight stretches most. The eigenvalue says by how much.",
    "pca": "GANSpace (Härkönen et al. 2020): PCA of an early layer's activations over samples, mapped back to z "
           "by least squares. The explained variance says how much of that layer's spread each direction carries.",
    "boundary": "InterFaceGAN (Shen et al. 2020): a linear boundary in z between samples the run's classifier "
                "calls class A and class B; its normal walks from A toward B. The accuracy says how well a flat "
                "boundary separates them.",
}


@dataclass(frozen=True)
class LatentPage:
    """What every research tool reads: the generator, its run, the page's psi and where datasets live."""

    ex: Explorer
    run: Run
    psi: float
    data_root: str

    @property
    def kept(self) -> dict[str, KeptLatent]:
        return kept_latents(self.run.id)

    @property
    def is_points2d(self) -> bool:
        return self.ex.kind != "images" and self.ex.spec.shape == (2,)


# ---------------------------------------------------------------- directions

def direction_methods(ex: Explorer) -> list[str]:
    """The methods this run can use: the class boundary needs an unconditional run on labelled data
    (a conditional G is told the class; there is nothing to find)."""
    labelled = ex.kind == "images" and ex.spec.num_classes >= 2
    return [m for m in DIRECTION_METHODS.names() if m != "boundary" or (labelled and not ex.conditional)]


def offsets(frames: int, step: float) -> list[float]:
    """frames evenly spaced steps along a direction, the start latent in the middle: -2s, -s, 0, s, 2s."""
    half = frames // 2
    return [float(step * i) for i in range(-half, half + 1)]


def score_text(name: str, value: float) -> str:
    return f"{name} {value:.1%}" if name in ("explained variance", "accuracy") else f"{name} {value:.3g}"


def npy_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.asarray(a, dtype=np.float32))
    return buf.getvalue()


def directions_panel(page: LatentPage) -> None:
    ex = page.ex
    methods = direction_methods(ex)
    c1, c2, c3, c4 = st.columns([2, 1, 1.2, 1])
    method = c1.selectbox("Method", methods, key="lat_dir_method", format_func=lambda m: METHOD_LABELS.get(m, m),
                          help=" ".join(f"{METHOD_LABELS.get(m, m)}: {DIRECTION_METHODS.describe(m)}." for m in methods))
    k = c2.slider("Directions", 1, min(MAX_DIRECTIONS, ex.latent_dim), min(5, ex.latent_dim), key="lat_dir_k")
    with c3:
        start, start_name = latent_input("Start from", "lat_dir_start", 1, page.kept)
    frames = c4.slider("Frames per strip", 3, 11, 7, 2, key="lat_dir_frames")
    st.caption(METHOD_TEXT.get(method, ""))
    kw: dict = {}
    if method == "boundary":
        classes = list(range(ex.spec.num_classes))
        b1, b2, _ = st.columns([1, 1, 2])
        a = b1.selectbox("From class", classes, index=0, key="lat_dir_a", format_func=ex.class_name)
        b = b2.selectbox("To class", classes, index=1, key="lat_dir_b", format_func=ex.class_name)
        if a == b:
            st.error("Pick two different classes: the boundary separates class A from class B.")
            return
        kw = {"a": int(a), "b": int(b)}
    label = None
    if ex.conditional:
        with st.columns([1, 3])[0]:
            label = class_select(ex, "Class", "lat_dir_class")
    if start is None:
        return
    with show_errors("Could not find directions"):
        d = ex.directions(method, k, **kw)
        npy_name = png_name(ex.run_id, f"{method}-k{len(d.names)}")[:-4] + ".npy"
        st.download_button("Directions (.npy)", npy_bytes(d.vectors), file_name=npy_name, mime="application/octet-stream",
                           key="npy_directions", icon=":material/download:", on_click="ignore",
                           help=f"({len(d.names)}, {ex.latent_dim}) unit rows, one per direction, from {d.layer}; "
                                "add a multiple of a row to any z.")
        if ex.kind == "images":
            _direction_strips(page, d, start, start_name, frames, label)
        elif page.is_points2d:
            _direction_paths(page, d, start, start_name, frames, label)
        else:
            st.caption(f"{score_text(d.score_name, float(d.scores[0]))} for {d.names[0]}; strips are drawn for image "
                       "runs and paths for 2-D point runs. Download the directions to use them elsewhere.")


def _direction_strips(page: LatentPage, d, start, start_name: str, frames: int, label) -> None:
    ex = page.ex
    for i, (name, vector, score) in enumerate(zip(d.names, d.vectors, d.scores)):
        left, mid, right = st.columns([1.3, 6, 1.5], vertical_alignment="center")
        with right:
            step = st.slider("Step size", 0.1, 5.0, 1.0, 0.1, key=f"lat_dir_step_{i}",
                             help="How far each frame moves along the unit direction (|z| of a seed is about "
                                  f"{np.sqrt(ex.latent_dim):.1f}).")
        ts = offsets(frames, step)
        x = ex.along(start, vector, ts, label=label, psi=page.psi)
        captions = [start_name if t == 0 else f"{t:+.1f}" for t in ts]
        left.markdown(f"**{literal(name)}**  \n{score_text(d.score_name, float(score))}")
        with mid:
            show_strip(x, captions, width=72)
        right.download_button("PNG", lambda x=x, c=captions, n=name: strip_png(
            x, c, f"{ex.run_id} · {n} from {start_name} · ψ {page.psi:g} · G at step {ex.step:,}"),
            file_name=png_name(ex.run_id, f"direction-{name}"), mime="image/png", key=f"png_dir_{i}",
            icon=":material/download:", on_click="ignore")


def _direction_paths(page: LatentPage, d, start, start_name: str, frames: int, label) -> None:
    ex = page.ex
    with st.columns([1, 2])[0]:
        step = st.slider("Step size", 0.1, 5.0, 1.0, 0.1, key="lat_dir_step_points",
                         help="How far each point moves along the unit direction.")
    ts = offsets(frames, step)
    paths = [ex.along(start, vector, ts, label=label, psi=page.psi) for vector in d.vectors]
    what = METHOD_LABELS.get(d.method, d.method)
    fig = latent_viz.direction_paths_figure(real_points(ex.cfg.dataset), paths, list(d.names),
                                            scores=[score_text(d.score_name, float(s)) for s in d.scores],
                                            title=f"{len(paths)} {what} directions from {start_name} "
                                                  f"(step {step:g}, ψ {page.psi:g})")
    st.plotly_chart(fig, key="fig_directions", **CHART)
    st.caption("Each line is what G draws as z moves along one direction, the start latent at the diamond and the "
               "arrow at the + end; a direction that crosses between modes shows where G's gaps are.")


# ---------------------------------------------------------------- fidelity vs diversity

def truncation_panel(page: LatentPage) -> None:
    ex = page.ex
    st.caption("The truncation trick (StyleGAN, BigGAN) draws z̄ + ψ (z − z̄) instead of z. Smaller ψ keeps "
               "samples near the centre of the prior, where G is best trained: precision (do the fakes look real?) "
               "goes up and recall and coverage (is every real kind of sample made?) go down. Press the button to "
               "measure the trade for this run; it takes a few seconds.")
    c1, c2, c3 = st.columns([2, 1, 1], vertical_alignment="bottom")
    text = c1.text_input("ψ values", DEFAULT_PSIS, key="lat_sweep_psis",
                         help="Numbers from 0 to 1.5 separated by commas; 1 is the prior as trained.")
    n = c2.selectbox("Samples per ψ", SWEEP_SIZES, index=1, key="lat_sweep_n")
    go = c3.button("Measure fidelity vs diversity", key="lat_sweep_go", icon=":material/query_stats:")
    try:
        psis = parse_psis(text)
    except GanlabError as e:
        st.error(str(e))
        return
    inputs = (ex.run_id, str(ex.checkpoint), tuple(psis), int(n))
    if go:
        with show_errors("Could not measure"), st.spinner(f"Sampling {n:,} per ψ and scoring them…"):
            _ = ex.classifier  # trained (once per data root) here, with gradients: the sweep runs under no_grad
            st.session_state[SWEEP_KEY] = (inputs, truncation_sweep(ex, psis, n=int(n), data_root=page.data_root))
    done = st.session_state.get(SWEEP_KEY)
    if not done or done[0] != inputs:
        st.caption("No measurement for these settings yet.")
        return
    rows = done[1]
    st.plotly_chart(latent_viz.truncation_figure(rows, subtitle=f"{ex.run_id} · {n:,} samples per ψ · G at step {ex.step:,}"),
                    key="fig_truncation", **CHART)
    table = [{k: v for k, v in r.items() if isinstance(v, (int, float, str)) and not isinstance(v, bool)} for r in rows]
    st.dataframe(table, hide_index=True)
    st.download_button("CSV", _csv(table), file_name=png_name(ex.run_id, "truncation")[:-4] + ".csv", mime="text/csv",
                       key="csv_truncation", icon=":material/download:", on_click="ignore")


def _csv(rows: Sequence[Mapping]) -> bytes:
    keys = list(dict.fromkeys(k for r in rows for k in r))
    lines = [",".join(keys)] + [",".join(_cell(r.get(k, "")) for k in keys) for r in rows]
    return ("\n".join(lines) + "\n").encode()


def _cell(v) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v).replace(",", " ")


# ---------------------------------------------------------------- projection

def projection_panel(page: LatentPage) -> None:
    ex = page.ex
    st.caption("Projection finds the z whose G(z) is closest to a target (optimising z from the best of many random "
               "latents, as StyleGAN2's projector does, with a feature loss from ganlab's classifier and a prior term "
               "that keeps z typical). Keep the result: its name then works wherever a seed goes.")
    figure_slot = None
    if ex.kind == "images":
        target, source = _image_target(page)
    elif page.is_points2d:
        target, source, figure_slot = _point_target(page)
    else:
        st.info("Projection is for image runs and 2-D point runs.")
        return
    c1, c2, _ = st.columns([1, 1, 2])
    steps = c1.select_slider("Optimisation steps", PROJECTION_STEPS, 200, key="lat_proj_steps",
                             help="Adam steps on z after the best of 512 random starts; more is closer, and slower.")
    label = None
    if ex.conditional:
        label = c2.selectbox("Class", [None] + list(range(ex.num_classes)), key="lat_proj_class",
                             format_func=lambda c: "let the projection choose" if c is None else f"{c}: {ex.class_name(c)}")
    if target is None:
        return
    inputs = (ex.run_id, str(ex.checkpoint), source, label, steps)
    if st.button("Project", key="lat_proj_go", icon=":material/center_focus_strong:", type="primary"):
        bar = st.progress(0.0, text="Projecting…")

        def progress(i: int, total: int, loss: float) -> None:
            bar.progress(min(1.0, i / max(total, 1)), text=f"Projecting: step {i:,} of {total:,} · distance {loss:.4g}")

        with show_errors("Could not project"):
            result = ex.project(target, progress=progress, label=label, steps=int(steps))
            st.session_state[PROJECTION_KEY] = {"inputs": inputs, "target": target, "source": source, "result": result}
        bar.empty()
    done = st.session_state.get(PROJECTION_KEY)
    current = done if done and done["inputs"] == inputs else None
    if figure_slot is not None:  # drawn last, so it shows the projection this very run made
        _point_figure(page, figure_slot, target, current)
    if current is None:
        st.caption("Press Project to search for this target's latent.")
    else:
        _show_projection(page, current)
    _kept_list(page)


def _image_target(page: LatentPage) -> tuple[Optional[np.ndarray], str]:
    ex = page.ex
    kind = st.radio("Target", ["dataset", "upload"], horizontal=True, key="lat_proj_source",
                    format_func=lambda k: {"dataset": "an image of the run's dataset", "upload": "an image of yours"}[k])
    if kind == "upload":
        up = st.file_uploader("PNG or JPEG", type=["png", "jpg", "jpeg"], key="lat_proj_upload",
                              help=f"Centre-cropped and resized to the run's {ex.spec.shape[2]}×{ex.spec.shape[1]}, "
                                   f"{'grayscale' if ex.spec.shape[0] == 1 else 'RGB'}.")
        if up is None:
            return None, ""
        try:
            target = target_from_upload(up.getvalue(), up.name, ex.spec)
        except GanlabError as e:
            st.error(str(e))
            return None, ""
        st.image(tiles(target, min_tile=96)[0], caption=f"{literal(up.name)} as G sees it", width=120)
        return target, f"upload {up.name}"
    with show_errors("Could not load the dataset"):
        x, y = dataset_arrays(ex.cfg.dataset, page.data_root)
        c1, c2 = st.columns([1, 3], vertical_alignment="center")
        i = int(c1.number_input("Image index", 0, len(x) - 1, 0, 1, key="lat_proj_index",
                                help=f"Any of the dataset's {len(x):,} images."))
        cls = f" · class {ex.class_name(int(y[i]))}" if y is not None else ""
        c2.image(tiles(x[i:i + 1], min_tile=96)[0], caption=f"dataset image {i}{cls}", width=120)
        return np.array(x[i:i + 1]), f"dataset image {i}"
    return None, ""


def _point_target(page: LatentPage) -> tuple[Optional[np.ndarray], str, object]:
    """The point to project (typed, or the last click on the figure), its name, and where the figure goes."""
    sel = st.session_state.get(CLICK_KEY)
    picked = _clicked_point(sel)
    if picked is not None and st.session_state.get("_lat_proj_last_click") != picked:
        st.session_state["_lat_proj_last_click"] = picked  # a new click fills the boxes; typing still wins after
        st.session_state["lat_proj_x"], st.session_state["lat_proj_y"] = picked
    c1, c2, _ = st.columns([1, 1, 2])
    px = c1.number_input("x", value=1.0, step=0.1, format="%.3f", key="lat_proj_x")
    py = c2.number_input("y", value=0.0, step=0.1, format="%.3f", key="lat_proj_y")
    target = np.array([[px, py]], dtype=np.float32)
    return target, f"point ({px:.3f}, {py:.3f})", st.container()


def _point_figure(page: LatentPage, slot, target: np.ndarray, done: Optional[dict]) -> None:
    ex, res = page.ex, (done["result"] if done else None)
    fig = latent_viz.projection_points_figure(real_points(ex.cfg.dataset), target=target,
                                              recon=None if res is None else res.recon[:1],
                                              title="Click a point (or anywhere) to project it")
    slot.plotly_chart(fig, key=CLICK_KEY, on_select="rerun", selection_mode="points", **CHART)


def _clicked_point(selection) -> Optional[tuple[float, float]]:
    try:
        pts = selection["selection"]["points"]
    except (KeyError, TypeError):
        return None
    if not pts:
        return None
    return round(float(pts[0]["x"]), 3), round(float(pts[0]["y"]), 3)


def _show_projection(page: LatentPage, done: dict) -> None:
    ex, res = page.ex, done["result"]
    err, base = float(res.error[0]), float(res.baseline[0])
    chosen = (f" (G drew it as class {ex.class_name(int(res.labels[0]))})" if getattr(res, "labels", None) is not None
              else "")
    verdict = ("closer than" if err < base else "no closer than")
    unit = "pixel RMSE in [0, 1]" if ex.kind == "images" else "distance"
    if ex.kind == "images":
        c1, c2, c3 = st.columns([1, 1, 3])
        c1.image(tiles(done["target"], min_tile=96)[0], caption="target", width=120)
        c2.image(tiles(res.recon[:1], min_tile=96)[0], caption=f"G(projected z): {err:.3f}", width=120)
        with c3:
            feat = getattr(res, "feature_error", None)
            feat_text = f"; distance in the classifier's features {float(feat[0]):.3g}" if feat is not None else ""
            st.markdown(f"Error **{err:.3f}** ({unit}) against **{base:.3f}** for the best of the random z it started "
                        f"from: the projection is {verdict} chance{chosen}{feat_text}.")
            _keep_button(page, done)
    else:
        st.markdown(f"G(projected z) = ({res.recon[0, 0]:.3f}, {res.recon[0, 1]:.3f}): error **{err:.3f}** "
                    f"against **{base:.3f}** for the best random z{chosen}.")
        _keep_button(page, done)


def _keep_button(page: LatentPage, done: dict) -> None:
    res = done["result"]
    kept = page.kept
    already = next((n for n, k in kept.items() if k.source == done["source"] and np.array_equal(k.z, res.z[:1])), None)
    if already:
        st.caption(f"Kept as **{already}**: type {already} in any seed box, or in seed arithmetic.")
        return
    nxt = next(f"p{i}" for i in range(1, len(kept) + 2) if f"p{i}" not in kept)
    if st.button(f"Keep as {nxt}", key="lat_proj_keep", icon=":material/bookmark_add:"):
        labels = getattr(res, "labels", None)
        keep_latent(page.run.id, KeptLatent(np.asarray(res.z[:1], np.float32), None if labels is None else int(labels[0]),
                                            done["source"], float(res.error[0])))
        st.rerun()


def _kept_list(page: LatentPage) -> None:
    kept = page.kept
    if not kept:
        return
    st.markdown("**Kept latents** (type a name wherever a seed goes): " + "; ".join(
        f"**{n}** = {literal(k.source)} (error {k.error:.3f}"
        + (f", class {page.ex.class_name(k.label)})" if k.label is not None else ")") for n, k in kept.items()))
    if st.button("Forget the kept latents", key="lat_kept_clear", icon=":material/delete:"):
        kept.clear()
        st.rerun()


# ---------------------------------------------------------------- nearest training images

def neighbours_panel(page: LatentPage) -> None:
    ex = page.ex
    st.caption("Memorisation check: each sample beside its 3 nearest training images"
               + (" in the classifier's feature space" if ex.kind == "images" else "")
               + ". A distance near 0 means G copied that training image; samples that are all far from their "
                 "neighbours, yet look like the data, are new. Compare with the distances between real images.")
    c1, c2, c3 = st.columns(3)
    first = int(c1.number_input("First seed", 0, 2**32 - 1, 0, 1, key="lat_nn_first"))
    n = c2.slider("Samples", 1, 16, 8, key="lat_nn_n")
    with c3:
        label = class_select(ex, "Class", "lat_nn_class")
    with show_errors("Could not find neighbours"):
        seeds, x = ex.random_grid(first, n, label, psi=page.psi)
        idx, dist, train = ex.neighbours(x, k=3)
        copied = ex.copies(dist)
        if ex.kind == "images":
            cols = st.columns(2)
            for j, s in enumerate(seeds):
                with cols[j % 2]:
                    imgs = np.concatenate([x[j:j + 1], np.asarray(train[j])])
                    st.image(tiles(imgs, min_tile=64), width=72,
                             caption=[f"seed {s}" + (" · copy?" if copied[j] else "")]
                             + [f"#{int(i)}: {float(dd):.3g}" for i, dd in zip(idx[j], dist[j])])
        else:
            st.dataframe([{"seed": s, **{f"nearest {r + 1}": f"#{int(idx[j][r])} at {float(dist[j][r]):.3g}"
                                         for r in range(idx.shape[1])}} for j, s in enumerate(seeds)], hide_index=True)
        bar = ex.training_set()[2]
        st.caption(f"Nearest distance over these samples: median {np.median(dist[:, 0]):.3g}, smallest "
                   f"{dist[:, 0].min():.3g} (training image #{int(idx[int(np.argmin(dist[:, 0])), 0])}). Training "
                   f"images are at least {bar:.3g} from each other 99% of the time: "
                   + (f"**{int(copied.sum())} of {len(seeds)} samples are nearer than that** (marked copy?), "
                      "which is what memorisation looks like." if copied.any() else
                      "no sample is nearer than that to its neighbour, so none looks copied."))


# ---------------------------------------------------------------- the tool picker

TOOLS: Mapping[str, tuple[str, Callable[[LatentPage], None]]] = {
    "directions": ("Directions", directions_panel),
    "truncation": ("Fidelity vs diversity", truncation_panel),
    "projection": ("Projection", projection_panel),
    "neighbours": ("Nearest neighbours", neighbours_panel),
}


def research_tools(page: LatentPage) -> None:
    """The tool picker and the one tool picked (none until a person picks)."""
    st.subheader("Research tools")
    tool = st.segmented_control("Research tool", list(TOOLS), key=TOOL_KEY, label_visibility="collapsed",
                                format_func=lambda t: TOOLS[t][0])
    if tool is None:
        st.caption("Directions that mean something (SeFa, GANSpace, a class boundary), fidelity against diversity "
                   "as ψ moves, projection of a real image into z, and a memorisation check: pick one.")
        return
    TOOLS[tool][1](page)
