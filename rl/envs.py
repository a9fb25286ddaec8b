"""Atari environments with the Nature-DQN preprocessing (Mnih et al. 2015), on gymnasium + ale-py.

The pipeline, outermost last::

    gymnasium.make('ALE/<Game>-v5', frameskip=1, repeat_action_probability=0)
    -> AtariPreprocessing   (gymnasium: 1-30 no-op frames at reset, as OpenAI Baselines' no-op
                             starts; repeat each action 4 frames and take the
                             max of the last two, 84x84 grayscale uint8)
    -> TimeLimit            (optional cap on agent steps per game: smoke runs, evaluation)
    -> EpisodicLife         (training only: a lost life ends the learning episode, the game goes on)
    -> FireReset            (games whose action 1 is FIRE: press it after every reset)
    -> ClipRewardSign       (training only: reward -> sign(reward))
    -> FrameStackObservation(4)  (gymnasium: observation (4, 84, 84) uint8, the first frame
                             repeated after a reset)

gymnasium's ``AtariPreprocessing(terminal_on_life_loss=True)`` is not used for the life loss: it
ends the *game* at the next reset, while the Nature protocol only ends the learning episode and
keeps playing (OpenAI Baselines' EpisodicLifeEnv). That, FIRE on reset and the sign of the reward
are the three wrappers written here.
"""
from __future__ import annotations

import difflib

import gymnasium as gym
import numpy as np

from sap_mx.errors import UserError

__all__ = ["GameNotFound", "game_names", "resolve_game", "make_env", "EpisodicLife", "FireReset",
           "ClipRewardSign"]

_registered = False


def _register() -> None:
    global _registered
    if not _registered:
        import ale_py

        gym.register_envs(ale_py)
        _registered = True


class GameNotFound(UserError):
    """An ALE game name that does not exist (the message lists close valid names)."""


def game_names() -> list[str]:
    """Every ALE game gymnasium knows, as ``Bowling``, ``SpaceInvaders``..."""
    _register()
    return sorted({env_id[4:-3] for env_id in gym.registry
                   if env_id.startswith("ALE/") and env_id.endswith("-v5")})


def resolve_game(name: str) -> str:
    """The canonical game name for ``name`` (case-insensitive; 'ALE/Pong-v5' also accepted).

    Raises
    ------
    GameNotFound
        With up to five close valid names.
    """
    names = game_names()
    key = name.strip()
    if key.lower().startswith("ale/"):
        key = key[4:]
    if key.lower().endswith("-v5"):
        key = key[:-3]
    lower = {n.lower(): n for n in names}
    if key.lower() in lower:
        return lower[key.lower()]
    close = difflib.get_close_matches(key.lower(), list(lower), n=5, cutoff=0.5)
    hint = (f"did you mean {', '.join(lower[c] for c in close)}?" if close
            else f"valid names include {', '.join(names[:8])}, ... ({len(names)} games)")
    raise GameNotFound(f"unknown Atari game {name!r}; {hint}")


class EpisodicLife(gym.Wrapper):
    """A lost life ends the learning episode (``terminated``); the game itself goes on.

    ``reset()`` after a life loss takes one no-op step instead of restarting the game; after a
    real game over (or a truncation) it resets the wrapped environment. ``info['game_over']``
    tells the two apart, so returns can be counted per game.
    """

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self.lives = 0
        self.game_over = True

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.game_over = terminated or truncated
        lives = self.env.unwrapped.ale.lives()
        if 0 < lives < self.lives:
            terminated = True
        self.lives = lives
        info["game_over"] = self.game_over
        return obs, reward, terminated, truncated, info

    def reset(self, **kwargs):
        if self.game_over:
            obs, info = self.env.reset(**kwargs)
        else:
            obs, _, terminated, truncated, info = self.env.step(0)
            if terminated or truncated:  # the no-op itself ended the game
                obs, info = self.env.reset(**kwargs)
        self.lives = self.env.unwrapped.ale.lives()
        self.game_over = False
        return obs, info


class FireReset(gym.Wrapper):
    """Press FIRE (then action 2) after every reset, for games that wait for it to start."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        meanings = env.unwrapped.get_action_meanings()
        if len(meanings) < 3 or meanings[1] != "FIRE":
            raise ValueError("FireReset needs a game whose action 1 is FIRE")

    def reset(self, **kwargs):
        self.env.reset(**kwargs)
        for action in (1, 2):
            obs, _, terminated, truncated, info = self.env.step(action)
            if terminated or truncated:
                obs, info = self.env.reset(**kwargs)
        return obs, info


class ClipRewardSign(gym.Wrapper):
    """reward -> sign(reward), as in Nature DQN; the game's own reward stays in
    ``info['raw_reward']`` (learning curves report scores, not clipped sums)."""

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        info["raw_reward"] = float(reward)
        return obs, float(np.sign(reward)), terminated, truncated, info


def needs_fire(env: gym.Env) -> bool:
    meanings = env.unwrapped.get_action_meanings()
    return len(meanings) >= 3 and meanings[1] == "FIRE"


def make_env(game: str, *, training: bool = True,
             max_episode_steps: int | None = None, noop_max: int = 30) -> gym.Env:
    """The Nature-DQN Atari environment for ``game`` (see the module docstring).

    Parameters
    ----------
    game : str
        An ALE game name ('Bowling'); see ``resolve_game``.
    training : bool, default True
        Episodic life and reward clipping on (training) or off (evaluation: whole games, raw
        scores).
    max_episode_steps : int, optional
        Cap on agent steps (4 frames each) per game; ALE's own cap is 108,000 frames.
    noop_max : int, default 30
        No-op starts: 1..noop_max no-op *frames* (emulator frames, not agent steps) at each real
        reset, drawn by gymnasium's AtariPreprocessing; FIRE games add 8 frames of FIRE + action 2.

    Seed it with the first ``env.reset(seed=...)`` (emulator and no-op starts).
    """
    _register()
    name = resolve_game(game)
    env = gym.make(f"ALE/{name}-v5", frameskip=1, repeat_action_probability=0.0,
                   full_action_space=False)
    if env.unwrapped.get_action_meanings()[0] != "NOOP":  # Backgammon, VideoCheckers: the
        env.close()  # no-op starts and the life-loss reset need a NOOP at index 0
        env = gym.make(f"ALE/{name}-v5", frameskip=1, repeat_action_probability=0.0,
                       full_action_space=True)
    env = gym.wrappers.AtariPreprocessing(env, noop_max=noop_max, frame_skip=4, screen_size=84,
                                          terminal_on_life_loss=False, grayscale_obs=True,
                                          scale_obs=False)
    if max_episode_steps:
        env = gym.wrappers.TimeLimit(env, max_episode_steps=max_episode_steps)
    if training:
        env = EpisodicLife(env)
    if needs_fire(env):
        env = FireReset(env)
    if training:
        env = ClipRewardSign(env)
    return gym.wrappers.FrameStackObservation(env, 4)
