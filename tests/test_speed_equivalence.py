"""Every speed trick in the Trainer keeps the losses of a plain fp32 loop (within a stated tolerance)."""

import copy
import functools
import os
import threading

import pytest
import torch
import torch.nn.functional as F

from ganlab.config import RunConfig
from ganlab.data import load_dataset
from ganlab.data.base import DataSpec, TensorDataset
from ganlab.training import Trainer, default_threads
from ganlab.training.fastpath import Stepper as _Stepper

TINY = dict(batch_size=16, latent_dim=4, g_hidden=(16,), d_hidden=(16,), base_channels=8, log_every=1,
            num_fixed=8, device="cpu", seed=5)
STEPS = 8
RTOL = 1e-4  # fp32, different op order (one D pass over [real; fake], fused Adam): agree to ~1e-6 here


def plain_losses(tr: Trainer, steps: int) -> list[tuple[float, float, float, float]]:
    """The textbook loop on copies of the Trainer's nets and RNG: two D calls, zero_grad, per-tensor Adam/RMSprop,
    D's weight gradients computed in the G step, BCE via binary_cross_entropy_with_logits."""
    cfg = tr.cfg
    G, D = copy.deepcopy(tr.G), copy.deepcopy(tr.D)
    gen = torch.Generator().manual_seed(0)
    gen.set_state(tr.gen.get_state())

    def opt(params, lr, wd):
        if cfg.optimizer == "rmsprop":
            return torch.optim.RMSprop(params, lr=lr, momentum=cfg.momentum, weight_decay=wd, foreach=False)
        return torch.optim.Adam(params, lr=lr, betas=(cfg.beta1, cfg.beta2), weight_decay=wd, foreach=False)

    opt_d, opt_g = opt(D.parameters(), cfg.lr_d, cfg.weight_decay_d), opt(G.parameters(), cfg.lr_g, cfg.weight_decay_g)
    critic = cfg.loss == "wgan"
    out = []
    prev = torch.get_num_threads()
    torch.set_num_threads(1)  # two OpenMP threads on a busy 2-core box crawl (see bench/RESULTS.md)
    try:
        for _ in range(steps):
            out.append(_plain_step(cfg, G, D, opt_d, opt_g, gen, tr.data, critic))
    finally:
        torch.set_num_threads(prev)
    return out


def _plain_step(cfg, G, D, opt_d, opt_g, gen, data, critic) -> tuple[float, float, float, float]:
    """k D steps on the mean of two BCE terms, then one G step, as any tutorial writes them."""
    ld_sum = real_sum = fake_sum = 0.0
    for i in range(cfg.d_steps):
        x, _ = data.batch(cfg.batch_size, gen)
        z = torch.randn((cfg.batch_size, cfg.latent_dim), generator=gen)
        if cfg.reuse_fakes and i == cfg.d_steps - 1:  # PyTorch's DCGAN example: G's update reuses these fakes
            kept = G(z)
            fake = kept.detach()
        else:
            with torch.no_grad():
                fake = G(z)
        real_out, fake_out = D(x), D(fake)
        if critic:
            loss_d = fake_out.mean() - real_out.mean()
        else:
            loss_d = 0.5 * (F.binary_cross_entropy_with_logits(real_out, torch.ones_like(real_out))
                            + F.binary_cross_entropy_with_logits(fake_out, torch.zeros_like(fake_out)))
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        if critic:
            with torch.no_grad():
                for p in D.parameters():
                    p.clamp_(-cfg.clip_value, cfg.clip_value)
        prob = (lambda t: t) if critic else torch.sigmoid
        ld_sum += loss_d.item()
        real_sum += prob(real_out).mean().item()
        fake_sum += prob(fake_out).mean().item()
    if cfg.reuse_fakes:
        fake_out = D(kept)
    else:
        z = torch.randn((cfg.batch_size, cfg.latent_dim), generator=gen)
        fake_out = D(G(z))
    loss_g = -fake_out.mean() if critic else F.binary_cross_entropy_with_logits(fake_out, torch.ones_like(fake_out))
    opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()
    k = cfg.d_steps
    return ld_sum / k, loss_g.item(), real_sum / k, fake_sum / k


def trainer_losses(tr: Trainer, steps: int) -> list[tuple[float, float, float, float]]:
    out = []
    for _ in range(steps):
        tr.train_step()
        r = tr.collect()
        out.append((r["Loss/D"], r["Loss/G"], r["D/real"], r["D/fake"]))
    return out


CASES = {
    "mlp-ring8-bce (one D pass over real+fake)": dict(dataset="ring8", arch="mlp", loss="bce"),
    "dcgan-digits16-bce (batch norm: two D passes)": dict(dataset="digits16", arch="dcgan", loss="bce"),
    "mlp-wgan-rmsprop-k2 (critic, clipping, k > 1)": dict(dataset="ring8", arch="mlp", loss="wgan",
                                                         optimizer="rmsprop", lr_d=5e-4, lr_g=5e-4, d_steps=2),
    "mlp-ring8-bce-reuse (G's update reuses the D update's fakes)": dict(dataset="ring8", arch="mlp", loss="bce",
                                                                         reuse_fakes=True),
    "mlp-ring8-bce-weight-decay": dict(dataset="ring8", arch="mlp", loss="bce", weight_decay_d=0.05, weight_decay_g=0.02),
    "dcgan-digits16-bce-reuse": dict(dataset="digits16", arch="dcgan", loss="bce", reuse_fakes=True),
    "mlp-wgan-rmsprop-k2-reuse (the last of k D updates' fakes)": dict(
        dataset="ring8", arch="mlp", loss="wgan", optimizer="rmsprop", lr_d=5e-4, lr_g=5e-4, d_steps=2, reuse_fakes=True),
    "linear-gaussian2d-d2l": dict(dataset="gaussian2d", arch="linear", loss="bce", lr_d=0.05, lr_g=0.005,
                                  beta1=0.9, d_hidden=(5, 3), activation="tanh", latent_dim=2),
}


@functools.lru_cache(maxsize=1)
def digits16() -> TensorDataset:
    """The 8x8 digits at 16x16 (pixel doubling): the smallest size whose DCGAN D has batch norm."""
    x = load_dataset("digits", "cpu").x[:256]  # (256, 1, 8, 8) uint8
    return TensorDataset("digits16", DataSpec("images", (1, 16, 16)), x.repeat_interleave(2, 2).repeat_interleave(2, 3))


def make(**kw) -> Trainer:
    cfg = RunConfig(**{**TINY, **kw})
    return Trainer(cfg, dataset=digits16() if cfg.dataset == "digits16" else None)


@pytest.mark.parametrize("case", list(CASES))
def test_trainer_matches_a_plain_fp32_loop(case):
    """Same init, same random draws: the fast Trainer's per-step losses and D outputs equal the plain loop's."""
    tr = make(**CASES[case])
    want = plain_losses(tr, STEPS)  # copies taken before the trainer moves
    got = trainer_losses(tr, STEPS)
    for step, (g, w) in enumerate(zip(got, want), 1):
        assert g == pytest.approx(w, rel=RTOL, abs=1e-6), f"step {step}: trainer {g} vs plain loop {w}"


def test_joint_d_pass_only_where_samples_are_independent():
    """Batch norm and spectral norm see the batch or count calls: those Ds keep two separate passes."""
    assert make(dataset="ring8").joint
    assert make(dataset="ring8", d_norm="layer").joint
    assert not make(dataset="ring8", spectral_norm=True).joint
    assert not make(dataset="digits16", arch="dcgan").joint


def test_fast_adam_step_is_bit_identical_to_opt_step():
    """_Stepper calls torch's fused Adam kernel directly: the same bits as opt.step(), lr changes included."""
    torch.manual_seed(0)
    a = [torch.randn(5, 3, requires_grad=True), torch.randn(3, requires_grad=True)]
    b = [t.detach().clone().requires_grad_(True) for t in a]
    opt_a = torch.optim.Adam(a, lr=1e-2, betas=(0.5, 0.9), fused=True)
    opt_b = torch.optim.Adam(b, lr=1e-2, betas=(0.5, 0.9), fused=True)
    fast = _Stepper(opt_b)
    for i in range(6):
        g = [torch.randn_like(t) for t in a]
        for p, q, gi in zip(a, b, g):
            p.grad, q.grad = gi.clone(), gi.clone()
        if i == 3:
            for o in (opt_a, opt_b):
                o.param_groups[0]["lr"] = 3e-3
        opt_a.step()
        fast()
    assert fast.plan is not None  # the direct path was taken after the first step
    assert all(torch.equal(p, q) for p, q in zip(a, b))
    sa, sb = opt_a.state_dict()["state"], opt_b.state_dict()["state"]
    assert all(torch.equal(sa[i][k], sb[i][k]) for i in sa for k in sa[i])


BF16_ABS = 0.02  # bf16 keeps 8 mantissa bits: losses near ln 2 differ by ~1e-3 over a few steps


def test_bf16_autocast_on_cpu_stays_near_fp32():
    """precision=bf16 (autocast) on the CPU: losses within 0.02 of fp32 over the first steps."""
    base = {**TINY, "dataset": "digits", "arch": "mlp", "g_hidden": (64,), "d_hidden": (64,)}
    fp32 = trainer_losses(Trainer(RunConfig(**base, precision="fp32")), 5)
    bf16 = trainer_losses(Trainer(RunConfig(**base, precision="bf16")), 5)
    assert fp32 != bf16  # autocast really ran in bf16
    for f, b in zip(fp32, bf16):
        assert b == pytest.approx(f, abs=BF16_ABS)


def test_no_host_sync_inside_a_step(monkeypatch):
    """Nothing in train_step reads a tensor back to Python (the one sync per tick is collect())."""
    trainers = [make(**kw) for kw in CASES.values()]
    trainers.append(make(dataset="ring8", loss="wgan-gp", ema=0.9))

    def boom(*a, **k):
        raise AssertionError("host sync in the training step")

    for name in ("item", "tolist", "__bool__", "__float__", "__int__", "numpy"):
        monkeypatch.setattr(torch.Tensor, name, boom)
    for tr in trainers:
        for _ in range(3):  # the first step builds optimizer state; the later ones take the fast path
            tr.train_step(measure=True)
    monkeypatch.undo()
    assert all(tr.collect()["step"] == 3 for tr in trainers)


def test_threads_are_scoped_to_the_step(monkeypatch):
    """The Trainer's thread count applies inside its steps only; GANLAB_THREADS overrides the default."""
    monkeypatch.setenv("GANLAB_THREADS", "1")
    assert default_threads() == 1
    before = torch.get_num_threads()
    tr = make(dataset="ring8")
    seen = []
    real = tr.d_step
    monkeypatch.setattr(tr, "d_step", lambda m, **kw: (seen.append(torch.get_num_threads()), real(m, **kw))[1])
    tr.train_step()
    assert seen == [1] and torch.get_num_threads() == before
    monkeypatch.delenv("GANLAB_THREADS")
    cpus = len(os.sched_getaffinity(0))
    assert default_threads() == cpus  # a run built in the main thread (CLI, script) has the machine
    seen.clear()
    t = threading.Thread(target=lambda: seen.append(default_threads()))
    t.start()
    t.join()
    assert seen == [max(1, cpus // 2)]  # a dashboard run leaves room for the server and the browser
