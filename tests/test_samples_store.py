"""samples.h5 under a file-size limit: HDF5 segfaults closing a file whose write failed, so a snapshot that would
not fit is never written; the process lives, the snapshots that fit stay readable, and the skip is said."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

FILLER = """
import resource, sys, warnings
from pathlib import Path
import numpy as np
from ganlab.store.samples import append_samples, read_samples
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[2]),) * 2)
rng = np.random.default_rng(0)
with warnings.catch_warnings(record=True) as seen:
    warnings.simplefilter("always")
    for step in range(8):
        append_samples(Path(sys.argv[1]), step, rng.random((64, 1, 28, 28)).astype(np.float32))
steps, _ = read_samples(Path(sys.argv[1]))
print(len(steps), sum("skipped" in str(w.message) for w in seen))
"""


@pytest.mark.parametrize("limit", [30_000, 300_000])
def test_a_file_size_limit_skips_snapshots_instead_of_crashing_hdf5(tmp_path, limit):
    root = Path(__file__).resolve().parents[1]
    p = subprocess.run([sys.executable, "-c", FILLER, str(tmp_path / "samples.h5"), str(limit)], cwd=root,
                       capture_output=True, text=True, timeout=60, env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"})
    assert p.returncode == 0, (p.returncode, p.stderr[-2000:])  # 139 (SIGSEGV) before the room check
    kept, skipped = (int(v) for v in p.stdout.split())
    frame = 64 * 28 * 28 * 4  # 200,704 bytes a snapshot
    assert kept == (0 if limit < frame else 1) and kept + skipped == 8
