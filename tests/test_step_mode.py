"""Step-by-step mode (issue #17): one D step, one G step, one iteration, taken by hand on a paused run.

k manual D steps then the G step must be the iteration train_step takes, bit for bit; an iteration
ended by hand is ticked like any other; the JobManager hands each step to the paused trainer's thread.
"""

import threading
import time

import numpy as np
import pytest
import torch

from ganlab.config import RunConfig
from ganlab.errors import RunError
from ganlab.explore.steps import StepView, describe_step, step_frame
from ganlab.game.losses import LOSSES, d_prob
from ganlab.jobs import JobManager
from ganlab.session import RunSession
from ganlab.store import Run
from ganlab.training import Trainer, train
from ganlab.training.gate import StepGate
from tests.helpers.app import wait_for

TINY = dict(dataset="ring8", arch="mlp", g_hidden=(16,), d_hidden=(16,), latent_dim=2, batch_size=16, num_fixed=8,
            device="cpu", seed=3, steps=50, ema=0.0)


def _twins(**changes) -> tuple[Trainer, Trainer]:
    cfg = RunConfig(**{**TINY, **changes})
    return Trainer(cfg), Trainer(cfg)


def _equal(a, b) -> bool:
    """Deep, exact equality of tensors inside dicts, lists and tuples."""
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    return a == b


def _assert_same(a: Trainer, b: Trainer) -> None:
    assert a.step == b.step
    for name in ("G", "D", "G_ema"):
        ma, mb = getattr(a, name), getattr(b, name)
        if ma is not None:
            assert _equal(ma.state_dict(), mb.state_dict()), name  # weights and buffers (BatchNorm, spectral norm)
    assert _equal(a.opt_d.state_dict(), b.opt_d.state_dict()) and _equal(a.opt_g.state_dict(), b.opt_g.state_dict())
    assert torch.equal(a.gen.get_state(), b.gen.get_state())
    assert a.schedule_factor == b.schedule_factor


VARIANTS = {f"{loss}-k2": dict(loss=loss, d_steps=2) for loss in LOSSES.names()}
VARIANTS.update({
    "bce-k1": dict(d_steps=1), "bce-k3": dict(d_steps=3),
    "reuse-k1": dict(d_steps=1, reuse_fakes=True), "reuse-k3": dict(d_steps=3, reuse_fakes=True),
    "r1-lazy-k2": dict(d_steps=2, r1_weight=1.0, r1_every=2),
    "g-batch-norm-k2": dict(d_steps=2, norm="batch"),
    "spectral-norm-k2": dict(d_steps=2, spectral_norm=True),
    "schedule-ema-k3": dict(d_steps=3, lr_schedule="linear", lr_end_factor=0.1, steps=4, ema=0.9),
})


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_k_manual_d_steps_then_the_g_step_are_train_step_bit_for_bit(variant):
    """Weights, buffers, optimizer and RNG states, and the StepLog rows (the tick's record) all agree."""
    normal, manual = _twins(**VARIANTS[variant])
    k = normal.hparams["d_steps"]
    for i in range(3):
        measure = i != 1  # measure ticks report gradient norms and penalties: both paths alike
        normal.train_step(measure=measure)
        for j in range(k):
            assert manual.take_part("d", measure=measure) is False
            assert manual.iteration_progress() == (j + 1, k)
        assert manual.take_part("g", measure=measure) is True
        assert manual.iteration_progress() == (0, k)
        _assert_same(normal, manual)
    rec_n, rec_m = normal.collect(), manual.collect()
    assert rec_n == rec_m and "Grad/D" in rec_n


def test_one_iteration_from_the_middle_finishes_it():
    normal, manual = _twins(d_steps=3, reuse_fakes=True)
    normal.train_step()
    normal.train_step()
    manual.take_part("d")
    assert manual.take_part("iteration") is True and manual.step == 1  # the 2 D steps left, then G
    assert manual.take_part("iteration") is True  # a whole one
    _assert_same(normal, manual)
    assert normal.collect() == manual.collect()


def test_train_step_finishes_an_iteration_that_manual_steps_began():
    """Unpausing after a manual D step: the loop's next train_step takes what remains, not a fresh k."""
    normal, manual = _twins(d_steps=2)
    normal.train_step()
    manual.take_part("d")
    manual.train_step()
    _assert_same(normal, manual)


def test_a_g_step_after_fewer_d_steps_logs_the_mean_of_those_taken():
    manual, by_hand = _twins(d_steps=3)
    manual.take_part("d")
    manual.take_part("d")
    manual.take_part("g")
    losses, means = [], []
    for _ in range(2):
        losses.append(by_hand.d_step(False))
        means.append(by_hand._d_means)
    g = by_hand.g_step(False)
    row = manual.collect()
    assert row["Loss/D"] == pytest.approx(float(torch.stack(losses).detach().mean()), rel=1e-6)
    assert [row["D/real"], row["D/fake"]] == pytest.approx(torch.stack(means).mean(0).tolist(), rel=1e-6)
    assert row["Loss/G"] == pytest.approx(float(g.detach()), rel=1e-6)
    assert _equal(manual.G.state_dict(), by_hand.G.state_dict()) and _equal(manual.D.state_dict(), by_hand.D.state_dict())


def test_a_g_step_with_no_d_step_leaves_d_untouched_and_logs_its_judgement():
    """k' = 0: D is not updated, and judging the real batch moves none of its buffers (spectral norm's vectors move
    only as in any G step); the row's D columns are D's judgement of a fresh real batch and of the G step's fakes
    as D saw them before G's update."""
    manual, by_hand = _twins(d_steps=2, spectral_norm=True)
    d_weights = {k: v.clone() for k, v in manual.D.named_parameters()}
    g_before = {k: v.clone() for k, v in manual.G.state_dict().items()}
    assert manual.take_part("g") is True and manual.step == 1
    assert _equal(dict(manual.D.named_parameters()), d_weights)
    assert not _equal(manual.G.state_dict(), g_before)
    with torch.no_grad():  # the replay: the G step's fakes (its RNG draws first), then a real batch
        y = by_hand._fake_labels(by_hand.cfg.batch_size)
        fake = by_hand.G(by_hand.sample_z(by_hand.cfg.batch_size), y)
        fake_out = by_hand.D(fake, y).float()
        assert _equal(manual.D.state_dict(), by_hand.D.state_dict())  # the G step's own D pass, and nothing more
        g_loss = by_hand.loss.g_loss(fake_out)
        x, _ = by_hand._real()
        real_out = by_hand.D(x).float()
        d_loss = by_hand.loss.d_loss(real_out, fake_out, margin=by_hand.cfg.margin, real_x=x, fake_x=fake)
    row = manual.collect()
    assert row["Loss/D"] == pytest.approx(float(d_loss), rel=1e-5)
    assert row["D/real"] == pytest.approx(float(d_prob(by_hand.loss, real_out).mean()), rel=1e-5)
    assert row["D/fake"] == pytest.approx(float(d_prob(by_hand.loss, fake_out).mean()), rel=1e-5)
    assert row["Loss/G"] == pytest.approx(float(g_loss), rel=1e-5)


def test_a_d_step_past_k_and_an_unknown_part_are_refused_and_change_nothing():
    manual, twin = _twins(d_steps=1)
    manual.take_part("d")
    twin.take_part("d")
    with pytest.raises(RunError, match="take the G step"):
        manual.take_part("d")
    with pytest.raises(RunError, match="not a step"):
        manual.take_part("x")
    _assert_same(manual, twin)
    assert manual.iteration_progress() == (1, 1)


def test_a_k_changed_inside_an_iteration_applies_to_the_next_one():
    tr, _ = _twins(d_steps=2)
    tr.take_part("d")
    tr.set_hparams(d_steps=3)
    assert tr.iteration_progress() == (1, 2)
    tr.take_part("iteration")
    assert tr.iteration_progress() == (0, 3)


# ------------------------------------------------------------------ the sentence
def _frame(surface: float, shift: float, d: float, g: float) -> dict:
    xs = np.linspace(-1, 1, 4, dtype=np.float32)
    z = np.full((4, 4), 0.5, np.float32)
    z[0, 0] += surface
    return {"step": 0, "fake": np.array([[0.0, 0.0], [1.0, 1.0]], np.float32) + np.array([[shift, 0], [0, 0]], np.float32),
            "surface": {"xs": xs, "ys": xs, "z": z, "label": "D(x)", "probability": True},
            "losses": {"d": d, "g": g}}


def test_describe_step_names_what_a_d_step_and_a_g_step_moved():
    before = _frame(0.0, 0.0, 0.693, 0.701)
    text = describe_step("d", before, _frame(0.16, 0.0, 0.671, 0.733), 1, 2)
    assert text == ("D step 1 of 2: D's surface moved by 0.01 on average (at most 0.16); the fake points did not move. "
                    "D's loss 0.693 → 0.671, G's 0.701 → 0.733.")
    text = describe_step("g", before, _frame(0.0, 0.3, 0.70, 0.65), 2, 2)
    assert text == ("G step: D's surface did not move; the fake points moved by 0.15 on average (at most 0.3). "
                    "D's loss 0.693 → 0.700, G's 0.701 → 0.650.")
    assert describe_step("g", before, before, 1, 3).startswith("G step, after 1 of the iteration's 3 D steps: ")
    assert describe_step("g", before, before, 0, 1).startswith("G step, with none of the iteration's 1 D steps taken")
    assert describe_step("iteration", before, _frame(0.16, 0.3, 1, 1), 2, 2).startswith(
        "One iteration (2 D steps and a G step): D's surface moved by 0.01 on average (at most 0.16); "
        "the fake points moved by 0.15")


def test_describe_step_on_image_frames_speaks_of_the_samples():
    s = np.zeros((2, 1, 2, 2), np.float32)
    before = {"step": 3, "samples": s, "losses": {"d": 0.5, "g": 1.25}}
    after = {"step": 4, "samples": s + 0.25, "losses": {"d": 0.5, "g": 1.0}}
    assert describe_step("g", before, after, 1, 1) == ("G step: G's samples changed by 0.25 per value on average "
                                                      "(at most 0.25). D's loss 0.500 → 0.500, G's 1.250 → 1.000.")
    assert "G's samples did not change" in describe_step("d", before, before, 1, 1)


def test_step_frames_of_a_point_run_and_of_an_image_run():
    """Point data: the game frame, the after surface on the before grid; images: step, losses, samples."""
    tr, _ = _twins(d_steps=1)
    for _ in range(3):
        tr.train_step()
    before = step_frame(tr)
    assert {"plane", "real", "fake", "arrows", "surface", "manifold", "losses"} <= before.keys()
    tr.take_part("d")
    after = step_frame(tr, like=before)
    assert np.array_equal(after["surface"]["xs"], before["surface"]["xs"])
    assert "the fake points did not move" in describe_step("d", before, after, 1, 1)
    images = Trainer(RunConfig(dataset="digits", arch="mlp", g_hidden=(16,), d_hidden=(16,), latent_dim=4, batch_size=8,
                               num_fixed=4, device="cpu", seed=0, ema=0.0))
    frame = step_frame(images)
    assert frame.keys() == {"step", "losses", "samples"} and frame["samples"].shape[0] == 4
    assert 0 <= frame["samples"].min() and frame["samples"].max() <= 1


# ------------------------------------------------------------------ the loop
def _records(run: Run) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in ("time", "Speed/steps_per_s")} for r in run.history()]


def _manually(gate: StepGate, trainer: Trainer, plan: dict[int, list[str]]):
    """should_stop() for train(): at the planned steps, take those parts through the gate, as a paused job does."""
    done = set()

    def should_stop() -> bool:
        parts = plan.get(trainer.step)
        if parts and trainer.step not in done:
            done.add(trainer.step)
            answers = []
            caller = threading.Thread(target=lambda: answers.extend(gate.submit(lambda step, p=p: step(p), 5) for p in parts))
            caller.start()
            while caller.is_alive():
                gate.serve(0.01)
            assert answers == [None] * len(parts)
        return False

    return should_stop


LOOP = dict(steps=8, log_every=4, snapshot_every=4, checkpoint_every=4, keep_checkpoints=5, d_steps=2)


def test_an_iteration_ended_by_hand_is_ticked_like_a_normal_one(tmp_path):
    """stats.jsonl, samples.h5 and the checkpoints of a run stepped by hand across two ticks are the normal run's."""
    cfg = RunConfig(**{**TINY, **LOOP})
    normal = Run.create(tmp_path, cfg)
    assert train(cfg, normal) == "finished"
    stepped, trainer, gate = Run.create(tmp_path, cfg), Trainer(cfg), StepGate()
    state = train(cfg, stepped, trainer=trainer, gate=gate,
                  should_stop=_manually(gate, trainer, {3: ["d", "d", "g"], 7: ["d", "iteration"]}))
    assert state == "finished" and stepped.status()["state"] == "finished"
    assert _records(stepped) == _records(normal) and [r["step"] for r in _records(normal)] == [4, 8]
    (s1, x1), (s2, x2) = normal.read_samples(), stepped.read_samples()
    assert np.array_equal(s1, s2) and np.array_equal(x1, x2)
    assert [p.name for p in stepped.checkpoints()] == [p.name for p in normal.checkpoints()]
    for a, b in zip(normal.checkpoints(), stepped.checkpoints()):
        sa, sb = normal.load_checkpoint(a), stepped.load_checkpoint(b)
        assert all(_equal(sa[k], sb[k]) for k in ("G", "D", "opt_g", "opt_d", "rng", "step"))
    with pytest.raises(RunError, match="finished"):  # the loop has ended: the gate refuses at once
        gate.submit(lambda step: step("d"), 1)


class _Recording:
    """A run sink that records the game frames it is handed (and can hide append_game)."""

    def __init__(self, run: Run, games: bool):
        self._run, self.frames = run, []
        if games:
            self.append_game = lambda step, frame: self.frames.append((step, frame))

    def __getattr__(self, name):
        if name == "append_game":  # games=False: a sink that cannot store frames
            raise AttributeError(name)
        return getattr(self._run, name)


def test_watch_joins_every_tick_record_and_frame_is_kept_on_snapshot_ticks(tmp_path):
    cfg = RunConfig(**{**TINY, **LOOP, "steps": 12, "snapshot_every": 8})
    sink = _Recording(Run.create(tmp_path, cfg), games=True)
    train(cfg, sink, watch=lambda tr: {"Div/KL": tr.step / 100}, frame=lambda tr: {"step": tr.step})
    assert [(r["step"], r["Div/KL"]) for r in sink.history()] == [(4, 0.04), (8, 0.08), (12, 0.12)]
    assert sink.frames == [(8, {"step": 8}), (12, {"step": 12})]
    plain = _Recording(Run.create(tmp_path, cfg), games=False)
    called = []
    train(cfg, plain, frame=lambda tr: called.append(tr.step))
    assert called == []  # a run that cannot store frames is not asked to make them


def test_a_stop_inside_an_iteration_keeps_the_d_steps_taken_and_the_resume_goes_on(tmp_path):
    """A stop after one manual D step at step 4 (a checkpoint's step): the checkpoint at 4 is rewritten with D after
    that step; the resume starts a fresh iteration of k D steps there and trains to the end."""
    cfg = RunConfig(**{**TINY, **LOOP})
    run, trainer, gate = Run.create(tmp_path, cfg), Trainer(cfg), StepGate()
    stepping = _manually(gate, trainer, {4: ["d"]})
    state = train(cfg, run, trainer=trainer, gate=gate, should_stop=lambda: stepping() or trainer.step == 4)
    assert state == "stopped" and run.status()["state"] == "stopped" and run.last_checkpoint_step() == 4
    saved = run.load_checkpoint()
    assert saved["step"] == 4 and _equal(saved["D"], trainer.D.state_dict())
    assert _equal(saved["opt_d"], trainer.opt_d.state_dict())
    replay = Trainer(cfg)
    replay.load_state_dict(saved)
    for _ in range(4):
        replay.train_step()
    assert RunSession.reopen(run.path).run_training().state == "finished"
    assert [r["step"] for r in run.history()] == [4, 8]
    assert _equal(run.load_checkpoint()["G"], replay.G.state_dict())


def test_the_gate_withdraws_a_step_nobody_takes_and_refuses_a_waiting_one():
    gate = StepGate()
    with pytest.raises(RunError, match="not started"):
        gate.submit(lambda step: None, 1)
    ran = []
    gate.open(lambda part: ran.append(part))
    with pytest.raises(RunError, match="within 0.05 s"):  # a closed tab's click: withdrawn, never run later
        gate.submit(lambda step: step("d"), 0.05)
    assert gate.serve(0.01) is False and ran == []
    errors = []
    caller = threading.Thread(target=lambda: errors.append(pytest.raises(RunError, gate.submit, lambda s: s("d"), 5)))
    caller.start()
    wait_for(lambda: gate._task is not None, 5, "the request")
    gate.refuse_waiting("it was unpaused before it took the step")
    caller.join(5)
    assert "unpaused" in str(errors[0].value) and ran == []


# ------------------------------------------------------------------ the job manager
@pytest.fixture()
def manager(tmp_path):
    jm = JobManager(tmp_path / "runs", tmp_path / "data")
    yield jm
    jm.shutdown()


def _paused(jm: JobManager, **changes) -> str:
    rid = jm.start(RunConfig(**{**TINY, "steps": 100_000, "log_every": 50, "snapshot_every": 50,
                                "checkpoint_every": 1000, **changes}))
    wait_for(lambda: (jm.snapshot(rid).current_step or 0) >= 3, 60, "the run to train")
    jm.pause(rid)
    wait_for(lambda: jm.snapshot(rid).state == "paused", 30, "the pause")
    return rid


def test_the_job_manager_takes_d_g_and_iteration_steps_on_a_paused_run(manager):
    rid = _paused(manager, d_steps=2)
    run = Run(manager.run_path(rid))
    step0 = manager.snapshot(rid).current_step
    assert manager.snapshot(rid).iteration == (0, 2)
    view = manager.step_once(rid, "d")
    assert isinstance(view, StepView) and (view.part, view.d_steps_done, view.k) == ("d", 1, 2)
    assert view.step_before == view.step_after == step0
    assert view.moved.startswith("D step 1 of 2: D's surface moved by") and "the fake points did not move" in view.moved
    assert {"fake", "arrows", "surface", "losses"} <= view.before.keys() and view.before["losses"] != view.after["losses"]
    snap = manager.snapshot(rid)
    assert snap.step_view is view and snap.iteration == (1, 2) and snap.state == "paused"
    assert run.status()["state"] == "paused" and run.status()["step"] == step0
    view = manager.step_once(rid, "g")
    assert view.step_after == step0 + 1 and "D's surface did not move" in view.moved and "the fake points moved" in view.moved
    assert manager.snapshot(rid).iteration == (0, 2) and manager.snapshot(rid).current_step == step0 + 1
    view = manager.step_once(rid, "iteration")
    assert (view.step_after, view.d_steps_done) == (step0 + 2, 2) and view.moved.startswith("One iteration (2 D steps")
    assert run.status()["step"] == step0 + 2 and run.status()["state"] == "paused"
    manager.step_once(rid, "d")
    manager.step_once(rid, "d")
    with pytest.raises(RunError, match="take the G step"):
        manager.step_once(rid, "d")
    with pytest.raises(RunError, match="not a step"):
        manager.step_once(rid, "dd")
    manager.unpause(rid)
    wait_for(lambda: manager.snapshot(rid).current_step > step0 + 4, 30, "the run to go on")
    with pytest.raises(RunError, match="not paused"):
        manager.step_once(rid, "g")
    manager.stop(rid)
    assert manager.wait(rid, 30) == "stopped"
    with pytest.raises(RunError, match="stopped"):
        manager.step_once(rid, "g")


def test_a_stop_during_a_step_lets_the_step_finish_then_stops(manager, monkeypatch):
    import ganlab.jobs as jobs

    rid = _paused(manager, d_steps=1)
    frames = []

    def frame_then_stop(trainer, like=None):
        frames.append(trainer.step)
        if like is not None:  # the after frame: the step is taken, its StepView not yet made
            manager.stop(rid)
        return step_frame(trainer, like)

    monkeypatch.setattr(jobs, "step_frame", frame_then_stop)
    step0 = manager.snapshot(rid).current_step
    view = manager.step_once(rid, "iteration")
    assert view.step_after == step0 + 1 and frames == [step0, step0 + 1]
    assert manager.wait(rid, 30) == "stopped"
    run = Run(manager.run_path(rid))
    assert run.status()["state"] == "stopped" and run.status()["step"] == step0 + 1
    assert run.last_checkpoint_step() == step0 + 1
    t0 = time.monotonic()
    with pytest.raises(RunError):
        manager.step_once(rid, "d")
    assert time.monotonic() - t0 < 1  # refused at once, not after the step timeout
