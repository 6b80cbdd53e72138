"""Latent space: walk the space of a trained G (interpolation, seed arithmetic, dimension walks, grids), then read it
like a researcher (directions, truncation, projection of real images, nearest training images)."""

import numpy as np
import streamlit as st

from ganlab.data import target_of
from ganlab.explore.latent import parse_expression
from ganlab.store import LIVE_STATES, Run, RunError
from ganlab.ui.common import show_errors
from ganlab.ui.latent_research import LatentPage, research_tools
from ganlab.ui.latent_widgets import (
    class_select,
    class_select_narrow,
    explorer_for,
    gif_of,
    kept_latents,
    labelled_points_figure,
    latent_bank,
    latent_input,
    latent_vector,
    png_name,
    points_csv,
    psi_slider,
    show_strip,
    strip_png,
    tiles,
    timelapse_gif,
    unknown_latent,
)
from ganlab.ui.manager import get_manager, selected_run_id
from ganlab.ui.monitor import real_points
from ganlab.ui.text import literal
from ganlab.viz import images, points

CHART = {"config": {"displaylogo": False}}
SEED_MAX = 2**32 - 1
# as code, so Markdown shows the * of a weight (and the text is what the box accepts)
ARITHMETIC_EXAMPLES = ", ".join(f"`{e}`" for e in ("12 + 7", "12 - 7", "12 - 7 + 3", "0.5*12 + 0.5*7"))


def need_run(message: str) -> None:
    st.info(message)
    st.page_link("views/train.py", label="Start a run on the Train page", icon=":material/rocket_launch:")
    st.stop()


def seed_input(label: str, key: str, default: int) -> int:
    return int(st.number_input(label, min_value=0, max_value=SEED_MAX, value=default, step=1, key=key,
                               help="A seed is a latent's identity: the same seed always gives the same z."))


def show_samples(ex, x: np.ndarray, captions: list[str], *, title: str, what: str, path: bool = False,
                 gif: bool = False) -> None:
    """Images as a captioned strip (PNG / GIF download); 2-D points as a path or scatter over the
    real data (CSV download); other vectors as the per-position view."""
    rid = ex.run_id
    if ex.kind == "images":
        show_strip(x, captions)
        row = st.container(horizontal=True)
        row.download_button("PNG", lambda: strip_png(x, captions, f"{rid} · {title} · G at step {ex.step:,}"),
                            file_name=png_name(rid, what), mime="image/png",
                           key=f"png_{what}", icon=":material/download:", on_click="ignore")
        if gif:
            row.download_button("GIF", lambda: gif_of(x), file_name=png_name(rid, what)[:-4] + ".gif", mime="image/gif",
                               key=f"gif_{what}", icon=":material/movie:", on_click="ignore")
        return
    real = real_points(ex.cfg.dataset)
    if ex.spec.shape == (2,):
        fig = (points.points_path_figure(x, real=real, labels=captions, title=title) if path
               else labelled_points_figure(x, captions, real=real, title=title))
    else:
        fig = points.vector_figure(x, target=target_of(ex.cfg.dataset), title=title,
                                   value_range=None if ex.spec.unbounded else tuple(ex.spec.value_range))
        st.caption("Rows of the heatmap, top to bottom: " + ", ".join(captions))
    st.plotly_chart(fig, key=f"fig_{what}", **CHART)
    st.download_button("CSV", points_csv(x, captions), file_name=png_name(rid, what)[:-4] + ".csv",
                       mime="text/csv", key=f"csv_{what}", icon=":material/download:", on_click="ignore")


def use_seed(key: str, seed: int) -> None:
    st.session_state[key] = str(seed)  # the seed boxes take a seed or a kept latent's name: text


# ---------------------------------------------------------------- the tabs

def interpolation_tab(ex, psi: float) -> None:
    mode = "seeds"
    if ex.conditional:
        mode = st.radio("Interpolate between", ["seeds", "classes"], horizontal=True, key="lat_mode",
                        format_func=lambda m: {"seeds": "two seeds (same class)", "classes": "two classes (same seed)"}[m])
    c1, c2, c3, c4 = st.columns(4)
    kept = kept_latents(ex.run_id)
    with c1:
        a, name_a = latent_input("Seed A" if mode == "seeds" else "Seed", "lat_seed_a", 1, kept)
    with c2:
        b, name_b = latent_input("Seed B", "lat_seed_b", 2, kept) if mode == "seeds" else (a, name_a)
    with c3:
        method = st.radio("Path", ["slerp", "lerp"], horizontal=True, key="lat_method",
                          help="slerp follows a great circle and keeps |z| typical; lerp is the straight "
                               "line, whose middle is shorter than any z G saw in training.")
    with c4:
        steps = st.slider("Steps", 2, 32, 10, key="lat_steps")
    if mode == "classes":
        c1, c2 = st.columns(2)
        with c1:
            la = class_select(ex, "Class A", "lat_class_a", 0)
        with c2:
            lb = class_select(ex, "Class B", "lat_class_b", 1)
        st.caption("The class input slides from one-hot(A) to one-hot(B). G was trained on one-hot classes "
                   "only, so the middle frames show what it does with inputs it never saw.")
    else:
        la = lb = class_select_narrow(ex, "Class", "lat_class_i") if ex.conditional else None
    if a is None or b is None:
        return
    with show_errors("Could not interpolate"):
        x = ex.interpolate(a, b, steps, method, la, lb, psi=psi)
        t = np.linspace(0, 1, steps)
        ends = (name_a, name_b) if mode == "seeds" else (f"class {ex.class_name(la)}", f"class {ex.class_name(lb)}")
        captions = [ends[0] if i == 0 else ends[1] if i == steps - 1 else f"t={v:.2f}" for i, v in enumerate(t)]
        what = f"{method}-{name_a.removeprefix('seed ')}-{name_b.removeprefix('seed ')}"
        show_samples(ex, x, captions, title=f"{method} from {ends[0]} to {ends[1]}", what=what, path=True, gif=True)


def arithmetic_tab(ex, psi: float) -> None:
    c1, c2 = st.columns([3, 1])
    with c1:
        text = st.text_input("Seed arithmetic", "12 + 7 - 3", key="lat_expr",
                             help=f"Seeds joined by + and -, with optional weights: {ARITHMETIC_EXAMPLES}. "
                                  "Kept latents work by name (`p1 - p2 + 7`). The latents are added, then G "
                                  "draws the sum.")
    with c2:
        label = class_select(ex, "Class", "lat_class_a2")
    st.caption("Make Your Own GAN found that adding two seeds gives a sample that mixes both, while "
               "subtracting one gives nothing recognisable: the difference of two latents is not "
               "'seed A without seed B'. Try `12 + 7` and then `12 - 7` to see it for yourself.")
    kept = kept_latents(ex.run_id)
    try:
        unknown = [s for s, _ in parse_expression(text) if isinstance(s, str) and s not in kept]
        if unknown:
            st.error(f"{literal(text)} is not seed arithmetic this page can draw: {unknown_latent(unknown[0], kept)}.")
            return
        ar = ex.arithmetic(text, label, bank=latent_bank(kept), psi=psi)
    except ValueError as e:
        st.error(f"{literal(e)}. Write seeds joined by + and -, with optional weights: {ARITHMETIC_EXAMPLES}.")
        return
    names = [(f"seed {s}" if isinstance(s, int) else str(s)) + (f" × {abs(w):g}" if abs(w) != 1 else "")
             for s, w in ar.terms]
    if ex.kind == "images":
        cols = st.columns([3, 1] * len(ar.terms) + [3])
        imgs = tiles(ar.operands, min_tile=96)
        for i, ((_seed, w), img) in enumerate(zip(ar.terms, imgs)):
            cols[2 * i].image(img, caption=names[i], width="stretch")
            nxt = "=" if i == len(ar.terms) - 1 else ("−" if ar.terms[i + 1][1] < 0 else "+")
            cols[2 * i + 1].markdown(f"<div style='font-size:2.2rem;text-align:center;padding-top:1.5rem'>{nxt}</div>",
                                     unsafe_allow_html=True)
            if i == 0 and w < 0:
                cols[0].caption("(subtracted)")
        cols[-1].image(tiles(ar.result, min_tile=96)[0], caption=literal(ar.text()), width="stretch")
        both = np.concatenate([ar.operands, ar.result])
        st.download_button("PNG", lambda: strip_png(both, names + [ar.text()], f"{ex.run_id} · seed arithmetic "
                                                    f"{ar.text()} · G at step {ex.step:,}"),
                           file_name=png_name(ex.run_id, "arithmetic"), mime="image/png",
                           key="png_arith", icon=":material/download:", on_click="ignore")
    elif ex.spec.shape == (2,):
        fig = labelled_points_figure(ar.operands, names, real=real_points(ex.cfg.dataset), result=ar.result,
                                     result_label=ar.text(), title=f"Seed arithmetic: {ar.text()}")
        st.plotly_chart(fig, key="fig_arithmetic", **CHART)
        st.download_button("CSV", points_csv(np.concatenate([ar.operands, ar.result]), names + [ar.text()]),
                           file_name=png_name(ex.run_id, "arithmetic")[:-4] + ".csv", mime="text/csv",
                           key="csv_arithmetic", icon=":material/download:", on_click="ignore")
    else:
        show_samples(ex, np.concatenate([ar.operands, ar.result]), names + [ar.text()],
                     title=f"Seed arithmetic: {ar.text()}", what="arithmetic")
    ratio = ar.result_norm / ar.typical_norm
    length = ("longer than the latents G saw in training, which alone can push the result off the data"
              if ratio > 1.25 else "shorter than the latents G saw in training (terms cancel)" if ratio < 0.75
              else "a typical length")
    st.caption(f"|z| of the result: {ar.result_norm:.2f}; a typical seed's is about {ar.typical_norm:.2f} "
               f"(operands: {', '.join(f'{n:.2f}' for n in ar.operand_norms)}): {length}.")


def walk_tab(ex, psi: float) -> None:
    c1, c2, c3, c4 = st.columns(4)
    with c1:
        seed, name = latent_input("Seed", "lat_walk_seed", 1, kept_latents(ex.run_id))
    with c2:
        dim = st.slider("Dimension of z", 0, ex.latent_dim - 1, 0, key="lat_walk_dim")
    with c3:
        lo, hi = st.slider("Values", -5.0, 5.0, (-3.0, 3.0), 0.5, key="lat_walk_range",
                           help="z's coordinate is set to each value in turn; N(0, 1) latents mostly lie in ±2.")
    with c4:
        n = st.slider("Steps", 2, 32, 9, key="lat_walk_n")
    label = class_select_narrow(ex, "Class", "lat_class_w") if ex.conditional else None
    values = np.linspace(lo, hi, n)
    if seed is None:
        return
    with show_errors("Could not walk"):
        z0 = float(latent_vector(ex, seed)[0, dim])
        st.caption(f"{name[0].upper() + name[1:]} has z[{dim}] = {z0:.2f}; every other coordinate stays as it is.")
        x = ex.walk(seed, dim, values, label, psi=psi)
        show_samples(ex, x, [f"z[{dim}]={v:+.2f}" for v in values], title=f"Walk along z[{dim}] from {name}",
                     what=f"walk-{name.removeprefix('seed ')}-d{dim}", path=True, gif=True)


def grid_tab(ex, psi: float) -> None:
    c1, c2, c3 = st.columns(3)
    with c1:
        first = seed_input("First seed", "lat_grid_first", 0)
    with c2:
        n = st.slider("How many", 1, 64, 24, key="lat_grid_n")
    with c3:
        label = class_select(ex, "Class", "lat_class_g")
    with show_errors("Could not draw the grid"):
        seeds, x = ex.random_grid(first, n, label, psi=psi)
        show_samples(ex, x, [f"seed {s}" for s in seeds], title=f"Seeds {seeds[0]}-{seeds[-1]}",
                     what=f"grid-{first}-{n}")
        st.caption("Every sample is labelled with its seed: reuse a seed in the other tabs.")
        if ex.conditional and ex.kind == "images" and st.toggle("Every class: one row per class, same seeds",
                                                                 key="lat_grid_all"):
            class_grid(ex, seeds[:16], psi)
        c1, c2, c3, c4 = st.columns([2, 1, 1, 1])
        pick = c1.selectbox("Seed", seeds, key="lat_grid_pick", label_visibility="collapsed")
        c2.button("Use as seed A", key="lat_use_a", on_click=use_seed, args=("lat_seed_a", pick))
        c3.button("Use as seed B", key="lat_use_b", on_click=use_seed, args=("lat_seed_b", pick))
        c4.button("Use for the walk", key="lat_use_w", on_click=use_seed, args=("lat_walk_seed", pick))


def class_grid(ex, seeds: list[int], psi: float) -> None:
    """Rows: classes; columns: seeds. A column keeps z, so it shows what the class input changes."""
    k = ex.num_classes
    x = ex.from_seeds(seeds * k, labels=[c for c in range(k) for _ in seeds], psi=psi)
    grid = images.image_grid(x, nrow=len(seeds))
    names = ", ".join(ex.class_name(c) for c in range(k))
    st.image(grid, caption=f"Rows: classes {names}; columns: seeds {seeds[0]}-{seeds[-1]}",
             width=min(820, 40 * len(seeds)))
    st.download_button("PNG", images.grid_png_bytes(grid), file_name=png_name(ex.run_id, "classes"),
                       mime="image/png", key="png_classes", icon=":material/download:", on_click="ignore")


def timelapse(ex, run: Run, live: bool) -> None:
    with st.expander("Training time-lapse (the fixed samples at every snapshot)"):
        if ex.kind != "images":
            st.caption("The time-lapse GIF is for image runs; the Monitor page's slider replays 2-D points.")
            return
        if not run.samples_path.exists():
            st.caption(f"No snapshots yet: one is taken every {ex.cfg.snapshot_every:,} steps.")
            return
        if live:
            st.caption("This run is still training: the GIF holds the snapshots written so far.")
        st.download_button("Time-lapse GIF", lambda: timelapse_gif(run),
                           file_name=png_name(run.id, "timelapse")[:-4] + ".gif",
                           mime="image/gif", key="gif_timelapse", icon=":material/movie:", on_click="ignore",
                           help="Made when you click: every snapshot of samples.h5 (at most 120, evenly spaced).")


# ---------------------------------------------------------------- the page

st.title(":material/explore: Latent space")
st.caption("Walk the latent space of a trained generator: a seed is a latent's identity, so every sample "
           "here can be found again by its seed.")
run_id = selected_run_id()
if not run_id:
    need_run("No run selected: start one on the Train page, or pick one in the sidebar.")
manager = get_manager()
try:
    run = Run.open(manager.runs_dir / run_id)
    ex = explorer_for(run, str(manager.data_root))
except RunError as e:
    need_run(f"{e}. The Latent page needs a checkpoint; come back when the run has written one.")
except Exception as e:  # noqa: BLE001 - an unreadable checkpoint is a message, not a traceback
    need_run(f"Could not load the generator of {run_id}: {type(e).__name__}: {e}")

snap = manager.snapshot(run_id)
state = snap.state if snap is not None else run.status().get("state", "interrupted")
is_live = state in LIVE_STATES and snap is not None
note = (f" — the run is {state} at step {snap.step:,}; G is reloaded when the next checkpoint "
        f"(every {ex.cfg.checkpoint_every:,} steps) is written" if is_live else "")
dataset = "hdf5: " + ex.cfg.dataset.rsplit("/", 1)[-1] if ex.cfg.dataset.startswith("hdf5:") else ex.cfg.dataset
st.markdown(f"**{run_id}** · {dataset} · {ex.cfg.arch} · {ex.cfg.loss} · z has {ex.latent_dim} dimensions "
            f"({ex.cfg.latent_dist}) · G as of step **{ex.step:,}**{note}")
if ex.cfg.latent_mixture:
    st.caption(f"This G's latent has **{ex.cfg.latent_mixture} islands**: z's dimension 0 picks one (equal "
               "shares of N(0, 1)) and G sees the island's code with a scaled copy of the rest. A path that "
               "crosses from one island to the next jumps instead of sliding: that is how G keeps the gaps "
               "between modes empty.")
if is_live and st.button("Reload", key="lat_reload", icon=":material/refresh:", help="Pick up a newer checkpoint."):
    st.rerun()

with st.columns([2, 3])[0]:
    psi = psi_slider()
st.caption("**ψ** (the truncation trick) pulls every latent toward the mean latent, z̄ + ψ (z − z̄), in every panel "
           "below: under 1 the samples get more typical and more alike (fidelity up, diversity down); 1 draws z as "
           "G was trained." + (f" Now **ψ = {psi:g}**." if psi != 1 else ""))

tabs = st.tabs(["Interpolation", "Seed arithmetic", "Dimension walk", "Random grid"])
with tabs[0]:
    interpolation_tab(ex, psi)
with tabs[1]:
    arithmetic_tab(ex, psi)
with tabs[2]:
    walk_tab(ex, psi)
with tabs[3]:
    grid_tab(ex, psi)
research_tools(LatentPage(ex, run, psi, str(manager.data_root)))
timelapse(ex, run, is_live)
