"""Runs: every run on disk (browser or CLI) with its recipe, state and last losses, live; open, resume, extend, delete."""

import streamlit as st

from ganlab.ui.clocks import POLL_S
from ganlab.ui.common import flash, resume_control, run_rows, select_run, show_errors, show_flashes
from ganlab.ui.manager import get_manager, selected_run_id

CONFIRM = "_confirm_delete"  # session_state: the run id waiting for "Yes, delete"
SIGNATURE = "_runs_signature"  # session_state: the runs and their states the buttons below were drawn for
NOTE_STYLES = {"failed": "error", "interrupted": "warning", "paused": "warning", "unreadable": "error"}
COLUMNS = {  # narrow columns for the short recipe fields, so the losses and the note fit beside them
    "run": st.column_config.TextColumn("run", pinned=True),
    "conditional": st.column_config.CheckboxColumn("cond.", width="small", help="conditional: G and D see the class label"),
    "k": st.column_config.NumberColumn("k", width="small", help="D steps per G step, as it trains now"),
    "lr_d": st.column_config.NumberColumn("lr_d", format="%.1e", width="small", help="D's learning rate at the last tick"),
    "lr_g": st.column_config.NumberColumn("lr_g", format="%.1e", width="small", help="G's learning rate at the last tick"),
    "latent": st.column_config.NumberColumn("latent", width="small", help="size of z"),
    "precision": st.column_config.TextColumn("precision", width="small"),
    "step": st.column_config.NumberColumn(format="localized", width="small"),
    "steps": st.column_config.NumberColumn(format="localized", width="small"),
    "progress": st.column_config.ProgressColumn("progress", min_value=0.0, max_value=1.0, format="percent", width="small"),
    "D loss": st.column_config.NumberColumn(format="%.4f", width="small"),
    "G loss": st.column_config.NumberColumn(format="%.4f", width="small"),
    "note": st.column_config.TextColumn("note", width="large", help="The whole text: pick the run below."),
}


def table(rows) -> None:
    st.dataframe(
        [{"run": r.id, "state": r.state, "conditional": r.conditional, "preset": r.preset, "dataset": r.dataset,
          "arch": r.arch, "loss": r.loss, "k": r.d_steps, "lr_d": r.lr_d, "lr_g": r.lr_g, "latent": r.latent_dim,
          "precision": r.precision, "step": r.step, "steps": r.steps,
          "progress": min(r.step / r.steps, 1.0) if r.steps else None, "D loss": r.loss_d, "G loss": r.loss_g,
          "note": r.error} for r in rows],
        hide_index=True, width="stretch", column_config=COLUMNS)


def table_part(polling: bool) -> None:
    """Redrawn every POLL_S while a run trains: live runs from the manager's memory, the rest from disk.
    A run that starts, ends or changes state redraws the whole page, so the buttons below never go stale."""
    with show_errors("Could not list the runs"):
        rows = run_rows(get_manager())
        signature = tuple((r.id, r.state) for r in rows)
        changed = st.session_state.get(SIGNATURE, signature) != signature
        st.session_state[SIGNATURE] = signature
        if polling and changed:
            st.rerun()
        for r in rows:
            if r.active and r.steps:
                st.caption(f":material/play_circle: **{r.id}** is {r.state} · step {r.step:,} of {r.steps:,}")
        table(rows)


def delete_help(row) -> str:
    """What Delete does for this run's state (disabled while it trains)."""
    if row.live:
        return "This run is training: stop it on Monitor first, then it can be deleted."
    if row.active:
        return "This run trains in another process: stop it there first, then it can be deleted."
    return f"Delete this {row.state} run: its directory, with its config, checkpoints, samples and curves."


def note(row) -> None:
    """The chosen run's note in full (the table's cell is cut to its width)."""
    if row.error:
        getattr(st, NOTE_STYLES.get(row.state, "info"))(f"**{row.state}** at step {row.step:,}: {row.error}")


def resume_or_extend(manager, row, box) -> None:
    """Resume (or, for a finished run, train more steps); a success opens Monitor, a failure stays here."""
    if row.state == "finished" and row.steps:
        more = box.number_input("More steps", min_value=1, max_value=100_000_000, value=row.steps, step=100,
                                key="more_steps", help="Continue from the last checkpoint to a new total.")
        done = resume_control(manager, row.id, key="extend", label=f"Train {int(more):,} more steps",
                              steps=row.steps + int(more), container=box)
    else:
        done = resume_control(manager, row.id, key="resume", container=box)
    if done:
        select_run(row.id)
        st.switch_page("views/monitor.py")
    elif done is False:
        st.rerun()


def actions(rows) -> None:
    """Open / resume / delete the chosen run; deleting asks once more."""
    manager = get_manager()
    by_id = {r.id: r for r in rows}
    ids = list(by_id)
    current = selected_run_id()
    chosen = st.selectbox("Run", ids, index=ids.index(current) if current in ids else 0, key="runs_chosen",
                          format_func=lambda i: f"{i} · {by_id[i].state}")
    row = by_id[chosen]
    note(row)
    c1, c2, c3 = st.columns([1.2, 2.6, 1.2])
    if c1.button("Open in Monitor", key="open", icon=":material/monitoring:", type="primary"):
        select_run(chosen)
        st.switch_page("views/monitor.py")
    with show_errors("Could not check the run"):
        resume_or_extend(manager, row, c2)
    if c3.button("Delete…", key="delete", icon=":material/delete:", disabled=row.active, help=delete_help(row)):
        st.session_state[CONFIRM] = chosen
    if st.session_state.get(CONFIRM) == chosen:
        st.warning(f"Delete {chosen} and all its checkpoints and samples? This cannot be undone.")
        d1, d2, _ = st.columns([1, 1, 5])
        if d1.button("Yes, delete", key="confirm_delete", type="primary"):
            st.session_state.pop(CONFIRM, None)
            with show_errors("Could not delete"):
                manager.delete(chosen)
                if selected_run_id() == chosen:
                    select_run(None)
                flash(f"Deleted {chosen}.", "success")
                st.rerun()
        if d2.button("Cancel", key="cancel_delete"):
            st.session_state.pop(CONFIRM, None)
            st.rerun()


st.title("Runs")
st.caption("Every run in the run store, started here or with `python -m ganlab train`; the table follows live runs. "
           "Interrupted runs (the process ended while training) can be resumed from their last checkpoint.")
show_flashes()
with show_errors("Could not list the runs"):
    rows = run_rows(get_manager())
    if not rows:
        st.info(f"No runs yet in `{get_manager().runs_dir}`. Start one on the Train page.")
        st.page_link("views/train.py", label="Go to Train", icon=":material/rocket_launch:")
    else:
        polling = any(r.active for r in rows)
        st.session_state[SIGNATURE] = tuple((r.id, r.state) for r in rows)
        st.fragment(run_every=POLL_S if polling else None)(table_part)(polling)
        actions(rows)
