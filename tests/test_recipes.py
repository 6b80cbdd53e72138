"""Dataset-aware recipes: chosen by the data's spec alone, applied under what a person set, recorded in the config."""

import json

import pytest

from ganlab.cli import _train_config, build_parser, main
from ganlab.config import ConfigError, RunConfig
from ganlab.config.recipes import RECIPES, apply_recipe, chosen_recipe, recipe_for
from ganlab.config.recipes_images import IMAGES_28
from ganlab.config.recipes_points import POINTS
from ganlab.config.validate import validate_config
from ganlab.data import dataset_spec
from ganlab.data.base import DataSpec
from ganlab.models import arch_problem

DEFAULTS = RunConfig()


def _images(c, h, w):
    return DataSpec(kind="images", shape=(c, h, w))


@pytest.mark.parametrize("spec, name", [
    (DataSpec(kind="points", shape=(2,), unbounded=True), "points"),
    (DataSpec(kind="points", shape=(64,), unbounded=True), "points"),
    (DataSpec(kind="points", shape=(4,), value_range=(0.0, 1.0)), "points"),
    (_images(1, 8, 8), "images-small"),
    (_images(3, 16, 16), "images-small"),
    (_images(1, 28, 28), "images-28"),
    (_images(3, 32, 32), "images-32"),
    (_images(3, 28, 28), "images-any"),  # 28 px colour: not MNIST's recipe, but a size the DCGAN makes
    (_images(1, 32, 32), "images-any"),
    (_images(3, 64, 64), "images-any"),
    (_images(3, 20, 30), "images-small"),  # not square: the DCGAN cannot make it, the MLP can
    (_images(1, 17, 17), "images-small"),  # 17 px halves to no size the DCGAN starts from
])
def test_the_recipe_is_chosen_by_kind_and_shape_and_its_arch_accepts_the_data(spec, name):
    recipe = recipe_for(spec)
    assert recipe.name == name
    assert arch_problem(recipe.arch, spec) is None


@pytest.mark.parametrize("dataset, name", [("ring8", "points"), ("grid25", "points"), ("ring:12", "points"),
                                           ("grid:3x4", "points"), ("spiral", "points"), ("digits", "images-small"),
                                           ("mnist", "images-28"), ("fashion-mnist", "images-28"),
                                           ("cifar10", "images-32")])
def test_named_datasets_and_families_get_their_kinds_recipe(dataset, name):
    assert recipe_for(dataset_spec(dataset)).name == name


def test_every_recipe_builds_a_config_that_validates_on_data_it_is_for():
    assert RECIPES.names() == ["points", "images-small", "images-28", "images-32", "images-any"]
    for dataset in ("ring8", "grid:7", "digits", "mnist", "cifar10"):
        cfg = apply_recipe({"dataset": dataset}, dataset_spec(dataset))
        validate_config(cfg)
        assert cfg.recipe == recipe_for(dataset_spec(dataset)).name


def test_the_recipe_sits_between_the_defaults_and_what_the_person_set():
    spec = dataset_spec("mnist")
    cfg = apply_recipe({"dataset": "mnist", "steps": 100, "lr_g": 1e-3}, spec)
    assert cfg.recipe == "images-28" and cfg.arch == "dcgan" and cfg.latent_dim == IMAGES_28["latent_dim"]
    assert cfg.steps == 100 and cfg.lr_g == 1e-3 and cfg.lr_d == IMAGES_28["lr_d"]
    assert cfg.num_fixed == DEFAULTS.num_fixed  # a field the recipe leaves alone keeps its default
    for k, v in IMAGES_28.items():
        assert getattr(cfg, k) == (tuple(v) if isinstance(v, list) else v) or k in ("steps", "lr_g")


def test_the_recipes_own_arch_keeps_it_and_another_arch_means_none():
    spec = dataset_spec("mnist")
    assert apply_recipe({"dataset": "mnist", "arch": "dcgan"}, spec).recipe == "images-28"
    mine = apply_recipe({"dataset": "mnist", "arch": "mlp"}, spec)
    assert mine.recipe == "" and mine.to_dict() == RunConfig(dataset="mnist", arch="mlp").to_dict()


def test_a_preset_or_recipe_off_means_no_recipe_and_a_named_one_is_checked():
    spec = dataset_spec("ring8")
    assert apply_recipe({"dataset": "ring8", "preset": "ring8"}, spec).recipe == ""
    off = apply_recipe({"dataset": "ring8", "recipe": ""}, spec)
    assert off.recipe == "" and off.g_hidden == DEFAULTS.g_hidden
    assert chosen_recipe({"recipe": "points"}, spec).name == "points"
    with pytest.raises(ConfigError, match="unknown recipe 'fast'.*points, images-small"):
        apply_recipe({"recipe": "fast"}, spec)


def test_the_config_records_the_recipe_and_reads_it_back():
    cfg = apply_recipe({"dataset": "grid:7"}, dataset_spec("grid:7"))
    assert cfg.recipe == "points" and cfg.g_hidden == tuple(POINTS["g_hidden"])
    assert RunConfig.from_json(cfg.to_json()) == cfg
    assert RunConfig.from_dict({k: v for k, v in cfg.to_dict().items() if k != "recipe"}).recipe == ""  # old runs


def _cli_config(*args):
    return _train_config(build_parser().parse_args(["train", *args]))


def test_cli_train_config_applies_the_recipe_under_the_flags(tmp_path):
    assert _cli_config("--dataset", "mnist").recipe == "images-28"
    cfg = _cli_config("--dataset", "mnist", "--steps", "100", "--set", "lr_g=0.001")
    assert (cfg.recipe, cfg.arch, cfg.steps, cfg.lr_g, cfg.lr_d) == ("images-28", "dcgan", 100, 1e-3, IMAGES_28["lr_d"])
    assert _cli_config("--dataset", "mnist", "--arch", "mlp").recipe == ""
    assert _cli_config("--dataset", "mnist", "--arch", "mlp").latent_dim == DEFAULTS.latent_dim
    assert _cli_config("--dataset", "mnist", "--loss", "hinge").loss == "hinge"
    assert _cli_config("--dataset", "cifar10", "--set", "recipe=").recipe == ""
    preset = _cli_config("--preset", "digits")
    assert preset.recipe == "" and preset.preset == "digits"
    f = tmp_path / "c.json"
    f.write_text(json.dumps({"dataset": "mnist"}))
    assert _cli_config("--config", str(f)).recipe == "" and _cli_config("--config", str(f)).arch == DEFAULTS.arch
    assert _cli_config("--dataset", "points:/no/such.csv").recipe == ""  # unreadable: validation says why, not the recipe


def test_cli_train_says_which_recipe_it_applied_and_how_to_opt_out(tmp_path, capsys):
    rc = main(["train", "--dataset", "ring:5", "--steps", "10", "--runs-dir", str(tmp_path), "--quiet",
               "--set", "g_hidden=16", "--set", "d_hidden=16", "--set", "log_every=5", "--set", "r1_weight=0"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    (line,) = [x for x in out.splitlines() if "recipe" in x]
    assert line.startswith("ganlab: recipe points for point data") and "--preset" in line and "--arch" in line
    (run_dir,) = tmp_path.iterdir()
    saved = json.loads((run_dir / "config.json").read_text())
    assert saved["recipe"] == "points" and saved["g_hidden"] == [16] and saved["latent_dim"] == POINTS["latent_dim"]
    main(["train", "--dataset", "ring:5", "--arch", "linear", "--steps", "10", "--runs-dir", str(tmp_path), "--quiet"])
    assert "recipe" not in capsys.readouterr().out


def test_a_recipes_summary_names_what_its_values_set():
    from ganlab.config.recipes import RECIPES, Recipe

    points = RECIPES.get("points")
    text = points.summary()
    assert f"{points.values['steps']:,} steps" in text
    assert f"with {points.values['latent_mixture']:,} islands" in text and "standardised points" in text
    plain = Recipe("x", "points", {"arch": "mlp", "r1_weight": 1.0, "r1_every": 4, "lr_schedule": "cosine"}, "")
    assert "R1 1 every 4 steps" in plain.summary() and "cosine lr decay" in plain.summary()
    falling = Recipe("y", "points", {"r1_weight": 1.0, "r1_schedule": "linear", "r1_end_factor": 0.1}, "")
    assert "R1 1 falling (linear) to 0.1" in falling.summary() and "falling" not in plain.summary()
    assert "islands" not in plain.summary() and "standardised" not in plain.summary()
    assert "betas" not in plain.summary() and "betas" not in points.summary()  # RunConfig's betas go unsaid
    assert "Adam lr 0.002 betas (0, 0.99)," in RECIPES.get("images-28").summary()
    assert "G's update reuses D's fakes" in RECIPES.get("images-28").summary() and "fakes" not in plain.summary()
