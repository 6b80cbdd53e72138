"""One JobManager per server process, shared by every session and tab."""

from __future__ import annotations

import streamlit as st

from ..jobs import JobManager

RUN_KEY = "run_id"  # st.session_state key of the run this tab is looking at


@st.cache_resource
def get_manager() -> JobManager:
    """Created once; runs outlive refreshes, extra tabs and closed tabs. (The GIL switch interval a
    background run needs is set by ganlab.training.train itself.)"""
    return JobManager()


def selected_run_id() -> str | None:
    return st.session_state.get(RUN_KEY)
