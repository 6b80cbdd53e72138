"""Screen a recipe variant on one seed: train it once and score G at chosen steps, under several EMA decays.

    python -m bench.screen --dataset mnist --seed 0 --steps 6000 --evals 1000,2000,3000 [--emas 0.995,0.999]
                           [--set batch_size=128 ...] [--g-widths 128,32] [--d-widths 128,32]
                           [--layout upconv|extra7] [--out rows.jsonl]

A screen is the cheap first look that comes before a study (bench.quality: every seed and thread count). It uses
the dataset's recipe (ganlab.config.recipes) under the `--set` fields, as `ganlab train` would, and the same
in-training evaluation as `eval_every` (ganlab.evaluation.evaluate_trainer: latent seeds 30,000 on). An EMA of G
never feeds training, so one run can score several decays side by side: the extra EMAs are kept here beside the
trainer's own and swapped in for each evaluation. `--g-widths`/`--d-widths` replace the DCGAN's channel ladder
(coarse to fine, e.g. 128,32: 128 channels at 7x7 and 32 at 14x14 on 28x28 images) for a capacity screen; no
config field says so, so such a run is a screen only. `--layout` rebuilds the DCGAN's layers the same way, a
screen only too (LAYOUTS says what each does). The training seconds exclude the evaluations; they are this
process's alone only when nothing else shares the CPU. Threads: $GANLAB_THREADS, else ganlab's default.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import sys
import time
from collections.abc import Iterator
from typing import Any, Optional

import torch
import torch.nn as nn

import ganlab.models.dcgan as dcgan
from ganlab.config import parse_set
from ganlab.config.recipes import apply_recipe
from ganlab.config.validate import validate_config
from ganlab.data import dataset_spec
from ganlab.errors import GanlabError
from ganlab.evaluation.evaluate import evaluate_trainer, scalar_metrics
from ganlab.training import Trainer
from ganlab.training.params import copy_, lerp_


def _ints(text: str) -> list[int]:
    return [int(t) for t in text.split(",") if t.strip()]


@contextlib.contextmanager
def widths(g: Optional[list[int]], d: Optional[list[int]]) -> Iterator[None]:
    """Build DCGAN nets with these channel ladders (coarse to fine) instead of the base_channels doubling one."""
    originals = {cls: cls.__init__ for cls in (dcgan.DCGANGenerator, dcgan.DCGANDiscriminator)}

    def wrap(cls, ladder):
        init = originals[cls]

        def patched(self, *a, **k):
            ladder_of = dcgan._widths
            dcgan._widths = lambda base, k_: list(ladder)  # noqa: ARG005 - the screen's ladder, whatever the base
            try:
                init(self, *a, **k)
            finally:
                dcgan._widths = ladder_of
        cls.__init__ = patched

    try:
        if g:
            wrap(dcgan.DCGANGenerator, g)
        if d:
            wrap(dcgan.DCGANDiscriminator, d)
        yield
    finally:
        for cls, init in originals.items():
            cls.__init__ = init


def _upconv(layers: list[nn.Module]) -> list[nn.Module]:
    """G: every 2x ConvTranspose 4x4 becomes a nearest 2x upsample and a 3x3 conv (Odena et al. 2016, against
    checkerboard artefacts)."""
    out: list[nn.Module] = []
    for m in layers:
        if isinstance(m, nn.ConvTranspose2d) and m.stride == (2, 2):
            out += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(m.in_channels, m.out_channels, 3, 1, 1,
                                                                           bias=False)]
        else:
            out.append(m)
    return out


def _g_extra_coarse(layers: list[nn.Module]) -> list[nn.Module]:
    """G: the layer `coarse_layers=1` adds (ganlab.models.dcgan._coarse), after the first block, built after the
    rest: how the seventeenth session's screen drew its weights (the field builds it in place)."""
    return layers[:3] + dcgan._coarse(layers[0].out_channels, 1, True, lambda: nn.ReLU(True)) + layers[3:]


def _d_extra_coarse(layers: list[nn.Module]) -> list[nn.Module]:
    """D: the layer `coarse_layers=1` adds without batch norm (the recipe's R1 D), before the head."""
    return layers[:-1] + dcgan._coarse(layers[-1].in_channels, 1, False, lambda: nn.LeakyReLU(0.2, True)) + layers[-1:]


def _same(layers: list[nn.Module]) -> list[nn.Module]:
    return layers


# name -> (G's layers -> G's layers, D's layers -> D's layers), each applied to the built nn.Sequential
LAYOUTS = {
    "upconv": (_upconv, _same),
    "extra7": (_g_extra_coarse, _d_extra_coarse),
}


@contextlib.contextmanager
def layout(name: str) -> Iterator[None]:
    """Build DCGAN nets rebuilt by LAYOUTS[name] (re-initialised as the DCGAN's are); "" changes nothing."""
    if not name:
        yield
        return
    originals = {cls: cls.__init__ for cls in (dcgan.DCGANGenerator, dcgan.DCGANDiscriminator)}

    def wrap(cls, rebuild):
        init = originals[cls]

        def patched(self, *a, **k):
            init(self, *a, **k)
            self.net = nn.Sequential(*rebuild(list(self.net)))
            dcgan.dcgan_init(self)
        cls.__init__ = patched

    g_rebuild, d_rebuild = LAYOUTS[name]
    try:
        wrap(dcgan.DCGANGenerator, g_rebuild)
        wrap(dcgan.DCGANDiscriminator, d_rebuild)
        yield
    finally:
        for cls, init in originals.items():
            cls.__init__ = init


def screen(dataset: str, seed: int, steps: int, evals: list[int], emas: list[float], fields: dict[str, Any],
           g_widths: Optional[list[int]] = None, d_widths: Optional[list[int]] = None,
           layout_name: str = "") -> Iterator[dict[str, Any]]:
    """Train the recipe under `fields` and yield one row per (evaluation step, EMA decay)."""
    cfg = apply_recipe({"dataset": dataset, "seed": seed, "steps": steps, "device": "cpu", **fields},
                       dataset_spec(dataset))
    with widths(g_widths, d_widths), layout(layout_name):
        trainer = Trainer(cfg)
    own = trainer.G_ema  # None when ema=0: the extra decays then start from G's initial weights, as its own would
    start = own if own is not None else copy.deepcopy(trainer.G).eval().requires_grad_(False)
    extra = {e: copy.deepcopy(start) for e in emas if e != cfg.ema}
    g_params, g_buffers = list(trainer.G.parameters()), list(trainer.G.buffers())
    kept = {e: (list(m.parameters()), list(m.buffers())) for e, m in extra.items()}
    trained = 0.0
    for step in range(1, steps + 1):
        t = time.perf_counter()
        trainer.train_step()
        with torch.no_grad():
            for decay, (params, buffers) in kept.items():  # Trainer._update_ema's update, for each extra decay
                lerp_(params, g_params, 1.0 - decay)
                copy_(buffers, g_buffers)
        trained += time.perf_counter() - t
        if step not in evals:
            continue
        for decay in emas:
            trainer.G_ema = own if decay == cfg.ema else extra[decay]
            m = evaluate_trainer(trainer)
            yield {"step": step, "ema": decay, "train_s": round(trained, 1),
                   **{k.removeprefix("Metric/"): round(v, 4) for k, v in scalar_metrics(m).items()}}
        trainer.G_ema = own


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.screen", description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="mnist")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--evals", required=True, help="comma list of steps to score G at")
    p.add_argument("--emas", default="", help="comma list of EMA decays to score (default: the config's)")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="a config field (repeatable)")
    p.add_argument("--g-widths", default="", help="G's channel ladder, coarse to fine (DCGAN; a screen only)")
    p.add_argument("--d-widths", default="", help="D's channel ladder, coarse to fine (DCGAN; a screen only)")
    p.add_argument("--layout", default="", choices=["", *LAYOUTS], help="rebuild the DCGAN's layers (a screen only)")
    p.add_argument("--out", default="", help="also append the rows to this JSON-lines file")
    a = p.parse_args(argv)
    try:
        fields = parse_set(a.set)
        evals, emas = sorted(set(_ints(a.evals))), [float(e) for e in a.emas.split(",") if e.strip()]
        g_widths, d_widths = _ints(a.g_widths), _ints(a.d_widths)
        cfg = apply_recipe({"dataset": a.dataset, **fields}, dataset_spec(a.dataset))
        validate_config(cfg)
    except (GanlabError, ValueError) as e:
        p.error(str(e))
    if not evals or evals[0] < 1 or evals[-1] > a.steps:
        p.error(f"--evals must be steps between 1 and --steps ({a.steps})")
    if any(not 0 < e < 1 for e in emas):
        p.error("--emas must be decays between 0 and 1")
    if not (emas or cfg.ema):
        p.error("the config keeps no EMA of G (ema=0): give --emas, or --set ema=DECAY")
    emas = emas or [cfg.ema]
    out = open(a.out, "a") if a.out else None
    try:
        for row in screen(a.dataset, a.seed, a.steps, evals, emas, fields, g_widths, d_widths, a.layout):
            line = json.dumps(row)
            print(line, flush=True)
            if out:
                out.write(line + "\n")
                out.flush()
    finally:
        if out:
            out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
