"""ganlab dashboard: the page router and the sidebar run picker shared by every page."""

import streamlit as st

from ganlab.ui.common import run_picker

st.set_page_config(page_title="ganlab", page_icon="🧪", layout="wide")

PAGES = [
    st.Page("pages/train.py", title="Train", icon="🚀", default=True),
    st.Page("pages/monitor.py", title="Monitor", icon="📈"),
    st.Page("pages/latent.py", title="Latent space", icon="🧭"),
    st.Page("pages/runs.py", title="Runs", icon="🗂️"),
    st.Page("pages/data.py", title="Data", icon="📦"),
]
page = st.navigation(PAGES)

with st.sidebar:
    run_picker()
    st.caption("Runs keep training when you refresh or close the tab; pick one here to watch it.")

page.run()
