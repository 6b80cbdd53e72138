"""bench.screen: one training run scored at chosen steps under several EMA decays; the config's own decay scores
as the trainer's EMA does, the others differ; DCGAN ladders swap in and out; bad flags are one line and exit 2."""

import json

import pytest
import torch

from bench import screen
from ganlab.config.recipes import apply_recipe
from ganlab.data import dataset_spec
from ganlab.evaluation.evaluate import evaluate_trainer
from ganlab.models.dcgan import DCGANDiscriminator, DCGANGenerator
from ganlab.training import Trainer


def test_rows_per_step_and_decay_and_the_configs_own_decay_is_the_trainers_ema(capsys, tmp_path):
    out = tmp_path / "rows.jsonl"
    assert screen.main(["--dataset", "moons", "--steps", "12", "--evals", "6,12", "--emas", "0.5,0.99",
                        "--set", "batch_size=64", "--set", "ema=0.99", "--out", str(out)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows == [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["step"], r["ema"]) for r in rows] == [(6, 0.5), (6, 0.99), (12, 0.5), (12, 0.99)]
    assert all("sliced_wasserstein" in r and "energy_distance" in r for r in rows)
    assert rows[2]["sliced_wasserstein"] != rows[3]["sliced_wasserstein"]  # the decays keep different Gs

    # the same config trained plainly: its EMA at step 12 scores what the screen's 0.99 row says
    cfg = apply_recipe({"dataset": "moons", "steps": 12, "device": "cpu", "seed": 0, "batch_size": 64, "ema": 0.99},
                       dataset_spec("moons"))
    trainer = Trainer(cfg)
    for _ in range(12):
        trainer.train_step()
    plain = evaluate_trainer(trainer)
    assert rows[3]["sliced_wasserstein"] == round(float(plain["sliced_wasserstein"]), 4)
    assert rows[3]["energy_distance"] == round(float(plain["energy_distance"]), 4)


def test_a_ladder_replaces_the_dcgan_widths_only_inside_the_block():
    with screen.widths([128, 32], [96, 16]):
        g = DCGANGenerator(100, 1, 28, 32, torch.nn.Tanh())
        d = DCGANDiscriminator(1, 28, 32, batch_norm=False)
    assert g.net[0].out_channels == 128 and g.net[3].out_channels == 32
    assert d.net[0].out_channels == 16 and d.net[2].out_channels == 96
    plain = DCGANGenerator(100, 1, 28, 32, torch.nn.Tanh())
    assert plain.net[0].out_channels == 64


def test_a_layout_rebuilds_the_dcgan_only_inside_the_block_and_the_nets_still_make_and_read_images():
    with screen.layout("upconv"):
        g = DCGANGenerator(100, 1, 28, 32, torch.nn.Tanh())
        d = DCGANDiscriminator(1, 28, 32, batch_norm=False)
    kinds = [type(m).__name__ for m in g.net]
    assert kinds.count("Upsample") == 2 and kinds.count("ConvTranspose2d") == 1  # only the 1x1 -> 7x7 one stays
    assert len(d.net) == len(DCGANDiscriminator(1, 28, 32, batch_norm=False).net)  # D as it was
    x = g(torch.randn(3, 100))
    assert x.shape == (3, 1, 28, 28) and d(x).shape == (3,)

    with screen.layout("extra7"):
        g7 = DCGANGenerator(100, 1, 28, 32, torch.nn.Tanh())
        d7 = DCGANDiscriminator(1, 28, 32, batch_norm=False)
    assert isinstance(g7.net[3], torch.nn.Conv2d) and g7.net[3].kernel_size == (3, 3) and g7.net[3].in_channels == 64
    assert isinstance(d7.net[-3], torch.nn.Conv2d) and d7.net[-3].kernel_size == (3, 3)
    assert d7(g7(torch.randn(2, 100))).shape == (2,)
    assert not any(isinstance(m, torch.nn.Upsample) for m in DCGANGenerator(100, 1, 28, 32, torch.nn.Tanh()).net)


@pytest.mark.parametrize("argv, says", [
    (["--steps", "4", "--evals", "9"], "--evals must be steps between 1 and --steps"),
    (["--steps", "4", "--evals", "2", "--emas", "1.5"], "--emas must be decays between 0 and 1"),
    (["--steps", "4", "--evals", "2", "--set", "batch_size=many"], "batch_size"),
    (["--steps", "4", "--evals", "2", "--set", "ema=0"], "no EMA of G"),
    (["--steps", "4", "--evals", "2", "--layout", "wide"], "invalid choice: 'wide'"),
])
def test_bad_flags_are_one_line_and_exit_2(capsys, argv, says):
    with pytest.raises(SystemExit) as e:
        screen.main(["--dataset", "ring:5", *argv])
    assert e.value.code == 2 and says in capsys.readouterr().err
