"""Checkpoints that describe themselves, loaded without ever executing code from the file."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from . import __version__
from .config import ConfigError, RunConfig
from .data.base import DataSpec
from .run import RunError

FORMAT = 1
REQUIRED = ("format", "version", "step", "config", "spec", "G", "D", "opt_g", "opt_d", "rng", "fixed_z", "hparams")


def load_checkpoint_file(path: Path, map_location="cpu") -> dict[str, Any]:
    """torch.load(weights_only=True): a crafted pickle is refused, never run; then check the keys."""
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError, AttributeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise RunError(f"{path.name} is not a ganlab checkpoint that can be loaded safely ({first[:200]})") from None
    if not isinstance(state, dict) or any(k not in state for k in REQUIRED):
        missing = [k for k in REQUIRED if not isinstance(state, dict) or k not in state]
        raise RunError(f"{path.name} is not a ganlab checkpoint (missing {', '.join(missing)})")
    if state["format"] != FORMAT:
        raise RunError(f"{path.name} has checkpoint format {state['format']}; this ganlab ({__version__}) reads format {FORMAT}")
    return state


def spec_to_dict(spec: DataSpec) -> dict[str, Any]:
    return {"kind": spec.kind, "shape": list(spec.shape), "num_classes": spec.num_classes,
            "class_names": list(spec.class_names), "value_range": list(spec.value_range), "unbounded": spec.unbounded}


def spec_from_dict(d: dict[str, Any]) -> DataSpec:
    return DataSpec(kind=d["kind"], shape=tuple(d["shape"]), num_classes=d["num_classes"],
                    class_names=tuple(d["class_names"]), value_range=tuple(d["value_range"]), unbounded=d["unbounded"])


def generator_from_checkpoint(state: dict[str, Any], device="cpu", ema: bool = True) -> tuple[torch.nn.Module, RunConfig, DataSpec]:
    """Rebuild G from the file alone (config + spec + weights), in eval mode; EMA weights when present."""
    from .models import build_models

    try:
        cfg = RunConfig.from_dict(state["config"])
    except ConfigError as e:
        raise RunError(f"checkpoint config is unreadable: {e}") from None
    spec = spec_from_dict(state["spec"])
    g, _ = build_models(cfg.replace(spectral_norm=False), spec)
    weights = state.get("G_ema") if ema and state.get("G_ema") is not None else state["G"]
    try:
        g.load_state_dict(weights)
    except RuntimeError as e:
        raise RunError(f"checkpoint weights do not fit the architecture in its config: {str(e).splitlines()[0]}") from None
    return g.to(device).eval(), cfg, spec
