"""AppTest: the Latent page's research tools (issue #18) on small trained runs: psi everywhere, directions,
fidelity vs diversity, projection with kept latents used as seeds, nearest training images; bad input is a
message. The runs (and the digits classifier) are trained once per module."""

import base64
import io
import json
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from ganlab.config import RunConfig
from ganlab.store import Run
from ganlab.training import train
from ganlab.ui.manager import get_manager

APP = Path(__file__).resolve().parents[1] / "app.py"
DIGITS = RunConfig(dataset="digits", arch="dcgan", loss="bce", steps=300, batch_size=32, log_every=100,
                   snapshot_every=100, checkpoint_every=300, latent_dim=12, base_channels=8, num_fixed=16,
                   device="cpu")
DIGITS_COND = DIGITS.replace(conditional=True, steps=150, checkpoint_every=150)
RING = RunConfig(dataset="ring8", arch="mlp", loss="bce", steps=200, batch_size=64, log_every=100,
                 snapshot_every=100, checkpoint_every=200, latent_dim=4, g_hidden=(32,), d_hidden=(32,),
                 num_fixed=16, device="cpu")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One run store and data root for the module: three finished runs, and the classifier cache they share."""
    root = tmp_path_factory.mktemp("latent")
    runs, data = root / "runs", root / "data"
    ids = {}
    for name, cfg in (("digits", DIGITS), ("cond", DIGITS_COND), ("ring", RING)):
        run = Run.create(runs, cfg)
        assert train(cfg, run) == "finished"
        ids[name] = run.id
    return runs, data, ids


@pytest.fixture(autouse=True)
def _module_store(store, monkeypatch):
    """The page reads GANLAB_RUNS / GANLAB_DATA through a per-process manager: point both at the module's
    store, and give each test fresh caches."""
    runs, data, _ = store
    monkeypatch.setenv("GANLAB_RUNS", str(runs))
    monkeypatch.setenv("GANLAB_DATA", str(data))
    st.cache_resource.clear()
    yield
    get_manager().shutdown()
    st.cache_resource.clear()


def _latent(run_id: str, tool: str | None = None) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.session_state["run_id"] = run_id
    at.run()
    at.switch_page("views/latent.py").run()
    assert not at.exception, at.exception
    if tool is not None:
        at.segmented_control(key="lat_tool").set_value(tool).run()
        assert not at.exception, at.exception
    return at


def _texts(at) -> str:
    return " ".join(str(e.value) for e in list(at.markdown) + list(at.caption) + list(at.info) + list(at.error))


def _errors(at) -> list[str]:
    return [str(e.value) for e in at.error]


def _figure(at, key: str) -> dict:
    charts = [c for c in at.get("plotly_chart") if json.loads(c.proto.spec).get("layout", {}).get("title")]
    for c in at.get("plotly_chart"):
        if c.proto.id and key in c.proto.id:
            return json.loads(c.proto.spec)
    raise AssertionError(f"no chart {key}; {len(charts)} charts")


def _values(v) -> np.ndarray:
    """A trace's x or y: plotly writes numpy arrays as {"dtype", "bdata": base64}, lists as lists."""
    if isinstance(v, dict) and "bdata" in v:
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"])).astype(float)
    return np.array(v, dtype=float)


def _captions(image_element) -> list[str]:
    return [i.caption for i in image_element.proto.imgs]


# ---------------------------------------------------------------- psi

def test_psi_slider_reaches_every_panel(store):
    """psi = 0 draws the mean latent for every seed: the grid's 2-D points collapse to one, and the page says so."""
    at = _latent(store[2]["ring"])
    spread = np.ptp(_values(_figure(at, "fig_grid")["data"][-1]["x"]))
    assert spread > 0.05
    at.slider(key="lat_psi").set_value(0.0).run()
    assert not at.exception and not _errors(at)
    assert "ψ = 0" in _texts(at)
    for key in ("fig_grid", "fig_arithmetic"):
        xs = _values(_figure(at, key)["data"][-1]["x"])
        assert np.ptp(xs) < 1e-5, (key, xs)


# ---------------------------------------------------------------- truncation (first: it meets the classifier untrained)

def test_fidelity_vs_diversity_runs_on_demand_and_checks_psi(store):
    """The sweep runs on the button and charts precision/recall/coverage and FD against psi; bad psi is a message."""
    at = _latent(store[2]["digits"], "truncation")
    assert "No measurement" in _texts(at)
    at.text_input(key="lat_sweep_psis").set_value("0.3, 1").run()
    at.selectbox(key="lat_sweep_n").set_value(200).run()
    at.button(key="lat_sweep_go").click().run()
    assert not at.exception and not _errors(at), _errors(at)
    fig = _figure(at, "fig_truncation")
    names = [t["name"] for t in fig["data"]]
    assert {"precision (fidelity)", "recall (diversity)", "coverage", "FD (lower is better)"} <= set(names)
    assert list(_values(fig["data"][0]["x"])) == [0.3, 1.0]
    at.text_input(key="lat_sweep_psis").set_value("0.5, 3").run()
    assert any("out of range" in e for e in _errors(at)), _errors(at)
    at.text_input(key="lat_sweep_psis").set_value("half, 1").run()
    assert any("not a list of ψ values" in e for e in _errors(at)), _errors(at)


# ---------------------------------------------------------------- directions

def test_directions_strips_scores_and_downloads_for_each_method(store):
    """SeFa, PCA and the class boundary: one strip per direction with its score, a step slider, downloads."""
    at = _latent(store[2]["digits"], "directions")
    assert at.selectbox(key="lat_dir_method").options == ["SeFa (closed form)", "PCA of a layer (GANSpace)",
                                                           "Class boundary (InterFaceGAN)"]
    strips = at.get("image")[-5:]
    assert all(len(s.proto.imgs) == 7 for s in strips)
    assert _captions(strips[0])[3] == "seed 1" and _captions(strips[0])[4] == "+1.0"
    assert "SeFa 1" in _texts(at) and "eigenvalue" in _texts(at)
    assert [b.proto.label for b in at.get("download_button")].count("PNG") >= 5
    at.slider(key="lat_dir_step_0").set_value(2.5).run()
    assert _captions(at.get("image")[-5])[4] == "+2.5"
    at.selectbox(key="lat_dir_method").set_value("pca").run()
    assert not _errors(at) and "PC 1" in _texts(at) and "explained variance" in _texts(at)
    at.selectbox(key="lat_dir_method").set_value("boundary").run()
    assert not at.exception and not _errors(at), _errors(at)
    assert "0 → 1" in _texts(at) and "accuracy" in _texts(at)
    at.selectbox(key="lat_dir_b").set_value(0).run()
    assert any("two different classes" in e for e in _errors(at))


def test_conditional_directions_have_a_class_and_no_boundary(store):
    """A conditional G is told its class: no boundary method, a class picker instead."""
    at = _latent(store[2]["cond"], "directions")
    assert at.selectbox(key="lat_dir_method").options == ["SeFa (closed form)", "PCA of a layer (GANSpace)"]
    at.selectbox(key="lat_dir_class").set_value(7).run()
    assert not at.exception and not _errors(at)
    assert "SeFa 1" in _texts(at)


def test_a_direction_start_that_is_no_latent_is_a_message(store):
    at = _latent(store[2]["digits"], "directions")
    at.text_input(key="lat_dir_start").set_value("p4").run()
    assert any("neither a seed nor a kept latent" in e for e in _errors(at)), _errors(at)
    assert not at.exception


# ---------------------------------------------------------------- projection and kept latents

def test_projection_of_a_dataset_image_is_kept_and_used_as_a_seed(store):
    """Project a dataset image, keep it as p1, then use p1 in interpolation, arithmetic, the walk and directions."""
    at = _latent(store[2]["cond"], "projection")
    at.number_input(key="lat_proj_index").set_value(5).run()
    at.select_slider(key="lat_proj_steps").set_value(50).run()
    at.button(key="lat_proj_go").click().run()
    assert not at.exception and not _errors(at), _errors(at)
    text = _texts(at)
    assert "against" in text and "best of the random z" in text and "G drew it as class" in text
    at.button(key="lat_proj_keep").click().run()
    kept = at.session_state["lat_kept"][store[2]["cond"]]
    assert list(kept) == ["p1"] and kept["p1"].z.shape == (1, 12) and kept["p1"].source == "dataset image 5"
    assert "Kept latents" in _texts(at)
    at.text_input(key="lat_seed_a").set_value("p1").run()
    at.text_input(key="lat_walk_seed").set_value("p1").run()
    at.text_input(key="lat_expr").set_value("p1 - 3 + 7").run()
    assert not at.exception and not _errors(at), _errors(at)
    assert _captions(at.get("image")[0])[0] == "p1"  # the interpolation strip starts at p1
    assert "P1 has z[0]" in _texts(at)
    at.segmented_control(key="lat_tool").set_value("directions").run()
    at.text_input(key="lat_dir_start").set_value("p1").run()
    assert not at.exception and not _errors(at), _errors(at)
    assert _captions(at.get("image")[-5])[3] == "p1"
    at.text_input(key="lat_expr").set_value("p2 + 3").run()
    assert any("neither a seed nor a kept latent" in e and "p1" in e for e in _errors(at)), _errors(at)


def test_an_upload_that_is_not_an_image_is_a_message_and_a_png_projects(store):
    at = _latent(store[2]["digits"], "projection")
    at.radio(key="lat_proj_source").set_value("upload").run()
    at.file_uploader(key="lat_proj_upload").upload("notes.png", b"this is not a png", "image/png").run()
    assert any("not an image ganlab can read" in e for e in _errors(at)), _errors(at)
    assert not at.exception
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray((np.random.default_rng(0).random((40, 30, 3)) * 255).astype(np.uint8)).save(buf, "PNG")
    at.file_uploader(key="lat_proj_upload").upload("mine.png", buf.getvalue(), "image/png").run()
    assert not _errors(at) and "mine.png as G sees it" in _texts(at) + " ".join(
        c for im in at.get("image") for c in _captions(im))
    at.select_slider(key="lat_proj_steps").set_value(50).run()
    at.button(key="lat_proj_go").click().run()
    assert not at.exception and not _errors(at), _errors(at)
    assert "Error **" in _texts(at)


def test_a_point_run_projects_a_typed_point_and_draws_direction_paths(store):
    """2-D runs: directions as paths over the data; a point (typed, or clicked on the figure) projected."""
    at = _latent(store[2]["ring"], "directions")
    fig = _figure(at, "fig_directions")
    paths = [t for t in fig["data"] if t.get("mode") == "lines+markers"]
    assert len(paths) == 4 and all(len(_values(p["x"])) == 7 for p in paths)
    at.segmented_control(key="lat_tool").set_value("projection").run()
    at.number_input(key="lat_proj_x").set_value(0.0).run()
    at.number_input(key="lat_proj_y").set_value(2.0).run()
    at.select_slider(key="lat_proj_steps").set_value(50).run()
    at.button(key="lat_proj_go").click().run()
    assert not at.exception and not _errors(at), _errors(at)
    assert "G(projected z) = (" in _texts(at)
    names = [t.get("name") for t in _figure(at, "lat_proj_click")["data"]]
    assert "target" in names and "G(projected z)" in names


# ---------------------------------------------------------------- nearest neighbours

def test_nearest_neighbours_show_three_training_images_per_sample(store):
    at = _latent(store[2]["digits"], "neighbours")
    assert not at.exception and not _errors(at), _errors(at)
    rows = at.get("image")[-8:]
    assert all(len(r.proto.imgs) == 4 for r in rows)
    caps = _captions(rows[0])
    assert caps[0].startswith("seed 0") and all(c.startswith("#") and ":" in c for c in caps[1:])
    assert "memorisation" in _texts(at).lower() or "copied" in _texts(at)
    at.slider(key="lat_nn_n").set_value(2).run()
    assert not at.exception and len([r for r in at.get("image") if len(r.proto.imgs) == 4]) == 2


def test_the_projection_picker_shows_the_images_the_neighbours_index(store):
    """The dataset picker's image i is training image #i of the neighbours, in [0, 1] (stored as uint8 on disk)."""
    from ganlab.explore.features import training_images
    from ganlab.ui.latent_widgets import dataset_arrays

    x, y = dataset_arrays("digits", str(store[1]))
    assert x.shape == (1797, 1, 8, 8) and x.min() == 0.0 and x.max() == 1.0 and len(y) == len(x)
    np.testing.assert_allclose(x, training_images("digits", store[1]), atol=1e-6)
