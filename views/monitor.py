"""Monitor: the game between D and G, live (losses vs equilibrium, D's verdicts, samples, D's surface)."""

import streamlit as st

from ganlab.data import target_of
from ganlab.game.losses import CONVENTION, LOSSES
from ganlab.ui.clocks import CHARTS_S, MAX_POINTS, POLL_S, SAMPLES_S
from ganlab.ui.common import STATE_ICONS, resume_control, run_rows, show_errors, show_flashes
from ganlab.ui.manager import get_manager, selected_run_id
from ganlab.ui.monitor import (
    GRID_PX,
    REPLAY_GIF_FRAMES,
    STEP_PARTS,
    STRIP_FRAMES,
    as_unit,
    cached_figure,
    coverage_drop,
    disk_game,
    disk_history,
    disk_samples,
    final_samples,
    game_frame_at,
    game_frame_near,
    is_game_run,
    iteration_text,
    last_value,
    live_speed,
    pick_frame,
    real_points,
    replay_gif,
    run_changes,
    run_view,
    sample_grid,
    step_blocker,
    timelapse_frames,
    timelapse_strip_png,
    value_counts,
    view_recipe,
)
from ganlab.viz import charts as chart_registry
from ganlab.viz import curves, game, images, points
from ganlab.viz.progress import status_line
from ganlab.viz.style import series_info, series_name

CHART = {"config": {"displaylogo": False}}


def status_panel(view) -> None:
    """State, progress bar with steps/s and ETA (moving between log ticks), and the recipe as it trains now."""
    cfg = view.config
    text = status_line(view.state, view.step, cfg.steps, sps=live_speed(view), active=view.active,
                       icon=STATE_ICONS.get(view.state, ""))
    if view.active and not view.history:
        text += f" · the charts start at step {min(cfg.log_every, cfg.steps):,}"
    st.progress(min(max(view.step / max(cfg.steps, 1), 0.0), 1.0), text=text)
    hp = view_recipe(view)  # the live values (the job's, else the newest record's), never config.json's start values
    schedule = "" if cfg.lr_schedule == "constant" else f" ({cfg.lr_schedule} schedule)"
    st.caption(f"{cfg.dataset} · {cfg.arch} · {cfg.loss} ({LOSSES.describe(cfg.loss)}) · batch {cfg.batch_size} · "
               f"k = {int(hp['d_steps'])} · lr D {hp['lr_d']:.3g} · lr G {hp['lr_g']:.3g}{schedule} · seed {cfg.seed}")
    if view.state == "finished" and cfg.stop_at:  # it met its stop_at before the last step: say so, with the figures
        early = (view.snapshot.stopped_early if view.snapshot else None) or view.run.status().get("stopped_early")
        if early:
            st.success(early[:1].upper() + early[1:])


def controls(view, layers: tuple[bool, bool] = (True, True)) -> None:
    """Pause / resume / stop and live learning rates, then step-by-step (which says why it is off, if it is)."""
    _run_controls(view)
    if not (view.snapshot is not None and view.snapshot.diverged):
        step_panel(view, layers)


def _run_controls(view) -> None:
    """Pause / resume / stop and live learning rates for runs in this process; resume for others."""
    manager, rid, snap = get_manager(), view.run.id, view.snapshot
    if snap is not None and snap.diverged:
        st.error(f"Training diverged: {snap.error}")
        if st.button("Resume with lr × 0.5", key="resume_half", type="primary",
                     help="Restart from the last checkpoint with both learning rates halved."):
            with show_errors("Could not resume"):
                manager.resume(rid, lr_scale=0.5)
                st.rerun()
        return
    if view.live:
        c1, c2, c3, c4 = st.columns([1, 1, 1, 5])
        if view.state == "paused":
            if c1.button("Resume", key="unpause", icon=":material/play_arrow:", type="primary"):
                with show_errors("Could not resume"):
                    manager.unpause(rid)
        elif c1.button("Pause", key="pause", icon=":material/pause:"):
            with show_errors("Could not pause"):
                manager.pause(rid)
        if c2.button("Stop", key="stop", icon=":material/stop:", help="Save a checkpoint and end the run; it can be resumed."):
            with show_errors("Could not stop"):
                manager.stop(rid)
        with c4.popover("Change lr / k while it trains"):
            hp = view_recipe(view)  # what it trains with now: Apply must not put config.json's start values back
            with st.form(f"hp_{rid}"):
                lr_d = st.number_input("D learning rate", value=float(hp["lr_d"]),
                                       min_value=0.0, format="%.2e", step=1e-5)
                lr_g = st.number_input("G learning rate", value=float(hp["lr_g"]),
                                       min_value=0.0, format="%.2e", step=1e-5)
                k = st.number_input("k: D steps per G step", value=int(hp["d_steps"]),
                                    min_value=1, max_value=100, step=1)
                if st.form_submit_button("Apply"):
                    with show_errors("Could not change the hyperparameters"):
                        manager.set_hparams(rid, lr_d=lr_d, lr_g=lr_g, d_steps=int(k))
                        st.success("Applied before the next step.")
        return
    if view.active:
        st.caption("This run trains in another process (e.g. `python -m ganlab train`): "
                   "it can be watched here and controlled only there.")
        return
    if view.state in ("failed", "interrupted", "stopped"):
        error = (view.snapshot.error if view.snapshot else view.run.status().get("error")) or ""
        if view.state == "failed":
            st.error(f"The run failed: {error}")
        elif view.state == "interrupted":
            st.warning("This run's process ended while it was training (a restart or a crash).")
        if resume_control(manager, rid, key="resume", report_failure=False) is not None:  # says why not, or from where
            st.rerun()


def charts(view, smoothing: float, log_y: bool) -> None:
    """Every chart of the registry that has something to show, in its order, two to a row, per section."""
    h, cfg = view.history, view.config
    counts = value_counts(view)
    shown = chart_registry.visible(counts)
    loss = LOSSES.get(cfg.loss)
    inp = chart_registry.ChartInput(
        h, smoothing=smoothing, log_y=log_y, max_points=MAX_POINTS, equilibrium=loss.equilibrium,
        convention=CONVENTION, d_probability=loss.to_prob, totals={t: last_value(h, t) for e in shown for t in e.obj.totals},
        changes=run_changes(view), reached=chart_registry.reached_marks(h))
    tick_key = (*view.version, smoothing, log_y)
    for section in chart_registry.SECTIONS:
        entries = [e for e in shown if e.obj.section == section]
        if section == "quality":
            coverage_warnings(h, entries)
        for row in range(0, len(entries), 2):
            for col, entry in zip(st.columns(2), entries[row:row + 2]):
                chart = entry.obj
                # a metric chart changes only on the records that carry its keys (eval ticks)
                key = tick_key if chart.every_tick else (view.run.id, *(counts.get(k, 0) for k in chart.keys))
                with col:
                    st.plotly_chart(cached_figure(entry.name, key, lambda b=chart.build: b(inp)),
                                    key=f"chart_{entry.name}", **CHART)


def coverage_warnings(history, entries) -> None:
    """A warning per coverage metric (a series with a total) that is below its best: mode collapse."""
    for key in dict.fromkeys(k for e in entries for k in e.obj.keys if series_info(k).total):
        drop = coverage_drop(history, key)
        if drop:
            latest, best, at = drop
            st.warning(f"Modes are being lost: {series_name(key)} is {latest:g} now, down from {best:g} "
                       f"at step {at:,}. Try a lower learning rate, spectral norm or a different loss.")


def game_panel(view, layers: tuple[bool, bool]) -> bool:
    """The game as GAN Lab draws it (surface, points, arrows, manifold) from the newest frame; False: no frame."""
    frame = game_frame_near(view, None)
    if frame is None:
        return False
    arrows, manifold = layers
    key = (view.run.id, int(frame["step"]), id(frame), arrows, manifold)
    st.plotly_chart(cached_figure("game", key, lambda: game.game_figure(frame, arrows=arrows, manifold=manifold)),
                    key="chart_game", **CHART)
    return True


def samples_panel(view, layers: tuple[bool, bool] = (True, True)) -> None:
    """G's output: the game (points of 2 or more dimensions), else points over D's surface, vectors, or an image grid."""
    spec, snap, cfg = view.spec, view.snapshot, view.config
    preview = snap.preview if snap is not None else None
    if is_game_run(spec) and game_panel(view, layers) and spec.shape == (2,):
        return  # D > 2: the vectors themselves show below the projection
    if preview is None and view.live:
        st.info("Samples appear after the first tick.")
        return
    if preview is None and view.writing_samples and not (spec is not None and spec.shape == (2,)):
        st.info("This run trains in another process; its samples show here when it pauses or ends.")
        return
    if spec is not None and spec.kind == "points" and spec.shape == (2,):
        if preview is not None:
            real, fake, surface, step = preview.get("real"), preview.get("fake"), preview.get("surface"), preview["step"]
        else:
            ckpt = view.run.checkpoints()
            real, surface, step = real_points(cfg.dataset), None, view.run.last_checkpoint_step() or view.step
            fake = final_samples(str(view.run.path), ckpt[-1].name) if ckpt else None
            if fake is None:
                st.info("No checkpoint to draw samples from yet.")
                return
        title = f"Real and fake points at step {step:,}" + ("" if surface is not None else " (D's surface is shown live)")
        st.plotly_chart(cached_figure("points", (view.run.id, step), lambda: points.points_figure(
            real, fake, surface=surface, title=title, height=520, max_points=500)), key="chart_points", **CHART)
        return
    samples, step = _latest_samples(view, preview)
    if samples is None:
        st.info("No samples yet.")
        return
    if spec is not None and spec.kind == "points":
        st.plotly_chart(cached_figure("vectors", (view.run.id, step), lambda: points.vector_figure(
            samples, target=target_of(cfg.dataset), value_range=spec.value_range,
            title=f"Generated vectors at step {step:,}")), key="chart_vectors", **CHART)
        return
    left, right = st.columns([3, 2])  # the grid fills most of the width; a 64-sample grid stays on screen
    left.image(_grid(samples, view), caption=f"Fixed latent batch at step {step:,}" +
               (" · one row per class" if cfg.conditional else ""))
    right.caption(f"The same {len(samples)} latent vectors at every refresh: what changes is G, not the noise. "
                  "The time-lapse below steps through the snapshots.")


def _latest_samples(view, preview):
    if preview is not None:
        return preview["samples"], preview["step"]
    steps, samples = disk_samples(view.run)
    if len(steps) == 0:
        return None, 0
    return as_unit(samples[-1], view.spec), int(steps[-1])


GIF_PX = 400  # a GIF frame's width (a GIF holds every snapshot; the page's grid is GRID_PX wide)


def _grid(samples, view, width_px: int = GRID_PX):
    return sample_grid(samples, view.spec, view.config.conditional, width_px=width_px)


def status_part(run_id: str, polling: bool) -> None:
    """Refreshes every POLL_S: state and progress only (the browser redraws this every second)."""
    with show_errors("Could not read the run"):
        view = run_view(run_id)
        sig = (run_id, view.state, bool(view.snapshot and view.snapshot.diverged))
        changed = st.session_state.get("_monitor_sig", sig) != sig
        st.session_state["_monitor_sig"] = sig
        if polling and (changed or not view.active):
            st.rerun()  # paused, resumed, diverged or ended: redraw the controls (and stop polling if ended)
        status_panel(view)


@st.fragment
def controls_part(run_id: str, layers: tuple[bool, bool]) -> None:
    """Buttons redraw when clicked (or when the run ends), not on every tick."""
    with show_errors("Could not read the run"):
        controls(run_view(run_id), layers)


def step_panel(view, layers: tuple[bool, bool]) -> None:
    """One D step, one G step or the rest of the iteration of a paused run, then before and after side by side."""
    manager, snap = get_manager(), view.snapshot
    why = step_blocker(view, manager)
    with st.expander("Step by step: one D or G update at a time", expanded=why is None):
        cols = st.columns([1, 1, 1, 3])
        done_k = getattr(snap, "iteration", None) if snap is not None else None
        d_steps_left = done_k is None or done_k[0] < done_k[1]
        for col, (part, (label, doing)) in zip(cols, STEP_PARTS.items()):
            off = why is not None or (part == "d" and not d_steps_left)
            tip = ("This iteration's k D steps are taken: the G step ends it." if part == "d" and not d_steps_left
                   else "Paused runs only: the update the trainer would make next, and nothing more.")
            if col.button(label, key=f"step_{part}", disabled=off, help=tip):
                with st.spinner(doing), show_errors("Could not step"):
                    manager.step_once(view.run.id, part)
                snap = manager.snapshot(view.run.id)
        if why is not None:
            cols[3].caption(why)
        iteration = getattr(snap, "iteration", None) if snap is not None else None
        if iteration is not None and why is None:
            done, k = iteration
            cols[3].progress(min(done / max(k, 1), 1.0), text=iteration_text(iteration))
        step_view = getattr(snap, "step_view", None) if snap is not None else None
        if step_view is not None:
            before_after(view, step_view, layers)


def before_after(view, sv, layers: tuple[bool, bool]) -> None:
    """The last manual step: the game (or the fixed samples) before and after it, same axes, and what moved."""
    st.info(sv.moved)
    titles = (f"Before: step {sv.step_before:,}", f"After: step {sv.step_after:,}"
              + (f" (D step {sv.d_steps_done} of {sv.k})" if sv.part == "d" else ""))
    left, right = st.columns(2)
    if "fake" in sv.before and "fake" in sv.after:
        arrows, manifold = layers
        ranges, scale = game.shared_view([sv.before, sv.after])
        key = (view.run.id, sv.step_before, sv.step_after, sv.part, sv.d_steps_done, id(sv), arrows, manifold)
        for col, frame, title, name in ((left, sv.before, titles[0], "step_before"), (right, sv.after, titles[1], "step_after")):
            with col:
                st.plotly_chart(cached_figure(name, key, lambda f=frame, t=title: game.game_figure(
                    f, arrows=arrows, manifold=manifold, title=t, ranges=ranges, arrow_scale=scale, show_losses=True, brief=True,
                    height=440)), key=f"chart_{name}", **CHART)
        notes = [game.arrows_caption(scale) if arrows else "", game.manifold_caption(sv.after) if manifold else ""]
        if any(notes):
            st.caption(" ".join(n for n in notes if n))
        return
    for col, frame, title in ((left, sv.before, titles[0]), (right, sv.after, titles[1])):
        if frame.get("samples") is not None:
            col.image(_grid(frame["samples"], view, width_px=GRID_PX // 2), caption=f"{title} · {game.losses_text(frame)}")


def charts_part(run_id: str, smoothing: float, log_y: bool) -> None:
    """Refreshes every CHARTS_S; a figure is rebuilt only when its data changed."""
    with show_errors("Could not draw the curves"):
        charts(run_view(run_id), smoothing, log_y)


def samples_part(run_id: str, layers: tuple[bool, bool]) -> None:
    """Refreshes every SAMPLES_S: the newest preview the trainer made (it makes one every 0.5 s)."""
    with show_errors("Could not draw the samples"):
        samples_panel(run_view(run_id), layers)


def _remember_snapshot(key: str, want_key: str, newest: int) -> None:
    """The person's pick, kept apart from the widget: None (the newest) follows the run as snapshots come."""
    picked = st.session_state.get(key)
    st.session_state[want_key] = None if picked is None or picked >= newest else int(picked)


def _slider(run_id: str, frames: list[tuple[int, int]], label: str) -> tuple[int, int]:
    """The time-lapse slider over `frames`; returns the (step, row) it shows, saying so when the wanted one is gone."""
    key, want_key = f"tl_{run_id}", f"tl_want_{run_id}"
    wanted = st.session_state.get(want_key)
    i = pick_frame(frames, wanted)
    options = [s for s, _ in frames]
    st.session_state[key] = options[i]  # what the slider shows is the frame drawn below
    st.select_slider(label, options=options, format_func=lambda s: f"{s:,}", key=key,
                     on_change=_remember_snapshot, args=(key, want_key, options[-1]))
    step, row = frames[i]
    if wanted is not None and wanted != step:
        st.caption(f"The snapshot of step {wanted:,} is no longer in this run (a resume trained past its "
                   f"checkpoint again): showing step {step:,}, the nearest before it.")
    return step, row


def game_replay(view, layers: tuple[bool, bool]) -> bool:
    """game.h5's frames under the slider: D's surface, the fakes, arrows and manifold as toggled; False: none."""
    frames_file = disk_game(view.run)
    frames = timelapse_frames(frames_file.steps, view.step or None) if frames_file is not None else []
    if not frames:
        return False
    run_id, (arrows, manifold) = view.run.id, layers
    step, row = _slider(run_id, frames, "Snapshot (step)")
    frame = game_frame_at(view.run, row)
    if frame is not None:
        st.plotly_chart(cached_figure("replay", (run_id, step, row, id(frame), arrows, manifold), lambda: game.game_figure(
            frame, arrows=arrows, manifold=manifold, title=f"The game at step {step:,} (replay)", show_losses=True,
            height=480)), key="chart_timelapse", **CHART)
    gif_key = f"replay_gif_{run_id}"
    c1, c2 = st.columns([1, 3])
    if c1.button("Make a GIF", key="tl_game_gif", icon=":material/movie:",
                 help="D's surface, the fake points and the layers toggled above, over every snapshot"):
        with st.spinner("Drawing the replay…"):
            st.session_state[gif_key] = (len(frames), layers, replay_gif(view.run, frames, arrows=arrows,
                                                                         manifold=manifold))
    made = st.session_state.get(gif_key)
    if made is not None and made[:2] == (len(frames), layers):  # a GIF of these snapshots with these layers
        c2.download_button("Download the replay (GIF)", made[2], f"{run_id}-game.gif", "image/gif",
                           key="tl_game_gif_download", icon=":material/download:", on_click="ignore")
        c2.caption(f"{min(made[0], REPLAY_GIF_FRAMES)} of the {made[0]} snapshots, evenly spaced")
    return True


@st.fragment
def timelapse(run_id: str, layers: tuple[bool, bool] = (True, True)) -> None:
    """A slider over the fixed-batch snapshots in samples.h5 (the trainer writes them as it goes).

    The slider and the frame come from one list, read once per rerun: the slider's value is set from
    the frame picked, never left to widget state that an earlier, longer list (before a resume
    dropped the snapshots past its checkpoint) wrote.
    """
    with show_errors("Could not read the snapshots"):
        view = run_view(run_id)
        if is_game_run(view.spec) and game_replay(view, layers):
            return
        steps, samples = disk_samples(view.run)
        frames = timelapse_frames(steps, view.step or None)
        if not frames:
            st.caption(f"No snapshots yet: one is written every {view.config.snapshot_every:,} steps.")
            return
        step, row = _slider(run_id, frames, "Snapshot (step)")
        frame = as_unit(samples[row], view.spec)
        spec = view.spec
        if spec is not None and spec.kind == "points" and spec.shape == (2,):
            st.plotly_chart(points.points_figure(real_points(view.config.dataset), frame, height=460,
                                                 title=f"Fixed latent batch at step {step:,}"),
                            key="chart_timelapse", **CHART)
        elif spec is not None and spec.kind == "points":
            st.plotly_chart(points.vector_figure(frame, target=target_of(view.config.dataset),
                                                 value_range=spec.value_range, title=f"Generated vectors at step {step:,}"),
                            key="chart_timelapse", **CHART)
        else:
            left, right = st.columns([3, 2])
            left.image(_grid(frame, view), caption=f"Fixed latent batch at step {step:,}")
            right.download_button("Download a strip of the snapshots (PNG)",
                                  lambda: timelapse_strip_png(run_id, frames, samples, spec), f"{run_id}-timelapse.png",
                                  "image/png", key="tl_png", icon=":material/download:", on_click="ignore",
                                  help=f"Up to {STRIP_FRAMES} snapshots side by side, each labelled with its step")
            if right.button("Make a GIF of the time-lapse", key="tl_gif"):
                gif = images.gif_bytes([_grid(as_unit(samples[r], spec), view, GIF_PX) for _, r in frames],
                                       duration_ms=150)
                right.download_button("Download the time-lapse (GIF)", gif, f"{run_id}-timelapse.gif", "image/gif")


@st.fragment
def overlay(run_id: str, smoothing: float, log_y: bool) -> None:
    """Several runs' curves on one chart."""
    with show_errors("Could not compare the runs"):
        ids = [r.id for r in run_rows(get_manager(), with_details=False)]
        c1, c2 = st.columns([3, 1])
        chosen = c1.multiselect("Runs", ids, default=[run_id] if run_id in ids else [], key="overlay_runs")
        key = c2.selectbox("Series", chart_registry.line_keys(), format_func=series_name, key="overlay_key")
        if not chosen:
            st.caption("Pick runs to compare.")
            return
        histories, eq = {}, None
        for rid in chosen:
            snap = get_manager().snapshot(rid)
            view = run_view(rid)
            histories[rid] = snap.history if snap is not None else disk_history(view.run)
            eq = eq or LOSSES.get(view.config.loss).equilibrium
        same_loss = len({run_view(r).config.loss for r in chosen}) == 1
        st.plotly_chart(curves.overlay_figure(histories, key, smoothing=smoothing, log_y=log_y and key.startswith("Loss"),
                                              equilibrium=eq if same_loss else None, max_points=MAX_POINTS),
                        key="chart_overlay", **CHART)


@st.fragment
def compare_game(run_id: str, layers: tuple[bool, bool]) -> None:
    """This run's game beside another point run's, at the snapshot nearest the time-lapse's step, and both JS curves."""
    with show_errors("Could not compare the games"):
        manager = get_manager()
        others = [r.id for r in run_rows(manager, with_details=False)
                  if r.id != run_id and is_game_run(run_view(r.id).spec)]
        if not others:
            st.caption("No other run of points to compare with: train a second one (another loss, say).")
            return
        other = st.selectbox("Compare the game with", others, key="game_compare_with",
                             help="Another run of points: both games at the snapshot nearest the time-lapse's step")
        views = [run_view(run_id), run_view(other)]
        step = st.session_state.get(f"tl_{run_id}")
        frames = [game_frame_near(v, step) for v in views]
        shown = [f for f in frames if f is not None]
        arrows, manifold = layers
        ranges, scale = game.shared_view(shown) if shown else (None, None)
        for side, col, v, frame in zip(("this", "other"), st.columns(2), views, frames):
            with col:
                if frame is None:
                    st.caption(f"{v.run.id} has no game frame to show yet"
                               + (" (its snapshots can be read when it pauses or ends)." if v.writing_samples else "."))
                    continue
                key = (v.run.id, int(frame["step"]), id(frame), ranges, arrows, manifold)
                st.plotly_chart(cached_figure(f"compare_{side}", key, lambda f=frame, v=v: game.game_figure(
                    f, arrows=arrows, manifold=manifold, title=f"{v.run.id} at step {int(f['step']):,}", ranges=ranges,
                    arrow_scale=scale, show_losses=True, brief=True, height=440)), key=f"chart_compare_{side}", **CHART)
        notes = [game.arrows_caption(scale) if arrows else "", game.manifold_caption(shown[0]) if manifold else ""] \
            if shown else []
        if any(notes):
            st.caption(" ".join(n for n in notes if n))
        histories = {v.run.id: v.history for v in views}
        st.plotly_chart(curves.overlay_figure(histories, "Div/JS", max_points=MAX_POINTS,
                                              equilibrium={"Div/JS": chart_registry.JS_MAX}),
                        key="chart_compare_js", **CHART)


# ---------------------------------------------------------------- the page
st.title("Monitor")
show_flashes()
run_id = selected_run_id()
if not run_id:
    st.info("No run selected. Start one on the Train page, or pick one in the sidebar.")
    st.page_link("views/train.py", label="Go to Train", icon=":material/rocket_launch:")
    st.stop()

st.subheader(run_id)
c1, c2, _ = st.columns([2, 1, 3])
smoothing = c1.slider("Smoothing", 0.0, 0.99, 0.6, 0.01, key="mon_smoothing",
                      help="TensorBoard-style exponential smoothing; the raw curve stays faint behind it.")
log_y = c2.toggle("Log-scale losses", key="mon_log")

live, run_state, game_run = False, "", False
with show_errors("Could not open the run"):
    first = run_view(run_id)
    live, run_state, game_run = first.active, first.state, is_game_run(first.spec)
layers = (True, True)
if game_run:  # the layers of every game figure on the page (live, step by step, replay, compare), kept per tab
    t1, t2, _ = st.columns([1.2, 1.2, 3.6])
    layers = (t1.toggle("Gradient arrows", value=True, key="game_arrows",
                        help="G's gradient on each fake point: where G's next update pushes it"),
              t2.toggle("G's manifold", value=True, key="game_manifold",
                        help="A latent grid pushed through G, each cell shaded by the share of the prior it holds"))
# three fragments, each on its own clock, so a tick redraws only what is due (no polling once it ended)
st.fragment(run_every=POLL_S if live else None)(status_part)(run_id, live)
controls_part(run_id, layers)
st.fragment(run_every=CHARTS_S if live else None)(charts_part)(run_id, smoothing, log_y)
st.fragment(run_every=SAMPLES_S if live else None)(samples_part)(run_id, layers)

title = "Time-lapse: the game over training" if game_run else "Time-lapse: the fixed latent batch over training"
with st.expander(title, expanded=not live):
    if run_state in ("created", "running"):
        # samples.h5 is being appended to by the trainer in this process: reading it now could
        # make the trainer's next append fail, so the snapshots wait until it pauses or ends
        st.caption("The snapshots can be browsed here when the run is paused or has ended.")
    else:
        timelapse(run_id, layers)
if game_run:
    with st.expander("Compare the game with another run"):
        compare_game(run_id, layers)
with st.expander("Compare runs"):
    overlay(run_id, smoothing, log_y)
