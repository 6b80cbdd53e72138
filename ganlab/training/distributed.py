"""Data-parallel training under torchrun: one run over several processes with DistributedDataParallel.

`torchrun --nproc_per_node=N -m ganlab train ...` starts N copies of the CLI with WORLD_SIZE, RANK and
LOCAL_RANK set; `init()` joins them into one process group (gloo on the CPU, NCCL for CUDA tensors).
The Trainer asks `current()` whether it trains as part of a world and then:

- draws the whole global batch (indices, latents, labels, the GP's interpolation weights) from its
  generator, seeded as a single process would seed it, and keeps its own slice (`part`): every rank's
  generator stays in step with every other's and with a single-process run's, so the averaged
  gradient is the single-process gradient up to the order floats are summed in;
- trains through DistributedDataParallel wrappers (`attach`) that average the gradients of the nets
  being updated; the other net is called bare (D in the G step: its gradients are not even computed).
  Penalties that differentiate twice call D bare too: DDP does not support `torch.autograd.grad`, but
  their parameter gradients still accumulate into the same `.grad`, which DDP averages once per
  backward, so R1 and WGAN-GP are exact. k D steps are k separate forward/backward/step rounds: no
  `no_sync` is needed;
- averages what it logs over the ranks (`mean_`), once per tick, so the loss in stats.jsonl is the
  global batch's.

Rank 0 alone writes the run directory; the others keep the same state and write nothing. Every rank
asks `agree_stop` at each iteration, so a Ctrl-C or SIGTERM that reaches one process stops them all at
the same step, and `finish` lets the others know when rank 0 leaves early (an early stop, a failure).
"""

from __future__ import annotations

import inspect
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Optional

import torch

from ..errors import ConfigError
from .params import has_batch_norm

# what agree_stop's all-reduce carries (the largest wins): go on, a stop asked for (a signal), a rank has left
GO, STOP, LEFT = 0, 1, 2
FINISH_TIMEOUT = timedelta(seconds=120)  # how long a leaving rank waits for the others to see it go
LEAVE_TIMEOUT = timedelta(seconds=60)  # how long a rank leaving the group waits for the others to leave it too
ENV = ("WORLD_SIZE", "RANK", "LOCAL_RANK")


@dataclass(frozen=True)
class World:
    """This process's place in a torchrun launch."""

    size: int
    rank: int
    local_rank: int
    local_size: int  # processes on this machine (LOCAL_WORLD_SIZE)
    backend: str

    @property
    def rank0(self) -> bool:
        return self.rank == 0


_world: Optional[World] = None  # set by init(), cleared by destroy(): one world per process
_left = {"flag": False}  # a LEFT arrived: the rank that sent it has gone, so finish() is not awaited


def env_size() -> int:
    """WORLD_SIZE as torchrun set it (1 when not launched by torchrun, or when it is not a number)."""
    raw = os.environ.get("WORLD_SIZE", "1").strip()
    return int(raw) if raw.isdigit() and int(raw) > 0 else 1


def launched() -> bool:
    """True when this process is one of several that torchrun started for one run."""
    return env_size() > 1


def current() -> Optional[World]:
    """The world this process trains in, or None for an ordinary single-process run."""
    return _world


def is_rank0() -> bool:
    """True for the process that writes: rank 0 of a world, or a process that is not in one."""
    return _world is None or _world.rank0


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw.isdigit() else default


def init() -> World:
    """Join torchrun's process group (idempotent). gloo carries CPU tensors; NCCL CUDA ones where this torch has it."""
    global _world
    if _world is not None:
        return _world
    import torch.distributed as dist

    if not dist.is_available():
        raise ConfigError("this torch build has no torch.distributed: install a build with it to train under torchrun")
    size, rank, local_rank = env_size(), _env_int("RANK", 0), _env_int("LOCAL_RANK", 0)
    local_size = _env_int("LOCAL_WORLD_SIZE", size)
    nccl = torch.cuda.is_available() and dist.is_nccl_available() and torch.cuda.device_count() >= local_size
    if nccl:
        torch.cuda.set_device(local_rank)
    backend = "cpu:gloo,cuda:nccl" if nccl else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend, rank=rank, world_size=size)
    _world = World(size, rank, local_rank, local_size, backend)
    _left["flag"] = False
    return _world


def destroy() -> None:
    """Leave the process group (the end of a torchrun process).

    On a normal exit every rank first waits for the others (a barrier with a timeout): a rank that tore its gloo
    group down while a peer still talked to it made that peer abort ("terminate called without an active exception",
    SIGABRT) when the CPU was busy. When an exception is on its way out (a refusal, Ctrl-C) the peers may never come,
    so the rank leaves at once, as before.
    """
    global _world
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        if sys.exc_info()[0] is None:
            _meet_before_leaving(dist)
        dist.destroy_process_group()
    _world = None


def _meet_before_leaving(dist) -> None:
    try:
        dist.monitored_barrier(timeout=LEAVE_TIMEOUT)
    except Exception:  # noqa: BLE001 - a peer that is gone (or a backend without it) must not stop this rank's exit
        pass


# ------------------------------------------------------------------ what cannot be data-parallel
def refusal(cfg: Any, size: int, local_size: int, gpus: int) -> Optional[str]:
    """Why cfg cannot train data-parallel over `size` processes (`local_size` on this machine), as one sentence; None: it can.

    Only what the config alone says; `check_models` checks the built nets.
    """
    b = cfg.batch_size
    if b < size:
        return (f"batch_size {b} cannot be shared by {size} processes: each needs at least one sample of the global "
                f"batch; give batch_size {size} or more (a multiple of {size}), or start fewer processes")
    if b % size:
        lo, hi = b - b % size, b + size - b % size
        return (f"batch_size {b} does not divide among {size} processes (batch_size is the global batch, each "
                f"process takes batch_size/{size}); give a multiple of {size} such as {lo or hi} or {hi}")
    device = str(cfg.device)
    if device == "auto" and gpus:  # auto takes the GPUs when there are any
        device = "cuda"
    if device.startswith("cuda") and gpus < local_size:
        have = f"{gpus} GPU{'s' if gpus != 1 else ''}" if gpus else "no GPU"
        return (f"device {device} with {local_size} processes on this machine, but it has {have}: one GPU per "
                f"process; start at most {gpus} per machine (--nproc_per_node) or use device cpu" if gpus else
                f"device {device}, but this machine has no GPU: use device cpu (gloo) for a data-parallel run here")
    if device not in ("auto", "cpu") and not device.startswith("cuda"):
        return f"device {device}: data-parallel runs train on cpu (gloo) or cuda (NCCL); use one of those"
    if cfg.compile:
        return ("compile: torch.compile is not supported in data-parallel runs here; set compile=false "
                "(DDP already overlaps the gradient exchange with the backward pass)")
    if cfg.g_topk < 1.0:  # each process would rank only its own share, not the global batch one process ranks
        return (f"g_topk {cfg.g_topk:g}: top-k training ranks the whole batch's fakes, which a data-parallel run "
                f"splits among its processes; set g_topk=1 or train in one process")
    return None


def check(cfg: Any, world: World) -> None:
    """Raise ConfigError with refusal()'s sentence (the CLI's one line, exit 2)."""
    why = refusal(cfg, world.size, world.local_size, torch.cuda.device_count() if torch.cuda.is_available() else 0)
    if why:
        raise ConfigError(f"cannot train data-parallel: {why}")


def check_models(g: torch.nn.Module, d: torch.nn.Module, device: torch.device) -> None:
    """Batch norm must see the global batch: torch's SyncBatchNorm does that on GPUs only, so on the CPU it is refused."""
    if _world is None or device.type == "cuda":
        return
    nets = [name for name, net in (("G", g), ("D", d)) if has_batch_norm(net)]
    if nets:
        raise ConfigError(f"cannot train data-parallel: {' and '.join(nets)} use{'s' if len(nets) == 1 else ''} batch norm, "
                          "whose statistics must cover the global batch, and torch's SyncBatchNorm runs on GPUs only; "
                          "on the CPU choose nets without it (norm=none or layer; the mlp arch; e.g. --preset digits) "
                          "or train on GPUs (device cuda)")


# ------------------------------------------------------------------ the trainer's side
def local_device(device: torch.device) -> torch.device:
    """A CUDA run uses this process's own GPU (LOCAL_RANK); the CPU is shared."""
    if _world is not None and device.type == "cuda":
        return torch.device("cuda", _world.local_rank)
    return device


def cpu_threads(default: int) -> int:
    """Intra-op threads for one rank: $GANLAB_THREADS when set, else this machine's CPUs shared among its ranks."""
    if _world is None or os.environ.get("GANLAB_THREADS", "").strip().isdigit():
        return default
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:
        n = os.cpu_count() or 1
    return max(1, n // _world.local_size)


def identity(t):
    return t


def slicer(world: Optional[World]) -> Callable:
    """t -> this rank's rows of a global batch t (rows rank*B/N .. (rank+1)*B/N); identity outside a world; None stays None."""
    if world is None:
        return identity
    size, rank = world.size, world.rank

    def part(t):
        if t is None:
            return None
        n = len(t) // size
        return t[rank * n:(rank + 1) * n]

    return part


def _ddp(module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    from torch.nn.parallel import DistributedDataParallel

    kwargs: dict[str, Any] = {}
    params = inspect.signature(DistributedDataParallel).parameters
    # buffers are equal on every rank by construction (spectral norm's vectors follow equal weights, SyncBatchNorm's
    # statistics are global): re-sending rank 0's before every forward would only cost time
    if "forward_sync_buffers" in params:
        kwargs["forward_sync_buffers"] = False
    else:
        kwargs["broadcast_buffers"] = False
    if device.type == "cuda":
        kwargs["device_ids"] = [device.index]
    return DistributedDataParallel(module, **kwargs)


def attach(trainer: Any) -> None:
    """Wrap the trainer's G and D for the world (a no-op outside one). Collective: every rank calls it at the same point,
    after its nets hold the same weights (built from the same seed, or loaded from the same checkpoint)."""
    if _world is None:
        return
    if trainer.device.type == "cuda":  # the same Parameter and buffer objects: the optimizers and lists stay valid
        trainer.G = torch.nn.SyncBatchNorm.convert_sync_batchnorm(trainer.G)
        trainer.D = torch.nn.SyncBatchNorm.convert_sync_batchnorm(trainer.D)
    trainer.g_learn = _ddp(trainer.G, trainer.device)
    trainer.d_learn = _ddp(trainer.D, trainer.device)
    trainer.parallel = True  # from now on its state_dict() is collective (the partial tick's global mean)


def mean_(t: torch.Tensor) -> torch.Tensor:
    """t averaged over the ranks, in place (the tick's logged sums); t itself outside a world."""
    if _world is not None:
        import torch.distributed as dist

        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        t.div_(_world.size)
    return t


def reducer(world: Optional[World]) -> Optional[Callable[[torch.Tensor], torch.Tensor]]:
    """What a tick's collect() passes its sums through: mean_ in a world, None outside one."""
    return mean_ if world is not None else None


# ------------------------------------------------------------------ stopping together
def _all_max(code: int) -> int:
    import torch.distributed as dist

    t = torch.tensor([code], dtype=torch.int32)  # a CPU tensor: gloo carries it whatever the nets' device
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return int(t.item())


def agree_stop(asked: bool) -> bool:
    """True when any rank asked to stop or has left; every rank calls it once per iteration (the loop's should_stop)."""
    if _world is None:
        return asked
    code = _all_max(STOP if asked else GO)
    if code == LEFT:
        _left["flag"] = True
    return code != GO


def agreed(should_stop: Callable[[], bool]) -> Callable[[], bool]:
    """should_stop, asked of every rank together; itself outside a world."""
    if _world is None:
        return should_stop
    return lambda: agree_stop(bool(should_stop()))


def others_left() -> bool:
    """True when another rank has left (the run ended there): this one stopped because of it."""
    return _left["flag"]


def finish() -> None:
    """Tell the other ranks this one is leaving: they are at their next agree_stop (an early leave) or in their own
    finish() (the run's end). Skipped when another rank has already left; never raises, waits FINISH_TIMEOUT at most."""
    if _world is None or _left["flag"]:
        return
    import torch.distributed as dist

    try:
        work = dist.all_reduce(torch.tensor([LEFT], dtype=torch.int32), op=dist.ReduceOp.MAX, async_op=True)
        work.wait(FINISH_TIMEOUT)
    except Exception:  # noqa: BLE001 - a rank that died already: nobody is left to tell
        pass
    _left["flag"] = True


def share(obj: Any) -> Any:
    """Rank 0's obj on every rank (a pickled broadcast over gloo); obj itself outside a world."""
    if _world is None:
        return obj
    import torch.distributed as dist

    box = [obj if _world.rank0 else None]
    dist.broadcast_object_list(box, src=0, device=torch.device("cpu"))
    return box[0]


def all_ok(ok: bool) -> bool:
    """True when every rank says ok (e.g. each built its nets); collective."""
    if _world is None:
        return ok
    import torch.distributed as dist

    t = torch.tensor([1 if ok else 0], dtype=torch.int32)
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return bool(t.item())


# ------------------------------------------------------------------ the config's record
def size() -> int:
    """Processes training this run: the world's size, 1 outside one."""
    return _world.size if _world is not None else 1


def prepared(cfg: Any) -> Any:
    """cfg recording the processes that train it now (`world_size`); in a world, refused (ConfigError) when it
    cannot be data-parallel. The session calls it for a new run and for a resume."""
    if cfg.world_size != size():
        cfg = cfg.replace(world_size=size())
    if _world is not None:
        check(cfg, _world)
    return cfg


def env_rank0() -> bool:
    """True unless torchrun made this process a rank other than 0 (before init() too: for the CLI's error line)."""
    return not launched() or _env_int("RANK", 0) == 0


# ------------------------------------------------------------------ a rank that is gone
PEER_MARKS = ("Connection reset by peer", "Connection closed by peer", "gloo/transport", "NCCL", "Broken pipe")


def peer_lost(e: BaseException) -> bool:
    """True when e is the process group reporting that another rank went away (killed, out of memory, failed)."""
    dist_error = getattr(getattr(torch, "distributed", None), "DistError", None)
    if isinstance(dist_error, type) and isinstance(e, dist_error):
        return True
    return isinstance(e, RuntimeError) and any(m in str(e) for m in PEER_MARKS)


def peer_lost_sentence(step: int, checkpoint: Optional[int]) -> str:
    """What a person reads when another rank of the launch went away mid-run (rank 0 records it in status.json)."""
    kept = f"its last good checkpoint (step {checkpoint}) is kept" if checkpoint else "no checkpoint had been written yet"
    return (f"another process of this torchrun launch stopped at step {step} (its own error, if it printed one, is "
            f"above); {kept}: resume with --resume, under torchrun or without it")
