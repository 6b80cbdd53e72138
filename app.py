"""ganlab dashboard entrypoint (placeholder until the pages land): lists the runs on disk."""

import streamlit as st

from ganlab.paths import runs_dir
from ganlab.run import list_runs

st.set_page_config(page_title="ganlab", layout="wide")
st.title("ganlab")
for run in list_runs(runs_dir()):
    st.write(run.id, run.status().get("state"))
