"""Data: get MNIST, Fashion-MNIST or CIFAR-10 (download, or which files to put where), pack a folder or an
archive of images into one HDF5 file, and browse any dataset."""

import re
import tempfile
import time
from pathlib import Path

import numpy as np
import streamlit as st

from ganlab.data import DATASETS, DataError
from ganlab.data import download as files
from ganlab.data.pack import PackOptions, pack
from ganlab.ui.common import show_errors
from ganlab.ui.latent_widgets import label_histogram, overview_for
from ganlab.ui.manager import get_manager
from ganlab.ui.text import literal
from ganlab.viz import images, points

NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
REPORT = "_pack_report"  # session_state: (source, PackReport) of the last pack, shown while that source is chosen
FETCHED = "_download_report"  # session_state: (dataset, sentence) of the last download, shown while it is chosen
CHART = {"config": {"displaylogo": False}}


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


def browse_section(root: Path) -> None:
    st.subheader("Browse a dataset")
    options = DATASETS.names() + packed_files(root)
    if st.session_state.get("data_browse") not in options:
        st.session_state["data_browse"] = "digits"
    name = st.selectbox("Dataset", options, key="data_browse",
                        format_func=lambda n: f"hdf5: {n.rsplit('/', 1)[-1]}" if n.startswith("hdf5:") else n)
    if name in DATASETS:
        st.caption(DATASETS.describe(name))
    try:
        o = overview_for(name, root)
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
    c1.metric("Samples", f"{o.size:,}")
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
browse_section(data_root)
