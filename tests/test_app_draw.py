"""AppTest: the Data page draws points from chart selections (the event state Streamlit keeps under the chart's
key), saves them and uploads as `points:` datasets, and "Train on it" preselects the set on the Train page, which
also takes a points file by path and shows a bad file's DataError instead of starting."""

import os
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from tests.helpers.app import fresh_manager  # noqa: F401 - autouse: a JobManager per test

APP = Path(__file__).resolve().parents[1] / "app.py"
CLICK = {"points": [{"curve_number": 0, "point_number": 41, "point_index": 41, "x": 1.0, "y": -1.0}],
         "point_indices": [41], "box": [], "lasso": []}
BOX = {"points": [{"x": -2.0, "y": 2.0}], "point_indices": [7],
       "box": [{"xref": "x", "yref": "y", "x": [-2.5, -1.5], "y": [1.5, 2.5]}], "lasso": []}
LASSO = {"points": [], "point_indices": [], "box": [],
         "lasso": [{"xref": "x", "yref": "y", "x": [0.0, 1.0, 1.0, 0.0], "y": [0.0, 0.0, 1.0, 1.0]}]}


@pytest.fixture(autouse=True)
def _fresh_caches():
    st.cache_resource.clear()
    st.cache_data.clear()
    yield
    st.cache_resource.clear()


def _data_page() -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    at.switch_page("views/data.py").run()
    assert not at.exception, at.exception
    return at


def _select(at: AppTest, selection: dict) -> None:
    """What the browser sends when the drawing chart's selection changes: the event under the chart's key."""
    at.session_state[f"draw_chart_{at.session_state['_draw_chart']}"] = {"selection": selection}
    at.run()
    assert not at.exception, at.exception


def _drawn(at: AppTest) -> int:
    return int(next(m.value for m in at.metric if m.label == "Points drawn").replace(",", ""))


def _points_dir() -> Path:
    return Path(os.environ["GANLAB_DATA"]) / "points"


def test_selections_draw_undo_clear_and_save():
    at = _data_page()
    assert _drawn(at) == 0 and at.button(key="draw_save").disabled and at.button(key="draw_undo").disabled
    _select(at, CLICK)
    assert _drawn(at) == 40
    _select(at, CLICK)  # the same click again is a new action: the chart took a new key after the first
    _select(at, BOX)
    at.radio(key="draw_tool").set_value("fill").run()
    _select(at, LASSO)
    assert _drawn(at) == 160
    drawing = at.session_state["_drawn_points"]
    box, square = drawing.actions[2], drawing.actions[3]
    assert ((box >= [-2.5, 1.5]) & (box <= [-1.5, 2.5])).all() and ((square > 0) & (square < 1)).all()
    at.button(key="draw_undo").click().run()
    assert _drawn(at) == 120
    at.slider(key="draw_n").set_value(100).run()
    _select(at, LASSO)  # 100 points per action now, still filling the lasso
    assert _drawn(at) == 220
    at.text_input(key="draw_name").set_value("bad name!").run()
    assert at.button(key="draw_save").disabled
    assert any("letters, digits" in c.value for c in at.caption)
    at.text_input(key="draw_name").set_value("my-ring").run()
    at.button(key="draw_save").click().run()
    assert not at.exception and not at.error
    saved = np.load(_points_dir() / "my-ring.npy")
    assert np.array_equal(saved, at.session_state["_drawn_points"].points()) and saved.shape == (220, 2)
    assert any("python -m ganlab train --dataset points:my-ring.npy" in c.value for c in at.code)
    at.button(key="draw_clear").click().run()
    assert _drawn(at) == 0
    _select(at, CLICK)
    assert at.button(key="draw_save").disabled  # my-ring.npy exists: replacing it takes an explicit tick
    at.checkbox(key="draw_replace_my-ring").check().run()
    at.button(key="draw_save").click().run()
    assert np.load(_points_dir() / "my-ring.npy").shape == (100, 2)


def test_upload_save_and_train_on_it():
    at = _data_page()
    rows = np.random.default_rng(0).normal(size=(200, 3))
    csv = "a,b,c\n" + "\n".join(",".join(f"{v:.5f}" for v in r) for r in rows) + "\n"
    at.file_uploader(key="points_upload").upload("my points.csv", csv.encode(), "text/csv").run()
    assert not at.exception and not at.error
    assert any("200 points with 3 coordinates" in c.value for c in at.caption)
    assert at.text_input(key="upload_name").value == "my_points"
    at.button(key="upload_save").click().run()
    saved = np.load(_points_dir() / "my_points.npy")
    assert saved.shape == (200, 3) and np.allclose(saved, rows, atol=1e-5)
    at.button(key="points_train").click().run()
    assert not at.exception, at.exception
    assert at.selectbox(key="cfg_dataset").value == "points:my_points.npy"
    assert not at.error and any("Ready: points:my\\_points.npy" in s.value or "Ready: points:my_points.npy" in s.value
                                for s in at.success)
    assert not at.button(key="start").disabled


def test_a_bad_upload_shows_its_data_error_and_offers_no_save():
    at = _data_page()
    bad = "x,y\n" + "\n".join(f"{i},{i}" for i in range(40)) + "\n3,abc\n"
    at.file_uploader(key="points_upload").upload("bad.csv", bad.encode(), "text/csv").run()
    assert not at.exception
    assert any("bad.csv, line 42, column 2: 'abc' is not a number" in e.value for e in at.error)
    assert "upload_save" not in [b.key for b in at.button]


def test_the_train_page_takes_a_points_file_by_path_and_shows_a_bad_one(tmp_path):
    good, bad = tmp_path / "good.npy", tmp_path / "bad.csv"
    np.save(good, np.random.default_rng(0).normal(size=(100, 2)))
    bad.write_text("\n".join(f"{i},{i}" for i in range(100)) + "\n1,nan\n")  # the header is fine: only a full read sees it
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    assert "points file…" in at.selectbox(key="cfg_dataset").options
    at.selectbox(key="cfg_dataset").set_value("points file…").run()
    at.text_input(key="train_points_path").set_value(str(bad)).run()
    assert not at.exception and at.button(key="start").disabled
    assert any("line 101, column 2: nan is not a finite number" in e.value for e in at.error)
    at.text_input(key="train_points_path").set_value(str(good)).run()
    assert not at.error and not at.button(key="start").disabled
    assert any("Your points (2-D" in c.value for c in at.caption)
