"""How the store writes files: atomically where a reader must see old or new, append-only for records."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

from ..errors import RunError

# config.json and status.json are a few kB (status keeps 4000 characters of a traceback); anything
# far larger is not ours, and reading it whole would let one crafted file stall every listing
MAX_JSON_FILE_BYTES = 1 << 20


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temp file in the same folder, fsync, then os.replace: readers see old or new."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:  # a full disk, say: the old file stays, no half-written temp file is left
        tmp.unlink(missing_ok=True)
        _name_the_file(e, path)
        raise


def is_temp_file(name: str) -> bool:
    """A temp file of atomic_write_bytes: `.<name>.<pid>.<thread>.tmp`."""
    return name.startswith(".") and name.endswith(".tmp")


def temp_file_pid(name: str) -> Optional[int]:
    parts = name.split(".")
    return int(parts[-3]) if len(parts) >= 5 and parts[-3].isdigit() else None


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, json.dumps(obj, indent=2).encode())


def append_jsonl(path: Path, record: dict[str, Any]) -> None:
    line = (json.dumps(record, allow_nan=True) + "\n").encode()
    try:
        with open(path, "ab+") as f:
            if f.tell() > 0:  # a kill mid-line left no newline: start on a fresh line, keep this record whole
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":
                    line = b"\n" + line
            f.write(line)
            f.flush()
    except OSError as e:  # a full disk: the close after a failed flush raises again, without the name
        _name_the_file(e, path)
        raise


def _name_the_file(e: BaseException, path: Path) -> None:
    """A failed write says which file it was (a bare ENOSPC from write() names none)."""
    if isinstance(e, OSError) and e.filename is None:
        e.filename = str(path)


def read_json_object(path: Path, max_bytes: int = MAX_JSON_FILE_BYTES) -> dict[str, Any]:
    """A run file's JSON object, or a RunError saying in one sentence why it cannot be one.

    Whatever the bytes (not UTF-8, 100k levels deep, a 5000-digit number, a list), the answer
    is a dict or a RunError, never another exception: one damaged file must not stop a listing.
    """
    try:
        with open(path, "rb") as f:
            data = f.read(max_bytes + 1)
    except FileNotFoundError:
        raise RunError(f"{path.name} is missing") from None
    except OSError as e:
        raise RunError(f"{path.name} cannot be read ({e.strerror or e})") from None
    if len(data) > max_bytes:
        raise RunError(f"{path.name} is larger than {max_bytes // 1024} kB, so it is not one ganlab wrote")
    try:
        obj = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise RunError(f"{path.name} is not UTF-8 text") from None
    except json.JSONDecodeError as e:
        raise RunError(f"{path.name} is not valid JSON ({e.msg} at line {e.lineno})") from None
    except RecursionError:
        raise RunError(f"{path.name} is nested too deeply to be a ganlab file") from None
    except ValueError as e:  # e.g. an integer of more digits than Python converts
        raise RunError(f"{path.name} holds a value that cannot be read ({str(e)[:80]})") from None
    try:  # a lone surrogate (JSON allows "\ud800") would fail later, in every print and page that shows it
        json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise RunError(f"{path.name} holds text that is not valid Unicode") from None
    if not isinstance(obj, dict):
        kind = {list: "list", str: "string", bool: "true/false", type(None): "null"}.get(type(obj), "number")
        raise RunError(f"{path.name} holds a JSON {kind}, not an object of field: value pairs")
    return obj


def read_jsonl(path: Path, after_step: Optional[int]) -> Iterator[dict[str, Any]]:
    try:
        f = open(path)
    except OSError:
        return
    with f:
        for line in f:
            try:
                rec = json.loads(line)
            except ValueError:
                continue  # a torn line (a kill mid-write) or garbage: skipped, never fatal
            if not isinstance(rec, dict) or not isinstance(rec.get("step", 0), int):
                continue
            if after_step is None or rec.get("step", 0) > after_step:
                yield rec


_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def file_lock(path: Path) -> threading.Lock:
    """One lock per file in this process: HDF5 refuses a second open of a file this process has open."""
    key = os.path.abspath(path)
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(key, threading.Lock())
