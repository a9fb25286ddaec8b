"""The Atari figure of one game, ``results/atari/<Game>.png``: both agents' mean score per game
and SAP-100's change against dense, each with its 95% bootstrap interval, next to the paper's
Table 1; drawn from the game's CSV and the per-game scores of its run (``eval_games.csv``).

* Left: each agent's mean score per game against lambda, with the percentile bootstrap interval
  of the mean (``sap_mx.metrics.bootstrap_interval``).
* Right: 100 (SAP-100 - dense) / |dense| in %, the paper's measure, with its paired bootstrap
  interval (``bootstrap_relative_change``: game i of both agents shares its seeds, so the games
  are resampled together), and the paper's Table 1 dashed where it has the game.
* dense, SAP-100 and the paper's numbers in the styles of every other figure
  (``experiments.styles``).

``rl.evaluate`` draws it after an evaluation; ``python -m rl.figure --profile quick``
(``make atari-figures``) redraws every game's from the CSVs alone.
"""
from __future__ import annotations

import csv
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from experiments.styles import STYLES
from runkit import UsageError, arg, cli_main, parse_dataclass_args
from runkit.figures import interval_curve, pyplot, save_figure
from sap_mx.metrics import bootstrap_interval, bootstrap_relative_change

from .profiles import ATARI
from .table import paper_values

__all__ = ["LABELS", "RESAMPLES", "game_scores", "draw", "redraw", "main"]

LABELS = {"dense": "dense", "sap100": "SAP-100"}   # the CSVs' model -> the figures' label
PAPER = "paper (Table 1)"
RESAMPLES = 10_000


def _read(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def game_scores(rows: Sequence[Mapping], games: Sequence[Mapping]) -> dict:
    """{(model, lambda): scores ordered by game index} of the games behind ``rows`` (one
    game's summary rows, ``rl.evaluate.summarize``'s): the same game, seed, step cap, epsilon,
    trained agent, number of games and SAP MC samples."""
    out = {}
    for r in rows:
        mine = sorted((int(g["game_index"]), float(g["score"])) for g in games
                      if g["game"] == r["game"] and str(g["seed"]) == str(r["seed"])
                      and g["model"] == r["model"] and float(g["eps"]) == float(r["eps"])
                      and int(g["max_steps"]) == int(r["max_steps"])
                      and float(g["epsilon"]) == float(r["eval_epsilon"])
                      and g["train_sha"] == r["train_git_sha"]
                      and int(g["game_index"]) < int(r["episodes"])
                      and int(g["mc"]) == int(r["mc_samples"]))
        out[(r["model"], float(r["eps"]))] = np.array([s for _, s in mine])
    return out


def _interval(values: Sequence[tuple[float, float, float]]):
    y, lo, hi = (np.array(v, dtype=float) for v in zip(*values))
    return y, np.where(np.isnan(lo), y, lo), np.where(np.isnan(hi), y, hi)


def draw(rows: Sequence[Mapping], games: Sequence[Mapping], path: Path) -> Path:
    """The figure of one game's summary ``rows`` and its per-game scores ``games`` (the run's
    ``eval_games.csv``; empty: no intervals, and the caption says so)."""
    plt = pyplot()
    game, first = rows[0]["game"], rows[0]
    lambdas = sorted({float(r["eps"]) for r in rows})
    scores = game_scores(rows, games) if games else {}
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9.5, 3.8))
    x = list(range(len(lambdas)))
    for model, label in LABELS.items():
        mine = sorted((float(r["eps"]), r) for r in rows if r["model"] == model)
        stats = [bootstrap_interval(lambda a: a.mean(axis=-1), scores[(model, e)],
                                    resamples=RESAMPLES)
                 if len(scores.get((model, e), ())) > 1
                 else (float(r["mean_reward"]), float("nan"), float("nan")) for e, r in mine]
        interval_curve(ax1, [lambdas.index(e) for e, _ in mine], *_interval(stats),
                       STYLES(label), label)
    sap = sorted((float(r["eps"]), r) for r in rows if r["model"] == "sap100")
    change = [bootstrap_relative_change(scores[("sap100", e)], scores[("dense", e)],
                                        resamples=RESAMPLES)
              if len(scores.get(("sap100", e), ())) > 1
              and len(scores[("sap100", e)]) == len(scores.get(("dense", e), ()))
              else (float(r["rel_change_pct"]) if r["rel_change_pct"] != "" else float("nan"),
                    float("nan"), float("nan")) for e, r in sap]
    keep = [i for i, c in enumerate(change) if not np.isnan(c[0])]   # dense 0: no change
    interval_curve(ax2, [lambdas.index(sap[i][0]) for i in keep],
                   *_interval([change[i] for i in keep]), STYLES("SAP-100"), "ours")
    paper = paper_values().get(game, {})
    if paper:
        lams = [lam for lam in sorted(paper) if lam in lambdas]
        ax2.plot([lambdas.index(lam) for lam in lams], [paper[lam] for lam in lams],
                 **STYLES(PAPER).kwargs(), markersize=3.5, label=PAPER)
    ax2.axhline(0, color="grey", lw=0.8)
    for ax in (ax1, ax2):
        ax.set_xticks(x)
        ax.set_xticklabels([f"{e:g}" for e in lambdas])
        ax.set_xlabel("FGSM strength λ (pixels, 0..255)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    ax1.set_ylabel(f"score per game (mean of {first['episodes']} games)")
    ax2.set_ylabel("SAP-100 vs dense (% change)")
    intervals = (f"band or bar: 95% percentile bootstrap interval ({RESAMPLES:,} resamples of "
                 f"the games; the change resamples both agents' game i together, as they share "
                 f"its seeds)" if scores else "no per-game scores found: no intervals")
    caption = (f"{game}: DDQN ({first['profile']} profile, {int(float(first['steps_trained'])):,}"
               f" steps trained, seed {first['seed']}) vs its SAP-100 twin under FGSM; "
               f"{first['episodes']} games per point; {intervals}")
    return save_figure(fig, path, caption)


def _run_dir(results_dir: Path, rows: Sequence[Mapping]) -> Path:
    """The training run folder of a game's rows (``rl.ddqn.run_dir_for``'s default)."""
    r = rows[0]
    return results_dir / "runs" / f"{r['game']}-{r['profile']}-seed{r['seed']}"


def redraw(results_dir: Path) -> list[Path]:
    """Every ``<Game>.png`` of ``results_dir`` from its ``<Game>.csv`` and its run's
    ``eval_games.csv``."""
    written = []
    for path in sorted(Path(results_dir).glob("*.csv")):
        rows = _read(path)
        if not rows or not {"model", "eps", "rel_change_pct", "episodes"} <= set(rows[0]):
            continue   # not a game's summary
        games_csv = _run_dir(Path(results_dir), rows) / "eval_games.csv"
        written.append(draw(rows, _read(games_csv) if games_csv.is_file() else [],
                            path.with_suffix(".png")))
    return written


@dataclass
class Args:
    """Redraw the Atari figures (python -m rl.figure --help)."""

    profile: str = arg("paper", "smoke reads results/smoke/atari; paper and quick read "
                                "results/atari")


def run(args: Args) -> list[Path]:
    results_dir = ATARI.get(args.profile).results_dir()
    written = redraw(results_dir)
    if not written:
        raise UsageError(f"no game results in {results_dir}: run make atari GAME=<name> first")
    return written


def main(argv=None) -> int:
    return cli_main(run, lambda a: parse_dataclass_args(Args, a, "python -m rl.figure",
                                                        "Redraw the Atari figures."), argv)


if __name__ == "__main__":
    sys.exit(main())
