"""The torch shortcuts of ganlab.training.fastpath: off, on or missing, a run gives the same bits."""

import functools
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ganlab.config import RunConfig
from ganlab.data import load_dataset
from ganlab.data.base import DataSpec, TensorDataset
from ganlab.training import Trainer, fastpath, params

ROOT = Path(__file__).resolve().parents[1]
TINY = dict(batch_size=16, latent_dim=4, g_hidden=(16,), d_hidden=(16,), base_channels=8, log_every=1,
            num_fixed=8, device="cpu", seed=3)
STEPS = 6
CONFIGS = {
    "mlp-ring8-bce-r1": dict(dataset="ring8", arch="mlp", loss="bce", r1_weight=1.0, r1_every=2),
    "dcgan-digits16-bce (batch norm)": dict(dataset="digits16", arch="dcgan", loss="bce"),
    "mlp-wgan-clipping-rmsprop-k2": dict(dataset="ring8", arch="mlp", loss="wgan", optimizer="rmsprop",
                                         lr_d=5e-4, lr_g=5e-4, d_steps=2),
    "mlp-ring8-ema (G with batch-norm buffers)": dict(dataset="ring8", arch="mlp", loss="bce", ema=0.9, norm="batch"),
}
EVERYTHING = CONFIGS["mlp-ring8-ema (G with batch-norm buffers)"]  # Adam, both backwards, EMA weights and buffers
# the private names fastpath looks up, with the shortcut each one belongs to
PRIVATE = [("torch", "_fused_adam_", "step"),
           ("torch.optim.optimizer", "_global_optimizer_pre_hooks", "step"),
           ("torch.optim.optimizer", "_global_optimizer_post_hooks", "step"),
           ("torch.autograd.graph", "_engine_run_backward", "backward")]


@functools.lru_cache(maxsize=1)
def digits16() -> TensorDataset:
    """The 8x8 digits at 16x16 (pixel doubling): the smallest size whose DCGAN D has batch norm."""
    x = load_dataset("digits", "cpu").x[:128]
    return TensorDataset("digits16", DataSpec("images", (1, 16, 16)), x.repeat_interleave(2, 2).repeat_interleave(2, 3))


def make(**kw) -> Trainer:
    cfg = RunConfig(**{**TINY, **kw})
    return Trainer(cfg, dataset=digits16() if cfg.dataset == "digits16" else None)


def records(tr: Trainer, steps: int = STEPS) -> list[dict]:
    """What the Trainer collects, every step, gradient norms included (measure=True)."""
    out = []
    for _ in range(steps):
        tr.train_step(measure=True)
        out.append(tr.collect())
    return out


def built(monkeypatch, switch: str, **kw) -> Trainer:
    monkeypatch.setenv(fastpath.ENV, switch)
    return make(**kw)


def test_this_torch_has_every_shortcut():
    """On the torch the project pins, every shortcut is detected: a silent loss of one shows up here, not as a slowdown."""
    assert fastpath.Paths(fastpath.SHORTCUTS).on == frozenset(fastpath.SHORTCUTS)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_shortcuts_on_and_off_give_bit_identical_records(monkeypatch, name):
    """GANLAB_FASTPATH=0 and the fast paths give the same losses, D outputs and gradient norms, bit for bit."""
    fast, plain = built(monkeypatch, "1", **CONFIGS[name]), built(monkeypatch, "0", **CONFIGS[name])
    assert fast.fast.on == frozenset(fastpath.SHORTCUTS) and plain.fast.on == frozenset()
    assert records(fast) == records(plain)


@pytest.mark.parametrize("module,attr,shortcut", PRIVATE, ids=[f"{m}.{a}" for m, a, _ in PRIVATE])
def test_a_missing_private_name_falls_back_to_the_public_call(monkeypatch, module, attr, shortcut):
    """With one private name gone when the Trainer is built, it builds, leaves that shortcut off and trains the same bits."""
    want = records(built(monkeypatch, "1", **EVERYTHING))
    with monkeypatch.context() as m:  # torch's own opt.step() needs some of these names: gone for the build only
        m.delattr(sys.modules[module], attr)
        tr = make(**EVERYTHING)
    assert shortcut not in tr.fast.on and tr.fast.on  # the others stay on
    assert records(tr) == want


def test_a_shortcut_that_gives_other_numbers_is_not_taken(monkeypatch):
    """The probe compares bits: a fused Adam kernel whose default for an argument ganlab leaves out changed is not used."""
    real = torch._fused_adam_

    def kernel(*a, lr, **k):  # torch's opt.step() passes grad_scale; the direct call leaves it to the default
        return real(*a, lr=lr if "grad_scale" in k else 2 * lr, **k)

    monkeypatch.setattr(torch, "_fused_adam_", kernel)
    assert fastpath.detect("step") is None
    monkeypatch.undo()
    assert fastpath.detect("step") is not None


def test_the_engine_backward_survives_its_removal_during_a_run(monkeypatch):
    """torch's loss.backward() does not need the name the shortcut uses: gone for the whole run, the run is the same."""
    want = records(built(monkeypatch, "1", **EVERYTHING))
    monkeypatch.delattr(torch.autograd.graph, "_engine_run_backward")
    tr = make(**EVERYTHING)
    assert "backward" not in tr.fast.on
    assert records(tr) == want


def test_the_switch_names_which_shortcuts_run(monkeypatch):
    """GANLAB_FASTPATH: unset or 1 all, 0 none, a comma list just those (unknown names ignored), read at each build."""
    every = frozenset(fastpath.SHORTCUTS)
    monkeypatch.delenv(fastpath.ENV, raising=False)
    assert fastpath.enabled() and fastpath.Paths().on == every
    for raw, want in (("0", frozenset()), ("off", frozenset()), ("1", every), ("step, nonsense", {"step"}),
                      ("backward", {"backward"})):
        monkeypatch.setenv(fastpath.ENV, raw)
        assert fastpath.Paths().on == want, raw
        assert fastpath.enabled() == bool(want)


def test_a_global_step_hook_sends_the_stepper_through_opt_step():
    """A hook registered for every optimizer runs at each step: the direct kernel call would skip it, so it is not made."""
    p = torch.nn.Parameter(torch.ones(3))
    opt = torch.optim.Adam([p], lr=0.1, fused=True)
    step = fastpath.Stepper(opt)
    calls = []
    hooks = importlib.import_module("torch.optim.optimizer")  # torch.optim does not keep the submodule as a name
    handle = hooks.register_optimizer_step_pre_hook(lambda o, a, k: calls.append(o))
    try:
        for _ in range(3):
            p.grad = torch.ones(3)
            step()
    finally:
        handle.remove()
    assert len(calls) == 3
    p.grad = torch.ones(3)
    step()  # unhooked: the direct call, which no hook sees
    assert len(calls) == 3 and step.plan is not None


def test_has_batch_norm_sees_every_public_batch_norm():
    """Subclasses and SyncBatchNorm count; other norms do not (they do not mix the samples of a batch)."""
    class MyNorm(torch.nn.BatchNorm1d):
        pass

    assert params.has_batch_norm(torch.nn.Sequential(torch.nn.Linear(2, 2), MyNorm(2)))
    assert params.has_batch_norm(torch.nn.Sequential(torch.nn.SyncBatchNorm(2)))
    assert not params.has_batch_norm(torch.nn.Sequential(torch.nn.LayerNorm(2), torch.nn.InstanceNorm1d(2)))


def test_the_engine_imports_and_builds_without_the_private_names():
    """A torch without any name fastpath looks up: `import ganlab.training` and the CLI still import, a Trainer builds."""
    code = "\n".join([
        "import importlib, torch",
        *[f"delattr(importlib.import_module({m!r}), {a!r})" for m, a, _ in PRIVATE],
        "import ganlab.training, ganlab.cli",
        "from ganlab.config import RunConfig",
        "tr = ganlab.training.Trainer(RunConfig(dataset='ring8', device='cpu', g_hidden=(8,), d_hidden=(8,)))",
        "print(sorted(tr.fast.on))",
    ])
    env = {k: v for k, v in os.environ.items() if k != fastpath.ENV}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def _cli_records(tmp_path: Path, switch) -> list[dict]:
    """`python -m ganlab train` on ring8 for 300 steps; its stats.jsonl without the clock's keys."""
    runs = tmp_path / f"runs-{switch}"
    env = {k: v for k, v in os.environ.items() if k != fastpath.ENV}
    if switch is not None:
        env[fastpath.ENV] = switch
    cmd = [sys.executable, "-m", "ganlab", "train", "--dataset", "ring8", "--steps", "300", "--seed", "0",
           "--runs-dir", str(runs), "--quiet"]
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    (stats,) = runs.glob("*/stats.jsonl")
    recs = [json.loads(line) for line in stats.read_text().splitlines() if line.strip()]
    return [{k: v for k, v in r.items() if k not in ("time", "Speed/steps_per_s")} for r in recs]


def test_the_cli_trains_the_same_run_with_the_fast_paths_off(tmp_path):
    """GANLAB_FASTPATH=0 python -m ganlab train ... writes the same stats.jsonl records as the command without it."""
    plain, fast = _cli_records(tmp_path, "0"), _cli_records(tmp_path, None)
    assert len(fast) >= 6 and any("Loss/D" in r for r in fast)
    assert plain == fast
