"""ganlab dashboard: the page router and the sidebar run picker shared by every page.

The frame (page title, navigation, sidebar) is sent to the browser before anything imports torch:
a fresh server's first script run spends seconds importing the engine, and until then a page that
imports it first shows a blank white screen. Streamlit streams elements as the script makes them,
so everything above the heavy imports paints at once (tests/test_first_paint.py keeps it so).
"""

import streamlit as st

st.set_page_config(page_title="ganlab", page_icon=":material/science:", layout="wide")

PAGES = [
    st.Page("views/train.py", title="Train", icon=":material/rocket_launch:", default=True),
    st.Page("views/monitor.py", title="Monitor", icon=":material/monitoring:"),
    st.Page("views/latent.py", title="Latent space", icon=":material/explore:"),
    st.Page("views/runs.py", title="Runs", icon=":material/folder_open:"),
    st.Page("views/sweeps.py", title="Sweeps", icon=":material/grid_view:"),
    st.Page("views/data.py", title="Data", icon=":material/database:"),
]
page = st.navigation(PAGES)

with st.sidebar:
    picker_slot = st.empty()
    st.caption("Runs keep training when you refresh or close the tab; pick one here to watch it.")

with picker_slot, st.spinner("Loading the engine (torch) — the first load of a fresh server takes a few seconds…"):
    import pandas  # noqa: F401 - before plotly: its lazy pandas lookup can race a half-imported module in another thread

    from ganlab.ui.common import run_picker

with picker_slot.container():
    run_picker()

page.run()
