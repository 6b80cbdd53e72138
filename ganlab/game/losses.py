"""GAN losses as tiny pure functions on D's raw outputs, with the equilibria the charts draw.

Convention: D's loss is the MEAN of its real and fake terms (as d2l logs it), so a
D that outputs 0.5 everywhere sits at ln 2 for BCE and 0.25 for MSE. Codebases that
sum the two terms sit at 2 ln 2 = 1.386.

D always outputs a raw score per sample, shape (B,): a logit for the sigmoid
losses, a critic score for WGAN/hinge, an energy (reconstruction error) for EBGAN.
The sigmoid, where a loss needs one, lives here, so softplus keeps it stable.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Optional

import torch
import torch.nn.functional as F

from ..registry import Registry

LN2 = math.log(2.0)
CONVENTION = "D loss = mean of its real and fake terms"
Tensor = torch.Tensor


D_LABELS = {"logit": "D(x) probability", "critic": "critic score", "energy": "energy (low = real)"}


def _fits_any(cfg: Any) -> Optional[str]:
    return None


@dataclass(frozen=True)
class Loss:
    d_loss: Callable[..., Tensor]  # (real_out, fake_out, **ctx) -> scalar
    g_loss: Callable[..., Tensor]  # (fake_out, **ctx) -> scalar
    d_output: str = "logit"  # what D's last layer produces: logit | critic | energy
    to_prob: bool = True  # D(x) shown as sigmoid(output); else the raw score is shown
    equilibrium: dict = field(default_factory=dict)  # chart key -> (value, label)
    clip_weights: bool = False  # wgan: clip D's weights after each D step
    gradient_penalty: bool = False  # wgan-gp: add gp_weight * GP on interpolates
    needs_samples: bool = False  # the loss also reads the real/fake samples (ls-gan's margin)
    problem: Callable[[Any], Optional[str]] = _fits_any  # cfg -> why this loss cannot train that config, or None

    @property
    def d_label(self) -> str:
        """What D's output is called on a chart (a probability only where the loss reads it as one)."""
        return D_LABELS["logit"] if self.to_prob else D_LABELS[self.d_output]


LOSSES: Registry[Loss] = Registry("loss")

_BCE_EQ = {
    "Loss/D": (LN2, "ln 2 ≈ 0.693: D cannot tell real from fake"),
    "Loss/G": (LN2, "ln 2 ≈ 0.693"),
    "D/real": (0.5, "D(x) = 0.5"),
    "D/fake": (0.5, "D(G(z)) = 0.5"),
}
_HALF = {"D/real": (0.5, "D(x) = 0.5"), "D/fake": (0.5, "D(G(z)) = 0.5")}


def mean(t: Tensor) -> Tensor:
    """t.mean() as a sum and a scale: on a d2l-sized CPU graph, MeanBackward costs ~20 µs more than
    Sum + Mul backward, and a step has three of them. Same value up to the last bit."""
    return t.sum().mul(1.0 / t.numel())


def _mean2(a: Tensor, b: Tensor) -> Tensor:
    return (a.sum().mul(0.5 / a.numel())).add(b.sum().mul(0.5 / b.numel()))


# --- BCE (Goodfellow et al. 2014), on logits --------------------------------------------
def d_bce(real: Tensor, fake: Tensor, **_) -> Tensor:
    # -log D(x) = softplus(-real);  -log(1 - D(G(z))) = softplus(fake)
    return _mean2(F.softplus(-real), F.softplus(fake))


def g_bce_nonsaturating(fake: Tensor, **_) -> Tensor:
    return mean(F.softplus(-fake))  # -log D(G(z)): strong gradients early on


def g_bce_minimax(fake: Tensor, **_) -> Tensor:
    return mean(F.softplus(fake)).neg()  # log(1 - D(G(z))): the paper's saturating objective


LOSSES.add("bce", Loss(d_bce, g_bce_nonsaturating, equilibrium=_BCE_EQ),
           "Binary cross-entropy; G maximises log D(G(z)) (non-saturating, the usual choice)")
LOSSES.add("bce-minimax", Loss(d_bce, g_bce_minimax, equilibrium={
    **_BCE_EQ, "Loss/G": (-LN2, "−ln 2 ≈ −0.693")}),
    "The original minimax game: G minimises log(1 − D(G(z))), which saturates when D wins")


# --- MSE on a sigmoid D (Make Your Own GAN) ----------------------------------------------
def d_mse(real: Tensor, fake: Tensor, **_) -> Tensor:
    return _mean2((torch.sigmoid(real) - 1).square(), torch.sigmoid(fake).square())


def g_mse(fake: Tensor, **_) -> Tensor:
    return mean((torch.sigmoid(fake) - 1).square())


_MSE_EQ = {"Loss/D": (0.25, "0.25: D outputs 0.5"), "Loss/G": (0.25, "0.25"), **_HALF}
LOSSES.add("mse", Loss(d_mse, g_mse, equilibrium=_MSE_EQ),
           "Mean squared error against 1/0 on a sigmoid D (Make Your Own GAN)")


# --- LSGAN (Mao et al. 2017), a-b coding 0-1 on a linear D ---------------------------------
def d_lsgan(real: Tensor, fake: Tensor, **_) -> Tensor:
    return _mean2((real - 1).square(), fake.square())


def g_lsgan(fake: Tensor, **_) -> Tensor:
    return mean((fake - 1).square())


LOSSES.add("lsgan", Loss(d_lsgan, g_lsgan, d_output="critic", to_prob=False, equilibrium=_MSE_EQ),
           "Least squares GAN: linear D regresses real to 1 and fake to 0")


# --- Wasserstein (Arjovsky et al. 2017; Gulrajani et al. 2017) ----------------------------
def d_wgan(real: Tensor, fake: Tensor, **_) -> Tensor:
    return mean(fake) - mean(real)  # -(E[D(x)] - E[D(G(z))]): minus the W estimate


def g_wgan(fake: Tensor, **_) -> Tensor:
    return mean(fake).neg()


LOSSES.add("wgan", Loss(d_wgan, g_wgan, d_output="critic", to_prob=False, clip_weights=True),
           "Wasserstein GAN: a critic with weights clipped to [−c, c] (use RMSprop, k=5)")
LOSSES.add("wgan-gp", Loss(d_wgan, g_wgan, d_output="critic", to_prob=False, gradient_penalty=True),
           "Wasserstein GAN with a gradient penalty keeping the critic 1-Lipschitz (Adam, k=5)")


# --- Hinge (Lim & Ye 2017; SNGAN, BigGAN) --------------------------------------------------
def d_hinge(real: Tensor, fake: Tensor, **_) -> Tensor:
    return _mean2(F.relu(1 - real), F.relu(1 + fake))


def g_hinge(fake: Tensor, **_) -> Tensor:
    return mean(fake).neg()


LOSSES.add("hinge", Loss(d_hinge, g_hinge, d_output="critic", to_prob=False,
                         equilibrium={"Loss/D": (1.0, "1.0: critic scores 0 for both")}),
           "Hinge loss (SNGAN/BigGAN); pairs well with spectral norm")


# --- EBGAN (Zhao et al. 2017): D is an auto-encoder, its output the reconstruction energy ---
def d_ebgan(real: Tensor, fake: Tensor, *, margin: float = 1.0, **_) -> Tensor:
    # low energy for data, energy pushed up to the margin m for fakes
    return _mean2(real, F.relu(margin - fake))


def g_ebgan(fake: Tensor, **_) -> Tensor:
    return mean(fake)


def _ebgan_problem(cfg: Any) -> Optional[str]:
    if cfg.conditional:
        return "conditional: the ebgan auto-encoder D does not take labels; use another loss or conditional=false"
    if cfg.spectral_norm:
        return "spectral_norm: the ebgan auto-encoder D must reconstruct its input; spectral norm would cripple it"
    return None


LOSSES.add("ebgan", Loss(d_ebgan, g_ebgan, d_output="energy", to_prob=False, problem=_ebgan_problem),
           "Energy-based GAN: D is an auto-encoder; data gets low energy, fakes at least the margin")


# --- Loss-sensitive GAN (Qi 2017) ----------------------------------------------------------
def d_lsgan_qi(real: Tensor, fake: Tensor, *, real_x: Tensor, fake_x: Tensor, **_) -> Tensor:
    """relu(Δ(x, G(z)) + L(x) − L(G(z))): a fake must lose to a real by a margin Δ that grows with their distance.

    The paper's objective also minimises E L(x). Qi's reference code (lsgan.lua) sets that term's
    weight `gamma` to 0 for an unconditional model ("the theorem shows this term can be ignored"),
    and with an unbounded L it must go: shifting L down by c lowers it by c, so it has no minimum
    and L drifts down for as long as training runs (ring8 found 0/8 modes with it; docs/QUALITY.md).
    Without it, a pair whose fake already loses by Δ teaches L nothing, so the margin bounds
    how steep L gets; the paper's weight decay on L (`weight_decay_d`) keeps it smooth besides.
    """
    delta = (real_x - fake_x).flatten(1).abs().mean(1)  # (B,) L1 distance per pair
    return mean(F.relu(delta + real - fake))


def g_lsgan_qi(fake: Tensor, **_) -> Tensor:
    return mean(fake)


LOSSES.add("ls-gan", Loss(d_lsgan_qi, g_lsgan_qi, d_output="critic", to_prob=False, needs_samples=True),
           "Loss-sensitive GAN: real loss below fake loss by a margin that grows with their distance")


def d_prob(loss: Loss, out: Tensor) -> Tensor:
    """What the charts call D(x): a probability for sigmoid losses, else the raw score."""
    return torch.sigmoid(out) if loss.to_prob else out
