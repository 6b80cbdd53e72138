"""Start a sweep in its own process: what the Sweeps page calls.

Ray must not run inside the Streamlit server (its workers, signal handlers and threads would
share the page's process), so the page writes the spec and starts `python -m ganlab sweep
--spec-file` detached, in a session of its own: closing the tab or restarting the server does not
stop it, and its output goes to the sweep's driver.log.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .spec import SweepSpec
from .store import SweepDir

PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the folder that holds ganlab/, for the child's import path


def child_env() -> dict[str, str]:
    """This environment, with ganlab importable wherever the child starts (Ray's workers inherit it too)."""
    env = dict(os.environ)
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    if str(PACKAGE_ROOT) not in paths:
        env["PYTHONPATH"] = os.pathsep.join([str(PACKAGE_ROOT), *paths])
    return env


def launch(spec: SweepSpec, runs_dir, *, address: str | None = None) -> tuple[str, subprocess.Popen]:
    """Write the sweep's spec and start its driver detached; returns (sweep id, the process) at once."""
    sweep = SweepDir.for_spec(runs_dir, spec)
    cmd = [sys.executable, "-m", "ganlab", "sweep", "--spec-file", str(sweep.file("spec.json")),
           "--runs-dir", str(Path(runs_dir))]
    if address:
        cmd += ["--address", address]
    with open(sweep.file("driver.log"), "ab") as log:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                env=child_env(), start_new_session=True)
    return sweep.id, proc
