"""The CLI contract: train/sample/eval/runs work; any bad input is one line on stderr and exit 2."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ganlab.cli import main
from ganlab.config.recipes_points import POINTS

ROOT = Path(__file__).resolve().parents[1]
FAST = ["--set", "log_every=10", "--set", "g_hidden=32", "--set", "d_hidden=32", "--quiet"]


def _cli(*args, check_rc=None):
    """Run `python -m ganlab` in a real subprocess: the test sees exactly what a person sees."""
    p = subprocess.run([sys.executable, "-m", "ganlab", *args], cwd=ROOT, capture_output=True, text=True, timeout=300)
    if check_rc is not None:
        assert p.returncode == check_rc, p.stderr
    return p


RING8_RUN = f"00000-ring8-mlp-{POINTS['loss']}"  # `train --dataset ring8` trains the point recipe


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    p = _cli("train", "--dataset", "ring8", "--steps", "40", "--runs-dir", str(runs), "--seed", "0", *FAST, check_rc=0)
    run_dir = runs / RING8_RUN
    assert f"{RING8_RUN} finished: step 40/40" in p.stdout
    return run_dir


def test_train_writes_the_run_directory(trained):
    assert {"config.json", "status.json", "stats.jsonl", "samples.h5", "checkpoints"} <= {p.name for p in trained.iterdir()}
    assert json.loads((trained / "status.json").read_text())["state"] == "finished"


def test_sample_writes_points_of_the_right_shape(trained, tmp_path):
    out = tmp_path / "s.npy"
    _cli("sample", str(trained), "-n", "17", "--seed", "5", "--out", str(out), check_rc=0)
    x = np.load(out)
    assert x.shape == (17, 2) and x.dtype == np.float32
    again = tmp_path / "t.npy"
    _cli("sample", str(trained), "-n", "17", "--seed", "5", "--out", str(again), check_rc=0)
    assert np.array_equal(x, np.load(again)), "a seed is a latent's identity"


def test_eval_prints_one_json_object(trained):
    p = _cli("eval", str(trained), "--json", "-n", "500", check_rc=0)
    m = json.loads(p.stdout)
    assert m["modes_total"] == 8 and 0 <= m["high_quality_rate"] <= 1 and m["n"] == 500


def test_runs_lists_one_line_per_run(trained):
    p = _cli("runs", "--runs-dir", str(trained.parent), check_rc=0)
    assert p.stdout.split("\t")[:6] == [RING8_RUN, "ring8", "mlp", POINTS["loss"], "finished", "40/40\n"]


def test_images_sample_in_unit_range_and_conditional_label(tmp_path):
    _cli("train", "--dataset", "digits", "--arch", "dcgan", "--steps", "4", "--batch-size", "8", "--runs-dir",
         str(tmp_path), "--set", "conditional=true", "--set", "base_channels=8", "--quiet", check_rc=0)
    (run,) = tmp_path.glob("00000-digits-dcgan-bce*")  # the run's name may add what sets it apart (-cond)
    out = tmp_path / "x.npy"
    _cli("sample", str(run), "-n", "6", "--label", "3", "--out", str(out), check_rc=0)
    x = np.load(out)
    assert x.shape == (6, 1, 8, 8) and 0 <= x.min() and x.max() <= 1
    p = _cli("sample", str(run), "-n", "6", "--label", "12", "--out", str(out), check_rc=2)
    assert "between 0 and 9" in p.stderr


def test_config_file_and_set_and_resume(tmp_path):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"dataset": "gaussian2d", "arch": "linear", "steps": 20, "checkpoint_every": 10}))
    _cli("train", "--config", str(cfg), "--set", "latent_dim=2", "--runs-dir", str(tmp_path), "--quiet", check_rc=0)
    run = tmp_path / "00000-gaussian2d-linear-bce"
    assert json.loads((run / "config.json").read_text())["latent_dim"] == 2
    p = _cli("train", "--resume", str(run), "--steps", "30", "--lr-scale", "0.5", "--quiet", check_rc=0)
    assert "step 30/30" in p.stdout
    last = json.loads((run / "stats.jsonl").read_text().splitlines()[-1])
    assert last["LR/D"] == pytest.approx(0.0005) and last["step"] == 30


@pytest.mark.parametrize("args,message", [
    (["train", "--bogus"], "unrecognized arguments: --bogus"),
    (["train", "--dataset", "ring8", "--arch", "dcgan"], "arch: the dcgan architecture works on images"),
    (["train", "--set", "lr_d=fast"], "lr_d: expected a number, got 'fast'"),
    (["train", "--set", "nonsense=1"], "unknown config field 'nonsense'"),
    (["train", "--steps", "-5"], "steps: -5 is out of range"),
    (["train", "--preset", "nope"], "unknown preset 'nope'"),
    (["train", "--lr-scale", "0.5"], "--lr-scale goes with --resume"),
    (["train", "--config", "/nonexistent.json"], "cannot read --config"),
    (["train", "--dataset", "mnist"], "put train-images-idx3-ubyte"),  # says which files go where
    (["train", "--resume", "/nonexistent"], "is not a ganlab run"),
    (["sample", "/nonexistent", "--out", "x.npy"], "is not a ganlab run"),
    (["eval", "/tmp"], "is not a ganlab run"),
    ([], "the following arguments are required: command"),
])
def test_bad_input_is_one_line_and_exit_2(args, message, capsys, tmp_path):
    rc = main([*args, "--runs-dir", str(tmp_path)] if args[:1] == ["train"] and "--resume" not in args else args)
    err = capsys.readouterr().err
    assert rc == 2
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_bad_json_config_is_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{steps: 3")
    assert main(["train", "--config", str(bad), "--runs-dir", str(tmp_path)]) == 2
    assert "--config is not valid JSON" in capsys.readouterr().err


def test_pack_a_folder_then_train_on_it(tmp_path):
    """`pack` turns a folder of class sub-folders into hdf5:<file>, which trains conditionally."""
    from PIL import Image

    rng = np.random.RandomState(0)
    for cls in ("cats", "dogs"):
        (tmp_path / "src" / cls).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(rng.randint(0, 255, (20, 24, 3), dtype=np.uint8)).save(tmp_path / "src" / cls / f"{i}.png")
    (tmp_path / "src" / "cats" / "broken.png").write_bytes(b"not a png")
    out = tmp_path / "pets.h5"
    p = _cli("pack", str(tmp_path / "src"), str(out), "--size", "16", "--labels", "from-folders", check_rc=0)
    assert "packed 12 images" in p.stdout and "2 classes" in p.stdout and "skipped 1: cats/broken.png" in p.stdout
    _cli("train", "--dataset", f"hdf5:{out}", "--arch", "dcgan", "--steps", "3", "--batch-size", "4", "--set",
         "conditional=true", "--set", "base_channels=8", "--runs-dir", str(tmp_path / "runs"), "--quiet", check_rc=0)
    p = _cli("pack", str(tmp_path / "src"), str(out), "--size", "4", check_rc=2)
    assert p.stderr.startswith("ganlab: error: --size must be between 8 and 1024")


def test_fields_lists_every_config_field_with_its_default_and_meaning(capsys):
    from ganlab.config import FIELDS

    assert main(["fields"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [ln.split()[0] for ln in lines] == list(FIELDS)
    assert all(len(ln.split(None, 2)) == 3 for ln in lines), "a field without its comment"
    steps = next(ln for ln in lines if ln.startswith("steps "))
    assert steps.split()[1] == "2000" and "G updates" in steps
