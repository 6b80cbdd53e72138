"""Load: four runs in one JobManager, two simulated Monitor pages polling them, for minutes.

    python -m bench.load [--runs 4] [--seconds 180] [--clients 2] [--no-bind-check] [--json]

Each client is a thread that behaves like one browser tab on the Monitor page (views/monitor.py):
every POLL_S it takes a snapshot and formats the progress line, every CHARTS_S it builds the
loss / D-output / gradient figures from the snapshot's history (and serialises them, as
st.plotly_chart does), every SAMPLES_S the samples panel (points over D's surface, or an image
grid). Each client switches to the next run every 10 s, so every run is watched by both.

Reported: steps/s per run and its tick gaps (time between ticks, from stats.jsonl, and the longest
wall-clock stretch a watcher saw with no step change: a stall shows there); snapshot latency
p50/p95/max and figure time; torn-snapshot checks (history steps strictly increasing, snapshot
step = last history step, preview step one of the history's steps, never going backwards); RSS
before, after warm-up and at the end, and its slope after warm-up; history length in memory
(bounded by jobs.HISTORY_LIMIT) against the complete record on disk. Before the load, unless
--no-bind-check: `streamlit run app.py` with no address flag, to show .streamlit/config.toml
makes the server listen on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas  # noqa: F401 - before plotly: plotly imports it lazily, and two threads meeting that import

from ganlab import jobs
from ganlab.config import RunConfig
from ganlab.game.losses import CONVENTION, LOSSES
from ganlab.jobs import JobManager

# first find it half-initialised (AttributeError: partially initialized module 'pandas'); app.py does the same
from ganlab.viz import curves, images, points
from ganlab.viz.progress import speed_text

ROOT = Path(__file__).resolve().parents[1]
from ganlab.ui.clocks import CHARTS_S, MAX_POINTS, POLL_S, SAMPLES_S  # noqa: E402 - as views/monitor.py

SWITCH_S = 10.0
STEPS = 100_000_000  # the runs never finish on their own; the benchmark stops them
CONFIGS = [  # four different kinds of work; one logs every step, to push the in-memory history past its bound
    dict(dataset="ring8", arch="mlp", loss="bce", log_every=1),
    dict(dataset="grid25", arch="mlp", loss="wgan-gp"),
    dict(dataset="digits", arch="dcgan", loss="bce", base_channels=16, batch_size=64),
    dict(dataset="pattern1010", arch="mlp", loss="lsgan"),
]


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def pct(xs, q) -> float:
    return float(np.percentile(xs, q)) if len(xs) else float("nan")


def _ms(xs) -> dict:
    """Count, median, 95th percentile and max of durations in seconds, as milliseconds."""
    return {"n": len(xs), "p50": pct(xs, 50) * 1e3, "p95": pct(xs, 95) * 1e3, "max": max(xs, default=float("nan")) * 1e3}


class Client(threading.Thread):
    """One Monitor tab: snapshot + progress line, figures, samples panel, at the page's rates."""

    def __init__(self, jm: JobManager, ids: list[str], index: int, stop: threading.Event):
        super().__init__(name=f"client-{index}", daemon=True)
        self.jm, self.ids, self.index, self.halt = jm, ids, index, stop
        self.snap_s: list[float] = []
        self.fig_s: list[float] = []
        self.problems: list[str] = []
        self.checked = 0
        self.last: dict[str, tuple[int, int]] = {}  # run -> (step, preview step) last seen

    def run(self) -> None:
        try:
            self._loop()
        except Exception as e:  # noqa: BLE001 - a dead client must show in the report, not vanish
            self.problems.append(f"client {self.index} crashed: {type(e).__name__}: {e}")

    def _loop(self) -> None:
        t0 = time.monotonic()
        next_poll = next_chart = next_samples = t0
        while not self.halt.is_set():
            now = time.monotonic()
            rid = self.ids[(int((now - t0) / SWITCH_S) + self.index) % len(self.ids)]
            if now >= next_poll:
                snap = self._snapshot(rid)
                speed_text(snap.history, snap.steps)
                next_poll = now + POLL_S
            if now >= next_chart:
                self._timed(lambda: self._charts(self._snapshot(rid)))
                next_chart = now + CHARTS_S
            if now >= next_samples:
                self._timed(lambda: self._samples(self._snapshot(rid)))
                next_samples = now + SAMPLES_S
            self.halt.wait(max(0.0, min(next_poll, next_chart, next_samples) - time.monotonic()))

    def _snapshot(self, rid: str):
        t = time.perf_counter()
        snap = self.jm.snapshot(rid)
        self.snap_s.append(time.perf_counter() - t)
        self._check(snap)
        return snap

    def _check(self, snap) -> None:
        """A torn snapshot would show a history out of order or a step that disagrees with it."""
        self.checked += 1
        steps = [r["step"] for r in snap.history]
        if any(b <= a for a, b in zip(steps, steps[1:])):
            self.problems.append(f"{snap.run_id}: history steps not strictly increasing")
        if steps and snap.step != steps[-1]:
            self.problems.append(f"{snap.run_id}: snapshot step {snap.step} != last history step {steps[-1]}")
        pstep = snap.preview["step"] if snap.preview else 0
        recent = steps[-200:]
        if snap.preview and recent and (pstep > snap.step or (pstep >= recent[0] and pstep not in set(recent))):
            self.problems.append(f"{snap.run_id}: preview step {pstep} is not a tick of the history")
        prev = self.last.get(snap.run_id, (0, 0))
        if snap.step < prev[0] or pstep < prev[1]:
            self.problems.append(f"{snap.run_id}: went backwards {prev} -> {(snap.step, pstep)}")
        self.last[snap.run_id] = (snap.step, pstep)

    def _timed(self, fn) -> None:
        t = time.perf_counter()
        fn()
        self.fig_s.append(time.perf_counter() - t)

    def _charts(self, snap) -> None:
        h, eq = list(snap.history), LOSSES.get(snap.config.loss).equilibrium
        figs = [curves.loss_figure(h, equilibrium=eq, convention=CONVENTION, smoothing=0.6, log_y=False,
                                   max_points=MAX_POINTS),
                curves.d_output_figure(h, equilibrium=eq, smoothing=0.6, max_points=MAX_POINTS),
                curves.grad_norm_figure(h, smoothing=0.6, max_points=MAX_POINTS)]
        for f in figs:
            f.to_json()  # st.plotly_chart serialises every figure it sends

    def _samples(self, snap) -> None:
        p = snap.preview
        if p is None:
            return
        if "real" in p:
            points.points_figure(p["real"], p["fake"], surface=p.get("surface"), height=520).to_json()
        elif p["kind"] == "images":
            images.grid_png_bytes(images.image_grid(p["samples"]))
        else:
            points.vector_figure(p["samples"]).to_json()


def watch(jm: JobManager, ids: list[str], stop: threading.Event, out: dict, steady: float) -> None:
    """Every 0.1 s: each run's step (longest stretch without progress once steady) and, every second, RSS."""
    last = {rid: (time.monotonic(), -1) for rid in ids}
    longest = {rid: 0.0 for rid in ids}
    t_rss = 0.0
    while not stop.wait(0.1):
        now = time.monotonic()
        for rid in ids:
            step = jm.snapshot(rid).step
            if step != last[rid][1]:
                if now >= steady:  # start-up (data, models, first tick) is not a stall
                    longest[rid] = max(longest[rid], now - max(last[rid][0], steady))
                last[rid] = (now, step)
        if now - t_rss >= 1.0:
            out["rss"].append((now, rss_mb()))
            t_rss = now
    out["stall"] = longest


def bind_check() -> dict:
    """`streamlit run app.py` with only .streamlit/config.toml: which address does it listen on?"""
    from tests.helpers.server import free_port, stop

    port = free_port()
    tmp = tempfile.mkdtemp(prefix="ganlab-bind-")
    env = {**os.environ, "GANLAB_RUNS": f"{tmp}/runs", "GANLAB_DATA": f"{tmp}/data"}
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                             "--server.headless", "true"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        end = time.monotonic() + 90
        listen = []
        while time.monotonic() < end and not listen:
            time.sleep(0.5)
            listen = _listeners(port)
        other = _other_address()
        reachable = None
        if other:
            try:
                with socket.create_connection((other, port), timeout=2):
                    reachable = True
            except OSError:
                reachable = False
        return {"port": port, "listening_on": listen, "other_interface": other, "reachable_there": reachable}
    finally:
        stop(proc)


def _listeners(port: int) -> list[str]:
    """Local addresses in state LISTEN (0A) for `port`, from /proc/net/tcp and tcp6."""
    found = []
    for name, width in (("tcp", 8), ("tcp6", 32)):
        try:
            lines = Path(f"/proc/net/{name}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, st = line.split()[1], line.split()[3]
            addr, p = local.split(":")
            if st == "0A" and int(p, 16) == port:
                if width == 8:
                    found.append(socket.inet_ntoa(bytes.fromhex(addr)[::-1]))
                else:
                    found.append("::" if set(addr) == {"0"} else f"ipv6:{addr}")
    return found


def _other_address() -> str | None:
    """An address of this machine that is not loopback (where a lab mate would connect)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("10.255.255.255", 1))  # no packet is sent: this only picks the outgoing interface
            ip = s.getsockname()[0]
        return None if ip.startswith("127.") else ip
    except OSError:
        return None


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=180)
    ap.add_argument("--clients", type=int, default=2)
    ap.add_argument("--warmup", type=float, default=20, help="seconds before the steady-state figures start")
    ap.add_argument("--history-limit", type=int, default=1000,
                    help="jobs.HISTORY_LIMIT for this benchmark (the app's is 4000), so a short run reaches the bound")
    ap.add_argument("--no-bind-check", action="store_true")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    report: dict = {}
    if not a.no_bind_check:
        report["bind"] = bind_check()
        print(f"bind: streamlit with .streamlit/config.toml listens on {report['bind']['listening_on']}; "
              f"connect via {report['bind']['other_interface']}: "
              f"{'reachable' if report['bind']['reachable_there'] else 'refused'}", flush=True)
    jobs.HISTORY_LIMIT = a.history_limit  # read by JobManager at every tick
    tmp = Path(tempfile.mkdtemp(prefix="ganlab-load-"))
    jm = JobManager(tmp / "runs", tmp / "data")
    rss0 = rss_mb()
    ids = [jm.start(RunConfig(**{**CONFIGS[i % len(CONFIGS)], "steps": STEPS, "device": "cpu", "seed": i}))
           for i in range(a.runs)]
    stop = threading.Event()
    watched: dict = {"rss": []}
    watcher = threading.Thread(target=watch, args=(jm, ids, stop, watched, time.monotonic() + a.warmup), daemon=True)
    clients = [Client(jm, ids, i, stop) for i in range(a.clients)]
    watcher.start()
    for c in clients:
        c.start()
    time.sleep(a.warmup)
    t_w, step_w, rss_w = time.monotonic(), {r: jm.snapshot(r).step for r in ids}, rss_mb()
    time.sleep(max(0.0, a.seconds - a.warmup))
    t_e, step_e = time.monotonic(), {r: jm.snapshot(r).step for r in ids}
    snaps = {r: jm.snapshot(r) for r in ids}
    stop.set()
    for c in clients:
        c.join()
    watcher.join()
    jm.shutdown(60)
    rss_e = rss_mb()
    runs = {}
    for r in ids:
        disk = jm.runs_dir / r
        from ganlab.store import Run

        recs = Run(disk).history()
        times = np.array([x["time"] for x in recs])
        gaps = np.diff(times) if len(recs) > 2 else np.zeros(1)  # seconds between ticks (log_every steps)
        runs[r] = {"steps_per_s": (step_e[r] - step_w[r]) / (t_e - t_w), "final_step": jm.snapshot(r).step,
                   "state": jm.snapshot(r).state,
                   "tick_gap_s": {"min": float(np.min(gaps)), "median": float(np.median(gaps)), "max": float(np.max(gaps))},
                   "longest_no_progress_s": watched["stall"][r],
                   "history_in_memory": len(snaps[r].history), "records_on_disk": len(recs),
                   "disk_complete": [x["step"] for x in recs] == list(range(snaps[r].config.log_every,
                                                                             recs[-1]["step"] + 1, snaps[r].config.log_every))}
    snap_s = [s for c in clients for s in c.snap_s]
    fig_s = [s for c in clients for s in c.fig_s]
    pts = [(t, m) for t, m in watched["rss"] if t >= t_w]
    slope = float(np.polyfit([t - pts[0][0] for t, _ in pts], [m for _, m in pts], 1)[0] * 60) if len(pts) > 3 else float("nan")
    report.update({
        "seconds": a.seconds, "runs": runs,
        "snapshot_ms": _ms(snap_s),
        "page_work_ms": _ms(fig_s),
        "torn": {"snapshots_checked": sum(c.checked for c in clients), "problems": [p for c in clients for p in c.problems][:10]},
        "rss_mb": {"before": rss0, "after_warmup": rss_w, "end": rss_e, "slope_mb_per_min_after_warmup": slope},
        "history_limit": jobs.HISTORY_LIMIT,
    })
    if a.json:
        print(json.dumps(report, indent=2))
    else:
        _print(report)
    return report


def _print(r: dict) -> None:
    print(f"{len(r['runs'])} runs, {r['seconds']:.0f} s, steady state after warm-up (tick = log_every steps):")
    for rid, x in r["runs"].items():
        g = x["tick_gap_s"]
        print(f"  {rid:32} {x['steps_per_s']:7.1f} steps/s  tick gap min {g['min']:.3f} "
              f"med {g['median']:.3f} max {g['max']:.3f} s  longest no-progress {x['longest_no_progress_s']:.2f} s  "
              f"history {x['history_in_memory']} in memory / {x['records_on_disk']} on disk "
              f"(complete: {x['disk_complete']})  {x['state']} at {x['final_step']}")
    s, f = r["snapshot_ms"], r["page_work_ms"]
    print(f"snapshot latency: p50 {s['p50']:.3f} ms, p95 {s['p95']:.3f} ms, max {s['max']:.2f} ms ({s['n']} calls)")
    print(f"page work (figures / samples): p50 {f['p50']:.0f} ms, p95 {f['p95']:.0f} ms, max {f['max']:.0f} ms ({f['n']})")
    t = r["torn"]
    print(f"torn snapshots / client errors: {len(t['problems'])} problems in {t['snapshots_checked']} checked "
          f"{t['problems'][:3]}")
    m = r["rss_mb"]
    print(f"RSS: {m['before']:.0f} MB before, {m['after_warmup']:.0f} MB after warm-up, {m['end']:.0f} MB at the end; "
          f"slope after warm-up {m['slope_mb_per_min_after_warmup']:+.2f} MB/min; in-memory history bound "
          f"{r['history_limit']} records per run")


if __name__ == "__main__":
    main()
