"""Every preset validates, trains a few steps through the CLI, and is listed by `ganlab presets`."""

import json

import pytest

from ganlab.cli import main
from ganlab.config import ConfigError, RunConfig
from ganlab.config.presets import PRESETS, preset_config
from ganlab.config.validate import validate_config
from ganlab.data import DATASETS

NAMES = PRESETS.names()
NEEDS_FILES = {"mnist", "fashion-mnist", "cifar10"}  # torchvision data: not on an offline CI box
SMALL = ["--set", "steps=5", "--set", "log_every=5", "--set", "snapshot_every=5", "--set", "checkpoint_every=5",
         "--set", "num_fixed=8", "--quiet"]


def test_the_required_presets_exist():
    required = {"ring8", "grid25", "digits", "d2l-gaussian", "pattern1010", "myogan-mnist", "mlp-mnist", "dcgan",
                "cgan", "wgan", "wgan-gp", "lsgan", "sngan", "ebgan", "ls-gan", "original-gan"}
    assert required <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_preset_validates(name):
    """Validation reads no data files, so the MNIST presets validate offline too."""
    p = PRESETS.get(name)
    cfg = RunConfig.from_dict(p.values)
    validate_config(cfg)
    assert cfg == preset_config(name)
    assert p.source and PRESETS.describe(name)
    assert cfg.dataset in DATASETS.names()


def test_unknown_preset_is_a_config_error_naming_the_choices():
    with pytest.raises(ConfigError, match="unknown preset 'nope'.*ring8"):
        preset_config("nope")


@pytest.mark.parametrize("name", [n for n in NAMES if PRESETS.get(n).values.get("dataset") not in NEEDS_FILES])
def test_train_preset_runs_through_the_cli(name, tmp_path, capsys):
    runs = tmp_path / "runs"
    assert main(["train", "--preset", name, "--runs-dir", str(runs), *SMALL]) == 0
    (run_dir,) = runs.iterdir()
    cfg = json.loads((run_dir / "config.json").read_text())
    assert cfg["steps"] == 5
    expected = {**preset_config(name).to_dict(), "steps": 5, "log_every": 5, "snapshot_every": 5,
                "checkpoint_every": 5, "num_fixed": 8}
    assert cfg == expected, "the preset's values reach the run unchanged, except what --set overrides"
    assert json.loads((run_dir / "status.json").read_text())["state"] == "finished"


def test_mnist_presets_fail_cleanly_without_files(tmp_path, capsys):
    """No MNIST files offline: one line and exit 2, no traceback, no half-made run."""
    name = next(n for n in NAMES if PRESETS.get(n).values.get("dataset") == "mnist")
    runs = tmp_path / "runs"
    rc = main(["train", "--preset", name, "--runs-dir", str(runs), "--data-root", str(tmp_path / "none"), *SMALL])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("ganlab: error:") and len(err.strip().splitlines()) == 1
    assert not runs.exists() or not any(runs.iterdir())


def test_presets_command_lists_every_preset(capsys):
    assert main(["presets"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [ln.split()[0] for ln in lines] == NAMES
