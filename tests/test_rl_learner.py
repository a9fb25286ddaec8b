"""The DDQN learners (rl/learner.py): the fused update against the reference one, checkpoints
and resume through rl.ddqn."""
import csv
import json
import pickle

import mxnet as mx
import numpy as np
import pytest

from rl import ddqn, envs
from rl.learner import DEFAULT_LEARNER, LEARNERS, FusedLearner, Learner, make_learner
from rl.qnet import NatureQNet
from rl.replay import Replay
from rl_helpers import params as _params
from runkit import UsageError
from sap_mx import checkpoint


# ---------------------------------------------------------------------------------------------
# checkpoint and resume
# ---------------------------------------------------------------------------------------------
def test_checkpoint_restores_the_exact_learner_state_and_resumes(tmp_path, capsys):
    out = tmp_path / "run"
    smoke = ddqn.PROFILES["smoke"]
    kw = dict(game="Bowling", profile="smoke", steps=700, out=str(out), progress=False)
    first = ddqn.train(ddqn.Args(**kw, stop_after=600))
    assert first["steps"] == 600 and not first["finished"]
    assert not (out / "final.json").exists()
    meta, files = checkpoint.load(out / "checkpoint")
    assert set(files) == {"online.params", "target.params", "trainer.states", "replay.npz"}
    assert meta["step"] == 600
    # one update every 4 steps from learning_starts (500) on: steps 500, 504, ..., 600
    assert meta["updates"] == (600 - smoke.learning_starts) // ddqn.UPDATE_EVERY + 1 > 0
    assert meta["epsilon"] == ddqn.epsilon_at(600, smoke.eps_decay)
    assert meta["rng"]["bit_generator"] == "PCG64"
    np.random.default_rng().bit_generator.state = meta["rng"]  # a usable generator state
    assert meta["config"]["game"] == "Bowling" and meta["config"]["steps"] == 700
    replay = Replay.load(files["replay.npz"])
    assert replay.size == replay.cursor == 600 and replay.capacity == 701

    saved_online = mx.nd.load(files["online.params"])
    saved_target = mx.nd.load(files["target.params"])
    # online has learnt since the last sync (step 500), so the two files differ
    assert any(not np.array_equal(saved_online[k].asnumpy(), saved_target[k].asnumpy())
               for k in saved_online)

    actions = envs.make_env("Bowling").action_space.n
    assert actions == 6
    learner = Learner(actions, seed=0)
    fresh_states = tmp_path / "fresh.states"
    learner.trainer.save_states(str(fresh_states))
    before = _params(learner.online)
    assert any(not np.array_equal(before[k], saved_online[k].asnumpy()) for k in saved_online)
    x = mx.nd.array(np.random.default_rng(0).integers(0, 256, (1, 4, 84, 84)))
    q_before = learner.actor(x).asnumpy()  # the static cached graphs exist before the load
    learner.online(x), learner.target(x)
    learner.load(files)
    for net, saved in ((learner.online, saved_online), (learner.target, saved_target)):
        mine = _params(net)
        assert mine.keys() == saved.keys()
        for k in saved:
            np.testing.assert_array_equal(mine[k], saved[k].asnumpy(), err_msg=k)
    # the networks compute with the loaded weights (acting copy included)
    reference = NatureQNet(6)
    reference.load_parameters(files["online.params"])
    q_ref = reference(x).asnumpy()
    assert not np.allclose(q_ref, q_before)
    np.testing.assert_allclose(learner.actor(x).asnumpy(), q_ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(learner.online(x).asnumpy(), q_ref, rtol=1e-5, atol=1e-6)
    reference.load_parameters(files["target.params"])
    np.testing.assert_allclose(learner.target(x).asnumpy(), reference(x).asnumpy(), rtol=1e-5,
                               atol=1e-6)
    # optimizer state: the same bytes back, the RMSProp moments and the update count
    again = tmp_path / "again.states"
    learner.trainer.save_states(str(again))
    saved_bytes = open(files["trainer.states"], "rb").read()
    assert again.read_bytes() == saved_bytes != fresh_states.read_bytes()
    states, optimizer = pickle.loads(saved_bytes)
    assert optimizer.num_update == meta["updates"]
    assert learner.trainer._optimizer.num_update == meta["updates"]
    loaded_states = learner.trainer._updaters[0].states
    assert loaded_states.keys() == states.keys() and len(states) == len(saved_online)
    for i, moments in states.items():
        for a, b in zip(moments, loaded_states[i]):
            np.testing.assert_array_equal(a.asnumpy(), b.asnumpy())
    assert any(np.abs(m.asnumpy()).sum() > 0 for ms in states.values() for m in ms)
    capsys.readouterr()

    second = ddqn.train(ddqn.Args(**kw))
    err = capsys.readouterr().err
    assert "resuming Bowling (smoke, seed 0) at step 600/700" in err
    final = json.loads((out / "final.json").read_text())
    assert final["steps"] == 700 and final["finished"] is True and final["actions"] == 6
    assert second["updates"] == meta["updates"] + 100 // ddqn.UPDATE_EVERY  # counted on
    assert (out / "episodes.csv").is_file() and (out / "final.params").is_file()
    assert checkpoint.load(out / "checkpoint")[0]["step"] == 700
    rows = list(csv.DictReader(open(out / "episodes.csv")))
    assert rows and all(int(r["length"]) <= smoke.train_max_steps for r in rows)


# ---------------------------------------------------------------------------------------------
# the fused learner computes the reference update
# ---------------------------------------------------------------------------------------------
def _replay_batch(rng, q_online, size=32, actions=6, tie=1e-3):
    """A replay-like batch (uint8 frames, int32 actions, clipped rewards, some terminal). A
    transition whose next state has two nearly equal online Q-values is made terminal: float
    rounding may pick either action there, and the two learners may round differently."""
    s = rng.integers(0, 256, (size, 4, 84, 84), dtype=np.uint8)
    s2 = rng.integers(0, 256, (size, 4, 84, 84), dtype=np.uint8)
    q = np.sort(q_online(mx.nd.array(s2)).asnumpy(), axis=1)
    done = (rng.random(size) < 0.2) | (q[:, -1] - q[:, -2] < tie)
    return (s, rng.integers(0, actions, size).astype(np.int32),
            rng.choice([-1.0, 0.0, 1.0], size).astype(np.float32), s2, done)


def _save(learner, folder):
    folder.mkdir()
    files = {}
    for name, write in learner.writers().items():
        write(str(folder / name))
        files[name] = str(folder / name)
    return files


def test_fused_learner_computes_the_reference_update(tmp_path):
    """From the same state (parameters, target, RMSProp moments: the reference's checkpoint
    files loaded into the fused learner, which also shows the two share a checkpoint format)
    and the same batch, one update of each gives the same loss and the same parameters, to
    float rounding; five times, from states the reference reached, across a target sync."""
    ref, fused = Learner(6, seed=3), FusedLearner(6, seed=3)
    assert all(p.grad_req == "null" for p in fused.target.collect_params().values())
    rng = np.random.default_rng(0)
    for k in range(5):
        fused.load(_save(ref, tmp_path / f"state{k}"))
        batch = _replay_batch(rng, ref.online)
        before = _params(ref.online)
        loss_ref = ref.update(*batch)
        loss_fused = fused.update(*batch)
        assert isinstance(loss_fused, mx.nd.NDArray) and loss_fused.shape == (32,)
        assert float(loss_fused.mean().asscalar()) == pytest.approx(loss_ref, rel=1e-5)
        after_ref, after_fused = _params(ref.online), _params(fused.online)
        for name in after_ref:
            moved = np.abs(after_ref[name] - before[name]).max()
            assert moved > 0, name
            diff = np.abs(after_fused[name] - after_ref[name]).max()
            assert diff <= 1e-3 * moved, (k, name, diff, moved)
        assert fused.trainer._optimizer.num_update == ref.trainer._optimizer.num_update
        if k == 1:  # the target network then differs from the online one
            ref.sync_target()
    # acting: the fused greedy action is the reference's, on the same weights
    fused.load(_save(ref, tmp_path / "last"))
    obs = np.random.default_rng(5).integers(0, 256, (8, 4, 84, 84), dtype=np.uint8)
    assert [fused.act(o) for o in obs] == [ref.act(o) for o in obs]


def test_make_learner_names_the_implementations():
    assert set(LEARNERS) == {"fused", "reference"} and DEFAULT_LEARNER == "fused"
    assert isinstance(make_learner("reference", 4, seed=0), Learner)
    assert isinstance(make_learner("fused", 4, seed=0), FusedLearner)
    with pytest.raises(UsageError, match="unknown learner 'fast'; valid: fused, reference"):
        make_learner("fast", 4, seed=0)


def test_only_the_pass_on_s_trains_in_the_fused_graph():
    """Of the fused graph's 15 weighted layers (online on s, online on s', target on s'), only
    the 5 of the pass on s reach an online parameter without a BlockGrad: MXNet then runs no
    backward for the passes on s' (a BlockGrad on their output alone would leave it computing
    their backward, with zero gradients: ~30% more work)."""
    fused = FusedLearner(6, seed=0)
    graph = json.loads(fused.loss(*(mx.sym.var(n) for n in ("s", "a", "r", "s2", "d"))).tojson())
    nodes = graph["nodes"]
    online = {p.name for p in fused.online.collect_params().values()}

    def source(i, frozen=False):
        """(variable name, whether a BlockGrad lies between) of node i's data."""
        node = nodes[i]
        if node["op"] == "null":
            return node["name"], frozen
        return source(node["inputs"][0][0], frozen or node["op"] == "BlockGrad")

    weighted = [n for n in nodes if n["op"] in ("Convolution", "FullyConnected")]
    assert len(weighted) == 15
    weights = [source(n["inputs"][1][0]) for n in weighted]
    trained = [name for name, frozen in weights if name in online and not frozen]
    assert len(trained) == 5 and len(set(trained)) == 5
    inputs = {source(n["inputs"][0][0])[0] for n in weighted if n["op"] == "Convolution"}
    assert {"s", "s2"} <= inputs
