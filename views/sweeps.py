"""Sweeps: start a grid of trials on Ray from the browser, watch them live, compare them (table, parallel
coordinates, curves with seed bands). The sweep runs in its own process; this page only reads its directory."""

import streamlit as st

from ganlab.ui.clocks import CHARTS_S, POLL_S
from ganlab.ui.common import show_errors, show_flashes
from ganlab.ui.manager import get_manager
from ganlab.ui.sweeps import (
    curves_part,
    is_live,
    load,
    open_trial,
    parcoords_part,
    reap_drivers,
    rerun_control,
    select_sweep,
    start_form,
    sweep_picker,
    sweeps_on_disk,
    trials_table,
)

DRAWN = "_sweep_drawn"  # session_state: (sweep id, state, live) the page was drawn for; a change redraws it all


def live_part(runs_dir, sweep_id: str, live: bool) -> None:
    """The trials table, polled while the sweep runs; the sweep's end redraws the page, which stops the polling."""
    with show_errors("Could not read the sweep"):
        info = load(runs_dir, sweep_id)
        if live and (sweep_id, info.state, is_live(info)) != st.session_state.get(DRAWN):
            st.rerun()
        trials_table(info)
        rerun_control(info, runs_dir)
        open_trial(info)


def charts_part(runs_dir, sweep_id: str) -> None:
    with show_errors("Could not read the sweep"):
        info = load(runs_dir, sweep_id)
        st.subheader("Hyperparameters → final metrics")
        parcoords_part(info)
        st.subheader("Curves of the chosen trials")
        curves_part(info)


st.title("Sweeps")
st.caption("Many variants of one recipe over several seeds, run on Ray in their own process (`python -m ganlab sweep`): "
           "each trial is an ordinary run, so Monitor and Runs show it too. Closing the tab leaves a sweep running.")
show_flashes()
runs_dir = get_manager().runs_dir
for sweep_id, code in reap_drivers().items():
    if code:
        st.warning(f"The driver of sweep {sweep_id} exited with code {code}: its last output is below the table, "
                   "and “Run the missing trials” there starts it again.")
with show_errors("Could not list the sweeps"):
    sweeps = sweeps_on_disk(runs_dir)
    with st.expander("Start a sweep", expanded=not sweeps, icon=":material/add_circle:"):
        new = start_form(runs_dir)
        if new:
            select_sweep(new)
            st.rerun()
    sweep_id = sweep_picker(sweeps)
    if sweep_id is None:
        st.info(f"No sweeps yet in `{runs_dir}`. Start one above, or run `python -m ganlab sweep`.")
    else:
        info = load(runs_dir, sweep_id)
        live = is_live(info)
        st.session_state[DRAWN] = (sweep_id, info.state, live)
        st.fragment(run_every=POLL_S if live else None)(live_part)(runs_dir, sweep_id, live)
        st.fragment(run_every=CHARTS_S if live else None)(charts_part)(runs_dir, sweep_id)
