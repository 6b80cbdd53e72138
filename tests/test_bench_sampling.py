"""bench.sampling: a finished run scored under truncation psis and drs, side by side; psi 1 is G's own samples
(what the in-training evaluation scores), truncation moves the samples, and a bad run dir is one line, exit 2."""

import json

from bench import sampling
from ganlab.cli import main as cli


def test_rows_per_psi_and_drs_and_psi_1_is_the_raw_sampler(capsys, tmp_path):
    runs = tmp_path / "runs"
    assert cli(["train", "--dataset", "ring8", "--steps", "40", "--set", "loss=bce", "--set", "batch_size=64",
                "--runs-dir", str(runs), "--quiet"]) == 0
    run_dir = next(runs.iterdir())
    capsys.readouterr()
    assert sampling.main([str(run_dir), "--psis", "1,0.5", "--drs", "-n", "500", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["sampler"] for r in rows] == ["psi 1", "psi 0.5", "drs"]
    assert all("modes_covered" in r and "high_quality_rate" in r for r in rows)
    assert 0 < rows[2]["acceptance_rate"] <= 1
    assert rows[0] != rows[1]  # truncation changed the samples

    raw = sampling.rows_for(str(run_dir), [1.0], False, 500)[0]
    assert raw == rows[0]  # the same seeds every time


def test_a_directory_that_is_not_a_run_is_one_line_and_exit_2(capsys, tmp_path):
    assert sampling.main([str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a ganlab run" in err
