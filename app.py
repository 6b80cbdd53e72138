"""ganlab dashboard: the page router and the sidebar run picker shared by every page."""

import pandas  # noqa: F401 - first, before plotly: its lazy pandas lookup can race a half-imported module in another thread
import streamlit as st

from ganlab.ui.common import run_picker

st.set_page_config(page_title="ganlab", page_icon=":material/science:", layout="wide")

PAGES = [
    st.Page("views/train.py", title="Train", icon=":material/rocket_launch:", default=True),
    st.Page("views/monitor.py", title="Monitor", icon=":material/monitoring:"),
    st.Page("views/latent.py", title="Latent space", icon=":material/explore:"),
    st.Page("views/runs.py", title="Runs", icon=":material/folder_open:"),
    st.Page("views/data.py", title="Data", icon=":material/database:"),
]
page = st.navigation(PAGES)

with st.sidebar:
    run_picker()
    st.caption("Runs keep training when you refresh or close the tab; pick one here to watch it.")

page.run()
