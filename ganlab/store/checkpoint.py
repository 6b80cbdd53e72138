"""Checkpoints that describe themselves, loaded without ever executing code from the file."""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from .. import __version__
from ..config import RunConfig
from ..data.base import DataSpec
from ..errors import ConfigError, NonFiniteWeights, RunError
from ..models import RNG_LOCK, build_models
from ..training.trainer import CHECKPOINT_FORMAT as FORMAT

REQUIRED = ("format", "version", "step", "config", "spec", "G", "D", "opt_g", "opt_d", "rng", "fixed_z", "hparams")


def encode_checkpoint(state: dict[str, Any], step: int) -> bytes:
    """A Trainer's state_dict as the bytes of a checkpoint file; NaN/inf weights are refused (NonFiniteWeights)."""
    for net in ("G", "D", "G_ema"):
        weights = state.get(net) or {}
        if not all(bool(torch.isfinite(t).all()) for t in weights.values() if t.is_floating_point()):
            raise NonFiniteWeights(net, step)
    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue()


def load_checkpoint_file(path: Path, map_location="cpu") -> dict[str, Any]:
    """torch.load(weights_only=True): a crafted pickle is refused, never run; then check the keys."""
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:  # torch's own text suggests weights_only=False: exactly what we must not do
        raise RunError(f"{path.name} was refused: it holds objects other than tensors and plain values, and "
                       f"loading it could run code; ganlab never loads such a file") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError, AttributeError, TypeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise RunError(f"{path.name} is not a ganlab checkpoint that can be loaded safely ({first[:200]})") from None
    if not isinstance(state, dict) or any(k not in state for k in REQUIRED):
        missing = [k for k in REQUIRED if not isinstance(state, dict) or k not in state]
        raise RunError(f"{path.name} is not a ganlab checkpoint (missing {', '.join(missing)})")
    if state["format"] != FORMAT:
        raise RunError(f"{path.name} has checkpoint format {state['format']}; this ganlab ({__version__}) reads format {FORMAT}")
    problem = structure_problem(state)
    if problem:
        raise RunError(f"{path.name} does not match the run it claims to be: {problem}")
    return state


def structure_problem(state: dict[str, Any]) -> str | None:
    """Why the tensors in `state` do not fit the models its own config and spec describe, or None.

    The models are built on the meta device (shapes only, no memory), so this costs milliseconds
    even for a large net; a checkpoint that passes loads into a Trainer without a shape error.
    """
    try:
        cfg = RunConfig.from_dict(state["config"])
        spec = DataSpec.from_dict(state["spec"])
        if not isinstance(state["step"], int) or state["step"] < 0:
            return f"step {state['step']!r} is not a step number"
        g, d = _shape_models(cfg, spec)
    except (ConfigError, KeyError, TypeError, ValueError, AssertionError) as e:
        return f"its config or data spec is unreadable ({str(e)[:200]})"
    for name, model in (("G", g), ("D", d), ("G_ema", g)):
        if name == "G_ema" and state.get(name) is None:
            continue
        problem = _weights_problem(name, state[name], model.state_dict())
        if problem:
            return problem
    for name, model in (("opt_g", g), ("opt_d", d)):
        problem = _optimizer_problem(name, state[name], [p.shape for p in model.parameters()])
        if problem:
            return problem
    rng = state["rng"]
    if not (isinstance(rng, dict) and all(isinstance(rng.get(k), torch.Tensor) and rng[k].dtype == torch.uint8
                                          for k in ("gen", "torch"))):
        return "its RNG states are not byte tensors"
    z = state["fixed_z"]
    if not isinstance(z, torch.Tensor) or z.ndim != 2 or z.shape[1] != cfg.latent_dim:
        return f"fixed_z must be (N, {cfg.latent_dim})"
    if not isinstance(state["hparams"], dict) or not all(isinstance(state["hparams"].get(k), (int, float))
                                                         for k in ("lr_d", "lr_g", "d_steps")):
        return "hparams must hold lr_d, lr_g and d_steps"
    return None


def _shape_models(cfg: RunConfig, spec: DataSpec) -> tuple[torch.nn.Module, torch.nn.Module]:
    """G and D on the meta device; on the CPU (global RNG untouched) for builders that read a value."""
    try:
        with torch.device("meta"):
            return build_models(cfg, spec)
    except (RuntimeError, NotImplementedError):
        with RNG_LOCK, torch.random.fork_rng(devices=[]):
            return build_models(cfg, spec)


def _weights_problem(name: str, weights: Any, expected: dict[str, torch.Tensor]) -> str | None:
    if not isinstance(weights, dict):
        return f"{name} is not a state dict"
    missing = sorted(set(expected) - set(weights))
    extra = sorted(set(weights) - set(expected))
    if missing or extra:
        return f"{name} has {'missing keys ' + ', '.join(missing[:3]) if missing else ''}" \
               f"{'; ' if missing and extra else ''}{'unexpected keys ' + ', '.join(extra[:3]) if extra else ''}"
    for key, want in expected.items():
        got = weights[key]
        if not isinstance(got, torch.Tensor) or tuple(got.shape) != tuple(want.shape):
            shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            return f"{name}.{key} has shape {shape}, the architecture needs {tuple(want.shape)}"
        if got.is_floating_point() and not bool(torch.isfinite(got).all()):
            return f"{name}.{key} holds NaN or infinite values"
    return None


def _optimizer_problem(name: str, opt: Any, shapes: list[torch.Size]) -> str | None:
    if not (isinstance(opt, dict) and isinstance(opt.get("state"), dict) and isinstance(opt.get("param_groups"), list)):
        return f"{name} is not an optimizer state dict"
    n = sum(len(g.get("params", ())) for g in opt["param_groups"] if isinstance(g, dict))
    if n != len(shapes):
        return f"{name} covers {n} parameters, the architecture has {len(shapes)}"
    for i, st in opt["state"].items():
        if not isinstance(i, int) or not 0 <= i < len(shapes) or not isinstance(st, dict):
            return f"{name} has state for an unknown parameter {i!r}"
        for k, v in st.items():
            if isinstance(v, torch.Tensor) and v.ndim > 0 and tuple(v.shape) != tuple(shapes[i]):
                return f"{name} state {k} of parameter {i} has shape {tuple(v.shape)}, expected {tuple(shapes[i])}"
    return None


def generator_from_checkpoint(state: dict[str, Any], device="cpu",
                              ema: bool = True) -> tuple[torch.nn.Module, RunConfig, DataSpec]:
    """Rebuild G from the file alone (config + spec + weights), in eval mode; EMA weights when present."""
    try:
        cfg = RunConfig.from_dict(state["config"])
    except ConfigError as e:
        raise RunError(f"checkpoint config is unreadable: {e}") from None
    spec = DataSpec.from_dict(state["spec"])
    with RNG_LOCK, torch.random.fork_rng(devices=[]):  # its init is overwritten: leave the global RNG alone
        g, _ = build_models(cfg.replace(spectral_norm=False), spec)
    weights = state.get("G_ema") if ema and state.get("G_ema") is not None else state["G"]
    try:
        g.load_state_dict(weights)
    except RuntimeError as e:
        raise RunError(f"checkpoint weights do not fit the architecture in its config: {str(e).splitlines()[0]}") from None
    return g.to(device).eval(), cfg, spec


def discriminator_from_checkpoint(state: dict[str, Any], device="cpu") -> torch.nn.Module:
    """Rebuild D from the file alone, in eval mode (for samplers that consult it, e.g. drs)."""
    cfg, spec = RunConfig.from_dict(state["config"]), DataSpec.from_dict(state["spec"])
    with RNG_LOCK, torch.random.fork_rng(devices=[]):
        _, d = build_models(cfg, spec)
    try:
        d.load_state_dict(state["D"])
    except RuntimeError as e:
        raise RunError(f"checkpoint weights do not fit the architecture in its config: {str(e).splitlines()[0]}") from None
    return d.to(device).eval()
