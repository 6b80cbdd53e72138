"""Trainer steps under torchrun, for tests/test_ddp.py: `torchrun ... tests/helpers/ddp_steps.py CONFIGS.json OUT.json`.

For each config of CONFIGS.json (a list of RunConfig dicts) every rank builds a Trainer, joins DDP, takes
cfg.steps iterations and collects a record every cfg.log_every; rank 0 writes the records and G's and D's final
weights (as lists) to OUT.json. `steps(cfg)` gives the same for one process, so the test compares them.
"""

from __future__ import annotations

import json
import sys

import torch

from ganlab.config import RunConfig
from ganlab.training import Trainer, distributed


def steps(cfg: RunConfig) -> dict:
    trainer = Trainer(cfg)
    distributed.attach(trainer)
    records = []
    while trainer.step < cfg.steps:
        trainer.train_step(measure=(trainer.step + 1) % cfg.log_every == 0)
        if trainer.step % cfg.log_every == 0:
            records.append(trainer.collect())
    weights = {name: torch.cat([p.detach().flatten() for p in net.parameters()]).tolist()
               for name, net in (("G", trainer.G), ("D", trainer.D))}
    return {"records": records, "weights": weights}


def main() -> None:
    configs, out = json.loads(open(sys.argv[1]).read()), sys.argv[2]
    distributed.init()
    try:
        results = [steps(RunConfig.from_dict(c)) for c in configs]
        if distributed.is_rank0():
            with open(out, "w") as f:
                json.dump(results, f)
    finally:
        distributed.destroy()


if __name__ == "__main__":
    main()
