"""`python -m ganlab train|sample|eval|runs|pack|directions|project`: any failure is one line on stderr and exit 2.

main() is the one boundary: every exception, ganlab's own or not (a full disk, out of memory,
a file that is not UTF-8), becomes one sentence; one that is not ganlab's says "internal error"
and asks for a report. When the command had a run directory open, the sentence is recorded in
its status.json too, so a crash never leaves a run reading "running".
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

from . import ddp
from .config import RunConfig, parse_set
from .config.presets import PRESETS, preset_config
from .config.recipes import RECIPES, apply_recipe, recipe_note
from .data import DATASETS, dataset_spec, load_dataset
from .data.families import families_help
from .data.pack import PackOptions, pack, pack_arrays
from .errors import ConfigError, GanlabError, UsageError
from .evaluation.evaluate import EVAL_N, evaluate_run, generate_from_run
from .evaluation.metrics import to_json
from .explore.directions import DIRECTION_METHODS
from .explore.explorer import MAX_SAMPLES, load_generator
from .explore.features import has_classifier
from .explore.targets import load_targets
from .explore.truncation import check_psi
from .paths import data_root, runs_dir
from .session import RunSession
from .store import OWNER, Run, RunError, list_runs
from .sweeps import cli as sweep_cli
from .training import distributed

EXIT_USAGE = 2
MAX_CONFIG_BYTES = 1_000_000  # a RunConfig is a few KB of JSON; a bigger --config is a mistake (or /dev/zero)
PATH_CHARS = 200  # an error shows a path whole up to this, else its last characters
MAX_LINE_CHARS = 1000  # the error line's backstop: no message, whoever wrote it, floods a terminal
SAMPLE_N = (1, 1_000_000)
# with --resume these flags go along; every other train flag would change the recipe the checkpoint was trained with
RESUME_FLAGS = ("steps", "lr_scale", "data_root", "download", "quiet")


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse prints usage + exits; we want one line
        raise UsageError(message)


def build_parser() -> Parser:
    p = Parser(prog="python -m ganlab", description="Train, sample and evaluate GANs; the dashboard is `make run`.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)

    t = sub.add_parser("train", help="train a GAN headless; writes a run directory")
    t.add_argument("--dataset", help=f"a built-in ({', '.join(DATASETS.names())}), a point family "
                   f"({families_help()}), points:FILE (.csv or .npy) or hdf5:FILE; without --preset or --config it "
                   f"gets the recipe for its kind of data ({', '.join(RECIPES.names())}), under what you set")
    t.add_argument("--arch", help="linear, mlp or dcgan (default: the dataset's recipe; another arch means no recipe)")
    t.add_argument("--loss", help="default: the dataset's recipe's")
    t.add_argument("--steps", type=int)
    t.add_argument("--batch-size", type=int)
    t.add_argument("--seed", type=int)
    t.add_argument("--device")
    t.add_argument("--preset", help="start from a named preset (see `ganlab presets`)")
    t.add_argument("--config", help="a JSON file of RunConfig fields")
    t.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="any RunConfig field (repeatable)")
    t.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its last checkpoint, with its own "
                   "config.json; only --steps, --lr-scale, --data-root, --download and --quiet go with it")
    t.add_argument("--lr-scale", type=float,
                   help="with --resume: multiply the checkpoint's learning rates (e.g. 0.5 after a divergence)")
    t.add_argument("--runs-dir", help="where run directories go (default $GANLAB_RUNS or ./runs)")
    t.add_argument("--data-root", help="where dataset files are (default $GANLAB_DATA or ~/.cache/ganlab/data)")
    t.add_argument("--download", action="store_true", help="allow torchvision to download mnist/fashion-mnist/cifar10")
    t.add_argument("--quiet", action="store_true", help="no progress bar")

    s = sub.add_parser("sample", help="generate samples from a run's last checkpoint as .npy")
    s.add_argument("run_dir")
    s.add_argument("-n", type=int, default=64, help=f"samples, {SAMPLE_N[0]} to {SAMPLE_N[1]:,}")
    s.add_argument("--seed", type=int, default=0, help="sample i comes from latent seed SEED+i")
    s.add_argument("--out", required=True, help="the .npy file (.npy is added when missing); replaced atomically")
    s.add_argument("--label", type=int, help="class for a conditional run (default: cycle through classes)")
    s.add_argument("--sampler", default="raw", help="raw (G alone) or drs (D's logit filters G's samples)")
    s.add_argument("--z", help="an .npy of latents (N, latent_dim) to render instead of seeds (e.g. from `project`)")
    s.add_argument("--psi", help="truncation: pull z toward the mean latent, 0 (the mean) to 1 (none, the default) "
                   "or up to 2")

    dr = sub.add_parser("directions", help="meaningful latent directions of a run's G (SeFa, GANSpace, a class boundary)")
    dr.add_argument("run_dir")
    dr.add_argument("--method", default="sefa", help="sefa, pca or boundary")
    dr.add_argument("-k", type=int, default=10, help="directions to find (boundary: always 1)")
    dr.add_argument("--classes", help="boundary: the two classes A,B (the direction points from A to B)")
    dr.add_argument("--out", required=True, help="the .npy of unit directions (k, latent_dim)")
    dr.add_argument("--data-root")

    pj = sub.add_parser("project", help="find the latents whose samples match given images (or points)")
    pj.add_argument("run_dir")
    pj.add_argument("images", nargs="+", help="an .npy (N, C, H, W) in [0, 1] (points: (N, D)), or image files")
    pj.add_argument("--out", required=True, help="the .npy of latents (N, latent_dim)")
    pj.add_argument("--recon", help="the .npy of reconstructions, as `sample` writes them")
    pj.add_argument("--steps", type=int, default=200, help="optimisation steps, 0 to 10,000 (0: the best random start)")
    pj.add_argument("--label", type=int, help="class for a conditional run (default: try every class, keep the best)")
    pj.add_argument("--seed", type=int, default=0)
    pj.add_argument("--data-root")

    e = sub.add_parser("eval", help="quality metrics of a run's generator")
    e.add_argument("run_dir")
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.add_argument("-n", type=int, default=None, help=f"samples to draw, {EVAL_N[0]} to {EVAL_N[1]:,} "
                   "(default 2500 for points, 2000 for images)")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--data-root")
    e.add_argument("--sampler", default="raw", help="raw (G alone) or drs (D's logit filters G's samples)")

    r = sub.add_parser("runs", help="list runs: id, dataset, arch, loss, state, step, and why a run stopped early")
    r.add_argument("--runs-dir")

    sub.add_parser("presets", help="list the named presets")
    sub.add_parser("fields", help="list every RunConfig field (for --set, --config, --grid): default and meaning")

    k = sub.add_parser("pack", help="pack a folder/zip/tar of images into an HDF5 dataset")
    k.add_argument("src")
    k.add_argument("out")
    k.add_argument("--size", type=int, default=64)
    k.add_argument("--channels", type=int, choices=(1, 3), default=3)
    k.add_argument("--crop", choices=("center", "none"), default="center")
    k.add_argument("--labels", choices=("none", "from-folders"), default="none")
    k.add_argument("--builtin", action="store_true", help="SRC names a built-in image dataset (digits, mnist, ...)")
    k.add_argument("--data-root")
    k.add_argument("--overwrite", action="store_true", help="replace OUT when it exists (otherwise an existing OUT is refused)")
    sweep_cli.add_parsers(sub, train=t)  # last: `sweep` takes every train flag, so it is built from the finished parser
    return p


# ------------------------------------------------------------------ train
def read_config_file(path: str) -> dict[str, Any]:
    """--config's JSON object, or a ConfigError that says what is wrong with the file (never a traceback)."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_CONFIG_BYTES + 1)
    except OSError as e:
        raise UsageError(f"cannot read --config: {os_sentence(e)}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"--config {shown_path(path)} is larger than {MAX_CONFIG_BYTES // 1000:,} KB; a config is a "
                          "small JSON object of field: value pairs")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ConfigError(f"--config {shown_path(path)} is not UTF-8 text (byte 0x{data[e.start]:02x} at position "
                          f"{e.start}); save it as UTF-8 JSON") from None
    try:
        loaded = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as e:
        raise ConfigError(f"--config is not valid JSON: {e.msg} at line {e.lineno}") from None
    except RecursionError:
        raise ConfigError(f"--config {shown_path(path)} nests too deeply to read; a config is a flat JSON object "
                          "of field: value pairs") from None
    if not isinstance(loaded, dict):
        raise ConfigError("--config must hold a JSON object of field: value pairs")
    return loaded


def _train_config(a: argparse.Namespace):
    base: dict[str, Any] = {}
    if a.preset:
        base = preset_config(a.preset).to_dict()
    if a.config:
        base.update(read_config_file(a.config))
    flags = {"dataset": a.dataset, "arch": a.arch, "loss": a.loss, "steps": a.steps, "batch_size": a.batch_size,
             "seed": a.seed, "device": a.device}
    given = {k: v for k, v in flags.items() if v is not None}
    given.update(parse_set(a.set))
    if a.preset or a.config:
        return RunConfig.from_dict({**base, **given})
    spec = _spec_or_none(given.get("dataset", RunConfig.dataset), a.data_root)
    return RunConfig.from_dict(given) if spec is None else apply_recipe(given, spec)  # defaults < recipe < given


def _spec_or_none(dataset: str, root: Optional[str]):
    """The dataset's spec to choose a recipe by, or None when it cannot be read (validation then says why)."""
    try:
        return dataset_spec(dataset, data_root(root))
    except GanlabError:
        return None


def _recipe_flags(a: argparse.Namespace) -> list[str]:
    """The train flags given that are not in RESUME_FLAGS: each would change a resumed run's recipe."""
    defaults = vars(build_parser().parse_args(["train"]))
    return [f"--{k.replace('_', '-')}" for k, v in vars(a).items()
            if k not in (*RESUME_FLAGS, "resume", "command") and v != defaults.get(k)]


def _check_resume_flags(a: argparse.Namespace) -> None:
    given = _recipe_flags(a)
    if given:
        raise UsageError(f"{', '.join(given)} cannot go with --resume: a resumed run keeps the recipe in its "
                         f"config.json; drop {'it' if len(given) == 1 else 'them'}, or start a new run without --resume "
                         f"(only --steps, --lr-scale, --data-root, --download and --quiet go with --resume)")
    if a.steps is not None:
        last = Run.open(a.resume).last_checkpoint_step() or 0
        if a.steps < last:
            raise UsageError(f"--steps {a.steps} is below step {last}, where the run's last checkpoint is; "
                             f"give a total of at least {last}")


def _resume(a: argparse.Namespace) -> RunSession:
    _check_resume_flags(a)
    session = RunSession.reopen(a.resume, steps=a.steps, lr_scale=a.lr_scale, data_root=data_root(a.data_root),
                                download=a.download)
    try:
        session.build()  # data errors, a bad checkpoint, a config.json that disagrees with it: exit 2 before training
    except BaseException:
        session.close()
        raise
    return session


def cmd_train(a: argparse.Namespace) -> int:
    if distributed.launched():  # under torchrun: one run over its processes (ganlab.ddp); rank 0 opens it as below
        return ddp.train_command(lambda: _open_train(a), lambda session: _train(a, session),
                                 data_root=data_root(a.data_root), download=a.download)
    session = _open_train(a)
    try:
        return _train(a, session)
    finally:
        session.close()  # the run's training lock, should anything fail before run_training ends and frees it


def _open_train(a: argparse.Namespace) -> RunSession:
    """The run `train` trains: resumed, or new (its data loaded and nets built before its directory exists)."""
    if a.lr_scale is not None and not a.resume:
        raise UsageError("--lr-scale goes with --resume")
    if a.resume:
        session = _resume(a)
    else:
        session = RunSession.new(_train_config(a), runs_dir(a.runs_dir), data_root=data_root(a.data_root),
                                 download=a.download, build_first=True)  # data errors before a run exists
        if session.cfg.recipe:
            print(f"ganlab: {recipe_note(RECIPES.get(session.cfg.recipe))}", flush=True)
    _OPEN.run = session.run
    return session


def _train(a: argparse.Namespace, session: RunSession) -> int:
    run, cfg = session.run, session.cfg
    stop = {"flag": False}
    # Ctrl-C and SIGTERM stop at the next step, with a checkpoint; the old handlers come back after, so a
    # caller of main() (a notebook, a test) is not left with signals that only set this run's flag
    previous = {sig: signal.signal(sig, lambda *_: stop.__setitem__("flag", True)) for sig in (signal.SIGINT, signal.SIGTERM)}
    bar = _progress(cfg.steps, a.quiet)
    last: dict[str, Any] = {}

    def on_tick(rec: dict, tr) -> None:
        last.update(rec)
        if bar is not None:
            bar.n = rec["step"]
            losses = {"D": rec.get("Loss/D", float("nan")), "G": rec.get("Loss/G", float("nan"))}
            bar.set_postfix({k: f"{v:.3f}" for k, v in losses.items()}, refresh=True)

    start = {"t": time.perf_counter(), "step": session.resumed_from}

    def on_ready(trainer) -> None:  # the clock starts at the first step this process trains, not at step 0
        start.update(t=time.perf_counter(), step=trainer.step)

    try:
        out = session.run_training(should_stop=distributed.agreed(lambda: stop["flag"]),  # torchrun: every rank together
                                   on_tick=on_tick, on_ready=on_ready)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if bar is not None:
            bar.close()
    if out.state == "paused":  # diverged
        print(f"ganlab: {out.error}; run: {run.path}", file=sys.stderr)
        return 1
    if out.state == "failed":
        print(f"ganlab: error: the run failed: {out.error}; run: {run.path}", file=sys.stderr)
        return 1
    dt, step0 = time.perf_counter() - start["t"], start["step"]
    resumed = f", resumed from step {step0}" if a.resume else ""
    resumed += f", {cfg.world_size} processes (DDP)" if cfg.world_size > 1 else ""
    print(f"{run.id} {out.state}: step {out.step}/{cfg.steps} in {dt:.1f} s ({(out.step - step0) / max(dt, 1e-9):.0f} steps/s)"
          f"{resumed}, Loss/D {last.get('Loss/D', float('nan')):.4f}, Loss/G {last.get('Loss/G', float('nan')):.4f} "
          f"-> {run.path}")
    if out.stopped_early:  # cfg.stop_at met before the last step
        print(f"{run.id} {out.stopped_early}")
    return 0 if out.state == "finished" else 130


def _progress(total: int, quiet: bool):
    if quiet or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="step", dynamic_ncols=True, file=sys.stderr)


# ------------------------------------------------------------------ sample / eval / runs
def npy_path(out: str | os.PathLike) -> Path:
    """Where np.save puts `out`: it adds .npy to a name without it, so that is the file to name to the user."""
    path = Path(out)
    return path if path.suffix == ".npy" else path.with_name(path.name + ".npy")


def save_npy_atomically(path: Path, x: np.ndarray) -> None:
    """Write a temp file beside `path`, fsync, os.replace: a full disk leaves the old file whole and no temp file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "wb") as f:
            np.save(f, x)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        if isinstance(e, OSError) and e.filename is None:  # numpy's short write names no file: name the one asked for
            e.filename = str(path)
        raise


def _out_file(flag: str, value: str) -> Path:
    """Where an .npy flag writes, refused when it names a folder."""
    if Path(value).is_dir() or npy_path(value).is_dir():
        raise UsageError(f"{flag} {shown_path(value)} is a folder; give a file name such as out.npy")
    return npy_path(value)


def _write(out: Path, x: np.ndarray) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    save_npy_atomically(out, x)
    print(f"wrote {out} {x.dtype} {tuple(x.shape)}")


def _psi(text: Optional[str]) -> float:
    if text is None:
        return 1.0
    try:
        return check_psi(text)
    except ValueError as e:
        raise UsageError(f"--{e}") from None


def cmd_sample(a: argparse.Namespace) -> int:
    if not SAMPLE_N[0] <= a.n <= SAMPLE_N[1]:
        raise UsageError(f"-n must be between {SAMPLE_N[0]} and {SAMPLE_N[1]:,}, got {a.n}")
    out = _out_file("--out", a.out)
    psi = _psi(a.psi)
    if a.z is None and psi == 1.0:
        x = generate_from_run(Run.open(a.run_dir), a.n, seed=a.seed, label=a.label, sampler=a.sampler)
    else:
        x = _sample_latents(a, psi)
    _write(out, x)
    return 0


def _sample_latents(a: argparse.Namespace, psi: float) -> np.ndarray:
    """`sample --z` and `sample --psi`: G on given (or seeds') latents, truncated by psi, in batches."""
    if a.sampler != "raw":
        raise UsageError("--z and --psi render G's own samples: they go with the raw sampler only")
    ex = load_generator(Run.open(a.run_dir))
    if a.z is not None:
        z = torch.from_numpy(_latents_file(a.z, ex.latent_dim))
    else:
        z = ex.z(range(a.seed, a.seed + a.n))
    if ex.conditional and a.label is not None and not 0 <= a.label < ex.num_classes:
        raise UsageError(f"--label must be between 0 and {ex.num_classes - 1} for this run")
    if not ex.conditional and a.label is not None:
        raise UsageError("--label was given, but this run is not conditional")
    out = []
    for i in range(0, len(z), MAX_SAMPLES):
        zz = z[i:i + MAX_SAMPLES]
        y = None
        if ex.conditional:
            y = torch.full((len(zz),), a.label) if a.label is not None else torch.arange(i, i + len(zz)) % ex.num_classes
        out.append(ex.generate(zz, y, psi))
    return np.concatenate(out)


def _latents_file(path: str, dim: int) -> np.ndarray:
    """--z's (N, dim) finite latents; anything else is one sentence."""
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"--z {shown_path(path)} does not exist" if not p.exists() else f"--z {shown_path(path)} is not a file")
    try:
        z = np.load(p, allow_pickle=False)
    except Exception:  # noqa: BLE001 - any unreadable file reads as "not an .npy"
        raise UsageError(f"--z {shown_path(path)} is not a readable .npy array (object arrays are refused)") from None
    if z.dtype.kind not in "fiu":
        raise UsageError(f"--z holds {z.dtype} values; give numbers")
    if z.ndim == 1:
        z = z[None]
    if z.ndim != 2 or z.shape[1] != dim:
        raise UsageError(f"--z has shape {tuple(z.shape)}; this run's latents are (N, {dim})")
    if not 1 <= len(z) <= SAMPLE_N[1]:
        raise UsageError(f"--z holds {len(z)} latents; give 1 to {SAMPLE_N[1]:,}")
    if not np.isfinite(z).all():
        raise UsageError("--z holds NaN or infinite values")
    return z.astype(np.float32)


def _classes(text: Optional[str]) -> tuple[int, int]:
    if not text:
        raise UsageError("--method boundary needs --classes A,B (the two classes, e.g. 3,8)")
    parts = [t.strip() for t in text.split(",")]
    if len(parts) != 2 or not all(t.isdigit() for t in parts):
        raise UsageError(f"--classes takes two class numbers A,B such as 3,8, got {text!r}")
    return int(parts[0]), int(parts[1])


def cmd_directions(a: argparse.Namespace) -> int:
    if a.method not in DIRECTION_METHODS:
        raise UsageError(f"--method must be one of: {', '.join(DIRECTION_METHODS.names())}, got {a.method!r}")
    if not 1 <= a.k <= 1024:
        raise UsageError(f"-k must be between 1 and 1,024, got {a.k}")
    if a.classes is not None and a.method != "boundary":
        raise UsageError("--classes goes with --method boundary")
    out = _out_file("--out", a.out)
    ex = load_generator(Run.open(a.run_dir), data_root=a.data_root)
    options: dict[str, Any] = {}
    if a.method == "boundary":
        if ex.conditional or not has_classifier(ex.spec):
            what = "is conditional (its class is an input)" if ex.conditional else "has no labelled images"
            raise UsageError(f"--method boundary needs an unconditional run on labelled images; this run {what}: "
                             "use sefa or pca")
        options = dict(zip("ab", _classes(a.classes)))
        for c in options.values():
            if not 0 <= c < ex.spec.num_classes:
                raise UsageError(f"--classes: class {c} does not exist; this dataset has classes 0-{ex.spec.num_classes - 1}")
    try:
        d = ex.directions(a.method, a.k, **options)
    except ValueError as e:
        raise UsageError(str(e)) from None
    _write(out, d.vectors.astype(np.float32))
    for name, score in zip(d.names, d.scores):
        print(f"{name}\t{d.score_name} {score:.4g}")
    print(f"from {d.layer}")
    return 0


def cmd_project(a: argparse.Namespace) -> int:
    if not 0 <= a.steps <= 10_000:
        raise UsageError(f"--steps must be between 0 and 10,000, got {a.steps}")
    out = _out_file("--out", a.out)
    recon_out = _out_file("--recon", a.recon) if a.recon else None
    ex = load_generator(Run.open(a.run_dir), data_root=a.data_root)
    if a.label is not None and not ex.conditional:
        raise UsageError("--label was given, but this run is not conditional")
    if a.label is not None and not 0 <= a.label < ex.num_classes:
        raise UsageError(f"--label must be between 0 and {ex.num_classes - 1} for this run")
    targets = load_targets(a.images, ex.spec)
    p = ex.project(targets, label=a.label, steps=a.steps, seed=a.seed)
    _write(out, p.z.astype(np.float32))
    if recon_out is not None:
        _write(recon_out, p.recon)
    unit = "pixel RMSE" if ex.kind == "images" else "distance"
    for i, (err, base) in enumerate(zip(p.error, p.baseline)):
        label = f" class {int(p.labels[i])}" if p.labels is not None else ""
        print(f"{i}\t{unit} {err:.4f} (best random start {base:.4f}){label}")
    return 0


def cmd_eval(a: argparse.Namespace) -> int:
    if a.n is not None and not EVAL_N[0] <= a.n <= EVAL_N[1]:
        raise UsageError(f"-n must be between {EVAL_N[0]} and {EVAL_N[1]:,} (leave it out for the default: 2500 "
                         f"for points, 2000 for images), got {a.n}")
    m = to_json(evaluate_run(Run.open(a.run_dir), n=a.n, seed=a.seed, data_root=a.data_root, sampler=a.sampler))
    if a.json:
        print(json.dumps(m))
    else:
        for k, v in m.items():
            print(f"{k:>22}: {v}")
    return 0


def cmd_runs(a: argparse.Namespace) -> int:
    for run in list_runs(runs_dir(a.runs_dir)):
        try:
            c = run.config()
            st = run.status()
            line = f"{run.id}\t{c.dataset}\t{c.arch}\t{c.loss}\t{st.get('state')}\t{st.get('step', 0)}/{c.steps}"
            print(line + (f"\t{st['stopped_early']}" if st.get("stopped_early") else ""))  # why it ended before c.steps
        except RunError as e:
            print(f"{run.id}\t(unreadable: {e})")
    return 0


def cmd_presets(a: argparse.Namespace) -> int:
    for entry in PRESETS:
        print(f"{entry.name:16} {entry.description}")
    return 0


def cmd_fields(a: argparse.Namespace) -> int:
    from .config.schema import FIELDS, field_comments

    notes, defaults = field_comments(), RunConfig().to_dict()
    for name in FIELDS:
        print(f"{name:16} {json.dumps(defaults[name]):14} {notes.get(name, '')}")
    return 0


def _pack_summary(report) -> str:
    skipped = ""
    if report.n_skipped:
        shown = "; ".join(f"{n}: {why}" for n, why in report.skipped[:5])
        more = f" (+{report.n_skipped - 5} more)" if report.n_skipped > 5 else ""
        skipped = f", skipped {report.n_skipped}: {shown}{more}"
    classes = f", {len(report.class_names)} classes" if report.class_names else ""
    return (f"packed {report.n_images} images into {report.out_path} in {report.seconds:.1f} s "
            f"({report.images_per_s:.0f} images/s, {report.workers} workers){classes}{skipped}")


def pack_builtin(name: str, out: str, data_root=None, overwrite: bool = False):
    """Pack a built-in image dataset (digits, mnist, ...) so every image dataset looks alike."""
    if name not in DATASETS or DATASETS.get(name).spec.kind != "images":
        images = [e.name for e in DATASETS if e.obj.spec.kind == "images"]
        raise UsageError(f"--builtin takes an image dataset: {', '.join(images)}")
    ds = load_dataset(name, "cpu", root=data_root)
    y = None if ds.y is None else ds.y.numpy()
    return pack_arrays(ds.x.numpy(), y, list(ds.spec.class_names), out, source=f"ganlab:{name}", overwrite=overwrite)


def cmd_pack(a: argparse.Namespace) -> int:
    if not 8 <= a.size <= 1024:
        raise UsageError("--size must be between 8 and 1024 pixels")
    bar = _progress(0, False)

    def progress(done: int, total: int) -> None:
        if bar is not None:
            bar.total = total
            bar.n = done
            bar.refresh()

    try:
        if a.builtin:
            report = pack_builtin(a.src, a.out, data_root=a.data_root, overwrite=a.overwrite)
        else:
            opts = PackOptions(size=a.size, channels=a.channels, crop=a.crop, labels=a.labels)
            opts.validate()
            report = pack(a.src, a.out, opts, progress=progress, overwrite=a.overwrite)
    finally:
        if bar is not None:
            bar.close()
    print(_pack_summary(report))
    return 0


COMMANDS = {"train": cmd_train, "sample": cmd_sample, "eval": cmd_eval, "runs": cmd_runs,
            "presets": cmd_presets, "fields": cmd_fields, "pack": cmd_pack, "directions": cmd_directions, "project": cmd_project,
            "sweep": lambda a: sweep_cli.cmd_sweep(a, _train_config), "sweeps": sweep_cli.cmd_sweeps}


# ------------------------------------------------------------------ the boundary
class _OpenRun(threading.local):
    """The run directory the current command opened, so the boundary can record how it failed."""

    run: Optional[Run] = None


_OPEN = _OpenRun()


def shown_path(path: str | os.PathLike) -> str:
    """A path as an error shows it: whole up to PATH_CHARS, else its end (where the names that matter are)."""
    text = os.fsdecode(path)
    return text if len(text) <= PATH_CHARS else "…" + text[-(PATH_CHARS - 1):]


def _first_line(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return lines[0] if lines else type(e).__name__


def _in_the_way(path: Path) -> Optional[Path]:
    """The nearest part of `path` (itself included) that exists but is not a folder."""
    for p in (path, *path.parents):
        if p.exists():
            return None if p.is_dir() else p
    return None


SHORT_WRITE = re.compile(r"(\d+) requested and (\d+) written")  # numpy's OSError for a short write (no errno)


def os_sentence(e: OSError) -> str:
    """An OSError as a sentence that says what to do; the errno decides, not the wording of the platform."""
    name = e.filename if e.filename is not None else e.filename2
    path = shown_path(name) if name is not None else "a file"
    code = e.errno
    if code in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
        return f"the disk is full (writing {path}); free some space and run the command again"
    short = SHORT_WRITE.search(" ".join(map(str, e.args))) if code is None else None
    if short:  # numpy's tofile: the write stopped early, which on a local disk means it is full or at a size limit
        return (f"writing {path} stopped after {int(short[2]):,} of {int(short[1]):,} values: the disk is full or a "
                f"file-size limit (`ulimit -f`) was reached; free some space and run the command again")
    if code == errno.EFBIG:
        return (f"{path} grew past the largest file allowed here (the file system's or the shell's `ulimit -f` "
                f"limit); raise the limit or write somewhere else")
    if code in (errno.ENOTDIR, errno.EEXIST) and name is not None:
        blocker = _in_the_way(Path(os.fsdecode(name)))
        if blocker is not None:
            return f"{shown_path(blocker)} is not a folder (it is a file), so nothing can go under it; choose another path"
        if code == errno.EEXIST:
            return f"{path} already exists; remove it or choose another path"
    if code == errno.EISDIR:
        return f"{path} is a folder; give a file name"
    if code in (errno.EACCES, errno.EPERM):
        return f"permission denied for {path}; choose a path you can write to"
    if code == errno.EROFS:
        return f"{path} is on a read-only file system; choose another path"
    if code == errno.ENOENT:
        return f"{path} does not exist"
    if code == errno.ENAMETOOLONG:
        return f"a path is too long: {path}"
    return f"{e.strerror or (str(e.args[0]) if e.args else type(e).__name__)} ({path})"


_MEMORY_HINT = {"train": "lower batch_size or the model width", "sample": "ask for fewer samples (-n)",
                "project": "project fewer images at a time",
                "eval": "ask for fewer samples (-n)", "pack": "pack fewer or smaller images (--size)"}


def _out_of_memory(e: BaseException, command: str) -> str:
    return f"out of memory; {_MEMORY_HINT.get(command, 'free some memory and run it again')}"


# exception type -> its sentence; the first isinstance match wins, so the specific come before the general
BOUNDARY: tuple[tuple[type[BaseException], Callable[[BaseException, str], str]], ...] = (
    (GanlabError, lambda e, cmd: _first_line(e)),
    (OSError, lambda e, cmd: os_sentence(e)),
    (MemoryError, _out_of_memory),
    (torch.OutOfMemoryError, _out_of_memory),
    (RecursionError, lambda e, cmd: "the input nests too deeply to read (a RecursionError); ganlab's configs and files are flat, "
                                        "so check what was given"),
    (UnicodeDecodeError, lambda e, cmd: f"a file is not UTF-8 text ({e.reason} at byte {e.start}); save it as UTF-8"),
    (Exception, lambda e, cmd: f"internal error: {type(e).__name__}: {_first_line(e)} (please report it, with "
                               f"the command you ran)"),
)


def error_sentence(e: BaseException, command: str = "") -> str:
    """The one line a person reads for any exception (without the 'ganlab: error: ' prefix)."""
    for kind, sentence in BOUNDARY:
        if isinstance(e, kind):
            line = " ".join(sentence(e, command).splitlines())  # one line, whatever the message held
            return line if len(line) <= MAX_LINE_CHARS else line[:MAX_LINE_CHARS - 1] + "…"
    raise e


def _record_failure(run: Optional[Run], sentence: str) -> None:
    """Mark the open run failed with the sentence, unless it already ended (the session records its own)."""
    if run is None:
        return
    try:
        status = run.status()
        if status.get("state") in ("created", "running") and status.get("owner") == OWNER:
            run.write_status("failed", int(status.get("step", 0)), error=sentence)
    except Exception:  # noqa: BLE001 - best effort: the disk may be what failed; a dead owner reads as interrupted
        pass


def main(argv: Optional[Sequence[str]] = None) -> int:
    _OPEN.run = None  # (past `ulimit -f`, a write fails with EFBIG rather than killing us: CPython ignores SIGXFSZ)
    command = ""
    try:
        a = build_parser().parse_args(argv)
        command = a.command
        if distributed.launched() and command != "train":
            raise UsageError(f"only train runs data-parallel under torchrun; run `python -m ganlab {command}` without torchrun")
        return COMMANDS[command](a)
    except KeyboardInterrupt:
        print("ganlab: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - the boundary: every error is one line and exit 2
        if isinstance(e, (UsageError, ConfigError)) and not distributed.env_rank0():
            return EXIT_USAGE  # torchrun: every rank read the same command line; rank 0 says what is wrong, once
        sentence = error_sentence(e, command)
        _record_failure(_OPEN.run, sentence)
        print(f"ganlab: error: {sentence}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        _OPEN.run = None
