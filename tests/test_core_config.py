"""RunConfig: JSON round trip, coercion, and validation messages a person can act on."""

import json

import pytest

from ganlab.config import ConfigError, RunConfig, parse_set
from ganlab.config.validate import validate_config


def test_defaults_validate_and_round_trip_through_json():
    cfg = RunConfig()
    validate_config(cfg)
    again = RunConfig.from_json(cfg.to_json())
    assert again == cfg
    assert json.loads(cfg.to_json())["g_hidden"] == [128, 128]


def test_unknown_key_is_rejected_with_near_misses_and_where_every_field_is_listed():
    with pytest.raises(ConfigError, match=r"unknown config field.*lr_x.*did you mean lr_[dg] or lr_[dg]\?.*ganlab fields"):
        RunConfig.from_dict({"lr_x": 1})
    with pytest.raises(ConfigError) as e:
        RunConfig.from_dict({"zzzzzz": 1})
    assert "did you mean" not in str(e.value) and "`python -m ganlab fields` lists all" in str(e.value)


@pytest.mark.parametrize("field,value,match", [
    ("steps", 0, "steps: 0 is out of range"),
    ("lr_d", -1.0, "lr_d: -1.0 is out of range"),
    ("optimizer", "adamw", "optimizer: 'adamw' is not one of adam, sgd, rmsprop"),
    ("latent_dist", "cauchy", "latent_dist"),
    ("dataset", "nope", "dataset: unknown dataset 'nope'"),
    ("arch", "resnet", "arch: 'resnet' is not one of linear, mlp, dcgan"),
    ("loss", "focal", "loss: 'focal' is not one of"),
    ("device", "tpu", "device: 'tpu' is not auto, cpu, cuda or cuda:N"),
    ("g_hidden", (0,), "g_hidden"),
    ("beta1", 1.0, "beta1"),
])
def test_each_bad_value_names_its_field(field, value, match):
    with pytest.raises(ConfigError, match=match):
        validate_config(RunConfig(**{field: value}))


@pytest.mark.parametrize("changes,match", [
    ({"dataset": "ring8", "arch": "dcgan"}, "dcgan architecture works on images, but this dataset is points"),
    ({"dataset": "digits", "arch": "linear"}, "linear architecture works on points"),
    ({"dataset": "pattern1010", "arch": "dcgan"}, "works on images"),
    ({"dataset": "ring8", "conditional": True}, "ring8 has no class labels"),
    ({"dataset": "digits", "loss": "ebgan", "conditional": True}, "ebgan auto-encoder D does not take labels"),
    ({"loss": "ebgan", "spectral_norm": True}, "spectral_norm"),
    ({"norm": "batch", "batch_size": 1}, "batch norm needs at least 2"),
])
def test_incompatible_choices_are_refused_with_a_reason(changes, match):
    with pytest.raises(ConfigError, match=match):
        validate_config(RunConfig(**changes))


def test_wrong_types_from_code_are_caught():
    with pytest.raises(ConfigError, match="steps: '10' has the wrong type"):
        validate_config(RunConfig(steps="10"))


def test_coercion_of_command_line_values():
    got = parse_set(["steps=100", "lr_d=1e-3", "conditional=true", "g_hidden=64,32", "dataset=digits"])
    assert got == {"steps": 100, "lr_d": 1e-3, "conditional": True, "g_hidden": (64, 32), "dataset": "digits"}
    with pytest.raises(ConfigError, match="steps: expected a whole number, got 'ten'"):
        parse_set(["steps=ten"])
    with pytest.raises(ConfigError, match="--set expects field=value"):
        parse_set(["steps"])


def test_from_json_reports_bad_json():
    with pytest.raises(ConfigError, match="not valid JSON"):
        RunConfig.from_json("{steps: 3")
