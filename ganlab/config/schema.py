"""RunConfig: every knob of a run, one comment each, and its JSON form (checks: ganlab.config.validate)."""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import json
import math
import re
import reprlib
import typing
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError


@dataclass(frozen=True)
class RunConfig:
    # --- what to train ---
    dataset: str = "ring8"  # a name from ganlab.data.DATASETS, or "hdf5:<path>" (packed by `ganlab pack`)
    arch: str = "mlp"  # linear | mlp | dcgan (ganlab.models.ARCHS)
    loss: str = "bce"  # a name from ganlab.game.losses.LOSSES
    conditional: bool = False  # feed the class label to G and D (labelled datasets only)
    # --- schedule ---
    steps: int = 2000  # G updates; each is preceded by d_steps D updates
    batch_size: int = 256  # samples per D and G update
    d_steps: int = 1  # k: D updates per G update
    reuse_fakes: bool = False  # G's update reuses the (last) D update's fakes: one G forward per iteration, not two
    g_topk: float = 1.0  # top-k training: the share of its fakes (those D rates most real) G learns from at the last step
    # --- optimisation ---
    optimizer: str = "adam"  # adam | sgd | rmsprop
    lr_d: float = 1e-3  # D learning rate
    lr_g: float = 1e-3  # G learning rate
    beta1: float = 0.5  # adam: first-moment decay
    beta2: float = 0.999  # adam: second-moment decay
    momentum: float = 0.0  # sgd / rmsprop momentum
    weight_decay_d: float = 0.0  # L2 on D's weights, the optimizer's weight_decay (ls-gan's regulariser on L)
    weight_decay_g: float = 0.0  # L2 on G's weights (seed 002 uses 1e-4 on both)
    lr_schedule: str = "constant"  # constant | linear | cosine (ganlab.game.schedules.SCHEDULES): both lrs over the run
    lr_end_factor: float = 0.0  # linear / cosine: the fraction of each lr left at the last step
    # --- latent ---
    latent_dim: int = 16  # size of z
    latent_dist: str = "normal"  # normal: N(0, I) | uniform: U(-1, 1)
    latent_mixture: int = 0  # K > 0: z's first coordinate picks one of K latent islands, so G can leave gaps between modes
    # --- architecture knobs ---
    g_hidden: tuple[int, ...] = (128, 128)  # mlp: G hidden widths
    d_hidden: tuple[int, ...] = (128, 128)  # mlp: D hidden widths
    activation: str = "relu"  # mlp hidden activation: relu | leaky_relu | gelu | tanh | sigmoid
    norm: str = "none"  # mlp G hidden norm: none | batch | layer
    d_norm: str = "none"  # mlp D hidden norm: none | layer (batch norm would mix real and fake batches)
    base_channels: int = 64  # dcgan: channels of the widest-resolution layer
    coarse_layers: int = 0  # dcgan: extra 3x3 conv layers at the coarsest size (7x7 for 28x28), in G and in D
    spectral_norm: bool = False  # spectral normalisation on every D layer
    standardize: bool = False  # unbounded points: G and D work on the data scaled to zero mean, unit std (models/scaling.py)
    # --- loss options ---
    gp_weight: float = 10.0  # wgan-gp: gradient-penalty weight lambda
    r1_weight: float = 0.0  # R1 penalty on real data (0 = off)
    r1_every: int = 1  # lazy R1 (StyleGAN2): the penalty on every Nth iteration only, weighted by N
    r1_schedule: str = "constant"  # constant | linear | cosine (SCHEDULES): R1's weight over the run
    r1_end_factor: float = 0.0  # linear / cosine: the fraction of r1_weight left at the last step
    clip_value: float = 0.01  # wgan: weights clipped to [-c, c]
    margin: float = 1.0  # ebgan: energy margin m
    ema: float = 0.99  # decay of an exponential moving average of G's weights, used for samples and metrics (0 = off)
    # --- reproducibility and hardware ---
    seed: int = 0  # seeds models, data order and latents
    device: str = "auto"  # auto (CUDA when present) | cpu | cuda | cuda:N
    precision: str = "auto"  # auto (bf16 autocast on CUDA, fp32 on CPU) | fp32 | bf16
    compile: bool = False  # torch.compile the models (CUDA; pays off on long runs)
    world_size: int = 1  # processes that trained it data-parallel (torchrun; ganlab.training.distributed): a record, not a knob
    # --- bookkeeping ---
    log_every: int = 50  # steps per tick: one host sync, one stats.jsonl line
    snapshot_every: int = 250  # steps between fixed-z sample snapshots (the time-lapse)
    checkpoint_every: int = 1000  # steps between checkpoints
    keep_checkpoints: int = 3  # newest checkpoints kept on disk
    num_fixed: int = 64  # size of the fixed latent batch shown as samples
    eval_every: int = 0  # steps between quality metrics during training (0 = off)
    stop_at: str = ""  # end at the first eval meeting this threshold (config.thresholds; "good": the headline; "": no)
    preset: str = ""  # the preset a run started from ("" for none); it names the run directory
    recipe: str = ""  # the dataset-aware recipe the run started from (ganlab.config.recipes; "" for none, or to opt out)

    def __post_init__(self) -> None:
        # lists from code or JSON become tuples, so configs stay hashable and compare equal
        for name in ("g_hidden", "d_hidden"):
            v = getattr(self, name)
            if isinstance(v, list):
                object.__setattr__(self, name, tuple(v))

    # ---------------------------------------------------------------- JSON
    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        """Build from plain values, coercing types; unknown keys are an error, not ignored."""
        if not isinstance(d, dict):
            raise ConfigError("a config must be a JSON object of field: value pairs")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(map(str, set(d) - names))
        if unknown:
            more = f" (+{len(unknown) - 5} more)" if len(unknown) > 5 else ""
            raise ConfigError(f"unknown config field(s) {', '.join(map(echo, unknown[:5]))}{more}; "
                              f"{field_hint(unknown[0])}")
        return cls(**{k: coerce(k, v) for k, v in d.items()})

    @classmethod
    def from_json(cls, text: str) -> RunConfig:
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as e:
            raise ConfigError(f"config is not valid JSON: {e.msg} at line {e.lineno}") from None

    def replace(self, **changes: Any) -> RunConfig:
        return self.from_dict({**self.to_dict(), **changes})


_HINTS = typing.get_type_hints(RunConfig)
FIELDS = {f.name: f for f in dataclasses.fields(RunConfig)}

ECHO_CHARS = 60  # an error shows this much of a bad value: enough to spot it, never a 50 MB "line"
MAX_VALUE_CHARS = 4096  # the longest text a field takes (a dataset path): longer is refused before it is parsed
_REPR = reprlib.Repr()  # Python 3.11's takes no keywords
_REPR.maxlevel, _REPR.maxlist, _REPR.maxtuple, _REPR.maxdict = 3, 8, 8, 6
_REPR.maxstring = _REPR.maxlong = _REPR.maxother = ECHO_CHARS


def echo(value: Any) -> str:
    """A bad value as an error shows it: its repr, cut to about ECHO_CHARS characters with an ellipsis.

    reprlib bounds the work too: a list of a million items or one nested 10,000 deep is not
    formatted whole just to be cut.
    """
    return shorten(_REPR.repr(value))


def shorten(text: str) -> str:
    """Text cut to ECHO_CHARS characters, the last an ellipsis when anything was cut."""
    return text if len(text) <= ECHO_CHARS else text[:ECHO_CHARS - 1] + "…"


def field_hint(name: str) -> str:
    """What to say after "unknown config field": the near misses, and where every field is listed (the list
    itself has outgrown one readable line)."""
    close = difflib.get_close_matches(str(name)[:ECHO_CHARS], FIELDS, n=3, cutoff=0.6)
    near = f"did you mean {' or '.join(close)}? " if close else ""
    return f"{near}`python -m ganlab fields` lists all {len(FIELDS)} fields"


def field_comments() -> dict[str, str]:
    """Each field's one-line comment in this file, which is the documentation of RunConfig (`ganlab fields`)."""
    out: dict[str, str] = {}
    for line in inspect.getsource(RunConfig).splitlines():
        m = re.match(r"\s+(\w+): [^=]+=[^#]*#\s*(.*)$", line)
        if m and m.group(1) in FIELDS:
            out[m.group(1)] = m.group(2).strip()
    return out


def field_type(name: str) -> Any:
    return _HINTS[name]


def coerce(name: str, value: Any) -> Any:
    """Turn a JSON or command-line value into the field's type, or say why not."""
    if name not in _HINTS:
        raise ConfigError(f"unknown config field {echo(name)}; {field_hint(name)}")
    t = _HINTS[name]
    if isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
        raise ConfigError(f"{name}: a value of {len(value):,} characters is too long (at most {MAX_VALUE_CHARS:,}), "
                          f"got {echo(value)}")
    try:
        if t is bool:
            return _to_bool(value)
        if t is int:
            return _to_int(value)
        if t is float:
            f = float(value)
            if isinstance(value, bool):
                raise ValueError
            return f
        if t is str:
            if not isinstance(value, str):
                raise ValueError
            return value
        if t == tuple[int, ...]:
            return _to_int_tuple(value)
    except (TypeError, ValueError):
        pass
    else:
        raise AssertionError(f"no coercion for {t}")
    want = {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}.get(
        t, "a comma-separated list of whole numbers, e.g. 128,128")
    raise ConfigError(f"{name}: expected {want}, got {echo(value)}")


def _to_bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.lower() in ("true", "1", "yes", "on", "false", "0", "no", "off"):
        return v.lower() in ("true", "1", "yes", "on")
    if isinstance(v, int) and v in (0, 1):
        return bool(v)
    raise ValueError


def _to_int(v: Any) -> int:
    if isinstance(v, bool):
        raise ValueError
    if isinstance(v, float):
        if not math.isfinite(v) or v != int(v):
            raise ValueError
        return int(v)
    if isinstance(v, str):
        return int(v.strip().replace("_", ""))
    if isinstance(v, int):
        return v
    raise ValueError


def _to_int_tuple(v: Any) -> tuple[int, ...]:
    if isinstance(v, str):
        parts = [p for p in v.replace(" ", "").split(",") if p]
        return tuple(_to_int(p) for p in parts)
    if isinstance(v, (list, tuple)):
        return tuple(_to_int(p) for p in v)
    raise ValueError


def split_assignment(item: str, expects: str) -> tuple[str, str]:
    """`FIELD=TEXT` from the command line (--set, --grid, --range) into (field name, text); `expects` says the form
    when there is no `=`. Dashes in the name read as underscores, as the flags are spelled."""
    if "=" not in item:
        raise ConfigError(f"{expects}, got {echo(item)}")
    name, text = item.split("=", 1)
    return name.strip().replace("-", "_"), text


def parse_set(items: list[str]) -> dict[str, Any]:
    """`--set field=value` pairs into a dict (values coerced by field type)."""
    out: dict[str, Any] = {}
    for item in items:
        k, v = split_assignment(item, "--set expects field=value")
        out[k] = coerce(k, v)
    return out
