"""Top-k training (g_topk): G learns from the fakes D rates most real, all of them at first, fewer as the run goes."""

import dataclasses
import math

import pytest
import torch

from ganlab.config import ConfigError, RunConfig
from ganlab.config.validate import validate_config
from ganlab.game.losses import LOSSES
from ganlab.training import Trainer

TINY = dict(dataset="ring8", steps=40, batch_size=32, g_hidden=(16,), d_hidden=(16,), latent_dim=2, device="cpu")


def test_the_share_starts_at_all_and_falls_linearly_to_g_topk():
    t = Trainer(RunConfig(**TINY, g_topk=0.25))
    counts = []
    for step in range(41):
        t.step = step
        counts.append(t.g_topk_now(32))
    assert counts[0] == 32 and counts[20] == math.ceil(32 * (1 - 0.75 * 0.5)) and counts[-1] == 8
    assert all(a >= b for a, b in zip(counts, counts[1:]))
    t.step = 10_000  # past the end (a run extended later): the end share
    assert t.g_topk_now(32) == 8 and t.g_topk_now(1) == 1  # never fewer than one fake


@pytest.mark.parametrize("loss, keep", [("bce", "highest"), ("hinge", "highest"), ("ebgan", "lowest")])
def test_the_kept_rows_are_those_d_rates_most_real(loss, keep):
    t = Trainer(RunConfig(**TINY, loss=loss, g_topk=0.5))
    t.step = t.cfg.steps
    out = torch.tensor([[0.3], [-2.0], [5.0], [1.0], [-0.5], [4.0], [0.0], [2.0]])
    kept = sorted(t._top_k(out).flatten().tolist())
    ranked = sorted(out.flatten().tolist())
    assert kept == (ranked[4:] if keep == "highest" else ranked[:4])


def _count_g_loss_rows(t: Trainer, monkeypatch) -> list[int]:
    """The number of rows of D's outputs each of G's losses is taken over, in order."""
    seen: list[int] = []
    g_loss = t.loss.g_loss
    monkeypatch.setattr(t, "loss", dataclasses.replace(t.loss, g_loss=lambda out: seen.append(len(out)) or g_loss(out)))
    return seen


def test_g_learns_from_k_fakes_and_the_run_trains(monkeypatch):
    """The G step's loss sees k rows of D's outputs (not the batch), and a run with it still makes finite losses."""
    t = Trainer(RunConfig(**TINY, g_topk=0.5, reuse_fakes=True))
    seen = _count_g_loss_rows(t, monkeypatch)
    for _ in range(t.cfg.steps):
        t.train_step()
    assert seen[0] == 32 and seen[-1] == math.ceil(32 * (1 - 0.5 * 39 / 40)) == 17  # the last G step is step 39's
    assert all(a >= b for a, b in zip(seen, seen[1:]))
    assert all(torch.isfinite(p).all() for p in t.G.parameters())


def test_off_by_default_and_the_batch_is_g_s_whole_loss(monkeypatch):
    t = Trainer(RunConfig(**TINY))
    assert t.cfg.g_topk == 1.0
    seen = _count_g_loss_rows(t, monkeypatch)
    t.step = t.cfg.steps - 1
    t.train_step()
    assert seen == [32]


@pytest.mark.parametrize("value", [0.0, -0.1, 1.5])
def test_a_share_outside_zero_to_one_is_refused_by_name(value):
    with pytest.raises(ConfigError, match="g_topk"):
        validate_config(RunConfig(**{**TINY, "g_topk": value}))


def test_every_loss_ranks_by_its_own_d_output_kind():
    """A new D output kind must say which way is real before top-k can rank it."""
    assert {entry.obj.d_output for entry in LOSSES} <= {"logit", "critic", "energy"}
