"""``make atari-table``: every game with results next to the paper's Table 1, with a verdict.

Reads ``results/atari/<Game>.csv`` (``--profile smoke``: ``results/smoke/atari/``) and the paper's
numbers from ``experiments/paper_numbers/atari_table1.csv`` (each with the table's caption) and
writes ``TABLE.md`` beside the CSVs:

* the grid: for each lambda and game, our SAP-100 vs dense change in score with its 95% paired
  bootstrap interval, then the paper's; the paper's six games always have a column (empty where
  we have no run), other games we ran are added;
* per game: both agents' mean scores, the change and its interval, the paper's figure and a
  verdict against the paper's sign and figure (``verdict``), the dense agent against random
  play, and, when SAP-100 played with fewer Monte Carlo passes than its profile's, how far the
  cells move at the profile's count (``rl.evaluate``'s ``sap100-mc<k>`` rows).

Intervals come from the CSV's ``rel_change_lo``/``rel_change_hi``; older CSVs without them get
theirs from the run's ``eval_games.csv`` (``rl.figure.game_scores``, the same bootstrap). The
README's Atari block (``rl.headline``) renders the same cells; ``--profile cpu`` (any profile
but smoke) rewrites it too.
"""
from __future__ import annotations

import csv
import math
import sys
from dataclasses import dataclass
from pathlib import Path

from runkit import ROOT, arg, cli_main, parse_dataclass_args
from sap_mx.io import write_text
from sap_mx.metrics import bootstrap_relative_change

from .profiles import ATARI

__all__ = ["PAPER_GAMES", "RANDOM_SCORES", "TRAINED", "Cell", "paper_values", "game_cells",
           "verdict", "weak_agent_note", "build_table", "game_lines", "main"]

PAPER_CSV = ROOT / "experiments" / "paper_numbers" / "atari_table1.csv"
PAPER_GAMES = ("Assault", "Asterix", "BankHeist", "BattleZone", "BeamRider", "Bowling")
# random play with no-op starts (van Hasselt, Guez & Silver 2016, as DQN Zoo lists them): the
# floor a trained agent's dense score at lambda 0 is measured against
RANDOM_SCORES = {"Assault": 222.4, "Asterix": 210.0, "BankHeist": 14.2, "BattleZone": 2360.0,
                 "BeamRider": 363.9, "Bowling": 23.1}
TRAINED = 4.0        # a dense agent scoring less than this many times random play at lambda 0
                     # has not learnt enough for its Table 1 to test the paper (issue 27's bar)
RESAMPLES = 10_000   # rl.evaluate's and rl.figure's

# the verdicts of one cell against the paper's (sign, and figure within our 95% interval)
AGREES = "agrees: same sign, the paper's figure inside our interval"
SIGN_ONLY = "sign agrees; the paper's figure outside our interval"
OPPOSITE = "contradicts: opposite sign"
NO_CHANGE_FIGURE_OUT = "contradicts the figure: no change detected, the paper's figure outside"
INCONCLUSIVE = "inconclusive: no change detected, the paper's figure inside our interval"


def paper_values() -> dict[str, dict[float, float]]:
    """{game: {lambda: percent}} from the paper's Table 1 (cells it leaves empty are absent)."""
    out: dict = {}
    with open(PAPER_CSV, newline="") as f:
        for row in csv.DictReader(f):
            out.setdefault(row["game"], {})[float(row["eps"])] = float(row["value"])
    return out


def _number(text) -> float | None:
    return None if text in ("", None) else float(text)


def verdict(rel: float | None, lo: float | None, hi: float | None,
            paper: float | None) -> str:
    """Our change (with its 95% interval) against the paper's figure for the same cell."""
    if rel is None:
        return "not judged: the dense agent scored 0"
    if lo is None or hi is None:
        return "not judged: no interval (no per-game scores)"
    ours = ("SAP-100 higher" if lo > 0 else "SAP-100 lower" if hi < 0
            else "no change detected")
    if paper is None:
        return f"the paper has no figure here; ours: {ours}"
    inside = lo <= paper <= hi
    if lo > 0 or hi < 0:
        if (lo > 0) != (paper > 0):
            return OPPOSITE
        return AGREES if inside else SIGN_ONLY
    return INCONCLUSIVE if inside else NO_CHANGE_FIGURE_OUT


@dataclass(frozen=True)
class Cell:
    """One (game, lambda) of our Table 1: both agents' mean scores, SAP-100's change in % with
    its 95% paired bootstrap interval (None: not available), the paper's figure, the verdict."""

    game: str
    eps: float
    dense: float
    sap: float
    rel: float | None
    lo: float | None
    hi: float | None
    paper: float | None
    verdict: str
    episodes: int
    mc: int


def _read(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _ours(results_dir: Path) -> dict[str, list[dict]]:
    games = {}
    for path in sorted(results_dir.glob("*.csv")):
        rows = _read(path)
        if rows and {"model", "eps", "rel_change_pct"} <= set(rows[0]):
            games[path.stem] = rows
    return games


def _intervals_from_games(results_dir: Path, rows: list[dict]) -> dict[float, tuple]:
    """{lambda: (lo, hi)} from the run's eval_games.csv, for CSVs written before the interval
    columns existed (the figure's pairing of games)."""
    from .figure import _run_dir, game_scores  # rl.figure imports this module

    games_csv = _run_dir(results_dir, rows) / "eval_games.csv"
    if not games_csv.is_file():
        return {}
    main = [r for r in rows if r["model"] in ("dense", "sap100")]
    scores = game_scores(main, _read(games_csv))
    out = {}
    for r in main:
        lam = float(r["eps"])
        sap, dense = scores.get(("sap100", lam), ()), scores.get(("dense", lam), ())
        if r["model"] == "sap100" and len(sap) > 1 and len(sap) == len(dense):
            _, lo, hi = bootstrap_relative_change(sap, dense, resamples=RESAMPLES)
            if math.isfinite(lo) and math.isfinite(hi):
                out[lam] = (round(lo, 2), round(hi, 2))
    return out


def game_cells(results_dir: Path, rows: list[dict], model: str = "sap100") -> list[Cell]:
    """The cells of one game's rows (``model``: ``sap100``, or a ``sap100-mc<k>`` check)."""
    paper = paper_values().get(rows[0]["game"], {})
    dense = {float(r["eps"]): float(r["mean_reward"]) for r in rows if r["model"] == "dense"}
    fallback = None
    cells = []
    for r in rows:
        if r["model"] != model:
            continue
        lam = float(r["eps"])
        rel = _number(r["rel_change_pct"])
        lo, hi = _number(r.get("rel_change_lo")), _number(r.get("rel_change_hi"))
        if rel is not None and (lo is None or hi is None) and "rel_change_lo" not in r:
            if fallback is None:
                fallback = _intervals_from_games(results_dir, rows)
            lo, hi = fallback.get(lam, (None, None))
        cells.append(Cell(r["game"], lam, dense[lam], float(r["mean_reward"]), rel, lo, hi,
                          paper.get(lam), verdict(rel, lo, hi, paper.get(lam)),
                          int(r["episodes"]), int(r["mc_samples"])))
    return cells


def pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:+.1f}%"


def change_text(c: Cell) -> str:
    """'+12.5% [+3.1, +22.0]' (the interval when there is one)."""
    if c.rel is None:
        return "n/a (dense 0)"
    if c.lo is None:
        return pct(c.rel)
    return f"{pct(c.rel)} [{c.lo:+.1f}, {c.hi:+.1f}]"


def random_text(game: str, dense0: float | None) -> str:
    """The dense agent's clean score against random play's (the bar a trained agent clears)."""
    rand = RANDOM_SCORES.get(game)
    if dense0 is None or rand is None:
        return ""
    return f"{dense0:,.0f} = {dense0 / rand:.1f}x random play ({rand:,.0f})"


def weak_agent_note(game: str, dense0: float | None) -> str | None:
    """A warning when the dense agent is under ``TRAINED`` times random play at lambda 0."""
    rand = RANDOM_SCORES.get(game)
    if dense0 is None or rand is None or dense0 >= TRAINED * rand:
        return None
    return (f"**Not evidence about the paper**: the dense agent scores {dense0 / rand:.1f}x "
            f"random play at λ = 0, under the {TRAINED:g}x asked of a trained agent; the "
            "verdicts describe this agent only.")


def build_table(results_dir: Path) -> str:
    paper = paper_values()
    ours = _ours(results_dir)
    cells = {g: {c.eps: c for c in game_cells(results_dir, rows)} for g, rows in ours.items()}
    games = list(PAPER_GAMES) + [g for g in ours if g not in PAPER_GAMES]
    lambdas = sorted({lam for g in cells.values() for lam in g}
                     | {lam for g in paper.values() for lam in g})

    def grid(game, lam):
        mine = cells.get(game, {}).get(lam)
        ours_txt = "-" if mine is None else change_text(mine)
        theirs = paper.get(game, {}).get(lam)
        return f"{ours_txt} ({theirs:+.1f}%)" if theirs is not None else ours_txt

    lines = ["# Table 1: SAP-100 vs the dense DDQN agent under FGSM, change in score",
             "",
             "Each cell: ours, with its 95% paired bootstrap interval over the games in square "
             "brackets where the per-game scores exist (game i of both agents starts from the "
             "same seeds), then the paper's in round brackets (none where the paper's cell is "
             "empty).",
             "'-': no run of ours; 'n/a (dense 0)': the dense agent scored 0. Generated by `make "
             "atari-table` from the CSVs in this folder;",
             "the paper's numbers come from `experiments/paper_numbers/atari_table1.csv` "
             "(Table 1: \"Relative percentage increase in rewards gained for SAP-100 compared "
             "to original model while playing different Atari games\").",
             "",
             "| lambda | " + " | ".join(games) + " |",
             "| --- | " + " | ".join("---" for _ in games) + " |"]
    for lam in lambdas:
        lines.append(f"| {lam:g} | " + " | ".join(grid(g, lam) for g in games) + " |")
    lines += ["", "Runs behind our cells:", ""]
    for game, rows in ours.items():
        r = rows[0]
        sap_mc = max((int(x["mc_samples"]) for x in rows if x["model"] == "sap100"), default=0)
        against = random_text(game, cells[game].get(0.0).dense if 0.0 in cells[game] else None)
        lines.append(f"- {game}: profile {r['profile']}, {int(float(r['steps_trained'])):,} agent "
                     f"steps trained, {r['episodes']} games per cell, SAP MC samples {sap_mc}, "
                     f"evaluation epsilon {r['eval_epsilon']}, seed {r['seed']}, code "
                     f"{r['git_sha']}" + (f"; dense at lambda 0: {against}" if against else ""))
    if not ours:
        lines.append("- none yet: run `make atari GAME=<name>`")
    for game, rows in ours.items():
        lines += ["", f"## {game}", "", *game_lines(results_dir, game, rows)]
    return "\n".join(lines) + "\n"


def game_lines(results_dir: Path, game: str, rows: list[dict]) -> list[str]:
    """One game's verdict table (and its MC check), as Markdown lines."""
    cells = game_cells(results_dir, rows)
    note = weak_agent_note(game, next((c.dense for c in cells if c.eps == 0), None))
    lines = [note, ""] if note else []
    lines += ["| lambda | dense | SAP-100 | change (95% CI) | paper | verdict |",
              "| --- | --- | --- | --- | --- | --- |"]
    for c in cells:
        lines.append(f"| {c.eps:g} | {c.dense:,.1f} | {c.sap:,.1f} | {change_text(c)} | "
                     f"{pct(c.paper) if c.paper is not None else '-'} | {c.verdict} |")
    checks = sorted({r["model"] for r in rows if r["model"].startswith("sap100-mc")})
    main = {c.eps: c for c in cells}
    for model in checks:
        k = model.split("-mc")[1]
        lines += ["", f"Monte Carlo check: SAP-100 with {k} passes on the same games (the table "
                      f"above: {cells[0].mc}):", "",
                  f"| lambda | change at {cells[0].mc} | change at {k} | moved by |",
                  "| --- | --- | --- | --- |"]
        for c in game_cells(results_dir, rows, model):
            base = main.get(c.eps)
            moved = ("n/a" if base is None or base.rel is None or c.rel is None
                     else f"{c.rel - base.rel:+.1f} points")
            lines.append(f"| {c.eps:g} | {change_text(base) if base else '-'} | "
                         f"{change_text(c)} | {moved} |")
    return lines


@dataclass
class TableArgs:
    """Assemble the Atari table (python -m rl.table --help)."""

    profile: str = arg("paper", "smoke reads results/smoke/atari; the others read "
                                "results/atari (and rewrite the README's Atari block)")


def run(args: TableArgs) -> list[Path]:
    results_dir = ATARI.get(args.profile).results_dir()
    results_dir.mkdir(parents=True, exist_ok=True)
    written = [write_text(results_dir / "TABLE.md", build_table(results_dir))]
    if args.profile != "smoke":
        from .headline import README, update_readme  # rl.headline renders this module's cells

        if not update_readme(results_dir):
            written.append(README)
    return written


def main(argv=None) -> int:
    return cli_main(run, lambda a: parse_dataclass_args(TableArgs, a, "python -m rl.table",
                                                        "Atari Table 1, ours vs the paper."),
                    argv)


if __name__ == "__main__":
    sys.exit(main())
