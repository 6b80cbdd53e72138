"""Data: get MNIST, Fashion-MNIST or CIFAR-10 (download, or which files to put where), pack a folder or an
archive of images into one HDF5 file, draw (or upload) 2-D points of your own, and browse any dataset."""

import re
import tempfile
import time
from pathlib import Path

import numpy as np
import streamlit as st

from ganlab.data import DATASETS, DataError, is_points
from ganlab.data import download as files
from ganlab.data.drawing import SQUARE, Drawing, dataset_name, save_points, saved_path, saved_point_sets
from ganlab.data.drawing import name_problem as point_name_problem
from ganlab.data.pack import PackOptions, pack
from ganlab.data.points import MIN_ROWS, points_from_bytes
from ganlab.ui.common import show_errors
from ganlab.ui.latent_widgets import label_histogram, overview_for
from ganlab.ui.manager import get_manager
from ganlab.ui.points import points_overview
from ganlab.ui.text import literal
from ganlab.viz import images, points
from ganlab.viz.drawing import drawing_figure

NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
REPORT = "_pack_report"  # session_state: (source, PackReport) of the last pack, shown while that source is chosen
FETCHED = "_download_report"  # session_state: (dataset, sentence) of the last download, shown while it is chosen
CHART = {"config": {"displaylogo": False}}
DRAWN = "_drawn_points"  # session_state: the Drawing being made (a list of actions; undo drops the last)
DRAW_CHART = "_draw_chart"  # session_state: a number in the chart's key: a new chart, empty selection, per action
SAVED = "_points_saved"  # session_state: (points: name, path, rows, columns) of the set saved last
UPLOADED = "_points_upload"  # session_state: (file id, points or the DataError's sentence) of the last upload
TRAIN_PICK = "train_pick_dataset"  # session_state: a dataset the Train page preselects once (views/train.py)
TOOLS = {"click": "click: a blob", "brush": "drag: a stroke", "fill": "drag: a filled shape",
         "box": "drag: a filled box"}  # the drawing chart's tool (its Plotly dragmode: ganlab.viz.drawing)


# ---------------------------------------------------------------- datasets that need files

def download_section(root: Path) -> None:
    st.subheader("Get MNIST, Fashion-MNIST or CIFAR-10")
    st.caption("These three need files on this server. ganlab fetches them with torchvision's own downloader "
               "(its checksums are checked), or you put the files there yourself.")
    names = files.SOURCES.names()
    if st.session_state.get("dl_name") not in names:
        st.session_state["dl_name"] = names[0]
    name = st.radio("Dataset to get", names, horizontal=True, key="dl_name",
                    format_func=lambda n: f"{n} (about {files.SOURCES.get(n).size_mb} MB)")
    status = files.status(name, root)
    done = st.session_state.get(FETCHED)
    if status.ready:
        if done and done[0] == name:
            st.progress(1.0, text=done[1])
        st.success(f"{name} is here, in `{status.folder}`: choose it on the Train page.",
                   icon=":material/check_circle:")
    else:
        st.info(f"{name} is not on this server yet.", icon=":material/cloud_download:")
        if st.button(f"Download {name}", type="primary", key="dl_go", icon=":material/download:",
                     help="Runs while this page is open; leaving it stops the download (a cut-off file is deleted)."):
            with show_errors(f"Could not download {name}"):
                try:
                    st.session_state[FETCHED] = (name, run_download(name, root))
                except DataError as e:  # the sentence says what failed and which files to put where
                    st.error(literal(e), icon=":material/cloud_off:")
                else:
                    st.session_state["data_browse"] = name
                    st.rerun()
        st.caption(f"From {literal(files.upstream_url(name))}" + ("" if files.mirror_url() else
                   f" (set the environment variable `{files.MIRROR_ENV}` to use a mirror)") + ".")
    with st.expander("No internet here? Put the files there yourself", expanded=not status.ready):
        st.markdown(f"Put these files in `{status.folder}`"
                    + (" (each may also be its `.gz`, as distributed):" if status.gz_ok else ":"))
        st.dataframe([{"file": f, "here": "yes" if f not in status.missing else "missing"} for f in status.files],
                     hide_index=True, width="content")
        if status.archive is not None:
            st.caption(f"Or put the archive `{status.archive.name}` in `{status.archive.parent}`: "
                       "it is unpacked the first time the dataset is loaded.")
        st.caption(f"torchvision fetches them from {literal(files.torchvision_url(name))}.")


def run_download(name: str, root: Path) -> str:
    """Download in this script run, moving the progress bar from torchvision's loop (same thread); -> a summary."""
    bar = st.progress(0.0, text=f"Connecting to {files.upstream_url(name)}…")
    seen: dict[str, int] = {}
    t0 = time.perf_counter()

    def progress(file: str, done: int, total: int) -> None:
        seen[file] = done
        size = f"{megabytes(done)} of {megabytes(total)}" if total else megabytes(done)
        bar.progress(min(done / total, 1.0) if total else 0.0, text=f"Downloading {file}: {size}")

    files.download(name, root, progress=progress)
    return (f"Downloaded {name}: {len(seen)} file{'s' * (len(seen) != 1)}, {megabytes(sum(seen.values()))} "
            f"in {time.perf_counter() - t0:.1f} s")


def megabytes(n: int) -> str:
    return f"{n / 1e6:,.1f} MB" if n >= 100_000 else f"{n / 1e3:,.1f} kB"


def packed_files(root: Path) -> list[str]:
    return [f"hdf5:{p}" for p in sorted(root.glob("*.h5"))] if root.is_dir() else []


def default_name(src: str) -> str:
    stem = Path(src.rstrip("/")).name
    for ext in (".gz", ".bz2", ".xz", ".tgz", ".tar", ".zip"):
        stem = stem[: -len(ext)] if stem.lower().endswith(ext) else stem
    return re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("_")[:64] or "my_images"


def replace_label(out: Path) -> str:
    return f"Replace the existing file {out.name}"


def name_problem(name: str, out: Path, replace: bool) -> str | None:
    if not NAME_RE.fullmatch(name):
        return "the name may use letters, digits, - and _ only (at most 64 characters)"
    if out.exists() and not replace:
        return f"{out.name} already exists: tick “{replace_label(out)}” or choose another name"
    return None


def run_pack(src: Path, out: Path, opts: PackOptions, replace: bool):
    """Pack in this script run, moving the progress bar from pack's callback (same thread)."""
    bar = st.progress(0.0, text="Looking for images…")

    def progress(done: int, total: int) -> None:
        bar.progress(done / total if total else 1.0, text=f"Packing: {done:,} / {total:,} images")

    report = pack(src, out, opts, progress=progress, overwrite=replace)  # pack refuses an existing file without it
    bar.progress(1.0, text=f"Packed {report.n_images:,} images")
    return report


def pack_upload(upload, out: Path, opts: PackOptions, replace: bool):
    """Pack an uploaded archive from a private temporary copy that keeps its name; errors name the upload, not
    the copy."""
    with tempfile.TemporaryDirectory(prefix="ganlab-upload-") as tmp:
        copy = Path(tmp) / (Path(upload.name).name or "upload")
        copy.write_bytes(upload.getbuffer())
        try:
            return run_pack(copy, out, opts, replace)
        except DataError as e:
            raise DataError(str(e).replace(str(copy), upload.name).replace(tmp, "the upload")) from None


def pack_section(root: Path) -> None:
    st.subheader("Pack your images")
    st.caption("Many small image files are slow to read; ganlab packs them once into one HDF5 file "
               "(uint8, chunked for random batches), as Make Your Own GAN does for CelebA.")
    kind = st.radio("Images from", ["upload", "server"], horizontal=True, key="data_src_kind",
                    format_func=lambda k: {"upload": "an uploaded .zip / .tar",
                                           "server": "a folder or archive on this server"}[k])
    upload, server_path = None, ""
    if kind == "upload":
        upload = st.file_uploader("Archive of images", type=["zip", "tar", "gz", "tgz", "bz2", "xz"],
                                  key="data_upload",
                                  help="Read member by member in memory; nothing is extracted. Paths with '..', "
                                       "links and non-images are skipped and listed.")
        source_name = upload.name if upload is not None else ""
    else:
        server_path = st.text_input("Folder or archive path on the server", key="data_path",
                                    placeholder="/home/me/pictures/faces",
                                    help="Searched recursively for .png, .jpg, .bmp, .gif, .webp, .tif, ...")
        source_name = server_path
    c1, c2, c3, c4 = st.columns(4)
    with c1:
        size = st.select_slider("Size (px, square)", [8, 16, 28, 32, 48, 64, 96, 128, 256], value=64, key="data_size",
                                help="DCGAN needs 8, 16, 28, 32, 64, 128, ...")
    with c2:
        channels = st.radio("Colour", [3, 1], horizontal=True, key="data_channels",
                            format_func=lambda c: "RGB" if c == 3 else "grayscale")
    with c3:
        crop = st.radio("Shape", ["center", "none"], horizontal=True, key="data_crop",
                        format_func=lambda c: "centre crop" if c == "center" else "squash")
    with c4:
        labels = st.radio("Labels", ["none", "from-folders"], horizontal=True, key="data_labels",
                          format_func=lambda c: "none" if c == "none" else "sub-folder names",
                          help="from sub-folder names: cats/1.jpg and dogs/2.jpg become classes 'cats' and 'dogs' "
                               "(needed for conditional GANs).")
    c1, c2 = st.columns([3, 1])
    with c1:
        name = st.text_input("Dataset name", value=default_name(source_name) if source_name else "",
                             key=f"data_name_{source_name}", placeholder="my_images")
    out = root / f"{name}.h5"
    replace = False
    if name and out.exists():
        with c2:  # keyed by the file: a tick given for one name never replaces another
            replace = st.checkbox(replace_label(out), key=f"data_replace_{name}",
                                  help="Packing then writes a new file in its place; the old one is gone.")
    problem = None
    if not source_name:
        problem = "choose an archive to upload" if kind == "upload" else "type a folder or archive path"
    else:
        problem = name_problem(name, out, replace)
    if problem and source_name:
        st.warning(f"Cannot pack yet — {problem}.")
    st.caption(f"Writes `{out if name else root / '<name>.h5'}`; it then appears in the Train page's dataset list. "
               "Packing runs while this page is open: leaving it or changing a widget cancels the pack "
               "(no half-written file is kept; the CLI `python -m ganlab pack` does the same without a browser).")
    source = (kind, source_name)
    if st.button("Pack", type="primary", key="data_pack", icon=":material/inventory_2:", disabled=problem is not None):
        opts = PackOptions(size=int(size), channels=int(channels), crop=crop, labels=labels)
        st.session_state.pop(REPORT, None)
        with show_errors("Could not pack"):
            if upload is not None:
                report = pack_upload(upload, out, opts, replace)
            else:
                report = run_pack(Path(server_path).expanduser(), out, opts, replace)
            st.session_state[REPORT] = (source, report)
            st.session_state["data_browse"] = f"hdf5:{out}"
    last = st.session_state.get(REPORT)
    if last is not None and last[0] == source:  # another source chosen since: that report is not about it
        show_report(last[1])


def show_report(report) -> None:
    if report is None:
        return
    st.success(f"Packed {report.n_images:,} images into `{report.out_path}`.")
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Images", f"{report.n_images:,}")
    c2.metric("Skipped", f"{report.n_skipped:,}")
    c3.metric("Images/s", f"{report.images_per_s:,.0f}", help=f"{report.seconds:.2f} s with {report.workers} decoding threads")
    c4.metric("Classes", len(report.class_names) or "—")
    if report.class_names:
        st.caption("Classes: " + ", ".join(report.class_names))
    if report.skipped:
        with st.expander(f"Skipped files ({report.n_skipped:,})"):
            st.dataframe([{"file": n, "reason": r} for n, r in report.skipped], hide_index=True, width="stretch")
    st.page_link("views/train.py", label=f"Train on it: choose “hdf5: {Path(report.out_path).name}” on the Train page",
                 icon=":material/rocket_launch:")


# ---------------------------------------------------------------- points of your own

def take_selection(drawing: Drawing, n: int, std: float, tool: str) -> None:
    """Add what the chart's last selection drew, once: the chart then gets a new key, so its selection is empty
    (and clicking the same place again is a new event)."""
    event = st.session_state.get(f"draw_chart_{st.session_state[DRAW_CHART]}")
    selection = event.get("selection") if event else None
    if drawing.apply(selection, n=n, std=std, lasso="fill" if tool == "fill" else "brush"):
        st.session_state[DRAW_CHART] += 1


def draw_section(root: Path) -> None:
    st.subheader("Draw your own 2-D data")
    lo, hi = SQUARE
    st.caption(f"Pick a tool: click anywhere in the square to spray a blob of points, or drag to draw a stroke "
               f"(rings are strokes), a filled shape or a filled box. The square spans [{lo:g}, {hi:g}] on both axes. "
               "Save the points as a dataset to train on them here or from the command line.")
    drawing = st.session_state.setdefault(DRAWN, Drawing())
    st.session_state.setdefault(DRAW_CHART, 0)
    c1, c2, c3 = st.columns([1, 1, 2])
    with c1:
        n = st.slider("Points per click or stroke", 5, 300, 40, step=5, key="draw_n")
    with c2:
        std = st.slider("Spread (std of a blob or brush)", 0.01, 0.5, 0.08, step=0.01, key="draw_std")
    with c3:
        tool = st.radio("Tool", list(TOOLS), horizontal=True, key="draw_tool", format_func=TOOLS.get,
                        help="Plotly answers a click only while no drag tool is on, so clicks and drags are two tools.")
    take_selection(drawing, n, std, tool)
    left, right = st.columns([3, 2])
    with left:
        st.plotly_chart(drawing_figure(drawing.points(), square=SQUARE, tool=tool),
                        key=f"draw_chart_{st.session_state[DRAW_CHART]}", on_select="rerun",
                        selection_mode=("points", "box", "lasso"), **CHART)
    with right:
        st.metric("Points drawn", f"{len(drawing):,}", help=f"{len(drawing.actions)} actions; at least {MIN_ROWS} "
                  "points make a dataset")
        b1, b2 = st.columns(2)
        b1.button("Undo", key="draw_undo", icon=":material/undo:", on_click=drawing.undo, disabled=not drawing.actions,
                  help="Remove what the last click or stroke added.", width="stretch")
        b2.button("Clear", key="draw_clear", icon=":material/delete:", on_click=drawing.clear,
                  disabled=not drawing.actions, width="stretch")
        save_block(root, drawing.points(), "draw", "drawn", what="draw")
    upload_block(root)
    show_saved()


def save_block(root: Path, x: np.ndarray, prefix: str, default: str, *, what: str) -> None:
    """Name, overwrite tick and Save for a point set (drawn or uploaded)."""
    name = st.text_input("Name of the point set", value=default, key=f"{prefix}_name", max_chars=64,
                         help="Letters, digits, - and _; saved as <data root>/points/NAME.npy.")
    problem = point_name_problem(name)
    out = None if problem else saved_path(name, root)
    replace = False
    if out is not None and out.exists():  # keyed by the name: a tick given for one name never replaces another
        replace = st.checkbox(f"Overwrite the existing {out.name}", key=f"{prefix}_replace_{name}")
        if not replace:
            just_saved = (st.session_state.get(SAVED) or ("", ""))[1] == str(out)
            problem = (f"saved as {out.name}; to save what you add now, tick “Overwrite the existing {out.name}” "
                       "or choose another name") if just_saved else \
                f"{out.name} already exists: tick “Overwrite the existing {out.name}” or choose another name"
    if len(x) < MIN_ROWS:
        problem = f"{what} at least {MIN_ROWS} points ({len(x)} so far)"
    if problem and len(x):
        st.caption(literal(problem[0].upper() + problem[1:]) + "." if problem.startswith("saved as")
                   else f"Cannot save yet — {literal(problem)}.")
    if st.button("Save as a dataset", key=f"{prefix}_save", type="primary", icon=":material/save:",
                 disabled=problem is not None):
        with show_errors("Could not save the points"):
            path = save_points(x, name, root, overwrite=replace)
            st.session_state[SAVED] = (dataset_name(path), str(path), len(x), x.shape[1])
            st.rerun()


def upload_block(root: Path) -> None:
    with st.expander("Or upload a .csv or .npy file of points (any number of columns)"):
        upload = st.file_uploader("Points file", type=["csv", "txt", "npy"], key="points_upload",
                                  help="One point per row: numbers separated by commas or spaces (an optional "
                                       "header row), or a NumPy array of shape (N, D). Checked as the CLI checks it.")
        if upload is None:
            return
        last = st.session_state.get(UPLOADED)
        if last is None or last[0] != upload.file_id:
            try:
                last = (upload.file_id, points_from_bytes(upload.getvalue(), upload.name))
            except DataError as e:
                last = (upload.file_id, str(e))
            st.session_state[UPLOADED] = last
        if isinstance(last[1], str):
            st.error(literal(last[1]), icon=":material/error:")
            return
        x = last[1]
        st.caption(f"{upload.name}: {len(x):,} points with {x.shape[1]} coordinate{'s' * (x.shape[1] != 1)}, "
                   "every value a finite number.")
        if x.shape[1] == 2:
            st.plotly_chart(points.points_figure(x, None, title=upload.name, height=360), key="upload_pts", **CHART)
        save_block(root, x, "upload", default_name(upload.name.rsplit(".", 1)[0]) or "uploaded", what="upload")


def show_saved() -> None:
    saved = st.session_state.get(SAVED)
    if saved is None:
        return
    name, path, rows, cols = saved
    st.success(f"Saved {rows:,} points ({cols}-D) to `{path}`. Train on it from the command line:",
               icon=":material/check_circle:")
    st.code(f"python -m ganlab train --dataset {name}", language="bash")
    if st.button("Train on it", key="points_train", icon=":material/rocket_launch:",
                 help=f"Opens the Train page with {name} chosen as the dataset."):
        st.session_state[TRAIN_PICK] = name
        st.switch_page("views/train.py")


def dataset_label(name: str) -> str:
    if name.startswith("hdf5:"):
        return f"hdf5: {name.rsplit('/', 1)[-1]}"
    return f"points: {name.split(':', 1)[1]}" if is_points(name) else name


# ---------------------------------------------------------------- browsing

def browse_section(root: Path) -> None:
    st.subheader("Browse a dataset")
    options = DATASETS.names() + packed_files(root) + saved_point_sets(root)
    if st.session_state.get("data_browse") not in options:
        st.session_state["data_browse"] = "digits"
    name = st.selectbox("Dataset", options, key="data_browse", format_func=dataset_label)
    if name in DATASETS:
        st.caption(DATASETS.describe(name))
    try:
        o = points_overview(name, root) if is_points(name) else overview_for(name, root)
    except DataError as e:
        st.error(literal(e))
        return
    except Exception as e:  # noqa: BLE001 - a damaged file is a message, never a traceback
        st.error(literal(f"Could not read {name}: {type(e).__name__}: {e}"))
        return
    with show_errors(f"Could not show {name}"):
        show_overview(o)


def show_overview(o) -> None:
    """Facts, a sample grid (or scatter / table) and the label histogram of one dataset."""
    spec = o.spec
    c1, c2, c3, c4 = st.columns(4)
    held = o.meta.get("n_held_out")
    c1.metric("Samples", f"{o.meta.get('n_points', o.size):,}",
              help=f"{o.size:,} to train on, {held:,} held out for the metrics" if held else None)
    c2.metric("Shape", " × ".join(map(str, spec.shape)), help="(channels, height, width) for images")
    c3.metric("Kind", spec.kind)
    c4.metric("Classes", spec.num_classes or "—")
    left, right = st.columns([3, 2])
    with left:
        if spec.kind == "images":
            grid = images.image_grid(o.samples, nrow=8)
            st.image(grid, caption=f"{len(o.samples)} random samples", width="stretch")
        elif spec.shape == (2,):
            st.plotly_chart(points.points_figure(o.samples, None, title=f"{len(o.samples)} samples"), key="data_pts",
                            **CHART)
        else:
            st.dataframe(np.round(o.samples[:32], 3), width="stretch")
    with right:
        if o.label_counts is not None:
            st.plotly_chart(label_histogram(o.label_counts, spec), key="data_hist", **CHART)
        else:
            st.caption("No labels: conditional GANs need a labelled dataset (pack with labels from sub-folders).")
        if "source" in o.meta:
            opts = o.meta.get("options") or {}
            how = ", ".join(f"{k} {opts[k]}" for k in ("size", "channels", "crop", "labels") if k in opts)
            st.caption(f"Packed from `{o.meta['source']}` on {o.meta.get('created', '?')} ({how}); "
                       f"{o.meta.get('n_skipped', 0)} files skipped. File: `{o.meta.get('path', '')}`")


st.title(":material/database: Data")
data_root = get_manager().data_root
download_section(data_root)
st.divider()
pack_section(data_root)
st.divider()
draw_section(data_root)
st.divider()
browse_section(data_root)
