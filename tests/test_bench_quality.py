"""The quality study's plumbing: --set overrides reach every run, and mixture rows carry the DRS figures."""

import json

from bench import quality


def test_a_tiny_study_prints_rows_with_overrides_and_drs(capsys, tmp_path):
    assert quality.main(["--presets", "ring8", "--seeds", "0", "--jobs", "1", "--json", "--runs-dir", str(tmp_path),
                         "--set", "steps=30", "--set", "g_hidden=16,16", "--set", "d_hidden=16"]) == 0
    out = json.loads(capsys.readouterr().out)
    (row,) = out["rows"]
    assert row["steps"] == 30 and row["modes_total"] == 8
    assert set(row["drs"]) == {"modes_covered", "high_quality_rate", "reverse_kl", "acceptance_rate"}
    cells = dict(zip(quality.HEADER, quality.row_cells(row)))
    assert "drs:" in cells["other"] and "spread" in row
    assert cells["spread"] == ("-" if row["spread"] is None else f"{row['spread']:.2f}")
