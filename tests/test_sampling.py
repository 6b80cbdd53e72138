"""Samplers: raw G, and discriminator rejection sampling with its acceptance rate and its limits."""

import json

import numpy as np
import pytest

from ganlab.cli import main
from ganlab.config import RunConfig
from ganlab.errors import SamplingError
from ganlab.evaluation.evaluate import evaluate_run, generate_from_run
from ganlab.evaluation.samplers import drs_accept_prob
from ganlab.store import Run
from ganlab.training import train

TINY = dict(dataset="ring8", steps=60, batch_size=64, g_hidden=(32,), d_hidden=(32,), latent_dim=2, log_every=20,
            checkpoint_every=60, device="cpu")


def test_acceptance_follows_the_logit_and_the_best_sample_is_nearly_always_kept():
    logits = np.array([-8.0, -2.0, 0.0, 1.0, 3.0])
    p = drs_accept_prob(logits, max_logit=3.0, quantile=0.8)
    assert np.all(np.diff(p) > 0)  # a higher logit (more data-like to D) is kept more often
    assert p[-1] > 0.5 and p[0] < 0.01


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    out = {}
    for loss in ("bce", "wgan-gp"):
        cfg = RunConfig(**TINY, loss=loss)
        run = Run.create(root, cfg)
        train(cfg, run)
        out[loss] = run
    return out


def test_drs_reports_its_acceptance_and_is_reproducible(runs):
    a = evaluate_run(runs["bce"], n=500, sampler="drs")
    b = evaluate_run(runs["bce"], n=500, sampler="drs")
    assert a == b and a["sampler"] == "drs" and 0 < a["acceptance_rate"] < 1
    assert evaluate_run(runs["bce"], n=500)["sampler"] == "raw"
    x = generate_from_run(runs["bce"], 300, sampler="drs")
    assert x.shape == (300, 2) and np.isfinite(x).all()


def test_drs_refuses_a_critic_with_a_sentence(runs, capsys):
    with pytest.raises(SamplingError, match="drs needs a D whose output is a logit"):
        evaluate_run(runs["wgan-gp"], n=100, sampler="drs")
    assert main(["eval", str(runs["wgan-gp"].path), "--sampler", "drs"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "drs needs a D" in err[0]
    assert main(["eval", str(runs["bce"].path), "--sampler", "best"]) == 2
    assert "unknown sampler 'best'" in capsys.readouterr().err


def test_cli_eval_with_drs_prints_one_json_object(runs, capsys):
    assert main(["eval", str(runs["bce"].path), "--json", "-n", "400", "--sampler", "drs"]) == 0
    m = json.loads(capsys.readouterr().out)
    assert m["sampler"] == "drs" and m["n"] == 400 and "modes_covered" in m
