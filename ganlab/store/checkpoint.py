"""Checkpoints that describe themselves, loaded without ever executing code from the file."""

from __future__ import annotations

import io
import pickle
import pickletools
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
from ..training.trainer import STEP_COLUMNS

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
    except pickle.UnpicklingError as e:  # torch's own text suggests weights_only=False: exactly what we must not do
        if references_code(path, str(e)):
            raise RunError(f"{path.name} was refused: it holds objects other than tensors and plain values, and "
                           f"loading it could run code; ganlab never loads such a file") from None
        raise RunError(f"{path.name} is damaged or not a checkpoint (its bytes are not a pickle of tensors)") from None
    except Exception as e:  # noqa: BLE001 - hostile bytes make torch.load raise almost anything (KeyError, struct.error, ...)
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise RunError(f"{path.name} is damaged or not a checkpoint ({type(e).__name__}: {first[:200]})") from None
    if not isinstance(state, dict) or any(k not in state for k in REQUIRED):
        missing = [k for k in REQUIRED if not isinstance(state, dict) or k not in state]
        raise RunError(f"{path.name} is not a ganlab checkpoint (missing {', '.join(missing)})")
    if state["format"] != FORMAT:
        raise RunError(f"{path.name} has checkpoint format {state['format']}; this ganlab ({__version__}) reads format {FORMAT}")
    problem = structure_problem(state)
    if problem:
        raise RunError(f"{path.name} does not match the run it claims to be: {problem}")
    return state


# opcodes that make an unpickler import or call something: what "could run code" means
_CODE_OPCODES = {"GLOBAL", "STACK_GLOBAL", "INST", "OBJ", "REDUCE", "NEWOBJ", "NEWOBJ_EX", "BUILD", "EXT1", "EXT2", "EXT4"}
_SCAN_BYTES = 64 << 20


def references_code(path: Path, torch_message: str = "") -> bool:
    """Did torch refuse this file because its pickle names a global (a real attack), not because it is noise?

    torch says "unsupported GLOBAL" when it resolved one; a bare pickle (not torch's zip) it may reject
    earlier, for an opcode its weights-only reader lacks. Then the stream itself is read with
    pickletools, which only decodes opcodes and never imports or calls: a well-formed pickle that
    imports or calls something is unsafe; random bytes fail to decode and are damage.
    """
    if "GLOBAL" in torch_message:
        return True
    try:
        with open(path, "rb") as f:
            data = f.read(_SCAN_BYTES)
        if zipfile.is_zipfile(io.BytesIO(data)):
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                names = [n for n in z.namelist() if n.endswith("data.pkl")]
                data = z.read(names[0]) if names else b""
        ops = {op.name for op, _, _ in pickletools.genops(io.BytesIO(data))}
    except Exception:  # noqa: BLE001 - not a pickle at all: damage, not an attack
        return False
    return bool(ops & _CODE_OPCODES) and "STOP" in ops


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
    threads = state.get("threads")
    if threads is not None and not (isinstance(threads, int) and 1 <= threads <= 4096):
        return f"threads {threads!r} is not a thread count"
    return _tick_problem(state.get("tick"))


def _tick_problem(tick: Any) -> str | None:
    """The partial tick a checkpoint between two ticks carries (Trainer.state_dict 'tick'), or None when absent."""
    if tick is None:
        return None
    if not isinstance(tick, dict) or not isinstance(tick.get("log"), dict) or not isinstance(tick.get("stats"), dict):
        return "its partial tick is not a dict of log and stats"
    log, stats, cols = tick["log"], tick["stats"], len(STEP_COLUMNS)
    rows, total, bad = log.get("rows"), log.get("sum"), log.get("first_bad")
    if not (isinstance(rows, torch.Tensor) and rows.ndim == 2 and rows.shape[1] == cols and rows.is_floating_point()
            and isinstance(total, torch.Tensor) and tuple(total.shape) == (cols,)
            and isinstance(bad, torch.Tensor) and tuple(bad.shape) == (cols,) and not bad.is_floating_point()):
        return f"its partial tick's step rows are not ({cols},)-wide tensors"
    start = log.get("start")
    if not (isinstance(log.get("folded"), int) and log["folded"] >= 0 and (start is None or isinstance(start, int))):
        return "its partial tick's step counts are not whole numbers"
    sums, counts = stats.get("sums"), stats.get("counts")
    if not (isinstance(sums, dict) and isinstance(counts, dict) and set(sums) == set(counts)
            and all(isinstance(v, torch.Tensor) and v.numel() == 1 and v.is_floating_point() for v in sums.values())
            and all(isinstance(c, int) and c > 0 for c in counts.values())):
        return "its partial tick's running means are not scalars with counts"
    return None


# what G, D and the data are: a checkpoint's weights mean nothing under another value of these
MODEL_FIELDS = ("dataset", "arch", "loss", "conditional", "latent_dim", "latent_dist", "latent_mixture", "g_hidden",
                "d_hidden", "activation", "norm", "d_norm", "base_channels", "coarse_layers", "spectral_norm",
                "optimizer")


def config_mismatch(cfg: RunConfig, state: dict[str, Any]) -> str | None:
    """Where a run's config.json disagrees with the checkpoint it would resume from, as a clause, or None."""
    saved = RunConfig.from_dict(state["config"])
    diffs = [f"{k} (config.json {_plain(getattr(cfg, k))}, checkpoint {_plain(getattr(saved, k))})"
             for k in MODEL_FIELDS if getattr(cfg, k) != getattr(saved, k)]
    has_ema = state.get("G_ema") is not None
    if (cfg.ema > 0) != has_ema:
        diffs.append(f"ema (config.json {cfg.ema:g}, the checkpoint {'has' if has_ema else 'has no'} EMA weights)")
    return "; ".join(diffs) or None


def _plain(v: Any) -> str:
    return ",".join(map(str, v)) if isinstance(v, tuple) else str(v)


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
