"""Double DQN on one Atari game, the agent of the SAP paper's section 4.2 and Appendix A.

    python -m rl.ddqn --game Bowling --profile smoke

Readable top to bottom: arguments and profiles, the learner (Double DQN target, Huber loss,
DeepMind RMSProp), then ``train``: act epsilon-greedily, store the transition, learn every 4 steps,
sync the target network every ``target_sync`` steps, checkpoint every ``checkpoint_every`` steps.
A rerun with the same arguments resumes from the last checkpoint (``--fresh`` discards it).

Outputs under ``results/atari/runs/<Game>-<profile>-seed<k>/`` (smoke: ``results/smoke/atari/``):
``checkpoint/`` (online and target nets, optimizer state, counters, epsilon, numpy RNG state,
optionally the replay buffer), ``episodes.csv`` (one row per game played), ``curve.png`` and, once
all steps are done, ``final.params`` + ``final.json``.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", str(os.cpu_count() or 1))  # before mxnet: all cores

import dataclasses  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import mxnet as mx  # noqa: E402
import numpy as np  # noqa: E402
from mxnet import autograd, gluon  # noqa: E402

from experiments.cli import arg, cli_main, parse_dataclass_args, progress_bar, save_figure, seed_all  # noqa: E402
from experiments.profiles import ROOT, UsageError  # noqa: E402
from sap_mx import checkpoint  # noqa: E402
from sap_mx.results import git_sha, write_csv  # noqa: E402

from .envs import GameNotFound, make_env, resolve_game  # noqa: E402
from .qnet import NatureQNet, nature_qnet  # noqa: E402
from .replay import Replay  # noqa: E402

__all__ = ["Args", "AtariProfile", "PROFILES", "Learner", "ddqn_targets", "epsilon_at", "train",
           "run_dir_for", "main"]


# ---------------------------------------------------------------------------------------------
# profiles and arguments
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AtariProfile:
    """One budget for training and evaluating an agent (``paper`` is Appendix A's)."""

    name: str
    steps: int  #: agent steps trained (4 frames each)
    replay: int  #: transitions kept in the replay
    learning_starts: int  #: steps of experience before the first update
    eps_decay: int  #: steps over which epsilon falls linearly from 1 to 0.1
    target_sync: int  #: steps between target-network syncs
    checkpoint_every: int  #: steps between checkpoints
    save_replay: bool  #: checkpoints include the replay buffer
    train_max_steps: int | None  #: cap on agent steps per training game (None: ALE's 27,000)
    eval_episodes: int  #: games per (model, lambda) in the Table 1 evaluation
    eval_mc: int  #: Monte Carlo passes for SAP's gradient and for its action
    eval_max_steps: int  #: cap on agent steps per evaluation game
    eval_epsilon: float = 0.05  #: epsilon-greedy during evaluation (Mnih et al. 2015)

    def results_dir(self) -> Path:
        return ROOT / "results" / ("smoke/atari" if self.name == "smoke" else "atari")


PROFILES = {
    # Appendix A: 100M steps, 1M replay, epsilon 1 -> 0.1 over 1M steps, target sync every 10,000
    # steps; replay start 50,000 and the evaluation settings are Mnih et al. (2015)'s.
    "paper": AtariProfile("paper", 100_000_000, 1_000_000, 50_000, 1_000_000, 10_000, 250_000,
                          False, None, 30, 100, 4_500),
    # ~1 h of training on this 2-core CPU, plus the evaluation (README, "Atari")
    "quick": AtariProfile("quick", 200_000, 100_000, 20_000, 100_000, 2_000, 10_000,
                          True, None, 20, 16, 4_500),
    # minutes: short capped games, a learner that runs but has not learnt
    "smoke": AtariProfile("smoke", 3_000, 3_000, 500, 2_000, 500, 1_000,
                          True, 300, 2, 4, 300),
}


@dataclass
class Args:
    """Training one DDQN agent (python -m rl.ddqn --help)."""

    game: str = arg("Bowling", "ALE game name, e.g. Bowling, Assault, SpaceInvaders")
    profile: str = arg("paper", "paper | quick | smoke (budgets: README, 'Atari')")
    seed: int = arg(0, "seeds the network, the replay sampling, epsilon-greedy and the emulator")
    steps: int = arg(0, "agent steps to train (0: the profile's)")
    out: str = arg("", "run folder (default results/atari/runs/<Game>-<profile>-seed<k>)")
    fresh: bool = arg(False, "discard an existing checkpoint of this run and start over")
    stop_after: int = arg(0, "stop (checkpointed) after this many more steps; 0: run to the end")
    progress: bool = arg(True, "show a progress bar")


# the DeepMind hyper-parameters of Appendix A (and Mnih et al. 2015)
GAMMA = 0.99
BATCH = 32
UPDATE_EVERY = 4
LR = 2.5e-4
EPS_FINAL = 0.1


def run_dir_for(args: Args, profile: AtariProfile) -> Path:
    if args.out:
        return Path(args.out)
    return profile.results_dir() / "runs" / f"{resolve_game(args.game)}-{profile.name}-seed{args.seed}"


def epsilon_at(step: int, decay: int) -> float:
    """Linear from 1 at step 0 to 0.1 at ``decay``, 0.1 after."""
    return max(EPS_FINAL, 1.0 - (1.0 - EPS_FINAL) * step / max(decay, 1))


# ---------------------------------------------------------------------------------------------
# the learner
# ---------------------------------------------------------------------------------------------
def ddqn_targets(q_next_online, q_next_target, rewards, done, gamma: float = GAMMA):
    """Double DQN: r + gamma * (1 - done) * Q_target(s', argmax_a Q_online(s', a))."""
    best = mx.nd.argmax(q_next_online, axis=1)
    return rewards + gamma * (1.0 - done) * mx.nd.pick(q_next_target, best, axis=1)


def deepmind_rmsprop():
    """RMSProp as in the DQN code: centered, decay 0.95 for both moments, epsilon 0.01 inside
    the square root, no momentum; applied to the batch's *summed* loss."""
    return mx.optimizer.RMSProp(learning_rate=LR, gamma1=0.95, gamma2=0.0, epsilon=0.01,
                                centered=True)


class Learner:
    """Online and target Nature CNNs, their optimizer, and one DDQN update.

    The networks are hybridized with ``static_alloc`` and ``static_shape`` (``graph='static'``,
    measured fastest on CPU by ``make bench``; 'plain' hybridizes without them, 'none' runs
    imperatively); acting uses a third, parameter-sharing copy so that batch-1 calls do not
    change the shapes the training graph was built for.
    """

    GRAPHS = {"static": {"static_alloc": True, "static_shape": True}, "plain": {}, "none": None}

    def __init__(self, actions: int, seed: int, ctx=None, graph: str = "static"):
        if graph not in self.GRAPHS:
            raise ValueError(f"graph must be one of {', '.join(self.GRAPHS)}, got {graph!r}")
        self.ctx = ctx or mx.cpu()
        self.online = nature_qnet(actions, ctx=self.ctx, seed=seed)
        self.target = nature_qnet(actions, ctx=self.ctx)
        self.actor = NatureQNet(actions, prefix=self.online.prefix,
                                params=self.online.collect_params())
        if self.GRAPHS[graph] is not None:
            for net in (self.online, self.target, self.actor):
                net.hybridize(**self.GRAPHS[graph])
        self.sync_target()
        self.trainer = gluon.Trainer(self.online.collect_params(), deepmind_rmsprop())
        self.loss = gluon.loss.HuberLoss(rho=1.0)

    def sync_target(self) -> None:
        for src, dst in zip(self.online.collect_params().values(),
                            self.target.collect_params().values(), strict=True):
            dst.set_data(src.data())

    def act(self, obs: np.ndarray) -> int:
        """Greedy action for one (4, 84, 84) observation."""
        x = mx.nd.array(obs[None], ctx=self.ctx, dtype="float32")
        return int(self.actor(x).argmax(axis=1).asscalar())

    def update(self, states, actions, rewards, next_states, done) -> float:
        """One RMSProp step on the summed Huber loss of a replay batch; returns the mean loss."""
        f = lambda a: mx.nd.array(a, ctx=self.ctx, dtype="float32")  # noqa: E731
        s, s2 = f(states), f(next_states)
        y = ddqn_targets(self.online(s2), self.target(s2), f(rewards), f(done))
        with autograd.record():
            q = mx.nd.pick(self.online(s), f(actions), axis=1)
            loss = self.loss(q, y)
        loss.backward()
        self.trainer.step(1)
        return float(loss.mean().asscalar())

    # -- state --------------------------------------------------------------------------------
    def writers(self) -> dict:
        return {"online.params": self.online.save_parameters,
                "target.params": self.target.save_parameters,
                "trainer.states": self.trainer.save_states}

    def load(self, files: dict) -> None:
        self.online.load_parameters(files["online.params"], ctx=self.ctx)
        self.target.load_parameters(files["target.params"], ctx=self.ctx)
        self.trainer.load_states(files["trainer.states"])


# ---------------------------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------------------------
EPISODE_FIELDS = ("game_index", "step", "return", "length", "epsilon", "seconds")


def write_outputs(run_dir: Path, episodes: list[dict], caption: str) -> None:
    """episodes.csv and curve.png, both atomically."""
    if not episodes:
        return
    write_csv(run_dir / "episodes.csv", episodes)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = np.array([e["step"] for e in episodes], float)
    returns = np.array([e["return"] for e in episodes], float)
    window = max(1, min(100, len(returns) // 10))
    smooth = np.convolve(returns, np.ones(window) / window, mode="valid")
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.plot(steps, returns, ".", alpha=0.3, label="game score")
    ax.plot(steps[window - 1:], smooth, label=f"mean of {window} games")
    ax.set_xlabel("agent steps (4 frames each)")
    ax.set_ylabel("score (unclipped, whole game)")
    ax.legend()
    save_figure(fig, run_dir / "curve.png", caption)


def check_args(args: Args) -> AtariProfile:
    if args.profile not in PROFILES:
        raise UsageError(f"unknown profile {args.profile!r}; use one of {', '.join(PROFILES)}")
    if args.steps < 0 or args.stop_after < 0 or args.seed < 0:
        raise UsageError("--steps, --stop-after and --seed must be >= 0")
    resolve_game(args.game)  # GameNotFound lists close names
    return PROFILES[args.profile]


def config_of(args: Args, profile: AtariProfile, steps: int) -> dict:
    """What a checkpoint records of its run."""
    return {"game": resolve_game(args.game), "seed": args.seed, "steps": steps,
            "profile": dataclasses.asdict(profile)}


def training_part(config: dict) -> dict:
    """The part of a config that a checkpoint must match to be resumed: evaluation settings
    may change under a half-trained run."""
    config = json.loads(json.dumps(config))
    config["profile"] = {k: v for k, v in config.get("profile", {}).items()
                         if not k.startswith("eval_")}
    return config


RUN_FILES = ("episodes.csv", "curve.png", "final.params", "final.json", "eval_games.csv")


def discard_run(run_dir: Path) -> None:
    """--fresh: remove what a run wrote in ``run_dir`` (and nothing else there)."""
    import shutil

    for name in ("checkpoint", "checkpoint.old"):
        shutil.rmtree(run_dir / name, ignore_errors=True)
    for stale in run_dir.glob(".checkpoint.*"):
        shutil.rmtree(stale, ignore_errors=True)
    for name in RUN_FILES:
        (run_dir / name).unlink(missing_ok=True)


def lock_run(run_dir: Path):
    """An exclusive lock on ``run_dir`` for this process (released when it exits)."""
    import fcntl

    run_dir.mkdir(parents=True, exist_ok=True)
    handle = open(run_dir / ".lock", "w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise UsageError(f"{run_dir} is in use by another training process; wait for it or "
                         "pass --out to train elsewhere") from None
    return handle


def train(args: Args) -> dict:
    """Train (or resume) one agent; returns its final record."""
    profile = check_args(args)
    game = resolve_game(args.game)
    steps_total = args.steps or profile.steps
    run_dir = run_dir_for(args, profile)
    ckpt_dir = run_dir / "checkpoint"
    config = config_of(args, profile, steps_total)
    if run_dir.exists() and not run_dir.is_dir():
        raise UsageError(f"--out {run_dir} is a file; name a folder")
    lock = lock_run(run_dir)  # noqa: F841 - held until this process ends
    if args.fresh:
        discard_run(run_dir)
    final_json = run_dir / "final.json"
    if final_json.is_file() and (run_dir / "final.params").is_file() and not args.fresh:
        record = json.loads(final_json.read_text())
        if record.get("steps") == steps_total and record.get("game") == game \
                and record.get("seed") == args.seed and record.get("profile") == args.profile:
            print(f"{game} {args.profile} seed{args.seed}: already trained ({steps_total:,} "
                  f"steps, code {record.get('git_sha')}); --fresh retrains", file=sys.stderr)
            return {**record, "run_dir": str(run_dir), "already_done": True}

    # seeding: one block (python, numpy, mxnet), then the generators the loop draws from
    seed_all(args.seed, 0)
    env = make_env(game, training=True, max_episode_steps=profile.train_max_steps)
    actions = int(env.action_space.n)
    learner = Learner(actions, seed=args.seed)
    replay = Replay(min(profile.replay, steps_total + 1))
    rng = np.random.default_rng(args.seed)
    step, episodes, updates = 0, [], 0
    sha = git_sha()
    if checkpoint.exists(ckpt_dir):
        meta, files = checkpoint.load(ckpt_dir)
        if training_part(meta.get("config", {})) != training_part(config):
            raise checkpoint.CheckpointError(
                f"{ckpt_dir} holds a run with other settings; pass --fresh to discard it or "
                "--out to train elsewhere")
        learner.load(files)
        if "replay.npz" in files:
            replay = Replay.load(files["replay.npz"])
        try:
            step, episodes, updates = meta["step"], meta["episodes"], meta["updates"]
            rng.bit_generator.state = meta["rng"]
        except KeyError as missing:
            raise checkpoint.CheckpointError(f"{ckpt_dir} lacks {missing} (written by another "
                                             "version?); pass --fresh") from None
        sha = meta.get("git_sha", sha)  # the code that started the run
        print(f"resuming {game} ({args.profile}, seed {args.seed}) at step {step:,}/"
              f"{steps_total:,}" + ("" if "replay.npz" in files else "; replay refilled"),
              file=sys.stderr)
    # the emulator restarts at every (re)start, seeded by (seed, step): the game in progress at
    # a checkpoint is not resumed, only everything the learner knows
    obs, _ = env.reset(seed=seed_all(args.seed, step + 1))
    first, game_return, game_length, t_game = True, 0.0, 0, time.time()
    stop = min(steps_total, step + args.stop_after) if args.stop_after else steps_total
    bar = progress_bar(args.progress, stop, f"{game} {args.profile} seed{args.seed}", unit="step")
    if bar is not None:
        bar.update(step)
    t0, last_ckpt = time.time(), step
    warm = max(min(profile.learning_starts, replay.capacity - 1), BATCH)

    def save_checkpoint():
        writers = learner.writers()
        if profile.save_replay:
            writers["replay.npz"] = replay.save
        checkpoint.save(ckpt_dir, writers,
                        {"config": config, "step": step, "updates": updates,
                         "epsilon": epsilon_at(step, profile.eps_decay),
                         "rng": rng.bit_generator.state, "episodes": episodes,
                         "git_sha": sha})
        write_outputs(run_dir, episodes, f"DDQN {game} ({args.profile} profile, seed {args.seed})")

    while step < stop:
        # act: epsilon-greedy on the online network
        eps = epsilon_at(step, profile.eps_decay)
        action = (int(rng.integers(actions)) if rng.random() < eps else learner.act(obs))
        next_obs, reward, terminated, truncated, info = env.step(action)
        replay.add(obs[-1], action, reward, terminated, first)
        game_return += info.get("raw_reward", reward)
        game_length += 1
        step += 1
        if terminated or truncated:
            if info.get("game_over", True) or truncated:
                episodes.append({"game_index": len(episodes), "step": step,
                                 "return": game_return, "length": game_length,
                                 "epsilon": round(eps, 4),
                                 "seconds": round(time.time() - t_game, 2),
                                 "game": game, "profile": args.profile, "seed": args.seed,
                                 "git_sha": sha})
                game_return, game_length, t_game = 0.0, 0, time.time()
            obs, _ = env.reset()
            first = True
        else:
            obs, first = next_obs, False

        # learn: every 4 steps once the replay holds learning_starts transitions (after a resume
        # without a saved replay, once it holds them again)
        if step % UPDATE_EVERY == 0 and replay.size >= warm:
            learner.update(*replay.sample(BATCH, rng))
            updates += 1
        if step % profile.target_sync == 0:
            learner.sync_target()

        if bar is not None:
            bar.update()
            if step % 500 == 0:
                recent = [e["return"] for e in episodes[-10:]]
                bar.set_postfix(eps=f"{eps:.2f}", games=len(episodes),
                                ret10=f"{np.mean(recent):.1f}" if recent else "-")
        if step - last_ckpt >= profile.checkpoint_every or step == stop:
            save_checkpoint()
            last_ckpt = step
    if bar is not None:
        bar.close()
    env.close()

    done = step >= steps_total
    record = {"game": game, "profile": args.profile, "seed": args.seed, "steps": step,
              "steps_total": steps_total, "finished": done, "updates": updates,
              "games": len(episodes), "seconds_this_session": round(time.time() - t0, 1),
              "git_sha": sha, "run_dir": str(run_dir)}
    if done:
        tmp = run_dir / ".final.params.tmp"
        learner.online.save_parameters(str(tmp))
        os.replace(tmp, run_dir / "final.params")
        tmp = run_dir / ".final.json.tmp"
        tmp.write_text(json.dumps({**record, "actions": int(actions)}, indent=1))
        os.replace(tmp, run_dir / "final.json")
    print(f"{game} {args.profile} seed{args.seed}: step {step:,}/{steps_total:,}, "
          f"{len(episodes)} games" + (", finished" if done else ", stopped (rerun resumes)"),
          file=sys.stderr)
    return record


def parse(argv) -> Args:
    return parse_dataclass_args(Args, argv, "python -m rl.ddqn", "Train a DDQN Atari agent.")


def main(argv=None) -> int:
    def run(args):
        rec = train(args)
        if rec.get("already_done"):
            return []
        run_dir = Path(rec["run_dir"])
        return [p for p in (run_dir / "episodes.csv", run_dir / "curve.png",
                            run_dir / "final.params") if p.exists()]

    return cli_main(run, parse, argv, (UsageError, GameNotFound, checkpoint.CheckpointError))


if __name__ == "__main__":
    sys.exit(main())
