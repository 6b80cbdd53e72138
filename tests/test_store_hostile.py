"""Hostile run files: one malformed file in one run directory never hides the others, and never a traceback.

Each crafted status.json or config.json goes through the store (typed status, RunError for the config),
through `ganlab runs` (exit 0, the other runs listed) and, once, through the dashboard's sidebar picker.
Also: damaged checkpoints read as damage (not as an attack), a config.json that no longer fits its
checkpoint is one sentence, and run names say what sets a run apart.
"""

import json
import os
import pickle
import random
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from ganlab.cli import main
from ganlab.config import RunConfig
from ganlab.config.presets import preset_config
from ganlab.session import RunSession
from ganlab.store import Run, RunError, list_runs
from ganlab.store.status import FIELDS
from ganlab.training import train
from tests.helpers.app import fresh_manager  # noqa: F401 - autouse fixture

APP = str(Path(__file__).resolve().parents[1] / "app.py")
TINY = dict(dataset="ring8", arch="mlp", g_hidden=(8,), d_hidden=(8,), latent_dim=2, batch_size=16, steps=20,
            log_every=10, snapshot_every=20, checkpoint_every=10, num_fixed=8, device="cpu", seed=0)
DEEP = b'{"state": "stopped", "step": 1, "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
BAD_STATUS = {
    "step-text": b'{"state": "stopped", "step": "abc"}',
    "step-1e400": b'{"state": "stopped", "step": 1e400}',
    "step-nan": b'{"state": "stopped", "step": NaN}',
    "step-list": b'{"state": "stopped", "step": [1]}',
    "step-bool": b'{"state": "stopped", "step": true}',
    "step-negative": b'{"state": "stopped", "step": -5}',
    "owner-number": b'{"state": "running", "step": 3, "owner": 5}',
    "error-object": b'{"state": "failed", "step": 3, "error": {"a": 1}}',
    "time-infinite": b'{"state": "stopped", "step": 3, "time": -1e999}',
    "deep": DEEP,
    "not-utf8": b'{"state": "stopped", "step": 1, "error": "\xff\xfe"}',
    "huge-int": b'{"state": "stopped", "step": ' + b"9" * 5000 + b"}",
}
BAD_CONFIG = {
    "not-utf8": b'{"dataset": "ring8\xff"}',
    "deep": b'{"g_hidden": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "list": b"[1, 2]",
    "string": b'"ring8"',
    "null": b"null",
    "huge-int": b'{"steps": ' + b"9" * 5000 + b"}",
    "float-overflow": b'{"lr_d": ' + b"9" * 400 + b"}",
    "wrong-type": b'{"steps": "many"}',
    "torn": b'{"dataset": "ri',
    "too-large": b'{"dataset": "' + b"r" * (2 << 20) + b'"}',
}


def _store(tmp_path: Path) -> tuple[Path, list[Run]]:
    """A run store with two good runs (a finished one and a stopped one) and room for a bad third."""
    runs = tmp_path / "runs"
    good = []
    for seed in (0, 1):
        cfg = RunConfig(**{**TINY, "seed": seed})
        run = Run.create(runs, cfg)
        train(cfg, run)
        good.append(run)
    good[1].write_status("stopped", 20)
    return runs, good


def _listed(capsys, runs: Path) -> dict[str, str]:
    """`ganlab runs` must exit 0: its lines by run id."""
    assert main(["runs", "--runs-dir", str(runs)]) == 0
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return {line.split("\t", 1)[0]: line for line in out.out.splitlines()}


@pytest.mark.parametrize("name", sorted(BAD_STATUS))
def test_a_malformed_status_reads_as_damaged_with_typed_fields_and_the_others_still_list(tmp_path, capsys, name):
    runs, good = _store(tmp_path)
    bad = Run.create(runs, RunConfig(**TINY))
    bad.status_path.write_bytes(BAD_STATUS[name])
    st = bad.status()
    assert st["state"] == "interrupted" and type(st["step"]) is int and st["step"] == 0
    assert "status.json" in st["error"] and "resume continues from the last checkpoint" in st["error"]
    for k, v in st.items():  # every field has its documented type
        assert FIELDS[k][0](v), (k, v)
    assert {r.id for r in list_runs(runs)} == {bad.id, *(r.id for r in good)}
    lines = _listed(capsys, runs)
    assert lines[good[0].id].endswith("\tfinished\t20/20") and lines[good[1].id].endswith("\tstopped\t20/20")
    assert lines[bad.id].endswith("\tinterrupted\t0/20")


@pytest.mark.parametrize("name", sorted(BAD_CONFIG))
def test_a_malformed_config_is_a_run_error_and_the_others_still_list(tmp_path, capsys, name):
    runs, good = _store(tmp_path)
    bad = Run.create(runs, RunConfig(**TINY))
    bad.config_path.write_bytes(BAD_CONFIG[name])
    with pytest.raises(RunError, match=bad.id) as info:
        bad.config()
    assert "\n" not in str(info.value) and len(str(info.value)) < 600
    assert bad.status()["state"] == "created"  # status.json is fine: only the config is damaged
    lines = _listed(capsys, runs)
    assert lines[good[0].id].endswith("\tfinished\t20/20") and lines[good[1].id].endswith("\tstopped\t20/20")
    assert "(unreadable:" in lines[bad.id]
    with pytest.raises(RunError):  # a resume says why, in one sentence
        RunSession.reopen(bad.path)
    assert main(["train", "--resume", str(bad.path), "--quiet"]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_odd_entries_in_the_run_store_and_in_checkpoints_are_skipped(tmp_path, capsys):
    """A stray file, a folder without config.json, a ckpt-x.pt and a folder we may not enter: all ignored."""
    runs, good = _store(tmp_path)
    (runs / "notes.txt").write_text("hi")
    (runs / "00099-half-made").mkdir()  # killed before config.json was written
    (good[0].checkpoints_dir / "ckpt-latest.pt").write_bytes(b"junk")
    (good[0].checkpoints_dir / "ckpt-12.pt").write_bytes(b"junk")
    assert good[0].last_checkpoint_step() == 20 and good[0].status()["step"] == 20
    locked = Run.create(runs, RunConfig(**TINY))
    os.chmod(locked.checkpoints_dir, 0)
    try:
        assert {r.id for r in list_runs(runs)} == {locked.id, *(r.id for r in good)}
        locked.status_path.unlink()
        assert locked.status()["state"] == "interrupted"  # the checkpoint folder could not be read: step 0
        assert set(_listed(capsys, runs)) == {locked.id, *(r.id for r in good)}
    finally:
        os.chmod(locked.checkpoints_dir, 0o755)


def test_the_sidebar_picker_lists_the_good_runs_beside_damaged_ones(tmp_path):
    """The dashboard's picker: no "Could not list the runs", every run selectable."""
    from ganlab.ui.manager import get_manager

    runs = get_manager().runs_dir
    good = []
    for seed in (0, 1):
        cfg = RunConfig(**{**TINY, "seed": seed})
        good.append(Run.create(runs, cfg))
        train(cfg, good[-1])
    damaged = []
    for name in ("step-text", "step-1e400", "owner-number", "deep", "not-utf8"):
        run = Run.create(runs, RunConfig(**TINY))
        run.status_path.write_bytes(BAD_STATUS[name])
        damaged.append(run)
    bad_config = Run.create(runs, RunConfig(**TINY))
    bad_config.config_path.write_bytes(BAD_CONFIG["not-utf8"])
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert not [e.value for e in at.error if "Could not list" in e.value]
    options = at.sidebar.selectbox[0].options
    for run in good:
        assert f"{run.id} · finished" in options
    for run in damaged:
        assert f"{run.id} · interrupted" in options
    assert any(o.startswith(bad_config.id) for o in options)


# ------------------------------------------------------------------ checkpoints

def _trained(tmp_path: Path, **changes) -> Run:
    cfg = RunConfig(**{**TINY, **changes})
    run = Run.create(tmp_path / "runs", cfg)
    train(cfg, run)
    return run


_NOISE = random.Random(0)
JUNK = {"random": _NOISE.randbytes(4000), "text": b"hello world", "zip-header": b"PK\x03\x04" + _NOISE.randbytes(500),
        "pickle-header": b"\x80\x04" + _NOISE.randbytes(64), "empty": b""}


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("junk", list(JUNK.values()), ids=list(JUNK))
def test_random_bytes_in_a_checkpoint_read_as_damage_not_as_an_attack(tmp_path, junk):
    run = _trained(tmp_path)
    run.checkpoints()[-1].write_bytes(junk)
    with pytest.raises(RunError) as info:
        run.load_checkpoint(run.checkpoints()[-1])
    assert "could run code" not in str(info.value)
    assert "is damaged or not a checkpoint" in str(info.value)
    assert run.load_checkpoint()["step"] == 10  # the older one is used


class Payload:
    def __reduce__(self):
        return (os.system, ("true",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_a_pickle_that_names_a_global_is_reported_as_unsafe(tmp_path, protocol):
    run = _trained(tmp_path)
    run.checkpoints()[-1].write_bytes(pickle.dumps({"G": Payload()}, protocol=protocol))
    with pytest.raises(RunError, match="loading it could run code"):
        run.load_checkpoint(run.checkpoints()[-1])


def test_a_config_that_disagrees_with_the_checkpoint_is_one_sentence(tmp_path, capsys):
    run = _trained(tmp_path)
    run.write_status("stopped", 20)
    run.write_config(run.config().replace(g_hidden=(32, 32), steps=40))
    session = RunSession.reopen(run.path)
    with pytest.raises(RunError, match=r"config.json disagrees with its checkpoint at step 20 on g_hidden "
                                       r"\(config.json 32,32, checkpoint 8\)"):
        session.build()
    session.close()
    assert main(["train", "--resume", str(run.path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "disagrees with its checkpoint" in err and "Traceback" not in err
    outcome = RunSession.reopen(run.path).run_training()  # the dashboard's path: a failed run with the sentence
    assert outcome.state == "failed" and "g_hidden" in outcome.error
    assert run.status()["state"] == "failed"


def test_a_checkpoint_state_that_does_not_load_is_a_run_error(tmp_path, monkeypatch):
    """Even past the field check, a load_state_dict error is a sentence, not a RuntimeError."""
    import ganlab.session as S

    run = _trained(tmp_path)
    run.write_status("stopped", 20)
    run.write_config(run.config().replace(steps=40))
    monkeypatch.setattr(S, "config_mismatch", lambda cfg, state: None)
    state = run.load_checkpoint()
    state["opt_g"]["param_groups"] = []
    torch.save(state, run.checkpoint_path(20))
    monkeypatch.setattr(Run, "load_checkpoint", lambda self, path=None, map_location="cpu": state)
    session = RunSession.reopen(run.path)
    with pytest.raises(RunError, match="does not load into the nets config.json describes"):
        session.build()
    session.close()


# ------------------------------------------------------------------ names

def test_run_names_say_conditional_and_preset(tmp_path):
    runs = tmp_path / "runs"
    plain = Run.create(runs, RunConfig(dataset="digits", loss="bce"))
    cond = Run.create(runs, RunConfig(dataset="digits", loss="bce", conditional=True))
    cgan = Run.create(runs, preset_config("cgan"))
    d2l = Run.create(runs, preset_config("d2l-gaussian"))
    ring = Run.create(runs, preset_config("ring8"))  # the preset only repeats the dataset: not twice
    odd = Run.create(runs, RunConfig(preset="../../etc passwd" + "x" * 100))
    assert plain.id == "00000-digits-mlp-bce"
    assert cond.id == "00001-digits-mlp-bce-cond"
    assert cgan.id == "00002-digits-mlp-bce-cond-cgan"
    assert d2l.id == "00003-gaussian2d-linear-bce-d2l-gaussian"
    assert ring.id == f"00004-ring8-mlp-{ring.config().loss}"  # ring8 is the point recipe: its loss, no preset suffix
    assert odd.path.parent == runs and "/" not in odd.id and len(odd.id) < 80 and odd.id.startswith("00005-ring8-mlp-bce-")
    assert preset_config("cgan").preset == "cgan" and cgan.config().preset == "cgan"


def test_an_old_run_without_the_preset_field_still_loads(tmp_path, capsys):
    run = _trained(tmp_path)
    old = json.loads(run.config_path.read_text())
    del old["preset"]
    run.config_path.write_text(json.dumps(old))
    assert run.config().preset == ""
    assert run.load_checkpoint()["step"] == 20
    assert _listed(capsys, run.path.parent)[run.id].endswith("\tfinished\t20/20")
