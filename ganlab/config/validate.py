"""Config validation: one place, human sentences, the same for the UI and the CLI."""

from __future__ import annotations

import dataclasses
import math
import re

from ..data import DataError, dataset_spec, metric_family
from ..errors import ConfigError
from ..game.losses import LOSSES
from ..game.schedules import SCHEDULES
from ..models import ARCHS, arch_problem
from .schema import ECHO_CHARS, RunConfig, echo, field_type, shorten
from .thresholds import names_for

CHOICES = {
    "optimizer": ("adam", "sgd", "rmsprop"),
    "latent_dist": ("normal", "uniform"),
    "activation": ("relu", "leaky_relu", "gelu", "tanh", "sigmoid"),
    "norm": ("none", "batch", "layer"),
    "d_norm": ("none", "layer"),
    "precision": ("auto", "fp32", "bf16"),
}

# text fields whose values are a registry's names (validation, and the sweep parser's choices)
REGISTERED = {"arch": ARCHS, "loss": LOSSES, "lr_schedule": SCHEDULES, "r1_schedule": SCHEDULES}

# field -> (low, high, inclusive-low); the UI builds its number inputs from these too
RANGES = {
    "steps": (1, 100_000_000, True),
    "batch_size": (1, 65_536, True),
    "d_steps": (1, 100, True),
    "lr_d": (0.0, 10.0, False),
    "lr_g": (0.0, 10.0, False),
    "beta1": (0.0, 0.9999, True),
    "beta2": (0.0, 0.99999, True),
    "momentum": (0.0, 0.9999, True),
    "weight_decay_d": (0.0, 1.0, True),
    "weight_decay_g": (0.0, 1.0, True),
    "lr_end_factor": (0.0, 1.0, True),
    "latent_dim": (1, 4096, True),
    "latent_mixture": (0, 4096, True),
    "base_channels": (1, 1024, True),
    "coarse_layers": (0, 8, True),
    "gp_weight": (0.0, 1e4, True),
    "r1_weight": (0.0, 1e4, True),
    "r1_every": (1, 10_000, True),
    "r1_end_factor": (0.0, 1.0, True),
    "g_topk": (0.0, 1.0, False),
    "clip_value": (0.0, 100.0, False),
    "margin": (0.0, 1e4, False),
    "ema": (0.0, 0.99999, True),
    "seed": (0, 2**63 - 1, True),
    "log_every": (1, 1_000_000, True),
    "snapshot_every": (1, 100_000_000, True),
    "checkpoint_every": (1, 100_000_000, True),
    "keep_checkpoints": (1, 1000, True),
    "num_fixed": (1, 1024, True),
    "eval_every": (0, 100_000_000, True),
    "world_size": (1, 65_536, True),
}


def validate_config(cfg: RunConfig, data_root=None) -> None:
    """Raise ConfigError naming the field and what is allowed; checks combinations too."""
    _check_types(cfg)
    for name, choices in CHOICES.items():
        if getattr(cfg, name) not in choices:
            raise ConfigError(f"{name}: {echo(getattr(cfg, name))} is not one of {', '.join(choices)}")
    for name, (lo, hi, incl) in RANGES.items():
        v = getattr(cfg, name)
        ok = (v >= lo if incl else v > lo) and v <= hi and (not isinstance(v, float) or math.isfinite(v))
        if not ok:
            lo_s = f">= {lo}" if incl else f"> {lo}"
            raise ConfigError(f"{name}: {echo(v)} is out of range; it must be {lo_s} and <= {hi}")
    for name in ("g_hidden", "d_hidden"):
        widths = getattr(cfg, name)
        if len(widths) > 16 or any(w < 1 or w > 16384 for w in widths):
            raise ConfigError(f"{name}: {echo(list(widths))} must be at most 16 widths, each between 1 and 16384")
    _check_device(cfg.device)
    _check_combination(cfg, data_root)


def _whole(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


# field type -> is this value of it (bool is an int in Python, so it is ruled out by hand)
_IS_TYPE = {bool: lambda v: isinstance(v, bool), int: _whole,
            float: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
            str: lambda v: isinstance(v, str)}


def _is_widths(v) -> bool:
    return isinstance(v, tuple) and all(_whole(i) for i in v)


def _check_types(cfg: RunConfig) -> None:
    for f in dataclasses.fields(cfg):
        t, v = field_type(f.name), getattr(cfg, f.name)
        if not _IS_TYPE.get(t, _is_widths)(v):
            want = getattr(t, "__name__", "a list of whole numbers")
            raise ConfigError(f"{f.name}: {echo(v)} has the wrong type ({type(v).__name__}); expected {want}")


def _check_device(device: str) -> None:
    if not re.fullmatch(r"auto|cpu|cuda(:\d{1,6})?|mps", device):
        raise ConfigError(f"device: {echo(device)} is not auto, cpu, cuda or cuda:N")
    if device == "mps":
        import torch

        if not torch.backends.mps.is_available():
            raise ConfigError("device: mps (Apple's GPU) was asked for, but torch has no MPS support on this machine; "
                              "use auto or cpu")
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise ConfigError(f"device: {device} was asked for, but torch sees no CUDA GPU here; use auto or cpu")
        idx = int(device.split(":")[1]) if ":" in device else 0
        if idx >= torch.cuda.device_count():
            raise ConfigError(f"device: {device} does not exist; this machine has {torch.cuda.device_count()} GPU(s)")


def _without_long_name(message: str, name: str) -> str:
    """A data layer's sentence with a long dataset name (or its path part) in it shortened to what an error shows;
    a file's path keeps its end, the file's name (the part that says which file is wrong)."""
    for part in dict.fromkeys((name, name.split(":", 1)[-1])):
        if part:
            message = message.replace(part, _tail(part) if ":" in name else shorten(part))
    return message


def _tail(path: str) -> str:
    return path if len(path) <= ECHO_CHARS else "…" + path[-(ECHO_CHARS - 1):]


def _check_combination(cfg: RunConfig, data_root) -> None:
    for kind, reg in REGISTERED.items():
        name = getattr(cfg, kind)
        if name not in reg:
            raise ConfigError(f"{kind}: {echo(name)} is not one of {', '.join(reg.names())}")
    try:
        spec = dataset_spec(cfg.dataset, data_root)
    except DataError as e:
        raise ConfigError(f"dataset: {_without_long_name(str(e), cfg.dataset)}") from None
    problem = arch_problem(cfg.arch, spec)
    if problem:
        raise ConfigError(f"arch: {problem}")
    loss = LOSSES.get(cfg.loss)
    if cfg.conditional and spec.num_classes == 0:
        raise ConfigError(f"conditional: the dataset {cfg.dataset} has no class labels, so there is nothing to condition on")
    problem = loss.problem(cfg)
    if problem:
        raise ConfigError(problem)
    _check_stop_at(cfg, metric_family(cfg.dataset, spec))
    uses_bn = cfg.norm == "batch" or ARCHS.get(cfg.arch).batch_norm
    if uses_bn and cfg.batch_size < 2:
        raise ConfigError("batch_size: batch norm needs at least 2 samples per batch; raise batch_size or use norm=none")



def _check_stop_at(cfg: RunConfig, family: str) -> None:
    """stop_at names a threshold of the dataset's metric family, and metrics are taken during training to test it."""
    if not cfg.stop_at:
        return
    names = names_for(family)
    if not names:
        raise ConfigError(f"stop_at: the dataset {shorten(cfg.dataset)} has no quality thresholds to stop at; "
                          f"leave stop_at empty")
    if cfg.stop_at not in names:
        raise ConfigError(f"stop_at: {echo(cfg.stop_at)} is not a threshold for {shorten(cfg.dataset)}; choose one of "
                          f"{', '.join(names)}")
    if cfg.eval_every <= 0:
        raise ConfigError(f"stop_at: {cfg.stop_at} is tested on the metrics taken during training; set eval_every "
                          f"(e.g. {max(50, cfg.steps // 20)}) or leave stop_at empty")
