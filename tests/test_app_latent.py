"""AppTest: the Latent page with no run, a run without checkpoint, a finished ring8 run and a digits run."""

import re
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from ganlab.config import RunConfig
from ganlab.paths import runs_dir
from ganlab.store import Run
from ganlab.training import train

APP = Path(__file__).resolve().parents[1] / "app.py"
RING = RunConfig(dataset="ring8", arch="mlp", loss="bce", steps=20, batch_size=64, log_every=10,
                 snapshot_every=10, checkpoint_every=20, latent_dim=8, g_hidden=(32,), d_hidden=(32,),
                 num_fixed=16, device="cpu")
DIGITS = RunConfig(dataset="digits", arch="dcgan", loss="bce", conditional=True, steps=10, batch_size=32,
                   log_every=5, snapshot_every=5, checkpoint_every=10, latent_dim=12, base_channels=8,
                   num_fixed=16, device="cpu")


@pytest.fixture(autouse=True)
def _fresh_caches():
    """The job manager and cached generators are per process: each test has its own GANLAB_RUNS."""
    st.cache_resource.clear()
    yield
    st.cache_resource.clear()


def _finished(cfg) -> str:
    run = Run.create(runs_dir(), cfg)
    assert train(cfg, run) == "finished"
    return run.id


def _latent(run_id=None) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60)
    if run_id is not None:
        at.session_state["run_id"] = run_id
    at.run()
    at.switch_page("views/latent.py").run()
    assert not at.exception, at.exception
    return at


def _text(at) -> str:
    return " ".join(str(e.value) for e in list(at.markdown) + list(at.caption) + list(at.info) + list(at.error))


def test_no_run_says_where_to_start():
    """No run at all: a message pointing at the Train page, no exception."""
    at = _latent()
    assert any("No run selected" in i.value for i in at.info)


def test_run_without_checkpoint_is_a_message():
    """A run that has not written a checkpoint yet: an info, not a traceback."""
    run = Run.create(runs_dir(), RING)
    at = _latent(run.id)
    assert any("no checkpoint yet" in i.value for i in at.info)
    assert not at.error


def test_ring8_run_shows_paths_and_scatters():
    """A finished 2-D run: interpolation path, arithmetic and walk figures, a seed-labelled grid."""
    rid = _finished(RING)
    at = _latent(rid)
    assert "G as of step **20**" in _text(at)
    assert len(at.get("plotly_chart")) == 4  # one per tab
    assert not at.error
    at.text_input(key="lat_expr").set_value("3 + 5").run()
    assert not at.exception and not at.error
    at.text_input(key="lat_expr").set_value("3 + banana").run()
    assert any("not seed arithmetic" in e.value for e in at.error)


def test_a_run_with_latent_islands_explains_the_jumps():
    """latent_mixture > 0: the page says z has islands, and every tab still draws."""
    rid = _finished(RunConfig(**{**RING.to_dict(), "dataset": "grid25", "latent_dim": 2, "latent_mixture": 25}))
    at = _latent(rid)
    assert "25 islands" in _text(at) and "jumps" in _text(at)
    assert len(at.get("plotly_chart")) == 4 and not at.error


def test_digits_run_shows_strips_with_seeds_and_classes():
    """A conditional image run: strips with captions, class interpolation, seed reuse from the grid."""
    rid = _finished(DIGITS)
    at = _latent(rid)
    assert not at.error
    imgs = at.get("image")
    assert len(imgs) == 7  # interpolation strip, 3 operands + result, walk strip, grid
    assert [i.caption for i in imgs[-1].proto.imgs][:3] == ["seed 0", "seed 1", "seed 2"]
    assert [i.caption for i in imgs[0].proto.imgs][0] == "seed 1" and len(imgs[0].proto.imgs) == 10
    at.toggle(key="lat_grid_all").set_value(True).run()
    grid = at.get("image")[-1].proto.imgs
    assert len(grid) == 1 and grid[0].caption.startswith("Rows: classes 0, 1, 2")
    at.radio(key="lat_mode").set_value("classes").run()
    assert not at.exception and not at.error
    at.selectbox(key="lat_grid_pick").set_value(5).run()
    at.button(key="lat_use_a").click().run()
    assert at.session_state["lat_seed_a"] == "5"  # the seed boxes are text: a seed or a kept latent's name
    assert at.text_input(key="lat_seed_a").value == "5"


@pytest.mark.parametrize("key, value", [("lat_walk_dim", 11), ("lat_steps", 2), ("lat_grid_n", 1)])
def test_edge_values_render(key, value):
    """The sliders' extreme values draw without an error."""
    rid = _finished(RING)
    at = _latent(rid)
    at.slider(key=key).set_value(value).run()
    assert not at.exception and not at.error


def test_timelapse_gif_has_one_frame_per_snapshot():
    """The training time-lapse download: every snapshot of samples.h5 becomes a GIF frame."""
    import io

    from PIL import Image

    from ganlab.store import RunError
    from ganlab.ui.latent_widgets import timelapse_gif

    rid = _finished(DIGITS)
    run = Run.open(runs_dir() / rid)
    steps, _ = run.read_samples()
    gif = Image.open(io.BytesIO(timelapse_gif(run)))
    assert len(steps) == 2 and gif.n_frames == 2
    with pytest.raises(RunError, match="no sample snapshots"):
        timelapse_gif(Run.create(runs_dir(), RING))


def test_live_run_shows_its_latest_checkpoint():
    """A run still training: G as of its newest checkpoint, and the page says the run is live."""
    import time

    from ganlab.ui.manager import get_manager

    manager = get_manager()
    rid = manager.start(RING.replace(steps=1_000_000, checkpoint_every=20, log_every=10))
    try:
        end = time.monotonic() + 60
        while not Run.open(runs_dir() / rid).checkpoints() and time.monotonic() < end:
            time.sleep(0.1)
        manager.pause(rid)
        at = _latent(rid)
        text = _text(at)
        assert "G as of step **" in text and "every 20 steps" in text
        assert re.search(r"the run is (running|paused) at step", text)
        assert len(at.get("plotly_chart")) == 4 and not at.error
    finally:
        manager.shutdown()


def test_interpolation_gif_bounces():
    """The GIF download of a strip plays forward then back: 2n - 2 frames, enlarged tiles."""
    import io

    import numpy as np
    from PIL import Image

    from ganlab.ui.latent_widgets import gif_of

    x = np.random.RandomState(0).rand(5, 1, 8, 8).astype(np.float32)
    gif = Image.open(io.BytesIO(gif_of(x)))
    assert gif.n_frames == 8 and gif.size[0] >= 128
