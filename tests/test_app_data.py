"""AppTest: the Data page packs a folder from a server path, reports it, and browses datasets."""

import os
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
from PIL import Image
from streamlit.testing.v1 import AppTest

APP = Path(__file__).resolve().parents[1] / "app.py"


@pytest.fixture(autouse=True)
def _fresh_caches():
    """Cached managers and overviews are per process; each test has its own GANLAB_DATA."""
    st.cache_resource.clear()
    yield
    st.cache_resource.clear()


def _data_page() -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    at.switch_page("views/data.py").run()
    assert not at.exception, at.exception
    return at


def _folder(root: Path, n: int = 12) -> Path:
    """n small PNGs in two class folders, plus one file that is not an image."""
    rng = np.random.RandomState(0)
    for i in range(n):
        d = root / ("cats" if i % 3 else "dogs")
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.randint(0, 255, (20, 24, 3), dtype=np.uint8)).save(d / f"{i}.png")
    (root / "cats" / "broken.png").write_bytes(b"not a png")
    return root


def test_page_loads_and_browses_digits():
    """No packed data yet: the page loads, the browser shows digits with its label histogram."""
    at = _data_page()
    assert not at.error
    assert at.selectbox(key="data_browse").value == "digits"
    assert [m.value for m in at.metric if m.label != "Points drawn"][:2] == ["1,797", "1 × 8 × 8"]
    assert len(at.get("plotly_chart")) == 2 and len(at.get("image")) == 1  # the drawing board and the label histogram


def test_pack_a_server_folder_shows_the_report(tmp_path):
    """Pack a folder path: the report counts images and skipped files; the file appears in the browser."""
    src = _folder(tmp_path / "pics")
    at = _data_page()
    at.radio(key="data_src_kind").set_value("server").run()
    at.text_input(key="data_path").set_value(str(src)).run()
    at.select_slider(key="data_size").set_value(16).run()
    at.radio(key="data_labels").set_value("from-folders").run()
    name = at.text_input(key=f"data_name_{src}")
    assert name.value == "pics"
    at.button(key="data_pack").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    out = Path(os.environ["GANLAB_DATA"]) / "pics.h5"
    assert out.is_file()
    assert any("Packed 12 images" in s.value for s in at.success)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Images"] == "12" and metrics["Skipped"] == "1" and metrics["Classes"] == "2"
    assert at.selectbox(key="data_browse").value == f"hdf5:{out}"
    assert metrics["Samples"] == "12" and metrics["Shape"] == "3 × 16 × 16"


def test_bad_folder_path_is_an_error_message(tmp_path):
    """A path that does not exist: st.error saying so, no exception, no file."""
    at = _data_page()
    at.radio(key="data_src_kind").set_value("server").run()
    at.text_input(key="data_path").set_value(str(tmp_path / "nowhere")).run()
    at.button(key="data_pack").click().run()
    assert not at.exception
    assert any("source not found" in e.value for e in at.error)
    assert not list(Path(os.environ["GANLAB_DATA"]).glob("*.h5"))


def test_bad_name_blocks_pack(tmp_path):
    src = _folder(tmp_path / "pics", n=3)
    at = _data_page()
    at.radio(key="data_src_kind").set_value("server").run()
    at.text_input(key="data_path").set_value(str(src)).run()
    at.text_input(key=f"data_name_{src}").set_value("../evil").run()
    assert any("letters, digits" in w.value for w in at.warning)
    assert at.button(key="data_pack").disabled


def test_missing_mnist_says_what_to_put_where():
    """Browsing mnist without its files: the DataError's instructions, not a traceback."""
    at = _data_page()
    at.selectbox(key="data_browse").set_value("mnist").run()
    assert not at.exception
    assert any("put train-images-idx3-ubyte" in e.value for e in at.error)


def test_pack_an_uploaded_zip(tmp_path):
    """An uploaded .zip is packed from memory; a '..' member is skipped and listed, never written."""
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for i in range(6):
            png = io.BytesIO()
            Image.fromarray(np.full((10, 10, 3), 40 * i, np.uint8)).save(png, "PNG")
            z.writestr(f"sprites/{'a' if i % 2 else 'b'}/{i}.png", png.getvalue())
        z.writestr("../evil.png", png.getvalue())
    at = _data_page()
    at.file_uploader(key="data_upload").upload("sprites.zip", buf.getvalue(), "application/zip").run()
    name = at.text_input(key="data_name_sprites.zip")
    assert name.value == "sprites"
    at.radio(key="data_labels").set_value("from-folders").run()
    at.button(key="data_pack").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Images"] == "6" and metrics["Skipped"] == "1" and metrics["Classes"] == "2"
    assert (Path(os.environ["GANLAB_DATA"]) / "sprites.h5").is_file()
    assert not (Path(os.environ["GANLAB_DATA"]).parent / "evil.png").exists()


# ---------------------------------------------------------------- datasets that need files (issue #22)

MNIST_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def _shown(markdown: str) -> str:
    import re

    return re.sub(r"\\(.)", r"\1", markdown.replace("`", ""))


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """$GANLAB_MIRROR on a local http.server of small valid files; torchvision expects their md5s."""
    from tests.helpers.mirror import build_mirror, expect_these_files, serving

    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    expect_these_files(monkeypatch, build_mirror(tmp_path / "mirror"))
    with serving(tmp_path / "mirror") as url:
        monkeypatch.setenv("GANLAB_MIRROR", url)
        yield url


def test_download_from_the_mirror_with_a_progress_bar(mirror):
    """Download fashion-mnist on the page: torchvision fetches it from the mirror, the bar ends on a summary,
    the page says it is here, the browser shows it, and the Train page is Ready for it."""
    at = _data_page()
    at.radio(key="dl_name").set_value("fashion-mnist").run()
    assert f"{mirror}/fashion-mnist/" in " ".join(c.value for c in at.caption)
    at.button(key="dl_go").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    bars = [b.proto.text for b in at.get("progress")]
    assert any(t.startswith("Downloaded fashion-mnist: 4 files") for t in bars), bars
    assert any("fashion-mnist is here" in s.value for s in at.success)
    assert (Path(os.environ["GANLAB_DATA"]) / "FashionMNIST" / "raw" / "train-images-idx3-ubyte").is_file()
    assert at.selectbox(key="data_browse").value == "fashion-mnist"
    assert {m.label: m.value for m in at.metric}["Samples"] == "30"
    at.switch_page("views/train.py").run()
    at.selectbox(key="cfg_dataset").set_value("fashion-mnist").run()
    assert any(s.value.startswith("Ready: fashion-mnist") for s in at.success) and not at.button(key="start").disabled


def test_offline_download_says_which_files_to_put_where(monkeypatch):
    """Nothing answers: the error names the folder and the files, the by-hand list is open, nothing is kept."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        monkeypatch.setenv("GANLAB_MIRROR", f"http://127.0.0.1:{s.getsockname()[1]}")
    at = _data_page()
    assert at.radio(key="dl_name").value == "mnist"
    at.button(key="dl_go").click().run()
    assert not at.exception
    folder = Path(os.environ["GANLAB_DATA"]) / "MNIST" / "raw"
    error = " ".join(_shown(e.value) for e in at.error)
    assert error.startswith("mnist: the download from") and "Connection refused" in error, error
    assert str(folder) in error and all(n in error for n in MNIST_NAMES), error
    by_hand = [e for e in at.expander if "Put the files there yourself" in e.label][0]
    assert str(folder) in _shown(by_hand.markdown[0].value)
    assert by_hand.dataframe[0].value["here"].tolist() == ["missing"] * 4
    assert not folder.exists() or not any(folder.iterdir())


def test_upload_errors_name_the_upload_not_a_temporary_file():
    at = _data_page()
    at.file_uploader(key="data_upload").upload("holiday.zip", b"this is not a zip file", "application/zip").run()
    at.button(key="data_pack").click().run()
    assert not at.exception
    error = " ".join(e.value for e in at.error)
    assert "holiday.zip" in error and "/tmp" not in error and "ganlab-upload" not in error, error


def test_the_pack_report_goes_when_the_source_changes(tmp_path):
    """A "Packed ..." report is about one source: after switching to an upload it is gone, not left stale."""
    src = _folder(tmp_path / "pics", n=3)
    at = _data_page()
    at.radio(key="data_src_kind").set_value("server").run()
    at.text_input(key="data_path").set_value(str(src)).run()
    at.button(key="data_pack").click().run()
    assert any("Packed 3 images" in s.value for s in at.success)
    at.radio(key="data_src_kind").set_value("upload").run()
    assert not any("Packed" in s.value for s in at.success)


def test_an_existing_file_is_replaced_only_when_asked(tmp_path):
    """Packing to a name that exists asks first (a checkbox naming the file); ticked, pack replaces it."""
    src = _folder(tmp_path / "pics", n=3)
    out = Path(os.environ["GANLAB_DATA"]) / "pics.h5"
    at = _data_page()
    at.radio(key="data_src_kind").set_value("server").run()
    at.text_input(key="data_path").set_value(str(src)).run()
    at.button(key="data_pack").click().run()
    first = out.stat().st_mtime_ns
    at.run()
    assert any("pics.h5 already exists" in w.value for w in at.warning) and at.button(key="data_pack").disabled
    box = at.checkbox(key="data_replace_pics")
    assert box.label == "Replace the existing file pics.h5"
    box.check().run()
    at.button(key="data_pack").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("Packed 3 images" in s.value for s in at.success) and out.stat().st_mtime_ns != first
