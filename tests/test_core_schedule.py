"""Learning-rate schedules, the per-step log and the direct-call MLP chain: the pieces of the fast step."""

import math

import numpy as np
import pytest
import torch
import torch.nn as nn

from ganlab.config import ConfigError, RunConfig
from ganlab.config.validate import validate_config
from ganlab.game.schedules import SCHEDULES, lr_factor
from ganlab.models.common import Chain
from ganlab.session import RunSession
from ganlab.store import Run
from ganlab.training import Trainer, train
from ganlab.training.stats import StepLog

TINY = dict(dataset="ring8", batch_size=16, g_hidden=(16,), d_hidden=(16,), latent_dim=2, device="cpu")


@pytest.mark.parametrize("name", SCHEDULES.names())
def test_each_schedule_starts_at_one_falls_and_ends_at_its_end_factor(name):
    f = [lr_factor(name, s, 100, 0.1) for s in range(101)]
    assert f[0] == 1.0
    assert f[-1] == pytest.approx(1.0 if name == "constant" else 0.1)
    assert all(a >= b for a, b in zip(f, f[1:]))
    assert lr_factor(name, 500, 100, 0.1) == f[-1]  # past the end (a run extended later) it stays at the end


def test_cosine_is_halfway_at_half_time():
    assert lr_factor("cosine", 50, 100, 0.0) == pytest.approx(0.5)
    assert lr_factor("linear", 25, 100, 0.0) == pytest.approx(0.75)


def test_an_unknown_schedule_is_refused_by_name():
    with pytest.raises(ConfigError, match="lr_schedule: 'step' is not one of constant, linear, cosine"):
        validate_config(RunConfig(lr_schedule="step"))
    with pytest.raises(ConfigError, match="lr_end_factor"):
        validate_config(RunConfig(lr_end_factor=1.5))


def test_trainer_scales_both_learning_rates_and_live_changes_move_the_base():
    cfg = RunConfig(**TINY, steps=10, lr_d=1e-3, lr_g=2e-3, lr_schedule="cosine", lr_end_factor=0.0)
    tr = Trainer(cfg)
    for _ in range(5):
        tr.train_step()
    f = lr_factor("cosine", 4, 10, 0.0)  # the factor of the 5th update
    rec = tr.collect()
    assert rec["LR/D"] == pytest.approx(1e-3 * f) and rec["LR/G"] == pytest.approx(2e-3 * f)
    assert tr.opt_g.param_groups[0]["lr"] == pytest.approx(2e-3 * f)
    tr.set_hparams(lr_d=4e-3)  # the Monitor page sets the base; the schedule still applies
    assert tr.opt_d.param_groups[0]["lr"] == pytest.approx(4e-3 * f)
    tr.train_step()
    assert tr.opt_d.param_groups[0]["lr"] == pytest.approx(4e-3 * lr_factor("cosine", 5, 10, 0.0))


def _records(run: Run) -> list[dict]:
    """Without wall-clock fields, nor the session's Div/* watch (a run trained by train() alone has none)."""
    return [{k: v for k, v in r.items() if k not in ("time", "Speed/steps_per_s") and not k.startswith("Div/")}
            for r in run.history()]


def test_resume_under_a_schedule_with_k2_matches_the_uninterrupted_run(tmp_path):
    cfg = RunConfig(**TINY, steps=40, log_every=10, checkpoint_every=20, d_steps=2, lr_schedule="linear",
                    lr_end_factor=0.2, seed=4)
    straight = Run.create(tmp_path, cfg)
    train(cfg, straight)
    broken = Run.create(tmp_path, cfg)
    holder = {}
    assert train(cfg, broken, should_stop=lambda: holder["t"].step == 20,
                 trainer=holder.setdefault("t", Trainer(cfg))) == "stopped"
    assert RunSession.reopen(broken.path).run_training().state == "finished"
    assert _records(broken) == _records(straight)
    assert _records(straight)[-1]["LR/D"] == pytest.approx(cfg.lr_d * lr_factor("linear", 39, 40, 0.2))


def test_step_log_means_and_first_bad_step_survive_folding():
    log = StepLog(("a", "b"), torch.device("cpu"), capacity=4)  # 10 rows: folds twice before collect
    rows = np.arange(20, dtype=np.float32).reshape(10, 2)
    rows[6, 1] = np.nan  # step 107 (the log's window starts at 101)
    rows[8, 0] = np.inf
    for i, r in enumerate(rows):
        log.row(101 + i).copy_(torch.from_numpy(r))
    means, bad = log.collect()
    assert bad == {"a": 109, "b": 107}
    assert means["a"] == math.inf and math.isnan(means["b"])
    for i in range(3):  # a clean window afterwards
        log.row(111 + i).copy_(torch.tensor([1.0, 2.0 * i]))
    means, bad = log.collect()
    assert bad == {} and means == {"a": 1.0, "b": 2.0}
    assert log.collect() == ({}, {})


def test_a_nan_loss_names_the_exact_step_past_a_fold(monkeypatch):
    tr = Trainer(RunConfig(**TINY, steps=1000))
    tr.step_log = StepLog(tr.step_log.names, tr.device, capacity=8)
    real = tr.loss.g_loss
    monkeypatch.setattr(tr, "loss", type(tr.loss)(**{**tr.loss.__dict__, "g_loss": lambda out, **k: (
        real(out) * float("nan") if tr.step == 12 else real(out))}))
    for _ in range(20):
        tr.train_step()
    with pytest.raises(Exception, match="step 13: G loss became NaN"):
        tr.collect()


def test_chain_matches_sequential_and_still_runs_hooks():
    torch.manual_seed(0)
    layers = [nn.Linear(3, 8), nn.LeakyReLU(0.2), nn.Linear(8, 8), nn.GELU(), nn.LayerNorm(8), nn.Linear(8, 2), nn.Tanh()]
    chain, seq = Chain(*layers), nn.Sequential(*layers)
    x = torch.randn(5, 3)
    assert torch.equal(chain(x), seq(x))
    assert list(chain.state_dict()) == list(seq.state_dict())  # checkpoints keep nn.Sequential's names
    seen = []
    layers[2].register_forward_hook(lambda m, i, o: seen.append(o.shape))
    assert torch.equal(chain(x), seq(x)) and seen == [(5, 8), (5, 8)]
    nn.utils.parametrizations.spectral_norm(layers[0])  # a parametrized Linear is another type: called normally
    chain(x)
    assert chain[0].parametrizations.weight.original.shape == (8, 3)


def test_lazy_r1_runs_every_nth_iteration_at_n_times_the_weight(monkeypatch):
    import ganlab.training.trainer as train_mod

    calls = []
    real = train_mod.r1_penalty
    monkeypatch.setattr(train_mod, "r1_penalty", lambda d, x: (calls.append(1), real(d, x))[1])
    tr = Trainer(RunConfig(**TINY, steps=10, r1_weight=0.5, r1_every=4))
    for _ in range(9):
        tr.train_step()
    assert len(calls) == 3  # iterations 0, 4 and 8
    rec = tr.collect()
    assert rec["Penalty/R1"] > 0
    with pytest.raises(ConfigError, match="r1_every"):
        validate_config(RunConfig(r1_every=0))


def test_r1_schedule_scales_the_weight_over_the_run_and_is_validated():
    tr = Trainer(RunConfig(**TINY, steps=10, r1_weight=2.0, r1_schedule="linear", r1_end_factor=0.2))
    assert tr.r1_weight_now() == pytest.approx(2.0)
    for _ in range(5):
        tr.train_step()
    assert tr.r1_weight_now() == pytest.approx(2.0 * 0.6)
    assert Trainer(RunConfig(**TINY, steps=10, r1_weight=2.0, r1_end_factor=0.2)).r1_weight_now() == 2.0  # constant
    with pytest.raises(ConfigError, match="r1_schedule: 'step' is not one of constant, linear, cosine"):
        validate_config(RunConfig(r1_schedule="step"))
    with pytest.raises(ConfigError, match="r1_end_factor"):
        validate_config(RunConfig(r1_end_factor=-0.1))


def test_a_falling_r1_changes_training_and_an_end_factor_of_one_does_not():
    def d_weights(**kw):
        tr = Trainer(RunConfig(**TINY, steps=6, r1_weight=1.0, seed=3, **kw))
        for _ in range(6):
            tr.train_step()
        return torch.cat([p.detach().flatten() for p in tr.D.parameters()])

    constant = d_weights()
    assert torch.equal(d_weights(r1_schedule="linear", r1_end_factor=1.0), constant)
    assert not torch.allclose(d_weights(r1_schedule="linear", r1_end_factor=0.0), constant)
