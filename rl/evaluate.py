"""Table 1 of the SAP paper for one game: the dense DDQN agent and its SAP-100 twin under FGSM.

    python -m rl.evaluate --game Bowling --profile smoke

For each lambda in {0, 1, 2, 4, 8} (pixel units on the 0..255 network input) both agents play the
same N games (game i: emulator and no-op starts seeded by (seed, i), the same epsilon-greedy
draws, the same MXNet seed). At every step the observation the network sees is attacked:

1. label = the agent's greedy action on the clean observation (for SAP: argmax of the Q-values
   averaged over ``mc`` passes);
2. g = input gradient of softmax cross-entropy(Q, label) (for SAP: the mean over ``mc`` passes,
   the paper's Monte Carlo gradient); x' = clip(x + lambda * sign(g), 0, 255);
3. the action is the greedy action on x' (SAP: argmax of the mean Q over ``mc`` fresh passes),
   replaced by a uniformly random one with probability ``eval_epsilon``.

The perturbation is applied to the network input only; the frames kept for the next stack stay
clean (the attacker perturbs what the agent sees at each decision). Games are whole games (no
episodic life, unclipped scores), capped at ``eval_max_steps`` agent steps.

Writes ``results/atari/<Game>.csv`` (smoke: ``results/smoke/atari/``): one row per (model,
lambda) with mean/std score and ``rel_change_pct`` = 100 (SAP - dense) / |dense| on the SAP rows;
``<Game>.png`` (``rl.figure``: both scores and the change, with bootstrap intervals); and the
per-game scores in the run folder's ``eval_games.csv``, which a rerun reuses (a killed
evaluation loses at most the game in progress).
"""
from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import sap_mx  # first: sets MXNet's OpenMP threads to the core count
import mxnet as mx
import numpy as np

from runkit import KeyedRows, UsageError, arg, cli_main, parse_dataclass_args, progress_bar, seed_all
from sap_mx.attacks import fgsm_step, input_gradient
from sap_mx.io import write_csv
from sap_mx.predict import predict_mean
from sap_mx.results import git_sha

from .ddqn import Args as TrainArgs, run_dir_for
from .envs import make_env, resolve_game
from .figure import draw as draw_figure
from .profiles import ATARI
from .qnet import NatureQNet

__all__ = ["EvalArgs", "mean_q", "attacked_action", "play", "evaluate", "summarize", "main"]

LAMBDAS = (0, 1, 2, 4, 8)
MODELS = ("dense", "sap100")


@dataclass
class EvalArgs:
    """Evaluating a trained agent, dense and SAP-100, under FGSM (python -m rl.evaluate --help)."""

    game: str = arg("Bowling", "ALE game name")
    profile: str = arg("paper", "paper | quick | smoke: which trained run, and N / MC / caps")
    seed: int = arg(0, "the training seed of the agent, and the seed of the evaluation games")
    run: str = arg("", "the training run folder (default: rl.ddqn's for game/profile/seed)")
    lambdas: str = arg("0,1,2,4,8", "FGSM strengths in pixel units (0..255), comma-separated")
    episodes: int = arg(0, "games per (model, lambda); 0: the profile's")
    mc: int = arg(0, "Monte Carlo passes for SAP's gradient and action; 0: the profile's")
    out: str = arg("", "CSV path (default results/atari/<Game>.csv)")
    progress: bool = arg(True, "show a progress bar")


# ---------------------------------------------------------------------------------------------
# acting under attack
# ---------------------------------------------------------------------------------------------
def mean_q(net, x: mx.nd.NDArray, mc: int) -> mx.nd.NDArray:
    """Q-values of ``net`` on the batch ``x`` averaged over ``mc`` (stochastic) passes."""
    return predict_mean(net, x, mc, softmax=False)


def attacked_action(net, obs: np.ndarray, lam: float, mc: int) -> int:
    """The greedy action of ``net`` on the FGSM-perturbed observation (steps 1-3 above)."""
    x = mx.nd.array(obs[None], dtype="float32")
    if lam > 0:
        label = mean_q(net, x, mc).argmax(axis=1)
        g = input_gradient(net, x, label, mc_samples=mc)
        x = fgsm_step(x, g, lam, clip=(0.0, 255.0))
    return int(mean_q(net, x, mc).argmax(axis=1).asscalar())


def play(net, game: str, *, lam: float, mc: int, seed: int, epsilon: float, max_steps: int):
    """One evaluation game; returns (score, agent steps)."""
    env = make_env(game, training=False, max_episode_steps=max_steps)
    obs, _ = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    mx.random.seed(seed)
    actions = int(env.action_space.n)
    score, steps = 0.0, 0
    while True:
        u, random_action = rng.random(), int(rng.integers(actions))  # drawn every step: the
        action = random_action if u < epsilon else attacked_action(net, obs, lam, mc)  # same
        obs, reward, terminated, truncated, _ = env.step(action)  # stream for every model
        score += reward
        steps += 1
        if terminated or truncated:
            env.close()
            return score, steps


# ---------------------------------------------------------------------------------------------
# the evaluation
# ---------------------------------------------------------------------------------------------
def parse_lambdas(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UsageError(f"--lambdas must be numbers separated by commas, got {text!r}") from None
    if not values or any(v < 0 or v > 255 for v in values):
        raise UsageError(f"--lambdas must be in [0, 255], got {text!r}")
    return values


def load_agent(run_dir: Path, game: str, profile: str):
    final = run_dir / "final.json"
    if not final.is_file():
        raise UsageError(f"no finished agent in {run_dir}; train it first: make atari-train "
                         f"GAME={game} PROFILE={profile}")
    record = json.loads(final.read_text())
    if record.get("game") != game:
        raise UsageError(f"{run_dir} holds a {record.get('game')} agent, not {game}; pass the "
                         "matching --game or --run")
    if not (run_dir / "final.params").is_file():
        raise UsageError(f"{run_dir} has final.json but not final.params (weights are not "
                         "committed: they stay on the machine that trained them); retrain with "
                         f"make atari-train GAME={game} PROFILE={profile}")
    net = NatureQNet(record["actions"])
    net.load_parameters(str(run_dir / "final.params"), ctx=mx.cpu())
    net.hybridize()
    sap = sap_mx.defend(net, "sap", frac=1.0)
    return {"dense": (net, 1), "sap100": (sap, None)}, record


def evaluate(args: EvalArgs) -> list[Path]:
    profile = ATARI.get(args.profile)
    if args.episodes < 0 or args.mc < 0:
        raise UsageError("--episodes and --mc must be >= 0")
    game = resolve_game(args.game)
    lambdas = parse_lambdas(args.lambdas)
    run_dir = Path(args.run) if args.run else run_dir_for(
        TrainArgs(game=game, profile=args.profile, seed=args.seed), profile)
    agents, record = load_agent(run_dir, game, args.profile)
    episodes = args.episodes or profile.eval_episodes
    mc = args.mc or profile.eval_mc
    sha = git_sha()
    seed_all(args.seed, 7)

    games = KeyedRows(run_dir / "eval_games.csv", ("game", "seed", "model", "eps", "game_index",
                                                    "mc", "max_steps", "epsilon", "train_sha"))
    todo = [(m, lam, i) for lam in lambdas for m in MODELS for i in range(episodes)]
    bar = progress_bar(args.progress, len(todo), f"{game} Table 1 ({args.profile})", unit="game")
    for model, lam, i in todo:
        net, model_mc = agents[model]
        key = {"game": game, "seed": args.seed, "model": model, "eps": lam, "game_index": i,
               "mc": model_mc or mc,
               "max_steps": profile.eval_max_steps, "epsilon": profile.eval_epsilon,
               "train_sha": record["git_sha"]}
        if not games.has(key):
            t0 = time.time()
            score, steps = play(net, game, lam=lam, mc=model_mc or mc,
                                seed=seed_all(args.seed, 100_000 + i), epsilon=profile.eval_epsilon,
                                max_steps=profile.eval_max_steps)
            games.add([{**key, "score": score, "steps": steps,
                        "seconds": round(time.time() - t0, 2), "git_sha": sha}])
        if bar is not None:
            bar.update()
            bar.set_postfix(model=model, eps=lam)
    if bar is not None:
        bar.close()

    rows = summarize(games.rows.values(), game=game, lambdas=lambdas, episodes=episodes,
                     mc=mc, profile=profile, record=record, seed=args.seed, sha=sha)
    out = Path(args.out) if args.out else profile.results_dir() / f"{game}.csv"
    write_csv(out, rows)
    figure = draw_figure(rows, list(games.rows.values()), out.with_suffix(".png"))
    return [out, figure]


def summarize(game_rows, *, game, lambdas, episodes, mc, profile, record, seed, sha) -> list[dict]:
    """One row per (model, lambda) from the per-game scores; SAP rows carry rel_change_pct."""
    scores: dict = {}
    for r in game_rows:
        if (r["game"] == game and int(r["seed"]) == seed
                and int(r["max_steps"]) == profile.eval_max_steps
                and float(r["epsilon"]) == profile.eval_epsilon
                and r["train_sha"] == record["git_sha"]
                and int(r["game_index"]) < episodes
                and (r["model"] == "dense" or int(r["mc"]) == mc)):
            scores.setdefault((r["model"], float(r["eps"])), []).append(float(r["score"]))
    rows = []
    for lam in lambdas:
        dense = np.mean(scores[("dense", lam)])
        for model in MODELS:
            s = np.array(scores[(model, lam)])
            rel = "" if model == "dense" else (
                round(100.0 * (s.mean() - dense) / abs(dense), 2) if dense != 0 else "")
            rows.append({"game": game, "model": model, "eps": lam, "episodes": len(s),
                         "mean_reward": round(float(s.mean()), 3),
                         "std_reward": round(float(s.std(ddof=1)) if len(s) > 1 else 0.0, 3),
                         "rel_change_pct": rel,
                         "mc_samples": 1 if model == "dense" else mc,
                         "eval_epsilon": profile.eval_epsilon,
                         "max_steps": profile.eval_max_steps,
                         "seed": seed, "profile": profile.name, "data": f"ALE/{game}-v5",
                         "steps_trained": record["steps"], "train_git_sha": record["git_sha"],
                         "git_sha": sha})
    return rows


def parse(argv) -> EvalArgs:
    return parse_dataclass_args(EvalArgs, argv, "python -m rl.evaluate",
                                "Table 1: dense vs SAP-100 DDQN agents under FGSM.")


def main(argv=None) -> int:
    return cli_main(evaluate, parse, argv)


if __name__ == "__main__":
    sys.exit(main())
