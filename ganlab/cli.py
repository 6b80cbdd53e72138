"""`python -m ganlab train|sample|eval|runs|pack`: bad input is one line on stderr and exit 2."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional

import numpy as np

from .config import RunConfig, parse_set
from .config.presets import PRESETS, preset_config
from .data import DATASETS, load_dataset
from .data.pack import PackOptions, pack, pack_arrays
from .errors import ConfigError, GanlabError, UsageError
from .evaluation.evaluate import evaluate_run, generate_from_run
from .evaluation.metrics import to_json
from .paths import data_root, runs_dir
from .session import RunSession
from .store import Run, RunError, list_runs

EXIT_USAGE = 2


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse prints usage + exits; we want one line
        raise UsageError(message)


def build_parser() -> Parser:
    p = Parser(prog="python -m ganlab", description="Train, sample and evaluate GANs; the dashboard is `make run`.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)

    t = sub.add_parser("train", help="train a GAN headless; writes a run directory")
    t.add_argument("--dataset")
    t.add_argument("--arch")
    t.add_argument("--loss")
    t.add_argument("--steps", type=int)
    t.add_argument("--batch-size", type=int)
    t.add_argument("--seed", type=int)
    t.add_argument("--device")
    t.add_argument("--preset", help="start from a named preset (see `ganlab presets`)")
    t.add_argument("--config", help="a JSON file of RunConfig fields")
    t.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="any RunConfig field (repeatable)")
    t.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its last checkpoint")
    t.add_argument("--lr-scale", type=float,
                   help="with --resume: multiply the checkpoint's learning rates (e.g. 0.5 after a divergence)")
    t.add_argument("--runs-dir", help="where run directories go (default $GANLAB_RUNS or ./runs)")
    t.add_argument("--data-root", help="where dataset files are (default $GANLAB_DATA or ~/.cache/ganlab/data)")
    t.add_argument("--download", action="store_true", help="allow torchvision to download mnist/fashion-mnist/cifar10")
    t.add_argument("--quiet", action="store_true", help="no progress bar")

    s = sub.add_parser("sample", help="generate samples from a run's last checkpoint as .npy")
    s.add_argument("run_dir")
    s.add_argument("-n", type=int, default=64)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", required=True)
    s.add_argument("--label", type=int, help="class for a conditional run (default: cycle through classes)")
    s.add_argument("--sampler", default="raw", help="raw (G alone) or drs (D's logit filters G's samples)")

    e = sub.add_parser("eval", help="quality metrics of a run's generator")
    e.add_argument("run_dir")
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.add_argument("-n", type=int, default=None, help="samples to draw (default 2500 for points, 2000 for images)")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--data-root")
    e.add_argument("--sampler", default="raw", help="raw (G alone) or drs (D's logit filters G's samples)")

    r = sub.add_parser("runs", help="list runs: id, dataset, arch, loss, state, step")
    r.add_argument("--runs-dir")

    sub.add_parser("presets", help="list the named presets")

    k = sub.add_parser("pack", help="pack a folder/zip/tar of images into an HDF5 dataset")
    k.add_argument("src")
    k.add_argument("out")
    k.add_argument("--size", type=int, default=64)
    k.add_argument("--channels", type=int, choices=(1, 3), default=3)
    k.add_argument("--crop", choices=("center", "none"), default="center")
    k.add_argument("--labels", choices=("none", "from-folders"), default="none")
    k.add_argument("--builtin", action="store_true", help="SRC names a built-in image dataset (digits, mnist, ...)")
    k.add_argument("--data-root")
    return p


# ------------------------------------------------------------------ train
def _train_config(a: argparse.Namespace):
    base: dict[str, Any] = {}
    if a.preset:
        base = preset_config(a.preset).to_dict()
    if a.config:
        try:
            text = Path(a.config).read_text()
        except OSError as e:
            raise UsageError(f"cannot read --config {a.config}: {e.strerror}") from None
        loaded = json.loads(text) if text.strip() else {}
        if not isinstance(loaded, dict):
            raise ConfigError("--config must hold a JSON object of field: value pairs")
        base.update(loaded)
    flags = {"dataset": a.dataset, "arch": a.arch, "loss": a.loss, "steps": a.steps, "batch_size": a.batch_size,
             "seed": a.seed, "device": a.device}
    base.update({k: v for k, v in flags.items() if v is not None})
    base.update(parse_set(a.set))
    return RunConfig.from_dict(base)


def cmd_train(a: argparse.Namespace) -> int:
    if a.lr_scale is not None and not a.resume:
        raise UsageError("--lr-scale goes with --resume")
    if a.resume:
        session = RunSession.reopen(a.resume, steps=a.steps, lr_scale=a.lr_scale, data_root=data_root(a.data_root),
                                    download=a.download)
        session.build()  # data errors and a bad checkpoint: exit 2 before anything trains
    else:
        session = RunSession.new(_train_config(a), runs_dir(a.runs_dir), data_root=data_root(a.data_root),
                                 download=a.download, build_first=True)  # data errors before a run exists
    run, cfg = session.run, session.cfg
    stop = {"flag": False}
    signal.signal(signal.SIGINT, lambda *_: stop.__setitem__("flag", True))
    signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__("flag", True))
    bar = _progress(cfg.steps, a.quiet)
    last: dict[str, Any] = {}

    def on_tick(rec: dict, tr) -> None:
        last.update(rec)
        if bar is not None:
            bar.n = rec["step"]
            losses = {"D": rec.get("Loss/D", float("nan")), "G": rec.get("Loss/G", float("nan"))}
            bar.set_postfix({k: f"{v:.3f}" for k, v in losses.items()}, refresh=True)

    t0, step0 = time.perf_counter(), session.resumed_from
    try:
        out = session.run_training(should_stop=lambda: stop["flag"], on_tick=on_tick)
    finally:
        if bar is not None:
            bar.close()
    if out.state == "paused":  # diverged
        print(f"ganlab: {out.error}; run: {run.path}", file=sys.stderr)
        return 1
    if out.state == "failed":
        print(f"ganlab: error: the run failed: {out.error}; run: {run.path}", file=sys.stderr)
        return 1
    dt = time.perf_counter() - t0
    print(f"{run.id} {out.state}: step {out.step}/{cfg.steps} in {dt:.1f} s ({(out.step - step0) / max(dt, 1e-9):.0f} steps/s), "
          f"Loss/D {last.get('Loss/D', float('nan')):.4f}, Loss/G {last.get('Loss/G', float('nan')):.4f} -> {run.path}")
    return 0 if out.state == "finished" else 130


def _progress(total: int, quiet: bool):
    if quiet or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="step", dynamic_ncols=True, file=sys.stderr)


# ------------------------------------------------------------------ sample / eval / runs
def cmd_sample(a: argparse.Namespace) -> int:
    if a.n < 1 or a.n > 1_000_000:
        raise UsageError("-n must be between 1 and 1000000")
    x = generate_from_run(Run.open(a.run_dir), a.n, seed=a.seed, label=a.label, sampler=a.sampler)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.save(out, x)
    print(f"wrote {out} {x.dtype} {tuple(x.shape)}")
    return 0


def cmd_eval(a: argparse.Namespace) -> int:
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
            print(f"{run.id}\t{c.dataset}\t{c.arch}\t{c.loss}\t{st.get('state')}\t{st.get('step', 0)}/{c.steps}")
        except RunError as e:
            print(f"{run.id}\t(unreadable: {e})")
    return 0


def cmd_presets(a: argparse.Namespace) -> int:
    for entry in PRESETS:
        print(f"{entry.name:16} {entry.description}")
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


def pack_builtin(name: str, out: str, data_root=None):
    """Pack a built-in image dataset (digits, mnist, ...) so every image dataset looks alike."""
    if name not in DATASETS or DATASETS.get(name).spec.kind != "images":
        images = [e.name for e in DATASETS if e.obj.spec.kind == "images"]
        raise UsageError(f"--builtin takes an image dataset: {', '.join(images)}")
    ds = load_dataset(name, "cpu", root=data_root)
    y = None if ds.y is None else ds.y.numpy()
    return pack_arrays(ds.x.numpy(), y, list(ds.spec.class_names), out, source=f"ganlab:{name}")


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
            report = pack_builtin(a.src, a.out, data_root=a.data_root)
        else:
            opts = PackOptions(size=a.size, channels=a.channels, crop=a.crop, labels=a.labels)
            opts.validate()
            report = pack(a.src, a.out, opts, progress=progress)
    finally:
        if bar is not None:
            bar.close()
    print(_pack_summary(report))
    return 0


COMMANDS = {"train": cmd_train, "sample": cmd_sample, "eval": cmd_eval, "runs": cmd_runs,
            "presets": cmd_presets, "pack": cmd_pack}


def main(argv: Optional[Sequence[str]] = None) -> int:
    try:
        a = build_parser().parse_args(argv)
        return COMMANDS[a.command](a)
    except (GanlabError, json.JSONDecodeError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        if isinstance(e, json.JSONDecodeError):
            msg = f"--config is not valid JSON: {e.msg} at line {e.lineno}"
        print(f"ganlab: error: {msg}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("ganlab: interrupted", file=sys.stderr)
        return 130
