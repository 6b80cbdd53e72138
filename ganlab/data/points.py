"""Point data of a person's own (`points:FILE`): a .csv or .npy array of shape (N, D), checked as untrusted input.

A file is opened only when it is a regular file (a FIFO would block forever, /dev/zero never ends:
`pack.sources.open_regular`), refused above a size cap before a byte is read, and an .npy file is
never unpickled. `read_points_spec` reads the header (the .npy header, or a CSV's first lines) so a
page can validate a config on every rerun; `read_points` checks every value. Every refusal is one
DataError naming the file, the row or column where it can, and what to do.

A fixed tenth of the points (`held_out_count`) is held out of training: the distribution metrics
measure G against points it never saw, and the training split against the same points gives the
floor a perfect G would score.
"""

from __future__ import annotations

import io
import math
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Optional

import numpy as np
import torch

from ..errors import DataError
from ..paths import data_root
from .base import DataSpec, TensorDataset

POINTS_PREFIX = "points:"
POINTS_DIR = "points"  # drawn and uploaded sets live in <data root>/points/
TEXT_SUFFIXES = (".csv", ".txt")
NPY_SUFFIX = ".npy"
MIN_ROWS = 32  # fewer say nothing about a distribution (and leave no held-out split)
MAX_ROWS = 5_000_000
MAX_DIM = 64
MAX_BYTES = 512 * 2**20  # the file, before a byte is read
HOLDOUT_SEED = 20240  # the split is the file's, not the run's: every run of a file is scored on the same points
HEAD_LINES = 64  # lines read_points_spec may look at to find a CSV's header and first row
HINT = "a .csv with one point per line (numbers separated by commas or spaces, an optional header) or an .npy array"


def is_points(name: str) -> bool:
    return name.startswith(POINTS_PREFIX)


def points_path(name: str, root=None) -> Path:
    """`points:FILE` as a path: as given, else under the data root, else under <data root>/points/."""
    raw = name[len(POINTS_PREFIX):] if is_points(name) else name
    if not raw.strip():
        raise DataError("points: needs a file after the colon, e.g. points:my_points.csv or points:/data/xy.npy")
    p = Path(raw).expanduser()
    base = data_root(root)
    try:
        if p.is_absolute() or p.exists():
            return p.absolute()
        for candidate in (base / p, base / POINTS_DIR / p):
            if candidate.exists():
                return candidate
    except (OSError, ValueError) as e:  # a name too long for the filesystem, a NUL byte
        raise DataError(f"points:{raw[:60]}{'…' * (len(raw) > 60)} is not a usable file name "
                        f"({getattr(e, 'strerror', None) or e}) — give the path of {HINT}") from None
    raise DataError(f"points file not found: {raw} (looked here, in {base} and in {base / POINTS_DIR}) — give the "
                    f"path of {HINT}, or draw and save one on the Data page")


def held_out_count(n: int) -> int:
    """A tenth of the points, but at least 100 (or a quarter, for small sets) so the metrics have points to use."""
    return max(n // 10, min(100, n // 4))


def split_held_out(n: int) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, held-out indices) of n points: a fixed seeded draw, sorted."""
    perm = np.random.default_rng(HOLDOUT_SEED).permutation(n)
    h = held_out_count(n)
    return np.sort(perm[h:]), np.sort(perm[:h])


@dataclass
class PointsDataset(TensorDataset):
    """A points file's training split on the device (batches and `take` as every TensorDataset), and the
    held-out split the metrics score against (never drawn by `batch`)."""

    held_out: Optional[torch.Tensor] = None


# ---------------------------------------------------------------------------------------------- opening

def _kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == NPY_SUFFIX or suffix in TEXT_SUFFIXES:
        return suffix
    raise DataError(f"{path}: a points file must end in .csv or .npy (this one is {suffix or 'without a suffix'}) — "
                    f"save {HINT}")


def _open_checked(path: Path) -> tuple[BinaryIO, int]:
    """The file opened for reading and its size: only a regular file under the size cap."""
    from .pack.sources import NotRegular, open_regular

    try:
        if stat.S_ISDIR(os.stat(path).st_mode):
            raise DataError(f"{path} is a folder, not a points file — give the path of {HINT}")
        f = open_regular(path)
    except NotRegular as e:
        raise DataError(f"{path} is {e.what}, not a regular file — copy the points into {HINT}") from None
    except FileNotFoundError:
        raise DataError(f"points file not found: {path} — give the path of {HINT}") from None
    except (OSError, ValueError) as e:  # ValueError: a NUL byte in the name
        raise DataError(f"{path} cannot be read ({getattr(e, 'strerror', None) or e}) — check that the file exists "
                        "and is readable") from None
    size = os.fstat(f.fileno()).st_size
    if size > MAX_BYTES:
        f.close()
        raise DataError(f"{path} is {size / 2**20:,.0f} MB, over the {MAX_BYTES // 2**20} MB a points file may be — "
                        f"keep at most {MAX_ROWS:,} rows (a random subset is enough to train on)")
    if size == 0:
        f.close()
        raise DataError(f"{path} is empty — save {HINT}")
    return f, size


# ---------------------------------------------------------------------------------------------- .npy

def _npy_header(f: BinaryIO, where: str) -> tuple[tuple[int, ...], np.dtype, int]:
    """(shape, dtype, data offset) from an .npy header; nothing past the header is read."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(f)
        readers = {(1, 0): fmt.read_array_header_1_0, (2, 0): fmt.read_array_header_2_0,
                   (3, 0): lambda fp: fmt._read_array_header(fp, (3, 0))}
        if version not in readers:
            raise ValueError(f"unknown .npy version {version}")
        shape, _, dtype = readers[version](f)
    except (ValueError, OSError, SyntaxError, TypeError) as e:
        raise DataError(f"{where} is not a readable .npy file ({str(e)[:160]}) — save it with numpy.save(path, array)") \
            from None
    return tuple(int(s) for s in shape), np.dtype(dtype), f.tell()


def _check_npy_layout(shape: tuple[int, ...], dtype: np.dtype, where: str) -> None:
    if dtype.hasobject or dtype.kind not in "fiu":
        what = "objects (which would need pickle; ganlab never unpickles a file)" if dtype.hasobject else str(dtype)
        raise DataError(f"{where} holds {what}, not numbers — save a float or integer array, e.g. "
                        "numpy.save(path, x.astype('float32'))")
    if len(shape) != 2:
        hint = (" — one coordinate per point? save x.reshape(-1, 1)" if len(shape) == 1 else
                " — save one point per row, shape (N, D)")
        raise DataError(f"{where} has shape {shape}, but a points file is a 2-D array (N points, D coordinates){hint}")
    _check_size(shape[0], shape[1], where)


def _check_size(n: int, d: int, where: str) -> None:
    if not 1 <= d <= MAX_DIM:
        raise DataError(f"{where} has {d} coordinates per point; ganlab trains on 1 to {MAX_DIM} — "
                        "keep the columns that matter (or project the data down first)")
    if n < MIN_ROWS:
        raise DataError(f"{where} has {n} point{'s' * (n != 1)}; a distribution needs at least {MIN_ROWS} — "
                        "add more points (draw more, or spray a few blobs on the Data page)")
    if n > MAX_ROWS:
        raise DataError(f"{where} has {n:,} points, over the {MAX_ROWS:,} a points file may hold — "
                        "save a random subset")


def _checked_npy_header(f: BinaryIO, size: int, where: str) -> tuple[int, ...]:
    """The shape of a well-formed points array, from the header and the file's size (no data is read)."""
    shape, dtype, offset = _npy_header(f, where)
    _check_npy_layout(shape, dtype, where)
    need = math.prod(shape) * dtype.itemsize
    if size - offset < need:
        raise DataError(f"{where} is truncated: its header says {shape} {dtype} ({need:,} bytes) but "
                        f"{size - offset:,} follow — save it again")
    return shape


def _read_npy(f: BinaryIO, size: int, where: str) -> np.ndarray:
    _checked_npy_header(f, size, where)
    f.seek(0)
    try:
        x = np.lib.format.read_array(f, allow_pickle=False)
    except (ValueError, OSError) as e:
        raise DataError(f"{where} cannot be read as an array ({str(e)[:160]}) — save it again with numpy.save") from None
    return _finite_float32(x, where, lambda r, c: f"x[{r}, {c}]")


# ---------------------------------------------------------------------------------------------- .csv

_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|[-+]?(nan|inf|infinity)", re.IGNORECASE)
MAX_LINE = 64 * 1024  # bytes of one CSV line: 64 numbers need far less; a longer line is not a points file


def _cells(line: str) -> list[str]:
    """A line's cells: comma separated when it has a comma, else separated by spaces or tabs."""
    return [c.strip() for c in line.split(",")] if "," in line else line.split()


def _text_lines(f: BinaryIO, where: str) -> Iterator[tuple[int, list[str]]]:
    """(line number, cells) of every line that is not blank or a # comment, read as UTF-8 one capped line at a time."""
    number = 0
    while True:
        raw = f.readline(MAX_LINE + 1)
        if not raw:
            return
        number += 1
        if len(raw) > MAX_LINE:
            raise DataError(f"{where}, line {number}: longer than {MAX_LINE // 1024} KB — this is not a points file; "
                            f"save {HINT}")
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        try:
            line = raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise DataError(f"{where}, line {number}: not UTF-8 text — save {HINT}") from None
        if "\x00" in line:
            raise DataError(f"{where}, line {number}: a NUL byte — this is not a text file; save {HINT}")
        if line and not line.startswith("#"):
            yield number, _cells(line)


def _not_a_number(where: str, number: int, cells: list[str], why: str = "") -> DataError:
    col, cell = next((i, c) for i, c in enumerate(cells, 1) if not _NUMBER.fullmatch(c))
    return DataError(f"{where}, line {number}, column {col}: {cell[:40]!r} is not a number — fix or delete that row{why}")


def _head(lines: Iterator[tuple[int, list[str]]], where: str) -> tuple[bool, int, list[str]]:
    """(has a header, line number of the first row of numbers, its cells) from the first lines."""
    header = False
    for number, cells in lines:
        if all(_NUMBER.fullmatch(c) for c in cells):
            return header, number, cells
        if header:
            raise _not_a_number(where, number, cells, " (only the first row may be a header)")
        header = True
    raise DataError(f"{where} has no rows of numbers — save {HINT}")


def _read_csv(f: BinaryIO, where: str) -> np.ndarray:
    lines = _text_lines(f, where)
    _, first, cells = _head(lines, where)
    d = len(cells)
    _check_size(MIN_ROWS, d, where)
    numbers, rows = [first], [[float(c) for c in cells]]
    for number, cells in lines:
        if len(cells) != d:
            raise DataError(f"{where}, line {number}: {len(cells)} value{'s' * (len(cells) != 1)}, but the first row "
                            f"(line {first}) has {d} — every row needs the same number of columns")
        try:
            rows.append([float(c) for c in cells])
        except ValueError:
            raise _not_a_number(where, number, cells) from None
        numbers.append(number)
        if len(rows) > MAX_ROWS:
            raise DataError(f"{where} has more than {MAX_ROWS:,} rows, the most a points file may hold — "
                            "save a random subset")
    _check_size(len(rows), d, where)
    return _finite_float32(np.array(rows, dtype=np.float64), where,
                           lambda r, c: f"line {numbers[r]}, column {c + 1}")


def _finite_float32(x: np.ndarray, where: str, at) -> np.ndarray:
    """float32 (N, D), every value finite (a value beyond float32's range is refused, not made infinite)."""
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.ascontiguousarray(x, dtype=np.float32)
    bad = ~np.isfinite(out)
    if bad.any():
        r, c = (int(i) for i in np.argwhere(bad)[0])
        rows = int(bad.any(1).sum())
        raise DataError(f"{where}, {at(r, c)}: {float(x[r, c])!r} is not a finite number (NaN, infinite, or beyond "
                        f"float32's ±3.4e38) — fix or delete that point ({rows:,} row{'s' * (rows != 1)} like it)")
    return out


# ---------------------------------------------------------------------------------------------- the API

def parse_points(f: BinaryIO, size: int, suffix: str, where: str) -> np.ndarray:
    """Every point of an open file (or upload) as float32 (N, D), or DataError naming `where`."""
    return _read_npy(f, size, where) if suffix == NPY_SUFFIX else _read_csv(f, where)


def read_points(path) -> np.ndarray:
    path = Path(path)
    suffix = _kind(path)
    f, size = _open_checked(path)
    with f:
        return parse_points(f, size, suffix, str(path))


def points_from_bytes(data: bytes, filename: str) -> np.ndarray:
    """An uploaded file's points, with the same checks as a file on disk."""
    if len(data) > MAX_BYTES:
        raise DataError(f"{filename} is {len(data) / 2**20:,.0f} MB, over the {MAX_BYTES // 2**20} MB a points file "
                        "may be — upload a random subset")
    if not data:
        raise DataError(f"{filename} is empty — upload {HINT}")
    return parse_points(io.BytesIO(data), len(data), _kind(Path(filename)), filename)


def read_points_spec(path) -> DataSpec:
    """The spec from the header alone: the .npy header, or a CSV's first lines (the whole file is checked on load)."""
    path = Path(path)
    suffix = _kind(path)
    f, size = _open_checked(path)
    where = str(path)
    with f:
        if suffix == NPY_SUFFIX:
            d = _checked_npy_header(f, size, where)[1]
        else:
            head = (line for _, line in zip(range(HEAD_LINES), _text_lines(f, where)))
            d = len(_head(head, where)[2])
            _check_size(MIN_ROWS, d, where)
    return points_spec(d)


def points_spec(d: int) -> DataSpec:
    return DataSpec(kind="points", shape=(int(d),), unbounded=True)


def load_points(name: str, device, *, root=None) -> PointsDataset:
    """`points:FILE` on the device: the training split as the dataset, the held-out split beside it."""
    path = points_path(name, root)
    x = read_points(path)
    train, held = split_held_out(len(x))
    return PointsDataset(name, points_spec(x.shape[1]), torch.from_numpy(x[train]).to(device), None,
                         {"path": str(path), "n_points": len(x), "n_held_out": len(held)},
                         held_out=torch.from_numpy(x[held]).to(device))
