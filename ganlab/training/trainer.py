"""The trainer: G, D, their optimizers and RNGs; `d_step`, `g_step`, `train_step`; state for checkpoints.

k D-steps, one G-step; what each step reports stays on the device until a tick's `collect()`.
An iteration can also be taken a part at a time (`take_part`: step-by-step mode): k D steps
taken one by one and then the G step give exactly what `train_step` gives.
"""

from __future__ import annotations

import copy
import math
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
import torch

from .. import __version__
from ..config import RunConfig
from ..data import Dataset, load_dataset, to_storage
from ..data.base import data_state, load_data_state
from ..errors import Diverged, RunError
from ..game.losses import LOSSES, d_prob
from ..game.penalties import gradient_penalty, r1_penalty
from ..game.schedules import lr_factor
from ..models import ARCHS, RNG_LOCK, build_models, scaling
from ..models.latents import z_batch
from . import distributed
from .fastpath import Paths
from .params import clamp_, copy_, grad_norm, has_batch_norm, lerp_
from .stats import Stats, StepLog, non_finite
from .threads import Threads, default_threads, resolve_device, resume_threads

STEP_COLUMNS = ("Loss/D", "D/real", "D/fake", "Loss/G")  # one StepLog row per iteration
PARTS = ("d", "g", "iteration")  # what a manual step takes of an iteration (Trainer.take_part)
# the checkpoint format a Trainer writes (ganlab.store.checkpoint reads it back and checks it)
CHECKPOINT_FORMAT = 1


def _optimizer(cfg: RunConfig, params: list, lr: float, weight_decay: float, device: torch.device) -> torch.optim.Optimizer:
    # fused Adam/SGD: one kernel for all tensors (3x less time than foreach for a tiny net on the CPU)
    fast = {"fused": True} if device.type in ("cpu", "cuda") else {"foreach": True}
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, betas=(cfg.beta1, cfg.beta2), weight_decay=weight_decay, **fast)
    if cfg.optimizer == "rmsprop":  # has no fused kernel
        return torch.optim.RMSprop(params, lr=lr, momentum=cfg.momentum, weight_decay=weight_decay, foreach=True)
    return torch.optim.SGD(params, lr=lr, momentum=cfg.momentum, weight_decay=weight_decay, **fast)


def _joint_ok(d: torch.nn.Module) -> bool:
    """True when D treats samples independently, so real and fake can share one forward pass.

    Batch norm mixes the samples of a batch, and spectral norm's power iteration advances once
    per call: with either, D must see real and fake in two separate calls, as written.
    """
    return not (has_batch_norm(d) or any(torch.nn.utils.parametrize.is_parametrized(m) for m in d.modules()))


def _f32(t: torch.Tensor) -> torch.Tensor:
    """t as float32; a dtype check, not a dispatched no-op cast, on the fp32 path (it runs ~7 times a step)."""
    return t if t.dtype == torch.float32 else t.float()


def _clear_grads(params: list[torch.Tensor]) -> None:
    """zero_grad(set_to_none=True) without the optimizer's per-call bookkeeping."""
    for p in params:
        p.grad = None


def _requires_grad(params: list[torch.Tensor], flag: bool) -> None:
    for p in params:
        p.requires_grad_(flag)


@dataclass
class Iteration:
    """The iteration in progress: k D steps, then the G step that ends it.

    k, the measure flag and the schedule's learning rates are fixed when it begins, so one taken a part
    at a time (step-by-step mode) is the iteration train_step would have taken; a k changed meanwhile
    applies to the next one.
    """

    k: int
    measure: bool
    d_losses: list = field(default_factory=list)  # each D step's loss (device scalars)
    d_means: list = field(default_factory=list)  # each D step's (D(x), D(G(z))) means

    @property
    def d_done(self) -> int:
        return len(self.d_losses)


class Trainer:
    """G, D, their optimizers, the data and every RNG of one run: `step()` advances one iteration."""

    def __init__(self, cfg: RunConfig, *, dataset: Optional[Dataset] = None, data_root=None, download: bool = False):
        self.cfg = cfg
        self.world = distributed.current()  # None, or the torchrun world this run is data-parallel in
        self.device = distributed.local_device(resolve_device(cfg.device))
        self._part = distributed.slicer(self.world)  # a global batch -> this rank's rows (identity in one process)
        self.parallel = False  # training in step with the world's other ranks (distributed.attach)
        self.loss = LOSSES.get(cfg.loss)
        self.data = dataset or load_dataset(cfg.dataset, self.device, seed=cfg.seed, root=data_root, download=download)
        self.spec = self.data.spec
        with RNG_LOCK:  # model init uses the global RNG: one build at a time in this process, or seeds mix
            torch.manual_seed(cfg.seed)
            g, d = build_models(cfg, self.spec)
        if cfg.standardize and isinstance(getattr(self.data, "x", None), torch.Tensor):
            scaling.fit(g, d, self.data.x)  # the nets' coordinates from the training points (a no-op off points)
        self.conv = ARCHS.get(cfg.arch).channels_last  # faster convs on CUDA, and via oneDNN on the CPU (+13% dcgan32)
        fmt = torch.channels_last if self.conv else torch.contiguous_format
        self.G, self.D = g.to(self.device, memory_format=fmt), d.to(self.device, memory_format=fmt)
        distributed.check_models(self.G, self.D, self.device)  # data-parallel: batch norm only where it can sync
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False) if cfg.ema > 0 else None
        self._g_params, self._d_params = list(self.G.parameters()), list(self.D.parameters())  # cached: no rebuild per step
        self._ema_params = list(self.G_ema.parameters()) if self.G_ema is not None else []
        self._ema_buffers = list(self.G_ema.buffers()) if self.G_ema is not None else []  # BatchNorm stats
        self._g_buffers = list(self.G.buffers())
        self.opt_g = _optimizer(cfg, self._g_params, cfg.lr_g, cfg.weight_decay_g, self.device)
        self.opt_d = _optimizer(cfg, self._d_params, cfg.lr_d, cfg.weight_decay_d, self.device)
        self.fast = Paths()  # the torch shortcuts this run takes (GANLAB_FASTPATH), each with its public fallback
        self._step_g, self._step_d = self.fast.stepper(self.opt_g), self.fast.stepper(self.opt_d)
        self.joint = _joint_ok(self.D)  # one D pass over [real; fake] in the D step
        self.threads = distributed.cpu_threads(default_threads()) if self.device.type == "cpu" else None  # intra-op threads
        self.gen = torch.Generator(device=self.device).manual_seed(cfg.seed)  # data order, z, labels, GP
        self.hparams = {"lr_d": cfg.lr_d, "lr_g": cfg.lr_g, "d_steps": cfg.d_steps}  # base lrs: the schedule scales them
        self.schedule_factor = 1.0  # the schedule's factor at this step (constant: always 1)
        self.step, self.elapsed = 0, 0.0
        self.stats = Stats()  # occasional scalars: gradient norms, penalties
        self.step_log = StepLog(STEP_COLUMNS, self.device)  # what every iteration reports, one row each
        self._d_means = torch.zeros(2)  # D(x), D(G(z)) of the last D step
        self._kept_fakes: Optional[tuple[torch.Tensor, Optional[torch.Tensor]]] = None  # reuse_fakes: for the G step
        self.iteration: Optional[Iteration] = None  # begun by a manual part and not ended yet; None between iterations
        self._g_judged: Optional[tuple] = None  # (fakes, D's outputs on them) of a G step that ends an iteration of 0 D steps
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
        # the net being updated is called through these: DDP wrappers in a data-parallel run (distributed.attach)
        self.g_learn, self.d_learn = self.g_fwd, self.d_fwd

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
                    group["lr"] = float(val) * self.schedule_factor
        if d_steps is not None:
            self.hparams["d_steps"] = int(d_steps)

    def _follow_schedule(self) -> None:
        """Scale both learning rates by the schedule's factor for the coming update (a few dict writes)."""
        scale = lr_factor(self.cfg.lr_schedule, self.step, self.cfg.steps, self.cfg.lr_end_factor)
        if scale != self.schedule_factor:
            self.schedule_factor = scale
            for key, opt in (("lr_d", self.opt_d), ("lr_g", self.opt_g)):
                for group in opt.param_groups:
                    group["lr"] = self.hparams[key] * scale

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
    def d_step(self, measure: bool, keep_fakes: bool = False) -> torch.Tensor:
        """One D update; returns its loss (a device scalar: no sync).

        keep_fakes: G's forward keeps its graph and the fakes wait for the G update (reuse_fakes),
        which then skips its own forward through G: the seed loops' and PyTorch's DCGAN example's scheme.
        """
        # (1) a real batch and a fake batch; G is not updated here, so no graph through it unless kept
        x, y = self._real()
        z = self.sample_z(len(x))
        x, y, z = self._part(x), self._part(y), self._part(z)  # data-parallel: this rank's share of the global batch
        with torch.set_grad_enabled(keep_fakes), self.autocast():
            fake = (self.g_learn if keep_fakes else self.g_fwd)(z, y)
        if keep_fakes:
            self._kept_fakes = (fake, y)
            fake = fake.detach()
        # (2) D's loss: real up, fake down (the loss says how), plus separate penalties
        with self.autocast():
            real_out, fake_out, means = self._judge(x, fake, y)
        loss = self.loss.d_loss(real_out, fake_out, margin=self.cfg.margin, real_x=x, fake_x=_f32(fake))
        total = loss + self._penalties(x, fake, y)
        # (3) update D
        _clear_grads(self._d_params)
        self.fast.backward(total)
        if measure:
            self.stats.report("Grad/D", grad_norm(self._d_params))
        self._step_d()
        if self.loss.clip_weights:  # WGAN: keep the critic Lipschitz the crude way
            with torch.no_grad():
                clamp_(self._d_params, -self.cfg.clip_value, self.cfg.clip_value)
        self._d_means = means  # D(x), D(G(z)): train_step logs them with the losses
        return loss

    def _judge(self, x: torch.Tensor, fake: torch.Tensor, y) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """D's raw outputs on real and fake (B,) each, and the mean of what the charts call D(x), D(G(z))."""
        if self.joint:  # D is per-sample: one pass over (2B, ...) costs half the kernel launches
            n = len(x)
            both = torch.cat([x, fake if fake.dtype == x.dtype else fake.to(x.dtype)])  # (2B, ...)
            out = _f32(self.d_learn(both, None if y is None else torch.cat([y, y])))
            with torch.no_grad():  # the chart's D(x), D(G(z)): no graph for them
                means = d_prob(self.loss, out.detach()).view(2, n).mean(1)
            return out[:n], out[n:], means
        real_out, fake_out = _f32(self.d_learn(x, y)), _f32(self.d_learn(fake, y))
        with torch.no_grad():
            means = torch.stack([d_prob(self.loss, real_out.detach()).mean(), d_prob(self.loss, fake_out.detach()).mean()])
        return real_out, fake_out, means

    def _gp_eps(self, x: torch.Tensor) -> Optional[torch.Tensor]:
        """Data-parallel: this rank's share of the global batch's interpolation weights (None: the penalty draws them)."""
        if self.world is None:
            return None
        shape = (len(x) * self.world.size,) + (1,) * (x.dim() - 1)
        return self._part(torch.rand(shape, device=x.device, generator=self.gen, dtype=x.dtype))

    def _penalties(self, x: torch.Tensor, fake: torch.Tensor, y) -> torch.Tensor | float:
        """Gradient penalties in fp32 (double backward under bf16 is not safe)."""
        pen: torch.Tensor | float = 0.0
        d = lambda t: self.D(t, y)  # noqa: E731 - eager D: compiled graphs do not double-backward
        if self.loss.gradient_penalty:
            gp = gradient_penalty(d, x, fake.float(), self.gen, eps=self._gp_eps(x))
            self.stats.report("Penalty/GP", gp)
            pen = pen + self.cfg.gp_weight * gp
        if self.cfg.r1_weight > 0 and self.step % self.cfg.r1_every == 0:
            # lazy R1: a double backward through D costs ~1/3 of a mixture step; every Nth step at N times
            # the weight keeps the same average pull (Karras et al. 2020 use N = 16)
            r1 = r1_penalty(*scaling.in_d_coordinates(self.D, d, x))  # where D's net works: one weight for any scale
            self.stats.report("Penalty/R1", r1)
            pen = pen + 0.5 * self.r1_weight_now() * self.cfg.r1_every * r1
        return pen

    def r1_weight_now(self) -> float:
        """R1's weight for the coming update. A falling schedule lets a strong R1 spread G's mass early, while the
        modes are being found, and leaves them sharp at the end (the point recipe, docs/QUALITY.md)."""
        return self.cfg.r1_weight * lr_factor(self.cfg.r1_schedule, self.step, self.cfg.steps, self.cfg.r1_end_factor)

    def g_topk_now(self, n: int) -> int:
        """How many of n fakes G learns from in the coming update: all at the first step, falling linearly to
        g_topk of them at the last. Top-k training (Sinha et al. 2020) drops from G's loss the fakes D rates least
        real: their gradients, the paper finds, pull G towards the middle between modes rather than onto one. Early
        on, when every fake is bad, each one counts (the paper's k = batch at the start).
        """
        share = lr_factor("linear", self.step, self.cfg.steps, self.cfg.g_topk)
        return max(1, min(n, math.ceil(share * n)))

    def _top_k(self, fake_out: torch.Tensor) -> torch.Tensor:
        """The rows of D's outputs on the fakes that D rates most real (an energy D: the lowest energies); all of
        them, untouched, while g_topk_now keeps the whole batch (always, at the default g_topk of 1)."""
        k = self.g_topk_now(len(fake_out))
        if k == len(fake_out):
            return fake_out
        realness = fake_out.reshape(len(fake_out), -1).mean(1)
        if self.loss.d_output == "energy":
            realness = -realness
        return fake_out[realness.topk(k, sorted=False).indices]

    def g_step(self, measure: bool, keep_judged: bool = False) -> torch.Tensor:
        """One G update; returns its loss (a device scalar: no sync).

        keep_judged: keep the fakes and D's outputs on them (before G's update) for the row of an
        iteration that took no D step.
        """
        # (1) fresh z through G (or the D update's kept fakes); D judges the fakes. D's weights are not
        #     updated here, so their gradients are not even computed (requires_grad off): only the path back to G is
        kept, self._kept_fakes = self._kept_fakes, None
        _requires_grad(self._d_params, False)
        try:
            with self.autocast():
                if kept is None:
                    y = self._fake_labels(self.cfg.batch_size)
                    z = self.sample_z(self.cfg.batch_size)
                    z, y = self._part(z), self._part(y)  # data-parallel: this rank's share of the global batch
                    fake = self.g_learn(z, y)
                else:
                    fake, y = kept
                fake_out = _f32(self.d_fwd(fake, y))
            if keep_judged:
                self._g_judged = (fake.detach(), y, fake_out.detach())
            # (2) G's loss: make D call the fakes real (with top-k training, only those it already rates most real)
            loss = self.loss.g_loss(self._top_k(fake_out))
            # (3) update G only
            _clear_grads(self._g_params)
            self.fast.backward(loss)
        finally:
            _requires_grad(self._d_params, True)
        if measure:
            self.stats.report("Grad/G", grad_norm(self._g_params))
        self._step_g()
        if self.G_ema is not None:
            self._update_ema()
        return loss

    def _update_ema(self) -> None:
        with torch.no_grad():
            lerp_(self._ema_params, self._g_params, 1.0 - self.cfg.ema)
            if self._ema_buffers:
                copy_(self._ema_buffers, self._g_buffers)

    def train_step(self, measure: bool = False) -> None:
        """One iteration: k D-steps, then one G-step (or what remains of one that manual parts began)."""
        it = self.iteration or self._begin_iteration(measure)
        with Threads(self.threads):
            while len(it.d_losses) < it.k:
                self._iteration_d_step(it)
            self._end_iteration(it)

    # ------------------------------------------------------------ an iteration a part at a time
    def take_part(self, part: str, measure: bool = False) -> bool:
        """One part of the iteration: "d" (its next D step), "g" (the G step: it ends the iteration with the
        D steps taken so far) or "iteration" (whatever remains of it). True when the iteration ended.

        measure applies when the part begins an iteration (the loop passes whether its step is a tick's).
        A "d" with all k D steps taken is refused (RunError) before anything changes.
        """
        if part not in PARTS:
            raise RunError(f"{part!r} is not a step; take one of {', '.join(PARTS)}")
        it = self.iteration
        if part == "d" and it is not None and it.d_done >= it.k:
            raise RunError(f"D has taken all {it.k} of its steps in this iteration; take the G step (it ends the iteration) "
                           f"or one iteration")
        if it is None:
            it = self.iteration = self._begin_iteration(measure)
        with Threads(self.threads):
            if part == "d":
                self._iteration_d_step(it)
                return False
            while part == "iteration" and len(it.d_losses) < it.k:
                self._iteration_d_step(it)
            self._end_iteration(it)
        return True

    def iteration_progress(self) -> tuple[int, int]:
        """(D steps taken in the current iteration, its k); between iterations (0, the k the next one takes)."""
        it = self.iteration
        return (it.d_done, it.k) if it is not None else (0, int(self.hparams["d_steps"]))

    def _begin_iteration(self, measure: bool) -> Iteration:
        if self.cfg.lr_schedule != "constant":
            self._follow_schedule()
        return Iteration(self.hparams["d_steps"], measure)

    def _iteration_d_step(self, it: Iteration) -> None:
        last = it.d_done == it.k - 1  # reuse_fakes: the last D step's fakes wait for the G step
        it.d_losses.append(self.d_step(it.measure, keep_fakes=self.cfg.reuse_fakes and last))
        it.d_means.append(self._d_means)

    def _end_iteration(self, it: Iteration) -> None:
        """The G step, then the iteration's one StepLog row: its D columns are the mean over the D steps taken.

        With no D step taken (a manual "g" first), the D columns are D's judgement, without an update,
        of a fresh real batch and of the G step's fakes (as D saw them before G's update).
        """
        g_loss = self.g_step(it.measure, keep_judged=not it.d_losses)
        with torch.no_grad():  # one row: Loss/D, D/real, D/fake, Loss/G (losses are fp32)
            if not it.d_losses:
                d_loss, means = self._judge_without_update()
            elif len(it.d_losses) == 1:
                d_loss, means = it.d_losses[0], it.d_means[0]
            else:  # the row holds the mean over the iteration's D steps
                d_loss, means = torch.stack(it.d_losses).mean(), torch.stack(it.d_means).mean(0)
            torch.cat([d_loss.reshape(1), means, g_loss.reshape(1)], out=self.step_log.row(self.step + 1))
        self.iteration = None
        self.step += 1

    @torch.no_grad()
    def _judge_without_update(self) -> tuple[torch.Tensor, torch.Tensor]:
        """D's loss and means on a fresh real batch and the kept G-step fakes; D's buffers (batch norm's running
        stats, spectral norm's power iteration) are put back, so D does not change at all."""
        fake, _, fake_out = self._g_judged
        self._g_judged = None
        x, y = self._real()
        buffers = [b.clone() for b in self.D.buffers()]
        try:
            with self.autocast():
                real_out = _f32(self.d_fwd(x, y))
        finally:
            copy_(list(self.D.buffers()), buffers)
        n = min(len(real_out), len(fake_out))  # equal unless a dataset returns a short batch
        loss = self.loss.d_loss(real_out[:n], fake_out[:n], margin=self.cfg.margin, real_x=x[:n], fake_x=_f32(fake[:n]))
        means = torch.stack([d_prob(self.loss, real_out).mean(), d_prob(self.loss, fake_out).mean()])
        return _f32(loss), means

    # ------------------------------------------------------------ ticks
    def collect(self) -> dict[str, Any]:
        """One record for stats.jsonl; raises Diverged when a loss or weight is not finite."""
        core, first_bad = self.step_log.collect(distributed.reducer(self.world))  # data-parallel: the ranks' mean
        rec: dict[str, Any] = {"step": self.step, **core}
        if core and self.loss.d_output == "critic":
            rec["W"] = core["D/real"] - core["D/fake"]  # the critic's estimate of the Wasserstein distance
        rec.update(self.stats.collect(distributed.reducer(self.world)))
        bad_d = min((first_bad[n] for n in STEP_COLUMNS[:3] if n in first_bad), default=-1)
        bad_g = first_bad.get("Loss/G", -1)
        if bad_d > 0 or bad_g > 0 or non_finite(rec):
            net, step = ("D", bad_d) if bad_d > 0 and (bad_g < 0 or bad_d <= bad_g) else ("G", bad_g)
            raise Diverged(step if step > 0 else self.step, net, "loss became NaN or infinite")
        for name, params in (("D", self._d_params), ("G", self._g_params)):
            if not torch.stack([torch.isfinite(p).all() for p in params]).all():  # one sync per network
                raise Diverged(self.step, name, "weights became NaN or infinite")
        rec.update({"LR/D": self.hparams["lr_d"] * self.schedule_factor, "LR/G": self.hparams["lr_g"] * self.schedule_factor,
                    "k": self.hparams["d_steps"]})
        return rec

    @torch.no_grad()
    def generate(self, z: torch.Tensor, y: Optional[torch.Tensor] = None, *, player: bool = False) -> torch.Tensor:
        """G (its EMA when enabled) in eval mode: BatchNorm uses running stats, nothing is updated.

        player=True: the G that D plays against (never the EMA): the game view draws its points and arrows,
        since a G step moves those, while the EMA follows them 1 - ema of the way.
        """
        g = self.G_ema if self.G_ema is not None and not player else self.G
        was = g.training
        g.eval()
        try:
            with Threads(self.threads):
                return torch.cat([g(z[i:i + 1024], None if y is None else y[i:i + 1024]).float()
                                  for i in range(0, len(z), 1024)])
        finally:
            g.train(was)

    def fixed_samples(self) -> np.ndarray:
        """The fixed batch as stored in samples.h5: uint8 images (N, C, H, W) or float32 points."""
        return to_storage(self.generate(self.fixed_z, self.fixed_y), self.spec)

    # ------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """Everything an exact resume needs, at `step` (whole iterations).

        Taken inside an iteration (a stop after manual D steps), it holds the weights, optimizer and RNG
        states after the D steps taken; the iteration itself is not kept: a resume begins a fresh one of k
        D steps at the same step, so those D steps count as extra D updates.
        """
        rng = {"gen": self.gen.get_state(), "torch": torch.get_rng_state()}
        return {
            "format": CHECKPOINT_FORMAT, "version": __version__, "step": self.step, "elapsed": self.elapsed,
            "config": self.cfg.to_dict(), "spec": self.spec.to_dict(),
            "G": self.G.state_dict(), "D": self.D.state_dict(),
            "G_ema": self.G_ema.state_dict() if self.G_ema is not None else None,
            "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
            "rng": rng, "fixed_z": self.fixed_z.cpu(), "fixed_y": None if self.fixed_y is None else self.fixed_y.cpu(),
            "hparams": dict(self.hparams),
            "data": data_state(self.data),  # a streamed dataset's position (None for in-memory data)
            # exact resume: the thread count this run computes with, and the tick a stop cut short
            "threads": self.threads, "tick": self._tick_state(),
        }

    def _tick_state(self) -> dict[str, Any]:
        """The tick a stop cut short; data-parallel, its sums averaged over the ranks (every rank takes this state at
        the same step), so the resumed run's next record is the global batch's, with torchrun or without."""
        tick = {"log": self.step_log.state_dict(), "stats": self.stats.state_dict()}
        if self.parallel:
            for t in (tick["log"]["rows"], tick["log"]["sum"], *tick["stats"]["sums"].values()):
                distributed.mean_(t)
        return tick

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        if self.G_ema is not None and state.get("G_ema") is not None:
            self.G_ema.load_state_dict(state["G_ema"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self._step_g.reset()
        self._step_d.reset()
        self.gen.set_state(state["rng"]["gen"].cpu() if self.device.type == "cpu" else state["rng"]["gen"])
        load_data_state(self.data, state.get("data"))  # after gen: a stream without saved state restarts from it
        with RNG_LOCK:
            torch.set_rng_state(state["rng"]["torch"])
        self.step, self.elapsed = int(state["step"]), float(state.get("elapsed", 0.0))
        self.schedule_factor = 1.0
        self.set_hparams(**state["hparams"])  # the base lrs; the next train_step applies the schedule
        self.step_log = StepLog(STEP_COLUMNS, self.device)
        self.stats = Stats()
        self.iteration, self._kept_fakes, self._g_judged = None, None, None  # a checkpoint holds whole iterations only
        tick = state.get("tick")  # absent in checkpoints written before it existed: the tick starts afresh
        if tick is not None:
            self.step_log.load_state_dict(tick["log"])
            self.stats.load_state_dict(tick["stats"], self.device)
        if self.device.type == "cpu" and isinstance(state.get("threads"), int):
            self.threads = resume_threads(state["threads"])  # whoever resumes it: the CLI or a dashboard thread
