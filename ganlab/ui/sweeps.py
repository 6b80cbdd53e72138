"""The Sweeps page's widgets: the start form, the sweep picker, the live trials table, the parallel-coordinates
chart and the seed-banded curves of the chosen trials.

A sweep runs in its own `python -m ganlab sweep` process (ganlab.sweeps.launch): Ray never starts inside the
Streamlit server, and the page only reads the sweep directory, so a refresh, a closed tab or a restarted server
leaves the sweep running.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Optional

import streamlit as st

from ..config import RunConfig
from ..config.presets import PRESETS
from ..config.recipes import apply_recipe, recipe_for
from ..config.schema import FIELDS, field_type
from ..config.validate import validate_config
from ..data import DATASETS, dataset_spec, metric_family
from ..errors import ConfigError, GanlabError, RunError
from ..paths import data_root
from ..store import Run
from ..sweeps import SweepInfo, SweepSpec, TrialInfo, launch, list_sweeps, load_sweep
from ..sweeps import spec as sweep_spec
from ..sweeps.spec import NOT_VARIED, field_choices, value_example
from ..sweeps.store import DONE_STATES
from ..viz.series import count_values
from ..viz.style import series_name
from ..viz.sweeps import curves_figure, metric_label, parcoords_figure
from .common import STATE_ICONS, flash, select_run
from .text import literal

SWEEP_KEY = "sweep_id"  # session_state: the sweep this tab looks at
PICKED = "_sweep_picked"  # session_state: chart control -> (sweep, value) the person picked by hand in that sweep
OFFERED = "_sweep_offered"  # session_state: widget key -> the value this page last gave that widget
SWEEP_PARAM = "sweep"  # the URL's ?sweep=ID: a reload reopens that sweep
DEFAULT_STEPS = 200
DEFAULT_CHECKS = 4  # quality evaluations per trial: enough rungs for ASHA, cheap beside the training
STOPPING = {  # the metric an early-stopping scheduler ranks trials by, per metric family, and which way is better
    "mixture": ("high_quality_rate", "max"),
    "classifier": ("fd", "min"),
    "points": ("sliced_wasserstein", "min"),
}
HIDDEN_METRICS = ("_total", "_floor", "_real_split")  # the data's own counts and floors: the same for every trial
BOOKKEEPING = ("time", "num_samples", "n", "step")  # an evaluation's own facts, not a quality of the trial


# ---------------------------------------------------------------- parsing the form

def parse_values(field: str, text: str) -> list:
    """A field's values as typed ("bce, hinge"; "1e-4, 1e-3"; "64,64; 128,128" for width lists): the CLI's
    --grid parser (ganlab.sweeps.spec.parse_values), its errors named by the field ("loss: ...")."""
    return sweep_spec.parse_values(field, text, label="")


def parse_seeds(text: str) -> list[int]:
    """"0,1,2" (or "0-4") as a list of distinct seeds: the CLI's --seeds parser, its errors named "seeds: ..."."""
    return sweep_spec.parse_seeds(text, label="seeds")


def _choices_help(field: str) -> str:
    if field_choices(field):
        return f"One or more of: {', '.join(field_choices(field))}."
    if field_type(field) == tuple[int, ...]:
        return "Width lists separated by semicolons, e.g. 64,64; 128,128."
    return f"Comma-separated, e.g. {value_example(field)}."


# ---------------------------------------------------------------- the start form

def base_config(kind: str, name: str, steps: int) -> dict:
    """The fields every trial shares, as `ganlab train` builds them: a preset's values (it names the runs), or a
    dataset with the recipe its data's kind and shape get (defaults < recipe < the fields set here)."""
    if kind == "preset":
        return {**PRESETS.get(name).values, "preset": name, "steps": int(steps)}
    return apply_recipe({"dataset": name, "steps": int(steps)}, dataset_spec(name, data_root())).to_dict()


def _recipe_caption(name: str) -> str:
    try:
        recipe = recipe_for(dataset_spec(name, data_root()))
    except GanlabError as e:
        return f":material/block: {literal(e)}"
    return f"Recipe {recipe.name} applies: {literal(recipe.description)}; the fields you vary win."


def _metric_family(base: dict) -> str:
    dataset = base.get("dataset", RunConfig().dataset)
    try:
        return metric_family(dataset, dataset_spec(dataset, data_root()))
    except GanlabError:  # a dataset whose files are missing: no metric to stop trials on
        return ""


def start_form(runs_dir: Path) -> Optional[str]:
    """The start form; a click builds the SweepSpec, checks every trial's config and launches the driver process.

    Returns the new sweep's id (the caller selects it), None when nothing started; bad input is a message here.
    """
    c1, c2, c3 = st.columns([1, 2, 1])
    kind = c1.radio("Start from", ["preset", "dataset"], key="sweep_base_kind", horizontal=True,
                    help="A preset's whole recipe, or a dataset with the recipe it recommends.")
    if kind == "preset":
        names = PRESETS.names()
        name = c2.selectbox("Preset", names, index=names.index("ring8") if "ring8" in names else 0, key="sweep_preset",
                            format_func=lambda n: f"{n}: {PRESETS.describe(n)}")
    else:
        names = DATASETS.names()
        name = c2.selectbox("Dataset", names, key="sweep_dataset")
        c2.caption(_recipe_caption(name))
    steps = c3.number_input("Steps per trial", min_value=1, max_value=100_000_000, value=DEFAULT_STEPS, step=100,
                            key="sweep_steps")
    fields = st.multiselect("Fields to vary", [f for f in FIELDS if f not in NOT_VARIED], default=["loss"],
                            key="sweep_fields", help="Every combination of their values is one trial, for each seed.")
    texts = {}
    for row in range(0, len(fields), 3):
        cols = st.columns(3)
        for col, field in zip(cols, fields[row:row + 3]):
            texts[field] = col.text_input(f"{field} values", key=f"sweep_values_{field}",
                                          placeholder=value_example(field), help=_choices_help(field))
    c1, c2, c3 = st.columns([1, 1, 2])
    seeds_text = c1.text_input("Seeds", value="0", key="sweep_seeds", help="Comma-separated, e.g. 0,1,2 (or 0-4).")
    checks = c2.number_input("Quality checks per trial", min_value=0, max_value=1000, value=DEFAULT_CHECKS,
                             key="sweep_checks",
                             help="Each trial's metrics (mode coverage, FD, ...) this many times, evenly over its steps "
                                  "(eval_every); the last are its final metrics in the table and the chart. 0 = none.")
    eval_every = max(1, int(steps) // int(checks)) if checks else 0
    c3.write("")  # line the toggle up with the boxes beside it
    early = c3.toggle("Stop poor trials early", key="sweep_early",
                      help="Ray Tune's ASHA scheduler: trials far behind on the quality metric stop at the next "
                           "rung, so the budget goes to the promising ones.")
    if not st.button("Start sweep", type="primary", key="sweep_start", icon=":material/play_arrow:"):
        return None
    try:
        spec = build_spec(kind, name, int(steps), texts, seeds_text, early=early, eval_every=int(eval_every))
        _refuse_if_running(runs_dir, spec)
        sweep_id, process = launch(spec, runs_dir)
    except GanlabError as e:
        st.error(f"Cannot start the sweep: {literal(e)}")
        return None
    _drivers()[sweep_id] = process
    flash(f"Started sweep {sweep_id}: {len(spec.trials())} trials in their own process.", "success")
    return sweep_id


def build_spec(kind: str, name: str, steps: int, texts: dict[str, str], seeds_text: str, *, early: bool = False,
               eval_every: int = 0) -> SweepSpec:
    """The form's values as a SweepSpec whose every trial config is valid (a ConfigError says what to fix)."""
    base = base_config(kind, name, steps)
    grid = {field: parse_values(field, text) for field, text in texts.items()}
    if not grid:
        raise ConfigError("pick at least one field to vary, and type its values")
    scheduler, metric, mode = "", "", "max"
    base["eval_every"] = eval_every
    if early:
        family = _metric_family(base)
        if family not in STOPPING:
            raise ConfigError(f"{base.get('dataset', name)} reports no quality metric to stop trials on; "
                              "turn early stopping off")
        if eval_every <= 0:
            raise ConfigError("stopping poor trials early compares their quality metrics: set quality checks "
                              "per trial above 0")
        scheduler, (metric, mode) = "asha", STOPPING[family]
    spec = SweepSpec(base=base, grid=grid, seeds=parse_seeds(seeds_text), scheduler=scheduler, metric=metric, mode=mode)
    for trial in spec.trials():  # a bad value or combination is said here, before any process starts
        try:
            validate_config(trial.config, data_root())
        except ConfigError as e:
            raise ConfigError(f"the trial {group_label(trial, list(grid))} would not train: {e}") from None
    return spec


def _refuse_if_running(runs_dir: Path, spec: SweepSpec) -> None:
    """The same spec is the same sweep: while its driver runs, a second one would only be refused by its lock."""
    sweep_id = spec.sweep_id()
    if any(s.id == sweep_id and is_live(s) for s in list_sweeps(runs_dir)):
        raise RunError(f"this sweep ({sweep_id}) is already running; pick it in the Sweep list below to watch it")


@st.cache_resource
def _drivers() -> dict:
    """The driver processes this server started, kept so that each is reaped when it ends (no zombies)."""
    return {}


def reap_drivers() -> dict[str, int]:
    """Poll the drivers this server started: those that ended are forgotten; returns {sweep id: exit code}."""
    ended = {}
    drivers = _drivers()
    for sweep_id, process in list(drivers.items()):
        code = process.poll()
        if code is not None:
            ended[sweep_id] = code
            drivers.pop(sweep_id, None)
    return ended


def driver_log_tail(info: SweepInfo, lines: int = 3) -> str:
    """The last lines of the driver's output (launch sends it to driver.log): what a person needs when it died."""
    if info.path is None:
        return ""
    try:
        with open(Path(info.path) / "driver.log", "rb") as f:
            f.seek(max(0, os.fstat(f.fileno()).st_size - 4096))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(line for line in text.splitlines()[-lines:] if line.strip())


def missing_trials(info: SweepInfo) -> int:
    return sum(t.state not in DONE_STATES for t in info.trials)


def rerun_control(info: SweepInfo, runs_dir: Path) -> None:
    """For a sweep whose driver is gone with trials left (killed, failed, never started): start it again, which
    trains only the trials not done (the same spec is the same sweep); a trial that was cut off resumes."""
    left = missing_trials(info)
    if is_live(info) or not left:
        return
    tail = driver_log_tail(info)
    if info.state != "finished" and tail:
        with st.expander("The driver's last output"):
            st.code(tail, language=None)
    if st.button(f"Run the {left} missing trial{'s' if left != 1 else ''}", key="sweep_rerun",
                 icon=":material/replay:", help="Starts the sweep's driver again; finished trials are not trained again."):
        try:
            sweep_id, process = launch(info.spec, runs_dir)
        except GanlabError as e:
            st.error(f"Could not start the sweep again: {literal(e)}")
            return
        _drivers()[sweep_id] = process
        flash(f"Started sweep {sweep_id} again: {left} trial{'s' if left != 1 else ''} to go.", "success")
        st.rerun()


def is_live(info: SweepInfo) -> bool:
    """Worth polling: its driver runs, or this server has just started one that has not said so yet (driver.json
    still reads created, or the failed or interrupted of the driver before it)."""
    if info.state == "running":
        return True
    process = _drivers().get(info.id)
    return process is not None and process.poll() is None


# ---------------------------------------------------------------- the picker

def sweep_picker(sweeps: Sequence[SweepInfo]) -> Optional[str]:
    """A selectbox of the sweeps (list_sweeps: newest first); the tab's choice, else the URL's, else the newest."""
    ids = [s.id for s in sweeps]
    if not ids:
        return None
    current = st.session_state.get(SWEEP_KEY)
    if current not in ids:
        wanted = st.query_params.get(SWEEP_PARAM)
        current = wanted if wanted in ids else ids[0]
    labels = {s.id: f"{s.id} · {s.state} · {len(s.trials)} trials · {s.spec.summary()}" for s in sweeps}
    chosen = st.selectbox("Sweep", ids, index=ids.index(current), key="sweep_picker",
                          format_func=lambda i: labels.get(i, i), help="Every sweep in the run store, newest first.")
    st.session_state[SWEEP_KEY] = chosen
    if st.query_params.get(SWEEP_PARAM) != chosen:
        st.query_params[SWEEP_PARAM] = chosen
    return chosen


def select_sweep(sweep_id: Optional[str]) -> None:
    st.session_state[SWEEP_KEY] = sweep_id
    st.session_state.pop("sweep_picker", None)  # the picker follows on the next run


# ---------------------------------------------------------------- trials

def varied(info: SweepInfo) -> list[str]:
    """The params that tell the trials apart, in the spec's order (the grid's, then the sampled ranges)."""
    names = list(info.spec.grid) + [k for k in (info.spec.ranges or {}) if k not in info.spec.grid]
    return names or sorted({k for t in info.trials for k in t.params})


def group_label(trial: TrialInfo, params: Sequence[str]) -> str:
    return ", ".join(f"{p}={_show(trial.params.get(p))}" for p in params) or "all"


def _show(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        return ",".join(map(str, v))
    return str(v)


def metric_keys(trials: Sequence[TrialInfo]) -> list[str]:
    """The metrics some trial reported, minus the data's own totals and floors (equal for every trial)."""
    keys: dict[str, None] = {}
    for t in trials:
        for k, v in (t.metrics or {}).items():
            if k not in BOOKKEEPING and not k.endswith(HIDDEN_METRICS) and _finite(v):
                keys[k] = None
    return sorted(keys, key=lambda k: metric_label(k) == k)  # the metrics the series table knows first


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def trial_rows(info: SweepInfo) -> list[dict]:
    """One table row per trial: key, state, seed, its params as columns, progress, then its latest metrics."""
    params, metrics = varied(info), metric_keys(info.trials)
    rows = []
    for t in info.trials:
        row = {"trial": t.key, "state": t.state, "seed": t.seed}
        row.update({p: _cell(t.params.get(p)) for p in params})
        row.update({"step": t.step, "steps": t.steps,
                    "progress": min(t.step / t.steps, 1.0) if t.steps else None, "run": t.run_id or ""})
        row.update({m: (t.metrics or {}).get(m) for m in metrics})
        rows.append(row)
    return rows


def _cell(v):
    return ",".join(map(str, v)) if isinstance(v, (list, tuple)) else v


def best_caption(info: SweepInfo) -> None:
    """The best trial by the sweep's metric; a tie says so instead of crowning the first of equals."""
    scored = info.scored()
    if not scored:
        return
    metric = info.metric
    best, value = scored[0], scored[0].metrics[metric]
    ties = sum(t.metrics[metric] == value for t in scored)
    if ties == len(scored) > 1:
        st.caption(f":material/balance: No best by {metric_label(metric)} yet: all {ties} scored trials have {value:.4g}.")
        return
    more = f" (and {ties - 1} more at the same value)" if ties > 1 else ""
    st.caption(f":material/trophy: Best by {metric_label(metric)} ({'higher' if info.spec.mode == 'max' else 'lower'} "
               f"is better): **{literal(group_label(best, varied(info)))}**, seed {best.seed}, "
               f"{value:.4g} at step {best.step:,} ({literal(best.run_id)}){more}.")


def trials_table(info: SweepInfo) -> None:
    counts: dict[str, int] = {}
    for t in info.trials:
        counts[t.state] = counts.get(t.state, 0) + 1
    if info.error:
        (st.error if info.state == "failed" else st.warning)(f"Sweep {info.state}: {literal(info.error)}")
    st.caption(f"{STATE_ICONS.get(info.state, '')} **{literal(info.id)}** is {info.state} · "
               + " · ".join(f"{n} {state}" for state, n in counts.items()) + ". Click a column header to sort.")
    best_caption(info)
    metrics = {m: st.column_config.NumberColumn(metric_label(m), format="%.4g", help=f"{m} at the trial's last evaluation")
               for m in metric_keys(info.trials)}
    st.dataframe(trial_rows(info), hide_index=True, width="stretch", column_config={**metrics,
        "trial": st.column_config.TextColumn("trial", pinned=True),
        "progress": st.column_config.ProgressColumn("progress", min_value=0.0, max_value=1.0, format="percent"),
        "step": st.column_config.NumberColumn(format="localized"),
        "steps": st.column_config.NumberColumn(format="localized"),
        "run": st.column_config.TextColumn("run", width="medium",
                                           help="The trial's run directory: open it on Monitor below or from the sidebar."),
    })


def open_trial(info: SweepInfo) -> None:
    """Open one trial's run on Monitor: every trial is an ordinary run, with its samples, game and latent space."""
    started = [t for t in info.trials if t.run_id]
    if not started:
        return
    params = varied(info)
    c1, c2 = st.columns([3, 1])
    run_id = c1.selectbox("Trial's run", [t.run_id for t in started], key="sweep_open_run",
                          format_func=lambda r: next(f"{group_label(t, params)} · seed {t.seed} · {r}"
                                                     for t in started if t.run_id == r))
    c2.write("")  # line the button up with the box
    if c2.button("Open in Monitor", key="sweep_open", icon=":material/monitoring:"):
        select_run(run_id)
        st.switch_page("views/monitor.py")


def follow(key: str, options: Sequence, default, sweep_id: str) -> dict:
    """A chart widget's key and state: it follows `default` as a live sweep grows (new trials, new metrics) until
    the person picks by hand in this sweep, and then keeps what they picked that is still offered.

    Streamlit's on_change is not the person's hand alone: it fires too when this page set the value under a
    widget whose options changed, with the page's value, and a browser that lags behind a rerun sends the value
    it still shows. So the widget's key names its options (a value shown for other options never lands on this
    widget), and a change counts as a pick only when it differs from what the page last gave that widget.
    """
    widget = f"{key}[{_digest(options)}]"
    pick = st.session_state.get(PICKED, {}).get(key)
    mine = pick is not None and pick[0] == sweep_id
    if isinstance(default, list):
        value = [v for v in pick[1] if v in options] if mine and isinstance(pick[1], list) else list(default)
    else:
        value = pick[1] if mine and pick[1] in options else default
    st.session_state[widget] = value  # before the widget exists: allowed, and no default= beside it
    st.session_state.setdefault(OFFERED, {})[widget] = value
    return dict(key=widget, on_change=_picked_by_hand, args=(key, widget, sweep_id))


def _picked_by_hand(key: str, widget: str, sweep_id: str) -> None:
    value = st.session_state.get(widget)
    if value != st.session_state.get(OFFERED, {}).get(widget):
        st.session_state.setdefault(PICKED, {})[key] = (sweep_id, value)


def _digest(options: Sequence) -> str:
    return hashlib.sha1(repr(list(options)).encode()).hexdigest()[:10]


def parcoords_part(info: SweepInfo) -> None:
    """Hyperparameters against final metrics; the person picks the metrics and the one that colours the lines."""
    metrics = metric_keys(info.trials)
    if not metrics:
        st.info("The parallel-coordinates chart appears when trials report their metrics (at the end of each trial).")
        return
    c1, c2 = st.columns([3, 1])
    shown = c1.multiselect("Metrics on the chart", metrics, format_func=metric_label,
                           **follow("sweep_pc_metrics", metrics, metrics[:4], info.id))
    options = shown or metrics
    headline = info.metric
    color = c2.selectbox("Colour by", options, format_func=metric_label,
                         **follow("sweep_pc_color", options, headline if headline in options else options[0], info.id))
    rows = [{**t.params, **(t.metrics or {})} for t in info.trials]
    st.plotly_chart(parcoords_figure(rows, varied(info), shown, color=color), key="sweep_parcoords",
                    config={"displaylogo": False})


@st.cache_data(max_entries=256, show_spinner=False)
def _history(path: str, stamp: tuple) -> list[dict]:
    """A trial's tick records, read again only when its stats.jsonl changed (stamp: size and mtime)."""
    return Run(path).history()


def trial_history(trial: TrialInfo) -> list[dict]:
    if not trial.run_path:
        return []
    path = Run(trial.run_path).stats_path
    try:
        st_ = os.stat(path)
    except OSError:
        return []
    return _history(str(trial.run_path), (st_.st_size, st_.st_mtime_ns))


def curves_part(info: SweepInfo) -> None:
    """Overlaid curves of the chosen trials, one line per group of params with a min-max band over its seeds."""
    keys = [t.key for t in info.trials if t.run_path]
    if not keys:
        st.info("Curves appear once the trials have started.")
        return
    by_key = {t.key: t for t in info.trials}
    params = varied(info)
    chosen = st.multiselect("Trials", keys, format_func=lambda k: f"{group_label(by_key[k], params)} · seed {by_key[k].seed}",
                            **follow("sweep_curve_trials", keys, keys, info.id))  # trials that start join in
    histories = {k: trial_history(by_key[k]) for k in chosen}
    counts = count_values(r for h in histories.values() for r in h)
    series_keys = [k for k in counts if k.startswith(("Loss/", "Metric/", "D/")) and not k.endswith(HIDDEN_METRICS)
                   and k.split("/", 1)[1] not in BOOKKEEPING]
    if not series_keys:
        st.info("No curves logged yet by the chosen trials.")
        return
    c1, c2 = st.columns([3, 1])
    key = c1.selectbox("Series", series_keys, format_func=series_name,
                       **follow("sweep_curve_series", series_keys, "Loss/D" if "Loss/D" in series_keys else series_keys[0],
                                info.id))
    smoothing = c2.slider("Smoothing", 0.0, 0.95, 0.0, 0.05, key="sweep_curve_smoothing")
    groups: dict[str, list] = {}
    for k in chosen:
        groups.setdefault(group_label(by_key[k], params), []).append(histories[k])
    st.plotly_chart(curves_figure(groups, key, smoothing=smoothing), key="sweep_curves", config={"displaylogo": False})


def sweeps_on_disk(runs_dir: Path) -> list[SweepInfo]:
    return list_sweeps(runs_dir)


def load(runs_dir: Path, sweep_id: str) -> SweepInfo:
    return load_sweep(runs_dir, sweep_id)
