"""Shared page helpers: engine errors as messages, the run list, the sidebar run picker, the Resume control."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Optional

import streamlit as st

from ..errors import GanlabError
from ..jobs import JobManager
from ..store import LIVE_STATES, Run, RunError
from ..store.tail import last_record
from .manager import RUN_KEY, get_manager

PICKER_KEY = "_run_picker"  # the sidebar selectbox's own key; RUN_KEY is the value pages read
RUN_PARAM = "run"  # the URL's ?run=ID: a reload, or a tab reconnecting to a restarted server, reopens that run
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
    live: bool = False  # training in this process: the page can pause, stop and retune it
    error: str = ""
    active: bool = False  # training here or in another process (the CLI): worth polling, not to be deleted
    # the recipe fields that tell runs apart (the learning rates and k as the run trains now, live edits included)
    conditional: bool = False
    preset: str = ""
    d_steps: Optional[int] = None
    lr_d: Optional[float] = None
    lr_g: Optional[float] = None
    latent_dim: Optional[int] = None
    precision: str = ""


def _num(v) -> Optional[float]:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _whole(v) -> Optional[int]:
    return int(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _recipe(cfg, last: dict, hparams: dict) -> dict:
    """The row's recipe: the newest tick's lr and k (schedule and live edits applied), else the config's."""
    def now(record_key: str, hparam: str, default):
        value = last.get(record_key, hparams.get(hparam, default))
        return value if isinstance(value, (int, float)) and not isinstance(value, bool) else default

    return dict(dataset=cfg.dataset, arch=cfg.arch, loss=cfg.loss, conditional=bool(cfg.conditional),
                preset=str(getattr(cfg, "preset", "") or ""), d_steps=_whole(now("k", "d_steps", cfg.d_steps)),
                lr_d=_num(now("LR/D", "lr_d", cfg.lr_d)), lr_g=_num(now("LR/G", "lr_g", cfg.lr_g)),
                latent_dim=cfg.latent_dim, precision=cfg.precision,
                loss_d=_num(last.get("Loss/D")), loss_g=_num(last.get("Loss/G")))


def run_row(manager: JobManager, run: Run, *, with_details: bool = True) -> RunRow:
    """One run's row: live state from the manager, the rest from its directory."""
    snap = manager.snapshot(run.id)
    if snap is not None:
        last = snap.history[-1] if snap.history else {}
        live = snap.state in LIVE_STATES and not snap.diverged  # a diverged run's thread has ended
        return RunRow(run.id, snap.state, snap.step, snap.steps, live=live, error=snap.error or "", active=live,
                      **_recipe(snap.config, last, snap.hparams))
    status = run.status()
    state, step = status.get("state", "interrupted"), int(status.get("step") or 0)
    active, error = state in LIVE_STATES, str(status.get("error") or "")
    if not with_details:
        return RunRow(run.id, state, step, None, error=error, active=active)
    try:
        cfg = run.config()
    except RunError as e:
        return RunRow(run.id, "unreadable", step, None, error=str(e))
    last = last_record(run)
    step = max(step, _whole(last.get("step")) or 0)  # status.json is written once a second; the last tick may be later
    return RunRow(run.id, state, step, cfg.steps, error=error, active=active, **_recipe(cfg, last, {}))


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


def _pick(ids: list[str]) -> Optional[str]:
    """The tab's run: its own choice this session, else the URL's ?run= (a reload or a reconnect to a
    restarted server is a new session), else the first run. Never silently another run while that one exists."""
    current = st.session_state.get(RUN_KEY)
    if current in ids:
        return current
    wanted = st.query_params.get(RUN_PARAM)
    return wanted if wanted in ids else (ids[0] if ids else None)


def _remember_in_url(run_id: Optional[str]) -> None:
    """Keep ?run=ID in the address bar (page switches clear query parameters; every run sets it again)."""
    if run_id is None:
        st.query_params.pop(RUN_PARAM, None)
    elif st.query_params.get(RUN_PARAM) != run_id:
        st.query_params[RUN_PARAM] = run_id


def run_picker() -> Optional[str]:
    """The sidebar's run selectbox, shared by every page; returns the selected run id or None."""
    with show_errors("Could not list the runs"):
        rows = run_rows(get_manager(), with_details=False)
        labels = {r.id: row_label(r) for r in rows}
        ids = list(labels)
        current = _pick(ids)
        st.session_state[RUN_KEY] = current
        _remember_in_url(current)
        st.session_state[PICKER_KEY] = current  # before the widget exists: allowed
        st.selectbox("Run", ids, key=PICKER_KEY, format_func=lambda i: labels.get(i, i),
                     on_change=_picker_changed, placeholder="No runs yet: start one on Train",
                     help="Live runs first, then runs on disk, newest first. Every page shows this run.")
        return st.session_state.get(RUN_KEY)
    return None


# ---------------------------------------------------------------- resume

def resume_control(manager: JobManager, run_id: str, *, key: str, label: str = "Resume", steps: Optional[int] = None,
                   container=None, report_failure: bool = True) -> Optional[bool]:
    """A Resume button that never offers what cannot work, says what it resumes from, and reports the outcome.

    Shows the engine's reason instead of the button when a resume would fail (data files missing,
    the run trains, nothing left to train). The click waits for the trainer's first step: a resume
    that fails then is reported as a failure, never as "Resumed". Returns None (not clicked), else
    whether it resumed; the message is queued with flash(), so the caller reruns or switches page next.
    """
    box = container if container is not None else st
    blocker = manager.resume_blocker(run_id, steps=steps)
    if blocker:
        box.caption(f":material/block: {blocker}")
        return None
    plan = manager.resume_plan(run_id, steps=steps)
    if not box.button(label, key=key, icon=":material/play_arrow:", help=f"Resume {plan}."):
        box.caption(f"Resume continues {plan}.")
        return None
    try:
        with st.spinner(f"Resuming {run_id} {plan}…"):
            result = manager.resume_and_report(run_id, steps=steps)
    except GanlabError as e:
        flash(f"Could not resume {run_id}: {e}")
        return False
    if result.ok or report_failure:
        flash(result.message, "success" if result.ok else "error")
    return result.ok
