"""The newest tick record of a run, read from the end of stats.jsonl (not the whole file).

The Runs table and the resume plan both need "how far did it get": status.json is written at most
once a second, so the last record can be a little further on; a page must not read megabytes for it.
"""

from __future__ import annotations

import json

from .run import Run


def last_record(run: Run, max_bytes: int = 8192) -> dict:
    """The last complete line of stats.jsonl, read from the file's tail; {} when there is none."""
    try:
        with open(run.stats_path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            lines = f.read().splitlines()
    except OSError:
        return {}
    for line in reversed(lines):
        try:
            rec = json.loads(line)
        except ValueError:
            continue  # a torn last line, or the cut first line of the tail
        if isinstance(rec, dict):
            return rec
    return {}


def reached_step(run: Run) -> int:
    """The furthest step the run recorded: status.json's step or the last tick record's, whichever is later."""
    status_step = run.status().get("step")
    record_step = last_record(run).get("step")
    steps = [s for s in (status_step, record_step) if isinstance(s, int) and not isinstance(s, bool)]
    return max(steps, default=0)
