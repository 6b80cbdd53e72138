"""A Streamlit script for tests/test_browser_sweep_follow.py: ganlab.ui.sweeps.follow under a live sweep whose
trials start one by one, on the Sweeps page's layout (a polled table fragment that reruns the page when the
sweep's state changes, and a polled charts fragment) with its clocks sped up, so that the frontend's and the
server's reruns overlap as they do on two busy cores. Nobody touches the page: every trial must join.
"""

import time

import streamlit as st

from ganlab.ui.sweeps import follow

ARRIVE_S = 1.5  # a trial starts every ARRIVE_S seconds
TRIALS = [f"trial-{i}" for i in range(6)]
T0 = st.session_state.setdefault("t0", time.monotonic())


def started() -> list[str]:
    return TRIALS[:1 + int((time.monotonic() - T0) // ARRIVE_S)]


def state() -> str:
    return "running" if len(started()) < len(TRIALS) else "finished"


def table_part(drawn: str) -> None:
    if state() != drawn:
        st.rerun()
    st.write(f"table at {time.monotonic() - T0:.1f} s")


def charts_part() -> None:
    keys = started()
    time.sleep(0.3)  # the histories' reading and the figures' building
    chosen = st.multiselect("Trials", keys, **follow("trials", keys, keys, "sweep"))
    st.write("chosen: " + " ".join(chosen))


drawn = state()
st.write(f"sweep is {drawn}")
st.fragment(run_every=0.5 if drawn == "running" else None)(table_part)(drawn)
st.fragment(run_every=0.7 if drawn == "running" else None)(charts_part)()
