"""Hostile input at the CLI boundary and at the served app (issue #15): one line and exit 2, never a traceback,
never lost work, and a dashboard that answers only to this machine's own names."""

import errno
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import ganlab.cli
from ganlab.cli import main
from ganlab.models.latents import z_batch, z_from_seed
from ganlab.ui.serve import HostPolicy, LocalOnly, hostname

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--set", "log_every=10", "--set", "checkpoint_every=10", "--set", "g_hidden=16", "--set", "d_hidden=16",
        "--set", "num_fixed=8", "--quiet"]


def _one_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("ganlab: error: ") and err.count("\n") == 1 and "Traceback" not in err, err[:2000]
    return err


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A finished 20-step ring8 run with checkpoints at 10 and 20 (trained in-process: no torch import to pay)."""
    runs = tmp_path_factory.mktemp("runs")
    assert main(["train", "--dataset", "ring8", "--steps", "20", "--runs-dir", str(runs), *TINY]) == 0
    (run,) = runs.iterdir()
    return run


@pytest.fixture
def run_copy(trained, tmp_path) -> Path:
    """A private copy of the trained run, for tests that resume or damage it."""
    return Path(shutil.copytree(trained, tmp_path / trained.name))


# ------------------------------------------------------------------ 1. --resume keeps the recipe
@pytest.mark.parametrize("flags,named", [
    (["--set", "lr_d=1"], "--set"), (["--dataset", "digits"], "--dataset"), (["--arch", "linear"], "--arch"),
    (["--loss", "wgan"], "--loss"), (["--preset", "ring8"], "--preset"), (["--config", "notjson"], "--config"),
    (["--batch-size", "8"], "--batch-size"), (["--seed", "3"], "--seed"), (["--device", "cpu"], "--device"),
    (["--runs-dir", "elsewhere"], "--runs-dir"), (["--dataset", "ring8", "--seed", "1"], "--dataset, --seed"),
])
def test_resume_refuses_every_flag_that_would_change_the_recipe(run_copy, flags, named, capsys):
    before = (run_copy / "config.json").read_text()
    assert main(["train", "--resume", str(run_copy), "--steps", "30", *flags, "--quiet"]) == 2
    err = _one_line(capsys)
    assert f"{named} cannot go with --resume" in err and "start a new run" in err
    assert (run_copy / "config.json").read_text() == before, "a refused resume changes nothing"


def test_resume_writes_new_steps_to_config_and_a_later_resume_agrees(run_copy, capsys, tmp_path):
    assert main(["train", "--resume", str(run_copy), "--steps", "30", "--lr-scale", "0.5", "--data-root",
                 str(tmp_path), "--quiet"]) == 0
    assert "step 30/30" in capsys.readouterr().out
    assert json.loads((run_copy / "config.json").read_text())["steps"] == 30
    assert main(["runs", "--runs-dir", str(run_copy.parent)]) == 0
    assert capsys.readouterr().out.rstrip().split("\t")[-2:] == ["finished", "30/30"]
    assert main(["train", "--resume", str(run_copy), "--quiet"]) == 2  # config.json says 30: nothing left to train
    assert "has finished all 30 steps" in _one_line(capsys)


def test_resume_refuses_a_total_below_its_checkpoint(run_copy, capsys):
    assert main(["train", "--resume", str(run_copy), "--steps", "5", "--quiet"]) == 2
    assert "--steps 5 is below step 20" in _one_line(capsys)
    assert json.loads((run_copy / "config.json").read_text())["steps"] == 20


def test_resume_summary_counts_only_the_steps_this_process_trained(run_copy, capsys, monkeypatch):
    """20 steps were trained before; this process trains 10 more in a (fake) 10 s: 1 step/s, not 3."""
    clock = iter(range(0, 10_000, 10))
    monkeypatch.setattr(ganlab.cli, "time", type("FakeTime", (), {"perf_counter": staticmethod(lambda: next(clock))}))
    assert main(["train", "--resume", str(run_copy), "--steps", "30", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "step 30/30 in 10.0 s (1 steps/s), resumed from step 20" in out, out


def test_train_gives_the_signal_handlers_back(tmp_path):
    """main() in a notebook or a test must not leave Ctrl-C and SIGTERM bound to a finished run's stop flag."""
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    assert main(["train", "--steps", "10", "--runs-dir", str(tmp_path), *TINY]) == 0
    assert {sig: signal.getsignal(sig) for sig in before} == before


# ------------------------------------------------------------------ 2. one boundary: one line, exit 2
def _write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


@pytest.mark.parametrize("content,message", [
    (b"[" * 100_000 + b"]" * 100_000, "nests too deeply"),
    (b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "nests too deeply"),
    (b'\xff\xfe{"steps": 3}', "is not UTF-8 text (byte 0xff at position 0)"),
    (b" " * 1_000_001, "is larger than 1,000 KB"),
])
def test_hostile_config_file_is_one_line(content, message, tmp_path, capsys):
    cfg = _write(tmp_path / "c.json", content)
    assert main(["train", "--config", cfg, "--runs-dir", str(tmp_path / "runs")]) == 2
    assert message in _one_line(capsys)


def test_device_mps_without_mps_is_one_line(tmp_path, capsys):
    import torch

    if torch.backends.mps.is_available():
        pytest.skip("this machine has MPS")
    assert main(["train", "--device", "mps", "--runs-dir", str(tmp_path)]) == 2
    assert "device: mps" in _one_line(capsys)


@pytest.mark.parametrize("n", ["-5", "0", "9", "50001", "1000000000"])
def test_eval_n_is_bounded(trained, n, capsys):
    assert main(["eval", str(trained), "-n", n]) == 2
    assert f"-n must be between 10 and 50,000 (leave it out for the default: 2500 for points, 2000 for images), got {n}" \
        in _one_line(capsys)


def test_out_and_runs_dir_under_a_regular_file_are_one_line(trained, tmp_path, capsys):
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    assert main(["sample", str(trained), "-n", "4", "--out", str(blocker / "sub" / "x.npy")]) == 2
    assert f"{blocker} is not a folder (it is a file)" in _one_line(capsys)
    assert main(["train", "--steps", "2", "--runs-dir", str(blocker / "runs"), "--quiet"]) == 2
    assert f"{blocker} is not a folder (it is a file)" in _one_line(capsys)
    assert main(["sample", str(trained), "-n", "4", "--out", str(tmp_path)]) == 2  # a folder, not a file
    assert "is a folder; give a file name" in _one_line(capsys)


def _full_disk_save(file, arr, *a, **k):
    """np.save on a disk that fills up after a few bytes."""
    f = open(file, "wb") if isinstance(file, (str, os.PathLike)) else file
    f.write(b"\x93NUMPY partial")
    f.flush()
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), getattr(f, "name", str(file)))


def test_sample_on_a_full_disk_keeps_the_old_file_and_leaves_no_temp(trained, tmp_path, capsys, monkeypatch):
    out = tmp_path / "s.npy"
    assert main(["sample", str(trained), "-n", "5", "--out", str(out)]) == 0
    good = out.read_bytes()
    capsys.readouterr()
    monkeypatch.setattr(np, "save", _full_disk_save)
    assert main(["sample", str(trained), "-n", "7", "--out", str(out)]) == 2
    assert "the disk is full" in _one_line(capsys)
    assert out.read_bytes() == good and sorted(p.name for p in tmp_path.iterdir()) == ["s.npy"]


@pytest.mark.parametrize("error,message", [
    (MemoryError(), "out of memory; ask for fewer samples (-n)"),
    (RecursionError("maximum recursion depth exceeded"), "nests too deeply"),
    (UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"), "is not UTF-8 text (invalid start byte at byte 0)"),
    (ZeroDivisionError("division by zero"), "internal error: ZeroDivisionError: division by zero (please report"),
    (ValueError("first\nsecond line"), "internal error: ValueError: first (please report"),
])
def test_any_other_exception_is_one_line(trained, tmp_path, error, message, capsys, monkeypatch):
    def fail(*a, **k):
        raise error

    monkeypatch.setattr(ganlab.cli, "generate_from_run", fail)
    assert main(["sample", str(trained), "--out", str(tmp_path / "x.npy")]) == 2
    assert message in _one_line(capsys)


def test_out_of_memory_from_torch_is_one_line(trained, tmp_path, capsys, monkeypatch):
    import torch

    def fail(*a, **k):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB\nmore detail")

    monkeypatch.setattr(ganlab.cli, "generate_from_run", fail)
    assert main(["sample", str(trained), "--out", str(tmp_path / "x.npy")]) == 2
    assert "out of memory; ask for fewer samples (-n)" in _one_line(capsys)


def test_a_crash_with_a_run_open_is_recorded_in_its_status(tmp_path, capsys, monkeypatch):
    """The session's own failure handling can fail too (its status write on a full disk): main() records it."""
    def crash(self, **kw):
        self.run.write_status("running", 3)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.run.stats_path))

    monkeypatch.setattr(ganlab.cli.RunSession, "run_training", crash)
    assert main(["train", "--steps", "20", "--runs-dir", str(tmp_path), *TINY]) == 2
    assert "the disk is full" in _one_line(capsys)
    (run,) = tmp_path.iterdir()
    status = json.loads((run / "status.json").read_text())
    assert status["state"] == "failed" and status["error"].startswith("the disk is full") and status["step"] == 3


def test_a_config_json_that_disagrees_with_its_checkpoint_is_one_line(run_copy, capsys):
    cfg = json.loads((run_copy / "config.json").read_text())
    (run_copy / "config.json").write_text(json.dumps({**cfg, "g_hidden": [32, 32]}))
    assert main(["train", "--resume", str(run_copy), "--steps", "30", "--quiet"]) == 2
    err = _one_line(capsys)
    assert "disagrees with its checkpoint" in err and "g_hidden" in err


def _limited(limit_bytes: int):
    def preexec():  # a file-size limit is how a test fills a disk: writes past it fail (EFBIG), as on a full disk
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))
    return preexec


def _cli_limited(limit_bytes: int, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ganlab", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, preexec_fn=_limited(limit_bytes))


def test_sample_past_a_file_size_limit_keeps_the_old_file_in_a_real_process(trained, tmp_path):
    out = tmp_path / "s.npy"
    assert main(["sample", str(trained), "-n", "5", "--out", str(out)]) == 0
    good = out.read_bytes()
    p = _cli_limited(64_000, "sample", str(trained), "-n", "50000", "--out", str(out))  # 400 KB of points
    assert p.returncode == 2, (p.returncode, p.stderr[-2000:])
    assert p.stderr.startswith("ganlab: error: ") and p.stderr.count("\n") == 1 and "ulimit -f" in p.stderr, p.stderr
    assert out.read_bytes() == good and sorted(x.name for x in tmp_path.iterdir()) == ["s.npy"]


def test_train_past_a_file_size_limit_ends_failed_not_running_in_a_real_process(tmp_path):
    p = _cli_limited(200_000, "train", "--dataset", "ring8", "--steps", "20", "--runs-dir", str(tmp_path), *TINY,
                     "--set", "g_hidden=256,256")  # a checkpoint of ~1.6 MB: past the limit
    assert p.returncode != 0 and p.returncode > 0, (p.returncode, p.stderr[-2000:])
    assert p.stderr.startswith("ganlab: error: ") and p.stderr.count("\n") == 1 and "Traceback" not in p.stderr, p.stderr
    (run,) = tmp_path.iterdir()
    status = json.loads((run / "status.json").read_text())
    assert status["state"] == "failed" and status["error"], status


# ------------------------------------------------------------------ 3. sample --out, pack --overwrite
def test_sample_names_the_file_numpy_really_wrote(trained, tmp_path, capsys):
    assert main(["sample", str(trained), "-n", "3", "--out", str(tmp_path / "points")]) == 0
    assert capsys.readouterr().out.startswith(f"wrote {tmp_path / 'points.npy'} float32 (3, 2)")
    assert np.load(tmp_path / "points.npy").shape == (3, 2) and not (tmp_path / "points").exists()


def test_pack_overwrite_reaches_pack(tmp_path, monkeypatch, capsys):
    seen = []

    def fake_pack(src, out, opts, **kw):
        seen.append(kw.get("overwrite", False))
        raise ganlab.cli.UsageError("stop here")

    monkeypatch.setattr(ganlab.cli, "pack", fake_pack)
    assert main(["pack", str(tmp_path), str(tmp_path / "o.h5"), "--overwrite"]) == 2
    assert main(["pack", str(tmp_path), str(tmp_path / "o.h5")]) == 2
    assert seen == [True, False]


def test_pack_refuses_an_existing_out_unless_overwrite(tmp_path, capsys):
    from PIL import Image

    (tmp_path / "src").mkdir()
    for i in range(3):
        Image.fromarray(np.full((12, 12, 3), 40 * i, np.uint8)).save(tmp_path / "src" / f"{i}.png")
    out = str(tmp_path / "o.h5")
    assert main(["pack", str(tmp_path / "src"), out, "--size", "8"]) == 0
    capsys.readouterr()
    assert main(["pack", str(tmp_path / "src"), out, "--size", "8"]) == 2
    _one_line(capsys)
    assert main(["pack", str(tmp_path / "src"), out, "--size", "8", "--overwrite"]) == 0
    assert main(["pack", "digits", out, "--builtin"]) == 2
    _one_line(capsys)
    assert main(["pack", "digits", out, "--builtin", "--overwrite"]) == 0
    assert "packed 1797 images" in capsys.readouterr().out


# ------------------------------------------------------------------ 4. echoed values, fast latents
BIG = "1," * 2_500_000  # 5 MB


@pytest.mark.parametrize("args", [
    ["--set", f"g_hidden={BIG}"], ["--set", f"lr_d={BIG}"], ["--set", BIG], ["--set", f"{BIG}=1"],
    ["--dataset", "x" * 5_000_000], ["--loss", "y" * 100_000], ["--device", "cuda:" + "9" * 100_000],
])
def test_errors_never_echo_a_whole_value(args, tmp_path, capsys):
    assert main(["train", *args, "--runs-dir", str(tmp_path)]) == 2
    err = _one_line(capsys)
    assert len(err) < 600, err[:300]


def test_a_long_list_in_a_config_file_is_echoed_short(tmp_path, capsys):
    cfg = _write(tmp_path / "c.json", json.dumps({"g_hidden": list(range(1, 100_000))}).encode())
    assert main(["train", "--config", cfg, "--runs-dir", str(tmp_path / "runs")]) == 2
    err = _one_line(capsys)
    assert "g_hidden: [1, 2, 3" in err and len(err) < 300, err[:300]


def test_latents_keep_their_seeds_and_a_hundred_thousand_take_well_under_seconds():
    for dim, dist in ((8, "normal"), (3, "uniform")):
        rng = np.random.RandomState(4)
        want = rng.randn(dim) if dist == "normal" else rng.uniform(-1.0, 1.0, dim)
        assert np.array_equal(z_from_seed(4, dim, dist)[0].numpy(), want.astype(np.float32))
    seeds = [0, 7, 2**32 + 7, 12345, 7]
    z = z_batch(seeds, 16)
    assert np.array_equal(z[1].numpy(), z[2].numpy()) and np.array_equal(z[1].numpy(), z[4].numpy())
    for i, s in enumerate(seeds):
        assert np.array_equal(z[i].numpy(), np.random.RandomState(s % 2**32).randn(16).astype(np.float32))
    t0 = time.perf_counter()
    z_batch(range(100_000), 16)
    assert time.perf_counter() - t0 < 5.0  # one RandomState per seed took ~16 s here


# ------------------------------------------------------------------ 5. the served app answers only to its own names
@pytest.mark.parametrize("host,ok", [
    ("localhost:8501", True), ("127.0.0.1:8501", True), ("[::1]:8501", True), ("LOCALHOST", True),
    ("localhost.:8501", True), ("evil.example:8501", False), ("localhost.evil.example", False),
    ("127.0.0.1.nip.io:8501", False), ("user@localhost:8501", False), ("localhost:99999", False),
    ("localhost/x", False), ("", False), (None, False),
])
def test_only_loopback_hosts_by_default(host, ok):
    assert (HostPolicy.from_settings("127.0.0.1").refusal("http", host, None) is None) == ok


def test_sharing_settings_widen_the_host_check_deliberately():
    assert HostPolicy.from_settings("0.0.0.0").refusal("http", "192.168.1.5:8501", None) is None
    assert HostPolicy.from_settings("192.168.1.5").refusal("http", "192.168.1.5:8501", None) is None
    assert HostPolicy.from_settings("192.168.1.5").refusal("http", "evil.example:8501", None) is not None
    named = HostPolicy.from_settings("0.0.0.0", ["lab.example.org", "*.corp.example"])
    assert named.refusal("http", "lab.example.org", None) is None and named.refusal("http", "a.corp.example", None) is None
    assert named.refusal("http", "evil.example", None) is not None
    assert HostPolicy.from_settings("127.0.0.1", ["*"]).refusal("http", "anything", None) is None
    # the WebSocket's origin must be the page's own, whatever the Host check allows
    for policy in (HostPolicy.from_settings("127.0.0.1"), HostPolicy.from_settings("0.0.0.0")):
        assert policy.refusal("websocket", "localhost:8501", "http://localhost:8501") is None
        assert policy.refusal("websocket", "localhost:8501", "http://evil.example") is not None
        assert policy.refusal("websocket", "localhost:8501", "null") is not None
    trusted = HostPolicy.from_settings("127.0.0.1", cors_origins=["https://tools.example"])
    assert trusted.refusal("websocket", "localhost:8501", "https://tools.example") is None
    assert hostname("[::1]:8501") == "::1" and hostname("a:b:c") is None


def _raw_request(port: int, lines: list[str]) -> tuple[int, bytes]:
    """Send one raw HTTP/1.1 request (any Host, any headers); the status code and the head of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        if b"content-length" in data.lower() and not data.startswith(b"HTTP/1.1 101"):
            try:
                s.settimeout(5)
                data += s.recv(65536)
            except OSError:
                pass
    return int(data.split(b" ", 2)[1]), data


def _upgrade(port: int, host: str, origin: str) -> tuple[int, bytes]:
    return _raw_request(port, ["GET /_stcore/stream HTTP/1.1", f"Host: {host}", "Upgrade: websocket",
                               "Connection: Upgrade", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                               "Sec-WebSocket-Version: 13", "Sec-WebSocket-Protocol: streamlit", f"Origin: {origin}"])


def test_served_app_refuses_foreign_hosts_and_cross_origin_websockets(tmp_path):
    from tests.helpers.server import serve

    with serve(tmp_path / "runs", tmp_path / "data", log_path=tmp_path / "server.log") as url:
        port = int(url.rsplit(":", 1)[1])
        code, _ = _raw_request(port, ["GET / HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"])
        assert code == 200, "the page itself still loads"
        code, _ = _raw_request(port, ["GET / HTTP/1.1", f"Host: localhost:{port}", "Connection: close"])
        assert code == 200
        for path in ("/", "/_stcore/health", "/monitor"):
            code, body = _raw_request(port, [f"GET {path} HTTP/1.1", f"Host: evil.example:{port}", "Connection: close"])
            assert code == 403 and b"not this machine's loopback name" in body, (path, body[:300])
        assert _upgrade(port, f"127.0.0.1:{port}", f"http://127.0.0.1:{port}")[0] == 101, "the page's own WebSocket"
        assert _upgrade(port, f"127.0.0.1:{port}", "http://evil.example")[0] == 403, "a cross-origin WebSocket"
        assert _upgrade(port, f"evil.example:{port}", f"http://evil.example:{port}")[0] == 403, "DNS rebinding"
    assert re.search(r"(?i)traceback", (tmp_path / "server.log").read_text()) is None


def test_the_guard_passes_lifespan_through():
    seen = []

    async def app(scope, receive, send):
        seen.append(scope["type"])

    import asyncio

    asyncio.run(LocalOnly(app, HostPolicy.from_settings("127.0.0.1"))({"type": "lifespan"}, None, None))
    assert seen == ["lifespan"]
