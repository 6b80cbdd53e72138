"""Every valid dataset x architecture x loss trains; runs are reproducible and resume exactly."""

import gzip
import itertools
import struct

import numpy as np
import pytest
import torch

from ganlab.config import ConfigError, RunConfig
from ganlab.config.validate import validate_config
from ganlab.data import DATASETS, DataError, load_dataset
from ganlab.game.losses import LOSSES
from ganlab.models import ARCHS
from ganlab.session import RunSession
from ganlab.store import Run
from ganlab.training import Trainer, train

TINY = dict(steps=3, batch_size=8, g_hidden=(16,), d_hidden=(16,), base_channels=8, latent_dim=4,
            log_every=1, num_fixed=10, device="cpu")
OFFLINE = [e.name for e in DATASETS if e.obj.offline]


def _combo_list():
    for ds, arch, loss, cond in itertools.product(OFFLINE, ARCHS.names(), LOSSES.names(), (False, True)):
        yield pytest.param(ds, arch, loss, cond, id=f"{ds}-{arch}-{loss}{'-cond' if cond else ''}")


_combos = list(_combo_list())


@pytest.mark.parametrize("dataset,arch,loss,conditional", _combos)
def test_every_combination_trains_or_is_refused_with_a_reason(dataset, arch, loss, conditional):
    """A valid combination runs 3 iterations with finite losses; an invalid one says why."""
    cfg = RunConfig(dataset=dataset, arch=arch, loss=loss, conditional=conditional, **TINY)
    try:
        validate_config(cfg)
    except ConfigError as e:
        assert str(e).split(":")[0] in {"arch", "conditional", "spectral_norm", "batch_size"}
        assert len(str(e)) > 30  # a sentence, not a code
        return
    tr = Trainer(cfg)
    for _ in range(cfg.steps):
        tr.train_step(measure=True)
    rec = tr.collect()
    assert np.isfinite([rec["Loss/D"], rec["Loss/G"]]).all()
    assert tr.fixed_samples().shape[1:] == tr.spec.shape


def test_spectral_norm_r1_and_ema_train():
    cfg = RunConfig(dataset="digits", arch="dcgan", spectral_norm=True, r1_weight=1.0, ema=0.9, **TINY)
    tr = Trainer(validate_config(cfg) or cfg)
    for _ in range(3):
        tr.train_step(measure=True)
    rec = tr.collect()
    assert "Penalty/R1" in rec and np.isfinite(rec["Loss/D"])


def _records(run: Run) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in ("time", "Speed/steps_per_s")} for r in run.history()]


def test_same_config_and_seed_give_bit_identical_losses(tmp_path):
    cfg = RunConfig(steps=60, log_every=20, batch_size=32, seed=3)
    runs = [Run.create(tmp_path, cfg) for _ in range(2)]
    for run in runs:
        train(cfg, run)
    assert _records(runs[0]) == _records(runs[1])
    assert len(_records(runs[0])) == 3


def test_resume_matches_the_uninterrupted_run_exactly(tmp_path):
    """Stop at a checkpoint, resume in a new Trainer: every later record is the same."""
    cfg = RunConfig(dataset="digits", arch="dcgan", base_channels=8, latent_dim=8, steps=60, log_every=10,
                    checkpoint_every=20, batch_size=16, seed=1)
    straight = Run.create(tmp_path, cfg)
    train(cfg, straight)
    broken = Run.create(tmp_path, cfg)
    holder = {}
    state = train(cfg, broken, should_stop=lambda: holder["t"].step == 40, trainer=holder.setdefault("t", Trainer(cfg)))
    assert state == "stopped" and broken.last_checkpoint_step() == 40
    assert RunSession.reopen(broken.path).run_training().state == "finished"
    assert _records(broken) == _records(straight)
    s1, x1 = straight.read_samples()
    s2, x2 = broken.read_samples()
    assert np.array_equal(s1, s2) and np.array_equal(x1, x2)


def test_run_directory_contract(tmp_path):
    cfg = RunConfig(steps=40, log_every=10, snapshot_every=20, checkpoint_every=20, keep_checkpoints=1)
    run = Run.create(tmp_path, cfg)
    assert run.id == "00000-ring8-mlp-bce" and run.status()["state"] == "created"
    train(cfg, run)
    assert run.config() == cfg
    assert run.status()["state"] == "finished" and run.status()["step"] == 40
    assert [r["step"] for r in run.history()] == [10, 20, 30, 40]
    steps, samples = run.read_samples()
    assert steps.tolist() == [20, 40] and samples.shape == (2, cfg.num_fixed, 2)
    assert [p.name for p in run.checkpoints()] == ["ckpt-000000040.pt"]
    assert Run.create(tmp_path, cfg).id == "00001-ring8-mlp-bce"


def _write_idx(path, arr: np.ndarray) -> None:
    dims = arr.shape
    header = struct.pack(">HBB", 0, 8, len(dims)) + b"".join(struct.pack(">I", d) for d in dims)
    with gzip.open(str(path) + ".gz", "wb") as f:
        f.write(header + arr.astype(np.uint8).tobytes())


def test_mnist_loads_from_a_local_root_with_gz_files(tmp_path):
    """The real torchvision loading path, on a tiny IDX file set we write (the .gz form is accepted)."""
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.RandomState(0)
    for split, n in (("train", 20), ("t10k", 5)):
        _write_idx(raw / f"{split}-images-idx3-ubyte", rng.randint(0, 256, (n, 28, 28)))
        _write_idx(raw / f"{split}-labels-idx1-ubyte", rng.randint(0, 10, (n,)))
    ds = load_dataset("mnist", "cpu", root=tmp_path)
    assert len(ds) == 20 and ds.spec.shape == (1, 28, 28)
    x, y = ds.batch(4, torch.Generator().manual_seed(0))
    assert x.shape == (4, 1, 28, 28) and x.min() >= -1 and x.max() <= 1 and y.dtype == torch.int64
    cfg = RunConfig(dataset="mnist", arch="dcgan", conditional=True, **TINY)
    tr = Trainer(cfg, data_root=tmp_path)
    tr.train_step(measure=True)
    assert np.isfinite(tr.collect()["Loss/D"])


@pytest.mark.parametrize("name,files", [("mnist", "train-images-idx3-ubyte"), ("fashion-mnist", "FashionMNIST"),
                                        ("cifar10", "data_batch_1")])
def test_missing_dataset_files_say_what_to_put_where(tmp_path, name, files):
    with pytest.raises(DataError, match=files):
        load_dataset(name, "cpu", root=tmp_path)
