"""bench.step_cost: variants of a recipe timed side by side; the recipe is the first row and the ratios' base."""

import json

import pytest

from bench import step_cost


def test_a_variant_is_a_name_and_the_fields_it_changes():
    assert step_cost.parse_variant("batch 64:batch_size=64,reuse_fakes=false") == \
        ("batch 64", {"batch_size": 64, "reuse_fakes": False})
    assert step_cost.parse_variant("same:") == ("same", {})
    with pytest.raises(ValueError, match="NAME:FIELD=VALUE"):
        step_cost.parse_variant("batch_size=64")


def test_rows_for_each_thread_count_with_the_recipe_as_the_base(capsys):
    assert step_cost.main(["--dataset", "ring:5", "--variant", "small:batch_size=32", "--threads", "1",
                           "--steps", "2", "--rounds", "2", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["variant"], r["threads"]) for r in rows] == [("recipe", 1), ("small", 1)]
    assert rows[0]["vs_recipe"] == 1.0 and rows[1]["batch_size"] == 32 and rows[1]["fields"] == {"batch_size": 32}
    assert all(r["ms_per_step"] > 0 and r["us_per_sample"] > 0 for r in rows)


@pytest.mark.parametrize("argv, says", [
    (["--variant", "x:batch_size=none"], "batch_size"),
    (["--variant", "nofields"], "NAME:FIELD=VALUE"),
    (["--threads", "0"], "must be positive"),
])
def test_bad_flags_are_one_line_and_exit_2(capsys, argv, says):
    with pytest.raises(SystemExit) as e:
        step_cost.main(["--dataset", "ring:5", *argv])
    assert e.value.code == 2 and says in capsys.readouterr().err
