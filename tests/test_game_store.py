"""game.h5 (ganlab.store.game): frames round-trip, a resume rewrites past its step, damage and a full disk never
fail the run; a point run writes one frame per snapshot and Div/KL, Div/JS in every record, training as before."""

import errno
import math
import subprocess
import sys
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest

from ganlab import cli
from ganlab.config import RunConfig
from ganlab.explore.game import game_frame
from ganlab.session import RunSession
from ganlab.store import GameFrames, Run, list_runs, room
from ganlab.store import game as game_store
from ganlab.training import Trainer, train

CFG = RunConfig(dataset="ring8", arch="mlp", loss="bce", steps=100, batch_size=32, latent_dim=2, g_hidden=(16,),
                d_hidden=(16,), num_fixed=8, log_every=10, snapshot_every=50, checkpoint_every=100, device="cpu")


@pytest.fixture(scope="module")
def frames():
    """Three frames of a tiny ring8 trainer, a few steps apart."""
    trainer = Trainer(CFG)
    out = []
    for _ in range(3):
        for _ in range(2):
            trainer.train_step()
        out.append(game_frame(trainer))
    return out


def _assert_frame_equal(got, want, where="frame"):
    assert type(got) is type(want) or (isinstance(want, np.ndarray) and isinstance(got, np.ndarray)), where
    if isinstance(want, dict):
        assert got.keys() == want.keys(), where
        for k in want:
            _assert_frame_equal(got[k], want[k], f"{where}.{k}")
    elif isinstance(want, np.ndarray):
        assert got.dtype == want.dtype and got.shape == want.shape, where
        np.testing.assert_array_equal(got, want, err_msg=where)
    else:
        assert got == want, where


def test_frames_round_trip(tmp_path, frames):
    """What was appended reads back in the frame format: float32 arrays, ints, floats, names, dims tuples."""
    run = Run.create(tmp_path, CFG)
    assert len(run.game_frames()) == 0  # no file yet: no frames
    for f in frames:
        run.append_game(f["step"], f)
    back = Run(run.path).game_frames()  # a fresh object, as a page after a restart
    assert isinstance(back, GameFrames) and len(back) == 3
    np.testing.assert_array_equal(back.steps, [f["step"] for f in frames])
    for i, f in enumerate(frames):
        _assert_frame_equal(back.frame(i), f)
    assert back.frame(-1)["step"] == frames[-1]["step"]
    with pytest.raises(IndexError):
        back.frame(3)


def test_a_resume_rewrites_frames_past_its_step(tmp_path, frames):
    run = Run.create(tmp_path, CFG)
    for step, f in zip((10, 20, 30), frames):
        run.append_game(step, f)
    run.append_game(20, frames[2])  # resumed from the checkpoint at 10: step 20 is trained again
    back = run.game_frames()
    np.testing.assert_array_equal(back.steps, [10, 20])
    np.testing.assert_array_equal(back.frame(1)["fake"], frames[2]["fake"])
    np.testing.assert_array_equal(back.frame(0)["fake"], frames[0]["fake"])


def test_a_kill_mid_append_loses_only_that_frame(tmp_path, frames):
    """Series written, step not yet: the half frame is not read, and the next append overwrites it."""
    run = Run.create(tmp_path, CFG)
    for step, f in zip((10, 20), frames):
        run.append_game(step, f)
    with h5py.File(run.game_path, "a") as h:
        h["steps"].resize(1, axis=0)
    assert len(run.game_frames()) == 1
    run.append_game(30, frames[2])
    back = run.game_frames()
    np.testing.assert_array_equal(back.steps, [10, 30])
    np.testing.assert_array_equal(back.frame(1)["arrows"], frames[2]["arrows"])


def test_a_damaged_file_reads_as_no_frames_and_is_moved_aside(tmp_path, frames):
    run = Run.create(tmp_path, CFG)
    run.game_path.write_bytes(b"\x89HDF\r\n\x1a\n" + b"not an hdf5 file" * 50)
    assert len(run.game_frames()) == 0
    with pytest.warns(UserWarning, match="game.h5.damaged"):
        run.append_game(50, frames[0])
    assert (run.path / "game.h5.damaged").exists()
    assert list(run.game_frames().steps) == [50]


def test_a_full_disk_skips_the_frame_and_keeps_the_file(tmp_path, frames, monkeypatch):
    run = Run.create(tmp_path, CFG)
    run.append_game(10, frames[0])

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(game_store, "_append", full)
    with pytest.warns(UserWarning, match="step 20 was skipped"):
        run.append_game(20, frames[1])
    monkeypatch.undo()
    assert not (run.path / "game.h5.damaged").exists()
    assert list(run.game_frames().steps) == [10]


def test_a_frame_of_another_shape_is_skipped_not_the_file(tmp_path, frames):
    run = Run.create(tmp_path, CFG)
    run.append_game(10, frames[0])
    odd = {**frames[1], "arrows": frames[1]["arrows"][:10]}
    with pytest.warns(UserWarning, match="step 20 was skipped"):
        run.append_game(20, odd)
    assert list(run.game_frames().steps) == [10] and not (run.path / "game.h5.damaged").exists()


def test_a_missing_or_foreign_file_reads_as_no_frames(tmp_path):
    run = Run.create(tmp_path, CFG)
    assert len(run.game_frames()) == 0
    with h5py.File(run.game_path, "w") as h:
        h["something"] = np.arange(3)
    assert len(run.game_frames()) == 0


# ------------------------------------------------------------------ a whole run
def test_a_point_run_logs_divergence_and_trains_exactly_as_without_it(tmp_path):
    """The session's hooks: Div/KL, Div/JS in every record and a frame per snapshot, with the same losses as
    train() called directly without them (the hooks draw nothing from the training RNG)."""
    session = RunSession.new(CFG, tmp_path / "hooked")
    assert session.run_training().state == "finished"
    hooked = session.run
    plain = Run.create(tmp_path / "plain", CFG)
    assert train(CFG, plain) == "finished"
    recs, base = hooked.history(), plain.history()
    assert [r["step"] for r in recs] == [r["step"] for r in base] == list(range(10, 101, 10))
    for r, b in zip(recs, base):
        assert 0 <= r["Div/JS"] <= math.log(2) and r["Div/KL"] >= 0
        assert "Div/KL" not in b
        assert {k: r[k] for k in ("Loss/D", "Loss/G", "D/real", "D/fake")} == \
               {k: b[k] for k in ("Loss/D", "Loss/G", "D/real", "D/fake")}
    game = hooked.game_frames()
    np.testing.assert_array_equal(game.steps, hooked.read_samples()[0])
    np.testing.assert_array_equal(game.steps, [50, 100])
    assert not plain.game_path.exists()


def test_a_cli_ring8_run_has_a_frame_per_snapshot(tmp_path, capsys):
    """`python -m ganlab train --dataset ring8 --steps 200`: game.h5 replays every snapshot after the process ends."""
    code = cli.main(["train", "--dataset", "ring8", "--steps", "200", "--runs-dir", str(tmp_path), "--quiet",
                     "--batch-size", "32", "--set", "snapshot_every=50", "--set", "log_every=50",
                     "--set", "g_hidden=32", "--set", "d_hidden=32"])
    assert code == 0, capsys.readouterr().err
    run = list_runs(tmp_path)[0]
    game = run.game_frames()
    np.testing.assert_array_equal(game.steps, [50, 100, 150, 200])
    np.testing.assert_array_equal(game.steps, run.read_samples()[0])
    last = game.frame(len(game) - 1)
    assert last["fake"].shape == (1000, 2) and last["surface"]["z"].shape == (64, 64)
    assert last["manifold"]["u"].shape == (21, 21) and np.isfinite(last["losses"]["d"])
    assert all("Div/JS" in r for r in run.history())


def test_a_file_cut_short_while_being_created_is_replaced(tmp_path, frames):
    """A kill inside the first append left "steps" but no "meta": the next append starts afresh, not skips forever."""
    run = Run.create(tmp_path, CFG)
    with h5py.File(run.game_path, "w") as h:
        h.create_dataset("steps", shape=(0,), maxshape=(None,), dtype="i8")
    with pytest.warns(UserWarning, match="game.h5.damaged"):
        run.append_game(10, frames[0])
    assert list(run.game_frames().steps) == [10]


FILLER = """
import resource, sys
from pathlib import Path
import numpy as np
from ganlab.store.game import append_game, read_game
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[2]),) * 2)
frame = {"step": 0, "real": np.zeros((1000, 2), np.float32), "fake": np.random.rand(1000, 2).astype(np.float32),
         "arrows": np.random.rand(1000, 2).astype(np.float32), "surface": {"z": np.random.rand(64, 64).astype(np.float32)},
         "losses": {"d": 0.5, "g": 0.7}}
for step in range(6):
    append_game(Path(sys.argv[1]), step, {**frame, "step": step})
print(len(read_game(Path(sys.argv[1]))))
"""


@pytest.mark.parametrize("limit", [20_000, 150_000])
def test_a_file_size_limit_skips_frames_quietly_instead_of_crashing_hdf5(tmp_path, limit):
    """HDF5 segfaults closing a file whose write failed: frames that would not fit are never written, without a word
    (the run's own files then meet the limit and say so), and the frames that fit stay readable."""
    root = Path(__file__).resolve().parents[1]
    p = subprocess.run([sys.executable, "-c", FILLER, str(tmp_path / "game.h5"), str(limit)], cwd=root,
                       capture_output=True, text=True, timeout=60, env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"})
    assert p.returncode == 0 and p.stderr == "", p.stderr[-2000:]
    assert int(p.stdout) == (0 if limit < 50_000 else 1)


def test_a_nearly_full_disk_leaves_its_room_to_the_runs_own_files(tmp_path, frames, monkeypatch):
    run = Run.create(tmp_path, CFG)
    run.append_game(10, frames[0])
    monkeypatch.setattr(room, "free_bytes", lambda folder: game_store.FREE_RESERVE + 1000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # skipped without a word
        run.append_game(20, frames[1])
    assert list(run.game_frames().steps) == [10]
