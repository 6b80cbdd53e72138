"""ganlab.explore: a G rebuilt from a checkpoint, answering seeds, interpolations, arithmetic, walks."""

import numpy as np
import pytest
import torch

from ganlab.config import RunConfig
from ganlab.data import DATASETS
from ganlab.data.overview import dataset_overview
from ganlab.explore import latent
from ganlab.explore.explorer import load_generator, parse_seed
from ganlab.models import build_models
from ganlab.store import Run, RunError
from ganlab.training import train

RING = RunConfig(dataset="ring8", arch="mlp", loss="bce", steps=30, batch_size=64, log_every=10,
                 snapshot_every=10, checkpoint_every=30, latent_dim=8, g_hidden=(32,), d_hidden=(32,),
                 num_fixed=16, device="cpu")
DIGITS = RunConfig(dataset="digits", arch="mlp", loss="bce", conditional=True, steps=10, batch_size=32,
                   log_every=5, snapshot_every=5, checkpoint_every=10, latent_dim=12, g_hidden=(32,),
                   d_hidden=(32,), norm="batch", num_fixed=16, device="cpu")


def _trained(root, cfg):
    run = Run.create(root, cfg)
    assert train(cfg, run) == "finished"
    return run


@pytest.fixture(scope="module")
def ring(tmp_path_factory):
    return load_generator(_trained(tmp_path_factory.mktemp("runs"), RING))


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    return load_generator(_trained(tmp_path_factory.mktemp("runs"), DIGITS))


def test_load_generator_reads_the_newest_checkpoint(ring):
    """The explorer knows the step it was rebuilt at, and its data."""
    assert ring.step == 30 and ring.kind == "points" and ring.latent_dim == 8 and not ring.conditional
    assert ring.checkpoint.name == "ckpt-000000030.pt" and ring.run_id.endswith("-ring8-mlp-bce")


def test_a_run_without_checkpoint_is_a_sentence(tmp_path):
    """No checkpoint yet: RunError saying when one is written, never a traceback."""
    run = Run.create(tmp_path, RING)
    with pytest.raises(RunError, match="no checkpoint yet.*every 30 steps"):
        load_generator(run)


def test_seeds_are_identities(ring):
    """The same seed gives the same sample, alone or in a batch."""
    a = ring.from_seeds([5, 6, 7])
    assert a.shape == (3, 2)
    np.testing.assert_allclose(ring.from_seeds([6])[0], a[1], atol=1e-6)


@pytest.mark.parametrize("method", ["lerp", "slerp"])
def test_interpolation_ends_are_the_seeds_samples(ring, method):
    """Step 0 is seed a's sample and the last step seed b's, for both paths."""
    path = ring.interpolate(3, 9, 7, method)
    assert path.shape == (7, 2)
    ends = ring.from_seeds([3, 9])
    np.testing.assert_allclose(path[0], ends[0], atol=1e-5)
    np.testing.assert_allclose(path[-1], ends[1], atol=1e-5)


def test_slerp_and_lerp_differ_in_the_middle(ring):
    """Same ends, different middle: slerp keeps |z| typical, lerp's middle is short."""
    lerp, slerp = ring.interpolate(3, 9, 5, "lerp"), ring.interpolate(3, 9, 5, "slerp")
    np.testing.assert_allclose(lerp[[0, -1]], slerp[[0, -1]], atol=1e-5)
    assert np.abs(lerp[2] - slerp[2]).max() > 1e-3
    za, zb = latent.z_batch([3, 9], 8)
    mid_l = latent.interpolate(za, zb, 5, "lerp")[2].norm()
    mid_s = latent.interpolate(za, zb, 5, "slerp")[2].norm()
    assert mid_l < mid_s


def test_arithmetic_returns_each_operand_and_the_sum(ring):
    """'12 + 7 - 3': three operand samples (each its own seed) and G(z12 + z7 - z3)."""
    a = ring.arithmetic("12 + 7 - 3")
    assert a.terms == [(12, 1.0), (7, 1.0), (3, -1.0)] and a.text() == "12 + 7 - 3"
    np.testing.assert_allclose(a.operands, ring.from_seeds([12, 7, 3]), atol=1e-6)
    z = latent.z_batch([12, 7, 3], 8)
    expected = ring.generate(z[0:1] + z[1:2] - z[2:3])
    np.testing.assert_allclose(a.result, expected, atol=1e-5)
    assert a.result.shape == (1, 2) and a.result_norm > 0 and a.typical_norm == pytest.approx(8 ** 0.5)
    assert ring.arithmetic("0.5*12 + 0.5*7").text() == "0.5*12 + 0.5*7"


def test_walk_changes_one_dimension(ring):
    """A walk has one sample per value; the value equal to z's own coordinate is the seed's sample."""
    own = float(latent.z_from_seed(4, 8)[0, 2])
    w = ring.walk(4, 2, [-2.0, own, 2.0])
    assert w.shape == (3, 2)
    np.testing.assert_allclose(w[1], ring.from_seeds([4])[0], atol=1e-5)


def test_random_grid_returns_reusable_seeds(ring):
    seeds, x = ring.random_grid(100, 6)
    assert seeds == [100, 101, 102, 103, 104, 105] and x.shape == (6, 2)
    np.testing.assert_allclose(x[4], ring.from_seeds([104])[0], atol=1e-6)


@pytest.mark.parametrize("call, match", [
    (lambda e: e.arithmetic("12 + banana"), "not seed arithmetic"),
    (lambda e: e.walk(1, 8, [0.0]), "dimension 8 does not exist.*0-7"),
    (lambda e: e.walk(1, -1, [0.0]), "dimension -1 does not exist"),
    (lambda e: e.interpolate(1, 2, 1), "2 to 1024 steps"),
    (lambda e: e.interpolate(1, 2, 5, "cubic"), "'lerp' or 'slerp'"),
    (lambda e: e.from_seeds([-1]), "whole number from 0"),
    (lambda e: e.random_grid(0, 0), "1 to 1024"),
    (lambda e: e.from_seeds([1], labels=3), "not conditional"),
])
def test_bad_input_is_a_value_error_with_a_sentence(ring, call, match):
    with pytest.raises(ValueError, match=match):
        call(ring)


def test_parse_seed():
    assert parse_seed(" 42 ") == 42
    for bad in ("", "4.5", "-3", "seven", str(2**32)):
        with pytest.raises(ValueError):
            parse_seed(bad)


def test_images_come_back_in_unit_range(digits):
    x = digits.from_seeds([1, 2, 3], labels=[0, 5, 9])
    assert x.shape == (3, 1, 8, 8) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0


def test_conditional_runs_need_a_class(digits):
    with pytest.raises(ValueError, match="conditional: choose a class"):
        digits.from_seeds([1])
    with pytest.raises(ValueError, match="class 10 does not exist"):
        digits.random_grid(0, 4, label=10)


def test_class_interpolation_ends_are_the_two_classes(digits):
    """Same seed, class 1 -> class 7: the ends are exactly the hard-label samples; the middle differs."""
    path = digits.interpolate(5, 5, 5, "slerp", label_a=1, label_b=7)
    np.testing.assert_allclose(path[0], digits.from_seeds([5], 1)[0], atol=1e-5)
    np.testing.assert_allclose(path[-1], digits.from_seeds([5], 7)[0], atol=1e-5)
    assert np.abs(path[2] - path[0]).max() > 1e-4 and np.abs(path[2] - path[-1]).max() > 1e-4


def test_soft_labels_equal_hard_labels_at_one_hot():
    """The models' soft-label path: a one-hot float row is the same input as the integer label."""
    spec = DATASETS.get("digits").spec
    for arch in ("mlp", "dcgan"):
        g, _ = build_models(DIGITS.replace(arch=arch, base_channels=8), spec)
        g.eval()
        z, y = torch.randn(4, 12), torch.tensor([0, 3, 3, 9])
        soft = torch.nn.functional.one_hot(y, 10).float()
        torch.testing.assert_close(g(z, soft), g(z, y))
        with pytest.raises(ValueError, match="soft labels must be"):
            g(z, soft[:, :5])


def test_arithmetic_in_a_conditional_run(digits):
    a = digits.arithmetic("1 + 2", label=3)
    assert a.operands.shape == (2, 1, 8, 8) and a.result.shape == (1, 1, 8, 8)


def test_dataset_overview_builtin():
    """digits: size, shape, label counts over all 1,797 images, a sample in [0, 1]."""
    o = dataset_overview("digits", n=16)
    assert o.size == 1797 and o.spec.shape == (1, 8, 8) and o.samples.shape == (16, 1, 8, 8)
    assert o.label_counts.sum() == 1797 and len(o.label_counts) == 10
    assert 0.0 <= o.samples.min() and o.samples.max() <= 1.0 and o.sample_labels.shape == (16,)


def test_dataset_overview_packed(tmp_path):
    """A packed file is read in part (n images, all labels); its meta says where it came from."""
    from ganlab.data.pack import pack_arrays

    imgs = np.random.RandomState(0).randint(0, 255, (40, 3, 8, 8)).astype(np.uint8)
    labels = np.array([0] * 30 + [1] * 10)
    out = tmp_path / "tiny.h5"
    pack_arrays(imgs, labels, ["a", "b"], out, source="test")
    o = dataset_overview(f"hdf5:{out}", n=8)
    assert o.size == 40 and o.samples.shape == (8, 3, 8, 8) and list(o.label_counts) == [30, 10]
    assert o.meta["source"] == "test"


def test_dataset_overview_missing_files_say_where(tmp_path):
    from ganlab.data import DataError

    with pytest.raises(DataError, match=r"put .* in .*MNIST"):
        dataset_overview("mnist", root=tmp_path)
    with pytest.raises(DataError, match="file not found"):
        dataset_overview(f"hdf5:{tmp_path / 'nope.h5'}")
