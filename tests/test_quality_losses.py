"""Every loss in LOSSES and both penalties at points whose value is known by hand."""

import math

import pytest
import torch

from ganlab.game.losses import LOSSES
from ganlab.game.penalties import gradient_penalty, r1_penalty

LN2 = math.log(2.0)
ZERO = torch.zeros(16)  # a logit of 0: a sigmoid D says 0.5


def val(t: torch.Tensor) -> float:
    assert t.dim() == 0, "a loss is one scalar"
    return t.item()


def test_every_registered_loss_is_checked_here():
    """A new loss must get a known-point test below before it ships."""
    assert set(LOSSES.names()) == {"bce", "bce-minimax", "mse", "lsgan", "wgan", "wgan-gp", "hinge", "ebgan", "ls-gan"}


def test_bce_at_half_is_ln2_for_d_and_g():
    loss = LOSSES.get("bce")
    assert val(loss.d_loss(ZERO, ZERO)) == pytest.approx(LN2)
    assert val(loss.g_loss(ZERO)) == pytest.approx(LN2)


def test_bce_is_small_when_d_is_right_and_large_when_wrong():
    loss, big = LOSSES.get("bce"), torch.full((4,), 20.0)
    assert val(loss.d_loss(big, -big)) == pytest.approx(0.0, abs=1e-8)  # sure and right
    assert val(loss.d_loss(-big, big)) == pytest.approx(20.0, rel=1e-6)  # sure and wrong: softplus(20) ~ 20
    assert math.isfinite(val(loss.d_loss(torch.full((4,), 1e4), torch.full((4,), -1e4))))  # logits: no overflow


def test_minimax_g_is_minus_ln2_at_half_and_saturates():
    loss = LOSSES.get("bce-minimax")
    assert val(loss.g_loss(ZERO)) == pytest.approx(-LN2)
    assert val(loss.d_loss(ZERO, ZERO)) == pytest.approx(LN2)
    fake = torch.full((4,), -10.0, requires_grad=True)  # D is sure the fakes are fake
    loss.g_loss(fake).backward()
    assert fake.grad.abs().max().item() < 1e-4, "log(1 - D(G(z))) saturates when D wins"


def test_mse_on_a_sigmoid_d_is_a_quarter_at_half():
    loss = LOSSES.get("mse")
    assert val(loss.d_loss(ZERO, ZERO)) == pytest.approx(0.25)
    assert val(loss.g_loss(ZERO)) == pytest.approx(0.25)


def test_lsgan_is_a_quarter_at_output_half_and_zero_at_its_targets():
    loss, half = LOSSES.get("lsgan"), torch.full((8,), 0.5)
    assert val(loss.d_loss(half, half)) == pytest.approx(0.25)
    assert val(loss.g_loss(half)) == pytest.approx(0.25)
    assert val(loss.d_loss(torch.ones(8), torch.zeros(8))) == 0.0
    assert val(loss.g_loss(torch.ones(8))) == 0.0


def test_hinge_at_zero_is_one_and_flat_beyond_the_margin():
    loss = LOSSES.get("hinge")
    assert val(loss.d_loss(ZERO, ZERO)) == pytest.approx(1.0)
    assert val(loss.d_loss(torch.full((4,), 3.0), torch.full((4,), -2.0))) == 0.0
    assert val(loss.g_loss(torch.tensor([1.0, 3.0]))) == pytest.approx(-2.0)


@pytest.mark.parametrize("name", ["wgan", "wgan-gp"])
def test_wasserstein_signs(name):
    """D minimises E[D(fake)] - E[D(real)] (minus the W estimate); G minimises -E[D(fake)]."""
    loss = LOSSES.get(name)
    real, fake = torch.tensor([3.0, 5.0], requires_grad=True), torch.tensor([1.0, 1.0], requires_grad=True)
    d = loss.d_loss(real, fake)
    assert val(d) == pytest.approx(-3.0)
    d.backward()
    assert torch.all(real.grad < 0) and torch.all(fake.grad > 0), "descent raises real scores, lowers fake ones"
    assert val(loss.g_loss(torch.tensor([1.0, 3.0]))) == pytest.approx(-2.0)
    assert loss.clip_weights == (name == "wgan") and loss.gradient_penalty == (name == "wgan-gp")


def test_ebgan_margin():
    """D: mean of [E(real), max(0, m - E(fake))]; fakes above the margin cost D nothing."""
    loss = LOSSES.get("ebgan")
    real = torch.full((4,), 0.2)
    assert val(loss.d_loss(real, torch.full((4,), 0.3), margin=1.0)) == pytest.approx(0.5 * (0.2 + 0.7))
    assert val(loss.d_loss(real, torch.full((4,), 2.0), margin=1.0)) == pytest.approx(0.1)
    assert val(loss.d_loss(real, torch.full((4,), 2.0), margin=3.0)) == pytest.approx(0.5 * (0.2 + 1.0))
    assert val(loss.g_loss(torch.full((4,), 0.3))) == pytest.approx(0.3)
    assert loss.d_output == "energy"


def test_loss_sensitive_margin_grows_with_distance():
    """D: mean of max(0, Δ(x, G(z)) + L(x) − L(G(z))), Δ = mean |x − G(z)| per pair; no E L(x) term."""
    loss = LOSSES.get("ls-gan")
    x = torch.zeros(3, 4)
    near, far = torch.full((3, 4), 0.5), torch.ones(3, 4)  # Δ = 0.5 and 1.0
    zeros = torch.zeros(3)
    assert val(loss.d_loss(zeros, zeros, real_x=x, fake_x=near)) == pytest.approx(0.5)
    assert val(loss.d_loss(zeros, zeros, real_x=x, fake_x=far)) == pytest.approx(1.0)
    # the fake already loses by more than Δ: nothing left to learn from this pair
    assert val(loss.d_loss(torch.full((3,), 0.1), torch.full((3,), 2.0), real_x=x, fake_x=far)) == pytest.approx(0.0)
    # only differences of L count: shifting L everywhere cannot lower D's loss (the paper's E L(x) term could)
    assert val(loss.d_loss(zeros - 5.0, zeros - 5.0, real_x=x, fake_x=far)) == pytest.approx(1.0)
    assert val(loss.g_loss(torch.tensor([1.0, 2.0]))) == pytest.approx(1.5)
    assert loss.needs_samples


def test_gradient_penalty_is_zero_for_a_unit_norm_linear_critic_and_known_otherwise():
    torch.manual_seed(0)
    real, fake = torch.randn(32, 2), torch.randn(32, 2)
    w = torch.tensor([0.6, 0.8])  # ‖w‖ = 1
    assert gradient_penalty(lambda x: x @ w, real, fake).item() == pytest.approx(0.0, abs=1e-10)
    assert gradient_penalty(lambda x: x @ (3 * w), real, fake).item() == pytest.approx(4.0)  # (3 − 1)²


def test_r1_of_a_known_quadratic():
    """D(x) = ‖x‖²: ∇D = 2x, so R1 = mean 4‖x‖²."""
    x = torch.tensor([[1.0, 0.0], [1.0, 2.0]])
    assert r1_penalty(lambda t: t.square().sum(1), x).item() == pytest.approx(0.5 * (4 * 1 + 4 * 5))
    assert r1_penalty(lambda t: t @ torch.tensor([0.6, 0.8]), x).item() == pytest.approx(1.0)


def test_penalties_keep_the_graph_for_d_updates():
    w = torch.tensor([3.0, 4.0], requires_grad=True)
    gp = gradient_penalty(lambda x: x @ w, torch.randn(8, 2), torch.randn(8, 2))
    gp.backward()
    assert w.grad is not None and w.grad.norm().item() > 0
