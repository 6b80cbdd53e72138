"""The training loop: k D-steps, one G-step; metrics stay on the device until a tick.

`train(cfg, run, should_stop=..., on_tick=...)` is the same call in a UI thread, a test
and the CLI: it never knows a GUI exists.
"""

from __future__ import annotations

import copy
import time
from contextlib import nullcontext
from typing import Any, Callable, Optional

import numpy as np
import torch

from . import __version__
from .checkpoint import FORMAT, spec_to_dict
from .config import RunConfig
from .data import Dataset, load_dataset
from .latent import z_batch
from .losses import LOSSES, d_prob, gradient_penalty, r1_penalty
from .models import build_models
from .run import Run
from .stats import Stats, non_finite


class Diverged(RuntimeError):
    """A loss or weight became NaN/inf; carries the step and the network for the message."""

    def __init__(self, step: int, network: str, detail: str):
        super().__init__(f"training diverged at step {step}: {network} {detail}; the last good checkpoint is kept — "
                         f"resume with a lower learning rate")
        self.step, self.network = step, network


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _optimizer(cfg: RunConfig, params, lr: float) -> torch.optim.Optimizer:
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, betas=(cfg.beta1, cfg.beta2), foreach=True)
    if cfg.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, momentum=cfg.momentum, foreach=True)
    return torch.optim.SGD(params, lr=lr, momentum=cfg.momentum, foreach=True)


def _grad_norm(module: torch.nn.Module) -> torch.Tensor:
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))


class Trainer:
    """G, D, their optimizers, the data and every RNG of one run: `step()` advances one iteration."""

    def __init__(self, cfg: RunConfig, *, dataset: Optional[Dataset] = None, data_root=None, download: bool = False):
        self.cfg = cfg
        self.device = resolve_device(cfg.device)
        self.loss = LOSSES.get(cfg.loss)
        self.data = dataset or load_dataset(cfg.dataset, self.device, seed=cfg.seed, root=data_root, download=download)
        self.spec = self.data.spec
        torch.manual_seed(cfg.seed)  # model init
        g, d = build_models(cfg, self.spec)
        self.conv = cfg.arch == "dcgan" and self.device.type == "cuda"
        fmt = torch.channels_last if self.conv else torch.contiguous_format
        self.G, self.D = g.to(self.device, memory_format=fmt), d.to(self.device, memory_format=fmt)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False) if cfg.ema > 0 else None
        self.opt_g = _optimizer(cfg, self.G.parameters(), cfg.lr_g)
        self.opt_d = _optimizer(cfg, self.D.parameters(), cfg.lr_d)
        self.gen = torch.Generator(device=self.device).manual_seed(cfg.seed)  # data order, z, labels, GP
        self.hparams = {"lr_d": cfg.lr_d, "lr_g": cfg.lr_g, "d_steps": cfg.d_steps}
        self.step, self.elapsed = 0, 0.0
        self.stats = Stats()
        self._bad = torch.full((2,), -1, dtype=torch.long, device=self.device)  # first non-finite step of D, G
        self._setup_precision()
        self.fixed_z, self.fixed_y = self._fixed_latents()

    # ------------------------------------------------------------ set-up
    def _setup_precision(self) -> None:
        p = self.cfg.precision
        bf16 = p == "bf16" or (p == "auto" and self.device.type == "cuda")
        self.autocast = (lambda: torch.autocast(self.device.type, dtype=torch.bfloat16)) if bf16 else nullcontext
        self.g_fwd, self.d_fwd = self.G, self.D
        if self.cfg.compile:
            self.g_fwd = torch.compile(self.G)
            if not (self.loss.gradient_penalty or self.cfg.r1_weight > 0):  # double backward: keep D eager
                self.d_fwd = torch.compile(self.D)

    def _fixed_latents(self) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """The fixed batch every snapshot shows; with labels, one row per class."""
        n, k = self.cfg.num_fixed, self.num_classes
        y = None
        if k:
            cols = max(1, n // k)
            y = torch.arange(k, device=self.device).repeat_interleave(cols)
            n = len(y)
        z = z_batch(range(10_000, 10_000 + n), self.cfg.latent_dim, self.cfg.latent_dist, self.device)
        return z, y

    @property
    def num_classes(self) -> int:
        return self.spec.num_classes if self.cfg.conditional else 0

    def set_hparams(self, *, lr_d: Optional[float] = None, lr_g: Optional[float] = None,
                    d_steps: Optional[int] = None) -> None:
        """Change learning rates or k between iterations (from any thread)."""
        for key, val, opt in (("lr_d", lr_d, self.opt_d), ("lr_g", lr_g, self.opt_g)):
            if val is not None:
                self.hparams[key] = float(val)
                for group in opt.param_groups:
                    group["lr"] = float(val)
        if d_steps is not None:
            self.hparams["d_steps"] = int(d_steps)

    # ------------------------------------------------------------ sampling
    def sample_z(self, n: int) -> torch.Tensor:
        shape = (n, self.cfg.latent_dim)
        if self.cfg.latent_dist == "uniform":
            return torch.rand(shape, device=self.device, generator=self.gen).mul_(2).sub_(1)
        return torch.randn(shape, device=self.device, generator=self.gen)

    def _fake_labels(self, n: int) -> Optional[torch.Tensor]:
        if not self.num_classes:
            return None
        return torch.randint(self.num_classes, (n,), device=self.device, generator=self.gen)

    def _real(self) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        x, y = self.data.batch(self.cfg.batch_size, self.gen)
        if self.conv:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, (y if self.num_classes else None)

    # ------------------------------------------------------------ the game
    def d_step(self, measure: bool) -> None:
        # (1) a real batch and a fake batch; G is frozen here, so no graph through it
        x, y = self._real()
        with torch.no_grad(), self.autocast():
            fake = self.g_fwd(self.sample_z(len(x)), y)
        # (2) D's loss: real up, fake down (the loss says how), plus separate penalties
        with self.autocast():
            real_out, fake_out = self.d_fwd(x, y).float(), self.d_fwd(fake, y).float()
        loss = self.loss.d_loss(real_out, fake_out, margin=self.cfg.margin, real_x=x, fake_x=fake.float())
        self.stats.report("Loss/D", loss)
        total = loss + self._penalties(x, fake, y)
        # (3) update D
        self.opt_d.zero_grad(set_to_none=True)
        total.backward()
        if measure:
            self.stats.report("Grad/D", _grad_norm(self.D))
        self.opt_d.step()
        if self.loss.clip_weights:  # WGAN: keep the critic Lipschitz the crude way
            with torch.no_grad():
                params = list(self.D.parameters())
                torch._foreach_clamp_min_(params, -self.cfg.clip_value)
                torch._foreach_clamp_max_(params, self.cfg.clip_value)
        self.stats.report("D/real", d_prob(self.loss, real_out).mean())
        self.stats.report("D/fake", d_prob(self.loss, fake_out).mean())
        if self.loss.d_output == "critic":
            self.stats.report("W", real_out.mean() - fake_out.mean())
        self._mark_bad(0, loss)

    def _penalties(self, x: torch.Tensor, fake: torch.Tensor, y) -> torch.Tensor | float:
        """Gradient penalties in fp32 (double backward under bf16 is not safe)."""
        pen: torch.Tensor | float = 0.0
        d = lambda t: self.D(t, y)  # noqa: E731 - eager D: compiled graphs do not double-backward
        if self.loss.gradient_penalty:
            gp = gradient_penalty(d, x, fake.float(), self.gen)
            self.stats.report("Penalty/GP", gp)
            pen = pen + self.cfg.gp_weight * gp
        if self.cfg.r1_weight > 0:
            r1 = r1_penalty(d, x)
            self.stats.report("Penalty/R1", r1)
            pen = pen + 0.5 * self.cfg.r1_weight * r1
        return pen

    def g_step(self, measure: bool) -> None:
        # (1) fresh z through G; D judges the fakes (D's weights are not updated here)
        n = self.cfg.batch_size
        y = self._fake_labels(n)
        with self.autocast():
            fake = self.g_fwd(self.sample_z(n), y)
            fake_out = self.d_fwd(fake, y).float()
        # (2) G's loss: make D call the fakes real
        loss = self.loss.g_loss(fake_out)
        self.stats.report("Loss/G", loss)
        # (3) update G only (D's grads from this pass are discarded by D's next zero_grad)
        self.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        if measure:
            self.stats.report("Grad/G", _grad_norm(self.G))
        self.opt_g.step()
        if self.G_ema is not None:
            self._update_ema()
        self._mark_bad(1, loss)

    def _update_ema(self) -> None:
        with torch.no_grad():
            ema, cur = list(self.G_ema.parameters()), list(self.G.parameters())
            torch._foreach_lerp_(ema, cur, 1.0 - self.cfg.ema)
            for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers()):
                b_ema.copy_(b)

    def _mark_bad(self, i: int, loss: torch.Tensor) -> None:
        # remember the first step whose loss was not finite, without a host sync
        self._bad[i] = torch.where((self._bad[i] < 0) & ~torch.isfinite(loss.detach()), self.step + 1, self._bad[i])

    def train_step(self, measure: bool = False) -> None:
        """One iteration: k D-steps, then one G-step."""
        for _ in range(self.hparams["d_steps"]):
            self.d_step(measure)
        self.g_step(measure)
        self.step += 1

    # ------------------------------------------------------------ ticks
    def collect(self) -> dict[str, Any]:
        """One record for stats.jsonl; raises Diverged when a loss or weight is not finite."""
        rec: dict[str, Any] = {"step": self.step, **self.stats.collect()}
        bad_d, bad_g = self._bad.tolist()
        if bad_d > 0 or bad_g > 0 or non_finite(rec):
            net, step = ("D", bad_d) if bad_d > 0 and (bad_g < 0 or bad_d <= bad_g) else ("G", bad_g)
            raise Diverged(step if step > 0 else self.step, net, "loss became NaN or infinite")
        for name, net in (("D", self.D), ("G", self.G)):
            if not all(torch.isfinite(p).all() for p in net.parameters()):
                raise Diverged(self.step, name, "weights became NaN or infinite")
        rec.update({"LR/D": self.hparams["lr_d"], "LR/G": self.hparams["lr_g"], "k": self.hparams["d_steps"]})
        return rec

    @torch.no_grad()
    def generate(self, z: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        """G (its EMA when enabled) in eval mode: BatchNorm uses running stats, nothing is updated."""
        g = self.G_ema if self.G_ema is not None else self.G
        was = g.training
        g.eval()
        try:
            return torch.cat([g(z[i:i + 1024], None if y is None else y[i:i + 1024]).float()
                              for i in range(0, len(z), 1024)])
        finally:
            g.train(was)

    def fixed_samples(self) -> np.ndarray:
        """The fixed batch as stored in samples.h5: uint8 images (N, C, H, W) or float32 points."""
        return to_storage(self.generate(self.fixed_z, self.fixed_y), self.spec)

    # ------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        rng = {"gen": self.gen.get_state(), "torch": torch.get_rng_state()}
        return {
            "format": FORMAT, "version": __version__, "step": self.step, "elapsed": self.elapsed,
            "config": self.cfg.to_dict(), "spec": spec_to_dict(self.spec),
            "G": self.G.state_dict(), "D": self.D.state_dict(),
            "G_ema": self.G_ema.state_dict() if self.G_ema is not None else None,
            "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
            "rng": rng, "fixed_z": self.fixed_z.cpu(), "fixed_y": None if self.fixed_y is None else self.fixed_y.cpu(),
            "hparams": dict(self.hparams),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        if self.G_ema is not None and state.get("G_ema") is not None:
            self.G_ema.load_state_dict(state["G_ema"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.gen.set_state(state["rng"]["gen"].cpu() if self.device.type == "cpu" else state["rng"]["gen"])
        torch.set_rng_state(state["rng"]["torch"])
        self.step, self.elapsed = int(state["step"]), float(state.get("elapsed", 0.0))
        self.set_hparams(**state["hparams"])
        self._bad.fill_(-1)


def to_storage(x: torch.Tensor, spec) -> np.ndarray:
    """Images -> uint8 in [0, 255]; points stay float32."""
    if spec.kind == "images":
        lo, hi = spec.value_range
        return ((x - lo) / (hi - lo)).clamp(0, 1).mul(255).round().to(torch.uint8).cpu().numpy()
    return x.cpu().numpy().astype(np.float32)


def to_unit(x: torch.Tensor, spec) -> np.ndarray:
    """Images -> float32 in [0, 1] (for display and `ganlab sample`); points unchanged."""
    if spec.kind == "images":
        lo, hi = spec.value_range
        return ((x.float() - lo) / (hi - lo)).clamp(0, 1).cpu().numpy()
    return x.float().cpu().numpy()


def _eval_record(trainer: Trainer, run: Run) -> dict[str, Any]:
    """Quality metrics at this step: full record to metrics.jsonl, scalars into the tick record."""
    from .evaluate import evaluate_trainer, scalar_metrics
    from .metrics import to_json

    m = evaluate_trainer(trainer)
    run.append_metrics({"step": trainer.step, **to_json(m)})
    return scalar_metrics(m)


def _is_tick(step: int, cfg: RunConfig) -> bool:
    # checkpoints fall on ticks, so a resumed run's records match the uninterrupted run's
    return (step % cfg.log_every == 0 or step % cfg.checkpoint_every == 0 or step >= cfg.steps
            or (cfg.eval_every > 0 and step % cfg.eval_every == 0))


def train(cfg: RunConfig, run: Run, *, should_stop: Callable[[], bool] = lambda: False,
          on_tick: Optional[Callable[[dict, Trainer], None]] = None, trainer: Optional[Trainer] = None,
          resume: bool = False) -> str:
    """Train until cfg.steps or should_stop(); returns the final state ('finished' or 'stopped')."""
    trainer = trainer or Trainer(cfg)
    if resume and run.checkpoints():
        trainer.load_state_dict(run.load_checkpoint(map_location=trainer.device))
        run.truncate_history(trainer.step)
    run.write_status("running", trainer.step)
    t0, step0 = time.perf_counter(), trainer.step
    tick_t, tick_step, status_t = t0, trainer.step, t0
    state = "finished"
    while trainer.step < cfg.steps:
        if should_stop():
            state = "stopped"
            break
        nxt = trainer.step + 1
        trainer.train_step(measure=_is_tick(nxt, cfg))
        if not _is_tick(trainer.step, cfg):
            continue
        rec = trainer.collect()  # the tick's one sync; raises Diverged
        now = time.perf_counter()
        trainer.elapsed += now - tick_t
        rec.update({"time": round(trainer.elapsed, 4),
                    "Speed/steps_per_s": (trainer.step - tick_step) / max(now - tick_t, 1e-9)})
        tick_t, tick_step = now, trainer.step
        s = trainer.step
        if cfg.eval_every and (s % cfg.eval_every == 0 or s >= cfg.steps):
            rec.update(_eval_record(trainer, run))
        run.append_stats(rec)
        if s % cfg.snapshot_every == 0 or s >= cfg.steps:
            run.append_samples(s, trainer.fixed_samples())
        if s % cfg.checkpoint_every == 0 or s >= cfg.steps:
            run.save_checkpoint(trainer.state_dict(), s, cfg.keep_checkpoints)
        if on_tick is not None:
            on_tick(rec, trainer)
        if now - status_t > 1.0:  # an fsync'd file: at most once a second, not once a tick
            run.write_status("running", s)
            status_t = now
    if state == "stopped" and trainer.step > step0 and trainer.step != run.last_checkpoint_step():
        run.save_checkpoint(trainer.state_dict(), trainer.step, cfg.keep_checkpoints)
    run.write_status(state, trainer.step)
    return state
