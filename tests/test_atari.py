"""The DDQN Atari package ``rl``: the Nature-DQN wrappers on real ROMs, game names and the CLI,
the Double DQN target, the frame-once replay against a real environment, checkpoints and resume,
FGSM on the Q-network (dense and SAP-100), the defended Q-network and the Table 1 markdown."""
import csv
import json
import pickle

import gymnasium as gym
import mxnet as mx
import numpy as np
import pytest

import sap_mx
from rl import ddqn, envs, evaluate, table
from rl.qnet import NatureQNet, nature_qnet
from rl.replay import Replay
from sap_mx import checkpoint
from sap_mx.attacks import fgsm, fgsm_step, input_gradient
from sap_mx.blocks import is_relu, walk
from sap_mx.defenses.registry import DefendedActivation

FIRE_FRAMES = 8  # FireReset: FIRE then action 2, one agent step (4 frames) each


def chain(env) -> list[str]:
    """The wrapper class names from the outermost inwards."""
    names = []
    while isinstance(env, gym.Wrapper):
        names.append(type(env).__name__)
        env = env.env
    return names


def play_random(env, rng, until, limit=5000):
    """Random actions until ``until(terminated, truncated, info)``; returns the last step."""
    for _ in range(limit):
        obs, reward, terminated, truncated, info = env.step(int(rng.integers(env.action_space.n)))
        if until(terminated, truncated, info):
            return obs, reward, terminated, truncated, info
    raise AssertionError(f"condition not reached in {limit} steps")


# ---------------------------------------------------------------------------------------------
# wrappers on real ROMs
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("training", [True, False])
def test_observations_are_4x84x84_uint8_and_reset_repeats_the_first_frame(training):
    env = envs.make_env("Breakout", training=training)
    space = env.observation_space
    assert space.shape == (4, 84, 84) and space.dtype == np.uint8
    obs, _ = env.reset(seed=3)
    assert obs.shape == (4, 84, 84) and obs.dtype == np.uint8 and space.contains(obs)
    for k in range(1, 4):  # the reset frame padded into all four slots
        np.testing.assert_array_equal(obs[k], obs[0])
    assert obs.max() > obs.min()  # a real picture, not a blank frame
    rng = np.random.default_rng(0)
    stacks = [obs]
    for _ in range(6):
        obs, reward, *_ = env.step(int(rng.integers(env.action_space.n)))
        assert obs.shape == (4, 84, 84) and obs.dtype == np.uint8 and space.contains(obs)
        stacks.append(obs)
    # the stack shifts by one frame per agent step
    for prev, cur in zip(stacks, stacks[1:]):
        np.testing.assert_array_equal(cur[:3], prev[1:])
    env.close()


def test_noop_starts_are_1_to_30_raw_frames_drawn_per_seed():
    """gymnasium's AtariPreprocessing presses NOOP 1..noop_max times on the frameskip=1 emulator,
    so a reset lands 1..30 *frames* in (OpenAI Baselines' NoopResetEnv on NoFrameskip), plus
    FIRE_FRAMES for a FIRE game. noop_max=0 pins the start at exactly the FIRE frames."""
    for game, fire in (("Breakout", FIRE_FRAMES), ("Freeway", 0)):
        env = envs.make_env(game, training=False)
        starts = [env.reset(seed=s)[1]["episode_frame_number"] for s in range(10)]
        assert all(fire + 1 <= f <= fire + 30 for f in starts), (game, starts)
        assert len(set(starts)) >= 6, (game, starts)  # the seed draws the no-op count
        assert starts[:3] == [env.reset(seed=s)[1]["episode_frame_number"] for s in range(3)]
        env.close()
        fixed = envs.make_env(game, training=False, noop_max=0)
        assert {fixed.reset(seed=s)[1]["episode_frame_number"] for s in range(2)} == {fire}
        fixed.close()
    # training env (EpisodicLife): the first reset of a fresh env is a real, seeded reset too
    starts = {envs.make_env("Breakout").reset(seed=s)[1]["episode_frame_number"]
              for s in range(4)}
    assert len(starts) >= 3 and all(FIRE_FRAMES + 1 <= f <= FIRE_FRAMES + 30 for f in starts)


def test_fire_reset_only_for_games_whose_action_1_is_fire():
    breakout = envs.make_env("Breakout", training=False)
    assert envs.needs_fire(breakout) and "FireReset" in chain(breakout)
    for game in ("Freeway", "Asterix"):  # NOOP, UP, ...: no FIRE at index 1
        env = envs.make_env(game, training=True)
        assert not envs.needs_fire(env)
        assert "FireReset" not in chain(env)
        assert chain(env)[:3] == ["FrameStackObservation", "ClipRewardSign", "EpisodicLife"]
        env.close()
        raw = gym.make(f"ALE/{game}-v5")
        with pytest.raises(ValueError, match="FIRE"):
            envs.FireReset(raw)
        raw.close()
    assert chain(envs.make_env("Breakout", training=True))[:4] == [
        "FrameStackObservation", "ClipRewardSign", "FireReset", "EpisodicLife"]


def test_life_loss_ends_the_learning_episode_but_not_the_game():
    env = envs.make_env("Breakout", training=True)
    rng = np.random.default_rng(0)
    obs, info = env.reset(seed=0)
    lives, frame = info["lives"], info["episode_frame_number"]
    assert lives == 5
    for loss in range(4):  # lives 5 -> 1: four life losses, each a terminal transition
        *_, terminated, truncated, info = play_random(env, rng, lambda te, tr, i: te or tr)
        assert terminated and not truncated
        assert info["game_over"] is False and info["lives"] == lives - 1
        assert info["episode_frame_number"] > frame
        lives, frame = info["lives"], info["episode_frame_number"]
        obs, info = env.reset()
        # the game goes on: same lives, same episode, one no-op + FIRE + 2 (three agent steps)
        assert info["lives"] == lives
        assert info["episode_frame_number"] == frame + 4 + FIRE_FRAMES
        frame = info["episode_frame_number"]
        for k in range(1, 4):
            np.testing.assert_array_equal(obs[k], obs[0])
    *_, terminated, _, info = play_random(env, rng, lambda te, tr, i: te or tr)
    assert terminated and info["game_over"] is True and info["lives"] == 0
    obs, info = env.reset()  # a real game over restarts the game
    assert info["lives"] == 5
    assert FIRE_FRAMES + 1 <= info["episode_frame_number"] <= FIRE_FRAMES + 30
    env.close()


def test_evaluation_env_plays_whole_games_through_life_losses():
    env = envs.make_env("Breakout", training=False)
    assert "EpisodicLife" not in chain(env) and "ClipRewardSign" not in chain(env)
    rng = np.random.default_rng(0)
    _, info = env.reset(seed=0)
    lives = info["lives"]
    losses = 0
    while True:
        _, _, terminated, truncated, info = env.step(int(rng.integers(4)))
        assert not truncated and "game_over" not in info
        if info["lives"] < lives:
            losses += 1
            lives = info["lives"]
        if terminated:
            break
    assert losses == 5 and info["lives"] == 0  # only the last life ends the episode
    env.close()


def test_training_rewards_are_clipped_and_raw_reward_kept():
    env = envs.make_env("Assault", training=True)
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    raw, clipped = [], []
    for _ in range(300):
        _, reward, terminated, truncated, info = env.step(int(rng.integers(env.action_space.n)))
        raw.append(info["raw_reward"])
        clipped.append(reward)
        if terminated or truncated:
            env.reset()
    assert set(clipped) <= {-1.0, 0.0, 1.0}
    assert max(raw) > 1  # Assault pays 21 a kill
    np.testing.assert_array_equal(np.sign(raw), clipped)
    env.close()
    # evaluation: the game's own reward, no clipping
    env = envs.make_env("Assault", training=False)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    rewards = []
    for _ in range(300):
        _, reward, terminated, truncated, info = env.step(int(rng.integers(env.action_space.n)))
        assert "raw_reward" not in info
        rewards.append(reward)
        if terminated or truncated:
            break
    assert max(rewards) > 1
    env.close()


# ---------------------------------------------------------------------------------------------
# game names and the CLI
# ---------------------------------------------------------------------------------------------
def test_resolve_game_names():
    assert envs.resolve_game("bowling") == "Bowling"
    assert envs.resolve_game("SPACEINVADERS") == "SpaceInvaders"
    assert envs.resolve_game("ALE/Pong-v5") == "Pong"
    assert envs.resolve_game("ale/pong-v5") == envs.resolve_game("Pong-v5") == "Pong"
    assert envs.resolve_game(" Breakout ") == "Breakout"
    with pytest.raises(envs.GameNotFound, match="Bowling"):
        envs.resolve_game("Bowlin")
    with pytest.raises(ValueError):  # GameNotFound is a ValueError
        envs.resolve_game("NoSuchGameAtAll")
    assert "Bowling" in envs.game_names() and len(envs.game_names()) > 50


def test_cli_unknown_game_is_one_error_line(capsys, tmp_path):
    code = ddqn.main(["--game", "Bowlin", "--profile", "smoke", "--out", str(tmp_path / "r"),
                      "--no-progress"])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2
    assert len(lines) == 1, err
    assert lines[0].startswith("error:") and "Bowling" in lines[0]
    assert "Traceback" not in err
    assert not (tmp_path / "r").exists()


# ---------------------------------------------------------------------------------------------
# Double DQN target
# ---------------------------------------------------------------------------------------------
def test_ddqn_target_by_hand():
    q_online = mx.nd.array([[1.0, 3.0, 2.0],    # online argmax 1
                            [5.0, 0.0, 1.0],    # online argmax 0
                            [0.0, 0.0, 9.0]])   # (done: ignored)
    q_target = mx.nd.array([[10.0, 20.0, 30.0],  # target argmax 2: DQN would take 30
                            [7.0, 8.0, 9.0],     # target argmax 2: DQN would take 9
                            [1.0, 2.0, 3.0]])
    rewards = mx.nd.array([1.0, 0.0, -1.0])
    done = mx.nd.array([0.0, 0.0, 1.0])
    y = ddqn.ddqn_targets(q_online, q_target, rewards, done, 0.5).asnumpy()
    np.testing.assert_array_equal(y, [1.0 + 0.5 * 20.0, 0.0 + 0.5 * 7.0, -1.0])
    vanilla = (rewards + 0.5 * (1 - done) * q_target.max(axis=1)).asnumpy()
    np.testing.assert_array_equal(vanilla, [16.0, 4.5, -1.0])
    assert not np.allclose(y, vanilla)
    # default gamma is the paper's 0.99
    y99 = ddqn.ddqn_targets(q_online, q_target, rewards, done).asnumpy()
    np.testing.assert_allclose(y99, [1.0 + 0.99 * 20.0, 0.99 * 7.0, -1.0], rtol=1e-6)


def test_epsilon_schedule():
    assert ddqn.epsilon_at(0, 1000) == 1.0
    assert ddqn.epsilon_at(500, 1000) == pytest.approx(0.55)
    assert ddqn.epsilon_at(1000, 1000) == pytest.approx(0.1)
    assert ddqn.epsilon_at(10**6, 1000) == pytest.approx(0.1)


# ---------------------------------------------------------------------------------------------
# replay
# ---------------------------------------------------------------------------------------------
def test_replay_rebuilds_what_a_real_env_returned():
    """Fill a small replay from Breakout (life losses, and truncations from a step cap) exactly
    as rl/ddqn.py does, keeping every observation the env returned, then compare."""
    capacity = 400
    env = envs.make_env("Breakout", training=True, max_episode_steps=60)
    rng = np.random.default_rng(0)
    replay = Replay(capacity)
    record = {}  # slot -> (obs, next_obs, terminated, truncated) of the transition stored there
    obs, _ = env.reset(seed=0)
    seen_obs = obs.copy()  # copied when returned: immune to any buffer reuse in the wrappers
    first = True
    n_steps = 2000
    for _ in range(n_steps):
        action = int(rng.integers(4))
        next_obs, reward, terminated, truncated, info = env.step(action)
        seen_next = next_obs.copy()
        record[replay.cursor] = (seen_obs, seen_next, terminated, truncated)
        replay.add(obs[-1], action, reward, terminated, first)  # as rl/ddqn.py's loop
        if terminated or truncated:
            obs, _ = env.reset()
            seen_obs, first = obs.copy(), True
        else:
            obs, seen_obs, first = next_obs, seen_next, False
    env.close()
    assert replay.size == capacity and replay.cursor == n_steps % capacity  # wrapped around
    slots = np.arange(capacity)
    terminal = np.array([record[i][2] for i in slots])
    truncated_only = np.array([record[i][3] and not record[i][2] for i in slots])
    assert terminal.sum() >= 5 and truncated_only.sum() >= 3  # both cases are exercised
    age = (slots - replay.cursor) % capacity

    # which slots may be sampled, computed from what the env did
    expected = (age >= 3) & (age <= capacity - 2) & ~truncated_only
    valid = replay.valid(slots)
    np.testing.assert_array_equal(valid, expected)
    for k in range(3):
        assert not valid[(replay.cursor + k) % capacity]  # the three oldest
    assert not valid[(replay.cursor - 1) % capacity]      # the newest

    # every valid slot rebuilds its observation, and its successor for non-terminal ones
    idx = slots[valid]
    states = replay.stack(idx)
    nexts = replay.stack((idx + 1) % capacity)
    for row, i in enumerate(idx):
        np.testing.assert_array_equal(states[row], record[i][0], err_msg=f"slot {i}")
        if not record[i][2]:
            np.testing.assert_array_equal(nexts[row], record[i][1], err_msg=f"next of {i}")
    assert not replay.first[(idx + 1) % capacity][~replay.done[idx]].any()

    # sampled transitions are real ones of the env (same episode, right done/reward)
    real = {(record[i][0].tobytes(), record[i][1].tobytes()) for i in idx if not record[i][2]}
    real_states = {record[i][0].tobytes() for i in idx}
    sample_rng = np.random.default_rng(1)
    for _ in range(20):
        s, a, r, s2, d = replay.sample(32, sample_rng)
        assert s.shape == s2.shape == (32, 4, 84, 84) and s.dtype == np.uint8
        assert set(r.tolist()) <= {-1.0, 0.0, 1.0} and set(a.tolist()) <= {0, 1, 2, 3}
        for row in range(32):
            assert s[row].tobytes() in real_states
            if not d[row]:
                assert (s[row].tobytes(), s2[row].tobytes()) in real


def _hand_made_replay():
    """Two episodes in a capacity-12 replay: the first truncated after slot 4 (done False), the
    second terminated after slot 8; slot k holds frames filled with k and action k."""
    replay = Replay(12, frame_shape=(2, 2))
    for k in range(10):
        replay.add(np.full((2, 2), k, np.uint8), k, 0.0, done=(k == 8), first=k in (0, 5))
    return replay


def test_replay_never_samples_a_truncated_or_unfinished_transition():
    replay = _hand_made_replay()
    valid = replay.valid(np.arange(10))
    # slots 0-2: too young; 4: truncated (next is a reset); 9: newest
    np.testing.assert_array_equal(valid, [k in (3, 5, 6, 7, 8) for k in range(10)])
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(200):
        s, a, r, s2, d = replay.sample(8, rng)
        seen.update(a.tolist())
        for row, k in enumerate(a):
            assert s[row, -1, 0, 0] == k and d[row] == (k == 8)
            if k != 8:
                assert s2[row, -1, 0, 0] == k + 1
    assert seen == {3, 5, 6, 7, 8}
    # episode starts repeat the first frame, as FrameStackObservation shows after a reset
    np.testing.assert_array_equal(replay.stack(np.array([6]))[0, :, 0, 0], [5, 5, 5, 6])
    np.testing.assert_array_equal(replay.stack(np.array([3]))[0, :, 0, 0], [0, 1, 2, 3])


def test_replay_wraparound_excludes_overwritten_history():
    replay = Replay(8, frame_shape=(1, 1))
    for k in range(11):  # slots hold k = 8, 9, 10, 3, 4, 5, 6, 7; oldest is slot 3 (k=3)
        replay.add(np.full((1, 1), k, np.uint8), k, 0.0, done=False, first=k == 0)
    assert replay.cursor == 3 and replay.size == 8
    valid = replay.valid(np.arange(8))
    # oldest k=3,4,5 (slots 3,4,5) and newest k=10 (slot 2) are out
    np.testing.assert_array_equal(valid, [True, True, False, False, False, False, True, True])
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(100):
        s, a, _, s2, _ = replay.sample(4, rng)
        seen.update(a.tolist())
        np.testing.assert_array_equal(s[:, -1, 0, 0], a)
        np.testing.assert_array_equal(s2[:, -1, 0, 0], a + 1)
        np.testing.assert_array_equal(s[:, 0, 0, 0], a - 3)  # full history, never overwritten
    assert seen == {6, 7, 8, 9}
    np.testing.assert_array_equal(replay.stack(np.array([6]))[0, :, 0, 0], [3, 4, 5, 6])
    np.testing.assert_array_equal(replay.stack(np.array([1]))[0, :, 0, 0], [6, 7, 8, 9])


@pytest.mark.parametrize("adds", [7, 30])  # partly filled, and wrapped around
def test_replay_save_load_round_trip(tmp_path, adds):
    rng = np.random.default_rng(3)
    replay = Replay(16, frame_shape=(3, 3))
    for k in range(adds):
        replay.add(rng.integers(0, 256, (3, 3)), int(rng.integers(4)), float(rng.integers(-1, 2)),
                   bool(rng.random() < 0.2), bool(k == 0 or rng.random() < 0.2))
    replay.save(tmp_path / "replay.npz")
    loaded = Replay.load(tmp_path / "replay.npz")
    assert (loaded.capacity, loaded.cursor, loaded.size) == (replay.capacity, replay.cursor,
                                                             replay.size)
    for name in ("frames", "actions", "rewards", "done", "first"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(replay, name), err_msg=name)
        assert getattr(loaded, name).dtype == getattr(replay, name).dtype
    a, b = replay.sample(8, np.random.default_rng(9)), loaded.sample(8, np.random.default_rng(9))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not list(tmp_path.glob(".*tmp"))  # the atomic write left no temp file


# ---------------------------------------------------------------------------------------------
# checkpoint and resume
# ---------------------------------------------------------------------------------------------
def _params(net):
    return {k: p.data().asnumpy() for k, p in net._collect_params_with_prefix().items()}


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
    learner = ddqn.Learner(actions, seed=0)
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
# FGSM on the Q-network
# ---------------------------------------------------------------------------------------------
def _observations(n=3, seed=0):
    x = np.random.default_rng(seed).integers(0, 256, (n, 4, 84, 84)).astype(np.uint8)
    x[:, :, :6] = 0      # saturated pixels at both ends: clipping matters
    x[:, :, -6:] = 255
    return x


@pytest.fixture(scope="module")
def qnets():
    net = nature_qnet(6, seed=0)
    net.hybridize()
    return net, sap_mx.defend(net, "sap", frac=1.0)


def test_fgsm_on_the_qnet_stays_within_lambda_and_pixels(qnets):
    net, sap = qnets
    x = _observations()
    X = mx.nd.array(x, dtype="float32")
    ce = lambda q, y: -mx.nd.pick(mx.nd.log_softmax(q), y, axis=1)  # noqa: E731
    for model, mc in ((net, 1), (sap, 4)):
        label = evaluate.mean_q(model, X, mc).argmax(axis=1)
        g = input_gradient(model, X, label, mc_samples=mc).asnumpy()
        assert (g != 0).mean() > 0.99
        for lam in (1, 2, 4, 8):
            adv = fgsm_step(X, mx.nd.array(g), lam, clip=(0.0, 255.0)).asnumpy()
            d = adv - x
            assert np.abs(d).max() <= lam and adv.min() >= 0 and adv.max() <= 255
            room = (x + lam * np.sign(g) >= 0) & (x + lam * np.sign(g) <= 255) & (g != 0)
            assert room.mean() > 0.85
            assert (np.abs(d[room]) == lam).all()
            np.testing.assert_array_equal(np.sign(d[room]), np.sign(g[room]))
            clipped = ~room & (g != 0)
            assert clipped.any() and np.isin(adv[clipped], (0.0, 255.0)).all()
            if model is net:
                np.testing.assert_array_equal(fgsm(net, X, label, lam).asnumpy(), adv)
                if lam == 8:  # the step goes up the loss
                    assert (ce(net(mx.nd.array(adv)), label) > ce(net(X), label)).asnumpy().all()


def test_attacked_action_and_mean_q(qnets):
    net, sap = qnets
    x = _observations(4, seed=1)
    X = mx.nd.array(x, dtype="float32")
    greedy = net(X).argmax(axis=1).asnumpy().astype(int)
    for i in range(4):
        assert evaluate.attacked_action(net, x[i], 0, 1) == greedy[i]
    # lambda > 0: the greedy action on FGSM(x) with the clean greedy action as the label
    attacked = []
    for i in range(4):
        adv = fgsm(net, X[i:i + 1], mx.nd.array([greedy[i]]), 8.0)
        attacked.append(evaluate.attacked_action(net, x[i], 8, 1))
        assert attacked[-1] == int(net(adv).argmax(axis=1).asscalar())
    assert attacked != greedy.tolist()  # the attack changes some decisions
    q = net(X).asnumpy()
    for mc in (1, 3, 7):
        np.testing.assert_allclose(evaluate.mean_q(net, X, mc).asnumpy(), q, rtol=1e-5, atol=1e-7)
    a, b = evaluate.mean_q(sap, X, 2).asnumpy(), evaluate.mean_q(sap, X, 2).asnumpy()
    assert a.shape == (4, 6) and not np.array_equal(a, b)
    # SAP averaged over many passes is closer to the dense Q than one pass is
    many = evaluate.mean_q(sap, X, 64).asnumpy()
    assert np.abs(many - q).mean() < np.abs(evaluate.mean_q(sap, X, 1).asnumpy() - q).mean()


# ---------------------------------------------------------------------------------------------
# the Q-network
# ---------------------------------------------------------------------------------------------
def test_qnet_has_four_relus_that_sap_defends():
    q = nature_qnet(4, seed=1)
    assert sum(is_relu(b) for b in walk(q)) == 4
    defended = sap_mx.defend(q, "sap")
    blocks = [b for b in walk(defended) if isinstance(b, DefendedActivation)]
    assert len(blocks) == 4
    assert all(is_relu(b.act) and isinstance(b.defense, sap_mx.SAP) for b in blocks)
    assert sum(is_relu(b) for b in walk(defended)) == 4  # only inside the defended blocks
    assert sum(is_relu(b) for b in walk(q)) == 4 and not any(
        isinstance(b, DefendedActivation) for b in walk(q))  # the original is untouched
    x = mx.nd.array(np.random.default_rng(0).integers(0, 256, (5, 4, 84, 84)))
    assert q(x).shape == (5, 4) and defended(x).shape == (5, 4)
    with pytest.raises(ValueError):
        nature_qnet(0)
    # weights uniform in +-1/sqrt(fan_in), biases zero
    fan_in = {"1.weight": 4 * 8 * 8, "3.weight": 32 * 4 * 4, "5.weight": 64 * 3 * 3,
              "8.weight": 64 * 7 * 7, "10.weight": 512}
    params = _params(q)
    assert sorted(params) == sorted(list(fan_in) + [k.replace("weight", "bias") for k in fan_in])
    for name, n in fan_in.items():
        bound = 1 / np.sqrt(n)
        w = params[name]
        assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound, name
        assert abs(w.mean()) < 0.05 * bound and w.std() == pytest.approx(bound / np.sqrt(3),
                                                                           rel=0.1)
        assert not params[name.replace("weight", "bias")].any()
    # same seed, same weights
    a, b = _params(nature_qnet(4, seed=7)), _params(nature_qnet(4, seed=7))
    assert all(np.array_equal(a[k], b[k]) for k in a)


# ---------------------------------------------------------------------------------------------
# Table 1 markdown
# ---------------------------------------------------------------------------------------------
def _write_results(path, game, cells):
    """cells: {lambda: rel_change_pct of the SAP row}."""
    meta = {"episodes": 2, "mc_samples": 4, "eval_epsilon": 0.05, "seed": 0, "profile": "smoke",
            "steps_trained": 3000, "git_sha": "abc123"}
    rows = []
    for lam, rel in cells.items():
        rows.append({"game": game, "model": "dense", "eps": lam, "mean_reward": 10.0,
                     "rel_change_pct": "", **meta, "mc_samples": 1})
        rows.append({"game": game, "model": "sap100", "eps": lam, "mean_reward": 11.0,
                     "rel_change_pct": rel, **meta})
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_table_puts_ours_and_the_papers_in_the_right_cells(tmp_path):
    _write_results(tmp_path / "Bowling.csv", "Bowling", {0: -7.3, 1: 12.5, 2: 33.0, 4: 0.0,
                                                          8: -50.0})
    _write_results(tmp_path / "Pong.csv", "Pong", {0: 2.0, 1: 4.0})
    (tmp_path / "notes.csv").write_text("a,b\n1,2\n")  # not a results file: ignored
    text = table.build_table(tmp_path)
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("| lambda |"))
    games = [c.strip() for c in header.strip("|").split("|")][1:]
    assert games == list(table.PAPER_GAMES) + ["Pong"]

    def row(lam):
        line = next(line for line in lines if line.startswith(f"| {lam} |"))
        return dict(zip(games, [c.strip() for c in line.strip("|").split("|")][1:]))

    assert table.paper_values()["Bowling"][1.0] == 3425.9
    assert row(1)["Bowling"] == "+12.5% (+3425.9%)"
    assert row(0)["Bowling"] == "-7.3% (-4.5%)"
    assert row(8)["Bowling"] == "-50.0%"          # the paper's Bowling cell at 8 is empty
    assert row(4)["Bowling"] == "+0.0%"
    assert row(1)["Pong"] == "+4.0%" and row(2)["Pong"] == "-"  # not a paper game; no run at 2
    assert row(1)["Assault"] == "- (+10.4%)" and row(8)["BankHeist"] == "- (+60.9%)"
    assert row(8)["BeamRider"] == "-"
    assert [line.split("|")[1].strip() for line in lines if line.startswith("| ")
            and line.split("|")[1].strip() not in ("lambda", "---")] == ["0", "1", "2", "4", "8"]
    assert "- Bowling: profile smoke, 3,000 agent steps trained, 2 games per cell, SAP MC " \
           "samples 4" in text
    assert "notes" not in text
    # no results at all: every game '-' and the hint to run one
    empty = tmp_path / "empty"
    empty.mkdir()
    text = table.build_table(empty)
    assert "none yet" in text and "| 1 | - (+10.4%) |" in text


# ---------------------------------------------------------------------------------------------
# run folders: --fresh, finished runs, locks, evaluation guards
# ---------------------------------------------------------------------------------------------
def test_fresh_removes_only_the_runs_files_and_a_finished_run_is_not_rewritten(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    args = dict(game="Bowling", profile="smoke", steps=40, out=str(out), progress=False)
    ddqn.train(ddqn.Args(**args))
    before = (out / "final.json").read_bytes(), (out / "final.params").stat().st_mtime_ns
    rec = ddqn.train(ddqn.Args(**args))  # finished: nothing retrained or rewritten
    assert rec["already_done"] and "already trained" in capsys.readouterr().err
    assert ((out / "final.json").read_bytes(), (out / "final.params").stat().st_mtime_ns) == before
    ddqn.train(ddqn.Args(**args, fresh=True))
    assert (out / "notes.txt").read_text() == "mine"  # --fresh left what it did not write
    assert json.loads((out / "final.json").read_text())["steps"] == 40


def test_a_run_folder_in_use_is_refused(tmp_path):
    held = ddqn.lock_run(tmp_path / "run")
    try:
        with pytest.raises(ddqn.UsageError, match="in use"):
            ddqn.lock_run(tmp_path / "run")
    finally:
        held.close()
    ddqn.lock_run(tmp_path / "run").close()  # free again once released


def test_evaluation_refuses_another_games_agent_or_missing_weights(tmp_path):
    run = tmp_path / "run"
    ddqn.train(ddqn.Args(game="Bowling", profile="smoke", steps=40, out=str(run), progress=False))
    with pytest.raises(ddqn.UsageError, match="holds a Bowling agent, not Pong"):
        evaluate.evaluate(evaluate.EvalArgs(game="Pong", profile="smoke", run=str(run),
                                            progress=False))
    (run / "final.params").unlink()
    with pytest.raises(ddqn.UsageError, match="not final.params"):
        evaluate.evaluate(evaluate.EvalArgs(game="Bowling", profile="smoke", run=str(run),
                                            progress=False))


def test_games_whose_first_action_is_not_noop_get_the_full_action_set():
    env = envs.make_env("Backgammon")
    obs, _ = env.reset(seed=0)
    assert obs.shape == (4, 84, 84) and env.unwrapped.get_action_meanings()[0] == "NOOP"
    env.close()
