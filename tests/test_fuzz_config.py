"""Config fuzz: any dict or command line ends in a valid config or one ConfigError / exit-2 line, never a traceback."""

import contextlib
import dataclasses
import io
import json
import math
import os

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import ganlab.session
from ganlab.cli import main
from ganlab.config import ConfigError, RunConfig
from ganlab.config.validate import CHOICES, RANGES, validate_config

FIELDS = [f.name for f in dataclasses.fields(RunConfig)]
SETTINGS = settings(max_examples=int(os.environ.get("GANLAB_FUZZ_EXAMPLES", "150")), deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])

# values near the edges of what each field accepts, plus every wrong type
numbers = st.one_of(st.integers(-2**70, 2**70), st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from([0, 1, -1, 0.5, 1e-12, 2**63, 2**63 - 1, 65_537, 1e308]))
edges = st.sampled_from([v for lo, hi, _ in RANGES.values() for v in (lo, hi, lo - 1, hi + 1, hi * 2)])
words = st.sampled_from(sorted({c for cs in CHOICES.values() for c in cs} | {
    "ring8", "digits", "mnist", "hdf5:", "hdf5:/nonexistent.h5", "hdf5:../../etc/passwd", "mlp", "dcgan", "linear",
    "bce", "wgan", "wgan-gp", "hinge", "lsgan", "ebgan", "cpu", "cuda", "cuda:7", "auto", "mps", "true", "no", "16,16",
    "", " ", "1e400", "nan", "-0", "0x10", "1_000"}))
values = st.one_of(numbers, edges, words, st.text(max_size=12), st.booleans(), st.none(),
                   st.lists(st.one_of(st.integers(-5, 20_000), st.text(max_size=3), st.floats()), max_size=20),
                   st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))
# mostly real field names (to reach validation), sometimes a stranger (unknown keys are refused)
configs = st.builds(lambda known, odd: {**known, **odd}, st.dictionaries(st.sampled_from(FIELDS), values, max_size=6),
                    st.one_of(st.just({}), st.just({}), st.just({}), st.dictionaries(st.text(max_size=8), values, max_size=1)))


@SETTINGS
@given(d=configs)
def test_from_dict_and_validate_raise_only_config_error(d, tmp_path):
    try:
        cfg = RunConfig.from_dict(d)
        validate_config(cfg, tmp_path)
    except ConfigError as e:
        msg = str(e)
        assert msg and "\n" not in msg and "Traceback" not in msg
        event(f"ConfigError {msg.split(':')[0][:20]}")
        return
    event("valid")
    # accepted: then it is a config a Trainer can take, with every number in its range
    for name, (lo, hi, incl) in RANGES.items():
        v = getattr(cfg, name)
        assert (v >= lo if incl else v > lo) and v <= hi and math.isfinite(v)
    assert RunConfig.from_json(cfg.to_json()) == cfg


class _Accepted(Exception):
    """Raised instead of training: the command line was valid all the way to the Trainer."""


FLAGS = ["--dataset", "--arch", "--loss", "--steps", "--batch-size", "--seed", "--device", "--preset", "--set",
         "--resume", "--config", "--quiet", "--download", "-n", "--out", "--json", "--label", "--size", "--runs-dir"]
SET_ITEMS = st.builds(lambda k, v: f"{k}={v}", st.one_of(st.sampled_from(FIELDS), st.text(max_size=6)),
                      st.one_of(words, st.text(max_size=8), numbers.map(str)))
tokens = st.one_of(st.sampled_from(FLAGS), words, SET_ITEMS, numbers.map(str), st.text(max_size=10))


@SETTINGS
@given(command=st.sampled_from(["train", "train", "train", "sample", "eval", "runs", "presets", "bogus"]),
       args=st.lists(st.one_of(st.tuples(st.sampled_from(FLAGS), tokens), st.tuples(st.just("--set"), SET_ITEMS),
                               st.tuples(tokens)), max_size=5).map(lambda ps: [t for p in ps for t in p]),
       config=st.one_of(st.none(), configs, st.text(max_size=30)))
def test_any_command_line_is_a_valid_run_or_one_line_and_exit_2(command, args, config, tmp_path, monkeypatch):
    def refuse(*a, **k):
        raise _Accepted

    monkeypatch.setattr(ganlab.session, "Trainer", refuse)  # never train: stop where the data would load
    argv = [command, *args]
    # paths the fuzz may name stay inside tmp_path (no reading /dev/zero, no run dirs in the repo)
    argv = [str(tmp_path / "missing") if a in ("/", ".", "..") or a.startswith("/") else a for a in argv]
    if config is not None and command == "train":
        path = tmp_path / "c.json"
        path.write_text(config if isinstance(config, str) else json.dumps(config))
        argv += ["--config", str(path)]
    if command in ("train", "runs"):
        argv += ["--runs-dir", str(tmp_path / "runs")]
    if "-h" in argv or "--help" in argv:
        return
    err, out = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            rc = main([a.replace("\x00", "") for a in argv])
    except _Accepted:
        event("valid: reached the Trainer")
        return
    text = err.getvalue()
    event(f"exit {rc}")
    assert "Traceback" not in text
    assert rc in (0, 2), (argv, rc, text)
    if rc == 2:
        assert text.startswith("ganlab: error: ") and text.count("\n") == 1, text


@pytest.mark.parametrize("d,message", [
    ({"steps": "ten"}, "steps: expected a whole number, got 'ten'"),
    ({"lr_d": float("nan")}, "lr_d: nan is out of range"),
    ({"lr_g": 0}, "lr_g: 0.0 is out of range"),
    ({"batch_size": 2**40}, "batch_size: 1099511627776 is out of range"),
    ({"g_hidden": [16, 0]}, "g_hidden: [16, 0] must be at most 16 widths"),
    ({"optimizer": "lion"}, "optimizer: 'lion' is not one of adam, sgd, rmsprop"),
    ({"dataset": "ring8", "arch": "dcgan"}, "arch: the dcgan architecture works on images"),
    ({"dataset": "ring8", "conditional": True}, "conditional: the dataset ring8 has no class labels"),
    ({"norm": "batch", "batch_size": 1}, "batch_size: batch norm needs at least 2 samples"),
    ({"device": "tpu"}, "device: 'tpu' is not auto, cpu, cuda or cuda:N"),
    ({"dataset": "hdf5:/nonexistent.h5"}, "dataset: "),
])
def test_the_cli_says_exactly_what_validate_says(d, message, tmp_path):
    """The UI shows validate_config's sentence; the CLI prints the same sentence after 'ganlab: error: '."""
    with pytest.raises(ConfigError) as e:
        validate_config(RunConfig.from_dict(d), tmp_path)
    assert str(e.value).startswith(message)
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps(d))
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main(["train", "--config", str(cfg), "--runs-dir", str(tmp_path / "runs"),
                     "--data-root", str(tmp_path)]) == 2
    assert err.getvalue() == f"ganlab: error: {str(e.value).splitlines()[0]}\n"
