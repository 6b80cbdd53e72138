"""Latent-space maths on seeds' latents (ganlab.models.latents): interpolation, arithmetic, walks."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Optional, Union

import torch

from ..models.latents import z_batch, z_from_seed  # noqa: F401 - seeds are latents here too


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Straight line: a + t (b - a); a, b (dim,) or (1, dim), t (T,) -> (T, dim)."""
    a, b = a.reshape(1, -1), b.reshape(1, -1)
    return a + t.reshape(-1, 1) * (b - a)


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Great-circle path: keeps the norm of Gaussian latents typical (the middle of a lerp is short)."""
    a, b = a.reshape(1, -1), b.reshape(1, -1)
    t = t.reshape(-1, 1)
    an, bn = a / a.norm(), b / b.norm()
    omega = torch.arccos((an * bn).sum().clamp(-1 + 1e-7, 1 - 1e-7))
    so = torch.sin(omega)
    if so.abs() < 1e-6:  # parallel vectors: the circle degenerates to the line
        return lerp(a, b, t)
    return (torch.sin((1 - t) * omega) / so) * a + (torch.sin(t * omega) / so) * b


def interpolate(a: torch.Tensor, b: torch.Tensor, steps: int, method: str = "slerp") -> torch.Tensor:
    """(steps, dim) from a to b inclusive."""
    if steps < 2:
        raise ValueError("an interpolation needs at least 2 steps")
    t = torch.linspace(0.0, 1.0, steps, device=a.device)
    return (slerp if method == "slerp" else lerp)(a, b, t)


Operand = Union[int, str]  # a seed (42) or a latent's name in a bank (p1: a projected image)


def combine(terms: Sequence[tuple[Operand, float]], dim: int, dist: str = "normal", device="cpu",
            bank: Optional[Mapping[str, torch.Tensor]] = None) -> torch.Tensor:
    """Seed arithmetic: sum of weight * z(operand), e.g. [(1, 1), (2, -1), (3, 1)] is a - b + c. (1, dim).

    An operand is a seed or a name looked up in `bank` (name -> (1, dim) latent).
    """
    if not terms:
        raise ValueError("seed arithmetic needs at least one seed")
    z = operand_latents([s for s, _ in terms], dim, dist, device, bank)
    w = torch.tensor([float(c) for _, c in terms], device=z.device).reshape(-1, 1)
    return (w * z).sum(0, keepdim=True)


def operand_latents(operands: Sequence[Operand], dim: int, dist: str = "normal", device="cpu",
                    bank: Optional[Mapping[str, torch.Tensor]] = None) -> torch.Tensor:
    """(len(operands), dim): z(seed) for a seed, bank[name] for a name."""
    rows = []
    for op in operands:
        if isinstance(op, str):
            if not bank or op not in bank:  # 'banana' read as seed arithmetic's typo before names existed
                known = ", ".join(sorted(bank)) if bank else "none yet"
                raise ValueError(f"this is not seed arithmetic: {op!r} is no seed and names no latent "
                                 f"(latents known: {known}); use seeds like 12 + 7 - 3, or project an image to name one")
            v = torch.as_tensor(bank[op]).float().reshape(1, -1)
            if v.shape[1] != dim:
                raise ValueError(f"latent {op!r} has {v.shape[1]} numbers; this run's z has {dim}")
            rows.append(v.to(device))
        else:
            rows.append(z_batch([op], dim, dist, device))
    return torch.cat(rows)


_TERM = re.compile(r"([+-]?)(?:(\d+(?:\.\d+)?)\*)?(\d+|[A-Za-z]+\d*)")


def parse_expression(text: str) -> list[tuple[Operand, float]]:
    """'12 + 7 - 3', '0.5*12 + 0.5*7' or 'p1 - p2 + 7' -> [(12, 1.0), (7, 1.0), (3, -1.0)], names as strings.

    A name is letters then digits (p1, smile2); a bare number is always a seed.
    """
    s = str(text).replace(" ", "")
    terms = _TERM.findall(s)
    rebuilt = "".join(f"{sign}{w + '*' if w else ''}{op}" for sign, w, op in terms)
    unsigned = any(not sign for sign, _, _ in terms[1:])  # 'p1p2': two operands with no + or - between them
    if not terms or unsigned or rebuilt.lstrip("+") != s.lstrip("+"):
        raise ValueError(f"{text!r} is not seed arithmetic like 12 + 7 - 3, 0.5*12 + 0.5*7 or p1 - p2 + 7")
    return [(int(op) if op.isdigit() else op, (-1.0 if sign == "-" else 1.0) * (float(w) if w else 1.0))
            for sign, w, op in terms]


def dimension_walk(z: torch.Tensor, dim_index: int, values: torch.Tensor) -> torch.Tensor:
    """(len(values), dim): z with one coordinate set to each value in turn."""
    z = z.reshape(1, -1)
    if not 0 <= dim_index < z.shape[1]:
        raise ValueError(f"dimension {dim_index} does not exist; z has {z.shape[1]} dimensions (0-{z.shape[1] - 1})")
    out = z.repeat(len(values), 1)
    out[:, dim_index] = values.to(z)
    return out
