"""How the store writes files: atomically where a reader must see old or new, append-only for records."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temp file in the same folder, fsync, then os.replace: readers see old or new."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:  # a full disk, say: the old file stays, no half-written temp file is left
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, json.dumps(obj, indent=2).encode())


def append_jsonl(path: Path, record: dict[str, Any]) -> None:
    line = (json.dumps(record, allow_nan=True) + "\n").encode()
    with open(path, "ab+") as f:
        if f.tell() > 0:  # a kill mid-line left no newline: start on a fresh line, keep this record whole
            f.seek(-1, os.SEEK_END)
            if f.read(1) != b"\n":
                line = b"\n" + line
        f.write(line)
        f.flush()


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
