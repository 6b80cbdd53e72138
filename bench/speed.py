"""Speed, side by side: the seed-style loops of bench/reference.py against ganlab's Trainer.

    python -m bench.speed [--json] [--device cpu|cuda|auto] [--workloads gauss2d,mlp28,...]
                          [--steps N] [--quick] [--scale] [--set FIELD=VALUE ...]

In one process, for each workload, the same model is trained on the same data with the
same batch size and optimizer two ways: (1) the seed-style loop as the posts write it,
under torch's default thread count, and (2) ganlab's `Trainer` through its public API with
its defaults for the device. Both run the seed loops' update scheme: G's update is judged on
the fakes of D's update (`reuse_fakes=True`; d2l draws one Z for both), so each iteration makes
one pass through G in both loops (ganlab's own default draws a fresh batch for G: try
`--set reuse_fakes=false`). On the CPU the reference loop is also timed at ganlab's thread
count, so the table separates what the thread default buys from what the engine buys.
Variants alternate in rounds (A B C, C B A, ...) and each figure is the median over rounds,
so machine noise hits all of them alike. `overhead` trains one run through `JobManager` and
alternates segments with and without a client thread that polls `snapshot()` on the Monitor
page's clocks and builds the page's figures from it (ganlab.plots, serialised to JSON as
Streamlit does). `--scale` prints steps/s and memory against batch size and model width.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from bench import reference as R
from ganlab.config import ConfigError, RunConfig, parse_set
from ganlab.data.base import DataSpec, TensorDataset
from ganlab.data.mixtures import GAUSSIAN2D_SPEC
from ganlab.training import Trainer, default_threads, resolve_device

WORKLOADS = ("gauss2d", "mlp28", "dcgan32", "dcgan64", "overhead")
FLOP_BATCH = 8  # FLOPs are counted once at this batch and scaled: every layer's cost is linear in B
# The Monitor page's clocks: the client polls snapshot() every POLL_S s for the progress line and
# rebuilds the curves / the samples when due, exactly as views/monitor.py does.
from ganlab.ui.clocks import CHARTS_S, POLL_S, SAMPLES_S  # noqa: E402


# ------------------------------------------------------------------------------ timing helpers
def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


class _threads:
    """Run a block with n intra-op threads in this thread (None: leave as is)."""

    def __init__(self, n: Optional[int]):
        self.n, self.prev = n, torch.get_num_threads()

    def __enter__(self):
        if self.n:
            torch.set_num_threads(self.n)

    def __exit__(self, *exc):
        torch.set_num_threads(self.prev)


def machine(dev: torch.device) -> dict[str, Any]:
    """What ran the figures: CPU model and cores, or the GPU's name."""
    cpu = platform.processor() or "cpu"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    except OSError:
        pass
    info = {"cpu": cpu, "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
            "torch": torch.__version__}
    if dev.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(dev)
    return info


def measured_peak(dev: torch.device, threads: tuple[int, ...]) -> dict[str, float]:
    """Measured peak of this machine: the best rate of its fastest dense kernels (fp32 on CPU; bf16 and
    fp32 matmuls on CUDA).

    On the CPU that is the better of a 3072² torch.mm and a 3x3 convolution through oneDNN: on this AMD
    box MKL's sgemm reaches ~100-170 GFLOP/s while oneDNN's AVX-512 convolutions reach ~210, so a
    matmul-only peak let the DCGANs score over 100% of it.
    """
    def timed(fn: Callable[[], Any], flops: float, reps: int) -> float:
        fn()
        _sync(dev)
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            fn()
            _sync(dev)
            times.append(time.perf_counter() - t0)
        return flops / min(times)

    def best(n: int, dtype: torch.dtype, reps: int) -> float:
        a, b = torch.randn(n, n, device=dev, dtype=dtype), torch.randn(n, n, device=dev, dtype=dtype)
        return timed(lambda: torch.mm(a, b), 2 * n ** 3, reps)

    def conv(reps: int) -> float:
        x = torch.randn(64, 256, 32, 32).contiguous(memory_format=torch.channels_last)
        w = torch.randn(256, 256, 3, 3).contiguous(memory_format=torch.channels_last)
        return timed(lambda: torch.nn.functional.conv2d(x, w, padding=1), 2 * 64 * 32 * 32 * 256 * 256 * 9, reps)

    if dev.type == "cuda":
        return {"peak_tflops_bf16": best(8192, torch.bfloat16, 20) / 1e12,
                "peak_tflops_fp32": best(8192, torch.float32, 10) / 1e12}
    out = {}
    for n in sorted(set(threads)):
        with _threads(n):
            out[f"sgemm_gflops_{n}t"] = best(3072, torch.float32, 4) / 1e9
            out[f"conv3x3_gflops_{n}t"] = conv(3) / 1e9
    out["peak_gflops"] = max(out.values())
    return out


def flops_of(fn: Callable[[], Any]) -> int:
    with FlopCounterMode(display=False) as fc:
        fn()
    return fc.get_total_flops()


# ------------------------------------------------------------------------------ workloads
@dataclass(frozen=True)
class Workload:
    """One comparison: a seed-style reference loop and the ganlab config that trains the same thing."""

    name: str
    batch: int
    reference: Callable[..., dict]  # (steps, batch_size, device, warmup) -> reference result
    config: Callable[[str], RunConfig]  # device -> config
    data: Callable[[torch.device], TensorDataset]
    min_steps: int  # fewest steps in one timed segment
    note: str  # where the two differ, honestly


def _gauss_points() -> np.ndarray:
    """d2l's 1000 points (seeds/000), drawn exactly as reference.d2l_gauss2d draws them."""
    rs = np.random.RandomState(0)
    return rs.normal(size=(1000, 2)).dot(np.array([[1, 2], [-0.1, 0.5]])) + np.array([1, 2])


class Digits:
    """scikit-learn's digits upsampled to size x size (reference.digits_images), one tensor for both loops."""

    def __init__(self, size: int, channels: int):
        self.size, self.channels, self._x = size, channels, None

    def tensor(self) -> torch.Tensor:
        if self._x is None:
            self._x = R.digits_images(self.size, self.channels)  # (1797, C, S, S) in [-1, 1]
        return self._x

    def __call__(self, dev: torch.device) -> TensorDataset:
        spec = DataSpec("images", (self.channels, self.size, self.size), value_range=(-1.0, 1.0))
        return TensorDataset(f"digits{self.size}", spec, self.tensor().to(dev))


_DIG28, _DIG32, _DIG64 = Digits(28, 1), Digits(32, 3), Digits(64, 3)


# What every seed loop does that ganlab does not by default: no EMA of G, and one pass through G
# per iteration (G's update judged on the fakes of D's update)
SEED_LOOP = dict(ema=0.0, reuse_fakes=True)


def _dcgan_cfg(size: int) -> Callable[[str], RunConfig]:
    return lambda dev: RunConfig(dataset=f"digits{size}", arch="dcgan", loss="bce", batch_size=64, lr_d=2e-4,
                                 lr_g=2e-4, beta1=0.5, beta2=0.999, latent_dim=100, base_channels=64, device=dev,
                                 **SEED_LOOP)


WL = {
    "gauss2d": Workload(
        "gauss2d", 8,
        lambda steps, bs, dev, warmup: R.d2l_gauss2d(steps, batch_size=bs, device=dev, warmup=warmup),
        lambda dev: RunConfig(dataset="gaussian2d", arch="linear", loss="bce", batch_size=8, lr_d=0.05, lr_g=0.005,
                              beta1=0.9, beta2=0.999, latent_dim=2, d_hidden=(5, 3), activation="tanh", device=dev,
                              **SEED_LOOP),
        lambda dev: TensorDataset("gaussian2d", GAUSSIAN2D_SPEC,
                                  torch.from_numpy(_gauss_points()).float().to(dev)),
        200, "d2l: linear G, 2-5-3-1 tanh D, Adam 0.05/0.005, batch 8 (ganlab: logits + softplus, no Sigmoid)"),
    "mlp28": Workload(
        "mlp28", 64,
        lambda steps, bs, dev, warmup: R.mlp28(steps, batch_size=bs, device=dev, data=_DIG28.tensor(), warmup=warmup),
        lambda dev: RunConfig(dataset="digits28", arch="mlp", loss="bce", batch_size=64, lr_d=3e-4, lr_g=3e-4,
                              beta1=0.4, beta2=0.8, latent_dim=100, g_hidden=(128, 256, 512, 1024),
                              d_hidden=(512, 256, 128, 64, 32), activation="gelu", norm="batch",
                              weight_decay_d=1e-4, weight_decay_g=1e-4, device=dev, **SEED_LOOP),
        _DIG28, 5, "post 002: G 100-128-256-512-1024-784 BN+GELU, D 784-512-256-128-64-32-1 GELU, "
                   "Adam 3e-4 (0.4, 0.8), weight decay 1e-4, batch 64, one G pass (ganlab: Tanh out, D step then G step)"),
    "dcgan32": Workload(
        "dcgan32", 64,
        lambda steps, bs, dev, warmup: R.dcgan(steps, 32, bs, dev, data=_DIG32.tensor(), warmup=warmup),
        _dcgan_cfg(32), _DIG32, 1, "post 001 without its 512 block: G 256-128-64, D 64-128-256, Adam 2e-4 (0.5, 0.999), "
                                   "batch 64, one G pass (ganlab: logits)"),
    "dcgan64": Workload(
        "dcgan64", 64,
        lambda steps, bs, dev, warmup: R.dcgan(steps, 64, bs, dev, data=_DIG64.tensor(), warmup=warmup),
        _dcgan_cfg(64), _DIG64, 1, "post 001: G 512-256-128-64, D 64-128-256-512, Adam 2e-4 (0.5, 0.999), batch 64"),
}


class GanlabLoop:
    """ganlab's Trainer through its public API, ticking (measure + collect) every log_every steps as train() does."""

    def __init__(self, wl: Workload, dev: torch.device, batch: Optional[int] = None, **changes: Any):
        cfg = wl.config(str(dev)).replace(**({"batch_size": batch} if batch else {}), **changes)
        self.cfg, self.dev = cfg, dev
        self.trainer = Trainer(cfg, dataset=wl.data(dev))

    def run(self, steps: int) -> float:
        """Steps per second over `steps` steps, clock read after the tick's sync."""
        tr, every = self.trainer, self.cfg.log_every
        with _threads(tr.threads):  # as train() does: the run's thread count once, not switched per step
            _sync(self.dev)
            t0 = time.perf_counter()
            for _ in range(steps):
                tr.train_step(measure=(tr.step + 1) % every == 0)
                if tr.step % every == 0:
                    tr.collect()
            tr.collect()  # the segment ends on a tick: every queued kernel has run
            _sync(self.dev)
            return steps / (time.perf_counter() - t0)


def _median(xs: list[float]) -> float:
    return float(statistics.median(xs)) if xs else float("nan")


def compare(wl: Workload, dev: torch.device, *, rounds: int, segment_s: float, steps: Optional[int],
            peak: dict[str, float], changes: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    """Alternate reference (torch's threads), reference (ganlab's threads) and ganlab; medians of the rounds."""
    changes = changes or {}
    cpu = dev.type == "cpu"
    t_def, t_gan = torch.get_num_threads(), default_threads()
    variants: dict[str, Callable[[int], tuple[float, float]]] = {}  # steps -> (wall steps/s, CPU-time steps/s)
    warm = 2 if wl.min_steps > 1 else 1

    first: set[str] = set()
    wl.reference(0, wl.batch, str(dev), 0)  # loads and caches the data
    c0 = time.process_time()
    wl.reference(0, wl.batch, str(dev), 0)  # set-up only (nets, optimizers, loader): taken off its CPU time
    setup_cpu = time.process_time() - c0

    def reference(n: int, key: str = "reference") -> tuple[float, float]:
        # each call builds fresh nets; warm-up steps on the first call, and on every call of the cheap workloads
        # (a conv step takes seconds; later calls find oneDNN's kernels and the allocator already warm)
        w = warm if key not in first or wl.min_steps > 1 else 0
        first.add(key)
        c0 = time.process_time()
        wall = wl.reference(n, wl.batch, str(dev), w)["steps_per_s"]
        return wall, (n + w) / max(time.process_time() - c0 - setup_cpu, 1e-9)  # warm-up steps count here

    variants["reference"] = reference
    if cpu and t_gan != t_def:
        def ref_same(n: int) -> tuple[float, float]:
            with _threads(t_gan):
                return reference(n, "reference_same_threads")
        variants["reference_same_threads"] = ref_same
    loop = GanlabLoop(wl, dev, **changes)
    loop.run(warm)  # warm-up: allocator, oneDNN/cuDNN plans

    def ganlab(n: int) -> tuple[float, float]:
        c0 = time.process_time()
        wall = loop.run(n)
        return wall, n / (time.process_time() - c0)

    variants["ganlab"] = ganlab
    rates: dict[str, list[float]] = {k: [] for k in variants}
    cpu_rates: dict[str, list[float]] = {k: [] for k in variants}
    n_steps = {k: steps or wl.min_steps for k in variants}
    order = list(variants)
    for r in range(rounds):
        for k in (order if r % 2 == 0 else order[::-1]):
            wall, per_cpu_s = variants[k](n_steps[k])
            rates[k].append(wall)
            cpu_rates[k].append(per_cpu_s)
            if steps is None:  # later rounds: about segment_s seconds each
                n_steps[k] = max(wl.min_steps, int(segment_s * rates[k][-1]))
    med = {k: _median(v) for k, v in rates.items()}
    cmed = {k: _median(v) for k, v in cpu_rates.items()}
    ref, gan = med["reference"], med["ganlab"]
    same = med.get("reference_same_threads", ref)
    same_cpu = cmed.get("reference_same_threads", cmed["reference"])
    f_ref = flops_of(lambda: wl.reference(1, FLOP_BATCH, str(dev), 0)) * wl.batch // FLOP_BATCH
    small = GanlabLoop(wl, dev, batch=FLOP_BATCH, **changes)
    f_gan = flops_of(lambda: small.trainer.train_step()) * wl.batch // FLOP_BATCH
    out = {"workload": wl.name, "device": dev.type, "batch_size": wl.batch,
           "reference_steps_per_s": ref, "ganlab_steps_per_s": gan, "ratio": gan / ref,
           "reference_same_threads_steps_per_s": same, "ratio_same_threads": gan / same,
           "threads_reference": t_def if cpu else None, "threads_ganlab": t_gan if cpu else None,
           "reference_cpu_steps_per_s": cmed["reference"], "reference_same_threads_cpu_steps_per_s": same_cpu,
           "ganlab_cpu_steps_per_s": cmed["ganlab"], "ratio_cpu": cmed["ganlab"] / same_cpu,
           "rounds": rounds, "spread": {k: [round(min(v), 3), round(max(v), 3)] for k, v in rates.items()},
           "flops_per_step_reference": f_ref, "flops_per_step_ganlab": f_gan, "note": wl.note,
           "ganlab_changes": changes}
    if cpu:
        out.update(reference_gflops=f_ref * ref / 1e9, ganlab_gflops=f_gan * gan / 1e9, peak_gflops=peak["peak_gflops"],
                   ganlab_pct_of_peak=100 * f_gan * gan / 1e9 / peak["peak_gflops"])
    else:
        out.update(reference_tflops=f_ref * ref / 1e12, ganlab_tflops=f_gan * gan / 1e12,
                   peak_tflops_bf16=peak["peak_tflops_bf16"], peak_tflops_fp32=peak["peak_tflops_fp32"],
                   ganlab_pct_of_peak=100 * f_gan * gan / 1e12 / peak["peak_tflops_bf16"])
    return out


# ------------------------------------------------------------------------------ dashboard overhead
class MonitorClient:
    """What an open Monitor tab costs: a thread polling snapshot() and building the page's figures.

    Every POLL_S: snapshot() and the progress line; every CHARTS_S: the loss, D-output and
    gradient-norm figures (every chart of the registry, the divergence chart included); every SAMPLES_S: the game
    figure (D's surface, points, G's gradient arrows and manifold) or the samples. Each figure is
    serialised to JSON, as st.plotly_chart does. It works only while `active` is set.
    """

    def __init__(self, jm, run_id: str):
        self.jm, self.run_id = jm, run_id
        self.active, self.done = threading.Event(), threading.Event()
        self.polls: list[float] = []  # seconds of work per poll (wall)
        self.cpu_s = 0.0  # CPU seconds this thread spent on polls
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self._due = {"charts": 0.0, "samples": 0.0}

    def warm(self) -> None:
        """One page build before any timing: imports plotly and fills its caches, as a page's first run does."""
        self._page(self.jm.snapshot(self.run_id), time.perf_counter())
        self._due = {"charts": 0.0, "samples": 0.0}

    def _loop(self) -> None:
        while not self.done.is_set():
            t0, c0 = time.perf_counter(), time.thread_time()
            if self.active.is_set():
                snap = self.jm.snapshot(self.run_id)
                if snap is not None:
                    self._page(snap, t0)
                    self.polls.append(time.perf_counter() - t0)
                    self.cpu_s += time.thread_time() - c0
            self.done.wait(max(0.0, POLL_S - (time.perf_counter() - t0)))

    def _page(self, snap, now: float) -> None:
        """What views/monitor.py builds: the status line, every visible chart of the registry, the samples."""
        from bench.page_build import chart_figures
        from ganlab.viz import game, images, points
        from ganlab.viz.progress import speed_text

        speed_text(snap.history, snap.steps)
        figs = []
        if now >= self._due["charts"]:
            self._due["charts"] = now + CHARTS_S
            figs += chart_figures(snap.history, snap.config.loss)
        p = snap.preview or {}
        if now >= self._due["samples"] and p:
            self._due["samples"] = now + SAMPLES_S
            if "game" in p:  # the page's game view, with both layers on (arrows and G's manifold)
                figs.append(game.game_figure(p["game"], arrows=True, manifold=True))
            elif "fake" in p:
                figs.append(points.points_figure(p["real"], p["fake"], surface=p.get("surface")))
            elif p.get("kind") == "images":
                figs.append(images.image_figure(images.image_grid(p["samples"])))
        for f in figs:
            f.to_json()  # Streamlit sends each figure as JSON


def overhead(dev: torch.device, *, rounds: int, segment_s: float) -> dict[str, Any]:
    """One JobManager run of the d2l preset (the most ticks per second); segments alternate no client / a client."""
    from ganlab.jobs import JobManager

    cfg = WL["gauss2d"].config(str(dev)).replace(steps=100_000_000, log_every=25, snapshot_every=125)
    with tempfile.TemporaryDirectory() as tmp:
        jm = JobManager(runs_dir=tmp, data_root=tmp)
        rid = jm.start(cfg)
        client = MonitorClient(jm, rid)
        client.thread.start()
        try:
            _wait_steps(jm, rid, 500)
            client.warm()
            rates: dict[str, list[float]] = {"without": [], "with": []}
            client.cpu_s, watched = 0.0, 0.0
            for r in range(rounds):
                for k in (("without", "with") if r % 2 == 0 else ("with", "without")):
                    client.active.set() if k == "with" else client.active.clear()
                    time.sleep(0.2)  # let a poll in flight finish
                    s0, t0 = jm.snapshot(rid).step, time.perf_counter()
                    time.sleep(segment_s)
                    s1, t1 = jm.snapshot(rid).step, time.perf_counter()
                    rates[k].append((s1 - s0) / (t1 - t0))
                    watched += (t1 - t0) if k == "with" else 0.0
            history_len = len(jm.snapshot(rid).history)
        finally:
            client.done.set()
            jm.shutdown()
            client.thread.join(5)
    without, with_ = _median(rates["without"]), _median(rates["with"])
    paired = _median([w / n for w, n in zip(rates["with"], rates["without"])])  # each round's two segments
    return {"workload": "overhead", "device": dev.type, "batch_size": cfg.batch_size,
            "reference_steps_per_s": without, "ganlab_steps_per_s": with_, "ratio": with_ / without,
            "ratio_paired": paired, "client_cpu_share": client.cpu_s / max(watched, 1e-9),
            "rounds": rounds, "segment_s": segment_s,
            "spread": {k: [round(min(v), 1), round(max(v), 1)] for k, v in rates.items()},
            "poll_s": POLL_S, "charts_s": CHARTS_S, "samples_s": SAMPLES_S, "polls": len(client.polls),
            "poll_ms_median": 1000 * _median(client.polls), "poll_ms_max": 1000 * max(client.polls, default=0.0),
            "history_records": history_len,
            "note": "d2l preset through JobManager (stats.jsonl, samples.h5, checkpoints, live previews); "
                    "reference = nobody watching, ganlab = a Monitor client on the page's clocks"}


def _wait_steps(jm, rid: str, steps: int, timeout: float = 60.0) -> None:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        snap = jm.snapshot(rid)
        if snap.state == "failed":
            raise RuntimeError(f"the overhead run failed: {snap.error}")
        if snap.step >= steps:
            return
        time.sleep(0.05)
    raise RuntimeError(f"the overhead run did not reach step {steps} in {timeout:.0f} s")


# ------------------------------------------------------------------------------ scale
def _memory_cpu(loop: GanlabLoop) -> dict[str, float]:
    """Weights, grads and optimizer state (bytes counted), the activations autograd saves in the larger of the
    D step and the G step (weights excluded), and the growth of the process's peak RSS."""
    tr = loop.trainer
    params = [*tr.G.parameters(), *tr.D.parameters()]
    weights = sum(p.numel() * p.element_size() for p in params)
    opt = sum(t.numel() * t.element_size() for o in (tr.opt_g, tr.opt_d) for s in o.state.values()
              for t in s.values() if torch.is_tensor(t))
    own = {p.untyped_storage().data_ptr() for p in params}
    peak = 0
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # reuse_fakes: G's graph is built in the D step and lives into the G step: it counts in the D step's total
    for phase in (functools.partial(tr.d_step, keep_fakes=tr.cfg.reuse_fakes), tr.g_step):
        saved: dict[int, int] = {}

        def pack(t: torch.Tensor) -> torch.Tensor:
            ptr = t.untyped_storage().data_ptr()
            if ptr not in own:
                saved[ptr] = t.untyped_storage().nbytes()
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            phase(False)
        peak = max(peak, sum(saved.values()))
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    mb = 1 / 2 ** 20
    return {"weights_grads_opt_mb": (2 * weights + opt) * mb, "activations_mb": peak * mb,
            "rss_peak_growth_mb": (rss1 - rss0) / 1024}


def scale(dev: torch.device, quick: bool) -> list[dict[str, Any]]:
    """steps/s and memory of ganlab's Trainer against batch size and width (mlp28, dcgan32)."""
    grid = [("mlp28", b, 1.0) for b in (64, 256, 1024)] + [("mlp28", 64, w) for w in (0.5, 2.0)]
    grid += [("dcgan32", b, 1.0) for b in (32, 64, 128)] + [("dcgan32", 64, w) for w in (0.5, 2.0)]
    if quick:
        grid = [g for g in grid if g[1] <= 256 and g[2] <= 1.0]
    rows = []
    for name, batch, width in grid:
        wl = WL[name]
        base = wl.config(str(dev))
        changes = ({"g_hidden": tuple(int(h * width) for h in base.g_hidden),
                    "d_hidden": tuple(int(h * width) for h in base.d_hidden)} if name == "mlp28"
                   else {"base_channels": int(base.base_channels * width)})
        loop = GanlabLoop(wl, dev, batch=batch, **changes)
        if dev.type == "cuda":
            torch.cuda.reset_peak_memory_stats(dev)
        loop.run(1)
        sps = max(loop.run(max(3, wl.min_steps)) for _ in range(2))  # best of two: the least disturbed
        row = {"workload": name, "device": dev.type, "batch_size": batch, "width": width,
               "params_m": sum(p.numel() for p in [*loop.trainer.G.parameters(), *loop.trainer.D.parameters()]) / 1e6,
               "ganlab_steps_per_s": sps}
        if dev.type == "cuda":
            row["peak_memory_mb"] = torch.cuda.max_memory_allocated(dev) / 2 ** 20
        else:
            row.update(_memory_cpu(loop))
        rows.append(row)
        del loop
    return rows


# ------------------------------------------------------------------------------ output
def _table(rows: list[dict]) -> str:
    """reference = the seed loop at torch's default threads; @thr = at ganlab's thread count; cpu = per CPU-second."""
    unit = "GFLOP/s" if rows and rows[0]["device"] == "cpu" else "TFLOP/s"
    lines = [f"{'workload':9} {'reference':>10} {'ref@thr':>9} {'ganlab':>9} {'ratio':>7} {'ratio@thr':>9} "
             f"{'ratio cpu':>9} {'ganlab ' + unit:>22} {'peak':>7}",
             f"{'':9} {'steps/s':>10} {'steps/s':>9} {'steps/s':>9}"]
    nan = float("nan")
    for r in rows:
        achieved = r.get("ganlab_gflops", r.get("ganlab_tflops"))
        peak = r.get("peak_gflops", r.get("peak_tflops_bf16"))
        lines.append(f"{r['workload']:9} {r['reference_steps_per_s']:10.2f} "
                     f"{r.get('reference_same_threads_steps_per_s', nan):9.2f} {r['ganlab_steps_per_s']:9.2f} "
                     f"{r['ratio']:6.2f}x {r.get('ratio_same_threads', nan):8.2f}x {r.get('ratio_cpu', nan):8.2f}x "
                     f"{achieved:10.3f} ({r['ganlab_pct_of_peak']:5.1f}% of peak) {peak:7.1f}")
    return "\n".join(lines)


def _scale_table(rows: list[dict]) -> str:
    mem = "peak_memory_mb" if rows and "peak_memory_mb" in rows[0] else "activations_mb"
    lines = [f"{'workload':9} {'batch':>6} {'width':>6} {'params M':>9} {'steps/s':>9} "
             + ("peak MB" if mem == "peak_memory_mb" else "weights+grads+opt MB  activations MB  RSS growth MB")]
    for r in rows:
        tail = (f"{r['peak_memory_mb']:8.1f}" if mem == "peak_memory_mb" else
                f"{r['weights_grads_opt_mb']:20.1f}  {r['activations_mb']:14.1f}  {r['rss_peak_growth_mb']:13.1f}")
        lines.append(f"{r['workload']:9} {r['batch_size']:6d} {r['width']:6.1f} {r['params_m']:9.2f} "
                     f"{r['ganlab_steps_per_s']:9.2f} " + tail)
    return "\n".join(lines)


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.speed", description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", action="store_true", help="one JSON object per line per workload")
    ap.add_argument("--device", default="auto", help="cpu | cuda | auto (default)")
    ap.add_argument("--workloads", default=None,
                    help=f"comma-separated, from {','.join(WORKLOADS)} (default all; --quick: all but dcgan64)")
    ap.add_argument("--steps", type=int, default=None, help="steps per timed segment (default: about 1.2 s each)")
    ap.add_argument("--rounds", type=int, default=None,
                    help="alternating rounds (default 7, dcgan 3, overhead 6; --quick 2)")
    ap.add_argument("--quick", action="store_true", help="short segments (under a minute on a 2-core CPU)")
    ap.add_argument("--scale", action="store_true", help="steps/s and memory against batch size and width instead")
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                    help="change a field of ganlab's config in every comparison, e.g. --set reuse_fakes=false")
    a = ap.parse_args(argv)
    try:
        changes = parse_set(a.set)
        for name in WL:
            WL[name].config("cpu").replace(**changes)
    except ConfigError as e:
        print(f"error: --set: {e}", file=sys.stderr)
        return 2
    names = ([w.strip() for w in a.workloads.split(",") if w.strip()] if a.workloads is not None
             else [w for w in WORKLOADS if not (a.quick and w == "dcgan64")])
    bad = [w for w in names if w not in WORKLOADS]
    if bad or (a.steps is not None and a.steps < 1) or (a.rounds is not None and a.rounds < 1):
        print(f"error: unknown workload(s) {', '.join(bad)}; choose from {', '.join(WORKLOADS)}" if bad
              else "error: --steps and --rounds must be at least 1", file=sys.stderr)
        return 2
    if a.device not in ("auto", "cpu", "cuda") and not a.device.startswith("cuda:"):
        print(f"error: --device must be cpu, cuda or auto, got {a.device!r}", file=sys.stderr)
        return 2
    if a.device.startswith("cuda") and not torch.cuda.is_available():
        print("error: --device cuda asked for, but torch sees no CUDA device", file=sys.stderr)
        return 2
    dev = resolve_device(a.device)
    if a.scale:
        rows = scale(dev, a.quick)
        print("\n".join(json.dumps(r) for r in rows) if a.json else _scale_table(rows))
        return 0
    segment_s = 0.6 if a.quick else 1.2
    info = {**machine(dev), "load_avg_start": os.getloadavg()[0]}
    peak = measured_peak(dev, (torch.get_num_threads(), default_threads()))
    rows = []
    for name in names:
        if name == "overhead":
            row = overhead(dev, rounds=a.rounds or (2 if a.quick else 6), segment_s=CHARTS_S)
        else:
            slow = WL[name].min_steps == 1  # the conv nets: seconds a step on a CPU
            n_rounds = a.rounds or (2 if a.quick else 3 if slow else 7)
            row = compare(WL[name], dev, rounds=n_rounds, segment_s=segment_s, steps=a.steps, peak=peak, changes=changes)
        row.update(machine=info, load_avg=os.getloadavg()[0], peak=peak)
        rows.append(row)
        if a.json:
            print(json.dumps(row), flush=True)
    if not a.json:
        print(f"device: {info.get('gpu', info['cpu'])} ({info['cores']} cores), torch {info['torch']}, "
              f"load average {info['load_avg_start']:.1f} at start")
        if any(r["workload"] != "overhead" for r in rows):
            print(_table([r for r in rows if r["workload"] != "overhead"]))
        for r in rows:
            if r["workload"] == "overhead":
                print(f"overhead  nobody watching {r['reference_steps_per_s']:.0f} steps/s, a Monitor client "
                      f"{r['ganlab_steps_per_s']:.0f} steps/s: ratio {r['ratio']:.3f} (median of per-round ratios "
                      f"{r['ratio_paired']:.3f}); the client used {100 * r['client_cpu_share']:.1f}% of a core "
                      f"({r['polls']} polls, median {r['poll_ms_median']:.0f} ms wall)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
