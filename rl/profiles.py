"""The Atari agent's profiles (``runkit.profiles``): one budget for training and evaluating.

``paper`` is Appendix A's (100M steps, 1M replay, epsilon 1 -> 0.1 over 1M steps, target sync
every 10,000 steps; replay start 50,000 and the evaluation settings are Mnih et al. (2015)'s);
``cpu`` is the budget sized for this 2-core CPU (2.5M agent steps = 10M frames, ~8 CPU-hours
with ``make bench``'s fused learner; its choices and their sources: docs/atari.md); ``quick``
is about an hour of training plus the evaluation; ``smoke`` runs in minutes: short capped games,
a learner that runs but has not learnt.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from runkit import Profiles, results_dir

__all__ = ["AtariProfile", "ATARI"]


@dataclass(frozen=True, kw_only=True)
class AtariProfile:
    """One budget for training and evaluating an agent (``paper`` is Appendix A's)."""

    name: str
    steps: int  #: agent steps trained (4 frames each)
    replay: int  #: transitions kept in the replay
    learning_starts: int  #: steps of experience before the first update
    eps_decay: int  #: steps over which epsilon falls linearly from 1 to 0.1
    target_sync: int  #: steps between target-network syncs
    checkpoint_every: int  #: steps between checkpoints
    save_replay: bool  #: checkpoints include the replay buffer (else a resume refills it)
    train_max_steps: int | None  #: cap on agent steps per training game (None: ALE's 27,000)
    eval_episodes: int  #: games per (model, lambda) in the Table 1 evaluation
    eval_mc: int  #: Monte Carlo passes for SAP's gradient and for its action
    eval_max_steps: int  #: cap on agent steps per evaluation game
    eval_epsilon: float = 0.05  #: epsilon-greedy during evaluation (Mnih et al. 2015)
    eval_mc_min: int = 1  #: fewest MC passes ``--mc`` may ask for (results that count: 32)
    commit_weights: bool = False  #: final.params is a result: its SHA-256 goes into SHA256SUMS

    def results_dir(self) -> Path:
        return results_dir(self.name, "atari")


ATARI = Profiles("the Atari agent", {
    "paper": AtariProfile(name="paper", steps=100_000_000, replay=1_000_000,
                          learning_starts=50_000, eps_decay=1_000_000, target_sync=10_000,
                          checkpoint_every=250_000, save_replay=False, train_max_steps=None,
                          eval_episodes=30, eval_mc=100, eval_max_steps=4_500, eval_mc_min=32,
                          commit_weights=True),
    # 10M frames: Dopamine's DQN has left random play far behind on Asterix, BankHeist and
    # Assault by then; epsilon falls over Dopamine's 250k steps (the paper's 1M would be 40% of
    # this budget) to the paper's 0.1; the rest is the paper's / Mnih et al.'s (docs/atari.md)
    "cpu": AtariProfile(name="cpu", steps=2_500_000, replay=1_000_000, learning_starts=50_000,
                        eps_decay=250_000, target_sync=10_000, checkpoint_every=100_000,
                        save_replay=True, train_max_steps=None, eval_episodes=30, eval_mc=100,
                        eval_max_steps=4_500, eval_mc_min=32, commit_weights=True),
    "quick": AtariProfile(name="quick", steps=200_000, replay=100_000, learning_starts=20_000,
                          eps_decay=100_000, target_sync=2_000, checkpoint_every=10_000,
                          save_replay=True, train_max_steps=None, eval_episodes=20, eval_mc=16,
                          eval_max_steps=4_500),
    "smoke": AtariProfile(name="smoke", steps=3_000, replay=3_000, learning_starts=500,
                          eps_decay=2_000, target_sync=500, checkpoint_every=1_000,
                          save_replay=True, train_max_steps=300, eval_episodes=2, eval_mc=4,
                          eval_max_steps=300),
})
PROFILES = ATARI.table  # name -> AtariProfile (older name)
