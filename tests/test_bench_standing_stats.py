"""bench.standing_stats: standing stats are G's own activations' (not the copied ones), leave the weights alone,
and a missing run is one line and exit 2."""

import torch

from bench import standing_stats
from ganlab.models.dcgan import DCGANGenerator
from ganlab.models.latents import z_batch


def test_standing_stats_are_the_mean_of_gs_own_batches_and_the_weights_stay():
    torch.manual_seed(0)
    g = DCGANGenerator(8, 1, 8, 8, torch.nn.Tanh()).eval()
    bn = g.net[1]
    bn.running_mean.fill_(5.0)  # stats that fit nothing G makes
    s = standing_stats.standing(g, 8, "normal", batches=4, batch=16)
    assert not s.training and bn.running_mean.eq(5.0).all()  # the original is untouched
    assert all(torch.equal(a, b) for a, b in zip(g.parameters(), s.parameters()))
    # the first batch norm's mean: its input's channel means over all 4 batches of seeds 100,000 on
    z = z_batch(range(100_000, 100_064), 8, "normal", "cpu")
    with torch.no_grad():
        h = g.net[0](z[:, :, None, None])
    assert torch.allclose(s.net[1].running_mean, h.mean((0, 2, 3)), atol=1e-5)


def test_a_missing_run_is_one_line_and_exit_2(tmp_path, capsys):
    assert standing_stats.main([str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("bench.standing_stats:") and "\n" not in err
