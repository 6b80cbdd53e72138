"""The Monitor page's refresh clocks, shared with the benchmarks that imitate it (no streamlit here)."""

POLL_S = 2.0  # seconds between refreshes of the progress line (the trainer never waits for any of them)
CHARTS_S = 5.0  # ... of the curves: a rebuild is tens of ms of Python beside the trainer, and browser work
SAMPLES_S = 5.0  # ... of the samples / D's surface: the browser's heaviest redraw (bench/ui_overhead.py)
MAX_POINTS = 600  # points per drawn series: enough for a chart ~600 px wide
