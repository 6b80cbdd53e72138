"""Train: pick data, architecture, loss and knobs (or a preset), see problems before Start, start a run.

What the form shows is what runs: number boxes take any number (no widget bounds that would quietly keep an
older value), and the config's own validation says what is wrong, with Start disabled until it is fixed.
"""

import streamlit as st

from ganlab.config import ConfigError, RunConfig
from ganlab.config.presets import PRESETS
from ganlab.config.validate import CHOICES, RANGES, validate_config
from ganlab.data import DATASETS, POINTS_PREFIX, dataset_spec, is_points
from ganlab.data import download as files
from ganlab.data.drawing import saved_point_sets
from ganlab.game.losses import LOSSES
from ganlab.game.schedules import SCHEDULES
from ganlab.models import ARCHS
from ganlab.ui.common import select_run, show_errors, show_flashes
from ganlab.ui.manager import get_manager
from ganlab.ui.points import points_problem
from ganlab.ui.text import literal

FORM = "train_form"  # session_state: the form's values, kept while other pages are open
APPLIED = "train_preset_applied"  # session_state: the preset whose values are in the form (to take them back)
DEFAULTS = RunConfig().to_dict()
TUPLES = ("g_hidden", "d_hidden")  # edited as "128,128" text
HEADLINE = ("dataset", "arch", "loss", "steps", "batch_size")  # the Ready line names these; the rest when changed
PICK = "train_pick_dataset"  # session_state: a dataset another page hands over ("Train on it"), taken once
POINTS_FILE = "points file…"  # the picker's entry for a points file typed by path


def _plain(values: dict) -> dict:
    """RunConfig values as widget values: width tuples become '256,256' strings."""
    return {k: ",".join(str(w) for w in v) if k in TUPLES else v for k, v in values.items()}


def _set_form(values: dict) -> None:
    form = st.session_state[FORM]
    for k, v in _plain(values).items():
        form[k] = v
        st.session_state[f"cfg_{k}"] = v


def _apply_preset() -> None:
    """Preset callback (runs before widgets exist): fill the form from the preset, or, back on "choose a
    preset", put every field the last preset set back to its default, so nothing it set stays unseen."""
    name = st.session_state.get("train_preset")
    if name:
        _set_form({**DEFAULTS, **PRESETS.get(name).values})
        st.session_state[APPLIED] = name
    elif st.session_state.get(APPLIED) in PRESETS:
        _set_form({k: DEFAULTS[k] for k in PRESETS.get(st.session_state.pop(APPLIED)).values if k in DEFAULTS})


def _hdf5_datasets(root) -> list[str]:
    return [f"hdf5:{p}" for p in sorted(root.glob("*.h5"))] if root.is_dir() else []


def _dataset_caption(name: str, root) -> str:
    if name in DATASETS:
        entry = DATASETS.entry(name)
        if not files.needs_files(name):
            return entry.description
        status = files.status(name, root)
        return entry.description + (f". Its files are in `{status.folder}`." if status.ready
                                    else ". Needs files: see below.")
    what = "Your points" if is_points(name) else "Packed HDF5 file"
    try:
        spec = dataset_spec(name, root)
    except Exception as e:  # noqa: BLE001 - shown, not raised
        return f"{what}; unreadable: {literal(e)}"
    if is_points(name):
        return (f"{what} ({spec.dim}-D, from a .csv or .npy file; a tenth is held out of training to score G "
                "against: sliced Wasserstein and energy distance beside their real-vs-real floor)")
    classes = f", {spec.num_classes} classes" if spec.num_classes else ""
    return f"{what} ({spec.kind} {'x'.join(map(str, spec.shape))}{classes})"


def _allowed(name: str) -> str:
    """The range validate_config accepts, said in the field's help (its own numbers, not a copy)."""
    if name not in RANGES:
        return ""
    lo, hi, inclusive = RANGES[name]
    fmt = "{:,}" if isinstance(lo, int) else "{:g}"
    return f" Allowed: {'from ' + fmt.format(lo) if inclusive else 'above ' + fmt.format(lo)} to {fmt.format(hi)}."


def _shown(value) -> str:
    """A config value as it runs: every digit of a float (a box's format may round what it shows)."""
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return repr(value) if isinstance(value, float) else str(value)


def _changed(cfg: RunConfig) -> list[str]:
    """Every field off its default that the Ready line does not name, as `field = value`."""
    values = cfg.to_dict()
    return [f"`{k} = {_shown(v)}`" for k, v in values.items() if k not in HEADLINE and v != DEFAULTS.get(k)]


def _needs_files(name: str, root) -> None:
    """The dataset's files are missing: say which to put where, and offer the Data page's download."""
    status = files.status(name, root)
    st.warning(f"**{name} needs files** — download it on the Data page, or "
               f"{literal(files.by_hand(name, root, status.missing))}. Start stays off until they are there.",
               icon=":material/folder_off:")
    if st.button(f"Get {name} on the Data page", key="train_get_data", icon=":material/download:"):
        st.session_state["dl_name"] = name
        st.switch_page("views/data.py")


def _short(name: str) -> str:
    if is_points(name):
        return "points: " + name[len(POINTS_PREFIX):]
    return "hdf5: " + name.rsplit("/", 1)[-1] if name.startswith("hdf5:") else name


def _take_pick(options: list[str]) -> None:
    """A dataset handed over by another page ("Train on it" on the Data page) goes into the form, once."""
    picked = st.session_state.pop(PICK, None)
    if picked:
        st.session_state[FORM]["dataset"] = picked
        st.session_state["cfg_dataset"] = picked if picked in options else POINTS_FILE
        if picked not in options:
            st.session_state["train_points_path"] = picked[len(POINTS_PREFIX):]


def dataset_field(root) -> None:
    """The dataset picker: built-ins, packed files, saved point sets, and "points file…" with a path field."""
    form = st.session_state[FORM]
    options = DATASETS.names() + _hdf5_datasets(root) + saved_point_sets(root)
    _take_pick(options)
    current = form["dataset"]
    if is_points(current) and current not in options:  # a file typed by path (or a set since deleted)
        st.session_state.setdefault("train_points_path", current[len(POINTS_PREFIX):])
        if st.session_state.get("cfg_dataset", current) == current:
            st.session_state["cfg_dataset"] = POINTS_FILE
    elif current not in options:
        options.append(current)
    options.append(POINTS_FILE)
    st.session_state.setdefault("cfg_dataset", current)
    choice = st.selectbox("Dataset", options, key="cfg_dataset", format_func=_short,
                          help="Built-in datasets, every packed *.h5 file in the data root (`ganlab pack`), every "
                               "point set saved on the Data page, or a points file (.csv or .npy) by path.")
    if choice == POINTS_FILE:
        path = st.text_input("Points file (.csv or .npy)", key="train_points_path",
                             placeholder="/home/me/points.csv or a file name under the data root",
                             help="One point per row (N, D); relative names are looked up here, then in the data "
                                  "root and its points/ folder.")
        form["dataset"] = POINTS_PREFIX + path.strip()
    else:
        form["dataset"] = choice


def field(name: str, label: str, kind: str = "number", help: str | None = None, **kw):
    """One RunConfig field as a widget whose value survives page switches (kept in FORM)."""
    form, key = st.session_state[FORM], f"cfg_{name}"
    if key not in st.session_state:
        st.session_state[key] = form[name]
    if kind == "select":
        st.selectbox(label, kw.pop("options", CHOICES.get(name)), key=key, help=help, **kw)
    elif kind == "toggle":
        st.toggle(label, key=key, help=help)
    elif kind == "text":
        st.text_input(label, key=key, help=help)
    else:  # no min/max: a typed value always reaches validate_config, which says what is allowed
        help = (help or "") + _allowed(name)
        if isinstance(DEFAULTS[name], float):
            st.session_state[key] = float(st.session_state[key])
            st.number_input(label, key=key, help=help, format=kw.pop("format", "%g"), step=kw.pop("step", None), **kw)
        else:
            st.number_input(label, key=key, help=help, step=1, **kw)
    form[name] = st.session_state[key]


st.session_state.setdefault(FORM, _plain(DEFAULTS))
root = get_manager().data_root
st.title("Train a GAN")
st.caption("Pick what G should learn, how G and D are built and which game they play. "
           "Problems are explained here before you press Start; the run trains in the background.")
show_flashes()

st.selectbox("Start from a preset (optional)", [""] + PRESETS.names(), key="train_preset",
             on_change=_apply_preset,
             format_func=lambda n: "— choose a preset to fill the form —" if not n else f"{n}: {PRESETS.describe(n)}",
             help="Each preset reproduces one system of the source material; you can still change any field "
                  "afterwards. Back on “choose a preset”, the fields it set return to their defaults.")
if st.session_state.get("train_preset"):
    chosen = st.session_state["train_preset"]
    st.caption(f"Source: {literal(PRESETS.get(chosen).source)}")
    with st.expander(f"About the preset {chosen}: where it comes from and what it sets"):
        st.markdown(f"**{literal(PRESETS.describe(chosen))}**  \nSource: {literal(PRESETS.get(chosen).source)}")
        st.dataframe([{"field": k, "value": _shown(v)} for k, v in PRESETS.get(chosen).values.items()],
                     hide_index=True, width="stretch")

c1, c2, c3 = st.columns(3)
with c1:
    dataset_field(root)
    st.caption(_dataset_caption(st.session_state[FORM]["dataset"], root))
with c2:
    field("arch", "Architecture", "select", options=ARCHS.names(), help="How G and D are built.")
    st.caption(ARCHS.describe(st.session_state[FORM]["arch"]))
with c3:
    field("loss", "Loss", "select", options=LOSSES.names(), help="The game D and G play.")
    st.caption(LOSSES.describe(st.session_state[FORM]["loss"]))

c1, c2, c3, c4 = st.columns(4)
with c1:
    field("steps", "Steps (G updates)", help="Training length: G updates, each after k D updates.")
    field("lr_d", "D learning rate", step=1e-5, format="%.2e")
with c2:
    field("batch_size", "Batch size", help="Samples per D and per G update.")
    field("lr_g", "G learning rate", step=1e-5, format="%.2e")
with c3:
    field("d_steps", "k: D steps per G step", help="WGAN uses 5; most GANs 1.")
    field("optimizer", "Optimizer", "select")
with c4:
    field("latent_dim", "Latent size (z)", help="Length of the noise vector G starts from.")
    field("latent_dist", "Latent distribution", "select", help="normal: N(0, I); uniform: U(-1, 1).")
c1, c2, c3 = st.columns(3)
with c1:
    field("conditional", "Conditional (feed class labels)", "toggle",
          help="G and D see the class: you choose which digit to draw. Needs a labelled dataset.")
with c2:
    field("spectral_norm", "Spectral norm on D", "toggle", help="Limits D's Lipschitz constant (SNGAN).")
with c3:
    field("ema", "EMA of G's weights", step=0.001, format="%g",
          help="0 = off; 0.999 averages G's weights over ~1000 steps for smoother samples.")

with st.expander("Advanced: optimiser, widths, penalties, seed, bookkeeping"):
    c1, c2, c3, c4 = st.columns(4)
    with c1:
        field("beta1", "Adam β1", step=0.05)
        field("beta2", "Adam β2", step=0.001)
        field("momentum", "Momentum (SGD / RMSprop)", step=0.05)
        field("lr_schedule", "Learning-rate schedule", "select", options=SCHEDULES.names(),
              help=" · ".join(f"{e.name}: {e.description}" for e in SCHEDULES))
        field("lr_end_factor", "LR at the end (× lr)", step=0.05, help="linear / cosine: the fraction left at the last step.")
        field("reuse_fakes", "G step reuses D's fakes", "toggle",
              help="One pass through G per iteration, as the seed loops and PyTorch's DCGAN example do: "
                   "G's update is judged on the fakes D has just learned from. Off: a fresh batch for G.")
        field("latent_mixture", "Latent islands K", help="0 = off. K > 0: z's first coordinate picks one of K "
              "learned islands (DeLiGAN-style), so G can leave the gaps between separate modes empty; "
              "set K to the number of modes (25 for grid25).")
        field("seed", "Seed", help="Same config and seed on the CPU → same losses.")
    with c2:
        field("g_hidden", "G hidden widths", "text", help="MLP: comma-separated, e.g. 256,256.")
        field("d_hidden", "D hidden widths", "text", help="MLP: comma-separated, e.g. 256,256.")
        field("base_channels", "DCGAN base channels")
        field("activation", "Hidden activation", "select")
        field("weight_decay_d", "D weight decay", step=1e-4, format="%g",
              help="L2 on D's weights (the optimizer's weight_decay); the loss-sensitive GAN's regulariser on L.")
        field("weight_decay_g", "G weight decay", step=1e-4, format="%g", help="L2 on G's weights.")
    with c3:
        field("norm", "G hidden norm", "select")
        field("d_norm", "D hidden norm", "select")
        field("r1_weight", "R1 penalty weight", step=1.0, help="0 = off.")
        field("r1_every", "R1 every N steps", help="Lazy R1: 1 = every step; N > 1 applies it N times as strongly "
                                                    "every Nth step, for about the same effect at less cost.")
        field("gp_weight", "Gradient-penalty λ (wgan-gp)", step=1.0)
        field("clip_value", "Weight clip c (wgan)", step=0.005)
        field("margin", "Energy margin m (ebgan)", step=0.1)
    with c4:
        field("eval_every", "Quality metrics every N steps", help="0 = off; mode coverage / class coverage over time.")
        field("log_every", "Log every N steps", help="One chart point and one stats.jsonl line per tick.")
        field("snapshot_every", "Sample snapshot every N steps", help="Frames of the time-lapse.")
        field("checkpoint_every", "Checkpoint every N steps")
        field("num_fixed", "Fixed samples shown")
        field("device", "Device", "text", help="auto, cpu, cuda or cuda:N")
        field("precision", "Precision", "select")

cfg, problem = None, None
try:
    cfg = RunConfig.from_dict(dict(st.session_state[FORM]))
    validate_config(cfg, root)
    bad_points = points_problem(cfg.dataset, root)  # every row, not only the header validate_config reads
    if bad_points:
        raise ConfigError(f"dataset: {bad_points}")
except ConfigError as e:
    cfg, problem = None, str(e)
except Exception as e:  # noqa: BLE001 - e.g. an unreadable HDF5 file
    cfg, problem = None, f"{type(e).__name__}: {e}"

missing = cfg is not None and files.needs_files(cfg.dataset) and not files.status(cfg.dataset, root).ready
if problem:
    st.error(f"Cannot start yet — {literal(problem)}")
elif missing:
    _needs_files(cfg.dataset, root)
else:
    changed = _changed(cfg)
    st.success(f"Ready: {literal(cfg.dataset)} · {cfg.arch} · {cfg.loss} · {cfg.steps:,} steps · batch {cfg.batch_size}"
               + (f"  \nAlso set (not the defaults): {' · '.join(changed)}" if changed else ""))
if st.button("Start training", type="primary", disabled=cfg is None or missing, key="start", icon=":material/play_arrow:"):
    with show_errors("Could not start the run"):
        run_id = get_manager().start(cfg)
        select_run(run_id)
        st.switch_page("views/monitor.py")
if cfg is not None:
    with st.expander("This run's config (JSON)"):
        st.code(cfg.to_json(), language="json")
