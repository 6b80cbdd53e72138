"""Losses at known points: the equilibria the charts draw are the values the code computes."""

import math

import pytest
import torch

from ganlab.game.losses import LN2, LOSSES, d_prob

ZERO = torch.zeros(64)  # logit 0 = D outputs 0.5


def test_bce_at_half_is_ln2_for_both_players():
    loss = LOSSES.get("bce")
    assert loss.d_loss(ZERO, ZERO).item() == pytest.approx(LN2)
    assert loss.g_loss(ZERO).item() == pytest.approx(LN2)
    assert loss.equilibrium["Loss/D"][0] == pytest.approx(math.log(2))


def test_minimax_g_is_minus_ln2_at_equilibrium():
    assert LOSSES.get("bce-minimax").g_loss(ZERO).item() == pytest.approx(-LN2)


def test_mse_on_sigmoid_d_is_quarter_at_half():
    loss = LOSSES.get("mse")
    assert loss.d_loss(ZERO, ZERO).item() == pytest.approx(0.25)
    assert loss.g_loss(ZERO).item() == pytest.approx(0.25)


def test_lsgan_at_half_is_quarter():
    half = torch.full((8,), 0.5)
    loss = LOSSES.get("lsgan")
    assert loss.d_loss(half, half).item() == pytest.approx(0.25)
    assert loss.g_loss(half).item() == pytest.approx(0.25)


def test_wasserstein_critic_loss_is_minus_the_distance_estimate():
    real, fake = torch.full((4,), 3.0), torch.full((4,), 1.0)
    assert LOSSES.get("wgan").d_loss(real, fake).item() == pytest.approx(-2.0)
    assert LOSSES.get("wgan").g_loss(fake).item() == pytest.approx(-1.0)


def test_every_loss_declares_its_d_output_and_draws_no_invented_equilibrium():
    for entry in LOSSES:
        assert entry.obj.d_output in ("logit", "critic", "energy")
        assert entry.description
    assert LOSSES.get("wgan").equilibrium == {}
    assert LOSSES.get("ebgan").equilibrium == {}


def test_d_prob_is_sigmoid_only_for_probability_losses():
    x = torch.tensor([0.0, 2.0])
    assert torch.allclose(d_prob(LOSSES.get("bce"), x), torch.sigmoid(x))
    assert torch.equal(d_prob(LOSSES.get("hinge"), x), x)
