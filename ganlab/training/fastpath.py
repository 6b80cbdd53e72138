"""Torch-internal shortcuts on the hot path, in one place (filled in by the fast-path work)."""

from __future__ import annotations

import torch
from torch.autograd.graph import _engine_run_backward


class Stepper:
    """`opt.step()`, minus torch's per-call Python bookkeeping when the optimizer is a plain fused Adam.

    It calls the kernel torch's fused Adam calls, on the optimizer's own state tensors, so
    state_dict(), resume and the numbers are unchanged (tests/test_speed_equivalence.py checks
    bit-identity); it saves ~60 µs a call, which is ~10% of a d2l-sized iteration. Anything
    unusual (a first step, amsgrad, a parameter without a gradient, hooks) goes through opt.step().

    The parameters' Adam step counts become 0-dim views into one tensor, so one add advances them
    all: torch's `_foreach_add_` on 0-dim CPU tensors falls back to one add per tensor (~20 µs a call
    for a d2l net). Each view still is that parameter's own `state["step"]`, always current.
    """

    def __init__(self, opt: torch.optim.Optimizer):
        self.opt, self.plan = opt, None

    def __call__(self) -> None:
        plan, opt = self.plan, self.opt
        if plan is None or any(p.grad is None for p in plan[0]) or opt._optimizer_step_pre_hooks \
                or opt._optimizer_step_post_hooks:
            opt.step()
            self.plan = self._plan()
            return
        params, avgs, sqs, counts, steps, g = plan
        counts.add_(1)
        torch._fused_adam_(params, [p.grad for p in params], avgs, sqs, [], steps, amsgrad=False, lr=g["lr"],
                           beta1=g["betas"][0], beta2=g["betas"][1], weight_decay=g["weight_decay"], eps=g["eps"],
                           maximize=False)

    def reset(self) -> None:
        """Forget the cached state lists (after load_state_dict replaced them)."""
        self.plan = None

    def _plan(self):
        opt = self.opt
        if type(opt) is not torch.optim.Adam or len(opt.param_groups) != 1:
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


def grad_norm(params: list[torch.Tensor]) -> torch.Tensor:
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))


_ONES: dict[tuple, torch.Tensor] = {}  # (device, dtype) -> a 0-dim 1.0: the seed gradient of a scalar loss


def backward(loss: torch.Tensor) -> None:
    """loss.backward() for a scalar loss, minus torch.autograd.backward's Python argument handling.

    That handling (tuple checks, torch-function dispatch, `_make_grads` building a fresh ones tensor)
    costs about as much as the C++ engine's whole pass over a d2l-sized graph; a step runs two.
    The engine call is the one torch.autograd.backward makes, with a cached seed gradient.
    """
    if loss.dim() != 0:
        loss.backward()
        return
    key = (loss.device, loss.dtype)
    one = _ONES.get(key)
    if one is None:
        one = _ONES[key] = torch.ones((), device=loss.device, dtype=loss.dtype)
    _engine_run_backward((loss,), (one,), False, False, (), allow_unreachable=True, accumulate_grad=True)
