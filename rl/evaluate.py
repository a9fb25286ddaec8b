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

Game i of every cell starts identically (its seeds are (seed, i) whatever the model and lambda),
so dense and SAP games are paired and each relative change gets a paired bootstrap interval.

Writes ``results/atari/<Game>.csv`` (smoke: ``results/smoke/atari/``): one row per (model,
lambda) with mean/std score and, on the SAP rows, ``rel_change_pct`` = 100 (SAP - dense) / |dense|
with its 95% paired percentile bootstrap interval (``rel_change_lo``, ``rel_change_hi``: game i
of both agents resampled together, ``sap_mx.metrics.bootstrap_relative_change``); ``<Game>.png``
(``rl.figure``); and the per-game scores in the run folder's ``eval_games.csv``, which a rerun
reuses (a killed evaluation loses at most the game in progress).

Monte Carlo passes: the profile's ``eval_mc`` (cpu and paper: 100, the paper's number for its
image experiments); ``--mc`` may ask for fewer, never below the profile's ``eval_mc_min`` (cpu
and paper: 32). With fewer than the profile's, SAP-100 also plays the same games at the
profile's count at lambda 1 and 4 (rows ``sap100-mc<k>``): how far those cells move.

The weights are checked against ``SHA256SUMS`` before they are loaded. When every game is
already recorded (a fresh clone with the committed ``eval_games.csv``), the dense lambda-0 games
are played again and must score what was recorded, game for game (``--check``).
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

from runkit import (KeyedRows, UsageError, arg, cli_main, manifest, parse_dataclass_args,
                    progress_bar, seed_all)
from sap_mx.attacks import fgsm_step, input_gradient
from sap_mx.errors import UserError
from sap_mx.io import write_csv
from sap_mx.metrics import bootstrap_relative_change
from sap_mx.predict import predict_mean
from sap_mx.results import git_sha

from .ddqn import Args as TrainArgs, run_dir_for
from .envs import make_env, resolve_game
from .figure import draw as draw_figure
from .profiles import ATARI
from .qnet import NatureQNet

__all__ = ["EvalArgs", "mean_q", "attacked_action", "play", "evaluate", "summarize",
           "replay_check", "ReplayMismatch", "main"]

LAMBDAS = (0, 1, 2, 4, 8)
MODELS = ("dense", "sap100")
CHECK_LAMBDAS = (1.0, 4.0)  # where SAP-100 also plays at the profile's MC count when --mc is lower
RESAMPLES = 10_000          # bootstrap resamples of each interval (seed 0: the same every time)


class ReplayMismatch(UserError):
    """A recorded game scored differently when played again from the same weights and seeds."""


@dataclass
class EvalArgs:
    """Evaluating a trained agent, dense and SAP-100, under FGSM (python -m rl.evaluate --help)."""

    game: str = arg("Bowling", "ALE game name")
    profile: str = arg("paper", "paper | quick | smoke: which trained run, and N / MC / caps")
    seed: int = arg(0, "the training seed of the agent, and the seed of the evaluation games")
    run: str = arg("", "the training run folder (default: rl.ddqn's for game/profile/seed)")
    lambdas: str = arg("0,1,2,4,8", "FGSM strengths in pixel units (0..255), comma-separated")
    episodes: int = arg(0, "games per (model, lambda); 0: the profile's")
    mc: int = arg(0, "Monte Carlo passes for SAP's gradient and action; 0: the profile's "
                     "(never below its minimum: 32 for cpu and paper)")
    check: str = arg("auto", "play the recorded dense lambda-0 games again and compare their "
                             "scores: auto (when every game is already recorded, as on a fresh "
                             "clone), yes, no")
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
        raise UsageError(f"{run_dir} has final.json but not final.params (only the weights of "
                         "profiles cpu and paper are committed); retrain with "
                         f"make atari-train GAME={game} PROFILE={profile}")
    manifest.verify(run_dir / "final.params", fix="restore it (git checkout -- <file>) or "
                    f"retrain with make atari-train GAME={game} PROFILE={profile}")
    net = NatureQNet(record["actions"])
    net.load_parameters(str(run_dir / "final.params"), ctx=mx.cpu())
    net.hybridize()
    sap = sap_mx.defend(net, "sap", frac=1.0)
    return {"dense": (net, 1), "sap100": (sap, None)}, record


def check_mc(args: EvalArgs, profile) -> int:
    """The MC passes of this evaluation: ``--mc`` or the profile's, never below its minimum."""
    if args.episodes < 0 or args.mc < 0:
        raise UsageError("--episodes and --mc must be >= 0")
    mc = args.mc or profile.eval_mc
    if mc < profile.eval_mc_min:
        raise UsageError(f"--mc {mc} is below the {profile.name} profile's minimum of "
                         f"{profile.eval_mc_min} Monte Carlo passes for SAP-100 (its default is "
                         f"{profile.eval_mc}, the paper's number); use --mc "
                         f"{profile.eval_mc_min} or more")
    if args.check not in ("auto", "yes", "no"):
        raise UsageError(f"--check must be auto, yes or no, got {args.check!r}")
    return mc


def game_seed(seed: int, i: int) -> int:
    """The seed of game i of every cell (emulator, no-op start, epsilon draws, MXNet)."""
    return seed_all(seed, 100_000 + i)


def evaluate(args: EvalArgs) -> list[Path]:
    profile = ATARI.get(args.profile)
    mc = check_mc(args, profile)
    game = resolve_game(args.game)
    lambdas = parse_lambdas(args.lambdas)
    run_dir = Path(args.run) if args.run else run_dir_for(
        TrainArgs(game=game, profile=args.profile, seed=args.seed), profile)
    agents, record = load_agent(run_dir, game, args.profile)
    episodes = args.episodes or profile.eval_episodes
    sha = git_sha()
    seed_all(args.seed, 7)

    games = KeyedRows(run_dir / "eval_games.csv", GAME_KEY)
    check_k = profile.eval_mc if mc < profile.eval_mc else None  # do SAP's cells move?
    todo = [(m, lam, i, agents[m][1] or mc) for lam in lambdas for m in MODELS
            for i in range(episodes)]
    todo += [("sap100", lam, i, check_k) for lam in lambdas if check_k and lam in CHECK_LAMBDAS
             for i in range(episodes)]

    def key(model, lam, i, k):
        return {"game": game, "seed": args.seed, "model": model, "eps": lam, "game_index": i,
                "mc": k, "max_steps": profile.eval_max_steps, "epsilon": profile.eval_epsilon,
                "train_sha": record["git_sha"]}

    missing = [t for t in todo if not games.has(key(*t))]
    bar = progress_bar(args.progress, len(missing), f"{game} Table 1 ({args.profile})",
                       unit="game")
    for model, lam, i, k in missing:
        t0 = time.time()
        score, steps = play(agents[model][0], game, lam=lam, mc=k, seed=game_seed(args.seed, i),
                            epsilon=profile.eval_epsilon, max_steps=profile.eval_max_steps)
        games.add([{**key(model, lam, i, k), "score": score, "steps": steps,
                    "seconds": round(time.time() - t0, 2), "git_sha": sha}])
        if bar is not None:
            bar.update()
            bar.set_postfix(model=model, eps=lam, mc=k)
    if bar is not None:
        bar.close()
    if args.check == "yes" or (args.check == "auto" and not missing):
        recorded = [r for r in games.rows.values() if games.key(r) in
                    {games.key(key("dense", 0.0, i, 1)) for i in range(episodes)}]
        print(replay_check(agents["dense"][0], game, recorded, seed=args.seed, profile=profile,
                           progress=args.progress), file=sys.stderr)

    rows = summarize(games.rows.values(), game=game, lambdas=lambdas, episodes=episodes,
                     mc=mc, profile=profile, record=record, seed=args.seed, sha=sha,
                     check_mc=check_k)
    out = Path(args.out) if args.out else profile.results_dir() / f"{game}.csv"
    write_csv(out, rows)
    figure = draw_figure([r for r in rows if r["model"] in MODELS], list(games.rows.values()),
                         out.with_suffix(".png"))
    return [out, figure]


GAME_KEY = ("game", "seed", "model", "eps", "game_index", "mc", "max_steps", "epsilon",
            "train_sha")  # what identifies a recorded game in eval_games.csv


def replay_check(net, game: str, recorded, *, seed: int, profile, progress: bool = False) -> str:
    """Play the ``recorded`` games of ``net`` (rows of ``eval_games.csv``: dense, lambda 0)
    again, each from its game index's seeds, and compare score and length game for game;
    returns a one-line report, raises ``ReplayMismatch`` naming the games that differ."""
    recorded = sorted(recorded, key=lambda r: int(r["game_index"]))
    if not recorded:
        return "check: no recorded dense lambda-0 game to replay"
    bar = progress_bar(progress, len(recorded), f"{game}: replaying dense λ=0", unit="game")
    differ = []
    for r in recorded:
        i, score, steps = int(r["game_index"]), float(r["score"]), int(float(r["steps"]))
        again = play(net, game, lam=float(r["eps"]), mc=1, seed=game_seed(seed, i),
                     epsilon=profile.eval_epsilon, max_steps=profile.eval_max_steps)
        if again != (score, steps):
            differ.append(f"game {i}: {again[0]:g} in {again[1]} steps, recorded {score:g} in "
                          f"{steps}")
        if bar is not None:
            bar.update()
    if bar is not None:
        bar.close()
    if differ:
        raise ReplayMismatch(f"{len(differ)} of {len(recorded)} dense lambda-0 games played "
                             "again from the weights differ from eval_games.csv: "
                             + "; ".join(differ[:5]) + ("; ..." if len(differ) > 5 else ""))
    return (f"check: played the {len(recorded)} recorded dense lambda-0 games of {game} again "
            "from the weights: every score and length matches")


def summarize(game_rows, *, game, lambdas, episodes, mc, profile, record, seed, sha,
              check_mc: int | None = None) -> list[dict]:
    """One row per (model, lambda) from the per-game scores (the first ``episodes`` games of
    each cell); SAP rows carry ``rel_change_pct`` and its paired bootstrap interval. With
    ``check_mc``, rows ``sap100-mc<check_mc>`` at ``CHECK_LAMBDAS``: SAP-100 at that many
    passes on the same games."""
    scores: dict = {}
    for r in game_rows:
        if (r["game"] == game and int(r["seed"]) == seed
                and int(r["max_steps"]) == profile.eval_max_steps
                and float(r["epsilon"]) == profile.eval_epsilon
                and r["train_sha"] == record["git_sha"]
                and int(r["game_index"]) < episodes):
            model = r["model"]
            if model != "dense":
                k = int(r["mc"])
                if k not in (mc, check_mc):
                    continue
                model = "sap100" if k == mc else f"sap100-mc{k}"
            scores.setdefault((model, float(r["eps"])), {})[int(r["game_index"])] = \
                float(r["score"])
    cells = [(m, lam) for lam in lambdas for m in MODELS]
    if check_mc:
        cells += [(f"sap100-mc{check_mc}", lam) for lam in lambdas if lam in CHECK_LAMBDAS]
    rows = []
    for model, lam in cells:
        by_game, dense = scores.get((model, lam), {}), scores.get(("dense", lam), {})
        if not by_game or not dense:
            raise UsageError(f"no games of {model} at lambda {lam:g} in eval_games.csv")
        s = np.array([by_game[i] for i in sorted(by_game)])
        rel = lo = hi = ""
        if model != "dense":
            paired = sorted(set(by_game) & set(dense))   # game i of both: the same seeds
            mine = np.array([by_game[i] for i in paired])
            base = np.array([dense[i] for i in paired])
            if base.mean() != 0:
                rel = round(100.0 * (mine.mean() - base.mean()) / abs(base.mean()), 2)
                if len(paired) > 1:
                    _, low, high = bootstrap_relative_change(mine, base, resamples=RESAMPLES)
                    if np.isfinite([low, high]).all():
                        lo, hi = round(low, 2), round(high, 2)
        rows.append({"game": game, "model": model, "eps": lam, "episodes": len(s),
                     "mean_reward": round(float(s.mean()), 3),
                     "std_reward": round(float(s.std(ddof=1)) if len(s) > 1 else 0.0, 3),
                     "rel_change_pct": rel, "rel_change_lo": lo, "rel_change_hi": hi,
                     "mc_samples": {"dense": 1, "sap100": mc}.get(model, check_mc),
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
