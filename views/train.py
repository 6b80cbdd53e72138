"""Train: pick data, architecture, loss and knobs (or a preset), see problems before Start, start a run.

What the form shows is what runs: number boxes take any number (no widget bounds that would quietly keep an
older value), and the config's own validation says what is wrong, with Start disabled until it is fixed.
"""

import streamlit as st

from ganlab.config import ConfigError, RunConfig
from ganlab.config.presets import PRESETS
from ganlab.config.recipes import RECIPES, Recipe, chosen_recipe
from ganlab.config.thresholds import GOOD, names_for, resolve
from ganlab.config.timing import expected_time
from ganlab.config.validate import CHOICES, RANGES, validate_config
from ganlab.data import DATASETS, POINTS_PREFIX, dataset_spec, is_points, metric_family
from ganlab.data import download as files
from ganlab.data.drawing import saved_point_sets
from ganlab.data.families import is_family
from ganlab.game.losses import LOSSES
from ganlab.game.schedules import SCHEDULES
from ganlab.models import ARCHS
from ganlab.ui.common import select_run, show_errors, show_flashes
from ganlab.ui.families import family_inputs, family_options, is_family_option, option_for, option_label, seed_inputs
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
RECIPE = "train_recipe_applied"  # session_state: the recipe whose values fill the form's untouched fields ("" none)
NOT_CHOSEN = ("dataset", "preset", "recipe")  # form entries that are never "a field the person set"


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
    if is_family(name):
        return f"Runs as `{name}`: the same name works with `python -m ganlab train --dataset`."
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
    """Every field off the recipe's value (or the default) that the Ready line does not name, as `field = value`."""
    values, base = cfg.to_dict(), {**DEFAULTS, **(RECIPES.get(cfg.recipe).values if cfg.recipe else {})}
    return [f"`{k} = {_shown(v)}`" for k, v in values.items()
            if k not in (*HEADLINE, "recipe") and _shown(v) != _shown(base.get(k))]


def _stop_when_good() -> None:
    """Toggle callback: stop_at "good" needs metrics taken during training, so it turns eval_every on."""
    form = st.session_state[FORM]
    form["stop_at"] = st.session_state["cfg_stop_at"] = GOOD if st.session_state["train_stop_good"] else ""
    if form["stop_at"] and not int(form.get("eval_every") or 0):
        every = max(50, int(form.get("steps") or 0) // 20)
        form["eval_every"] = st.session_state["cfg_eval_every"] = every


def stop_field(root) -> None:
    """"Stop when good": end the run at the first eval that meets the dataset's headline threshold."""
    form = st.session_state[FORM]
    try:
        family = metric_family(form["dataset"], dataset_spec(form["dataset"], root))
    except Exception:  # noqa: BLE001 - the dataset's problem is said below the form
        family = ""
    st.session_state["train_stop_good"] = form.get("stop_at") == GOOD
    if not names_for(family):
        st.toggle("Stop when good", key="train_stop_good", disabled=True,
                  help="This dataset has no quality threshold to stop at.")
        return
    headline = resolve(family, GOOD)
    st.toggle("Stop when good", key="train_stop_good", on_change=_stop_when_good,
              help=f"End the run (with a checkpoint) at the first quality check that reaches "
                   f"“{headline.label}”; turns quality metrics on when they are off.")


def expected_note(cfg: RunConfig) -> str:
    """How long this config took in this machine's study (bench.quality --record), or "" when never measured."""
    found = expected_time(cfg)  # the dashboard trains with one thread on a 2-core box: the default
    return f"Expected: {found.summary()}" if found is not None else ""


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
    if is_family_option(name):
        return option_label(name)
    if is_points(name):
        return "points: " + name[len(POINTS_PREFIX):]
    return "hdf5: " + name.rsplit("/", 1)[-1] if name.startswith("hdf5:") else name


def _take_pick(options: list[str]) -> None:
    """A dataset handed over by another page ("Train on it" on the Data page) goes into the form, once."""
    picked = st.session_state.pop(PICK, None)
    if picked and is_family(picked):
        st.session_state[FORM]["dataset"] = picked
        st.session_state["cfg_dataset"] = option_for(picked)
        seed_inputs(picked, overwrite=True)
    elif picked:
        st.session_state[FORM]["dataset"] = picked
        st.session_state["cfg_dataset"] = picked if picked in options else POINTS_FILE
        if picked not in options:
            st.session_state["train_points_path"] = picked[len(POINTS_PREFIX):]


def dataset_field(root) -> None:
    """The dataset picker: built-ins, packed files, saved point sets, the point families with their parameters,
    and "points file…" with a path field."""
    form = st.session_state[FORM]
    options = DATASETS.names() + _hdf5_datasets(root) + saved_point_sets(root)
    _take_pick(options)
    options += family_options()
    current = form["dataset"]
    if is_family(current) and current not in options:  # ring:12 from another page or an earlier visit
        if st.session_state.get("cfg_dataset", current) in (current, option_for(current)):
            seed_inputs(current, overwrite=st.session_state.get("cfg_dataset") != option_for(current))
            st.session_state["cfg_dataset"] = option_for(current)
    elif is_points(current) and current not in options:  # a file typed by path (or a set since deleted)
        st.session_state.setdefault("train_points_path", current[len(POINTS_PREFIX):])
        if st.session_state.get("cfg_dataset", current) == current:
            st.session_state["cfg_dataset"] = POINTS_FILE
    elif current not in options:
        options.append(current)
    options.append(POINTS_FILE)
    st.session_state.setdefault("cfg_dataset", current)
    choice = st.selectbox("Dataset", options, key="cfg_dataset", format_func=_short,
                          help="Built-in datasets, every packed *.h5 file in the data root (`ganlab pack`), every "
                               "point set saved on the Data page, a point family (ring, grid, spiral, moons, Swiss "
                               "roll) with its parameters, or a points file (.csv or .npy) by path.")
    if choice == POINTS_FILE:
        path = st.text_input("Points file (.csv or .npy)", key="train_points_path",
                             placeholder="/home/me/points.csv or a file name under the data root",
                             help="One point per row (N, D); relative names are looked up here, then in the data "
                                  "root and its points/ folder.")
        form["dataset"] = POINTS_PREFIX + path.strip()
    elif is_family_option(choice):
        form["dataset"] = family_inputs(choice)
    else:
        form["dataset"] = choice


def _recipe_values(name: str) -> dict:
    """The config's values when the recipe `name` ("" = none) fills every field the person has not set."""
    return {**DEFAULTS, **(RECIPES.get(name).values if name else {}), "recipe": name}


def _set_by_person(form: dict) -> dict:
    """The fields the person set: those whose value is not what the applied recipe (or the default) put there."""
    expected = _plain(_recipe_values(st.session_state.get(RECIPE, "")))
    return {k: v for k, v in form.items() if k not in NOT_CHOSEN and v != expected.get(k)}


def sync_recipe(root) -> Recipe | None:
    """Fill the fields the person has not set with the recipe for the picked data (none under a preset, or when
    they chose another architecture); what they set stays. Runs before the fields' widgets exist."""
    form = st.session_state[FORM]
    for k in form.keys() - set(NOT_CHOSEN):  # a widget changed in this rerun has not reached the form yet
        if f"cfg_{k}" in st.session_state:
            form[k] = st.session_state[f"cfg_{k}"]
    applied = st.session_state.get(RECIPE, "")
    try:
        spec = dataset_spec(form["dataset"], root)
    except Exception:  # noqa: BLE001 - a half-typed path: keep what is there; validation says what is wrong
        return RECIPES.get(applied) if applied else None
    given = _set_by_person(form)
    recipe = None if st.session_state.get("train_preset") else chosen_recipe({k: given[k] for k in ("arch",) if k in given}, spec)
    name = recipe.name if recipe is not None else ""
    if name != applied and not st.session_state.get("train_preset"):
        _set_form({k: v for k, v in _recipe_values(name).items() if k not in given and k not in ("dataset", "preset")})
    st.session_state[RECIPE] = name
    form["recipe"] = name
    return recipe


def recipe_note(recipe: Recipe | None) -> None:
    """Say which recipe fills the form and that a changed field wins (or why none applies)."""
    if st.session_state.get("train_preset"):
        return
    if recipe is None:
        arch = st.session_state[FORM]["arch"]
        st.caption(f"No recommended recipe: you chose the {literal(arch)} architecture, so every other field keeps its "
                   "default unless you set it. Pick the recipe's architecture again to get its values back.")
        return
    mine = [f"`{k}`" for k in _set_by_person(st.session_state[FORM])]
    st.info(f"**Recommended recipe for {literal(recipe.description)}:** {literal(recipe.summary())}. Change any field "
            "to use your own" + (f" — yours win: {', '.join(mine)}." if mine else "."), icon=":material/auto_awesome:")


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
    recipe = sync_recipe(root)
with c2:
    field("arch", "Architecture", "select", options=ARCHS.names(), help="How G and D are built.")
    st.caption(ARCHS.describe(st.session_state[FORM]["arch"]))
with c3:
    field("loss", "Loss", "select", options=LOSSES.names(), help="The game D and G play.")
    st.caption(LOSSES.describe(st.session_state[FORM]["loss"]))

recipe_note(recipe)

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
c1, c2, c3, c4 = st.columns(4)
with c1:
    field("conditional", "Conditional (feed class labels)", "toggle",
          help="G and D see the class: you choose which digit to draw. Needs a labelled dataset.")
with c2:
    field("spectral_norm", "Spectral norm on D", "toggle", help="Limits D's Lipschitz constant (SNGAN).")
with c3:
    field("ema", "EMA of G's weights", step=0.001, format="%g",
          help="0 = off; 0.999 averages G's weights over ~1000 steps for smoother samples.")
with c4:
    stop_field(root)

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
        field("g_topk", "G learns from the top share", step=0.05,
              help="Top-k training (Sinha et al. 2020): G's loss over only the fakes D rates most real, all of them "
                   "at the first step, this share of them at the last. 1 = every fake.")
        field("latent_mixture", "Latent islands K", help="0 = off. K > 0: z's first coordinate picks one of K "
              "learned islands (DeLiGAN-style), so G can leave the gaps between separate modes empty; "
              "more islands than modes is fine: the point recipe uses 2,000 whatever the data.")
        field("seed", "Seed", help="Same config and seed on the CPU → same losses.")
    with c2:
        field("g_hidden", "G hidden widths", "text", help="MLP: comma-separated, e.g. 256,256.")
        field("d_hidden", "D hidden widths", "text", help="MLP: comma-separated, e.g. 256,256.")
        field("base_channels", "DCGAN base channels")
        field("coarse_layers", "DCGAN extra layers at the coarsest size",
              help="More 3x3 conv layers at the DCGAN's smallest size (7x7 for 28x28 images), in G and in D: "
                   "depth where a conv is cheapest. The 28x28 recipe uses 1.")
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
        field("r1_schedule", "R1 schedule", "select", options=SCHEDULES.names(),
              help="R1's weight over the run: constant, or falling to the end factor x the weight at the last step.")
        field("r1_end_factor", "R1 at the end (× weight)", step=0.05, help="linear / cosine: the fraction left at the last step.")
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
    base = "the recipe's" if cfg.recipe else "the defaults"
    expected = expected_note(cfg)
    st.success(f"Ready: {literal(cfg.dataset)} · {cfg.arch} · {cfg.loss} · {cfg.steps:,} steps · batch {cfg.batch_size}"
               + (f"  \nAlso set (not {base}): {' · '.join(changed)}" if changed else "")
               + (f"  \n{literal(expected)}" if expected else ""))
if st.button("Start training", type="primary", disabled=cfg is None or missing, key="start", icon=":material/play_arrow:"):
    with show_errors("Could not start the run"):
        run_id = get_manager().start(cfg)
        select_run(run_id)
        st.switch_page("views/monitor.py")
if cfg is not None:
    with st.expander("This run's config (JSON)"):
        st.code(cfg.to_json(), language="json")
