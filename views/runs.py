"""Runs: every run on disk (browser or CLI) with its state and last losses; open, resume, delete."""

import streamlit as st

from ganlab.ui.common import flash, run_rows, select_run, show_errors, show_flashes
from ganlab.ui.manager import get_manager, selected_run_id

CONFIRM = "_confirm_delete"  # session_state: the run id waiting for "Yes, delete"


def table(rows) -> None:
    st.dataframe(
        [{"run": r.id, "state": r.state, "dataset": r.dataset,
          "arch": r.arch, "loss": r.loss, "step": r.step, "steps": r.steps,
          "progress": (r.step / r.steps) if r.steps else None, "D loss": r.loss_d, "G loss": r.loss_g,
          "note": r.error} for r in rows],
        hide_index=True, width="stretch",
        column_config={
            "progress": st.column_config.ProgressColumn("progress", min_value=0.0, max_value=1.0, format="percent"),
            "D loss": st.column_config.NumberColumn(format="%.4f"),
            "G loss": st.column_config.NumberColumn(format="%.4f"),
            "step": st.column_config.NumberColumn(format="localized"),
            "steps": st.column_config.NumberColumn(format="localized"),
        })


def actions(rows) -> None:
    """Open / resume / delete the chosen run; deleting asks once more."""
    manager = get_manager()
    by_id = {r.id: r for r in rows}
    ids = list(by_id)
    current = selected_run_id()
    chosen = st.selectbox("Run", ids, index=ids.index(current) if current in ids else 0, key="runs_chosen",
                          format_func=lambda i: f"{i} · {by_id[i].state}")
    row = by_id[chosen]
    c1, c2, c3, _ = st.columns([1.3, 1, 1, 3])
    if c1.button("Open in Monitor", key="open", icon=":material/monitoring:", type="primary"):
        select_run(chosen)
        st.switch_page("views/monitor.py")
    can_resume = row.state in ("stopped", "interrupted", "failed") or (row.state == "paused" and row.live)
    if c2.button("Resume", key="resume", icon=":material/play_arrow:", disabled=not can_resume,
                 help="Continue from the last checkpoint (stopped, interrupted or failed runs)."):
        with show_errors("Could not resume"):
            manager.resume(chosen)
            select_run(chosen)
            flash(f"Resumed {chosen}.", "success")
            st.switch_page("views/monitor.py")
    if c3.button("Delete…", key="delete", icon=":material/delete:", disabled=row.live,
                 help="Stop a live run before deleting it."):
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
st.caption("Every run in the run store, started here or with `python -m ganlab train`. "
           "Interrupted runs (the process ended while training) can be resumed from their last checkpoint.")
show_flashes()
with show_errors("Could not list the runs"):
    rows = run_rows(get_manager())
    if not rows:
        st.info(f"No runs yet in `{get_manager().runs_dir}`. Start one on the Train page.")
        st.page_link("views/train.py", label="Go to Train", icon=":material/rocket_launch:")
    else:
        table(rows)
        actions(rows)
