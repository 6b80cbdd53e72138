"""bench.speed: its CLI contract (one JSON object per workload with the issue's keys; bad input is exit 2)."""

import json

from bench import speed


def test_bad_input_is_one_line_and_exit_2(capsys):
    assert speed.main(["--workloads", "nope"]) == 2
    assert speed.main(["--set", "no_such_field=1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "nope" in err[0] and "no_such_field" in err[1]


def test_json_row_has_the_contract_keys(capsys):
    """A tiny gauss2d comparison: both loops ran, the ratio is theirs, and --set reached ganlab's config."""
    assert speed.main(["--workloads", "gauss2d", "--steps", "20", "--rounds", "1", "--json",
                       "--set", "reuse_fakes=false"]) == 0
    (row,) = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    for key in ("workload", "device", "reference_steps_per_s", "ganlab_steps_per_s", "ratio"):
        assert key in row
    assert row["workload"] == "gauss2d" and row["device"] == "cpu"
    assert row["reference_steps_per_s"] > 0 and row["ganlab_steps_per_s"] > 0
    assert row["ratio"] == row["ganlab_steps_per_s"] / row["reference_steps_per_s"]
    assert row["ganlab_changes"] == {"reuse_fakes": False}
