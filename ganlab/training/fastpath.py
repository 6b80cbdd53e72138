"""Every torch-internal shortcut of the hot path, each feature-detected, each with the public call as fallback.

Small nets on a CPU spend much of a step in torch's Python bookkeeping rather than in kernels, and a
few shortcuts call the C++ underneath directly. They use private names that a torch release may
rename or re-sign, so:

- nothing private is imported at module top. Each shortcut looks its names up (`_find_*`) when
  a Trainer is built, and a probe on tiny CPU tensors checks that the shortcut gives the same bits
  as the public call. A missing name, a new signature or different numbers make the probe fail,
  and that Trainer uses the public call instead. Detection never raises; `Trainer.fast.on` says
  which shortcuts a run takes, and the log (INFO) why one is off.
- the switch: `GANLAB_FASTPATH=0` turns every shortcut off; `GANLAB_FASTPATH=step,backward` turns on
  only the named ones (see `SHORTCUTS`); unset or `1` turns them all on. It is read each time a
  Trainer is built (`Paths()`), so one process can build one of each and compare them.

The shortcuts (`SHORTCUTS`), each measured by `python -m bench.fastpath` (figures: bench/RESULTS.md):

- "step": `Stepper`, the fused Adam kernel called on the optimizer's own state, without
  `opt.step()`'s per-call Python bookkeeping;
- "backward": the autograd engine called as `loss.backward()` calls it, without its Python
  argument handling.

The trainer's other former private calls are public code now (ganlab.training.params):
`torch._foreach_norm`, `_foreach_clamp_min_/_max_`, `_foreach_lerp_` and `_foreach_copy_` bought
under 5% on every workload of the bench on the CPU, where a foreach op loops over the tensors one by
one in C++ anyway; `nn.modules.batchnorm._BatchNorm` was never a speed-up.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable, Iterable
from typing import Any, Optional

import torch

ENV = "GANLAB_FASTPATH"
SHORTCUTS = ("step", "backward")
_log = logging.getLogger(__name__)
_DETECT = object()  # Stepper's default: detect the kernel when it is built


# ------------------------------------------------------------------------------ the switch
def requested() -> frozenset[str]:
    """The shortcuts GANLAB_FASTPATH asks for: all unless it says 0 (none) or names some (those; unknown names are ignored)."""
    raw = os.environ.get(ENV, "").strip().lower()
    if raw in ("", "1", "on", "true", "yes", "all"):
        return frozenset(SHORTCUTS)
    if raw in ("0", "off", "false", "no", "none"):
        return frozenset()
    return frozenset(n.strip() for n in raw.split(",")) & frozenset(SHORTCUTS)


def enabled() -> bool:
    """False when GANLAB_FASTPATH turns every shortcut off."""
    return bool(requested())


def detect(name: str) -> Optional[Any]:
    """The private objects shortcut `name` needs, when this torch has them and they give the public call's bits; else None.

    Never raises: any failure (a renamed attribute, a changed signature) means "use the public call".
    """
    find, check = _DETECTORS[name]
    try:
        with torch.inference_mode(False), torch.enable_grad():
            found = find()
            if check(found):
                return found
        reason = "its probe gave different numbers from the public call"
    except Exception as e:  # noqa: BLE001 - whatever a torch release changed, the public call still works
        reason = f"{type(e).__name__}: {e}"
    _log.info("ganlab fast path %r is off, the public call is used: %s", name, reason)
    return None


class Paths:
    """The hot path's functions for one Trainer, chosen once when it is built.

    `on` holds the shortcuts in use: those asked for (GANLAB_FASTPATH, or `names`) that this torch has.
    """

    def __init__(self, names: Optional[Iterable[str]] = None):
        want = requested() if names is None else frozenset(names) & frozenset(SHORTCUTS)
        found = {n: detect(n) for n in SHORTCUTS if n in want}
        found = {n: f for n, f in found.items() if f is not None}
        self.on = frozenset(found)
        self._adam = found.get("step")
        self.backward: Callable[[torch.Tensor], None] = (
            _engine_backward(found["backward"]) if "backward" in found else plain_backward)

    def stepper(self, opt: torch.optim.Optimizer) -> Stepper:
        """`opt.step` as a callable: the direct fused Adam step where detected, else opt.step() itself."""
        return Stepper(opt, self._adam)


# ------------------------------------------------------------------------------ "step": the optimizer step
def _find_adam() -> tuple:
    """torch's fused Adam kernel and the global step-hook dicts opt.step() would run (a hook means opt.step())."""
    mod = importlib.import_module("torch.optim.optimizer")  # torch.optim does not keep the submodule as a name
    return torch._fused_adam_, mod._global_optimizer_pre_hooks, mod._global_optimizer_post_hooks


def _check_adam(adam: tuple) -> bool:
    """Three steps, an lr change between: a Stepper on the kernel leaves the bits of opt.step()."""
    def run(direct: bool) -> list[torch.Tensor]:
        ps = [torch.linspace(-1, 1, 6).view(2, 3).requires_grad_(), torch.linspace(0, 1, 3).requires_grad_()]
        opt = torch.optim.Adam(ps, lr=1e-2, betas=(0.5, 0.9), weight_decay=0.1, fused=True)
        step = Stepper(opt, adam) if direct else opt.step
        for i in range(3):
            for j, p in enumerate(ps):
                p.grad = torch.full_like(p, 0.5 - i + j)
            opt.param_groups[0]["lr"] = 1e-2 / (i + 1)
            step()
        if direct and step.plan is None:
            raise RuntimeError("the direct step was never taken")
        st = [opt.state[p][k] for p in ps for k in ("exp_avg", "exp_avg_sq", "step")]
        return [p.detach() for p in ps] + st

    return all(torch.equal(a, b) for a, b in zip(run(False), run(True), strict=True))


class Stepper:
    """`opt.step()`, minus torch's per-call Python bookkeeping when the optimizer is a plain fused Adam.

    It calls the kernel torch's fused Adam calls, on the optimizer's own state tensors, so
    state_dict(), resume and the numbers are unchanged (tests/test_speed_equivalence.py checks
    bit-identity). On a d2l-sized net that bookkeeping costs more than the kernel. Anything unusual
    (a first step, amsgrad, a parameter without a gradient, a step hook) goes through opt.step().

    The parameters' Adam step counts become 0-dim views into one tensor, so one add advances them
    all: torch's `_foreach_add_` on 0-dim CPU tensors falls back to one add per tensor. Each view
    still is that parameter's own `state["step"]`, always current.

    `adam` is what `detect("step")` found (by default it is detected here); with None, or on a torch
    without the kernel, every call is `opt.step()`.
    """

    def __init__(self, opt: torch.optim.Optimizer, adam: Any = _DETECT):
        self.opt, self.plan = opt, None
        self._adam = detect("step") if adam is _DETECT else adam

    def __call__(self) -> None:
        plan, opt = self.plan, self.opt
        if plan is None or any(p.grad is None for p in plan[0]) or self._hooked():
            opt.step()
            self.plan = self._plan()
            return
        params, avgs, sqs, counts, steps, g = plan
        counts.add_(1)
        self._adam[0](params, [p.grad for p in params], avgs, sqs, [], steps, amsgrad=False, lr=g["lr"],
                      beta1=g["betas"][0], beta2=g["betas"][1], weight_decay=g["weight_decay"], eps=g["eps"],
                      maximize=False)

    def reset(self) -> None:
        """Forget the cached state lists (after load_state_dict replaced them)."""
        self.plan = None

    def _hooked(self) -> bool:
        """True when opt.step() would run a step hook: this optimizer's own or a global one."""
        opt, (_, pre, post) = self.opt, self._adam
        return bool(opt._optimizer_step_pre_hooks or opt._optimizer_step_post_hooks or pre or post)

    def _plan(self):
        """The state lists of a plain single-group fused Adam after its first step, or None (then: opt.step())."""
        opt = self.opt
        if self._adam is None or type(opt) is not torch.optim.Adam or len(opt.param_groups) != 1:
            return None
        g = opt.param_groups[0]
        if (not g.get("fused") or g["amsgrad"] or g["maximize"] or g["differentiable"] or g["capturable"]
                or g.get("decoupled_weight_decay") or torch.is_tensor(g["lr"]) or torch.is_tensor(g["betas"][0])):
            return None
        params = list(g["params"])
        states = [opt.state.get(p, {}) for p in params]
        if not params or any("exp_avg" not in st for st in states) or len({(p.device, p.dtype) for p in params}) != 1:
            return None
        counts = torch.stack([st["step"] for st in states])  # (n,) on the step tensors' device
        for i, st in enumerate(states):
            st["step"] = counts[i]
        return (params, [st["exp_avg"] for st in states], [st["exp_avg_sq"] for st in states],
                counts, [st["step"] for st in states], g)


# ------------------------------------------------------------------------------ "backward"
def plain_backward(loss: torch.Tensor) -> None:
    """The public call."""
    loss.backward()


def _find_engine() -> Callable:
    """The function torch.autograd.backward ends in: it hands the outputs and seed gradients to the C++ engine."""
    return torch.autograd.graph._engine_run_backward


def _check_engine(engine: Callable) -> bool:
    """The engine call leaves the gradients loss.backward() leaves, accumulating as it does."""
    def grads(fast: bool) -> torch.Tensor:
        w = torch.linspace(-1, 1, 4).requires_grad_()
        run = _engine_backward(engine) if fast else plain_backward
        for _ in range(2):
            run((w * w * w).sum() * 0.5)
        return w.grad

    return torch.equal(grads(False), grads(True))


def _engine_backward(engine: Callable) -> Callable[[torch.Tensor], None]:
    """loss.backward() for a plain scalar loss, minus torch.autograd.backward's Python argument handling.

    That handling (tuple checks, torch-function dispatch, `_make_grads` building a fresh ones tensor)
    costs about as much as the C++ engine's whole pass over a d2l-sized graph, and a step runs two.
    The engine call is the one torch.autograd.backward makes, with a cached seed gradient.
    """
    ones: dict[tuple, torch.Tensor] = {}  # (device, dtype) -> a 0-dim 1.0: the seed gradient of a scalar loss

    def backward(loss: torch.Tensor) -> None:
        if loss.dim() != 0 or type(loss) is not torch.Tensor:  # subclasses keep their torch-function dispatch
            loss.backward()
            return
        key = (loss.device, loss.dtype)
        one = ones.get(key)
        if one is None:
            one = ones[key] = torch.ones((), device=loss.device, dtype=loss.dtype)
        engine((loss,), (one,), False, False, (), allow_unreachable=True, accumulate_grad=True)

    return backward


_DETECTORS: dict[str, tuple[Callable[[], Any], Callable[[Any], bool]]] = {
    "step": (_find_adam, _check_adam),
    "backward": (_find_engine, _check_engine),
}
