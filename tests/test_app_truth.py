"""Issue #22, the page never disagrees with the run: what the Train form shows is what trains (or Start is off
with the reason), a dataset without its files says which to put where, and the Latent page shows its
seed-arithmetic syntax as typed (Markdown would turn 0.5*12 + 0.5*7 into "0.512 + 0.57" in italics)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from ganlab.config import RunConfig
from ganlab.paths import data_root, runs_dir
from ganlab.store import Run
from ganlab.training import train
from tests.helpers.mirror import MNIST_NAMES, mnist_files

APP = str(Path(__file__).resolve().parents[1] / "app.py")


@pytest.fixture(autouse=True)
def _fresh_caches():
    st.cache_resource.clear()  # the job manager and cached generators: each test has its own dirs
    yield
    st.cache_resource.clear()


def _train() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception, at.exception
    return at


def shown(markdown: str) -> str:
    """What Markdown displays of inline text: code spans as written, backslash escapes resolved."""
    return re.sub(r"\\(.)", r"\1", markdown.replace("`", ""))


def unescaped_markup(markdown: str) -> list[str]:
    """Emphasis characters Markdown would act on: outside code spans and not backslash-escaped."""
    outside = re.sub(r"`[^`]*`", "", markdown)
    return re.findall(r"(?<!\\)[*_]", re.sub(r"\\\\", "", outside))


def _config(at: AppTest) -> dict:
    return json.loads(at.code[0].value)


def _ready(at: AppTest) -> list[str]:
    return [s.value for s in at.success if s.value.startswith("Ready")]


def test_any_invalid_value_disables_start_with_the_config_s_own_sentence():
    """Too low, too high or the wrong kind: the box keeps what was typed, no "Ready", Start off, and the error is
    validate_config's sentence about that very value (not a silently clamped or older one)."""
    at = _train()
    cases = [("number_input", "cfg_batch_size", 0, "batch_size: 0 is out of range"),
             ("number_input", "cfg_latent_dim", 0, "latent_dim: 0 is out of range"),
             ("number_input", "cfg_lr_d", -0.001, "lr_d: -0.001 is out of range"),
             ("number_input", "cfg_batch_size", 100_000, "batch_size: 100000 is out of range"),
             ("number_input", "cfg_d_steps", -3, "d_steps: -3 is out of range"),
             ("text_input", "cfg_g_hidden", "12,x", "g_hidden: expected a comma-separated list"),
             ("text_input", "cfg_device", "gpu", "device: 'gpu' is not auto")]
    for kind, key, bad, sentence in cases:
        widget = getattr(at, kind)(key=key)
        good = widget.value
        widget.set_value(bad).run()
        assert not at.exception, at.exception
        assert getattr(at, kind)(key=key).value == bad, f"{key}: the box shows what was typed"
        errors = [shown(e.value) for e in at.error]
        assert any(sentence in e for e in errors), (key, errors)
        assert not _ready(at) and at.button(key="start").disabled, key
        getattr(at, kind)(key=key).set_value(good).run()
        assert _ready(at) and not at.button(key="start").disabled, key
    at.number_input(key="cfg_batch_size").set_value(1).run()  # the edges of RANGES are allowed, and run as shown
    at.number_input(key="cfg_latent_dim").set_value(4096).run()
    cfg = _config(at)
    assert all(box.value == cfg[box.key.removeprefix("cfg_")] for box in at.number_input)
    assert "batch 1" in _ready(at)[0]


def test_choose_a_preset_again_takes_back_what_the_preset_set():
    """ring8's R1 weight sits in the collapsed Advanced section: back on "choose a preset" it is 0 again, and any
    field off its default is named in the Ready line, so nothing that will run is out of sight."""
    from ganlab.config.presets import PRESETS

    r1 = PRESETS.get("ring8").values["r1_weight"]
    at = _train()
    at.selectbox(key="train_preset").set_value("ring8").run()
    assert r1 > 0 and _config(at)["r1_weight"] == r1
    assert f"`r1_weight = {r1}`" in _ready(at)[0]
    at.selectbox(key="train_preset").set_value("").run()
    from ganlab.config.recipes import apply_recipe  # back on no preset, the form holds the recipe for ring8's data
    from ganlab.data import dataset_spec

    defaults = apply_recipe({"dataset": "ring8"}, dataset_spec("ring8")).to_dict()
    cfg = _config(at)
    assert cfg == defaults, {k: v for k, v in cfg.items() if v != defaults[k]}
    assert at.number_input(key="cfg_steps").value == defaults["steps"] != 12000  # the preset's 12,000 taken back
    assert at.text_input(key="cfg_g_hidden").value == ",".join(map(str, defaults["g_hidden"]))
    assert "Also set" not in _ready(at)[0]
    at.number_input(key="cfg_r1_every").set_value(4).run()
    assert "`r1_every = 4`" in _ready(at)[0]


def test_the_preset_s_source_is_on_the_page_not_in_a_file():
    """The help no longer sends a browser user to docs/SOURCES.md; an expander shows source, description, values."""
    from ganlab.config.presets import PRESETS

    at = _train()
    at.selectbox(key="train_preset").set_value("wgan-gp").run()
    assert "SOURCES.md" not in (at.selectbox(key="train_preset").help or "")
    about = [e for e in at.expander if "wgan-gp" in e.label]
    assert about, [e.label for e in at.expander]
    text = shown(" ".join(m.value for m in about[0].markdown))
    assert PRESETS.describe("wgan-gp") in text and PRESETS.get("wgan-gp").source in text
    fields = about[0].dataframe[0].value
    assert dict(zip(fields["field"], fields["value"]))["d_steps"] == "5"


def test_a_dataset_without_its_files_needs_files_and_start_stays_off():
    """mnist with an empty data root: no "Ready", a "needs files" warning naming the folder and every file,
    Start off; with the files there it is Ready. The button opens the Data page on mnist."""
    at = _train()
    at.selectbox(key="cfg_dataset").set_value("mnist").run()
    assert not _ready(at) and at.button(key="start").disabled
    warning = " ".join(shown(w.value) for w in at.warning)
    assert "needs files" in warning and str(data_root() / "MNIST" / "raw") in warning
    assert all(n in warning for n in MNIST_NAMES) and "Data page" in warning
    raw = data_root() / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name, data in mnist_files().items():
        (raw / name).write_bytes(data)
    at.run()
    assert _ready(at) and not at.button(key="start").disabled and not at.warning
    raw.joinpath(MNIST_NAMES[0]).unlink()
    at.run()
    at.button(key="train_get_data").click().run()
    assert not at.exception, at.exception
    assert at.radio(key="dl_name").value == "mnist"


def test_seed_arithmetic_syntax_is_shown_as_typed_and_what_is_shown_is_accepted():
    """The help and the error show 0.5*12 + 0.5*7 literally (code or escaped); typing it draws, no error."""
    cfg = RunConfig(dataset="ring8", steps=10, batch_size=32, log_every=5, snapshot_every=5, checkpoint_every=10,
                    latent_dim=4, g_hidden=(16,), d_hidden=(16,), num_fixed=8, device="cpu")
    run = Run.create(runs_dir(), cfg)
    assert train(cfg, run) == "finished"
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["run_id"] = run.id
    at.run()
    at.switch_page("views/latent.py").run()
    assert not at.exception, at.exception
    help_text = at.text_input(key="lat_expr").help
    assert "0.5*12 + 0.5*7" in shown(help_text) and not unescaped_markup(help_text), help_text
    at.text_input(key="lat_expr").set_value("12 +").run()
    error = at.error[0].value
    assert "0.5*12 + 0.5*7" in shown(error) and not unescaped_markup(error), error
    at.text_input(key="lat_expr").set_value("0.5*12 + 0.5*7").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
