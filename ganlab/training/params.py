"""Operations over a net's list of tensors (gradient norm, weight clipping, the EMA), in public torch calls only.

They were torch's private `_foreach_*` kernels once; on the CPU those bought under 5% on every bench
workload (bench/RESULTS.md, "fast paths"), so the plain per-tensor calls are the only path.
"""

from __future__ import annotations

import torch


def grad_norm(params: list[torch.Tensor]) -> torch.Tensor:
    """The 2-norm of all of params' gradients together (a 0-dim tensor: no sync); 0 when none has one.

    Per-tensor norms, then the norm of those: what clip_grad_norm_ computes. It runs on tick steps only.
    """
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))


def clamp_(params: list[torch.Tensor], lo: float, hi: float) -> None:
    """Clamp every tensor into [lo, hi] in place (WGAN's weight clipping)."""
    for p in params:
        p.clamp_(lo, hi)


def lerp_(dst: list[torch.Tensor], src: list[torch.Tensor], weight: float) -> None:
    """dst += weight * (src - dst), tensor by tensor (the EMA of G's weights)."""
    for d, s in zip(dst, src, strict=True):
        d.lerp_(s, weight)


def copy_(dst: list[torch.Tensor], src: list[torch.Tensor]) -> None:
    """Copy src into dst, tensor by tensor (the EMA copy of G's batch-norm statistics)."""
    for d, s in zip(dst, src, strict=True):
        d.copy_(s)


def _batch_norms() -> tuple[type, ...]:
    """torch's public batch-norm classes (the lazy ones where this torch has them)."""
    nn = torch.nn
    names = ("BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "SyncBatchNorm",
             "LazyBatchNorm1d", "LazyBatchNorm2d", "LazyBatchNorm3d")
    return tuple(c for c in (getattr(nn, n, None) for n in names) if isinstance(c, type))


def has_batch_norm(module: torch.nn.Module) -> bool:
    """True when module or one inside it is a batch norm: it mixes the samples of a batch it sees."""
    kinds = _batch_norms()
    return any(isinstance(m, kinds) for m in module.modules())
