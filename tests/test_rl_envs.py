"""rl/envs.py: the Nature-DQN wrappers on real ROMs and the game names."""
import gymnasium as gym
import numpy as np
import pytest

from rl import envs

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


def test_games_whose_first_action_is_not_noop_get_the_full_action_set():
    env = envs.make_env("Backgammon")
    obs, _ = env.reset(seed=0)
    assert obs.shape == (4, 84, 84) and env.unwrapped.get_action_meanings()[0] == "NOOP"
    env.close()
