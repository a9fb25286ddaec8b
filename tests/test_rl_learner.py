"""The DDQN Learner (rl/learner.py) through rl.ddqn: checkpoints and resume."""
import csv
import json
import pickle

import mxnet as mx
import numpy as np

from rl import ddqn, envs
from rl.learner import Learner
from rl.qnet import NatureQNet
from rl.replay import Replay
from rl_helpers import params as _params
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

    saved_online, saved_target = mx.nd.load(files["online.params"]), mx.nd.load(files["target.params"])
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
