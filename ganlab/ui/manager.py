"""One JobManager per server process, shared by every session and tab."""

from __future__ import annotations

import sys

import streamlit as st

from ..jobs import JobManager

RUN_KEY = "run_id"  # st.session_state key of the run this tab is looking at


@st.cache_resource
def get_manager() -> JobManager:
    """Created once; runs outlive refreshes, extra tabs and closed tabs."""
    # Trainer threads release the GIL at every torch op; with the server's threads runnable,
    # the default 5 ms switch interval can keep a trainer waiting that long for it each time.
    sys.setswitchinterval(0.001)
    return JobManager()


def selected_run_id() -> str | None:
    return st.session_state.get(RUN_KEY)
