"""What watching costs: the same run headless vs started from the dashboard with Monitor open and live.

    python -m bench.ui_overhead [--preset ring8] [--steps 3000] [--repeats 1]

(a) trains through a JobManager in this process with no client at all; (b) starts
`streamlit run app.py`, opens Train in headless Chromium, picks the same preset and
steps, presses Start and keeps the Monitor page open (it refreshes itself) until the
run finishes. Speed is steps / training time from each run's own stats.jsonl, so
start-up is not counted. Pairs alternate a, b, a, b to spread out the load of a
shared machine; the figure is the median of the per-pair ratios b / a (target >= 0.90).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from ganlab.config.presets import preset_config
from ganlab.jobs import JobManager
from ganlab.store import list_runs
from tests.helpers.server import launch_chromium, serve, start_from_train_page


def _cpu_s(pid: int) -> float:
    """user + system CPU seconds of one process (Linux /proc)."""
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def _descendants(root: int) -> dict[int, str]:
    """pid -> command line of every process below root."""
    parent, cmd = {}, {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                stat = open(f"/proc/{d}/stat").read()
                parent[int(d)] = int(stat.rsplit(")", 1)[1].split()[1])
                cmd[int(d)] = open(f"/proc/{d}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace")
            except (OSError, IndexError, ValueError):
                continue
    out, frontier = {}, [root]
    while frontier:
        p = frontier.pop()
        for c, pp in parent.items():
            if pp == p and c not in out:
                out[c] = cmd.get(c, "")
                frontier.append(c)
    return out


def cpu_by_role() -> dict[str, float]:
    """CPU seconds so far of this benchmark's streamlit server and of its Chromium processes."""
    procs = _descendants(os.getpid())
    return {"server": sum(_cpu_s(p) for p, c in procs.items() if "streamlit" in c or "ganlab.ui.serve" in c),
            "browser": sum(_cpu_s(p) for p, c in procs.items() if "chromium" in c)}


def speed(run) -> float:
    """Steps per second of training time (the run's own clock: set-up and start-up excluded)."""
    last = run.history()[-1]
    return last["step"] / last["time"]


def headless(cfg, root: Path) -> tuple[float, dict, float]:
    manager = JobManager(runs_dir=root / "runs", data_root=root / "data")
    cpu0 = time.process_time()
    run_id = manager.start(cfg)
    state = manager.wait(run_id)
    assert state == "finished", f"headless run ended {state}"
    run = list_runs(root / "runs")[0]
    return speed(run), run.config().to_dict(), time.process_time() - cpu0


def dashboard(preset: str, steps: int, root: Path, log: Path) -> tuple[float, dict, int, dict]:
    """Start the run from the Train page and watch it on Monitor until it finishes."""
    from playwright.sync_api import sync_playwright

    with serve(root / "runs", root / "data", log_path=log) as url, sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1440, "height": 1600})
        start_from_train_page(page, url, preset=preset, steps=steps)
        cpu0 = cpu_by_role()
        updates, last_text, end = 0, "", time.monotonic() + 3600
        while time.monotonic() < end:
            text = page.locator('[data-testid="stProgress"]').first.inner_text(timeout=60_000)
            updates += text != last_text  # the live view redrew with new numbers
            last_text = text
            if "finished" in text or "failed" in text:
                break
            time.sleep(0.5)
        cpu = {k: v - cpu0[k] for k, v in cpu_by_role().items()}
        browser.close()
        run = list_runs(root / "runs")[0]
        return speed(run), run.config().to_dict(), updates, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="ring8")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--repeats", type=int, default=1, help="a/b pairs (alternating)")
    args = ap.parse_args()
    cfg = preset_config(args.preset).replace(steps=args.steps)
    ratios = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):
            a, cfg_a, cpu_a = headless(cfg, Path(tmp) / f"a{i}")
            b, cfg_b, updates, cpu_b = dashboard(args.preset, args.steps, Path(tmp) / f"b{i}",
                                                 Path(tmp) / f"server{i}.log")
            same = cfg_a == cfg_b
            ratios.append(b / a)
            print(f"pair {i + 1}: headless {a:,.1f} steps/s ({cpu_a:.0f} CPU s) | dashboard + live Monitor "
                  f"{b:,.1f} steps/s (server {cpu_b['server']:.0f} CPU s, Chromium {cpu_b['browser']:.0f} CPU s, "
                  f"{updates} visible updates) | ratio {b / a:.3f}" + ("" if same else " (CONFIGS DIFFER)"), flush=True)
            if not same:
                diff = {k: (cfg_a[k], cfg_b.get(k)) for k in cfg_a if cfg_a[k] != cfg_b.get(k)}
                print("  config differences:", json.dumps(diff))
    print(f"{args.preset}, {args.steps} steps: dashboard/headless speed ratio = {statistics.median(ratios):.3f} "
          f"(median of {len(ratios)} pair(s); target >= 0.90)")


if __name__ == "__main__":
    main()
