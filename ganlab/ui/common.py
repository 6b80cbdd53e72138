"""Shared page helpers: engine errors as messages, the run list, the sidebar run picker."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Optional

import streamlit as st

from ..errors import GanlabError
from ..jobs import JobManager
from ..store import Run, RunError
from .manager import RUN_KEY, get_manager

PICKER_KEY = "_run_picker"  # the sidebar selectbox's own key; RUN_KEY is the value pages read
STATE_ICONS = {"created": ":material/hourglass_empty:", "running": ":material/play_circle:",
               "paused": ":material/pause_circle:", "finished": ":material/check_circle:",
               "stopped": ":material/stop_circle:", "failed": ":material/error:",
               "interrupted": ":material/warning:", "unreadable": ":material/help:"}  # markdown only


@contextmanager
def show_errors(what: str = "") -> Iterator[None]:
    """Run engine calls; a GanlabError (or any bug) becomes st.error, not a traceback."""
    prefix = f"{what}: " if what else ""
    try:
        yield
    except GanlabError as e:
        st.error(f"{prefix}{e}")
    except Exception as e:  # noqa: BLE001 - a page must never show a traceback
        st.error(f"{prefix}unexpected {type(e).__name__}: {e}")


def flash(message: str, kind: str = "error") -> None:
    """Queue a message for the next rerun (actions often end in st.rerun or st.switch_page)."""
    st.session_state.setdefault("_flash", []).append((kind, message))


def show_flashes() -> None:
    for kind, message in st.session_state.pop("_flash", []):
        getattr(st, kind)(message)


# ---------------------------------------------------------------- the run list

@dataclass(frozen=True)
class RunRow:
    """What the picker and the Runs page show of one run (live values from memory when live)."""

    id: str
    state: str
    step: int
    steps: Optional[int]
    dataset: str = ""
    arch: str = ""
    loss: str = ""
    loss_d: Optional[float] = None
    loss_g: Optional[float] = None
    live: bool = False
    error: str = ""


def last_record(run: Run, max_bytes: int = 8192) -> dict:
    """The last complete line of stats.jsonl, read from the file's tail (not the whole file)."""
    try:
        with open(run.stats_path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            lines = f.read().splitlines()
    except OSError:
        return {}
    for line in reversed(lines):
        try:
            rec = json.loads(line)
        except ValueError:
            continue  # a torn last line, or the cut first line of the tail
        if isinstance(rec, dict):
            return rec
    return {}


def _num(v) -> Optional[float]:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def run_row(manager: JobManager, run: Run, *, with_details: bool = True) -> RunRow:
    """One run's row: live state from the manager, the rest from its directory."""
    snap = manager.snapshot(run.id)
    if snap is not None:
        last = snap.history[-1] if snap.history else {}
        cfg = snap.config
        return RunRow(run.id, snap.state, snap.step, snap.steps, cfg.dataset, cfg.arch, cfg.loss,
                      _num(last.get("Loss/D")), _num(last.get("Loss/G")),
                      snap.state in ("created", "running", "paused"), snap.error or "")
    status = run.status()
    state, step = status.get("state", "interrupted"), int(status.get("step") or 0)
    if not with_details:
        return RunRow(run.id, state, step, None, error=str(status.get("error") or ""))
    try:
        cfg = run.config()
    except RunError as e:
        return RunRow(run.id, "unreadable", step, None, error=str(e))
    last = last_record(run)
    return RunRow(run.id, state, step, cfg.steps, cfg.dataset, cfg.arch, cfg.loss,
                  _num(last.get("Loss/D")), _num(last.get("Loss/G")), False, str(status.get("error") or ""))


def run_rows(manager: JobManager, *, with_details: bool = True) -> list[RunRow]:
    """Every run on disk: live ones first, then the rest; newest first within each group."""
    rows = [run_row(manager, r, with_details=with_details) for r in manager.runs()]
    return [r for r in rows if r.live] + [r for r in rows if not r.live]


def row_label(row: RunRow) -> str:
    """The sidebar's label. It is drawn on full reruns only, while Monitor's fragments redraw on their own,
    so a run in this process reads "live" (created, running and paused alike) rather than a state that
    would go stale; its end triggers a full rerun that shows the final state."""
    return f"{row.id} · {'live' if row.live else row.state}"


# ---------------------------------------------------------------- selection

def select_run(run_id: Optional[str]) -> None:
    """Make run_id the run this tab looks at (the sidebar picker follows on the next rerun)."""
    st.session_state[RUN_KEY] = run_id


def _picker_changed() -> None:
    st.session_state[RUN_KEY] = st.session_state.get(PICKER_KEY)


def run_picker() -> Optional[str]:
    """The sidebar's run selectbox, shared by every page; returns the selected run id or None."""
    with show_errors("Could not list the runs"):
        rows = run_rows(get_manager(), with_details=False)
        labels = {r.id: row_label(r) for r in rows}
        ids = list(labels)
        current = st.session_state.get(RUN_KEY)
        if current not in labels:
            current = ids[0] if ids else None
            st.session_state[RUN_KEY] = current
        st.session_state[PICKER_KEY] = current  # before the widget exists: allowed
        st.selectbox("Run", ids, key=PICKER_KEY, format_func=lambda i: labels.get(i, i),
                     on_change=_picker_changed, placeholder="No runs yet: start one on Train",
                     help="Live runs first, then runs on disk, newest first. Every page shows this run.")
        return st.session_state.get(RUN_KEY)
    return None
