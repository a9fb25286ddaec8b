"""Double DQN on one Atari game, the agent of the SAP paper's section 4.2 and Appendix A.

    python -m rl.ddqn --game Bowling --profile smoke
    python -m rl.ddqn --game Asterix --profile cpu --background   # detached; kill <pid> stops it

Readable top to bottom: arguments (profiles: ``rl.profiles``; the learner, with the Double DQN
target, Huber loss and DeepMind RMSProp: ``rl.learner``), then ``train``: play the chosen action,
store the transition, choose the next action, learn every 4 steps, sync the target network every
``target_sync`` steps, checkpoint every ``checkpoint_every`` steps. The next action is chosen
before the step's update, as in DeepMind's ``NeuralQLearner:perceive`` (store, choose, learn):
the emulator then plays it while MXNet computes the update. A rerun with the same arguments
resumes from the last checkpoint (``--fresh`` discards it); the run folder's rules are
``runkit.RunFolder``'s. SIGTERM or SIGINT (``kill <pid>``, Ctrl-C) stops the run at the next
step with a checkpoint; ``--hours`` stops it the same way after that long.

Outputs under ``results/atari/runs/<Game>-<profile>-seed<k>/`` (smoke: ``results/smoke/atari/``):
``checkpoint/`` (online and target nets, optimizer state, counters, epsilon, numpy RNG state, the
sessions so far, the replay buffer when the profile keeps it), ``episodes.csv`` (one row per game
played) and ``curve.png`` (rewritten every ``OUTPUTS_EVERY`` steps and at every checkpoint), and,
once all steps are done, ``final.params`` + ``final.json`` (and, for profiles whose weights are
results, the weights' line in ``SHA256SUMS`` of the runs folder). ``--background`` logs to
``train.log`` in the run folder.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import sap_mx  # noqa: F401  (first: sets MXNet's OpenMP threads to the core count)
import numpy as np

from runkit import (ROOT, RunFolder, UsageError, arg, cli_main, parse_dataclass_args,
                    progress_bar, rel, seed_all)
from runkit.figures import pyplot, save_figure
from sap_mx.io import write_csv
from sap_mx.results import git_sha

from .envs import make_env, resolve_game
from .learner import (DEFAULT_LEARNER, GAMMA, LEARNERS, LR, Learner, ddqn_targets,  # noqa: F401
                      deepmind_rmsprop, make_learner)
from .profiles import ATARI, PROFILES, AtariProfile
from .replay import Replay

__all__ = ["Args", "AtariProfile", "PROFILES", "Learner", "ddqn_targets", "epsilon_at", "train",
           "run_dir_for", "launch_background", "main"]


@dataclass
class Args:
    """Training one DDQN agent (python -m rl.ddqn --help)."""

    game: str = arg("Bowling", "ALE game name, e.g. Bowling, Assault, SpaceInvaders")
    profile: str = arg("paper", "paper | cpu | quick | smoke (budgets: rl/profiles.py, "
                                "docs/atari.md)")
    seed: int = arg(0, "seeds the network, the replay sampling, epsilon-greedy and the emulator")
    steps: int = arg(0, "agent steps to train (0: the profile's)")
    out: str = arg("", "run folder (default results/atari/runs/<Game>-<profile>-seed<k>)")
    fresh: bool = arg(False, "discard an existing checkpoint of this run and start over")
    stop_after: int = arg(0, "stop (checkpointed) after this many more steps; 0: run to the end")
    hours: float = arg(0.0, "stop (checkpointed) after this many hours of this session; 0: no "
                            "limit")
    learner: str = arg(DEFAULT_LEARNER, "the learner's implementation: " + " | ".join(LEARNERS)
                       + " (rl/learner.py: the same update; fused is faster)")
    background: bool = arg(False, "train in a detached process logging to <run folder>/"
                                  "train.log; kill <pid> stops it with a checkpoint")
    progress: bool = arg(True, "show a progress bar (a line every few minutes when stderr is "
                               "not a terminal)")


# the DeepMind hyper-parameters of Appendix A (and Mnih et al. 2015) the loop uses
BATCH = 32
UPDATE_EVERY = 4
EPS_FINAL = 0.1
OUTPUTS_EVERY = 10_000  # steps between rewrites of episodes.csv and curve.png
LOG_EVERY_S = 300.0     # seconds between progress lines when stderr is not a terminal


def run_dir_for(args: Args, profile: AtariProfile) -> Path:
    if args.out:
        return Path(args.out)
    name = f"{resolve_game(args.game)}-{profile.name}-seed{args.seed}"
    return profile.results_dir() / "runs" / name


def epsilon_at(step: int, decay: int) -> float:
    """Linear from 1 at step 0 to 0.1 at ``decay``, 0.1 after."""
    return max(EPS_FINAL, 1.0 - (1.0 - EPS_FINAL) * step / max(decay, 1))


# ---------------------------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------------------------
EPISODE_FIELDS = ("game_index", "step", "return", "length", "epsilon", "seconds")


def write_outputs(run_dir: Path, episodes: list[dict], caption: str) -> None:
    """episodes.csv and curve.png, both atomically."""
    if not episodes:
        return
    write_csv(run_dir / "episodes.csv", episodes)
    plt = pyplot()

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
    profile = ATARI.get(args.profile)
    if args.steps < 0 or args.stop_after < 0 or args.seed < 0 or args.hours < 0:
        raise UsageError("--steps, --stop-after, --hours and --seed must be >= 0")
    if args.learner not in LEARNERS:
        raise UsageError(f"unknown --learner {args.learner!r}; valid: {', '.join(LEARNERS)}")
    resolve_game(args.game)  # GameNotFound lists close names
    return profile


def config_of(args: Args, profile: AtariProfile, steps: int) -> dict:
    """What a checkpoint records of its run."""
    return {"game": resolve_game(args.game), "seed": args.seed, "steps": steps,
            "profile": dataclasses.asdict(profile)}


NOT_TRAINING = ("commit_weights",)  # profile fields a half-trained run may see change


def training_part(config: dict) -> dict:
    """The part of a config that a checkpoint must match to be resumed: evaluation settings
    (and whether the weights are committed) may change under a half-trained run."""
    config = json.loads(json.dumps(config))
    config["profile"] = {k: v for k, v in config.get("profile", {}).items()
                         if not k.startswith("eval_") and k not in NOT_TRAINING}
    return config


RUN_FILES = ("episodes.csv", "curve.png", "eval_games.csv")  # besides final.params/.json


class StopSignal:
    """SIGTERM and SIGINT set ``requested`` instead of killing the process, while in use (main
    thread only; the previous handlers come back on exit)."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self):
        self.requested: str | None = None
        self._old: dict = {}

    def __enter__(self) -> "StopSignal":
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        self.requested = signal.Signals(signum).name

    def __exit__(self, *exc) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)


def _utc() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def train(args: Args) -> dict:
    """Train (or resume) one agent; returns its final record."""
    profile = check_args(args)
    game = resolve_game(args.game)
    steps_total = args.steps or profile.steps
    run_dir = run_dir_for(args, profile)
    config = config_of(args, profile, steps_total)
    run = RunFolder(run_dir, config=config, outputs=RUN_FILES, compare=training_part,
                    manifest=profile.commit_weights).lock()
    if args.fresh:
        run.discard()
    try:
        record = run.finished(lambda r: r.get("steps") == steps_total and r.get("game") == game
                              and r.get("seed") == args.seed and r.get("profile") == args.profile)
        if record is not None:
            print(f"{game} {args.profile} seed{args.seed}: already trained ({steps_total:,} "
                  f"steps, code {record.get('git_sha')}); --fresh retrains", file=sys.stderr)
            return {**record, "run_dir": str(run_dir), "already_done": True}

        # seeding: one block (python, numpy, mxnet), then the generators the loop draws from
        seed_all(args.seed, 0)
        env = make_env(game, training=True, max_episode_steps=profile.train_max_steps)
        actions = int(env.action_space.n)
        learner = make_learner(args.learner, actions, seed=args.seed)
        replay = Replay(min(profile.replay, steps_total + 1))
        rng = np.random.default_rng(args.seed)
        state = {"step": 0, "episodes": [], "updates": 0, "sha": git_sha(), "replay": replay,
                 "refilled": True, "sessions": []}

        def restore(meta, files):
            learner.load(files)
            if "replay.npz" in files:
                state["replay"], state["refilled"] = Replay.load(files["replay.npz"]), False
            state.update(step=meta["step"], episodes=meta["episodes"], updates=meta["updates"],
                         sessions=meta.get("sessions", []))
            rng.bit_generator.state = meta["rng"]
            state["sha"] = meta.get("git_sha", state["sha"])  # the code that started the run

        if run.resume(restore) is not None:
            print(f"resuming {game} ({args.profile}, seed {args.seed}) at step {state['step']:,}/"
                  f"{steps_total:,}" + ("; replay refilled" if state["refilled"] else
                                        f"; replay of {state['replay'].size:,} restored"),
                  file=sys.stderr)
        step, episodes, updates = state["step"], state["episodes"], state["updates"]
        replay, sha, sessions = state["replay"], state["sha"], state["sessions"]
        session = {"from": step, "to": step, "seconds": 0.0, "learner": args.learner,
                   "omp_threads": os.environ.get("OMP_NUM_THREADS", ""), "git_sha": git_sha(),
                   "utc": _utc()}
        sessions.append(session)
        # the emulator restarts at every (re)start, seeded by (seed, step): the game in progress at
        # a checkpoint is not resumed, only everything the learner knows
        obs, _ = env.reset(seed=seed_all(args.seed, step + 1))
        first, game_return, game_length, t_game = True, 0.0, 0, time.time()
        stop = min(steps_total, step + args.stop_after) if args.stop_after else steps_total
        deadline = time.time() + 3600 * args.hours if args.hours else float("inf")
        interactive = args.progress and sys.stderr.isatty()
        bar = progress_bar(interactive, stop, f"{game} {args.profile} seed{args.seed}", unit="step")
        if bar is not None:
            bar.update(step)
        t0, last_ckpt, last_outputs, last_log = time.time(), step, step, time.time()
        warm = max(min(profile.learning_starts, replay.capacity - 1), BATCH)
        caption = f"DDQN {game} ({args.profile} profile, seed {args.seed})"

        def log_line(note: str = "") -> None:
            done = step - session["from"]
            rate = done / max(time.time() - t0, 1e-9)
            recent = [e["return"] for e in episodes[-10:]]
            eta = (stop - step) / rate / 3600 if rate > 0 else float("nan")
            print(f"{_utc()} {game} {args.profile} seed{args.seed}: step {step:,}/{stop:,} "
                  f"({100 * step / max(stop, 1):.1f}%), {rate:.1f} steps/s this session, "
                  f"eps {epsilon_at(step, profile.eps_decay):.2f}, {len(episodes)} games, mean "
                  f"of last 10 {np.mean(recent) if recent else float('nan'):.1f}, ETA "
                  f"{eta:.2f} h{note}", file=sys.stderr, flush=True)

        def save_checkpoint():
            session.update(to=step, seconds=round(time.time() - t0, 1))
            writers = learner.writers()
            if profile.save_replay:
                writers["replay.npz"] = replay.save
            run.save(writers,
                     {"step": step, "updates": updates,
                      "epsilon": epsilon_at(step, profile.eps_decay),
                      "rng": rng.bit_generator.state, "episodes": episodes,
                      "sessions": sessions, "git_sha": sha})
            write_outputs(run_dir, episodes, caption)

        def choose(obs, step: int) -> tuple[int, float]:
            """epsilon-greedy on the online network as it is now"""
            eps = epsilon_at(step, profile.eps_decay)
            return (int(rng.integers(actions)) if rng.random() < eps else learner.act(obs)), eps

        with StopSignal() as signals:
            action, eps = choose(obs, step)
            while step < stop and signals.requested is None and time.time() < deadline:
                # ALGO LOGIC: play the chosen action and store the transition
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
                                         "game": game, "profile": args.profile,
                                         "seed": args.seed, "git_sha": sha})
                        game_return, game_length, t_game = 0.0, 0, time.time()
                    obs, _ = env.reset()
                    first = True
                else:
                    obs, first = next_obs, False

                # ALGO LOGIC: choose the next action before this step's update (DeepMind's order)
                action, eps = choose(obs, step)

                # ALGO LOGIC: learn every 4 steps once the replay holds learning_starts
                # transitions (after a resume without a saved replay, once it holds them again);
                # the update is queued, not waited for: the next env.step runs beside it
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
                elif args.progress and time.time() - last_log >= LOG_EVERY_S:
                    log_line()
                    last_log = time.time()
                if step - last_ckpt >= profile.checkpoint_every or step == stop:
                    save_checkpoint()
                    last_ckpt = last_outputs = step
                elif step - last_outputs >= OUTPUTS_EVERY:
                    write_outputs(run_dir, episodes, caption)
                    last_outputs = step
            if step > last_ckpt:  # stopped by a signal or --hours
                save_checkpoint()
        if bar is not None:
            bar.close()
        env.close()

        done = step >= steps_total
        why = (f", stopped by {signals.requested}" if signals.requested
               else ", stopped after --hours" if time.time() >= deadline and not done else "")
        if args.progress and not interactive:
            log_line(why)
        record = {"game": game, "profile": args.profile, "seed": args.seed, "steps": step,
                  "steps_total": steps_total, "finished": done, "updates": updates,
                  "games": len(episodes), "seconds_this_session": round(time.time() - t0, 1),
                  "train_seconds": round(sum(s["seconds"] for s in sessions), 1),
                  "sessions": sessions, "learner": args.learner, "git_sha": sha,
                  "run_dir": str(run_dir)}
        if done:
            final = {k: v for k, v in record.items() if k != "run_dir"}
            run.finish({**final, "actions": int(actions)}, learner.online.save_parameters)
        print(f"{game} {args.profile} seed{args.seed}: step {step:,}/{steps_total:,}, "
              f"{len(episodes)} games" + (", finished" if done else
                                          f"{why or ', stopped'} (the same command resumes)"),
              file=sys.stderr)
        return record
    finally:
        run.unlock()  # a process may train again (tests, notebooks)


# ---------------------------------------------------------------------------------------------
# in the background
# ---------------------------------------------------------------------------------------------
def launch_background(args: Args, argv: list[str]) -> tuple[subprocess.Popen, Path]:
    """Start ``python -m rl.ddqn <argv> --no-background`` in its own session (no terminal, so
    closing the shell does not stop it), stdout and stderr appended to the run folder's
    ``train.log``; returns (process, log). Argument mistakes and a run folder in use are
    reported here, before anything starts."""
    profile = check_args(args)
    run_dir = run_dir_for(args, profile)
    RunFolder(run_dir, config={}).lock().unlock()  # "in use" is one error line now, not in the log
    log = run_dir / "train.log"
    with open(log, "a") as handle:
        handle.write(f"{_utc()} python -m rl.ddqn {' '.join(argv)}\n")
        handle.flush()
        process = subprocess.Popen([sys.executable, "-m", "rl.ddqn", *argv, "--no-background"],
                                   cwd=ROOT, stdin=subprocess.DEVNULL, stdout=handle,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    return process, log


def parse(argv) -> Args:
    return parse_dataclass_args(Args, argv, "python -m rl.ddqn", "Train a DDQN Atari agent.")


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)

    def run(args):
        if args.background:
            process, log = launch_background(args, argv)
            print(f"training in the background: pid {process.pid}, log {rel(log)}\n"
                  f"stop it with a checkpoint: kill {process.pid}; the same command resumes")
            return []
        rec = train(args)
        if rec.get("already_done"):
            return []
        run_dir = Path(rec["run_dir"])
        return [p for p in (run_dir / "episodes.csv", run_dir / "curve.png",
                            run_dir / "final.params") if p.exists()]

    return cli_main(run, parse, argv)


if __name__ == "__main__":
    sys.exit(main())
